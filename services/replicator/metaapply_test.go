package replicator_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// metaApplier is an Applier for target with cfg changed by mutate.
func metaApplier(t *testing.T, target *emulator, mutate func(*replicator.Config)) *replicator.Applier {
	t.Helper()
	cfg := replicatortest.Config("b", target.url, []string{"127.0.0.1:1"}, topic)
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := replicator.NewApplier(cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	a.RequestRetries = 1
	return a
}

func applyMeta(t *testing.T, a *replicator.Applier, md *opspb.Metadata) replicator.MetadataResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := a.ApplyMetadata(ctx, md)
	if err != nil {
		t.Fatalf("applying %s: %v", md.GetRequest(), err)
	}
	return res
}

// indexState is the state of an existing index of the primary.
func indexState(name, settings, mappings, aliases string) *opspb.IndexState {
	return &opspb.IndexState{Name: name, Exists: true, Uuid: "uuid-" + name,
		Settings: []byte(settings), Mappings: []byte(mappings), Aliases: []byte(aliases)}
}

// getJSON GETs path from e and decodes the answer, failing t on another status than want.
func getJSON(t *testing.T, e *emulator, path string, want int) map[string]any {
	t.Helper()
	code, b := httpDo(t, http.MethodGet, e.url+path, "")
	if code != want {
		t.Fatalf("GET %s: %d, want %d: %s", path, code, want, b)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	return out
}

// dig walks decoded JSON along keys.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// fullChange (bodies in the shape the primary's GET answers, as the proxy reads them)
// is a change touching every kind of object: a pipeline, a component and
// an index template (with a data stream), a legacy template, an index with settings,
// mappings and aliases, a closed index, and a data stream at generation 2.
func fullChange() *opspb.Metadata {
	return &opspb.Metadata{
		Request: "PUT /many",
		Pipelines: []*opspb.PipelineState{{Id: "p1", Exists: true,
			Body: []byte(`{"description":"d","processors":[{"set":{"field":"x","value":"y"}}]}`)}},
		Templates: []*opspb.TemplateState{
			{Kind: opspb.TemplateKind_TEMPLATE_KIND_COMPONENT, Name: "c1", Exists: true,
				Body: []byte(`{"template":{"settings":{"index":{"number_of_shards":"2"}}}}`)},
			{Kind: opspb.TemplateKind_TEMPLATE_KIND_INDEX, Name: "t1", Exists: true,
				Body: []byte(`{"index_patterns":["logs-*"],"composed_of":["c1"],"data_stream":{"timestamp_field":{"name":"@timestamp"}}}`)},
			{Kind: opspb.TemplateKind_TEMPLATE_KIND_LEGACY, Name: "l1", Exists: true,
				Body: []byte(`{"order":0,"index_patterns":["old-*"],"settings":{},"mappings":{},"aliases":{}}`)},
		},
		Indices: []*opspb.IndexState{
			indexState("docs", `{"index.number_of_shards":"3","index.number_of_replicas":"4","index.uuid":"x","index.creation_date":"1","index.provided_name":"docs","index.version.created":"1","index.refresh_interval":"5s","index.query.default_field":["a","b"]}`,
				`{"dynamic":"strict","properties":{"a":{"type":"keyword"}}}`, `{"all":{},"w":{"is_write_index":true}}`),
			func() *opspb.IndexState {
				ix := indexState("shut", `{"index.number_of_shards":"1"}`, `{}`, `{}`)
				ix.Closed = true
				return ix
			}(),
		},
		DataStreams: []*opspb.DataStreamState{{Name: "logs-app", Exists: true, Template: "t1", Generation: 2,
			Indices: []string{".ds-logs-app-000001", ".ds-logs-app-000002"}}},
	}
}

// TestApplyMetadataIdempotent: a change touching every kind of object makes the target
// match, and applying it again changes nothing.
func TestApplyMetadataIdempotent(t *testing.T) {
	target := startEmulator(t, "b")
	a := metaApplier(t, target, nil)
	md := fullChange()
	first := applyMeta(t, a, md)
	if len(first.Refused) > 0 {
		t.Fatalf("refused: %+v", first.Refused)
	}
	if first.Steps["index_create/applied"] != 2 || first.Steps["rollover/applied"] != 1 || first.Steps["aliases/applied"] != 1 {
		t.Errorf("first apply steps: %v", first.Steps)
	}
	ix := getJSON(t, target, "/docs?flat_settings=true", 200)
	if got := dig(ix, "docs", "settings", "index.number_of_shards"); got != "3" {
		t.Errorf("docs number_of_shards %v, want 3 (copied on create)", got)
	}
	if got := dig(ix, "docs", "settings", "index.refresh_interval"); got != "5s" {
		t.Errorf("docs refresh_interval %v, want 5s", got)
	}
	if got := dig(ix, "docs", "settings", "index.number_of_replicas"); got == "4" {
		t.Errorf("docs number_of_replicas copied (target-local)")
	}
	if got := dig(ix, "docs", "mappings", "dynamic"); got != "strict" {
		t.Errorf("docs mappings: %v", dig(ix, "docs", "mappings"))
	}
	if got := dig(ix, "docs", "aliases", "w", "is_write_index"); got != true {
		t.Errorf("docs aliases: %v", dig(ix, "docs", "aliases"))
	}
	cat := httpCat(t, target, "shut")
	if !strings.Contains(cat, "close") {
		t.Errorf("shut is not closed: %s", cat)
	}
	ds := getJSON(t, target, "/_data_stream/logs-app", 200)
	if g := dig(ds["data_streams"].([]any)[0], "generation"); g != float64(2) {
		t.Errorf("logs-app generation %v, want 2", g)
	}
	tpl := getJSON(t, target, "/_index_template/t1", 200)
	if p := dig(tpl["index_templates"].([]any)[0], "index_template", "index_patterns"); !reflect.DeepEqual(p, []any{"logs-*"}) {
		t.Errorf("t1 patterns %v", p)
	}
	getJSON(t, target, "/_ingest/pipeline/p1", 200)
	getJSON(t, target, "/_template/l1", 200)

	second := applyMeta(t, a, md)
	for step, n := range second.Steps {
		if strings.HasSuffix(step, "/applied") || strings.HasSuffix(step, "/refused") {
			t.Errorf("second apply: %s %d (want everything unchanged); all: %v", step, n, second.Steps)
		}
	}

	// The primary deletes what it had: the target follows.
	del := &opspb.Metadata{Request: "DELETE /many",
		Pipelines:   []*opspb.PipelineState{{Id: "p1"}},
		Indices:     []*opspb.IndexState{{Name: "docs"}, {Name: "shut"}},
		DataStreams: []*opspb.DataStreamState{{Name: "logs-app"}},
		Templates: []*opspb.TemplateState{{Kind: opspb.TemplateKind_TEMPLATE_KIND_COMPONENT, Name: "c1"},
			{Kind: opspb.TemplateKind_TEMPLATE_KIND_INDEX, Name: "t1"}, {Kind: opspb.TemplateKind_TEMPLATE_KIND_LEGACY, Name: "l1"}},
	}
	if res := applyMeta(t, a, del); len(res.Refused) > 0 {
		t.Fatalf("deletes refused: %+v (steps %v)", res.Refused, res.Steps)
	}
	for _, path := range []string{"/docs", "/shut", "/_data_stream/logs-app", "/_ingest/pipeline/p1", "/_index_template/t1", "/_component_template/c1", "/_template/l1"} {
		if code, b := httpDo(t, http.MethodGet, target.url+path, ""); code != 404 {
			t.Errorf("GET %s after the deletes: %d %s", path, code, b)
		}
	}
}

func httpCat(t *testing.T, e *emulator, index string) string {
	t.Helper()
	code, b := httpDo(t, http.MethodGet, e.url+"/_cat/indices/"+index+"?h=index,status&expand_wildcards=all", "")
	if code != 200 {
		t.Fatalf("_cat/indices/%s: %d %s", index, code, b)
	}
	return string(b)
}

// TestApplyMetadataRenames: index names go through indices.include/exclude/rename,
// aliases keep their names and point at the renamed indices, template patterns are
// renamed, data streams are skipped under a rename.
func TestApplyMetadataRenames(t *testing.T) {
	target := startEmulator(t, "b")
	a := metaApplier(t, target, func(c *replicator.Config) {
		c.Indices.Rename = "dr-{index}"
		c.Indices.Exclude = []string{"secret-*"}
	})
	md := &opspb.Metadata{
		Request: "PUT /logs-1",
		Indices: []*opspb.IndexState{
			indexState("logs-1", `{"index.number_of_shards":"1"}`, `{"properties":{"a":{"type":"keyword"}}}`, `{"logs":{}}`),
			indexState("secret-1", `{"index.number_of_shards":"1"}`, `{}`, `{}`),
			func() *opspb.IndexState {
				ix := indexState(".ds-s-000001", `{"index.number_of_shards":"1"}`, `{}`, `{}`)
				ix.DataStream = "s"
				return ix
			}(),
		},
		Templates: []*opspb.TemplateState{
			{Kind: opspb.TemplateKind_TEMPLATE_KIND_INDEX, Name: "t1", Exists: true, Body: []byte(`{"index_patterns":["logs-*","app"]}`)},
			{Kind: opspb.TemplateKind_TEMPLATE_KIND_LEGACY, Name: "l1", Exists: true, Body: []byte(`{"order":0,"index_patterns":["old-*"],"settings":{},"mappings":{},"aliases":{}}`)},
		},
		DataStreams: []*opspb.DataStreamState{{Name: "s", Exists: true, Generation: 1, Indices: []string{".ds-s-000001"}}},
	}
	res := applyMeta(t, a, md)
	if len(res.Refused) > 0 {
		t.Fatalf("refused: %+v", res.Refused)
	}
	ix := getJSON(t, target, "/dr-logs-1", 200)
	if got := dig(ix, "dr-logs-1", "aliases", "logs"); got == nil {
		t.Errorf("alias logs not on dr-logs-1: %v", dig(ix, "dr-logs-1", "aliases"))
	}
	if got := dig(ix, "dr-logs-1", "mappings", "properties", "a", "type"); got != "keyword" {
		t.Errorf("dr-logs-1 mappings: %v", dig(ix, "dr-logs-1", "mappings"))
	}
	for _, path := range []string{"/logs-1", "/secret-1", "/dr-secret-1", "/_data_stream/s", "/.ds-s-000001", "/dr-.ds-s-000001"} {
		if code, b := httpDo(t, http.MethodGet, target.url+path, ""); code != 404 {
			t.Errorf("GET %s: %d %s, want 404", path, code, b)
		}
	}
	tpl := getJSON(t, target, "/_index_template/t1", 200)
	if p := dig(tpl["index_templates"].([]any)[0], "index_template", "index_patterns"); !reflect.DeepEqual(p, []any{"dr-logs-*", "dr-app"}) {
		t.Errorf("t1 patterns %v, want the renamed ones", p)
	}
	if p := dig(getJSON(t, target, "/_template/l1", 200), "l1", "index_patterns"); !reflect.DeepEqual(p, []any{"dr-old-*"}) {
		t.Errorf("l1 patterns %v, want the renamed ones", p)
	}
	if res.Steps["index_create/skipped"] != 2 || res.Steps["rollover/skipped"] != 1 {
		t.Errorf("steps %v: want the excluded index and the backing index skipped, and the data stream", res.Steps)
	}
}

// TestApplyMetadataPolicy: with metadata.replicate.deletes off an index and a data
// stream the primary deleted stay; with mappings off a mapping change is skipped.
func TestApplyMetadataPolicy(t *testing.T) {
	target := startEmulator(t, "b")
	createIndex(t, target, "keep", `{"properties":{"a":{"type":"keyword"}}}`)
	a := metaApplier(t, target, func(c *replicator.Config) {
		c.Metadata.Replicate.Deletes = false
		c.Metadata.Replicate.Mappings = false
	})
	res := applyMeta(t, a, &opspb.Metadata{Request: "DELETE /keep", Indices: []*opspb.IndexState{{Name: "keep", Uuid: "u"}}})
	if res.Steps["index_delete/skipped"] != 1 {
		t.Errorf("steps %v", res.Steps)
	}
	getJSON(t, target, "/keep", 200)
	res = applyMeta(t, a, &opspb.Metadata{Request: "PUT /keep/_mapping", Indices: []*opspb.IndexState{
		indexState("keep", `{"index.number_of_shards":"3"}`, `{"properties":{"a":{"type":"keyword"},"b":{"type":"long"}}}`, `{}`)}})
	if res.Steps["mapping/skipped"] != 1 {
		t.Errorf("steps %v", res.Steps)
	}
	if got := dig(getJSON(t, target, "/keep/_mapping", 200), "keep", "mappings", "properties", "b"); got != nil {
		t.Errorf("mapping copied with metadata.replicate.mappings off: %v", got)
	}

	// Indices off: no index is created, the aliases of one the target has still follow.
	a = metaApplier(t, target, func(c *replicator.Config) { c.Metadata.Replicate.Indices = false })
	res = applyMeta(t, a, &opspb.Metadata{Request: "POST /_aliases", Indices: []*opspb.IndexState{
		indexState("keep", `{"index.number_of_shards":"3"}`, `{"properties":{"a":{"type":"keyword"}}}`, `{"k":{}}`),
		indexState("fresh", `{"index.number_of_shards":"1"}`, `{}`, `{"k":{}}`)}})
	if res.Steps["index_create/skipped"] != 1 || res.Steps["aliases/applied"] != 1 || len(res.Refused) > 0 {
		t.Errorf("steps %v, refused %+v", res.Steps, res.Refused)
	}
	if code, _ := httpDo(t, http.MethodGet, target.url+"/fresh", ""); code != 404 {
		t.Error("fresh created with metadata.replicate.indices off")
	}
	if got := dig(getJSON(t, target, "/keep/_alias", 200), "keep", "aliases", "k"); got == nil {
		t.Error("alias k not added to keep")
	}
}

// TestApplyMetadataSettings: on an existing index only dynamic settings that differ are
// sent; a static one that differs is reported, not sent; one the target refuses is a
// refusal that leaves the other steps applied.
func TestApplyMetadataSettings(t *testing.T) {
	target := startEmulator(t, "b")
	createIndex(t, target, "docs", `{"properties":{"a":{"type":"keyword"}}}`)
	a := metaApplier(t, target, func(c *replicator.Config) { c.Metadata.IgnoreSettings = []string{"index.max_inner_result_window"} })
	res := applyMeta(t, a, &opspb.Metadata{Request: "PUT /docs/_settings", Indices: []*opspb.IndexState{
		indexState("docs", `{"index.number_of_shards":"5","index.refresh_interval":"7s","index.max_inner_result_window":"9","index.number_of_replicas":"3"}`,
			`{"properties":{"a":{"type":"keyword"}}}`, `{}`)}})
	if len(res.Refused) > 0 || res.Steps["settings/static"] != 1 || res.Steps["settings/applied"] != 1 {
		t.Fatalf("steps %v, refused %+v", res.Steps, res.Refused)
	}
	s := getJSON(t, target, "/docs/_settings?flat_settings=true", 200)
	if got := dig(s, "docs", "settings", "index.refresh_interval"); got != "7s" {
		t.Errorf("refresh_interval %v, want 7s", got)
	}
	for k, want := range map[string]any{"index.number_of_shards": "3", "index.max_inner_result_window": nil, "index.number_of_replicas": "1"} {
		if got := dig(s, "docs", "settings", k); got != want {
			t.Errorf("%s = %v, want %v (not copied)", k, got, want)
		}
	}

	// max_result_window 0 is refused (it must be >= 1); the mapping change of the same
	// state still goes in.
	res = applyMeta(t, a, &opspb.Metadata{Request: "PUT /docs/_settings", Indices: []*opspb.IndexState{
		indexState("docs", `{"index.number_of_shards":"3","index.refresh_interval":"7s","index.max_result_window":"0"}`,
			`{"properties":{"a":{"type":"keyword"},"b":{"type":"long"}}}`, `{}`)}})
	if len(res.Refused) != 1 || res.Refused[0].Step != "settings" || res.Refused[0].Status != 400 || res.Refused[0].ErrorType != "illegal_argument_exception" {
		t.Fatalf("refused %+v, want the settings step", res.Refused)
	}
	if res.Steps["mapping/applied"] != 1 {
		t.Errorf("steps %v: the mapping change must go in", res.Steps)
	}
}

// TestApplyMetadataVendorSettings: a target of another vendor refuses a setting only the
// primary's engine knows (OpenSearch's index.knn on an Elasticsearch target): the index
// is created and updated without it, the setting is counted as dropped, nothing is
// refused. A refused setting that is not vendor-specific still refuses the step.
func TestApplyMetadataVendorSettings(t *testing.T) {
	target := startEmulator(t, "b", func(o *searchemu.Options) { o.Flavor = searchemu.Elasticsearch7 })
	a := metaApplier(t, target, nil)
	res := applyMeta(t, a, &opspb.Metadata{Request: "PUT /vectors", Indices: []*opspb.IndexState{
		indexState("vectors", `{"index.number_of_shards":"2","index.knn":"true","index.refresh_interval":"3s"}`,
			`{"properties":{"v":{"type":"long"}}}`, `{}`)}})
	if len(res.Refused) > 0 || res.Steps["settings/dropped"] != 1 || res.Steps["index_create/applied"] != 1 {
		t.Fatalf("create: steps %v, refused %+v", res.Steps, res.Refused)
	}
	s := getJSON(t, target, "/vectors/_settings?flat_settings=true", 200)
	if dig(s, "vectors", "settings", "index.number_of_shards") != "2" || dig(s, "vectors", "settings", "index.refresh_interval") != "3s" {
		t.Errorf("settings on the target: %v", s)
	}
	// An update of the vendor setting alone sends nothing; with another one, that one.
	res = applyMeta(t, a, &opspb.Metadata{Request: "PUT /vectors/_settings", Indices: []*opspb.IndexState{
		indexState("vectors", `{"index.number_of_shards":"2","index.knn":"true","index.knn.algo_param.ef_search":"90","index.refresh_interval":"4s"}`,
			`{"properties":{"v":{"type":"long"}}}`, `{}`)}})
	if len(res.Refused) > 0 || res.Steps["settings/dropped"] < 1 || res.Steps["settings/applied"] != 1 {
		t.Fatalf("update: steps %v, refused %+v", res.Steps, res.Refused)
	}
	if got := dig(getJSON(t, target, "/vectors/_settings?flat_settings=true", 200), "vectors", "settings", "index.refresh_interval"); got != "4s" {
		t.Errorf("refresh_interval %v, want 4s", got)
	}
	res = applyMeta(t, a, &opspb.Metadata{Request: "PUT /vectors/_settings", Indices: []*opspb.IndexState{
		indexState("vectors", `{"index.number_of_shards":"2","index.refresh_interval":"4s","index.no_such_thing":"1"}`,
			`{"properties":{"v":{"type":"long"}}}`, `{}`)}})
	if len(res.Refused) != 1 || res.Refused[0].Step != "settings" {
		t.Fatalf("an unknown setting of no vendor: refused %+v, steps %v", res.Refused, res.Steps)
	}
}

// TestApplyMetadataTemplateSettings: templates reach the target without the settings
// replication never copies (a DR target's replicas are its own; the primary's pipelines
// must not run again on documents they already made), and so do indices.
func TestApplyMetadataTemplateSettings(t *testing.T) {
	target := startEmulator(t, "b")
	a := metaApplier(t, target, nil)
	code, ans := httpDo(t, http.MethodPut, target.url+"/_ingest/pipeline/p", `{"processors":[{"set":{"field":"x","value":1}}]}`)
	if code != 200 {
		t.Fatalf("pipeline: %d %s", code, ans)
	}
	res := applyMeta(t, a, &opspb.Metadata{Request: "PUT /_index_template/t", Templates: []*opspb.TemplateState{
		{Kind: opspb.TemplateKind_TEMPLATE_KIND_INDEX, Name: "t", Exists: true,
			Body: []byte(`{"index_patterns":["t-*"],"template":{"settings":{"index":{"number_of_shards":"2","number_of_replicas":"0","default_pipeline":"p"}}}}`)},
		{Kind: opspb.TemplateKind_TEMPLATE_KIND_LEGACY, Name: "l", Exists: true,
			Body: []byte(`{"order":0,"index_patterns":["l-*"],"settings":{"index.final_pipeline":"p","index.refresh_interval":"3s"},"mappings":{},"aliases":{}}`)},
	}, Indices: []*opspb.IndexState{
		indexState("direct", `{"index.number_of_shards":"1","index.default_pipeline":"p"}`, `{}`, `{}`)}})
	if len(res.Refused) > 0 {
		t.Fatalf("refused %+v", res.Refused)
	}
	tpl := getJSON(t, target, "/_index_template/t?flat_settings=true", 200)
	s := dig(tpl["index_templates"].([]any)[0], "index_template", "template", "settings").(map[string]any)
	if s["index.number_of_shards"] != "2" || s["index.number_of_replicas"] != nil || s["index.default_pipeline"] != nil {
		t.Errorf("index template settings on the target: %v", s)
	}
	l := getJSON(t, target, "/_template/l?flat_settings=true", 200)
	if ls := dig(l, "l", "settings").(map[string]any); ls["index.refresh_interval"] != "3s" || ls["index.final_pipeline"] != nil {
		t.Errorf("legacy template settings on the target: %v", ls)
	}
	if got := dig(getJSON(t, target, "/direct/_settings?flat_settings=true", 200), "direct", "settings", "index.default_pipeline"); got != nil {
		t.Errorf("index.default_pipeline %v copied to the target", got)
	}
}

// TestApplyMetadataRollover: a rollover's states (the old index losing the write alias,
// the new one created with it) switch the write index in one _aliases request.
func TestApplyMetadataRollover(t *testing.T) {
	target := startEmulator(t, "b")
	a := metaApplier(t, target, nil)
	applyMeta(t, a, &opspb.Metadata{Request: "PUT /logs-000001", Indices: []*opspb.IndexState{
		indexState("logs-000001", `{"index.number_of_shards":"1"}`, `{}`, `{"logs":{"is_write_index":true}}`)}})
	res := applyMeta(t, a, &opspb.Metadata{Request: "POST /logs/_rollover", Indices: []*opspb.IndexState{
		indexState("logs-000001", `{"index.number_of_shards":"1"}`, `{}`, `{"logs":{"is_write_index":false}}`),
		indexState("logs-000002", `{"index.number_of_shards":"1"}`, `{}`, `{"logs":{"is_write_index":true}}`),
	}})
	if len(res.Refused) > 0 || res.Steps["aliases/applied"] != 1 || res.Steps["index_create/applied"] != 1 {
		t.Fatalf("steps %v, refused %+v", res.Steps, res.Refused)
	}
	al := getJSON(t, target, "/_alias/logs", 200)
	if w := dig(al, "logs-000002", "aliases", "logs", "is_write_index"); w != true {
		t.Errorf("write index after the rollover: %v", al)
	}
	if w := dig(al, "logs-000001", "aliases", "logs", "is_write_index"); w != false {
		t.Errorf("old index after the rollover: %v", al)
	}
}

// TestApplyMetadataInvalidName: an index name the target refuses is a refusal of the
// create (dead-lettered), not cluster trouble retried for good.
func TestApplyMetadataInvalidName(t *testing.T) {
	target := startEmulator(t, "b")
	a := metaApplier(t, target, nil)
	res := applyMeta(t, a, &opspb.Metadata{Request: "PUT /Bad", Indices: []*opspb.IndexState{indexState("Bad", `{}`, `{}`, `{}`)}})
	if len(res.Refused) != 1 || res.Refused[0].Status != 400 || res.Refused[0].Step != "index_create" || res.Refused[0].ErrorType != "invalid_index_name_exception" {
		t.Fatalf("refused %+v (steps %v), want one 400", res.Refused, res.Steps)
	}
}
