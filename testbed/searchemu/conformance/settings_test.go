package conformance_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// unknownSetting is AbstractScopedSettings.validate's reason for a key no setting (and no
// key more than 70% alike) is registered under
// (server/src/main/java/org/opensearch/common/settings/AbstractScopedSettings.java).
func unknownSetting(key string) string {
	return "unknown setting [" + key + "] please check that any required plugins are installed, or check the breaking changes documentation for removed settings"
}

// TestCreateIndexSettingsValidation follows MetadataCreateIndexService: the request's
// settings are validated against IndexScopedSettings (normalizeRequestSetting) before the
// index is looked at, and private settings may not be set explicitly
// (validatePrivateSettingsNotExplicitlySet, a ValidationException).
func TestCreateIndexSettingsValidation(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "exists", "")

	cases := []struct {
		name, index, body string
		status            int
		typ, reason       string
	}{
		{"unknown setting", "u1", `{"settings":{"index.foo":1}}`, 400, iae, unknownSetting("index.foo")},
		{"unknown setting without prefix is normalized", "u2", `{"settings":{"foo":{"bar":1}}}`, 400, iae, unknownSetting("index.foo.bar")},
		{"typo gets a suggestion", "u3", `{"settings":{"index.number_of_shard":1}}`, 400, iae, "unknown setting [index.number_of_shard] did you mean [index.number_of_shards]?"},
		{"provided_name is no registered setting", "u4", `{"settings":{"index.provided_name":"x"}}`, 400, iae, unknownSetting("index.provided_name")},
		{"settings before the mapping", "u6", `{"settings":{"index.foo":1},"mappings":{"properties":{"a":{"type":"bogus"}}}}`, 400, iae, unknownSetting("index.foo")},
		{"settings before existence", "exists", `{"settings":{"index.foo":1}}`, 400, iae, unknownSetting("index.foo")},
		{"private setting", "p1", `{"settings":{"index.uuid":"abc"}}`, 400, "validation_exception", "Validation Failed: 1: private index setting [index.uuid] can not be set explicitly;"},
		{"boolean value", "b1", `{"settings":{"index.hidden":"yes"}}`, 400, iae, "Failed to parse value [yes] as only [true] or [false] are allowed."},
		{"two private settings", "p2", `{"settings":{"index.version.created":"136327827","index.creation_date":"1714564800000"}}`, 400, "validation_exception", "Validation Failed: 1: private index setting [index.creation_date] can not be set explicitly;2: private index setting [index.version.created] can not be set explicitly;"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.raw(t, http.MethodPut, "/"+tc.index, tc.body)
			wantError(t, r, tc.status, tc.typ, tc.reason)
			if tc.index != "exists" {
				if h := e.raw(t, http.MethodHead, "/"+tc.index, ""); h.Status != 404 {
					t.Errorf("a refused create must not create %s: HEAD -> %d", tc.index, h.Status)
				}
			}
		})
	}

	t.Run("the name and existence before the mapping", func(t *testing.T) {
		bad := `{"mappings":{"properties":{"a":{"type":"bogus"}}}}`
		r := e.raw(t, http.MethodPut, "/exists", bad)
		if wantStatus(t, r, 400) && str(t, r.Body, "error", "type") != "resource_already_exists_exception" {
			t.Errorf("an existing index is reported before its mapping is parsed: %s", r)
		}
		wantError(t, e.raw(t, http.MethodPut, "/Upper", bad), 400, "invalid_index_name_exception", "Invalid index name [Upper], must be lowercase")
	})

	t.Run("several unknown settings: the first thrown, the others suppressed", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/u5", `{"settings":{"index.zzz":1,"index.aaa":1}}`)
		wantError(t, r, 400, iae, unknownSetting("index.aaa"))
		wantJSON(t, r.Body, `[{"type":"illegal_argument_exception","reason":"`+unknownSetting("index.zzz")+`"}]`, "error", "suppressed")
		if has(r.Body, "error", "root_cause", 0, "suppressed") {
			t.Errorf("root causes do not carry suppressed exceptions: %s", r)
		}
	})

	t.Run("registered settings are accepted", func(t *testing.T) {
		e.createIndex(t, "ok", `{"settings":{"index.codec":"best_compression","index.routing.allocation.require._name":"n","analysis":{"analyzer":{"a":{"type":"standard"}}},"index.hidden":false}}`)
		r := e.rawOK(t, http.MethodGet, "/ok/_settings?flat_settings=true", "")
		wantJSON(t, r.Body, `"best_compression"`, "ok", "settings", "index.codec")
		wantJSON(t, r.Body, `"n"`, "ok", "settings", "index.routing.allocation.require._name")
	})
}

// TestUpdateSettingsValidation follows MetadataUpdateSettingsService.updateSettings and
// AbstractScopedSettings: unknown, private and internal keys are refused first; settings
// that are not dynamic are refused while any target is open ("Can't update non dynamic
// settings [%s] for open indices %s", both java.util.HashSets); on a closed index every
// registered setting but a final one may change ("final <index> setting [k], not
// updateable", AbstractScopedSettings.updateSettings); null resets a setting.
func TestUpdateSettingsValidation(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "s", `{"settings":{"number_of_replicas":0,"refresh_interval":"5s"}}`)
	uuid := str(t, e.rawOK(t, http.MethodGet, "/s/_settings?flat_settings=true", "").Body, "s", "settings", "index.uuid")

	refused := []struct {
		name, body  string
		status      int
		typ, reason string
	}{
		{"no settings", `{}`, 400, "action_request_validation_exception", "Validation Failed: 1: no settings to update;"},
		{"unknown", `{"index":{"foo":"x"}}`, 400, iae, unknownSetting("index.foo")},
		{"unknown, reset", `{"index.foo":null}`, 400, iae, unknownSetting("index.foo")},
		{"boolean value", `{"index.blocks.write":"nope"}`, 400, iae, "Failed to parse value [nope] as only [true] or [false] are allowed."},
		{"private uuid", `{"index.uuid":"x"}`, 400, iae, "can not update private setting [index.uuid]; this setting is managed by OpenSearch"},
		{"private creation_date", `{"index.creation_date":"1"}`, 400, iae, "can not update private setting [index.creation_date]; this setting is managed by OpenSearch"},
		{"private version.created", `{"index.version.created":"1"}`, 400, iae, "can not update private setting [index.version.created]; this setting is managed by OpenSearch"},
		{"static on an open index", `{"index.codec":"best_compression"}`, 400, iae, "Can't update non dynamic settings [[index.codec]] for open indices [[s/" + uuid + "]]"},
		// skippedSettings is a HashSet: OpenJDK iterates this pair in this order
		{"two static on an open index", `{"index.codec":"default","index.shard.check_on_startup":"false"}`, 400, iae, "Can't update non dynamic settings [[index.shard.check_on_startup, index.codec]] for open indices [[s/" + uuid + "]]"},
		{"final on an open index", `{"settings":{"index.number_of_shards":2}}`, 400, iae, "Can't update non dynamic settings [[index.number_of_shards]] for open indices [[s/" + uuid + "]]"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.raw(t, http.MethodPut, "/s/_settings", tc.body), tc.status, tc.typ, tc.reason)
		})
	}
	t.Run("a missing index is reported before the settings", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/nope/_settings", `{"index.foo":"x"}`)
		wantError(t, r, 404, "index_not_found_exception", "no such index [nope]")
	})

	t.Run("dynamic settings change and reset", func(t *testing.T) {
		e.rawOK(t, http.MethodPut, "/s/_settings", `{"index":{"refresh_interval":"7s","max_result_window":50}}`)
		r := e.rawOK(t, http.MethodGet, "/s/_settings?flat_settings=true", "")
		wantJSON(t, r.Body, `"7s"`, "s", "settings", "index.refresh_interval")
		wantJSON(t, r.Body, `"50"`, "s", "settings", "index.max_result_window")
		e.rawOK(t, http.MethodPut, "/s/_settings", `{"index.refresh_interval":null,"index.number_of_replicas":null}`)
		r = e.rawOK(t, http.MethodGet, "/s/_settings?flat_settings=true", "")
		if has(r.Body, "s", "settings", "index.refresh_interval") {
			t.Errorf("null must remove the setting: %s", r)
		}
		// the number of replicas is put back to the default (1) when reset
		wantJSON(t, r.Body, `"1"`, "s", "settings", "index.number_of_replicas")
		e.rawOK(t, http.MethodPut, "/s/_settings", `{"index.max_*":null}`)
		r = e.rawOK(t, http.MethodGet, "/s/_settings?flat_settings=true", "")
		if has(r.Body, "s", "settings", "index.max_result_window") {
			t.Errorf("a wildcard reset must remove the matching dynamic settings: %s", r)
		}
		wantJSON(t, r.Body, `"`+uuid+`"`, "s", "settings", "index.uuid")
	})

	t.Run("closed index takes static settings but no final ones", func(t *testing.T) {
		e.rawOK(t, http.MethodPost, "/s/_close", "")
		e.rawOK(t, http.MethodPut, "/s/_settings", `{"index.codec":"best_compression"}`)
		r := e.rawOK(t, http.MethodGet, "/s/_settings?flat_settings=true", "")
		wantJSON(t, r.Body, `"best_compression"`, "s", "settings", "index.codec")
		wantError(t, e.raw(t, http.MethodPut, "/s/_settings", `{"index.number_of_shards":2}`), 400, iae, "final s setting [index.number_of_shards], not updateable")
		wantError(t, e.raw(t, http.MethodPut, "/s/_settings", `{"index.uuid":"x"}`), 400, iae, "can not update private setting [index.uuid]; this setting is managed by OpenSearch")
		e.rawOK(t, http.MethodPost, "/s/_open", "")
		r = e.rawOK(t, http.MethodGet, "/s/_settings?flat_settings=true", "")
		wantJSON(t, r.Body, `"best_compression"`, "s", "settings", "index.codec")
	})

	t.Run("open and closed targets: the open ones decide", func(t *testing.T) {
		e.createIndex(t, "s2", `{"settings":{"number_of_replicas":0}}`)
		e.createIndex(t, "s3", `{"settings":{"number_of_replicas":0}}`)
		e.rawOK(t, http.MethodPost, "/s3/_close", "")
		r := e.raw(t, http.MethodPut, "/s,s2,s3/_settings", `{"index.codec":"default"}`)
		if !wantStatus(t, r, 400) {
			return
		}
		reason := str(t, r.Body, "error", "reason")
		// the open indices as a HashSet<Index>: each "[name/uuid]", in hash order
		m := regexp.MustCompile(`^Can't update non dynamic settings \[\[index\.codec\]\] for open indices \[(\[s2?/[^\]]+\]), (\[s2?/[^\]]+\])\]$`).FindStringSubmatch(reason)
		if m == nil || m[1] == m[2] || strings.Contains(reason, "s3") {
			t.Errorf("reason must list the open indices s and s2 only: %q", reason)
		}
	})
}

// TestPluginIndexSettings covers Options.PluginIndexSettings: a setting registered by a
// plugin is known only to the cluster that has the plugin; the other refuses it as any
// server without the plugin does (unknownSetting), in index creation, settings updates and
// templates.
func TestPluginIndexSettings(t *testing.T) {
	t.Parallel()
	with := newEmu(t, searchemu.Options{PluginIndexSettings: []searchemu.IndexSetting{{Key: "index.knn"}, {Key: "index.knn.algo_param.", Dynamic: true}}})
	without := newEmu(t, searchemu.Options{})

	body := `{"settings":{"index.knn":true,"index.knn.algo_param.ef_search":100}}`
	with.createIndex(t, "v", body)
	wantError(t, without.raw(t, http.MethodPut, "/v", body), 400, iae, unknownSetting("index.knn"))

	// the plugin's flags hold: a dynamic group setting changes on an open index, a
	// static one does not
	with.rawOK(t, http.MethodPut, "/v/_settings", `{"index.knn.algo_param.ef_search":200}`)
	r := with.raw(t, http.MethodPut, "/v/_settings", `{"index.knn":false}`)
	uuid := str(t, with.rawOK(t, http.MethodGet, "/v/_settings?flat_settings=true", "").Body, "v", "settings", "index.uuid")
	wantError(t, r, 400, iae, "Can't update non dynamic settings [[index.knn]] for open indices [[v/"+uuid+"]]")

	without.createIndex(t, "v", "")
	wantError(t, without.raw(t, http.MethodPut, "/v/_settings", `{"index.knn.algo_param.ef_search":200}`), 400, iae, unknownSetting("index.knn.algo_param.ef_search"))

	tmpl := `{"index_patterns":["k*"],"template":{"settings":{"index.knn":true}}}`
	with.rawOK(t, http.MethodPut, "/_index_template/k", tmpl)
	wantError(t, without.raw(t, http.MethodPut, "/_index_template/k", tmpl), 400, "invalid_index_template_exception",
		"index_template [k] invalid, cause [Validation Failed: 1: "+unknownSetting("index.knn")+";]")
}

// TestTemplateSettingsValidation follows the template APIs: TransportPutIndexTemplateAction
// and TransportPutComponentTemplateAction validate the settings themselves (an
// IllegalArgumentException), composable templates are validated by
// MetadataIndexTemplateService.validate, which collects the messages into an
// InvalidIndexTemplateException; private settings are refused in every template.
func TestTemplateSettingsValidation(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	cases := []struct {
		name, path, body string
		typ, reason      string
	}{
		{"legacy unknown", "/_template/l", `{"index_patterns":["l*"],"settings":{"index.foo":1}}`, iae, unknownSetting("index.foo")},
		{"component unknown", "/_component_template/c", `{"template":{"settings":{"index.foo":1}}}`, iae, unknownSetting("index.foo")},
		{"composable unknown", "/_index_template/t", `{"index_patterns":["t*"],"template":{"settings":{"index.foo":1}}}`, "invalid_index_template_exception", "index_template [t] invalid, cause [Validation Failed: 1: " + unknownSetting("index.foo") + ";]"},
		{"composable private", "/_index_template/t", `{"index_patterns":["t*"],"template":{"settings":{"index.uuid":"x"}}}`, "invalid_index_template_exception", "index_template [t] invalid, cause [Validation Failed: 1: private index setting [index.uuid] can not be set explicitly;]"},
		{"legacy private", "/_template/l", `{"index_patterns":["l*"],"settings":{"index.uuid":"x"}}`, "invalid_index_template_exception", "index_template [l] invalid, cause [Validation Failed: 1: private index setting [index.uuid] can not be set explicitly;]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.raw(t, http.MethodPut, tc.path, tc.body), 400, tc.typ, tc.reason)
		})
	}
}

// TestUpdateSettingsBlocksAndPreserve follows TransportUpdateSettingsAction.checkBlock and
// TransportPutMappingAction.checkBlock (METADATA_WRITE: index.blocks.read_only refuses
// metadata changes, except a request changing a block setting alone) and
// preserve_existing, which keeps the values an index already has.
func TestUpdateSettingsBlocksAndPreserve(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "ro", `{"settings":{"index.blocks.read_only":true,"refresh_interval":"5s"}}`)
	blocked := "index [ro] blocked by: [FORBIDDEN/5/index read-only (api)];"
	wantError(t, e.raw(t, http.MethodPut, "/ro/_settings", `{"index.refresh_interval":"2s"}`), 403, "cluster_block_exception", blocked)
	wantError(t, e.raw(t, http.MethodPut, "/ro/_settings", `{"index.refresh_interval":"2s","index.blocks.read_only":false}`), 403, "cluster_block_exception", blocked)
	wantError(t, e.raw(t, http.MethodPut, "/ro/_mapping", `{"properties":{"a":{"type":"long"}}}`), 403, "cluster_block_exception", blocked)
	e.rawOK(t, http.MethodPut, "/ro/_settings", `{"index":{"blocks":{"read_only":false}}}`)
	e.rawOK(t, http.MethodPut, "/ro/_mapping", `{"properties":{"a":{"type":"long"}}}`)

	// RestUpdateSettingsAction takes a "settings" object alone when there is one
	e.rawOK(t, http.MethodPut, "/ro/_settings", `{"settings":{"index.max_result_window":7},"index.foo":1}`)
	wantJSON(t, e.rawOK(t, http.MethodGet, "/ro/_settings?flat_settings=true", "").Body, `"7"`, "ro", "settings", "index.max_result_window")
	e.rawOK(t, http.MethodPut, "/ro/_settings", `{"index.max_result_window":null}`)

	e.rawOK(t, http.MethodPut, "/ro/_settings?preserve_existing=true", `{"index.refresh_interval":"2s","index.max_result_window":20}`)
	r := e.rawOK(t, http.MethodGet, "/ro/_settings?flat_settings=true", "")
	wantJSON(t, r.Body, `"5s"`, "ro", "settings", "index.refresh_interval")
	wantJSON(t, r.Body, `"20"`, "ro", "settings", "index.max_result_window")
}

// TestListSettings follows Settings.fromXContent and Settings.toXContent: a JSON array is
// one setting holding a list of strings, answered as an array in the nested and the flat
// form (not as "key.0", "key.1"), in index settings and in templates alike.
func TestListSettings(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "ls", `{"settings":{"analysis":{"analyzer":{"a":{"type":"custom","tokenizer":"standard","filter":["lowercase","asciifolding"]}}}}}`)
	r := e.rawOK(t, http.MethodGet, "/ls/_settings", "")
	wantJSON(t, r.Body, `["lowercase","asciifolding"]`, "ls", "settings", "index", "analysis", "analyzer", "a", "filter")
	r = e.rawOK(t, http.MethodGet, "/ls/_settings?flat_settings=true", "")
	wantJSON(t, r.Body, `["lowercase","asciifolding"]`, "ls", "settings", "index.analysis.analyzer.a.filter")
	if has(r.Body, "ls", "settings", "index.analysis.analyzer.a.filter.0") {
		t.Errorf("a list is one setting: %s", r)
	}

	// analysis settings are static: a closed index takes a new list
	e.rawOK(t, http.MethodPost, "/ls/_close", "")
	e.rawOK(t, http.MethodPut, "/ls/_settings", `{"index.analysis.analyzer.a.filter":["uppercase"]}`)
	r = e.rawOK(t, http.MethodGet, "/ls/_settings?flat_settings=true", "")
	wantJSON(t, r.Body, `["uppercase"]`, "ls", "settings", "index.analysis.analyzer.a.filter")

	e.rawOK(t, http.MethodPut, "/_component_template/ls-c", `{"template":{"settings":{"index.analysis.filter.f.type":"stop","index.analysis.filter.f.stopwords":["a","b"]}}}`)
	r = e.rawOK(t, http.MethodGet, "/_component_template/ls-c?flat_settings=true", "")
	wantJSON(t, r.Body, `["a","b"]`, "component_templates", 0, "component_template", "template", "settings", "index.analysis.filter.f.stopwords")
}

// TestRolloverSettingsValidation: a rollover's new index settings. The server's
// MetadataRolloverService calls applyCreateIndexRequest without normalizeRequestSetting,
// so where an unknown setting fails there is not pinned by the source read; the emulator
// refuses it as index creation does (never more permissive), and a private one as
// validateIndexSettings does.
func TestRolloverSettingsValidation(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "ro-000001", `{"aliases":{"ro-w":{"is_write_index":true}}}`)
	wantError(t, e.raw(t, http.MethodPost, "/ro-w/_rollover", `{"settings":{"index.foo":1}}`), 400, iae, unknownSetting("index.foo"))
	wantError(t, e.raw(t, http.MethodPost, "/ro-w/_rollover", `{"settings":{"index.uuid":"x"}}`), 400, "validation_exception", "Validation Failed: 1: private index setting [index.uuid] can not be set explicitly;")
	if h := e.raw(t, http.MethodHead, "/ro-000002", ""); h.Status != 404 {
		t.Errorf("a refused rollover creates nothing: HEAD -> %d", h.Status)
	}
	r := e.rawOK(t, http.MethodPost, "/ro-w/_rollover", `{"settings":{"index.refresh_interval":"9s"}}`)
	wantJSON(t, r.Body, `"ro-000002"`, "new_index")
}
