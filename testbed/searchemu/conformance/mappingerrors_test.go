package conformance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// The mapping error cases follow MetadataMappingService (PUT _mapping parses the update
// with mapperService.parse, unwrapped, then merges it into the existing mapper),
// MapperService.internalMerge (index creation wraps parse errors "Failed to parse mapping
// [_doc]: …"), ObjectMapper.merge/doMerge, ParametrizedFieldMapper.merge and Conflicts,
// FieldMapper.parse (the "failed to parse field" wrapper and its cause) and
// DocumentParser (dynamic conflicts, createDynamicUpdate).

func TestMappingUpdateErrors(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "me", `{"mappings":{"properties":{
		"n":{"type":"long"},
		"k":{"type":"keyword","index":false,"ignore_above":10},
		"d":{"type":"date"},
		"o":{"properties":{"x":{"type":"keyword"}}},
		"nest":{"type":"nested"},
		"off":{"type":"object","enabled":false},
		"t":{"type":"text","fields":{"raw":{"type":"keyword","doc_values":false}}}
	}}}`)
	putMapping := func(t *testing.T, body string) *resp {
		t.Helper()
		return e.do(t, http.MethodPut, opensearchapi.MappingPutReq{Indices: []string{"me"}, Body: strings.NewReader(body)})
	}
	cases := []struct {
		name, body string
		status     int
		typ        string
		reason     string
	}{
		{"type change", `{"properties":{"n":{"type":"text"}}}`, 400, iae, "mapper [n] cannot be changed from type [long] to [text]"},
		{"object to nested", `{"properties":{"o":{"type":"nested"}}}`, 400, iae, "object mapping [o] can't be changed from non-nested to nested"},
		{"nested to object", `{"properties":{"nest":{"type":"object"}}}`, 400, iae, "object mapping [nest] can't be changed from nested to non-nested"},
		{"field to object", `{"properties":{"n":{"properties":{"x":{"type":"keyword"}}}}}`, 400, iae, "can't merge a non object mapping [n] with an object mapping"},
		{"object to field", `{"properties":{"o":{"type":"keyword"}}}`, 400, iae, "can't merge a non object mapping [o] with an object mapping"},
		{"a left-out parameter takes its default", `{"properties":{"k":{"type":"keyword"}}}`, 400, iae, "Mapper for [k] conflicts with existing mapper:\n\tCannot update parameter [index] from [false] to [true]"},
		{"several conflicts in one message", `{"properties":{"k":{"type":"keyword","doc_values":false,"store":true}}}`, 400, iae, "Mapper for [k] conflicts with existing mapper:\n\tCannot update parameter [index] from [false] to [true]\n\tCannot update parameter [doc_values] from [true] to [false]\n\tCannot update parameter [store] from [false] to [true]"},
		{"date format", `{"properties":{"d":{"type":"date","format":"yyyy"}}}`, 400, iae, "Mapper for [d] conflicts with existing mapper:\n\tCannot update parameter [format] from [strict_date_optional_time||epoch_millis] to [yyyy]"},
		{"multi-field conflict", `{"properties":{"t":{"type":"text","fields":{"raw":{"type":"keyword"}}}}}`, 400, iae, "Mapper for [t.raw] conflicts with existing mapper:\n\tCannot update parameter [doc_values] from [false] to [true]"},
		{"enabled cannot change", `{"properties":{"off":{"type":"object","enabled":true}}}`, 500, "mapper_exception", "the [enabled] parameter can't be updated for the object mapping [off]"},
		// parsed before it is merged, and not wrapped as index creation wraps it
		{"bad definition before conflicts", `{"properties":{"n":{"type":"text"},"x":{"type":"foo"}}}`, 400, "mapper_parsing_exception", "No handler for type [foo] declared on field [x]"},
		{"no type", `{"properties":{"x":{"index":false}}}`, 400, "mapper_parsing_exception", "No type specified for field [x]"},
		{"unknown parameter", `{"properties":{"x":{"type":"keyword","ignore_abov":5}}}`, 400, "mapper_parsing_exception", "unknown parameter [ignore_abov] on mapper [x] of type [keyword]"},
		{"unknown parameter of a multi-field", `{"properties":{"x":{"type":"text","fields":{"kw":{"type":"long","format":"x"}}}}}`, 400, "mapper_parsing_exception", "unknown parameter [format] on mapper [kw] of type [long]"},
		{"a parameter of another type", `{"properties":{"x":{"type":"date","ignore_above":5}}}`, 400, "mapper_parsing_exception", "unknown parameter [ignore_above] on mapper [x] of type [date]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := putMapping(t, tc.body)
			wantError(t, r, tc.status, tc.typ, tc.reason)
			if has(r.Body, "error", "caused_by") {
				t.Errorf("a merge refusal has no cause: %s", r.Body)
			}
		})
	}
	t.Run("updateable parameters and the same definition are accepted", func(t *testing.T) {
		r := putMapping(t, `{"properties":{"k":{"type":"keyword","index":false,"ignore_above":20},"n":{"type":"long","coerce":false},"o":{"properties":{"y":{"type":"long"}}}}}`)
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"acknowledged":true}`)
		}
	})
	t.Run("nothing of a refused update is applied", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.MappingGetReq{Indices: []string{"me"}})
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `{"type":"long","coerce":false}`, "me", "mappings", "properties", "n")
			if has(r.Body, "me", "mappings", "properties", "x") {
				t.Errorf("field x of a refused update was added: %s", r.Body)
			}
		}
	})
	t.Run("deprecated parameters are tolerated", func(t *testing.T) {
		r := putMapping(t, `{"properties":{"b":{"type":"long","boost":2,"similarity":"BM25"},"c":{"type":"keyword","copy_to":"b2"},"b2":{"type":"keyword"}}}`)
		wantStatus(t, r, 200)
	})
	t.Run("an updateable parameter left out returns to its default", func(t *testing.T) {
		r := putMapping(t, `{"properties":{"k":{"type":"keyword","index":false}}}`)
		wantStatus(t, r, 200)
		g := e.do(t, http.MethodGet, opensearchapi.MappingGetReq{Indices: []string{"me"}})
		if wantStatus(t, g, 200) {
			wantJSON(t, g.Body, `{"type":"keyword","index":false}`, "me", "mappings", "properties", "k")
		}
		// and the field indexes as its mapping now says: no ignore_above
		e.put(t, "me", "long", `{"k":"a value longer than ten"}`)
		s := e.search(t, "me", `{"query":{"exists":{"field":"k"}}}`, opensearchapi.SearchParams{})
		if wantStatus(t, s, 200) && strings.Join(hitIDs(t, s.Body), ",") != "long" {
			t.Errorf("hits want [long], got %v", hitIDs(t, s.Body))
		}
	})
	t.Run("index creation wraps parse errors", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndicesCreateReq{Index: "bad", Body: strings.NewReader(`{"mappings":{"properties":{"x":{"type":"foo"}}}}`)})
		wantError(t, r, 400, "mapper_parsing_exception", "Failed to parse mapping [_doc]: No handler for type [foo] declared on field [x]")
		wantCause(t, r.Body, "mapper_parsing_exception", "No handler for type [foo] declared on field [x]", "error")
		r = e.do(t, http.MethodPut, opensearchapi.IndicesCreateReq{Index: "bad", Body: strings.NewReader(`{"mappings":{"properties":{"x":{"type":"long","analyzer":"standard"}}}}`)})
		wantError(t, r, 400, "mapper_parsing_exception", "Failed to parse mapping [_doc]: unknown parameter [analyzer] on mapper [x] of type [long]")
		wantCause(t, r.Body, "mapper_parsing_exception", "unknown parameter [analyzer] on mapper [x] of type [long]", "error")
	})
}

func TestDocumentMappingErrors(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "de", `{"mappings":{"properties":{"n":{"type":"long"},"k":{"type":"keyword"},"o":{"properties":{"x":{"type":"keyword"}}},"nest":{"type":"nested"}}}}`)
	cases := []struct {
		name, doc, typ, reason string
		causeType, cause       string
	}{
		{"value the field cannot parse", `{"n":"abc"}`, "mapper_parsing_exception", "failed to parse field [n] of type [long] in document with id '1'. Preview of field's value: 'abc'", iae, `For input string: "abc"`},
		{"value for an object", `{"o":"str"}`, "mapper_parsing_exception", "object mapping for [o] tried to parse field [o] as object, but found a concrete value", "", ""},
		{"dotted name under a field", `{"k.sub":1}`, "mapper_parsing_exception", "Could not dynamically add mapping for field [k.sub]. Existing mapping for [k] must be of type object but found [keyword].", "", ""},
		{"dynamic conflict inside one document", `{"z":[1,"x"]}`, iae, "mapper [z] cannot be changed from type [long] to [text]", "", ""},
		{"dotted name through a nested object", `{"nest.x":1}`, "mapper_parsing_exception", "Cannot add a value for field [nest.x] since one of the intermediate objects is mapped as a nested object: [nest]", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "de", DocumentID: "1", Body: strings.NewReader(tc.doc)})
			wantError(t, r, 400, tc.typ, tc.reason)
			if tc.causeType != "" {
				wantCause(t, r.Body, tc.causeType, tc.cause, "error")
				if got := str(t, r.Body, "error", "root_cause", 0, "type"); got != "mapper_parsing_exception" {
					t.Errorf("root_cause stops at the mapper_parsing_exception, got %q", got)
				}
			} else if has(r.Body, "error", "caused_by") {
				t.Errorf("no cause expected: %s", r.Body)
			}
			b := e.bulk(t, "de", "{\"index\":{\"_id\":\"1\"}}\n"+tc.doc+"\n", opensearchapi.BulkParams{})
			it := wantItemError(t, b, 0, "index", 400, tc.typ, tc.reason)
			if tc.causeType != "" {
				wantCause(t, it, tc.causeType, tc.cause, "error")
			}
		})
	}
}
