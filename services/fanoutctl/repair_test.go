package fanoutctl

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
)

// verifyDocs is the size of TestVerifyRepair's target. The issue asks for 100,000; under
// -race on two shared cores that takes about two minutes, well over the ~40 s a test
// may take, so the default is 30,000 (measured below) and `-verify.docs 100000` runs
// the size.
var verifyDocs = flag.Int("verify.docs", 30000, "documents in TestVerifyRepair's target (the issue's acceptance case is 100000)")

// bulkOK sends an NDJSON _bulk to em and returns its items, failing on any item error.
func bulkOK(t testing.TB, em *emulator, body string) []map[string]struct {
	ID     string `json:"_id"`
	SeqNo  int64  `json:"_seq_no"`
	Term   int64  `json:"_primary_term"`
	Status int    `json:"status"`
} {
	t.Helper()
	status, ans := em.do(t, http.MethodPost, "/_bulk", body)
	var out struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			ID     string `json:"_id"`
			SeqNo  int64  `json:"_seq_no"`
			Term   int64  `json:"_primary_term"`
			Status int    `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(ans), &out); err != nil || status != 200 || out.Errors {
		t.Fatalf("bulk on %s: %d %.400s", em.url, status, ans)
	}
	return out.Items
}

// seed writes the documents ids (source of src) to the primary's index and copies each
// to the target as a replicator would: the same routing (routingOf), external version =
// the replication version of the primary's answer. 1,000 documents per _bulk.
func seed(t testing.TB, primary, target *emulator, index string, ids []string, src func(id string) string) {
	t.Helper()
	for start := 0; start < len(ids); start += 1000 {
		chunk := ids[start:min(start+1000, len(ids))]
		items := bulkOK(t, primary, bulkBody(index, chunk, src))
		var tb strings.Builder
		for k, it := range items {
			a := it["index"]
			v, err := event.ReplicationVersion(a.SeqNo, a.Term, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			routing := ""
			if r := routingOf(chunk[k]); r != "" {
				routing = fmt.Sprintf(`,"routing":%q`, r)
			}
			fmt.Fprintf(&tb, "{\"index\":{\"_index\":%q,\"_id\":%q%s,\"version\":%d,\"version_type\":\"external\"}}\n%s\n",
				index, chunk[k], routing, v, src(chunk[k]))
		}
		bulkOK(t, target, tb.String())
	}
}

// primaryOnly writes ids to the primary alone: writes whose events never reached the
// target.
func primaryOnly(t testing.TB, primary *emulator, index string, ids []string, src func(id string) string) {
	t.Helper()
	bulkOK(t, primary, bulkBody(index, ids, src))
}

func docIDs(prefix string, from, to int) []string {
	ids := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		ids = append(ids, fmt.Sprintf("%s%06d", prefix, i))
	}
	return ids
}

// compareNow compares the target with the primary directly (fast, versions checked).
func compareNow(t testing.TB, primary, target *emulator) *converge.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := converge.Compare(ctx, primary.client, target.client, converge.Options{Mode: converge.Fast, ExpectVersion: replicaVersion, Refresh: true})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// repairOutput is verify --repair -o json.
type repairOutput struct {
	converge.Report
	Repair repairReport `json:"repair"`
}

// TestVerifyRepair is the acceptance case: a target in step but for 100
// differences of every kind, each made the way it happens — a write that never reached
// the target (missing), a delete that never did (extra), an update that never did (the
// target holds an older version), a write that bypassed the proxy on the target (another
// source, under an internal version). Fast verify finds all 400, --dry-run changes
// nothing, --repair fixes all and a second verify, fast and full, is clean.
//
// Measured on two shared cores under -race (seeding, then five runs over the target and
// a direct comparison): 20,000 documents 24 s, 32,000 37 s, 100,000 117 s (passes);
// -verify.docs sets the size.
func TestVerifyRepair(t *testing.T) {
	n := *verifyDocs
	if n < 1000 {
		t.Fatalf("-verify.docs %d: at least 1000, to make 100 differences of each kind", n)
	}
	start := time.Now()
	primary, target := startEmulator(t, "primary"), startEmulator(t, "dr")
	primary.createIndex(t, "docs")
	// The target forgets deletes after 500ms (index.gc_deletes, 60s by default): the
	// repair of a copy written outside replication waits that long (see below).
	if code, ans := target.do(t, http.MethodPut, "/docs", fmt.Sprintf(`{"settings":{"number_of_shards":%d,"index.gc_deletes":"500ms"}}`, shards)); code != 200 {
		t.Fatalf("target index: %d %s", code, ans)
	}
	src := func(id string) string { return fmt.Sprintf(`{"id":%q,"v":1}`, id) }
	all := docIDs("d", 0, n)
	seed(t, primary, target, "docs", all, src)
	t.Logf("seeded %d documents in %v", n, time.Since(start))

	// missing: new documents the target never got
	missing := docIDs("new", 0, 100)
	primaryOnly(t, primary, "docs", missing, src)
	// extra: deletes the target never got
	extra := all[0:100]
	bulkOK(t, primary, deleteBody("docs", extra))
	// stale: updates the target never got; it keeps the older version
	stale := all[100:200]
	primaryOnly(t, primary, "docs", stale, func(id string) string { return fmt.Sprintf(`{"id":%q,"v":2}`, id) })
	// bypassed: written on the target directly, with internal versions: one above the
	// replicated version, and above the primary's, so that the target refuses the
	// primary's document (as it refuses the stream's writes of it) until the repair
	// has deleted its copy and the target has forgotten that delete
	bypassed := all[200:300]
	bulkOK(t, target, bulkBody("docs", bypassed, func(id string) string { return fmt.Sprintf(`{"id":%q,"v":1,"local":true}`, id) }))

	args := []string{"verify", "--cluster", "dr", "--primary", primary.url, "--target", target.url, "--max-diffs", "5"}
	var rep converge.Report
	cliJSON(t, 1, &rep, deps{}, args...)
	if rep.Missing != 100 || rep.Extra != 100 || rep.Different != 200 || len(rep.Diffs) != 5 {
		t.Fatalf("fast verify: want 100 missing, 100 extra, 200 different, 5 listed; got %v", &rep)
	}

	var dry repairOutput
	cliJSON(t, 1, &dry, deps{}, append(args, "--repair", "--dry-run")...)
	if !dry.Repair.DryRun || replicator.KindTotal(dry.Repair.Found) != 400 || replicator.KindTotal(dry.Repair.Repaired) != 400 ||
		dry.Repair.Indexed != 300 || dry.Repair.Deleted != 200 || replicator.KindTotal(dry.Repair.Failed) != 0 {
		t.Fatalf("--dry-run: want 400 found and would-be-repaired (300 indexed, 200 deleted); got %+v", dry.Repair)
	}
	if again := compareNow(t, primary, target); again.Missing != 100 || again.Extra != 100 || again.Different != 200 {
		t.Fatalf("--dry-run changed the target: %v", again)
	}

	r := cli(t, t.Context(), deps{}, nil, append(args, "--repair", "--repair-batch", "128")...)
	if r.code != 0 {
		t.Fatalf("--repair: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"repair: 400 differences: 400 repaired, 0 already newer on the target, 0 failed (300 indexed, 200 deleted)",
		"missing  found 100, repaired 100", "extra    found 100, repaired 100", "version  found 200, repaired 200"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--repair output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "found, ") || !strings.Contains(r.stderr, "repaired, ") {
		t.Errorf("--repair: no progress line with the repair's counts on stderr:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "for the target to forget the deletes of 100 copies written outside replication") {
		t.Errorf("--repair: stderr does not say what it waits for:\n%s", r.stderr)
	}
	for _, mode := range []string{"fast", "full"} {
		var clean converge.Report
		cliJSON(t, 0, &clean, deps{}, append(args, "--mode", mode)...)
		if !clean.Converged() || clean.Compared != n {
			t.Fatalf("after --repair, %s verify: want %d documents in step, got %v", mode, n, &clean)
		}
	}
	if src, _, found := target.doc(t, "docs", stale[1], routingOf(stale[1])); !found || src["v"] != float64(2) {
		t.Errorf("stale document %s after the repair: %v (found %v), want v 2", stale[1], src, found)
	}
	if src, _, found := target.doc(t, "docs", bypassed[1], routingOf(bypassed[1])); !found || src["local"] != nil {
		t.Errorf("document %s written outside replication, after the repair: %v (found %v), want the primary's", bypassed[1], src, found)
	}
	if _, _, found := target.doc(t, "docs", extra[3], routingOf(extra[3])); found {
		t.Errorf("extra document %s survived the repair", extra[3])
	}
	t.Logf("%d documents: %v in all", n, time.Since(start))
}

// TestVerifyRepairRouting: a target holding a document under the wrong routing gets the
// right one and loses the wrong copy, whether the two routings reach the same shard
// (one difference, routing) or not (missing and extra).
func TestVerifyRepairRouting(t *testing.T) {
	primary, target := startEmulator(t, "primary"), startEmulator(t, "dr")
	primary.createIndex(t, "docs")
	target.createIndex(t, "docs")
	seed(t, primary, target, "docs", docIDs("d", 0, 20), func(id string) string { return `{"a":1}` })
	// The same id on the target only, under other routings: u1 and u3 reach the same
	// one of 3 shards, u1 and u2 not (converge's TestCompare shows both).
	for _, c := range []struct{ id, primaryRouting, targetRouting string }{{"same", "u1", "u3"}, {"across", "u1", "u2"}} {
		status, ans := primary.do(t, http.MethodPut, "/docs/_doc/"+c.id+"?routing="+c.primaryRouting, `{"right":true}`)
		if status != 201 {
			t.Fatalf("primary: %d %s", status, ans)
		}
		if status, ans := target.do(t, http.MethodPut, "/docs/_doc/"+c.id+"?routing="+c.targetRouting+"&version=5&version_type=external", `{"right":false}`); status != 201 {
			t.Fatalf("target: %d %s", status, ans)
		}
	}
	args := []string{"verify", "--cluster", "dr", "--primary", primary.url, "--target", target.url}
	var rep converge.Report
	cliJSON(t, 1, &rep, deps{}, args...)
	if rep.Different != 1 || rep.Missing != 1 || rep.Extra != 1 {
		t.Fatalf("want 1 routing difference, 1 missing and 1 extra; got %v", &rep)
	}
	var out repairOutput
	cliJSON(t, 0, &out, deps{}, append(args, "--repair")...)
	if out.Repair.Repaired[converge.Routing] != 1 || out.Repair.Repaired[converge.Missing] != 1 || out.Repair.Repaired[converge.Extra] != 1 {
		t.Fatalf("want each repaired; got %+v", out.Repair)
	}
	cliJSON(t, 0, nil, deps{}, append(args, "--mode", "full")...)
	for _, id := range []string{"same", "across"} {
		if src, _, found := target.doc(t, "docs", id, "u1"); !found || src["right"] != true {
			t.Errorf("%s under the right routing after the repair: %v (found %v)", id, src, found)
		}
	}
	if _, _, found := target.doc(t, "docs", "across", "u2"); found {
		t.Error("the copy under the wrong routing survived the repair")
	}
}

// TestVerifyRepairConcurrentWrite: a document written again on the primary and streamed
// to the target between the repair's lookup and its write is not rolled back: the
// stream's newer version wins, and the repair counts it as already newer.
func TestVerifyRepairConcurrentWrite(t *testing.T) {
	primary, target := startEmulator(t, "primary"), startEmulator(t, "dr")
	primary.createIndex(t, "docs")
	target.createIndex(t, "docs")
	ids := docIDs("d", 0, 50)
	seed(t, primary, target, "docs", ids, func(id string) string { return `{"v":1}` })
	hot, cold := ids[7], ids[8] // both stale on the target; hot is written again mid-repair
	primaryOnly(t, primary, "docs", []string{hot, cold}, func(string) string { return `{"v":2}` })

	var once sync.Once
	hooks := repairHooks{BeforeApply: func(ctx context.Context, ops []*opspb.Operation) {
		once.Do(func() {
			// the stream: the primary takes v3, the replicator applies it
			seed(t, primary, target, "docs", []string{hot}, func(string) string { return `{"v":3}` })
		})
	}}
	args := []string{"verify", "--cluster", "dr", "--primary", primary.url, "--target", target.url, "--repair", "-o", "json"}
	r := cli(t, t.Context(), deps{repair: hooks}, nil, args...)
	var out repairOutput
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil {
		t.Fatalf("--repair: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out.Repair.AlreadyNewer[converge.Version] != 1 || out.Repair.Repaired[converge.Version] != 1 {
		t.Fatalf("want 1 repaired and 1 already newer, got %+v", out.Repair)
	}
	if src, _, _ := target.doc(t, "docs", hot, routingOf(hot)); src["v"] != float64(3) {
		t.Fatalf("the repair rolled %s back: %v, want the stream's v 3", hot, src)
	}
	if rep := compareNow(t, primary, target); !rep.Converged() {
		t.Fatalf("after the repair: %v", rep)
	}
}

// downAfter is a primary's front that goes down — every request from then on has its
// connection closed — at the n-th lookup on the primary (POST /_mget, resolve's), not
// counting comparisons' (/{index}/_mget).
type downAfter struct {
	mu    sync.Mutex
	n     int
	down  bool
	proxy *httputil.ReverseProxy
}

func (d *downAfter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	if r.Method == http.MethodPost && r.URL.Path == "/_mget" {
		d.n--
		if d.n <= 0 {
			d.down = true
		}
	}
	down := d.down
	d.mu.Unlock()
	if !down {
		d.proxy.ServeHTTP(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func startDownAfter(t *testing.T, upstream string, n int) string {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DialContext: (&net.Dialer{}).DialContext, DisableKeepAlives: true}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = tr
	srv := httptest.NewServer(&downAfter{n: n, proxy: rp})
	t.Cleanup(func() { srv.Close(); tr.CloseIdleConnections() })
	return srv.URL
}

// TestVerifyRepairPrimaryDown: the primary going down during a repair stops it with
// exit 1 and one line saying why; what the report claims is what was written — the
// batches before — and the rest of the target is untouched.
func TestVerifyRepairPrimaryDown(t *testing.T) {
	primary, target := startEmulator(t, "primary"), startEmulator(t, "dr")
	primary.createIndex(t, "docs")
	target.createIndex(t, "docs")
	seed(t, primary, target, "docs", docIDs("d", 0, 30), func(string) string { return `{"v":1}` })
	primaryOnly(t, primary, "docs", docIDs("new", 0, 6), func(string) string { return `{"v":1}` })

	front := startDownAfter(t, primary.url, 2) // the first batch resolves, the second not
	args := []string{"verify", "--cluster", "dr", "--primary", front, "--target", target.url, "--repair", "--repair-batch", "2", "-o", "json"}
	r := cli(t, t.Context(), deps{}, nil, args...)
	if r.code != 1 {
		t.Fatalf("primary down: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if last := lines[len(lines)-1]; len(lines) != 1 || !strings.Contains(last, "verify --repair of dr stopped") || !strings.Contains(last, "primary") {
		t.Errorf("want one line saying the repair stopped on the primary, got:\n%s", r.stderr)
	}
	var out repairOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("the report of what was done: %v\n%s", err, r.stdout)
	}
	if replicator.KindTotal(out.Repair.Repaired) != 2 || replicator.KindTotal(out.Repair.Failed) != 0 || out.Repair.Indexed != 2 {
		t.Fatalf("want exactly the first batch (2) claimed repaired, none failed; got %+v", out.Repair)
	}
	if rep := compareNow(t, primary, target); rep.Missing != 4 || rep.Extra+rep.Different != 0 {
		t.Fatalf("want the 4 documents of later batches still missing, nothing else touched; got %v", rep)
	}
}

// TestVerifyRepairUsage: flags that do not go together exit 2, before anything is
// compared.
func TestVerifyRepairUsage(t *testing.T) {
	base := []string{"verify", "--cluster", "dr", "--primary", "http://127.0.0.1:1", "--target", "http://127.0.0.1:1"}
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--dry-run"}, "--dry-run goes with --repair"},
		{[]string{"--repair", "--repair-batch", "0"}, "--repair-batch must be between"},
		{[]string{"--repair", "--repair-batch", "20000"}, "--repair-batch must be between"},
		{[]string{"--repair", "--metadata"}, "not metadata"},
		{[]string{"--repair", "--dry-run=maybe"}, "invalid boolean"},
	} {
		r := cli(t, t.Context(), deps{}, nil, append(base, tc.flags...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q\n%s", tc.flags, r.code, tc.want, r.stderr)
		}
	}
}

// TestVerifyRepairRefused: a document the target refuses (its mapping does not take the
// primary's source) fails the repair: exit 1, the cause on one line of stderr and in the
// report, the other differences repaired; into a renamed target index, as the
// replicator writes it.
func TestVerifyRepairRefused(t *testing.T) {
	primary, target := startEmulator(t, "primary"), startEmulator(t, "dr")
	primary.createIndex(t, "books")
	target.createIndex(t, "books-dr", `{"properties":{"n":{"type":"long"}}}`)
	seed2 := func(id, src string) {
		if code, ans := primary.do(t, http.MethodPut, "/books/_doc/"+id, src); code != 201 {
			t.Fatalf("primary: %d %s", code, ans)
		}
	}
	seed2("bad", `{"n":"not a number"}`) // first: the primary maps n as text
	seed2("ok", `{"n":1}`)
	env := []string{"FANOUT_INDICES_RENAME={index}-dr"}
	args := []string{"verify", "--cluster", "dr", "--primary", primary.url, "--target", target.url, "--repair"}
	r := cli(t, t.Context(), deps{}, env, args...)
	if r.code != 1 {
		t.Fatalf("a refused document: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "1 of 2 differences of dr could not be repaired") ||
		!strings.Contains(last, "missing books/bad") || !strings.Contains(last, "mapper_parsing_exception") {
		t.Errorf("stderr's last line does not give the cause:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, "repair: 2 differences: 1 repaired, 0 already newer on the target, 1 failed") ||
		!strings.Contains(r.stdout, "failed missing books/bad: HTTP 400 mapper_parsing_exception") {
		t.Errorf("report:\n%s", r.stdout)
	}
	if src, _, found := target.doc(t, "books-dr", "ok", ""); !found || src["n"] != float64(1) {
		t.Errorf("the repairable document: %v (found %v)", src, found)
	}
	var out repairOutput
	rj := cli(t, t.Context(), deps{}, env, append(args, "-o", "json")...)
	if rj.code != 1 || json.Unmarshal([]byte(rj.stdout), &out) != nil || out.Repair.Failed[converge.Missing] != 1 ||
		len(out.Repair.Failures) != 1 || out.Repair.Failures[0].ID != "bad" || out.Missing != 1 {
		t.Fatalf("-o json: exit %d, %+v\n%s%s", rj.code, out.Repair, rj.stdout, rj.stderr)
	}
}

// TestVerifyRepairResolvesAtRepairTime: what the repair writes is the primary's state
// when it repairs, not what the comparison saw: a stale document deleted on the primary
// since is deleted on the target (at the target's version + 1), an extra one written
// again on the primary since is indexed.
func TestVerifyRepairResolvesAtRepairTime(t *testing.T) {
	primary, target := startEmulator(t, "primary"), startEmulator(t, "dr")
	primary.createIndex(t, "docs")
	target.createIndex(t, "docs")
	ids := docIDs("d", 0, 20)
	seed(t, primary, target, "docs", ids, func(string) string { return `{"v":1}` })
	// gone: stale on the target (routed); back: extra on the target (not routed)
	gone, back := ids[3], ids[4]
	primaryOnly(t, primary, "docs", []string{gone}, func(string) string { return `{"v":2}` })
	bulkOK(t, primary, deleteBody("docs", []string{back}))

	var once sync.Once
	hooks := repairHooks{BeforeResolve: func(ctx context.Context, diffs []converge.Diff) {
		once.Do(func() {
			if len(diffs) != 2 {
				t.Errorf("want both differences in one batch, got %v", diffs)
			}
			bulkOK(t, primary, deleteBody("docs", []string{gone}))
			primaryOnly(t, primary, "docs", []string{back}, func(string) string { return `{"v":3}` })
		})
	}}
	r := cli(t, t.Context(), deps{repair: hooks}, nil, "verify", "--cluster", "dr", "--primary", primary.url, "--target", target.url, "--repair", "-o", "json")
	var out repairOutput
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil {
		t.Fatalf("--repair: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out.Repair.Repaired[converge.Version] != 1 || out.Repair.Repaired[converge.Extra] != 1 || out.Repair.Indexed != 1 || out.Repair.Deleted != 1 {
		t.Fatalf("want the stale document deleted and the extra one indexed; got %+v", out.Repair)
	}
	if _, _, found := target.doc(t, "docs", gone, routingOf(gone)); found {
		t.Errorf("%s, deleted on the primary before the repair, is still on the target", gone)
	}
	if src, _, found := target.doc(t, "docs", back, routingOf(back)); !found || src["v"] != float64(3) {
		t.Errorf("%s, written again on the primary before the repair: %v (found %v), want v 3", back, src, found)
	}
	if rep := compareNow(t, primary, target); !rep.Converged() {
		t.Fatalf("after the repair: %v", rep)
	}
}
