package proxy_test

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

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/testbed/searchemu/emutest"
)

func TestMain(m *testing.M) {
	if os.Getenv(infraEnv) == "1" {
		runInfra()
		return
	}
	if spec := os.Getenv(proxyChildEnv); spec != "" {
		runProxyChild(spec)
		return
	}
	goleak.VerifyTestMain(closeIdleFirst{m})
}

// closeIdleFirst runs the tests, then closes the idle keep-alive connections of the
// default HTTP transport, which the tests' one-off requests share, before goleak looks:
// those connections' loops are not leaks, and anything else still running is.
type closeIdleFirst struct{ m *testing.M }

func (c closeIdleFirst) Run() int {
	code := c.m.Run()
	http.DefaultClient.CloseIdleConnections()
	return code
}

const topic = "fanout.ops"

// partitions is the number of partitions of the topic of every env.
const partitions = 4

// eventWait bounds every wait for what the proxies published. It is generous: on a
// loaded 2-core machine running the race detector a read of the topic can take seconds,
// and only a failing test waits it out. Tests wait for conditions (a count, a marker),
// never for a window in which nothing is supposed to happen.
const eventWait = 60 * time.Second

// env is a primary emulator, an embedded Kafka and one or more proxies in front.
type env struct {
	t          *testing.T
	primary    *searchemu.Cluster
	primaryURL string
	primarySrv *searchemu.Server
	kafka      *kafkatest.Cluster
	proxies    []*proxy.Proxy
	// sentinelHeaders are the headers of the barrier's writes (see published): the
	// credentials of a client the primary, or the proxy, lets write.
	sentinelHeaders []string
	barriers        int
}

type envOpt func(*proxy.Config)

func startEnv(t *testing.T, proxies int, opts ...envOpt) *env {
	t.Helper()
	e := &env{t: t}
	e.kafka = kafkatest.NewCluster(t, kafkatest.WithTopic(topic, partitions))
	e.primary, e.primarySrv, e.primaryURL = startEmulator(t, "primary")
	for i := 0; i < proxies; i++ {
		cfg := e.config()
		for _, o := range opts {
			o(&cfg)
		}
		e.proxies = append(e.proxies, startProxy(t, cfg))
	}
	return e
}

func (e *env) config() proxy.Config {
	// Proxies compress with snappy, as proxytest.Config sets. Under the race detector
	// lz4, the production codec, costs a 4 MiB block buffer per batch, on the proxy's
	// side and on the reading test's, which sync.Pool mostly fails to keep (measured: a
	// 957-event read took 7-10 s with lz4, 0.3 s with snappy; this package's tests took
	// 163 CPU-s with lz4, 64 with snappy). The codec does not bear on what the tests
	// prove; TestPublishCodecs publishes and reads back with each one.
	cfg := proxytest.Config(e.primaryURL, e.kafka.Addrs(), topic)
	// Generous: a loaded machine running the race detector takes seconds for what
	// takes milliseconds alone, and a publish that times out is a 503 the test did not
	// ask for. The tests of the timeouts set their own.
	cfg.Primary.Timeout = 30 * time.Second
	cfg.Publish.Timeout = 30 * time.Second
	return cfg
}

func startEmulator(t *testing.T, name string) (*searchemu.Cluster, *searchemu.Server, string) {
	t.Helper()
	e := emutest.Start(t, name)
	return e.Cluster, e.Server, e.URL
}

// startProxy runs a proxy until the test ends, logging with -v.
func startProxy(t *testing.T, cfg proxy.Config) *proxy.Proxy {
	t.Helper()
	var logOut io.Writer = io.Discard
	if testing.Verbose() {
		logOut = os.Stderr
	}
	return proxytest.Start(t, cfg, slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

func (e *env) url() string { return e.proxies[0].URL() }

// response is an HTTP answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer is not JSON (%d): %s", r.status, r.body)
	}
	return m
}

func send(t *testing.T, method, url, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		ct := "application/json"
		if strings.Contains(url, "_bulk") {
			ct = "application/x-ndjson"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// sentinelIndex holds the barrier's documents (see published); no test writes to it.
const sentinelIndex = "fanout-sentinel"

// published returns every document event on the topic but the barriers' sentinels, in
// the order read (each partition's in offset order); metadata changes are left out
// (committed returns them). It is exact: "nothing else was published" is a count, with
// no window to wait out.
//
// It first sends a barrier through the first proxy: one write of a sentinel document on
// each partition of the topic. The proxy answers a write only once Kafka has
// acknowledged its events, and its producer keeps each partition's order, so once the
// barrier is answered every event that proxy had handed its producer before (even one
// published late, after its own request was answered) is in the topic, ahead of its
// partition's sentinel. Then it reads the topic, read_committed, up to the sentinels.
func (e *env) published() []*opspb.Operation {
	e.t.Helper()
	var out []*opspb.Operation
	for _, op := range decodeAll(e.t, e.committed()) {
		if op.GetKind() != opspb.Kind_KIND_METADATA {
			out = append(out, op)
		}
	}
	return out
}

// committed sends a barrier as published does and returns every record on the topic
// that a read_committed reader sees before the barrier's sentinels, but the sentinels
// (and earlier barriers' sentinels), in the order read: each partition's in offset order.
func (e *env) committed() []*kgo.Record {
	e.t.Helper()
	e.barriers++
	ids := sentinelIDs(e.barriers)
	var body strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&body, "{\"index\":{\"_index\":%q,\"_id\":%q}}\n{\"barrier\":%d}\n", sentinelIndex, id, e.barriers)
	}
	if r := call(e.t, http.MethodPost, e.url()+"/_bulk", body.String(), e.sentinelHeaders...); r.status != http.StatusOK || bytes.Contains(r.body, []byte(`"errors":true`)) {
		e.t.Fatalf("the barrier's write: %d %s", r.status, r.body)
	}
	want := map[string]int32{}
	for p, id := range ids {
		want[id] = int32(p)
	}
	var out []*kgo.Record
	found := 0
	for _, rec := range readCommitted(e.t, e.kafka, func(rec *kgo.Record) bool {
		if isSentinel(rec) {
			op := decodeAll(e.t, []*kgo.Record{rec})[0]
			if p, ok := want[op.GetId()]; ok {
				if rec.Partition != p {
					e.t.Fatalf("sentinel %s/%s is in partition %d, not %d: the proxy no longer partitions as sentinelIDs assumes", sentinelIndex, op.GetId(), rec.Partition, p)
				}
				found++
			}
		}
		return found == len(ids)
	}) {
		if !isSentinel(rec) {
			out = append(out, rec)
		}
	}
	if found != len(ids) {
		e.t.Fatalf("read %d of the barrier's %d sentinels", found, len(ids))
	}
	return out
}

// isSentinel reports a record of a barrier's sentinel documents, by its key.
func isSentinel(rec *kgo.Record) bool {
	return strings.HasPrefix(string(rec.Key), sentinelIndex+"/")
}

// readCommitted reads the topic from its start as replicators do (read_committed: the
// copies of an aborted or open metadata change are not seen), until done says it has
// seen enough or eventWait passes, and returns what it read.
func readCommitted(t *testing.T, k *kafkatest.Cluster, done func(*kgo.Record) bool) []*kgo.Record {
	t.Helper()
	cl := k.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), eventWait)
	defer cancel()
	var out []*kgo.Record
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out
		}
		for _, fe := range fs.Errors() {
			t.Fatalf("reading %s: partition %d: %v", topic, fe.Partition, fe.Err)
		}
		stop := false
		fs.EachRecord(func(rec *kgo.Record) {
			if stop {
				return
			}
			out = append(out, rec)
			stop = done(rec)
		})
		if stop {
			return out
		}
	}
}

// sentinelIDs returns, for barrier n, one document id per partition, in partition
// order: ids whose event keys the proxy's producer (kgo's default partitioner, which
// hashes keys as Kafka does) puts on that partition. published checks that they landed
// there.
func sentinelIDs(n int) []string {
	part := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	ids := make([]string, partitions)
	left := partitions
	for j := 0; left > 0; j++ {
		id := fmt.Sprintf("b%d-%d", n, j)
		p := part.Partition(&kgo.Record{Key: []byte(event.Key(sentinelIndex, id))}, partitions)
		if ids[p] == "" {
			ids[p] = id
			left--
		}
	}
	return ids
}

// noEvents asserts that the proxies published nothing.
func (e *env) noEvents() {
	e.t.Helper()
	e.noNewEvents(0)
}

// noNewEvents asserts that the proxies published exactly have events.
func (e *env) noNewEvents(have int) {
	e.t.Helper()
	if got := e.published(); len(got) != have {
		e.t.Fatalf("want %d events, have %d: %v", have, len(got), got)
	}
}

func decodeAll(t *testing.T, recs []*kgo.Record) []*opspb.Operation {
	t.Helper()
	ops := make([]*opspb.Operation, len(recs))
	for i, r := range recs {
		op, err := event.Decode(r)
		if err != nil {
			t.Fatalf("record %d/%d is not a valid event: %v", r.Partition, r.Offset, err)
		}
		ops[i] = op
	}
	return ops
}

func compactJSON(t *testing.T, s []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, s); err != nil {
		t.Fatalf("compacting %s: %v", s, err)
	}
	return b.String()
}
