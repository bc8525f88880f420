package conformance_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestGetIndex follows RestGetIndicesAction, TransportGetIndexAction and
// GetIndexResponse.toXContent: per concrete index "aliases", "mappings", "settings" (with
// the server's index.uuid, creation_date, provided_name and version.created), then
// "data_stream" for a backing index. GetIndexRequest is a ClusterInfoRequest
// (IndicesOptions.strictExpandOpen, data streams included): a closed index named
// explicitly is answered, wildcards expand to open indices unless expand_wildcards says
// otherwise, a missing name is a 404 unless ignore_unavailable.
func TestGetIndex(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "gi-open", `{"settings":{"number_of_shards":2,"number_of_replicas":0,"refresh_interval":"3s"},"mappings":{"properties":{"k":{"type":"keyword"}}},"aliases":{"gi-alias":{"is_write_index":true}}}`)
	e.createIndex(t, "gi-closed", `{"settings":{"number_of_replicas":0}}`)
	e.rawOK(t, http.MethodPost, "/gi-closed/_close", "")

	t.Run("shape", func(t *testing.T) {
		r := e.rawOK(t, http.MethodGet, "/gi-open", "")
		wantKeys(t, r.Body, []string{"gi-open"})
		wantKeys(t, r.Body, []string{"aliases", "mappings", "settings"}, "gi-open")
		wantJSON(t, r.Body, `{"gi-alias":{"is_write_index":true}}`, "gi-open", "aliases")
		wantJSON(t, r.Body, `{"properties":{"k":{"type":"keyword"}}}`, "gi-open", "mappings")
		for _, k := range []string{"uuid", "creation_date", "provided_name", "number_of_shards", "number_of_replicas", "refresh_interval"} {
			if !has(r.Body, "gi-open", "settings", "index", k) {
				t.Errorf("settings.index.%s missing: %s", k, r.Body)
			}
		}
		if !has(r.Body, "gi-open", "settings", "index", "version", "created") {
			t.Errorf("settings.index.version.created missing: %s", r.Body)
		}
		wantJSON(t, r.Body, `"gi-open"`, "gi-open", "settings", "index", "provided_name")
		wantJSON(t, r.Body, `"2"`, "gi-open", "settings", "index", "number_of_shards")
		f := e.rawOK(t, http.MethodGet, "/gi-open?flat_settings=true", "")
		wantJSON(t, f.Body, `"3s"`, "gi-open", "settings", "index.refresh_interval")
		wantJSON(t, f.Body, string(rawAt(t, r.Body, "gi-open", "settings", "index", "uuid")), "gi-open", "settings", "index.uuid")
	})

	t.Run("closed indices", func(t *testing.T) {
		r := e.rawOK(t, http.MethodGet, "/gi-closed", "")
		wantKeys(t, r.Body, []string{"gi-closed"})
		r = e.rawOK(t, http.MethodGet, "/gi-*", "")
		wantKeys(t, r.Body, []string{"gi-open"})
		r = e.rawOK(t, http.MethodGet, "/gi-*?expand_wildcards=all", "")
		if !has(r.Body, "gi-closed") || !has(r.Body, "gi-open") {
			t.Errorf("expand_wildcards=all must include the closed index: %s", r)
		}
		r = e.rawOK(t, http.MethodGet, "/gi-*?expand_wildcards=closed", "")
		wantKeys(t, r.Body, []string{"gi-closed"})
	})

	t.Run("missing indices", func(t *testing.T) {
		wantError(t, e.raw(t, http.MethodGet, "/gi-open,gi-nope", ""), 404, "index_not_found_exception", "no such index [gi-nope]")
		r := e.rawOK(t, http.MethodGet, "/gi-open,gi-nope?ignore_unavailable=true", "")
		wantKeys(t, r.Body, []string{"gi-open"})
		r = e.rawOK(t, http.MethodGet, "/gi-nothing*", "")
		wantExactBody(t, r, `{}`)
	})

	t.Run("data stream backing indices", func(t *testing.T) {
		e.rawOK(t, http.MethodPut, "/_index_template/gi-ds", `{"index_patterns":["gi-logs*"],"data_stream":{}}`)
		e.rawOK(t, http.MethodPut, "/_data_stream/gi-logs", "")
		r := e.rawOK(t, http.MethodGet, "/gi-logs", "")
		wantKeys(t, r.Body, []string{".ds-gi-logs-000001"})
		wantKeys(t, r.Body, []string{"aliases", "mappings", "settings", "data_stream"}, ".ds-gi-logs-000001")
		wantJSON(t, r.Body, `"gi-logs"`, ".ds-gi-logs-000001", "data_stream")
		wantJSON(t, r.Body, `"true"`, ".ds-gi-logs-000001", "settings", "index", "hidden")
	})

	t.Run("read back as a create body on another cluster", func(t *testing.T) {
		// what a replicator does with the primary's answer: the private settings the
		// server sets itself (MetadataCreateIndexService refuses them explicitly) and
		// index.provided_name (no registered setting) must go
		r := e.rawOK(t, http.MethodGet, "/gi-open?flat_settings=true", "")
		var got map[string]map[string]json.RawMessage
		if err := json.Unmarshal(r.Body, &got); err != nil {
			t.Fatal(err)
		}
		var settings map[string]string
		if err := json.Unmarshal(got["gi-open"]["settings"], &settings); err != nil {
			t.Fatal(err)
		}
		other := newEmu(t, searchemu.Options{})
		body := func(s map[string]string) string {
			b, _ := json.Marshal(map[string]any{"settings": s, "mappings": got["gi-open"]["mappings"], "aliases": got["gi-open"]["aliases"]})
			return string(b)
		}
		wantError(t, other.raw(t, http.MethodPut, "/copy", body(settings)), 400, iae, unknownSetting("index.provided_name"))
		delete(settings, "index.provided_name")
		wantError(t, other.raw(t, http.MethodPut, "/copy", body(settings)), 400, "validation_exception",
			"Validation Failed: 1: private index setting [index.creation_date] can not be set explicitly;2: private index setting [index.uuid] can not be set explicitly;3: private index setting [index.version.created] can not be set explicitly;")
		for _, k := range []string{"index.uuid", "index.creation_date", "index.version.created"} {
			delete(settings, k)
		}
		other.rawOK(t, http.MethodPut, "/copy", body(settings))
		c := other.rawOK(t, http.MethodGet, "/copy", "")
		wantJSON(t, c.Body, string(got["gi-open"]["mappings"]), "copy", "mappings")
		wantJSON(t, c.Body, string(got["gi-open"]["aliases"]), "copy", "aliases")
		wantJSON(t, c.Body, `"2"`, "copy", "settings", "index", "number_of_shards")
	})
}
