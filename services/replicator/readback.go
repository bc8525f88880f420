package replicator

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// rebuildDeletes fills the partition's memory of deletes from the records before
// first, its first record in this ownership: from the offset for timestamp (first's
// timestamp − deletes.window) up to first. Those records were resolved by an earlier
// owner; a DELETE among them may still have an older INDEX to come. It retries with
// backoff until it succeeds and returns false only when the partition is stopped:
// applying without the memory could let a deleted document come back.
func (p *partition) rebuildDeletes(first *kgo.Record) bool {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	bo := backoff{initial: p.r.cfg.Retry.Initial, max: p.r.cfg.Retry.Max}
	for {
		n, err := p.readBack(ctx, first)
		if err == nil {
			if n > 0 {
				p.log.Info("rebuilt the memory of deletes from Kafka", "records_read", n, "deletes", p.deletes.len(), "until_offset", first.Offset)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		err = fmt.Errorf("rebuilding the memory of deletes: %w", err)
		p.trouble(err)
		p.log.Warn("cannot read back recent deletes; retrying before applying anything", "error", err)
		if !p.sleep(bo.next(), false) {
			return false
		}
		select {
		case <-p.stop:
			return false
		default:
		}
	}
}

// readBack reads [offset for (first.Timestamp − window), first.Offset) into the
// memory and returns how many records it read.
func (p *partition) readBack(ctx context.Context, first *kgo.Record) (int, error) {
	r := p.r
	since := first.Timestamp.Add(-r.cfg.Deletes.Window).UnixMilli()
	select {
	case <-r.consumerSet:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	offs, err := kadm.NewClient(r.consumer).ListOffsetsAfterMilli(ctx, since, p.topic)
	if err != nil {
		return 0, fmt.Errorf("offset for timestamp: %w", err)
	}
	o, ok := offs.Lookup(p.topic, p.id)
	if !ok {
		return 0, fmt.Errorf("offset for timestamp: no answer for %s[%d]", p.topic, p.id)
	}
	if o.Err != nil {
		return 0, fmt.Errorf("offset for timestamp: %w", o.Err)
	}
	start, end := o.Offset, first.Offset
	if start < 0 || start >= end {
		return 0, nil
	}
	opts := append(append([]kgo.Opt(nil), r.kafkaOpts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{p.topic: {p.id: kgo.NewOffset().At(start)}}),
		kgo.FetchMaxBytes(r.cfg.Consume.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(r.cfg.Consume.FetchMaxPartitionBytes),
		kgo.FetchMaxWait(r.cfg.Consume.FetchMaxWait),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	n := 0
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if ferr == nil && !errors.Is(err, context.Canceled) {
				ferr = err
			}
		})
		if ferr != nil {
			return n, fmt.Errorf("reading %s[%d] from %d: %w", p.topic, p.id, start, ferr)
		}
		done := false
		fs.EachRecord(func(rec *kgo.Record) {
			if done || rec.Partition != p.id {
				return
			}
			if rec.Offset >= end {
				done = true
				return
			}
			n++
			p.rememberRecord(rec)
		})
		if done {
			return n, nil
		}
		for _, ft := range fs {
			for _, t := range ft.Topics {
				for _, fp := range t.Partitions {
					// Records at end may be gone to compaction or be control records.
					if fp.Partition == p.id && fp.HighWatermark >= 0 && len(fp.Records) > 0 && fp.Records[len(fp.Records)-1].Offset+1 >= end {
						return n, nil
					}
				}
			}
		}
	}
}

// rememberRecord feeds one record read back to the memory; undecodable records and
// indices this target does not take do not matter to it.
func (p *partition) rememberRecord(rec *kgo.Record) {
	op, err := event.Decode(rec)
	if err != nil {
		return
	}
	at := acceptedAt(op, rec)
	p.deletes.observe(at)
	if op.GetKind() != opspb.Kind_KIND_DELETE {
		return
	}
	if ix, ok := p.mapper.Map(op.GetIndex()); ok {
		p.deletes.remember(ix, op.GetId(), op.GetReplicationVersion(), at)
	}
}
