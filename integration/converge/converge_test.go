package converge_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/testbed/searchemu/emutest"
)

// emulator starts an in-memory cluster and returns a client for it.
func emulator(t *testing.T) *opensearch.Client {
	t.Helper()
	return emutest.Start(t, "emulator").Client(t)
}

// do sends one request and fails the test unless the answer is 2xx.
func do(t *testing.T, c *opensearch.Client, method, path, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := c.Perform(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 || bytes.Contains(raw, []byte(`"errors":true`)) {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return raw
}

type doc struct {
	index, id, routing, source string
	version                    int64 // external version on the replica; 0 = internal
}

// shards is the number of primary shards of the indices load creates: several, so that
// a checker that looked documents up without their routing would miss routed ones on a
// real cluster.
const shards = 3

// createIndices creates, with shards primary shards, each index of docs that c does not
// hold yet.
func createIndices(t *testing.T, c *opensearch.Client, docs []doc) {
	t.Helper()
	seen := map[string]bool{}
	for _, d := range docs {
		if seen[d.index] {
			continue
		}
		seen[d.index] = true
		req, err := http.NewRequest(http.MethodHead, "/"+d.index, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Perform(req)
		if err != nil {
			t.Fatalf("HEAD /%s: %v", d.index, err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			do(t, c, http.MethodPut, "/"+d.index, fmt.Sprintf(`{"settings":{"number_of_shards":%d}}`, shards))
		}
	}
}

// load bulk-writes docs, 1,000 per request, into indices of several shards.
func load(t *testing.T, c *opensearch.Client, docs []doc) {
	t.Helper()
	createIndices(t, c, docs)
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			do(t, c, http.MethodPost, "/_bulk", b.String())
			b.Reset()
		}
	}
	for i, d := range docs {
		meta := fmt.Sprintf(`"_index":%q,"_id":%q`, d.index, d.id)
		if d.routing != "" {
			meta += fmt.Sprintf(`,"routing":%q`, d.routing)
		}
		if d.version > 0 {
			meta += fmt.Sprintf(`,"version":%d,"version_type":"external"`, d.version)
		}
		fmt.Fprintf(&b, "{\"index\":{%s}}\n%s\n", meta, d.source)
		if i%1000 == 999 {
			flush()
		}
	}
	flush()
}

// corpus is n documents of index; every fourth one (i%4 == 3) routed.
func corpus(index string, n int) []doc {
	docs := make([]doc, n)
	for i := range docs {
		docs[i] = doc{index: index, id: fmt.Sprintf("doc-%05d", i),
			source: fmt.Sprintf(`{"n":%d,"name":"item %d","tags":["a","b"],"nested":{"x":%d}}`, i, i, i%7)}
		if i%4 == 3 {
			docs[i].routing = fmt.Sprintf("u%d", i%5)
		}
	}
	return docs
}

func compare(t *testing.T, p, r *opensearch.Client, opts converge.Options) *converge.Report {
	t.Helper()
	opts.Refresh = true
	rep, err := converge.Compare(context.Background(), p, r, opts)
	if err != nil {
		t.Fatalf("Compare: %v", err)
	}
	return rep
}

// TestFindsOneChangeAmongTenThousand is the acceptance case: one changed field in
// one document among 10,000, and a delete that never reached the replica.
func TestFindsOneChangeAmongTenThousand(t *testing.T) {
	p, r := emulator(t), emulator(t)
	docs := corpus("books", 10000)
	load(t, p, docs)
	load(t, r, docs)

	if rep := compare(t, p, r, converge.Options{PageSize: 700}); !rep.Converged() || rep.Compared != 10000 {
		t.Fatalf("identical clusters: want converged with 10000 compared, got %v", rep)
	}

	// One field of one routed document changes on the replica only (written with its
	// routing, so it replaces the document).
	changed := docs[6543]
	if changed.routing == "" || docs[43].routing == "" {
		t.Fatal("the changed and the deleted document must be routed ones")
	}
	changed.source = strings.Replace(changed.source, `"nested":{"x":5}`, `"nested":{"x":6}`, 1)
	load(t, r, []doc{changed})
	// One routed document is deleted on the primary only: the delete never arrived.
	do(t, p, http.MethodDelete, "/books/_doc/doc-00043?routing="+docs[43].routing, "")

	rep := compare(t, p, r, converge.Options{PageSize: 700})
	if rep.Converged() {
		t.Fatalf("want differences, got converged: %v", rep)
	}
	if rep.Compared != 9999 || rep.Missing != 0 || rep.Extra != 1 || rep.Different != 1 {
		t.Fatalf("want 9999 compared, 0 missing, 1 extra, 1 different; got %v", rep)
	}
	want := map[string]converge.Diff{
		"doc-06543": {Kind: converge.Source, Index: "books", ReplicaIndex: "books", ID: "doc-06543", Detail: "fields differ: nested.x",
			Routing: changed.routing, ReplicaRouting: changed.routing, ReplicaVersion: 2},
		"doc-00043": {Kind: converge.Extra, Index: "books", ReplicaIndex: "books", ID: "doc-00043",
			ReplicaRouting: docs[43].routing, ReplicaVersion: 1},
	}
	for _, d := range rep.Diffs {
		if want[d.ID] != d {
			t.Errorf("diff %+v, want %+v", d, want[d.ID])
		}
		delete(want, d.ID)
	}
	if len(want) > 0 {
		t.Errorf("differences not reported: %v", want)
	}
}

func TestCompare(t *testing.T) {
	base := corpus("t", 25)
	tests := []struct {
		name    string
		primary []doc
		replica []doc
		opts    converge.Options
		want    converge.Report // counts only
		kinds   []converge.Kind
	}{
		{
			name:    "identical",
			primary: base, replica: base,
		},
		{
			name:    "missing on the replica",
			primary: base, replica: base[:20],
			want:  converge.Report{Missing: 5},
			kinds: []converge.Kind{converge.Missing, converge.Missing, converge.Missing, converge.Missing, converge.Missing},
		},
		{
			name:    "replica index absent",
			primary: base,
			opts:    converge.Options{Indices: []string{"t"}},
			want:    converge.Report{Missing: 25},
			kinds:   repeat(converge.Missing, 25),
		},
		{
			name:    "key order and spacing do not matter",
			primary: []doc{{index: "t", id: "1", source: `{"a":1,"b":{"c":[1,2]}}`}},
			replica: []doc{{index: "t", id: "1", source: `{ "b": {"c": [1, 2]}, "a": 1.0 }`}},
		},
		{
			name:    "exact bytes",
			primary: []doc{{index: "t", id: "1", source: `{"a":1,"b":2}`}},
			replica: []doc{{index: "t", id: "1", source: `{"b":2,"a":1}`}},
			opts:    converge.Options{ExactBytes: true},
			want:    converge.Report{Different: 1},
			kinds:   []converge.Kind{converge.Source},
		},
		{
			name:    "array order matters",
			primary: []doc{{index: "t", id: "1", source: `{"a":[1,2]}`}},
			replica: []doc{{index: "t", id: "1", source: `{"a":[2,1]}`}},
			want:    converge.Report{Different: 1},
			kinds:   []converge.Kind{converge.Source},
		},
		{
			// u1 and u3 both route to shard 1 of 3: the lookup with the primary's routing
			// finds the replica's document, stored under another routing
			name:    "routing differs on the same shard",
			primary: []doc{{index: "t", id: "1", routing: "u1", source: `{}`}},
			replica: []doc{{index: "t", id: "1", routing: "u3", source: `{}`}},
			want:    converge.Report{Different: 1},
			kinds:   []converge.Kind{converge.Routing},
		},
		{
			// u1 routes to shard 1, u2 to shard 2: each side's lookup with its own routing
			// reaches a shard of the other side that does not hold the id, as on a real
			// cluster
			name:    "routing differs across shards",
			primary: []doc{{index: "t", id: "1", routing: "u1", source: `{}`}},
			replica: []doc{{index: "t", id: "1", routing: "u2", source: `{}`}},
			want:    converge.Report{Missing: 1, Extra: 1},
			kinds:   []converge.Kind{converge.Missing, converge.Extra},
		},
		{
			name:    "same routing",
			primary: []doc{{index: "t", id: "1", routing: "u1", source: `{"a":1}`}},
			replica: []doc{{index: "t", id: "1", routing: "u1", source: `{"a":1}`}},
		},
		{
			name:    "versions checked",
			primary: []doc{{index: "t", id: "1", source: `{}`}, {index: "t", id: "2", source: `{}`}},
			replica: []doc{{index: "t", id: "1", source: `{}`, version: 1}, {index: "t", id: "2", source: `{}`, version: 7}},
			opts:    converge.Options{ExpectVersion: converge.ExactVersions},
			want:    converge.Report{Different: 1},
			kinds:   []converge.Kind{converge.Version},
		},
		{
			name:    "renamed replica index",
			primary: base,
			replica: rename(base, "t-dr"),
			opts:    converge.Options{ReplicaIndex: func(s string) string { return s + "-dr" }},
		},
		{
			name:    "extra replica index",
			primary: base,
			replica: append(append([]doc{}, base...), doc{index: "other", id: "x", source: `{}`}),
			want:    converge.Report{ExtraIndices: []string{"other"}},
		},
		{
			name:    "include filter skips an index and extra indices",
			primary: append(append([]doc{}, base...), doc{index: "private", id: "p", source: `{}`}),
			replica: append(append([]doc{}, base...), doc{index: "own", id: "x", source: `{}`}),
			opts:    converge.Options{Include: func(ix string) bool { return ix != "private" }},
		},
		{
			name:    "diffs capped, counts exact",
			primary: base,
			opts:    converge.Options{Indices: []string{"t"}, MaxDiffs: 3},
			want:    converge.Report{Missing: 25},
			kinds:   []converge.Kind{converge.Missing, converge.Missing, converge.Missing},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, r := emulator(t), emulator(t)
			load(t, p, tt.primary)
			load(t, r, tt.replica)
			tt.opts.PageSize = 4 // several pages even for small corpora
			rep := compare(t, p, r, tt.opts)
			if rep.Missing != tt.want.Missing || rep.Extra != tt.want.Extra || rep.Different != tt.want.Different ||
				fmt.Sprint(rep.ExtraIndices) != fmt.Sprint(tt.want.ExtraIndices) {
				t.Fatalf("got %v\nwant missing %d, extra %d, different %d, extra indices %v",
					rep, tt.want.Missing, tt.want.Extra, tt.want.Different, tt.want.ExtraIndices)
			}
			if tt.kinds != nil || len(rep.Diffs) > 0 {
				var kinds []converge.Kind
				for _, d := range rep.Diffs {
					kinds = append(kinds, d.Kind)
				}
				if fmt.Sprint(kinds) != fmt.Sprint(tt.kinds) {
					t.Fatalf("diff kinds %v, want %v (%v)", kinds, tt.kinds, rep)
				}
			}
			if rep.Converged() != (tt.want.Missing+tt.want.Extra+tt.want.Different+len(tt.want.ExtraIndices) == 0) {
				t.Fatalf("Converged() = %v for %v", rep.Converged(), rep)
			}
		})
	}
}

// TestCompareOnDiff: OnDiff is handed every difference, past MaxDiffs, with what a
// repair needs to address both copies; its error stops the comparison.
func TestCompareOnDiff(t *testing.T) {
	p, r := emulator(t), emulator(t)
	base := corpus("t", 40)
	load(t, p, base)
	replica := append([]doc{}, base[10:]...) // 10 missing
	replica[0].source = `{"changed":true}`   // doc-00010 differs
	replica[0].version = 9
	replica = append(replica, doc{index: "t", id: "extra", routing: "u2", source: `{}`, version: 5})
	load(t, r, replica)

	var got []converge.Diff
	rep := compare(t, p, r, converge.Options{Mode: converge.Fast, PageSize: 7, MaxDiffs: 2, ExpectVersion: converge.ExactVersions,
		OnDiff: func(d converge.Diff) error { got = append(got, d); return nil }})
	if rep.Missing != 10 || rep.Extra != 1 || rep.Different != 1 || len(rep.Diffs) != 2 {
		t.Fatalf("want 10 missing, 1 extra, 1 different, 2 listed; got %v", rep)
	}
	if len(got) != 12 {
		t.Fatalf("OnDiff saw %d differences, want all 12: %v", len(got), got)
	}
	kinds := map[converge.Kind]int{}
	for _, d := range got {
		kinds[d.Kind]++
		switch d.ID {
		case "extra":
			if d.Kind != converge.Extra || d.ReplicaRouting != "u2" || d.ReplicaVersion != 5 {
				t.Errorf("extra: %+v, want kind extra, replica routing u2, version 5", d)
			}
		case "doc-00010":
			if d.Kind != converge.Version || d.ReplicaVersion != 9 {
				t.Errorf("doc-00010: %+v, want kind version, replica version 9", d)
			}
		case "doc-00003":
			if d.Kind != converge.Missing || d.Routing != base[3].routing || d.Routing == "" {
				t.Errorf("doc-00003: %+v, want missing with routing %q", d, base[3].routing)
			}
		}
	}
	if kinds[converge.Missing] != 10 || kinds[converge.Extra] != 1 || kinds[converge.Version] != 1 {
		t.Errorf("OnDiff kinds %v", kinds)
	}

	stop := errors.New("stop")
	calls := 0
	_, err := converge.Compare(context.Background(), p, r, converge.Options{PageSize: 7,
		OnDiff: func(converge.Diff) error { calls++; return stop }})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("OnDiff's error: Compare returned %v after %d calls, want it after 1", err, calls)
	}
}

func repeat(k converge.Kind, n int) []converge.Kind {
	out := make([]converge.Kind, n)
	for i := range out {
		out[i] = k
	}
	return out
}

func rename(docs []doc, index string) []doc {
	out := make([]doc, len(docs))
	for i, d := range docs {
		d.index = index
		out[i] = d
	}
	return out
}

func TestCompareUnreachable(t *testing.T) {
	p := emulator(t)
	dead, err := opensearch.NewClient(opensearch.Config{Addresses: []string{"http://127.0.0.1:1"}, DisableRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := converge.Compare(context.Background(), p, dead, converge.Options{Indices: []string{"t"}}); err == nil {
		t.Fatal("want an error for an unreachable replica")
	}
}
