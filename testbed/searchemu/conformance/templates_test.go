package conformance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestComposableTemplates follows MetadataIndexTemplateService (putIndexTemplateV2,
// validateV2TemplateRequest, addIndexTemplateV2, validate, findConflictingV2Templates,
// innerRemoveIndexTemplateV2), ComposableIndexTemplate.PARSER/toXContent, Template's and
// TransportGetComposableIndexTemplateAction.
func TestComposableTemplates(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	ok := func(method, path, body string) *resp { t.Helper(); return e.rawOK(t, method, path, body) }

	ok(http.MethodPut, "/_component_template/ct-settings", `{"template":{"settings":{"number_of_shards":2,"index.refresh_interval":"5s"}}}`)
	ok(http.MethodPut, "/_component_template/ct-map", `{"template":{"mappings":{"properties":{"ts":{"type":"date"},"host":{"properties":{"name":{"type":"keyword"}}}}}},"version":3,"_meta":{"owner":"ops"}}`)
	r := ok(http.MethodPut, "/_index_template/logs", `{"index_patterns":["logs-*"],"priority":10,"composed_of":["ct-settings","ct-map"],
		"template":{"settings":{"index":{"number_of_replicas":0}},"mappings":{"properties":{"host":{"properties":{"ip":{"type":"ip"}}}}},"aliases":{"all-logs":{}}},"version":7}`)
	wantExactBody(t, r, `{"acknowledged":true}`)

	t.Run("GET renders what was stored", func(t *testing.T) {
		r := ok(http.MethodGet, "/_index_template/logs", "")
		wantJSON(t, r.Body, `{"index_templates":[{"name":"logs","index_template":{"index_patterns":["logs-*"],
			"template":{"settings":{"index":{"number_of_replicas":"0"}},"mappings":{"properties":{"host":{"properties":{"ip":{"type":"ip"}}}}},"aliases":{"all-logs":{}}},
			"composed_of":["ct-settings","ct-map"],"priority":10,"version":7}}]}`)
		r = ok(http.MethodGet, "/_component_template/ct-map", "")
		wantJSON(t, r.Body, `{"component_templates":[{"name":"ct-map","component_template":{"template":{"mappings":{"properties":{"ts":{"type":"date"},"host":{"properties":{"name":{"type":"keyword"}}}}}},"version":3,"_meta":{"owner":"ops"}}}]}`)
		// composed_of is rendered only when given or with a template section (ComposableIndexTemplate.toXContent)
		ok(http.MethodPut, "/_index_template/bare", `{"index_patterns":"bare-*"}`)
		r = ok(http.MethodGet, "/_index_template/bare", "")
		wantJSON(t, r.Body, `{"index_templates":[{"name":"bare","index_template":{"index_patterns":["bare-*"]}}]}`)
		r = ok(http.MethodGet, "/_index_template/ba*", "")
		if !strings.Contains(string(r.Body), `"name":"bare"`) || strings.Contains(string(r.Body), `"name":"logs"`) {
			t.Errorf("wildcard GET: %s", r)
		}
		wantError(t, e.raw(t, http.MethodGet, "/_index_template/nope", ""), 404, "resource_not_found_exception", "index template matching [nope] not found")
		if r := e.raw(t, http.MethodHead, "/_index_template/logs", ""); r.Status != 200 {
			t.Errorf("HEAD existing: %s", r)
		}
		if r := e.raw(t, http.MethodHead, "/_index_template/nope", ""); r.Status != 404 {
			t.Errorf("HEAD missing: %s", r)
		}
	})

	t.Run("an index created by a write is composed from the templates", func(t *testing.T) {
		e.put(t, "logs-a", "1", `{"ts":"2026-12-02T00:00:00Z","host":{"name":"h1","ip":"10.0.0.1"}}`)
		r := ok(http.MethodGet, "/logs-a", "")
		if got := str(t, r.Body, "logs-a", "settings", "index", "number_of_shards"); got != "2" {
			t.Errorf("shards from the component template: %q", got)
		}
		if got := str(t, r.Body, "logs-a", "settings", "index", "refresh_interval"); got != "5s" {
			t.Errorf("refresh_interval from the component template: %q", got)
		}
		if got := str(t, r.Body, "logs-a", "settings", "index", "number_of_replicas"); got != "0" {
			t.Errorf("replicas from the index template: %q", got)
		}
		wantJSON(t, r.Body, `{"all-logs":{}}`, "logs-a", "aliases")
		wantJSON(t, r.Body, `{"type":"date"}`, "logs-a", "mappings", "properties", "ts")
		wantJSON(t, r.Body, `{"name":{"type":"keyword"},"ip":{"type":"ip"}}`, "logs-a", "mappings", "properties", "host", "properties")
	})

	t.Run("the create request wins over the templates", func(t *testing.T) {
		ok(http.MethodPut, "/logs-b", `{"settings":{"number_of_shards":3},"mappings":{"properties":{"ts":{"type":"keyword"}}},"aliases":{"b-only":{}}}`)
		r := ok(http.MethodGet, "/logs-b", "")
		if got := str(t, r.Body, "logs-b", "settings", "index", "number_of_shards"); got != "3" {
			t.Errorf("request shards: %q", got)
		}
		// MergeReason.INDEX_TEMPLATE: a later leaf definition replaces an earlier one
		wantJSON(t, r.Body, `{"type":"keyword"}`, "logs-b", "mappings", "properties", "ts")
		wantJSON(t, r.Body, `{"all-logs":{},"b-only":{}}`, "logs-b", "aliases")
	})

	t.Run("validation", func(t *testing.T) {
		wantError(t, e.raw(t, http.MethodPut, "/_index_template/clash", `{"index_patterns":["logs-x*","other"],"priority":10}`), 400, "illegal_argument_exception",
			"index template [clash] has index patterns [logs-x*, other] matching patterns from existing templates [logs] with patterns (logs => [logs-*]) that have the same priority [10], multiple index templates may not match during index creation, please use a different priority")
		ok(http.MethodPut, "/_index_template/more-specific", `{"index_patterns":["logs-x*"],"priority":20}`)
		wantError(t, e.raw(t, http.MethodPut, "/_index_template/missing", `{"index_patterns":["m-*"],"composed_of":["nope","gone"]}`), 400, "invalid_index_template_exception",
			"index_template [missing] invalid, cause [index template [missing] specifies component templates [nope, gone] that do not exist]")
		wantError(t, e.raw(t, http.MethodPut, "/_index_template/logs?create=true", `{"index_patterns":["logs-*"],"priority":10}`), 400, "illegal_argument_exception",
			"index template [logs] already exists")
		wantError(t, e.raw(t, http.MethodPut, "/_index_template/Bad", `{"index_patterns":["_x","a b"]}`), 400, "invalid_index_template_exception",
			"index_template [Bad] invalid, cause [Validation Failed: 1: name must be lower cased;2: index_pattern [_x] must not start with '_';3: index_patterns [a b] must not contain a space;4: index_pattern [a b] must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?];]")
		wantError(t, e.raw(t, http.MethodPut, "/_index_template/nopat", `{"priority":1}`), 400, "illegal_argument_exception", "Required [index_patterns]")
		wantError(t, e.raw(t, http.MethodPut, "/_index_template/unk", `{"index_patterns":["u"],"foo":1}`), 400, "x_content_parse_exception", "[1:25] [index_template] unknown field [foo]")
		wantError(t, e.raw(t, http.MethodPut, "/_index_template/self", `{"index_patterns":["self-*","self"],"template":{"aliases":{"self":{}}}}`), 400, "illegal_argument_exception",
			"alias [self] cannot be the same as any pattern in [self-*, self]")
		// the composition must make a valid mapping (validateCompositeTemplate)
		ok(http.MethodPut, "/_component_template/ct-leaf", `{"template":{"mappings":{"properties":{"host":{"type":"keyword"}}}}}`)
		r := e.raw(t, http.MethodPut, "/_index_template/conflict", `{"index_patterns":["conflict-*"],"composed_of":["ct-map","ct-leaf"]}`)
		wantError(t, r, 400, "illegal_argument_exception", "composable template [conflict] template after composition with component templates [ct-map, ct-leaf] is invalid")
		if str(t, r.Body, "error", "caused_by", "reason") != "invalid composite mappings for [conflict]" {
			t.Errorf("cause: %s", r)
		}
	})

	t.Run("delete", func(t *testing.T) {
		wantError(t, e.raw(t, http.MethodDelete, "/_component_template/ct-map", ""), 400, "illegal_argument_exception",
			"component templates [ct-map] cannot be removed as they are still in use by index templates [logs]")
		wantError(t, e.raw(t, http.MethodDelete, "/_index_template/nope", ""), 404, "index_template_missing_exception", "index_template [nope] missing")
		ok(http.MethodDelete, "/_index_template/logs", "")
		ok(http.MethodDelete, "/_component_template/ct-*", "")
		wantError(t, e.raw(t, http.MethodGet, "/_component_template/ct-map", ""), 404, "resource_not_found_exception", "component template matching [ct-map] not found")
		ok(http.MethodDelete, "/_index_template/*", "")
		ok(http.MethodDelete, "/_index_template/*", "") // a match-all pattern matching nothing is fine
		r := ok(http.MethodGet, "/_index_template", "")
		wantExactBody(t, r, `{"index_templates":[]}`)
	})
}

// TestLegacyTemplates follows RestPutIndexTemplateAction, PutIndexTemplateRequest.source
// and validate, MetadataIndexTemplateService.putTemplate/innerPutTemplate/findV1Templates/
// resolveSettings, MetadataCreateIndexService.applyCreateIndexRequestWithV1Templates and
// IndexTemplateMetadata's rendering.
func TestLegacyTemplates(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	ok := func(method, path, body string) *resp { t.Helper(); return e.rawOK(t, method, path, body) }
	ok(http.MethodPut, "/_template/base", `{"index_patterns":["app-*"],"order":0,"settings":{"number_of_shards":1,"refresh_interval":"1s"},"mappings":{"properties":{"a":{"type":"keyword"},"o":{"properties":{"x":{"type":"long"}}}}},"aliases":{"apps":{}}}`)
	ok(http.MethodPut, "/_template/special?order=5", `{"index_patterns":"app-special-*","settings":{"number_of_shards":4},"mappings":{"properties":{"a":{"type":"text"},"o":{"properties":{"y":{"type":"long"}}}}},"version":2}`)

	r := ok(http.MethodGet, "/_template/special", "")
	wantJSON(t, r.Body, `{"special":{"order":5,"version":2,"index_patterns":["app-special-*"],"settings":{"index":{"number_of_shards":"4"}},"mappings":{"properties":{"a":{"type":"text"},"o":{"properties":{"y":{"type":"long"}}}}},"aliases":{}}}`)
	if r := e.raw(t, http.MethodGet, "/_template/nothing*", ""); r.Status != 404 || string(r.Body) != "{}" {
		t.Errorf("GET of a pattern matching nothing: %s", r)
	}

	// The highest order's settings win; mappings of lower orders are merged in as
	// defaults under the higher ones'.
	e.put(t, "app-special-1", "1", `{"a":"x"}`)
	r = ok(http.MethodGet, "/app-special-1", "")
	if got := str(t, r.Body, "app-special-1", "settings", "index", "number_of_shards"); got != "4" {
		t.Errorf("shards: %q", got)
	}
	if got := str(t, r.Body, "app-special-1", "settings", "index", "refresh_interval"); got != "1s" {
		t.Errorf("refresh_interval from the lower order: %q", got)
	}
	wantJSON(t, r.Body, `{"type":"text"}`, "app-special-1", "mappings", "properties", "a")
	wantJSON(t, r.Body, `{"x":{"type":"long"},"y":{"type":"long"}}`, "app-special-1", "mappings", "properties", "o", "properties")
	wantJSON(t, r.Body, `{"apps":{}}`, "app-special-1", "aliases")

	// A composable template matching the name wins over every legacy one.
	r = ok(http.MethodPut, "/_index_template/v2", `{"index_patterns":["app-special-2*"],"template":{"settings":{"number_of_shards":6}}}`)
	if w := r.Header.Get("Warning"); !strings.Contains(w, "index template [v2] has index patterns [app-special-2*] matching patterns from existing older templates [base,special]") {
		t.Errorf("warning: %q", w)
	}
	ok(http.MethodPut, "/app-special-2", "")
	r = ok(http.MethodGet, "/app-special-2", "")
	if got := str(t, r.Body, "app-special-2", "settings", "index", "number_of_shards"); got != "6" {
		t.Errorf("shards from the composable template: %q", got)
	}
	if has(r.Body, "app-special-2", "aliases", "apps") {
		t.Errorf("a legacy template applied next to a composable one: %s", r)
	}

	wantError(t, e.raw(t, http.MethodPut, "/_template/nopat", `{"order":1}`), 400, "action_request_validation_exception", "Validation Failed: 1: index patterns are missing;")
	wantError(t, e.raw(t, http.MethodPut, "/_template/base?create=true", `{"index_patterns":["x"]}`), 400, "illegal_argument_exception", "index_template [base] already exists")
	wantError(t, e.raw(t, http.MethodPut, "/_template/unk", `{"index_patterns":["x"],"bogus":1}`), 400, "parse_exception", "unknown key [bogus] in the template ")
	wantError(t, e.raw(t, http.MethodPut, "/_template/typed", `{"index_patterns":["x"],"mappings":{"_doc":{}}}`), 400, "illegal_argument_exception",
		"The mapping definition cannot be nested under a type [_doc] unless include_type_name is set to true.")
	wantError(t, e.raw(t, http.MethodDelete, "/_template/nope", ""), 404, "index_template_missing_exception", "index_template [nope] missing")
	ok(http.MethodDelete, "/_template/*", "")
	if r := e.raw(t, http.MethodHead, "/_template/base", ""); r.Status != 404 {
		t.Errorf("HEAD after delete: %s", r)
	}
}
