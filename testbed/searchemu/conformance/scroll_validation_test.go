package conformance_test

import (
	"net/http"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestScrollRefusesLimitedTotalHits: a scroll counts every hit, so SearchRequest.validate
// refuses track_total_hits set to false or to a limit, its first scroll check
// (opensearch-project/OpenSearch
// server/src/main/java/org/opensearch/action/search/SearchRequest.java, the same in
// Elasticsearch: "disabling [track_total_hits] is not allowed in a scroll context").
// true, Integer.MAX_VALUE and leaving it out are accepted.
func TestScrollRefusesLimitedTotalHits(t *testing.T) {
	t.Parallel()
	for _, f := range []searchemu.Flavor{searchemu.OpenSearch2, searchemu.Elasticsearch8} {
		e := newEmu(t, searchemu.Options{Flavor: f})
		e.bulk(t, "", "{\"index\":{\"_index\":\"s\",\"_id\":\"1\"}}\n{}\n", opensearchapi.BulkParams{Refresh: "true"})
		const msg = "disabling [track_total_hits] is not allowed in a scroll context"
		refused := []struct{ name, query, body, reason string }{
			{"false in the body", "", `{"track_total_hits":false}`, "Validation Failed: 1: " + msg + ";"},
			{"a limit in the body", "", `{"track_total_hits":10000}`, "Validation Failed: 1: " + msg + ";"},
			{"false as a parameter", "&track_total_hits=false", "", "Validation Failed: 1: " + msg + ";"},
			{"before the size check", "", `{"size":0,"track_total_hits":false}`, "Validation Failed: 1: " + msg + ";2: [size] cannot be [0] in a scroll context;"},
		}
		for _, tc := range refused {
			t.Run(f.String()+" refuses "+tc.name, func(t *testing.T) {
				r := e.raw(t, http.MethodPost, "/s/_search?scroll=1m"+tc.query, tc.body)
				wantError(t, r, 400, "action_request_validation_exception", tc.reason)
			})
		}
		for _, body := range []string{`{"track_total_hits":true}`, `{"track_total_hits":2147483647}`, `{}`} {
			t.Run(f.String()+" accepts "+body, func(t *testing.T) {
				r := e.raw(t, http.MethodPost, "/s/_search?scroll=1m", body)
				if wantStatus(t, r, 200) {
					id := str(t, r.Body, "_scroll_id")
					e.raw(t, http.MethodDelete, "/_search/scroll", `{"scroll_id":["`+id+`"]}`)
				}
			})
		}
	}
}
