package proxy_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/proxy"
)

// sendCT is send with a Content-Type (and more headers) of the test's choice.
func sendCT(t *testing.T, method, url, ct, body string, headers ...string) response {
	t.Helper()
	return call(t, method, url, body, append([]string{"Content-Type", ct}, headers...)...)
}

// putPipelines stores the pipelines the read-back tests use, through the proxy.
func putPipelines(t *testing.T, u string) {
	t.Helper()
	for id, body := range map[string]string{
		"tag":     `{"processors":[{"set":{"field":"tagged","value":true}},{"lowercase":{"field":"name","ignore_missing":true}}]}`,
		"final":   `{"processors":[{"set":{"field":"final","value":1}}]}`,
		"dropper": `{"processors":[{"drop":{}}]}`,
	} {
		if r := send(t, http.MethodPut, u+"/_ingest/pipeline/"+id, body); r.status != 200 {
			t.Fatalf("PUT pipeline %s: %d %s", id, r.status, r.body)
		}
	}
}

// TestEventCarriesStoredDocument: index and create events carry the document as the
// primary stored it, as JSON, with the fetched state's version, whatever the body's media
// type and whichever pipeline changed it; plain JSON writes are not read back.
func TestEventCarriesStoredDocument(t *testing.T) {
	e, rec := startRecordedEnv(t)
	u := e.url()
	putPipelines(t, u)
	if r := send(t, http.MethodPut, u+"/dp", `{"settings":{"index.default_pipeline":"tag"}}`); r.status != 200 {
		t.Fatalf("create dp: %d %s", r.status, r.body)
	}
	if r := send(t, http.MethodPut, u+"/later", ``); r.status != 200 {
		t.Fatalf("create later: %d %s", r.status, r.body)
	}

	// Plain JSON, no pipeline: the request's bytes, no read-back (the settings of
	// "plain" are read once, for the cache).
	if r := send(t, http.MethodPut, u+"/plain/_doc/1", `{"name":"Plain"}`); r.status != 201 {
		t.Fatalf("plain: %d %s", r.status, r.body)
	}
	if r := send(t, http.MethodPost, u+"/_bulk", "{\"index\":{\"_index\":\"plain\",\"_id\":\"2\"}}\n{\"name\":\"B\"}\n"); r.status != 200 {
		t.Fatalf("plain bulk: %d %s", r.status, r.body)
	}
	if n := rec.requests(http.MethodPost, "/_mget"); n != 0 {
		t.Fatalf("plain JSON writes were read back (%d _mget)", n)
	}

	writes := []struct {
		name, method, path, ct, body string
		index, id, want              string
	}{
		{"YAML body", http.MethodPut, "/y/_doc/1", "application/yaml", "name: Yaml\nn: 1\n", "y", "1", `{"name":"Yaml","n":1}`},
		{"explicit pipeline", http.MethodPut, "/p/_doc/1?pipeline=tag", "application/json", `{"name":"Mixed"}`, "p", "1", `{"name":"mixed","tagged":true}`},
		{"default pipeline", http.MethodPost, "/dp/_doc/1", "application/json", `{"name":"Dflt"}`, "dp", "1", `{"name":"dflt","tagged":true}`},
		{"default pipeline in a bulk", http.MethodPost, "/_bulk", "application/x-ndjson",
			"{\"index\":{\"_index\":\"dp\",\"_id\":\"2\"}}\n{\"name\":\"Bulk\"}\n", "dp", "2", `{"name":"bulk","tagged":true}`},
		{"item pipeline in a bulk", http.MethodPost, "/_bulk", "application/x-ndjson",
			"{\"create\":{\"_index\":\"ip\",\"_id\":\"1\",\"pipeline\":\"tag\"}}\n{\"name\":\"Item\"}\n", "ip", "1", `{"name":"item","tagged":true}`},
		{"YAML through a pipeline", http.MethodPut, "/p/_doc/2?pipeline=tag", "application/yaml", "name: BOTH\n", "p", "2", `{"name":"both","tagged":true}`},
	}
	for _, w := range writes {
		r := sendCT(t, w.method, u+w.path, w.ct, w.body)
		if r.status/100 != 2 || strings.Contains(string(r.body), `"errors":true`) {
			t.Fatalf("%s: %d %s", w.name, r.status, r.body)
		}
		if w.ct == "application/yaml" && !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: answered %s, want JSON", w.name, r.header.Get("Content-Type"))
		}
	}

	// A final pipeline set later, through the proxy: the cached "no pipeline" of
	// "later" is forgotten.
	if r := send(t, http.MethodPut, u+"/later/_doc/1", `{"k":1}`); r.status != 201 {
		t.Fatalf("later/1: %d %s", r.status, r.body)
	}
	if r := send(t, http.MethodPut, u+"/later/_settings", `{"index.final_pipeline":"final"}`); r.status != 200 {
		t.Fatalf("settings: %d %s", r.status, r.body)
	}
	if r := send(t, http.MethodPut, u+"/later/_doc/2", `{"k":2}`); r.status != 201 {
		t.Fatalf("later/2: %d %s", r.status, r.body)
	}
	// A dropped document: noop, nothing to publish.
	if r := send(t, http.MethodPut, u+"/p/_doc/dropped?pipeline=dropper", `{}`); r.status != 200 || !strings.Contains(string(r.body), `"noop"`) {
		t.Fatalf("dropped: %d %s", r.status, r.body)
	}

	ops := e.published()
	check := func(index, id, want string) {
		t.Helper()
		op := newestEvent(ops, index, id)
		if op == nil {
			t.Fatalf("no event for %s/%s in %v", index, id, ops)
		}
		if got := compactJSON(t, op.GetSource()); got != want {
			t.Errorf("%s/%s: event source %s, want %s", index, id, got, want)
		}
		// the event's version is the primary's current one
		g := send(t, http.MethodGet, e.primaryURL+"/"+index+"/_doc/"+id, "")
		doc := g.json(t)
		if v, _ := doc["_version"].(float64); int64(v) != op.GetVersion() || op.GetSeqNo() != int64(doc["_seq_no"].(float64)) {
			t.Errorf("%s/%s: event version %d seq_no %d, primary has %s", index, id, op.GetVersion(), op.GetSeqNo(), g.body)
		}
		if src, _ := doc["_source"]; src == nil {
			t.Errorf("%s/%s: primary has no source", index, id)
		}
	}
	check("plain", "1", `{"name":"Plain"}`)
	check("plain", "2", `{"name":"B"}`)
	for _, w := range writes {
		check(w.index, w.id, w.want)
	}
	check("later", "1", `{"k":1}`)
	check("later", "2", `{"k":2,"final":1}`)
	if op := newestEvent(ops, "p", "dropped"); op != nil {
		t.Errorf("a dropped document published %v", op)
	}
	metrics := string(send(t, http.MethodGet, e.proxies[0].MetricsURL()+"/metrics", "").body)
	for _, want := range []string{`fanout_proxy_read_backs_total{outcome="ok"} 7`, `fanout_proxy_read_back_documents_total{result="published"} 7`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, grep(metrics, "fanout_proxy_read_back"))
		}
	}
}

// TestReadBackAlways: publish.read_back always reads back every index and create, and a
// document another client changed in between is published in its newer state.
func TestReadBackAlways(t *testing.T) {
	e, rec := startRecordedEnv(t, func(c *proxy.Config) { c.Publish.ReadBack = proxy.ReadBackAlways })
	u := e.url()
	// Another writer changes the document between the write and the read-back.
	rec.setBefore(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/_mget" {
			rec.setBefore(nil)
			if resp := send(t, http.MethodPut, e.primaryURL+"/a/_doc/1", `{"n":2}`); resp.status != 200 {
				t.Errorf("the other writer: %d %s", resp.status, resp.body)
			}
		}
		return false
	})
	if r := send(t, http.MethodPut, u+"/a/_doc/1", `{"n":1}`); r.status != 201 {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	ops := e.published()
	op := newestEvent(ops, "a", "1")
	if op == nil || compactJSON(t, op.GetSource()) != `{"n":2}` || op.GetVersion() != 2 || op.GetSeqNo() != 1 {
		t.Fatalf("want the newer state (version 2, seq_no 1, n=2), got %v", op)
	}
}

// TestReadBackFails: the write is applied but its document cannot be read back (the
// primary fails the read, does not answer it within primary.timeout, or no longer has the
// document): the client learns the write was applied and not queued, naming it, and the
// request's other events are published.
func TestReadBackFails(t *testing.T) {
	cases := []struct {
		name   string
		before func(e *env) func(w http.ResponseWriter, r *http.Request) bool
		reason string
	}{
		{"read fails", func(*env) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"error":{"type":"exception","reason":"boom"},"status":500}`))
				return true
			}
		}, "could not read 1 written documents back"},
		{"read times out", func(e *env) func(w http.ResponseWriter, r *http.Request) bool {
			stop := make(chan struct{})
			e.t.Cleanup(func() { close(stop) }) // before the primary's server closes
			return func(w http.ResponseWriter, r *http.Request) bool {
				// no answer for longer than primary.timeout: the proxy gives up
				select {
				case <-r.Context().Done():
				case <-stop:
				}
				return true
			}
		}, "could not read 1 written documents back"},
		{"deleted in between", func(e *env) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if resp := send(e.t, http.MethodDelete, e.primaryURL+"/rb/_doc/1", ""); resp.status != 200 {
					e.t.Errorf("the concurrent delete: %d %s", resp.status, resp.body)
				}
				return false
			}
		}, "not found: deleted since"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, rec := startRecordedEnv(t, func(c *proxy.Config) { c.Primary.Timeout = 2 * time.Second })
			u := e.url()
			putPipelines(t, u)
			if r := send(t, http.MethodPut, u+"/rb/_doc/gone", `{}`); r.status != 201 {
				t.Fatalf("seed: %d %s", r.status, r.body)
			}
			before := tc.before(e)
			rec.setBefore(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/_mget" {
					return false
				}
				rec.setBefore(nil)
				return before(w, r)
			})
			body := "{\"index\":{\"_index\":\"rb\",\"_id\":\"1\",\"pipeline\":\"tag\"}}\n{\"name\":\"X\"}\n" +
				"{\"delete\":{\"_index\":\"rb\",\"_id\":\"gone\"}}\n"
			resp := send(t, http.MethodPost, u+"/_bulk", body)
			if resp.status != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503: %s", resp.status, resp.body)
			}
			errObj, _ := resp.json(t)["error"].(map[string]any)
			reason, _ := errObj["reason"].(string)
			if errObj["type"] != "fanout_replication_exception" || strings.Join(toStrings(errObj["fanout.applied"]), ",") != "rb/1" ||
				!strings.Contains(reason, "applied 2 writes") || !strings.Contains(reason, tc.reason) {
				t.Fatalf("error %s", resp.body)
			}
			ops := e.published()
			if op := newestEvent(ops, "rb", "gone"); op == nil || op.GetKind() != opspb.Kind_KIND_DELETE {
				t.Errorf("the delete's event must be published: %v", ops)
			}
			if op := newestEvent(ops, "rb", "1"); op != nil {
				t.Errorf("an unread document was published: %v", op)
			}
		})
	}
}

// TestUnreplicableRefusedBeforePrimary: writes the proxy could not replicate for their
// media types are refused with 406 before anything reaches the primary.
func TestUnreplicableRefusedBeforePrimary(t *testing.T) {
	e, rec := startRecordedEnv(t)
	u := e.url()
	cases := []struct {
		name, method, path, ct, body string
		headers                      []string
	}{
		{"SMILE bulk", http.MethodPost, "/_bulk", "application/smile", ":)\n\x05\xfa", nil},
		{"YAML update", http.MethodPost, "/u/_update/1", "application/yaml", "doc:\n  a: 1\n", nil},
		{"YAML answer asked", http.MethodPut, "/u/_doc/1", "application/json", `{"a":1}`, []string{"Accept", "application/yaml"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := sendCT(t, tc.method, u+tc.path, tc.ct, tc.body, tc.headers...)
			if r.status != http.StatusNotAcceptable || !strings.Contains(string(r.body), "fanout_unreplicable_request_exception") ||
				!strings.Contains(string(r.body), "nothing was sent to the primary") {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if n := rec.requests(tc.method, tc.path); n != 0 {
				t.Fatalf("the primary received %d such requests", n)
			}
		})
	}
	// A YAML or CBOR bulk goes on: the primary refuses it itself, and applies nothing.
	r := sendCT(t, http.MethodPost, u+"/_bulk", "application/yaml", "index: {}\n")
	if r.status != http.StatusNotAcceptable || !strings.Contains(string(r.body), "does not support stream parsing") {
		t.Fatalf("YAML bulk: %d %s", r.status, r.body)
	}
	e.noEvents()
}

// TestSMILEDocumentReadBack: the emulator does not decode SMILE, so this proves only the
// proxy's side of a SMILE document write: the primary is asked for a JSON answer (a
// cluster answers in the body's media type otherwise), the document is read back, and
// the event carries the fetched JSON, never the SMILE bytes. The primary's handling of
// the SMILE body is stood in for by indexing its JSON form, as OpenSearch would store and
// convert it.
func TestSMILEDocumentReadBack(t *testing.T) {
	e, rec := startRecordedEnv(t)
	u := e.url()
	var accept string
	rec.setBefore(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPut || r.URL.Path != "/s/_doc/1" {
			return false
		}
		accept = r.Header.Get("Accept")
		r2, err := http.NewRequestWithContext(r.Context(), http.MethodPut, "/s/_doc/1", strings.NewReader(`{"smile":true}`))
		if err != nil {
			t.Error(err)
			return false
		}
		r2.Header.Set("Content-Type", "application/json")
		e.primary.ServeHTTP(w, r2)
		return true
	})
	smile := ":)\n\x05\xfa\x84smile#\xfb" // {"smile":true} in SMILE
	if r := sendCT(t, http.MethodPut, u+"/s/_doc/1", "application/smile", smile); r.status != 201 {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	if accept != "application/json" {
		t.Errorf("the primary was asked for %q, want application/json", accept)
	}
	op := newestEvent(e.published(), "s", "1")
	if op == nil || compactJSON(t, op.GetSource()) != `{"smile":true}` || op.GetVersion() != 1 {
		t.Fatalf("event %v", op)
	}
	if n := rec.requests(http.MethodPost, "/_mget"); n != 1 {
		t.Errorf("%d read-backs, want 1", n)
	}
}

// TestReadBackConfig: publish.read_back and publish.pipeline_settings_ttl are validated
// with errors that name the key.
func TestReadBackConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*proxy.Config)
		want string
	}{
		{"unknown mode", func(c *proxy.Config) { c.Publish.ReadBack = "sometimes" }, "publish.read_back"},
		{"no ttl", func(c *proxy.Config) { c.Publish.PipelineSettingsTTL = 0 }, "publish.pipeline_settings_ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := proxy.DefaultConfig()
			cfg.Primary.Endpoints = []string{"http://127.0.0.1:9200"}
			cfg.Kafka.Brokers = []string{"127.0.0.1:9092"}
			tc.set(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error naming %s", err, tc.want)
			}
		})
	}
	if cfg := proxy.DefaultConfig(); cfg.Publish.ReadBack != proxy.ReadBackAuto {
		t.Errorf("default read_back %q", cfg.Publish.ReadBack)
	}
}
