package searchemu

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// fuzzCluster has open, closed and hidden indices and an alias over two of them.
func fuzzCluster(t testing.TB) *Cluster {
	c := New(Options{})
	for _, r := range []struct{ method, path, body string }{
		{"PUT", "/a1", `{"aliases":{"al":{}}}`},
		{"PUT", "/a2", `{"aliases":{"al":{}}}`},
		{"PUT", "/.hid", `{"settings":{"index.hidden":true}}`},
		{"PUT", "/b", ""},
		{"POST", "/b/_close", ""},
		{"PUT", "/a1/_doc/1", `{"k":"v"}`},
	} {
		req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		c.ServeHTTP(w, req)
		if w.Code >= 300 {
			t.Fatalf("setup %s %s: %d %s", r.method, r.path, w.Code, w.Body.String())
		}
	}
	return c
}

// FuzzIndexExpression sends arbitrary index expressions and indices options to the read
// APIs that resolve them: the answer is always JSON with a status the resolver produces.
func FuzzIndexExpression(f *testing.F) {
	for _, s := range []struct{ expr, allow, ign, expand string }{
		{"a1,al*", "false", "", ""}, {"*,-a2", "", "true", "all"}, {"-a1", "", "", "closed"},
		{"_all", "false", "false", "none"}, {"a1,,b", "", "", "open,hidden"}, {".h*", "", "", ""},
		{"al", "maybe", "", "bogus"},
	} {
		f.Add(s.expr, s.allow, s.ign, s.expand)
	}
	c := fuzzCluster(f)
	f.Fuzz(func(t *testing.T, expr, allow, ign, expand string) {
		if expr == "" || strings.ContainsAny(expr, "/?#%") {
			return
		}
		q := url.Values{}
		for k, v := range map[string]string{"allow_no_indices": allow, "ignore_unavailable": ign, "expand_wildcards": expand} {
			if v != "" {
				q.Set(k, v)
			}
		}
		for _, api := range []string{"/_mapping", "/_settings", "/_count", "/_refresh"} {
			req := httptest.NewRequest("GET", "/"+url.PathEscape(expr)+api+"?"+q.Encode(), nil)
			w := httptest.NewRecorder()
			c.ServeHTTP(w, req)
			switch w.Code {
			case 200, 400, 404:
			default:
				t.Fatalf("%s %q: status %d: %s", api, expr, w.Code, w.Body.String())
			}
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s %q: invalid JSON %s", api, expr, w.Body.String())
			}
		}
	})
}

// FuzzMgetBody throws arbitrary bodies at _mget: 200 with per-item answers or a
// whole-request 400, always JSON.
func FuzzMgetBody(f *testing.F) {
	for _, s := range []string{
		`{"docs":[{"_index":"a1","_id":"1","routing":"r","version":1,"version_type":"external","stored_fields":["k"],"_source":{"includes":["k"]}}]}`,
		`{"docs":[{"_id":"1","_routing":"x"}]}`, `{"docs":[{"_id":"1","x":{}}]}`, `{"ids":["1",2]}`,
		`{"docs":[{"_id":"1","fields":"k"}]}`, `{"docs":[{"_index":"b","_id":"1"}]}`, `{"docs":[]}`, `[]`,
	} {
		f.Add(s)
	}
	c := fuzzCluster(f)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/a1/_mget", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		c.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400:
		default:
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body.String())
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("invalid JSON answer for %q: %s", body, w.Body.String())
		}
	})
}
