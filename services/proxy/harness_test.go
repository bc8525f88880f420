package proxy_test

import (
	"bytes"
	"encoding/json"
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

// env is a primary emulator, an embedded Kafka and one or more proxies in front.
type env struct {
	t          *testing.T
	primary    *searchemu.Cluster
	primaryURL string
	primarySrv *searchemu.Server
	kafka      *kafkatest.Cluster
	proxies    []*proxy.Proxy
}

type envOpt func(*proxy.Config)

func startEnv(t *testing.T, proxies int, opts ...envOpt) *env {
	t.Helper()
	e := &env{t: t}
	e.kafka = kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 4))
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
	cfg := proxytest.Config(e.primaryURL, e.kafka.Addrs(), topic)
	// The proxy's own tests keep the production codec.
	cfg.Publish.Compression = proxy.DefaultConfig().Publish.Compression
	cfg.Primary.Timeout = 10 * time.Second
	cfg.Publish.Timeout = 3 * time.Second
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

// events reads every event on the topic, waiting up to timeout for at least n.
func (e *env) events(n int, timeout time.Duration) []*opspb.Operation {
	e.t.Helper()
	recs := e.kafka.Consume(e.t, topic, n, timeout)
	return decodeAll(e.t, recs)
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

// noEvents asserts that nothing reached the topic.
func (e *env) noEvents() {
	e.t.Helper()
	if got := e.kafka.Consume(e.t, topic, 1, 300*time.Millisecond); len(got) > 0 {
		e.t.Fatalf("want no events, got %d: %v", len(got), decodeAll(e.t, got))
	}
}

func compactJSON(t *testing.T, s []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, s); err != nil {
		t.Fatalf("compacting %s: %v", s, err)
	}
	return b.String()
}
