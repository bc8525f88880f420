package conformance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

const es7Agent = `299 Elasticsearch-7.10.2-747e1cc71def077253878a59143c1f785afa92b9 "`

func wantWarning(t testing.TB, r *resp, msg string) {
	t.Helper()
	want := es7Agent + msg + `"`
	if got := r.Header.Values("Warning"); len(got) != 1 || got[0] != want {
		t.Errorf("%s: Warning want [%s], got %q", r.desc, want, got)
	}
}

func wantNoWarning(t testing.TB, r *resp) {
	t.Helper()
	if got := r.Header.Values("Warning"); len(got) != 0 {
		t.Errorf("%s: want no Warning, got %q", r.desc, got)
	}
}

// TestTypedEndpointsElasticsearch7 follows Elasticsearch 7.10's typed REST handlers
// (RestIndexAction, RestGetAction, RestUpdateAction, RestDeleteAction, RestBulkAction /
// BulkRequestParser and their TYPES_DEPRECATION_MESSAGEs) and the one-type-per-index rule
// of its MapperService.
func TestTypedEndpointsElasticsearch7(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{Flavor: searchemu.Elasticsearch7})
	const (
		indexMsg  = "[types removal] Specifying types in document index requests is deprecated, use the typeless endpoints instead (/{index}/_doc/{id}, /{index}/_doc, or /{index}/_create/{id})."
		getMsg    = "[types removal] Specifying types in document get requests is deprecated, use the /{index}/_doc/{id} endpoint instead."
		updateMsg = "[types removal] Specifying types in document update requests is deprecated, use the endpoint /{index}/_update/{id} instead."
		deleteMsg = "[types removal] Specifying types in document index requests is deprecated, use the /{index}/_doc/{id} endpoint instead."
		bulkMsg   = "[types removal] Specifying types in bulk requests is deprecated."
	)

	t.Run("typed index fixes the type", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/t1/doc/1?refresh=true", `{"a":1}`)
		if wantStatus(t, r, 201) {
			wantExactBody(t, r, `{"_index":"t1","_type":"doc","_id":"1","_version":1,"result":"created","forced_refresh":true,"_shards":`+shards2+`,"_seq_no":0,"_primary_term":1}`)
			wantWarning(t, r, indexMsg)
			if got := r.Header.Get("Location"); got != "/t1/doc/1" {
				t.Errorf("Location want /t1/doc/1, got %q", got)
			}
		}
	})

	t.Run("typed get", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/t1/doc/1", "")
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"_index":"t1","_type":"doc","_id":"1","_version":1,"_seq_no":0,"_primary_term":1,"found":true,"_source":{"a":1}}`)
			wantWarning(t, r, getMsg)
		}
		r = e.raw(t, http.MethodGet, "/t1/doc/nope", "")
		if wantStatus(t, r, 404) {
			wantExactBody(t, r, `{"_index":"t1","_type":"doc","_id":"nope","found":false}`)
		}
	})

	t.Run("_doc stands for the index's type", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/t1/_doc/1", "")
		if wantStatus(t, r, 200) {
			if got := str(t, r.Body, "_type"); got != "_doc" {
				t.Errorf("typeless GET answers _type _doc, got %q", got)
			}
			wantNoWarning(t, r)
		}
	})

	t.Run("another type finds nothing", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/t1/other/1", "")
		if wantStatus(t, r, 404) {
			wantExactBody(t, r, `{"_index":"t1","_type":"other","_id":"1","found":false}`)
		}
		if h := e.raw(t, http.MethodHead, "/t1/other/1", ""); h.Status != 404 {
			t.Errorf("HEAD of another type want 404: %s", h)
		}
		if h := e.raw(t, http.MethodHead, "/t1/doc/1", ""); h.Status != 200 {
			t.Errorf("HEAD of the type want 200: %s", h)
		}
	})

	t.Run("a second type is a rejected mapping update", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/t1/other/2", `{}`)
		wantError(t, r, 400, "illegal_argument_exception", "Rejecting mapping update to [t1] as the final mapping would have more than 1 type: [doc, other]")
		r = e.raw(t, http.MethodDelete, "/t1/other/1", "")
		wantError(t, r, 400, "illegal_argument_exception", "Rejecting mapping update to [t1] as the final mapping would have more than 1 type: [doc, other]")
	})

	t.Run("typed update", func(t *testing.T) {
		r := e.raw(t, http.MethodPost, "/t1/doc/1/_update", `{"doc":{"b":2}}`)
		if wantStatus(t, r, 200) {
			if got := str(t, r.Body, "_type"); got != "doc" {
				t.Errorf("_type want doc, got %q", got)
			}
			wantWarning(t, r, updateMsg)
		}
		r = e.raw(t, http.MethodPost, "/t1/doc/nope/_update", `{"doc":{"b":2}}`)
		wantError(t, r, 404, "document_missing_exception", "[doc][nope]: document missing")
		r = e.raw(t, http.MethodPost, "/t1/other/1/_update", `{"doc":{"b":2}}`)
		wantError(t, r, 404, "document_missing_exception", "[other][1]: document missing")
	})

	t.Run("typed create and auto id", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/t1/doc/3/_create", `{}`)
		if wantStatus(t, r, 201) {
			wantWarning(t, r, indexMsg)
		}
		if r := e.raw(t, http.MethodPost, "/t1/doc/3/_create", `{}`); r.Status != 409 {
			t.Errorf("second create want 409: %s", r)
		}
		r = e.raw(t, http.MethodPost, "/t1/doc", `{}`)
		if wantStatus(t, r, 201) && str(t, r.Body, "_type") != "doc" {
			t.Errorf("auto id _type want doc: %s", r.Body)
		}
		r = e.raw(t, http.MethodPut, "/t1/_doc/4/_create", `{}`)
		if wantStatus(t, r, 201) {
			wantNoWarning(t, r) // RestIndexAction warns only for a type other than _doc
			if got := str(t, r.Body, "_type"); got != "_doc" {
				t.Errorf("_type want _doc, got %q", got)
			}
		}
	})

	t.Run("typed delete", func(t *testing.T) {
		r := e.raw(t, http.MethodDelete, "/t1/doc/3", "")
		if wantStatus(t, r, 200) {
			if got := str(t, r.Body, "_type"); got != "doc" {
				t.Errorf("_type want doc, got %q", got)
			}
			wantWarning(t, r, deleteMsg)
		}
	})

	t.Run("type names", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/t2/_foo/1", `{}`)
		wantError(t, r, 400, "invalid_type_name_exception", "mapping type name [_foo] can't start with '_' unless it is called [_doc]")
	})

	t.Run("a typeless write fixes _doc", func(t *testing.T) {
		e.put(t, "t3", "1", `{}`)
		r := e.raw(t, http.MethodPut, "/t3/doc/2", `{}`)
		wantError(t, r, 400, "illegal_argument_exception", "Rejecting mapping update to [t3] as the final mapping would have more than 1 type: [_doc, doc]")
	})

	t.Run("a typeless mapping fixes _doc", func(t *testing.T) {
		e.createIndex(t, "t6", `{"mappings":{"properties":{"f":{"type":"keyword"}}}}`)
		r := e.raw(t, http.MethodPut, "/t6/doc/1", `{}`)
		wantError(t, r, 400, "illegal_argument_exception", "Rejecting mapping update to [t6] as the final mapping would have more than 1 type: [_doc, doc]")
		e.createIndex(t, "t7", "")
		if r := e.raw(t, http.MethodPut, "/t7/doc/1", `{}`); r.Status != 201 {
			t.Errorf("an index created without mappings takes the first type: %s", r)
		}
	})

	t.Run("bulk with a typed URL and _type on action lines", func(t *testing.T) {
		r := e.raw(t, http.MethodPost, "/t4/doc/_bulk", "{\"index\":{\"_id\":\"1\"}}\n{}\n", "application/x-ndjson")
		if wantStatus(t, r, 200) {
			if _, it := item(t, r.Body, 0); str(t, it, "_type") != "doc" || num(t, it, "status") != 201 {
				t.Errorf("item want _type doc, created: %s", it)
			}
			wantWarning(t, r, bulkMsg)
		}
		body := "{\"index\":{\"_index\":\"t1\",\"_type\":\"doc\",\"_id\":\"b1\"}}\n{}\n" +
			"{\"index\":{\"_index\":\"t1\",\"_type\":\"other\",\"_id\":\"b2\"}}\n{}\n" +
			"{\"index\":{\"_index\":\"t1\",\"_id\":\"b3\"}}\n{}\n"
		r = e.bulk(t, "", body, opensearchapi.BulkParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		wantWarning(t, r, bulkMsg)
		if _, it := item(t, r.Body, 0); str(t, it, "_type") != "doc" || num(t, it, "status") != 201 {
			t.Errorf("item 0 want _type doc, created: %s", it)
		}
		if _, it := item(t, r.Body, 1); str(t, it, "_type") != "other" || num(t, it, "status") != 400 ||
			str(t, it, "error", "reason") != "Rejecting mapping update to [t1] as the final mapping would have more than 1 type: [doc, other]" {
			t.Errorf("item 1 want a rejected mapping update: %s", it)
		}
		if _, it := item(t, r.Body, 2); str(t, it, "_type") != "_doc" || num(t, it, "status") != 201 {
			t.Errorf("item 2 want _type _doc, created: %s", it)
		}
		plain := e.bulk(t, "", "{\"index\":{\"_index\":\"t1\",\"_id\":\"b4\"}}\n{}\n", opensearchapi.BulkParams{})
		wantNoWarning(t, plain)
	})

	t.Run("POST /{index}/_doc/_bulk is a bulk", func(t *testing.T) {
		r := e.raw(t, http.MethodPost, "/t5/_doc/_bulk", "{\"index\":{\"_id\":\"1\"}}\n{}\n", "application/x-ndjson")
		if wantStatus(t, r, 200) {
			if _, it := item(t, r.Body, 0); str(t, it, "_index") != "t5" || str(t, it, "_type") != "_doc" || str(t, it, "_id") != "1" {
				t.Errorf("want a bulk item t5/_doc/1: %s", it)
			}
			wantWarning(t, r, bulkMsg) // a type in the URL warns even when it is _doc
		}
	})

	// RestController tries PathTrie's matching modes in order and dispatches to the
	// first route with a handler for the method (RestController.tryAllHandlers,
	// handleNoHandlerFound); the typed read and mapping routes under /{index}/{type}/
	// (RestSearchAction, RestCountAction, RestPutMappingAction…) come before the
	// document routes, which get what they lack a method for.
	t.Run("typed API routes win over the document routes", func(t *testing.T) {
		r := e.raw(t, http.MethodPost, "/t8/_doc/_search", `{}`)
		wantError(t, r, 400, "illegal_argument_exception", "[searchemu] the typed API /{index}/{type}/_search is not supported by the emulator")
		r = e.raw(t, http.MethodPut, "/t8/doc/_mapping", `{"properties":{}}`)
		wantError(t, r, 400, "illegal_argument_exception", "[searchemu] the typed API /{index}/{type}/_mapping is not supported by the emulator")
		r = e.raw(t, http.MethodPut, "/t8/_doc/_count", `{}`)
		if wantStatus(t, r, 201) && str(t, r.Body, "_id") != "_count" {
			t.Errorf("PUT /t8/_doc/_count indexes the document _count: %s", r.Body)
		}
		r = e.raw(t, http.MethodPut, "/t8/doc/_count", `{}`)
		wantSimpleError(t, r, 405, "Incorrect HTTP method for uri [/t8/doc/_count] and method [PUT], allowed: [GET, POST]")
		r = e.raw(t, http.MethodDelete, "/t8/_doc/_bulk", "")
		if wantStatus(t, r, 404) && str(t, r.Body, "result") != "not_found" {
			t.Errorf("DELETE /t8/_doc/_bulk deletes the document _bulk: %s", r.Body)
		}
		r = e.raw(t, http.MethodPost, "/t8/_create/_bulk", "{\"index\":{\"_type\":\"_doc\",\"_id\":\"b\"}}\n{}\n", "application/x-ndjson")
		if wantStatus(t, r, 200) {
			if _, it := item(t, r.Body, 0); str(t, it, "_id") != "b" || num(t, it, "status") != 201 {
				t.Errorf("POST /t8/_create/_bulk is a bulk: %s", it)
			}
		}
	})

	// An empty type segment: MapperService.validateTypeName refuses the name of an
	// index request's type; DeleteRequest.validate an empty type.
	t.Run("empty type", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/t9//1", `{}`)
		wantError(t, r, 400, "invalid_type_name_exception", "mapping type name is empty")
		r = e.raw(t, http.MethodPut, "/t9//1/_create", `{}`)
		wantError(t, r, 400, "invalid_type_name_exception", "mapping type name is empty")
		r = e.raw(t, http.MethodDelete, "/t9//1", "")
		wantError(t, r, 400, "action_request_validation_exception", "Validation Failed: 1: type is missing;")
		r = e.raw(t, http.MethodPost, "/t9//1/_update", `{"doc":{}}`)
		wantError(t, r, 400, "action_request_validation_exception", "Validation Failed: 1: type is missing;")
	})

	t.Run("search hits carry the index's type", func(t *testing.T) {
		r := e.search(t, "t1", `{"query":{"ids":{"values":["1"]}}}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) {
			if got := str(t, r.Body, "hits", "hits", 0, "_type"); got != "doc" {
				t.Errorf("hit _type want doc, got %q", got)
			}
		}
	})
}

// TestTypedEndpointsAbsentOutsideES7: OpenSearch 2 and Elasticsearch 8 register no typed
// routes, so /{index}/{type}/{id} finds no handler, and POST /{index}/_doc/_bulk reaches
// /{index}/_doc/{id} (PathTrie's any-wildcard mode): a document with id _bulk.
func TestTypedEndpointsAbsentOutsideES7(t *testing.T) {
	t.Parallel()
	for _, f := range []searchemu.Flavor{searchemu.OpenSearch2, searchemu.Elasticsearch8} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			e := newEmu(t, searchemu.Options{Flavor: f})
			for _, c := range []struct{ method, path, body string }{
				{http.MethodPut, "/t/doc/1", `{}`},
				{http.MethodGet, "/t/doc/1", ""},
				{http.MethodDelete, "/t/doc/1", ""},
				{http.MethodPost, "/t/doc/1/_update", `{"doc":{}}`},
				{http.MethodPost, "/t/doc/_bulk", "{\"index\":{}}\n{}\n"},
			} {
				r := e.raw(t, c.method, c.path, c.body)
				wantSimpleErrorNoStatus(t, r, 400, "no handler found for uri ["+c.path+"] and method ["+c.method+"]")
			}
			r := e.raw(t, http.MethodPost, "/t/_doc/_bulk", `{"a":1}`)
			if wantStatus(t, r, 201) && str(t, r.Body, "_id") != "_bulk" {
				t.Errorf("want a document with id _bulk: %s", r.Body)
			}
		})
	}
}

// wantSimpleErrorNoStatus checks the router's {"error":"…"} answer (no status member).
func wantSimpleErrorNoStatus(t testing.TB, r *resp, status int, msg string) {
	t.Helper()
	if wantStatus(t, r, status) {
		wantExactBody(t, r, `{"error":`+jsonString(msg)+`}`)
	}
}

func jsonString(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}
