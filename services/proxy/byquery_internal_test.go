package proxy

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"
)

// TestByQuerySearchBody: the search a by-query request makes keeps the client's search
// members and adds what the proxy needs: batches of scroll_size, _version, _seq_no and
// _primary_term of each hit, _doc order unless the client sorts, exact totals, and no
// _source when the writes do not need it.
func TestByQuerySearchBody(t *testing.T) {
	tests := []struct {
		name, target, body string
		kind               byQueryKind
		want               string
	}{
		{"delete needs no source", "/i/_delete_by_query", `{"query":{"term":{"k":"a"}}}`, deleteByQuery,
			`{"query":{"term":{"k":"a"}},"sort":["_doc"],"_source":false,"track_total_hits":true,"size":1000,"version":true,"seq_no_primary_term":true}`},
		{"update indexes the source", "/i/_update_by_query?scroll_size=10", `{"query":{"match_all":{}},"conflicts":"proceed","max_docs":5}`, updateByQuery,
			`{"query":{"match_all":{}},"sort":["_doc"],"track_total_hits":true,"size":10,"version":true,"seq_no_primary_term":true}`},
		{"a script needs no source", "/i/_update_by_query", `{"script":{"source":"ctx._source.n++"}}`, updateByQuery,
			`{"sort":["_doc"],"_source":false,"track_total_hits":true,"size":1000,"version":true,"seq_no_primary_term":true}`},
		{"the client's sort, _source and totals", "/i/_delete_by_query", `{"sort":[{"n":"desc"}],"_source":["n"],"track_total_hits":false,"version":false}`, deleteByQuery,
			`{"sort":[{"n":"desc"}],"_source":["n"],"track_total_hits":false,"size":1000,"version":true,"seq_no_primary_term":true}`},
		{"the body's size is the batch size", "/i/_delete_by_query", `{"size":50}`, deleteByQuery,
			`{"sort":["_doc"],"_source":false,"track_total_hits":true,"size":50,"version":true,"seq_no_primary_term":true}`},
		{"scroll_size wins over the body's size", "/i/_delete_by_query?scroll_size=7", `{"size":50}`, deleteByQuery,
			`{"sort":["_doc"],"_source":false,"track_total_hits":true,"size":7,"version":true,"seq_no_primary_term":true}`},
		{"a sort in the query string", "/i/_update_by_query?sort=n:asc", ``, updateByQuery,
			`{"track_total_hits":true,"size":1000,"version":true,"seq_no_primary_term":true}`},
		{"reindex source", "/_reindex", `{"source":{"index":"a","size":7,"query":{"ids":{"values":["1"]}},"_source":["x"]},"dest":{"index":"b"}}`, reindexAPI,
			`{"query":{"ids":{"values":["1"]}},"_source":["x"],"sort":["_doc"],"track_total_hits":true,"size":7,"version":true,"seq_no_primary_term":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			index := ""
			if tt.kind != reindexAPI {
				index = "i"
			}
			job, ce := parseByQuery(httptest.NewRequest("POST", tt.target, nil), tt.kind, index, []byte(tt.body))
			if ce != nil {
				t.Fatal(ce)
			}
			if string(job.searchBody) != tt.want {
				t.Errorf("search body\n got %s\nwant %s", job.searchBody, tt.want)
			}
			if !json.Valid(job.searchBody) {
				t.Errorf("not JSON: %s", job.searchBody)
			}
		})
	}
}

func TestParseTimeValue(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"5m", 5 * time.Minute, true}, {"30s", 30 * time.Second, true}, {"250ms", 250 * time.Millisecond, true},
		{"1h", time.Hour, true}, {"2d", 48 * time.Hour, true}, {"10micros", 10 * time.Microsecond, true},
		{"7nanos", 7, true}, {"-1", 0, true}, {"0", 0, true},
		{"10", 0, false}, {"m", 0, false}, {"-5s", 0, false}, {"5 minutes", 0, false},
	} {
		got, err := parseTimeValue(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%q: %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
