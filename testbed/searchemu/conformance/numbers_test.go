package conformance_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// The numbers cases follow OpenSearch's NumberFieldMapper (NumberType.LONG and
// UNSIGNED_LONG: parse, termQuery, rangeQuery, createFields), org.opensearch.common.Numbers
// (toUnsignedLong, toUnsignedLongExact), UnsignedLongValuesComparatorSource (missing values
// 0 and 2^64-1), SearchSortValues (sort values written as the Long/BigInteger they are),
// DateFieldMapper.Resolution.NANOSECONDS and DateUtils.toLong (date_nanos).

// bulkIndex indexes docs (id → source) into index with refresh=true, requiring no errors.
func (e *emu) bulkIndex(t testing.TB, index string, docs [][2]string) {
	t.Helper()
	var b strings.Builder
	for _, d := range docs {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":%q,\"_id\":%q}}\n%s\n", index, d[0], d[1])
	}
	r := e.bulk(t, "", b.String(), opensearchapi.BulkParams{Refresh: "true"})
	if r.Status != http.StatusOK || bytes.Contains(r.Body, []byte(`"errors":true`)) {
		t.Fatalf("bulk setup: %s", r)
	}
}

// rawSorts returns every hit's "sort" array as compact raw JSON text, so that numbers are
// compared digit for digit rather than through float64.
func rawSorts(t testing.TB, body []byte) []string {
	t.Helper()
	var hits []json.RawMessage
	if err := json.Unmarshal(rawAt(t, body, "hits", "hits"), &hits); err != nil {
		t.Fatalf("hits.hits is not an array: %s", truncate(body, 400))
	}
	out := make([]string, 0, len(hits))
	for _, h := range hits {
		var c bytes.Buffer
		if err := json.Compact(&c, rawAt(t, h, "sort")); err != nil {
			t.Fatalf("sort is not JSON: %v", err)
		}
		out = append(out, c.String())
	}
	return out
}

func wantSearch(t testing.TB, r *resp, ids []string, sorts []string) {
	t.Helper()
	if !wantStatus(t, r, 200) {
		return
	}
	if got := hitIDs(t, r.Body); !reflect.DeepEqual(got, ids) {
		t.Errorf("%s: hit ids want %v, got %v", r.desc, ids, got)
	}
	if sorts != nil {
		if got := rawSorts(t, r.Body); !reflect.DeepEqual(got, sorts) {
			t.Errorf("%s: sort values want %v, got %v", r.desc, sorts, got)
		}
	}
}

// wantCause asserts error.caused_by type and reason.
func wantCause(t testing.TB, body []byte, typ, reason string, path ...any) {
	t.Helper()
	p := append(append([]any{}, path...), "caused_by")
	if !has(body, p...) {
		t.Errorf("no caused_by at %v in %s", path, truncate(body, 600))
		return
	}
	if got := str(t, body, append(p, "type")...); got != typ {
		t.Errorf("caused_by.type want %q, got %q", typ, got)
	}
	if got := str(t, body, append(p, "reason")...); got != reason {
		t.Errorf("caused_by.reason\n want %q\n  got %q", reason, got)
	}
}

func TestUnsignedLong(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "u", `{"mappings":{"properties":{"u":{"type":"unsigned_long"},"m":{"type":"unsigned_long","ignore_malformed":true}}}}`)
	e.bulkIndex(t, "u", [][2]string{
		{"max", `{"u":18446744073709551615}`},
		{"zero", `{"u":0}`},
		{"2^63", `{"u":9223372036854775808}`},
		{"str", `{"u":"18446744073709551614"}`},
		{"2^63-1", `{"u":9223372036854775807}`},
		{"none", `{"other":1}`},
	})

	t.Run("values above 2^63 are stored as given", func(t *testing.T) {
		if got := string(e.source(t, "u", "max")); got != `{"u":18446744073709551615}` {
			t.Errorf("_source want the literal back, got %s", got)
		}
	})
	t.Run("refused values", func(t *testing.T) {
		cases := []struct {
			name, doc, preview, cause string
		}{
			{"2^64", `{"u":18446744073709551616}`, "18446744073709551616", "Value [18446744073709551616] is out of range for an unsigned long"},
			{"negative", `{"u":-1}`, "-1", "Value [-1] is out of range for an unsigned long"},
			{"negative string", `{"u":"-1"}`, "-1", "Value [-1] is out of range for an unsigned long"},
			{"string above 2^64", `{"u":"18446744073709551616"}`, "18446744073709551616", "Value [18446744073709551616] is out of range for an unsigned long"},
			{"not a number", `{"u":"abc"}`, "abc", `For input string: "abc"`},
			// the range check is made when the Lucene fields are created, after
			// ignore_malformed had its say
			{"ignore_malformed does not cover the range", `{"m":-5}`, "-5", "Value [-5] is out of range for an unsigned long"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "u", DocumentID: "bad", Body: strings.NewReader(tc.doc)})
				field := "u"
				if strings.HasPrefix(tc.doc, `{"m"`) {
					field = "m"
				}
				wantError(t, r, 400, "mapper_parsing_exception", "failed to parse field ["+field+"] of type [unsigned_long] in document with id 'bad'. Preview of field's value: '"+tc.preview+"'")
				wantCause(t, r.Body, iae, tc.cause, "error")
			})
		}
	})
	t.Run("ignore_malformed covers unparsable strings", func(t *testing.T) {
		// refresh=true: the sort case below searches for it
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "u", DocumentID: "m1", Body: strings.NewReader(`{"m":"abc"}`), Params: opensearchapi.IndexParams{Refresh: "true"}})
		wantStatus(t, r, 201)
	})
	t.Run("term and range are exact", func(t *testing.T) {
		cases := []struct {
			name, query string
			ids         []string
		}{
			{"term max", `{"term":{"u":18446744073709551615}}`, []string{"max"}},
			{"term string 2^63", `{"term":{"u":"9223372036854775808"}}`, []string{"2^63"}},
			{"term 2^63-1", `{"term":{"u":9223372036854775807}}`, []string{"2^63-1"}},
			{"term with a decimal part", `{"term":{"u":1.5}}`, []string{}},
			{"range above 2^63", `{"range":{"u":{"gte":9223372036854775808}}}`, []string{"2^63", "max", "str"}},
			{"range gt max-1", `{"range":{"u":{"gt":"18446744073709551614"}}}`, []string{"max"}},
			{"range below 2^63", `{"range":{"u":{"lt":9223372036854775808}}}`, []string{"2^63-1", "zero"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := e.search(t, "u", `{"query":`+tc.query+`,"sort":[{"_id":"asc"}]}`, opensearchapi.SearchParams{})
				if wantStatus(t, r, 200) {
					if got := hitIDs(t, r.Body); !reflect.DeepEqual(sorted(got), sorted(tc.ids)) {
						t.Errorf("ids want %v, got %v", tc.ids, got)
					}
				}
			})
		}
	})
	t.Run("sort values are exact numbers", func(t *testing.T) {
		r := e.search(t, "u", `{"query":{"match_all":{}},"sort":[{"u":"asc"}]}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"zero", "2^63-1", "2^63", "str", "max", "none", "m1"},
			[]string{"[0]", "[9223372036854775807]", "[9223372036854775808]", "[18446744073709551614]", "[18446744073709551615]", "[18446744073709551615]", "[18446744073709551615]"})
		r = e.search(t, "u", `{"query":{"exists":{"field":"u"}},"sort":[{"u":"desc"}]}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"max", "str", "2^63", "2^63-1", "zero"}, nil)
	})
	t.Run("missing values sort as 0 when descending", func(t *testing.T) {
		r := e.search(t, "u", `{"query":{"ids":{"values":["none","zero"]}},"sort":[{"u":"desc"}]}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"zero", "none"}, []string{"[0]", "[0]"})
	})
	t.Run("search_after an unsigned value", func(t *testing.T) {
		r := e.search(t, "u", `{"query":{"exists":{"field":"u"}},"sort":[{"u":"asc"}],"search_after":[9223372036854775808]}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"str", "max"}, []string{"[18446744073709551614]", "[18446744073709551615]"})
	})
}

func TestLongNearMaxSortsExactly(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "l", `{"mappings":{"properties":{"n":{"type":"long"}}}}`)
	e.bulkIndex(t, "l", [][2]string{
		{"b", `{"n":9223372036854775806}`},
		{"c", `{"n":9223372036854775807}`},
		{"a", `{"n":9223372036854775805}`},
		{"s", `{"n":"9223372036854775804"}`},
		{"min", `{"n":-9223372036854775808}`},
	})
	t.Run("ascending", func(t *testing.T) {
		r := e.search(t, "l", `{"sort":[{"n":"asc"}]}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"min", "s", "a", "b", "c"},
			[]string{"[-9223372036854775808]", "[9223372036854775804]", "[9223372036854775805]", "[9223372036854775806]", "[9223372036854775807]"})
	})
	t.Run("descending", func(t *testing.T) {
		r := e.search(t, "l", `{"sort":[{"n":"desc"}]}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"c", "b", "a", "s", "min"}, nil)
	})
	t.Run("term and range", func(t *testing.T) {
		r := e.search(t, "l", `{"query":{"term":{"n":9223372036854775806}}}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"b"}, nil)
		r = e.search(t, "l", `{"query":{"range":{"n":{"gt":9223372036854775805}}},"sort":[{"n":"asc"}]}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"b", "c"}, nil)
	})
	t.Run("search_after", func(t *testing.T) {
		r := e.search(t, "l", `{"sort":[{"n":"asc"}],"search_after":[9223372036854775805]}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"b", "c"}, nil)
	})
}

func TestDateNanos(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "dn", `{"mappings":{"properties":{"d":{"type":"date_nanos"},"ms":{"type":"date"}}}}`)
	e.bulkIndex(t, "dn", [][2]string{
		{"789", `{"d":"2024-05-01T12:00:00.123456789Z","ms":"2024-05-01T12:00:00.123456789Z"}`},
		{"788", `{"d":"2024-05-01T12:00:00.123456788Z"}`},
		{"epoch", `{"d":1714564800000}`},
	})
	t.Run("sort values are nanoseconds", func(t *testing.T) {
		r := e.search(t, "dn", `{"sort":[{"d":"asc"}]}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"epoch", "788", "789"},
			[]string{"[1714564800000000000]", "[1714564800123456788]", "[1714564800123456789]"})
	})
	t.Run("date sort values stay milliseconds", func(t *testing.T) {
		r := e.search(t, "dn", `{"query":{"ids":{"values":["789"]}},"sort":[{"ms":"asc"}]}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"789"}, []string{"[1714564800123]"})
	})
	t.Run("term and range at nanosecond precision", func(t *testing.T) {
		r := e.search(t, "dn", `{"query":{"term":{"d":"2024-05-01T12:00:00.123456789Z"}}}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"789"}, nil)
		r = e.search(t, "dn", `{"query":{"range":{"d":{"gt":"2024-05-01T12:00:00.123456788Z"}}}}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"789"}, nil)
		r = e.search(t, "dn", `{"query":{"range":{"d":{"lte":"2024-05-01T12:00:00.123456788Z"}}},"sort":[{"d":"asc"}]}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"epoch", "788"}, nil)
	})
	t.Run("search_after a nanosecond sort value", func(t *testing.T) {
		r := e.search(t, "dn", `{"sort":[{"d":"asc"}],"search_after":[1714564800123456788]}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"789"}, nil)
	})
	t.Run("before the epoch is refused", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "dn", DocumentID: "old", Body: strings.NewReader(`{"d":"1969-12-31T23:59:59Z"}`)})
		wantError(t, r, 400, "mapper_parsing_exception", "failed to parse field [d] of type [date_nanos] in document with id 'old'. Preview of field's value: '1969-12-31T23:59:59Z'")
		wantCause(t, r.Body, iae, "date[1969-12-31T23:59:59Z] is before the epoch in 1970 and cannot be stored in nanosecond resolution", "error")
	})
}

func TestMappingLimits(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	t.Run("nested_objects.limit refuses the document", func(t *testing.T) {
		e.createIndex(t, "no", `{"settings":{"index.mapping.nested_objects.limit":2},"mappings":{"properties":{"items":{"type":"nested","properties":{"sub":{"type":"nested"}}}}}}`)
		e.put(t, "no", "ok", `{"items":[{"a":1},{"a":2}]}`)
		const reason = "The number of nested documents has exceeded the allowed limit of [2]. This limit can be set by changing the [index.mapping.nested_objects.limit] index level setting."
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "no", DocumentID: "3", Body: strings.NewReader(`{"items":[{"a":1},{"a":2},{"a":3}]}`)})
		wantError(t, r, 400, "mapper_parsing_exception", reason)
		// objects nested in nested objects are documents too
		r = e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "no", DocumentID: "deep", Body: strings.NewReader(`{"items":[{"sub":[{"b":1},{"b":2}]}]}`)})
		wantError(t, r, 400, "mapper_parsing_exception", reason)
		r = e.bulk(t, "no", "{\"index\":{\"_id\":\"b\"}}\n{\"items\":[{},{},{}]}\n", opensearchapi.BulkParams{})
		wantItemError(t, r, 0, "index", 400, "mapper_parsing_exception", reason)
	})
	t.Run("nested_fields.limit refuses the mapping", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndicesCreateReq{Index: "nf", Body: strings.NewReader(`{"settings":{"index.mapping.nested_fields.limit":1},"mappings":{"properties":{"a":{"type":"nested"},"b":{"type":"nested"}}}}`)})
		wantError(t, r, 400, iae, "Limit of nested fields [1] has been exceeded")
		e.createIndex(t, "nf", `{"settings":{"index.mapping.nested_fields.limit":1},"mappings":{"properties":{"a":{"type":"nested"}}}}`)
		r = e.do(t, http.MethodPut, opensearchapi.MappingPutReq{Indices: []string{"nf"}, Body: strings.NewReader(`{"properties":{"b":{"type":"nested"}}}`)})
		wantError(t, r, 400, iae, "Limit of nested fields [1] has been exceeded")
	})
	t.Run("depth counts a root object as two", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndicesCreateReq{Index: "dp", Body: strings.NewReader(`{"settings":{"index.mapping.depth.limit":1},"mappings":{"properties":{"a":{"properties":{"b":{"properties":{"c":{"type":"keyword"}}}}}}}}`)})
		wantError(t, r, 400, iae, "Limit of mapping depth [1] has been exceeded due to object field [a]")
	})
	t.Run("total fields", func(t *testing.T) {
		e.createIndex(t, "tf", `{"settings":{"index.mapping.total_fields.limit":1},"mappings":{"properties":{"a":{"type":"keyword"}}}}`)
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "tf", DocumentID: "1", Body: strings.NewReader(`{"b":"x"}`)})
		wantError(t, r, 400, iae, "Limit of total fields [1] has been exceeded")
	})
}

// TestDateQueryRounding follows DateFieldType.termQuery/dateRangeQuery (bounds read
// rounded down for gte/lt and up for gt/lte), JavaDateFormatter's round-up defaults and
// EpochTime's epoch_millis round-up (999999 nanoseconds).
func TestDateQueryRounding(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "dr", `{"mappings":{"properties":{"d":{"type":"date"},"dn":{"type":"date_nanos"}}}}`)
	e.bulkIndex(t, "dr", [][2]string{
		{"start", `{"d":"2024-05-01T00:00:00Z"}`},
		{"end", `{"d":"2024-05-01T23:59:59.999Z"}`},
		{"next", `{"d":"2024-05-02T00:00:00Z"}`},
		{"n500", `{"dn":"2024-05-01T12:00:00.000000500Z"}`},
		{"n1ms", `{"dn":"2024-05-01T12:00:00.001Z"}`},
		{"n1s", `{"dn":"2024-05-01T12:00:01Z"}`},
	})
	cases := []struct {
		name, query string
		ids         []string
	}{
		{"term on a day matches the day", `{"term":{"d":"2024-05-01"}}`, []string{"end", "start"}},
		{"lte a day includes it", `{"range":{"d":{"lte":"2024-05-01"}}}`, []string{"end", "start"}},
		{"gt a day excludes it", `{"range":{"d":{"gt":"2024-05-01"}}}`, []string{"next"}},
		{"lt a day", `{"range":{"d":{"lt":"2024-05-02"}}}`, []string{"end", "start"}},
		{"gte a second", `{"range":{"d":{"gte":"2024-05-01T23:59:59"}}}`, []string{"end", "next"}},
		{"lte a minute", `{"range":{"d":{"lte":"2024-05-01T00:00"}}}`, []string{"start"}},
		{"term on a second of date_nanos", `{"term":{"dn":"2024-05-01T12:00:00Z"}}`, []string{"n1ms", "n500"}},
		{"term on epoch millis of date_nanos", `{"term":{"dn":1714564800000}}`, []string{"n500"}},
		{"term with a fraction is exact", `{"term":{"dn":"2024-05-01T12:00:00.000000500Z"}}`, []string{"n500"}},
		{"gt a millisecond of date_nanos", `{"range":{"dn":{"gt":"2024-05-01T12:00:00.000Z"}}}`, []string{"n1ms", "n1s", "n500"}},
		{"gt epoch millis of date_nanos", `{"range":{"dn":{"gt":1714564800000}}}`, []string{"n1ms", "n1s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.search(t, "dr", `{"query":`+tc.query+`}`, opensearchapi.SearchParams{})
			if wantStatus(t, r, 200) {
				if got := sorted(hitIDs(t, r.Body)); !reflect.DeepEqual(got, tc.ids) {
					t.Errorf("ids want %v, got %v", tc.ids, got)
				}
			}
		})
	}
	// JavaDateMathParser.parseDateTime: OpenSearchParseException around the formatter's
	// IllegalArgumentException, wrapped by QueryShardContext.toQuery
	t.Run("an unparsable value fails the query", func(t *testing.T) {
		const format = "strict_date_optional_time||epoch_millis"
		inner := "failed to parse date field [soon] with format [" + format + "]"
		r := e.search(t, "dr", `{"query":{"range":{"d":{"gte":"soon"}}}}`, opensearchapi.SearchParams{})
		wantError(t, r, 400, "search_phase_execution_exception", "all shards failed")
		outer := inner + ": [" + inner + "]"
		wantCause(t, r.Body, "query_shard_exception", "failed to create query: "+outer, "error")
		wantCause(t, r.Body, "parse_exception", outer, "error", "caused_by")
		wantCause(t, r.Body, iae, inner, "error", "caused_by", "caused_by")
		// root causes look through server exceptions only: the parse_exception
		if got := str(t, r.Body, "error", "root_cause", 0, "type"); got != "parse_exception" {
			t.Errorf("root_cause type want parse_exception, got %q", got)
		}
	})
}

// TestIntegerQueryValues follows NumberType.termQuery/rangeQuery: values are parsed when
// the shard builds the query (hasDecimalPart, objectToLong, objectToUnsignedLong,
// Numbers.toLong), and QueryShardContext.toQuery wraps what they throw.
func TestIntegerQueryValues(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "iq", `{"mappings":{"properties":{"n":{"type":"long"},"i":{"type":"integer"},"u":{"type":"unsigned_long"}}}}`)
	e.put(t, "iq", "1", `{"n":1,"i":1,"u":1}`)
	refusals := []struct {
		name, query, causeType, cause string
	}{
		{"not a number", `{"term":{"n":"abc"}}`, "number_format_exception", `For input string: "abc"`},
		{"above a long", `{"term":{"n":9223372036854775808}}`, iae, "Value [9223372036854775808] is out of range for a long"},
		{"above a long as a string", `{"term":{"n":"9223372036854775808"}}`, iae, "Value [9223372036854775808] is out of range for a long"},
		{"above an integer", `{"term":{"i":2147483648}}`, iae, "Value [2147483648] is out of range for an integer"},
		{"negative unsigned", `{"term":{"u":-1}}`, iae, "Value [-1] is out of range for an unsigned long"},
		{"range bound above 2^64", `{"range":{"u":{"lte":18446744073709551616}}}`, iae, "Value [18446744073709551616] is out of range for an unsigned long"},
		{"range bound not a number", `{"range":{"n":{"gte":"x"}}}`, "number_format_exception", `For input string: "x"`},
		{"terms value", `{"terms":{"i":[1,"y"]}}`, "number_format_exception", `For input string: "y"`},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			r := e.search(t, "iq", `{"query":`+tc.query+`}`, opensearchapi.SearchParams{})
			wantError(t, r, 400, "search_phase_execution_exception", "all shards failed")
			wantCause(t, r.Body, "query_shard_exception", "failed to create query: "+tc.cause, "error")
			wantCause(t, r.Body, tc.causeType, tc.cause, "error", "caused_by")
		})
	}
	t.Run("a decimal part matches nothing", func(t *testing.T) {
		r := e.search(t, "iq", `{"query":{"term":{"n":1.5}}}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{}, nil)
	})
	t.Run("a fractional range bound rounds", func(t *testing.T) {
		r := e.search(t, "iq", `{"query":{"range":{"n":{"gt":0.5,"lt":1.5}}}}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"1"}, nil)
	})
}
