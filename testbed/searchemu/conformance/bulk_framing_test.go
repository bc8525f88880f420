package conformance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

const iae = "illegal_argument_exception"

// TestBulkFramingErrors covers the §1.2 whole-request parse error table: every row, with
// the exact type, reason and 1-based line number, and proves nothing was applied.
func TestBulkFramingErrors(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})

	malformed := func(n, rest string) string { return "Malformed action/metadata line [" + n + "], " + rest }
	cases := []struct {
		name   string
		body   string
		reason string
	}{
		{"array action line", "[1]\n", malformed("1", "expected START_OBJECT but found [START_ARRAY]")},
		{"empty object action line", "{}\n", malformed("1", "expected FIELD_NAME but found [END_OBJECT]")},
		{"unknown action", "{\"foo\":{}}\n", malformed("1", "expected one of [create, delete, index, update] but found [foo]")},
		{"action value is a string", "{\"index\":\"x\"}\n", malformed("1", "expected START_OBJECT or END_OBJECT but found [VALUE_STRING]")},
		{"unknown key _type", "{\"index\":{\"_index\":\"t\",\"_type\":\"_doc\",\"_id\":\"1\"}}\n{}\n", "Action/metadata line [1] contains an unknown parameter [_type]"},
		{"unknown key _version", "{\"index\":{\"_index\":\"t\",\"_id\":\"1\",\"_version\":1}}\n{}\n", "Action/metadata line [1] contains an unknown parameter [_version]"},
		{"unknown key _routing", "{\"delete\":{\"_index\":\"t\",\"_id\":\"1\",\"_routing\":\"r\"}}\n", "Action/metadata line [1] contains an unknown parameter [_routing]"},
		{"unknown key _require_alias", "{\"index\":{\"_index\":\"t\",\"_id\":\"1\",\"_require_alias\":true}}\n{}\n", "Action/metadata line [1] contains an unknown parameter [_require_alias]"},
		{"array value", "{\"index\":{\"_index\":[\"t\"],\"_id\":\"1\"}}\n{}\n", malformed("1", "expected a simple value for field [_index] but found [START_ARRAY]")},
		{"version on update", "{\"update\":{\"_index\":\"t\",\"_id\":\"1\",\"version\":2}}\n{\"doc\":{}}\n", "Update requests do not support versioning. Please use `if_seq_no` and `if_primary_term` instead"},
		{"version_type on update", "{\"update\":{\"_index\":\"t\",\"_id\":\"1\",\"version_type\":\"external\"}}\n{\"doc\":{}}\n", "Update requests do not support versioning. Please use `if_seq_no` and `if_primary_term` instead"},
		{"no trailing newline", "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"a\":1}", "The bulk request must be terminated by a newline [\\n]"},
		{"no trailing newline after delete", "{\"delete\":{\"_index\":\"t\",\"_id\":\"1\"}}", "The bulk request must be terminated by a newline [\\n]"},
		// Line numbers count payload lines and skipped blank lines (§1.2 "N = 1-based line").
		{"line number after items", "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"a\":1}\n{\"delete\":{\"_index\":\"t\",\"_id\":\"1\"}}\n[1]\n", malformed("4", "expected START_OBJECT but found [START_ARRAY]")},
		{"line number counts blank lines", "\n\n{\"delete\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{}\n", malformed("4", "expected FIELD_NAME but found [END_OBJECT]")},
		{"unknown parameter on line 3", "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"a\":1}\n{\"index\":{\"_index\":\"t\",\"_id\":\"2\",\"_type\":\"_doc\"}}\n{}\n", "Action/metadata line [3] contains an unknown parameter [_type]"},
		{"CRLF does not hide a bad line", "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\r\n{\"a\":1}\r\n{\"foo\":{}}\r\n", malformed("3", "expected one of [create, delete, index, update] but found [foo]")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.bulk(t, "", tc.body, opensearchapi.BulkParams{})
			wantError(t, r, 400, iae, tc.reason)
		})
	}

	jsonErrors := []struct {
		name  string
		body  string
		types []string
	}{
		// Malformations sit inside the metadata object, where the server's parser reads.
		{"truncated action line", "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"\n{}\n", []string{"json_e_o_f_exception", "json_parse_exception"}},
		{"missing comma in action line", "{\"index\":{\"_index\":\"t\" \"_id\":\"1\"}}\n{}\n", []string{"json_parse_exception"}},
		{"unquoted value in action line", "{\"index\":{\"_index\":t}}\n{}\n", []string{"json_parse_exception"}},
		{"garbage in update payload", "{\"update\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"doc\":{\"a\":1}x}\n", []string{"json_parse_exception"}},
	}
	for _, tc := range jsonErrors {
		t.Run(tc.name, func(t *testing.T) {
			r := e.bulk(t, "", tc.body, opensearchapi.BulkParams{})
			if !wantStatus(t, r, 400) {
				return
			}
			checkEnvelope(t, r, 400)
			got := str(t, r.Body, "error", "type")
			ok := false
			for _, ty := range tc.types {
				ok = ok || got == ty
			}
			if !ok {
				t.Errorf("error.type want one of %v (Jackson class), got %q", tc.types, got)
			}
		})
	}

	t.Run("nothing applied after a framing error", func(t *testing.T) {
		body := "{\"index\":{\"_index\":\"applied\",\"_id\":\"1\"}}\n{\"a\":1}\n[1]\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{})
		wantStatus(t, r, 400)
		if g := e.get(t, "applied", "1"); g.Status != 404 {
			t.Errorf("item before the bad line must not be applied: %s", g)
		}
	})
}

// TestBulkFramingAccepted covers the tolerated framings of §1.2.
func TestBulkFramingAccepted(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})

	t.Run("CRLF line endings", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"crlf\",\"_id\":\"1\"}}\r\n{\"a\":1}\r\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantItem(t, r, 0, "index", 201, "created")
		}
		if src := e.source(t, "crlf", "1"); !jsonEq(t, src, []byte(`{"a":1}`)) {
			t.Errorf("source want {\"a\":1}, got %s", src)
		}
	})

	t.Run("blank lines between items", func(t *testing.T) {
		body := "\n{\"index\":{\"_index\":\"blank\",\"_id\":\"1\"}}\n{\"a\":1}\n\n\n{\"delete\":{\"_index\":\"blank\",\"_id\":\"1\"}}\n\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			if n := len(keysOfArray(t, rawAt(t, r.Body, "items"))); n != 2 {
				t.Errorf("want 2 items, got %d", n)
			}
			wantItem(t, r, 0, "index", 201, "created")
			wantItem(t, r, 1, "delete", 200, "deleted")
		}
	})

	t.Run("action line without payload at the end is dropped", func(t *testing.T) {
		body := "{\"index\":{\"_index\":\"drop\",\"_id\":\"1\"}}\n{\"a\":1}\n{\"index\":{\"_index\":\"drop\",\"_id\":\"2\"}}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			if n := len(keysOfArray(t, rawAt(t, r.Body, "items"))); n != 1 {
				t.Errorf("want 1 item, got %d (%s)", n, r)
			}
		}
		if g := e.get(t, "drop", "2"); g.Status != 404 {
			t.Errorf("dropped item must not be applied: %s", g)
		}
	})

	t.Run("empty action object with path index", func(t *testing.T) {
		r := e.bulk(t, "pathidx", "{\"index\":{}}\n{\"a\":1}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			it := wantItem(t, r, 0, "index", 201, "created")
			if got := str(t, it, "_index"); got != "pathidx" {
				t.Errorf("_index want path index pathidx, got %q", got)
			}
		}
	})

	t.Run("null metadata values are ignored", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"nulls\",\"_id\":\"1\",\"routing\":null,\"pipeline\":null,\"version\":null}}\n{\"a\":1}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantItem(t, r, 0, "index", 201, "created")
		}
	})

	t.Run("retry_on_conflict ignored outside update", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"roc\",\"_id\":\"1\",\"retry_on_conflict\":3}}\n{}\n{\"delete\":{\"_index\":\"roc\",\"_id\":\"1\",\"retry_on_conflict\":3}}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantItem(t, r, 0, "index", 201, "created")
			wantItem(t, r, 1, "delete", 200, "deleted")
		}
	})

	t.Run("accept-and-ignore params", func(t *testing.T) {
		// §1.1: timeout, wait_for_active_shards and refresh=wait_for are accepted.
		r := e.raw(t, http.MethodPost, "/_bulk?timeout=1m&wait_for_active_shards=all&refresh=wait_for", "{\"index\":{\"_index\":\"params\",\"_id\":\"1\"}}\n{}\n", "application/x-ndjson")
		if wantStatus(t, r, 200) {
			wantItem(t, r, 0, "index", 201, "created")
		}
	})

	t.Run("PUT /_bulk is accepted", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.BulkReq{Body: strings.NewReader("{\"index\":{\"_index\":\"putbulk\",\"_id\":\"1\"}}\n{}\n"), Header: ndjson()})
		if wantStatus(t, r, 200) {
			wantItem(t, r, 0, "index", 201, "created")
		}
	})
}

// TestBulkNoRequests covers §1.2 rule 6.
func TestBulkNoRequests(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	for _, tc := range []struct{ name, body string }{
		{"single blank line", "\n"},
		{"only blank lines", "\n\n\n"},
		{"dangling action line", "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.bulk(t, "", tc.body, opensearchapi.BulkParams{})
			wantError(t, r, 400, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
		})
	}
}

// TestBulkValidation covers every validation message listed in §1.2: the whole request
// fails with 400 action_request_validation_exception and nothing is applied.
func TestBulkValidation(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	long := strings.Repeat("x", 513)
	cases := []struct {
		name, body, msg string
	}{
		{"index is missing", "{\"index\":{\"_id\":\"1\"}}\n{}\n", "index is missing"},
		{"delete index is missing", "{\"delete\":{\"_id\":\"1\"}}\n", "index is missing"},
		{"id too long", "{\"index\":{\"_index\":\"v\",\"_id\":\"" + long + "\"}}\n{}\n", "id [" + long + "] is too long, must be no longer than 512 bytes but was: 513"},
		{"internal version", "{\"index\":{\"_index\":\"v\",\"_id\":\"1\",\"version\":2}}\n{}\n", "internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead"},
		{"delete internal version", "{\"delete\":{\"_index\":\"v\",\"_id\":\"1\",\"version\":2}}\n", "internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead"},
		{"external without version", "{\"index\":{\"_index\":\"v\",\"_id\":\"1\",\"version_type\":\"external\"}}\n{}\n", "illegal version value [-3] for version type [EXTERNAL]"},
		{"external negative version", "{\"index\":{\"_index\":\"v\",\"_id\":\"1\",\"version\":-1,\"version_type\":\"external\"}}\n{}\n", "illegal version value [-1] for version type [EXTERNAL]"},
		{"external_gte without version", "{\"index\":{\"_index\":\"v\",\"_id\":\"1\",\"version_type\":\"external_gte\"}}\n{}\n", "illegal version value [-3] for version type [EXTERNAL_GTE]"},
		{"create with external", "{\"create\":{\"_index\":\"v\",\"_id\":\"1\",\"version\":3,\"version_type\":\"external\"}}\n{}\n", "create operations only support internal versioning. use index instead"},
		{"create with CAS", "{\"create\":{\"_index\":\"v\",\"_id\":\"1\",\"if_seq_no\":0,\"if_primary_term\":1}}\n{}\n", "create operations do not support compare and set. use index instead"},
		{"CAS with versioning", "{\"index\":{\"_index\":\"v\",\"_id\":\"1\",\"if_seq_no\":0,\"if_primary_term\":1,\"version\":5,\"version_type\":\"external\"}}\n{}\n", "compare and write operations can not use versioning"},
		{"if_seq_no without primary term", "{\"index\":{\"_index\":\"v\",\"_id\":\"1\",\"if_seq_no\":0}}\n{}\n", "ifSeqNo is set, but primary term is [0]"},
		{"primary term without if_seq_no", "{\"index\":{\"_index\":\"v\",\"_id\":\"1\",\"if_primary_term\":1}}\n{}\n", "ifSeqNo is unassigned, but primary term is [1]"},
		{"update script or doc missing", "{\"update\":{\"_index\":\"v\",\"_id\":\"1\"}}\n{}\n", "script or doc is missing"},
		{"update both script and doc", "{\"update\":{\"_index\":\"v\",\"_id\":\"1\"}}\n{\"doc\":{\"a\":1},\"script\":{\"source\":\"ctx._source.a = 1\"}}\n", "can't provide both script and doc"},
		{"doc_as_upsert without doc", "{\"update\":{\"_index\":\"v\",\"_id\":\"1\"}}\n{\"script\":{\"source\":\"ctx._source.a = 1\"},\"doc_as_upsert\":true}\n", "doc must be specified if doc_as_upsert is enabled"},
		{"CAS with retry_on_conflict", "{\"update\":{\"_index\":\"v\",\"_id\":\"1\",\"if_seq_no\":0,\"if_primary_term\":1,\"retry_on_conflict\":3}}\n{\"doc\":{\"a\":1}}\n", "compare and write operations can not be retried"},
		{"CAS with doc_as_upsert", "{\"update\":{\"_index\":\"v\",\"_id\":\"1\",\"if_seq_no\":0,\"if_primary_term\":1}}\n{\"doc\":{\"a\":1},\"doc_as_upsert\":true}\n", "compare and write operations can not be used with upsert"},
		{"CAS with upsert", "{\"update\":{\"_index\":\"v\",\"_id\":\"1\",\"if_seq_no\":0,\"if_primary_term\":1}}\n{\"doc\":{\"a\":1},\"upsert\":{\"a\":0}}\n", "upsert requests don't support `if_seq_no` and `if_primary_term`"},
		{"CAS in update payload with retry", "{\"update\":{\"_index\":\"v\",\"_id\":\"1\",\"retry_on_conflict\":2}}\n{\"doc\":{\"a\":1},\"if_seq_no\":0,\"if_primary_term\":1}\n", "compare and write operations can not be retried"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A valid first item proves the whole request is rejected, not just the bad one.
			body := "{\"index\":{\"_index\":\"valid\",\"_id\":\"" + strings.ReplaceAll(tc.name, " ", "_") + "\"}}\n{\"ok\":true}\n" + tc.body
			r := e.bulk(t, "", body, opensearchapi.BulkParams{})
			wantError(t, r, 400, "action_request_validation_exception", "Validation Failed: 1: "+tc.msg+";")
			if g := e.get(t, "valid", strings.ReplaceAll(tc.name, " ", "_")); g.Status != 404 {
				t.Errorf("valid item of a rejected request was applied: %s", g)
			}
		})
	}

	t.Run("messages of several items are numbered", func(t *testing.T) {
		body := "{\"index\":{\"_id\":\"1\"}}\n{}\n{\"index\":{\"_index\":\"v\",\"_id\":\"2\",\"if_primary_term\":1}}\n{}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{})
		wantError(t, r, 400, "action_request_validation_exception", "Validation Failed: 1: index is missing;2: ifSeqNo is unassigned, but primary term is [1];")
	})
}

// keysOfArray returns the elements of a JSON array.
func keysOfArray(t testing.TB, raw []byte) []any {
	t.Helper()
	v, ok := canon(t, raw).([]any)
	if !ok {
		t.Fatalf("not a JSON array: %s", truncate(raw, 300))
	}
	return v
}
