package fanoutctl

import (
	"context"
	"sync"
	"time"
)

// bucket is a token bucket shared by the copy's workers: take(n) spends n tokens and
// waits while the balance is negative, so that over any stretch longer than a second
// no more than rate tokens are spent (plus one second's burst). A rate of 0 means no
// limit.
//
// A page larger than the burst is taken whole and paid for by waiting afterwards:
// pages are not split, and a debt keeps the average exact.
type bucket struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time
	sleep func(context.Context, time.Duration) error

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newBucket(rate float64, now func() time.Time, sleep func(context.Context, time.Duration) error) *bucket {
	if rate <= 0 {
		return nil
	}
	return &bucket{rate: rate, burst: rate, tokens: rate, now: now, sleep: sleep, last: now()}
}

// take spends n tokens, waiting until they are paid for; it returns early with the
// context's error.
func (b *bucket) take(ctx context.Context, n float64) error {
	if b == nil || n <= 0 {
		return nil
	}
	b.mu.Lock()
	now := b.now()
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(b.burst, b.tokens+el*b.rate)
	}
	b.last = now
	b.tokens -= n
	wait := time.Duration(0)
	if b.tokens < 0 {
		wait = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	return b.sleep(ctx, wait)
}

// sleepCtx waits d or until ctx is done.
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
