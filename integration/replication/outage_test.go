package replication_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// What TestKafkaOutageTwoProxies catches, shown by taking away what makes it pass:
// go test -run TestKafkaOutageTwoProxies ./replication -args -outage.noprimary (or -outage.nospool).
// Without the primary, late events are applied as recorded: a run ended with 8 deleted
// documents back on the target. Without a spool, the proxy restarted during the
// outage is never ready (Kafka unreachable, open intents unresolved) and writes get 503.
var (
	outageNoPrimary = flag.Bool("outage.noprimary", false, "run TestKafkaOutageTwoProxies with a replicator that does not resolve late events (expected to fail)")
	outageNoSpool   = flag.Bool("outage.nospool", false, "run TestKafkaOutageTwoProxies with proxies without a spool (expected to fail)")
)

// TestKafkaOutageTwoProxies: Kafka goes down for 30 s (every broker closed: connections
// refused) under load from several writers that index, update and delete the same
// documents, and create auto-id ones, through two ingest proxies, each a real
// fanout-proxy child process with a spool and an intent log. One proxy is SIGKILLed
// twice with events in its spool: restarted at once (with Kafka still down), then kept
// down until Kafka is back and the other proxy has drained, so that its spooled events
// reach Kafka seconds behind the other proxy's later events of the same documents. A
// third proxy with a tiny spool shows what a full one does.
//
// What clients see: every write through the two proxies is answered 2xx, during the
// outage too (no 503, so no client resends, so the primary holds exactly one document
// per auto-id line answered); the small proxy answers 2xx until its spool is full, then
// 429 before the primary is called. What the target ends with, once Kafka is back and
// the spools are drained: exactly the primary's documents and versions, nothing
// dead-lettered, and no write refused with 429 on either cluster.
//
// The target keeps delete tombstones 1 s (index.gc_deletes), the primary 60 s, so the
// outage outlasts the target's tombstones: the events the proxies spooled reach the
// target out of order with the other proxy's (each proxy drains its own spool) and long
// after their deletes' tombstones are gone there. The replicator resolves such late
// events against the primary (late_events.window 2 s), as a deployment whose outage
// outlasts its targets' gc_deletes and its replicators' deletes.window must.
func TestKafkaOutageTwoProxies(t *testing.T) {
	const (
		partitions = 4
		writers    = 6
		ids        = 100 // shared explicit ids per index
		perBulk    = 10
		outage     = 30 * time.Second
		gcDeletes  = time.Second
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)

	bin := buildProxy(t)
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, partitions), kafkatest.WithDataDir(t.TempDir()))
	primary := startEmulator(t, "primary")
	primary.createIndices(t, workloadIndices...)
	target := startTarget(t, "b", "", func(o *searchemu.Options) { o.GCDeletes = gcDeletes })
	cfg := withPrimary(testConfig(k, target, "b"), primary, 2*time.Second)
	if *outageNoPrimary {
		cfg.Primary.Endpoints = nil
	}
	// The replicator's memory of deletes (deletes.window, 5 min by default) would cover
	// a 30 s outage by itself: 1 s stands in for an outage longer than the window, so
	// that the late events are what keeps deleted documents deleted.
	cfg.Deletes.Window = time.Second
	rr := startReplicator(t, cfg)

	a := startSpoolProxy(t, bin, "a", k, primary, "")
	b := startSpoolProxy(t, bin, "b", k, primary, "")
	small := startSpoolProxy(t, bin, "small", k, primary, "65536")
	for _, p := range []*spoolProxy{a, b, small} {
		waitReady(t, p.metrics, 30*time.Second)
	}

	// The load: each writer sends its requests to either proxy at random.
	var (
		stop                 atomic.Bool
		wg                   sync.WaitGroup
		sent, ok2xx, autoIDs atomic.Int64
		badMu                sync.Mutex
		bad                  []string // answers that were not 2xx
	)
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: writers}}
	t.Cleanup(client.CloseIdleConnections)
	for wr := 0; wr < writers; wr++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(wr)+2))
			for seq := 0; !stop.Load(); seq++ {
				p := b
				if rng.IntN(2) == 0 && a.use() {
					p = a
				}
				method, path, body := killLoadRequest(rng, wr, seq, ids, perBulk)
				sent.Add(1)
				status, ans, err := postRead(client, method, p.url+path, body)
				if p == a {
					a.inflight.Add(-1)
				}
				if err != nil || status/100 != 2 {
					badMu.Lock()
					bad = append(bad, fmt.Sprintf("%s %s via %s: %d %v %.300s", method, path, p.name, status, err, ans))
					badMu.Unlock()
					time.Sleep(20 * time.Millisecond)
					continue
				}
				ok2xx.Add(1)
				autoIDs.Add(int64(createdAutoIDs(t, path, ans)))
			}
		}()
	}
	t.Cleanup(func() { stop.Store(true); wg.Wait() })

	// The small proxy's writer: unique ids, one per request, so that what was refused
	// can be looked for on both clusters.
	var smallOK, smallRefused []string
	smallDone := make(chan struct{})
	go func() {
		defer close(smallDone)
		for n := 0; !stop.Load(); n++ {
			id := fmt.Sprintf("small-%d", n)
			body := fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 2000))
			status, ans, err := postRead(client, http.MethodPut, small.url+"/orders/_doc/"+id, []byte(body))
			switch {
			case err == nil && status/100 == 2:
				smallOK = append(smallOK, id)
			case err == nil && status == http.StatusTooManyRequests:
				smallRefused = append(smallRefused, id)
			default:
				badMu.Lock()
				bad = append(bad, fmt.Sprintf("PUT orders/%s via small: %d %v %.300s", id, status, err, ans))
				badMu.Unlock()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	time.Sleep(3 * time.Second)
	before := sent.Load()
	k.Stop()
	down := time.Now()
	t.Logf("Kafka stopped after %d requests", before)

	// kill -9 of a while its spool holds events, and a restart during the outage: a
	// proxy starts, and takes writes, with Kafka down.
	time.Sleep(outage / 3)
	a.kill9(t)
	a.restart(t)
	t.Logf("proxy a killed and restarted %s into the outage", time.Since(down).Round(time.Second))

	// kill -9 of a again, and this time it stays down until after Kafka is back and b
	// has drained: a's spooled events then reach Kafka behind b's later events of the
	// same documents, seconds after the target forgot the deletes among them.
	time.Sleep(time.Until(down.Add(2 * outage / 3)))
	a.kill9(t)
	time.Sleep(time.Until(down.Add(outage)))
	during := sent.Load() - before
	k.Start(t)
	t.Logf("Kafka back after %s; %d requests sent meanwhile", time.Since(down).Round(time.Second), during)
	time.Sleep(3 * time.Second)
	stop.Store(true)
	wg.Wait()
	<-smallDone
	// The load is over: every document's last write is b's. a comes back only once b
	// has drained and the target has forgotten the deletes among those last writes.
	if !poll(2*time.Minute, 100*time.Millisecond, func() bool { return b.metric(t, "fanout_proxy_spool_records") == 0 }) {
		t.Fatalf("proxy b's spool still holds %v records 2 minutes after Kafka came back", b.metric(t, "fanout_proxy_spool_records"))
	}
	waitCaughtUp(t, k, cfg.GroupName(), 2*time.Minute)
	time.Sleep(3 * gcDeletes)
	a.restart(t)
	t.Logf("proxy a restarted %s after Kafka came back", time.Since(down.Add(outage)).Round(time.Second))

	t.Logf("%d requests sent, %d answered 2xx (%d auto-id documents created); small proxy: %d 2xx, %d 429",
		sent.Load(), ok2xx.Load(), autoIDs.Load(), len(smallOK), len(smallRefused))
	for i, s := range bad {
		if i == 10 {
			t.Errorf("... and %d more", len(bad)-10)
			break
		}
		t.Errorf("not a 2xx: %s", s)
	}
	if during == 0 || ok2xx.Load() == 0 {
		t.Fatal("no load during the outage: the test proved nothing")
	}
	if len(smallOK) == 0 || len(smallRefused) == 0 {
		t.Errorf("the small proxy's spool: %d writes spooled, %d refused; want both", len(smallOK), len(smallRefused))
	}

	// Every spool drained, then the target caught up.
	for _, p := range []*spoolProxy{a, b, small} {
		if !poll(2*time.Minute, 100*time.Millisecond, func() bool { return p.metric(t, "fanout_proxy_spool_records") == 0 }) {
			t.Fatalf("proxy %s's spool still holds %v records 2 minutes after Kafka came back", p.name, p.metric(t, "fanout_proxy_spool_records"))
		}
		t.Logf("proxy %s: %v records spooled, %v drained (this incarnation)", p.name,
			p.metric(t, "fanout_proxy_spool_appended_total"), p.metric(t, "fanout_proxy_spool_drained_total"))
	}
	if n := b.metric(t, "fanout_proxy_spool_appended_total"); n == 0 {
		t.Error("proxy b spooled nothing during the outage")
	}
	waitCaughtUp(t, k, cfg.GroupName(), 2*time.Minute)
	rep := assertConverged(t, primary, target, nil)
	t.Logf("converged: %s", rep)
	dlqEmpty(t, k, "b")
	t.Logf("late events: %v current, %v deleted, %v unresolved",
		rr.Metric(t, "fanout_replicator_late_events_total", map[string]string{"outcome": "current"}),
		rr.Metric(t, "fanout_replicator_late_events_total", map[string]string{"outcome": "deleted"}),
		rr.Metric(t, "fanout_replicator_late_events_total", map[string]string{"outcome": "unresolved"}))

	// No resend, so no duplicate: one auto-id document per auto-id line answered.
	if got := countDocs(t, primary, `{"query":{"exists":{"field":"auto"}}}`); got != autoIDs.Load() {
		t.Errorf("the primary holds %d auto-id documents, clients were answered for %d", got, autoIDs.Load())
	}
	// 429 means not applied: on neither cluster.
	for _, e := range []*emulator{primary, target} {
		for _, id := range smallRefused {
			if code, _ := httpDo(t, http.MethodGet, e.url+"/orders/_doc/"+id, ""); code != http.StatusNotFound {
				t.Errorf("%s holds orders/%s, refused with 429: %d", e.url, id, code)
			}
		}
		for _, id := range smallOK {
			if code, ans := httpDo(t, http.MethodGet, e.url+"/orders/_doc/"+id, ""); code != http.StatusOK {
				t.Errorf("%s lacks orders/%s, answered 2xx: %d %s", e.url, id, code, ans)
			}
		}
	}
}

// spoolProxy is a fanout-proxy child process with a spool and an intent log.
type spoolProxy struct {
	name, url, metrics string
	proc               *replicatorProc
	restarting         atomic.Bool
	inflight           atomic.Int64 // requests sent to it and not answered yet
}

// kill9 SIGKILLs p once the writers have left it: a request cut off by the kill may
// have been applied or not, and the test's count of auto-id documents must be exact
// (kills in the middle of requests are TestProxyKill9UnderLoad's). The spool must hold
// events: that is what the kill is for.
func (p *spoolProxy) kill9(t *testing.T) {
	t.Helper()
	if n := p.metric(t, "fanout_proxy_spool_records"); n == 0 {
		t.Errorf("proxy %s's spool is empty when it is to be killed", p.name)
	}
	p.restarting.Store(true)
	if !poll(30*time.Second, time.Millisecond, func() bool { return p.inflight.Load() == 0 }) {
		t.Fatalf("requests to proxy %s still running 30 s after the writers left it", p.name)
	}
	if err := p.proc.kill(); err != nil {
		t.Fatal(err)
	}
}

// restart starts p again, with the same directories, and gives it back to the
// writers once ready.
func (p *spoolProxy) restart(t *testing.T) {
	t.Helper()
	if err := p.proc.start(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, p.metrics, 30*time.Second)
	p.restarting.Store(false)
}

// use says whether a writer may send its next request to p, and if so counts it in
// flight (the writer takes it off when answered). inflight is raised before
// restarting is read, so that once restarting is set and inflight seen at 0 no
// request can reach p.
func (p *spoolProxy) use() bool {
	p.inflight.Add(1)
	if p.restarting.Load() {
		p.inflight.Add(-1)
		return false
	}
	return true
}

// startSpoolProxy starts a proxy with its own spool and intent directories; maxBytes
// "" keeps the default spool.max_bytes.
func startSpoolProxy(t *testing.T, bin, name string, k *kafkatest.Cluster, primary *emulator, maxBytes string) *spoolProxy {
	t.Helper()
	listen, metrics := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	env := []string{
		"FANOUT_LISTEN=" + listen,
		"FANOUT_METRICS_LISTEN=" + metrics,
		"FANOUT_PRIMARY_ENDPOINTS=" + primary.url,
		"FANOUT_KAFKA_BROKERS=" + strings.Join(k.Addrs(), ","),
		"FANOUT_PUBLISH_TOPIC=" + topic,
		// lz4, the default, makes the replicator in this race-instrumented process
		// take a 4 MiB block from a pool the race detector keeps emptying, per
		// batch: that alone was most of this test's CPU (see proxytest.Config).
		"FANOUT_PUBLISH_COMPRESSION=snappy",
		"FANOUT_LIMITS_READINESS_INTERVAL=100ms",
		"FANOUT_SPOOL_DIR=" + spoolDir(filepath.Join(dir, "spool")),
		"FANOUT_SPOOL_KAFKA_WAIT=1s",
		"FANOUT_RECOVERY_DIR=" + filepath.Join(dir, "intents"),
		"FANOUT_RECOVERY_SETTLE=1s",
		"FANOUT_LOG_LEVEL=warn",
	}
	if maxBytes != "" {
		env = append(env, "FANOUT_SPOOL_MAX_BYTES="+maxBytes)
	}
	p := &spoolProxy{name: name, url: "http://" + listen, metrics: "http://" + metrics}
	p.proc = newReplicatorProc(t, bin, "proxy-"+name, nil)
	p.proc.env = childEnv(env...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("proxy %s log (last 6000 bytes of %d incarnations):\n%s", name, p.proc.incarnations(), p.proc.logTail(6000))
		}
	})
	if err := p.proc.start(); err != nil {
		t.Fatal(err)
	}
	return p
}

func spoolDir(dir string) string {
	if *outageNoSpool {
		return ""
	}
	return dir
}

// metric is the sum of the samples of name on the proxy's /metrics.
func (p *spoolProxy) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(p.metrics + "/metrics")
	if err != nil {
		t.Fatalf("reading proxy %s's metrics: %v", p.name, err)
	}
	defer resp.Body.Close()
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("proxy %s's metric line %q: %v", p.name, line, err)
		}
		sum += v
		found = true
	}
	if !found && !*outageNoSpool {
		t.Fatalf("proxy %s has no metric %s", p.name, name)
	}
	return sum
}

// postRead is post keeping the answer.
func postRead(c *http.Client, method, u string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	ct := "application/json"
	if strings.HasSuffix(u, "/_bulk") {
		ct = "application/x-ndjson"
	}
	req.Header.Set("Content-Type", ct)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(resp.Body)
	return resp.StatusCode, ans, err
}

// explicitID matches the ids killLoadRequest writes; an auto-generated id is 20
// base64url characters, and may well start with "d-" too (1 in 4096).
var explicitID = regexp.MustCompile(`^d-[0-9]+$`)

// createdAutoIDs counts the auto-id documents a 2xx answer of killLoadRequest's
// request says were created: the single POST, or the bulk items whose id is not one of its explicit ones.
func createdAutoIDs(t *testing.T, path string, ans []byte) int {
	if !strings.HasSuffix(path, "/_bulk") {
		return 1
	}
	var r struct {
		Items []map[string]struct {
			ID     string `json:"_id"`
			Status int    `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(ans, &r); err != nil {
		t.Errorf("bulk answer: %v: %.300s", err, ans)
		return 0
	}
	n := 0
	for _, it := range r.Items {
		for _, res := range it {
			if !explicitID.MatchString(res.ID) && res.Status == http.StatusCreated {
				n++
			}
		}
	}
	return n
}

// countDocs is the number of documents of every workload index matching query.
func countDocs(t *testing.T, e *emulator, query string) int64 {
	t.Helper()
	httpDo(t, http.MethodPost, e.url+"/_refresh", "")
	code, ans := httpDo(t, http.MethodPost, e.url+"/"+strings.Join(workloadIndices, ",")+"/_count", query)
	if code != http.StatusOK {
		t.Fatalf("counting on %s: %d %s", e.url, code, ans)
	}
	var r struct {
		Count int64 `json:"count"`
	}
	if err := json.Unmarshal(ans, &r); err != nil {
		t.Fatalf("count answer %s: %v", ans, err)
	}
	return r.Count
}
