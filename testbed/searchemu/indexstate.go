package searchemu

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"
)

// stateNotifier wakes requests that wait for the cluster state to change (cluster health
// wait_for_*, wait_for_active_shards), the way a ClusterStateObserver does. The zero value
// is ready to use.
type stateNotifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// next returns a channel closed at the next state change.
func (n *stateNotifier) next() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// changed wakes every waiter.
func (n *stateNotifier) changed() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

// waitFor re-evaluates ok after every state change until it holds, the timeout passes or
// the request ends; it reports whether ok held. A zero timeout evaluates once.
func (c *Cluster) waitFor(ctx context.Context, timeout time.Duration, ok func() bool) bool {
	if ctx == nil {
		ctx = context.Background()
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for {
		next := c.state.next()
		if ok() {
			return true
		}
		if timeout <= 0 {
			return false
		}
		select {
		case <-next:
		case <-expired:
			return ok()
		case <-ctx.Done():
			return ok()
		}
	}
}

// activeShardCount is ActiveShardCount: -1 is ALL, -2 DEFAULT (one copy).
type activeShardCount int

const (
	activeAll     activeShardCount = -1
	activeDefault activeShardCount = -2
)

// parseActiveShardCount mirrors ActiveShardCount.parseString.
func parseActiveShardCount(v string) (activeShardCount, *esError) {
	switch v {
	case "all":
		return activeAll, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, errIllegalArgCause("cannot parse ActiveShardCount["+v+"]", newErr(400, typeNumberFormat, `For input string: "`+v+`"`, false))
	}
	if n < 0 {
		return 0, errIllegalArg("shard count cannot be a negative value")
	}
	return activeShardCount(n), nil
}

// enoughActive reports whether every shard of ixs has the wanted number of active copies.
// The emulator is one node, so only primaries are ever active; replicas stay unassigned.
func (w activeShardCount) enoughActive(ixs []*index) bool {
	for _, ix := range ixs {
		switch w {
		case activeDefault:
		case activeAll:
			if ix.k().replicas > 0 {
				return false
			}
		default:
			if int(w) > 1 {
				return false
			}
		}
	}
	return true
}

// timeoutParam reads ?timeout (default 30s, AcknowledgedRequest.DEFAULT_ACK_TIMEOUT and
// ClusterHealthRequest's default).
func (rq *request) timeoutParam() (time.Duration, *esError) {
	v, ok := rq.query["timeout"]
	if !ok {
		return 30 * time.Second, nil
	}
	d, err := parseTimeValue(v, "timeout")
	if err != nil {
		return 0, err
	}
	return d, nil
}

// setClosed changes ix's state; c.mu must be held for writing. Closing records
// index.verified_before_close (MetadataIndexStateService.closeRoutingTable), opening
// removes it (openIndices), as the server does.
func (c *Cluster) setClosedLocked(ix *index, closed bool) {
	k := *ix.k()
	k.closed = closed
	ix.knobs.Store(&k)
	ix.openOrCloseReaders(closed, c.now())
	// the state change and index.verified_before_close move settings_version
	// (MetadataIndexStateService closeRoutingTable, openIndices)
	ix.versions.bump(&ix.versions.settings)
	if closed {
		ix.settings["index.verified_before_close"] = "true"
	} else {
		delete(ix.settings, "index.verified_before_close")
	}
}

// handleCloseIndex serves POST /{index}/_close (RestCloseIndexAction,
// TransportCloseIndexAction, MetadataIndexStateService). Closed indices keep their
// documents, sequence numbers and tombstones; reads and writes to them answer
// index_closed_exception until they are opened again.
func handleCloseIndex(c *Cluster, rq *request) *response {
	if rq.path["index"] == "" {
		// CloseIndexRequest / OpenIndexRequest.validate
		return errResp(errValidation([]string{"index is missing"}))
	}
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	wait := activeShardCount(0) // CloseIndexRequest waits for no shards by default
	if v, ok := rq.query["wait_for_active_shards"]; ok {
		if strings.EqualFold(v, "index-setting") {
			wait = activeDefault
		} else {
			w, err := parseActiveShardCount(v)
			if err != nil {
				return errResp(err)
			}
			wait = w
		}
	}
	timeout, terr := rq.timeoutParam()
	if terr != nil {
		return errResp(terr)
	}
	o, oerr := rq.indicesOpts(optStrictExpandOpen)
	if oerr != nil {
		return errResp(oerr)
	}
	c.mu.Lock()
	ixs, err := c.concreteIndicesLocked(splitExpr(rq.path["index"]), o)
	if err != nil {
		c.mu.Unlock()
		return errResp(err)
	}
	var closing []*index
	for _, ix := range ixs {
		if !ix.isClosed() {
			closing = append(closing, ix)
		}
	}
	for _, ix := range closing {
		c.setClosedLocked(ix, true)
	}
	c.mu.Unlock()
	if len(closing) == 0 {
		// Nothing changed: the server answers before waiting for anything.
		return jsonResp(200, []byte(`{"acknowledged":true,"shards_acknowledged":false,"indices":{}}`))
	}
	c.state.changed()
	acked := c.waitFor(rq.ctx, timeout, func() bool { return wait.enoughActive(closing) })
	b := []byte(`{"acknowledged":true,"shards_acknowledged":`)
	b = strconv.AppendBool(b, acked)
	b = append(b, `,"indices":{`...)
	for i, ix := range closing {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, ix.name)
		b = append(b, `:{"closed":true}`...)
	}
	return jsonResp(200, append(b, "}}"...))
}

// handleOpenIndex serves POST /{index}/_open (RestOpenIndexAction, OpenIndexRequest):
// wildcards expand to closed indices by default, wait_for_active_shards defaults to one
// active copy per shard.
func handleOpenIndex(c *Cluster, rq *request) *response {
	if rq.path["index"] == "" {
		// CloseIndexRequest / OpenIndexRequest.validate
		return errResp(errValidation([]string{"index is missing"}))
	}
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	wait := activeDefault
	if v, ok := rq.query["wait_for_active_shards"]; ok {
		w, err := parseActiveShardCount(v)
		if err != nil {
			return errResp(err)
		}
		wait = w
	}
	timeout, terr := rq.timeoutParam()
	if terr != nil {
		return errResp(terr)
	}
	o, oerr := rq.indicesOpts(optOpenIndex)
	if oerr != nil {
		return errResp(oerr)
	}
	c.mu.Lock()
	ixs, err := c.concreteIndicesLocked(splitExpr(rq.path["index"]), o)
	if err != nil {
		c.mu.Unlock()
		return errResp(err)
	}
	changed := false
	for _, ix := range ixs {
		if ix.isClosed() {
			c.setClosedLocked(ix, false)
			changed = true
		}
	}
	c.mu.Unlock()
	if changed {
		c.state.changed()
	}
	acked := c.waitFor(rq.ctx, timeout, func() bool { return wait.enoughActive(ixs) })
	b := []byte(`{"acknowledged":true,"shards_acknowledged":`)
	b = strconv.AppendBool(b, acked)
	return jsonResp(200, append(b, '}'))
}

// splitExpr splits an index expression as Strings.splitStringByCommaToArray does
// (String.split: empty parts kept, trailing empty parts dropped).
func splitExpr(expr string) []string {
	if expr == "" {
		return nil
	}
	out := strings.Split(expr, ",")
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}
