package replication_test

import (
	"context"
	"encoding/json"
	"io"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
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
	kafka   *kafkatest.Cluster
	primary *emulator
	proxy   string
	targets []*emulator
	names   []string
	groups  []string
}

// startMetaStack starts the primary (with none of the workload's indices), the proxy,
// and two empty targets with two replicators each.
func startMetaStack(t *testing.T, targetOpts ...func(name string) []func(*searchemu.Options)) *metaStack {
	t.Helper()
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, metaPartitions))
	s := &metaStack{kafka: k, primary: startEmulator(t, "primary")}
	cfg := proxytest.Config(s.primary.url, k.Addrs(), topic)
	cfg.MetricsListen = ""
	s.proxy = proxytest.Start(t, cfg, testLogger()).URL()
	for _, name := range []string{"b", "c"} {
		var opts []func(*searchemu.Options)
		for _, o := range targetOpts {
			opts = append(opts, o(name)...)
		}
		target := startEmulator(t, name, opts...)
		s.targets = append(s.targets, target)
		s.names = append(s.names, name)
		rcfg := testConfig(k, target, name)
		for i := range 2 {
			rr := startReplicator(t, rcfg)
			if i == 0 {
				s.groups = append(s.groups, rr.Group())
			}
		}
	}
	return s
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
	for i, target := range s.targets {
		waitCaughtUp(t, s.kafka, s.groups[i], 3*time.Minute)
		rep := assertConverged(t, s.primary, target, nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		meta, err := converge.CompareMetadata(ctx, s.primary.client, target.client, converge.MetaOptions{
			Indices: indices, Templates: true, Pipelines: true,
		})
		cancel()
		if err != nil {
			t.Fatalf("comparing the metadata of %s with the primary's: %v", target.url, err)
		}
		if !meta.Converged() {
			t.Fatalf("the metadata of %s differs from the primary's: %s", target.url, meta)
		}
		dlqEmpty(t, s.kafka, s.names[i])
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
