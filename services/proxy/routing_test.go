package proxy_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// newestEvent returns the event of index/id with the highest replication version.
func newestEvent(ops []*opspb.Operation, index, id string) *opspb.Operation {
	var op *opspb.Operation
	for _, o := range ops {
		if o.GetIndex() == index && o.GetId() == id && (op == nil || o.GetReplicationVersion() > op.GetReplicationVersion()) {
			op = o
		}
	}
	return op
}

// TestUpdateRouting: an update's event carries the routing the primary applied, which
// for an update of an existing document is the stored one unless the single-document
// API was given a routing with a partial doc (UpdateHelper.calculateRouting,
// RestUpdateAction). The proxy reads it back from the primary with one _mget per request
// only when the answer cannot tell it.
func TestUpdateRouting(t *testing.T) {
	e, rec := startRecordedEnv(t)
	u := e.url()
	seed := []struct{ path, body string }{
		{"/r/_doc/a?routing=5", `{"n":1}`},
		{"/r/_doc/b", `{"n":1}`},
	}
	for _, s := range seed {
		if r := send(t, http.MethodPut, u+s.path, s.body); r.status != 201 {
			t.Fatalf("seeding %s: %d %s", s.path, r.status, r.body)
		}
	}
	events := len(seed)
	steps := []struct {
		name         string
		method, path string
		body         string
		status       int
		events       map[string]string // id → routing of its newest event
		lookups      int               // _mget requests the proxy sends the primary
	}{
		{name: "single-document update without routing keeps the stored routing",
			method: http.MethodPost, path: "/r/_update/a", body: `{"doc":{"n":2}}`, status: 200,
			events: map[string]string{"a": "5"}, lookups: 1},
		{name: "update of a document stored without routing",
			method: http.MethodPost, path: "/r/_update/b", body: `{"doc":{"n":2}}`, status: 200,
			events: map[string]string{"b": ""}, lookups: 1},
		{name: "bulk update item without routing keeps the stored routing",
			method: http.MethodPost, path: "/_bulk", body: "{\"update\":{\"_index\":\"r\",\"_id\":\"a\"}}\n{\"doc\":{\"n\":3}}\n", status: 200,
			events: map[string]string{"a": "5"}, lookups: 1},
		{name: "doc_as_upsert of an existing routed document",
			method: http.MethodPost, path: "/r/_update/a", body: `{"doc":{"n":4},"doc_as_upsert":true}`, status: 200,
			events: map[string]string{"a": "5"}, lookups: 1},
		{name: "two updates of one document in a bulk: one lookup settles both",
			method: http.MethodPost, path: "/_bulk",
			body:   "{\"update\":{\"_index\":\"r\",\"_id\":\"a\"}}\n{\"doc\":{\"n\":5}}\n{\"update\":{\"_index\":\"r\",\"_id\":\"a\"}}\n{\"doc\":{\"n\":6}}\n{\"update\":{\"_index\":\"r\",\"_id\":\"b\"}}\n{\"doc\":{\"n\":6}}\n",
			status: 200, events: map[string]string{"a": "5", "b": ""}, lookups: 1},
		{name: "bulk update with explicit routing still asks: the bulk API applies the stored routing",
			method: http.MethodPost, path: "/_bulk?routing=5", body: "{\"update\":{\"_index\":\"r\",\"_id\":\"a\"}}\n{\"doc\":{\"n\":7}}\n", status: 200,
			events: map[string]string{"a": "5"}, lookups: 1},
		{name: "single-document update with routing and a doc applies the request's routing: no lookup",
			method: http.MethodPost, path: "/r/_update/a?routing=5", body: `{"doc":{"n":8}}`, status: 200,
			events: map[string]string{"a": "5"}},
		{name: "upsert creating a document takes the request's routing: no lookup",
			method: http.MethodPost, path: "/r/_update/c?routing=7", body: `{"doc":{"n":1},"doc_as_upsert":true}`, status: 201,
			events: map[string]string{"c": "7"}},
		{name: "upsert creating a document without routing: no lookup",
			method: http.MethodPost, path: "/r/_update/d", body: `{"doc":{"n":1},"upsert":{"n":0}}`, status: 201,
			events: map[string]string{"d": ""}},
		{name: "bulk upserts creating documents, item and URL routing: no lookup",
			method: http.MethodPost, path: "/_bulk?routing=8",
			body:   "{\"update\":{\"_index\":\"r\",\"_id\":\"e\",\"routing\":\"9\"}}\n{\"doc\":{\"n\":1},\"doc_as_upsert\":true}\n{\"update\":{\"_index\":\"r\",\"_id\":\"f\"}}\n{\"doc\":{\"n\":1},\"doc_as_upsert\":true}\n",
			status: 200, events: map[string]string{"e": "9", "f": "8"}},
		{name: "index then update of it in one bulk: the routing carries over, no lookup",
			method: http.MethodPost, path: "/_bulk",
			body:   "{\"index\":{\"_index\":\"r\",\"_id\":\"g\",\"routing\":\"3\"}}\n{\"n\":1}\n{\"update\":{\"_index\":\"r\",\"_id\":\"g\",\"routing\":\"3\"}}\n{\"doc\":{\"n\":2}}\n",
			status: 200, events: map[string]string{"g": "3"}},
		{name: "noop update publishes nothing and asks nothing",
			method: http.MethodPost, path: "/r/_update/a", body: `{"doc":{"n":8}}`, status: 200},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := rec.requests(http.MethodPost, "/_mget")
			resp := send(t, s.method, u+s.path, s.body)
			if resp.status != s.status || strings.Contains(string(resp.body), `"errors":true`) {
				t.Fatalf("status %d, want %d: %s", resp.status, s.status, resp.body)
			}
			if got := rec.requests(http.MethodPost, "/_mget") - before; got != s.lookups {
				t.Errorf("%d routing lookups reached the primary, want %d", got, s.lookups)
			}
			if len(s.events) == 0 {
				if got := e.events(events+1, 300*time.Millisecond); len(got) != events {
					t.Fatalf("want no new event, have %d after %d", len(got), events)
				}
				return
			}
			n := 0
			for _, part := range strings.Split(s.body, "\n") {
				if strings.Contains(part, `"update"`) || strings.Contains(part, `"index"`) {
					n++
				}
			}
			if n == 0 {
				n = 1
			}
			events += n
			ops := e.events(events, 5*time.Second)
			if len(ops) != events {
				t.Fatalf("want %d events, got %d", events, len(ops))
			}
			for id, routing := range s.events {
				op := newestEvent(ops, "r", id)
				if op == nil {
					t.Fatalf("no event for r/%s", id)
				}
				if op.GetRouting() != routing {
					t.Errorf("r/%s: event routing %q, want %q", id, op.GetRouting(), routing)
				}
			}
		})
	}
	// What the replica is told is what the primary holds.
	for id, routing := range map[string]string{"a": "5", "b": "", "c": "7", "e": "9", "f": "8", "g": "3"} {
		path := "/r/_doc/" + id
		if routing != "" {
			path += "?routing=" + routing
		}
		got := send(t, http.MethodGet, e.primaryURL+path, "").json(t)
		if r, _ := got["_routing"].(string); r != routing {
			t.Errorf("primary holds r/%s with routing %q, the events said %q", id, r, routing)
		}
	}
}

// TestUpdateRoutingRace: when another write reaches the document between the update and
// the lookup, the routing the update applied is not known; its event is not published
// and the client is told, as for any write applied but not queued.
func TestUpdateRoutingRace(t *testing.T) {
	e, rec := startRecordedEnv(t)
	u := e.url()
	if r := send(t, http.MethodPut, u+"/r/_doc/a?routing=5", `{"n":1}`); r.status != 201 {
		t.Fatalf("seed: %d %s", r.status, r.body)
	}
	if ops := e.events(1, 5*time.Second); len(ops) != 1 {
		t.Fatalf("seed event: %v", ops)
	}
	// Just before the primary serves the lookup, another client writes the document.
	rec.setBefore(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/_mget" {
			rec.setBefore(nil)
			req, _ := http.NewRequest(http.MethodPut, e.primaryURL+"/r/_doc/a?routing=5", strings.NewReader(`{"n":99}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("the racing write: %v", err)
				return false
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("the racing write: %d", resp.StatusCode)
			}
		}
		return false
	})
	resp := send(t, http.MethodPost, u+"/r/_update/a", `{"doc":{"n":2}}`)
	if resp.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", resp.status, resp.body)
	}
	errObj, _ := resp.json(t)["error"].(map[string]any)
	if errObj["type"] != "fanout_replication_exception" || !strings.Contains(errObj["reason"].(string), "could not confirm") ||
		strings.Join(toStrings(errObj["fanout.applied"]), ",") != "r/a" {
		t.Fatalf("error %s", resp.body)
	}
	e.noNewEvents(1)
	metrics := string(send(t, http.MethodGet, e.proxies[0].MetricsURL()+"/metrics", "").body)
	for _, want := range []string{`fanout_proxy_unconfirmed_routing_total 1`, `fanout_proxy_routing_lookups_total{outcome="ok"} 1`, `fanout_proxy_replication_errors_total 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, grep(metrics, "fanout_proxy_r"))
		}
	}
}

// TestUpdateRoutingLookupFails: a lookup the primary does not answer is an applied
// write that is not replicated: the client gets the replication error, the other items'
// events are published.
func TestUpdateRoutingLookupFails(t *testing.T) {
	e, rec := startRecordedEnv(t)
	u := e.url()
	if r := send(t, http.MethodPut, u+"/r/_doc/a?routing=5", `{"n":1}`); r.status != 201 {
		t.Fatalf("seed: %d %s", r.status, r.body)
	}
	rec.setBefore(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/_mget" {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":{"type":"exception","reason":"boom"},"status":500}`))
		return true
	})
	body := "{\"update\":{\"_index\":\"r\",\"_id\":\"a\"}}\n{\"doc\":{\"n\":2}}\n{\"index\":{\"_index\":\"r\",\"_id\":\"z\"}}\n{\"n\":1}\n"
	resp := send(t, http.MethodPost, u+"/_bulk", body)
	if resp.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", resp.status, resp.body)
	}
	errObj, _ := resp.json(t)["error"].(map[string]any)
	if errObj["type"] != "fanout_replication_exception" || strings.Join(toStrings(errObj["fanout.applied"]), ",") != "r/a" ||
		!strings.Contains(errObj["reason"].(string), "applied 2 writes") {
		t.Fatalf("error %s", resp.body)
	}
	ops := e.events(2, 5*time.Second)
	if len(ops) != 2 || newestEvent(ops, "r", "z") == nil {
		t.Fatalf("want the seed's and r/z's events, got %v", ops)
	}
	e.noNewEvents(2)
	metrics := string(send(t, http.MethodGet, e.proxies[0].MetricsURL()+"/metrics", "").body)
	for _, want := range []string{`fanout_proxy_routing_lookups_total{outcome="failed"} 1`, `fanout_proxy_unconfirmed_routing_total 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, grep(metrics, "fanout_proxy_r"))
		}
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// noNewEvents asserts that the topic holds exactly have events.
func (e *env) noNewEvents(have int) {
	e.t.Helper()
	if got := e.events(have+1, 300*time.Millisecond); len(got) != have {
		e.t.Fatalf("want %d events, have %d: %v", have, len(got), got[have:])
	}
}
