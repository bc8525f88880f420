package conformance_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// catText sends a CatIndicesReq without the format=json the client adds, so the answer is
// the text table (RestTable.buildTextPlainResponse), with extra parameters set.
func (e *emu) catText(t testing.TB, req opensearchapi.CatIndicesReq, extra url.Values) *resp {
	t.Helper()
	hr, err := req.GetRequest(http.MethodGet)
	if err != nil {
		t.Fatalf("building cat request: %v", err)
	}
	q := hr.URL.Query()
	q.Del("format")
	for k, v := range extra {
		q[k] = v
	}
	hr.URL.RawQuery = q.Encode()
	return e.send(t, hr)
}

func wantText(t testing.TB, r *resp, re string) {
	t.Helper()
	if !wantStatus(t, r, 200) {
		return
	}
	if !regexp.MustCompile(re).Match(r.Body) {
		t.Errorf("%s: body %q does not match %s", r.desc, r.Body, re)
	}
}

// TestCatIndicesTable follows rest-api-spec cat.indices/10_basic.yml, RestIndicesAction,
// RestTable and AbstractCatAction.
func TestCatIndicesTable(t *testing.T) {
	t.Parallel()
	const uuid = `[A-Za-z0-9_-]{22}`

	t.Run("no indices", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		wantText(t, e.catText(t, opensearchapi.CatIndicesReq{}, nil), `^$`)
	})

	t.Run("default columns and creation dates", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		e.createIndex(t, "index1", `{"settings":{"number_of_shards":"1","number_of_replicas":"0"}}`)
		wantText(t, e.catText(t, opensearchapi.CatIndicesReq{}, nil), `^green open index1 `+uuid+` 1 0 0 0 \d+(\.\d+)?(kb|b) \d+(\.\d+)?(kb|b)\n$`)
		wantText(t, e.catText(t, opensearchapi.CatIndicesReq{Params: opensearchapi.CatIndicesParams{V: ptr(false), H: []string{"i", "cd", "cds", "creation.date", "creation.date.string"}}}, nil),
			`^index1 (\d+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\d+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\n$`)
	})

	t.Run("closed index", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		e.createIndex(t, "index-2", `{"settings":{"number_of_shards":3,"number_of_replicas":0}}`)
		e.do(t, http.MethodPost, opensearchapi.IndicesCloseReq{Index: "index-2"})
		wantText(t, e.catText(t, opensearchapi.CatIndicesReq{Indices: []string{"index-*"}}, nil), `^green close index-2 `+uuid+` 3 0    \n$`)
		r := e.catText(t, opensearchapi.CatIndicesReq{Params: opensearchapi.CatIndicesParams{ExpandWildcards: "open"}}, nil)
		wantText(t, r, `^$`)
	})

	t.Run("health filter", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		e.createIndex(t, "foo", `{"settings":{"number_of_shards":"1","number_of_replicas":"0"}}`)
		e.createIndex(t, "bar", `{"settings":{"number_of_shards":"1","number_of_replicas":"1"}}`)
		wantText(t, e.catText(t, opensearchapi.CatIndicesReq{Params: opensearchapi.CatIndicesParams{Health: "green", H: []string{"index"}}}, nil), `^foo\n$`)
		wantText(t, e.catText(t, opensearchapi.CatIndicesReq{Params: opensearchapi.CatIndicesParams{Health: "yellow", H: []string{"index"}}}, nil), `^bar\n$`)
		r := e.catText(t, opensearchapi.CatIndicesReq{Params: opensearchapi.CatIndicesParams{Health: "invalid-health-value"}}, nil)
		wantError(t, r, 400, "illegal_argument_exception", "unknown cluster health status [invalid-health-value]")
	})

	e := newEmu(t, searchemu.Options{})
	for _, n := range []string{"foo", "bar", "baz"} {
		e.createIndex(t, n, `{"settings":{"number_of_shards":"1","number_of_replicas":"0"}}`)
	}
	t.Run("wildcards", func(t *testing.T) {
		wantText(t, e.catText(t, opensearchapi.CatIndicesReq{Indices: []string{"f*"}, Params: opensearchapi.CatIndicesParams{V: ptr(false), H: []string{"i"}}}, nil), `^foo\n$`)
		wantText(t, e.catText(t, opensearchapi.CatIndicesReq{Indices: []string{"ba*"}, Params: opensearchapi.CatIndicesParams{H: []string{"i"}}}, nil), `^bar\nbaz\n$`)
		r := e.do(t, http.MethodGet, opensearchapi.CatIndicesReq{Indices: []string{"nope"}})
		wantError(t, r, 404, "index_not_found_exception", "no such index [nope]")
	})

	t.Run("sort", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		for _, n := range []string{"foo", "bar", "baz"} {
			e.createIndex(t, n, `{"settings":{"number_of_shards":"1","number_of_replicas":"0"}}`)
		}
		e.do(t, http.MethodPost, opensearchapi.IndicesCloseReq{Index: "bar"})
		h := []string{"status", "index"}
		wantText(t, e.catText(t, opensearchapi.CatIndicesReq{Params: opensearchapi.CatIndicesParams{H: h, Sort: []string{"status", "index"}}}, nil), `^close bar\nopen  baz\nopen  foo\n$`)
		wantText(t, e.catText(t, opensearchapi.CatIndicesReq{Params: opensearchapi.CatIndicesParams{H: h, Sort: []string{"status", "index:desc"}}}, nil), `^close bar\nopen  foo\nopen  baz\n$`)
		r := e.catText(t, opensearchapi.CatIndicesReq{Params: opensearchapi.CatIndicesParams{Sort: []string{"nope"}}}, nil)
		wantError(t, r, 500, "unsupported_operation_exception", "Unable to sort by unknown sort key `nope`")
	})

	t.Run("verbose header aligns like its column", func(t *testing.T) {
		wantText(t, e.catText(t, opensearchapi.CatIndicesReq{Indices: []string{"foo"}, Params: opensearchapi.CatIndicesParams{V: ptr(true), H: []string{"index", "pri", "docs.count"}}}, nil),
			`^index pri docs.count\nfoo     1          0\n$`)
	})

	t.Run("unknown columns are skipped, aliases and siblings shown under their names", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.CatIndicesReq{Indices: []string{"foo"}, Params: opensearchapi.CatIndicesParams{H: []string{"i", "nope", "dc", "ss"}, Primary: ptr(true), Bytes: "b"}})
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `[{"i":"foo","dc":"0","ss":"208","pri.ss":"208"}]`)
		}
	})

	t.Run("wildcard columns", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.CatIndicesReq{Indices: []string{"foo"}, Params: opensearchapi.CatIndicesParams{H: []string{"docs.*"}}})
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `[{"docs.count":"0","docs.deleted":"0"}]`)
		}
	})

	t.Run("yaml", func(t *testing.T) {
		r := e.catText(t, opensearchapi.CatIndicesReq{Indices: []string{"foo"}, Params: opensearchapi.CatIndicesParams{H: []string{"index", "docs.count"}}}, url.Values{"format": {"yaml"}})
		wantText(t, r, `^---\n- index: "foo"\n  docs.count: "0"\n$`)
	})

	t.Run("help", func(t *testing.T) {
		r := e.catText(t, opensearchapi.CatIndicesReq{}, url.Values{"help": {"true"}})
		wantText(t, r, `(?m)\Ahealth +\| h +\| current health status +\n`)
		wantText(t, r, `(?m)^pri +\| p,shards.primary,shardsPrimary +\| number of primary shards +$`)
		if n := strings.Count(string(r.Body), "\n"); n < 100 {
			t.Errorf("help lists every column, got %d lines", n)
		}
	})
}

// TestClusterHealthLevelsAndWaits follows RestClusterHealthAction,
// TransportClusterHealthAction and ClusterHealthResponse / ClusterIndexHealth /
// ClusterShardHealth.toXContent.
func TestClusterHealthLevelsAndWaits(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "two", `{"settings":{"number_of_shards":2,"number_of_replicas":1}}`)

	t.Run("level=shards", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.ClusterHealthReq{Indices: []string{"two"}, Params: opensearchapi.ClusterHealthParams{Level: "shards"}})
		if !wantStatus(t, r, 200) {
			return
		}
		shard := `{"status":"yellow","primary_active":true,"active_shards":1,"relocating_shards":0,"initializing_shards":0,"unassigned_shards":1}`
		wantJSON(t, r.Body, `{"two":{"status":"yellow","number_of_shards":2,"number_of_replicas":1,"active_primary_shards":2,"active_shards":2,"relocating_shards":0,"initializing_shards":0,"unassigned_shards":2,"shards":{"0":`+shard+`,"1":`+shard+`}}}`, "indices")
		wantKeys(t, r.Body, []string{"status", "number_of_shards", "number_of_replicas", "active_primary_shards", "active_shards", "relocating_shards", "initializing_shards", "unassigned_shards", "shards"}, "indices", "two")
		wantKeys(t, r.Body, []string{"status", "primary_active", "active_shards", "relocating_shards", "initializing_shards", "unassigned_shards"}, "indices", "two", "shards", "0")
	})

	t.Run("level=indices has no shards", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.ClusterHealthReq{Params: opensearchapi.ClusterHealthParams{Level: "indices"}})
		if wantStatus(t, r, 200) && has(r.Body, "indices", "two", "shards") {
			t.Errorf("level=indices must not list shards: %s", r.Body)
		}
	})

	t.Run("unsatisfied wait times out with 408", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.ClusterHealthReq{Params: opensearchapi.ClusterHealthParams{WaitForStatus: "green", Timeout: time.Millisecond}})
		if wantStatus(t, r, 408) {
			wantJSON(t, r.Body, `true`, "timed_out")
			wantJSON(t, r.Body, `"yellow"`, "status")
			wantJSON(t, r.Body, `50.0`, "active_shards_percent_as_number")
		}
	})

	t.Run("a missing index is red and times out", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/_cluster/health/missing?timeout=0s", "")
		if wantStatus(t, r, 408) {
			wantJSON(t, r.Body, `"red"`, "status")
			wantJSON(t, r.Body, `true`, "timed_out")
			wantJSON(t, r.Body, `0`, "active_primary_shards")
		}
	})

	t.Run("a wait is answered when the state changes", func(t *testing.T) {
		hr, err := opensearchapi.ClusterHealthReq{Indices: []string{"later"}, Params: opensearchapi.ClusterHealthParams{WaitForStatus: "green", Timeout: 20 * time.Second}}.GetRequest(http.MethodGet)
		if err != nil {
			t.Fatal(err)
		}
		type answer struct {
			r   *resp
			err error
		}
		done := make(chan answer, 1)
		go func() {
			// Perform directly: t.Fatal must not run outside the test goroutine.
			res, err := e.api.Client.Perform(hr)
			if err != nil {
				done <- answer{err: err}
				return
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			done <- answer{r: &resp{Status: res.StatusCode, Header: res.Header, Body: body, desc: "GET /_cluster/health/later"}, err: err}
		}()
		e.createIndex(t, "later", `{"settings":{"number_of_replicas":0}}`)
		a := <-done
		if a.err != nil {
			t.Fatalf("health wait: %v", a.err)
		}
		r := a.r
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `false`, "timed_out")
			wantJSON(t, r.Body, `"green"`, "status")
		}
	})

	t.Run("bad wait_for_status", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.ClusterHealthReq{Params: opensearchapi.ClusterHealthParams{WaitForStatus: "bogus"}})
		wantError(t, r, 400, "illegal_argument_exception", "No enum constant org.opensearch.cluster.health.ClusterHealthStatus.BOGUS")
	})
}

// TestCatIndicesHidden follows rest-api-spec cat.indices/20_hidden.yml: hidden indices and
// aliases are left out of wildcards unless expand_wildcards includes hidden or the pattern
// and the name both start with a dot; named ones are always resolved.
func TestCatIndicesHidden(t *testing.T) {
	t.Parallel()
	row := func(name string) string {
		return `^green open ` + regexp.QuoteMeta(name) + ` [A-Za-z0-9_-]{22} 1 0 0 0 \d+(\.\d+)?(kb|b) \d+(\.\d+)?(kb|b)\n$`
	}
	settings := `"settings":{"number_of_shards":"1","number_of_replicas":"0","index":{"hidden":true}}`
	cases := []struct {
		name, index, body string
		req               opensearchapi.CatIndicesReq
		want              string
	}{
		{"default hides a hidden index", "index1", `{` + settings + `}`, opensearchapi.CatIndicesReq{}, `^$`},
		{"expand_wildcards=all shows it", "index1", `{` + settings + `}`, opensearchapi.CatIndicesReq{Params: opensearchapi.CatIndicesParams{ExpandWildcards: "all"}}, row("index1")},
		{"a dot pattern shows a dot-hidden index", ".index1", `{` + settings + `}`, opensearchapi.CatIndicesReq{Indices: []string{".*"}}, row(".index1")},
		{"a visible alias does not match i*", "index1", `{` + settings + `,"aliases":{"alias1":{}}}`, opensearchapi.CatIndicesReq{Indices: []string{"i*"}}, `^$`},
		{"open,hidden", "index1", `{` + settings + `,"aliases":{"alias1":{}}}`, opensearchapi.CatIndicesReq{Params: opensearchapi.CatIndicesParams{ExpandWildcards: "open,hidden"}}, row("index1")},
		{"named through a visible alias", "index1", `{` + settings + `,"aliases":{"alias1":{}}}`, opensearchapi.CatIndicesReq{Indices: []string{"alias1"}}, row("index1")},
		{"a hidden alias is hidden from *", "index1", `{` + settings + `,"aliases":{"alias1":{"is_hidden":true}}}`, opensearchapi.CatIndicesReq{}, `^$`},
		{"named through a hidden alias", "index1", `{` + settings + `,"aliases":{"alias1":{"is_hidden":true}}}`, opensearchapi.CatIndicesReq{Indices: []string{"alias1"}}, row("index1")},
		{"a dot pattern matches a dot-hidden alias", "index1", `{` + settings + `,"aliases":{".alias1":{"is_hidden":true}}}`, opensearchapi.CatIndicesReq{Indices: []string{".*"}}, row("index1")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEmu(t, searchemu.Options{})
			e.createIndex(t, tc.index, tc.body)
			wantText(t, e.catText(t, tc.req, nil), tc.want)
		})
	}
}

// TestClusterHealthIndicesOptions follows rest-api-spec cluster.health/30_indices_options.yml
// and the closed-index case of 10_basic.yml (closed indices are replicated and counted).
func TestClusterHealthIndicesOptions(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "index-1", `{"settings":{"number_of_shards":1,"number_of_replicas":0}}`)
	e.createIndex(t, "index-2", `{"settings":{"number_of_shards":2,"number_of_replicas":0}}`)
	e.do(t, http.MethodPost, opensearchapi.IndicesCloseReq{Index: "index-2"})
	cases := []struct {
		expand  string
		active  int64
		present []string
	}{
		{"open", 1, []string{"index-1"}},
		{"closed", 2, []string{"index-2"}},
		{"all", 3, []string{"index-1", "index-2"}},
		{"none", 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.expand, func(t *testing.T) {
			r := e.do(t, http.MethodGet, opensearchapi.ClusterHealthReq{Indices: []string{"index-*"}, Params: opensearchapi.ClusterHealthParams{Level: "indices", ExpandWildcards: tc.expand}})
			if !wantStatus(t, r, 200) {
				return
			}
			wantJSON(t, r.Body, `"green"`, "status")
			if got := num(t, r.Body, "active_shards"); got != tc.active {
				t.Errorf("active_shards want %d, got %d", tc.active, got)
			}
			got := keys(t, rawAt(t, r.Body, "indices"))
			if strings.Join(got, ",") != strings.Join(tc.present, ",") {
				t.Errorf("indices want %v, got %v", tc.present, got)
			}
		})
	}
	t.Run("a closed index with replicas stays yellow", func(t *testing.T) {
		e.createIndex(t, "index-3", `{"settings":{"number_of_replicas":50}}`)
		e.do(t, http.MethodPost, opensearchapi.IndicesCloseReq{Index: "index-3"})
		r := e.do(t, http.MethodGet, opensearchapi.ClusterHealthReq{Indices: []string{"index-3"}})
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `"yellow"`, "status")
		}
	})
}
