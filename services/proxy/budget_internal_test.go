package proxy

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func testBudget(size int64, wait time.Duration) *budget {
	return newBudget(size, wait, prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"}))
}

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

func TestBudgetTakeGive(t *testing.T) {
	ctx := context.Background()
	const size = 1 << 20 // big requests may hold 7/8 of it
	tests := []struct {
		name      string
		held      int64 // taken first, by a big request
		n, total  int64
		want      error
		wantAfter int64
	}{
		{name: "fits", n: 1000, total: 1000, wantAfter: 1000},
		{name: "bigger than the whole budget", n: size + 1, total: size + 1, want: errOverBudget},
		{name: "big request past its seven eighths", n: size - size/8 + 1, total: size - size/8 + 1, want: errOverBudget},
		{name: "big request up to its seven eighths", n: size - size/8, total: size - size/8, wantAfter: size - size/8},
		{name: "small request uses the reserve", held: size - size/8, n: smallRequest, total: smallRequest, wantAfter: size - size/8 + smallRequest},
		{name: "big request does not", held: size - size/8, n: smallRequest + 1, total: smallRequest + 1, want: errBudgetBusy, wantAfter: size - size/8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := testBudget(size, 20*time.Millisecond)
			if tt.held > 0 {
				if err := b.take(ctx, tt.held, tt.held, holder{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.take(ctx, tt.n, tt.total, holder{}); !errors.Is(err, tt.want) {
				t.Fatalf("take: %v, want %v", err, tt.want)
			}
			if got := b.inUse(); got != tt.wantAfter {
				t.Fatalf("in use %d, want %d", got, tt.wantAfter)
			}
		})
	}
}

// TestBudgetWaiters: a waiter gets in as soon as enough is given back, a waiter that
// does not fit does not hold up one that does, and one that times out leaves nothing
// taken.
func TestBudgetWaiters(t *testing.T) {
	ctx := context.Background()
	b := testBudget(8<<20, 5*time.Second)
	if err := b.take(ctx, 7<<20, 7<<20, holder{}); err != nil {
		t.Fatal(err)
	}
	bigDone, smallDone := make(chan error, 1), make(chan error, 1)
	go func() { bigDone <- b.take(ctx, 6<<20, 6<<20, holder{}) }()
	waitFor(t, func() bool { return b.waiterCount() == 1 })
	go func() { smallDone <- b.take(ctx, smallRequest, smallRequest, holder{}) }() // fits at once (first fit)
	waitFor(t, func() bool { return b.inUse() == 7<<20+smallRequest })
	if err := <-smallDone; err != nil {
		t.Fatal(err)
	}
	b.give(7 << 20)
	if err := <-bigDone; err != nil {
		t.Fatalf("the waiter did not get in once room was given back: %v", err)
	}
	if got := b.inUse(); got != 6<<20+smallRequest {
		t.Fatalf("in use %d, want 6 MiB + 64 KiB", got)
	}

	short := testBudget(1<<20, 30*time.Millisecond)
	short.force(1 << 20)
	if err := short.take(ctx, 1, 1, holder{}); !errors.Is(err, errBudgetBusy) {
		t.Fatalf("take on a full budget: %v, want errBudgetBusy", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := short.take(cctx, 1, 1, holder{}); !errors.Is(err, errBudgetBusy) || !errors.Is(err, context.Canceled) {
		t.Fatalf("take with a cancelled context: %v", err)
	}
	short.give(1 << 20)
	if got, n := short.inUse(), short.waiterCount(); got != 0 || n != 0 {
		t.Fatalf("after timeouts: %d in use, %d waiters", got, n)
	}
}

// TestReservation: a request takes exactly what it needs at first and ahead of its
// needs as it grows (by at most what it holds, and 64 KiB), never more than it could
// hold, a small request never past 64 KiB; it gives all back at once.
func TestReservation(t *testing.T) {
	ctx := context.Background()
	b := testBudget(4<<20, 10*time.Millisecond)
	r := reservation{b: b}
	if err := r.grow(ctx, 100); err != nil || r.held != 100 {
		t.Fatalf("first grow: held %d, %v; want exactly 100", r.held, err)
	}
	for _, n := range []int64{100, 10, 40 << 10, 20 << 10, 1, 30 << 10, 1 << 20, 1, 64 << 10} {
		before := r.held
		if err := r.grow(ctx, n); err != nil {
			t.Fatal(err)
		}
		switch {
		case r.used > r.held:
			t.Fatalf("after +%d: used %d past held %d", n, r.used, r.held)
		case r.held > before && r.held-r.used > min(before, reservationStep):
			t.Fatalf("after +%d: held %d is more than a step ahead of used %d", n, r.held, r.used)
		case r.used <= smallRequest && r.held > smallRequest:
			t.Fatalf("after +%d: a small request (%d used) holds %d", n, r.used, r.held)
		case b.inUse() != r.held:
			t.Fatalf("after +%d: the budget counts %d, the reservation holds %d", n, b.inUse(), r.held)
		}
	}
	if err := r.grow(ctx, 4<<20); !errors.Is(err, errOverBudget) {
		t.Fatalf("growing past the budget: %v", err)
	}
	r.force(4 << 20)
	if b.inUse() != r.held || r.used > r.held || b.inUse() <= 4<<20 {
		t.Fatalf("force: budget %d, held %d, used %d", b.inUse(), r.held, r.used)
	}
	r.release()
	if b.inUse() != 0 {
		t.Fatalf("after release: %d in use", b.inUse())
	}
}

func (b *budget) waiterCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiters.Len()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBudgetWoundWait: two requests each holding part of the budget and each waiting
// for more would wait each other out; the older one makes the younger give up at
// once, and gets in once the younger has given back what it held.
func TestBudgetWoundWait(t *testing.T) {
	ctx := context.Background()
	b := testBudget(8<<20, 10*time.Second) // big requests: 7 MiB in all
	older, younger := reservation{b: b}, reservation{b: b}
	if err := older.grow(ctx, 3<<20); err != nil {
		t.Fatal(err)
	}
	if err := younger.grow(ctx, 3<<20); err != nil {
		t.Fatal(err)
	}
	youngerDone := make(chan error, 1)
	go func() { youngerDone <- younger.grow(ctx, 2<<20) }()
	waitFor(t, func() bool { return b.waiterCount() == 1 })

	olderDone := make(chan error, 1)
	start := time.Now()
	go func() { olderDone <- older.grow(ctx, 2<<20) }()
	err := <-youngerDone
	if !errors.Is(err, errBudgetBusy) || time.Since(start) > 5*time.Second {
		t.Fatalf("the younger request: %v after %s, want errBudgetBusy at once", err, time.Since(start))
	}
	younger.release() // its request answers 429
	if err := <-olderDone; err != nil {
		t.Fatalf("the older request did not get in: %v", err)
	}
	if got := b.inUse(); got != older.held || older.used != 5<<20 {
		t.Fatalf("in use %d, older holds %d and uses %d", got, older.held, older.used)
	}
}
