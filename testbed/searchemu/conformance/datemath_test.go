package conformance_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// dm URL-encodes a date math index expression for a path, as clients must.
func dm(expr string) string { return url.PathEscape(expr) }

// TestDateMathIndexNames follows IndexNameExpressionResolver.DateMathExpressionResolver:
// <static{math{format|zone}}static>, resolved on the cluster clock for writes, index
// creation and reads. The clock stands at 2024-05-01T12:00:00Z.
func TestDateMathIndexNames(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	e := newEmu(t, searchemu.Options{Now: clock.Now})

	t.Run("index a document", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/"+dm("<logs-{now/d}>")+"/_doc/1?refresh=true", `{"a":1}`)
		if wantStatus(t, r, 201) {
			if got := str(t, r.Body, "_index"); got != "logs-2024.05.01" {
				t.Errorf("_index want logs-2024.05.01, got %q", got)
			}
		}
	})

	t.Run("read it back by the expression", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/"+dm("<logs-{now/d}>")+"/_doc/1", "")
		if wantStatus(t, r, 200) && str(t, r.Body, "_index") != "logs-2024.05.01" {
			t.Errorf("_index want logs-2024.05.01: %s", r.Body)
		}
	})

	t.Run("search a comma list of expressions", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/"+dm("<logs-{now/d}>")+","+dm("<logs-{now-1d/d}>")+"/_search?ignore_unavailable=true", "")
		if wantStatus(t, r, 200) && num(t, r.Body, "hits", "total", "value") != 1 {
			t.Errorf("want one hit: %s", r.Body)
		}
	})

	t.Run("the clock moves on", func(t *testing.T) {
		clock.Advance(24 * time.Hour)
		t.Cleanup(func() { clock.Advance(-24 * time.Hour) })
		r := e.raw(t, http.MethodPut, "/"+dm("<logs-{now/d}>")+"/_doc/2", `{}`)
		if wantStatus(t, r, 201) && str(t, r.Body, "_index") != "logs-2024.05.02" {
			t.Errorf("_index want logs-2024.05.02: %s", r.Body)
		}
	})

	creates := []struct{ name, expr, want string }{
		{"custom format", "<metrics-{now/M{yyyy.MM}}>", "metrics-2024.05"},
		{"custom format and zone", "<tz-{now/d{yyyy.MM.dd|+12:00}}>", "tz-2024.05.02"},
		{"region zone", "<ny-{now{yyyy.MM.dd.HH|America/New_York}}>", "ny-2024.05.01.08"},
		{"arithmetic", "<wk-{now-2w/d}>", "wk-2024.04.17"},
		{"escaped braces", `<elastic\{on\}-{now/M}>`, "elastic{on}-2024.05.01"},
		{"two placeholders", "<a-{now/y{yyyy}}-{now/M{MM}}>", "a-2024-05"},
	}
	for _, tc := range creates {
		t.Run("create "+tc.name, func(t *testing.T) {
			r := e.raw(t, http.MethodPut, "/"+dm(tc.expr), "")
			if wantStatus(t, r, 200) {
				wantJSON(t, r.Body, `{"acknowledged":true,"shards_acknowledged":true,"index":"`+tc.want+`"}`)
			}
			if h := e.raw(t, http.MethodHead, "/"+dm(tc.want), ""); h.Status != 200 {
				t.Errorf("index %s must exist: %s", tc.want, h)
			}
		})
	}

	refusals := []struct{ name, expr, reason string }{
		{"open placeholder", "<logs-{now/d>", "invalid dynamic name expression [logs-{now/d>]. date math placeholder is open ended"},
		{"stray closing brace", "<logs-}>", "invalid dynamic name expression [logs-}>]. invalid character at position [6]. `{` and `}` are reserved characters and should be escaped when used as part of the index name using `\\` (e.g. `\\{text\\}`)"},
		{"missing format", "<logs-{now/d{}}>", "invalid dynamic name expression [now/d{}]. missing date format"},
		{"nothing captured", "<>", "nothing captured"},
	}
	for _, tc := range refusals {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			r := e.raw(t, http.MethodPut, "/"+dm(tc.expr)+"/_doc/x", `{}`)
			wantError(t, r, 400, "parse_exception", tc.reason)
		})
	}

	t.Run("only a whole <…> expression is date math", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/"+dm("<logs-{now/d}")+"/_doc/1", `{}`)
		if r.Status != 400 || str(t, r.Body, "error", "type") != "invalid_index_name_exception" {
			t.Errorf("a name that is not wrapped in <> is taken literally and refused: %s", r)
		}
	})

	t.Run("bulk action lines", func(t *testing.T) {
		body := "{\"index\":{\"_index\":\"<bulk-{now/d}>\",\"_id\":\"1\"}}\n{}\n{\"index\":{\"_index\":\"<bulk-{now/d>\",\"_id\":\"2\"}}\n{}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		if _, it := item(t, r.Body, 0); str(t, it, "_index") != "bulk-2024.05.01" || num(t, it, "status") != 201 {
			t.Errorf("item 0 want created in bulk-2024.05.01: %s", it)
		}
		if _, it := item(t, r.Body, 1); str(t, it, "error", "type") != "parse_exception" || num(t, it, "status") != 400 {
			t.Errorf("item 1 want a 400 parse_exception: %s", it)
		}
		r = e.bulk(t, "<bulk-{now/d}>", "{\"index\":{\"_id\":\"3\"}}\n{}\n", opensearchapi.BulkParams{})
		if _, it := item(t, r.Body, 0); str(t, it, "_index") != "bulk-2024.05.01" {
			t.Errorf("path default index want bulk-2024.05.01: %s", it)
		}
	})
}
