package replicator

import (
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

// outcome is what a bulk item's answer means for its record.
type outcome uint8

const (
	// applied: the target took the operation.
	applied outcome = iota + 1
	// stale: the target already holds a newer version of the document (409). The
	// record is resolved; it is not an error (DESIGN.md principle 2).
	stale
	// retry: the target is overloaded or failing (429, 5xx); the item is tried again,
	// without limit, and the partition waits for it.
	retry
	// rejected: the target refuses this operation (another 4xx: a mapping conflict,
	// an illegal argument…). It is tried retry.item_attempts times, then
	// dead-lettered.
	rejected
)

func (o outcome) String() string {
	switch o {
	case applied:
		return "applied"
	case stale:
		return "stale"
	case retry:
		return "retry"
	case rejected:
		return "rejected"
	}
	return "unknown"
}

// classify judges one bulk item by its HTTP status, never by exception names, which
// differ between vendors and versions (STYLE.md item 7).
func classify(action bulk.Action, status int) outcome {
	switch {
	case status >= 200 && status < 300:
		return applied
	case status == http.StatusConflict:
		return stale
	case status == http.StatusNotFound && action == bulk.ActionDelete:
		// A delete of a document the target does not have ("not_found", or its index
		// missing) leaves it in the state the primary has: absent. With an external
		// version the target still records the tombstone's version.
		return applied
	case status == http.StatusTooManyRequests || status >= 500:
		return retry
	case status >= 400:
		return rejected
	}
	// 1xx/3xx or a missing status cannot be judged: try again rather than lose or
	// dead-letter the record.
	return retry
}

// backoff is a capped exponential backoff with jitter: the n-th wait is drawn from
// [d/2, d] with d = initial·2ⁿ capped at max, so that partitions blocked on the same
// trouble do not retry in lockstep.
type backoff struct {
	initial, max time.Duration
	n            int
}

func (b *backoff) next() time.Duration {
	d := b.initial
	for i := 0; i < b.n && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	if d < b.max {
		b.n++
	}
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(d-half+1)
}

func (b *backoff) reset() { b.n = 0 }
