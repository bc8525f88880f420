package fanoutctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/testbed/searchemu/emutest"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
	"github.com/fanout-dev/fanout/services/replicator"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The HTTP clients keep idle connections' goroutines until they time out.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

const opsTopic = "fanout.ops"

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

// testKafkaOpts make clients quick to notice new topics and to retry.
func testKafkaOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.MetadataMinAge(kafkatest.TestRetryBackoff),
		kgo.RetryBackoffFn(func(int) time.Duration { return kafkatest.TestRetryBackoff }),
	}
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

// do sends one request to the emulator and returns status and body.
func (em *emulator) do(t testing.TB, method, path, body string) (int, string) {
	t.Helper()
	return httpDo(t, method, em.url+path, body)
}

func httpDo(t testing.TB, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		if strings.HasSuffix(strings.SplitN(url, "?", 2)[0], "_bulk") {
			req.Header.Set("Content-Type", "application/x-ndjson")
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// doc reads a document: its source, _version, and whether it exists.
func (em *emulator) doc(t testing.TB, index, id string) (map[string]any, int64, bool) {
	t.Helper()
	code, body := em.do(t, http.MethodGet, "/"+index+"/_doc/"+id, "")
	if code == http.StatusNotFound {
		return nil, 0, false
	}
	var d struct {
		Version int64          `json:"_version"`
		Found   bool           `json:"found"`
		Source  map[string]any `json:"_source"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil || code != http.StatusOK {
		t.Fatalf("GET %s/%s: %d %s", index, id, code, body)
	}
	return d.Source, d.Version, d.Found
}

// replicatorConfig is a replicator configuration for tests: fast commits, retries and
// lag readings.
func replicatorConfig(k *kafkatest.Cluster, target *emulator, name string) replicator.Config {
	cfg := replicator.DefaultConfig()
	cfg.MetricsListen = ""
	cfg.Target.Name = name
	cfg.Target.Endpoints = []string{target.url}
	cfg.Target.Timeout = 10 * time.Second
	cfg.Kafka.Brokers = k.Addrs()
	cfg.Consume.Topics = []string{opsTopic}
	cfg.Consume.CommitInterval = 100 * time.Millisecond
	cfg.Consume.LagInterval = 200 * time.Millisecond
	cfg.Consume.FetchMaxWait = 100 * time.Millisecond
	cfg.Consume.SessionTimeout = 6 * time.Second
	cfg.Consume.RebalanceTimeout = 8 * time.Second
	cfg.Retry.Initial = 10 * time.Millisecond
	cfg.Retry.Max = 200 * time.Millisecond
	cfg.Retry.ItemAttempts = 1
	cfg.Limits.ShutdownTimeout = 5 * time.Second
	cfg.Limits.BulkTimeout = 10 * time.Second
	cfg.Limits.ProbeInterval = 100 * time.Millisecond
	cfg.Log.Level = "warn"
	return cfg
}

// runningReplicator is a replicator started by startReplicator; admin is its admin
// base URL.
type runningReplicator struct {
	*replicator.Replicator
	admin  string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startReplicator(t testing.TB, cfg replicator.Config) *runningReplicator {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r, err := replicator.New(cfg, replicator.Deps{Logger: testLogger(), MetricsListener: ln, KafkaOpts: testKafkaOpts()})
	if err != nil {
		_ = ln.Close()
		t.Fatalf("replicator.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &runningReplicator{Replicator: r, admin: r.MetricsURL(), cancel: cancel, done: make(chan error, 1)}
	if !strings.Contains(rr.admin, "://") {
		rr.admin = "http://" + rr.admin
	}
	go func() { rr.done <- r.Run(ctx) }()
	t.Cleanup(func() { rr.stop(t) })
	return rr
}

func (rr *runningReplicator) stop(t testing.TB) {
	t.Helper()
	rr.once.Do(func() {
		rr.cancel()
		select {
		case err := <-rr.done:
			if err != nil {
				t.Errorf("replicator Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("replicator did not stop within 30s")
		}
	})
}

// startProxy runs the ingest proxy in front of primary until the test ends; it
// returns the proxy's URL.
func startProxy(t testing.TB, k *kafkatest.Cluster, primary *emulator) string {
	t.Helper()
	cfg := proxytest.Config(primary.url, k.Addrs(), opsTopic)
	cfg.MetricsListen = ""
	return proxytest.Start(t, cfg, testLogger()).URL()
}

// cliResult is one in-process run of the CLI.
type cliResult struct {
	code           int
	stdout, stderr string
}

// cli runs fanoutctl in process with test knobs and the given environment.
func cli(t testing.TB, ctx context.Context, d deps, environ []string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	if d.kafkaOpts == nil {
		d.kafkaOpts = testKafkaOpts()
	}
	code := exitCode(run(ctx, args, &env{stdout: &out, stderr: &errb, environ: environ, deps: d}), &errb)
	if testing.Verbose() {
		t.Logf("fanoutctl %s → %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// cliJSON runs fanoutctl with -o json, expects exit code want, and decodes stdout.
func cliJSON(t testing.TB, want int, v any, d deps, args ...string) cliResult {
	t.Helper()
	r := cli(t, context.Background(), d, nil, append(args, "-o", "json")...)
	if r.code != want {
		t.Fatalf("fanoutctl %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
			t.Fatalf("fanoutctl %s: stdout is not the expected JSON: %v\n%s", strings.Join(args, " "), err, r.stdout)
		}
	}
	return r
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

// replicaVersion is the _version a replica holds for a primary document.
func replicaVersion(v converge.DocVersion) int64 {
	rv, err := event.ReplicationVersion(v.SeqNo, v.PrimaryTerm, v.Version, v.HasSeqNo)
	if err != nil {
		return -1
	}
	return rv
}

// assertConverged compares a replica with the primary, versions included.
func assertConverged(t testing.TB, primary, replica *emulator) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := converge.Compare(ctx, primary.client, replica.client, converge.Options{ExpectVersion: replicaVersion, Refresh: true})
	if err != nil {
		t.Fatalf("comparing %s with the primary: %v", replica.url, err)
	}
	if !rep.Converged() {
		t.Fatalf("replica %s did not converge: %s", replica.url, rep)
	}
}

// bulkBody renders index operations of docs (id → JSON source) on index.
func bulkBody(index string, ids []string, source func(id string) string) string {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":%q,\"_id\":%q}}\n%s\n", index, id, source(id))
	}
	return b.String()
}

// dlqCount counts the records of a DLQ topic (all of them).
func dlqCount(t testing.TB, k *kafkatest.Cluster, cluster string) int {
	t.Helper()
	var out struct {
		Total int `json:"total"`
	}
	cliJSON(t, 0, &out, deps{}, "dlq", "list", "--brokers", strings.Join(k.Addrs(), ","), "--cluster", cluster, "--all")
	return out.Total
}
