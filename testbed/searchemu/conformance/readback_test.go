package conformance_test

import (
	"net/http"
	"testing"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestMetadataReadBackAsPutBody checks that what the read APIs answer can be sent back as
// the body of the matching PUT, on another cluster, and reads back the same: the
// composable and component templates' entries (GetComposableIndexTemplateAction and
// GetComponentTemplateAction responses: {"index_templates":[{"name","index_template"}]}),
// a legacy template's entry (RestGetIndexTemplateAction: {"<name>":{...}}) and a
// pipeline's entry (GetPipelineResponse: {"<id>":{...}}). Then each is deleted, and the
// missing ones answer as the server does: resource_not_found_exception for the composable
// and component GETs, 404 with {} for legacy templates and pipelines, and
// IndexTemplateMissingException / "pipeline [id] is missing" for the DELETEs.
func TestMetadataReadBackAsPutBody(t *testing.T) {
	t.Parallel()
	src := newEmu(t, searchemu.Options{})
	dst := newEmu(t, searchemu.Options{})

	kinds := []struct {
		name          string
		path          string
		put           string
		entry         []any // where the PUT body sits in the GET answer
		missingStatus int
		missingGet    string // exact body, or "" for an error envelope
		missingType   string
		missingReason string
		deleteType    string
		deleteReason  string
	}{
		{
			name: "component template", path: "/_component_template/rb-c",
			put:           `{"template":{"settings":{"number_of_shards":1},"mappings":{"properties":{"a":{"type":"keyword"}}},"aliases":{"rb-x":{"is_hidden":true}}},"version":3,"_meta":{"k":"v"}}`,
			entry:         []any{"component_templates", 0, "component_template"},
			missingStatus: 404, missingType: "resource_not_found_exception", missingReason: "component template matching [rb-c] not found",
			deleteType: "index_template_missing_exception", deleteReason: "index_template [rb-c] missing",
		},
		{
			name: "composable template", path: "/_index_template/rb-t",
			put:           `{"index_patterns":["rb-logs-*"],"data_stream":{},"priority":5,"version":2,"_meta":{"a":1},"template":{"settings":{"number_of_replicas":0},"mappings":{"properties":{"m":{"type":"long"}}}}}`,
			entry:         []any{"index_templates", 0, "index_template"},
			missingStatus: 404, missingType: "resource_not_found_exception", missingReason: "index template matching [rb-t] not found",
			deleteType: "index_template_missing_exception", deleteReason: "index_template [rb-t] missing",
		},
		{
			name: "legacy template", path: "/_template/rb-l",
			put:           `{"index_patterns":["rb-leg*"],"order":1,"version":4,"settings":{"number_of_shards":1},"mappings":{"properties":{"f":{"type":"long"}}},"aliases":{"rb-la":{"filter":{"term":{"f":1}}}}}`,
			entry:         []any{"rb-l"},
			missingStatus: 404, missingGet: `{}`,
			deleteType: "index_template_missing_exception", deleteReason: "index_template [rb-l] missing",
		},
		{
			name: "ingest pipeline", path: "/_ingest/pipeline/rb-p",
			put:           `{"description":"d","version":3,"processors":[{"set":{"field":"a","value":"b"}}],"_meta":{"x":1}}`,
			entry:         []any{"rb-p"},
			missingStatus: 404, missingGet: `{}`,
			deleteType: "resource_not_found_exception", deleteReason: "pipeline [rb-p] is missing",
		},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			src.rawOK(t, http.MethodPut, k.path, k.put)
			got := src.rawOK(t, http.MethodGet, k.path, "")
			body := rawAt(t, got.Body, k.entry...)
			dst.rawOK(t, http.MethodPut, k.path, string(body))
			again := dst.rawOK(t, http.MethodGet, k.path, "")
			if !jsonEq(t, got.Body, again.Body) {
				t.Errorf("read back differs:\n source %s\n target %s", got.Body, again.Body)
			}
			// the body read back is accepted again by the source too (an update that
			// changes nothing)
			src.rawOK(t, http.MethodPut, k.path, string(body))

			wantExactBody(t, dst.rawOK(t, http.MethodDelete, k.path, ""), `{"acknowledged":true}`)
			r := dst.raw(t, http.MethodGet, k.path, "")
			if k.missingGet != "" {
				if wantStatus(t, r, k.missingStatus) {
					wantExactBody(t, r, k.missingGet)
				}
			} else {
				wantError(t, r, k.missingStatus, k.missingType, k.missingReason)
			}
			wantError(t, dst.raw(t, http.MethodDelete, k.path, ""), 404, k.deleteType, k.deleteReason)
		})
	}

	t.Run("no pipeline at all is a 404", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		for _, p := range []string{"/_ingest/pipeline", "/_ingest/pipeline/none*"} {
			r := e.raw(t, http.MethodGet, p, "")
			if wantStatus(t, r, 404) {
				wantExactBody(t, r, `{}`)
			}
		}
	})

	t.Run("data stream", func(t *testing.T) {
		// the template is what a target needs first; the stream then comes from
		// PUT _data_stream, its backing indices from the target's own generation
		dst.rawOK(t, http.MethodPut, "/_index_template/rb-t", `{"index_patterns":["rb-logs-*"],"data_stream":{}}`)
		dst.rawOK(t, http.MethodPut, "/_data_stream/rb-logs-a", "")
		r := dst.rawOK(t, http.MethodGet, "/_data_stream/rb-logs-a", "")
		wantKeys(t, r.Body, []string{"name", "timestamp_field", "indices", "generation", "status", "template"}, "data_streams", 0)
		wantJSON(t, r.Body, `".ds-rb-logs-a-000001"`, "data_streams", 0, "indices", 0, "index_name")
		dst.rawOK(t, http.MethodPost, "/rb-logs-a/_rollover", "")
		r = dst.rawOK(t, http.MethodGet, "/_data_stream/rb-logs-a", "")
		wantJSON(t, r.Body, `2`, "data_streams", 0, "generation")
		wantJSON(t, r.Body, `".ds-rb-logs-a-000002"`, "data_streams", 0, "indices", 1, "index_name")
		// the template of a stream cannot go while the stream exists
		wantError(t, dst.raw(t, http.MethodDelete, "/_index_template/rb-t", ""), 400, iae,
			"unable to remove composable templates [rb-t] as they are in use by a data streams [rb-logs-a]")
		wantExactBody(t, dst.rawOK(t, http.MethodDelete, "/_data_stream/rb-logs-a", ""), `{"acknowledged":true}`)
		for _, ix := range []string{".ds-rb-logs-a-000001", ".ds-rb-logs-a-000002"} {
			if h := dst.raw(t, http.MethodHead, "/"+ix, ""); h.Status != 404 {
				t.Errorf("backing index %s must go with its stream: HEAD -> %d", ix, h.Status)
			}
		}
		wantError(t, dst.raw(t, http.MethodGet, "/_data_stream/rb-logs-a", ""), 404, "index_not_found_exception", "no such index [rb-logs-a]")
		// OpenSearch's removeDataStream has no not-found check
		wantExactBody(t, dst.rawOK(t, http.MethodDelete, "/_data_stream/rb-logs-a", ""), `{"acknowledged":true}`)
	})
}
