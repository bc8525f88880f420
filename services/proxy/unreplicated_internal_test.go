package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestUnreplicatedRoute: which passed-through requests count as writes the proxy does
// not replicate, and under which route label.
func TestUnreplicatedRoute(t *testing.T) {
	tests := []struct {
		method, target string
		want           string // "" when not counted
	}{
		// writes fanout does not replicate
		{"POST", "/logs/_delete_by_query?conflicts=proceed", "POST /{index}/_delete_by_query"},
		{"POST", "/logs-*,other/_update_by_query", "POST /{index}/_update_by_query"},
		{"POST", "/_reindex", "POST /_reindex"},
		{"PUT", "/logs", "PUT /{index}"},
		{"DELETE", "/logs", "DELETE /{index}"},
		{"PUT", "/logs/_mapping", "PUT /{index}/_mapping"},
		{"PUT", "/logs/_settings", "PUT /{index}/_settings"},
		{"PUT", "/_settings", "PUT /_settings"},
		{"POST", "/_aliases", "POST /_aliases"},
		{"PUT", "/logs/_alias/current", "PUT /{index}/_alias/{name}"},
		{"PUT", "/_index_template/logs", "PUT /_index_template/{name}"},
		{"PUT", "/_template/t1", "PUT /_template/{name}"},
		{"PUT", "/_component_template/c1", "PUT /_component_template/{name}"},
		{"PUT", "/_ingest/pipeline/p1", "PUT /_ingest/pipeline/{name}"},
		{"PUT", "/_search/pipeline/p1", "PUT /_search/pipeline/{name}"},
		{"DELETE", "/_search/pipeline/p1", "DELETE /_search/pipeline/{name}"},
		{"PUT", "/_scripts/my-script", "PUT /_scripts/{name}"},
		{"PUT", "/_data_stream/logs-app", "PUT /_data_stream/{name}"},
		{"POST", "/logs/_open", "POST /{index}/_open"},
		{"POST", "/logs/_close", "POST /{index}/_close"},
		{"PUT", "/logs/_block/write", "PUT /{index}/_block/write"},
		{"POST", "/logs-alias/_rollover", "POST /{index}/_rollover"},
		{"POST", "/logs/_shrink/logs-small", "POST /{index}/_shrink/{name}"},
		{"PUT", "/_cluster/settings", "PUT /_cluster/settings"},
		{"POST", "/_cluster/reroute", "POST /_cluster/reroute"},
		{"POST", "/_nodes/reload_secure_settings", "POST /_nodes/reload_secure_settings"},
		{"PUT", "/_plugins/_security/api/internalusers/alice", "PUT /_plugins/_security/api/internalusers/{name}"},
		{"PUT", "/_snapshot/backups/snap-2024.01.01", "PUT /_snapshot/{name}/{name}"},
		{"POST", "/_snapshot/backups/snap-1/_restore", "POST /_snapshot/{name}/{name}/_restore"},
		{"POST", "/_plugins/_ism/add/logs", "POST /_plugins/_ism/add/{name}"},
		// document APIs the proxy does not replicate in this form: ids become {id}
		{"PUT", "/logs/_doc", "PUT /{index}/_doc"},
		{"PATCH", "/logs/_doc/secret-id-1", "PATCH /{index}/_doc/{id}"},
		{"POST", "/logs/_doc/_under/_update", "POST /{index}/_doc/{id}/_update"},
		{"PUT", "/logs/typed/42", "PUT /{index}/{name}/{name}"},
		{"PUT", "//logs/_doc/1", "PUT /{index}/{name}/_doc/{id}"},
		{"POST", "/_bulk/_doc/1", "POST /_bulk/_doc/{id}"},
		// bounded labels: odd segments and long paths
		{"POST", "/_Weird%20Api/x", "POST /{index}/{name}"},
		{"POST", "/a/b/c/d/e/f/g/h", "POST /{index}/{name}/{name}/{name}/{name}/{name}/…"},
		{"POST", "/", "POST /"},
		{"DELETE", "/%ff%fe/_x", "DELETE /{index}/_x"},

		// reads and maintenance that accept POST or DELETE: not counted
		{"POST", "/logs/_search?scroll=1m", ""},
		{"POST", "/_search/scroll", ""},
		{"DELETE", "/_search/scroll/abc", ""},
		{"POST", "/logs/_search/point_in_time?keep_alive=1m", ""},
		{"DELETE", "/_search/point_in_time/_all", ""},
		{"POST", "/_search/template", ""},
		{"POST", "/_msearch/template", ""},
		{"POST", "/_render/template", ""},
		{"POST", "/_msearch", ""},
		{"POST", "/logs/_count", ""},
		{"POST", "/_mget", ""},
		{"POST", "/logs/_field_caps?fields=*", ""},
		{"POST", "/logs/_validate/query", ""},
		{"POST", "/logs/_explain/1", ""},
		{"POST", "/_analyze", ""},
		{"POST", "/logs/_termvectors/1", ""},
		{"POST", "/_mtermvectors", ""},
		{"POST", "/logs/_rank_eval", ""},
		{"POST", "/logs/_search_shards", ""},
		{"POST", "/_ingest/pipeline/p1/_simulate", ""},
		{"POST", "/_index_template/_simulate_index/logs-1", ""},
		{"POST", "/_scripts/painless/_execute", ""},
		{"POST", "/_cluster/allocation/explain", ""},
		{"POST", "/_refresh", ""},
		{"POST", "/logs/_refresh", ""},
		{"POST", "/logs/_flush", ""},
		{"POST", "/logs/_forcemerge?max_num_segments=1", ""},
		{"POST", "/logs/_cache/clear", ""},
		{"POST", "/_tasks/_cancel?actions=*reindex", ""},
		{"POST", "/_tasks/node:1/_cancel", ""},
		{"POST", "/_plugins/_sql", ""},
		{"POST", "/_plugins/_ppl", ""},
		{"POST", "/_plugins/_asynchronous_search", ""},
		{"POST", "/logs/_pit?keep_alive=1m", ""},
		{"DELETE", "/_pit", ""},
		{"POST", "/logs/_async_search", ""},
		{"POST", "/_sql?format=txt", ""},
		{"POST", "/logs/_eql/search", ""},
		{"POST", "/_query", ""},
		// safe methods and unknown ones are never writes
		{"GET", "/logs/_doc/1", ""},
		{"HEAD", "/logs", ""},
		{"OPTIONS", "/logs/_doc/1", ""},
		{"TRACE", "/", ""},
		{"FROB", "/logs", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			got, ok := unreplicatedRoute(httptest.NewRequest(tt.method, tt.target, nil))
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("unreplicatedRoute = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

// TestUnreplicatedWritesCountAndLog: every request is counted; the log has one line
// per route per minute, saying how many it left out; past maxUnreplicatedRoutes
// routes, new ones share the "other" label and its log state.
func TestUnreplicatedWritesCountAndLog(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	u := newUnreplicatedWrites(reg, slog.New(slog.NewJSONHandler(&logs, nil)), func() time.Time { return now })
	dbq := httptest.NewRequest("POST", "/logs/_delete_by_query", nil)
	for i := 0; i < 5; i++ {
		u.observe(dbq, 200)
	}
	u.observe(httptest.NewRequest("POST", "/logs/_search", nil), 200) // a read: nothing
	u.observe(httptest.NewRequest("PUT", "/other", nil), 400)
	now = now.Add(59 * time.Second)
	u.observe(dbq, 200)
	now = now.Add(time.Second)
	u.observe(dbq, 409)

	lines := logLines(t, logs.String())
	if len(lines) != 3 {
		t.Fatalf("want 3 log lines (two for the delete by query, a minute apart, one for the index creation), got %d:\n%s", len(lines), logs.String())
	}
	for i, want := range []struct {
		route  string
		status float64
		supp   float64
	}{{"POST /{index}/_delete_by_query", 200, 0}, {"PUT /{index}", 400, 0}, {"POST /{index}/_delete_by_query", 409, 5}} {
		l := lines[i]
		if l["level"] != "WARN" || l["route"] != want.route || l["status"] != want.status || l["suppressed"] != want.supp {
			t.Errorf("line %d: %v, want route %s status %v suppressed %v at WARN", i, l, want.route, want.status, want.supp)
		}
	}
	if lines[0]["path"] != "/logs/_delete_by_query" || lines[0]["method"] != "POST" {
		t.Errorf("the line names the request: %v", lines[0])
	}

	want := `
# HELP fanout_proxy_unreplicated_writes_total Requests that look like writes (POST, PUT, DELETE or PATCH outside the read APIs) that the proxy passed to the primary without publishing anything, whatever the primary answered, by route (a pattern such as "POST /{index}/_shrink/{name}"): what they changed is on the primary only.
# TYPE fanout_proxy_unreplicated_writes_total counter
fanout_proxy_unreplicated_writes_total{route="POST /{index}/_delete_by_query"} 7
fanout_proxy_unreplicated_writes_total{route="PUT /{index}"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "fanout_proxy_unreplicated_writes_total"); err != nil {
		t.Error(err)
	}

	// Fill the label's values up to the cap, then go past it.
	for i := len(u.routes); i < maxUnreplicatedRoutes; i++ {
		u.observe(httptest.NewRequest("POST", fmt.Sprintf("/_api%d", i), nil), 200)
	}
	logs.Reset()
	u.observe(httptest.NewRequest("POST", "/_one_too_many", nil), 200)
	u.observe(httptest.NewRequest("POST", "/_and_another", nil), 200)
	u.observe(dbq, 200) // known routes keep their label
	if n := testutil.ToFloat64(u.count.WithLabelValues(unreplicatedOverflow)); n != 2 {
		t.Errorf("overflow label counted %v, want 2", n)
	}
	if n := testutil.CollectAndCount(u.count); n != maxUnreplicatedRoutes+1 {
		t.Errorf("%d label values, want at most %d", n, maxUnreplicatedRoutes+1)
	}
	if lines := logLines(t, logs.String()); len(lines) != 1 || lines[0]["route"] != unreplicatedOverflow || lines[0]["path"] != "/_one_too_many" {
		t.Errorf("past the cap, one line for the overflow label naming the first path, got:\n%s", logs.String())
	}
}

func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}
