package conformance_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

const vce = "version_conflict_engine_exception"

// step is one write of a versioning scenario and its expected outcome.
type step struct {
	op      string // index, create, delete, update
	id      string
	vtype   string // version_type ("" = internal)
	version int    // used when vtype != ""
	status  int
	result  string // success result
	wantVer int64  // expected _version on success
	reason  string // expected 409 reason on conflict
}

// run executes s through the single-document API using the client's typed requests.
func (s step) run(t testing.TB, e *emu, index string) *resp {
	t.Helper()
	var v *int
	if s.vtype != "" {
		v = ptr(s.version)
	}
	switch s.op {
	case "index":
		return e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: index, DocumentID: s.id, Body: strings.NewReader(`{"f":1}`),
			Params: opensearchapi.IndexParams{Version: v, VersionType: s.vtype}})
	case "create":
		return e.do(t, http.MethodPut, opensearchapi.DocumentCreateReq{Index: index, DocumentID: s.id, Body: strings.NewReader(`{"f":1}`)})
	case "delete":
		return e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: index, DocumentID: s.id,
			Params: opensearchapi.DocumentDeleteParams{Version: v, VersionType: s.vtype}})
	case "update":
		// The index payload is {"f":1}; this changes it so the update is never a noop.
		return e.update(t, index, s.id, `{"doc":{"f":2}}`, opensearchapi.UpdateParams{})
	}
	t.Fatalf("unknown op %q", s.op)
	return nil
}

func (s step) check(t testing.TB, r *resp) {
	t.Helper()
	if s.status == 409 {
		wantError(t, r, 409, vce, s.reason)
		wantMeta(t, r.Body, "index", "*", "error")
		wantMeta(t, r.Body, "shard", "0", "error")
		wantMeta(t, r.Body, "index_uuid", "*", "error")
		return
	}
	if !wantStatus(t, r, s.status) {
		return
	}
	if got := str(t, r.Body, "result"); got != s.result {
		t.Errorf("%s: result want %q, got %q", r.desc, s.result, got)
	}
	if got := num(t, r.Body, "_version"); got != s.wantVer {
		t.Errorf("%s: _version want %d, got %d", r.desc, s.wantVer, got)
	}
}

// TestVersioningScenarios covers §3 internal, create, external, external_gt,
// external_gte and delete-with-external-version rules with their exact 409 reasons.
func TestVersioningScenarios(t *testing.T) {
	t.Parallel()
	higherOrEqual := func(id string, cur, n int) string {
		return "[" + id + "]: version conflict, current version [" + strconv.Itoa(cur) + "] is higher or equal to the one provided [" + strconv.Itoa(n) + "]"
	}
	higher := func(id string, cur, n int) string {
		return "[" + id + "]: version conflict, current version [" + strconv.Itoa(cur) + "] is higher than the one provided [" + strconv.Itoa(n) + "]"
	}
	exists := func(id string, cur int) string {
		return "[" + id + "]: version conflict, document already exists (current version [" + strconv.Itoa(cur) + "])"
	}
	scenarios := []struct {
		name  string
		steps []step
	}{
		{"internal counting", []step{
			{op: "index", id: "1", status: 201, result: "created", wantVer: 1},
			{op: "index", id: "1", status: 200, result: "updated", wantVer: 2},
			{op: "update", id: "1", status: 200, result: "updated", wantVer: 3},
			{op: "delete", id: "1", status: 200, result: "deleted", wantVer: 4},
			{op: "index", id: "1", status: 201, result: "created", wantVer: 5},
		}},
		{"create conflicts with live doc only", []step{
			{op: "create", id: "1", status: 201, result: "created", wantVer: 1},
			{op: "create", id: "1", status: 409, reason: exists("1", 1)},
			{op: "index", id: "1", status: 200, result: "updated", wantVer: 2},
			{op: "create", id: "1", status: 409, reason: exists("1", 2)},
			{op: "delete", id: "1", status: 200, result: "deleted", wantVer: 3},
			{op: "create", id: "1", status: 201, result: "created", wantVer: 4},
		}},
		{"external", []step{
			{op: "index", id: "1", vtype: "external", version: 5, status: 201, result: "created", wantVer: 5},
			{op: "index", id: "1", vtype: "external", version: 5, status: 409, reason: higherOrEqual("1", 5, 5)},
			{op: "index", id: "1", vtype: "external", version: 4, status: 409, reason: higherOrEqual("1", 5, 4)},
			{op: "index", id: "1", vtype: "external", version: 7, status: 200, result: "updated", wantVer: 7},
			{op: "index", id: "1", status: 200, result: "updated", wantVer: 8},
		}},
		{"external version zero on absent doc", []step{
			{op: "index", id: "z", vtype: "external", version: 0, status: 201, result: "created", wantVer: 0},
		}},
		{"external_gt", []step{
			{op: "index", id: "1", vtype: "external_gt", version: 3, status: 201, result: "created", wantVer: 3},
			{op: "index", id: "1", vtype: "external_gt", version: 3, status: 409, reason: higherOrEqual("1", 3, 3)},
			{op: "index", id: "1", vtype: "external_gt", version: 10, status: 200, result: "updated", wantVer: 10},
		}},
		{"external_gte", []step{
			{op: "index", id: "1", vtype: "external_gte", version: 7, status: 201, result: "created", wantVer: 7},
			{op: "index", id: "1", vtype: "external_gte", version: 7, status: 200, result: "updated", wantVer: 7},
			{op: "index", id: "1", vtype: "external_gte", version: 6, status: 409, reason: higher("1", 7, 6)},
			{op: "index", id: "1", vtype: "external_gte", version: 9, status: 200, result: "updated", wantVer: 9},
		}},
		{"external deletes and tombstones", []step{
			{op: "index", id: "1", vtype: "external", version: 7, status: 201, result: "created", wantVer: 7},
			{op: "delete", id: "1", vtype: "external", version: 3, status: 409, reason: higherOrEqual("1", 7, 3)},
			{op: "delete", id: "1", vtype: "external", version: 7, status: 409, reason: higherOrEqual("1", 7, 7)},
			{op: "delete", id: "1", vtype: "external", version: 8, status: 200, result: "deleted", wantVer: 8},
			{op: "index", id: "1", vtype: "external", version: 8, status: 409, reason: higherOrEqual("1", 8, 8)},
			{op: "index", id: "1", vtype: "external", version: 9, status: 201, result: "created", wantVer: 9},
		}},
		{"external_gte delete equal version", []step{
			{op: "index", id: "1", vtype: "external_gte", version: 4, status: 201, result: "created", wantVer: 4},
			{op: "delete", id: "1", vtype: "external_gte", version: 3, status: 409, reason: higher("1", 4, 3)},
			{op: "delete", id: "1", vtype: "external_gte", version: 4, status: 200, result: "deleted", wantVer: 4},
			{op: "index", id: "1", vtype: "external_gte", version: 4, status: 201, result: "created", wantVer: 4},
		}},
		{"external delete of absent doc records tombstone", []step{
			{op: "delete", id: "1", vtype: "external", version: 6, status: 404, result: "not_found", wantVer: 6},
			{op: "index", id: "1", vtype: "external", version: 6, status: 409, reason: higherOrEqual("1", 6, 6)},
			{op: "index", id: "1", vtype: "external", version: 5, status: 409, reason: higherOrEqual("1", 6, 5)},
			{op: "index", id: "1", vtype: "external", version: 7, status: 201, result: "created", wantVer: 7},
		}},
		{"internal write after external tombstone", []step{
			{op: "index", id: "1", vtype: "external", version: 10, status: 201, result: "created", wantVer: 10},
			{op: "delete", id: "1", status: 200, result: "deleted", wantVer: 11},
			{op: "index", id: "1", status: 201, result: "created", wantVer: 12},
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := newEmu(t, searchemu.Options{})
			for i, s := range sc.steps {
				r := s.run(t, e, "v")
				t.Logf("step %d: %s", i, r)
				s.check(t, r)
			}
		})
	}
}

// TestVersioningInBulk runs the external/conflict rules through _bulk items, where
// conflicts are per-item 409s.
func TestVersioningInBulk(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	body := "{\"index\":{\"_index\":\"b\",\"_id\":\"1\",\"version\":5,\"version_type\":\"external\"}}\n{}\n" +
		"{\"index\":{\"_index\":\"b\",\"_id\":\"1\",\"version\":5,\"version_type\":\"external\"}}\n{}\n" +
		"{\"index\":{\"_index\":\"b\",\"_id\":\"1\",\"version\":5,\"version_type\":\"external_gte\"}}\n{}\n" +
		"{\"delete\":{\"_index\":\"b\",\"_id\":\"1\",\"version\":4,\"version_type\":\"external_gte\"}}\n" +
		"{\"delete\":{\"_index\":\"b\",\"_id\":\"1\",\"version\":6,\"version_type\":\"external\"}}\n" +
		"{\"index\":{\"_index\":\"b\",\"_id\":\"2\"}}\n{}\n"
	r := e.bulk(t, "", body, opensearchapi.BulkParams{})
	if !wantStatus(t, r, 200) {
		return
	}
	it := wantItem(t, r, 0, "index", 201, "created")
	wantSeq := func(i int, it []byte, v, seq int64) {
		t.Helper()
		if got := num(t, it, "_version"); got != v {
			t.Errorf("item %d _version want %d, got %d", i, v, got)
		}
		if got := num(t, it, "_seq_no"); got != seq {
			t.Errorf("item %d _seq_no want %d, got %d", i, seq, got)
		}
	}
	wantSeq(0, it, 5, 0)
	wantItemError(t, r, 1, "index", 409, vce, "[1]: version conflict, current version [5] is higher or equal to the one provided [5]")
	wantSeq(2, wantItem(t, r, 2, "index", 200, "updated"), 5, 1)
	wantItemError(t, r, 3, "delete", 409, vce, "[1]: version conflict, current version [5] is higher than the one provided [4]")
	wantSeq(4, wantItem(t, r, 4, "delete", 200, "deleted"), 6, 2)
	// Conflicts did not consume sequence numbers.
	wantSeq(5, wantItem(t, r, 5, "index", 201, "created"), 1, 3)
}

// TestSeqNoCAS covers §3 if_seq_no/if_primary_term for index, delete and update, through
// the single-document API and _bulk.
func TestSeqNoCAS(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.put(t, "c", "1", `{"a":1}`) // seq 0
	e.put(t, "c", "1", `{"a":2}`) // seq 1
	e.put(t, "c", "gone", `{"a":1}`)
	del := e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "c", DocumentID: "gone"})
	wantStatus(t, del, 200)

	mismatch := func(id string, s, pt, s2, pt2 int) string {
		return "[" + id + "]: version conflict, required seqNo [" + strconv.Itoa(s) + "], primary term [" + strconv.Itoa(pt) + "]. current document has seqNo [" + strconv.Itoa(s2) + "] and primary term [" + strconv.Itoa(pt2) + "]"
	}
	noDoc := func(id string, s, pt int) string {
		return "[" + id + "]: version conflict, required seqNo [" + strconv.Itoa(s) + "], primary term [" + strconv.Itoa(pt) + "]. but no document was found"
	}

	t.Run("index seq_no mismatch", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "c", DocumentID: "1", Body: strings.NewReader(`{"a":3}`),
			Params: opensearchapi.IndexParams{IfSeqNo: ptr(0), IfPrimaryTerm: ptr(1)}})
		wantError(t, r, 409, vce, mismatch("1", 0, 1, 1, 1))
	})
	t.Run("index primary term mismatch", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "c", DocumentID: "1", Body: strings.NewReader(`{"a":3}`),
			Params: opensearchapi.IndexParams{IfSeqNo: ptr(1), IfPrimaryTerm: ptr(2)}})
		wantError(t, r, 409, vce, mismatch("1", 1, 2, 1, 1))
	})
	t.Run("index absent doc", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "c", DocumentID: "nope", Body: strings.NewReader(`{"a":3}`),
			Params: opensearchapi.IndexParams{IfSeqNo: ptr(0), IfPrimaryTerm: ptr(1)}})
		wantError(t, r, 409, vce, noDoc("nope", 0, 1))
	})
	t.Run("index deleted doc", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "c", DocumentID: "gone", Body: strings.NewReader(`{"a":3}`),
			Params: opensearchapi.IndexParams{IfSeqNo: ptr(2), IfPrimaryTerm: ptr(1)}})
		wantError(t, r, 409, vce, noDoc("gone", 2, 1))
	})
	t.Run("delete mismatch", func(t *testing.T) {
		r := e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "c", DocumentID: "1",
			Params: opensearchapi.DocumentDeleteParams{IfSeqNo: ptr(5), IfPrimaryTerm: ptr(1)}})
		wantError(t, r, 409, vce, mismatch("1", 5, 1, 1, 1))
	})
	t.Run("delete absent doc", func(t *testing.T) {
		r := e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "c", DocumentID: "nope",
			Params: opensearchapi.DocumentDeleteParams{IfSeqNo: ptr(0), IfPrimaryTerm: ptr(1)}})
		wantError(t, r, 409, vce, noDoc("nope", 0, 1))
	})
	t.Run("update mismatch", func(t *testing.T) {
		r := e.update(t, "c", "1", `{"doc":{"a":9}}`, opensearchapi.UpdateParams{IfSeqNo: ptr(0), IfPrimaryTerm: ptr(1)})
		wantError(t, r, 409, vce, mismatch("1", 0, 1, 1, 1))
	})
	t.Run("update absent doc is 404", func(t *testing.T) {
		r := e.update(t, "c", "nope", `{"doc":{"a":9}}`, opensearchapi.UpdateParams{IfSeqNo: ptr(0), IfPrimaryTerm: ptr(1)})
		wantError(t, r, 404, "document_missing_exception", "[nope]: document missing")
	})
	t.Run("update payload if_seq_no mismatch", func(t *testing.T) {
		r := e.update(t, "c", "1", `{"doc":{"a":9},"if_seq_no":0,"if_primary_term":1}`, opensearchapi.UpdateParams{})
		wantError(t, r, 409, vce, mismatch("1", 0, 1, 1, 1))
	})

	// Matches run last: each applied write moves the doc's seq_no on.
	t.Run("index match", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "c", DocumentID: "1", Body: strings.NewReader(`{"a":3}`),
			Params: opensearchapi.IndexParams{IfSeqNo: ptr(1), IfPrimaryTerm: ptr(1)}})
		if wantStatus(t, r, 200) {
			// Conflicts above did not consume sequence numbers: 0,1 (doc 1), 2 (gone), 3 (delete).
			if got := num(t, r.Body, "_seq_no"); got != 4 {
				t.Errorf("_seq_no want 4, got %d", got)
			}
			if got := num(t, r.Body, "_version"); got != 3 {
				t.Errorf("_version want 3, got %d", got)
			}
		}
	})
	t.Run("update match", func(t *testing.T) {
		r := e.update(t, "c", "1", `{"doc":{"a":4}}`, opensearchapi.UpdateParams{IfSeqNo: ptr(4), IfPrimaryTerm: ptr(1)})
		if wantStatus(t, r, 200) && num(t, r.Body, "_seq_no") != 5 {
			t.Errorf("_seq_no want 5: %s", r)
		}
	})
	t.Run("bulk CAS items", func(t *testing.T) {
		body := "{\"index\":{\"_index\":\"c\",\"_id\":\"1\",\"if_seq_no\":4,\"if_primary_term\":1}}\n{}\n" +
			"{\"update\":{\"_index\":\"c\",\"_id\":\"1\",\"if_seq_no\":5,\"if_primary_term\":1}}\n{\"doc\":{\"z\":1}}\n" +
			"{\"update\":{\"_index\":\"c\",\"_id\":\"absent\",\"if_seq_no\":5,\"if_primary_term\":1}}\n{\"doc\":{\"z\":1}}\n" +
			"{\"delete\":{\"_index\":\"c\",\"_id\":\"absent\",\"if_seq_no\":5,\"if_primary_term\":1}}\n" +
			"{\"delete\":{\"_index\":\"c\",\"_id\":\"1\",\"if_seq_no\":6,\"if_primary_term\":1}}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		wantItemError(t, r, 0, "index", 409, vce, mismatch("1", 4, 1, 5, 1))
		wantItem(t, r, 1, "update", 200, "updated")
		wantItemError(t, r, 2, "update", 404, "document_missing_exception", "[absent]: document missing")
		wantItemError(t, r, 3, "delete", 409, vce, noDoc("absent", 5, 1))
		wantItem(t, r, 4, "delete", 200, "deleted")
	})
	t.Run("delete match", func(t *testing.T) {
		e.put(t, "c", "d", `{}`)
		g := e.get(t, "c", "d")
		seq := int(num(t, g.Body, "_seq_no"))
		r := e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "c", DocumentID: "d",
			Params: opensearchapi.DocumentDeleteParams{IfSeqNo: ptr(seq), IfPrimaryTerm: ptr(1)}})
		wantStatus(t, r, 200)
	})
}

// TestSeqNoConsumption covers §3 "Sequence numbers": what consumes a _seq_no.
func TestSeqNoConsumption(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "s", `{"mappings":{"properties":{"n":{"type":"long"}}}}`)

	seqOf := func(r *resp) int64 { t.Helper(); return num(t, r.Body, "_seq_no") }
	if got := seqOf(e.put(t, "s", "1", `{"n":1}`)); got != 0 {
		t.Errorf("first write _seq_no want 0, got %d", got)
	}
	// Neither conflicts, noops, validation errors nor mapping failures take a seq_no.
	wantStatus(t, e.do(t, http.MethodPut, opensearchapi.DocumentCreateReq{Index: "s", DocumentID: "1", Body: strings.NewReader(`{"n":2}`)}), 409)
	wantStatus(t, e.update(t, "s", "1", `{"doc":{"n":1}}`, opensearchapi.UpdateParams{}), 200)
	wantStatus(t, e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "s", DocumentID: "1", Body: strings.NewReader(`{}`), Params: opensearchapi.IndexParams{Version: ptr(3)}}), 400)
	wantStatus(t, e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "s", DocumentID: "2", Body: strings.NewReader(`{"n":"abc"}`)}), 400)
	wantStatus(t, e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "s", DocumentID: "1", Body: strings.NewReader(`{}`), Params: opensearchapi.IndexParams{Version: ptr(0), VersionType: "external"}}), 409)

	// A delete of a never-seen id is applied: not_found, _version 1, and a seq_no.
	r := e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "s", DocumentID: "x"})
	if wantStatus(t, r, 404) {
		wantExactBody(t, r, `{"_index":"s","_id":"x","_version":1,"result":"not_found","_shards":`+shards2+`,"_seq_no":1,"_primary_term":1}`)
	}
	// Re-indexing it inside the gc window continues from the tombstone.
	r = e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "s", DocumentID: "x", Body: strings.NewReader(`{"n":1}`)})
	if wantStatus(t, r, 201) {
		wantExactBody(t, r, `{"_index":"s","_id":"x","_version":2,"result":"created","_shards":`+shards2+`,"_seq_no":2,"_primary_term":1}`)
	}
	// seq_no is per index: a second index starts at 0.
	if got := seqOf(e.put(t, "other", "1", `{}`)); got != 0 {
		t.Errorf("new index _seq_no want 0, got %d", got)
	}
}

// TestTombstoneGC covers §3 "Tombstones / index.gc_deletes" with a fake clock.
func TestTombstoneGC(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		gc       time.Duration // Options.GCDeletes (0 = default 60s)
		settings string        // index settings body ("" = auto-create)
		advance  time.Duration
		expired  bool
	}{
		{"default window, within", 0, "", 30 * time.Second, false},
		{"default window, long after", 0, "", 10 * time.Minute, true},
		{"option window, within", time.Hour, "", 10 * time.Minute, false},
		{"option window, long after", 2 * time.Second, "", time.Minute, true},
		{"index setting overrides option (short)", time.Hour, `{"settings":{"index.gc_deletes":"10s"}}`, 5 * time.Minute, true},
		{"index setting overrides option (long)", 2 * time.Second, `{"settings":{"index.gc_deletes":"1h"}}`, 5 * time.Minute, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			e := newEmu(t, searchemu.Options{Now: clk.Now, GCDeletes: tc.gc})
			if tc.settings != "" {
				e.createIndex(t, "gc", tc.settings)
			}
			// Internal: v1, delete → tombstone v2.
			wantStatus(t, e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "gc", DocumentID: "i", Body: strings.NewReader(`{}`)}), 201)
			wantStatus(t, e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "gc", DocumentID: "i"}), 200)
			// External: v8, delete at v9 → tombstone v9.
			wantStatus(t, e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "gc", DocumentID: "x", Body: strings.NewReader(`{}`), Params: opensearchapi.IndexParams{Version: ptr(8), VersionType: "external"}}), 201)
			wantStatus(t, e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "gc", DocumentID: "x", Params: opensearchapi.DocumentDeleteParams{Version: ptr(9), VersionType: "external"}}), 200)

			clk.Advance(tc.advance)
			// Some unrelated writes give a lazy pruner its chance to run.
			for i := range 3 {
				e.put(t, "gc", "other"+strconv.Itoa(i), `{}`)
				clk.Advance(time.Second)
			}

			ri := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "gc", DocumentID: "i", Body: strings.NewReader(`{}`)})
			rx := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "gc", DocumentID: "x", Body: strings.NewReader(`{}`), Params: opensearchapi.IndexParams{Version: ptr(3), VersionType: "external"}})
			if tc.expired {
				// Treated as never seen: internal restarts at 1, any external version accepted.
				if wantStatus(t, ri, 201) && num(t, ri.Body, "_version") != 1 {
					t.Errorf("after gc expiry internal re-index _version want 1, got %d", num(t, ri.Body, "_version"))
				}
				if wantStatus(t, rx, 201) && num(t, rx.Body, "_version") != 3 {
					t.Errorf("after gc expiry external 3 want _version 3, got %d", num(t, rx.Body, "_version"))
				}
			} else {
				if wantStatus(t, ri, 201) && num(t, ri.Body, "_version") != 3 {
					t.Errorf("within gc window internal re-index _version want 3 (tombstone+1), got %d", num(t, ri.Body, "_version"))
				}
				wantError(t, rx, 409, vce, "[x]: version conflict, current version [9] is higher or equal to the one provided [3]")
			}
		})
	}
}

// TestInternalVersionRejected covers §3 "Passing version with internal type is rejected".
func TestInternalVersionRejected(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.put(t, "iv", "1", `{}`)
	const msg = "Validation Failed: 1: internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead;"
	for _, tc := range []struct {
		name string
		req  func() *resp
	}{
		{"index", func() *resp {
			return e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "iv", DocumentID: "1", Body: strings.NewReader(`{}`), Params: opensearchapi.IndexParams{Version: ptr(1)}})
		}},
		{"index explicit internal", func() *resp {
			return e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "iv", DocumentID: "1", Body: strings.NewReader(`{}`), Params: opensearchapi.IndexParams{Version: ptr(1), VersionType: "internal"}})
		}},
		{"delete", func() *resp {
			return e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "iv", DocumentID: "1", Params: opensearchapi.DocumentDeleteParams{Version: ptr(1)}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tc.req(), 400, "action_request_validation_exception", msg)
		})
	}
	if g := e.get(t, "iv", "1"); num(t, g.Body, "_version") != 1 {
		t.Errorf("rejected writes must not apply: %s", g)
	}
}
