package conformance_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestSingleDocWrites covers the §4 write rows: index with and without id, _create,
// op_type, 405, Location, and the write response body.
func TestSingleDocWrites(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})

	t.Run("PUT _doc create then update", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", DocumentID: "1", Body: strings.NewReader(`{"foo":"bar"}`)})
		if wantStatus(t, r, 201) {
			wantExactBody(t, r, `{"_index":"t","_id":"1","_version":1,"result":"created","_shards":`+shards2+`,"_seq_no":0,"_primary_term":1}`)
			if got := r.Header.Get("Location"); got != "/t/_doc/1" {
				t.Errorf("Location want /t/_doc/1, got %q", got)
			}
		}
		r = e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", DocumentID: "1", Body: strings.NewReader(`{"foo":"baz"}`)})
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"_index":"t","_id":"1","_version":2,"result":"updated","_shards":`+shards2+`,"_seq_no":1,"_primary_term":1}`)
			if got := r.Header.Get("Location"); got != "" {
				t.Errorf("Location is only for 201 responses, got %q", got)
			}
		}
	})

	t.Run("POST _doc with id", func(t *testing.T) {
		r := e.do(t, http.MethodPost, opensearchapi.IndexReq{Index: "t", DocumentID: "p", Body: strings.NewReader(`{}`)})
		if wantStatus(t, r, 201) && str(t, r.Body, "result") != "created" {
			t.Errorf("result want created: %s", r)
		}
		r = e.do(t, http.MethodPost, opensearchapi.IndexReq{Index: "t", DocumentID: "p", Body: strings.NewReader(`{"a":1}`)})
		if wantStatus(t, r, 200) && str(t, r.Body, "result") != "updated" {
			t.Errorf("result want updated: %s", r)
		}
	})

	t.Run("typed client Index decodes the response", func(t *testing.T) {
		res, err := e.api.Index(context.Background(), opensearchapi.IndexReq{Index: "t", DocumentID: "typed", Body: strings.NewReader(`{"a":1}`), Params: opensearchapi.IndexParams{Refresh: "true"}})
		if err != nil {
			t.Fatalf("Index: %v", err)
		}
		if res.Result != "created" || res.Version != 1 || res.Index != "t" || res.ID != "typed" || !res.ForcedRefresh || res.Shards.Total != 2 {
			t.Errorf("unexpected typed response %+v", res)
		}
	})

	t.Run("POST _doc auto id", func(t *testing.T) {
		idRe := regexp.MustCompile(`^[A-Za-z0-9_-]{20}$`)
		var ids []string
		for range 2 {
			r := e.do(t, http.MethodPost, opensearchapi.IndexReq{Index: "t", Body: strings.NewReader(`{"auto":true}`)})
			if !wantStatus(t, r, 201) {
				return
			}
			wantKeys(t, r.Body, successKeys(false, false, false))
			id := str(t, r.Body, "_id")
			if !idRe.MatchString(id) {
				t.Errorf("auto id %q must be 20 URL-safe base64 characters", id)
			}
			if got := r.Header.Get("Location"); got != "/t/_doc/"+id {
				t.Errorf("Location want /t/_doc/%s, got %q", id, got)
			}
			if v := num(t, r.Body, "_version"); v != 1 {
				t.Errorf("_version want 1, got %d", v)
			}
			ids = append(ids, id)
		}
		if ids[0] == ids[1] {
			t.Errorf("auto ids must be unique, got %q twice", ids[0])
		}
	})

	t.Run("PUT _doc without id is 405", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", Body: strings.NewReader(`{}`)})
		wantSimpleError(t, r, 405, "Incorrect HTTP method for uri [/t/_doc] and method [PUT], allowed: [POST]")
		if got := r.Header.Get("Allow"); got != "POST" {
			t.Errorf("Allow want POST, got %q", got)
		}
	})

	t.Run("op_type create on _doc", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", DocumentID: "oc", Body: strings.NewReader(`{}`), Params: opensearchapi.IndexParams{OpType: "create"}})
		wantStatus(t, r, 201)
		r = e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", DocumentID: "oc", Body: strings.NewReader(`{}`), Params: opensearchapi.IndexParams{OpType: "create"}})
		wantError(t, r, 409, vce, "[oc]: version conflict, document already exists (current version [1])")
		r = e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", DocumentID: "oc", Body: strings.NewReader(`{"x":1}`), Params: opensearchapi.IndexParams{OpType: "index"}})
		wantStatus(t, r, 200)
	})

	for _, m := range []string{http.MethodPut, http.MethodPost} {
		t.Run(m+" _create", func(t *testing.T) {
			id := "cr" + m
			r := e.do(t, m, opensearchapi.DocumentCreateReq{Index: "t", DocumentID: id, Body: strings.NewReader(`{"a":1}`)})
			if wantStatus(t, r, 201) {
				wantExactBody(t, r, `{"_index":"t","_id":"`+id+`","_version":1,"result":"created","_shards":`+shards2+`,"_seq_no":`+string(rawAt(t, r.Body, "_seq_no"))+`,"_primary_term":1}`)
				if got := r.Header.Get("Location"); got != "/t/_doc/"+id {
					t.Errorf("Location want /t/_doc/%s, got %q", id, got)
				}
			}
			r = e.do(t, m, opensearchapi.DocumentCreateReq{Index: "t", DocumentID: id, Body: strings.NewReader(`{"a":2}`)})
			wantError(t, r, 409, vce, "["+id+"]: version conflict, document already exists (current version [1])")
		})
	}

	t.Run("_create with op_type index is 400", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/t/_create/opt?op_type=index", `{}`)
		wantError(t, r, 400, iae, "opType must be 'create', found: [index]")
		r = e.raw(t, http.MethodPut, "/t/_create/opt?op_type=create", `{}`)
		wantStatus(t, r, 201)
	})

	t.Run("routing in Location", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", DocumentID: "r1", Body: strings.NewReader(`{}`), Params: opensearchapi.IndexParams{Routing: "shardkey"}})
		if wantStatus(t, r, 201) {
			if got := r.Header.Get("Location"); got != "/t/_doc/r1?routing=shardkey" {
				t.Errorf("Location want /t/_doc/r1?routing=shardkey, got %q", got)
			}
		}
	})

	t.Run("refresh=true carries forced_refresh", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", DocumentID: "fr", Body: strings.NewReader(`{}`), Params: opensearchapi.IndexParams{Refresh: "true"}})
		if wantStatus(t, r, 201) {
			wantKeys(t, r.Body, successKeys(true, false, false))
		}
	})

	t.Run("ignored params are accepted", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/t/_doc/params?timeout=1m&wait_for_active_shards=1&refresh=wait_for", `{}`)
		wantStatus(t, r, 201)
	})
}

// TestSingleDocDelete covers the §4 DELETE row.
func TestSingleDocDelete(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.put(t, "t", "1", `{}`)

	r := e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "t", DocumentID: "1"})
	if wantStatus(t, r, 200) {
		wantExactBody(t, r, `{"_index":"t","_id":"1","_version":2,"result":"deleted","_shards":`+shards2+`,"_seq_no":1,"_primary_term":1}`)
	}
	r = e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "t", DocumentID: "1"})
	if wantStatus(t, r, 404) {
		// Missing doc: 404 with the normal write body, not an error envelope.
		wantExactBody(t, r, `{"_index":"t","_id":"1","_version":3,"result":"not_found","_shards":`+shards2+`,"_seq_no":2,"_primary_term":1}`)
	}
	r = e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "t", DocumentID: "never"})
	if wantStatus(t, r, 404) {
		wantExactBody(t, r, `{"_index":"t","_id":"never","_version":1,"result":"not_found","_shards":`+shards2+`,"_seq_no":3,"_primary_term":1}`)
	}
	r = e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "nosuch", DocumentID: "1"})
	wantError(t, r, 404, "index_not_found_exception", "no such index [nosuch]")
	wantMeta(t, r.Body, "index", "nosuch", "error")
	wantMeta(t, r.Body, "index_uuid", "_na_", "error")
	if h := e.raw(t, http.MethodHead, "/nosuch", ""); h.Status != 404 {
		t.Errorf("DELETE of a doc must not create the index: HEAD -> %d", h.Status)
	}
}

// TestSingleDocReads covers the §4 GET, HEAD and _source rows.
func TestSingleDocReads(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	for _, d := range []string{`{"foo":"x"}`, `{"foo":"y"}`, `{"foo":"bar"}`} {
		// refresh=false: GET is realtime and must see writes without a refresh.
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", DocumentID: "1", Body: strings.NewReader(d), Params: opensearchapi.IndexParams{Refresh: "false"}})
		if r.Status != 200 && r.Status != 201 {
			t.Fatalf("setup: %s", r)
		}
	}
	e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", DocumentID: "r", Body: strings.NewReader(`{"a":1}`), Params: opensearchapi.IndexParams{Routing: "rk"}})

	t.Run("GET found", func(t *testing.T) {
		r := e.get(t, "t", "1")
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"_index":"t","_id":"1","_version":3,"_seq_no":2,"_primary_term":1,"found":true,"_source":{"foo":"bar"}}`)
		}
	})
	t.Run("GET not found", func(t *testing.T) {
		r := e.get(t, "t", "2")
		if wantStatus(t, r, 404) {
			wantExactBody(t, r, `{"_index":"t","_id":"2","found":false}`)
		}
	})
	t.Run("GET routed doc emits _routing", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.DocumentGetReq{Index: "t", DocumentID: "r", Params: opensearchapi.DocumentGetParams{Routing: "rk"}})
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"_index":"t","_id":"r","_version":1,"_seq_no":3,"_primary_term":1,"_routing":"rk","found":true,"_source":{"a":1}}`)
		}
	})
	t.Run("GET missing index", func(t *testing.T) {
		r := e.get(t, "nosuch", "1")
		wantError(t, r, 404, "index_not_found_exception", "no such index [nosuch]")
	})
	t.Run("typed client Get", func(t *testing.T) {
		res, err := e.api.Document.Get(context.Background(), opensearchapi.DocumentGetReq{Index: "t", DocumentID: "1"})
		if err != nil {
			t.Fatalf("Document.Get: %v", err)
		}
		if !res.Found || res.Version != 3 || string(res.Source) != `{"foo":"bar"}` {
			t.Errorf("unexpected typed get %+v (source %s)", res, res.Source)
		}
	})

	heads := []struct {
		name, index, id string
		status          int
	}{
		{"found", "t", "1", 200},
		{"missing doc", "t", "2", 404},
		{"missing index", "nosuch", "1", 404},
	}
	for _, tc := range heads {
		t.Run("HEAD "+tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodHead, opensearchapi.DocumentExistsReq{Index: tc.index, DocumentID: tc.id})
			wantStatus(t, r, tc.status)
			if len(r.Body) != 0 {
				t.Errorf("HEAD body must be empty, got %q", r.Body)
			}
		})
	}

	t.Run("_source found is raw source", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.DocumentSourceReq{Index: "t", DocumentID: "1"})
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"foo":"bar"}`)
		}
	})
	t.Run("_source missing doc", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.DocumentSourceReq{Index: "t", DocumentID: "2"})
		wantError(t, r, 404, "resource_not_found_exception", "Document not found [t]/[2]")
	})
	t.Run("_source missing index", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.DocumentSourceReq{Index: "nosuch", DocumentID: "2"})
		wantError(t, r, 404, "index_not_found_exception", "no such index [nosuch]")
	})
}

// TestMget covers the §4 _mget row: both body forms, order, missing index entries and
// the validation errors.
func TestMget(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.put(t, "t", "1", `{"a":1}`)
	e.put(t, "u", "1", `{"b":1}`)
	getBody := func(index, id string) string {
		t.Helper()
		return string(e.get(t, index, id).Body)
	}

	t.Run("docs form across indices in request order", func(t *testing.T) {
		r := e.do(t, http.MethodPost, opensearchapi.MGetReq{Body: strings.NewReader(`{"docs":[{"_index":"u","_id":"1"},{"_index":"t","_id":"2"},{"_index":"t","_id":"1"},{"_index":"x","_id":"1"}]}`)})
		if !wantStatus(t, r, 200) {
			return
		}
		wantKeys(t, r.Body, []string{"docs"})
		wantExactBody(t, &resp{Body: rawAt(t, r.Body, "docs", 0), desc: "docs[0]"}, getBody("u", "1"))
		wantExactBody(t, &resp{Body: rawAt(t, r.Body, "docs", 1), desc: "docs[1]"}, `{"_index":"t","_id":"2","found":false}`)
		wantExactBody(t, &resp{Body: rawAt(t, r.Body, "docs", 2), desc: "docs[2]"}, getBody("t", "1"))
		miss := rawAt(t, r.Body, "docs", 3)
		wantKeys(t, miss, []string{"_index", "_id", "error"})
		if str(t, miss, "_index") != "x" || str(t, miss, "_id") != "1" {
			t.Errorf("missing-index entry must echo _index/_id: %s", miss)
		}
		if str(t, miss, "error", "type") != "index_not_found_exception" || str(t, miss, "error", "reason") != "no such index [x]" {
			t.Errorf("missing-index entry error want index_not_found_exception/no such index [x], got %s", rawAt(t, miss, "error"))
		}
		if !has(miss, "error", "root_cause", 0) {
			t.Errorf("missing-index entry error must carry root_cause: %s", miss)
		}
	})

	t.Run("GET _mget with body", func(t *testing.T) {
		r := e.do(t, http.MethodGet, opensearchapi.MGetReq{Body: strings.NewReader(`{"docs":[{"_index":"t","_id":"1"}]}`)})
		if wantStatus(t, r, 200) {
			wantExactBody(t, &resp{Body: rawAt(t, r.Body, "docs", 0), desc: "docs[0]"}, getBody("t", "1"))
		}
	})

	t.Run("ids form with path index", func(t *testing.T) {
		r := e.do(t, http.MethodPost, opensearchapi.MGetReq{Index: "t", Body: strings.NewReader(`{"ids":["2","1"]}`)})
		if wantStatus(t, r, 200) {
			wantExactBody(t, &resp{Body: rawAt(t, r.Body, "docs", 0), desc: "docs[0]"}, `{"_index":"t","_id":"2","found":false}`)
			wantExactBody(t, &resp{Body: rawAt(t, r.Body, "docs", 1), desc: "docs[1]"}, getBody("t", "1"))
		}
	})

	t.Run("docs form with path index default", func(t *testing.T) {
		r := e.do(t, http.MethodPost, opensearchapi.MGetReq{Index: "t", Body: strings.NewReader(`{"docs":[{"_id":"1"},{"_index":"u","_id":"1"}]}`)})
		if wantStatus(t, r, 200) {
			wantExactBody(t, &resp{Body: rawAt(t, r.Body, "docs", 0), desc: "docs[0]"}, getBody("t", "1"))
			wantExactBody(t, &resp{Body: rawAt(t, r.Body, "docs", 1), desc: "docs[1]"}, getBody("u", "1"))
		}
	})

	t.Run("typed client MGet", func(t *testing.T) {
		res, err := e.api.MGet(context.Background(), opensearchapi.MGetReq{Index: "t", Body: strings.NewReader(`{"ids":["1"]}`)})
		if err != nil {
			t.Fatalf("MGet: %v", err)
		}
		if len(res.Docs) != 1 || !res.Docs[0].Found || res.Docs[0].ID != "1" {
			t.Errorf("unexpected typed mget %+v", res)
		}
	})

	validation := []struct {
		name, index, body, msg string
	}{
		{"ids without index", "", `{"ids":["1"]}`, "index is missing"},
		{"doc without index", "", `{"docs":[{"_id":"1"}]}`, "index is missing"},
		{"doc without id", "", `{"docs":[{"_index":"t"}]}`, "id is missing"},
		{"empty docs", "", `{"docs":[]}`, "no documents to get"},
		{"empty ids", "t", `{"ids":[]}`, "no documents to get"},
	}
	for _, tc := range validation {
		t.Run("validation "+tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodPost, opensearchapi.MGetReq{Index: tc.index, Body: strings.NewReader(tc.body)})
			if !wantStatus(t, r, 400) {
				return
			}
			checkEnvelope(t, r, 400)
			if got := str(t, r.Body, "error", "type"); got != "action_request_validation_exception" {
				t.Errorf("type want action_request_validation_exception, got %q", got)
			}
			// The reference abridges these messages; the server's per-item template adds
			// " for doc N" (MultiGetRequest.validate), so the message is matched as a prefix.
			want := "Validation Failed: 1: " + tc.msg
			if got := str(t, r.Body, "error", "reason"); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, ";") {
				t.Errorf("reason want %q[ for doc N];, got %q", want, got)
			}
		})
	}
}
