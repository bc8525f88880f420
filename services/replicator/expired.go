package replicator

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// resumeExpired runs when partitions are assigned, after their committed offsets are
// fetched and before consuming starts (kgo.AdjustFetchOffsetsFn). A committed offset
// below the partition's log start means retention deleted records this group never
// applied: they are lost to this target, and no offset can bring them back. The
// partition resumes at the log start, the loss is counted in
// fanout_replicator_records_expired_total and logged with the range. (kgo's reset
// offset, always the log start here, would resume there too, but silently.)
// Partitions with no committed offset carry kgo's start offset (negative) and are left
// to consume.start_from. If the log starts cannot be read, nothing is changed: the
// reset offset still resumes at the log start, uncounted, and a warning says so.
func (r *Replicator) resumeExpired(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	var topics []string
	for t, ps := range offsets {
		for _, o := range ps {
			if o.EpochOffset().Offset >= 0 {
				topics = append(topics, t)
				break
			}
		}
	}
	if len(topics) == 0 {
		return offsets, nil
	}
	select {
	case <-r.consumerSet:
	case <-ctx.Done():
		return offsets, nil
	}
	starts, err := kadm.NewClient(r.consumer).ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		r.log.Warn("cannot read the log start offsets; a committed offset retention has passed resumes at the log start uncounted", "error", err)
		return offsets, nil
	}
	for t, ps := range offsets {
		for p, o := range ps {
			committed := o.EpochOffset().Offset
			s, ok := starts.Lookup(t, p)
			if committed < 0 || !ok || committed >= s.Offset {
				continue
			}
			lost := s.Offset - committed
			r.m.expired.WithLabelValues(t, strconv.Itoa(int(p))).Add(float64(lost))
			r.log.Warn("records expired before this target applied them; resuming at the log start",
				"topic", t, "partition", p, "committed", committed, "log_start", s.Offset, "records_lost", lost)
			ps[p] = kgo.NewOffset().At(s.Offset).WithEpoch(-1)
		}
	}
	return offsets, nil
}
