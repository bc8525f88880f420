package replicator

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

// A combiner lets the attempts of several partitions that are ready within
// batch.combine_window of one another go to the target as one _bulk (off when the
// window is 0). A partition sends one bulk per batch, and at moderate rates over many
// partitions a batch is a few documents: at 5,000 docs/s over 12 partitions with the
// 5 ms linger, two. Each costs a round trip, a request the target has to schedule and
// the answer's parse, which the lag benchmark showed as most of the replicator's CPU
// (20–24 µs per document at 5k docs/s against 3.7 when draining; issue 16).
//
// Order is unchanged: a partition has at most one attempt in flight, and a document's
// events are all on one partition, so a combined request never holds two writes of one
// document. Each part's items are judged from their own slice of the answer. An answer
// that counts for nothing (no answer, 5xx, 429, 401…) counts for nothing for every
// part, which each then retries as its own trouble. A 413 or a whole-request 400 cannot
// say whose items caused it: every part is then sent again alone (partition.solo), and
// only a partition's own request narrows it down to an item.
type combiner struct {
	window   time.Duration
	maxDocs  int
	maxBytes int

	mu   sync.Mutex
	open *combined // accepting parts; nil when none is
}

// combined is one request being gathered, then sent by its first part (the leader).
type combined struct {
	parts  []*combinedPart
	docs   int
	bytes  int
	full   chan struct{} // closed when no more parts fit: the leader sends at once
	copied chan struct{} // closed once the leader has copied every part's body
	done   chan struct{} // closed once the answer's outcome is set below

	status  int
	connErr bool
	err     error
	errType string
	sent    int // bytes of the request
}

// combinedPart is one partition's items in a combined request.
type combinedPart struct {
	ctx     context.Context // the partition's: the request stops when all of its parts' have
	body    []byte
	ids     []string
	results []partResult // the part's answers, in order, once done closes
}

// partResult is what a part keeps of its item's answer: the whole bulk.ItemResult is
// several times its size, and copying it per document showed in the replicator's
// allocations (a fifth of its bytes in BenchmarkReplicatorNull).
type partResult struct {
	status          int
	errType, errMsg string
}

func newCombiner(cfg BatchConfig) *combiner {
	if cfg.CombineWindow <= 0 {
		return nil
	}
	return &combiner{window: cfg.CombineWindow, maxDocs: cfg.MaxDocs, maxBytes: int(cfg.MaxBytes)}
}

// join adds a part to the open request, or opens one with it; leader says whether the
// caller opened it and so sends it.
func (c *combiner) join(part *combinedPart) (cb *combined, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A request that has reached batch.max_docs or max_bytes takes no more parts and
	// goes at once, without waiting out the window.
	full := func(cb *combined) {
		if cb.docs >= c.maxDocs || cb.bytes >= c.maxBytes {
			close(cb.full)
			c.open = nil
		}
	}
	if cb = c.open; cb != nil && cb.docs+len(part.ids) <= c.maxDocs && cb.bytes+len(part.body) <= c.maxBytes {
		cb.parts = append(cb.parts, part)
		cb.docs += len(part.ids)
		cb.bytes += len(part.body)
		full(cb)
		return cb, false
	}
	if cb != nil {
		close(cb.full) // this part does not fit: the open one goes now, this one opens the next
	}
	cb = &combined{parts: []*combinedPart{part}, docs: len(part.ids), bytes: len(part.body),
		full: make(chan struct{}), copied: make(chan struct{}), done: make(chan struct{})}
	c.open = cb
	full(cb)
	return cb, true
}

// openRequest is the request accepting parts, if any.
func (c *combiner) openRequest() *combined {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// seal stops cb from taking parts.
func (c *combiner) seal(cb *combined) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == cb {
		c.open = nil
	}
}

// attemptCombined is attempt's sending and judging for a combiner: body is this
// partition's part, already built in buf. The caller holds a bulk slot, and release
// gives it back with buf; handedOff says that a combined request this partition leads
// took them over and calls release itself when it is done.
//
// A soft stop (p.stop) lets a part's request finish, as a solo attempt's does: its
// answer counts, and what it applied is committed. A hard stop (p.ctx) returns at once
// (errStopped), even for the leader: the request, which carries other partitions'
// items, goes on in its own goroutine, so a revoked or lost partition never keeps the
// group's callback waiting for it (limits.bulk_timeout is longer than the rebalance
// timeout).
func (p *partition) attemptCombined(buf *sendBuffers, sent []int, body []byte, release func()) (res attemptResult, handedOff bool) {
	// The part is the one of the partition's last attempt, unless a hard stop left that
	// one to a request still in flight.
	part := p.part
	if part == nil {
		part = new(combinedPart)
	}
	p.part = nil
	part.ctx, part.body = p.ctx, body
	part.ids = slices.Grow(part.ids[:0], len(sent))[:len(sent)]
	part.results = slices.Grow(part.results[:0], len(sent))[:len(sent)]
	for k, i := range sent {
		part.ids[k] = p.items[i].op.GetId()
	}
	c := p.r.comb
	cb, leader := c.join(part)
	if leader {
		t := time.NewTimer(c.window)
		select {
		case <-t.C:
		case <-cb.full:
		case <-p.stop:
		case <-p.ctx.Done():
		}
		t.Stop()
		c.seal(cb)
		go func() {
			defer release()
			p.sendCombined(buf, cb)
		}()
		handedOff = true
	}
	select {
	case <-cb.done:
	case <-p.ctx.Done():
		// A follower's body is in its own buffer, which goes back to the pool when
		// attempt returns: not before the leader has copied it.
		<-cb.copied
		return attemptResult{err: errStopped}, handedOff
	}
	p.part = part
	res = attemptResult{status: cb.status, connErr: cb.connErr, err: cb.err, bytes: cb.sent, errType: cb.errType, combined: len(cb.parts) > 1}
	if res.err != nil {
		return res, handedOff
	}
	for k, i := range sent {
		it := &p.items[i]
		r := &part.results[k]
		it.status = r.status
		if r.status < 200 || r.status >= 300 {
			it.errType, it.errMsg = r.errType, r.errMsg
		}
	}
	return res, handedOff
}

// sendCombined sends cb's parts as one _bulk from the leader's buffers and sets each
// part's answers, then closes done. It reads nothing of the leader's partition but its
// context and the replicator, so it may outlive the leader's attempt. A request of
// several parts is counted here, once, in fanout_replicator_bulk_requests_total.
func (p *partition) sendCombined(buf *sendBuffers, cb *combined) {
	defer close(cb.done)
	if len(cb.parts) > 1 {
		defer func() {
			switch {
			case cb.err == nil:
				p.r.m.bulkOK.Inc()
			case cb.status != http.StatusRequestEntityTooLarge && cb.status != http.StatusBadRequest:
				p.r.m.bulkFailed.Inc()
			}
		}()
	}
	// buf.body already holds the leader's own part (cb.parts[0], which join puts first):
	// attempt built it there. The other parts go after it.
	body := buf.body
	for _, part := range cb.parts[1:] {
		body = append(body, part.body...)
	}
	buf.body = body
	close(cb.copied)
	cb.sent = len(body)
	// Other partitions' items ride on it: the leader's partition being revoked or
	// stopped hard meanwhile must not fail their request. It is cancelled once every
	// partition in it is (a hard stop of the replicator), and limits.bulk_timeout
	// bounds it.
	parent := p.ctx
	if len(cb.parts) > 1 {
		ctx, cancel := context.WithCancel(context.WithoutCancel(p.ctx))
		defer cancel()
		var left atomic.Int32
		left.Store(int32(len(cb.parts)))
		for _, pt := range cb.parts {
			defer context.AfterFunc(pt.ctx, func() {
				if left.Add(-1) == 0 {
					cancel()
				}
			})()
		}
		parent = ctx
	}
	answer, status, connErr, err := p.sendFrom(parent, buf, body)
	cb.status, cb.connErr = status, connErr
	if err != nil {
		cb.err = err
		if status == http.StatusRequestEntityTooLarge || status == http.StatusBadRequest {
			cb.errType = wholeRequestErrorType(buf.resp.Bytes(), status)
		}
		return
	}
	// The answer must account for every item of every part, in order: item n is the
	// part's whose ids it falls in (judgeAnswer asks for n in increasing order).
	part, base := 0, 0
	locate := func(n int) (*combinedPart, int) {
		for n-base >= len(cb.parts[part].ids) {
			base += len(cb.parts[part].ids)
			part++
		}
		return cb.parts[part], n - base
	}
	err = judgeAnswer(answer, cb.docs, func(n int) string {
		pt, k := locate(n)
		return pt.ids[k]
	}, func(n int, r *bulk.ItemResult) {
		pt, k := locate(n)
		pt.results[k] = partResult{status: r.Status, errType: r.ErrorType, errMsg: r.ErrorReason}
	})
	if err != nil {
		cb.err = fmt.Errorf("judging _bulk answer from %s: %w", p.r.cfg.Target.Name, err)
	}
}
