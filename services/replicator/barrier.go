package replicator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// A metadata change reaches every partition of the topic as one copy each, produced in
// one transaction (read_committed: all copies or none). Applying it once, at the
// right place in every partition's order, is a barrier over the group's committed
// offsets, which every member can read and which survive rebalances and crashes:
//
//   - a partition that reaches its copy at offset o (everything before it resolved)
//     commits o with the commit metadata "fanout-barrier <id> <o0>", o0 being the
//     offset of partition 0's copy (o itself on partition 0);
//   - partition 0's owner, the coordinator, waits until every other partition of the
//     topic has committed that barrier, or a later one (o0' > o0: its copies of two
//     changes arrived in the other order; partition 0's order decides, so no two
//     barriers wait for each other), then applies the change and commits o+1;
//   - the others wait until partition 0's committed offset is past o0, then go on.
//
// Documents accepted before the change are applied first on every partition, those
// after it wait for it. A stop while waiting leaves the copy unresolved: the next owner
// runs the barrier again, and applying is idempotent.

// barrierCommitPrefix starts the commit metadata of a partition waiting at a barrier.
const barrierCommitPrefix = "fanout-barrier "

// barrierPoll bounds the interval of reading the group's committed offsets while
// waiting.
const (
	barrierPollMin = 100 * time.Millisecond
	barrierPollMax = time.Second
)

func barrierCommitMetadata(id string, coordinator int64) string {
	return barrierCommitPrefix + id + " " + strconv.FormatInt(coordinator, 10)
}

// parseBarrierCommit reads commit metadata written by barrierCommitMetadata.
func parseBarrierCommit(meta string) (id string, coordinator int64, ok bool) {
	rest, found := strings.CutPrefix(meta, barrierCommitPrefix)
	if !found {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, ' ') // the offset is last: an id could hold spaces
	if i <= 0 {
		return "", 0, false
	}
	id, off := rest[:i], rest[i+1:]
	n, err := strconv.ParseInt(off, 10, 64)
	if err != nil {
		return "", 0, false
	}
	return id, n, true
}

// metadataAhead reports whether a metadata change is among the next records a batch
// could take (p.mu held).
func (p *partition) metadataAhead() bool {
	q := p.queue[p.head:]
	for i := 0; i < len(q) && i < p.r.cfg.Batch.MaxDocs; i++ {
		if event.IsMetadata(q[i]) {
			return true
		}
	}
	return false
}

// processMetadata resolves one copy of a metadata change (p.batch is that record
// alone). It returns false, with the copy unresolved, when the partition stops.
func (p *partition) processMetadata(rec *kgo.Record) bool {
	r := p.r
	p.items = p.items[:0]
	op, err := event.Decode(rec)
	if err != nil {
		// A copy other than partition 0's that is poison for another reason than its
		// barrier still takes part in the barrier, if it names one, so that the
		// coordinator does not wait for this partition for good. (A copy whose
		// barrier cannot be read leaves the coordinator waiting until an operator
		// acts: it is a producer bug.)
		var bad opspb.Operation
		if p.id != 0 && proto.Unmarshal(rec.Value, &bad) == nil && bad.GetBarrier().GetId() != "" && bad.GetBarrier().GetCoordinatorOffset() >= 0 {
			b := bad.GetBarrier()
			if !p.commitBarrier(rec, barrierCommitMetadata(b.GetId(), b.GetCoordinatorOffset())) ||
				!p.waitCoordinator(b.GetId(), b.GetCoordinatorOffset()) {
				return false
			}
		}
		if !p.deadLetter([]deadEntry{p.poison(rec, err, r.now())}) {
			return false
		}
		p.finishMetadata(rec)
		return true
	}
	b := op.GetBarrier()
	coordinator := b.GetCoordinatorOffset()
	if p.id == 0 {
		coordinator = rec.Offset
	}
	start := time.Now()
	r.m.barriersWaiting.Inc()
	defer r.m.barriersWaiting.Dec()
	p.setBarrier(fmt.Sprintf("at metadata change %s (%s): committing the barrier", b.GetId(), op.GetMetadata().GetRequest()))

	if !p.commitBarrier(rec, barrierCommitMetadata(b.GetId(), coordinator)) {
		return false
	}
	if p.id == 0 {
		if b.GetPartitions() > 1 && !p.waitOthers(b.GetId(), coordinator, b.GetPartitions()) {
			return false
		}
		p.setBarrier(fmt.Sprintf("metadata change %s: applying it", b.GetId()))
		if !p.applyMetadata(rec, op) {
			return false
		}
		p.finishMetadata(rec)
		// Commit past the copy at once: the other partitions wait for it.
		for {
			ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
			err := r.commit(ctx, []*partition{p})
			cancel()
			if err == nil {
				break
			}
			p.log.Warn("committing past a metadata change failed; retrying", "barrier", b.GetId(), "error", err)
			if !p.sleep(p.bo.next(), false) {
				return true // resolved; the commit on revoke or shutdown takes it
			}
		}
	} else {
		if !p.waitCoordinator(b.GetId(), coordinator) {
			return false
		}
		p.finishMetadata(rec)
	}
	r.m.barrierWait.Observe(time.Since(start).Seconds())
	return true
}

// finishMetadata resolves the metadata copy p.batch holds.
func (p *partition) finishMetadata(rec *kgo.Record) {
	p.resolvedThrough(rec)
	clear(p.batch)
	p.settle()
}

func (p *partition) setBarrier(what string) {
	p.mu.Lock()
	p.state, p.barrier = stateBarrier, what
	p.mu.Unlock()
}

// commitBarrier commits the copy's offset with the barrier's commit metadata, retrying
// until it is committed; false when the partition stops first. The Kafka client's own
// commits always carry the member id as metadata, so this is an OffsetCommit of its
// own, with the group's current member id and generation.
func (p *partition) commitBarrier(rec *kgo.Record, meta string) bool {
	// The offset after what is resolved: the copy's own, unless an open chunk group
	// started before it (hold).
	off, epoch := p.hold(rec.Offset, rec.LeaderEpoch)
	for {
		if p.stopping() {
			return false
		}
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		err := p.commitWithMetadata(ctx, off, epoch, meta)
		cancel()
		if err == nil {
			p.bo.reset()
			return true
		}
		if errors.Is(err, errStopped) || p.ctx.Err() != nil {
			return false
		}
		p.trouble(fmt.Errorf("committing the barrier of a metadata change: %w", err))
		p.log.Warn("committing a barrier failed; retrying", "offset", rec.Offset, "error", err)
		if !p.sleep(p.bo.next(), false) {
			return false
		}
	}
}

// commitWithMetadata commits off for the partition with the given commit metadata.
func (p *partition) commitWithMetadata(ctx context.Context, off int64, epoch int32, meta string) error {
	r := p.r
	topicID, err := p.topicID(ctx)
	if err != nil {
		return err
	}
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	p.mu.Lock()
	released := p.released
	p.mu.Unlock()
	if released || r.aborted.Load() {
		return errStopped // revoked meanwhile: committing now would rewind the new owner
	}
	member, gen := r.consumer.GroupMetadata()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = r.group, member, gen
	if id := r.cfg.Consume.InstanceID; id != "" {
		req.InstanceID = &id
	}
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic, t.TopicID = p.topic, topicID
	pt := kmsg.NewOffsetCommitRequestTopicPartition()
	pt.Partition, pt.Offset, pt.LeaderEpoch, pt.Metadata = p.id, off, epoch, &meta
	t.Partitions = append(t.Partitions, pt)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, r.consumer)
	if err != nil {
		r.m.commits.WithLabelValues("failed").Inc()
		return fmt.Errorf("committing barrier offset %d of %s[%d]: %w", off, p.topic, p.id, err)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if cerr := kerr.ErrorForCode(rp.ErrorCode); cerr != nil {
				r.m.commits.WithLabelValues("failed").Inc()
				return fmt.Errorf("committing barrier offset %d of %s[%d]: %w", off, p.topic, p.id, cerr)
			}
		}
	}
	r.m.commits.WithLabelValues("ok").Inc()
	p.committedTo(off)
	return nil
}

// topicID is the partition's topic id (OffsetCommit v10 names topics by id).
func (p *partition) topicID(ctx context.Context) ([16]byte, error) {
	if p.tid != ([16]byte{}) {
		return p.tid, nil
	}
	topics, err := kadm.NewClient(p.r.consumer).ListTopics(ctx, p.topic)
	if err != nil {
		return [16]byte{}, fmt.Errorf("reading the id of topic %s: %w", p.topic, err)
	}
	d, ok := topics[p.topic]
	if !ok || d.Err != nil {
		return [16]byte{}, fmt.Errorf("reading the id of topic %s: %v", p.topic, d.Err)
	}
	p.tid = d.ID
	return p.tid, nil
}

// waitOthers is the coordinator's wait: until every partition 1..partitions-1 has
// committed barrier id, or a later barrier than coordinator.
func (p *partition) waitOthers(id string, coordinator int64, partitions int32) bool {
	return p.waitBarrier(func(offs kadm.OffsetResponses) (bool, string) {
		var missing []string
		for q := int32(1); q < partitions; q++ {
			o, ok := offs.Lookup(p.topic, q)
			if ok && o.Err == nil {
				if x, c, ok := parseBarrierCommit(o.Metadata); ok && (x == id || c > coordinator) {
					continue
				}
			}
			missing = append(missing, strconv.Itoa(int(q)))
		}
		return len(missing) == 0, fmt.Sprintf("metadata change %s: waiting for partitions %s to reach it", id, strings.Join(missing, ","))
	})
}

// waitCoordinator is the wait of a partition other than 0: until partition 0's
// committed offset is past coordinator (the change is applied).
func (p *partition) waitCoordinator(id string, coordinator int64) bool {
	what := fmt.Sprintf("metadata change %s: waiting for partition 0 to apply it (commit past offset %d)", id, coordinator)
	return p.waitBarrier(func(offs kadm.OffsetResponses) (bool, string) {
		if c := p.r.localCommitted(p.topic, 0); c > coordinator {
			return true, what
		}
		o, ok := offs.Lookup(p.topic, 0)
		return ok && o.Err == nil && o.At > coordinator, what
	})
}

// localCommitted is what this instance committed for a partition it owns, -1 if it
// does not own it.
func (r *Replicator) localCommitted(topic string, id int32) int64 {
	r.mu.Lock()
	q := r.parts[topicPartition{topic, id}]
	r.mu.Unlock()
	if q == nil {
		return -1
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.committed
}

// waitBarrier reads the group's committed offsets until done says so; false when the
// partition stops first. An operator pause holds the wait.
func (p *partition) waitBarrier(done func(kadm.OffsetResponses) (bool, string)) bool {
	r := p.r
	adm := kadm.NewClient(r.consumer)
	interval := barrierPollMin
	for {
		if p.stopping() {
			return false
		}
		if r.isPaused() {
			if !p.waitResumed() {
				return false
			}
		}
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		offs, err := adm.FetchOffsets(ctx, r.group)
		cancel()
		if err == nil {
			err = offs.Error()
		}
		if err != nil {
			if p.ctx.Err() != nil {
				return false
			}
			p.log.Debug("reading the group's committed offsets at a barrier", "error", err)
		} else {
			ok, what := done(offs)
			if ok {
				return true
			}
			p.setBarrier(what)
		}
		if !p.sleep(interval, false) {
			return false
		}
		interval = min(interval*3/2, barrierPollMax)
	}
}

// applyMetadata applies the change on the coordinator: cluster trouble is retried
// forever with the partition's backoff; refusals dead-letter the change. False when the
// partition stops first.
func (p *partition) applyMetadata(rec *kgo.Record, op *opspb.Operation) bool {
	r := p.r
	b := op.GetBarrier()
	failures := 0
	for {
		if p.stopping() {
			return false
		}
		// A soft stop ends the apply too: it is idempotent, the next owner runs it again.
		ctx, cancel := context.WithCancel(p.ctx)
		go func() {
			select {
			case <-p.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		res, err := p.meta.apply(ctx, op.GetMetadata())
		cancel()
		if err != nil {
			if p.stopping() || p.ctx.Err() != nil {
				return false
			}
			failures++
			r.health.markDown(err.Error(), errors.Is(err, errMetaNoAnswer))
			p.trouble(fmt.Errorf("applying metadata change %s (%s): %w", b.GetId(), op.GetMetadata().GetRequest(), err))
			if failures == 1 || failures%10 == 0 {
				p.log.Warn("applying a metadata change failed; retrying with backoff", "barrier", b.GetId(),
					"request", op.GetMetadata().GetRequest(), "attempt", failures, "error", err)
			}
			if !p.sleep(p.bo.next(), true) {
				return false
			}
			continue
		}
		if failures > 0 {
			r.health.markUp(false)
		}
		p.bo.reset()
		for _, s := range res.steps {
			r.m.metaSteps.WithLabelValues(s.kind, s.result).Inc()
		}
		switch {
		case len(res.refused) > 0:
			now := r.now()
			if !p.deadLetter([]deadEntry{{rec: rec, id: b.GetId(), dl: metadataDeadLetter(r.cfg.Target.Name, rec, res.refused, now)}}) {
				return false
			}
			r.m.metaChanges.WithLabelValues(resultDLQ).Inc()
		case res.considered():
			r.m.metaChanges.WithLabelValues(resultApplied).Inc()
			p.log.Info("metadata change applied", "barrier", b.GetId(), "request", op.GetMetadata().GetRequest(), "offset", rec.Offset)
		default:
			r.m.metaChanges.WithLabelValues(resultSkipped).Inc()
		}
		return true
	}
}

// ClassMetadata is the dead-letter class of a metadata change a target refused (a
// step of it); fanoutctl dlq replay applies it again, without barrier.
const ClassMetadata = "metadata"

// metadataDeadLetter describes the refusals of a change: the first one's type and
// status, every one in the reason.
func metadataDeadLetter(cluster string, rec *kgo.Record, refused []metaRefusal, now time.Time) kafkax.DeadLetter {
	reasons := make([]string, len(refused))
	for i, f := range refused {
		reasons[i] = fmt.Sprintf("%s %s: %s: %s", f.Step, f.Object, f.ErrorType, f.Reason)
	}
	return kafkax.DeadLetter{
		Class: ClassMetadata, ErrorType: refused[0].ErrorType, Reason: strings.Join(reasons, "; "),
		HTTPStatus: refused[0].Status, Attempts: 1, Cluster: cluster,
		SourceTopic: rec.Topic, SourcePartition: rec.Partition, SourceOffset: rec.Offset,
		FirstFailure: now, LastFailure: now,
	}
}
