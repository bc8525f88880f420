package conformance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestVersionedGet follows rest-api-spec get/90_versions.yml, GetRequest.validate and
// VersionType.isVersionConflictForReads: every version type asks for exactly the version.
func TestVersionedGet(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.put(t, "v", "1", `{"foo":"bar"}`)
	e.put(t, "v", "1", `{"foo":"bar"}`)
	uuid := str(t, e.do(t, http.MethodGet, opensearchapi.IndicesGetReq{Indices: []string{"v"}}).Body, "v", "settings", "index", "uuid")

	cases := []struct {
		name, query string
		status      int
		reason      string
	}{
		{"internal match", "version=2", 200, ""},
		{"internal mismatch", "version=1", 409, "[1]: version conflict, current version [2] is different than the one provided [1]"},
		{"external match", "version=2&version_type=external", 200, ""},
		{"external higher", "version=10&version_type=external", 409, "[1]: version conflict, current version [2] is different than the one provided [10]"},
		{"external lower", "version=1&version_type=external", 409, "[1]: version conflict, current version [2] is different than the one provided [1]"},
		{"external_gte match", "version=2&version_type=external_gte", 200, ""},
		{"external_gte higher", "version=10&version_type=external_gte", 409, "[1]: version conflict, current version [2] is different than the one provided [10]"},
		{"internal zero", "version=0", 400, "Validation Failed: 1: illegal version value [0] for version type [INTERNAL];"},
		{"external negative", "version=-1&version_type=external", 400, "Validation Failed: 1: illegal version value [-1] for version type [EXTERNAL];"},
		{"unknown type", "version=2&version_type=bogus", 400, "No version type match [bogus]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.raw(t, http.MethodGet, "/v/_doc/1?"+tc.query, "")
			switch tc.status {
			case 200:
				if wantStatus(t, r, 200) && num(t, r.Body, "_version") != 2 {
					t.Errorf("_version want 2: %s", r)
				}
			case 409:
				wantError(t, r, 409, "version_conflict_engine_exception", tc.reason)
				wantMeta(t, r.Body, "index", "v", "error")
				wantMeta(t, r.Body, "shard", "0", "error")
				wantMeta(t, r.Body, "index_uuid", uuid, "error")
			default:
				wantStatus(t, r, tc.status)
				if got := str(t, r.Body, "error", "reason"); got != tc.reason {
					t.Errorf("reason want %q, got %q", tc.reason, got)
				}
			}
		})
	}
	t.Run("a missing document is not a conflict", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/v/_doc/2?version=5", "")
		if wantStatus(t, r, 404) {
			wantExactBody(t, r, `{"_index":"v","_id":"2","found":false}`)
		}
	})
	t.Run("get_source too", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/v/_source/1?version=1", "")
		wantError(t, r, 409, "version_conflict_engine_exception", "[1]: version conflict, current version [2] is different than the one provided [1]")
	})
}

// TestStoredFieldsGet follows rest-api-spec get/20_stored_fields.yml and ShardGetService
// (normalizeFetchSourceContent, innerGetLoadFromStoredFields, FieldsVisitor).
func TestStoredFieldsGet(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "s", `{"mappings":{"properties":{"foo":{"type":"keyword","store":true},"count":{"type":"integer","store":true},"plain":{"type":"keyword"},"obj":{"properties":{"x":{"type":"keyword"}}}}}}`)
	e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "s", DocumentID: "1", Body: strings.NewReader(`{"foo":"bar","count":1,"plain":"p","obj":{"x":"y"}}`), Params: opensearchapi.IndexParams{Routing: "r1", Refresh: "true"}})
	get := func(t *testing.T, p opensearchapi.DocumentGetParams) *resp {
		p.Routing = "r1"
		return e.do(t, http.MethodGet, opensearchapi.DocumentGetReq{Index: "s", DocumentID: "1", Params: p})
	}
	head := `"_index":"s","_id":"1","_version":1,"_seq_no":0,"_primary_term":1`
	cases := []struct {
		name string
		p    opensearchapi.DocumentGetParams
		want string
	}{
		{"one stored field", opensearchapi.DocumentGetParams{StoredFields: []string{"foo"}}, `{` + head + `,"_routing":"r1","found":true,"fields":{"foo":["bar"]}}`},
		{"two stored fields", opensearchapi.DocumentGetParams{StoredFields: []string{"foo", "count"}}, `{` + head + `,"_routing":"r1","found":true,"fields":{"count":[1],"foo":["bar"]}}`},
		{"stored fields and _source", opensearchapi.DocumentGetParams{StoredFields: []string{"foo", "_source"}}, `{` + head + `,"_routing":"r1","found":true,"_source":{"foo":"bar","count":1,"plain":"p","obj":{"x":"y"}},"fields":{"foo":["bar"]}}`},
		{"a field that is not stored", opensearchapi.DocumentGetParams{StoredFields: []string{"plain"}}, `{` + head + `,"_routing":"r1","found":true}`},
		{"_none_", opensearchapi.DocumentGetParams{StoredFields: []string{"_none_"}}, `{` + head + `,"_routing":"r1","found":true}`},
		{"explicit _source wins", opensearchapi.DocumentGetParams{StoredFields: []string{"count"}, Source: "plain"}, `{` + head + `,"_routing":"r1","found":true,"_source":{"plain":"p"},"fields":{"count":[1]}}`},
		{"no stored fields and no source loads no _routing", opensearchapi.DocumentGetParams{Source: false}, `{` + head + `,"found":true}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, tc.p)
			if wantStatus(t, r, 200) {
				wantExactBody(t, r, tc.want)
			}
		})
	}
	t.Run("an object field is refused", func(t *testing.T) {
		r := get(t, opensearchapi.DocumentGetParams{StoredFields: []string{"obj"}})
		wantError(t, r, 400, "illegal_argument_exception", "field [obj] isn't a leaf field")
	})
	t.Run("fields is no longer a parameter", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/s/_doc/1?fields=foo", "")
		wantError(t, r, 400, "illegal_argument_exception", "the parameter [fields] is no longer supported, please use [stored_fields] to retrieve stored fields or [_source] to load the field from _source")
	})
	t.Run("mget stored fields per item and by default", func(t *testing.T) {
		r := e.do(t, http.MethodPost, opensearchapi.MGetReq{Index: "s", Body: strings.NewReader(`{"docs":[{"_id":"1","routing":"r1","stored_fields":["count"]},{"_id":"1","routing":"r1"}]}`), Params: opensearchapi.MGetParams{StoredFields: []string{"foo"}}})
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"docs":[{`+head+`,"_routing":"r1","found":true,"fields":{"count":[1]}},{`+head+`,"_routing":"r1","found":true,"fields":{"foo":["bar"]}}]}`)
		}
	})
}

// TestMgetDocKeys follows MultiGetRequest.parseDocuments (2.x): routing, version,
// version_type, stored_fields and _source are accepted and honoured; _routing, _version,
// _type and other value members fail the whole request; "fields" is a parsing_exception.
func TestMgetDocKeys(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.put(t, "m", "1", `{"a":1,"b":2}`)
	e.put(t, "m", "1", `{"a":1,"b":2}`)
	mget := func(t *testing.T, body string) *resp {
		return e.do(t, http.MethodPost, opensearchapi.MGetReq{Index: "m", Body: strings.NewReader(body)})
	}
	for _, k := range []string{"_routing", "_version", "_type", "_version_type", "bogus"} {
		t.Run("refuses "+k, func(t *testing.T) {
			r := mget(t, `{"docs":[{"_id":"1","`+k+`":"x"}]}`)
			wantError(t, r, 400, "parse_exception", "failed to parse multi get request. unknown field ["+k+"]")
		})
	}
	t.Run("refuses fields", func(t *testing.T) {
		r := mget(t, `{"docs":[{"_id":"1","fields":["a"]}]}`)
		wantStatus(t, r, 400)
		if got := str(t, r.Body, "error", "type"); got != "parsing_exception" {
			t.Errorf("type want parsing_exception, got %q", got)
		}
		if got := str(t, r.Body, "error", "reason"); got != "Unsupported field [fields] used, expected [stored_fields] instead" {
			t.Errorf("reason: %q", got)
		}
	})
	t.Run("an unknown object member breaks the docs array", func(t *testing.T) {
		r := mget(t, `{"docs":[{"_id":"1","extra":{}}]}`)
		wantError(t, r, 400, "illegal_argument_exception", "docs array element should include an object")
	})
	t.Run("version honoured per item", func(t *testing.T) {
		r := mget(t, `{"docs":[{"_id":"1","version":2},{"_id":"1","version":1},{"_id":"1","version":3,"version_type":"external"}]}`)
		if !wantStatus(t, r, 200) {
			return
		}
		if num(t, r.Body, "docs", 0, "_version") != 2 {
			t.Errorf("item 0 must be found at version 2: %s", r)
		}
		for _, i := range []int{1, 2} {
			if got := str(t, r.Body, "docs", i, "error", "type"); got != "version_conflict_engine_exception" {
				t.Errorf("item %d: want version_conflict_engine_exception, got %q", i, got)
			}
		}
		wantJSON(t, r.Body, `"[1]: version conflict, current version [2] is different than the one provided [3]"`, "docs", 2, "error", "reason")
	})
	t.Run("bad version_type", func(t *testing.T) {
		r := mget(t, `{"docs":[{"_id":"1","version_type":"bogus"}]}`)
		wantError(t, r, 400, "illegal_argument_exception", "No version type match [bogus]")
	})
	t.Run("_source per item over the default", func(t *testing.T) {
		r := e.do(t, http.MethodPost, opensearchapi.MGetReq{Index: "m", Body: strings.NewReader(`{"docs":[{"_id":"1","_source":["a"]},{"_id":"1"}]}`), Params: opensearchapi.MGetParams{Source: false}})
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `{"a":1}`, "docs", 0, "_source")
			if has(r.Body, "docs", 1, "_source") {
				t.Errorf("item 1 keeps the request's _source=false: %s", r)
			}
		}
	})
}

// TestStoredFieldsSearch follows StoredFieldsContext, SearchService.parseSource and
// FetchPhase.createStoredFieldsVisitor: stored_fields drops _source unless it is asked for
// or listed, _none_ drops _id and _routing too.
func TestStoredFieldsSearch(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "s", `{"mappings":{"properties":{"foo":{"type":"keyword","store":true},"fob":{"type":"long","store":true},"plain":{"type":"keyword"}}}}`)
	e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "s", DocumentID: "1", Body: strings.NewReader(`{"foo":"bar","fob":7,"plain":"p"}`), Params: opensearchapi.IndexParams{Routing: "r1", Refresh: "true"}})
	search := func(t *testing.T, body, query string) *resp {
		return e.raw(t, http.MethodPost, "/s/_search?"+query, body)
	}
	cases := []struct {
		name, body, query, hit string
	}{
		{"one field", "", "stored_fields=foo", `{"_index":"s","_id":"1","_score":1.0,"_routing":"r1","fields":{"foo":["bar"]}}`},
		{"wildcard and _source", `{"stored_fields":["fo*","_source"]}`, "", `{"_index":"s","_id":"1","_score":1.0,"_routing":"r1","_source":{"foo":"bar","fob":7,"plain":"p"},"fields":{"fob":[7],"foo":["bar"]}}`},
		{"not stored", `{"stored_fields":"plain"}`, "", `{"_index":"s","_id":"1","_score":1.0,"_routing":"r1"}`},
		{"_none_", "", "stored_fields=_none_", `{"_index":"s","_score":1.0}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := search(t, tc.body, tc.query)
			if wantStatus(t, r, 200) {
				got := rawAt(t, r.Body, "hits", "hits", 0)
				if !jsonEq(t, got, []byte(tc.hit)) {
					t.Errorf("hit want %s, got %s", tc.hit, got)
				}
				wantKeys(t, got, keys(t, []byte(tc.hit)))
			}
		})
	}
	t.Run("_none_ with _source", func(t *testing.T) {
		r := search(t, "", "stored_fields=_none_&_source=true")
		wantStatus(t, r, 400)
		if got := str(t, r.Body, "error", "root_cause", 0, "reason"); got != "`stored_fields` cannot be disabled if _source is requested" {
			t.Errorf("root cause: %q", got)
		}
	})
	t.Run("_none_ with other fields", func(t *testing.T) {
		r := search(t, "", "stored_fields=_none_,foo")
		wantError(t, r, 400, "illegal_argument_exception", "cannot combine _none_ with other fields")
	})
}
