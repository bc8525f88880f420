package conformance_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestFlavorElasticsearch7 covers the §7 ES 7.x column the emulator's Elasticsearch7
// flavor must reproduce.
func TestFlavorElasticsearch7(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{Flavor: searchemu.Elasticsearch7})

	t.Run("write response carries _type", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", DocumentID: "1", Body: strings.NewReader(`{"foo":"bar"}`), Params: opensearchapi.IndexParams{Refresh: "true"}})
		if wantStatus(t, r, 201) {
			wantExactBody(t, r, `{"_index":"t","_type":"_doc","_id":"1","_version":1,"result":"created","forced_refresh":true,"_shards":`+shards2+`,"_seq_no":0,"_primary_term":1}`)
		}
	})

	t.Run("GET carries _type", func(t *testing.T) {
		r := e.get(t, "t", "1")
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"_index":"t","_type":"_doc","_id":"1","_version":1,"_seq_no":0,"_primary_term":1,"found":true,"_source":{"foo":"bar"}}`)
		}
		r = e.get(t, "t", "2")
		if wantStatus(t, r, 404) {
			wantExactBody(t, r, `{"_index":"t","_type":"_doc","_id":"2","found":false}`)
		}
	})

	t.Run("bulk items carry _type and _type is accepted on action lines", func(t *testing.T) {
		body := "{\"index\":{\"_index\":\"t\",\"_type\":\"_doc\",\"_id\":\"b\"}}\n{\"a\":1}\n{\"update\":{\"_index\":\"t\",\"_id\":\"missing\"}}\n{\"doc\":{\"a\":1}}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		_, it := item(t, r.Body, 0)
		wantKeys(t, it, []string{"_index", "_type", "_id", "_version", "result", "_shards", "_seq_no", "_primary_term", "status"})
		_, it = item(t, r.Body, 1)
		if got := keys(t, it); !reflect.DeepEqual(got, []string{"_index", "_type", "_id", "status", "error"}) {
			t.Errorf("ES7 failure item keys want [_index _type _id status error], got %v", got)
		}
		if got := str(t, it, "error", "type"); got != "document_missing_exception" {
			t.Errorf("type want document_missing_exception, got %q", got)
		}
		if got := str(t, it, "error", "reason"); got != "[_doc][missing]: document missing" {
			t.Errorf("reason want %q, got %q", "[_doc][missing]: document missing", got)
		}
	})

	t.Run("update API document missing reason", func(t *testing.T) {
		r := e.update(t, "t", "nope", `{"doc":{"a":1}}`, opensearchapi.UpdateParams{})
		wantError(t, r, 404, "document_missing_exception", "[_doc][nope]: document missing")
	})

	t.Run("search hits carry _type", func(t *testing.T) {
		r := e.search(t, "t", `{"query":{"ids":{"values":["1"]}}}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) {
			wantKeys(t, r.Body, []string{"_index", "_type", "_id", "_score", "_source"}, "hits", "hits", 0)
		}
	})

	t.Run("X-Elastic-Product on every response", func(t *testing.T) {
		for _, r := range []*resp{
			e.raw(t, http.MethodGet, "/", ""),
			e.get(t, "t", "1"),
			e.get(t, "nosuch", "1"),
			e.bulk(t, "", "{\"delete\":{\"_index\":\"t\",\"_id\":\"zz\"}}\n", opensearchapi.BulkParams{}),
		} {
			if got := r.Header.Get("X-Elastic-Product"); got != "Elasticsearch" {
				t.Errorf("%s: X-Elastic-Product want Elasticsearch, got %q", r.desc, got)
			}
		}
	})

	t.Run("GET / is Elasticsearch-shaped", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/", "")
		if !wantStatus(t, r, 200) {
			return
		}
		if got := str(t, r.Body, "tagline"); got != "You Know, for Search" {
			t.Errorf("tagline want %q, got %q", "You Know, for Search", got)
		}
		if !has(r.Body, "version", "build_flavor") {
			t.Errorf("version.build_flavor missing: %s", r.Body)
		}
		if got := str(t, r.Body, "version", "number"); !strings.HasPrefix(got, "7.") {
			t.Errorf("version.number want 7.x, got %q", got)
		}
	})

	t.Run("injected item 429 is es_rejected_execution_exception", func(t *testing.T) {
		e.cluster.SetFaults(searchemu.Faults{BulkItem429Ratio: 1})
		t.Cleanup(func() { e.cluster.SetFaults(searchemu.Faults{}) })
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"t\",\"_id\":\"rej\"}}\n{}\n", opensearchapi.BulkParams{})
		e.cluster.SetFaults(searchemu.Faults{})
		if !wantStatus(t, r, 200) {
			return
		}
		_, it := item(t, r.Body, 0)
		if num(t, it, "status") != 429 || str(t, it, "error", "type") != "es_rejected_execution_exception" {
			t.Errorf("want item 429 es_rejected_execution_exception, got %s", it)
		}
	})

	t.Run("injected request 429 is es_rejected_execution_exception", func(t *testing.T) {
		e.cluster.SetFaults(searchemu.Faults{Request429Ratio: 1})
		t.Cleanup(func() { e.cluster.SetFaults(searchemu.Faults{}) })
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"t\",\"_id\":\"rej\"}}\n{}\n", opensearchapi.BulkParams{})
		e.cluster.SetFaults(searchemu.Faults{})
		if wantStatus(t, r, 429) {
			checkEnvelope(t, r, 429)
			if got := str(t, r.Body, "error", "type"); got != "es_rejected_execution_exception" {
				t.Errorf("type want es_rejected_execution_exception, got %q", got)
			}
		}
	})
}

// TestFlavorOpenSearchHasNoElasticHeaders covers the §7 OpenSearch 2.x column.
func TestFlavorOpenSearchHasNoElasticHeaders(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{Flavor: searchemu.OpenSearch2})
	w := e.put(t, "t", "1", `{}`)
	for _, r := range []*resp{
		w,
		e.raw(t, http.MethodGet, "/", ""),
		e.get(t, "t", "1"),
		e.get(t, "nosuch", "1"),
		e.bulk(t, "", "{\"index\":{\"_index\":\"t\",\"_id\":\"2\"}}\n{}\n", opensearchapi.BulkParams{}),
	} {
		if got, ok := r.Header["X-Elastic-Product"]; ok {
			t.Errorf("%s: X-Elastic-Product must be absent for OpenSearch, got %q", r.desc, got)
		}
		if has(r.Body, "_type") {
			t.Errorf("%s: _type must be absent in 2.x responses", r.desc)
		}
	}
	b := e.bulk(t, "", "{\"index\":{\"_index\":\"t\",\"_id\":\"3\"}}\n{}\n", opensearchapi.BulkParams{})
	if _, it := item(t, b.Body, 0); has(it, "_type") {
		t.Errorf("bulk item must not carry _type: %s", it)
	}
}
