package proxy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestConcurrentWritersKeepVersionOrder: two proxies, eight clients updating the same 50
// documents. Read back from Kafka partition by partition, in the order the records were
// consumed (no sorting here), each document's events must follow the primary's order
// wherever the clients could see that order: a write whose request was answered before
// another's was sent must be before it in Kafka, and one request's writes of a document
// must be in the order of its items. Every event is one the primary applied, once.
//
// Two requests in flight at the same time may reach Kafka in either order: the proxies
// do not serialise writers, and the replicators' external versions resolve that (the
// first version of this test, checking every pair, fails on that). A routing-less
// update whose document another client wrote before the proxy could read back the
// routing it applied is superseded and not published (see routing.go); the proxies
// count those, and they are missing.
func TestConcurrentWritersKeepVersionOrder(t *testing.T) {
	e := startEnv(t, 2)
	const (
		clients  = 8
		requests = 40 // per client, each a bulk of 5 updates or a single-document write
		ids      = 50
	)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked = map[writeKey]ackedWrite{}
	)
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
				sent := time.Now()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				answered := time.Now()
				if resp.StatusCode/100 != 2 || strings.Contains(string(b), `"errors":true`) {
					errs <- fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
					return
				}
				writes, err := answeredWrites(b)
				if err != nil {
					errs <- fmt.Errorf("%s %s: %w: %s", method, path, err, b)
					return
				}
				mu.Lock()
				for i, w := range writes {
					acked[w] = ackedWrite{request: c*requests + r, item: i, sent: sent, answered: answered}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	applied := e.primary.OpLog("c")
	superseded := 0
	for _, p := range e.proxies {
		superseded += counterValue(t, p.MetricsURL(), "fanout_proxy_superseded_updates_total")
	}
	want := len(applied) - superseded
	// Every request was answered 2xx, so every event is in the topic: no waiting for
	// stragglers, and nothing can come later.
	recs := e.kafka.ConsumeAll(t, topic, eventWait)
	if len(recs) != want {
		t.Fatalf("the primary applied %d writes, %d superseded, so %d events were due; %d published", len(applied), superseded, want, len(recs))
	}
	versions := map[writeKey]int64{}
	for _, a := range applied {
		versions[writeKey{id: a.ID, seqNo: a.SeqNo, term: a.PrimaryTerm}] = a.Version
	}
	// Each document's events in Kafka order: the order of its partition's records as
	// consumed, which the offsets must show.
	lastOffset := map[int32]int64{}
	partitionOf := map[string]int32{}
	byDoc := map[string][]*opspb.Operation{}
	seen := map[writeKey]bool{}
	for _, rec := range recs {
		if prev, ok := lastOffset[rec.Partition]; ok && rec.Offset <= prev {
			t.Fatalf("partition %d consumed out of order: offset %d after %d", rec.Partition, rec.Offset, prev)
		}
		lastOffset[rec.Partition] = rec.Offset
		ev := decodeAll(t, []*kgo.Record{rec})[0]
		k := writeKey{id: ev.GetId(), seqNo: ev.GetSeqNo(), term: ev.GetPrimaryTerm()}
		if v, ok := versions[k]; !ok || v != ev.GetVersion() || seen[k] {
			t.Fatalf("event %+v v%d: applied %v (v%d), published before %v", k, ev.GetVersion(), ok, v, seen[k])
		}
		seen[k] = true
		if p, ok := partitionOf[k.id]; ok && p != rec.Partition {
			t.Fatalf("doc %s has events in partitions %d and %d", k.id, p, rec.Partition)
		}
		partitionOf[k.id] = rec.Partition
		byDoc[k.id] = append(byDoc[k.id], ev)
	}
	checked := 0
	for id, evs := range byDoc {
		for i, x := range evs {
			wx, okx := acked[writeKey{id: id, seqNo: x.GetSeqNo(), term: x.GetPrimaryTerm()}]
			for _, y := range evs[i+1:] {
				wy, oky := acked[writeKey{id: id, seqNo: y.GetSeqNo(), term: y.GetPrimaryTerm()}]
				if !okx || !oky {
					continue // a superseded write: no event
				}
				switch {
				case wx.request == wy.request && wx.item > wy.item,
					wx.request != wy.request && wy.answered.Before(wx.sent):
					t.Fatalf("doc %s: in Kafka seq %d (request %d item %d) comes before seq %d (request %d item %d), which the primary applied first (and, across requests, the proxy acknowledged first)",
						id, x.GetSeqNo(), wx.request, wx.item, y.GetSeqNo(), wy.request, wy.item)
				}
				if wx.request == wy.request || wx.answered.Before(wy.sent) { // an order the clients saw
					if y.GetReplicationVersion() <= x.GetReplicationVersion() {
						t.Fatalf("doc %s: replication version %d after %d", id, y.GetReplicationVersion(), x.GetReplicationVersion())
					}
				} else {
					continue // overlapping requests: either order
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no pair of events had an order the clients could see: the test checked nothing")
	}
	t.Logf("%d events of %d documents through 2 proxies (%d updates superseded); %d ordered pairs checked in Kafka order",
		len(recs), len(byDoc), superseded, checked)
}

// writeKey names one write of a document by what the primary answered.
type writeKey struct {
	id          string
	seqNo, term int64
}

// ackedWrite is when the client sent the request of a write and had its answer.
type ackedWrite struct {
	request, item  int
	sent, answered time.Time
}

// answeredWrites reads the applied writes from a bulk or single-document answer, in
// item order.
func answeredWrites(body []byte) ([]writeKey, error) {
	type doc struct {
		ID     string `json:"_id"`
		Result string `json:"result"`
		SeqNo  *int64 `json:"_seq_no"`
		Term   int64  `json:"_primary_term"`
	}
	var ans struct {
		doc
		Items []map[string]doc `json:"items"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, err
	}
	docs := []doc{ans.doc}
	if ans.Items != nil {
		docs = docs[:0]
		for _, it := range ans.Items {
			for _, d := range it {
				docs = append(docs, d)
			}
		}
	}
	var out []writeKey
	for _, d := range docs {
		if d.Result == "noop" {
			continue
		}
		if d.SeqNo == nil {
			return nil, fmt.Errorf("no _seq_no for %s", d.ID)
		}
		out = append(out, writeKey{id: d.ID, seqNo: *d.SeqNo, term: d.Term})
	}
	return out, nil
}

// counterValue reads one unlabelled counter from a proxy's /metrics.
func counterValue(t *testing.T, metricsURL, name string) int {
	t.Helper()
	resp, err := http.Get(metricsURL + "/metrics")
	if err != nil {
		t.Fatalf("reading %s: %v", metricsURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", name, line, err)
			}
			return int(f)
		}
	}
	t.Fatalf("%s has no %s", metricsURL, name)
	return 0
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
	// The error is retriable, so the proxy waits out its 1 s and no more: not the 30 s
	// its environment's other proxies wait (the bound leaves a loaded machine 19 s).
	if elapsed < time.Second || elapsed > 20*time.Second {
		t.Fatalf("answered after %s, publish timeout is 1s", elapsed)
	}
	ans := resp.json(t)
	errObj, _ := ans["error"].(map[string]any)
	if errObj["type"] != "fanout_replication_exception" || !strings.Contains(fmt.Sprint(errObj["reason"]), "applied 2 writes") ||
		!strings.Contains(fmt.Sprint(errObj["reason"]), "within 1s") ||
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
	var r response
	deadline := time.Now().Add(eventWait)
	for {
		r = send(t, http.MethodPut, e.url()+"/k/_doc/3", `{"a":3}`)
		if r.status == http.StatusCreated || r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy did not recover after Kafka did: %d %s", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The event of the write that was answered 2xx is in Kafka. Others may be too: the
	// failed requests' events can land after their 503 (the proxy says so), k/1 and
	// k/2's as well as those of earlier tries at k/3. (No barrier here: with a 1 s
	// publish timeout, a partition still backing off from the fault can fail it.)
	if !hasWrite(decodeAll(t, e.kafka.ConsumeAll(t, topic, eventWait)), r.json(t)) {
		t.Fatalf("no event for the acknowledged write of k/3 after recovery: %s", r.body)
	}
}

// hasWrite tells whether ops hold the event of the write the primary answered with ans.
func hasWrite(ops []*opspb.Operation, ans map[string]any) bool {
	seqNo, _ := ans["_seq_no"].(float64)
	term, _ := ans["_primary_term"].(float64)
	for _, op := range ops {
		if op.GetIndex() == ans["_index"] && op.GetId() == ans["_id"] && op.SeqNo != nil &&
			op.GetSeqNo() == int64(seqNo) && op.GetPrimaryTerm() == int64(term) {
			return true
		}
	}
	return false
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
	// Within its 1 s, not the default 10 s (the bound leaves a loaded machine 9 s).
	if d := time.Since(start); d >= 10*time.Second {
		t.Fatalf("answered after %s, publish timeout is 1s", d)
	}

	k2 := kafkatest.NewCluster(t, kafkatest.WithKfakeOptions(kfake.Ports(port), kfake.DataDir(dir)))
	deadline := time.Now().Add(eventWait)
	for {
		r = send(t, http.MethodPut, p.URL()+"/d/_doc/3", `{"a":3}`)
		if r.status/100 == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy did not recover after Kafka came back: %d %s", r.status, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// d/1 was acknowledged before the outage and d/3 after it: both are in the topic
	// the restarted broker serves from its data.
	ops := decodeAll(t, k2.ConsumeAll(t, topic, eventWait))
	if !hasDoc(ops, "d", "1") || !hasWrite(ops, r.json(t)) {
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
