package conformance_test

import (
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// update sends POST /{index}/_update/{id} with the client's UpdateReq.
func (e *emu) update(t testing.TB, index, id, body string, p opensearchapi.UpdateParams) *resp {
	t.Helper()
	return e.do(t, http.MethodPost, opensearchapi.UpdateReq{Index: index, DocumentID: id, Body: strings.NewReader(body), Params: p})
}

// TestUpdateMerge covers §2 step 2: deep merge rules and detect_noop.
func TestUpdateMerge(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	cases := []struct {
		name     string
		existing string
		payload  string
		want     string
		result   string
	}{
		{"objects recurse", `{"a":{"b":1,"c":2},"k":"v"}`, `{"doc":{"a":{"c":3,"d":4}}}`, `{"a":{"b":1,"c":3,"d":4},"k":"v"}`, "updated"},
		{"deep objects recurse", `{"a":{"b":{"c":1,"d":2}}}`, `{"doc":{"a":{"b":{"d":3}}}}`, `{"a":{"b":{"c":1,"d":3}}}`, "updated"},
		{"arrays replace wholesale", `{"arr":[1,2,3],"k":1}`, `{"doc":{"arr":[9]}}`, `{"arr":[9],"k":1}`, "updated"},
		{"arrays of objects replace", `{"arr":[{"x":1},{"x":2}]}`, `{"doc":{"arr":[{"y":2}]}}`, `{"arr":[{"y":2}]}`, "updated"},
		{"scalars replace", `{"s":"x","n":1}`, `{"doc":{"s":"y"}}`, `{"s":"y","n":1}`, "updated"},
		{"explicit null replaces", `{"s":"x","n":1}`, `{"doc":{"s":null}}`, `{"s":null,"n":1}`, "updated"},
		// Kind changes stay within what the dynamic mapping accepts (an object field takes
		// null or an array of objects; a null or empty array maps nothing).
		{"object replaces null", `{"a":null,"k":1}`, `{"doc":{"a":{"b":1}}}`, `{"a":{"b":1},"k":1}`, "updated"},
		{"object replaces empty array", `{"a":[]}`, `{"doc":{"a":{"b":1}}}`, `{"a":{"b":1}}`, "updated"},
		{"null replaces object", `{"a":{"b":1}}`, `{"doc":{"a":null}}`, `{"a":null}`, "updated"},
		{"array of objects replaces object", `{"a":{"b":1,"c":2}}`, `{"doc":{"a":[{"b":3}]}}`, `{"a":[{"b":3}]}`, "updated"},
		{"empty array replaces array", `{"arr":[1,2]}`, `{"doc":{"arr":[]}}`, `{"arr":[]}`, "updated"},
		{"new key added", `{"a":1}`, `{"doc":{"b":2}}`, `{"a":1,"b":2}`, "updated"},
		{"identical doc is noop", `{"a":{"b":1},"c":[1,2],"s":"x"}`, `{"doc":{"a":{"b":1},"c":[1,2],"s":"x"}}`, `{"a":{"b":1},"c":[1,2],"s":"x"}`, "noop"},
		{"subset is noop", `{"a":{"b":1,"c":2},"d":3}`, `{"doc":{"a":{"b":1}}}`, `{"a":{"b":1,"c":2},"d":3}`, "noop"},
		{"empty doc is noop", `{"a":1}`, `{"doc":{}}`, `{"a":1}`, "noop"},
		{"null over null is noop", `{"s":null}`, `{"doc":{"s":null}}`, `{"s":null}`, "noop"},
		{"detect_noop true explicit", `{"a":1}`, `{"doc":{"a":1},"detect_noop":true}`, `{"a":1}`, "noop"},
		{"detect_noop false rewrites", `{"a":1}`, `{"doc":{"a":1},"detect_noop":false}`, `{"a":1}`, "updated"},
		{"detect_noop false still merges", `{"a":{"b":1}}`, `{"doc":{"a":{"c":2}},"detect_noop":false}`, `{"a":{"b":1,"c":2}}`, "updated"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// One index per case: the cases' dynamic mappings would conflict with each other.
			id, idx := strconv.Itoa(i), "m"+strconv.Itoa(i)
			w := e.put(t, idx, id, tc.existing)
			seq := num(t, w.Body, "_seq_no")
			r := e.update(t, idx, id, tc.payload, opensearchapi.UpdateParams{})
			if tc.result == "noop" {
				if !wantStatus(t, r, 200) {
					return
				}
				wantExactBody(t, r, `{"_index":"`+idx+`","_id":"`+id+`","_version":1,"result":"noop","_shards":{"total":0,"successful":0,"failed":0},"_seq_no":`+strconv.FormatInt(seq, 10)+`,"_primary_term":1}`)
			} else {
				if !wantStatus(t, r, 200) {
					return
				}
				wantKeys(t, r.Body, successKeys(false, false, false))
				if got := str(t, r.Body, "result"); got != tc.result {
					t.Errorf("result want %q, got %q", tc.result, got)
				}
				if got := num(t, r.Body, "_version"); got != 2 {
					t.Errorf("_version want 2, got %d", got)
				}
				if got := num(t, r.Body, "_seq_no"); got <= seq {
					t.Errorf("applied update must take a new _seq_no > %d, got %d", seq, got)
				}
				wantJSON(t, r.Body, shards2, "_shards")
			}
			if src := e.source(t, idx, id); !jsonEq(t, src, []byte(tc.want)) {
				t.Errorf("merged source\n want %s\n  got %s", tc.want, src)
			}
		})
	}

	t.Run("noop does not consume a seq_no", func(t *testing.T) {
		e.put(t, "seq", "1", `{"a":1}`)
		e.update(t, "seq", "1", `{"doc":{"a":1}}`, opensearchapi.UpdateParams{})
		w := e.put(t, "seq", "2", `{"a":1}`)
		if got := num(t, w.Body, "_seq_no"); got != 1 {
			t.Errorf("_seq_no after a noop want 1, got %d", got)
		}
	})
}

// TestUpdateUpsert covers §2 step 1: upsert and doc_as_upsert.
func TestUpdateUpsert(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	cases := []struct {
		name       string
		payload    string
		existing   string // "" = doc absent
		status     int
		result     string
		version    int64
		wantSource string
	}{
		{"upsert inserts upsert body", `{"doc":{"n":5},"upsert":{"n":0}}`, "", 201, "created", 1, `{"n":0}`},
		{"upsert on existing applies doc", `{"doc":{"n":5},"upsert":{"n":0}}`, `{"n":1,"k":"v"}`, 200, "updated", 2, `{"n":5,"k":"v"}`},
		{"doc_as_upsert inserts doc", `{"doc":{"n":5},"doc_as_upsert":true}`, "", 201, "created", 1, `{"n":5}`},
		{"doc_as_upsert on existing merges", `{"doc":{"o":{"y":2}},"doc_as_upsert":true}`, `{"o":{"x":1}}`, 200, "updated", 2, `{"o":{"x":1,"y":2}}`},
		{"doc_as_upsert noop on existing", `{"doc":{"n":1},"doc_as_upsert":true}`, `{"n":1}`, 200, "noop", 1, `{"n":1}`},
		{"upsert with detect_noop false inserts", `{"doc":{"n":5},"upsert":{"n":0},"detect_noop":false}`, "", 201, "created", 1, `{"n":0}`},
		{"script with upsert on missing doc inserts upsert", `{"script":{"source":"ctx._source.n += params.k","lang":"painless","params":{"k":1}},"upsert":{"n":0}}`, "", 201, "created", 1, `{"n":0}`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := "u" + strconv.Itoa(i)
			if tc.existing != "" {
				e.put(t, "up", id, tc.existing)
			}
			r := e.update(t, "up", id, tc.payload, opensearchapi.UpdateParams{})
			if !wantStatus(t, r, tc.status) {
				return
			}
			wantKeys(t, r.Body, successKeys(false, false, false))
			if got := str(t, r.Body, "result"); got != tc.result {
				t.Errorf("result want %q, got %q", tc.result, got)
			}
			if got := num(t, r.Body, "_version"); got != tc.version {
				t.Errorf("_version want %d, got %d", tc.version, got)
			}
			if tc.status == 201 {
				if got := r.Header.Get("Location"); got != "/up/_doc/"+id {
					t.Errorf("Location want %q, got %q", "/up/_doc/"+id, got)
				}
			}
			if src := e.source(t, "up", id); !jsonEq(t, src, []byte(tc.wantSource)) {
				t.Errorf("source want %s, got %s", tc.wantSource, src)
			}
		})
	}
}

// TestUpdateErrors covers §2 error paths: missing doc, scripts without Painless, unknown
// payload fields.
func TestUpdateErrors(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.put(t, "ue", "1", `{"n":1}`)

	t.Run("missing doc 404 and index auto-created", func(t *testing.T) {
		r := e.update(t, "fresh", "7", `{"doc":{"a":1}}`, opensearchapi.UpdateParams{})
		wantError(t, r, 404, "document_missing_exception", "[7]: document missing")
		wantMeta(t, r.Body, "index", "fresh", "error")
		wantMeta(t, r.Body, "shard", "0", "error")
		wantMeta(t, r.Body, "index_uuid", "*", "error")
		if h := e.raw(t, http.MethodHead, "/fresh", ""); h.Status != 200 {
			t.Errorf("update on a missing index must auto-create it: HEAD -> %d", h.Status)
		}
	})

	t.Run("single-doc query params", func(t *testing.T) {
		// §2: refresh, routing, retry_on_conflict, timeout, wait_for_active_shards, lang.
		e.put(t, "ue", "qp", `{"n":1}`)
		r := e.update(t, "ue", "qp", `{"doc":{"n":2}}`, opensearchapi.UpdateParams{Refresh: "true", RetryOnConflict: ptr(3), Timeout: time.Minute, WaitForActiveShards: "1", Lang: "painless"})
		if wantStatus(t, r, 200) {
			wantKeys(t, r.Body, successKeys(true, false, false))
		}
		e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "ue", DocumentID: "routed", Body: strings.NewReader(`{"n":1}`), Params: opensearchapi.IndexParams{Routing: "rk"}})
		r = e.update(t, "ue", "routed", `{"doc":{"n":2}}`, opensearchapi.UpdateParams{Routing: "rk"})
		if wantStatus(t, r, 200) && str(t, r.Body, "result") != "updated" {
			t.Errorf("routed update: %s", r)
		}
	})

	t.Run("missing doc in existing index", func(t *testing.T) {
		r := e.update(t, "ue", "nope", `{"doc":{"a":1}}`, opensearchapi.UpdateParams{})
		wantError(t, r, 404, "document_missing_exception", "[nope]: document missing")
	})

	scripts := []struct{ name, payload, id string }{
		{"script in another language", `{"script":{"source":"ctx._source.n += params.k","lang":"expression","params":{"k":1}}}`, "1"},
		{"script failing at run time", `{"script":"ctx._source.missing += 1"}`, "1"},
		{"scripted_upsert failing to compile", `{"script":{"source":"ctx._source.n = "},"upsert":{},"scripted_upsert":true}`, "absent"},
	}
	for _, tc := range scripts {
		t.Run(tc.name, func(t *testing.T) {
			r := e.update(t, "ue", tc.id, tc.payload, opensearchapi.UpdateParams{})
			if wantStatus(t, r, 400) {
				checkEnvelope(t, r, 400)
				if got := str(t, r.Body, "error", "type"); got != iae {
					t.Errorf("error.type want %q, got %q", iae, got)
				}
			}
			if src := e.source(t, "ue", "1"); !jsonEq(t, src, []byte(`{"n":1}`)) {
				t.Errorf("script must not change the doc: %s", src)
			}
		})
	}

	t.Run("script in bulk is a per-item 400", func(t *testing.T) {
		r := e.bulk(t, "", "{\"update\":{\"_index\":\"ue\",\"_id\":\"1\"}}\n{\"script\":{\"source\":\"ctx._source.missing += 1\"}}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantItemError(t, r, 0, "update", 400, iae, "")
		}
	})

	unknown := []struct{ name, payload, suffix string }{
		{"typo with suggestion", `{"dac":{"a":1}}`, "[UpdateRequest] unknown field [dac] did you mean [doc]?"},
		{"unknown field next to doc", `{"doc":{"a":1},"zzzzzz":1}`, "[UpdateRequest] unknown field [zzzzzz]"},
	}
	for _, tc := range unknown {
		t.Run("unknown payload field "+tc.name, func(t *testing.T) {
			check := func(r *resp) {
				t.Helper()
				if !wantStatus(t, r, 400) {
					return
				}
				checkEnvelope(t, r, 400)
				if got := str(t, r.Body, "error", "type"); got != "x_content_parse_exception" {
					t.Errorf("error.type want x_content_parse_exception, got %q", got)
				}
				// The server may prefix the template with a [line:col] location.
				if got := str(t, r.Body, "error", "reason"); !strings.HasSuffix(got, tc.suffix) {
					t.Errorf("error.reason want (location prefix +) %q, got %q", tc.suffix, got)
				}
			}
			check(e.update(t, "ue", "1", tc.payload, opensearchapi.UpdateParams{}))
			check(e.bulk(t, "", "{\"update\":{\"_index\":\"ue\",\"_id\":\"1\"}}\n"+tc.payload+"\n", opensearchapi.BulkParams{}))
		})
	}
}

// TestUpdateSourceGet covers §2 "Returning the document": get block placement, shape and
// include/exclude filtering, for updated, created and noop results, single and bulk.
func TestUpdateSourceGet(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	const doc = `{"a":1,"b":"x","o":{"x":1,"y":2}}`

	cases := []struct {
		name    string
		params  opensearchapi.UpdateParams
		payload string
		want    string // expected get._source; "" = no get block
	}{
		{"no _source requested", opensearchapi.UpdateParams{}, `{"doc":{"a":2}}`, ""},
		{"query _source=true", opensearchapi.UpdateParams{Source: true}, `{"doc":{"a":2}}`, `{"a":2,"b":"x","o":{"x":1,"y":2}}`},
		{"query _source=false", opensearchapi.UpdateParams{Source: false}, `{"doc":{"a":2}}`, ""},
		{"query _source field list", opensearchapi.UpdateParams{Source: "a,o.x"}, `{"doc":{"a":2}}`, `{"a":2,"o":{"x":1}}`},
		{"query _source_includes", opensearchapi.UpdateParams{SourceIncludes: []string{"b"}}, `{"doc":{"a":2}}`, `{"b":"x"}`},
		{"query _source_excludes", opensearchapi.UpdateParams{SourceExcludes: []string{"o"}}, `{"doc":{"a":2}}`, `{"a":2,"b":"x"}`},
		{"query includes and excludes", opensearchapi.UpdateParams{SourceIncludes: []string{"o"}, SourceExcludes: []string{"o.y"}}, `{"doc":{"a":2}}`, `{"o":{"x":1}}`},
		{"payload _source true", opensearchapi.UpdateParams{}, `{"doc":{"a":2},"_source":true}`, `{"a":2,"b":"x","o":{"x":1,"y":2}}`},
		{"payload _source list", opensearchapi.UpdateParams{}, `{"doc":{"a":2},"_source":["a"]}`, `{"a":2}`},
		{"payload _source includes/excludes", opensearchapi.UpdateParams{}, `{"doc":{"a":2},"_source":{"includes":["o"],"excludes":["o.x"]}}`, `{"o":{"y":2}}`},
		{"payload _source wildcard", opensearchapi.UpdateParams{}, `{"doc":{"a":2},"_source":{"includes":["o.*"]}}`, `{"o":{"x":1,"y":2}}`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := strconv.Itoa(i)
			e.put(t, "g", id, doc)
			r := e.update(t, "g", id, tc.payload, tc.params)
			if !wantStatus(t, r, 200) {
				return
			}
			wantKeys(t, r.Body, successKeys(false, tc.want != "", false))
			if tc.want == "" {
				return
			}
			checkGetBlock(t, r.Body, tc.want, "get")
			if num(t, r.Body, "get", "_seq_no") != num(t, r.Body, "_seq_no") {
				t.Errorf("get._seq_no must equal the write's _seq_no")
			}
		})
	}

	t.Run("get for created upsert", func(t *testing.T) {
		r := e.update(t, "g", "new", `{"doc":{"a":5},"upsert":{"a":0,"z":1}}`, opensearchapi.UpdateParams{Source: true})
		if wantStatus(t, r, 201) {
			wantKeys(t, r.Body, successKeys(false, true, false))
			checkGetBlock(t, r.Body, `{"a":0,"z":1}`, "get")
		}
	})

	t.Run("get for doc_as_upsert created", func(t *testing.T) {
		r := e.update(t, "g", "new2", `{"doc":{"a":5},"doc_as_upsert":true,"_source":true}`, opensearchapi.UpdateParams{})
		if wantStatus(t, r, 201) {
			checkGetBlock(t, r.Body, `{"a":5}`, "get")
		}
	})

	t.Run("get for noop", func(t *testing.T) {
		e.put(t, "g", "noop", doc)
		r := e.update(t, "g", "noop", `{"doc":{"a":1}}`, opensearchapi.UpdateParams{SourceIncludes: []string{"a", "b"}})
		if wantStatus(t, r, 200) {
			if got := str(t, r.Body, "result"); got != "noop" {
				t.Errorf("result want noop, got %q", got)
			}
			wantKeys(t, r.Body, successKeys(false, true, false))
			checkGetBlock(t, r.Body, `{"a":1,"b":"x"}`, "get")
		}
	})

	t.Run("bulk action-line _source object", func(t *testing.T) {
		e.put(t, "g", "b0", doc)
		r := e.bulk(t, "", "{\"update\":{\"_index\":\"g\",\"_id\":\"b0\",\"_source\":{\"includes\":[\"b\"]}}}\n{\"doc\":{\"a\":9}}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			it := wantItem(t, r, 0, "update", 200, "updated")
			wantKeys(t, it, successKeys(false, true, true))
			checkGetBlock(t, it, `{"b":"x"}`, "get")
		}
	})

	t.Run("bulk action-line _source true", func(t *testing.T) {
		e.put(t, "g", "b8", `{"a":1}`)
		r := e.bulk(t, "", "{\"update\":{\"_index\":\"g\",\"_id\":\"b8\",\"_source\":true}}\n{\"doc\":{\"a\":9}}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			checkGetBlock(t, wantItem(t, r, 0, "update", 200, "updated"), `{"a":9}`, "get")
		}
	})

	// §1.3 lists "bool, list, or {includes,excludes}" for the action-line _source, but
	// the server's BulkRequestParser checks for START_ARRAY before it looks at the field
	// name, so a list there is a whole-request 400; lists are fine in the payload.
	t.Run("bulk action-line _source list is rejected", func(t *testing.T) {
		e.put(t, "g", "b1", doc)
		r := e.bulk(t, "", "{\"update\":{\"_index\":\"g\",\"_id\":\"b1\",\"_source\":[\"b\"]}}\n{\"doc\":{\"a\":9}}\n", opensearchapi.BulkParams{})
		wantError(t, r, 400, "illegal_argument_exception",
			"Malformed action/metadata line [1], expected a simple value for field [_source] but found [START_ARRAY]")
	})

	t.Run("bulk action-line _source object", func(t *testing.T) {
		e.put(t, "g", "b1o", doc)
		r := e.bulk(t, "", "{\"update\":{\"_index\":\"g\",\"_id\":\"b1o\",\"_source\":{\"includes\":[\"b\"]}}}\n{\"doc\":{\"a\":9}}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			it := wantItem(t, r, 0, "update", 200, "updated")
			wantKeys(t, it, successKeys(false, true, true))
			checkGetBlock(t, it, `{"b":"x"}`, "get")
		}
	})

	t.Run("bulk payload _source", func(t *testing.T) {
		e.put(t, "g", "b2", doc)
		r := e.bulk(t, "", "{\"update\":{\"_index\":\"g\",\"_id\":\"b2\"}}\n{\"doc\":{\"a\":9},\"_source\":{\"excludes\":[\"o\",\"b\"]}}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			it := wantItem(t, r, 0, "update", 200, "updated")
			checkGetBlock(t, it, `{"a":9}`, "get")
		}
	})

	t.Run("bulk-level _source applies to update items only", func(t *testing.T) {
		e.put(t, "g", "b3", doc)
		body := "{\"update\":{\"_index\":\"g\",\"_id\":\"b3\"}}\n{\"doc\":{\"a\":9}}\n{\"index\":{\"_index\":\"g\",\"_id\":\"b4\"}}\n{\"a\":1}\n{\"update\":{\"_index\":\"g\",\"_id\":\"b5\"}}\n{\"doc\":{\"a\":1},\"doc_as_upsert\":true}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{Source: true})
		if !wantStatus(t, r, 200) {
			return
		}
		it := wantItem(t, r, 0, "update", 200, "updated")
		checkGetBlock(t, it, `{"a":9,"b":"x","o":{"x":1,"y":2}}`, "get")
		it = wantItem(t, r, 1, "index", 201, "created")
		if has(it, "get") {
			t.Errorf("index items never carry get: %s", it)
		}
		it = wantItem(t, r, 2, "update", 201, "created")
		checkGetBlock(t, it, `{"a":1}`, "get")
	})

	t.Run("bulk-level _source_includes", func(t *testing.T) {
		e.put(t, "g", "b6", doc)
		r := e.bulk(t, "", "{\"update\":{\"_index\":\"g\",\"_id\":\"b6\"}}\n{\"doc\":{\"a\":9}}\n", opensearchapi.BulkParams{SourceIncludes: []string{"o.y"}})
		if wantStatus(t, r, 200) {
			checkGetBlock(t, wantItem(t, r, 0, "update", 200, "updated"), `{"o":{"y":2}}`, "get")
		}
	})

	t.Run("bulk action-line _source overrides bulk-level", func(t *testing.T) {
		e.put(t, "g", "b7", doc)
		r := e.bulk(t, "", "{\"update\":{\"_index\":\"g\",\"_id\":\"b7\",\"_source\":false}}\n{\"doc\":{\"a\":9}}\n", opensearchapi.BulkParams{Source: true})
		if wantStatus(t, r, 200) {
			if it := wantItem(t, r, 0, "update", 200, "updated"); has(it, "get") {
				t.Errorf("_source:false on the action line must suppress get: %s", it)
			}
		}
	})
}

// checkGetBlock asserts the §2 get object at path: keys exactly _seq_no, _primary_term,
// found, _source (never _index/_id/_version), found true, and the filtered source.
func checkGetBlock(t testing.TB, body []byte, wantSource string, path ...any) {
	t.Helper()
	if !has(body, path...) {
		t.Errorf("get block missing at %v: %s", path, truncate(body, 600))
		return
	}
	g := rawAt(t, body, path...)
	if got := keys(t, g); !reflect.DeepEqual(got, []string{"_seq_no", "_primary_term", "found", "_source"}) {
		t.Errorf("get keys want [_seq_no _primary_term found _source], got %v", got)
	}
	if string(rawAt(t, g, "found")) != "true" {
		t.Errorf("get.found want true: %s", g)
	}
	if has(g, "_source") && !jsonEq(t, rawAt(t, g, "_source"), []byte(wantSource)) {
		t.Errorf("get._source want %s, got %s", wantSource, rawAt(t, g, "_source"))
	}
}
