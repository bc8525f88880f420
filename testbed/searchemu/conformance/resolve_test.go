package conformance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// exists reports whether HEAD /{index} answers 200.
func (e *emu) exists(t testing.TB, index string) bool {
	t.Helper()
	return e.do(t, http.MethodHead, opensearchapi.IndicesExistsReq{Indices: []string{index}}).Status == 200
}

// TestDeleteIndexExpressions follows TransportDeleteIndexAction with DeleteIndexRequest's
// options (open and closed indices, aliases ignored) resolved by
// IndexNameExpressionResolver / WildcardExpressionResolver.
func TestDeleteIndexExpressions(t *testing.T) {
	t.Parallel()

	setup := func(t *testing.T) *emu {
		e := newEmu(t, searchemu.Options{})
		e.createIndex(t, "index1", `{"aliases":{"alias1":{}}}`)
		e.createIndex(t, "index2", "")
		return e
	}

	t.Run("wildcard matching only an alias with allow_no_indices=false deletes nothing", func(t *testing.T) {
		e := setup(t)
		r := e.do(t, http.MethodDelete, opensearchapi.IndicesDeleteReq{Indices: []string{"index2", "alia*"}, Params: opensearchapi.IndicesDeleteParams{AllowNoIndices: ptr(false)}})
		wantError(t, r, 404, "index_not_found_exception", "no such index [alia*]")
		wantMeta(t, r.Body, "resource.type", "index_or_alias", "error")
		wantMeta(t, r.Body, "resource.id", "alia*", "error")
		wantMeta(t, r.Body, "index", "alia*", "error")
		if !e.exists(t, "index2") || !e.exists(t, "index1") {
			t.Errorf("a refused delete must delete nothing")
		}
	})

	t.Run("wildcard matching nothing is allowed by default", func(t *testing.T) {
		e := setup(t)
		r := e.do(t, http.MethodDelete, opensearchapi.IndicesDeleteReq{Indices: []string{"index2", "alia*"}})
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"acknowledged":true}`)
		}
		if e.exists(t, "index2") || !e.exists(t, "index1") {
			t.Errorf("index2 must be deleted and index1 (behind alias1) kept")
		}
	})

	t.Run("an alias name is refused", func(t *testing.T) {
		e := setup(t)
		r := e.do(t, http.MethodDelete, opensearchapi.IndicesDeleteReq{Indices: []string{"alias1"}})
		wantError(t, r, 400, "illegal_argument_exception", "The provided expression [alias1] matches an alias, specify the corresponding concrete indices instead.")
		if !e.exists(t, "index1") {
			t.Errorf("index1 must survive")
		}
	})

	t.Run("a missing name with ignore_unavailable", func(t *testing.T) {
		e := setup(t)
		r := e.do(t, http.MethodDelete, opensearchapi.IndicesDeleteReq{Indices: []string{"nope", "index2"}, Params: opensearchapi.IndicesDeleteParams{IgnoreUnavailable: ptr(true)}})
		if wantStatus(t, r, 200) && e.exists(t, "index2") {
			t.Errorf("index2 must be deleted")
		}
		r = e.do(t, http.MethodDelete, opensearchapi.IndicesDeleteReq{Indices: []string{"nope", "index1"}})
		wantError(t, r, 404, "index_not_found_exception", "no such index [nope]")
		if !e.exists(t, "index1") {
			t.Errorf("index1 must survive a refused delete")
		}
	})

	t.Run("wildcards reach closed indices unless expand_wildcards says otherwise", func(t *testing.T) {
		e := setup(t)
		e.do(t, http.MethodPost, opensearchapi.IndicesCloseReq{Index: "index2"})
		r := e.do(t, http.MethodDelete, opensearchapi.IndicesDeleteReq{Indices: []string{"index*"}, Params: opensearchapi.IndicesDeleteParams{ExpandWildcards: "open"}})
		if wantStatus(t, r, 200) && (e.exists(t, "index1") || !e.exists(t, "index2")) {
			t.Errorf("expand_wildcards=open must delete index1 only")
		}
		r = e.do(t, http.MethodDelete, opensearchapi.IndicesDeleteReq{Indices: []string{"index*"}})
		if wantStatus(t, r, 200) && e.exists(t, "index2") {
			t.Errorf("the default expands to closed indices too")
		}
	})

	t.Run("bad options", func(t *testing.T) {
		e := setup(t)
		r := e.raw(t, http.MethodDelete, "/index1?allow_no_indices=maybe", "")
		wantStatus(t, r, 400)
		if got := str(t, r.Body, "error", "reason"); got != "Could not convert [allow_no_indices] to boolean" {
			t.Errorf("reason: %q", got)
		}
		if got := str(t, r.Body, "error", "caused_by", "reason"); got != "Failed to parse value [maybe] as only [true] or [false] are allowed." {
			t.Errorf("caused_by.reason: %q", got)
		}
		r = e.raw(t, http.MethodDelete, "/index1?expand_wildcards=bogus", "")
		wantError(t, r, 400, "illegal_argument_exception", "No valid expand wildcard value [bogus]")
		if !e.exists(t, "index1") {
			t.Errorf("index1 must survive")
		}
	})
}

// TestReadPathExpressions checks that the read APIs share the resolver.
func TestReadPathExpressions(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "ix1", "")
	e.createIndex(t, "ix2", "")

	names := func(r *resp) []string {
		t.Helper()
		if !wantStatus(t, r, 200) {
			return nil
		}
		return keys(t, r.Body)
	}
	cases := []struct {
		name  string
		index []string
		want  []string
	}{
		{"exclusion after a wildcard", []string{"ix*", "-ix2"}, []string{"ix1"}},
		{"all", []string{"_all"}, []string{"ix1", "ix2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := names(e.do(t, http.MethodGet, opensearchapi.MappingGetReq{Indices: tc.index}))
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("want %v, got %v", tc.want, got)
			}
		})
	}

	t.Run("a leading dash without a wildcard before it is a name", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.MappingGetReq{Indices: []string{"-ix2"}})
		wantError(t, r, 404, "index_not_found_exception", "no such index [-ix2]")
	})

	t.Run("count with allow_no_indices=false and an empty wildcard", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/nomatch*/_count?allow_no_indices=false", "")
		wantError(t, r, 404, "index_not_found_exception", "no such index [nomatch*]")
	})

	t.Run("a GET by id names the missing index as an index_expression", func(t *testing.T) {
		r := e.get(t, "nope", "1")
		wantError(t, r, 404, "index_not_found_exception", "no such index [nope]")
		wantMeta(t, r.Body, "resource.type", "index_expression", "error")
	})
}

// TestOpenClose follows RestCloseIndexAction / RestOpenIndexAction and
// MetadataIndexStateService: closed indices refuse reads and writes with
// IndexClosedException, keep their documents and sequence numbers, and carry
// index.verified_before_close while closed.
func TestOpenClose(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "c", `{"settings":{"number_of_replicas":0}}`)
	e.put(t, "c", "1", `{"a":1}`)
	e.put(t, "c", "2", `{"a":2}`)
	e.createIndex(t, "other", `{"settings":{"number_of_replicas":0}}`)

	r := e.do(t, http.MethodPost, opensearchapi.IndicesCloseReq{Index: "c"})
	if wantStatus(t, r, 200) {
		wantExactBody(t, r, `{"acknowledged":true,"shards_acknowledged":true,"indices":{"c":{"closed":true}}}`)
	}
	t.Run("closing again changes nothing", func(t *testing.T) {
		r := e.do(t, http.MethodPost, opensearchapi.IndicesCloseReq{Index: "c"})
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"acknowledged":true,"shards_acknowledged":false,"indices":{}}`)
		}
	})

	uuid := str(t, e.do(t, http.MethodGet, opensearchapi.IndicesGetReq{Indices: []string{"c"}}).Body, "c", "settings", "index", "uuid")
	closed := func(t *testing.T, r *resp) {
		t.Helper()
		wantError(t, r, 400, "index_closed_exception", "closed")
		wantMeta(t, r.Body, "index", "c", "error")
		wantMeta(t, r.Body, "index_uuid", uuid, "error")
	}
	refused := []struct {
		name string
		send func(t *testing.T) *resp
	}{
		{"get", func(t *testing.T) *resp { return e.get(t, "c", "1") }},
		{"index", func(t *testing.T) *resp {
			return e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "c", DocumentID: "3", Body: strings.NewReader(`{}`)})
		}},
		{"search", func(t *testing.T) *resp {
			return e.do(t, http.MethodPost, opensearchapi.SearchReq{Indices: []string{"c"}})
		}},
		{"count", func(t *testing.T) *resp {
			return e.do(t, http.MethodPost, opensearchapi.IndicesCountReq{Indices: []string{"c"}})
		}},
		{"refresh", func(t *testing.T) *resp {
			return e.do(t, http.MethodPost, opensearchapi.IndicesRefreshReq{Index: []string{"c"}})
		}},
	}
	for _, tc := range refused {
		t.Run("closed refuses "+tc.name, func(t *testing.T) { closed(t, tc.send(t)) })
	}

	t.Run("bulk item", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"c\",\"_id\":\"3\"}}\n{}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `{"index":{"_index":"c","_id":"3","status":400,"error":{"type":"index_closed_exception","reason":"closed","index_uuid":"`+uuid+`","index":"c"}}}`, "items", 0)
		}
	})
	t.Run("mget item", func(t *testing.T) {
		r := e.do(t, http.MethodPost, opensearchapi.MGetReq{Body: strings.NewReader(`{"docs":[{"_index":"c","_id":"1"}]}`)})
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `"index_closed_exception"`, "docs", 0, "error", "type")
		}
	})
	t.Run("wildcard searches skip closed indices", func(t *testing.T) {
		r := e.do(t, http.MethodPost, opensearchapi.SearchReq{Indices: []string{"c*"}})
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `0`, "hits", "total", "value")
		}
		r = e.raw(t, http.MethodPost, "/c/_search?ignore_unavailable=true", "")
		wantStatus(t, r, 200)
	})
	t.Run("get index shows verified_before_close", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.IndicesGetReq{Indices: []string{"c"}})
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `"true"`, "c", "settings", "index", "verified_before_close")
		}
	})
	t.Run("cat indices shows status close", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.CatIndicesReq{Indices: []string{"c"}})
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `[{"health":"green","status":"close","index":"c","uuid":"`+uuid+`","pri":"1","rep":"0","docs.count":null,"docs.deleted":null,"store.size":null,"pri.store.size":null}]`)
		}
	})

	t.Run("reopening keeps documents and sequence numbers", func(t *testing.T) {
		r := e.do(t, http.MethodPost, opensearchapi.IndicesOpenReq{Index: "c*"})
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"acknowledged":true,"shards_acknowledged":true}`)
		}
		g := e.get(t, "c", "2")
		if wantStatus(t, g, 200) && num(t, g.Body, "_seq_no") != 1 {
			t.Errorf("doc 2 keeps _seq_no 1: %s", g)
		}
		w := e.put(t, "c", "3", `{}`)
		if num(t, w.Body, "_seq_no") != 2 {
			t.Errorf("the next write continues at _seq_no 2: %s", w)
		}
		gi := e.do(t, http.MethodGet, opensearchapi.IndicesGetReq{Indices: []string{"c"}})
		if has(gi.Body, "c", "settings", "index", "verified_before_close") {
			t.Errorf("verified_before_close must go when the index is opened: %s", gi)
		}
	})

	t.Run("no index", func(t *testing.T) {
		for _, p := range []string{"/_close", "/_open"} {
			r := e.raw(t, http.MethodPost, p, "")
			wantError(t, r, 400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
		}
	})
	t.Run("open of a missing index", func(t *testing.T) {
		r := e.do(t, http.MethodPost, opensearchapi.IndicesOpenReq{Index: "nope"})
		wantError(t, r, 404, "index_not_found_exception", "no such index [nope]")
	})
	t.Run("wait_for_active_shards", func(t *testing.T) {
		e.createIndex(t, "rep", `{"settings":{"number_of_replicas":1}}`)
		e.do(t, http.MethodPost, opensearchapi.IndicesCloseReq{Index: "rep"})
		// One node never starts a replica: waiting for all copies times out.
		r := e.raw(t, http.MethodPost, "/rep/_open?wait_for_active_shards=all&timeout=0s", "")
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"acknowledged":true,"shards_acknowledged":false}`)
		}
		r = e.raw(t, http.MethodPost, "/rep/_close?wait_for_active_shards=abc", "")
		wantError(t, r, 400, "illegal_argument_exception", "cannot parse ActiveShardCount[abc]")
	})
}
