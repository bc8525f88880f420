package searchemu

import (
	"fmt"
	"strings"
	"testing"
)

func TestBulkItems(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.must(201, "PUT", "/t/_doc/1", `{"n":1}`)
	body := strings.Join([]string{
		`{"index":{"_index":"t","_id":"2"}}`, `{"n":2}`,
		`{"create":{"_index":"t","_id":"1"}}`, `{"n":3}`,
		`{"delete":{"_index":"t","_id":"9"}}`,
		`{"update":{"_index":"t","_id":"1","_source":true}}`, `{"doc":{"m":1}}`,
		`{"update":{"_index":"t","_id":"1"}}`, `{"doc":{"m":1}}`,
		`{"update":{"_index":"t","_id":"8"}}`, `{"doc":{"m":1}}`,
		`{"index":{"_index":"t","pipeline":"p"}}`, `{}`,
		`{"index":{"_index":"t","_id":"3"}}`, `{"n":"abc"}`,
		`{"delete":{"_index":"gone","_id":"1"}}`,
		`{"index":{"_index":"t","_id":"4","op_type":"create"}}`, `{}`,
		`{"index":{"_index":"t","_id":""}}`, `{}`,
		`{"index":{"_index":"Upper","_id":"1"}}`, `{}`,
		"",
	}, "\n")
	r := h.must(200, "POST", "/_bulk?refresh=true", body)
	uuid := h.c.indices["t"].uuid
	// a pipeline was named, so ingest ran (and failed the item): BulkResponse has ingest_took
	want := `{"took":` + fmt.Sprint(jfield(t, r.body, "took")) + `,"ingest_took":` + fmt.Sprint(jfield(t, r.body, "ingest_took")) + `,"errors":true,"items":[` +
		`{"index":{"_index":"t","_id":"2","_version":1,"result":"created","forced_refresh":true,"_shards":{"total":2,"successful":1,"failed":0},"_seq_no":1,"_primary_term":1,"status":201}},` +
		`{"create":{"_index":"t","_id":"1","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[1]: version conflict, document already exists (current version [1])","index":"t","shard":"0","index_uuid":"` + uuid + `"}}},` +
		`{"delete":{"_index":"t","_id":"9","_version":1,"result":"not_found","forced_refresh":true,"_shards":{"total":2,"successful":1,"failed":0},"_seq_no":2,"_primary_term":1,"status":404}},` +
		`{"update":{"_index":"t","_id":"1","_version":2,"result":"updated","forced_refresh":true,"_shards":{"total":2,"successful":1,"failed":0},"_seq_no":3,"_primary_term":1,"get":{"_seq_no":3,"_primary_term":1,"found":true,"_source":{"n":1,"m":1}},"status":200}},` +
		`{"update":{"_index":"t","_id":"1","_version":2,"result":"noop","forced_refresh":true,"_shards":{"total":0,"successful":0,"failed":0},"_seq_no":3,"_primary_term":1,"status":200}},` +
		`{"update":{"_index":"t","_id":"8","status":404,"error":{"type":"document_missing_exception","reason":"[8]: document missing","index":"t","shard":"0","index_uuid":"` + uuid + `"}}},` +
		`{"index":{"_index":"t","_id":null,"status":400,"error":{"type":"illegal_argument_exception","reason":"pipeline with id [p] does not exist"}}},` +
		`{"index":{"_index":"t","_id":"3","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n] of type [long] in document with id '3'. Preview of field's value: 'abc'","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"abc\""}}}},` +
		`{"delete":{"_index":"gone","_id":"1","status":404,"error":{"type":"index_not_found_exception","reason":"no such index [gone]","resource.type":"index_or_alias","resource.id":"gone","index_uuid":"_na_","index":"gone"}}},` +
		`{"create":{"_index":"t","_id":"4","_version":1,"result":"created","forced_refresh":true,"_shards":{"total":2,"successful":1,"failed":0},"_seq_no":4,"_primary_term":1,"status":201}},` +
		`{"index":{"_index":"t","_id":"","status":400,"error":{"type":"illegal_argument_exception","reason":"if _id is specified it must not be empty"}}},` +
		`{"index":{"_index":"Upper","_id":"1","status":400,"error":{"type":"invalid_index_name_exception","reason":"Invalid index name [Upper], must be lowercase","index_uuid":"_na_","index":"Upper"}}}` +
		`]}`
	if r.body != want {
		t.Fatalf("bulk items\n want %s\n  got %s", want, r.body)
	}
}

func TestBulkWholeRequestErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	cases := []struct {
		name, path, body string
		status           int
		typ, reason      string
	}{
		{"no newline at end", "/_bulk", `{"index":{"_index":"t"}}` + "\n{}", 400, typeIllegalArgument, "The bulk request must be terminated by a newline [\\n]"},
		{"empty", "/_bulk", "\n", 400, typeValidation, "Validation Failed: 1: no requests added;"},
		{"no body", "/_bulk", "", 400, typeParse, "request body is required"},
		{"unknown action", "/_bulk", `{"foo":{}}` + "\n", 400, typeIllegalArgument, "Malformed action/metadata line [1], expected one of [create, delete, index, update] but found [foo]"},
		{"validation list", "/_bulk", `{"index":{}}` + "\n{}\n" + `{"delete":{"_index":"t"}}` + "\n" + `{"update":{"_index":"t","_id":"1"}}` + "\n{}\n", 400, typeValidation, "Validation Failed: 1: index is missing;2: id is missing;3: script or doc is missing;"},
		{"unknown update field", "/_bulk", `{"update":{"_index":"t","_id":"1"}}` + "\n" + `{"dac":{}}` + "\n", 400, "x_content_parse_exception", ""},
		{"bad refresh", "/_bulk?refresh=now", `{"delete":{"_index":"t","_id":"1"}}` + "\n", 400, typeIllegalArgument, "Unknown value for refresh: [now]."},
		{"index from path", "/p/_bulk", `{"index":{}}` + "\n{}\n", 200, "", ""},
	}
	for _, tc := range cases {
		r := h.do("POST", tc.path, tc.body)
		if r.status != tc.status {
			t.Errorf("%s: want %d, got %d: %s", tc.name, tc.status, r.status, r.body)
			continue
		}
		if tc.typ == "" {
			continue
		}
		if got := jfield(t, r.body, "error.type"); got != tc.typ {
			t.Errorf("%s: type want %s got %v", tc.name, tc.typ, got)
		}
		if tc.reason != "" {
			if got := jfield(t, r.body, "error.reason"); got != tc.reason {
				t.Errorf("%s: reason\n want %q\n  got %q", tc.name, tc.reason, got)
			}
		}
	}
	// nothing was applied by the rejected requests
	if ops := h.c.OpLog("t"); ops != nil {
		t.Fatalf("rejected bulks must not apply anything: %+v", ops)
	}
}

func TestBulkAutoCreateAndAliases(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{NoAutoCreate: true})
	r := h.must(200, "POST", "/_bulk", `{"index":{"_index":"x","_id":"1"}}`+"\n{}\n")
	if jfield(t, r.body, "items.0.index.error.reason") != "no such index [x] and [action.auto_create_index] is [false]" || jfield(t, r.body, "items.0.index.status") != int64(404) {
		t.Fatalf("no auto create: %s", r.body)
	}
	h.must(200, "PUT", "/real", `{"aliases":{"al":{}}}`)
	h.must(200, "PUT", "/other", `{"aliases":{"al":{}}}`)
	r = h.must(200, "POST", "/_bulk?require_alias=true", `{"index":{"_index":"real","_id":"1"}}`+"\n{}\n"+`{"index":{"_index":"al","_id":"1"}}`+"\n{}\n")
	if jfield(t, r.body, "items.0.index.error.reason") != "no such index [real] and [require_alias] request flag is [true] and [real] is not an alias" {
		t.Fatalf("require_alias: %s", r.body)
	}
	if !strings.HasPrefix(jfield(t, r.body, "items.1.index.error.reason").(string), "no write index is defined for alias [al].") {
		t.Fatalf("no write index: %s", r.body)
	}
}

func TestBulkItemRejectionsAreDeterministic(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) (string, int) {
		h := newHarness(t, Options{Seed: seed})
		h.c.SetFaults(Faults{BulkItem429Ratio: 0.5})
		var b strings.Builder
		for i := 0; i < 40; i++ {
			fmt.Fprintf(&b, "{\"index\":{\"_index\":\"t\",\"_id\":\"%d\"}}\n{}\n", i)
		}
		r := h.must(200, "POST", "/_bulk", b.String())
		var pattern strings.Builder
		for i := 0; i < 40; i++ {
			st := jfield(t, r.body, fmt.Sprintf("items.%d.index.status", i)).(int64)
			if st == 429 {
				pattern.WriteByte('x')
				if jfield(t, r.body, fmt.Sprintf("items.%d.index.error.type", i)) != "rejected_execution_exception" {
					t.Fatalf("429 item type: %s", r.body)
				}
			} else {
				pattern.WriteByte('.')
			}
		}
		return pattern.String(), len(h.c.OpLog("t"))
	}
	p1, applied := run(7)
	p2, _ := run(7)
	if p1 != p2 {
		t.Fatalf("same seed must reject the same items:\n%s\n%s", p1, p2)
	}
	if rejected := strings.Count(p1, "x"); rejected == 0 || rejected == 40 || applied != 40-rejected {
		t.Fatalf("ratio 0.5 pattern %s applied %d", p1, applied)
	}
}
