package fanoutctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/twmb/franz-go/pkg/kgo"
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

const opsTopic = "fanout.ops"

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

// testKafkaOpts make clients quick to notice new topics and to retry.
func testKafkaOpts() []kgo.Opt { return replicatortest.KafkaOpts() }

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
	// The connection closes with the answer: no idle keep-alive connection (and its
	// two goroutines) outlives the test.
	req.Close = true
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

// doc reads a document stored with routing ("" for none): its source, _version, and
// whether it exists.
func (em *emulator) doc(t testing.TB, index, id, routing string) (map[string]any, int64, bool) {
	t.Helper()
	path := "/" + index + "/_doc/" + id
	if routing != "" {
		path += "?routing=" + routing
	}
	code, body := em.do(t, http.MethodGet, path, "")
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
// lag readings, and one attempt per rejected item, so that rejections reach the DLQ at
// once.
func replicatorConfig(k *kafkatest.Cluster, target *emulator, name string) replicator.Config {
	cfg := replicatortest.Config(name, target.url, k.Addrs(), opsTopic)
	cfg.Retry.Max = 200 * time.Millisecond
	cfg.Retry.ItemAttempts = 1
	return cfg
}

// startReplicator runs a replicator until the test ends; its admin routes are on
// MetricsURL.
func startReplicator(t testing.TB, cfg replicator.Config) *replicatortest.Running {
	t.Helper()
	return replicatortest.Start(t, cfg, testLogger())
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
	replicatortest.WaitFor(t, timeout, what, cond)
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
	rep, err := converge.Compare(ctx, primary.client, replica.client, converge.Options{Mode: converge.Full, ExpectVersion: replicaVersion, Refresh: true})
	if err != nil {
		t.Fatalf("comparing %s with the primary: %v", replica.url, err)
	}
	if !rep.Converged() {
		t.Fatalf("replica %s did not converge: %s", replica.url, rep)
	}
}

// shards is the number of primary shards of the indices the tests create: several, so
// that a document looked up, replayed or deleted without its routing would be missed on
// a real cluster.
const shards = 3

// createIndex creates index on em with shards primary shards and the given mappings
// (JSON; none for dynamic ones).
func (em *emulator) createIndex(t testing.TB, index string, mappings ...string) {
	t.Helper()
	body := fmt.Sprintf(`{"settings":{"number_of_shards":%d}`, shards)
	for _, m := range mappings {
		body += `,"mappings":` + m
	}
	if code, ans := em.do(t, http.MethodPut, "/"+index, body+"}"); code != http.StatusOK {
		t.Fatalf("creating %s on %s: %d %s", index, em.url, code, ans)
	}
}

// routingOf is the routing of the documents bulkBody writes: ids ending in an odd digit
// are routed, always the same way.
func routingOf(id string) string {
	if last := id[len(id)-1]; last >= '0' && last <= '9' && (last-'0')%2 == 1 {
		return "k" + string(last)
	}
	return ""
}

// bulkBody renders index operations of docs (id → JSON source) on index, with the
// routing of routingOf.
func bulkBody(index string, ids []string, source func(id string) string) string {
	var b strings.Builder
	for _, id := range ids {
		routing := ""
		if r := routingOf(id); r != "" {
			routing = fmt.Sprintf(`,"routing":%q`, r)
		}
		fmt.Fprintf(&b, "{\"index\":{\"_index\":%q,\"_id\":%q%s}}\n%s\n", index, id, routing, source(id))
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
