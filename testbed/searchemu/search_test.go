package searchemu

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func hitIDs(t *testing.T, body string) []string {
	t.Helper()
	hits, _ := jfield(t, body, "hits.hits").([]any)
	ids := []string{}
	for _, h := range hits {
		ids = append(ids, h.(map[string]any)["_id"].(string))
	}
	return ids
}

func searchFixture(t *testing.T) *harness {
	h := newHarness(t, Options{})
	var b strings.Builder
	docs := []string{
		`{"k":"a","n":5,"title":"Quick Brown Fox","tags":["x","y"],"d":"2024-01-01","on":true}`,
		`{"k":"b","n":1,"title":"lazy dog","tags":["y"],"d":"2024-02-01","on":false}`,
		`{"k":"c","n":3,"title":"the quick dog","d":"2024-03-01"}`,
		`{"k":"d","title":"no number","opt":null}`,
		`{"k":"e","n":10,"title":"Brown","obj":{"inner":1}}`,
	}
	for i, d := range docs {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":\"s\",\"_id\":\"%d\"}}\n%s\n", i+1, d)
	}
	r := h.must(200, "POST", "/_bulk?refresh=true", b.String())
	if jfield(t, r.body, "errors") != false {
		t.Fatalf("fixture: %s", r.body)
	}
	return h
}

func TestSearchQueries(t *testing.T) {
	t.Parallel()
	h := searchFixture(t)
	cases := []struct {
		name, body string
		ids        []string
	}{
		{"match_all in doc order", `{}`, []string{"1", "2", "3", "4", "5"}},
		{"ids", `{"query":{"ids":{"values":["3","1","9"]}}}`, []string{"1", "3"}},
		{"term on keyword subfield", `{"query":{"term":{"title.keyword":"lazy dog"}}}`, []string{"2"}},
		{"term on text matches a lowercase token", `{"query":{"term":{"title":"quick"}}}`, []string{"1", "3"}},
		{"term on text is not analysed", `{"query":{"term":{"title":"Quick"}}}`, []string{}},
		{"term object form", `{"query":{"term":{"k":{"value":"c"}}}}`, []string{"3"}},
		{"term on long", `{"query":{"term":{"n":"10"}}}`, []string{"5"}},
		{"term on boolean", `{"query":{"term":{"on":false}}}`, []string{"2"}},
		{"terms", `{"query":{"terms":{"tags.keyword":["x","z"]}}}`, []string{"1"}},
		{"range", `{"query":{"range":{"n":{"gte":3,"lt":10}}}}`, []string{"1", "3"}},
		{"date range", `{"query":{"range":{"d":{"gt":"2024-01-15"}}}}`, []string{"2", "3"}},
		{"exists", `{"query":{"exists":{"field":"n"}}}`, []string{"1", "2", "3", "5"}},
		{"exists ignores null", `{"query":{"exists":{"field":"opt"}}}`, []string{}},
		{"exists on object", `{"query":{"exists":{"field":"obj"}}}`, []string{"5"}},
		{"bool", `{"query":{"bool":{"must":[{"match":{"title":"dog"}}],"must_not":[{"term":{"k":"b"}}]}}}`, []string{"3"}},
		{"bool should", `{"query":{"bool":{"should":[{"term":{"k":"a"}},{"term":{"k":"e"}}]}}}`, []string{"1", "5"}},
		{"bool filter only", `{"query":{"bool":{"filter":{"range":{"n":{"lte":3}}}}}}`, []string{"2", "3"}},
		{"match and", `{"query":{"match":{"title":{"query":"brown fox","operator":"and"}}}}`, []string{"1"}},
		{"unmapped field matches nothing", `{"query":{"term":{"nope":"x"}}}`, []string{}},
	}
	for _, tc := range cases {
		r := h.must(200, "POST", "/s/_search", tc.body)
		if got := hitIDs(t, r.body); !reflect.DeepEqual(got, tc.ids) {
			t.Errorf("%s: want %v, got %v (%s)", tc.name, tc.ids, got, r.body)
		}
	}
}

func TestSearchResponseShape(t *testing.T) {
	t.Parallel()
	h := searchFixture(t)
	r := h.must(200, "POST", "/s/_search", `{"query":{"ids":{"values":["2"]}},"version":true,"seq_no_primary_term":true}`)
	want := `{"took":` + fmt.Sprint(jfield(t, r.body, "took")) + `,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"hits":{"total":{"value":1,"relation":"eq"},"max_score":1.0,"hits":[{"_index":"s","_id":"2","_version":1,"_seq_no":1,"_primary_term":1,"_score":1.0,"_source":{"k":"b","n":1,"title":"lazy dog","tags":["y"],"d":"2024-02-01","on":false}}]}}`
	if r.body != want {
		t.Fatalf("shape\n want %s\n  got %s", want, r.body)
	}
	r = h.must(200, "POST", "/s/_search", `{"query":{"bool":{"filter":{"term":{"k":"a"}}}},"_source":["k","tag*"],"track_total_hits":false}`)
	if !strings.Contains(r.body, `"hits":{"max_score":0.0,"hits":[{"_index":"s","_id":"1","_score":0.0,"_source":{"k":"a","tags":["x","y"]}}]}`) {
		t.Fatalf("filter scores 0, total omitted, source filtered: %s", r.body)
	}
	r = h.must(200, "POST", "/s/_search", `{"size":0,"track_total_hits":2}`)
	if !strings.Contains(r.body, `"hits":{"total":{"value":2,"relation":"gte"},"max_score":null,"hits":[]}`) {
		t.Fatalf("track_total_hits N: %s", r.body)
	}
	r = h.must(200, "GET", "/s/_search?rest_total_hits_as_int=true&size=1&_source=false", "")
	if !strings.Contains(r.body, `"hits":{"total":5,"max_score":1.0,"hits":[{"_index":"s","_id":"1","_score":1.0}]}`) {
		t.Fatalf("rest_total_hits_as_int / _source=false: %s", r.body)
	}
	runSteps(t, h, []step{
		{"POST", "/s/_search", `{"query":{"nope":{}}}`, 400, "", "unknown query [nope]"},
		{"POST", "/s/_search", `{"query":{"match_al":{}}}`, 400, "", "unknown query [match_al] did you mean any of [match_all, match, match_none, match_phrase]?"},
		{"POST", "/missing/_search", `{}`, 404, "", "no such index [missing]"},
		{"POST", "/s/_search", `{"from":9999,"size":2}`, 400, "", "all shards failed"},
		{"POST", "/s/_search", `{"sort":["title"]}`, 400, "", "all shards failed"},
		{"POST", "/s/_search", `{"bogus":1}`, 400, "", "Unknown key for a VALUE_NUMBER in [bogus]."},
	})
}

func TestSearchSortAndSearchAfter(t *testing.T) {
	t.Parallel()
	h := searchFixture(t)
	r := h.must(200, "POST", "/s/_search", `{"sort":[{"n":{"order":"desc"}},"_id"]}`)
	if got := hitIDs(t, r.body); !reflect.DeepEqual(got, []string{"5", "1", "3", "2", "4"}) {
		t.Fatalf("sort desc, missing last: %v", got)
	}
	if !strings.Contains(r.body, `"_score":null`) || !strings.Contains(r.body, `"max_score":null`) {
		t.Fatalf("field sort must null scores: %s", r.body)
	}
	if !strings.Contains(r.body, `"sort":[-9223372036854775808,"4"]`) {
		t.Fatalf("missing long sorts as Long.MIN_VALUE on desc: %s", r.body)
	}
	r = h.must(200, "POST", "/s/_search", `{"sort":[{"n":{"order":"asc","missing":"_first"}}],"size":2}`)
	if got := hitIDs(t, r.body); !reflect.DeepEqual(got, []string{"4", "2"}) {
		t.Fatalf("missing first: %v", got)
	}
	// page through with search_after on a keyword tiebreaker
	var seen []string
	after := ""
	for i := 0; i < 5; i++ {
		r = h.must(200, "POST", "/s/_search", `{"size":2,"sort":[{"k.keyword":"asc"}]`+after+`}`)
		ids := hitIDs(t, r.body)
		if len(ids) == 0 {
			break
		}
		seen = append(seen, ids...)
		last := jfield(t, r.body, fmt.Sprintf("hits.hits.%d.sort.0", len(ids)-1)).(string)
		after = `,"search_after":["` + last + `"]`
		if jfield(t, r.body, "hits.total.value") != int64(5) {
			t.Fatalf("search_after must not change the total: %s", r.body)
		}
	}
	if !reflect.DeepEqual(seen, []string{"1", "2", "3", "4", "5"}) {
		t.Fatalf("search_after paging: %v", seen)
	}
	runSteps(t, h, []step{
		{"POST", "/s/_search", `{"sort":["_id"],"search_after":["1","2"]}`, 400, "", "search_after has 2 value(s) but sort has 1."},
		{"POST", "/s/_search", `{"sort":["nope"]}`, 400, "", "all shards failed"},
	})
	r = h.must(200, "POST", "/s/_search", `{"sort":[{"nope":{"unmapped_type":"long"}},{"_doc":"desc"}],"size":1}`)
	if got := hitIDs(t, r.body); !reflect.DeepEqual(got, []string{"5"}) {
		t.Fatalf("unmapped_type + _doc desc: %v %s", got, r.body)
	}
}

func TestSourceFilterJavaOrder(t *testing.T) {
	t.Parallel()
	v, _ := parseJSON([]byte(`{"b":1,"a":{"x":1,"y":2},"c":[{"x":1,"z":2},3],"d":"s"}`))
	cases := []struct {
		inc, exc []string
		want     string
	}{
		{[]string{"a.x", "d"}, nil, `{"a":{"x":1},"d":"s"}`},
		{nil, []string{"a", "c.z"}, `{"b":1,"c":[{"x":1},3],"d":"s"}`},
		{[]string{"c.x"}, nil, `{"c":[{"x":1}]}`},
		{[]string{"*"}, []string{"b"}, `{"a":{"x":1,"y":2},"c":[{"x":1,"z":2},3],"d":"s"}`},
	}
	for _, tc := range cases {
		got := string(appendCanonical(nil, filterSource(v.(*jsonObj), &fetchSource{fetch: true, includes: tc.inc, excludes: tc.exc})))
		if got != tc.want {
			t.Errorf("inc %v exc %v: want %s, got %s", tc.inc, tc.exc, tc.want, got)
		}
	}
}

func TestScrollAndPIT(t *testing.T) {
	t.Parallel()
	h := searchFixture(t)
	r := h.must(200, "POST", "/s/_search?scroll=1m", `{"size":2,"sort":["_doc"]}`)
	id := jfield(t, r.body, "_scroll_id").(string)
	if !strings.HasPrefix(r.body, `{"_scroll_id":`) {
		t.Fatalf("scroll id first: %s", r.body)
	}
	all := hitIDs(t, r.body)
	h.must(201, "PUT", "/s/_doc/late?refresh=true", `{"k":"z"}`)
	for {
		r = h.must(200, "POST", "/_search/scroll", `{"scroll":"1m","scroll_id":"`+id+`"}`)
		ids := hitIDs(t, r.body)
		if len(ids) == 0 {
			break
		}
		all = append(all, ids...)
	}
	if !reflect.DeepEqual(all, []string{"1", "2", "3", "4", "5"}) {
		t.Fatalf("scroll pins its snapshot: %v", all)
	}
	if got := h.must(200, "DELETE", "/_search/scroll", `{"scroll_id":"`+id+`"}`).body; got != `{"succeeded":true,"num_freed":1}` {
		t.Fatalf("clear scroll: %s", got)
	}
	h.must(404, "POST", "/_search/scroll", `{"scroll_id":"`+id+`"}`)

	r = h.must(200, "POST", "/s/_search/point_in_time?keep_alive=1m", "")
	pit := jfield(t, r.body, "pit_id").(string)
	h.must(201, "PUT", "/s/_doc/later?refresh=true", `{"k":"y"}`)
	r = h.must(200, "POST", "/_search", `{"pit":{"id":"`+pit+`","keep_alive":"1m"},"size":100}`)
	if !strings.HasPrefix(r.body, `{"pit_id":`) || jfield(t, r.body, "hits.total.value") != int64(6) {
		t.Fatalf("pit search: %s", r.body)
	}
	h.must(400, "POST", "/s/_search", `{"pit":{"id":"`+pit+`"}}`)
	if got := h.must(200, "DELETE", "/_search/point_in_time", `{"pit_id":["`+pit+`"]}`).body; got != `{"pits":[{"pit_id":"`+pit+`","successful":true}]}` {
		t.Fatalf("delete pit: %s", got)
	}
}

// TestSlicedPIT: the slices of a point in time partition its documents, each in exactly
// one slice, and a slice outside a scroll or point in time is refused.
func TestSlicedPIT(t *testing.T) {
	t.Parallel()
	h := searchFixture(t)
	pit := jfield(t, h.must(200, "POST", "/s/_search/point_in_time?keep_alive=1m", "").body, "pit_id").(string)
	seen := map[string]int{}
	for id := range 3 {
		r := h.must(200, "POST", "/_search", fmt.Sprintf(`{"pit":{"id":%q},"slice":{"id":%d,"max":3},"size":100,"sort":[{"_id":"asc"}]}`, pit, id))
		for _, x := range hitIDs(t, r.body) {
			seen[x]++
		}
	}
	if !reflect.DeepEqual(seen, map[string]int{"1": 1, "2": 1, "3": 1, "4": 1, "5": 1}) {
		t.Fatalf("slices do not partition the documents: %v", seen)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"slice":{"id":0,"max":2}}`, "can only be used with [scroll] or [point-in-time]"},
		{`{"pit":{"id":"` + pit + `"},"slice":{"id":2,"max":2}}`, "max must be greater than id"},
		{`{"pit":{"id":"` + pit + `"},"slice":{"id":0,"max":1}}`, "max must be greater than 1"},
		{`{"pit":{"id":"` + pit + `"},"slice":{"id":0,"max":2,"field":"k"}}`, "not supported"},
	} {
		path := "/_search"
		if !strings.Contains(tc.body, "pit") {
			path = "/s/_search"
		}
		if r := h.do("POST", path, tc.body); r.status != 400 || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s: want 400 with %q, got %d %s", tc.body, tc.want, r.status, r.body)
		}
	}
}
