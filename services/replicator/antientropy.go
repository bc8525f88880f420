package replicator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/pkg/resolve"
)

// Anti-entropy: the replicator compares its target with the primary in the background
// (pkg/converge, as fanoutctl verify does, fast mode by default: ids, routing and
// versions), at a bounded rate, and repairs what differs with the Repairer of
// fanoutctl verify --repair, through the apply path of the partitions.
//
// The target is always behind the primary by the stream's lag, so a difference the
// comparison sees is first of all lag. A pass therefore only collects differences; once
// it is over, it waits until the group has committed every event published before it
// ended (anti_entropy.settle_timeout), then looks each difference up again on both
// sides. A difference is confirmed only if neither side changed meanwhile: the stream
// applied everything the primary had accepted when the difference was seen, and the
// target still holds the same wrong state. A document that changed is in flux and left
// to the stream (and the next pass). Only confirmed differences are repaired and counted.
//
// One member of the group runs the passes: the one that owns partition 0 of the first
// topic, so that scaling the group out does not multiply the load on the clusters; a
// pass stops when the partition moves.

// Results of fanout_replicator_anti_entropy_passes_total.
const (
	passComplete = "complete" // every replicated index compared to the end
	passCapped   = "capped"   // stopped at anti_entropy.max_diffs; the next pass starts at once
	passFailed   = "failed"   // a cluster could not be asked; retried at the next interval
	passStopped  = "stopped"  // leadership moved, an operator paused, or shutdown
)

// Reasons of fanout_replicator_anti_entropy_skipped_total.
const (
	skipInFlux       = "in_flux"       // one side changed since the comparison: left to the stream
	skipConverged    = "converged"     // the stream caught up: no difference left
	skipDeferred     = "deferred"      // the group did not catch up within settle_timeout
	skipIndexMissing = "index_missing" // the target has no such index: left to metadata replication or backfill
	skipAlreadyNewer = "already_newer" // the repair met a newer version on the target
)

// errDiffCap stops a comparison that collected anti_entropy.max_diffs differences.
var errDiffCap = errors.New("anti_entropy.max_diffs differences collected")

// errNotLeader stops a pass whose member no longer owns the leader partition.
var errNotLeader = errors.New("no longer the group's anti-entropy member")

// recheckBatch is the differences looked up again per _mget on each side.
const recheckBatch = 500

// antiEntropyLoop runs the passes until ctx is done.
func (r *Replicator) antiEntropyLoop(ctx context.Context) {
	cfg := r.cfg.AntiEntropy
	r.log.Info("anti-entropy on", "interval", cfg.Interval, "max_docs_per_s", cfg.MaxDocsPerS, "mode", cfg.Mode, "repair", cfg.Repair)
	for {
		if !r.waitAntiEntropyTurn(ctx) {
			return
		}
		start := r.now()
		result, err := r.antiEntropyPass(ctx)
		r.m.aePasses.WithLabelValues(result).Inc()
		if err != nil && ctx.Err() == nil {
			r.log.Warn("anti-entropy pass "+result, "error", err, "seconds", time.Since(start).Seconds())
		}
		if ctx.Err() != nil {
			return
		}
		wait := cfg.Interval - r.now().Sub(start)
		if result == passCapped {
			wait = 0
		}
		if result == passStopped {
			wait = time.Second
		}
		if wait > 0 && sleepCtx(ctx, wait) != nil {
			return
		}
	}
}

// waitAntiEntropyTurn waits until this member may run a pass: it owns the leader
// partition, no operator pause holds, and the target answers. False when ctx is done.
func (r *Replicator) waitAntiEntropyTurn(ctx context.Context) bool {
	for {
		if r.antiEntropyMayRun() {
			return true
		}
		if sleepCtx(ctx, time.Second) != nil {
			return false
		}
	}
}

func (r *Replicator) antiEntropyMayRun() bool {
	if r.draining.Load() {
		return false
	}
	r.pauseMu.Lock()
	paused := r.paused
	r.pauseMu.Unlock()
	if paused {
		return false
	}
	if up, _ := r.health.state(); !up {
		return false
	}
	r.mu.Lock()
	_, leader := r.parts[topicPartition{topic: r.cfg.Consume.Topics[0], partition: 0}]
	r.mu.Unlock()
	return leader
}

// antiEntropyPass compares, confirms and repairs once; it returns the pass's result.
func (r *Replicator) antiEntropyPass(parent context.Context) (string, error) {
	cfg := r.cfg.AntiEntropy
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	// the pass stops as soon as this member may no longer run it
	watchDone := make(chan struct{})
	defer close(watchDone)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-watchDone:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if !r.antiEntropyMayRun() {
					cancel(errNotLeader)
					return
				}
			}
		}
	}()
	r.m.aeRunning.Set(1)
	defer r.m.aeRunning.Set(0)

	start := r.now()
	mode, _ := converge.ParseMode(cfg.Mode)
	var diffs []converge.Diff
	in := r.cfg.Indices
	pace := pacer{rate: cfg.MaxDocsPerS, start: time.Now()}
	var counted int
	var paceErr error
	opts := converge.Options{
		Include:      func(ix string) bool { return Included(ix, in.Include, in.Exclude) },
		ReplicaIndex: func(ix string) string { return RenameIndex(in.Rename, ix) },
		Mode:         mode,
		// a page is at most a few seconds of the rate: the pacing waits between pages
		PageSize:      max(10, min(1000, int(cfg.MaxDocsPerS*5))),
		MaxDiffs:      1,
		ExpectVersion: expectReplicationVersion,
		OnDiff: func(d converge.Diff) error {
			if len(diffs) >= cfg.MaxDiffs {
				return errDiffCap
			}
			diffs = append(diffs, d)
			return nil
		},
		Progress: func(p converge.Progress) {
			n := p.Compared + p.Checked
			r.m.aeChecked.Add(float64(n - counted))
			counted = n
			if paceErr == nil {
				paceErr = pace.wait(ctx, n)
			}
		},
	}
	_, err := converge.Compare(ctx, r.primary, r.target, opts)
	result := passComplete
	switch {
	case errors.Is(err, errDiffCap):
		result, err = passCapped, nil
	case err != nil && ctx.Err() != nil:
		return passStopped, context.Cause(ctx)
	case err != nil:
		return passFailed, fmt.Errorf("comparing %s with the primary: %w", r.cfg.Target.Name, err)
	}
	found := len(diffs)
	var confirmed []converge.Diff
	if found > 0 {
		if confirmed, err = r.confirmDiffs(ctx, diffs); err != nil {
			if ctx.Err() != nil {
				return passStopped, context.Cause(ctx)
			}
			return passFailed, err
		}
	}
	for _, d := range confirmed {
		r.m.aeDiffs.WithLabelValues(string(d.Kind)).Inc()
		r.log.Debug("anti-entropy difference", "diff", d.String())
	}
	var rep *RepairReport
	if len(confirmed) > 0 && cfg.Repair {
		if rep, err = r.antiEntropyRepair(ctx, confirmed); err != nil {
			if ctx.Err() != nil {
				return passStopped, context.Cause(ctx)
			}
			return passFailed, err
		}
	}
	if result == passComplete {
		end := r.now()
		r.m.aeLastPass.Set(float64(end.UnixNano()) / 1e9)
		r.m.aeLastPassSeconds.Set(end.Sub(start).Seconds())
	}
	attrs := []any{"result", result, "seconds", r.now().Sub(start).Seconds(), "compared", counted,
		"differences_seen", found, "confirmed", len(confirmed)}
	if rep != nil {
		attrs = append(attrs, "repaired", KindTotal(rep.Repaired), "failed", KindTotal(rep.Failed))
		for _, f := range rep.Failures {
			r.log.Warn("anti-entropy could not repair a document", "kind", f.Kind, "index", f.Index, "id", f.ID, "reason", f.Reason)
		}
	}
	if len(confirmed) > 0 {
		// Each one names a document somebody wrote around fanout (or an event lost):
		// what an operator looks for. A pass may confirm thousands; the first are enough.
		for i, d := range confirmed {
			if i == aeLoggedDiffs {
				r.log.Warn("anti-entropy: more differences not logged", "count", len(confirmed)-i)
				break
			}
			r.log.Warn("anti-entropy difference", "kind", d.Kind, "index", d.Index, "id", d.ID, "repair", cfg.Repair)
		}
		r.log.Warn("anti-entropy found the target different from the primary", attrs...)
	} else {
		r.log.Info("anti-entropy pass", attrs...)
	}
	return result, nil
}

// expectReplicationVersion is the _version the target holds for a primary document:
// the replication version of its _seq_no/_primary_term, as the stream writes it.
func expectReplicationVersion(v converge.DocVersion) int64 {
	rv, err := event.ReplicationVersion(v.SeqNo, v.PrimaryTerm, v.Version, v.HasSeqNo)
	if err != nil {
		return -1 // no valid replication version: a difference
	}
	return rv
}

// pacer bounds a pass to rate documents per second on average since start.
type pacer struct {
	rate  float64
	start time.Time
}

// wait sleeps until n documents are within the rate.
func (p pacer) wait(ctx context.Context, n int) error {
	due := p.start.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		return sleepCtx(ctx, d)
	}
	return nil
}

// confirmDiffs waits for the group to apply what was published before now, then keeps
// the differences that are still there, unchanged on both sides.
func (r *Replicator) confirmDiffs(ctx context.Context, diffs []converge.Diff) ([]converge.Diff, error) {
	caughtUp, err := r.waitCaughtUp(ctx, r.cfg.AntiEntropy.SettleTimeout)
	if err != nil {
		return nil, err
	}
	if !caughtUp {
		r.m.aeSkipped.WithLabelValues(skipDeferred).Add(float64(len(diffs)))
		r.log.Warn("anti-entropy: the group did not apply the stream up to the end of the pass within anti_entropy.settle_timeout; its differences are left for the next pass",
			"differences", len(diffs), "settle_timeout", r.cfg.AntiEntropy.SettleTimeout)
		return nil, nil
	}
	var out []converge.Diff
	for start := 0; start < len(diffs); start += recheckBatch {
		batch := diffs[start:min(start+recheckBatch, len(diffs))]
		kept, err := r.recheck(ctx, batch)
		if err != nil {
			return nil, err
		}
		out = append(out, kept...)
	}
	return out, nil
}

// waitCaughtUp reads the end offsets of the consumed topics, then waits until the
// group's committed offsets reach them. False when timeout passes first.
func (r *Replicator) waitCaughtUp(ctx context.Context, timeout time.Duration) (bool, error) {
	adm := kadm.NewClient(r.consumer)
	deadline := time.Now().Add(timeout)
	var ends kadm.ListedOffsets
	for {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var err error
		ends, err = adm.ListEndOffsets(lctx, r.cfg.Consume.Topics...)
		cancel()
		if err == nil {
			if err = ends.Error(); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return false, err
		}
	}
	for {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		committed, err := adm.FetchOffsets(lctx, r.group)
		cancel()
		if err == nil && committedReach(committed, ends) {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return false, err
		}
	}
}

// committedReach says whether every partition's committed offset is at its end
// offset or beyond (an empty partition needs no commit).
func committedReach(committed kadm.OffsetResponses, ends kadm.ListedOffsets) bool {
	ok := true
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset <= 0 {
			return
		}
		c, found := committed.Lookup(o.Topic, o.Partition)
		if !found || c.Err != nil || c.At < o.Offset {
			ok = false
		}
	})
	return ok
}

// recheck looks a batch of differences up again on both sides and keeps those that
// neither side changed since the comparison saw them.
func (r *Replicator) recheck(ctx context.Context, diffs []converge.Diff) ([]converge.Diff, error) {
	pops := make([]*opspb.Operation, len(diffs))
	tops := make([]*opspb.Operation, len(diffs))
	for i, d := range diffs {
		prouting, trouting := d.Routing, d.ReplicaRouting
		switch d.Kind {
		case converge.Extra:
			prouting = d.ReplicaRouting
		case converge.Missing:
			trouting = d.Routing
		}
		pops[i] = &opspb.Operation{Index: d.Index, Id: d.ID, Routing: prouting}
		tops[i] = &opspb.Operation{Index: d.ReplicaIndex, Id: d.ID, Routing: trouting}
	}
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	pdocs, err := resolve.Lookup(lctx, r.primary, r.cfg.Primary.Name, pops)
	if err != nil {
		return nil, fmt.Errorf("looking differences up again on the primary: %w", err)
	}
	tdocs, err := resolve.Lookup(lctx, r.target, r.cfg.Target.Name, tops)
	if err != nil {
		return nil, fmt.Errorf("looking differences up again on the target %s: %w", r.cfg.Target.Name, err)
	}
	full := r.cfg.AntiEntropy.Mode == string(converge.Full)
	var out []converge.Diff
	for i, d := range diffs {
		still, reason := stillDiffers(d, &pdocs[i], &tdocs[i], full)
		if !still {
			r.m.aeSkipped.WithLabelValues(reason).Inc()
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// stillDiffers judges a difference against what both sides hold now. Sides that agree
// now: converged (the stream caught up). Otherwise it stands only if the primary
// document is as the comparison saw it (same replication version, or still absent for
// an extra one) and so is the target's copy (same presence, version and routing);
// else it is in flux, left to the stream.
func stillDiffers(d converge.Diff, p, t *resolve.Doc, full bool) (bool, string) {
	if isError(t.Error) {
		if typ, _ := resolve.ErrorOf(t.Error); typ == "index_not_found_exception" {
			return false, skipIndexMissing
		}
		return false, skipInFlux
	}
	if isError(p.Error) {
		if typ, _ := resolve.ErrorOf(p.Error); typ != "index_not_found_exception" {
			return false, skipInFlux
		}
		p = &resolve.Doc{} // the primary's index is gone: the document with it
	}
	var prv int64
	if p.Found {
		prv = expectReplicationVersion(docVersion(p))
	}
	switch {
	case !p.Found && !t.Found:
		return false, skipConverged
	case p.Found && t.Found && p.Routing == t.Routing && prv == t.Version && (!full || converge.SameSource(p.Source, t.Source)):
		return false, skipConverged
	// the primary as seen then
	case p.Found == (d.Kind == converge.Extra), p.Found && prv != d.ExpectedVersion:
		return false, skipInFlux
	// the target as seen then
	case t.Found == (d.Kind == converge.Missing), t.Found && (t.Version != d.ReplicaVersion || t.Routing != d.ReplicaRouting):
		return false, skipInFlux
	}
	return true, ""
}

func isError(raw []byte) bool { return len(raw) > 0 && string(raw) != "null" }

func docVersion(d *resolve.Doc) converge.DocVersion {
	v := converge.DocVersion{Version: d.Version}
	if d.SeqNo != nil && d.PrimaryTerm != nil {
		v.SeqNo, v.PrimaryTerm, v.HasSeqNo = *d.SeqNo, *d.PrimaryTerm, true
	}
	return v
}

// antiEntropyRepair repairs confirmed differences through the partitions' apply path.
func (r *Replicator) antiEntropyRepair(ctx context.Context, diffs []converge.Diff) (*RepairReport, error) {
	ap := &Applier{cfg: r.cfg, target: r.target, mapper: newIndexMapper(r.cfg.Indices),
		ItemRetries: 5, RequestRetries: 5}
	rp := NewRepairer(RepairConfig{Primary: r.primary, PrimaryName: r.cfg.Primary.Name, LookupRetries: 3,
		Apply: ap, Target: ClusterTombstones(r.target),
		Note: func(msg string) { r.log.Info("anti-entropy: " + msg) }})
	var err error
	for _, d := range diffs {
		if err = rp.Add(ctx, d); err != nil {
			break
		}
	}
	if err == nil {
		err = rp.Finish(ctx)
	}
	rep := rp.Report()
	for k, n := range rep.Repaired {
		r.m.aeRepaired.WithLabelValues(string(k)).Add(float64(n))
	}
	r.m.aeSkipped.WithLabelValues(skipAlreadyNewer).Add(float64(KindTotal(rep.AlreadyNewer)))
	for k, n := range rep.Failed {
		r.m.aeFailed.WithLabelValues(string(k)).Add(float64(n))
	}
	if err != nil {
		return rep, fmt.Errorf("repairing %d differences: %w", len(diffs), err)
	}
	return rep, nil
}

// sleepCtx waits d or until ctx is done (then its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// aeLoggedDiffs bounds the differences one pass logs one by one.
const aeLoggedDiffs = 100
