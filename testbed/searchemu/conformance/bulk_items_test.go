package conformance_test

import (
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestBulkResponseShape covers §1.4: top-level keys, success item key order and values,
// _shards totals, errors flag, forced_refresh.
func TestBulkResponseShape(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})

	t.Run("success items exact shape", func(t *testing.T) {
		body := "{\"index\":{\"_index\":\"s\",\"_id\":\"1\"}}\n{\"a\":1}\n" +
			"{\"delete\":{\"_index\":\"s\",\"_id\":\"9\"}}\n" +
			"{\"index\":{\"_index\":\"s\",\"_id\":\"1\"}}\n{\"a\":2}\n" +
			"{\"create\":{\"_index\":\"s\",\"_id\":\"2\"}}\n{\"b\":1}\n" +
			"{\"update\":{\"_index\":\"s\",\"_id\":\"2\"}}\n{\"doc\":{\"b\":2}}\n" +
			"{\"update\":{\"_index\":\"s\",\"_id\":\"2\"}}\n{\"doc\":{\"b\":2}}\n" +
			"{\"delete\":{\"_index\":\"s\",\"_id\":\"1\"}}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		wantKeys(t, r.Body, []string{"took", "errors", "items"})
		wantErrorsFlag(t, r, false)
		want := []string{
			`{"index":{"_index":"s","_id":"1","_version":1,"result":"created","_shards":` + shards2 + `,"_seq_no":0,"_primary_term":1,"status":201}}`,
			`{"delete":{"_index":"s","_id":"9","_version":1,"result":"not_found","_shards":` + shards2 + `,"_seq_no":1,"_primary_term":1,"status":404}}`,
			`{"index":{"_index":"s","_id":"1","_version":2,"result":"updated","_shards":` + shards2 + `,"_seq_no":2,"_primary_term":1,"status":200}}`,
			`{"create":{"_index":"s","_id":"2","_version":1,"result":"created","_shards":` + shards2 + `,"_seq_no":3,"_primary_term":1,"status":201}}`,
			`{"update":{"_index":"s","_id":"2","_version":2,"result":"updated","_shards":` + shards2 + `,"_seq_no":4,"_primary_term":1,"status":200}}`,
			`{"update":{"_index":"s","_id":"2","_version":2,"result":"noop","_shards":{"total":0,"successful":0,"failed":0},"_seq_no":4,"_primary_term":1,"status":200}}`,
			`{"delete":{"_index":"s","_id":"1","_version":3,"result":"deleted","_shards":` + shards2 + `,"_seq_no":5,"_primary_term":1,"status":200}}`,
		}
		for i, w := range want {
			got := rawAt(t, r.Body, "items", i)
			wantExactBody(t, &resp{Body: got, desc: r.desc + " item " + strconv.Itoa(i)}, w)
		}
	})

	t.Run("errors flag true iff an item failed", func(t *testing.T) {
		e.put(t, "ef", "1", `{"a":1}`)
		body := "{\"index\":{\"_index\":\"ef\",\"_id\":\"2\"}}\n{\"a\":1}\n{\"create\":{\"_index\":\"ef\",\"_id\":\"1\"}}\n{\"a\":1}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantErrorsFlag(t, r, true)
			wantItem(t, r, 0, "index", 201, "created")
			wantItemError(t, r, 1, "create", 409, "version_conflict_engine_exception", "[1]: version conflict, document already exists (current version [1])")
		}
	})

	t.Run("all items failing is still HTTP 200", func(t *testing.T) {
		body := "{\"update\":{\"_index\":\"allfail\",\"_id\":\"1\"}}\n{\"doc\":{\"a\":1}}\n{\"update\":{\"_index\":\"allfail\",\"_id\":\"2\"}}\n{\"doc\":{\"a\":1}}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantErrorsFlag(t, r, true)
			wantItemError(t, r, 0, "update", 404, "document_missing_exception", "[1]: document missing")
			wantItemError(t, r, 1, "update", 404, "document_missing_exception", "[2]: document missing")
		}
	})

	for _, tc := range []struct{ name, refresh, rawQuery string }{
		{"refresh=true", "true", ""},
		{"refresh empty string", "", "?refresh"},
	} {
		t.Run("forced_refresh with "+tc.name, func(t *testing.T) {
			body := "{\"index\":{\"_index\":\"fr\",\"_id\":\"1\"}}\n{\"a\":1}\n{\"delete\":{\"_index\":\"fr\",\"_id\":\"1\"}}\n"
			var r *resp
			if tc.rawQuery != "" {
				r = e.raw(t, http.MethodPost, "/_bulk"+tc.rawQuery, body, "application/x-ndjson")
			} else {
				r = e.bulk(t, "", body, opensearchapi.BulkParams{Refresh: tc.refresh})
			}
			if !wantStatus(t, r, 200) {
				return
			}
			for i := range 2 {
				_, it := item(t, r.Body, i)
				wantKeys(t, it, successKeys(true, false, true))
				if !has(it, "forced_refresh") || string(rawAt(t, it, "forced_refresh")) != "true" {
					t.Errorf("item %d: want forced_refresh true, got %s", i, it)
				}
			}
		})
	}

	t.Run("no forced_refresh by default", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"nofr\",\"_id\":\"1\"}}\n{\"a\":1}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			_, it := item(t, r.Body, 0)
			if has(it, "forced_refresh") {
				t.Errorf("forced_refresh must be absent without refresh: %s", it)
			}
			if has(r.Body, "ingest_took") {
				t.Errorf("ingest_took must be absent when no pipeline ran")
			}
		}
	})

	t.Run("path index is the default _index", func(t *testing.T) {
		body := "{\"index\":{\"_id\":\"1\"}}\n{\"a\":1}\n{\"index\":{\"_index\":\"other\",\"_id\":\"1\"}}\n{\"a\":1}\n"
		r := e.bulk(t, "pathdefault", body, opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			if got := str(t, wantItem(t, r, 0, "index", 201, "created"), "_index"); got != "pathdefault" {
				t.Errorf("item 0 _index want pathdefault, got %q", got)
			}
			if got := str(t, wantItem(t, r, 1, "index", 201, "created"), "_index"); got != "other" {
				t.Errorf("item 1 _index want other, got %q", got)
			}
		}
	})

	t.Run("auto id", func(t *testing.T) {
		body := "{\"index\":{\"_index\":\"auto\"}}\n{\"a\":1}\n{\"create\":{\"_index\":\"auto\"}}\n{\"a\":2}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		idRe := regexp.MustCompile(`^[A-Za-z0-9_-]{20}$`)
		var ids []string
		for i, act := range []string{"index", "create"} {
			it := wantItem(t, r, i, act, 201, "created")
			id := str(t, it, "_id")
			if !idRe.MatchString(id) {
				t.Errorf("auto id %q is not 20 URL-safe base64 characters", id)
			}
			ids = append(ids, id)
		}
		if len(ids) == 2 && ids[0] == ids[1] {
			t.Errorf("auto ids must differ, both %q", ids[0])
		}
	})

	t.Run("op_type create on index line", func(t *testing.T) {
		body := "{\"index\":{\"_index\":\"opt\",\"_id\":\"1\",\"op_type\":\"create\"}}\n{\"a\":1}\n{\"index\":{\"_index\":\"opt\",\"_id\":\"1\",\"op_type\":\"create\"}}\n{\"a\":1}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantItem(t, r, 0, "create", 201, "created")
			wantItemError(t, r, 1, "create", 409, "version_conflict_engine_exception", "[1]: version conflict, document already exists (current version [1])")
		}
	})

	t.Run("routing param and key", func(t *testing.T) {
		body := "{\"index\":{\"_index\":\"rt\",\"_id\":\"1\"}}\n{\"a\":1}\n{\"index\":{\"_index\":\"rt\",\"_id\":\"2\",\"routing\":\"own\"}}\n{\"a\":1}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{Routing: "dflt"})
		if !wantStatus(t, r, 200) {
			return
		}
		for id, want := range map[string]string{"1": "dflt", "2": "own"} {
			g := e.do(t, http.MethodGet, opensearchapi.DocumentGetReq{Index: "rt", DocumentID: id, Params: opensearchapi.DocumentGetParams{Routing: want}})
			if wantStatus(t, g, 200) {
				if got := str(t, g.Body, "_routing"); got != want {
					t.Errorf("doc %s _routing want %q, got %q", id, want, got)
				}
			}
		}
	})
}

// TestBulkShardsReplicas covers §1.4 "_shards.total = 1 + number_of_replicas".
func TestBulkShardsReplicas(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		opts     searchemu.Options
		setting  string
		wantShrd string
	}{
		{"default one replica", searchemu.Options{}, "", shards2},
		{"index setting zero replicas", searchemu.Options{}, `{"settings":{"number_of_replicas":0}}`, `{"total":1,"successful":1,"failed":0}`},
		{"option negative replicas means zero", searchemu.Options{NumberOfReplicas: -1}, "", `{"total":1,"successful":1,"failed":0}`},
		{"option two replicas", searchemu.Options{NumberOfReplicas: 2}, "", `{"total":3,"successful":1,"failed":0}`},
		{"index setting two replicas", searchemu.Options{}, `{"settings":{"number_of_replicas":2}}`, `{"total":3,"successful":1,"failed":0}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEmu(t, tc.opts)
			if tc.setting != "" {
				e.createIndex(t, "r", tc.setting)
			}
			r := e.bulk(t, "", "{\"index\":{\"_index\":\"r\",\"_id\":\"1\"}}\n{\"a\":1}\n", opensearchapi.BulkParams{})
			if wantStatus(t, r, 200) {
				wantJSON(t, r.Body, tc.wantShrd, "items", 0, "index", "_shards")
			}
		})
	}
}

// TestBulkItemStatuses covers every row of the §1.5 per-item status table that is not a
// plain success (those are in TestBulkResponseShape).
func TestBulkItemStatuses(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "typed", `{"mappings":{"properties":{"n":{"type":"long"}}}}`)
	e.createIndex(t, "strict", `{"mappings":{"dynamic":"strict","properties":{"f":{"type":"keyword"}}}}`)
	e.put(t, "exists", "1", `{"a":1}`)

	t.Run("update missing doc", func(t *testing.T) {
		r := e.bulk(t, "", "{\"update\":{\"_index\":\"exists\",\"_id\":\"9\"}}\n{\"doc\":{\"a\":1}}\n", opensearchapi.BulkParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		wantErrorsFlag(t, r, true)
		it := wantItemError(t, r, 0, "update", 404, "document_missing_exception", "[9]: document missing")
		// Engine-level errors carry index, shard (a string) and index_uuid.
		wantMeta(t, it, "index", "exists", "error")
		wantMeta(t, it, "shard", "0", "error")
		wantMeta(t, it, "index_uuid", "*", "error")
		if got := str(t, it, "_index"); got != "exists" {
			t.Errorf("_index want exists, got %q", got)
		}
		if got := str(t, it, "_id"); got != "9" {
			t.Errorf("_id want 9, got %q", got)
		}
	})

	t.Run("create on existing doc", func(t *testing.T) {
		r := e.bulk(t, "", "{\"create\":{\"_index\":\"exists\",\"_id\":\"1\"}}\n{\"a\":2}\n", opensearchapi.BulkParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		it := wantItemError(t, r, 0, "create", 409, "version_conflict_engine_exception", "[1]: version conflict, document already exists (current version [1])")
		wantMeta(t, it, "index", "exists", "error")
		wantMeta(t, it, "shard", "0", "error")
		wantMeta(t, it, "index_uuid", "*", "error")
	})

	t.Run("unparsable field value", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"typed\",\"_id\":\"1\"}}\n{\"n\":\"abc\"}\n", opensearchapi.BulkParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		it := wantItemError(t, r, 0, "index", 400, "mapper_parsing_exception",
			"failed to parse field [n] of type [long] in document with id '1'. Preview of field's value: 'abc'")
		wantCausedBy(t, it)
		// Parse errors carry only type/reason/caused_by.
		if got := keys(t, rawAt(t, it, "error")); !reflect.DeepEqual(got, []string{"type", "reason", "caused_by"}) {
			t.Errorf("mapper_parsing_exception error keys want [type reason caused_by], got %v", got)
		}
		if g := e.get(t, "typed", "1"); g.Status != 404 {
			t.Errorf("failed item must not be stored: %s", g)
		}
	})

	t.Run("malformed JSON payload", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"typed\",\"_id\":\"2\"}}\n{\"n\":}\n{\"index\":{\"_index\":\"typed\",\"_id\":\"3\"}}\n{\"n\":3}\n", opensearchapi.BulkParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		it := wantItemError(t, r, 0, "index", 400, "mapper_parsing_exception", "")
		wantCausedBy(t, it)
		if has(it, "error", "caused_by", "type") {
			if got := str(t, it, "error", "caused_by", "type"); got != "json_parse_exception" {
				t.Errorf("caused_by.type want json_parse_exception (the JSON error), got %q", got)
			}
		}
		wantItem(t, r, 1, "index", 201, "created")
	})

	t.Run("strict mapping violation", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"strict\",\"_id\":\"1\"}}\n{\"f\":\"x\",\"g\":1}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantItemError(t, r, 0, "index", 400, "strict_dynamic_mapping_exception",
				"mapping set to strict, dynamic introduction of [g] within [_doc] is not allowed")
		}
	})

	t.Run("strict mapping accepts known fields", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"strict\",\"_id\":\"2\"}}\n{\"f\":\"x\"}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantItem(t, r, 0, "index", 201, "created")
		}
	})

	t.Run("empty _id", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"exists\",\"_id\":\"\"}}\n{\"a\":1}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantItemError(t, r, 0, "index", 400, iae, "if _id is specified it must not be empty")
		}
	})

	t.Run("missing pipeline on item", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"exists\",\"_id\":\"p\",\"pipeline\":\"nope\"}}\n{\"a\":1}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantItemError(t, r, 0, "index", 400, iae, "pipeline with id [nope] does not exist")
		}
	})

	t.Run("missing default pipeline", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"exists\",\"_id\":\"p\"}}\n{\"a\":1}\n", opensearchapi.BulkParams{Pipeline: "gone"})
		if wantStatus(t, r, 200) {
			wantItemError(t, r, 0, "index", 400, iae, "pipeline with id [gone] does not exist")
		}
	})

	t.Run("item pipeline overrides default", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"exists\",\"_id\":\"p\",\"pipeline\":\"item\"}}\n{\"a\":1}\n", opensearchapi.BulkParams{Pipeline: "gone"})
		if wantStatus(t, r, 200) {
			wantItemError(t, r, 0, "index", 400, iae, "pipeline with id [item] does not exist")
		}
	})

	t.Run("require_alias on a concrete missing index", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"ra\",\"_id\":\"1\",\"require_alias\":true}}\n{\"a\":1}\n", opensearchapi.BulkParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		it := wantItemError(t, r, 0, "index", 404, "index_not_found_exception",
			"no such index [ra] and [require_alias] request flag is [true] and [ra] is not an alias")
		wantMeta(t, it, "index", "ra", "error")
		if h := e.raw(t, http.MethodHead, "/ra", ""); h.Status != 404 {
			t.Errorf("require_alias failure must not auto-create the index: HEAD /ra -> %d", h.Status)
		}
	})

	t.Run("require_alias on an existing concrete index", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"exists\",\"_id\":\"ra\",\"require_alias\":true}}\n{\"a\":1}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantItemError(t, r, 0, "index", 404, "index_not_found_exception",
				"no such index [exists] and [require_alias] request flag is [true] and [exists] is not an alias")
		}
	})

	t.Run("require_alias request default and item override", func(t *testing.T) {
		body := "{\"index\":{\"_index\":\"ra2\",\"_id\":\"1\"}}\n{\"a\":1}\n{\"index\":{\"_index\":\"ra3\",\"_id\":\"1\",\"require_alias\":false}}\n{\"a\":1}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{RequireAlias: ptr(true)})
		if wantStatus(t, r, 200) {
			wantItemError(t, r, 0, "index", 404, "index_not_found_exception",
				"no such index [ra2] and [require_alias] request flag is [true] and [ra2] is not an alias")
			wantItem(t, r, 1, "index", 201, "created")
		}
	})

	t.Run("delete on a missing index", func(t *testing.T) {
		r := e.bulk(t, "", "{\"delete\":{\"_index\":\"nodel\",\"_id\":\"1\"}}\n", opensearchapi.BulkParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		it := wantItemError(t, r, 0, "delete", 404, "index_not_found_exception", "no such index [nodel]")
		wantMeta(t, it, "index", "nodel", "error")
		wantMeta(t, it, "index_uuid", "_na_", "error")
		if h := e.raw(t, http.MethodHead, "/nodel", ""); h.Status != 404 {
			t.Errorf("internal delete must not auto-create the index: HEAD -> %d", h.Status)
		}
	})

	for _, vt := range []string{"external", "external_gte"} {
		t.Run("delete with "+vt+" version auto-creates", func(t *testing.T) {
			idx := "autodel" + strings.ReplaceAll(vt, "_", "")
			r := e.bulk(t, "", "{\"delete\":{\"_index\":\""+idx+"\",\"_id\":\"1\",\"version\":5,\"version_type\":\""+vt+"\"}}\n", opensearchapi.BulkParams{})
			if !wantStatus(t, r, 200) {
				return
			}
			it := wantItem(t, r, 0, "delete", 404, "not_found")
			if got := num(t, it, "_version"); got != 5 {
				t.Errorf("tombstone version want 5, got %d", got)
			}
			if h := e.raw(t, http.MethodHead, "/"+idx, ""); h.Status != 200 {
				t.Errorf("external delete must auto-create the index: HEAD -> %d", h.Status)
			}
		})
	}

	t.Run("update auto-creates the index then fails", func(t *testing.T) {
		r := e.bulk(t, "", "{\"update\":{\"_index\":\"updcreate\",\"_id\":\"1\"}}\n{\"doc\":{\"a\":1}}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantItemError(t, r, 0, "update", 404, "document_missing_exception", "[1]: document missing")
		}
		if h := e.raw(t, http.MethodHead, "/updcreate", ""); h.Status != 200 {
			t.Errorf("update must auto-create the index before failing: HEAD -> %d", h.Status)
		}
	})
}

// TestBulkAutoCreateOff covers the "auto-create forbidden" row of §1.5.
func TestBulkAutoCreateOff(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{NoAutoCreate: true})
	e.createIndex(t, "there", "")

	for _, tc := range []struct{ name, line, action, id string }{
		{"index", "{\"index\":{\"_index\":\"absent\",\"_id\":\"1\"}}\n{\"a\":1}\n", "index", "1"},
		{"create", "{\"create\":{\"_index\":\"absent\",\"_id\":\"1\"}}\n{\"a\":1}\n", "create", "1"},
		{"update with upsert", "{\"update\":{\"_index\":\"absent\",\"_id\":\"1\"}}\n{\"doc\":{\"a\":1},\"doc_as_upsert\":true}\n", "update", "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.line + "{\"index\":{\"_index\":\"there\",\"_id\":\"" + tc.name + "\"}}\n{\"a\":1}\n"
			r := e.bulk(t, "", body, opensearchapi.BulkParams{})
			if !wantStatus(t, r, 200) {
				return
			}
			it := wantItemError(t, r, 0, tc.action, 404, "index_not_found_exception", "no such index [absent] and [action.auto_create_index] is [false]")
			wantMeta(t, it, "index", "absent", "error")
			wantMeta(t, it, "index_uuid", "_na_", "error")
			wantItem(t, r, 1, "index", 201, "created")
			if h := e.raw(t, http.MethodHead, "/absent", ""); h.Status != 404 {
				t.Errorf("index must not be created: HEAD -> %d", h.Status)
			}
		})
	}

	t.Run("auto id failure has null _id", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"absent\"}}\n{\"a\":1}\n", opensearchapi.BulkParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		_, it := item(t, r.Body, 0)
		wantKeys(t, it, []string{"_index", "_id", "status", "error"})
		if got := string(rawAt(t, it, "_id")); got != "null" {
			t.Errorf("_id of a failed auto-id item want null, got %s", got)
		}
	})

	t.Run("single doc API", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "absent", DocumentID: "1", Body: strings.NewReader(`{}`)})
		wantError(t, r, 404, "index_not_found_exception", "no such index [absent] and [action.auto_create_index] is [false]")
	})
}

// TestBulkAliases covers require_alias with a real alias and the "no write index" row.
func TestBulkAliases(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "backing", `{"aliases":{"w":{"is_write_index":true}}}`)
	e.createIndex(t, "m1", `{"aliases":{"multi":{}}}`)
	e.createIndex(t, "m2", `{"aliases":{"multi":{}}}`)

	t.Run("require_alias through a write alias", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"w\",\"_id\":\"1\",\"require_alias\":true}}\n{\"a\":1}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			it := wantItem(t, r, 0, "index", 201, "created")
			if got := str(t, it, "_index"); got != "backing" {
				t.Errorf("_index want the concrete index backing, got %q", got)
			}
		}
		if g := e.get(t, "backing", "1"); g.Status != 200 {
			t.Errorf("doc must land in the write index: %s", g)
		}
	})

	t.Run("alias without write index", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"multi\",\"_id\":\"1\"}}\n{\"a\":1}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantItemError(t, r, 0, "index", 400, iae,
				"no write index is defined for alias [multi]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index")
		}
	})
}

// wantCausedBy asserts a failed item's error has a caused_by with type and reason.
func wantCausedBy(t testing.TB, it []byte) {
	t.Helper()
	if !has(it, "error", "caused_by") {
		t.Errorf("error must carry caused_by with the underlying error: %s", truncate(it, 600))
		return
	}
	if str(t, it, "error", "caused_by", "type") == "" || str(t, it, "error", "caused_by", "reason") == "" {
		t.Errorf("caused_by needs type and reason: %s", rawAt(t, it, "error", "caused_by"))
	}
}
