package replicator

import (
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		action bulk.Action
		status int
		want   outcome
	}{
		{name: "created", action: bulk.ActionIndex, status: 201, want: applied},
		{name: "updated", action: bulk.ActionIndex, status: 200, want: applied},
		{name: "deleted", action: bulk.ActionDelete, status: 200, want: applied},
		{name: "delete of a missing document", action: bulk.ActionDelete, status: 404, want: applied},
		{name: "index into a missing index without auto-create", action: bulk.ActionIndex, status: 404, want: rejected},
		{name: "version conflict is stale", action: bulk.ActionIndex, status: 409, want: stale},
		{name: "delete conflict is stale", action: bulk.ActionDelete, status: 409, want: stale},
		{name: "too many requests", action: bulk.ActionIndex, status: 429, want: retry},
		{name: "internal error", action: bulk.ActionIndex, status: 500, want: retry},
		{name: "unavailable", action: bulk.ActionDelete, status: 503, want: retry},
		{name: "mapping conflict", action: bulk.ActionIndex, status: 400, want: rejected},
		{name: "forbidden", action: bulk.ActionIndex, status: 403, want: rejected},
		{name: "too large", action: bulk.ActionIndex, status: 413, want: rejected},
		{name: "missing status", action: bulk.ActionIndex, status: 0, want: retry},
		{name: "redirect", action: bulk.ActionIndex, status: 301, want: retry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.action, tt.status); got != tt.want {
				t.Errorf("classify(%s, %d) = %s, want %s", tt.action, tt.status, got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name         string
		initial, max time.Duration
		// bounds of the n-th wait
		want [][2]time.Duration
	}{
		{name: "doubles with jitter up to the cap", initial: 100 * time.Millisecond, max: 30 * time.Second, want: [][2]time.Duration{
			{50 * time.Millisecond, 100 * time.Millisecond},
			{100 * time.Millisecond, 200 * time.Millisecond},
			{200 * time.Millisecond, 400 * time.Millisecond},
			{400 * time.Millisecond, 800 * time.Millisecond},
			{800 * time.Millisecond, 1600 * time.Millisecond},
			{1600 * time.Millisecond, 3200 * time.Millisecond},
			{3200 * time.Millisecond, 6400 * time.Millisecond},
			{6400 * time.Millisecond, 12800 * time.Millisecond},
			{12800 * time.Millisecond, 25600 * time.Millisecond},
			{15 * time.Second, 30 * time.Second},
			{15 * time.Second, 30 * time.Second},
		}},
		{name: "initial equals max", initial: time.Second, max: time.Second, want: [][2]time.Duration{
			{500 * time.Millisecond, time.Second}, {500 * time.Millisecond, time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := 0; round < 50; round++ { // jitter: many draws
				b := backoff{initial: tt.initial, max: tt.max}
				for i, w := range tt.want {
					if d := b.next(); d < w[0] || d > w[1] {
						t.Fatalf("wait %d = %s, want within [%s, %s]", i, d, w[0], w[1])
					}
				}
				b.reset()
				if d := b.next(); d > tt.initial {
					t.Fatalf("after reset: %s, want <= %s", d, tt.initial)
				}
			}
		})
	}
	t.Run("jitter spreads the waits", func(t *testing.T) {
		seen := map[time.Duration]bool{}
		for i := 0; i < 20; i++ {
			b := backoff{initial: time.Second, max: time.Minute}
			seen[b.next()] = true
		}
		if len(seen) < 5 {
			t.Errorf("20 first waits took only %d distinct values", len(seen))
		}
	})
}
