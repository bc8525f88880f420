package fanoutctl

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// backfillDocs is the size of TestBackfillAcceptance's primary. The acceptance is
// 200,000 documents (-backfill.docs=200000); the default, 50,000, is what runs in under a
// minute, as part of make test.
var backfillDocs = flag.Int("backfill.docs", 50_000, "documents on the primary of TestBackfillAcceptance")

// TestBackfillAcceptance is the backfill's acceptance: -backfill.docs documents on the
// primary, a concurrent load of a few thousand writes and deletes a second through a real
// proxy while the target's replicator applies them, a target forgetting its delete
// tombstones after gc_deletes (1 s); after the backfill the target converges with the
// primary document by document, versions included, and no deleted document is back.
func TestBackfillAcceptance(t *testing.T) {
	n := *backfillDocs
	started := time.Now()
	bed := newBackfillBed(t)
	bed.seed(t, n, 100)
	t.Logf("seeded %d documents in %v", n, time.Since(started).Round(time.Millisecond))
	proxyURL := startProxy(t, bed.k, bed.primary)

	ctx, stopLoad := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var loadErr atomic.Value
	var mu sync.Mutex
	deleted := map[string]bool{}
	var ops atomic.Int64
	const loaders, perBatch = 2, 60
	for l := range loaders {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(l), 7))
			for b := 0; ctx.Err() == nil; b++ {
				var ids []string
				for range perBatch {
					// a tenth of the ids are new to the primary
					ids = append(ids, fmt.Sprintf("d%d", rng.IntN(n+n/10)))
				}
				body := bulkBody("live", ids[:perBatch/2], func(id string) string { return fmt.Sprintf(`{"n":%d,"id":%q}`, b, id) })
				body += deleteBody("live", ids[perBatch/2:])
				if err := post(ctx, proxyURL, body); err != nil {
					if ctx.Err() == nil {
						loadErr.Store(err)
					}
					return
				}
				mu.Lock()
				for _, id := range ids[perBatch/2:] {
					deleted[id] = true
				}
				mu.Unlock()
				ops.Add(perBatch)
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	t.Cleanup(func() { stopLoad(); wg.Wait() })
	waitFor(t, 10*time.Second, "load before the backfill", func() bool { return ops.Load() >= 20*perBatch || loadErr.Load() != nil })

	loadStart, opsAtStart := time.Now(), ops.Load()
	d := deps{backfill: backfillHooks{afterOffsets: func() { bed.startReplicator(t) }}}
	copyStart := time.Now()
	rep, _ := runBackfillJSON(t, t.Context(), d, 0, bed.args("--slices", "4", "--page-size", "1000", "--window", "300ms")...)
	copyTook := time.Since(copyStart)
	opsAfterCopy := ops.Load()
	time.Sleep(300 * time.Millisecond) // some load after the copy, too
	stopLoad()
	wg.Wait()
	if err, _ := loadErr.Load().(error); err != nil {
		t.Fatalf("load through the proxy: %v", err)
	}
	rate := float64(ops.Load()-opsAtStart) / time.Since(loadStart).Seconds()
	t.Logf("backfill of %d documents took %v under %.0f ops/s; report %+v", n, copyTook.Round(time.Millisecond), rate, rep.Indices)
	// The rate is what the machine gives (a few thousand ops/s on an idle 2-core one);
	// it is reported, not asserted: a loaded CI runner is slower, not wrong. What the
	// test needs is writes and deletes all through the copy.
	if during := opsAfterCopy - opsAtStart; during < 20*perBatch {
		t.Errorf("only %d operations ran while the copy did: the copy met no live load", during)
	}
	if copyTook < 2*backfillGCDeletes {
		t.Errorf("the copy took %v, not longer than the target's gc_deletes (%v): the tombstones' expiry was not exercised", copyTook, backfillGCDeletes)
	}
	if len(rep.Indices) != 1 || rep.Indices[0].Docs < int64(n/2) {
		t.Fatalf("report: %+v", rep)
	}

	bed.waitCaughtUp(t)
	assertConverged(t, bed.primary, bed.target)
	ids := make([]string, 0, len(deleted))
	for id := range deleted {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	gone := 0
	for start := 0; start < len(ids); start += 1000 {
		batch := ids[start:min(start+1000, len(ids))]
		onPrimary, onTarget := mgetFound(t, bed.primary, batch), mgetFound(t, bed.target, batch)
		for _, id := range batch {
			if !onPrimary[id] {
				gone++
				if onTarget[id] {
					t.Errorf("deleted document %s is back on the target", id)
				}
			}
		}
	}
	if gone == 0 {
		t.Fatalf("none of the %d deleted ids is gone from the primary: the check proves nothing", len(ids))
	}
	t.Logf("%d deleted documents checked absent from the target; total %v", gone, time.Since(started).Round(time.Millisecond))
}

// mgetFound says which of ids index "live" on em holds, each looked up with its routing.
func mgetFound(t *testing.T, em *emulator, ids []string) map[string]bool {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"docs":[`)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"_index":"live","_id":%q`, id)
		if r := routingOf(id); r != "" {
			fmt.Fprintf(&b, `,"routing":%q`, r)
		}
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	code, ans := em.do(t, http.MethodPost, "/_mget?_source=false", b.String())
	if code != http.StatusOK {
		t.Fatalf("mget on %s: %d %.300s", em.url, code, ans)
	}
	var v struct {
		Docs []struct {
			ID    string `json:"_id"`
			Found bool   `json:"found"`
		} `json:"docs"`
	}
	if err := json.Unmarshal([]byte(ans), &v); err != nil {
		t.Fatalf("mget on %s: %v", em.url, err)
	}
	if len(v.Docs) != len(ids) {
		t.Fatalf("mget on %s answered %d docs for %d ids", em.url, len(v.Docs), len(ids))
	}
	found := map[string]bool{}
	for _, d := range v.Docs {
		found[d.ID] = d.Found
	}
	return found
}
