package conformance_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestByQueryScrollAndGuardedWrites covers what the proxy's by-query operations
// (services/proxy/byquery.go) rely on, as OpenSearch's own by-query implementation
// (modules/reindex, ClientScrollableHitSource and AbstractAsyncBulkByScrollAction) does:
//
//   - a scroll sorted by _doc with "version" and "seq_no_primary_term" gives every page's
//     hits their _version, _seq_no and _primary_term, and _routing, in SearchHit.toXContent's
//     key order (_index, _id, _version, _seq_no, _primary_term, _score, _routing, _source,
//     sort), and with "_source":false no _source;
//   - bulk delete, index and update items guarded by if_seq_no/if_primary_term apply when the
//     document is unchanged and conflict (409 version_conflict_engine_exception,
//     InternalEngine / VersionConflictEngineException) when it changed since the search;
//     an update checks the guard before it runs its script (UpdateHelper.prepare); an update
//     of a document deleted since the search is 404 document_missing_exception
//     (UpdateHelper.prepare), a guarded delete of it 409.
func TestByQueryScrollAndGuardedWrites(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "bq", `{"settings":{"number_of_shards":2}}`)
	var b strings.Builder
	for i := range 5 {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":\"bq\",\"_id\":\"%d\",\"routing\":\"r%d\"}}\n{\"n\":%d}\n", i, i%2, i)
	}
	e.bulk(t, "", b.String(), opensearchapi.BulkParams{Refresh: "true"})

	type hit struct {
		id, routing      string
		seqNo, term, ver int64
	}
	var hits []hit
	read := func(r *resp) bool {
		t.Helper()
		if !wantStatus(t, r, 200) {
			return false
		}
		n := len(hits)
		for i := 0; has(r.Body, "hits", "hits", i); i++ {
			wantKeys(t, r.Body, []string{"_index", "_id", "_version", "_seq_no", "_primary_term", "_score", "_routing", "sort"}, "hits", "hits", i)
			hits = append(hits, hit{id: str(t, r.Body, "hits", "hits", i, "_id"), routing: str(t, r.Body, "hits", "hits", i, "_routing"),
				seqNo: num(t, r.Body, "hits", "hits", i, "_seq_no"), term: num(t, r.Body, "hits", "hits", i, "_primary_term"),
				ver: num(t, r.Body, "hits", "hits", i, "_version")})
		}
		return len(hits) > n
	}
	r := e.raw(t, http.MethodPost, "/bq/_search?scroll=1m",
		`{"sort":["_doc"],"_source":false,"size":2,"version":true,"seq_no_primary_term":true}`)
	read(r)
	id := str(t, r.Body, "_scroll_id")
	for range 5 {
		sr := e.raw(t, http.MethodPost, "/_search/scroll", `{"scroll":"1m","scroll_id":`+strconv.Quote(id)+`}`)
		if !read(sr) {
			break
		}
		id = str(t, sr.Body, "_scroll_id")
	}
	if len(hits) != 5 {
		t.Fatalf("the scroll gave %d hits, want 5", len(hits))
	}
	byID := map[string]hit{}
	for _, h := range hits {
		byID[h.id] = h
		g := e.raw(t, http.MethodGet, "/bq/_doc/"+h.id+"?routing="+h.routing, "")
		if got := [3]int64{num(t, g.Body, "_seq_no"), num(t, g.Body, "_primary_term"), num(t, g.Body, "_version")}; got != [3]int64{h.seqNo, h.term, h.ver} {
			t.Errorf("hit %s: seq_no/term/version %d/%d/%d, GET says %v", h.id, h.seqNo, h.term, h.ver, got)
		}
	}

	// A concurrent writer changes 1 and deletes 3 after the search.
	e.bulkOK(t, "{\"index\":{\"_index\":\"bq\",\"_id\":\"1\",\"routing\":\"r1\"}}\n{\"n\":100}\n{\"delete\":{\"_index\":\"bq\",\"_id\":\"3\",\"routing\":\"r1\"}}\n")
	guard := func(action, id string) string {
		h := byID[id]
		return fmt.Sprintf(`{%q:{"_index":"bq","_id":%q,"routing":%q,"if_seq_no":%d,"if_primary_term":%d}}`, action, id, h.routing, h.seqNo, h.term)
	}
	body := guard("delete", "0") + "\n" +
		guard("index", "1") + "\n{\"n\":1}\n" +
		guard("update", "1") + "\n{\"script\":{\"source\":\"ctx._source.n++\"}}\n" +
		guard("update", "3") + "\n{\"script\":{\"source\":\"ctx._source.n++\"}}\n" +
		guard("delete", "3") + "\n" +
		guard("index", "2") + "\n{\"n\":2,\"again\":true}\n"
	br := e.bulk(t, "", body, opensearchapi.BulkParams{})
	if !wantStatus(t, br, 200) {
		return
	}
	type item struct {
		status int64
		typ    string
	}
	var got []item
	for i := 0; has(br.Body, "items", i); i++ {
		for _, k := range []string{"index", "delete", "update"} {
			if has(br.Body, "items", i, k) {
				it := item{status: num(t, br.Body, "items", i, k, "status")}
				if has(br.Body, "items", i, k, "error") {
					it.typ = str(t, br.Body, "items", i, k, "error", "type")
				}
				got = append(got, it)
			}
		}
	}
	want := []item{{200, ""}, {409, "version_conflict_engine_exception"}, {409, "version_conflict_engine_exception"},
		{404, "document_missing_exception"}, {409, "version_conflict_engine_exception"}, {200, ""}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("guarded items: %v, want %v\n%s", got, want, br.Body)
	}
	h1 := byID["1"]
	wantReason := fmt.Sprintf("[1]: version conflict, required seqNo [%d], primary term [%d]. current document has seqNo [", h1.seqNo, h1.term)
	if r := str(t, br.Body, "items", 1, "index", "error", "reason"); !strings.HasPrefix(r, wantReason) {
		t.Errorf("conflict reason %q, want it to start %q", r, wantReason)
	}
}
