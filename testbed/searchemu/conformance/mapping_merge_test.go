package conformance_test

import (
	"net/http"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestPutMappingMerge follows MetadataMappingService and MapperService.merge: PUT _mapping
// adds fields and parameters that may be updated, keeps what it does not mention, and
// refuses a changed _source "enabled" (SourceFieldMapper: a parameter that cannot be
// updated, merged through ParametrizedFieldMapper.merge and Conflicts.check). The root
// "dynamic" can be changed, and DocumentParser enforces it on the next write:
// StrictDynamicMappingException ("mapping set to strict, dynamic introduction of [f]
// within [path] is not allowed", path "_doc" at the root), false keeps the field in the
// source only.
func TestPutMappingMerge(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "mm", `{"mappings":{"dynamic":"strict","properties":{"k":{"type":"keyword"},"o":{"properties":{"a":{"type":"long"}}}}}}`)

	t.Run("strict refuses new fields at the root and in objects", func(t *testing.T) {
		wantError(t, e.raw(t, http.MethodPut, "/mm/_doc/1", `{"z":1}`), 400, "strict_dynamic_mapping_exception", "mapping set to strict, dynamic introduction of [z] within [_doc] is not allowed")
		wantError(t, e.raw(t, http.MethodPut, "/mm/_doc/1", `{"o":{"b":1}}`), 400, "strict_dynamic_mapping_exception", "mapping set to strict, dynamic introduction of [b] within [o] is not allowed")
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"mm\",\"_id\":\"1\"}}\n{\"z\":1}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantItemError(t, r, 0, "index", 400, "strict_dynamic_mapping_exception", "mapping set to strict, dynamic introduction of [z] within [_doc] is not allowed")
		}
	})

	t.Run("fields, object fields and multi-fields are added", func(t *testing.T) {
		e.rawOK(t, http.MethodPut, "/mm/_mapping", `{"properties":{"n":{"type":"long"},"o":{"properties":{"c":{"type":"date"}}},"k":{"type":"keyword","ignore_above":10,"fields":{"raw":{"type":"keyword"}}}}}`)
		r := e.rawOK(t, http.MethodGet, "/mm/_mapping", "")
		wantJSON(t, r.Body, `{"mm":{"mappings":{"dynamic":"strict","properties":{"k":{"type":"keyword","ignore_above":10,"fields":{"raw":{"type":"keyword"}}},"n":{"type":"long"},"o":{"properties":{"a":{"type":"long"},"c":{"type":"date"}}}}}}}`)
	})

	t.Run("conflicts", func(t *testing.T) {
		wantError(t, e.raw(t, http.MethodPut, "/mm/_mapping", `{"properties":{"n":{"type":"text"}}}`), 400, iae, "mapper [n] cannot be changed from type [long] to [text]")
		wantError(t, e.raw(t, http.MethodPut, "/mm/_mapping", `{"_source":{"enabled":false}}`), 400, iae, "Mapper for [_source] conflicts with existing mapper:\n\tCannot update parameter [enabled] from [true] to [false]")
		// a refused update changes nothing
		r := e.rawOK(t, http.MethodGet, "/mm/_mapping", "")
		wantJSON(t, r.Body, `{"type":"long"}`, "mm", "mappings", "properties", "n")
		if has(r.Body, "mm", "mappings", "_source") {
			t.Errorf("refused _source change must not be stored: %s", r)
		}
	})

	t.Run("dynamic false keeps new fields out of the mapping", func(t *testing.T) {
		e.rawOK(t, http.MethodPut, "/mm/_mapping", `{"dynamic":false}`)
		e.put(t, "mm", "2", `{"z":1}`)
		r := e.rawOK(t, http.MethodGet, "/mm/_mapping", "")
		wantJSON(t, r.Body, `"false"`, "mm", "mappings", "dynamic")
		if has(r.Body, "mm", "mappings", "properties", "z") {
			t.Errorf("dynamic false must not map z: %s", r)
		}
		wantJSON(t, e.source(t, "mm", "2"), `{"z":1}`)
	})

	t.Run("dynamic true maps new fields", func(t *testing.T) {
		e.rawOK(t, http.MethodPut, "/mm/_mapping", `{"dynamic":"true"}`)
		e.put(t, "mm", "3", `{"y":1}`)
		r := e.rawOK(t, http.MethodGet, "/mm/_mapping", "")
		wantJSON(t, r.Body, `{"type":"long"}`, "mm", "mappings", "properties", "y")
	})

	t.Run("a closed index takes mapping updates", func(t *testing.T) {
		e.rawOK(t, http.MethodPost, "/mm/_close", "")
		e.rawOK(t, http.MethodPut, "/mm/_mapping", `{"properties":{"later":{"type":"keyword"}}}`)
		e.rawOK(t, http.MethodPost, "/mm/_open", "")
		r := e.rawOK(t, http.MethodGet, "/mm/_mapping", "")
		wantJSON(t, r.Body, `{"type":"keyword"}`, "mm", "mappings", "properties", "later")
	})
}
