package conformance_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestIndexCreate covers §5 PUT /{index}.
func TestIndexCreate(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})

	t.Run("with full body", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndicesCreateReq{Index: "full", Body: strings.NewReader(`{"settings":{"number_of_shards":1,"number_of_replicas":0,"index.gc_deletes":"60s"},"mappings":{"dynamic":"strict","properties":{"f":{"type":"keyword"}}},"aliases":{"a":{},"w":{"is_write_index":true}}}`)})
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"acknowledged":true,"shards_acknowledged":true,"index":"full"}`)
		}
		m := e.do(t, http.MethodGet, opensearchapi.MappingGetReq{Indices: []string{"full"}})
		if wantStatus(t, m, 200) {
			wantJSON(t, m.Body, `{"type":"keyword"}`, "full", "mappings", "properties", "f")
		}
	})

	t.Run("without body", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndicesCreateReq{Index: "bare"})
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"acknowledged":true,"shards_acknowledged":true,"index":"bare"}`)
		}
	})

	t.Run("already exists", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndicesCreateReq{Index: "bare"})
		if !wantStatus(t, r, 400) {
			return
		}
		checkEnvelope(t, r, 400)
		if got := str(t, r.Body, "error", "type"); got != "resource_already_exists_exception" {
			t.Errorf("type want resource_already_exists_exception, got %q", got)
		}
		reason := str(t, r.Body, "error", "reason")
		m := regexp.MustCompile(`^index \[bare/([^\]]+)\] already exists$`).FindStringSubmatch(reason)
		if m == nil {
			t.Errorf("reason want %q, got %q", "index [bare/<uuid>] already exists", reason)
		}
		wantMeta(t, r.Body, "index", "bare", "error")
		wantMeta(t, r.Body, "index_uuid", "*", "error")
		if m != nil && has(r.Body, "error", "index_uuid") && str(t, r.Body, "error", "index_uuid") != m[1] {
			t.Errorf("index_uuid %q must match the uuid in the reason %q", str(t, r.Body, "error", "index_uuid"), m[1])
		}
	})

	names := []struct{ name, index, reasonPrefix string }{
		{"uppercase", "Foo", "Invalid index name [Foo], must be lowercase"},
		{"leading underscore", "_foo", "Invalid index name [_foo], must not start with '_'"},
	}
	for _, tc := range names {
		t.Run("invalid name "+tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodPut, opensearchapi.IndicesCreateReq{Index: tc.index})
			if !wantStatus(t, r, 400) {
				return
			}
			checkEnvelope(t, r, 400)
			if got := str(t, r.Body, "error", "type"); got != "invalid_index_name_exception" {
				t.Errorf("type want invalid_index_name_exception, got %q", got)
			}
			if got := str(t, r.Body, "error", "reason"); !strings.HasPrefix(got, tc.reasonPrefix) {
				t.Errorf("reason want prefix %q, got %q", tc.reasonPrefix, got)
			}
		})
	}

	t.Run("mapping nested under a type", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndicesCreateReq{Index: "typed", Body: strings.NewReader(`{"mappings":{"_doc":{"properties":{"f":{"type":"keyword"}}}}}`)})
		wantError(t, r, 400, iae, "The mapping definition cannot be nested under a type [_doc] unless include_type_name is set to true.")
		if h := e.raw(t, http.MethodHead, "/typed", ""); h.Status != 404 {
			t.Errorf("rejected create must not create the index: HEAD -> %d", h.Status)
		}
	})
}

// TestIndexDeleteHead covers §5 DELETE and HEAD /{index}.
func TestIndexDeleteHead(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.put(t, "d", "1", `{}`)

	if r := e.do(t, http.MethodHead, opensearchapi.IndicesExistsReq{Indices: []string{"d"}}); wantStatus(t, r, 200) && len(r.Body) != 0 {
		t.Errorf("HEAD body must be empty")
	}
	r := e.do(t, http.MethodDelete, opensearchapi.IndicesDeleteReq{Indices: []string{"d"}})
	if wantStatus(t, r, 200) {
		wantExactBody(t, r, `{"acknowledged":true}`)
	}
	if r := e.do(t, http.MethodHead, opensearchapi.IndicesExistsReq{Indices: []string{"d"}}); wantStatus(t, r, 404) && len(r.Body) != 0 {
		t.Errorf("HEAD body must be empty")
	}
	if g := e.get(t, "d", "1"); g.Status != 404 || str(t, g.Body, "error", "type") != "index_not_found_exception" {
		t.Errorf("docs must go with the index: %s", g)
	}
	r = e.do(t, http.MethodDelete, opensearchapi.IndicesDeleteReq{Indices: []string{"d"}})
	wantError(t, r, 404, "index_not_found_exception", "no such index [d]")
	wantMeta(t, r.Body, "resource.type", "index_or_alias", "error")
	wantMeta(t, r.Body, "resource.id", "d", "error")
	wantMeta(t, r.Body, "index_uuid", "_na_", "error")
	wantMeta(t, r.Body, "index", "d", "error")

	// A re-created index starts over.
	w := e.put(t, "d", "1", `{}`)
	if num(t, w.Body, "_version") != 1 || num(t, w.Body, "_seq_no") != 0 {
		t.Errorf("re-created index must start at _version 1, _seq_no 0: %s", w)
	}
}

// TestAutoCreateMapping covers §5 auto-create dynamic mapping types.
func TestAutoCreateMapping(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.put(t, "dyn", "1", `{"s":"hello world","i":5,"f":1.5,"b":true,"o":{"x":"y","n":1},"d":"2024-01-02T03:04:05Z"}`)
	r := e.do(t, http.MethodGet, opensearchapi.MappingGetReq{Indices: []string{"dyn"}})
	if !wantStatus(t, r, 200) {
		return
	}
	wantKeys(t, r.Body, []string{"dyn"})
	wantKeys(t, r.Body, []string{"mappings"}, "dyn")
	textKW := `{"type":"text","fields":{"keyword":{"type":"keyword","ignore_above":256}}}`
	for _, tc := range []struct {
		path []any
		want string
	}{
		{[]any{"s"}, textKW},
		{[]any{"i"}, `{"type":"long"}`},
		{[]any{"f"}, `{"type":"float"}`},
		{[]any{"b"}, `{"type":"boolean"}`},
		{[]any{"o", "properties", "x"}, textKW},
		{[]any{"o", "properties", "n"}, `{"type":"long"}`},
	} {
		p := append([]any{"dyn", "mappings", "properties"}, tc.path...)
		if !has(r.Body, p...) {
			t.Errorf("mapping for %v missing: %s", tc.path, r.Body)
			continue
		}
		wantJSON(t, r.Body, tc.want, p...)
	}
	if has(r.Body, "dyn", "mappings", "properties", "o", "type") && str(t, r.Body, "dyn", "mappings", "properties", "o", "type") != "object" {
		t.Errorf("object field type must be object when present")
	}
	if has(r.Body, "dyn", "mappings", "properties", "d") {
		if got := str(t, r.Body, "dyn", "mappings", "properties", "d", "type"); got != "date" {
			t.Errorf("date-looking string must map to date, got %q", got)
		}
	} else {
		t.Errorf("mapping for d missing")
	}
}

// TestMappingAPI covers §5 GET/PUT _mapping.
func TestMappingAPI(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "m", "")

	t.Run("empty mapping", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.MappingGetReq{Indices: []string{"m"}})
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"m":{"mappings":{}}}`)
		}
	})
	t.Run("put properties", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.MappingPutReq{Indices: []string{"m"}, Body: strings.NewReader(`{"properties":{"n":{"type":"long"}}}`)})
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"acknowledged":true}`)
		}
		r = e.do(t, http.MethodPut, opensearchapi.MappingPutReq{Indices: []string{"m"}, Body: strings.NewReader(`{"properties":{"k":{"type":"keyword"}}}`)})
		wantStatus(t, r, 200)
		g := e.do(t, http.MethodGet, opensearchapi.MappingGetReq{Indices: []string{"m"}})
		if wantStatus(t, g, 200) {
			wantJSON(t, g.Body, `{"m":{"mappings":{"properties":{"n":{"type":"long"},"k":{"type":"keyword"}}}}}`)
		}
	})
	t.Run("same definition again is accepted", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.MappingPutReq{Indices: []string{"m"}, Body: strings.NewReader(`{"properties":{"n":{"type":"long"}}}`)})
		wantStatus(t, r, 200)
	})
	t.Run("type change rejected", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.MappingPutReq{Indices: []string{"m"}, Body: strings.NewReader(`{"properties":{"n":{"type":"text"}}}`)})
		wantError(t, r, 400, iae, "mapper [n] cannot be changed from type [long] to [text]")
	})
	t.Run("type-wrapped body rejected", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.MappingPutReq{Indices: []string{"m"}, Body: strings.NewReader(`{"_doc":{"properties":{"z":{"type":"long"}}}}`)})
		wantError(t, r, 400, iae, "Types cannot be provided in put mapping requests")
	})
	t.Run("missing index", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.MappingGetReq{Indices: []string{"nosuch"}})
		wantError(t, r, 404, "index_not_found_exception", "no such index [nosuch]")
	})
	t.Run("mapping is enforced on writes", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "m", DocumentID: "1", Body: strings.NewReader(`{"n":"abc"}`)})
		wantError(t, r, 400, "mapper_parsing_exception", "failed to parse field [n] of type [long] in document with id '1'. Preview of field's value: 'abc'")
	})
}

// TestRefreshAndCount covers §5 _refresh and _count.
func TestRefreshAndCount(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.bulkOK(t, "{\"index\":{\"_index\":\"c\",\"_id\":\"1\"}}\n{\"k\":\"a\"}\n{\"index\":{\"_index\":\"c\",\"_id\":\"2\"}}\n{\"k\":\"b\"}\n{\"index\":{\"_index\":\"c\",\"_id\":\"3\"}}\n{\"k\":\"b\"}\n")

	r := e.do(t, http.MethodPost, opensearchapi.IndicesRefreshReq{Index: []string{"c"}})
	if wantStatus(t, r, 200) {
		wantExactBody(t, r, `{"_shards":{"total":2,"successful":1,"failed":0}}`)
	}
	r = e.do(t, http.MethodPost, opensearchapi.IndicesRefreshReq{})
	if wantStatus(t, r, 200) {
		wantKeys(t, r.Body, []string{"_shards"})
	}
	r = e.do(t, http.MethodPost, opensearchapi.IndicesRefreshReq{Index: []string{"nosuch"}})
	wantError(t, r, 404, "index_not_found_exception", "no such index [nosuch]")

	counts := []struct {
		name, method, body string
		want               int
	}{
		{"GET no body", http.MethodGet, "", 3},
		{"POST match_all", http.MethodPost, `{"query":{"match_all":{}}}`, 3},
		{"POST term", http.MethodPost, `{"query":{"term":{"k.keyword":"b"}}}`, 2},
	}
	for _, tc := range counts {
		t.Run("count "+tc.name, func(t *testing.T) {
			req := opensearchapi.IndicesCountReq{Indices: []string{"c"}}
			if tc.body != "" {
				req.Body = strings.NewReader(tc.body)
			}
			r := e.do(t, tc.method, req)
			if wantStatus(t, r, 200) {
				wantExactBody(t, r, `{"count":`+strconv.Itoa(tc.want)+`,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0}}`)
			}
		})
	}
	t.Run("count missing index", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.IndicesCountReq{Indices: []string{"nosuch"}})
		wantError(t, r, 404, "index_not_found_exception", "no such index [nosuch]")
	})
}

// TestCatIndices covers §5 _cat/indices?format=json.
func TestCatIndices(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})

	r := e.do(t, http.MethodGet, opensearchapi.CatIndicesReq{})
	if wantStatus(t, r, 200) {
		wantExactBody(t, r, `[]`)
	}
	e.bulkOK(t, "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{}\n{\"index\":{\"_index\":\"t\",\"_id\":\"2\"}}\n{}\n{\"index\":{\"_index\":\"t\",\"_id\":\"3\"}}\n{}\n")
	e.createIndex(t, "z", `{"settings":{"number_of_replicas":0}}`)
	e.do(t, http.MethodPost, opensearchapi.IndicesRefreshReq{})

	r = e.do(t, http.MethodGet, opensearchapi.CatIndicesReq{})
	if !wantStatus(t, r, 200) {
		return
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(r.Body, &rows); err != nil {
		t.Fatalf("_cat/indices body is not an array: %s", r.Body)
	}
	if len(rows) != 2 {
		t.Fatalf("want 2 rows, got %d: %s", len(rows), r.Body)
	}
	cols := []string{"health", "status", "index", "uuid", "pri", "rep", "docs.count", "docs.deleted", "store.size", "pri.store.size"}
	byIndex := map[string]map[string]any{}
	for _, row := range rows {
		if got := keys(t, row); !reflect.DeepEqual(got, cols) {
			t.Errorf("columns want %v, got %v", cols, got)
		}
		var m map[string]any
		if err := json.Unmarshal(row, &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range m {
			if _, ok := v.(string); !ok {
				t.Errorf("_cat value %s=%v must be a string, is %T", k, v, v)
			}
		}
		if idx, ok := m["index"].(string); ok {
			byIndex[idx] = m
		}
	}
	want := map[string]map[string]string{
		"t": {"health": "yellow", "status": "open", "pri": "1", "rep": "1", "docs.count": "3", "docs.deleted": "0"},
		"z": {"health": "green", "status": "open", "pri": "1", "rep": "0", "docs.count": "0", "docs.deleted": "0"},
	}
	for idx, w := range want {
		row, ok := byIndex[idx]
		if !ok {
			t.Errorf("row for %s missing", idx)
			continue
		}
		for k, v := range w {
			if row[k] != v {
				t.Errorf("%s.%s want %q, got %v", idx, k, v, row[k])
			}
		}
		if s, _ := row["uuid"].(string); s == "" {
			t.Errorf("%s.uuid must be non-empty", idx)
		}
	}
}

// TestRootInfo covers §5 GET /.
func TestRootInfo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, opt, want string
	}{
		{"default cluster name", "", "emulator"},
		{"custom cluster name", "blue", "blue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEmu(t, searchemu.Options{Name: tc.opt})
			r := e.raw(t, http.MethodGet, "/", "")
			if !wantStatus(t, r, 200) {
				return
			}
			wantKeys(t, r.Body, []string{"name", "cluster_name", "cluster_uuid", "version", "tagline"})
			wantKeys(t, r.Body, []string{"distribution", "number", "build_type", "build_hash", "build_date", "build_snapshot", "lucene_version", "minimum_wire_compatibility_version", "minimum_index_compatibility_version"}, "version")
			if got := str(t, r.Body, "cluster_name"); got != tc.want {
				t.Errorf("cluster_name want %q, got %q", tc.want, got)
			}
			if str(t, r.Body, "name") == "" || str(t, r.Body, "cluster_uuid") == "" {
				t.Errorf("name and cluster_uuid must be non-empty")
			}
			if got := str(t, r.Body, "version", "distribution"); got != "opensearch" {
				t.Errorf("distribution want opensearch, got %q", got)
			}
			if got := str(t, r.Body, "version", "number"); !regexp.MustCompile(`^2\.\d+\.\d+$`).MatchString(got) {
				t.Errorf("version.number want 2.x.y, got %q", got)
			}
			if got := str(t, r.Body, "tagline"); got != "The OpenSearch Project: https://opensearch.org/" {
				t.Errorf("tagline want the OpenSearch tagline, got %q", got)
			}
			if got := string(rawAt(t, r.Body, "version", "build_snapshot")); got != "false" {
				t.Errorf("build_snapshot want false, got %s", got)
			}
			res, err := e.api.Info(t.Context(), nil)
			if err != nil {
				t.Fatalf("typed Info: %v", err)
			}
			if res.ClusterName != tc.want || res.Version.Distribution != "opensearch" {
				t.Errorf("typed Info %+v", res)
			}
		})
	}
}

// TestClusterHealth covers §5 GET /_cluster/health colours and shape.
func TestClusterHealth(t *testing.T) {
	t.Parallel()
	fields := []string{"cluster_name", "status", "timed_out", "number_of_nodes", "number_of_data_nodes", "discovered_master", "discovered_cluster_manager", "active_primary_shards", "active_shards", "relocating_shards", "initializing_shards", "unassigned_shards", "delayed_unassigned_shards", "number_of_pending_tasks", "number_of_in_flight_fetch", "task_max_waiting_in_queue_millis", "active_shards_percent_as_number"}

	t.Run("one replica is yellow", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{Name: "hc"})
		e.put(t, "t", "1", `{}`)
		r := e.do(t, http.MethodGet, opensearchapi.ClusterHealthReq{})
		if !wantStatus(t, r, 200) {
			return
		}
		wantKeys(t, r.Body, fields)
		wantJSON(t, r.Body, `{"cluster_name":"hc","status":"yellow","timed_out":false,"number_of_nodes":1,"number_of_data_nodes":1,"discovered_master":true,"discovered_cluster_manager":true,"active_primary_shards":1,"active_shards":1,"relocating_shards":0,"initializing_shards":0,"unassigned_shards":1,"delayed_unassigned_shards":0,"number_of_pending_tasks":0,"number_of_in_flight_fetch":0,"task_max_waiting_in_queue_millis":0,"active_shards_percent_as_number":50.0}`)
	})

	t.Run("zero replicas is green", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		e.createIndex(t, "g", `{"settings":{"number_of_replicas":0}}`)
		r := e.do(t, http.MethodGet, opensearchapi.ClusterHealthReq{})
		if wantStatus(t, r, 200) && str(t, r.Body, "status") != "green" {
			t.Errorf("status want green with number_of_replicas 0, got %s", rawAt(t, r.Body, "status"))
		}
		if wantStatus(t, r, 200) && num(t, r.Body, "unassigned_shards") != 0 {
			t.Errorf("unassigned_shards want 0")
		}
	})

	t.Run("wait_for_status yellow returns promptly", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		e.put(t, "t", "1", `{}`)
		start := time.Now()
		r := e.do(t, http.MethodGet, opensearchapi.ClusterHealthReq{Params: opensearchapi.ClusterHealthParams{WaitForStatus: "yellow", Timeout: 5 * time.Second}})
		if wantStatus(t, r, 200) && str(t, r.Body, "status") != "yellow" {
			t.Errorf("status want yellow")
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("wait_for_status=yellow on a yellow cluster took %v", time.Since(start))
		}
	})

	t.Run("level=indices adds indices map", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		e.put(t, "t", "1", `{}`)
		r := e.do(t, http.MethodGet, opensearchapi.ClusterHealthReq{Params: opensearchapi.ClusterHealthParams{Level: "indices"}})
		if wantStatus(t, r, 200) {
			if !has(r.Body, "indices", "t") {
				t.Errorf("level=indices must add indices.t: %s", r.Body)
			} else if str(t, r.Body, "indices", "t", "status") != "yellow" {
				t.Errorf("indices.t.status want yellow")
			}
		}
	})
}
