package bulk

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// result is a comparable copy of an ItemResult.
type result struct {
	ItemResult
	Error, GetSource string
}

func copyResult(r *ItemResult) result {
	c := result{ItemResult: *r, Error: string(r.Error), GetSource: string(r.GetSource)}
	c.ItemResult.Error, c.ItemResult.GetSource = nil, nil
	return c
}

func collect(t *testing.T, body []byte) (ResponseSummary, []result) {
	t.Helper()
	var got []result
	sum, err := ParseResponse(body, func(i int, r *ItemResult) error {
		if i != len(got) {
			t.Fatalf("callback index %d, want %d", i, len(got))
		}
		got = append(got, copyResult(r))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum, got
}

func TestParseResponse(t *testing.T) {
	conflict := `{"type":"version_conflict_engine_exception","reason":"[1]: version conflict, document already exists (current version [1])","index":"t","shard":"0","index_uuid":"eZMQ7DUzT56RLaQcAjOlxg"}`
	tests := []struct {
		file string
		sum  ResponseSummary
		want []result
	}{
		{"response_mixed.json", ResponseSummary{Took: 12, Errors: true, Items: 3}, []result{
			{ItemResult: ItemResult{Action: ActionIndex, Index: "t", ID: "1", Status: 201, Result: "created", Version: 1, SeqNo: 0, PrimaryTerm: 1, HasSeqNo: true}},
			{ItemResult: ItemResult{Action: ActionDelete, Index: "t", ID: "9", Status: 404, Result: "not_found", Version: 1, SeqNo: 1, PrimaryTerm: 1, HasSeqNo: true}},
			{ItemResult: ItemResult{Action: ActionCreate, Index: "t", ID: "1", Status: 409, ErrorType: "version_conflict_engine_exception",
				ErrorReason: "[1]: version conflict, document already exists (current version [1])"}, Error: conflict},
		}},
		{"response_update_get.json", ResponseSummary{Took: 7, Items: 3}, []result{
			{ItemResult: ItemResult{Action: ActionUpdate, Index: "t", ID: "1", Status: 200, Result: "updated", Version: 2, SeqNo: 1, PrimaryTerm: 1, HasSeqNo: true, GetFound: true},
				GetSource: `{"foo":"baz","bar":"foo","n":[1,2,{"x":null}]}`},
			{ItemResult: ItemResult{Action: ActionUpdate, Index: "t", ID: "2", Status: 200, Result: "noop", Version: 1, SeqNo: 4, PrimaryTerm: 1, HasSeqNo: true, GetFound: true},
				GetSource: `{"s":"caf\u00e9 \"q\""}`},
			{ItemResult: ItemResult{Action: ActionUpdate, Index: "t", ID: "3", Status: 201, Result: "created", Version: 1, SeqNo: 5, PrimaryTerm: 1, HasSeqNo: true, GetFound: true},
				GetSource: `{}`},
		}},
		{"response_failures.json", ResponseSummary{Took: 3, Errors: true, Items: 5}, []result{
			{ItemResult: ItemResult{Action: ActionIndex, Index: "logs", Status: 400, ErrorType: "mapper_parsing_exception",
				ErrorReason: "failed to parse field [n] of type [long] in document with id 'null'. Preview of field's value: 'abc'"},
				Error: `{"type":"mapper_parsing_exception","reason":"failed to parse field [n] of type [long] in document with id 'null'. Preview of field's value: 'abc'","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"abc\""}}`},
			{ItemResult: ItemResult{Action: ActionUpdate, Index: "t", ID: "7", Status: 404, ErrorType: "document_missing_exception", ErrorReason: "[7]: document missing"},
				Error: `{"type":"document_missing_exception","reason":"[7]: document missing","index":"t","shard":"0","index_uuid":"Vx1Lm2pJQoC2tOq2v3x1Zg"}`},
			{ItemResult: ItemResult{Action: ActionIndex, Index: "t", ID: "8", Status: 429, ErrorType: "rejected_execution_exception", ErrorReason: "rejected execution of coordinating operation"},
				Error: `{"type":"rejected_execution_exception","reason":"rejected execution of coordinating operation"}`},
			{ItemResult: ItemResult{Action: ActionCreate, Index: "nope", ID: "9", Status: 404, ErrorType: "index_not_found_exception",
				ErrorReason: "no such index [nope] and [action.auto_create_index] is [false]"},
				Error: `{"type":"index_not_found_exception","reason":"no such index [nope] and [action.auto_create_index] is [false]","index":"nope","index_uuid":"_na_"}`},
			{ItemResult: ItemResult{Action: ActionIndex, Index: "t", Status: 400, ErrorType: "illegal_argument_exception", ErrorReason: "if _id is specified it must not be empty"},
				Error: `{"type":"illegal_argument_exception","reason":"if _id is specified it must not be empty"}`},
		}},
		{"response_es7.json", ResponseSummary{Took: 30, Errors: true, Items: 3}, []result{
			{ItemResult: ItemResult{Action: ActionIndex, Index: "t", ID: "1", Status: 200, Result: "updated", Version: 3, SeqNo: 6, PrimaryTerm: 2, HasSeqNo: true}},
			{ItemResult: ItemResult{Action: ActionUpdate, Index: "t", ID: "2", Status: 404, ErrorType: "document_missing_exception", ErrorReason: "[_doc][2]: document missing"},
				Error: `{"type":"document_missing_exception","reason":"[_doc][2]: document missing","index_uuid":"aAsFqTI0Tc2W0LCWgPNrOA","shard":"0","index":"t"}`},
			{ItemResult: ItemResult{Action: ActionIndex, Index: "t", ID: "3", Status: 429, ErrorType: "es_rejected_execution_exception",
				ErrorReason: "rejected execution of processing of [1][indices:data/write/bulk[s][p]]"},
				Error: `{"type":"es_rejected_execution_exception","reason":"rejected execution of processing of [1][indices:data/write/bulk[s][p]]"}`},
		}},
		{"response_pretty.json", ResponseSummary{Took: 30, Items: 2}, []result{
			{ItemResult: ItemResult{Action: ActionDelete, Index: "mock-index", ID: "5", Status: 200, Result: "deleted", Version: 2, PrimaryTerm: 1, HasSeqNo: true}},
			{ItemResult: ItemResult{Action: ActionUpdate, Index: "mock-index", ID: "6", Result: "updated", Version: 2, PrimaryTerm: 1, HasSeqNo: true, GetFound: true},
				GetSource: "{\n            \"title\" : \"x\"\n          }"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readTestdata(t, tt.file)
			sum, got := collect(t, body)
			if sum != tt.sum {
				t.Errorf("summary %+v, want %+v", sum, tt.sum)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d items, want %d", len(got), len(tt.want))
			}
			for i := range got {
				g := got[i]
				span, srcSpan := g.GetSpan, g.GetSourceSpan
				g.GetSpan, g.GetSourceSpan = [2]int{}, [2]int{}
				if !reflect.DeepEqual(g, tt.want[i]) {
					t.Errorf("item %d:\n got %+v\nwant %+v", i, g, tt.want[i])
				}
				checkGetSpan(t, body, span, g.GetSource != "")
				if g.GetSource != "" && string(body[srcSpan[0]:srcSpan[1]]) != g.GetSource {
					t.Errorf("item %d: GetSourceSpan %v locates %q, not get._source", i, srcSpan, body[srcSpan[0]:srcSpan[1]])
				}
			}
		})
	}
}

// checkGetSpan verifies that cutting the span removes exactly the "get" member and leaves
// valid JSON.
func checkGetSpan(t *testing.T, body []byte, span [2]int, hasGet bool) {
	t.Helper()
	if !hasGet {
		if span != [2]int{} {
			t.Errorf("GetSpan %v without a get", span)
		}
		return
	}
	cut := append(append([]byte(nil), body[:span[0]]...), body[span[1]:]...)
	if !json.Valid(cut) {
		t.Fatalf("cutting %v leaves invalid JSON: %s", span, cut)
	}
	if bytes.Contains(cut, []byte(`"get"`)) && !bytes.Contains(body[span[0]:span[1]], []byte(`"get"`)) {
		t.Errorf("span %v = %q does not hold the get member", span, body[span[0]:span[1]])
	}
	removed := strings.TrimSpace(string(body[span[0]:span[1]]))
	if !strings.HasPrefix(strings.TrimLeft(removed, ", \n"), `"get"`) || strings.Count(removed, ",") < 1 && !strings.HasSuffix(removed, "}") {
		t.Errorf("span %v = %q", span, removed)
	}
}

func TestGetSpanPositions(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"followed by a member", `{"a":1,"get":{"found":true},"status":200}`, `{"a":1,"status":200}`},
		{"last member", `{"a":1, "get" : {"found":true} }`, `{"a":1 }`},
		{"only member", `{ "get":{"found":true}}`, `{ }`},
		{"first member", `{"get":{},"a":1}`, `{"a":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r ItemResult
			if err := ParseWriteResponse([]byte(tt.body), 200, ActionUpdate, &r); err != nil {
				t.Fatal(err)
			}
			got := tt.body[:r.GetSpan[0]] + tt.body[r.GetSpan[1]:]
			if got != tt.want {
				t.Errorf("cut %v gives %q, want %q", r.GetSpan, got, tt.want)
			}
			// The same object as a bulk item: offsets are in the whole body.
			body := `{"took":1,"errors":false,"items":[{"update":` + tt.body + `}]}`
			_, err := ParseResponse([]byte(body), func(_ int, r *ItemResult) error {
				cut := body[:r.GetSpan[0]] + body[r.GetSpan[1]:]
				if want := `{"took":1,"errors":false,"items":[{"update":` + tt.want + `}]}`; cut != want {
					t.Errorf("bulk cut %v gives %q, want %q", r.GetSpan, cut, want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseWriteResponse(t *testing.T) {
	tests := []struct {
		file   string
		status int
		op     Action
		want   result
	}{
		{"write_update_get.json", 200, ActionUpdate, result{ItemResult: ItemResult{Action: ActionUpdate, Index: "t", ID: "1", Status: 200,
			Result: "updated", Version: 2, SeqNo: 1, PrimaryTerm: 1, HasSeqNo: true, GetFound: true}, GetSource: `{"foo":"baz","bar":"foo"}`}},
		{"write_index_es7.json", 201, ActionIndex, result{ItemResult: ItemResult{Action: ActionIndex, Index: "t", ID: "1", Status: 201,
			Result: "created", Version: 1, PrimaryTerm: 1, HasSeqNo: true}}},
		{"write_conflict.json", 409, ActionIndex, result{ItemResult: ItemResult{Action: ActionIndex, Status: 409,
			ErrorType: "version_conflict_engine_exception", ErrorReason: "[1]: version conflict, current version [2] is different than the one provided [1]"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readTestdata(t, tt.file)
			var r ItemResult
			r.ID = "stale" // ParseWriteResponse resets r
			if err := ParseWriteResponse(body, tt.status, tt.op, &r); err != nil {
				t.Fatal(err)
			}
			got := copyResult(&r)
			span, srcSpan := got.GetSpan, got.GetSourceSpan
			got.GetSpan, got.GetSourceSpan = [2]int{}, [2]int{}
			if got.GetSource != "" && string(body[srcSpan[0]:srcSpan[1]]) != got.GetSource {
				t.Errorf("GetSourceSpan %v locates %q, not get._source", srcSpan, body[srcSpan[0]:srcSpan[1]])
			}
			if tt.want.Error == "" && got.Error != "" {
				if !json.Valid([]byte(got.Error)) || !strings.Contains(got.Error, `"root_cause"`) {
					t.Errorf("raw error %s", got.Error)
				}
				got.Error = ""
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
			checkGetSpan(t, body, span, got.GetSource != "")
		})
	}

	t.Run("simple error envelope", func(t *testing.T) {
		var r ItemResult
		if err := ParseWriteResponse([]byte(`{"error":"Content-Type header is missing","status":406}`), 406, ActionIndex, &r); err != nil {
			t.Fatal(err)
		}
		if r.ErrorReason != "Content-Type header is missing" || string(r.Error) != `"Content-Type header is missing"` || r.Status != 406 {
			t.Errorf("got %+v", r)
		}
	})
}

func TestParseResponseEnvelope(t *testing.T) {
	sum, err := ParseResponse(readTestdata(t, "error_envelope.json"), func(int, *ItemResult) error {
		t.Fatal("callback called")
		return nil
	})
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 || e.Type != typeIllegalArgument ||
		e.Reason != "The bulk request must be terminated by a newline [\\n]" || sum.Items != 0 {
		t.Fatalf("got %+v, %v", sum, err)
	}
}

func TestParseResponseCallbackError(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	_, err := ParseResponse(readTestdata(t, "response_mixed.json"), func(i int, _ *ItemResult) error {
		calls++
		if i == 1 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Fatalf("got %v after %d calls, want the callback's error as is after 2", err, calls)
	}
}

func TestParseResponseRejects(t *testing.T) {
	valid := readTestdata(t, "response_update_get.json")
	// Every proper prefix of a valid body is truncated and must be rejected.
	for n := range len(valid) - 1 {
		if _, err := ParseResponse(valid[:n], func(int, *ItemResult) error { return nil }); err == nil {
			t.Fatalf("prefix of %d bytes accepted: %s", n, valid[:n])
		}
	}
	tests := []struct{ name, body string }{
		{"empty", ``},
		{"not an object", `[]`},
		{"trailing data", `{"items":[]} {}`},
		{"items not an array", `{"items":{}}`},
		{"duplicate items", `{"items":[],"items":[]}`},
		{"item without action", `{"items":[{"foo":{}}]}`},
		{"item with two actions", `{"items":[{"index":{},"create":{}}]}`},
		{"action not an object", `{"items":[{"index":1}]}`},
		{"trailing comma", `{"items":[{"index":{"status":200,}}]}`},
		{"bad status", `{"items":[{"index":{"status":"200"}}]}`},
		{"float version", `{"items":[{"index":{"_version":1.5}}]}`},
		{"huge status", `{"items":[{"index":{"status":99999999999999999999}}]}`},
		{"bad literal", `{"items":[{"index":{"forced_refresh":tru}}]}`},
		{"bad escape in skipped value", `{"items":[{"index":{"x":"\q"}}]}`},
		{"control char", "{\"items\":[{\"index\":{\"x\":\"a\tb\"}}]}"},
		{"unclosed nested", `{"items":[{"index":{"_shards":{"total":[1}}}]}`},
		{"too deep", `{"x":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseResponse([]byte(tt.body), func(int, *ItemResult) error { return nil }); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	var r ItemResult
	if err := ParseWriteResponse([]byte(`{"_id":"1"} x`), 200, ActionIndex, &r); err == nil {
		t.Error("write response with trailing data accepted")
	}
}

// TestParseResponseAllocations pins the per-item cost: one allocation for the _id.
func TestParseResponseAllocations(t *testing.T) {
	body := benchResponse(100)
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := ParseResponse(body, func(int, *ItemResult) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 100+2 {
		t.Errorf("%.0f allocations for 100 items", allocs)
	}
}
