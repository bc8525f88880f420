package searchemu

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestSearchAfterMissingSortValues pages with search_after through documents of which
// some lack the sort field, as OpenSearch does it:
//
//   - IndexFieldData.XFieldComparatorSource.missingObject (server/.../index/fielddata/
//     IndexFieldData.java): a numeric sort replaces a missing value before comparing,
//     with the extreme of its reduced type for _last/_first (Long.MAX_VALUE or
//     Long.MIN_VALUE, the float or double infinities; min = _first XOR reverse), with
//     the parsed value for a custom missing; strings keep null for _last/_first and
//     take a custom missing as their value. Integer, short, byte, boolean and date
//     sorts reduce to LONG (IndexNumericFieldData.NumericType); unsigned_long takes 0
//     or 2^64-1 (UnsignedLongValuesComparatorSource).
//   - the hit's sort array carries the value the comparator held (that stand-in),
//     Infinity as the string "Infinity", a string's missing as null;
//   - SearchAfterBuilder.buildFieldDoc reads the stand-in back like any value of the
//     type (null as null), in a FieldDoc with doc Integer.MAX_VALUE: a document that
//     ties with every search_after value is not returned again.
//
// So a numeric stand-in ties with every other missing document and the next sort key
// decides; a search that sorts on that field alone ends at the first missing one.
func TestSearchAfterMissingSortValues(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.must(200, "PUT", "/m", `{"mappings":{"properties":{
		"key":{"type":"keyword"},"n":{"type":"long"},"i":{"type":"integer"},"d":{"type":"double"},
		"f":{"type":"float"},"dt":{"type":"date"},"dn":{"type":"date_nanos"},"u":{"type":"unsigned_long"},
		"b":{"type":"boolean"},"kw":{"type":"keyword"}}}}`)
	docs := map[string]string{
		"a": `{"key":"a","n":3,"i":3,"d":1.5,"f":1.5,"dt":"2024-01-03","dn":"2024-01-03T00:00:00.000000003Z","u":18446744073709551613,"b":true,"kw":"x"}`,
		"b": `{"key":"b"}`,
		"c": `{"key":"c","n":1,"i":1,"d":-2.0,"f":-2.0,"dt":"2024-01-01","dn":"2024-01-01T00:00:00.000000001Z","u":1,"b":false,"kw":"z"}`,
		"d": `{"key":"d","other":1}`,
		"e": `{"key":"e","n":2,"i":2,"d":0.25,"f":0.25,"dt":"2024-01-02","dn":"2024-01-02T00:00:00.000000002Z","u":2,"b":true,"kw":"y"}`,
	}
	var bulk strings.Builder
	for _, id := range []string{"e", "b", "a", "d", "c"} { // insertion order is not key order
		fmt.Fprintf(&bulk, "{\"index\":{\"_id\":%q}}\n%s\n", id, docs[id])
	}
	h.must(200, "POST", "/m/_bulk?refresh=true", bulk.String())

	tests := []struct {
		name string
		sort string // the first sort key; key asc breaks ties
		want []string
		// missingSort is the sort value hits b and d carry for the first key, as JSON
		missingSort string
	}{
		{"long asc", `{"n":"asc"}`, []string{"c", "e", "a", "b", "d"}, `9223372036854775807`},
		{"long desc", `{"n":"desc"}`, []string{"a", "e", "c", "b", "d"}, `-9223372036854775808`},
		{"long asc first", `{"n":{"order":"asc","missing":"_first"}}`, []string{"b", "d", "c", "e", "a"}, `-9223372036854775808`},
		{"long desc first", `{"n":{"order":"desc","missing":"_first"}}`, []string{"b", "d", "a", "e", "c"}, `9223372036854775807`},
		{"long custom", `{"n":{"order":"asc","missing":2}}`, []string{"c", "b", "d", "e", "a"}, `2`},
		{"long custom desc", `{"n":{"order":"desc","missing":"2"}}`, []string{"a", "b", "d", "e", "c"}, `2`},
		{"integer", `{"i":"asc"}`, []string{"c", "e", "a", "b", "d"}, `9223372036854775807`},
		{"double", `{"d":"asc"}`, []string{"c", "e", "a", "b", "d"}, `"Infinity"`},
		{"double desc", `{"d":"desc"}`, []string{"a", "e", "c", "b", "d"}, `"-Infinity"`},
		{"double desc first", `{"d":{"order":"desc","missing":"_first"}}`, []string{"b", "d", "a", "e", "c"}, `"Infinity"`},
		{"float custom", `{"f":{"order":"asc","missing":0.25}}`, []string{"c", "b", "d", "e", "a"}, `0.25`},
		{"date", `{"dt":"asc"}`, []string{"c", "e", "a", "b", "d"}, `9223372036854775807`},
		{"date_nanos desc", `{"dn":"desc"}`, []string{"a", "e", "c", "b", "d"}, `-9223372036854775808`},
		{"unsigned_long", `{"u":"asc"}`, []string{"c", "e", "a", "b", "d"}, `18446744073709551615`},
		{"unsigned_long desc", `{"u":"desc"}`, []string{"a", "e", "c", "b", "d"}, `0`},
		{"boolean desc", `{"b":"desc"}`, []string{"a", "e", "c", "b", "d"}, `-9223372036854775808`},
		{"unmapped_type long", `{"nope":{"order":"asc","unmapped_type":"long"}}`, []string{"a", "b", "c", "d", "e"}, `9223372036854775807`},
		{"keyword", `{"kw":"asc"}`, []string{"a", "e", "c", "b", "d"}, `null`},
		{"keyword desc first", `{"kw":{"order":"desc","missing":"_first"}}`, []string{"b", "d", "c", "e", "a"}, `null`},
		{"keyword custom", `{"kw":{"order":"asc","missing":"y"}}`, []string{"a", "b", "d", "e", "c"}, `"y"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, sorts := pageAfter(t, h, `[`+tt.sort+`,{"key":"asc"}]`, 2)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("paging visited %v, want %v", got, tt.want)
			}
			for _, id := range []string{"b", "d"} {
				if s, ok := sorts[id]; !ok || s != `[`+tt.missingSort+`,"`+id+`"]` {
					t.Errorf("hit %s: sort %s, want [%s,%q]", id, s, tt.missingSort, id)
				}
			}
		})
	}

	// On the field alone the stand-in ties b with d: search_after on b's values skips d,
	// as it skips any document equal on every sort value.
	t.Run("long alone", func(t *testing.T) {
		got, _ := pageAfter(t, h, `[{"n":"asc"}]`, 2)
		if want := []string{"c", "e", "a", "b"}; !reflect.DeepEqual(got, want) {
			t.Errorf("paging visited %v, want %v", got, want)
		}
	})
	t.Run("keyword alone", func(t *testing.T) {
		got, _ := pageAfter(t, h, `[{"kw":"asc"}]`, 2)
		if want := []string{"a", "e", "c", "b"}; !reflect.DeepEqual(got, want) {
			t.Errorf("paging visited %v, want %v", got, want)
		}
	})
	// A stand-in sent back in search_after is read as a value of the type: Long.MAX_VALUE
	// ties with the missing documents, "Infinity" parses as a double.
	t.Run("stand-ins read back", func(t *testing.T) {
		for _, c := range []struct{ sort, after, want string }{
			{`[{"n":"asc"},{"key":"asc"}]`, `[9223372036854775807,"b"]`, "d"},
			{`[{"n":"desc"},{"key":"asc"}]`, `[-9223372036854775808,"a"]`, "b,d"},
			{`[{"d":"asc"},{"key":"asc"}]`, `["Infinity","a"]`, "b,d"},
			{`[{"d":"asc"},{"key":"asc"}]`, `[1.5,"a"]`, "b,d"},
			{`[{"kw":"asc"},{"key":"asc"}]`, `[null,"b"]`, "d"},
			{`[{"kw":"asc"},{"key":"asc"}]`, `["z","c"]`, "b,d"},
		} {
			r := h.must(200, "POST", "/m/_search", `{"size":10,"sort":`+c.sort+`,"search_after":`+c.after+`}`)
			if got := strings.Join(hitIDs(t, r.body), ","); got != c.want {
				t.Errorf("sort %s after %s: %s, want %s", c.sort, c.after, got, c.want)
			}
		}
	})
}

// pageAfter pages through /m with search_after, size hits a page, and returns the ids in
// the order visited and each hit's sort array. It fails the test on a page that brings
// back a document already seen (a scan that does not advance).
func pageAfter(t *testing.T, h *harness, sort string, size int) ([]string, map[string]string) {
	t.Helper()
	var got []string
	sorts := map[string]string{}
	after := ""
	for range 10 {
		r := h.must(200, "POST", "/m/_search", fmt.Sprintf(`{"size":%d,"sort":%s%s}`, size, sort, after))
		var page struct {
			Hits struct {
				Hits []struct {
					ID   string          `json:"_id"`
					Sort json.RawMessage `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := json.Unmarshal([]byte(r.body), &page); err != nil {
			t.Fatalf("decoding %s: %v", r.body, err)
		}
		hits := page.Hits.Hits
		if len(hits) == 0 {
			return got, sorts
		}
		for _, hit := range hits {
			if _, seen := sorts[hit.ID]; seen {
				t.Fatalf("search_after %s brought %s back: the scan does not advance (visited %v)", after, hit.ID, got)
			}
			got = append(got, hit.ID)
			sorts[hit.ID] = string(hit.Sort)
		}
		after = `,"search_after":` + string(hits[len(hits)-1].Sort)
	}
	t.Fatalf("paging did not end after 10 pages (visited %v)", got)
	return nil, nil
}
