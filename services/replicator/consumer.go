package replicator

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pollLoop hands fetched records to their partitions' goroutines. It never waits for
// a partition: memory is bounded by pausing fetches (flowControl), and rebalances are
// allowed after every poll, so a revoke never waits for more than the revoked
// partitions' in-flight bulks.
func (r *Replicator) pollLoop(ctx context.Context) {
	logged := map[string]time.Time{}
	for {
		fetches := r.consumer.PollFetches(ctx)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			r.consumer.AllowRebalance()
			return
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			// Fetch errors are retried by the client; say each distinct one at most
			// once a minute.
			msg := fmt.Sprintf("%s[%d]: %v", topic, p, err)
			if at, ok := logged[msg]; !ok || time.Since(at) > time.Minute {
				if len(logged) > 1000 {
					clear(logged)
				}
				logged[msg] = time.Now()
				r.log.Warn("fetch error", "topic", topic, "partition", p, "error", err)
			}
		})
		r.mu.Lock()
		fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
			if p := r.parts[topicPartition{ftp.Topic, ftp.Partition}]; p != nil {
				p.push(ftp.Records, ftp.HighWatermark)
			}
		})
		r.mu.Unlock()
		r.flow.update()
		r.consumer.AllowRebalance()
	}
}

// assigned starts a goroutine for every new partition. Fetching for them has not
// begun yet, so an operator pause is applied before the first record arrives.
func (r *Replicator) assigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	if r.draining.Load() {
		return
	}
	r.mu.Lock()
	var fresh []*partition
	for topic, ps := range assigned {
		for _, id := range ps {
			k := topicPartition{topic, id}
			if r.parts[k] != nil {
				continue
			}
			p := newPartition(r, topic, id)
			r.parts[k] = p
			fresh = append(fresh, p)
		}
	}
	n := len(r.parts)
	r.mu.Unlock()
	r.m.partitions.Set(float64(n))
	// A pause left from an earlier ownership of the partition must not stick.
	cl.ResumeFetchPartitions(assigned)
	r.flow.update()
	for _, p := range fresh {
		r.wg.Add(1)
		go p.run()
	}
	r.log.Info("partitions assigned", "partitions", fmtPartitions(assigned), "owned", n)
}

// revoked lets the revoked partitions' in-flight bulks finish, commits what they
// resolved, and forgets them, all within limits.shutdown_timeout (which the config
// keeps below the group's rebalance timeout). Kafka gives the partitions to another
// member only after this returns.
func (r *Replicator) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	parts := r.partitionsOf(revoked)
	if len(parts) == 0 {
		return
	}
	b := r.newStopBudget()
	if r.aborted.Load() {
		b.stop = time.Time{}
	}
	r.stopPartitions(parts, b.stop)
	r.commitMu.Lock()
	if !r.aborted.Load() {
		cctx, cancel := context.WithDeadline(ctx, b.end)
		if err := r.commitLocked(cctx, parts); err != nil {
			r.log.Warn("commit on revoke failed: the new owner applies some records again (harmlessly)", "error", err)
		}
		cancel()
	}
	r.forget(parts)
	r.commitMu.Unlock()
	cl.ResumeFetchPartitions(revoked)
	r.log.Info("partitions revoked", "partitions", fmtPartitions(revoked))
}

// lost drops lost partitions without committing: another member may own them already.
func (r *Replicator) lost(_ context.Context, cl *kgo.Client, lost map[string][]int32) {
	parts := r.partitionsOf(lost)
	r.stopPartitions(parts, time.Time{})
	r.commitMu.Lock()
	r.forget(parts)
	r.commitMu.Unlock()
	cl.ResumeFetchPartitions(lost)
	if len(parts) > 0 {
		r.log.Warn("partitions lost; their uncommitted records will be applied again by their next owner", "partitions", fmtPartitions(lost))
	}
}

func (r *Replicator) partitionsOf(m map[string][]int32) []*partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*partition
	for topic, ps := range m {
		for _, id := range ps {
			if p := r.parts[topicPartition{topic, id}]; p != nil {
				out = append(out, p)
			}
		}
	}
	return out
}

func (r *Replicator) allPartitions() []*partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*partition, 0, len(r.parts))
	for _, p := range r.parts {
		out = append(out, p)
	}
	return out
}

// forget removes stopped partitions and releases their buffered records.
func (r *Replicator) forget(parts []*partition) {
	r.mu.Lock()
	for _, p := range parts {
		if r.parts[p.key()] == p {
			delete(r.parts, p.key())
		}
	}
	n := len(r.parts)
	r.mu.Unlock()
	for _, p := range parts {
		p.release()
	}
	r.m.partitions.Set(float64(n))
	r.flow.update()
}

// stopBudget splits limits.shutdown_timeout between stopping partitions and what
// follows (committing, flushing the dead-letter producer), so that a revoke or a
// shutdown takes at most the timeout as a whole, not once per step.
type stopBudget struct {
	stop time.Time // the in-flight attempts are cancelled then
	end  time.Time // the commit (and flush) must be done by then
}

func (r *Replicator) newStopBudget() stopBudget {
	t := r.cfg.Limits.ShutdownTimeout
	now := time.Now()
	// A quarter, at most 5 s, is kept for the commit: enough for a broker that answers,
	// and a broker that does not answer cannot be waited out anyway.
	return stopBudget{stop: now.Add(t - min(t/4, 5*time.Second)), end: now.Add(t)}
}

// stopPartitions stops the partitions' goroutines: no new attempt starts, and the
// attempts in flight may finish until deadline (zero: none may); then they are
// cancelled. What a partition did not resolve is delivered again to its next owner.
func (r *Replicator) stopPartitions(parts []*partition, deadline time.Time) {
	for _, p := range parts {
		p.stopSoft()
	}
	if wait := time.Until(deadline); !deadline.IsZero() && wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		for _, p := range parts {
			select {
			case <-p.done:
			case <-timer.C:
				r.log.Warn("in-flight bulks did not finish in time; abandoning them (their records will be applied again)",
					"timeout", r.cfg.Limits.ShutdownTimeout)
				goto hard
			}
		}
		return
	}
hard:
	for _, p := range parts {
		p.stopHard()
	}
	for _, p := range parts {
		<-p.done
	}
}

// commitLoop commits resolved offsets every consume.commit_interval.
func (r *Replicator) commitLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.Consume.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, max(r.cfg.Consume.CommitInterval, 10*time.Second))
		if err := r.commit(cctx, nil); err != nil && ctx.Err() == nil {
			r.log.Warn("periodic commit failed; retrying at the next interval", "error", err)
		}
		cancel()
	}
}

// commit commits the resolved offsets of parts (nil: every owned partition).
func (r *Replicator) commit(ctx context.Context, parts []*partition) error {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	if parts == nil {
		parts = r.allPartitions()
	}
	return r.commitLocked(ctx, parts)
}

// commitLocked commits, for each partition, the offset after its last resolved
// record, when that is past what was committed. The caller holds commitMu.
func (r *Replicator) commitLocked(ctx context.Context, parts []*partition) error {
	if r.aborted.Load() {
		return nil
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	want := map[topicPartition]int64{}
	for _, p := range parts {
		eo, ok := p.toCommit()
		if !ok {
			continue
		}
		if offsets[p.topic] == nil {
			offsets[p.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[p.topic][p.id] = eo
		want[p.key()] = eo.Offset
	}
	if len(offsets) == 0 {
		return nil
	}
	var errs []error
	r.consumer.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, t := range resp.Topics {
			for _, pr := range t.Partitions {
				k := topicPartition{t.Topic, pr.Partition}
				if cerr := kerr.ErrorForCode(pr.ErrorCode); cerr != nil {
					errs = append(errs, fmt.Errorf("%s[%d]: %w", t.Topic, pr.Partition, cerr))
					delete(want, k)
				}
			}
		}
	})
	if len(errs) == 0 {
		for _, p := range parts {
			if off, ok := want[p.key()]; ok {
				p.committedTo(off)
			}
		}
		r.m.commits.WithLabelValues("ok").Inc()
		return nil
	}
	r.m.commits.WithLabelValues("failed").Inc()
	return fmt.Errorf("committing offsets of group %s: %w", r.group, errors.Join(errs...))
}

// lagLoop reads the partitions' high watermarks every consume.lag_interval, so that
// lag keeps growing while a partition's fetching is paused.
func (r *Replicator) lagLoop(ctx context.Context) {
	adm := kadm.NewClient(r.consumer)
	t := time.NewTicker(r.cfg.Consume.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		parts := r.allPartitions()
		if len(parts) > 0 {
			lctx, cancel := context.WithTimeout(ctx, r.cfg.Consume.LagInterval)
			ends, err := adm.ListEndOffsets(lctx, r.cfg.Consume.Topics...)
			cancel()
			if err == nil {
				for _, p := range parts {
					if o, ok := ends.Lookup(p.topic, p.id); ok && o.Err == nil {
						p.setHighWatermark(o.Offset)
					}
				}
			} else if ctx.Err() == nil {
				r.log.Debug("reading high watermarks", "error", err)
			}
			r.fillStarts(ctx, adm, parts)
		}
		for _, p := range parts {
			p.updateLag()
		}
	}
}

// fillStarts reads the group's committed offsets for partitions that have not
// fetched anything yet (paused, or a slow start), so that their lag is known.
func (r *Replicator) fillStarts(ctx context.Context, adm *kadm.Client, parts []*partition) {
	var unknown []*partition
	for _, p := range parts {
		p.mu.Lock()
		if p.resolved < 0 {
			unknown = append(unknown, p)
		}
		p.mu.Unlock()
	}
	if len(unknown) == 0 {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, r.cfg.Consume.LagInterval)
	defer cancel()
	offs, err := adm.FetchOffsets(fctx, r.group)
	if err != nil {
		return
	}
	for _, p := range unknown {
		if o, ok := offs.Lookup(p.topic, p.id); ok && o.Err == nil {
			p.setStartIfUnknown(o.At)
		}
	}
}

// createDLQTopics creates missing dead-letter topics with their source topic's
// partition count. Failures are logged: the topics may exist already or be the
// operator's to create, and writing to a missing one blocks (never skips) the
// partition with a clear error.
func (r *Replicator) createDLQTopics(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(r.producer)
	details, err := adm.ListTopics(ctx, r.cfg.Consume.Topics...)
	if err != nil {
		r.log.Warn("cannot read the source topics to create dead-letter topics", "error", err)
		return
	}
	for _, topic := range r.cfg.Consume.Topics {
		dlq := r.cfg.dlqTopic(topic)
		partitions := int32(1)
		if d, ok := details[topic]; ok && d.Err == nil && len(d.Partitions) > 0 {
			partitions = int32(len(d.Partitions))
		}
		retention := strconv.FormatInt(r.cfg.Consume.DLQRetention.Milliseconds(), 10)
		resp, err := adm.CreateTopic(ctx, partitions, -1, map[string]*string{"retention.ms": &retention}, dlq)
		if err == nil {
			err = resp.Err
		}
		switch {
		case err == nil:
			r.log.Info("created dead-letter topic", "topic", dlq, "partitions", partitions, "retention", r.cfg.Consume.DLQRetention)
		case errors.Is(err, kerr.TopicAlreadyExists):
		default:
			r.log.Warn("cannot create dead-letter topic; create it, or dead-lettering will block its partitions", "topic", dlq, "error", err)
		}
	}
}

// flowControl pauses fetching for partitions whose buffered records pass
// consume.max_partition_buffered_bytes, and for all while the total passes
// consume.max_buffered_bytes or an operator paused replication. A partition resumes
// when it is down to half its cap (and the total to half of its own), so that fetches
// are not paused and resumed for every batch.
type flowControl struct {
	r                 *Replicator
	totalCap, partCap int64

	mu        sync.Mutex
	total     int64 // buffered bytes over all partitions
	allPaused bool  // total cap passed
}

// add accounts for bytes pushed (n > 0) or taken (n < 0) and says whether the flow
// state may have to change.
func (f *flowControl) add(n int64) bool {
	f.mu.Lock()
	f.total += n
	t, all := f.total, f.allPaused
	f.mu.Unlock()
	f.r.m.bufferedBytes.Set(float64(t))
	if n > 0 {
		return t >= f.totalCap
	}
	return all && t <= f.totalCap/2
}

// update pauses and resumes partitions as the buffers and the operator say.
func (f *flowControl) update() {
	r := f.r
	admin := r.isPaused()
	parts := r.allPartitions() // before f.mu: the poll loop takes r.mu, then f.mu
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.total >= f.totalCap:
		f.allPaused = true
	case f.total <= f.totalCap/2:
		f.allPaused = false
	}
	pause, resume := map[string][]int32{}, map[string][]int32{}
	npaused := 0
	for _, p := range parts {
		if want, change := p.wantFetchPaused(admin || f.allPaused, f.partCap); change {
			if want {
				pause[p.topic] = append(pause[p.topic], p.id)
			} else {
				resume[p.topic] = append(resume[p.topic], p.id)
			}
			if want {
				npaused++
			}
		} else if want {
			npaused++
		}
	}
	if len(pause) > 0 {
		r.consumer.PauseFetchPartitions(pause)
	}

	if len(resume) > 0 {
		r.consumer.ResumeFetchPartitions(resume)
	}
	r.m.fetchPaused.Set(float64(npaused))
}

func fmtPartitions(m map[string][]int32) string {
	topics := make([]string, 0, len(m))
	for t := range m {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	var b []byte
	for i, t := range topics {
		if i > 0 {
			b = append(b, ' ')
		}
		ps := append([]int32(nil), m[t]...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		b = append(b, t...)
		b = append(b, '[')
		for j, p := range ps {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(p), 10)
		}
		b = append(b, ']')
	}
	return string(b)
}
