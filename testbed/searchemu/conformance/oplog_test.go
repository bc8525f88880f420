package conformance_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestOpLog covers the operation log: applied writes only, in apply order, with the
// versions and sequence numbers the responses reported.
func TestOpLog(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})

	type want struct {
		op, id      string
		version     int64
		seqNo       int64
		versionType string // "" = not checked
	}
	var wants []want
	record := func(r *resp, op, id, vt string) {
		t.Helper()
		wants = append(wants, want{op, id, num(t, r.Body, "_version"), num(t, r.Body, "_seq_no"), vt})
	}

	r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "o", DocumentID: "1", Body: strings.NewReader(`{"a":1}`)})
	record(r, "index", "1", "")
	r = e.update(t, "o", "1", `{"doc":{"a":2}}`, opensearchapi.UpdateParams{})
	record(r, "index", "1", "")
	// Not applied: noop, conflict, validation failure, mapping failure.
	wantStatus(t, e.update(t, "o", "1", `{"doc":{"a":2}}`, opensearchapi.UpdateParams{}), 200)
	wantStatus(t, e.do(t, http.MethodPut, opensearchapi.DocumentCreateReq{Index: "o", DocumentID: "1", Body: strings.NewReader(`{}`)}), 409)
	wantStatus(t, e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "o", DocumentID: "1", Body: strings.NewReader(`{}`), Params: opensearchapi.IndexParams{Version: ptr(9)}}), 400)
	wantStatus(t, e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "o", DocumentID: "1", Body: strings.NewReader(`{"a":"not a number"}`)}), 400)

	r = e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "o", DocumentID: "1"})
	record(r, "delete", "1", "")
	r = e.update(t, "o", "2", `{"doc":{"b":1},"doc_as_upsert":true}`, opensearchapi.UpdateParams{})
	record(r, "index", "2", "")
	r = e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "o", DocumentID: "3", Body: strings.NewReader(`{}`), Params: opensearchapi.IndexParams{Version: ptr(5), VersionType: "external"}})
	record(r, "index", "3", "external")
	r = e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "o", DocumentID: "3", Body: strings.NewReader(`{}`), Params: opensearchapi.IndexParams{Version: ptr(6), VersionType: "external_gte"}})
	record(r, "index", "3", "external_gte")
	b := e.bulk(t, "", "{\"delete\":{\"_index\":\"o\",\"_id\":\"3\",\"version\":9,\"version_type\":\"external\"}}\n{\"create\":{\"_index\":\"o\",\"_id\":\"4\"}}\n{}\n{\"index\":{\"_index\":\"other\",\"_id\":\"1\"}}\n{}\n", opensearchapi.BulkParams{})
	if !wantStatus(t, b, 200) {
		return
	}
	_, it := item(t, b.Body, 0)
	record(&resp{Body: it}, "delete", "3", "external")
	_, it = item(t, b.Body, 1)
	record(&resp{Body: it}, "index", "4", "")

	log := e.cluster.OpLog("o")
	if len(log) != len(wants) {
		t.Fatalf("OpLog(o) has %d entries, want %d: %+v", len(log), len(wants), log)
	}
	for i, w := range wants {
		g := log[i]
		if g.Op != w.op || g.ID != w.id || g.Version != w.version || g.SeqNo != w.seqNo || g.PrimaryTerm != 1 {
			t.Errorf("entry %d: want %s %s v%d seq%d pt1, got %+v", i, w.op, w.id, w.version, w.seqNo, g)
		}
		if w.versionType != "" && g.VersionType != w.versionType {
			t.Errorf("entry %d: VersionType want %q, got %q", i, w.versionType, g.VersionType)
		}
		if g.At.IsZero() {
			t.Errorf("entry %d: At is zero", i)
		}
		if i > 0 && g.SeqNo <= log[i-1].SeqNo {
			t.Errorf("entry %d: seq_no %d not after %d (apply order)", i, g.SeqNo, log[i-1].SeqNo)
		}
	}
	if n := len(e.cluster.OpLog("other")); n != 1 {
		t.Errorf("OpLog is per index: OpLog(other) want 1 entry, got %d", n)
	}
	if n := len(e.cluster.OpLog("never")); n != 0 {
		t.Errorf("OpLog of an unknown index want empty, got %d", n)
	}

	hr := e.raw(t, http.MethodGet, "/_emu/oplog/o", "")
	if wantStatus(t, hr, 200) {
		var entries []json.RawMessage
		if err := json.Unmarshal(hr.Body, &entries); err != nil {
			t.Errorf("GET /_emu/oplog/o must be a JSON array: %s", truncate(hr.Body, 300))
		} else if len(entries) != len(wants) {
			t.Errorf("GET /_emu/oplog/o has %d entries, want %d", len(entries), len(wants))
		}
	}
}
