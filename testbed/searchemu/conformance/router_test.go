package conformance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestRouterEnvelopes covers §0: router-level simple envelopes, content types and HEAD.
func TestRouterEnvelopes(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.put(t, "t", "1", `{"a":1}`)

	t.Run("405 single allowed method with Allow header", func(t *testing.T) {
		// §4: PUT /{index}/_doc (no id) → 405; only POST is allowed there.
		r := e.raw(t, http.MethodPut, "/t/_doc", `{"a":1}`)
		wantSimpleError(t, r, 405, "Incorrect HTTP method for uri [/t/_doc] and method [PUT], allowed: [POST]")
		if got := r.Header.Get("Allow"); got != "POST" {
			t.Errorf("Allow header want %q, got %q", "POST", got)
		}
	})

	t.Run("405 on a GET-only endpoint", func(t *testing.T) {
		// Single-segment paths would also match /{index}; /_cluster/health is GET-only.
		r := e.raw(t, http.MethodPost, "/_cluster/health", "")
		if !wantStatus(t, r, 405) {
			return
		}
		msg := str(t, r.Body, "error")
		prefix := "Incorrect HTTP method for uri [/_cluster/health] and method [POST], allowed: ["
		if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, "GET") {
			t.Errorf("405 message want %q + GET, got %q", prefix, msg)
		}
		if num(t, r.Body, "status") != 405 {
			t.Errorf("status key want 405")
		}
		if allow := strings.Join(r.Header.Values("Allow"), ","); !strings.Contains(allow, "GET") {
			t.Errorf("Allow header want GET, got %q", allow)
		}
	})

	t.Run("unknown path 400 without status key", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/t/_doc/1/x/y", "")
		if !wantStatus(t, r, 400) {
			return
		}
		wantExactBody(t, r, `{"error":"no handler found for uri [/t/_doc/1/x/y] and method [GET]"}`)
	})

	t.Run("missing Content-Type 406", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/t/_doc/2", `{"a":1}`, "-")
		wantSimpleError(t, r, 406, "Content-Type header is missing")
		if g := e.get(t, "t", "2"); g.Status != 404 {
			t.Errorf("rejected request must not be applied: %s", g)
		}
	})

	t.Run("unsupported Content-Type 406", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/t/_doc/2", `{"a":1}`, "text/plain")
		wantSimpleError(t, r, 406, "Content-Type header [text/plain] is not supported")
	})

	t.Run("elasticsearch compatible-with media type 406", func(t *testing.T) {
		// §7: OpenSearch answers 406 for vnd.elasticsearch+json.
		ct := "application/vnd.elasticsearch+json; compatible-with=7"
		r := e.raw(t, http.MethodPut, "/t/_doc/2", `{"a":1}`, ct)
		wantSimpleError(t, r, 406, "Content-Type header ["+ct+"] is not supported")
	})

	accepted := []struct{ name, ct string }{
		{"json", "application/json"},
		{"json with charset", "application/json; charset=UTF-8"},
		{"ndjson treated as json", "application/x-ndjson"},
	}
	for _, tc := range accepted {
		t.Run("accepts "+tc.name, func(t *testing.T) {
			r := e.raw(t, http.MethodPut, "/t/_doc/ct", `{"a":1}`, tc.ct)
			if r.Status != 200 && r.Status != 201 {
				t.Errorf("Content-Type %q: want 200/201, got %s", tc.ct, r)
			}
		})
	}

	t.Run("yaml body type is not rejected", func(t *testing.T) {
		// §0: smile/yaml/cbor are accepted body types; only unknown types are 406.
		r := e.raw(t, http.MethodPut, "/t/_doc/yaml", "a: 1\n", "application/yaml")
		if r.Status == 406 {
			t.Errorf("application/yaml must not be refused as unsupported: %s", r)
		}
	})

	t.Run("response content type", func(t *testing.T) {
		for _, r := range []*resp{
			e.raw(t, http.MethodGet, "/", ""),
			e.get(t, "t", "1"),
			e.get(t, "t", "missing"),
			e.get(t, "nosuchindex", "1"),
			e.bulk(t, "", "\n", opensearchapi.BulkParams{}),
		} {
			if got := r.Header.Get("Content-Type"); got != "application/json; charset=UTF-8" {
				t.Errorf("%s: Content-Type want %q, got %q", r.desc, "application/json; charset=UTF-8", got)
			}
		}
	})

	heads := []struct {
		name   string
		path   string
		status int
	}{
		{"root", "/", 200},
		{"existing index", "/t", 200},
		{"missing index", "/nosuchindex", 404},
		{"existing doc", "/t/_doc/1", 200},
		{"missing doc", "/t/_doc/nope", 404},
		{"doc in missing index", "/nosuchindex/_doc/1", 404},
	}
	for _, tc := range heads {
		t.Run("HEAD "+tc.name, func(t *testing.T) {
			r := e.raw(t, http.MethodHead, tc.path, "")
			wantStatus(t, r, tc.status)
			if len(r.Body) != 0 {
				t.Errorf("HEAD %s: body must be empty, got %q", tc.path, r.Body)
			}
		})
	}

	t.Run("error envelope shape", func(t *testing.T) {
		r := e.get(t, "nosuchindex", "1")
		wantError(t, r, 404, "index_not_found_exception", "no such index [nosuchindex]")
		wantMeta(t, r.Body, "index", "nosuchindex", "error")
		wantMeta(t, r.Body, "index_uuid", "_na_", "error")
	})
}
