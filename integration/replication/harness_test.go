// Package replication_test holds the end-to-end suites of replication under faults:
// clients write through the real ingest proxy to an in-memory primary, the proxy
// publishes to an embedded Kafka, and real replicator engines apply the events to
// in-memory targets whose faults the tests drive. They need the emulator's fault
// injection and operation log, so they run on the embedded backend only.
package replication_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"go.uber.org/goleak"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/testbed/searchemu/emutest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const topic = "fanout.ops"

// shards is the number of primary shards of every index the suites write: several, so
// that a routed document written, updated or deleted without its routing would be
// missed or doubled on a real cluster.
const shards = 3

// testLogger is the engines' logger: their warnings show with -v.
func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

// emulator is a searchemu cluster served on 127.0.0.1.
type emulator struct {
	*searchemu.Cluster
	url    string
	client *opensearch.Client
}

func startEmulator(t testing.TB, name string, opts ...func(*searchemu.Options)) *emulator {
	t.Helper()
	e := emutest.Start(t, name, opts...)
	return &emulator{Cluster: e.Cluster, url: e.URL, client: e.Client(t)}
}

// createIndices creates each index on e with shards primary shards, as the suites'
// indices must be before the first write (auto-creation would make one shard).
func (e *emulator) createIndices(t testing.TB, indices ...string) {
	t.Helper()
	for _, ix := range indices {
		body := fmt.Sprintf(`{"settings":{"number_of_shards":%d}}`, shards)
		if code, ans := httpDo(t, http.MethodPut, e.url+"/"+url.PathEscape(ix), body); code != http.StatusOK {
			t.Fatalf("creating %s on %s: %d %s", ix, e.url, code, ans)
		}
	}
}

// pipeline is a primary behind the ingest proxy, publishing to an embedded Kafka.
type pipeline struct {
	kafka   *kafkatest.Cluster
	primary *emulator
	proxy   string
}

// startPipeline starts Kafka with partitions partitions of topic, a primary holding the
// workload's indices (an OpenSearch 2 one unless opts say otherwise), and the proxy in
// front of it.
func startPipeline(t *testing.T, partitions int32, opts ...func(*searchemu.Options)) *pipeline {
	t.Helper()
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, partitions))
	primary := startEmulator(t, "primary", opts...)
	primary.createIndices(t, workloadIndices...)
	cfg := proxytest.Config(primary.url, k.Addrs(), topic)
	cfg.MetricsListen = ""
	p := proxytest.Start(t, cfg, testLogger())
	return &pipeline{kafka: k, primary: primary, proxy: p.URL()}
}

// startTarget starts a target cluster holding the workload's indices, renamed by rename
// (a replicator's indices.rename template; "" keeps the names).
func startTarget(t *testing.T, name, rename string, opts ...func(*searchemu.Options)) *emulator {
	t.Helper()
	e := startEmulator(t, name, opts...)
	if rename == "" {
		rename = "{index}"
	}
	for _, ix := range workloadIndices {
		e.createIndices(t, replicator.RenameIndex(rename, ix))
	}
	return e
}

// testConfig is a replicator configuration for tests: fast commits, retries and lag
// readings.
func testConfig(k *kafkatest.Cluster, target *emulator, name string) replicator.Config {
	return replicatortest.Config(name, target.url, k.Addrs(), topic)
}

// withPrimary makes cfg resolve late INDEX events (older than window) against primary
// (primary.endpoints, late_events.window).
func withPrimary(cfg replicator.Config, primary *emulator, window time.Duration) replicator.Config {
	cfg.Primary.Endpoints = []string{primary.url}
	cfg.LateEvents.Window = window
	return cfg
}

func startReplicator(t testing.TB, cfg replicator.Config) *replicatortest.Running {
	t.Helper()
	return replicatortest.Start(t, cfg, testLogger())
}

// waitCaughtUp waits until group has committed the end of every partition.
func waitCaughtUp(t testing.TB, k *kafkatest.Cluster, group string, timeout time.Duration) {
	t.Helper()
	replicatortest.WaitCaughtUp(t, k.Client(t), group, topic, timeout)
}

// replicaVersion is the _version a replica holds for a primary document.
func replicaVersion(v converge.DocVersion) int64 {
	rv, err := event.ReplicationVersion(v.SeqNo, v.PrimaryTerm, v.Version, v.HasSeqNo)
	if err != nil {
		return -1
	}
	return rv
}

// assertConverged compares a replica with the primary, document by document: source,
// version and routing.
func assertConverged(t testing.TB, primary, replica *emulator, rename func(string) string) *converge.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := converge.Compare(ctx, primary.client, replica.client, converge.Options{
		Mode:          converge.Full, // sources too: a replicator bug may write the right version with the wrong document
		ReplicaIndex:  rename,
		ExpectVersion: replicaVersion,
		Refresh:       true,
	})
	if err != nil {
		t.Fatalf("comparing %s with the primary: %v", replica.url, err)
	}
	if !rep.Converged() {
		t.Fatalf("replica %s did not converge: %s", replica.url, rep)
	}
	if rep.Compared == 0 {
		t.Fatalf("compared no documents")
	}
	return rep
}

// dlqEmpty asserts that nothing reached cluster's dead-letter topic.
func dlqEmpty(t *testing.T, k *kafkatest.Cluster, cluster string) {
	t.Helper()
	dlq := replicator.DLQTopic("{topic}.dlq.{cluster}", topic, cluster)
	if recs := k.ConsumeAll(t, dlq, 10*time.Second); len(recs) > 0 {
		t.Errorf("dead-letter topic of %s has records, e.g. headers %v", cluster, recs[0].Headers)
	}
}

// workloadIndices are the indices the workload writes.
var workloadIndices = []string{"orders", "users", "tenants"}

// workload writes random index / update / delete operations on an overlapping id
// space through the proxy, as bulk requests. Every document of "tenants" and every
// third id elsewhere is routed; a document's routing is a function of its id, so that
// its updates and deletes carry the routing it was written with, as clients must.
type workload struct {
	url     string
	ids     int
	perBulk int
	client  *http.Client
	ops     atomic.Int64 // operations sent (accepted or not by the primary)
}

func newWorkload(t testing.TB, url string, ids, perBulk int) *workload {
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &workload{url: url, ids: ids, perBulk: perBulk, client: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// routing is the routing of document n of index ix ("" for none).
func routing(ix string, n int) string {
	if ix == "tenants" || n%3 == 0 {
		return "t" + strconv.Itoa(n%5)
	}
	return ""
}

// bulk builds one request of perBulk operations.
func (w *workload) bulk(rng *rand.Rand, seq int) []byte {
	var b bytes.Buffer
	for i := 0; i < w.perBulk; i++ {
		ix := workloadIndices[rng.IntN(len(workloadIndices))]
		num := rng.IntN(w.ids)
		id := fmt.Sprintf("d-%d", num)
		meta := fmt.Sprintf(`"_index":%q,"_id":%q`, ix, id)
		if r := routing(ix, num); r != "" {
			meta += fmt.Sprintf(`,"routing":%q`, r)
		}
		n := seq*w.perBulk + i
		switch x := rng.IntN(10); {
		case x < 5:
			fmt.Fprintf(&b, "{\"index\":{%s}}\n{\"n\":%d,\"kind\":\"full\",\"text\":\"doc %s written %d\",\"tags\":[\"a\",\"b%d\"]}\n",
				meta, n, id, n, n%7)
		case x < 8:
			fmt.Fprintf(&b, "{\"update\":{%s}}\n{\"doc\":{\"n\":%d,\"updated\":true},\"doc_as_upsert\":true}\n", meta, n)
		default:
			fmt.Fprintf(&b, "{\"delete\":{%s}}\n", meta)
		}
	}
	return b.Bytes()
}

// run sends total operations from `clients` goroutines, pausing `gap` between a
// client's requests, until all are sent or stop is closed. Requests in flight are
// never cancelled: a write cut off between the primary and the proxy has an unknown
// outcome, which is the proxy's business, not this test's.
func (w *workload) run(t testing.TB, stop <-chan struct{}, total, clients int, gap time.Duration, seed uint64) {
	t.Helper()
	bulks := total / w.perBulk
	next := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			for seq := range next {
				if err := w.send(context.Background(), w.bulk(rng, seq)); err != nil {
					errs <- err
					return
				}
				w.ops.Add(int64(w.perBulk))
				if gap > 0 {
					// Pacing: a client's think time sets the write rate, which is
					// the load under test, not a wait for anything.
					time.Sleep(gap)
				}
			}
		}()
	}
	var failed error
loop:
	for i := 0; i < bulks; i++ {
		select {
		case next <- i:
		case <-stop:
			break loop
		case failed = <-errs:
			break loop
		}
	}
	close(next)
	wg.Wait()
	w.client.CloseIdleConnections()
	if failed == nil {
		select {
		case failed = <-errs:
		default:
		}
	}
	if failed != nil {
		t.Errorf("workload: %v", failed)
	}
}

// background runs the workload until the returned function is called, which waits
// for the requests in flight.
func (w *workload) background(t testing.TB, clients int, gap time.Duration, seed uint64) (stop func()) {
	t.Helper()
	ch := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(t, ch, 1<<40, clients, gap, seed)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() { close(ch) })
		<-done
	}
	t.Cleanup(stop)
	return stop
}

func (w *workload) send(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url+"/_bulk", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bulk through the proxy: HTTP %d: %.500s", resp.StatusCode, ans)
	}
	// Item failures (an update of a missing document…) are the primary's answer and
	// publish nothing; anything else is a bug in the test.
	var parsed struct {
		Items []map[string]struct {
			Status int `json:"status"`
			Error  struct {
				Type string `json:"type"`
			} `json:"error"`
		} `json:"items"`
	}
	if err := json.Unmarshal(ans, &parsed); err != nil {
		return fmt.Errorf("bulk answer: %w", err)
	}
	for _, it := range parsed.Items {
		for act, r := range it {
			if r.Status >= 300 && !(act == "delete" && r.Status == 404) {
				return fmt.Errorf("bulk item %s: HTTP %d %s", act, r.Status, r.Error.Type)
			}
		}
	}
	return nil
}

// httpDo sends one request and returns the status and body. The connection closes with
// the answer: no idle keep-alive connection (and its two goroutines) outlives the test.
func httpDo(t testing.TB, method, u, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
