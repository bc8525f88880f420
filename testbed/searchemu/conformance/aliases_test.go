package conformance_test

import (
	"net/http"
	"testing"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestAliasActions follows TransportIndicesAliasesAction (indices resolved first, removals
// expand alias wildcards among an index's aliases, AliasesNotFoundException when nothing
// is left to do, backing indices refused), MetadataIndexAliasesService.applyAliasActions
// (remove_index first, then add and remove in order, all or nothing), AliasValidator
// (name rules, one index routing value, no index of the alias's name) and
// IndexAbstraction.Alias (one write index, one is_hidden value: IllegalStateException),
// and IndicesAliasesRequest.AliasActions' parsers (must_exist is declared on the add
// parser in OpenSearch 2.x and refused there by its setter).
func TestAliasActions(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{NumberOfReplicas: -1})
	for _, n := range []string{"a1", "a2", "a3"} {
		e.createIndex(t, n, "")
	}
	ok := func(body string) {
		t.Helper()
		if r := e.raw(t, http.MethodPost, "/_aliases", body); !wantStatus(t, r, 200) {
			t.FailNow()
		}
	}
	aliasesOf := func(index string) string {
		t.Helper()
		return string(rawAt(t, e.raw(t, http.MethodGet, "/"+index+"/_alias", "").Body, index, "aliases"))
	}

	ok(`{"actions":[{"add":{"index":"a1","alias":"w","is_write_index":true}},{"add":{"index":"a2","alias":"w"}}]}`)

	for _, tc := range []struct {
		name, body  string
		status      int
		typ, reason string
	}{
		{"second write index", `{"actions":[{"add":{"index":"a2","alias":"w","is_write_index":true}}]}`,
			500, "illegal_state_exception", "alias [w] has more than one write index [a1,a2]"},
		{"two write indices at once", `{"actions":[{"add":{"index":"a3","alias":"n","is_write_index":true}},{"add":{"index":"a2","alias":"n","is_write_index":true}}]}`,
			500, "illegal_state_exception", "alias [n] has more than one write index [a2,a3]"},
		{"hidden on some indices", `{"actions":[{"add":{"index":"a1","alias":"h","is_hidden":true}},{"add":{"index":"a2","alias":"h"}}]}`,
			500, "illegal_state_exception", "alias [h] has is_hidden set to true on indices [a1] but does not have is_hidden set to true on indices [a2]; alias must have the same is_hidden setting on all indices"},
		{"alias named as an index", `{"actions":[{"add":{"index":"a1","alias":"a2"}}]}`,
			400, "invalid_alias_name_exception", "Invalid alias name [a2]: an index or data stream exists with the same name as the alias"},
		{"bad alias name", `{"actions":[{"add":{"index":"a1","alias":"x#y"}}]}`,
			400, "invalid_alias_name_exception", "Invalid alias name [x#y]: must not contain '#'"},
		{"several index routings", `{"actions":[{"add":{"index":"a1","alias":"r","index_routing":"1,2"}}]}`,
			400, "illegal_argument_exception", "alias [r] has several index routing values associated with it"},
		{"missing index", `{"actions":[{"add":{"index":"nope","alias":"x"}}]}`,
			404, "index_not_found_exception", "no such index [nope]"},
		{"nothing to remove", `{"actions":[{"remove":{"index":"a3","alias":"w"}}]}`,
			404, "aliases_not_found_exception", "aliases [w] missing"},
		{"no alias", `{"actions":[{"add":{"index":"a1"}}]}`,
			400, "illegal_argument_exception", "One of [alias] or [aliases] is required"},
		{"must_exist on add", `{"actions":[{"add":{"index":"a1","alias":"x","must_exist":true}}]}`,
			400, "x_content_parse_exception", "[1:59] [add] failed to parse field [must_exist]"},
		{"must_exist on remove", `{"actions":[{"remove":{"index":"a1","alias":"w","must_exist":true}}]}`,
			400, "x_content_parse_exception", "[1:49] [remove] unknown field [must_exist]"},
		{"routing on remove", `{"actions":[{"remove":{"index":"a1","alias":"w","routing":"1"}}]}`,
			400, "x_content_parse_exception", "[1:49] [remove] unknown field [routing]"},
	} {
		r := e.raw(t, http.MethodPost, "/_aliases", tc.body)
		wantError(t, r, tc.status, tc.typ, tc.reason)
	}
	// a refused request changes nothing, even its valid actions
	if got := aliasesOf("a3"); got != `{}` {
		t.Errorf("a3 aliases after refused requests: %s, want {}", got)
	}
	if got := aliasesOf("a1"); got != `{"w":{"is_write_index":true}}` {
		t.Errorf("a1 aliases after refused requests: %s", got)
	}

	// writes through an alias: the write index, or none when several and none is named
	r := e.raw(t, http.MethodPut, "/w/_doc/1", `{"n":1}`)
	if got := str(t, r.Body, "_index"); got != "a1" {
		t.Errorf("write through w went to %q, want the write index a1", got)
	}
	ok(`{"actions":[{"add":{"index":"a1","alias":"multi"}},{"add":{"index":"a2","alias":"multi"}}]}`)
	wantError(t, e.raw(t, http.MethodPut, "/multi/_doc/1", `{"n":1}`), 400, "illegal_argument_exception",
		"no write index is defined for alias [multi]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index")

	// a remove that finds nothing is skipped when another action does something
	ok(`{"actions":[{"remove":{"index":"a3","alias":"w"}},{"add":{"index":"a3","alias":"solo"}}]}`)
	// removals expand wildcards among the index's aliases
	ok(`{"actions":[{"remove":{"index":"a1","alias":"mu*"}}]}`)
	if got := aliasesOf("a1"); got != `{"w":{"is_write_index":true}}` {
		t.Errorf("a1 aliases after removing mu*: %s", got)
	}
	// swap: remove_index runs first, so an alias may take the removed index's name
	ok(`{"actions":[{"add":{"index":"a2","alias":"a3"}},{"remove_index":{"index":"a3"}}]}`)
	if got := aliasesOf("a2"); got != `{"a3":{},"multi":{},"w":{}}` {
		t.Errorf("a2 aliases after the swap: %s", got)
	}
	if got := keys(t, e.raw(t, http.MethodGet, "/a3/_settings", "").Body); len(got) != 1 || got[0] != "a2" {
		t.Errorf("a3 now names the alias of a2, got settings of %v", got)
	}
	// an index created with a second write index for an alias is refused too
	wantError(t, e.raw(t, http.MethodPut, "/a4", `{"aliases":{"w":{"is_write_index":true}}}`), 500, "illegal_state_exception",
		"alias [w] has more than one write index [a1,a4]")
}

// TestAliasesOnDataStreams follows TransportIndicesAliasesAction's refusal of backing
// indices (data streams and their backing indices don't support aliases).
func TestAliasesOnDataStreams(t *testing.T) {
	t.Parallel()
	e := dsEmu(t)
	if r := e.raw(t, http.MethodPut, "/_data_stream/logs-a", ""); !wantStatus(t, r, 200) {
		t.FailNow()
	}
	wantError(t, e.raw(t, http.MethodPost, "/_aliases", `{"actions":[{"add":{"index":".ds-logs-a-*","alias":"x"}}]}`), 400, "illegal_argument_exception",
		"The provided expressions [.ds-logs-a-*] match a backing index belonging to data stream [logs-a]. Data streams and their backing indices don't support aliases.")
	wantError(t, e.raw(t, http.MethodPost, "/_aliases", `{"actions":[{"add":{"index":"a1","alias":"logs-a"}}]}`), 404, "index_not_found_exception", "no such index [a1]")
	e.createIndex(t, "a1", "")
	wantError(t, e.raw(t, http.MethodPost, "/_aliases", `{"actions":[{"add":{"index":"a1","alias":"logs-a"}}]}`), 400, "invalid_alias_name_exception",
		"Invalid alias name [logs-a]: an index or data stream exists with the same name as the alias")
}
