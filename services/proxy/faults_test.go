package proxy_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/services/proxy"
)

// TestConcurrentWritersKeepVersionOrder: two proxies, eight clients updating the same 50
// documents. For every document the events carry strictly increasing replication
// versions in the order the primary applied the writes, one event per applied write.
func TestConcurrentWritersKeepVersionOrder(t *testing.T) {
	e := startEnv(t, 2)
	const (
		clients  = 8
		requests = 40 // per client, each a bulk of 5 updates or a single-document write
		ids      = 50
	)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			url := e.proxies[c%2].URL()
			for r := 0; r < requests; r++ {
				var method, path, body string
				if r%2 == 0 {
					var b strings.Builder
					for i := 0; i < 5; i++ {
						fmt.Fprintf(&b, "{\"update\":{\"_index\":\"c\",\"_id\":\"%d\"}}\n{\"doc\":{\"by\":%d,\"n\":%d},\"doc_as_upsert\":true}\n", rng.IntN(ids), c, r*10+i)
					}
					method, path, body = http.MethodPost, "/_bulk", b.String()
				} else {
					method, path, body = http.MethodPut, fmt.Sprintf("/c/_doc/%d", rng.IntN(ids)), fmt.Sprintf(`{"by":%d,"n":%d}`, c, r)
				}
				req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 || strings.Contains(string(b), `"errors":true`) {
					errs <- fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	applied := e.primary.OpLog("c")
	ops := e.events(len(applied), 10*time.Second)
	if len(ops) != len(applied) {
		t.Fatalf("the primary applied %d writes, %d events published", len(applied), len(ops))
	}
	// The primary's apply order per document, by seq_no.
	bySeq := map[string][]searchemu.OpLogEntry{}
	for _, a := range applied {
		bySeq[a.ID] = append(bySeq[a.ID], a)
	}
	byDoc := map[string][]*opspb.Operation{}
	for _, op := range ops {
		byDoc[op.GetId()] = append(byDoc[op.GetId()], op)
	}
	for id, evs := range byDoc {
		sort.Slice(evs, func(i, j int) bool { return evs[i].GetSeqNo() < evs[j].GetSeqNo() })
		log := bySeq[id]
		if len(log) != len(evs) {
			t.Fatalf("doc %s: %d applied writes, %d events", id, len(log), len(evs))
		}
		for i, ev := range evs {
			if ev.GetSeqNo() != log[i].SeqNo || ev.GetVersion() != log[i].Version {
				t.Fatalf("doc %s write %d: event seq %d v%d, primary applied seq %d v%d", id, i, ev.GetSeqNo(), ev.GetVersion(), log[i].SeqNo, log[i].Version)
			}
			if i > 0 && ev.GetReplicationVersion() <= evs[i-1].GetReplicationVersion() {
				t.Fatalf("doc %s: replication version %d after %d", id, ev.GetReplicationVersion(), evs[i-1].GetReplicationVersion())
			}
		}
	}
	t.Logf("%d writes on %d documents through 2 proxies, every event in the primary's order", len(ops), len(byDoc))
}

// TestKafkaRejectsProduce: produce errors make clients get the 503 replication error
// within the publish timeout, naming what the primary applied; when Kafka recovers, so
// does the proxy.
func TestKafkaRejectsProduce(t *testing.T) {
	e := startEnv(t, 1, func(c *proxy.Config) { c.Publish.Timeout = time.Second })
	// Every produce request fails with a retriable error until the fault is lifted.
	fault := e.kafka.FailProduce(0, kerr.NotEnoughReplicas)

	start := time.Now()
	resp := send(t, http.MethodPost, e.url()+"/_bulk", "{\"index\":{\"_index\":\"k\",\"_id\":\"1\"}}\n{\"a\":1}\n{\"index\":{\"_index\":\"k\",\"_id\":\"2\"}}\n{\"a\":2}\n")
	elapsed := time.Since(start)
	if resp.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", resp.status, resp.body)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("answered after %s, publish timeout is 1s", elapsed)
	}
	ans := resp.json(t)
	errObj, _ := ans["error"].(map[string]any)
	if errObj["type"] != "fanout_replication_exception" || !strings.Contains(fmt.Sprint(errObj["reason"]), "applied 2 writes") ||
		fmt.Sprint(errObj["fanout.applied"]) != "[k/1 k/2]" || ans["status"] != float64(503) {
		t.Fatalf("error body %s", resp.body)
	}
	// The writes are on the primary: the client was told so, not that they failed.
	if r := send(t, http.MethodGet, e.primaryURL+"/k/_doc/2", ""); r.status != 200 {
		t.Fatalf("primary lost the write: %d %s", r.status, r.body)
	}

	if fault.Hits() == 0 {
		t.Fatal("no produce request reached the fault")
	}
	fault.Remove()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := send(t, http.MethodPut, e.url()+"/k/_doc/3", `{"a":3}`)
		if r.status == http.StatusCreated || r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy did not recover after Kafka did: %d %s", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ops := e.events(1, 5*time.Second); !hasDoc(ops, "k", "3") {
		t.Fatalf("no event for k/3 after recovery: %v", ops)
	}
}

func hasDoc(ops []*opspb.Operation, index, id string) bool {
	for _, op := range ops {
		if op.GetIndex() == index && op.GetId() == id {
			return true
		}
	}
	return false
}

// TestKafkaDown: the whole Kafka cluster goes away and comes back on the same address
// with its data, as a restarted broker does.
func TestKafkaDown(t *testing.T) {
	port, dir := freePort(t), t.TempDir()
	k1 := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2), kafkatest.WithKfakeOptions(kfake.Ports(port), kfake.DataDir(dir)))
	_, _, primaryURL := startEmulator(t, "primary")
	cfg := proxy.DefaultConfig()
	cfg.Listen, cfg.MetricsListen = "127.0.0.1:0", ""
	cfg.Primary.Endpoints = []string{primaryURL}
	cfg.Kafka.Brokers = k1.Addrs()
	cfg.Publish.Timeout = time.Second
	p := startProxy(t, cfg)

	if r := send(t, http.MethodPut, p.URL()+"/d/_doc/1", `{"a":1}`); r.status != 201 {
		t.Fatalf("before the outage: %d %s", r.status, r.body)
	}
	k1.Fake().Close()

	start := time.Now()
	r := send(t, http.MethodPut, p.URL()+"/d/_doc/2", `{"a":2}`)
	if r.status != 503 || !strings.Contains(string(r.body), "fanout_replication_exception") {
		t.Fatalf("with Kafka down: %d %s", r.status, r.body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("answered after %s", d)
	}

	k2 := kafkatest.NewCluster(t, kafkatest.WithKfakeOptions(kfake.Ports(port), kfake.DataDir(dir)))
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := send(t, http.MethodPut, p.URL()+"/d/_doc/3", `{"a":3}`)
		if r.status/100 == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy did not recover after Kafka came back: %d %s", r.status, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	recs := k2.Consume(t, topic, 3, 5*time.Second)
	if ops := decodeAll(t, recs); !hasDoc(ops, "d", "1") || !hasDoc(ops, "d", "3") {
		t.Fatalf("events after the restart: %v", ops)
	}
}

// TestPrimaryDown: writes get an Elasticsearch-shaped 502 and never fail over; reads go
// to the fallback cluster.
func TestPrimaryDown(t *testing.T) {
	fallback, _, fallbackURL := startEmulator(t, "fallback")
	_ = fallback
	if r := send(t, http.MethodPut, fallbackURL+"/f/_doc/1?refresh=true", `{"from":"fallback"}`); r.status != 201 {
		t.Fatalf("seeding the fallback: %d %s", r.status, r.body)
	}
	e := startEnv(t, 1, func(c *proxy.Config) { c.Fallback.Endpoints = []string{fallbackURL} })
	e.primary.SetFaults(searchemu.Faults{Down: true})

	r := send(t, http.MethodPut, e.url()+"/f/_doc/2", `{"a":1}`)
	if r.status != http.StatusBadGateway {
		t.Fatalf("write with the primary down: %d %s", r.status, r.body)
	}
	ans := r.json(t)
	if errObj, _ := ans["error"].(map[string]any); errObj["type"] != "fanout_primary_exception" || ans["status"] != float64(502) {
		t.Fatalf("error body %s", r.body)
	}
	for _, rq := range []struct{ method, path, body string }{
		{http.MethodGet, "/f/_doc/1", ""},
		{http.MethodPost, "/f/_search", `{"query":{"match_all":{}}}`},
		{http.MethodGet, "/f/_count", ""},
		{http.MethodPost, "/f/_mget", `{"ids":["1"]}`},
	} {
		r := send(t, rq.method, e.url()+rq.path, rq.body)
		if r.status != 200 || !strings.Contains(string(r.body), "fallback") && !strings.Contains(string(r.body), `"count":1`) {
			t.Errorf("%s %s with the primary down: %d %s", rq.method, rq.path, r.status, r.body)
		}
	}
	// Unavailable (503) also fails reads over.
	e.primary.SetFaults(searchemu.Faults{Unavailable: true})
	if r := send(t, http.MethodGet, e.url()+"/f/_doc/1", ""); r.status != 200 {
		t.Errorf("read with the primary answering 503: %d %s", r.status, r.body)
	}
	e.primary.SetFaults(searchemu.Faults{})
	e.noEvents()

	metrics := send(t, http.MethodGet, e.proxies[0].MetricsURL()+"/metrics", "")
	if !strings.Contains(string(metrics.body), "fanout_proxy_read_failovers_total 5") {
		t.Errorf("failover metric: %s", grep(string(metrics.body), "failover"))
	}
}

// TestNoFallbackReadFails: without a fallback, a read with the primary down is a 502.
func TestNoFallbackReadFails(t *testing.T) {
	e := startEnv(t, 1)
	e.primary.SetFaults(searchemu.Faults{Down: true})
	if r := send(t, http.MethodGet, e.url()+"/x/_doc/1", ""); r.status != 502 || !strings.Contains(string(r.body), "fanout_primary_exception") {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
