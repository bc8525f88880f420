package replicator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/testbed/searchemu/emutest"
	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
	"github.com/fanout-dev/fanout/services/replicator"
)

func TestMain(m *testing.M) {
	if os.Getenv(infraEnv) != "" {
		runInfra()
		return
	}
	goleak.VerifyTestMain(m,
		// The HTTP clients keep idle connections' goroutines until they time out.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

const topic = "fanout.ops"

// quiet is the log level of the engines under test: their warnings show with -v.
func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

// emulator is a searchemu cluster served on 127.0.0.1.
type emulator struct {
	*searchemu.Cluster
	srv    *searchemu.Server
	url    string
	client *opensearch.Client
}

func startEmulator(t testing.TB, name string, opts ...func(*searchemu.Options)) *emulator {
	t.Helper()
	e := emutest.Start(t, name, opts...)
	return &emulator{Cluster: e.Cluster, srv: e.Server, url: e.URL, client: e.Client(t)}
}

// testConfig is a replicator configuration for tests: fast commits, retries and lag
// readings.
func testConfig(k *kafkatest.Cluster, target *emulator, name string) replicator.Config {
	cfg := replicator.DefaultConfig()
	cfg.MetricsListen = ""
	cfg.Target.Name = name
	cfg.Target.Endpoints = []string{target.url}
	cfg.Target.Timeout = 10 * time.Second
	cfg.Kafka.Brokers = k.Addrs()
	cfg.Consume.Topics = []string{topic}
	cfg.Consume.CommitInterval = 100 * time.Millisecond
	cfg.Consume.LagInterval = 200 * time.Millisecond
	cfg.Consume.FetchMaxWait = 100 * time.Millisecond
	cfg.Consume.SessionTimeout = 6 * time.Second
	cfg.Consume.RebalanceTimeout = 8 * time.Second
	cfg.Retry.Initial = 10 * time.Millisecond
	cfg.Retry.Max = 500 * time.Millisecond
	cfg.Limits.ShutdownTimeout = 5 * time.Second
	cfg.Limits.BulkTimeout = 10 * time.Second
	cfg.Limits.ProbeInterval = 100 * time.Millisecond
	cfg.Log.Level = "warn"
	return cfg
}

// running is a replicator started by startReplicator.
type running struct {
	*replicator.Replicator
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startReplicator(t testing.TB, cfg replicator.Config) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	r, err := replicator.New(cfg, replicator.Deps{
		Logger:          testLogger(),
		Registry:        reg,
		MetricsListener: ln,
		KafkaOpts: []kgo.Opt{
			kgo.MetadataMinAge(kafkatest.TestRetryBackoff),
			kgo.RetryBackoffFn(func(int) time.Duration { return kafkatest.TestRetryBackoff }),
		},
	})
	if err != nil {
		_ = ln.Close()
		t.Fatalf("replicator.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &running{Replicator: r, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.Run(ctx) }()
	t.Cleanup(func() { rr.stop(t) })
	return rr
}

// stop drains the replicator and waits for Run.
func (rr *running) stop(t testing.TB) {
	t.Helper()
	rr.once.Do(func() {
		rr.cancel()
		rr.wait(t)
	})
}

// crash aborts the replicator, as a kill would, and waits for Run.
func (rr *running) crash(t testing.TB) {
	t.Helper()
	rr.once.Do(func() {
		rr.Abort()
		rr.wait(t)
		rr.cancel()
	})
}

func (rr *running) wait(t testing.TB) {
	t.Helper()
	select {
	case err := <-rr.done:
		if err != nil {
			t.Errorf("replicator Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("replicator did not stop within 30s")
	}
}

// counter sums the samples of a counter or gauge family whose labels include want.
func metricValue(t testing.TB, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !hasLabels(m, want) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (rr *running) ops(t testing.TB, result string) float64 {
	return metricValue(t, rr.reg, "fanout_replicator_ops_total", map[string]string{"result": result})
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// caughtUp reports whether group has committed the end of every partition of topic.
func caughtUp(t testing.TB, k *kafkatest.Cluster, group string) (bool, string) {
	t.Helper()
	cl := kadm.NewClient(k.Client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ends, err := cl.ListEndOffsets(ctx, topic)
	if err != nil {
		return false, err.Error()
	}
	committed, err := cl.FetchOffsets(ctx, group)
	if err != nil {
		return false, err.Error()
	}
	behind := []string{}
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(o.Topic, o.Partition)
		at := int64(0)
		if ok {
			at = c.At
		}
		if at < o.Offset {
			behind = append(behind, fmt.Sprintf("%d:%d/%d", o.Partition, at, o.Offset))
		}
	})
	return len(behind) == 0, strings.Join(behind, " ")
}

// waitCaughtUp waits until group has committed the end of every partition.
func waitCaughtUp(t testing.TB, k *kafkatest.Cluster, group string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, behind := caughtUp(t, k, group)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s not caught up after %s: partition:committed/end %s", group, timeout, behind)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// replicaVersion is the _version a replica holds for a primary document.
func replicaVersion(v converge.DocVersion) int64 {
	rv, err := event.ReplicationVersion(v.SeqNo, v.PrimaryTerm, v.Version, v.HasSeqNo)
	if err != nil {
		return -1
	}
	return rv
}

// assertConverged compares a replica with the primary, versions included.
func assertConverged(t testing.TB, primary, replica *emulator, rename func(string) string) *converge.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := converge.Compare(ctx, primary.client, replica.client, converge.Options{
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

// startProxy runs the ingest proxy in front of primary until the test ends.
func startProxy(t testing.TB, k *kafkatest.Cluster, primary *emulator) *proxy.Proxy {
	t.Helper()
	cfg := proxytest.Config(primary.url, k.Addrs(), topic)
	cfg.MetricsListen = ""
	return proxytest.Start(t, cfg, testLogger())
}

// workload writes random index / update / delete operations on an overlapping id
// space through the proxy, as bulk requests.
type workload struct {
	url     string
	indices []string
	ids     int
	perBulk int
	client  *http.Client
	ops     atomic.Int64 // operations sent (accepted or not by the primary)
}

func newWorkload(url string, ids, perBulk int) *workload {
	return &workload{
		url: url, indices: []string{"orders", "users", "tenants"}, ids: ids, perBulk: perBulk,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 60 * time.Second},
	}
}

// bulk builds one request of perBulk operations.
func (w *workload) bulk(rng *rand.Rand, seq int) []byte {
	var b bytes.Buffer
	for i := 0; i < w.perBulk; i++ {
		ix := w.indices[rng.IntN(len(w.indices))]
		id := fmt.Sprintf("d-%d", rng.IntN(w.ids))
		routing := ""
		if ix == "tenants" {
			// Routed documents: routing must survive replication.
			routing = fmt.Sprintf(`,"routing":"t%d"`, len(id)%5)
		}
		n := seq*w.perBulk + i
		switch x := rng.IntN(10); {
		case x < 5:
			fmt.Fprintf(&b, "{\"index\":{\"_index\":%q,\"_id\":%q%s}}\n{\"n\":%d,\"kind\":\"full\",\"text\":\"doc %s written %d\",\"tags\":[\"a\",\"b%d\"]}\n",
				ix, id, routing, n, id, n, n%7)
		case x < 8:
			fmt.Fprintf(&b, "{\"update\":{\"_index\":%q,\"_id\":%q%s}}\n{\"doc\":{\"n\":%d,\"updated\":true},\"doc_as_upsert\":true}\n",
				ix, id, routing, n)
		default:
			fmt.Fprintf(&b, "{\"delete\":{\"_index\":%q,\"_id\":%q%s}}\n", ix, id, routing)
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

// op builds an operation event.
func op(kind opspb.Kind, index, id, routing string, version int64, source string) *opspb.Operation {
	o := &opspb.Operation{
		Kind: kind, Index: index, Id: id, Routing: routing,
		ReplicationVersion: 1<<event.SeqNoBits | version,
		Version:            version,
		SeqNo:              proto.Int64(version - 1),
		PrimaryTerm:        proto.Int64(1),
		AcceptedAt:         timestamppb.Now(),
		RequestId:          "test",
		SourceCluster:      "primary",
	}
	if kind == opspb.Kind_KIND_INDEX {
		o.Source = []byte(source)
	}
	return o
}

func encode(t testing.TB, ops ...*opspb.Operation) []*kgo.Record {
	t.Helper()
	recs := make([]*kgo.Record, len(ops))
	for i, o := range ops {
		rec, err := event.Encode(topic, o)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = rec
	}
	return recs
}

// doc is a document as a target holds it.
type doc struct {
	Found   bool            `json:"found"`
	Version int64           `json:"_version"`
	Routing string          `json:"_routing"`
	Source  json.RawMessage `json:"_source"`
}

func getDoc(t testing.TB, e *emulator, index, id, routing string) doc {
	t.Helper()
	u := e.url + "/" + url.PathEscape(index) + "/_doc/" + url.PathEscape(id)
	if routing != "" {
		u += "?routing=" + url.QueryEscape(routing)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d doc
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 && resp.StatusCode != 404 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, b)
	}
	return d
}

func httpDo(t testing.TB, method, u, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
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

// dlqRecords reads the dead-letter topic of cluster, waiting up to timeout for n.
func dlqRecords(t testing.TB, k *kafkatest.Cluster, cluster string, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	return k.Consume(t, replicator.DLQTopic("{topic}.dlq.{cluster}", topic, cluster), n, timeout)
}

func kafkatestCluster(t testing.TB) *kafkatest.Cluster {
	return kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
}
