package searchemu

import (
	"context"
	"time"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

// Near-real-time visibility, after OpenSearch 2.x. A search reads a Lucene reader that only
// changes when the shard refreshes, so each shard keeps what its refreshed reader shows
// (view) next to the live documents, plus the last write of each document changed since
// the last refresh, which a refresh folds into the view. Nothing is copied per
// refresh: the view holds the same immutable *doc pointers as the live map, and the
// pending writes are bounded by the number of documents, not of writes.
//
// The refresh schedule is evaluated lazily on the cluster clock (Options.Now): whenever an
// index's state is read or written, the scheduled refreshes whose instant has passed since
// the last evaluation run first. Between two evaluations nothing but time changes, so only
// the first passed tick can find work; lazy evaluation is therefore indistinguishable from
// OpenSearch's timer. (A search-idle skip also ends when the shard goes inactive, 5m after
// its last write; the emulator leaves that refresh to the next search, which would refresh
// anyway, because nothing but a search can tell the two apart.)
//
// Sources followed (opensearch-project/OpenSearch, server/src/main/java/org/opensearch/):
//   - index/IndexService.java, AsyncRefreshTask and onRefreshIntervalChange: a refresh
//     tick every index.refresh_interval (default 1s) from the task's start, none when the
//     interval is not positive (-1 disables it); changing the interval runs one scheduled
//     refresh at once and restarts the task.
//   - index/shard/IndexShard.java, scheduledRefresh, isSearchIdle, awaitShardSearchActive:
//     a tick refreshes when there are pending writes or waiting listeners, except that it
//     is skipped (and a refresh marked pending) when no listener waits, the shard has not
//     been searched for index.search.idle.after (30s), index.refresh_interval is not set
//     explicitly, and the shard is active. A search (count, PIT, realtime=false GET) on a
//     shard with a pending refresh waits for the next tick, which refreshes because the
//     search marked the shard accessed; the emulator collapses that wait (at most one
//     refresh interval in OpenSearch) into a refresh at the search instant, which is the
//     same outcome as a wait during which nothing else was written.
//   - index/shard/RefreshListeners.java, addOrNotify: refresh=wait_for registers a
//     listener released by the next refresh that covers the write; when
//     index.max_refresh_listeners (1000) are already waiting it forces a refresh and the
//     answer carries "forced_refresh":true.
//   - action/support/replication/TransportWriteAction.java, AsyncAfterWriteAction:
//     refresh=true refreshes the shard after the write and answers forced_refresh.
//   - index/engine/InternalEngine.java, get and refreshIfNeeded: a realtime GET reads the
//     latest write; when the document changed since the last internal refresh it
//     refreshes the internal reader only, which searches do not use.
//   - action/get/TransportGetAction.java and TransportShardMultiGetAction.java:
//     realtime=false waits for search activity like a search and reads the refreshed
//     reader; refresh=true refreshes first, but only together with realtime=false.
//   - index/shard/IndexShard.java, docStats: document counts come from the internal
//     reader, which external refreshes, realtime GETs, _flush and the flush of a shard that
//     goes inactive (indices.memory.shard_inactive_time, 5m; IndexShard.flushOnIdle)
//     refresh. Not modelled: a version map left unsafe (InternalEngine.getVersionFromMap)
//     makes any realtime GET refresh the internal reader, where the emulator refreshes it
//     only for a GET of a document changed since; only docs.count can show the difference.

const (
	defaultRefreshInterval     = time.Second      // IndexSettings.DEFAULT_REFRESH_INTERVAL
	defaultSearchIdleAfter     = 30 * time.Second // index.search.idle.after
	defaultMaxRefreshListeners = 1000             // index.max_refresh_listeners
	shardInactiveTime          = 5 * time.Minute  // indices.memory.shard_inactive_time
	// clockPoll bounds how long a refresh=wait_for request sleeps before it looks at the
	// cluster clock again: Options.Now may be a test clock that jumps, so the wait cannot
	// be computed once.
	clockPoll = 10 * time.Millisecond
)

// nrtState is an index's near-real-time state, guarded by index.mu. The refresh task
// belongs to the index (IndexService), every other part of the state to each shard.
type nrtState struct {
	clock func() time.Time
	// evaluated is the instant up to which the refresh schedule has run; anchor is when
	// the refresh task (re)started, ticks fall at anchor + k*interval.
	evaluated, anchor time.Time
	shards            []nrtShard
}

// nrtShard is one shard's near-real-time state.
type nrtShard struct {
	// view is what the shard's searcher shows, keyed like the shard's live documents.
	view map[string]*doc
	// The last write of each document changed since the last refresh (nil *doc for a
	// delete): internalOnly holds those the internal reader (doc stats) already shows,
	// unseen the ones it does not.
	internalOnly, unseen map[string]*doc
	// loc numbers the shard's applied writes (the translog location refresh listeners
	// wait for); refreshed is the last one a refresh made visible.
	loc, refreshed uint64
	// lastAccess is IndexShard.lastSearcherAccess; lastWrite and wrote track activity.
	lastAccess, lastWrite time.Time
	wrote                 bool
	// idlePending is IndexShard.pendingRefreshLocation != null: a tick was skipped
	// because the shard is search idle.
	idlePending bool
	waiters     map[*refreshWaiter]struct{}
}

// refreshWaiter is a refresh=wait_for listener; done is closed by the refresh that
// releases it.
type refreshWaiter struct{ done chan struct{} }

func newNRT(clock func() time.Time, created time.Time, shards int) nrtState {
	n := nrtState{clock: clock, evaluated: created, anchor: created, shards: make([]nrtShard, shards)}
	for i := range n.shards {
		n.shards[i] = nrtShard{
			view:         map[string]*doc{},
			internalOnly: map[string]*doc{},
			unseen:       map[string]*doc{},
			lastAccess:   created, // IndexShard's constructor marks the searcher accessed
			waiters:      map[*refreshWaiter]struct{}{},
		}
	}
	return n
}

func (sh *nrtShard) pending() bool { return len(sh.unseen) > 0 || len(sh.internalOnly) > 0 }

// refreshEvery is the effective index.refresh_interval (<= 0: no scheduled refresh).
func (k *indexKnobs) refreshEvery() time.Duration {
	if k.refreshSet {
		return k.refresh
	}
	return defaultRefreshInterval
}

func (k *indexKnobs) searchIdleAfter() time.Duration {
	if k.idleAfterSet {
		return k.idleAfter
	}
	return defaultSearchIdleAfter
}

func (k *indexKnobs) maxRefreshListeners() int {
	if k.maxListenersSet {
		return k.maxListeners
	}
	return defaultMaxRefreshListeners
}

// applyRefresh validates and applies the refresh settings (IndexSettings: refresh_interval
// >= -1, search.idle.after >= 0, max_refresh_listeners >= 0).
func (k *indexKnobs) applyRefresh(s map[string]string) *esError {
	if v, ok := s["index.refresh_interval"]; ok {
		d, err := parseTimeValue(v, "index.refresh_interval")
		if err != nil {
			return err
		}
		if d < -1 {
			return errIllegalArg("failed to parse value [" + v + "] for setting [index.refresh_interval], must be >= [-1]")
		}
		k.refresh, k.refreshSet = d, true
	}
	if v, ok := s["index.search.idle.after"]; ok {
		d, err := parseTimeValue(v, "index.search.idle.after")
		if err != nil {
			return err
		}
		if d < 0 {
			return errIllegalArg("failed to parse value [" + v + "] for setting [index.search.idle.after], must be >= [0ms]")
		}
		k.idleAfter, k.idleAfterSet = d, true
	}
	if v, ok := s["index.max_refresh_listeners"]; ok {
		n, err := parseIntSetting(v, "index.max_refresh_listeners", 0)
		if err != nil {
			return err
		}
		k.maxListeners, k.maxListenersSet = n, true
	}
	return nil
}

// recordWriteLocked notes an applied write of key on shard (d nil for a delete) and
// returns its location; index.mu must be held for writing.
func (ix *index) recordWriteLocked(shard int, key string, d *doc, now time.Time) uint64 {
	ix.advanceLocked(now)
	sh := &ix.nrt.shards[shard]
	sh.unseen[key] = d
	sh.loc++
	sh.lastWrite, sh.wrote = ix.nrt.evaluated, true
	return sh.loc
}

// advanceLocked runs the refresh schedule up to now.
func (ix *index) advanceLocked(now time.Time) {
	n := &ix.nrt
	if now.Before(n.evaluated) {
		now = n.evaluated // concurrent requests may read the clock out of order
	}
	for i := range n.shards {
		if sh := &n.shards[i]; sh.wrote && len(sh.unseen) > 0 && now.Sub(sh.lastWrite) >= shardInactiveTime {
			// IndexShard.flushOnIdle: the flush refreshes the internal reader.
			sh.internalRefresh()
		}
	}
	if every := ix.k().refreshEvery(); every > 0 {
		if t := tickAfter(n.anchor, every, n.evaluated); !t.After(now) {
			for i := range n.shards {
				ix.scheduledRefreshLocked(i, t)
			}
		}
	}
	n.evaluated = now
}

// tickAfter is the first tick anchor + k*every (k >= 1) strictly after t.
func tickAfter(anchor time.Time, every time.Duration, t time.Time) time.Time {
	if t.Before(anchor) {
		return anchor.Add(every)
	}
	k := t.Sub(anchor)/every + 1
	return anchor.Add(k * every)
}

// scheduledRefreshLocked is IndexShard.scheduledRefresh of one shard at instant t.
func (ix *index) scheduledRefreshLocked(shard int, t time.Time) {
	sh := &ix.nrt.shards[shard]
	if !sh.pending() && len(sh.waiters) == 0 {
		return
	}
	k := ix.k()
	active := sh.wrote && t.Sub(sh.lastWrite) < shardInactiveTime
	if len(sh.waiters) == 0 && !k.refreshSet && t.Sub(sh.lastAccess) >= k.searchIdleAfter() && active {
		sh.idlePending = true
		return
	}
	sh.refresh()
}

// refresh makes every applied write of the shard visible to search and releases its
// waiters.
func (sh *nrtShard) refresh() {
	for _, m := range []map[string]*doc{sh.internalOnly, sh.unseen} {
		for key, d := range m {
			if d == nil {
				delete(sh.view, key)
			} else {
				sh.view[key] = d
			}
		}
		clear(m)
	}
	sh.refreshed = sh.loc
	sh.idlePending = false
	sh.releaseWaiters()
}

// internalRefresh refreshes the shard's internal reader only.
func (sh *nrtShard) internalRefresh() {
	for key, d := range sh.unseen {
		sh.internalOnly[key] = d
	}
	clear(sh.unseen)
}

// releaseWaiters answers every refresh=wait_for listener of the shard (a refresh, or the
// index going away: RefreshListeners.close fires them too).
func (sh *nrtShard) releaseWaiters() {
	for w := range sh.waiters {
		close(w.done)
	}
	clear(sh.waiters)
}

// releaseWaitersLocked answers the waiters of every shard.
func (ix *index) releaseWaitersLocked() {
	for i := range ix.nrt.shards {
		ix.nrt.shards[i].releaseWaiters()
	}
}

// searchAccessLocked is what a searcher acquisition on a shard does: run the schedule,
// mark the shard searched, and (awaitShardSearchActive) refresh when a search-idle skip
// left a refresh pending.
func (ix *index) searchAccessLocked(shard int, now time.Time) {
	ix.advanceLocked(now)
	sh := &ix.nrt.shards[shard]
	sh.lastAccess = ix.nrt.evaluated
	if sh.idlePending {
		sh.refresh()
	}
}

// searchable returns the documents a search of the shard sees now, in no particular
// order.
func (ix *index) searchable(shard int) []*doc {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.searchAccessLocked(shard, ix.nrt.clock())
	view := ix.nrt.shards[shard].view
	out := make([]*doc, 0, len(view))
	for _, d := range view {
		out = append(out, d)
	}
	return out
}

// getMode is how a GET or mget reads (realtime, refresh).
type getMode struct{ realtime, refresh bool }

// parseGetMode reads ?realtime (default true) and ?refresh (default false), both booleans
// on GET and mget (RestGetAction, RestMultiGetAction).
func parseGetMode(rq *request) (getMode, *esError) {
	rt, err := rq.paramBool("realtime", true)
	if err != nil {
		return getMode{}, err
	}
	rf, err := rq.paramBool("refresh", false)
	if err != nil {
		return getMode{}, err
	}
	return getMode{realtime: rt, refresh: rf}, nil
}

// readDoc reads id on shard as a GET does: realtime from the live documents, else from
// what searches see.
func (c *Cluster) readDoc(ix *index, shard int, id string, g getMode) *doc {
	now := c.now()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	sh := &ix.nrt.shards[shard]
	if g.realtime {
		// InternalEngine.get: a document indexed since the last internal refresh makes the
		// internal reader refresh (refreshIfNeeded); a deleted one answers from the
		// version map without one.
		if d, ok := sh.unseen[id]; ok && d != nil {
			sh.internalRefresh()
		}
		return ix.shards[shard].docs[id]
	}
	ix.searchAccessLocked(shard, now)
	if g.refresh {
		sh.refresh()
	}
	return sh.view[id]
}

// statsDocCount is docs.count: the live documents the internal readers show.
func (ix *index) statsDocCount(now time.Time) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.advanceLocked(now)
	count := 0
	for i := range ix.nrt.shards {
		sh := &ix.nrt.shards[i]
		count += len(sh.view)
		for key, d := range sh.internalOnly {
			_, before := sh.view[key]
			switch after := d != nil; {
			case after && !before:
				count++
			case !after && before:
				count--
			}
		}
	}
	return count
}

// refreshIndex is the _refresh API on one index: every shard refreshes.
func (c *Cluster) refreshIndex(ix *index) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.advanceLocked(c.now())
	for i := range ix.nrt.shards {
		ix.nrt.shards[i].refresh()
	}
}

// refreshShard is IndexShard.refresh of one shard (refresh=true on a write).
func (c *Cluster) refreshShard(ix *index, shard int) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.advanceLocked(c.now())
	ix.nrt.shards[shard].refresh()
}

// flushIndex is the _flush API on one index: InternalEngine.flush refreshes the internal
// reader only, so searches do not see more than before.
func (c *Cluster) flushIndex(ix *index) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.advanceLocked(c.now())
	for i := range ix.nrt.shards {
		ix.nrt.shards[i].internalRefresh()
	}
}

// openOrCloseReaders follows _close and _open. Closing closes the shards, which fires
// their refresh listeners (RefreshListeners.close); opening starts new shards whose
// engines open readers on everything written (the close flushed it all), a new refresh
// task, and a searcher access mark of their own (IndexShard's constructor).
func (ix *index) openOrCloseReaders(closed bool, now time.Time) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.advanceLocked(now)
	n := &ix.nrt
	if closed {
		ix.releaseWaitersLocked()
		return
	}
	n.anchor = n.evaluated
	for i := range n.shards {
		sh := &n.shards[i]
		sh.refresh()
		sh.lastAccess, sh.wrote = n.evaluated, false
	}
}

// setKnobs publishes updated index settings; a changed refresh interval runs one
// scheduled refresh at once and restarts the schedule (IndexService.onRefreshIntervalChange).
func (ix *index) setKnobs(k *indexKnobs, now time.Time) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.advanceLocked(now)
	old := ix.k()
	ix.knobs.Store(k)
	if old.refreshEvery() != k.refreshEvery() {
		for i := range ix.nrt.shards {
			ix.scheduledRefreshLocked(i, ix.nrt.evaluated)
		}
		ix.nrt.anchor = ix.nrt.evaluated
	}
}

// writeRefresh is a write request's ?refresh (WriteRequest.RefreshPolicy).
type writeRefresh int

const (
	refreshNone writeRefresh = iota
	refreshImmediate
	refreshWaitFor
)

// parseWriteRefresh mirrors WriteRequest.RefreshPolicy.parse ("" is true).
func parseWriteRefresh(rq *request) (writeRefresh, *esError) {
	v, ok := rq.query["refresh"]
	if !ok {
		return refreshNone, nil
	}
	switch v {
	case "", "true":
		return refreshImmediate, nil
	case "false":
		return refreshNone, nil
	case "wait_for":
		return refreshWaitFor, nil
	}
	return refreshNone, errIllegalArg("Unknown value for refresh: [" + v + "].")
}

// shardRef names one shard of an index.
type shardRef struct {
	ix    *index
	shard int
}

// afterWrite applies a write request's refresh policy to the shards its writes reached
// (TransportWriteAction.AsyncAfterWriteAction runs per shard-level request), each with
// the location of its last write there (0: nothing was written, as for a failed or noop
// item), and reports per shard whether the answer carries forced_refresh.
func (c *Cluster) afterWrite(ctx context.Context, pol writeRefresh, reached map[shardRef]uint64) map[shardRef]bool {
	if pol == refreshNone || len(reached) == 0 {
		return nil
	}
	forced := make(map[shardRef]bool, len(reached))
	for ref, loc := range reached {
		switch pol {
		case refreshImmediate:
			c.refreshShard(ref.ix, ref.shard)
			forced[ref] = true
		case refreshWaitFor:
			if loc > 0 {
				forced[ref] = c.waitForRefresh(ctx, ref, loc)
			}
		}
	}
	return forced
}

// waitForRefresh blocks until a refresh makes location loc of the shard visible and
// reports whether it had to force one because index.max_refresh_listeners were already
// waiting on the shard.
func (c *Cluster) waitForRefresh(ctx context.Context, ref shardRef, loc uint64) bool {
	ix := ref.ix
	ix.mu.Lock()
	ix.advanceLocked(c.now())
	sh := &ix.nrt.shards[ref.shard]
	if ix.deleted || sh.refreshed >= loc {
		ix.mu.Unlock()
		return false
	}
	if len(sh.waiters) >= ix.k().maxRefreshListeners() {
		sh.refresh() // "too_many_listeners"
		ix.mu.Unlock()
		return true
	}
	w := &refreshWaiter{done: make(chan struct{})}
	sh.waiters[w] = struct{}{}
	ix.mu.Unlock()
	for {
		ix.mu.Lock()
		wait, ticking := ix.untilNextTickLocked(c.now())
		ix.mu.Unlock()
		var tick <-chan time.Time
		var timer *time.Timer
		if ticking {
			timer = time.NewTimer(min(wait, clockPoll))
			tick = timer.C
		}
		select {
		case <-w.done:
			if timer != nil {
				timer.Stop()
			}
			return false
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			ix.mu.Lock()
			delete(sh.waiters, w)
			ix.mu.Unlock()
			return false
		case <-tick:
			ix.mu.Lock()
			ix.advanceLocked(c.now())
			ix.mu.Unlock()
		}
	}
}

// untilNextTickLocked is how long, on the cluster clock, until the next scheduled refresh;
// false when none is scheduled.
func (ix *index) untilNextTickLocked(now time.Time) (time.Duration, bool) {
	every := ix.k().refreshEvery()
	if every <= 0 {
		return 0, false
	}
	n := &ix.nrt
	d := tickAfter(n.anchor, every, n.evaluated).Sub(now)
	return max(d, 0), true
}

// singleReach is the shard a single-document write's refresh policy applies to, with the
// write's location. TransportUpdateAction answers a noop, and a failure before its write,
// without a shard-level write, so nothing is refreshed or waited for.
func singleReach(op *docOp, r *opResult) map[shardRef]uint64 {
	if !r.reached || op.action == bulk.ActionUpdate && (r.err != nil || r.res.result == "noop") {
		return nil
	}
	return map[shardRef]uint64{r.ref(): r.res.loc}
}

// bulkReach is, per shard a bulk's items reached (executed, whatever their outcome), the
// location of the last write there.
func bulkReach(items []bulkItem) map[shardRef]uint64 {
	out := map[shardRef]uint64{}
	for i := range items {
		r := &items[i].result
		if !r.reached {
			continue
		}
		out[r.ref()] = max(out[r.ref()], r.res.loc)
	}
	return out
}

// ref is the shard the write went to.
func (r *opResult) ref() shardRef { return shardRef{ix: r.ix, shard: r.shard} }
