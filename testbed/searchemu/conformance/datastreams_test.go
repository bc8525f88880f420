package conformance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// dsEmu is a cluster with one data stream template, logs-* with the default @timestamp
// field, and one, metrics-*, naming its own timestamp field.
func dsEmu(t *testing.T) *emu {
	t.Helper()
	e := newEmu(t, searchemu.Options{NumberOfReplicas: -1})
	for _, tc := range []struct{ name, body string }{
		{"logs-tpl", `{"index_patterns":["logs-*"],"data_stream":{},"priority":10,"template":{"settings":{"number_of_shards":2}}}`},
		{"metrics-tpl", `{"index_patterns":["metrics-*"],"data_stream":{"timestamp_field":{"name":"event.at"}},"template":{"mappings":{"properties":{"event":{"properties":{"at":{"type":"date"}}}}}}}`},
		{"plain-tpl", `{"index_patterns":["plain-*"],"template":{"settings":{"number_of_shards":1}}}`},
	} {
		if r := e.raw(t, http.MethodPut, "/_index_template/"+tc.name, tc.body); !wantStatus(t, r, 200) {
			t.FailNow()
		}
	}
	return e
}

// TestDataStreamLifecycle follows MetadataCreateDataStreamService.createDataStream
// (lookupTemplateForDataStream, the name checks, the hidden first backing index named by
// DataStream.getDefaultBackingIndexName), GetDataStreamAction.Response.DataStreamInfo's
// fields, DeleteDataStreamAction.removeDataStream (the backing indices go too; no match is
// not an error in OpenSearch 2.x) and ComposableIndexTemplate.DataStreamTemplate's
// rendering.
func TestDataStreamLifecycle(t *testing.T) {
	t.Parallel()
	e := dsEmu(t)

	r := e.raw(t, http.MethodGet, "/_index_template/metrics-tpl", "")
	wantJSON(t, r.Body, `{"timestamp_field":{"name":"event.at"}}`, "index_templates", 0, "index_template", "data_stream")
	r = e.raw(t, http.MethodGet, "/_index_template/logs-tpl", "")
	wantJSON(t, r.Body, `{"timestamp_field":{"name":"@timestamp"}}`, "index_templates", 0, "index_template", "data_stream")

	wantExactBody(t, e.raw(t, http.MethodPut, "/_data_stream/logs-app", ""), `{"acknowledged":true}`)
	wantError(t, e.raw(t, http.MethodPut, "/_data_stream/logs-app", ""), 400, "resource_already_exists_exception", "data_stream [logs-app] already exists")
	wantError(t, e.raw(t, http.MethodPut, "/_data_stream/other", ""), 400, "illegal_argument_exception", "no matching index template found for data stream [other]")
	wantError(t, e.raw(t, http.MethodPut, "/_data_stream/plain-x", ""), 400, "illegal_argument_exception", "matching index template [plain-tpl] for data stream [plain-x] has no data stream template")
	wantError(t, e.raw(t, http.MethodPut, "/_data_stream/logs-Up", ""), 400, "illegal_argument_exception", "data_stream [logs-Up] must be lowercase")
	wantError(t, e.raw(t, http.MethodPut, "/_data_stream/logs-a%23b", ""), 400, "illegal_argument_exception", "data_stream [logs-a#b] must not contain '#'")

	r = e.raw(t, http.MethodGet, "/_data_stream/logs-app", "")
	if !wantStatus(t, r, 200) {
		t.FailNow()
	}
	uuid := str(t, e.raw(t, http.MethodGet, "/.ds-logs-app-000001/_settings", "").Body, ".ds-logs-app-000001", "settings", "index", "uuid")
	wantExactBody(t, r, `{"data_streams":[{"name":"logs-app","timestamp_field":{"name":"@timestamp"},"indices":[{"index_name":".ds-logs-app-000001","index_uuid":"`+uuid+`"}],"generation":1,"status":"GREEN","template":"logs-tpl"}]}`)

	settings := e.raw(t, http.MethodGet, "/.ds-logs-app-000001/_settings", "").Body
	if got := str(t, settings, ".ds-logs-app-000001", "settings", "index", "hidden"); got != "true" {
		t.Errorf("backing index hidden = %q, want true (createDataStream sets index.hidden)", got)
	}
	if got := str(t, settings, ".ds-logs-app-000001", "settings", "index", "number_of_shards"); got != "2" {
		t.Errorf("backing index number_of_shards = %q, want the template's 2", got)
	}
	// a template that makes data streams makes nothing else
	wantError(t, e.raw(t, http.MethodPut, "/logs-direct", ""), 400, "illegal_argument_exception",
		"cannot create index with name [logs-direct], because it matches with template [logs-tpl] that creates data streams only, use create data stream api instead")

	wantError(t, e.raw(t, http.MethodGet, "/_data_stream/missing", ""), 404, "index_not_found_exception", "no such index [missing]")
	e.createIndex(t, "plain-1", "")
	wantExactBody(t, e.raw(t, http.MethodGet, "/_data_stream/plain-1", ""), `{"data_streams":[]}`)
	wantExactBody(t, e.raw(t, http.MethodPut, "/_data_stream/logs-b", ""), `{"acknowledged":true}`)
	r = e.raw(t, http.MethodGet, "/_data_stream", "")
	if n := strings.Count(string(r.Body), `"name":"logs-`); n != 2 {
		t.Errorf("GET /_data_stream lists %d streams, want 2: %s", n, r.Body)
	}
	r = e.raw(t, http.MethodGet, "/_data_stream/logs-b*", "")
	if got := str(t, r.Body, "data_streams", 0, "name"); got != "logs-b" {
		t.Errorf("wildcard get: %s", r.Body)
	}

	// index templates in use by a data stream cannot be deleted (innerRemoveIndexTemplateV2)
	wantError(t, e.raw(t, http.MethodDelete, "/_index_template/logs-tpl", ""), 400, "illegal_argument_exception",
		"unable to remove composable templates [logs-tpl] as they are in use by a data streams [logs-app, logs-b]")

	wantExactBody(t, e.raw(t, http.MethodDelete, "/_data_stream/logs-*", ""), `{"acknowledged":true}`)
	wantError(t, e.raw(t, http.MethodGet, "/.ds-logs-app-000001", ""), 404, "index_not_found_exception", "no such index [.ds-logs-app-000001]")
	wantExactBody(t, e.raw(t, http.MethodGet, "/_data_stream", ""), `{"data_streams":[]}`)
	wantExactBody(t, e.raw(t, http.MethodDelete, "/_data_stream/logs-gone", ""), `{"acknowledged":true}`)
	wantExactBody(t, e.raw(t, http.MethodDelete, "/_index_template/logs-tpl", ""), `{"acknowledged":true}`)
}

// TestDataStreamWrites follows TransportBulkAction's data stream rules (op_type create
// only, no custom routing, auto-create through AutoCreateAction when a data stream
// template matches), DataStreamFieldMapper.postParse (the single-valued timestamp), and
// IndexNameExpressionResolver resolving a data stream to its backing indices for
// searches and counts.
func TestDataStreamWrites(t *testing.T) {
	t.Parallel()
	e := dsEmu(t)

	// a create to a missing name creates the stream; the answer names the backing index
	r := e.raw(t, http.MethodPost, "/logs-web/_doc?refresh=true", `{"@timestamp":"2024-05-01T10:00:00Z","msg":"a"}`)
	if !wantStatus(t, r, 201) {
		t.FailNow()
	}
	if got := str(t, r.Body, "_index"); got != ".ds-logs-web-000001" {
		t.Errorf("_index = %q, want the backing index .ds-logs-web-000001", got)
	}
	r = e.raw(t, http.MethodPut, "/logs-web/_create/x1?refresh=true", `{"@timestamp":1714557600000,"msg":"b"}`)
	if !wantStatus(t, r, 201) {
		t.FailNow()
	}

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		typ, reason              string
	}{
		{"index op", http.MethodPut, "/logs-web/_doc/x2", `{"@timestamp":"2024-05-01T10:00:00Z"}`, 400, "illegal_argument_exception", "only write ops with an op_type of create are allowed in data streams"},
		{"delete", http.MethodDelete, "/logs-web/_doc/x1", "", 400, "illegal_argument_exception", "only write ops with an op_type of create are allowed in data streams"},
		{"update", http.MethodPost, "/logs-web/_update/x1", `{"doc":{"msg":"c"}}`, 400, "illegal_argument_exception", "only write ops with an op_type of create are allowed in data streams"},
		{"routing", http.MethodPost, "/logs-web/_doc?routing=r", `{"@timestamp":"2024-05-01T10:00:00Z"}`, 400, "illegal_argument_exception", "index request targeting data stream [logs-web] specifies a custom routing. target the backing indices directly or remove the custom routing."},
		{"no timestamp", http.MethodPost, "/logs-web/_doc", `{"msg":"x"}`, 400, "mapper_parsing_exception", "failed to parse"},
		{"two timestamps", http.MethodPost, "/logs-web/_doc", `{"@timestamp":["2024-05-01","2024-05-02"]}`, 400, "mapper_parsing_exception", "failed to parse"},
		{"not a date", http.MethodPost, "/logs-fresh/_doc", `{"@timestamp":"soon"}`, 400, "mapper_parsing_exception", "failed to parse"},
		{"own field missing", http.MethodPost, "/metrics-cpu/_doc", `{"@timestamp":"2024-05-01T10:00:00Z"}`, 400, "mapper_parsing_exception", "failed to parse"},
	} {
		r := e.raw(t, tc.method, tc.path, tc.body)
		wantError(t, r, tc.status, tc.typ, tc.reason)
		if tc.typ == "mapper_parsing_exception" {
			field := "@timestamp"
			if strings.HasPrefix(tc.path, "/metrics") {
				field = "event.at"
			}
			wantJSON(t, r.Body, `"documents must contain a single-valued timestamp field '`+field+`' of date type"`, "error", "caused_by", "reason")
		}
	}
	r = e.raw(t, http.MethodPost, "/metrics-cpu/_doc?refresh=true", `{"event":{"at":"2024-05-01T10:00:00Z"}}`)
	wantStatus(t, r, 201)

	// bulk: create goes to the write index, index is refused per item
	r = e.raw(t, http.MethodPost, "/_bulk?refresh=true", `{"create":{"_index":"logs-web"}}
{"@timestamp":"2024-05-01T11:00:00Z","msg":"c"}
{"index":{"_index":"logs-web"}}
{"@timestamp":"2024-05-01T11:00:00Z"}
`, "application/x-ndjson")
	wantItem(t, r, 0, "create", 201, "created")
	wantItemError(t, r, 1, "index", 400, "illegal_argument_exception", "only write ops with an op_type of create are allowed in data streams")

	// roll over, write to generation 2, then read everything through the stream's name
	r = e.raw(t, http.MethodPost, "/logs-web/_rollover", "")
	wantExactBody(t, r, `{"acknowledged":true,"shards_acknowledged":true,"old_index":".ds-logs-web-000001","new_index":".ds-logs-web-000002","rolled_over":true,"dry_run":false,"conditions":{}}`)
	r = e.raw(t, http.MethodPost, "/logs-web/_doc?refresh=true", `{"@timestamp":"2024-05-02T10:00:00Z","msg":"d"}`)
	if got := str(t, r.Body, "_index"); got != ".ds-logs-web-000002" {
		t.Errorf("after rollover _index = %q, want .ds-logs-web-000002", got)
	}
	if n := num(t, e.raw(t, http.MethodGet, "/logs-web/_count", "").Body, "count"); n != 4 {
		t.Errorf("count through the stream = %d, want 4", n)
	}
	if n := num(t, e.raw(t, http.MethodGet, "/logs-*/_search", "").Body, "hits", "total", "value"); n != 4 {
		t.Errorf("search logs-* = %d, want 4 (a wildcard matches the stream)", n)
	}
	if n := num(t, e.raw(t, http.MethodGet, "/_search", "").Body, "hits", "total", "value"); n != 5 {
		t.Errorf("search all = %d, want 5 (both streams' backing indices)", n)
	}
	r = e.raw(t, http.MethodGet, "/_data_stream/logs-web", "")
	if g := num(t, r.Body, "data_streams", 0, "generation"); g != 2 {
		t.Errorf("generation = %d, want 2", g)
	}
	// a direct read of a backing index works; GetRequest does not include data streams,
	// so the stream's name is excluded and nothing is left (IndexNameExpressionResolver
	// .concreteIndices with EXCLUDED_DATA_STREAMS_KEY)
	if r := e.raw(t, http.MethodGet, "/.ds-logs-web-000001/_doc/x1", ""); !wantStatus(t, r, 200) {
		t.Log(r)
	}
	r = e.raw(t, http.MethodGet, "/logs-web/_doc/x1", "")
	wantError(t, r, 404, "index_not_found_exception", "no such index [null]")
	wantMeta(t, r.Body, "excluded_ds", "true", "error")
	wantMeta(t, r.Body, "resource.type", "index_expression", "error")

	// rollover validation (MetadataRolloverService.validate)
	wantError(t, e.raw(t, http.MethodPost, "/logs-web/_rollover/other", ""), 400, "illegal_argument_exception", "new index name may not be specified when rolling over a data stream")
	wantError(t, e.raw(t, http.MethodPost, "/logs-web/_rollover", `{"settings":{"number_of_shards":1}}`), 400, "illegal_argument_exception", "aliases, mappings, and index settings may not be specified when rolling over a data stream")
	wantError(t, e.raw(t, http.MethodPost, "/logs-web/_rollover", `{"aliases":{"a":{}}}`), 400, "illegal_argument_exception", "aliases, mappings, and index settings may not be specified when rolling over a data stream")

	// MetadataDeleteIndexService: the write index stays; an older one leaves the stream
	wantError(t, e.raw(t, http.MethodDelete, "/.ds-logs-web-000002", ""), 400, "illegal_argument_exception", "index [.ds-logs-web-000002] is the write index for data stream [logs-web] and cannot be deleted")
	wantExactBody(t, e.raw(t, http.MethodDelete, "/.ds-logs-web-000001", ""), `{"acknowledged":true}`)
	r = e.raw(t, http.MethodGet, "/_data_stream/logs-web", "")
	if got := str(t, r.Body, "data_streams", 0, "indices", 0, "index_name"); got != ".ds-logs-web-000002" {
		t.Errorf("after deleting generation 1 the stream holds %s", r.Body)
	}
	if g := num(t, r.Body, "data_streams", 0, "generation"); g != 2 {
		t.Errorf("generation after removing a backing index = %d, want 2 (removeBackingIndex keeps it)", g)
	}
	r = e.raw(t, http.MethodPost, "/logs-web/_rollover", "")
	if got := str(t, r.Body, "new_index"); got != ".ds-logs-web-000003" {
		t.Errorf("rollover after removal: %s", r.Body)
	}
}

// TestDataStreamNotModelled pins what the emulator refuses rather than model loosely
// (Elasticsearch's data streams, whose template options and answers differ from
// OpenSearch's; data stream stats; a template's aliases on backing indices), and how the
// APIs that do not include data streams answer a stream's name.
func TestDataStreamNotModelled(t *testing.T) {
	t.Parallel()
	es := newEmu(t, searchemu.Options{Flavor: searchemu.Elasticsearch8})
	wantError(t, es.raw(t, http.MethodPut, "/_index_template/ds", `{"index_patterns":["logs-*"],"data_stream":{}}`), 400, "illegal_argument_exception",
		"[searchemu] data streams are modelled for the OpenSearch flavours only: index template [ds] with [data_stream] is not supported")

	e := dsEmu(t)
	wantError(t, e.raw(t, http.MethodGet, "/_data_stream/_stats", ""), 400, "illegal_argument_exception", "[searchemu] the data stream stats API is not supported")
	if r := e.raw(t, http.MethodPut, "/_index_template/aliased", `{"index_patterns":["aliased-*"],"data_stream":{},"template":{"aliases":{"all":{}}}}`); !wantStatus(t, r, 200) {
		t.FailNow()
	}
	wantError(t, e.raw(t, http.MethodPut, "/_data_stream/aliased-x", ""), 400, "illegal_argument_exception", "[searchemu] aliases in the templates of data stream [aliased-x] are not supported")
	wantError(t, e.raw(t, http.MethodPut, "/_index_template/bad", `{"index_patterns":["bad-*"],"data_stream":{"timestamp_field":"ts"}}`), 400, "illegal_argument_exception",
		"[searchemu] data_stream.timestamp_field must be an object with a non-empty string [name] and nothing else")
	if r := e.raw(t, http.MethodPut, "/_data_stream/logs-q", ""); !wantStatus(t, r, 200) {
		t.FailNow()
	}
	// requests without includeDataStreams that expand wildcards find no index of that name
	// (WildcardExpressionResolver.innerResolve)
	for _, tc := range []struct{ method, path string }{{http.MethodGet, "/logs-q/_settings"}, {http.MethodDelete, "/logs-q"}} {
		r := e.raw(t, tc.method, tc.path, "")
		wantError(t, r, 404, "index_not_found_exception", "no such index [logs-q]")
		wantMeta(t, r.Body, "resource.type", "index_or_alias", "error")
	}
	// BroadcastRequest (refresh) and ClusterInfoRequest (get index, get mapping) include
	// data streams: the stream resolves to its backing indices
	wantStatus(t, e.raw(t, http.MethodPost, "/logs-q/_refresh", ""), 200)
	for _, path := range []string{"/logs-q", "/logs-q/_mapping"} {
		r := e.raw(t, http.MethodGet, path, "")
		if got := keys(t, r.Body); len(got) != 1 || got[0] != ".ds-logs-q-000001" {
			t.Errorf("GET %s answers for %v, want the backing index: %s", path, got, r.Body)
		}
	}
}
