package proxy_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// eventsOf returns the events of index/id, by replication version.
func eventsOf(ops []*opspb.Operation, index, id string) []*opspb.Operation {
	var out []*opspb.Operation
	for _, o := range ops {
		if o.GetIndex() == index && o.GetId() == id {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetReplicationVersion() < out[j].GetReplicationVersion() })
	return out
}

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
// RestUpdateAction). The proxy reads it from the primary, with one _mget per request
// before the write, only when the answer cannot tell it.
func TestUpdateRouting(t *testing.T) {
	e, rec := startRecordedEnv(t)
	u := e.url()
	seed := []struct{ path, body string }{
		{"/r/_doc/a?routing=5", `{"n":1}`},
		{"/r/_doc/b", `{"n":1}`},
		{"/r/_doc/h?routing=6", `{"n":1}`},
		{"/r/_doc/i?routing=4", `{"n":1}`},
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
		events       map[string][]string // id → routings of its events, oldest first
		lookups      int                 // _mget requests the proxy sends the primary
	}{
		{name: "single-document update without routing keeps the stored routing",
			method: http.MethodPost, path: "/r/_update/a", body: `{"doc":{"n":2}}`, status: 200,
			events: map[string][]string{"a": {"5"}}, lookups: 1},
		{name: "update of a document stored without routing",
			method: http.MethodPost, path: "/r/_update/b", body: `{"doc":{"n":2}}`, status: 200,
			events: map[string][]string{"b": {""}}, lookups: 1},
		{name: "bulk update item without routing keeps the stored routing",
			method: http.MethodPost, path: "/_bulk", body: "{\"update\":{\"_index\":\"r\",\"_id\":\"a\"}}\n{\"doc\":{\"n\":3}}\n", status: 200,
			events: map[string][]string{"a": {"5"}}, lookups: 1},
		{name: "doc_as_upsert of an existing routed document",
			method: http.MethodPost, path: "/r/_update/a", body: `{"doc":{"n":4},"doc_as_upsert":true}`, status: 200,
			events: map[string][]string{"a": {"5"}}, lookups: 1},
		{name: "two updates of one document in a bulk: one lookup settles both",
			method: http.MethodPost, path: "/_bulk",
			body:   "{\"update\":{\"_index\":\"r\",\"_id\":\"a\"}}\n{\"doc\":{\"n\":5}}\n{\"update\":{\"_index\":\"r\",\"_id\":\"a\"}}\n{\"doc\":{\"n\":6}}\n{\"update\":{\"_index\":\"r\",\"_id\":\"b\"}}\n{\"doc\":{\"n\":6}}\n",
			status: 200, events: map[string][]string{"a": {"5", "5"}, "b": {""}}, lookups: 1},
		{name: "bulk update with explicit routing still asks: the bulk API applies the stored routing",
			method: http.MethodPost, path: "/_bulk?routing=5", body: "{\"update\":{\"_index\":\"r\",\"_id\":\"a\"}}\n{\"doc\":{\"n\":7}}\n", status: 200,
			events: map[string][]string{"a": {"5"}}, lookups: 1},
		{name: "single-document update with routing and a doc applies the request's routing: no lookup",
			method: http.MethodPost, path: "/r/_update/a?routing=5", body: `{"doc":{"n":8}}`, status: 200,
			events: map[string][]string{"a": {"5"}}},
		{name: "upsert creating a document takes the request's routing: no lookup",
			method: http.MethodPost, path: "/r/_update/c?routing=7", body: `{"doc":{"n":1},"doc_as_upsert":true}`, status: 201,
			events: map[string][]string{"c": {"7"}}},
		{name: "upsert creating a document without routing: the read before finds nothing, the request's routing is the one",
			method: http.MethodPost, path: "/r/_update/d", body: `{"doc":{"n":1},"upsert":{"n":0}}`, status: 201,
			events: map[string][]string{"d": {""}}, lookups: 1},
		{name: "bulk upserts creating documents take the item's or the URL's routing",
			method: http.MethodPost, path: "/_bulk?routing=8",
			body:   "{\"update\":{\"_index\":\"r\",\"_id\":\"e\",\"routing\":\"9\"}}\n{\"doc\":{\"n\":1},\"doc_as_upsert\":true}\n{\"update\":{\"_index\":\"r\",\"_id\":\"f\"}}\n{\"doc\":{\"n\":1},\"doc_as_upsert\":true}\n",
			status: 200, events: map[string][]string{"e": {"9"}, "f": {"8"}}, lookups: 1},
		{name: "index then update of it in one bulk: the routing carries over, no lookup",
			method: http.MethodPost, path: "/_bulk",
			body:   "{\"index\":{\"_index\":\"r\",\"_id\":\"g\",\"routing\":\"3\"}}\n{\"n\":1}\n{\"update\":{\"_index\":\"r\",\"_id\":\"g\",\"routing\":\"3\"}}\n{\"doc\":{\"n\":2}}\n",
			status: 200, events: map[string][]string{"g": {"3", "3"}}},
		{name: "update then delete of a document in one bulk: the read before settles the update",
			method: http.MethodPost, path: "/_bulk",
			body:   "{\"update\":{\"_index\":\"r\",\"_id\":\"h\"}}\n{\"doc\":{\"n\":2}}\n{\"delete\":{\"_index\":\"r\",\"_id\":\"h\",\"routing\":\"6\"}}\n",
			status: 200, events: map[string][]string{"h": {"6", "6"}}, lookups: 1},
		{name: "update then index of a document in one bulk",
			method: http.MethodPost, path: "/_bulk",
			body:   "{\"update\":{\"_index\":\"r\",\"_id\":\"i\"}}\n{\"doc\":{\"n\":2}}\n{\"index\":{\"_index\":\"r\",\"_id\":\"i\",\"routing\":\"4\"}}\n{\"n\":3}\n",
			status: 200, events: map[string][]string{"i": {"4", "4"}}, lookups: 1},
		{name: "noop update publishes nothing",
			method: http.MethodPost, path: "/r/_update/a", body: `{"doc":{"n":8}}`, status: 200, lookups: 1},
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
				e.noNewEvents(events)
				return
			}
			n := 0
			for _, rs := range s.events {
				n += len(rs)
			}
			events += n
			ops := e.published()
			if len(ops) != events {
				t.Fatalf("want %d events, got %d: %v", events, len(ops), ops)
			}
			for id, routings := range s.events {
				evs := eventsOf(ops, "r", id)
				if len(evs) < len(routings) {
					t.Fatalf("r/%s has %d events, want at least %d", id, len(evs), len(routings))
				}
				for i, op := range evs[len(evs)-len(routings):] {
					if op.GetRouting() != routings[i] {
						t.Errorf("r/%s: event %v routing %q, want %q", id, op.GetKind(), op.GetRouting(), routings[i])
					}
				}
			}
		})
	}
	// What the replica is told is what the primary holds.
	for id, routing := range map[string]string{"a": "5", "b": "", "c": "7", "e": "9", "f": "8", "g": "3", "i": "4"} {
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

// TestUpdateRoutingRace: when other writes reach the document both between the read
// before the update and the update, and between the update and the read after it, the
// routing the update applied is not known, but what it wrote is already overwritten on
// the primary: its event is superseded, not published, and the client gets the
// primary's answer.
func TestUpdateRoutingRace(t *testing.T) {
	e, rec := startRecordedEnv(t)
	u := e.url()
	if r := send(t, http.MethodPut, u+"/r/_doc/a?routing=5", `{"n":1}`); r.status != 201 {
		t.Fatalf("seed: %d %s", r.status, r.body)
	}
	if ops := e.published(); len(ops) != 1 {
		t.Fatalf("seed event: %v", ops)
	}
	// Another client writes the document just after the proxy read it and again just
	// before the proxy reads it back: neither read tells what the update applied.
	rival := func(n int) {
		// A routing of the same id that lands on the same shard (the index has one).
		req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/r/_doc/a?routing=7", e.primaryURL), strings.NewReader(fmt.Sprintf(`{"n":%d}`, n)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("the racing write: %v", err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("the racing write: %d", resp.StatusCode)
		}
	}
	lookups := 0
	rec.setBefore(func(w http.ResponseWriter, r *http.Request) bool {
		switch r.URL.Path {
		case "/r/_update/a":
			rival(98)
		case "/_mget":
			if lookups++; lookups == 2 {
				rival(99)
			}
		}
		return false
	})
	resp := send(t, http.MethodPost, u+"/r/_update/a", `{"doc":{"n":2}}`)
	if resp.status != http.StatusOK || resp.json(t)["result"] != "updated" {
		t.Fatalf("status %d, want the primary's 200: %s", resp.status, resp.body)
	}
	e.noNewEvents(1)
	if lookups != 2 {
		t.Errorf("%d lookups, want one before and one after the write", lookups)
	}
	// The primary holds the rival's last write, whose own event (it bypassed the proxy
	// here) would carry the document from then on.
	if got := send(t, http.MethodGet, e.primaryURL+"/r/_doc/a?routing=7", "").json(t); got["_routing"] != "7" {
		t.Errorf("primary holds %v", got)
	}
	metrics := string(send(t, http.MethodGet, e.proxies[0].MetricsURL()+"/metrics", "").body)
	for _, want := range []string{`fanout_proxy_superseded_updates_total 1`, `fanout_proxy_unconfirmed_routing_total 0`, `fanout_proxy_routing_lookups_total{outcome="ok"} 2`, `fanout_proxy_replication_errors_total 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, grep(metrics, "fanout_proxy_r"))
		}
	}
}

// TestUpdateRoutingLookupFails: lookups the primary does not answer (before and after the
// write) leave an applied write that is not replicated: the client gets the replication
// error, the other items' events are published.
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
	if ops := e.published(); len(ops) != 2 || newestEvent(ops, "r", "z") == nil {
		t.Fatalf("want the seed's and r/z's events only, got %v", ops)
	}
	metrics := string(send(t, http.MethodGet, e.proxies[0].MetricsURL()+"/metrics", "").body)
	for _, want := range []string{`fanout_proxy_routing_lookups_total{outcome="failed"} 2`, `fanout_proxy_unconfirmed_routing_total 1`} {
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
