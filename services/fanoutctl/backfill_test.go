package fanoutctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// backfillBed is a primary with documents written before fanout existed, an empty
// target that forgets delete tombstones after gcDeletes, and Kafka.
type backfillBed struct {
	k               *kafkatest.Cluster
	primary, target *emulator
}

const backfillGCDeletes = time.Second

func newBackfillBed(t testing.TB) *backfillBed {
	t.Helper()
	bed := &backfillBed{k: kafkatest.NewCluster(t, kafkatest.WithTopic(opsTopic, 3)),
		primary: startEmulator(t, "primary"),
		target:  startEmulator(t, "dr", func(o *searchemu.Options) { o.GCDeletes = backfillGCDeletes })}
	bed.primary.createIndex(t, "live", `{"properties":{"n":{"type":"long"}}}`)
	return bed
}

// seed writes n documents "d<i>" straight to the primary (not through the proxy: they
// are what the cluster held before fanout), sources of about size bytes.
func (bed *backfillBed) seed(t testing.TB, n, size int) {
	t.Helper()
	pad := strings.Repeat("x", max(size-40, 0))
	for start := 0; start < n; start += 1000 {
		var ids []string
		for i := start; i < min(start+1000, n); i++ {
			ids = append(ids, fmt.Sprintf("d%d", i))
		}
		body := bulkBody("live", ids, func(id string) string { return fmt.Sprintf(`{"n":0,"id":%q,"pad":%q}`, id, pad) })
		if code, ans := bed.primary.do(t, http.MethodPost, "/_bulk?refresh=true", body); code != 200 || strings.Contains(ans, `"errors":true`) {
			t.Fatalf("seeding the primary: %d %.300s", code, ans)
		}
	}
}

func (bed *backfillBed) args(extra ...string) []string {
	return append([]string{"backfill", "--brokers", strings.Join(bed.k.Addrs(), ","), "--cluster", "dr", "--topic", opsTopic,
		"--primary", bed.primary.url, "--target", bed.target.url}, extra...)
}

// startReplicator starts the target's replicator (group fanout-replicator-dr).
func (bed *backfillBed) startReplicator(t testing.TB) {
	t.Helper()
	startReplicator(t, replicatorConfig(bed.k, bed.target, "dr"))
}

func (bed *backfillBed) waitCaughtUp(t testing.TB) {
	t.Helper()
	replicatortest.WaitCaughtUp(t, bed.k.Client(t, testKafkaOpts()...), "fanout-replicator-dr", opsTopic, 30*time.Second)
}

// runBackfillJSON runs backfill with -o json and decodes its report.
func runBackfillJSON(t testing.TB, ctx context.Context, d deps, want int, args ...string) (backfillReport, cliResult) {
	t.Helper()
	var rep backfillReport
	r := cli(t, ctx, d, nil, append(args, "-o", "json")...)
	if r.code != want {
		t.Fatalf("backfill: exit %d, want %d\nstdout: %s\nstderr: %s", r.code, want, r.stdout, r.stderr)
	}
	if want == 0 {
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("backfill: stdout is not its report: %v\n%s", err, r.stdout)
		}
	}
	return rep, r
}

// post sends a bulk body to url, for load goroutines (no t.Fatal off the test's goroutine).
func post(ctx context.Context, url, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/_bulk", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Close = true
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	ans, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("bulk: HTTP %d: %.300s", resp.StatusCode, ans)
	}
	return nil
}

func deleteBody(index string, ids []string) string {
	var b strings.Builder
	for _, id := range ids {
		routing := ""
		if r := routingOf(id); r != "" {
			routing = fmt.Sprintf(`,"routing":%q`, r)
		}
		fmt.Fprintf(&b, "{\"delete\":{\"_index\":%q,\"_id\":%q%s}}\n", index, id, routing)
	}
	return b.String()
}

// TestBackfillLive: a backfill into an empty target while writes and deletes go through
// a real proxy and the target's replicator (started once backfill set its group's
// offsets) applies them; the copy is throttled so that it lasts longer than the
// target's gc_deletes, with a window below it. Afterwards the target holds exactly the
// primary's documents at their replication versions: no write lost between the copy
// and the stream, no deleted document back. It runs with the reconcile pass and without
// it, so that the window is shown to suffice on its own (the reconcile pass would hide a
// resurrection it let through).
func TestBackfillLive(t *testing.T) {
	for _, noReconcile := range []bool{true, false} {
		t.Run(fmt.Sprintf("reconcile=%v", !noReconcile), func(t *testing.T) { testBackfillLive(t, noReconcile) })
	}
}

func testBackfillLive(t *testing.T, noReconcile bool) {
	bed := newBackfillBed(t)
	const seeded = 3000
	bed.seed(t, seeded, 200)
	proxyURL := startProxy(t, bed.k, bed.primary)

	ctx, stopLoad := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var loadErr atomic.Value
	var deleted sync.Map
	var batches atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for n := 0; ctx.Err() == nil; n++ {
			var ids []string
			for range 20 {
				ids = append(ids, fmt.Sprintf("d%d", rng.IntN(seeded+500)))
			}
			body := bulkBody("live", ids[:10], func(id string) string { return fmt.Sprintf(`{"n":%d,"id":%q}`, n, id) })
			body += deleteBody("live", ids[10:])
			if err := post(ctx, proxyURL, body); err != nil {
				if ctx.Err() == nil {
					loadErr.Store(err)
				}
				return
			}
			for _, id := range ids[10:] {
				deleted.Store(id, true)
			}
			batches.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { stopLoad(); wg.Wait() })
	// Writes through the proxy before the backfill, too: their events are before the
	// offsets it records, so only the copy brings them.
	waitFor(t, 10*time.Second, "load before the backfill", func() bool { return batches.Load() >= 20 || loadErr.Load() != nil })

	d := deps{backfill: backfillHooks{noReconcile: noReconcile, afterOffsets: func() { bed.startReplicator(t) }}}
	// 3000 documents at 1000/s (one second of burst): about 2 s of copy, twice the
	// target's gc_deletes.
	rep, r := runBackfillJSON(t, t.Context(), d, 0, bed.args("--slices", "3", "--page-size", "100", "--window", "300ms", "--max-docs-per-s", "1000")...)
	time.Sleep(300 * time.Millisecond) // some load after the copy, too
	stopLoad()
	wg.Wait()
	if err, _ := loadErr.Load().(error); err != nil {
		t.Fatalf("load through the proxy: %v", err)
	}
	t.Logf("report: %+v", rep)
	if rep.OffsetsAction != "set" || len(rep.Offsets) != 3 || rep.Offsets[0].Offset+rep.Offsets[1].Offset+rep.Offsets[2].Offset == 0 || len(rep.Indices) != 1 || rep.Indices[0].Docs == 0 {
		t.Fatalf("report: %+v", rep)
	}
	if rep.Indices[0].Resolved == 0 {
		t.Errorf("no page was older than the window, so the test proves nothing about it: %+v", rep.Indices[0])
	}
	if strings.Contains(r.stderr, "backfill ") {
		t.Errorf("-o json printed a progress line: %s", r.stderr)
	}

	bed.waitCaughtUp(t)
	assertConverged(t, bed.primary, bed.target)
	back := 0
	deleted.Range(func(k, _ any) bool {
		id := k.(string)
		if _, _, onPrimary := bed.primary.doc(t, "live", id, routingOf(id)); !onPrimary {
			if _, _, onTarget := bed.target.doc(t, "live", id, routingOf(id)); onTarget {
				back++
			}
		}
		return true
	})
	if back > 0 {
		t.Fatalf("%d deleted documents are back on the target", back)
	}
}

// TestBackfillNoResurrection: a document deleted on the primary after the point in
// time was opened, whose delete the replicator applied and whose tombstone the target
// then forgot (gc_deletes), must not come back from the copy's old version. With the
// window the page is looked up again on the primary; without it (a window longer than
// the copy) the old version resurrects the document — unless the reconcile pass
// removes it.
func TestBackfillNoResurrection(t *testing.T) {
	for _, tc := range []struct {
		name        string
		window      string
		noReconcile bool
		wantBack    bool
	}{
		{"window", "200ms", true, false},
		{"no window, no reconcile: the hazard", "1h", true, true},
		{"no window, reconcile", "1h", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bed := newBackfillBed(t)
			bed.seed(t, 300, 100)
			proxyURL := startProxy(t, bed.k, bed.primary)
			victims := []string{"d7", "d10", "d299"}
			d := deps{backfill: backfillHooks{
				noReconcile:  tc.noReconcile,
				afterOffsets: func() { bed.startReplicator(t) },
				afterPIT: func(string) {
					if err := post(t.Context(), proxyURL, deleteBody("live", victims)); err != nil {
						t.Errorf("deleting through the proxy: %v", err)
					}
					bed.waitCaughtUp(t)
					time.Sleep(backfillGCDeletes + 300*time.Millisecond) // the target forgets the deletes
				},
			}}
			rep, _ := runBackfillJSON(t, t.Context(), d, 0, bed.args("--slices", "2", "--page-size", "50", "--window", tc.window)...)
			back := 0
			for _, id := range victims {
				if _, _, ok := bed.target.doc(t, "live", id, routingOf(id)); ok {
					back++
				}
			}
			if tc.wantBack != (back == len(victims)) || (!tc.wantBack && back > 0) {
				t.Fatalf("%d of %d deleted documents are on the target (want back: %v); report %+v", back, len(victims), tc.wantBack, rep.Indices)
			}
			if tc.wantBack {
				return
			}
			if tc.noReconcile && rep.Indices[0].Deleted != int64(len(victims)) {
				t.Errorf("the window's lookups resolved %d deletes, want %d: %+v", rep.Indices[0].Deleted, len(victims), rep.Indices[0])
			}
			if !tc.noReconcile && rep.Indices[0].ReconcileDeleted != int64(len(victims)) {
				t.Errorf("reconcile deleted %d, want %d: %+v", rep.Indices[0].ReconcileDeleted, len(victims), rep.Indices[0])
			}
			assertConverged(t, bed.primary, bed.target)
		})
	}
}

// TestBackfillReconcilePaging: the reconcile pass reads the target through a point in
// time on _shard_doc where the release has one (Elasticsearch 8, which refuses to sort
// on _id by default) and a scroll elsewhere, never search_after on _id: one view of the
// index as it was when the pass began (documents written to the target during the pass
// are not looked at), closed when the pass ends. It deletes what the target held that
// the primary does not have, routed or not.
func TestBackfillReconcilePaging(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flavor searchemu.Flavor
		// open scrolls and points in time on the target while the pass runs
		scrolls, pits int
	}{
		{"opensearch: scroll", searchemu.OpenSearch2, 1, 0},
		{"elasticsearch 7.10: scroll", searchemu.Elasticsearch7, 1, 0},
		{"elasticsearch 8: point in time", searchemu.Elasticsearch8, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bed := &backfillBed{k: kafkatest.NewCluster(t, kafkatest.WithTopic(opsTopic, 2)), primary: startEmulator(t, "primary"),
				target: startEmulator(t, "dr", func(o *searchemu.Options) { o.Flavor = tc.flavor })}
			bed.primary.createIndex(t, "live", `{"properties":{"n":{"type":"long"}}}`)
			const seeded, extras = 300, 30
			bed.seed(t, seeded, 60)
			var extraIDs, lateIDs []string
			for i := range extras {
				extraIDs = append(extraIDs, fmt.Sprintf("x%d", i))
			}
			for i := range 10 {
				lateIDs = append(lateIDs, fmt.Sprintf("zz%d", i))
			}
			write := func(ids []string) {
				body := bulkBody("live", ids, func(id string) string { return fmt.Sprintf(`{"n":1,"id":%q}`, id) })
				if code, ans := bed.target.do(t, http.MethodPost, "/_bulk?refresh=true", body); code != 200 || strings.Contains(ans, `"errors":true`) {
					t.Errorf("writing to the target: %d %.300s", code, ans)
				}
			}
			pages := 0
			d := deps{backfill: backfillHooks{
				// the index exists on the target now, with the primary's mappings
				afterOffsets: func() { write(extraIDs) },
				afterReconcilePage: func(index string, docs int) {
					pages++
					if scrolls, pits := bed.target.OpenContexts(); scrolls != tc.scrolls || pits != tc.pits {
						t.Errorf("reconcile page %d of %s: the target has %d scrolls and %d points in time open, want %d and %d", pages, index, scrolls, pits, tc.scrolls, tc.pits)
					}
					if pages == 1 {
						write(lateIDs)
					}
				},
			}}
			rep, _ := runBackfillJSON(t, t.Context(), d, 0, bed.args("--page-size", "50")...)
			if len(rep.Indices) != 1 || rep.Indices[0].ReconcileChecked != seeded+extras || rep.Indices[0].ReconcileDeleted != extras {
				t.Errorf("reconcile checked %d and deleted %d, want %d and %d: %+v", rep.Indices[0].ReconcileChecked, rep.Indices[0].ReconcileDeleted, seeded+extras, extras, rep.Indices)
			}
			if want := (seeded + extras + 49) / 50; pages != want {
				t.Errorf("reconcile pages: %d, want %d", pages, want)
			}
			for _, id := range extraIDs {
				if _, _, ok := bed.target.doc(t, "live", id, routingOf(id)); ok {
					t.Errorf("%s, which the primary does not have, is still on the target", id)
				}
			}
			for _, id := range lateIDs {
				if _, _, ok := bed.target.doc(t, "live", id, routingOf(id)); !ok {
					t.Errorf("%s, written to the target during the reconcile pass, is gone: the pass did not read one view", id)
				}
			}
			if scrolls, pits := bed.target.OpenContexts(); scrolls+pits != 0 {
				t.Errorf("the reconcile pass left %d scrolls and %d points in time open on the target", scrolls, pits)
			}
		})
	}
}

// TestBackfillResume: a backfill interrupted after a few pages saved its progress; run
// again with --resume it copies only what the first run had not, and the target
// converges.
func TestBackfillResume(t *testing.T) {
	bed := newBackfillBed(t)
	const n = 1000
	bed.seed(t, n, 100)
	state := filepath.Join(t.TempDir(), "backfill.json")
	args := bed.args("--slices", "2", "--page-size", "50", "--state", state)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var pages atomic.Int64
	d := deps{backfill: backfillHooks{afterPage: func(string, int, int) {
		if pages.Add(1) == 5 {
			cancel()
		}
	}}}
	r := cli(t, ctx, d, nil, args...)
	if r.code != 1 || !strings.Contains(r.stderr, "--resume") {
		t.Fatalf("interrupted backfill: exit %d, want 1 naming --resume\n%s", r.code, r.stderr)
	}
	st, found, err := loadState(state)
	if err != nil || !found {
		t.Fatalf("state after the interruption: found %v, %v", found, err)
	}
	var first int64
	for _, sp := range st.Indices[0].Slices {
		first += sp.Docs
	}
	if first == 0 || first >= n {
		t.Fatalf("the first run copied %d of %d documents, want some", first, n)
	}

	// Without --resume the state file is refused: nothing is copied twice by mistake.
	if r := cli(t, t.Context(), deps{}, nil, args...); r.code != 2 || !strings.Contains(r.stderr, "--resume") {
		t.Fatalf("a second backfill over a state file: exit %d, want 2\n%s", r.code, r.stderr)
	}
	var bulks atomic.Int64
	rep, _ := runBackfillJSON(t, t.Context(), deps{backfill: backfillHooks{bulkRequests: &bulks}}, 0, append(args, "--resume")...)
	if !rep.Resumed || rep.Docs+first != n {
		t.Fatalf("resumed backfill copied %d after %d, want %d in all: %+v", rep.Docs, first, n, rep)
	}
	if rep.Indices[0].Docs != n {
		t.Errorf("the report counts %d documents of the index over both runs, want %d", rep.Indices[0].Docs, n)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("the state file outlived the finished backfill: %v", err)
	}
	assertConverged(t, bed.primary, bed.target)
}

// fakeClock is a clock that moves only when the throttle sleeps.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.slept += d
	return ctx.Err()
}

// TestBackfillThrottle: --max-docs-per-s and --max-bytes-per-s hold the copy to their
// rate: with a clock that moves only when the throttle waits, the waits add up to what
// the documents (or bytes) beyond one second's burst cost at the rate.
func TestBackfillThrottle(t *testing.T) {
	bed := newBackfillBed(t)
	const n = 1000
	bed.seed(t, n, 100)
	var size int64
	for i := range n {
		size += int64(len(fmt.Sprintf(`{"n":0,"id":%q,"pad":%q}`, fmt.Sprintf("d%d", i), strings.Repeat("x", 60))))
	}
	for _, tc := range []struct {
		name string
		flag string
		rate float64
		cost float64 // of the whole copy, in the flag's unit
	}{
		{"docs", "--max-docs-per-s", 200, n},
		{"bytes", "--max-bytes-per-s", 20000, float64(size)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			var bulks atomic.Int64
			d := deps{now: clock.now, backfill: backfillHooks{sleep: clock.sleep, bulkRequests: &bulks}}
			target := startEmulator(t, "dr-"+tc.name)
			args := bed.args("--slices", "1", "--page-size", "100", "--target", target.url, tc.flag, fmt.Sprint(tc.rate))
			rep, _ := runBackfillJSON(t, t.Context(), d, 0, args...)
			if rep.Docs != n || bulks.Load() != n/100 {
				t.Fatalf("copied %d documents in %d bulks, want %d in %d", rep.Docs, bulks.Load(), n, n/100)
			}
			// The first second's burst is free; every page after it waits for its cost.
			want := time.Duration((tc.cost - tc.rate) / tc.rate * float64(time.Second))
			if diff := clock.slept - want; diff < -10*time.Millisecond || diff > 10*time.Millisecond {
				t.Fatalf("the throttle waited %s for %g at %g/s, want %s", clock.slept, tc.cost, tc.rate, want)
			}
		})
	}
}

// TestBackfillGroupInUse: a replicator group with live members and no committed
// offsets is refused (its members started somewhere of their own choosing); a group
// with committed offsets keeps them.
func TestBackfillGroupInUse(t *testing.T) {
	bed := newBackfillBed(t)
	bed.seed(t, 10, 50)
	member := bed.k.Client(t, append(testKafkaOpts(), kgo.ConsumerGroup("fanout-replicator-dr"), kgo.ConsumeTopics(opsTopic), kgo.DisableAutoCommit())...)
	ctx, stop := context.WithCancel(t.Context())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for ctx.Err() == nil {
			member.PollFetches(ctx)
		}
	}()
	adm := kadm.NewClient(bed.k.Client(t, testKafkaOpts()...))
	waitFor(t, 20*time.Second, "the member to join", func() bool {
		g, err := adm.DescribeGroups(t.Context(), "fanout-replicator-dr")
		return err == nil && len(g["fanout-replicator-dr"].Members) == 1
	})
	r := cli(t, t.Context(), deps{}, nil, bed.args()...)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "fanoutctl: backfill: group fanout-replicator-dr has 1 live members and no committed offsets") ||
		strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("a group in use without offsets: exit %d, want 1 with one line saying so\n%s", r.code, r.stderr)
	}
	if code, _ := bed.target.do(t, http.MethodHead, "/live", ""); code != http.StatusNotFound {
		t.Errorf("a refused backfill created the index on the target: HEAD /live %d", code)
	}
	stop()
	<-polled
	member.Close()

	// The group now commits offsets of its own: backfill keeps them.
	cl := bed.k.Client(t, testKafkaOpts()...)
	bed.k.ProduceSync(t, &kgo.Record{Topic: opsTopic, Partition: 0, Value: []byte("x")})
	if err := commitAt(t.Context(), cl, "fanout-replicator-dr", 0, 1); err != nil {
		t.Fatal(err)
	}
	rep, _ := runBackfillJSON(t, t.Context(), deps{}, 0, bed.args()...)
	if rep.OffsetsAction != "kept" || rep.Indices[0].Docs != 10 {
		t.Fatalf("report: %+v", rep)
	}
}

func commitAt(ctx context.Context, cl *kgo.Client, group string, partition int32, at int64) error {
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: opsTopic, Partition: partition, At: at, LeaderEpoch: -1})
	return kadm.NewClient(cl).CommitAllOffsets(ctx, group, offs)
}

// TestBackfillUsage: bad command lines are usage errors (exit 2), with one line saying
// why, and nothing is done.
func TestBackfillUsage(t *testing.T) {
	existing := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(existing, []byte(`{"version":1,"cluster":"dr","group":"fanout-replicator-dr","slices":2,"offsets":[{"topic":"t","partition":0,"offset":0}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	groupConfig := filepath.Join(t.TempDir(), "replicator.yaml")
	if err := os.WriteFile(groupConfig, []byte("consume:\n  group: dr-backfill\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"backfill", "--brokers", "127.0.0.1:1", "--cluster", "dr", "--target", "http://127.0.0.1:1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--slices", "0"}, "--slices must be between"},
		{[]string{"--page-size", "0"}, "--page-size must be between"},
		{[]string{"--window", "0s"}, "--window must be positive"},
		{[]string{"--keep-alive", "10ms"}, "--keep-alive must be at least"},
		{[]string{"--max-docs-per-s", "-1"}, "--max-docs-per-s must not be negative"},
		{[]string{"--max-bytes-per-s", "-5"}, "--max-bytes-per-s must not be negative"},
		{[]string{"--resume"}, "--resume needs --state"},
		{[]string{"--resume", "--state", existing + ".none"}, "does not exist"},
		{[]string{"--state", existing}, "continue it with --resume"},
		{[]string{"--resume", "--state", existing, "--slices", "3"}, "runs with --slices 2"},
		{[]string{"--resume", "--state", existing, "--cluster", "other"}, `about target "dr"`},
		{[]string{"--resume", "--state", existing, "--config", groupConfig}, `set the offsets of group "fanout-replicator-dr", the configuration names "dr-backfill"`},
		{[]string{"--index", "logs-?"}, "only * is a wildcard"},
		{[]string{"--bogus"}, "flag provided but not defined"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"-o", "yaml"}, "-o must be table or json"},
	} {
		r := cli(t, t.Context(), deps{}, nil, append(base, tc.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s", tc.args, r.code, ExitUsage, tc.want, r.stderr)
		}
	}
	if r := cli(t, t.Context(), deps{}, nil, "backfill", "--cluster", "dr"); r.code != ExitUsage || !strings.Contains(r.stderr, "--target is required") {
		t.Errorf("without a target: exit %d %s", r.code, r.stderr)
	}
	if r := cli(t, t.Context(), deps{}, nil, "backfill", "--target", "http://127.0.0.1:1"); r.code != ExitUsage || !strings.Contains(r.stderr, "--cluster is required") {
		t.Errorf("without a cluster: exit %d %s", r.code, r.stderr)
	}
}

// TestBackfillRefused: a target that refuses the metadata stops the backfill before any
// document (exit 1, one line naming the step); one that refuses documents gets the rest,
// and the backfill exits 1 counting the refused ones.
func TestBackfillRefused(t *testing.T) {
	bed := newBackfillBed(t)
	bed.seed(t, 20, 50)
	// "id" holds "d0", "d1"…: not a long.
	bed.target.createIndex(t, "live", `{"properties":{"id":{"type":"long"}}}`)

	r := cli(t, t.Context(), deps{}, nil, bed.args()...)
	if r.code != 1 || !strings.HasPrefix(lastLine(r.stderr), "fanoutctl: backfill: the target dr refused 1 metadata steps, first mapping of live: HTTP 400") {
		t.Fatalf("refused mapping: exit %d, want 1 with a last line naming it\n%s", r.code, r.stderr)
	}
	if _, _, ok := bed.target.doc(t, "live", "d0", ""); ok {
		t.Fatalf("documents copied after the metadata was refused")
	}

	// Without mapping replication the index keeps its mapping and refuses the documents.
	bed.primary.do(t, http.MethodPut, "/live/_doc/n1", `{"id":7}`)
	r = cli(t, t.Context(), deps{}, []string{"FANOUT_METADATA_REPLICATE_MAPPINGS=false"}, bed.args()...)
	if r.code != 1 || !strings.Contains(r.stderr, "the target refused 20 documents") {
		t.Fatalf("refused documents: exit %d, want 1 counting 20\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, _, ok := bed.target.doc(t, "live", "n1", ""); !ok {
		t.Errorf("the document the target takes was not copied")
	}
}

// TestBackfillElasticsearch: an Elasticsearch 7 primary (POST /{index}/_pit, DELETE
// /_pit), with the table output and a progress line on stderr; an Elasticsearch 8 one,
// which refuses _id field data by default, is refused with a line saying what to set.
func TestBackfillElasticsearch(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(opsTopic, 2))
	es8 := &backfillBed{k: k, primary: startEmulator(t, "primary8", func(o *searchemu.Options) { o.Flavor = searchemu.Elasticsearch8 }),
		target: startEmulator(t, "dr8")}
	es8.primary.createIndex(t, "live")
	es8.seed(t, 5, 50)
	if r := cli(t, t.Context(), deps{}, nil, es8.args()...); r.code != 1 || !strings.Contains(lastLine(r.stderr), "set its cluster setting indices.id_field_data.enabled to true") {
		t.Errorf("Elasticsearch 8 primary: exit %d, want 1 naming the setting\n%s", r.code, r.stderr)
	}

	bed := &backfillBed{k: k, primary: startEmulator(t, "primary", func(o *searchemu.Options) { o.Flavor = searchemu.Elasticsearch7 }),
		target: startEmulator(t, "dr")}
	bed.primary.createIndex(t, "live")
	bed.primary.createIndex(t, "other")
	bed.seed(t, 250, 50)
	bed.primary.do(t, http.MethodPut, "/other/_doc/1?refresh=true", `{"x":1}`)
	r := cli(t, t.Context(), deps{}, []string{"FANOUT_INDICES_RENAME={index}-dr"}, bed.args("--index", "liv*", "--page-size", "100")...)
	if r.code != 0 {
		t.Fatalf("backfill: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The refused Elasticsearch 8 run set the group's offsets (same target): kept.
	for _, want := range []string{"offsets kept (2 partitions)", "live-dr", "250 documents copied"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the report lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "backfill 250/250 docs 100%") || !strings.Contains(r.stderr, "ETA 0s") {
		t.Errorf("no final progress line on stderr:\n%s", r.stderr)
	}
	if code, body := bed.primary.do(t, http.MethodGet, "/_cat/indices/live-dr", ""); code != http.StatusNotFound {
		t.Errorf("the renamed index is on the primary: %d %s", code, body)
	}
	if _, _, ok := bed.target.doc(t, "other-dr", "1", ""); ok {
		t.Errorf("--index liv* copied other")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rep, err := converge.Compare(ctx, bed.primary.client, bed.target.client, converge.Options{Indices: []string{"live"},
		ReplicaIndex: func(s string) string { return s + "-dr" }, ExpectVersion: replicaVersion, Refresh: true})
	if err != nil || !rep.Converged() {
		t.Fatalf("not converged: %v %v", err, rep)
	}
}

func TestBackfillLine(t *testing.T) {
	for _, tc := range []struct {
		done, total, bytes, run int64
		elapsed                 time.Duration
		want                    string
	}{
		{0, 0, 0, 0, 0, "backfill 0 docs  0.0 MiB  0 docs/s  ETA ?"},
		{500, 2000, 3 << 20, 500, 2 * time.Second, "backfill 500/2000 docs 25%  3.0 MiB  250 docs/s  ETA 6s"},
		// A resumed run: 1000 copied before, 500 by this run in 1 s.
		{1500, 2000, 1 << 20, 500, time.Second, "backfill 1500/2000 docs 75%  1.0 MiB  500 docs/s  ETA 1s"},
		{2000, 2000, 0, 2000, time.Second, "backfill 2000/2000 docs 100%  0.0 MiB  2000 docs/s  ETA 0s"},
	} {
		if got := backfillLine(tc.done, tc.total, tc.bytes, tc.run, tc.elapsed); got != tc.want {
			t.Errorf("backfillLine(%d, %d, …) = %q, want %q", tc.done, tc.total, got, tc.want)
		}
	}
}

// TestBackfillSelection: which indices a backfill copies. Names starting with "." only
// when an --index glob starting with "." names them; indices the replicator does not
// replicate never (listed as skipped when --index asked for them); closed ones are
// skipped.
func TestBackfillSelection(t *testing.T) {
	bed := newBackfillBed(t)
	bed.seed(t, 3, 50)
	for _, ix := range []string{".sys", "private", "shut"} {
		bed.primary.do(t, http.MethodPut, "/"+ix+"/_doc/1?refresh=true", `{"x":1}`)
	}
	bed.primary.do(t, http.MethodPost, "/shut/_close", "")
	env := []string{"FANOUT_INDICES_EXCLUDE=private"}
	skippedOf := func(rep backfillReport) map[string]bool {
		out := map[string]bool{}
		for _, s := range rep.Skipped {
			out[s.Index] = true
		}
		return out
	}
	copiedOf := func(rep backfillReport) []string {
		var out []string
		for _, ix := range rep.Indices {
			out = append(out, ix.Index)
		}
		return out
	}

	var rep backfillReport
	r := cli(t, t.Context(), deps{}, env, append(bed.args(), "-o", "json")...)
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil {
		t.Fatalf("backfill: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := copiedOf(rep); strings.Join(got, ",") != "live" || !skippedOf(rep)[".sys"] || !skippedOf(rep)["shut"] || skippedOf(rep)["private"] {
		t.Fatalf("default selection: copied %v, skipped %+v", got, rep.Skipped)
	}
	r = cli(t, t.Context(), deps{}, env, append(bed.args("--index", ".s*,priv*"), "-o", "json")...)
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil {
		t.Fatalf("backfill: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := copiedOf(rep); strings.Join(got, ",") != ".sys" || !skippedOf(rep)["private"] {
		t.Fatalf("--index .s*,priv*: copied %v, skipped %+v", got, rep.Skipped)
	}
	if _, _, ok := bed.target.doc(t, ".sys", "1", ""); !ok {
		t.Errorf(".sys was not copied")
	}
	if r := cli(t, t.Context(), deps{}, env, bed.args("--index", "nothing*")...); r.code != 1 || !strings.Contains(r.stderr, "no index of the primary matches --index nothing*") {
		t.Errorf("--index matching nothing: exit %d %s", r.code, r.stderr)
	}
}

// TestBackfillPITExpires: a point in time that expired between two pages (its
// keep_alive passed) is replaced by a new one, and each slice goes on from its last _id:
// every document copied once.
func TestBackfillPITExpires(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	bed := &backfillBed{k: kafkatest.NewCluster(t, kafkatest.WithTopic(opsTopic, 1)),
		primary: startEmulator(t, "primary", func(o *searchemu.Options) { o.Now = clock }),
		target:  startEmulator(t, "dr")}
	bed.primary.createIndex(t, "live")
	const n = 600
	bed.seed(t, n, 50)
	var pages atomic.Int64
	d := deps{backfill: backfillHooks{afterPage: func(string, int, int) {
		if pages.Add(1) == 3 {
			mu.Lock()
			now = now.Add(time.Hour) // past every keep_alive
			mu.Unlock()
		}
	}}}
	rep, r := runBackfillJSON(t, t.Context(), d, 0, bed.args("--slices", "2", "--page-size", "50")...)
	if rep.Docs != n || rep.Indices[0].Docs != n {
		t.Fatalf("copied %d documents, want %d once each: %+v", rep.Docs, n, rep.Indices)
	}
	if !strings.Contains(r.stderr, "the point in time expired") {
		t.Errorf("the point in time did not expire, so the test proves nothing:\n%s", r.stderr)
	}
	assertConverged(t, bed.primary, bed.target)
}
