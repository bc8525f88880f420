package fanoutctl

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// replicate writes n documents to the primary's index and copies them to the target's
// as a replicator would: external version = the replication version of the primary's
// answer, same routing.
func replicate(t *testing.T, primary, target *emulator, index, targetIndex string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		path, routing := fmt.Sprintf("/%s/_doc/%d", index, i), ""
		if r := routingOf(fmt.Sprint(i)); r != "" {
			path, routing = path+"?routing="+r, "&routing="+r
		}
		status, body := primary.do(t, http.MethodPut, path, fmt.Sprintf(`{"n":%d}`, i))
		if status != 201 {
			t.Fatalf("primary: %d %s", status, body)
		}
		var ans struct {
			SeqNo int64 `json:"_seq_no"`
			Term  int64 `json:"_primary_term"`
		}
		_ = json.Unmarshal([]byte(body), &ans)
		v, err := event.ReplicationVersion(ans.SeqNo, ans.Term, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		if status, body := target.do(t, http.MethodPut, fmt.Sprintf("/%s/_doc/%d?version=%d&version_type=external%s", targetIndex, i, v, routing), fmt.Sprintf(`{"n":%d}`, i)); status != 201 {
			t.Fatalf("target: %d %s", status, body)
		}
	}
}

// TestVerify: verify exits 0 when a target holds exactly the primary's documents at
// their replication versions, and 1, naming the documents, when it does not; fast mode
// (the default) sees a changed document by its version, full mode by its fields.
func TestVerify(t *testing.T) {
	primary, target := startEmulator(t, "primary"), startEmulator(t, "dr")
	primary.createIndex(t, "books")
	target.createIndex(t, "books-dr")
	replicate(t, primary, target, "books", "books-dr", 30)
	// An index the target does not replicate (indices.exclude) is not compared.
	primary.do(t, http.MethodPut, "/private/_doc/1", `{"secret":true}`)

	env := []string{"FANOUT_INDICES_RENAME={index}-dr", "FANOUT_INDICES_EXCLUDE=private*"}
	args := []string{"verify", "--cluster", "dr", "--primary", primary.url, "--target", target.url}

	for _, mode := range []string{"fast", "full"} {
		var rep converge.Report
		r := cli(t, t.Context(), deps{}, env, append(args, "--mode", mode, "-o", "json")...)
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil || !rep.Converged() || rep.Compared != 30 || string(rep.Mode) != mode {
			t.Fatalf("in step, %s mode: exit %d\n%s%s", mode, r.code, r.stdout, r.stderr)
		}
		if r.stderr != "" {
			t.Errorf("-o json: want no progress on stderr, got %q", r.stderr)
		}
	}

	// A changed (routed) document, a delete that never arrived, and a write that never
	// arrived.
	target.do(t, http.MethodPut, "/books-dr/_doc/3?routing="+routingOf("3")+"&version=99999999999999&version_type=external", `{"n":-3}`)
	primary.do(t, http.MethodDelete, "/books/_doc/4", "")
	primary.do(t, http.MethodPut, "/books/_doc/new", `{"n":99}`)
	for _, tc := range []struct {
		flags []string
		want  []string
	}{
		{nil, []string{"1 missing, 1 extra, 1 different", "missing books/new", "extra books/4", "fast mode",
			"version books/3 (replica books-dr): replica _version 99999999999999"}},
		{[]string{"--mode", "full"}, []string{"1 missing, 1 extra, 1 different", "missing books/new", "extra books/4", "full mode",
			"books/3 (replica books-dr): fields differ: n"}},
	} {
		r := cli(t, t.Context(), deps{}, env, append(args, tc.flags...)...)
		if r.code != 1 {
			t.Fatalf("diverged %v: exit %d, want 1\n%s%s", tc.flags, r.code, r.stdout, r.stderr)
		}
		for _, want := range tc.want {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%v: output lacks %q:\n%s", tc.flags, want, r.stdout)
			}
		}
		// stderr is no terminal here: the first page's progress line, then the verdict
		if !strings.Contains(r.stderr, "verify dr: ") || !strings.Contains(r.stderr, " compared, ") || !strings.Contains(r.stderr, "docs/s") {
			t.Errorf("%v: stderr lacks the progress line:\n%s", tc.flags, r.stderr)
		}
	}

	// --index takes patterns, as indices.include does: "boo*" is books
	var rep converge.Report
	r := cli(t, t.Context(), deps{}, env, append(args, "--index", "boo*", "-o", "json")...)
	if r.code != 1 || json.Unmarshal([]byte(r.stdout), &rep) != nil || len(rep.Indices) != 1 || rep.Indices[0] != "books" || rep.Missing != 1 || rep.Extra != 1 {
		t.Fatalf("--index boo*: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	if r := cli(t, t.Context(), deps{}, nil, "verify", "--cluster", "dr"); r.code != 2 || !strings.Contains(r.stderr, "--target is required") {
		t.Errorf("without a target: exit %d %s", r.code, r.stderr)
	}
	for _, bad := range [][]string{{"--mode", "quick"}, {"--sample", "-1"}} {
		if r := cli(t, t.Context(), deps{}, env, append(args, bad...)...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)\n%s", bad, r.code, r.stderr)
		}
	}
	if r := cli(t, t.Context(), deps{}, env, append(args, "--no-versions")...); r.code != 1 || !strings.Contains(r.stderr, "compares only which documents exist") {
		t.Errorf("--no-versions in fast mode: exit %d, want 1 and a note on what it compares\n%s", r.code, r.stderr)
	}
}

// TestVerifySample: --sample compares that many documents, spread over the indices.
func TestVerifySample(t *testing.T) {
	primary, target := startEmulator(t, "primary"), startEmulator(t, "dr")
	replicate(t, primary, target, "a", "a", 40)
	replicate(t, primary, target, "b", "b", 20)
	var rep converge.Report
	cliJSON(t, 0, &rep, deps{}, "verify", "--cluster", "dr", "--primary", primary.url, "--target", target.url, "--sample", "15")
	if rep.Compared != 15 || rep.Sample != 15 || !rep.Converged() {
		t.Fatalf("want 15 sampled documents compared, converged; got %+v", rep)
	}
	// the target lacks every document of b: a fifth of the sample finds them missing
	target.do(t, http.MethodDelete, "/b", "")
	r := cliJSON(t, 1, &rep, deps{}, "verify", "--cluster", "dr", "--primary", primary.url, "--target", target.url, "--sample", "15")
	if rep.Compared != 15 || rep.Missing != 5 {
		t.Fatalf("want 5 of 15 sampled documents missing (b's share), got %+v\n%s", rep, r.stderr)
	}
}

// TestVerifyElasticsearch8: verify works against Elasticsearch 8, which refuses the _id
// sort converge used to page with; it pages through points in time instead, and closes
// them.
func TestVerifyElasticsearch8(t *testing.T) {
	es8 := func(o *searchemu.Options) { o.Flavor = searchemu.Elasticsearch8 }
	primary, target := startEmulator(t, "primary", es8), startEmulator(t, "dr", es8)
	replicate(t, primary, target, "books", "books", 25)
	target.do(t, http.MethodDelete, "/books/_doc/7?routing="+routingOf("7"), "")
	for _, mode := range []string{"fast", "full"} {
		var rep converge.Report
		cliJSON(t, 1, &rep, deps{}, "verify", "--cluster", "dr", "--primary", primary.url, "--target", target.url, "--mode", mode)
		if rep.Compared != 25 || rep.Missing != 1 || rep.Different != 0 || rep.PrimaryPaging != converge.PagingPIT {
			t.Fatalf("%s: want 25 compared, 1 missing, through points in time; got %+v", mode, rep)
		}
		for _, em := range []*emulator{primary, target} {
			if scrolls, pits := em.OpenContexts(); scrolls+pits != 0 {
				t.Errorf("%s: %d scrolls, %d points in time left open", mode, scrolls, pits)
			}
		}
	}
}
