package conformance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// The _source mapping cases follow SourceFieldMapper (enabled, includes, excludes:
// applyFilters decides what is stored), GetResult (no "_source" member when none is
// stored), RestGetSourceAction.checkResource ("Source not found") and UpdateHelper
// (DocumentSourceMissingException when there is no source to merge into).

func TestSourceDisabled(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "ns", `{"mappings":{"_source":{"enabled":false},"properties":{"k":{"type":"keyword"}}}}`)
	e.put(t, "ns", "1", `{"k":"a"}`)

	t.Run("GET has no _source", func(t *testing.T) {
		r := e.get(t, "ns", "1")
		if wantStatus(t, r, 200) {
			wantKeys(t, r.Body, []string{"_index", "_id", "_version", "_seq_no", "_primary_term", "found"})
		}
		r = e.do(t, http.MethodGet, opensearchapi.DocumentGetReq{Index: "ns", DocumentID: "1", Params: opensearchapi.DocumentGetParams{SourceIncludes: []string{"k"}}})
		if wantStatus(t, r, 200) && has(r.Body, "_source") {
			t.Errorf("source filtering must not bring a source back: %s", r.Body)
		}
	})
	t.Run("mget has no _source", func(t *testing.T) {
		r := e.do(t, http.MethodPost, opensearchapi.MGetReq{Index: "ns", Body: strings.NewReader(`{"ids":["1"]}`)})
		if wantStatus(t, r, 200) {
			wantKeys(t, r.Body, []string{"_index", "_id", "_version", "_seq_no", "_primary_term", "found"}, "docs", 0)
		}
	})
	t.Run("the document is searchable, its hit has no _source", func(t *testing.T) {
		r := e.search(t, "ns", `{"query":{"term":{"k":"a"}}}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) {
			if got := hitIDs(t, r.Body); len(got) != 1 || got[0] != "1" {
				t.Fatalf("hits want [1], got %v", got)
			}
			wantKeys(t, r.Body, []string{"_index", "_id", "_score"}, "hits", "hits", 0)
		}
	})
	t.Run("GET _source is not found", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.DocumentSourceReq{Index: "ns", DocumentID: "1"})
		wantError(t, r, 404, "resource_not_found_exception", "Source not found [ns]/[1]")
	})
	t.Run("update of an existing document fails", func(t *testing.T) {
		r := e.update(t, "ns", "1", `{"doc":{"k":"b"}}`, opensearchapi.UpdateParams{})
		wantError(t, r, 400, "document_source_missing_exception", "[1]: document source missing")
		wantMeta(t, r.Body, "index", "ns", "error")
		wantMeta(t, r.Body, "shard", "0", "error")
	})
	t.Run("upsert of a missing document works", func(t *testing.T) {
		r := e.update(t, "ns", "2", `{"doc":{"k":"b"},"doc_as_upsert":true}`, opensearchapi.UpdateParams{})
		if wantStatus(t, r, 201) && str(t, r.Body, "result") != "created" {
			t.Errorf("result want created: %s", r.Body)
		}
	})
}

func TestSourceIncludesExcludes(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "fx", `{"mappings":{"_source":{"excludes":["secret*"]},"properties":{"k":{"type":"keyword"},"secret":{"type":"keyword"}}}}`)
	e.put(t, "fx", "1", `{"k":"a","secret":"s"}`)

	t.Run("the stored source is filtered", func(t *testing.T) {
		if got := string(e.source(t, "fx", "1")); got != `{"k":"a"}` {
			t.Errorf("_source want {\"k\":\"a\"}, got %s", got)
		}
	})
	t.Run("excluded fields are still indexed", func(t *testing.T) {
		r := e.search(t, "fx", `{"query":{"term":{"secret":"s"}}}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) {
			if got := hitIDs(t, r.Body); len(got) != 1 {
				t.Errorf("hits want [1], got %v", got)
			}
			wantJSON(t, r.Body, `{"k":"a"}`, "hits", "hits", 0, "_source")
		}
	})
	t.Run("an update merges into the stored source", func(t *testing.T) {
		r := e.update(t, "fx", "1", `{"doc":{"k":"b"}}`, opensearchapi.UpdateParams{Refresh: "true"})
		wantStatus(t, r, 200)
		r = e.search(t, "fx", `{"query":{"term":{"secret":"s"}}}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) {
			if got := hitIDs(t, r.Body); len(got) != 0 {
				t.Errorf("the excluded field was not in the stored source, so the update drops it; hits want none, got %v", got)
			}
		}
	})
	t.Run("includes", func(t *testing.T) {
		e.createIndex(t, "in", `{"mappings":{"_source":{"includes":["k"]}}}`)
		e.put(t, "in", "1", `{"k":"a","x":{"y":1}}`)
		if got := string(e.source(t, "in", "1")); got != `{"k":"a"}` {
			t.Errorf("_source want {\"k\":\"a\"}, got %s", got)
		}
	})
}

// TestSourceDisabledElasticsearch7 follows the 7.10 messages, which name the type:
// DocumentSourceMissingException(shardId, type, id) and RestGetSourceAction.checkResource.
func TestSourceDisabledElasticsearch7(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{Flavor: searchemu.Elasticsearch7})
	e.createIndex(t, "ns", `{"mappings":{"_source":{"enabled":false}}}`)
	e.put(t, "ns", "1", `{"k":"a"}`)
	r := e.update(t, "ns", "1", `{"doc":{"k":"b"}}`, opensearchapi.UpdateParams{})
	wantError(t, r, 400, "document_source_missing_exception", "[_doc][1]: document source missing")
	r = e.do(t, http.MethodGet, opensearchapi.DocumentSourceReq{Index: "ns", DocumentID: "1"})
	wantError(t, r, 404, "resource_not_found_exception", "Source not found [ns]/[_doc]/[1]")
}
