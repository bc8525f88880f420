package conformance_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// search runs a search with the client's SearchReq (POST).
func (e *emu) search(t testing.TB, index, body string, p opensearchapi.SearchParams) *resp {
	t.Helper()
	req := opensearchapi.SearchReq{Params: p}
	if index != "" {
		req.Indices = []string{index}
	}
	if body != "" {
		req.Body = strings.NewReader(body)
	}
	return e.do(t, http.MethodPost, req)
}

// hitIDs returns the _id of every hit in order.
func hitIDs(t testing.TB, body []byte) []string {
	t.Helper()
	var hits []json.RawMessage
	if err := json.Unmarshal(rawAt(t, body, "hits", "hits"), &hits); err != nil {
		t.Fatalf("hits.hits is not an array: %s", truncate(body, 400))
	}
	ids := make([]string, 0, len(hits))
	for _, h := range hits {
		ids = append(ids, str(t, h, "_id"))
	}
	return ids
}

func sorted(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// searchFixture indexes a small corpus with an explicit mapping.
func searchFixture(t testing.TB) *emu {
	t.Helper()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "s", `{"mappings":{"properties":{"k":{"type":"keyword"},"n":{"type":"long"},"txt":{"type":"text"},"tag":{"type":"keyword"}}}}`)
	var b strings.Builder
	docs := []string{
		`{"k":"a","n":1,"txt":"Hello World","tag":"x"}`,
		`{"k":"b","n":2,"txt":"hello there","tag":"y"}`,
		`{"k":"c","n":3,"txt":"goodbye","tag":"x"}`,
		`{"k":"d","n":4,"tag":"z"}`,
		`{"k":"e","txt":"no number","tag":"y"}`,
	}
	for i, d := range docs {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":\"s\",\"_id\":\"%d\"}}\n%s\n", i+1, d)
	}
	// Dynamic mapping: "title" becomes text + title.keyword.
	b.WriteString("{\"index\":{\"_index\":\"dyn\",\"_id\":\"1\"}}\n{\"title\":\"Big Cat\"}\n{\"index\":{\"_index\":\"dyn\",\"_id\":\"2\"}}\n{\"title\":\"small\"}\n")
	r := e.bulk(t, "", b.String(), opensearchapi.BulkParams{Refresh: "true"})
	if r.Status != 200 || str(t, r.Body, "items", 0, "index", "result") != "created" {
		t.Fatalf("fixture: %s", r)
	}
	return e
}

// TestSearchQueries covers every §6 query type.
func TestSearchQueries(t *testing.T) {
	t.Parallel()
	e := searchFixture(t)
	cases := []struct {
		name, index, query string
		want               []string
	}{
		{"match_all", "s", `{"match_all":{}}`, []string{"1", "2", "3", "4", "5"}},
		{"term short form", "s", `{"term":{"k":"b"}}`, []string{"2"}},
		{"term value form", "s", `{"term":{"k":{"value":"c"}}}`, []string{"3"}},
		{"term on long", "s", `{"term":{"n":4}}`, []string{"4"}},
		{"term on text lowercase token", "s", `{"term":{"txt":"hello"}}`, []string{"1", "2"}},
		{"term on text is not analysed", "s", `{"term":{"txt":"Hello"}}`, nil},
		{"term on text whole phrase does not match", "s", `{"term":{"txt":"hello world"}}`, nil},
		{"term on dynamic keyword subfield", "dyn", `{"term":{"title.keyword":"Big Cat"}}`, []string{"1"}},
		{"terms", "s", `{"terms":{"k":["a","c","zz"]}}`, []string{"1", "3"}},
		{"ids", "s", `{"ids":{"values":["2","5","99"]}}`, []string{"2", "5"}},
		{"bool must", "s", `{"bool":{"must":[{"term":{"tag":"x"}},{"term":{"k":"c"}}]}}`, []string{"3"}},
		{"bool filter", "s", `{"bool":{"filter":[{"term":{"tag":"y"}}]}}`, []string{"2", "5"}},
		{"bool should", "s", `{"bool":{"should":[{"term":{"k":"a"}},{"term":{"k":"d"}}]}}`, []string{"1", "4"}},
		{"bool must_not", "s", `{"bool":{"must_not":[{"term":{"tag":"x"}}]}}`, []string{"2", "4", "5"}},
		{"bool combined", "s", `{"bool":{"filter":[{"range":{"n":{"gte":2}}}],"must_not":[{"term":{"k":"d"}}]}}`, []string{"2", "3"}},
		{"range gt lt", "s", `{"range":{"n":{"gt":1,"lt":4}}}`, []string{"2", "3"}},
		{"range gte lte", "s", `{"range":{"n":{"gte":1,"lte":4}}}`, []string{"1", "2", "3", "4"}},
		{"range on keyword", "s", `{"range":{"k":{"gte":"b","lt":"d"}}}`, []string{"2", "3"}},
		{"exists", "s", `{"exists":{"field":"n"}}`, []string{"1", "2", "3", "4"}},
		{"exists on missing field", "s", `{"exists":{"field":"nope"}}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.search(t, tc.index, `{"query":`+tc.query+`,"size":100}`, opensearchapi.SearchParams{})
			if !wantStatus(t, r, 200) {
				return
			}
			got := sorted(hitIDs(t, r.Body))
			if len(got) == 0 && len(tc.want) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("hits want %v, got %v", tc.want, got)
			}
			if n := num(t, r.Body, "hits", "total", "value"); n != int64(len(tc.want)) {
				t.Errorf("hits.total.value want %d, got %d", len(tc.want), n)
			}
		})
	}

	t.Run("unknown query", func(t *testing.T) {
		r := e.search(t, "s", `{"query":{"no_such_query":{}}}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 400) {
			checkEnvelope(t, r, 400)
			if got := str(t, r.Body, "error", "type"); got != "parsing_exception" {
				t.Errorf("type want parsing_exception, got %q", got)
			}
		}
	})
	t.Run("missing index", func(t *testing.T) {
		r := e.search(t, "nosuch", `{"query":{"match_all":{}}}`, opensearchapi.SearchParams{})
		wantError(t, r, 404, "index_not_found_exception", "no such index [nosuch]")
	})
	t.Run("no body is match_all", func(t *testing.T) {
		r := e.search(t, "s", "", opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) && len(hitIDs(t, r.Body)) != 5 {
			t.Errorf("want 5 hits, got %v", hitIDs(t, r.Body))
		}
	})
	t.Run("GET with body", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.SearchReq{Indices: []string{"s"}, Body: strings.NewReader(`{"query":{"term":{"k":"a"}}}`)})
		if wantStatus(t, r, 200) && !reflect.DeepEqual(hitIDs(t, r.Body), []string{"1"}) {
			t.Errorf("want [1], got %v", hitIDs(t, r.Body))
		}
	})
	t.Run("all indices", func(t *testing.T) {
		r := e.search(t, "", `{"query":{"match_all":{}},"size":100}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) && num(t, r.Body, "hits", "total", "value") != 7 {
			t.Errorf("/_search over all indices want 7 hits, got %s", rawAt(t, r.Body, "hits", "total"))
		}
	})
}

// TestSearchResponseShape covers §6 response shape, scores, hit key order and flags.
func TestSearchResponseShape(t *testing.T) {
	t.Parallel()
	e := searchFixture(t)

	t.Run("match_all shape and scores", func(t *testing.T) {
		r := e.search(t, "s", `{"query":{"match_all":{}},"size":1}`, opensearchapi.SearchParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		wantKeys(t, r.Body, []string{"took", "timed_out", "_shards", "hits"})
		wantJSON(t, r.Body, `false`, "timed_out")
		wantJSON(t, r.Body, `{"total":1,"successful":1,"skipped":0,"failed":0}`, "_shards")
		wantKeys(t, r.Body, []string{"total", "max_score", "hits"}, "hits")
		wantJSON(t, r.Body, `{"value":5,"relation":"eq"}`, "hits", "total")
		wantJSON(t, r.Body, `1.0`, "hits", "max_score")
		wantKeys(t, r.Body, []string{"_index", "_id", "_score", "_source"}, "hits", "hits", 0)
		wantJSON(t, r.Body, `1.0`, "hits", "hits", 0, "_score")
		if str(t, r.Body, "hits", "hits", 0, "_index") != "s" {
			t.Errorf("hit _index want s")
		}
	})

	t.Run("pure filter scores zero", func(t *testing.T) {
		r := e.search(t, "s", `{"query":{"bool":{"filter":[{"term":{"k":"a"}}]}}}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `0.0`, "hits", "hits", 0, "_score")
		}
	})

	t.Run("sorted search has null scores and sort values", func(t *testing.T) {
		r := e.search(t, "s", `{"query":{"match_all":{}},"sort":[{"k":"desc"}],"size":2}`, opensearchapi.SearchParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		wantJSON(t, r.Body, `null`, "hits", "max_score")
		wantExactBody(t, &resp{Body: rawAt(t, r.Body, "hits", "hits", 0), desc: "hit 0"}, `{"_index":"s","_id":"5","_score":null,"_source":{"k":"e","txt":"no number","tag":"y"},"sort":["e"]}`)
	})

	t.Run("version and seq_no_primary_term flags with key order", func(t *testing.T) {
		r := e.search(t, "s", `{"query":{"ids":{"values":["2"]}},"version":true,"seq_no_primary_term":true,"sort":[{"n":"asc"}]}`, opensearchapi.SearchParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		wantKeys(t, r.Body, []string{"_index", "_id", "_version", "_seq_no", "_primary_term", "_score", "_source", "sort"}, "hits", "hits", 0)
		wantJSON(t, r.Body, `1`, "hits", "hits", 0, "_version")
		wantJSON(t, r.Body, `1`, "hits", "hits", 0, "_seq_no")
		wantJSON(t, r.Body, `1`, "hits", "hits", 0, "_primary_term")
		wantJSON(t, r.Body, `[2]`, "hits", "hits", 0, "sort")
	})

	t.Run("version only", func(t *testing.T) {
		r := e.search(t, "s", `{"query":{"ids":{"values":["2"]}},"version":true}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) {
			wantKeys(t, r.Body, []string{"_index", "_id", "_version", "_score", "_source"}, "hits", "hits", 0)
		}
	})

	t.Run("seq_no_primary_term only", func(t *testing.T) {
		r := e.search(t, "s", `{"query":{"ids":{"values":["2"]}},"seq_no_primary_term":true}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) {
			wantKeys(t, r.Body, []string{"_index", "_id", "_seq_no", "_primary_term", "_score", "_source"}, "hits", "hits", 0)
		}
	})

	sources := []struct{ name, src, want string }{
		{"_source false", `false`, ""},
		{"_source list", `["k","n"]`, `{"k":"b","n":2}`},
		{"_source includes/excludes", `{"includes":["*"],"excludes":["txt","tag"]}`, `{"k":"b","n":2}`},
	}
	for _, tc := range sources {
		t.Run(tc.name, func(t *testing.T) {
			r := e.search(t, "s", `{"query":{"ids":{"values":["2"]}},"_source":`+tc.src+`}`, opensearchapi.SearchParams{})
			if !wantStatus(t, r, 200) {
				return
			}
			if tc.want == "" {
				if has(r.Body, "hits", "hits", 0, "_source") {
					t.Errorf("_source must be absent: %s", r.Body)
				}
				return
			}
			wantJSON(t, r.Body, tc.want, "hits", "hits", 0, "_source")
		})
	}
}

// TestSearchPagingAndSort covers §6 size/from, the result window, sort forms and
// search_after paging.
func TestSearchPagingAndSort(t *testing.T) {
	t.Parallel()
	e := searchFixture(t)

	sorts := []struct {
		name, sort string
		want       []string
	}{
		{"keyword asc", `[{"k":"asc"}]`, []string{"1", "2", "3", "4", "5"}},
		{"keyword desc", `[{"k":{"order":"desc"}}]`, []string{"5", "4", "3", "2", "1"}},
		{"long desc missing last", `[{"n":{"order":"desc","missing":"_last"}}]`, []string{"4", "3", "2", "1", "5"}},
		{"long asc missing first", `[{"n":{"order":"asc","missing":"_first"}}]`, []string{"5", "1", "2", "3", "4"}},
		{"long asc default missing is last", `[{"n":"asc"}]`, []string{"1", "2", "3", "4", "5"}},
		{"two keys", `[{"tag":"asc"},{"k":"desc"}]`, []string{"3", "1", "5", "2", "4"}},
		{"_doc", `["_doc"]`, []string{"1", "2", "3", "4", "5"}},
	}
	for _, tc := range sorts {
		t.Run("sort "+tc.name, func(t *testing.T) {
			r := e.search(t, "s", `{"query":{"match_all":{}},"sort":`+tc.sort+`}`, opensearchapi.SearchParams{})
			if wantStatus(t, r, 200) {
				if got := hitIDs(t, r.Body); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("order want %v, got %v", tc.want, got)
				}
			}
		})
	}

	t.Run("sort _score", func(t *testing.T) {
		r := e.search(t, "s", `{"query":{"match_all":{}},"sort":["_score"]}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) && len(hitIDs(t, r.Body)) != 5 {
			t.Errorf("want 5 hits")
		}
	})

	t.Run("sort on _id works with a Warning header", func(t *testing.T) {
		r := e.search(t, "s", `{"query":{"match_all":{}},"sort":[{"_id":"desc"}]}`, opensearchapi.SearchParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		if got := hitIDs(t, r.Body); !reflect.DeepEqual(got, []string{"5", "4", "3", "2", "1"}) {
			t.Errorf("order want [5 4 3 2 1], got %v", got)
		}
		if r.Header.Get("Warning") == "" {
			t.Errorf("sorting on _id must emit a Warning header (fielddata on _id is deprecated)")
		}
	})

	t.Run("sort on text field is 400", func(t *testing.T) {
		r := e.search(t, "s", `{"query":{"match_all":{}},"sort":[{"txt":"asc"}]}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 400) {
			checkEnvelope(t, r, 400)
		}
	})

	t.Run("size and from", func(t *testing.T) {
		r := e.search(t, "s", `{"query":{"match_all":{}},"sort":[{"k":"asc"}],"size":2,"from":1}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) {
			if got := hitIDs(t, r.Body); !reflect.DeepEqual(got, []string{"2", "3"}) {
				t.Errorf("want [2 3], got %v", got)
			}
			wantJSON(t, r.Body, `{"value":5,"relation":"eq"}`, "hits", "total")
		}
	})

	t.Run("size and from as query params", func(t *testing.T) {
		r := e.search(t, "s", `{"sort":[{"k":"asc"}]}`, opensearchapi.SearchParams{Size: ptr(1), From: ptr(4)})
		if wantStatus(t, r, 200) && !reflect.DeepEqual(hitIDs(t, r.Body), []string{"5"}) {
			t.Errorf("want [5], got %v", hitIDs(t, r.Body))
		}
	})

	t.Run("default size is 10", func(t *testing.T) {
		var b strings.Builder
		for i := range 15 {
			fmt.Fprintf(&b, "{\"index\":{\"_index\":\"many\",\"_id\":\"%d\"}}\n{}\n", i)
		}
		e.bulk(t, "", b.String(), opensearchapi.BulkParams{Refresh: "true"})
		r := e.search(t, "many", `{"query":{"match_all":{}}}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) {
			if n := len(hitIDs(t, r.Body)); n != 10 {
				t.Errorf("default size want 10 hits, got %d", n)
			}
			wantJSON(t, r.Body, `{"value":15,"relation":"eq"}`, "hits", "total")
		}
	})

	t.Run("size 0", func(t *testing.T) {
		r := e.search(t, "s", `{"size":0}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) {
			if n := len(hitIDs(t, r.Body)); n != 0 {
				t.Errorf("size 0 want no hits, got %d", n)
			}
			wantJSON(t, r.Body, `{"value":5,"relation":"eq"}`, "hits", "total")
		}
	})

	for _, tc := range []struct{ name, body string }{
		{"from+size over 10000", `{"from":9999,"size":2}`},
		{"size over 10000", `{"size":10001}`},
	} {
		t.Run("result window "+tc.name, func(t *testing.T) {
			r := e.search(t, "s", tc.body, opensearchapi.SearchParams{})
			if !wantStatus(t, r, 400) {
				return
			}
			checkEnvelope(t, r, 400)
			if !strings.Contains(string(r.Body), "Result window is too large") {
				t.Errorf("want a \"Result window is too large\" reason, got %s", r.Body)
			}
		})
	}

	t.Run("from+size exactly 10000 is allowed", func(t *testing.T) {
		r := e.search(t, "s", `{"from":9990,"size":10}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) && len(hitIDs(t, r.Body)) != 0 {
			t.Errorf("want no hits")
		}
	})
}

// TestSearchAfterPaging covers §6 deterministic paging: search_after over a unique
// keyword visits every document exactly once, in order.
func TestSearchAfterPaging(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "p", `{"mappings":{"properties":{"key":{"type":"keyword"},"grp":{"type":"long"}}}}`)
	const n = 53
	var b strings.Builder
	var want []string
	for i := range n {
		id := fmt.Sprintf("doc-%03d", (i*37)%n) // insertion order differs from sort order
		fmt.Fprintf(&b, "{\"index\":{\"_index\":\"p\",\"_id\":%q}}\n{\"key\":%q,\"grp\":%d}\n", id, id, i%4)
	}
	for i := range n {
		want = append(want, fmt.Sprintf("doc-%03d", i))
	}
	if r := e.bulk(t, "", b.String(), opensearchapi.BulkParams{Refresh: "true"}); r.Status != 200 {
		t.Fatalf("fixture: %s", r)
	}

	t.Run("single key", func(t *testing.T) {
		var got []string
		after := ""
		for page := 0; page < 20; page++ {
			body := `{"size":7,"sort":[{"key":"asc"}]` + after + `}`
			r := e.search(t, "p", body, opensearchapi.SearchParams{})
			if !wantStatus(t, r, 200) {
				return
			}
			ids := hitIDs(t, r.Body)
			if len(ids) == 0 {
				break
			}
			got = append(got, ids...)
			last := len(ids) - 1
			after = `,"search_after":` + string(rawAt(t, r.Body, "hits", "hits", last, "sort"))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("search_after paging visited\n %v\nwant\n %v", got, want)
		}
	})

	t.Run("two keys", func(t *testing.T) {
		var got []string
		seen := map[string]bool{}
		after := ""
		for page := 0; page < 30; page++ {
			body := `{"size":5,"sort":[{"grp":"desc"},{"key":"asc"}]` + after + `}`
			r := e.search(t, "p", body, opensearchapi.SearchParams{})
			if !wantStatus(t, r, 200) {
				return
			}
			ids := hitIDs(t, r.Body)
			if len(ids) == 0 {
				break
			}
			for _, id := range ids {
				if seen[id] {
					t.Errorf("doc %s visited twice", id)
				}
				seen[id] = true
			}
			got = append(got, ids...)
			after = `,"search_after":` + string(rawAt(t, r.Body, "hits", "hits", len(ids)-1, "sort"))
		}
		if !reflect.DeepEqual(sorted(got), want) {
			t.Errorf("two-key paging visited %d docs, want all %d exactly once", len(got), n)
		}
	})
}

// TestTrackTotalHits covers every §6 track_total_hits variant, including the default
// 10000 cap.
func TestTrackTotalHits(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	var b strings.Builder
	const n = 10001
	for i := range n {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":\"big\",\"_id\":\"%d\"}}\n{\"i\":%d}\n", i, i)
	}
	if r := e.bulk(t, "", b.String(), opensearchapi.BulkParams{Refresh: "true"}); r.Status != 200 || strings.Contains(string(r.Body[:min(len(r.Body), 40)]), `"errors":true`) {
		t.Fatalf("fixture: %d", r.Status)
	}
	cases := []struct {
		name   string
		body   string
		params opensearchapi.SearchParams
		want   string // JSON of hits.total; "" = absent
	}{
		{"default caps at 10000", `{"size":0}`, opensearchapi.SearchParams{}, `{"value":10000,"relation":"gte"}`},
		{"true is exact", `{"size":0,"track_total_hits":true}`, opensearchapi.SearchParams{}, `{"value":10001,"relation":"eq"}`},
		{"integer caps", `{"size":0,"track_total_hits":3}`, opensearchapi.SearchParams{}, `{"value":3,"relation":"gte"}`},
		{"integer above count is exact", `{"size":0,"track_total_hits":20000}`, opensearchapi.SearchParams{}, `{"value":10001,"relation":"eq"}`},
		{"false omits total", `{"size":0,"track_total_hits":false}`, opensearchapi.SearchParams{}, ""},
		{"rest_total_hits_as_int", `{"size":0,"track_total_hits":true}`, opensearchapi.SearchParams{RestTotalHitsAsInt: ptr(true)}, `10001`},
		{"small result under default", `{"size":0,"query":{"range":{"i":{"lt":5}}}}`, opensearchapi.SearchParams{}, `{"value":5,"relation":"eq"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.search(t, "big", tc.body, tc.params)
			if !wantStatus(t, r, 200) {
				return
			}
			if tc.want == "" {
				if has(r.Body, "hits", "total") {
					t.Errorf("hits.total must be absent, got %s", rawAt(t, r.Body, "hits", "total"))
				}
				return
			}
			wantJSON(t, r.Body, tc.want, "hits", "total")
		})
	}
}

// TestSearchPointInTime covers §6 paging option 2 (PIT).
func TestSearchPointInTime(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	var b strings.Builder
	for i := range 12 {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":\"pit\",\"_id\":\"%02d\"}}\n{\"k\":\"%02d\"}\n", i, i)
	}
	e.bulk(t, "", b.String(), opensearchapi.BulkParams{Refresh: "true"})

	r := e.raw(t, http.MethodPost, "/pit/_search/point_in_time?keep_alive=1m", "")
	if !wantStatus(t, r, 200) {
		return
	}
	pitID := str(t, r.Body, "pit_id")
	if pitID == "" || !has(r.Body, "_shards") || !has(r.Body, "creation_time") {
		t.Fatalf("PIT create body want pit_id, _shards, creation_time: %s", r.Body)
	}
	var got []string
	after := ""
	for range 10 {
		body := `{"size":5,"pit":{"id":` + strconv.Quote(pitID) + `,"keep_alive":"1m"},"sort":[{"k.keyword":"asc"}]` + after + `}`
		sr := e.search(t, "", body, opensearchapi.SearchParams{})
		if !wantStatus(t, sr, 200) {
			return
		}
		if ks := keys(t, sr.Body); len(ks) == 0 || ks[0] != "pit_id" {
			t.Errorf("PIT search response must start with pit_id, keys %v", ks)
		}
		ids := hitIDs(t, sr.Body)
		if len(ids) == 0 {
			break
		}
		got = append(got, ids...)
		after = `,"search_after":` + string(rawAt(t, sr.Body, "hits", "hits", len(ids)-1, "sort"))
		// A write after the PIT was opened is invisible to it.
		e.put(t, "pit", "zz-late", `{"k":"zz"}`)
	}
	if len(got) != 12 {
		t.Errorf("PIT paging want 12 docs, got %v", got)
	}
	all := e.raw(t, http.MethodGet, "/_search/point_in_time/_all", "")
	if wantStatus(t, all, 200) && !strings.Contains(string(all.Body), pitID) {
		t.Errorf("_all listing must contain the PIT: %s", all.Body)
	}
	d := e.raw(t, http.MethodDelete, "/_search/point_in_time", `{"pit_id":[`+strconv.Quote(pitID)+`]}`)
	if wantStatus(t, d, 200) {
		wantJSON(t, d.Body, `{"pits":[{"pit_id":`+strconv.Quote(pitID)+`,"successful":true}]}`)
	}
}

// TestSearchScroll covers §6 paging option 3 (scroll).
func TestSearchScroll(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	var b strings.Builder
	for i := range 7 {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":\"sc\",\"_id\":\"%d\"}}\n{}\n", i)
	}
	e.bulk(t, "", b.String(), opensearchapi.BulkParams{Refresh: "true"})

	r := e.raw(t, http.MethodPost, "/sc/_search?scroll=1m", `{"size":3}`)
	if !wantStatus(t, r, 200) {
		return
	}
	if ks := keys(t, r.Body); len(ks) == 0 || ks[0] != "_scroll_id" {
		t.Errorf("scroll response must start with _scroll_id, keys %v", ks)
	}
	scrollID := str(t, r.Body, "_scroll_id")
	got := hitIDs(t, r.Body)
	for range 5 {
		sr := e.raw(t, http.MethodPost, "/_search/scroll", `{"scroll":"1m","scroll_id":`+strconv.Quote(scrollID)+`}`)
		if !wantStatus(t, sr, 200) {
			return
		}
		ids := hitIDs(t, sr.Body)
		if len(ids) == 0 {
			break
		}
		got = append(got, ids...)
		scrollID = str(t, sr.Body, "_scroll_id")
	}
	if !reflect.DeepEqual(sorted(got), []string{"0", "1", "2", "3", "4", "5", "6"}) {
		t.Errorf("scroll visited %v, want each of 7 docs once", got)
	}
	d := e.raw(t, http.MethodDelete, "/_search/scroll", `{"scroll_id":`+strconv.Quote(scrollID)+`}`)
	if wantStatus(t, d, 200) {
		wantJSON(t, d.Body, `{"succeeded":true,"num_freed":1}`)
	}
	z := e.raw(t, http.MethodPost, "/sc/_search?scroll=1m", `{"size":0}`)
	wantStatus(t, z, 400)
}
