package searchemu

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// pitPagingFixture is an index of three shards whose documents tie on their fields, miss
// some and hold several values of others, so that paging depends on every tie-break.
func pitPagingFixture(t *testing.T, opts Options) *harness {
	t.Helper()
	h := newHarness(t, opts)
	h.must(200, "PUT", "/p", `{"settings":{"number_of_shards":3},"mappings":{"properties":{
		"k":{"type":"keyword"},"n":{"type":"long"},"d":{"type":"double"},"t":{"type":"date"},
		"b":{"type":"boolean"},"body":{"type":"text"}}}}`)
	var bulk strings.Builder
	for i := range 60 {
		fmt.Fprintf(&bulk, `{"index":{"_index":"p","_id":"d%02d"}}`+"\n", i)
		doc := map[string]any{"body": strings.Repeat("word ", i%4+1)}
		if i%5 != 0 {
			doc["k"] = fmt.Sprintf("k%d", i%7)
		}
		if i%6 != 0 {
			doc["n"] = []int{i % 9, i % 4}
		}
		if i%4 != 0 {
			doc["d"] = float64(i%5) / 2
		}
		if i%3 != 0 {
			doc["t"] = fmt.Sprintf("2024-01-%02dT00:00:00Z", i%10+1)
		}
		doc["b"] = i%2 == 0
		line, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		bulk.Write(line)
		bulk.WriteByte('\n')
	}
	h.must(200, "POST", "/_bulk?refresh=true", bulk.String())
	return h
}

// searchHits decodes a search answer's hits object (total, max_score, hits).
func searchHits(t *testing.T, body string) map[string]any {
	t.Helper()
	var v struct {
		Hits map[string]any `json:"hits"`
	}
	// numbers as written: a long sort value does not survive a float64
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return v.Hits
}

// TestPITPagesMatchPlainSearch: each page of a point in time, whose sorted hits are kept
// between pages, is the page a plain search over the same documents answers, search_after
// with sort values of every type, missing ones included, tie-breaks and all.
func TestPITPagesMatchPlainSearch(t *testing.T) {
	t.Parallel()
	h := pitPagingFixture(t, Options{})
	pit := jfield(t, h.must(200, "POST", "/p/_search/point_in_time?keep_alive=1m", "").body, "pit_id").(string)
	for _, tc := range []struct{ name, body string }{
		{"id", `"sort":[{"_id":"asc"}]`},
		{"long desc then id", `"sort":[{"n":"desc"},{"_id":"asc"}]`},
		{"long max mode alone", `"sort":[{"n":{"order":"asc","mode":"max"}}]`},
		{"keyword missing first", `"sort":[{"k":{"order":"asc","missing":"_first"}},{"n":"asc"}]`},
		{"double custom missing then doc", `"sort":[{"d":{"order":"desc","missing":1}},"_doc"]`},
		{"date bool id", `"sort":[{"t":"asc"},{"b":"desc"},{"_id":"desc"}],"track_total_hits":20`},
		{"score", `"query":{"match":{"body":"word"}},"sort":["_score",{"_id":"asc"}],"track_total_hits":false`},
		{"filtered source and version", `"query":{"range":{"n":{"gte":3}}},"sort":[{"k":"desc"},{"_id":"asc"}],"_source":["k"],"version":true,"track_scores":true`},
		{"unmapped", `"sort":[{"nope":{"unmapped_type":"long"}},{"_id":"asc"}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var after string
			pages, seen := 0, 0
			for {
				body := `{"size":7,` + tc.body
				if after != "" {
					body += `,"search_after":` + after
				}
				want := searchHits(t, h.must(200, "POST", "/p/_search", body+"}").body)
				got := searchHits(t, h.must(200, "POST", "/_search", body+`,"pit":{"id":"`+pit+`"}}`).body)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("page %d after %s:\n got %v\nwant %v", pages, after, got, want)
				}
				hits := want["hits"].([]any)
				if len(hits) == 0 {
					break
				}
				pages++
				seen += len(hits)
				if pages == 12 {
					// past a missing value the emulator's search_after does not advance
					// (the rendered stand-in, Long.MAX_VALUE, sorts before a missing
					// value), plain search or not: compare the pages before the loop
					break
				}
				b, err := json.Marshal(hits[len(hits)-1].(map[string]any)["sort"])
				if err != nil {
					t.Fatal(err)
				}
				after = string(b)
			}
			if pages < 2 || seen == 0 {
				t.Fatalf("%d pages of %d hits: the case does not page", pages, seen)
			}
		})
	}
}

// TestPITRunRedoneOnMappingChange: a mapping update between pages changes what matches,
// as it does for a plain search, instead of serving the hits kept from before.
func TestPITRunRedoneOnMappingChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.must(200, "PUT", "/m", `{"mappings":{"dynamic":false,"properties":{"a":{"type":"keyword"}}}}`)
	h.must(200, "POST", "/_bulk?refresh=true", `{"index":{"_index":"m","_id":"1"}}
{"a":"x","f":"y"}
{"index":{"_index":"m","_id":"2"}}
{"a":"x"}
`)
	pit := jfield(t, h.must(200, "POST", "/m/_search/point_in_time?keep_alive=1m", "").body, "pit_id").(string)
	const q = `"query":{"term":{"f":"y"}},"sort":[{"_id":"asc"}]`
	page := func() (got, want map[string]any) {
		want = searchHits(t, h.must(200, "POST", "/m/_search", `{`+q+`}`).body)
		got = searchHits(t, h.must(200, "POST", "/_search", `{`+q+`,"pit":{"id":"`+pit+`"}}`).body)
		return got, want
	}
	before, want := page()
	if !reflect.DeepEqual(before, want) {
		t.Fatalf("before the update: got %v, want %v", before, want)
	}
	h.must(200, "PUT", "/m/_mapping", `{"properties":{"f":{"type":"keyword"}}}`)
	after, want := page()
	if !reflect.DeepEqual(after, want) {
		t.Fatalf("after the update: got %v, want %v", after, want)
	}
	if reflect.DeepEqual(before, after) {
		t.Fatalf("the mapping update changed nothing, the case tests nothing: %v", after)
	}
}

// TestPITRunOfNowEvaluatedEachPage: a query doing date math on now depends on when it runs,
// so its hits are not kept between pages.
func TestPITRunOfNowEvaluatedEachPage(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	h := newHarness(t, Options{Now: clock.Now})
	h.must(200, "PUT", "/c", `{"mappings":{"properties":{"t":{"type":"date"}}}}`)
	h.must(200, "POST", "/_bulk?refresh=true", `{"index":{"_index":"c","_id":"old"}}
{"t":"2024-01-01T00:00:00Z"}
{"index":{"_index":"c","_id":"new"}}
{"t":"2024-01-02T03:00:00Z"}
`)
	pit := jfield(t, h.must(200, "POST", "/c/_search/point_in_time?keep_alive=3h", "").body, "pit_id").(string)
	ids := func() []string {
		return hitIDs(t, h.must(200, "POST", "/_search", `{"query":{"range":{"t":{"gte":"now-2h"}}},"sort":[{"_id":"asc"}],"pit":{"id":"`+pit+`"}}`).body)
	}
	if got := ids(); !reflect.DeepEqual(got, []string{"new"}) {
		t.Fatalf("at first: %v", got)
	}
	clock.Advance(2 * time.Hour)
	if got := ids(); len(got) != 0 {
		t.Fatalf("two hours later the range no longer holds [new]: %v", got)
	}
}

// TestPITSlicesPagedConcurrently: slices paged at once over one point in time (as the
// backfill does) share its kept runs safely and still partition its documents.
func TestPITSlicesPagedConcurrently(t *testing.T) {
	t.Parallel()
	h := pitPagingFixture(t, Options{})
	pit := jfield(t, h.must(200, "POST", "/p/_search/point_in_time?keep_alive=1m", "").body, "pit_id").(string)
	const slices = 4
	var mu sync.Mutex
	seen := map[string]int{}
	errs := make(chan error, slices)
	var wg sync.WaitGroup
	for s := range slices {
		wg.Go(func() {
			after := ""
			for {
				body := fmt.Sprintf(`{"size":5,"sort":[{"_id":"asc"}],"slice":{"id":%d,"max":%d},"pit":{"id":%q}`, s, slices, pit)
				if after != "" {
					body += `,"search_after":[` + after + `]`
				}
				r := h.do("POST", "/_search", body+"}")
				if r.status != 200 {
					errs <- fmt.Errorf("slice %d: %d %s", s, r.status, r.body)
					return
				}
				var v struct {
					Hits struct {
						Hits []struct {
							ID string `json:"_id"`
						} `json:"hits"`
					} `json:"hits"`
				}
				if err := json.Unmarshal([]byte(r.body), &v); err != nil {
					errs <- err
					return
				}
				if len(v.Hits.Hits) == 0 {
					return
				}
				mu.Lock()
				for _, x := range v.Hits.Hits {
					seen[x.ID]++
				}
				mu.Unlock()
				after = fmt.Sprintf("%q", v.Hits.Hits[len(v.Hits.Hits)-1].ID)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != 60 {
		t.Fatalf("slices saw %d documents, want 60", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("document %s seen %d times", id, n)
		}
	}
}
