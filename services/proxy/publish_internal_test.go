package proxy

import (
	"bytes"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestRecordPoolValueSizes: whatever order records come back in, one taken for a value
// of some size holds a value buffer of less than twice that size (a small document's
// record never keeps a large one's buffer, which kgo and the budget would count at the
// small size), the pool holds at most its bytes, and records over the largest class
// are not kept.
func TestRecordPoolValueSizes(t *testing.T) {
	rp := newRecordPool()
	rp.max = 1 << 20
	rng := rand.New(rand.NewPCG(3, 4))
	sizes := []int{1, 300, 1000, 1100, 4000, 60 << 10, 64 << 10, (64 << 10) + 1, 1 << 20}
	var out []*pooledRecord
	for round := 0; round < 50; round++ {
		for i := 0; i < 40; i++ {
			size := sizes[rng.IntN(len(sizes))]
			pr := rp.get(size)
			if c := cap(pr.rec.Value); c >= 2*size && c > 0 {
				t.Fatalf("a record for %d bytes holds a value of %d", size, c)
			}
			// As EncodeInto does: the value grows when it is too small.
			if cap(pr.rec.Value) < size {
				pr.rec.Value = make([]byte, 0, size)
			}
			pr.rec.Value = append(pr.rec.Value[:0], bytes.Repeat([]byte{'v'}, size)...)
			out = append(out, pr)
		}
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		for _, pr := range out[:len(out)/2] {
			rp.put(pr)
		}
		out = append(out[:0], out[len(out)/2:]...)
		held := 0
		for _, class := range rp.free {
			for _, pr := range class {
				held += pr.heldBytes()
				if cap(pr.rec.Value) > 64<<10 {
					t.Fatalf("the pool keeps a value of %d bytes", cap(pr.rec.Value))
				}
			}
		}
		if held != rp.bytes || held > rp.max {
			t.Fatalf("the pool holds %d bytes, counts %d, may hold %d", held, rp.bytes, rp.max)
		}
	}
}

// TestRecordPoolPromise: a record's promise gives the record back before it reports to
// its publish (so it may be reused at once) and reports the event it was last produced
// for, whichever publish produced it before.
func TestRecordPoolPromise(t *testing.T) {
	rp := newRecordPool()
	m := newMetrics(prometheus.NewRegistry())
	newCall := func(n int) *publishCall {
		c := &publishCall{m: m, unacked: make([]atomic.Int32, n), bad: make([]atomic.Bool, n), refused: make([]atomic.Bool, n)}
		for k := range c.unacked {
			c.unacked[k].Store(1)
		}
		return c
	}
	first, second := newCall(3), newCall(5)
	pr := rp.get(1000)
	pr.rec.Value = make([]byte, 1000)
	pr.call, pr.event = first, 2
	first.wg.Add(1)
	pr.promise(&pr.rec, nil)
	first.wg.Wait()
	if first.unacked[2].Load() != 0 || first.bad[2].Load() || pr.call != nil {
		t.Fatalf("after an acknowledgement: unacked %d, bad %v, record still tied to %p", first.unacked[2].Load(), first.bad[2].Load(), pr.call)
	}
	again := rp.get(1000)
	if again != pr {
		t.Fatal("the acknowledged record was not given back to the pool")
	}
	again.call, again.event = second, 4
	second.wg.Add(1)
	again.promise(&again.rec, kerr.MessageTooLarge)
	second.wg.Wait()
	if !second.bad[4].Load() || !second.refused[4].Load() || second.firstErr == nil || second.unacked[4].Load() != 1 {
		t.Fatalf("after a refusal: bad %v, refused %v, error %v, unacked %d", second.bad[4].Load(), second.refused[4].Load(), second.firstErr, second.unacked[4].Load())
	}
	if first.bad[2].Load() || first.unacked[0].Load() != 1 {
		t.Fatal("the second publish's promise touched the first's events")
	}
}
