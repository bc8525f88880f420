package proxy_test

import (
	"net/http"
	"regexp"
	"testing"
)

// tookField is a search answer's "took", which is the primary's own timing and may
// differ by a millisecond between two asks of the same query.
var tookField = regexp.MustCompile(`"took":[0-9]+`)

// TestClientPathReachesThePrimary: the primary receives the client's path exactly as it
// was sent (empty segments, escapes) and its query pair for pair, on passthrough and
// write routes alike; "POST //_refresh" used to become "POST /" (405).
func TestClientPathReachesThePrimary(t *testing.T) {
	e, rec := startRecordedEnv(t)
	u := e.url()
	if r := send(t, http.MethodPut, u+"/books/_doc/1?refresh=true", `{"title":"Dune"}`); r.status != 201 {
		t.Fatalf("seed: %d %s", r.status, r.body)
	}
	events := 1
	tests := []struct {
		name         string
		method, uri  string
		body         string
		path, query  string // what the primary must receive
		compare      bool   // the answer must be the one the primary gives directly
		event        string // id of the event the request publishes, "" for none
		eventRouting string
	}{
		{name: "refresh with an empty first segment", method: http.MethodPost, uri: "//_refresh",
			path: "//_refresh", compare: true},
		{name: "empty segments inside the path", method: http.MethodGet, uri: "//books//_doc/1",
			path: "//books//_doc/1", compare: true},
		{name: "percent-encoded id on a read", method: http.MethodGet, uri: "/books/_doc/a%2Fb",
			path: "/books/_doc/a%2Fb", compare: true},
		{name: "repeated query keys on a read", method: http.MethodGet, uri: "/books/_search?size=1&q=title:dune&size=2",
			path: "/books/_search", query: "size=1&q=title:dune&size=2", compare: true},
		{name: "percent-encoded id and repeated routing on a write", method: http.MethodPut, uri: "/books/_doc/a%2Fb?routing=x&routing=y",
			body: `{"title":"Emma"}`, path: "/books/_doc/a%2Fb", query: "routing=x&routing=y", event: "a/b", eventRouting: "y"},
		{name: "filter_path is the proxy's to apply, the rest goes as sent", method: http.MethodPut,
			uri: "/books/_doc/2?refresh=false&filter_path=result&timeout=1m&filter_path=_id", body: `{"title":"Ubik"}`,
			path: "/books/_doc/2", query: "refresh=false&timeout=1m", event: "2"},
		{name: "update asks for the document in the client's query", method: http.MethodPost, uri: "/books/_update/2?_source=false&timeout=1m",
			body: `{"doc":{"year":1969}}`, path: "/books/_update/2", query: "timeout=1m&_source=true", event: "2"},
		{name: "bulk with an empty index segment", method: http.MethodPost, uri: "//_bulk",
			body: "{\"index\":{\"_index\":\"books\",\"_id\":\"3\"}}\n{\"title\":\"Kindred\"}\n", path: "//_bulk", event: "3"},
		{name: "document path with an empty first segment", method: http.MethodGet, uri: "//books/_doc/1",
			path: "//books/_doc/1", compare: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, tt.method, u+tt.uri, tt.body)
			got, ok := rec.lastTo(tt.path)
			if !ok || got.method != tt.method || got.rawQuery != tt.query {
				t.Errorf("the primary received %s %s ? %q, want %s %s ? %q", got.method, got.path, got.rawQuery, tt.method, tt.path, tt.query)
			}
			if tt.compare {
				direct := send(t, tt.method, e.primaryURL+tt.uri, tt.body)
				if resp.status != direct.status || tookField.ReplaceAllString(string(resp.body), `"took":_`) != tookField.ReplaceAllString(string(direct.body), `"took":_`) {
					t.Errorf("through the proxy %d %s\ndirect %d %s", resp.status, resp.body, direct.status, direct.body)
				}
			}
			if tt.event == "" {
				e.noNewEvents(events)
				return
			}
			if resp.status/100 != 2 {
				t.Fatalf("status %d: %s", resp.status, resp.body)
			}
			events++
			ops := e.published()
			op := newestEvent(ops, "books", tt.event)
			if len(ops) != events || op == nil {
				t.Fatalf("want %d events with books/%s, got %v", events, tt.event, ops)
			}
			if op.GetRouting() != tt.eventRouting {
				t.Errorf("event routing %q, want %q", op.GetRouting(), tt.eventRouting)
			}
		})
	}
}
