package replication_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/metadata"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// The metadata suites: index lifecycle, mappings, settings, aliases, rollover, templates
// and data streams sent through the proxy while several clients write documents of the
// same indices, replicated to two targets that start empty, each applied by two
// replicator instances of one group over 12 partitions. The primary's mappings are
// strict, so a document that reached a target before the mapping change it needs would
// be refused there (and dead-lettered); an index deleted while documents of it are still
// queued on other partitions would be re-created by them on a target that applied the
// delete first. Every case ends with both targets equal to the primary: documents with
// versions, mappings, settings (but the target-local ones), aliases, templates and
// pipelines, and nothing dead-lettered.

const metaPartitions = 12

type metaStack struct {
	kafka      *kafkatest.Cluster
	primary    *emulator
	proxy      string
	targets    []*emulator
	names      []string
	groups     []string
	replicator [][]*replicatortest.Running // per target, its two instances
}

// metaOpts configure the clusters of a metadata stack.
type metaOpts struct {
	primary []func(*searchemu.Options)
	target  map[string][]func(*searchemu.Options) // by target name (b, c)
}

// startMetaStack starts the primary (with none of the workload's indices), the proxy,
// and two empty targets with two replicators each.
func startMetaStack(t *testing.T, o ...metaOpts) *metaStack {
	t.Helper()
	var opts metaOpts
	if len(o) > 0 {
		opts = o[0]
	}
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, metaPartitions))
	s := &metaStack{kafka: k, primary: startEmulator(t, "primary", opts.primary...)}
	cfg := proxytest.Config(s.primary.url, k.Addrs(), topic)
	cfg.MetricsListen = ""
	s.proxy = proxytest.Start(t, cfg, testLogger()).URL()
	for _, name := range []string{"b", "c"} {
		target := startEmulator(t, name, opts.target[name]...)
		s.targets = append(s.targets, target)
		s.names = append(s.names, name)
		rcfg := testConfig(k, target, name)
		var rs []*replicatortest.Running
		for range 2 {
			rs = append(rs, startReplicator(t, rcfg))
		}
		s.groups = append(s.groups, rs[0].Group())
		s.replicator = append(s.replicator, rs)
	}
	return s
}

// metric sums a replicator metric over target i's instances.
func (s *metaStack) metric(t *testing.T, i int, name string, labels map[string]string) float64 {
	t.Helper()
	sum := 0.0
	for _, rr := range s.replicator[i] {
		sum += rr.Metric(t, name, labels)
	}
	return sum
}

// must sends a request through the proxy and fails the test unless it succeeds.
func (s *metaStack) must(t *testing.T, method, path, body string) []byte {
	t.Helper()
	code, ans := httpDo(t, method, s.proxy+path, body)
	if code/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, code, ans)
	}
	return ans
}

// converged waits for both groups to commit the end of the topic and compares each
// target with the primary: documents with versions, and metadata.
func (s *metaStack) converged(t *testing.T, indices ...string) {
	t.Helper()
	s.convergedExcept(t, metadata.Settings{}, true, indices...)
}

// convergedExcept is converged with the settings compared as settings says, and the
// dead-letter topics checked for emptiness when noDLQ is set.
func (s *metaStack) convergedExcept(t *testing.T, settings metadata.Settings, noDLQ bool, indices ...string) {
	t.Helper()
	for i, target := range s.targets {
		waitCaughtUp(t, s.kafka, s.groups[i], 3*time.Minute)
		rep := assertConverged(t, s.primary, target, nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		meta, err := converge.CompareMetadata(ctx, s.primary.client, target.client, converge.MetaOptions{
			Indices: indices, Templates: true, Pipelines: true, Settings: settings,
		})
		cancel()
		if err != nil {
			t.Fatalf("comparing the metadata of %s with the primary's: %v", target.url, err)
		}
		if !meta.Converged() {
			t.Fatalf("the metadata of %s differs from the primary's: %s", target.url, meta)
		}
		if noDLQ {
			dlqEmpty(t, s.kafka, s.names[i])
		}
		t.Logf("target %s: %d documents and the metadata of %v converged", target.url, rep.Compared, indices)
	}
}

// docWriters are clients writing documents of one index through the proxy, several at
// once on the same ids, each write a bulk of a few index actions.
type docWriters struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	written atomic.Int64
	mu      sync.Mutex
	err     error
}

// startDocWriters starts n writers of index; doc(k) is the source of a document with
// number k, built when it is sent (so that a writer can switch to a new field once the
// mapping change that allows it was answered).
func startDocWriters(t *testing.T, proxy, index string, n int, doc func(k int) string) *docWriters {
	t.Helper()
	w := &docWriters{stop: make(chan struct{})}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}, Timeout: time.Minute}
	for g := range n {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 12))
			for {
				select {
				case <-w.stop:
					return
				default:
				}
				var b strings.Builder
				for range 5 {
					k := rng.IntN(300)
					fmt.Fprintf(&b, "{\"index\":{\"_index\":%q,\"_id\":\"d-%d\"}}\n%s\n", index, k, doc(k))
				}
				if err := bulkOK(client, proxy, b.String()); err != nil {
					w.mu.Lock()
					w.err = err
					w.mu.Unlock()
					return
				}
				w.written.Add(5)
				time.Sleep(time.Millisecond)
			}
		}()
	}
	t.Cleanup(func() { w.finish(t); client.CloseIdleConnections() })
	return w
}

// waitWritten waits until the writers wrote at least n more documents.
func (w *docWriters) waitWritten(t *testing.T, n int64) {
	t.Helper()
	target := w.written.Load() + n
	replicatortest.WaitFor(t, time.Minute, fmt.Sprintf("%d documents written", target), func() bool {
		w.mu.Lock()
		err := w.err
		w.mu.Unlock()
		if err != nil {
			t.Fatalf("writer: %v", err)
		}
		return w.written.Load() >= target
	})
}

func (w *docWriters) finish(t *testing.T) {
	t.Helper()
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		t.Fatalf("writer: %v", w.err)
	}
}

// bulkOK sends one bulk; any answer but 200 without item errors is an error.
func bulkOK(client *http.Client, proxy, body string) error {
	req, err := http.NewRequest(http.MethodPost, proxy+"/_bulk", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var ans struct {
		Errors bool `json:"errors"`
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &ans) != nil || ans.Errors {
		return fmt.Errorf("bulk: %d %.500s", resp.StatusCode, raw)
	}
	return nil
}

// TestMetadataOrderedWithDocuments: create with a strict mapping, documents, a mapping
// change and documents using the new field, a settings change, alias swap, delete and
// re-create with another mapping, all while writers write the index.
func TestMetadataOrderedWithDocuments(t *testing.T) {
	s := startMetaStack(t)
	s.must(t, http.MethodPut, "/books", `{"settings":{"number_of_shards":3,"number_of_replicas":1},
		"mappings":{"dynamic":"strict","properties":{"title":{"type":"text"},"n":{"type":"long"}}}}`)
	var tagged atomic.Bool
	w := startDocWriters(t, s.proxy, "books", 4, func(k int) string {
		if tagged.Load() {
			return fmt.Sprintf(`{"title":"t%d","n":%d,"tag":"k%d"}`, k, k, k%7)
		}
		return fmt.Sprintf(`{"title":"t%d","n":%d}`, k, k)
	})
	w.waitWritten(t, 200)
	s.must(t, http.MethodPut, "/books/_mapping", `{"properties":{"tag":{"type":"keyword"}}}`)
	tagged.Store(true)
	w.waitWritten(t, 200)
	// refresh_interval is the index's and is copied; number_of_replicas is each
	// cluster's own.
	s.must(t, http.MethodPut, "/books/_settings", `{"index":{"refresh_interval":"2s","number_of_replicas":0}}`)
	s.must(t, http.MethodPut, "/books/_alias/library", "")
	w.waitWritten(t, 100)

	s.must(t, http.MethodPut, "/books2", `{"mappings":{"dynamic":"strict","properties":{"n":{"type":"long"}}}}`)
	w2 := startDocWriters(t, s.proxy, "books2", 2, func(k int) string { return fmt.Sprintf(`{"n":%d}`, k) })
	w2.waitWritten(t, 200)
	s.must(t, http.MethodPost, "/_aliases", `{"actions":[{"remove":{"index":"books","alias":"library"}},{"add":{"index":"books2","alias":"library","is_write_index":true}}]}`)
	w2.finish(t)
	// Delete and re-create with the field's type changed: a document of the old index
	// applied after the re-creation would be refused by the new mapping.
	s.must(t, http.MethodDelete, "/books2", "")
	s.must(t, http.MethodPut, "/books2", `{"mappings":{"dynamic":"strict","properties":{"n":{"type":"keyword"},"v":{"type":"long"}}}}`)
	w3 := startDocWriters(t, s.proxy, "books2", 2, func(k int) string { return fmt.Sprintf(`{"n":"x%d","v":%d}`, k, k) })
	w3.waitWritten(t, 200)
	w3.finish(t)
	w.finish(t)
	s.converged(t, "books", "books2")
}

// TestMetadataDeleteWhileDocumentsInFlight: documents of an index are still queued on
// every partition (the targets are slow) when the index is deleted through the proxy;
// no target re-creates it.
func TestMetadataDeleteWhileDocumentsInFlight(t *testing.T) {
	s := startMetaStack(t)
	for _, target := range s.targets {
		target.SetFaults(searchemu.Faults{Latency: 30 * time.Millisecond})
	}
	s.must(t, http.MethodPut, "/temp", `{"settings":{"number_of_shards":2}}`)
	s.must(t, http.MethodPut, "/kept", `{"settings":{"number_of_shards":2}}`)
	w := startDocWriters(t, s.proxy, "temp", 4, func(k int) string { return fmt.Sprintf(`{"n":%d}`, k) })
	wk := startDocWriters(t, s.proxy, "kept", 2, func(k int) string { return fmt.Sprintf(`{"n":%d}`, k) })
	w.waitWritten(t, 600)
	w.finish(t)
	behind, err := replicatortest.Behind(context.Background(), s.kafka.Client(t), s.groups[0], topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(behind) == 0 {
		t.Fatal("the targets caught up before the delete: the test would not show ordering")
	}
	s.must(t, http.MethodDelete, "/temp", "")
	wk.waitWritten(t, 100)
	wk.finish(t)
	for _, target := range s.targets {
		target.SetFaults(searchemu.Faults{})
	}
	s.converged(t, "kept")
	for _, target := range s.targets {
		if code, ans := httpDo(t, http.MethodHead, target.url+"/temp", ""); code != http.StatusNotFound {
			t.Errorf("target %s has index temp after its delete: %d %s", target.url, code, ans)
		}
	}
}

// TestMetadataRolloverTemplatesDataStreams: a template, then an index it auto-creates;
// a rollover through a write alias; an ingest pipeline; a data stream and its rollover.
func TestMetadataRolloverTemplatesDataStreams(t *testing.T) {
	s := startMetaStack(t)
	s.must(t, http.MethodPut, "/_component_template/base", `{"template":{"settings":{"number_of_shards":2}}}`)
	s.must(t, http.MethodPut, "/_index_template/metrics", `{"index_patterns":["metrics-*"],"composed_of":["base"],
		"template":{"mappings":{"properties":{"v":{"type":"long"}}}}}`)
	s.must(t, http.MethodPut, "/_template/legacy", `{"index_patterns":["legacy-*"],"settings":{"number_of_shards":1}}`)
	s.must(t, http.MethodPut, "/_ingest/pipeline/stamp", `{"processors":[{"set":{"field":"stamped","value":true}}]}`)
	wm := startDocWriters(t, s.proxy, "metrics-a", 2, func(k int) string { return fmt.Sprintf(`{"v":%d}`, k) })
	wm.waitWritten(t, 100)
	wm.finish(t)

	s.must(t, http.MethodPut, "/logs-000001", `{"aliases":{"logs":{"is_write_index":true}}}`)
	wl := startDocWriters(t, s.proxy, "logs", 2, func(k int) string { return fmt.Sprintf(`{"n":%d}`, k) })
	wl.waitWritten(t, 100)
	s.must(t, http.MethodPost, "/logs/_rollover", "")
	wl.waitWritten(t, 100)
	wl.finish(t)

	s.must(t, http.MethodPut, "/_index_template/events", `{"index_patterns":["events*"],"data_stream":{},"priority":10,
		"template":{"mappings":{"properties":{"@timestamp":{"type":"date"},"n":{"type":"long"}}}}}`)
	s.must(t, http.MethodPut, "/_data_stream/events", "")
	for k := range 40 {
		if k == 20 {
			s.must(t, http.MethodPost, "/events/_rollover", "")
		}
		s.must(t, http.MethodPost, "/events/_doc?op_type=create", fmt.Sprintf(`{"@timestamp":"2026-12-02T00:00:%02dZ","n":%d}`, k, k))
	}
	s.converged(t, "metrics-a", "logs-000001", "logs-000002", ".ds-events-000001", ".ds-events-000002")
	for _, target := range s.targets {
		code, ans := httpDo(t, http.MethodGet, target.url+"/_data_stream/events", "")
		if code != http.StatusOK || !strings.Contains(string(ans), `"generation":2`) {
			t.Errorf("data stream events on %s: %d %s", target.url, code, ans)
		}
	}
}

// TestMetadataTargetRefusesSetting: target c lacks the plugin whose index setting the
// primary and target b have. The settings change that sets it is dead-lettered on c with
// the target's reason; the documents written before and after it replicate to both.
func TestMetadataTargetRefusesSetting(t *testing.T) {
	acme := func(o *searchemu.Options) {
		o.PluginIndexSettings = []searchemu.IndexSetting{{Key: "index.acme.", Dynamic: true}}
	}
	s := startMetaStack(t, metaOpts{primary: []func(*searchemu.Options){acme},
		target: map[string][]func(*searchemu.Options){"b": {acme}}})
	s.must(t, http.MethodPut, "/books", `{"settings":{"number_of_shards":2},"mappings":{"properties":{"n":{"type":"long"}}}}`)
	w := startDocWriters(t, s.proxy, "books", 3, func(k int) string { return fmt.Sprintf(`{"n":%d}`, k) })
	w.waitWritten(t, 150)
	s.must(t, http.MethodPut, "/books/_settings", `{"index.acme.boost":"3","index.refresh_interval":"3s"}`)
	w.waitWritten(t, 150)
	w.finish(t)
	s.convergedExcept(t, metadata.Settings{Ignore: []string{"index.acme.*", "index.refresh_interval"}}, false, "books")
	dlqEmpty(t, s.kafka, "b")
	dlq := replicator.DLQTopic("{topic}.dlq.{cluster}", topic, "c")
	recs := s.kafka.ConsumeAll(t, dlq, 10*time.Second)
	if len(recs) != 1 {
		t.Fatalf("c's dead-letter topic has %d records, want the one settings change", len(recs))
	}
	h := map[string]string{}
	for _, hd := range recs[0].Headers {
		h[hd.Key] = string(hd.Value)
	}
	if h[kafkax.HeaderErrorClass] != "metadata" || !strings.Contains(h[kafkax.HeaderErrorReason], "unknown setting [index.acme.boost]") {
		t.Errorf("dead letter headers %v", h)
	}
	// b took the whole change, c nothing of the refused step (the settings request is
	// one step: refresh_interval came with it).
	for i, want := range []string{"3s", ""} {
		_, ans := httpDo(t, http.MethodGet, s.targets[i].url+"/books/_settings/index.acme.boost?flat_settings=true", "")
		if got := strings.Contains(string(ans), `"3"`); got != (want != "") {
			t.Errorf("target %s: index.acme.boost %s", s.names[i], ans)
		}
	}
}

// TestMetadataAcrossVendors: an OpenSearch 2 primary with the k-NN plugin's settings
// replicated to an Elasticsearch 7 target (which does not know them: left out, counted)
// and to an OpenSearch 1 target with the plugin; then an Elasticsearch 7 primary, written
// with its typed document APIs, replicated to OpenSearch 2 targets (the state read back
// is typeless, as Elasticsearch 7 answers GET /{index} without include_type_name).
func TestMetadataAcrossVendors(t *testing.T) {
	knn := func(o *searchemu.Options) {
		o.PluginIndexSettings = []searchemu.IndexSetting{{Key: "index.knn"}, {Key: "index.knn.", Dynamic: true}}
	}
	flavor := func(f searchemu.Flavor) func(*searchemu.Options) { return func(o *searchemu.Options) { o.Flavor = f } }
	t.Run("opensearch to elasticsearch", func(t *testing.T) {
		s := startMetaStack(t, metaOpts{primary: []func(*searchemu.Options){knn},
			target: map[string][]func(*searchemu.Options){"b": {flavor(searchemu.Elasticsearch7)}, "c": {flavor(searchemu.OpenSearch1), knn}}})
		s.must(t, http.MethodPut, "/vectors", `{"settings":{"number_of_shards":2,"index.knn":true},"mappings":{"properties":{"n":{"type":"long"}}}}`)
		w := startDocWriters(t, s.proxy, "vectors", 2, func(k int) string { return fmt.Sprintf(`{"n":%d}`, k) })
		w.waitWritten(t, 100)
		s.must(t, http.MethodPut, "/vectors/_settings", `{"index.knn.algo_param.ef_search":90}`)
		s.must(t, http.MethodPut, "/vectors/_mapping", `{"properties":{"m":{"type":"keyword"}}}`)
		w.waitWritten(t, 100)
		w.finish(t)
		s.convergedExcept(t, metadata.Settings{Ignore: []string{"index.knn", "index.knn.*"}}, true, "vectors")
		if got := s.metric(t, 0, "fanout_replicator_metadata_steps_total", map[string]string{"kind": "settings", "result": "dropped"}); got < 2 {
			t.Errorf("the Elasticsearch target counted %v settings left out, want index.knn and ef_search", got)
		}
		_, ans := httpDo(t, http.MethodGet, s.targets[1].url+"/vectors/_settings?flat_settings=true", "")
		if !strings.Contains(string(ans), `"index.knn.algo_param.ef_search":"90"`) {
			t.Errorf("the OpenSearch target with the plugin lacks its settings: %s", ans)
		}
	})
	t.Run("elasticsearch 7 to opensearch", func(t *testing.T) {
		s := startMetaStack(t, metaOpts{primary: []func(*searchemu.Options){flavor(searchemu.Elasticsearch7)}})
		s.must(t, http.MethodPut, "/legacy", `{"settings":{"number_of_shards":2},"mappings":{"properties":{"n":{"type":"long"}}}}`)
		for k := range 50 {
			// The typed document API of Elasticsearch 7 (type _doc).
			s.must(t, http.MethodPut, fmt.Sprintf("/legacy/_doc/d-%d", k), fmt.Sprintf(`{"n":%d}`, k))
		}
		s.must(t, http.MethodPut, "/legacy/_mapping", `{"properties":{"m":{"type":"keyword"}}}`)
		s.must(t, http.MethodPut, "/legacy/_alias/old", "")
		for k := range 50 {
			s.must(t, http.MethodPost, "/_bulk", fmt.Sprintf("{\"index\":{\"_index\":\"legacy\",\"_type\":\"_doc\",\"_id\":\"e-%d\"}}\n{\"n\":%d,\"m\":\"x\"}\n", k, k))
		}
		s.converged(t, "legacy")
	})
}
