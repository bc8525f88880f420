package replicator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/testbed/searchemu/emutest"
)

func TestMain(m *testing.M) {
	if os.Getenv(infraEnv) != "" {
		runInfra()
		return
	}
	goleak.VerifyTestMain(m)
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
	url string
}

func startEmulator(t testing.TB, name string, opts ...func(*searchemu.Options)) *emulator {
	t.Helper()
	e := emutest.Start(t, name, opts...)
	return &emulator{Cluster: e.Cluster, url: e.URL}
}

// testConfig is a replicator configuration for tests: fast commits, retries and lag
// readings.
func testConfig(k *kafkatest.Cluster, target *emulator, name string) replicator.Config {
	return replicatortest.Config(name, target.url, k.Addrs(), topic)
}

// startReplicator runs a replicator until the test ends.
func startReplicator(t testing.TB, cfg replicator.Config) *replicatortest.Running {
	t.Helper()
	return replicatortest.Start(t, cfg, testLogger())
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	replicatortest.WaitFor(t, timeout, what, cond)
}

// caughtUp reports whether group has committed the end of every partition of topic.
func caughtUp(t testing.TB, k *kafkatest.Cluster, group string) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	behind, err := replicatortest.Behind(ctx, k.Client(t), group, topic)
	if err != nil {
		return false, err.Error()
	}
	return len(behind) == 0, strings.Join(behind, " ")
}

// waitCaughtUp waits until group has committed the end of every partition.
func waitCaughtUp(t testing.TB, k *kafkatest.Cluster, group string, timeout time.Duration) {
	t.Helper()
	replicatortest.WaitCaughtUp(t, k.Client(t), group, topic, timeout)
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
	code, b := httpDo(t, http.MethodGet, u, "")
	var d doc
	if code != 200 && code != 404 {
		t.Fatalf("GET %s: %d %s", u, code, b)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, b)
	}
	return d
}

// shards is the number of primary shards of the indices the tests create: several, so
// that a document looked up or deleted without its routing would be missed on a real
// cluster.
const shards = 3

// createIndex creates index on e with shards primary shards and the given mappings
// (JSON, may be empty).
func createIndex(t testing.TB, e *emulator, index string, mappings ...string) {
	t.Helper()
	body := fmt.Sprintf(`{"settings":{"number_of_shards":%d}`, shards)
	for _, m := range mappings {
		body += `,"mappings":` + m
	}
	body += "}"
	if code, ans := httpDo(t, "PUT", e.url+"/"+url.PathEscape(index), body); code != 200 {
		t.Fatalf("creating %s on %s: %d %s", index, e.url, code, ans)
	}
}

// httpDo sends one request and returns the status and body. The connection closes with
// the answer: no idle keep-alive connection (and its two goroutines) outlives the test.
func httpDo(t testing.TB, method, u, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
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

// dlqRecords reads the dead-letter topic of cluster, waiting up to timeout for n.
func dlqRecords(t testing.TB, k *kafkatest.Cluster, cluster string, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	return k.Consume(t, replicator.DLQTopic("{topic}.dlq.{cluster}", topic, cluster), n, timeout)
}

func kafkatestCluster(t testing.TB) *kafkatest.Cluster {
	return kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
}
