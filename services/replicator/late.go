package replicator

import (
	"context"
	"fmt"
	"time"

	"github.com/fanout-dev/fanout/pkg/bulk"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/pkg/resolve"
)

// Late events (DESIGN.md principle 8). An event can be applied long after the primary
// accepted it: drained from a proxy's spool after a Kafka outage, published by a second
// proxy behind newer events. (fanoutctl dlq replay writes to the target itself and
// resolves what it replays the same way, with pkg/resolve.) The target refuses an
// older INDEX only while it remembers the newer DELETE's tombstone (index.gc_deletes,
// 60 s by default); past that the INDEX would bring back a document the primary
// deleted. The memory of deletes (deletes.go) covers a DELETE seen in the partition
// within deletes.window of accepted time, not a DELETE the partition resolved long ago.
//
// Rule: an INDEX event whose accepted time is more than late_events.window before the
// moment it is applied is resolved against the primary first (one realtime _mget, with
// routing, for every late event of the batch; pkg/resolve):
//
//   - found: the primary's current document is applied instead, with the replication
//     version of its current _seq_no/_primary_term, so a later real write still wins
//     and an older one is refused;
//   - missing: a DELETE at the event's version + 1 is applied instead: above the
//     event, and below the primary's delete (≥ v+1) and any re-create after it (≥ v+2),
//     so it never beats a later real write (resolve.Resolve);
//   - the primary cannot be asked (down, 5xx, no usable answer): the partition blocks
//     and retries with backoff, never applying the stale INDEX, never skipping it;
//   - the primary cannot say for one document (a per-document error): the lookup is
//     retried like a target's item rejection, retry.item_attempts times, then the event
//     is dead-lettered as recorded (fanoutctl dlq replay resolves it again); at once
//     when it can never work (no _source on the primary, no version fits).
//
// Why a window in accepted time is enough: an INDEX accepted at t_i can only be hurt by
// a DELETE accepted after it, at t_d > t_i; the target applied that DELETE no earlier
// than t_d, so its tombstone lasts at least until t_d + gc_deletes > t_i + gc_deletes.
// An INDEX applied within gc_deletes of its accepted time therefore still meets the
// tombstone, if there is one. The default window, half of the 60 s default, leaves the
// other half for clock skew between the proxies and the replicator. Resolving after the
// lookup is safe however long the apply then takes (a target outage): every write the
// primary accepted after the lookup has a higher version and a later offset.
//
// Cost: a replicator behind by more than the window (catching up after an outage)
// resolves every INDEX it applies, one _mget per batch on the primary, until it is
// within the window again.
//
// Only INDEX events are resolved: a DELETE never brings anything back, a metadata
// change is state already, and KIND_RAW is dead-lettered as unsupported before. A
// document assembled from chunks is resolved as one INDEX: found, the primary's whole
// current document replaces its pieces.
//
// Without primary.endpoints, late INDEX events are applied as recorded, counted in
// fanout_replicator_late_events_total{outcome="unresolved"} and warned about at most
// once a lateWarnInterval.

// Outcomes of fanout_replicator_late_events_total.
const (
	lateCurrent    = "current"    // the primary's current document applied instead
	lateDeleted    = "deleted"    // gone on the primary: a DELETE applied instead
	lateRetried    = "retried"    // the primary could not say for the document; looked up again
	lateDLQ        = "dlq"        // the primary could not say, attempts used up: dead-lettered
	lateUnresolved = "unresolved" // no primary configured: applied as recorded
)

// lateWarnInterval spaces the warnings about late events applied unresolved.
const lateWarnInterval = time.Minute

// isLate says whether an item is an INDEX accepted more than late_events.window before
// now.
func (p *partition) isLate(it *item, now time.Time) bool {
	return it.action == bulk.ActionIndex && now.Sub(acceptedAt(it.op, it.rec)) > p.r.cfg.LateEvents.Window
}

// resolveLate resolves the late INDEX items of p.items against the primary: replaced in
// place by what the primary holds, or dead-lettered into dead (and taken out of
// p.items). It returns false when the partition stopped meanwhile (the batch is
// abandoned, nothing of it applied).
func (p *partition) resolveLate(dead *[]deadEntry) bool {
	r := p.r
	now := r.now()
	var late []int
	for i := range p.items {
		if p.isLate(&p.items[i], now) {
			late = append(late, i)
		}
	}
	if len(late) == 0 {
		return true
	}
	if r.primary == nil {
		r.m.lateEvents.WithLabelValues(lateUnresolved).Add(float64(len(late)))
		r.warnUnresolved(p, late, now)
		return true
	}
	all := make([]int, len(p.items))
	for i := range all {
		all[i] = i
	}
	drop := make([]bool, len(p.items))
	ops := make([]*opspb.Operation, 0, len(late))
	failures := 0
	for len(late) > 0 {
		if p.stopping() {
			p.abandon(all, *dead)
			return false
		}
		ops = ops[:0]
		for _, i := range late {
			ops = append(ops, p.items[i].op)
		}
		ctx, cancel := context.WithTimeout(p.ctx, r.cfg.Limits.BulkTimeout)
		docs, err := resolve.Lookup(ctx, r.primary, r.cfg.Primary.Name, ops)
		cancel()
		if p.ctx.Err() != nil {
			p.abandon(all, *dead)
			return false
		}
		if err != nil {
			// The primary cannot be asked: applying the recorded INDEX could resurrect a
			// deleted document, and skipping it could lose a write. Block and retry.
			failures++
			r.m.lookupFailed.Inc()
			first := p.items[late[0]]
			err = fmt.Errorf("resolving %d late INDEX events against the primary %s (nothing of the batch is applied until it answers), e.g. %s/%s (offset %d): %w",
				len(late), r.cfg.Primary.Name, first.op.GetIndex(), first.op.GetId(), first.rec.Offset, err)
			p.trouble(err)
			if failures == 1 || failures%10 == 0 {
				p.log.Warn("primary lookup failed; the partition waits and retries", "error", err, "attempt", failures)
			}
			if !p.sleep(p.bo.next(), false) {
				p.abandon(all, *dead)
				return false
			}
			continue
		}
		r.m.lookupOK.Inc()
		if failures > 0 {
			p.log.Info("primary answers again", "failed_lookups", failures)
			failures = 0
		}
		next := late[:0]
		var retryErr error
		nCurrent, nDeleted := 0, 0
		for k, i := range late {
			it := &p.items[i]
			res := resolve.Resolve(it.op, &docs[k])
			if res.Err == nil {
				if p.adopt(it, res) {
					nDeleted++
				} else {
					nCurrent++
				}
				continue
			}
			t := r.now()
			it.attempts++
			if it.first.IsZero() {
				it.first = t
			}
			it.last = t
			permanent := res.ErrType == resolve.ErrSourceMissing || res.ErrType == resolve.ErrVersionRange
			if permanent || it.attempts >= r.cfg.Retry.ItemAttempts {
				it.status, it.errType, it.errMsg = 0, res.ErrType, res.Err.Error()
				*dead = append(*dead, p.rejected(it)...)
				drop[i] = true
				r.m.lateEvents.WithLabelValues(lateDLQ).Inc()
				continue
			}
			r.m.lateEvents.WithLabelValues(lateRetried).Inc()
			next = append(next, i)
			if retryErr == nil {
				retryErr = fmt.Errorf("the primary %s cannot say what %s/%s (offset %d) holds: %w", r.cfg.Primary.Name, it.op.GetIndex(), it.op.GetId(), it.rec.Offset, res.Err)
			}
		}
		r.m.lateEvents.WithLabelValues(lateCurrent).Add(float64(nCurrent))
		r.m.lateEvents.WithLabelValues(lateDeleted).Add(float64(nDeleted))
		if nCurrent+nDeleted > 0 {
			p.log.Debug("late INDEX events resolved against the primary", "current", nCurrent, "deleted", nDeleted)
		}
		late = next
		if len(late) == 0 {
			break
		}
		p.trouble(retryErr)
		p.log.Warn("late INDEX events the primary cannot resolve yet; retrying", "error", retryErr, "events", len(late))
		if !p.sleep(p.bo.next(), false) {
			p.abandon(all, *dead)
			return false
		}
	}
	p.bo.reset()
	kept := p.items[:0]
	for i := range p.items {
		if !drop[i] {
			kept = append(kept, p.items[i])
		}
	}
	clear(p.items[len(kept):])
	p.items = kept
	return true
}

// adopt makes the item apply what the primary holds (res) instead of its event, and
// reports whether that is a DELETE. The recorded event is kept for the dead-letter
// topic, should the target refuse the resolved one.
func (p *partition) adopt(it *item, res resolve.Result) bool {
	if it.recorded == nil {
		it.recorded, it.recordedPieces = it.op, it.pieces
	}
	it.op, it.pieces = res.Op, nil
	it.attempts, it.first, it.last = 0, time.Time{}, time.Time{}
	if res.How != resolve.Deleted {
		return false
	}
	it.action = bulk.ActionDelete
	// Older INDEX events of the document still to come (the rest of a drained spool)
	// are stale without a lookup: remembered as of the partition's clock, since the
	// primary's delete, whenever it was, is older than now. Not rebuilt from Kafka after
	// a rebalance (it is in no record); that costs only lookups.
	p.deletes.remember(it.index, it.op.GetId(), it.op.GetReplicationVersion(), p.deletes.clock)
	return true
}

// warnUnresolved warns, at most once a lateWarnInterval over the replicator, that late
// INDEX events are applied as recorded because no primary is configured.
func (r *Replicator) warnUnresolved(p *partition, late []int, now time.Time) {
	r.lateUnwarned.Add(int64(len(late)))
	last := r.lateWarnedAt.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < lateWarnInterval {
		return
	}
	if !r.lateWarnedAt.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	it := &p.items[late[0]]
	p.log.Warn("late INDEX events applied as recorded: no primary is configured (primary.endpoints) to resolve them; "+
		"one whose document was deleted after it comes back if the target has forgotten the delete (index.gc_deletes)",
		"events_since_last_warning", r.lateUnwarned.Swap(0), "window", r.cfg.LateEvents.Window,
		"index", it.op.GetIndex(), "id", it.op.GetId(), "offset", it.rec.Offset,
		"accepted_at", acceptedAt(it.op, it.rec), "age", now.Sub(acceptedAt(it.op, it.rec)))
}
