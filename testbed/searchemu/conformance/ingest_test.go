package conformance_test

import (
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestIngestPipelineAPI covers PUT/GET/DELETE /_ingest/pipeline (RestPutPipelineAction,
// IngestService.validatePipeline/innerDelete, Pipeline.create, ConfigurationUtils.
// readProcessor and newConfigurationException: a refused configuration is a
// parse_exception with processor_type, processor_tag and property_name metadata).
func TestIngestPipelineAPI(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})

	r := e.raw(t, "PUT", "/_ingest/pipeline/p1", `{"description":"d","processors":[{"set":{"field":"a","value":1}}]}`)
	wantExactBody(t, r, `{"acknowledged":true}`)
	r = e.raw(t, "GET", "/_ingest/pipeline/p1", "")
	if wantStatus(t, r, 200) {
		wantJSON(t, r.Body, `{"description":"d","processors":[{"set":{"field":"a","value":1}}]}`, "p1")
	}
	e.raw(t, "PUT", "/_ingest/pipeline/p2", `{"processors":[]}`)
	r = e.raw(t, "GET", "/_ingest/pipeline", "")
	if wantStatus(t, r, 200) && (!has(r.Body, "p1") || !has(r.Body, "p2")) {
		t.Errorf("GET all: %s", r)
	}
	r = e.raw(t, "GET", "/_ingest/pipeline/p*", "")
	if wantStatus(t, r, 200) && (!has(r.Body, "p1") || !has(r.Body, "p2")) {
		t.Errorf("GET wildcard: %s", r)
	}
	// RestGetPipelineAction: nothing found for named ids is a 404 with an empty object
	r = e.raw(t, "GET", "/_ingest/pipeline/nope", "")
	if wantStatus(t, r, 404) {
		wantExactBody(t, r, `{}`)
	}
	r = e.raw(t, "DELETE", "/_ingest/pipeline/p2", "")
	wantExactBody(t, r, `{"acknowledged":true}`)
	wantError(t, e.raw(t, "DELETE", "/_ingest/pipeline/p2", ""), 404, "resource_not_found_exception", "pipeline [p2] is missing")

	for _, tc := range []struct {
		name, body, reason string
		meta               [][2]string
	}{
		{"unknown processor", `{"processors":[{"grok":{"field":"m","patterns":["x"]}}]}`,
			"No processor type exists with name [grok]", [][2]string{{"processor_type", "grok"}}},
		{"unknown processor with a tag", `{"processors":[{"nope":{"tag":"t1"}}]}`,
			"No processor type exists with name [nope]", [][2]string{{"processor_type", "nope"}, {"processor_tag", "t1"}}},
		{"missing required property", `{"processors":[{"set":{"field":"a"}}]}`,
			"[value] required property is missing", [][2]string{{"processor_type", "set"}, {"property_name", "value"}}},
		{"unknown processor parameter", `{"processors":[{"rename":{"field":"a","target_field":"b","bogus":1}}]}`,
			"processor [rename] doesn't support one or more provided configuration parameters [bogus]", [][2]string{{"processor_type", "rename"}}},
		{"processor config not a map", `{"processors":[{"drop":"x"}]}`,
			"property isn't a map, but of type [java.lang.String]", [][2]string{{"processor_type", "drop"}}},
		{"no processors", `{"description":"x"}`, "[processors] required property is missing", [][2]string{{"property_name", "processors"}}},
		{"unknown pipeline key", `{"processors":[],"bogus":1}`, "pipeline [bad] doesn't support one or more provided configuration parameters [bogus]", nil},
		// what the emulator does not run is refused, never stored and ignored
		{"if condition", `{"processors":[{"set":{"field":"a","value":1,"if":"ctx.b != null"}}]}`,
			"[if] [searchemu] processor conditions are scripts, which the emulator does not run", [][2]string{{"processor_type", "set"}}},
		{"template", `{"processors":[{"set":{"field":"a","value":"{{b}}"}}]}`,
			"[value] [searchemu] templates are not supported by the emulator", [][2]string{{"processor_type", "set"}}},
		{"metadata field", `{"processors":[{"set":{"field":"_routing","value":"r"}}]}`,
			"[field] [searchemu] processors on metadata field [_routing] are not supported by the emulator", [][2]string{{"processor_type", "set"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.raw(t, "PUT", "/_ingest/pipeline/bad", tc.body)
			wantError(t, r, 400, "parse_exception", tc.reason)
			for _, m := range tc.meta {
				wantMeta(t, r.Body, m[0], m[1], "error")
			}
			if g := e.raw(t, "GET", "/_ingest/pipeline/bad", ""); g.Status != 404 {
				t.Errorf("a refused pipeline must not be stored: %s", g)
			}
		})
	}
}

// TestIngestRuns covers running pipelines on writes: TransportBulkAction (pipelines run
// after validation, before auto-create), IngestService.resolvePipelines (request
// pipeline, else index.default_pipeline, then index.final_pipeline; _none),
// IngestService.executePipelines ("pipeline with id [X] does not exist"), BulkResponse
// (ingest_took only when pipelines ran), BulkRequestModifier.markItemAsDropped (a dropped
// document answers noop with _version -3 and no _seq_no), and the ingest-common
// processors.
func TestIngestRuns(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	put := func(id, body string) {
		t.Helper()
		if r := e.raw(t, "PUT", "/_ingest/pipeline/"+id, body); r.Status != 200 {
			t.Fatalf("PUT pipeline %s: %s", id, r)
		}
	}
	put("tag", `{"processors":[{"set":{"field":"tagged","value":true}},{"lowercase":{"field":"name","ignore_missing":true}}]}`)
	put("final", `{"processors":[{"set":{"field":"meta.final","value":"yes"}},{"remove":{"field":"secret","ignore_missing":true}}]}`)
	put("dropper", `{"processors":[{"drop":{}}]}`)
	put("failer", `{"processors":[{"rename":{"field":"missing","target_field":"x"}}]}`)
	put("tolerant", `{"processors":[{"rename":{"field":"missing","target_field":"x","ignore_failure":true}},{"append":{"field":"l","value":["b","a"],"allow_duplicates":false}},{"uppercase":{"field":"l"}}]}`)

	t.Run("explicit pipeline on a single write", func(t *testing.T) {
		r := e.raw(t, "PUT", "/s/_doc/1?pipeline=tag", `{"name":"MiXed"}`)
		if wantStatus(t, r, 201) {
			wantJSON(t, e.source(t, "s", "1"), `{"name":"mixed","tagged":true}`)
		}
	})
	t.Run("default and final pipelines", func(t *testing.T) {
		e.createIndex(t, "dp", `{"settings":{"index.default_pipeline":"tag","index.final_pipeline":"final"}}`)
		r := e.raw(t, "PUT", "/dp/_doc/1", `{"name":"A","secret":1}`)
		if wantStatus(t, r, 201) {
			wantJSON(t, e.source(t, "dp", "1"), `{"name":"a","tagged":true,"meta":{"final":"yes"}}`)
		}
		// a request pipeline replaces the default one; the final one still runs
		e.raw(t, "PUT", "/dp/_doc/2?pipeline=_none", `{"name":"B","secret":1}`)
		wantJSON(t, e.source(t, "dp", "2"), `{"name":"B","meta":{"final":"yes"}}`)
		r = e.bulk(t, "", "{\"index\":{\"_index\":\"dp\",\"_id\":\"3\"}}\n{\"name\":\"C\"}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) {
			wantItem(t, r, 0, "index", 201, "created")
			if !has(r.Body, "ingest_took") {
				t.Errorf("a bulk whose pipelines ran carries ingest_took: %s", r)
			}
		}
	})
	t.Run("settings validated, set later", func(t *testing.T) {
		e.createIndex(t, "later", "")
		wantError(t, e.raw(t, "PUT", "/later/_settings", `{"index.default_pipeline":""}`), 400, iae, "Value for [index.default_pipeline] must be a non-empty string.")
		if r := e.raw(t, "PUT", "/later/_settings", `{"index.final_pipeline":"nowhere"}`); r.Status != 200 {
			t.Fatalf("a pipeline's existence is not checked when set: %s", r)
		}
		wantError(t, e.raw(t, "PUT", "/later/_doc/1", `{}`), 400, iae, "pipeline with id [nowhere] does not exist")
		e.raw(t, "PUT", "/later/_settings", `{"index.final_pipeline":"final"}`)
		e.raw(t, "PUT", "/later/_doc/1", `{"secret":2,"k":1}`)
		wantJSON(t, e.source(t, "later", "1"), `{"k":1,"meta":{"final":"yes"}}`)
	})
	t.Run("plain bulk has no ingest_took", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"plain\",\"_id\":\"1\"}}\n{}\n", opensearchapi.BulkParams{})
		if wantStatus(t, r, 200) && has(r.Body, "ingest_took") {
			t.Errorf("no pipeline ran: %s", r)
		}
	})
	t.Run("item pipeline in a bulk", func(t *testing.T) {
		body := "{\"index\":{\"_index\":\"b\",\"_id\":\"1\",\"pipeline\":\"tag\"}}\n{\"name\":\"X\"}\n" +
			"{\"create\":{\"_index\":\"b\",\"_id\":\"2\"}}\n{\"name\":\"Y\"}\n" +
			"{\"index\":{\"_index\":\"b\",\"_id\":\"3\",\"pipeline\":\"dropper\"}}\n{}\n" +
			"{\"index\":{\"_index\":\"b\",\"_id\":\"4\",\"pipeline\":\"failer\"}}\n{}\n" +
			"{\"index\":{\"_index\":\"b\",\"_id\":\"5\",\"pipeline\":\"tolerant\"}}\n{\"l\":\"a\"}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		wantItem(t, r, 0, "index", 201, "created")
		wantItem(t, r, 1, "create", 201, "created")
		if _, it := item(t, r.Body, 2); !jsonEq(t, it, []byte(`{"_index":"b","_id":"3","_version":-3,"result":"noop","_shards":{"total":0,"successful":0,"failed":0},"status":200}`)) {
			t.Errorf("dropped item: %s", it)
		}
		wantItemError(t, r, 3, "index", 400, iae, "field [missing] doesn't exist")
		wantItem(t, r, 4, "index", 201, "created")
		wantJSON(t, e.source(t, "b", "1"), `{"name":"x","tagged":true}`)
		wantJSON(t, e.source(t, "b", "2"), `{"name":"Y"}`)
		wantJSON(t, e.source(t, "b", "5"), `{"l":["A","B"]}`)
		if g := e.get(t, "b", "3"); g.Status != 404 {
			t.Errorf("a dropped document is not indexed: %s", g)
		}
	})
	t.Run("dropped single write", func(t *testing.T) {
		r := e.raw(t, "PUT", "/s/_doc/d?pipeline=dropper", `{}`)
		if wantStatus(t, r, 200) {
			wantExactBody(t, r, `{"_index":"s","_id":"d","_version":-3,"result":"noop","_shards":{"total":0,"successful":0,"failed":0}}`)
		}
	})
	t.Run("processor failure on a single write", func(t *testing.T) {
		wantError(t, e.raw(t, "PUT", "/s/_doc/f?pipeline=failer", `{}`), 400, iae, "field [missing] doesn't exist")
	})
	t.Run("processor errors", func(t *testing.T) {
		put("lc", `{"processors":[{"lowercase":{"field":"n"}}]}`)
		wantError(t, e.raw(t, "PUT", "/s/_doc/e1?pipeline=lc", `{"n":5}`), 400, iae, "field [n] of type [java.lang.Integer] cannot be cast to [java.lang.String]")
		wantError(t, e.raw(t, "PUT", "/s/_doc/e2?pipeline=lc", `{}`), 400, iae, "field [n] not present as part of path [n]")
		put("deep", `{"processors":[{"set":{"field":"a.b","value":1}}]}`)
		wantError(t, e.raw(t, "PUT", "/s/_doc/e3?pipeline=deep", `{"a":"s"}`), 400, iae, "cannot set [b] with parent object of type [java.lang.String] as part of path [a.b]")
		e.raw(t, "PUT", "/s/_doc/e4?pipeline=deep", `{"a":{"c":2}}`)
		wantJSON(t, e.source(t, "s", "e4"), `{"a":{"c":2,"b":1}}`)
		put("keep", `{"processors":[{"set":{"field":"k","value":9,"override":false}}]}`)
		if r := e.raw(t, "PUT", "/s/_doc/e5?pipeline=keep", `{"k":1}`); r.Status != 201 {
			t.Fatalf("override false: %s", r)
		}
		wantJSON(t, e.source(t, "s", "e5"), `{"k":1}`)
	})
	t.Run("YAML body through a pipeline", func(t *testing.T) {
		r := e.raw(t, "PUT", "/s/_doc/y?pipeline=tag", "name: YAML\n", "application/yaml")
		if wantStatus(t, r, 201) {
			wantJSON(t, e.source(t, "s", "y"), `{"name":"yaml","tagged":true}`)
		}
	})
}
