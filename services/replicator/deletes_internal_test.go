package replicator

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newTestDeletes(window time.Duration, max int64) *deletesShared {
	return &deletesShared{window: window, max: max,
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "e"}), bytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "b"}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{Name: "v"}), hits: prometheus.NewCounter(prometheus.CounterOpts{Name: "h"})}
}

func TestDeleteMemory(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		run  func(d *deleteMemory)
		// older says whether an INDEX of ix/1 at version 5 is found stale at the end.
		older   bool
		entries int
		evicted float64
	}{
		{name: "older INDEX within the window", older: true, entries: 1, run: func(d *deleteMemory) {
			d.remember("ix", "1", 6, t0)
			d.observe(t0.Add(time.Minute - time.Millisecond))
		}},
		{name: "newer INDEX is not stale", entries: 1, run: func(d *deleteMemory) {
			d.remember("ix", "1", 4, t0)
		}},
		{name: "forgotten once the window of accepted time passed", entries: 0, run: func(d *deleteMemory) {
			d.remember("ix", "1", 6, t0)
			d.observe(t0.Add(time.Minute + time.Millisecond))
		}},
		{name: "an older DELETE does not replace a newer one", older: true, entries: 1, run: func(d *deleteMemory) {
			d.remember("ix", "1", 6, t0)
			d.remember("ix", "1", 3, t0.Add(time.Second))
		}},
		{name: "a newer DELETE of the same document extends its window", older: true, entries: 1, run: func(d *deleteMemory) {
			d.remember("ix", "1", 6, t0)
			d.remember("ix", "1", 8, t0.Add(30*time.Second))
			d.observe(t0.Add(80 * time.Second))
		}},
		{name: "the cap evicts the oldest and counts it", entries: 3, evicted: 1, run: func(d *deleteMemory) {
			d.remember("ix", "1", 6, t0)
			d.remember("ix", "2", 6, t0)
			d.remember("ix", "3", 6, t0)
			d.remember("ix", "4", 6, t0)
		}},
		{name: "other index, same id", entries: 1, run: func(d *deleteMemory) {
			d.remember("other", "1", 6, t0)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestDeletes(time.Minute, 3)
			d := newDeleteMemory(s)
			tc.run(d)
			if got := d.supersedes("ix", "1", 5); got != tc.older {
				t.Errorf("INDEX v5 superseded = %v, want %v", got, tc.older)
			}
			if got := d.len(); got != tc.entries {
				t.Errorf("entries = %d, want %d", got, tc.entries)
			}
			if got := testutil.ToFloat64(s.evicted); got != tc.evicted {
				t.Errorf("evicted = %v, want %v", got, tc.evicted)
			}
			if got := testutil.ToFloat64(s.gauge); got != float64(s.entries.Load()) || got < float64(tc.entries) {
				t.Errorf("entries gauge %v, counter %d, map %d", got, s.entries.Load(), tc.entries)
			}
			d.release()
			if s.entries.Load() != 0 || testutil.ToFloat64(s.gauge) != 0 || testutil.ToFloat64(s.bytes) != 0 {
				t.Errorf("after release: entries %d, gauge %v, bytes %v", s.entries.Load(), testutil.ToFloat64(s.gauge), testutil.ToFloat64(s.bytes))
			}
		})
	}
}
