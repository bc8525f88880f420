package conformance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestRouterEmptyPathSegments covers how the server splits a path before it looks for a
// handler, following OpenSearch's server/src/main/java/org/opensearch/common/path/
// PathTrie.java (retrieve: String.split on '/', so trailing empty segments go; one
// leading empty segment is skipped; inner empty segments stay and only a {param}
// wildcard matches them) and what the handlers then do with an empty {index}:
// RestRefreshAction and RestSearchAction split it on commas (Strings.
// splitStringByCommaToArray: none, so all indices); RestIndexAction, RestDeleteAction,
// RestUpdateAction, RestGetAction, RestBulkAction and RestMultiGetAction pass it on as
// the index "" (ReplicationRequest.validate and MultiGetRequest.validate refuse only a
// null index), which auto-create refuses (MetadataCreateIndexService.
// validateIndexOrAliasName: "must not be empty") and resolution does not find
// (IndexNameExpressionResolver.concreteIndices); the alias endpoints split it and
// AliasActions.indices refuses the empty list. The requests are raw HTTP: opensearch-go
// builds "//x" as a URL whose host is x.
func TestRouterEmptyPathSegments(t *testing.T) {
	t.Parallel()
	for _, flavor := range []searchemu.Flavor{searchemu.OpenSearch2, searchemu.Elasticsearch7} {
		t.Run(flavor.String(), func(t *testing.T) {
			t.Parallel()
			e := newEmu(t, searchemu.Options{Flavor: flavor})
			e.createIndex(t, "books", `{"settings":{"index.refresh_interval":"-1"}}`)
			e.put(t, "books", "1", `{"title":"Dune"}`)

			t.Run("a leading empty segment is an empty index", func(t *testing.T) {
				// refresh_interval -1: only a refresh makes the write searchable
				r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "books", DocumentID: "2", Body: strings.NewReader(`{"title":"Emma"}`)})
				wantStatus(t, r, 201)
				r = e.raw(t, http.MethodPost, e.url+"//_refresh", "")
				if wantStatus(t, r, 200) {
					wantJSON(t, r.Body, `{"total":2,"successful":1,"failed":0}`, "_shards")
				}
				s := e.raw(t, http.MethodGet, e.url+"//_search", "")
				if wantStatus(t, s, 200) && num(t, s.Body, "hits", "total", "value") != 2 {
					t.Errorf("//_search after //_refresh want both documents of all indices: %s", s)
				}
			})

			t.Run("an empty segment before a named one matches no handler", func(t *testing.T) {
				for _, tc := range []struct{ method, path, body string }{
					{http.MethodPut, "//books/_doc/3", `{"title":"Ubik"}`},
					{http.MethodGet, "//books/_doc/1", ""},
					{http.MethodGet, "/books//_doc/1", ""},
					{http.MethodPost, "//books/_update/1", `{"doc":{"title":"x"}}`},
				} {
					r := e.raw(t, tc.method, e.url+tc.path, tc.body)
					if wantStatus(t, r, 400) {
						wantExactBody(t, r, `{"error":"no handler found for uri [`+tc.path+`] and method [`+tc.method+`]"}`)
					}
				}
				if g := e.get(t, "books", "3"); g.Status != 404 {
					t.Errorf("PUT //books/_doc/3 must not index books/3: %s", g)
				}
			})

			t.Run("trailing empty segments are dropped", func(t *testing.T) {
				r := e.raw(t, http.MethodGet, e.url+"/books/_doc/1//", "")
				if wantStatus(t, r, 200) {
					wantJSON(t, r.Body, `{"title":"Dune"}`, "_source")
				}
				root := e.raw(t, http.MethodGet, e.url+"//", "")
				if wantStatus(t, root, 200) && !has(root.Body, "version", "number") {
					t.Errorf("GET // is the root answer: %s", root)
				}
			})

			t.Run("writes to the index named empty fail", func(t *testing.T) {
				const reason = "Invalid index name [], must not be empty"
				for _, tc := range []struct{ method, path, body string }{
					{http.MethodPut, "//_doc/1", `{"a":1}`},
					{http.MethodPost, "//_doc", `{"a":1}`},
					{http.MethodPut, "//_create/1", `{"a":1}`},
					{http.MethodPost, "//_update/1", `{"doc":{"a":1},"doc_as_upsert":true}`},
				} {
					r := e.raw(t, tc.method, e.url+tc.path, tc.body)
					wantError(t, r, 400, "invalid_index_name_exception", reason)
					if r.Status == 400 && str(t, r.Body, "error", "index") != "" {
						t.Errorf("%s: error.index want \"\"", r.desc)
					}
				}
				// a delete does not auto-create: the index "" is not found
				r := e.raw(t, http.MethodDelete, e.url+"//_doc/1", "")
				wantError(t, r, 404, "index_not_found_exception", "no such index []")
				if g := e.get(t, "books", "1"); g.Status != 200 {
					t.Errorf("DELETE //_doc/1 must not touch books/1: %s", g)
				}
			})

			t.Run("alias endpoints refuse an empty index list", func(t *testing.T) {
				// RestIndexPutAliasAction, RestIndexDeleteAliasesAction: AliasActions.indices
				// throws on no indices; a body "index" replaces the path's
				wantError(t, e.raw(t, http.MethodPut, e.url+"//_alias/al", ""), 400, "illegal_argument_exception", "[indices] can't be empty")
				wantError(t, e.raw(t, http.MethodDelete, e.url+"//_alias/al", ""), 400, "illegal_argument_exception", "[indices] can't be empty")
				r := e.raw(t, http.MethodPut, e.url+"//_alias/al", `{"index":"books"}`)
				if wantStatus(t, r, 200) {
					g := e.get(t, "al", "1")
					wantStatus(t, g, 200)
				}
			})

			t.Run("reads of the index named empty find nothing", func(t *testing.T) {
				r := e.raw(t, http.MethodGet, e.url+"//_doc/1", "")
				wantError(t, r, 404, "index_not_found_exception", "no such index []")
				mg := e.raw(t, http.MethodPost, e.url+"//_mget", `{"docs":[{"_id":"1"},{"_index":"books","_id":"1"}]}`)
				if wantStatus(t, mg, 200) {
					wantJSON(t, mg.Body, `"index_not_found_exception"`, "docs", 0, "error", "type")
					wantJSON(t, mg.Body, `""`, "docs", 0, "_index")
					wantJSON(t, mg.Body, `true`, "docs", 1, "found")
				}
			})

			t.Run("bulk items take the empty index of the path", func(t *testing.T) {
				body := "{\"index\":{\"_id\":\"4\"}}\n{\"a\":1}\n{\"index\":{\"_index\":\"books\",\"_id\":\"5\"}}\n{\"title\":\"Kindred\"}\n"
				r := e.raw(t, http.MethodPost, e.url+"//_bulk", body, "application/x-ndjson")
				if !wantStatus(t, r, 200) {
					return
				}
				// the item shapes are TestBulkResponseShape's; here what each item became
				wantErrorsFlag(t, r, true)
				wantJSON(t, r.Body, `400`, "items", 0, "index", "status")
				wantJSON(t, r.Body, `""`, "items", 0, "index", "_index")
				wantJSON(t, r.Body, `"invalid_index_name_exception"`, "items", 0, "index", "error", "type")
				wantJSON(t, r.Body, `"Invalid index name [], must not be empty"`, "items", 0, "index", "error", "reason")
				wantJSON(t, r.Body, `201`, "items", 1, "index", "status")
				wantJSON(t, r.Body, `"books"`, "items", 1, "index", "_index")
				// without an index in the path an item without _index is a validation error
				r = e.raw(t, http.MethodPost, e.url+"/_bulk", "{\"index\":{\"_id\":\"4\"}}\n{\"a\":1}\n", "application/x-ndjson")
				wantError(t, r, 400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
			})
		})
	}
}
