package proxy_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/services/proxy"
)

// TestUnreplicatedWritesCountedAndLogged: requests that may change the primary but that
// the proxy does not replicate (here _shrink and _clone, which the emulator does not
// serve, and a cluster settings update) reach the primary, publish nothing, and are
// counted by route, whatever the primary answered, and logged at WARN once per route;
// reads, maintenance calls, replicated writes, the by-query APIs, which the proxy runs
// and replicates itself, and the metadata APIs it replicates (an index creation, a
// mapping update) are not.
func TestUnreplicatedWritesCountedAndLogged(t *testing.T) {
	e := startEnv(t, 0)
	var logs syncBuffer
	p, err := proxy.New(e.config(), proxy.Deps{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runUntilServing(t, p, &logs)
	u := p.URL()

	if r := send(t, http.MethodPut, u+"/books/_doc/1?refresh=true", `{"t":"a"}`); r.status != 201 {
		t.Fatalf("replicated write: %d %s", r.status, r.body)
	}
	e.proxies = []*proxy.Proxy{p}
	if ops := e.published(); len(ops) != 1 {
		t.Fatalf("want the replicated write's event, got %d", len(ops))
	}

	for _, rq := range []struct {
		method, path, body string
		status             int
	}{
		{http.MethodPost, "/books/_search", `{"query":{"match_all":{}}}`, 200},
		{http.MethodPost, "/books/_count", `{"query":{"match_all":{}}}`, 200},
		{http.MethodPost, "/_refresh", "", 200},
		{http.MethodPost, "/books/_shrink/small?timeout=1m", `{"settings":{}}`, 400},
		{http.MethodPost, "/books/_shrink/small", `{"settings":{}}`, 400},
		{http.MethodPost, "/books/_update_by_query?refresh=true", `{"query":{"match_all":{}}}`, 200},
		{http.MethodPost, "/_reindex?refresh=true", `{"source":{"index":"books"},"dest":{"index":"copies"}}`, 200},
		{http.MethodPost, "/copies/_delete_by_query?refresh=true", `{"query":{"match_all":{}}}`, 200},
		{http.MethodPut, "/authors", "", 200},
		{http.MethodPut, "/authors/_mapping", `{"properties":{"name":{"type":"keyword"}}}`, 200},
		{http.MethodPost, "/books/_clone/twin", "", 400},
		{http.MethodPut, "/_cluster/settings", `{"persistent":{"x":1}}`, 400},
	} {
		if r := send(t, rq.method, u+rq.path, rq.body); r.status != rq.status {
			t.Fatalf("%s %s: %d %s", rq.method, rq.path, r.status, r.body)
		}
	}
	if r := send(t, http.MethodGet, e.primaryURL+"/authors/_mapping", ""); !strings.Contains(string(r.body), `"keyword"`) {
		t.Fatalf("the mapping update must have reached the primary: %s", r.body)
	}
	// The by-query APIs' events: the update, the copy and its delete.
	e.noNewEvents(4)

	for route, want := range map[string]int{
		"POST /{index}/_shrink/{name}": 2,
		"POST /{index}/_clone/{name}":  1,
		"PUT /_cluster/settings":       1,
	} {
		if got, ok := metricValue(t, p.MetricsURL(), `fanout_proxy_unreplicated_writes_total{route="`+route+`"}`); !ok || got != want {
			t.Errorf("%s counted %d (present %v), want %d", route, got, ok, want)
		}
	}
	metrics := send(t, http.MethodGet, p.MetricsURL()+"/metrics", "")
	if n := strings.Count(string(metrics.body), "fanout_proxy_unreplicated_writes_total{"); n != 3 {
		t.Errorf("want 3 routes counted, got %d:\n%s", n, grep(string(metrics.body), "unreplicated"))
	}

	var warned []map[string]any
	for _, l := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && strings.Contains(l, "without replicating") {
			warned = append(warned, m)
		}
	}
	if len(warned) != 3 {
		t.Fatalf("want one warning per route, got %d:\n%s", len(warned), logs.String())
	}
	if w := warned[0]; w["level"] != "WARN" || w["route"] != "POST /{index}/_shrink/{name}" || w["path"] != "/books/_shrink/small" || w["status"] != 400.0 {
		t.Errorf("first warning: %v", w)
	}
}
