package proxy_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/intentlog"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/proxy"
)

// TestRecoveryResolvesOpenIntents: intents a killed proxy left open in recovery.dir
// are resolved against the primary by the next proxy: a document that exists is
// published as an INDEX of its current state and version, a missing one as a DELETE
// whose version is the shard's max_seq_no + 1 (above everything the shard held, below
// every later write), and an intent of an index that is gone, or of a missing document
// written through an alias, publishes nothing.
func TestRecoveryResolvesOpenIntents(t *testing.T) {
	e := startEnv(t, 0)
	primary := e.primaryURL
	mustStatus(t, send(t, http.MethodPut, primary+"/r/_doc/a?routing=x", `{"v":1}`), 201)
	mustStatus(t, send(t, http.MethodPut, primary+"/r/_doc/a?routing=x", `{"v":2}`), 200)
	mustStatus(t, send(t, http.MethodPut, primary+"/r/_doc/b", `{"v":1}`), 201)
	mustStatus(t, send(t, http.MethodDelete, primary+"/r/_doc/b", ""), 200)
	mustStatus(t, send(t, http.MethodPost, primary+"/_aliases", `{"actions":[{"add":{"index":"r","alias":"ra"}}]}`), 200)

	dir := t.TempDir()
	l, _, err := intentlog.Open(dir, intentlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, items := range [][]intentlog.Item{
		{{Index: "r", ID: "a", Routing: "x", Action: "index"}, {Index: "r", ID: "b", Action: "delete"}},
		{{Index: "gone", ID: "z", Action: "create"}},
		// Missing, written through an alias: its shard is not known for sure, so no
		// DELETE (unverified).
		{{Index: "ra", ID: "via-alias", Action: "delete"}},
	} {
		if _, err := l.Begin(items); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil { // as a killed proxy: the intents stay open
		t.Fatal(err)
	}

	cfg := e.config()
	cfg.Recovery = proxy.RecoveryConfig{Dir: dir, Settle: 0}
	e.proxies = append(e.proxies, startProxy(t, cfg))

	var ops []*opspb.Operation
	deadline := time.Now().Add(eventWait)
	for len(ops) < 2 && time.Now().Before(deadline) {
		ops = e.published()
		time.Sleep(50 * time.Millisecond)
	}
	byID := map[string]*opspb.Operation{}
	for _, op := range ops {
		byID[op.GetId()] = op
	}
	if len(ops) != 2 {
		t.Fatalf("want 2 recovered events (INDEX a, DELETE b), got %d: %v", len(ops), ops)
	}
	a, b := byID["a"], byID["b"]
	// a: _seq_no 1 on its shard (two writes), term 1.
	if a.GetKind() != opspb.Kind_KIND_INDEX || string(a.GetSource()) != `{"v":2}` || a.GetRouting() != "x" {
		t.Errorf("a: want INDEX {\"v\":2} routing x, got %v", a)
	}
	av, _ := event.ReplicationVersion(a.GetSeqNo(), a.GetPrimaryTerm(), 0, true)
	if a.GetReplicationVersion() != av || a.GetVersion() != 2 {
		t.Errorf("a: version %d (raw %d), want %d (raw 2)", a.GetReplicationVersion(), a.GetVersion(), av)
	}
	// b: index and delete at _seq_no 0 and 1 of its shard (one shard): max_seq_no is
	// 1 or more (a's writes may share the shard), so the delete's version is above
	// b's delete at seq 1, and any later write's.
	if b.GetKind() != opspb.Kind_KIND_DELETE {
		t.Fatalf("b: want DELETE, got %v", b)
	}
	maxSeq := b.GetReplicationVersion() - 1<<40 - 1
	if maxSeq < 1 {
		t.Errorf("b: DELETE version %d is not above the shard's writes of b", b.GetReplicationVersion())
	}
	// A later real write of b gets a higher version than the recovered delete.
	mustStatus(t, send(t, http.MethodPut, e.url()+"/r/_doc/b", `{"v":3}`), 201)
	var later *opspb.Operation
	for _, op := range e.published() {
		if op.GetId() == "b" && op.GetKind() == opspb.Kind_KIND_INDEX {
			later = op
		}
	}
	if later == nil || later.GetReplicationVersion() <= b.GetReplicationVersion() {
		t.Errorf("a write after recovery must beat the recovered DELETE (%d): %v", b.GetReplicationVersion(), later)
	}
	// The resolved intents' segment is gone; only the running proxy's own is left.
	segs, _ := filepath.Glob(filepath.Join(dir, "*.intents"))
	if len(segs) != 1 {
		t.Errorf("segments after recovery: %v, want only the current one", segs)
	}
}

// TestRecoveryAssignsAutoIDs: with recovery on, the proxy gives auto-id writes ids in
// the primary's format before calling it, and the answer is what an auto-id write's is.
func TestRecoveryAssignsAutoIDs(t *testing.T) {
	e := startEnv(t, 1, func(c *proxy.Config) { c.Recovery = proxy.RecoveryConfig{Dir: t.TempDir()} })
	r := send(t, http.MethodPost, e.url()+"/auto/_doc", `{"x":1}`)
	mustStatus(t, r, 201)
	m := r.json(t)
	id, _ := m["_id"].(string)
	if len(id) != 20 || strings.ContainsAny(id, "+/=") || m["result"] != "created" {
		t.Fatalf("auto-id answer: %s", r.body)
	}
	r = send(t, http.MethodPost, e.url()+"/_bulk", "{\"index\":{\"_index\":\"auto\"}}\n{\"y\":1}\n{\"create\":{\"_index\":\"auto\"}}\n{\"y\":2}\n")
	mustStatus(t, r, 200)
	if strings.Contains(string(r.body), `"errors":true`) || !strings.Contains(string(r.body), `{"index":{`) || !strings.Contains(string(r.body), `{"create":{`) {
		t.Fatalf("bulk answer: %s", r.body)
	}
	ops := e.published()
	if len(ops) != 3 {
		t.Fatalf("want 3 events, got %d", len(ops))
	}
	seen := map[string]bool{}
	for _, op := range ops {
		if len(op.GetId()) != 20 || seen[op.GetId()] {
			t.Errorf("event id %q: not a fresh 20-character id", op.GetId())
		}
		seen[op.GetId()] = true
		g := send(t, http.MethodGet, e.primaryURL+"/auto/_doc/"+op.GetId(), "")
		mustStatus(t, g, 200)
	}
}

func mustStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
}

// TestRecoveryResolvesUnsettledWrites: a write answered 503 because Kafka refused its
// events stays an open intent, which the running proxy resolves itself once Kafka is
// back (after recovery.settle): the document's current state reaches Kafka without a
// retry by the client and without a restart.
func TestRecoveryResolvesUnsettledWrites(t *testing.T) {
	e := startEnv(t, 1, func(c *proxy.Config) {
		c.Recovery = proxy.RecoveryConfig{Dir: t.TempDir(), Settle: 200 * time.Millisecond}
		c.Publish.Timeout = time.Second
	})
	// Not retriable: the records fail, and are never delivered late.
	fault := e.kafka.FailProduce(0, kerr.MessageTooLarge)
	r := send(t, http.MethodPut, e.url()+"/u/_doc/1?routing=z", `{"a":1}`)
	mustStatus(t, r, http.StatusServiceUnavailable)
	fault.Remove()

	var got *opspb.Operation
	deadline := time.Now().Add(eventWait)
	for got == nil && time.Now().Before(deadline) {
		for _, op := range e.published() {
			if op.GetIndex() == "u" && op.GetId() == "1" {
				got = op
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got == nil {
		t.Fatal("the write answered 503 never reached Kafka after Kafka came back")
	}
	if !strings.HasPrefix(got.GetRequestId(), "recovery-") || got.GetKind() != opspb.Kind_KIND_INDEX ||
		string(got.GetSource()) != `{"a":1}` || got.GetRouting() != "z" {
		t.Fatalf("want the recovered INDEX of u/1 (routing z), got %v", got)
	}
}

// openIntents leaves intents for items open in a new intent log in dir, as a killed
// proxy does.
func openIntents(t *testing.T, dir string, items ...[]intentlog.Item) {
	t.Helper()
	l, _, err := intentlog.Open(dir, intentlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if _, err := l.Begin(it); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitRecovered waits until the intents a previous proxy left in dir are resolved: only
// the running proxy's own segment is left.
func waitRecovered(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		segs, _ := filepath.Glob(filepath.Join(dir, "*.intents"))
		if len(segs) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("intents not resolved: segments %v", segs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRecoveryOrderedWithMetadata: recovery's events are ordered with metadata changes
// as a write's are (DESIGN.md principle 10). Here the primary deletes the index of a
// recovered document after recovery looked the document up and before it published
// it: the INDEX of the document as it was must not land behind the deletion's copy,
// where a target would apply it to a deleted index (creating it again).
func TestRecoveryOrderedWithMetadata(t *testing.T) {
	e := startEnv(t, 0)
	mustStatus(t, send(t, http.MethodPut, e.primaryURL+"/om/_doc/x", `{"v":1}`), 201)
	dir := t.TempDir()
	openIntents(t, dir, []intentlog.Item{{Index: "om", ID: "x", Action: "index"}})

	// The first _mget is answered by the primary at once, but its answer is held back
	// until the index is deleted.
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	front := frontPrimary(t, e.primaryURL, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/_mget" {
			return false
		}
		first := false
		once.Do(func() { first = true })
		if !first {
			return false
		}
		body, _ := io.ReadAll(r.Body)
		resp, err := http.Post(e.primaryURL+"/_mget", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Error(err)
			return false
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		close(held)
		<-release
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
		return true
	})
	cfg := e.config()
	cfg.Primary.Endpoints = []string{front}
	cfg.Recovery = proxy.RecoveryConfig{Dir: dir}
	e.proxies = append(e.proxies, startProxy(t, cfg))
	select {
	case <-held:
	case <-time.After(eventWait):
		close(release)
		t.Fatal("recovery never looked the document up")
	}
	r := send(t, http.MethodDelete, e.url()+"/om", "")
	close(release)
	mustStatus(t, r, 200)
	waitRecovered(t, dir)

	// Each partition's records are in offset order; the change has a copy on every one.
	deleted := map[int32]bool{}
	for _, rec := range e.committed() {
		op := decodeAll(t, []*kgo.Record{rec})[0]
		switch {
		case op.GetKind() == opspb.Kind_KIND_METADATA && strings.Contains(op.GetMetadata().GetRequest(), "/om"):
			deleted[rec.Partition] = true
		case op.GetIndex() == "om" && deleted[rec.Partition]:
			t.Fatalf("an event of om/%s is behind the deletion of om on partition %d: %v", op.GetId(), rec.Partition, op)
		}
	}
	if len(deleted) != partitions {
		t.Fatalf("the deletion of om has copies on %d partitions, want %d", len(deleted), partitions)
	}
}

// TestOrphansRetriedWithoutTheResolved: when the proxy's own resolution of writes left
// unconfirmed fails part-way (here the primary refuses the second batch's lookup), the
// intents it did resolve and close are not resolved again: each document's recovered
// event is published once.
func TestOrphansRetriedWithoutTheResolved(t *testing.T) {
	e := startEnv(t, 0)
	var mu sync.Mutex
	mgets := 0
	front := frontPrimary(t, e.primaryURL, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/_mget" {
			return false
		}
		mu.Lock()
		mgets++
		n := mgets
		mu.Unlock()
		if n != 2 {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":{"type":"cluster_block_exception","reason":"busy"},"status":503}`)
		return true
	})
	cfg := e.config()
	cfg.Primary.Endpoints = []string{front}
	cfg.Recovery = proxy.RecoveryConfig{Dir: t.TempDir(), Settle: 200 * time.Millisecond}
	cfg.Publish.Timeout = time.Second
	e.proxies = append(e.proxies, startProxy(t, cfg))

	// Two writes of 200 documents answered 503 (Kafka refuses their events): two
	// intents, resolved in two batches (up to 256 documents each).
	fault := e.kafka.FailProduce(0, kerr.MessageTooLarge)
	for w := 0; w < 2; w++ {
		var body strings.Builder
		for i := 0; i < 200; i++ {
			fmt.Fprintf(&body, "{\"index\":{\"_index\":\"orph\",\"_id\":\"%d-%d\"}}\n{\"n\":%d}\n", w, i, i)
		}
		mustStatus(t, send(t, http.MethodPost, e.url()+"/_bulk", body.String()), http.StatusServiceUnavailable)
	}
	fault.Remove()

	recovered := map[string]int{}
	deadline := time.Now().Add(eventWait)
	for len(recovered) < 400 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		recovered = map[string]int{}
		for _, op := range e.published() {
			if op.GetIndex() == "orph" && strings.HasPrefix(op.GetRequestId(), "recovery-") {
				recovered[op.GetId()]++
			}
		}
	}
	if len(recovered) != 400 {
		t.Fatalf("%d of the 400 documents recovered", len(recovered))
	}
	for id, n := range recovered {
		if n != 1 {
			t.Errorf("orph/%s: recovered %d times", id, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if mgets != 3 {
		t.Errorf("%d lookups, want 3 (the second refused, retried once)", mgets)
	}
}
