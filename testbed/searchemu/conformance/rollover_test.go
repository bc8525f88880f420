package conformance_test

import (
	"net/http"
	"testing"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestRollover follows TransportRolloverAction (conditions evaluated against the write
// index's primaries, dry_run, conditions not met) and MetadataRolloverService
// (validate, generateRolloverIndexName, rolloverAliasToNewIndex,
// checkNoDuplicatedAliasInIndexTemplate), and RolloverResponse's fields.
func TestRollover(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	ok := func(method, path, body string) *resp { t.Helper(); return e.rawOK(t, method, path, body) }
	ok(http.MethodPut, "/logs-000001", `{"aliases":{"logs":{"is_write_index":true}}}`)
	ok(http.MethodPut, "/plain-000001", `{"aliases":{"plain":{}}}`)
	for i := 0; i < 3; i++ {
		e.put(t, "logs", string(rune('a'+i)), `{"n":1}`)
	}
	ok(http.MethodPost, "/logs-000001/_refresh", "")

	r := ok(http.MethodPost, "/logs/_rollover?dry_run=true", `{"conditions":{"max_docs":3,"max_age":"7d"}}`)
	wantExactBody(t, r, `{"acknowledged":false,"shards_acknowledged":false,"old_index":"logs-000001","new_index":"logs-000002","rolled_over":false,"dry_run":true,"conditions":{"[max_age: 7d]":false,"[max_docs: 3]":true}}`)
	r = ok(http.MethodPost, "/logs/_rollover", `{"conditions":{"max_docs":4}}`)
	wantExactBody(t, r, `{"acknowledged":false,"shards_acknowledged":false,"old_index":"logs-000001","new_index":"logs-000002","rolled_over":false,"dry_run":false,"conditions":{"[max_docs: 4]":false}}`)

	r = ok(http.MethodPost, "/logs/_rollover", `{"conditions":{"max_docs":3},"settings":{"number_of_shards":2}}`)
	wantExactBody(t, r, `{"acknowledged":true,"shards_acknowledged":true,"old_index":"logs-000001","new_index":"logs-000002","rolled_over":true,"dry_run":false,"conditions":{"[max_docs: 3]":true}}`)
	r = ok(http.MethodGet, "/_alias/logs", "")
	wantJSON(t, r.Body, `{"logs-000001":{"aliases":{"logs":{"is_write_index":false}}},"logs-000002":{"aliases":{"logs":{"is_write_index":true}}}}`)
	if got := str(t, ok(http.MethodGet, "/logs-000002", "").Body, "logs-000002", "settings", "index", "number_of_shards"); got != "2" {
		t.Errorf("new index settings: %q", got)
	}

	// without an explicit write index the alias moves
	r = ok(http.MethodPost, "/plain/_rollover/plain-next", "")
	wantExactBody(t, r, `{"acknowledged":true,"shards_acknowledged":true,"old_index":"plain-000001","new_index":"plain-next","rolled_over":true,"dry_run":false,"conditions":{}}`)
	wantJSON(t, ok(http.MethodGet, "/_alias/plain", "").Body, `{"plain-next":{"aliases":{"plain":{}}}}`)

	wantError(t, e.raw(t, http.MethodPost, "/plain/_rollover", ""), 400, "illegal_argument_exception", "index name [plain-next] does not match pattern '^.*-\\d+$'")
	wantError(t, e.raw(t, http.MethodPost, "/nope/_rollover", ""), 400, "illegal_argument_exception", "rollover target [nope] does not exist")
	wantError(t, e.raw(t, http.MethodPost, "/logs-000002/_rollover", ""), 400, "illegal_argument_exception", "rollover target is a [concrete index] but one of [alias,data_stream] was expected")
	ok(http.MethodPost, "/_aliases", `{"actions":[{"add":{"index":"logs-000001","alias":"both"}},{"add":{"index":"logs-000002","alias":"both"}}]}`)
	wantError(t, e.raw(t, http.MethodPost, "/both/_rollover", ""), 400, "illegal_argument_exception", "rollover target [both] does not point to a write index")
	wantError(t, e.raw(t, http.MethodPost, "/logs/_rollover", `{"conditions":{"max_bananas":1}}`), 400, "x_content_parse_exception", "[1:16] [conditions] unknown field [max_bananas]")

	ok(http.MethodPut, "/_template/dup", `{"index_patterns":["logs-*"],"aliases":{"logs":{}}}`)
	wantError(t, e.raw(t, http.MethodPost, "/logs/_rollover", ""), 400, "illegal_argument_exception",
		"Rollover alias [logs] can point to multiple indices, found duplicated alias [[logs]] in index template [dup]")
	ok(http.MethodPut, "/logs-000003", "")
	ok(http.MethodDelete, "/_template/dup", "")
	r = e.raw(t, http.MethodPost, "/logs/_rollover", "")
	uuid := str(t, ok(http.MethodGet, "/logs-000003/_settings", "").Body, "logs-000003", "settings", "index", "uuid")
	wantError(t, r, 400, "resource_already_exists_exception", "index [logs-000003/"+uuid+"] already exists")
}
