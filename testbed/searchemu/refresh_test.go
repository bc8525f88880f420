package searchemu

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTickAfter(t *testing.T) {
	t.Parallel()
	anchor := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		every time.Duration
		after time.Duration // t - anchor
		want  time.Duration // tick - anchor
	}{
		{"at the anchor", time.Second, 0, time.Second},
		{"before the anchor", time.Second, -5 * time.Second, time.Second},
		{"between ticks", time.Second, 1500 * time.Millisecond, 2 * time.Second},
		{"on a tick is strictly after", time.Second, 2 * time.Second, 3 * time.Second},
		{"just before a tick", 30 * time.Second, 30*time.Second - time.Nanosecond, 30 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tickAfter(anchor, tc.every, anchor.Add(tc.after)).Sub(anchor)
			if got != tc.want {
				t.Errorf("tickAfter(anchor, %v, anchor%+v) = anchor+%v, want anchor+%v", tc.every, tc.after, got, tc.want)
			}
		})
	}
}

// TestWaitForUnderConcurrentWrites: every refresh=wait_for write, answered while other
// writers, searches and the cluster clock move on, is visible to the search that follows
// its answer.
func TestWaitForUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	h := newHarness(t, Options{Now: clock.Now})
	h.must(200, "PUT", "/w", "")
	stop := make(chan struct{})
	ticking := make(chan struct{})
	go func() {
		defer close(ticking)
		for {
			select {
			case <-stop:
				return
			default:
				clock.Advance(50 * time.Millisecond)
				runtime.Gosched()
			}
		}
	}()
	const writers, perWriter = 4, 25
	errs := make(chan string, writers*perWriter)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				id := fmt.Sprintf("%d-%d", w, i)
				path := "/w/_doc/" + id + "?refresh=wait_for"
				if i%2 == 1 {
					path = "/w/_doc/" + id // a write nobody waits for
				}
				if r := h.do("PUT", path, `{}`); r.status != 201 {
					errs <- r.body
					continue
				}
				if i%2 == 1 {
					continue
				}
				r := h.do("POST", "/w/_search", `{"query":{"ids":{"values":["`+id+`"]}}}`)
				if !strings.Contains(r.body, `"total":{"value":1,`) {
					errs <- "after wait_for, " + id + " is not searchable: " + r.body
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-ticking
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
