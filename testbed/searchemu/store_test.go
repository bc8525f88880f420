package searchemu

import (
	"strings"
	"testing"
	"time"
)

// step is one request of a versioning scenario and what it must answer.
type step struct {
	method, path, body string
	status             int
	want               string // exact body, or "" to skip
	reason             string // expected error reason, or ""
}

func runSteps(t *testing.T, h *harness, steps []step) {
	t.Helper()
	for i, s := range steps {
		r := h.do(s.method, s.path, s.body)
		if r.status != s.status {
			t.Fatalf("step %d %s %s: want %d, got %d: %s", i, s.method, s.path, s.status, r.status, r.body)
		}
		if s.want != "" && r.body != s.want {
			t.Fatalf("step %d %s %s:\n want %s\n  got %s", i, s.method, s.path, s.want, r.body)
		}
		if s.reason != "" {
			if got, _ := jfield(t, r.body, "error.reason").(string); got != s.reason {
				t.Fatalf("step %d %s %s: reason\n want %q\n  got %q", i, s.method, s.path, s.reason, got)
			}
		}
	}
}

func writeBody(id string, version int64, result string, seq int64) string {
	return `{"_index":"t","_id":"` + id + `","_version":` + itoa(version) + `,"result":"` + result + `","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":` + itoa(seq) + `,"_primary_term":1}`
}

func TestVersioning(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		steps []step
	}{
		{"internal lifecycle with tombstone", []step{
			{"PUT", "/t/_doc/1", `{"a":1}`, 201, writeBody("1", 1, "created", 0), ""},
			{"PUT", "/t/_doc/1", `{"a":2}`, 200, writeBody("1", 2, "updated", 1), ""},
			{"DELETE", "/t/_doc/1", "", 200, writeBody("1", 3, "deleted", 2), ""},
			{"DELETE", "/t/_doc/1", "", 404, writeBody("1", 4, "not_found", 3), ""},
			{"PUT", "/t/_doc/1", `{"a":3}`, 201, writeBody("1", 5, "created", 4), ""},
			{"DELETE", "/t/_doc/9", "", 404, writeBody("9", 1, "not_found", 5), ""},
			{"PUT", "/t/_doc/9", `{}`, 201, writeBody("9", 2, "created", 6), ""},
		}},
		{"create conflicts and does not consume seq_no", []step{
			{"PUT", "/t/_create/1", `{}`, 201, writeBody("1", 1, "created", 0), ""},
			{"PUT", "/t/_create/1", `{}`, 409, "", "[1]: version conflict, document already exists (current version [1])"},
			{"PUT", "/t/_doc/1?op_type=create", `{}`, 409, "", "[1]: version conflict, document already exists (current version [1])"},
			{"PUT", "/t/_doc/2", `{}`, 201, writeBody("2", 1, "created", 1), ""},
			{"PUT", "/t/_create/3?op_type=index", `{}`, 400, "", "opType must be 'create', found: [index]"},
		}},
		{"external and external_gte", []step{
			{"PUT", "/t/_doc/1?version=5&version_type=external", `{}`, 201, writeBody("1", 5, "created", 0), ""},
			{"PUT", "/t/_doc/1?version=5&version_type=external", `{}`, 409, "", "[1]: version conflict, current version [5] is higher or equal to the one provided [5]"},
			{"PUT", "/t/_doc/1?version=7&version_type=external_gt", `{}`, 200, writeBody("1", 7, "updated", 1), ""},
			{"PUT", "/t/_doc/1?version=7&version_type=external_gte", `{}`, 200, writeBody("1", 7, "updated", 2), ""},
			{"PUT", "/t/_doc/1?version=6&version_type=external_gte", `{}`, 409, "", "[1]: version conflict, current version [7] is higher than the one provided [6]"},
			{"DELETE", "/t/_doc/1?version=6&version_type=external", "", 409, "", "[1]: version conflict, current version [7] is higher or equal to the one provided [6]"},
			{"DELETE", "/t/_doc/1?version=9&version_type=external", "", 200, writeBody("1", 9, "deleted", 3), ""},
			{"PUT", "/t/_doc/1?version=9&version_type=external", `{}`, 409, "", "[1]: version conflict, current version [9] is higher or equal to the one provided [9]"},
			{"PUT", "/t/_doc/1?version=10&version_type=external", `{}`, 201, writeBody("1", 10, "created", 4), ""},
		}},
		{"if_seq_no and if_primary_term", []step{
			{"PUT", "/t/_doc/1", `{}`, 201, writeBody("1", 1, "created", 0), ""},
			{"PUT", "/t/_doc/1?if_seq_no=3&if_primary_term=1", `{}`, 409, "", "[1]: version conflict, required seqNo [3], primary term [1]. current document has seqNo [0] and primary term [1]"},
			{"PUT", "/t/_doc/2?if_seq_no=0&if_primary_term=1", `{}`, 409, "", "[2]: version conflict, required seqNo [0], primary term [1]. but no document was found"},
			{"DELETE", "/t/_doc/2?if_seq_no=0&if_primary_term=1", "", 409, "", "[2]: version conflict, required seqNo [0], primary term [1]. but no document was found"},
			{"PUT", "/t/_doc/1?if_seq_no=0&if_primary_term=1", `{}`, 200, writeBody("1", 2, "updated", 1), ""},
			{"POST", "/t/_update/3?if_seq_no=0&if_primary_term=1", `{"doc":{}}`, 404, "", "[3]: document missing"},
		}},
		{"validation", []step{
			{"PUT", "/t/_doc/1?version=2", `{}`, 400, "", "Validation Failed: 1: internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead;"},
			{"PUT", "/t/_doc/1?version_type=external", `{}`, 400, "", "Validation Failed: 1: illegal version value [-3] for version type [EXTERNAL];"},
			{"PUT", "/t/_create/1?version=2&version_type=external", `{}`, 400, "", "Validation Failed: 1: create operations only support internal versioning. use index instead;"},
			{"PUT", "/t/_doc/1?if_seq_no=1", `{}`, 400, "", "Validation Failed: 1: ifSeqNo is set, but primary term is [0];"},
			{"PUT", "/t/_doc/1?if_primary_term=1", `{}`, 400, "", "Validation Failed: 1: ifSeqNo is unassigned, but primary term is [1];"},
			{"PUT", "/t/_doc/1?if_seq_no=1&if_primary_term=1&version=3&version_type=external", `{}`, 400, "", "Validation Failed: 1: compare and write operations can not use versioning;"},
			{"PUT", "/t/_doc/" + strings.Repeat("x", 513), `{}`, 400, "", "Validation Failed: 1: id [" + strings.Repeat("x", 513) + "] is too long, must be no longer than 512 bytes but was: 513;"},
			{"PUT", "/t/_doc/1?version=x", `{}`, 400, "", "Failed to parse long parameter [version] with value [x]"},
			{"PUT", "/t/_doc/1?version_type=foo", `{}`, 400, "", "No version type match [foo]"},
		}},
		{"deletes never auto-create unless external", []step{
			{"DELETE", "/d/_doc/1", "", 404, "", "no such index [d]"},
			{"HEAD", "/d", "", 404, "", ""},
			{"DELETE", "/d/_doc/1?version=4&version_type=external", "", 404, `{"_index":"d","_id":"1","_version":4,"result":"not_found","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1}`, ""},
			{"HEAD", "/d", "", 200, "", ""},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runSteps(t, newHarness(t, Options{}), tc.steps)
		})
	}
}

func TestTombstonesExpireWithGCDeletes(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	h := newHarness(t, Options{Now: clock.Now, GCDeletes: 10 * time.Second})
	runSteps(t, h, []step{
		{"PUT", "/t/_doc/1", `{}`, 201, writeBody("1", 1, "created", 0), ""},
		{"DELETE", "/t/_doc/1", "", 200, writeBody("1", 2, "deleted", 1), ""},
	})
	clock.Advance(9 * time.Second)
	runSteps(t, h, []step{
		// inside the window: external must beat the tombstone, internal continues from it
		{"PUT", "/t/_doc/1?version=2&version_type=external", `{}`, 409, "", "[1]: version conflict, current version [2] is higher or equal to the one provided [2]"},
		{"PUT", "/t/_doc/1", `{}`, 201, writeBody("1", 3, "created", 2), ""},
		{"DELETE", "/t/_doc/1", "", 200, writeBody("1", 4, "deleted", 3), ""},
	})
	clock.Advance(10*time.Second + time.Millisecond)
	runSteps(t, h, []step{
		// expired: the id is new again
		{"PUT", "/t/_doc/1?version=1&version_type=external", `{}`, 201, writeBody("1", 1, "created", 4), ""},
		{"DELETE", "/t/_doc/1", "", 200, writeBody("1", 2, "deleted", 5), ""},
	})
	clock.Advance(11 * time.Second)
	runSteps(t, h, []step{{"PUT", "/t/_doc/1", `{}`, 201, writeBody("1", 1, "created", 6), ""}})

	// index.gc_deletes overrides the cluster default
	h.must(200, "PUT", "/g", `{"settings":{"index.gc_deletes":"1h"}}`)
	h.must(201, "PUT", "/g/_doc/1", `{}`)
	h.must(200, "DELETE", "/g/_doc/1", "")
	clock.Advance(30 * time.Minute)
	if r := h.must(201, "PUT", "/g/_doc/1", `{}`); jfield(t, r.body, "_version") != int64(3) {
		t.Fatalf("tombstone must survive inside index.gc_deletes: %s", r.body)
	}
	h.must(200, "PUT", "/g/_settings", `{"index":{"gc_deletes":"1s"}}`)
	h.must(200, "DELETE", "/g/_doc/1", "")
	clock.Advance(2 * time.Second)
	if r := h.must(201, "PUT", "/g/_doc/1", `{}`); jfield(t, r.body, "_version") != int64(1) {
		t.Fatalf("tombstone must expire after the updated index.gc_deletes: %s", r.body)
	}
}

func TestOpLog(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	h := newHarness(t, Options{Now: clock.Now})
	h.must(201, "PUT", "/t/_doc/1", `{}`)
	h.must(409, "PUT", "/t/_create/1", `{}`)
	h.must(200, "PUT", "/t/_doc/1?version=7&version_type=external_gte", `{}`)
	h.must(200, "POST", "/t/_update/1", `{"doc":{"a":1}}`)
	h.must(200, "POST", "/t/_update/1", `{"doc":{"a":1}}`) // noop: not logged
	h.must(200, "DELETE", "/t/_doc/1", "")
	h.must(404, "DELETE", "/t/_doc/2", "")
	got := h.c.OpLog("t")
	want := []OpLogEntry{
		{Op: "index", ID: "1", Version: 1, SeqNo: 0, PrimaryTerm: 1, VersionType: "internal", At: clock.Now()},
		{Op: "index", ID: "1", Version: 7, SeqNo: 1, PrimaryTerm: 1, VersionType: "external_gte", At: clock.Now()},
		{Op: "index", ID: "1", Version: 8, SeqNo: 2, PrimaryTerm: 1, VersionType: "internal", At: clock.Now()},
		{Op: "delete", ID: "1", Version: 9, SeqNo: 3, PrimaryTerm: 1, VersionType: "internal", At: clock.Now()},
		{Op: "delete", ID: "2", Version: 1, SeqNo: 4, PrimaryTerm: 1, VersionType: "internal", At: clock.Now()},
	}
	if len(got) != len(want) {
		t.Fatalf("oplog: want %d entries, got %+v", len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("oplog[%d]: want %+v, got %+v", i, want[i], got[i])
		}
	}
	r := h.must(200, "GET", "/_emu/oplog/t", "")
	if jfield(t, r.body, "3.op") != "delete" || jfield(t, r.body, "3.seq_no") != int64(3) {
		t.Errorf("GET /_emu/oplog/t: %s", r.body)
	}
	h.must(404, "GET", "/_emu/oplog/nope", "")
	if h.c.OpLog("nope") != nil {
		t.Error("OpLog of a missing index must be nil")
	}
}

func TestUpdateSemantics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.must(201, "PUT", "/u/_doc/1", `{"foo":"bar","o":{"a":1,"b":2},"n":1}`)
	r := h.must(200, "POST", "/u/_update/1?_source=true", `{"doc":{"foo":"baz","o":{"b":3,"c":4},"bar":"foo"}}`)
	want := `{"_index":"u","_id":"1","_version":2,"result":"updated","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":1,"_primary_term":1,"get":{"_seq_no":1,"_primary_term":1,"found":true,"_source":{"foo":"baz","o":{"a":1,"b":3,"c":4},"n":1,"bar":"foo"}}}`
	if r.body != want {
		t.Fatalf("update with _source:\n want %s\n  got %s", want, r.body)
	}
	// noop keeps version and seq_no, zero shards
	r = h.must(200, "POST", "/u/_update/1", `{"doc":{"foo":"baz"}}`)
	if r.body != `{"_index":"u","_id":"1","_version":2,"result":"noop","_shards":{"total":0,"successful":0,"failed":0},"_seq_no":1,"_primary_term":1}` {
		t.Fatalf("noop: %s", r.body)
	}
	// 1 and 1.0 are different Java values: an update
	r = h.must(200, "POST", "/u/_update/1", `{"doc":{"n":1.0}}`)
	if jfield(t, r.body, "result") != "updated" {
		t.Fatalf("int→double must update: %s", r.body)
	}
	// detect_noop false rewrites
	r = h.must(200, "POST", "/u/_update/1", `{"doc":{"n":1.0},"detect_noop":false}`)
	if jfield(t, r.body, "result") != "updated" || jfield(t, r.body, "_version") != int64(4) {
		t.Fatalf("detect_noop=false: %s", r.body)
	}
	// filtered get
	r = h.must(200, "POST", "/u/_update/1?_source_includes=o.a,foo", `{"doc":{"foo":"qux"}}`)
	if !strings.Contains(r.body, `"get":{"_seq_no":4,"_primary_term":1,"found":true,"_source":{"foo":"qux","o":{"a":1}}}}`) {
		t.Fatalf("filtered get: %s", r.body)
	}
	// upsert and doc_as_upsert create with the update key
	r = h.must(201, "POST", "/u/_update/2", `{"doc":{"x":1},"upsert":{"x":0}}`)
	if jfield(t, r.body, "result") != "created" || r.header.Get("Location") != "/u/_doc/2" {
		t.Fatalf("upsert: %s %v", r.body, r.header)
	}
	if got := h.must(200, "GET", "/u/_source/2", "").body; got != `{"x":0}` {
		t.Fatalf("upsert inserts the upsert body: %s", got)
	}
	h.must(201, "POST", "/u/_update/3", `{"doc":{"y":1.50},"doc_as_upsert":true}`)
	if got := h.must(200, "GET", "/u/_source/3", "").body; got != `{"y":1.5}` {
		t.Fatalf("doc_as_upsert re-encodes like Jackson: %s", got)
	}
	// missing doc, missing index auto-created first
	r = h.must(404, "POST", "/fresh/_update/1", `{"doc":{"a":1}}`)
	if jfield(t, r.body, "error.type") != "document_missing_exception" {
		t.Fatalf("document missing: %s", r.body)
	}
	h.must(200, "HEAD", "/fresh", "")
	// a script failing at run time (n is missing)
	r = h.must(400, "POST", "/u/_update/1", `{"script":{"source":"ctx._source.nope++","lang":"painless"}}`)
	if jfield(t, r.body, "error.reason") != "failed to execute script" {
		t.Fatalf("script: %s", r.body)
	}
	// a script with an upsert on a missing doc inserts the upsert without running it
	h.must(201, "POST", "/u/_update/4", `{"script":"ctx._source.n++","upsert":{"n":0}}`)
	// validation and payload errors
	runSteps(t, h, []step{
		{"POST", "/u/_update/1", `{}`, 400, "", "Validation Failed: 1: script or doc is missing;"},
		{"POST", "/u/_update/1", `{"doc":{},"script":"x"}`, 400, "", "Validation Failed: 1: can't provide both script and doc;"},
		{"POST", "/u/_update/1?version=2", `{"doc":{}}`, 400, "", "Validation Failed: 1: internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead;"},
		{"POST", "/u/_update/1?if_seq_no=1&if_primary_term=1&retry_on_conflict=2", `{"doc":{}}`, 400, "", "Validation Failed: 1: compare and write operations can not be retried;"},
	})
}
