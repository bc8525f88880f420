package conformance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestQueryStringDecoding covers how the server reads request parameters, following
// OpenSearch's server/src/main/java/org/opensearch/rest/RestUtils.java (decodeQueryString:
// '&' and ';' both separate, a repeated name keeps its last value, '+' is a space;
// decodeComponent's escape errors) and rest/RestRequest.java (params: an undecodable query
// is a BadParameterException, which the HTTP transport answers as a bad request before
// any handler is looked up). The requests are raw HTTP: opensearch-go encodes parameters
// itself, with '&' only.
func TestQueryStringDecoding(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	// one shard: a GET finds a document whatever routing it is sent with and shows the
	// routing it was stored with
	e.createIndex(t, "q", `{"settings":{"index.number_of_shards":1}}`)
	routingOf := func(t *testing.T, id string) string {
		t.Helper()
		g := e.get(t, "q", id)
		if g.Status != http.StatusOK {
			t.Fatalf("getting q/%s: %s", id, g)
		}
		if !has(g.Body, "_routing") {
			return ""
		}
		return str(t, g.Body, "_routing")
	}

	t.Run("parameters", func(t *testing.T) {
		cases := []struct {
			name, id, query, routing string
		}{
			{"a semicolon separates parameters", "1", "refresh=true;routing=r1", "r1"},
			{"the last of repeated names wins across separators", "2", "routing=x&routing=y;routing=z", "z"},
			{"plus is a space", "3", "routing=a+b", "a b"},
			{"an escaped semicolon is part of the value", "4", "routing=a%3Bb;refresh=true", "a;b"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := e.raw(t, http.MethodPut, e.url+"/q/_doc/"+tc.id+"?"+tc.query, `{"a":1}`)
				if !wantStatus(t, r, 201) {
					return
				}
				if got := routingOf(t, tc.id); got != tc.routing {
					t.Errorf("_routing %q, want %q", got, tc.routing)
				}
			})
		}
	})

	t.Run("a parameter after a semicolon is checked like any other", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, e.url+"/q/_doc/1?routing=r1;_source=false", "")
		if wantStatus(t, r, 200) && has(r.Body, "_source") {
			t.Errorf("_source=false after ';' must drop _source: %s", r)
		}
		r = e.raw(t, http.MethodGet, e.url+"/q/_doc/1?routing=r1;bogus=1", "")
		wantError(t, r, 400, "illegal_argument_exception", "request [/q/_doc/1] contains unrecognized parameter: [bogus]")
	})

	t.Run("an undecodable query is a bad request, before any handler", func(t *testing.T) {
		cases := []struct {
			name, uri, msg string
		}{
			{"invalid escape", "/q/_search?q=%zz", "invalid escape sequence `%zz' at index 0 of: %zz"},
			{"unterminated escape", "/q/_doc/1?routing=r1;x=%", "unterminated escape sequence at end of string: %"},
			{"partial escape in a name", "/q/_search?a%4", "partial escape sequence at end of string: a%4"},
			{"on a path without a handler", "/q/_doc/1/x/y?a=%zz", "invalid escape sequence `%zz' at index 0 of: %zz"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := e.raw(t, http.MethodGet, e.url+tc.uri, "")
				wantError(t, r, 400, "bad_parameter_exception", "java.lang.IllegalArgumentException: "+tc.msg)
				if r.Status != 400 {
					return
				}
				wantJSON(t, r.Body, `"bad_parameter_exception"`, "error", "root_cause", 0, "type")
				wantJSON(t, r.Body, `{"type":"illegal_argument_exception","reason":`+jsonString(tc.msg)+`}`, "error", "caused_by")
			})
		}
		// the request is answered without its parameters: pretty does not apply
		r := e.raw(t, http.MethodGet, e.url+"/q/_search?pretty;q=%zz", "")
		if wantStatus(t, r, 400) && len(r.Body) > 0 && r.Body[len(r.Body)-1] == '\n' {
			t.Errorf("a bad request has no parameters, so no pretty printing: %q", r.Body)
		}
	})

	t.Run("opensearch-go's escaped separators stay in the value", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "q", DocumentID: "5", Body: strings.NewReader(`{"a":1}`), Params: opensearchapi.IndexParams{Routing: "a&b;c d"}})
		if wantStatus(t, r, 201) {
			if got := routingOf(t, "5"); got != "a&b;c d" {
				t.Errorf("_routing %q, want %q", got, "a&b;c d")
			}
		}
	})
}
