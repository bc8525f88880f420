package fanoutctl

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// A reference record is a dead-letter record whose value the replicator dropped (too
// large for the DLQ topic). Its source topic/partition/offset locate the event.

// sourceEvent reads the original event of a reference record from the source topic,
// so that the replay resolves it against the primary with its routing and version.
// It fails when the source record is gone (retention) or unreadable.
func sourceEvent(ctx context.Context, s settings, e *env, en *dlqEntry) (*opspb.Operation, error) {
	dl := en.dl
	cl, err := kafkaClient(s, e, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		dl.SourceTopic: {dl.SourcePartition: kgo.NewOffset().At(dl.SourceOffset)},
	}), kgo.FetchMaxPartitionBytes(16<<20), kgo.FetchMaxBytes(16<<20))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("source record %s %d/%d not readable (gone with retention?): %w", dl.SourceTopic, dl.SourcePartition, dl.SourceOffset, ctx.Err())
		}
		if err := fs.Err(); err != nil {
			return nil, fmt.Errorf("reading source record %s %d/%d: %w", dl.SourceTopic, dl.SourcePartition, dl.SourceOffset, err)
		}
		for _, r := range fs.Records() {
			if r.Offset < dl.SourceOffset {
				continue
			}
			if r.Offset != dl.SourceOffset || string(r.Key) != string(en.rec.Key) {
				return nil, fmt.Errorf("source record %s %d/%d is gone (retention or compaction): the next record is offset %d", dl.SourceTopic, dl.SourcePartition, dl.SourceOffset, r.Offset)
			}
			return event.Decode(r)
		}
	}
}
