package proxy_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fanout-dev/fanout/pkg/intentlog"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/pkg/spool"
	"github.com/fanout-dev/fanout/services/proxy"
)

// withSpool gives the proxies a spool in dir that waits kafkaWait for Kafka.
func withSpool(dir string) envOpt {
	return func(c *proxy.Config) {
		c.Spool.Dir = dir
		c.Spool.KafkaWait = 200 * time.Millisecond
		c.Spool.DrainTimeout = 10 * time.Second
	}
}

func spoolInfo(t *testing.T, dir string) spool.Info {
	t.Helper()
	info, err := spool.Inspect(dir)
	if err != nil {
		t.Fatalf("inspecting the spool: %v", err)
	}
	return info
}

// waitSpool waits until the spool in dir holds (or not) records.
func waitSpool(t *testing.T, dir string, empty bool) spool.Info {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		info := spoolInfo(t, dir)
		if (info.Records == 0) == empty {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("spool %s: %+v, want empty=%v", dir, info, empty)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// versionsInOrder fails t if one document's events are out of replication-version
// order (a duplicate right behind itself is fine) or if a document written is missing.
func versionsInOrder(t *testing.T, e *env, want map[string]int) {
	t.Helper()
	last := map[string]int64{}
	seen := map[string]int{}
	for _, op := range e.published() {
		key := op.GetIndex() + "/" + op.GetId()
		if v := op.GetReplicationVersion(); v < last[key] {
			t.Fatalf("%s: event of version %d after version %d", key, v, last[key])
		} else if v > last[key] {
			seen[key]++
		}
		last[key] = op.GetReplicationVersion()
	}
	for key, n := range want {
		if seen[key] != n {
			t.Fatalf("%s: %d distinct versions in Kafka, want %d", key, seen[key], n)
		}
	}
}

// Kafka refusing, or not answering, every produce: clients still get 2xx (their events
// spooled), and once Kafka is back every event is in the topic, each document's in
// order.
func TestSpoolWhileKafkaIsDown(t *testing.T) {
	for _, tt := range []struct {
		name string
		down func(*env) (up func())
	}{
		{"refusing", func(e *env) func() { return e.kafka.FailProduce(0, kerr.NotEnoughReplicas).Remove }},
		{"hanging", func(e *env) func() { return e.kafka.HoldProduce().Release }},
	} {
		t.Run(tt.name, func(t *testing.T) { testSpoolWhileKafkaIsDown(t, tt.down) })
	}
}

func testSpoolWhileKafkaIsDown(t *testing.T, down func(*env) func()) {
	dir := t.TempDir()
	e := startEnv(t, 1, withSpool(dir))
	if r := send(t, http.MethodPut, e.url()+"/s/_doc/0", `{"n":0}`); r.status != 201 {
		t.Fatalf("before the fault: %d %s", r.status, r.body)
	}
	up := down(e)
	want := map[string]int{"s/0": 1}
	for i := 1; i <= 5; i++ {
		for v := 0; v < 3; v++ {
			r := send(t, http.MethodPut, fmt.Sprintf("%s/s/_doc/%d", e.url(), i), fmt.Sprintf(`{"v":%d}`, v))
			if r.status/100 != 2 {
				t.Fatalf("write %d v%d with Kafka refusing: %d %s", i, v, r.status, r.body)
			}
		}
		want[fmt.Sprintf("s/%d", i)] = 3
	}
	bulk := "{\"delete\":{\"_index\":\"s\",\"_id\":\"1\"}}\n{\"index\":{\"_index\":\"s\",\"_id\":\"6\"}}\n{\"b\":1}\n"
	if r := send(t, http.MethodPost, e.url()+"/_bulk", bulk); r.status != 200 {
		t.Fatalf("bulk with Kafka refusing: %d %s", r.status, r.body)
	}
	want["s/1"], want["s/6"] = 4, 1
	// Six documents of 1 MiB: more than one append's worth (the spool takes a request in
	// appends of a few MiB), each a chunk group of two records.
	var big strings.Builder
	for i := 0; i < 6; i++ {
		fmt.Fprintf(&big, "{\"index\":{\"_index\":\"s\",\"_id\":\"big%d\"}}\n{\"f\":%q}\n", i, strings.Repeat("x", 1<<20))
		want[fmt.Sprintf("s/big%d", i)] = 1
	}
	if r := send(t, http.MethodPost, e.url()+"/_bulk", big.String()); r.status != 200 || strings.Contains(string(r.body[:min(len(r.body), 64)]), `"errors":true`) {
		t.Fatalf("bulk of large documents with Kafka down: %d %.300s", r.status, r.body)
	}
	if info := spoolInfo(t, dir); info.Records < 16+12 || !info.Locked {
		t.Fatalf("spool while Kafka is down: %+v, want the 16 events and 12 records of large ones, locked", info)
	}
	// Reads go on.
	if r := send(t, http.MethodGet, e.url()+"/s/_doc/2", ""); r.status != 200 {
		t.Fatalf("read: %d %s", r.status, r.body)
	}
	up()
	waitSpool(t, dir, true)
	versionsInOrder(t, e, want)
}

// A full spool refuses new writes with 429 before the primary is called; reads work.
func TestSpoolFullRefusesBeforePrimary(t *testing.T) {
	dir := t.TempDir()
	e := startEnv(t, 1, withSpool(dir), func(c *proxy.Config) { c.Spool.MaxBytes = 1 })
	fault := e.kafka.FailProduce(0, kerr.NotEnoughReplicas)
	// The first write is spooled: the bound is soft for writes the primary applied.
	if r := send(t, http.MethodPut, e.url()+"/f/_doc/1", `{"a":1}`); r.status != 201 {
		t.Fatalf("first write: %d %s", r.status, r.body)
	}
	for _, tt := range []struct{ method, path, body string }{
		{http.MethodPut, "/f/_doc/2", `{"a":2}`},
		{http.MethodPost, "/_bulk", "{\"index\":{\"_index\":\"f\",\"_id\":\"3\"}}\n{\"a\":3}\n"},
	} {
		r := send(t, tt.method, e.url()+tt.path, tt.body)
		errObj, _ := r.json(t)["error"].(map[string]any)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" ||
			errObj["type"] != "rejected_execution_exception" || !strings.Contains(fmt.Sprint(errObj["reason"]), "spool.max_bytes") {
			t.Fatalf("%s %s with the spool full: %d %v %s", tt.method, tt.path, r.status, r.header, r.body)
		}
	}
	for _, id := range []string{"2", "3"} {
		if r := send(t, http.MethodGet, e.primaryURL+"/f/_doc/"+id, ""); r.status != 404 {
			t.Fatalf("the primary has f/%s, refused with 429: %d %s", id, r.status, r.body)
		}
	}
	if r := send(t, http.MethodGet, e.url()+"/f/_doc/1", ""); r.status != 200 {
		t.Fatalf("read with the spool full: %d %s", r.status, r.body)
	}
	fault.Remove()
	waitSpool(t, dir, true)
	if r := send(t, http.MethodPut, e.url()+"/f/_doc/2", `{"a":2}`); r.status != 201 {
		t.Fatalf("write once drained: %d %s", r.status, r.body)
	}
}

// runProxy runs a proxy until the returned stop is called, which waits for Run.
func runProxy(t *testing.T, cfg proxy.Config) (*proxy.Proxy, func()) {
	t.Helper()
	p, err := proxy.New(cfg, proxy.Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("proxy Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("proxy did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	return p, stop
}

// A spool left non-empty at shutdown (Kafka still refusing) is drained by the next
// proxy on the directory as soon as it starts; two proxies never share a directory.
func TestSpoolSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	e := startEnv(t, 0)
	cfg := e.config()
	withSpool(dir)(&cfg)
	cfg.Spool.DrainTimeout = 0 // leave it on disk
	p1, stop1 := runProxy(t, cfg)

	// A second proxy on the same directory does not start.
	_, err := proxy.New(cfg, proxy.Deps{})
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second proxy on %s: %v, want an error naming the directory", dir, err)
	}

	fault := e.kafka.FailProduce(0, kerr.NotEnoughReplicas)
	for i := 0; i < 3; i++ {
		if r := send(t, http.MethodPut, fmt.Sprintf("%s/r/_doc/%d", p1.URL(), i), `{"a":1}`); r.status != 201 {
			t.Fatalf("write %d: %d %s", i, r.status, r.body)
		}
	}
	stop1()
	if info := spoolInfo(t, dir); info.Records < 3 || info.Locked {
		t.Fatalf("spool after shutdown with Kafka refusing: %+v, want 3 records, unlocked", info)
	}
	fault.Remove()

	p2, _ := runProxy(t, cfg)
	e.proxies = append(e.proxies, p2)
	waitSpool(t, dir, true)
	versionsInOrder(t, e, map[string]int{"r/0": 1, "r/1": 1, "r/2": 1})
}

// At shutdown the proxy drains its spool to Kafka (spool.drain_timeout) before it stops.
func TestSpoolDrainedAtShutdown(t *testing.T) {
	dir := t.TempDir()
	e := startEnv(t, 0)
	cfg := e.config()
	withSpool(dir)(&cfg)
	p, stop := runProxy(t, cfg)
	fault := e.kafka.FailProduce(0, kerr.NotEnoughReplicas)
	for i := 0; i < 3; i++ {
		if r := send(t, http.MethodPut, fmt.Sprintf("%s/sd/_doc/%d", p.URL(), i), `{"a":1}`); r.status != 201 {
			t.Fatalf("write %d: %d %s", i, r.status, r.body)
		}
	}
	fault.Remove()
	stop()
	if info := spoolInfo(t, dir); info.Records != 0 {
		t.Fatalf("spool after a shutdown with Kafka back: %+v, want drained", info)
	}
	ops := decodeAll(t, e.kafka.ConsumeAll(t, topic, eventWait))
	for i := 0; i < 3; i++ {
		if !hasDoc(ops, "sd", fmt.Sprint(i)) {
			t.Fatalf("sd/%d not in Kafka after the shutdown drain: %v", i, ops)
		}
	}
}

// A metadata change does not overtake spooled documents: with Kafka refusing, it is
// refused before the primary is called.
func TestSpoolHoldsMetadataChanges(t *testing.T) {
	dir := t.TempDir()
	e := startEnv(t, 1, withSpool(dir))
	fault := e.kafka.FailProduce(0, kerr.NotEnoughReplicas)
	if r := send(t, http.MethodPut, e.url()+"/m/_doc/1", `{"a":1}`); r.status != 201 {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	r := send(t, http.MethodPut, e.url()+"/m2", `{}`)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "spool") {
		t.Fatalf("metadata change with a spool Kafka does not drain: %d %s", r.status, r.body)
	}
	if r := send(t, http.MethodGet, e.primaryURL+"/m2", ""); r.status != 404 {
		t.Fatalf("the primary has index m2, refused: %d %s", r.status, r.body)
	}
	fault.Remove()
	waitSpool(t, dir, true)
	if r := send(t, http.MethodPut, e.url()+"/m2", `{}`); r.status != 200 {
		t.Fatalf("metadata change once drained: %d %s", r.status, r.body)
	}
}

// Recovery with Kafka down publishes through the spool: the resolved intents are closed
// once their events are spooled (not before: Kafka has taken nothing), and the events
// reach Kafka when it is back.
func TestSpoolTakesRecoveredEvents(t *testing.T) {
	e := startEnv(t, 0)
	mustStatus(t, send(t, http.MethodPut, e.primaryURL+"/rs/_doc/a", `{"v":1}`), 201)
	rdir, sdir := t.TempDir(), t.TempDir()
	openIntents(t, rdir, []intentlog.Item{{Index: "rs", ID: "a", Action: "index"}})
	fault := e.kafka.FailProduce(0, kerr.NotEnoughReplicas)
	cfg := e.config()
	withSpool(sdir)(&cfg)
	cfg.Recovery = proxy.RecoveryConfig{Dir: rdir}
	e.proxies = append(e.proxies, startProxy(t, cfg))
	waitRecovered(t, rdir)
	if info := spoolInfo(t, sdir); info.Records < 1 {
		t.Fatalf("intents closed with Kafka refusing, but the spool is %+v", info)
	}
	fault.Remove()
	waitSpool(t, sdir, true)
	var got *opspb.Operation
	for _, op := range e.published() {
		if op.GetIndex() == "rs" && op.GetId() == "a" {
			got = op
		}
	}
	if got == nil || got.GetKind() != opspb.Kind_KIND_INDEX || !strings.HasPrefix(got.GetRequestId(), "recovery-") {
		t.Fatalf("the recovered INDEX of rs/a after the spool drained: %v", got)
	}
}

// An event Kafka refuses for good (a record over the topic's max.message.bytes) is not
// spooled: draining it could never succeed and would hold every event spooled behind
// it, and the spool would fill. The write is answered 503 as without a spool (its
// intent left to recovery); the spool stays empty and writes go on once Kafka takes
// them.
func TestSpoolRefusesRecordsKafkaRefuses(t *testing.T) {
	dir := t.TempDir()
	// kafka_wait long enough for Kafka's refusal to arrive on a loaded machine: at
	// 200 ms the direct publish could time out first, and the event was spooled (201)
	// without Kafka's answer having been seen.
	e := startEnv(t, 1, withSpool(dir), func(c *proxy.Config) { c.Spool.KafkaWait = 5 * time.Second })
	fault := e.kafka.FailProduce(0, kerr.MessageTooLarge)
	r := send(t, http.MethodPut, e.url()+"/rr/_doc/1", `{"a":1}`)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "MESSAGE_TOO_LARGE") {
		t.Fatalf("a write whose event Kafka refuses for good: %d %s", r.status, r.body)
	}
	if info := spoolInfo(t, dir); info.Records != 0 {
		t.Fatalf("the refused event was spooled: %+v", info)
	}
	// Kafka merely unavailable: spooled, as ever.
	fault.Remove()
	fault = e.kafka.FailProduce(0, kerr.NotEnoughReplicas)
	mustStatus(t, send(t, http.MethodPut, e.url()+"/rr/_doc/2", `{"a":2}`), 201)
	if info := spoolInfo(t, dir); info.Records != 1 {
		t.Fatalf("the spool with Kafka unavailable: %+v, want 1 record", info)
	}
	fault.Remove()
	waitSpool(t, dir, true)
	mustStatus(t, send(t, http.MethodPut, e.url()+"/rr/_doc/3", `{"a":3}`), 201)
	if ops := e.published(); !hasDoc(ops, "rr", "2") || !hasDoc(ops, "rr", "3") {
		t.Fatalf("events after the refusal: %v", ops)
	}
}

// A proxy stopped while recovery publishes (Kafka not answering) lets recovery finish
// before it closes the spool and the intent log: the recovered events are spooled and
// the intents closed, not left for the next start to resolve again.
func TestShutdownWaitsForRecovery(t *testing.T) {
	e := startEnv(t, 0)
	mustStatus(t, send(t, http.MethodPut, e.primaryURL+"/sw/_doc/a", `{"v":1}`), 201)
	rdir, sdir := t.TempDir(), t.TempDir()
	openIntents(t, rdir, []intentlog.Item{{Index: "sw", ID: "a", Action: "index"}})
	looked := make(chan struct{})
	var once sync.Once
	// Signalled once the lookup's answer is sent: recovery is publishing then.
	front := frontPrimary(t, e.primaryURL, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/_mget" {
			return false
		}
		resp, err := http.Post(e.primaryURL+"/_mget", "application/json", r.Body)
		if err != nil {
			t.Error(err)
			return false
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(answer)))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
		once.Do(func() { close(looked) })
		return true
	})
	hold := e.kafka.HoldProduce()
	t.Cleanup(hold.Release)
	cfg := e.config()
	cfg.Primary.Endpoints = []string{front}
	withSpool(sdir)(&cfg)
	cfg.Spool.KafkaWait = time.Second // recovery's publish waits this long for Kafka
	cfg.Spool.DrainTimeout = 200 * time.Millisecond
	cfg.Recovery = proxy.RecoveryConfig{Dir: rdir}
	_, stop := runProxy(t, cfg)
	select {
	case <-looked:
	case <-time.After(eventWait):
		t.Fatal("recovery never looked the document up")
	}
	// Stopped while recovery publishes: past reading the answer, well within the
	// second it waits for Kafka.
	time.Sleep(100 * time.Millisecond)
	stop()

	if info := spoolInfo(t, sdir); info.Records != 1 {
		t.Errorf("spool after the shutdown: %+v, want the recovered event", info)
	}
	l, open, err := intentlog.Open(rdir, intentlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if len(open) != 0 {
		t.Errorf("intents left open by a shutdown during recovery: %v", open)
	}
}
