package proxy

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// budget is the memory all requests in flight may hold (limits.max_inflight_bytes): a
// weighted semaphore over bytes. Requests take from it as their bodies arrive and as
// their bulk items are planned, never from what a client announces, so a client that
// claims 100 MiB and sends three bytes holds three bytes' worth; they give everything
// back when they are answered.
//
// An eighth of it is kept for small requests (at most smallRequest bytes in all): when
// big bodies fill the rest, GET / and single-document writes still get in. A take
// that fits goes ahead of waiters that do not (first fit, not first come): the
// requests left waiting are the biggest, and those are the ones to shed when memory
// is short.
//
// Taking as bytes arrive can deadlock: eight bodies each holding an eighth, each
// waiting for more. Waiters are therefore "wound-wait" ordered by the requests' age:
// a request that must wait makes younger waiting requests give up at once (429) when
// what they hold would let it in, so the oldest always progresses, and the others
// answer their clients quickly instead of all waiting out limits.inflight_wait.
type budget struct {
	size  int64
	wait  time.Duration // how long one take may wait for room
	gauge prometheus.Gauge

	mu      sync.Mutex
	used    int64
	waiters list.List // of *budgetWaiter, oldest first
	seq     uint64    // last request age handed out
}

type budgetWaiter struct {
	n     int64
	limit int64 // what used may reach with this take (size, or size less the reserve)
	who   holder
	ready chan struct{} // closed once the bytes are the waiter's
	wound chan struct{} // closed to make the waiter give up
	hurt  bool          // wound is closed
}

// holder says who takes: the request's age (lower is older) and what it holds already.
type holder struct {
	seq  uint64
	held int64
}

// smallRequest is the most a request may hold and still use the reserve.
const smallRequest = 64 << 10

var (
	// errOverBudget: the request needs more than the whole budget; waiting cannot help.
	errOverBudget = errors.New("more than the whole in-flight memory budget")
	// errBudgetBusy: no room came within the wait.
	errBudgetBusy = errors.New("no room in the in-flight memory budget")
)

func newBudget(size int64, wait time.Duration, gauge prometheus.Gauge) *budget {
	return &budget{size: size, wait: wait, gauge: gauge}
}

// limit is what the budget's use may reach with a take by a request that will then
// hold total bytes.
func (b *budget) limit(total int64) int64 {
	if total <= smallRequest {
		return b.size
	}
	return b.size - b.size/8
}

// age hands out request ages for holder.seq.
func (b *budget) age() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	return b.seq
}

// take acquires n bytes for request who, which will then hold total, waiting up to
// b.wait for others to give some back. A take that cannot succeed however long it
// waits fails at once.
func (b *budget) take(ctx context.Context, n, total int64, who holder) error {
	limit := b.limit(total)
	if total > limit {
		return errOverBudget
	}
	b.mu.Lock()
	if b.used+n <= limit {
		b.used += n
		b.gauge.Set(float64(b.used))
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, limit: limit, who: who, ready: make(chan struct{}), wound: make(chan struct{})}
	elem := b.waiters.PushBack(w)
	// The newcomer may free room for older waiters, or be let in by wounding younger.
	for e := b.waiters.Front(); e != nil; e = e.Next() {
		if v := e.Value.(*budgetWaiter); !v.hurt {
			b.woundLocked(v)
		}
	}
	b.mu.Unlock()

	t := time.NewTimer(b.wait)
	defer t.Stop()
	var err error
	select {
	case <-w.ready:
		return nil
	case <-w.wound:
		err = fmt.Errorf("%w: an older request needs the room", errBudgetBusy)
	case <-t.C:
		err = errBudgetBusy
	case <-ctx.Done():
		err = fmt.Errorf("%w: %w", errBudgetBusy, ctx.Err())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted while the timer fired: give it back
		b.used -= n
		b.grantLocked()
	default:
		b.waiters.Remove(elem)
	}
	b.gauge.Set(float64(b.used))
	return err
}

// force acquires n bytes without waiting, even past the size: for memory that is
// already spent or must be (the primary's answer to a write it applied). Later takes
// wait until enough is given back.
func (b *budget) force(n int64) {
	b.mu.Lock()
	b.used += n
	b.gauge.Set(float64(b.used))
	b.mu.Unlock()
}

// give returns n bytes and lets in the waiters that now fit, oldest first.
func (b *budget) give(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.grantLocked()
	b.gauge.Set(float64(b.used))
	b.mu.Unlock()
}

// woundLocked makes waiters younger than w give up, youngest first, until what they
// hold would let w in. It wounds none when even all of it would not.
func (b *budget) woundLocked(w *budgetWaiter) {
	short := b.used + w.n - w.limit
	var victims []*budgetWaiter
	for e := b.waiters.Back(); e != nil && short > 0; e = e.Prev() {
		v := e.Value.(*budgetWaiter)
		if v.who.seq > w.who.seq && v.who.held > 0 && !v.hurt {
			victims = append(victims, v)
			short -= v.who.held
		}
	}
	if short > 0 {
		return
	}
	for _, v := range victims {
		v.hurt = true
		close(v.wound)
	}
}

func (b *budget) grantLocked() {
	for e := b.waiters.Front(); e != nil; {
		w, next := e.Value.(*budgetWaiter), e.Next()
		if b.used+w.n <= w.limit {
			b.used += w.n
			b.waiters.Remove(e)
			close(w.ready)
		}
		e = next
	}
}

// reservationStep is the most a reservation takes ahead of its needs: a body arriving
// in small reads costs one take per 64 KiB, not one per read, and a small request
// takes no more than it needs.
const reservationStep = 64 << 10

// reservation is one request's share of the budget: used is what the request counts
// as spent, held what it took (used rounded up to steps).
type reservation struct {
	b          *budget
	seq        uint64 // the request's age, from its first take
	used, held int64
}

// grow counts n more bytes, taking more from the budget when they pass what is held.
func (r *reservation) grow(ctx context.Context, n int64) error {
	if r.used+n <= r.held {
		r.used += n
		return nil
	}
	total := r.used + n
	most := r.b.limit(total)
	if total > most {
		return errOverBudget
	}
	if total <= smallRequest {
		most = smallRequest // a small request stays small
	}
	// Ahead by as much as is held already (up to a step), so that takes grow with the
	// request, but never past what the request could hold.
	need := min(max(total-r.held, min(r.held, reservationStep)), most-r.held)
	if r.seq == 0 {
		r.seq = r.b.age()
	}
	if err := r.b.take(ctx, need, r.held+need, holder{seq: r.seq, held: r.held}); err != nil {
		return err
	}
	r.held += need
	r.used += n
	return nil
}

// shrink counts n bytes as no longer spent (a buffer replaced by a bigger one).
func (r *reservation) shrink(n int64) { r.used -= n }

// force counts n more bytes at once, past the budget if need be.
func (r *reservation) force(n int64) {
	if r.used+n > r.held {
		extra := r.used + n - r.held
		r.b.force(extra)
		r.held += extra
	}
	r.used += n
}

// release gives everything back; the request is answered.
func (r *reservation) release() {
	r.b.give(r.held)
	r.used, r.held = 0, 0
}
