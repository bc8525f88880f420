package replicator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// front is a target in front of an emulator that counts the _bulk requests it gets
// and answers them as its mode says.
type front struct {
	url  string
	pass http.Handler

	mu       sync.Mutex
	mode     func(w http.ResponseWriter, r *http.Request, body []byte) bool // true: answered
	bulks    []time.Time                                                    // when each _bulk arrived
	answered []time.Time                                                    // when each _bulk was answered
}

func newFront(t *testing.T, target *emulator) *front {
	t.Helper()
	u, err := url.Parse(target.url)
	if err != nil {
		t.Fatal(err)
	}
	f := &front{pass: httputil.NewSingleHostReverseProxy(u)}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	f.url = srv.URL
	return f
}

func (f *front) setMode(m func(w http.ResponseWriter, r *http.Request, body []byte) bool) {
	f.mu.Lock()
	f.mode = m
	f.mu.Unlock()
}

func (f *front) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/_bulk" {
		f.pass.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bulks = append(f.bulks, time.Now())
	mode := f.mode
	f.mu.Unlock()
	if mode == nil || !mode(w, r, body) {
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.pass.ServeHTTP(w, r)
	}
	f.mu.Lock()
	f.answered = append(f.answered, time.Now())
	f.mu.Unlock()
}

// bulksSince counts the _bulk requests that arrived at or after t.
func (f *front) bulksSince(t time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, at := range f.bulks {
		if !at.Before(t) {
			n++
		}
	}
	return n
}

func (f *front) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.bulks)
}

// unavailable answers 503, as a cluster without a master does.
func unavailable(w http.ResponseWriter, _ *http.Request, _ []byte) bool {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprint(w, `{"error":{"root_cause":[{"type":"cluster_block_exception","reason":"blocked by: [SERVICE_UNAVAILABLE/2/no master];"}],"type":"cluster_block_exception","reason":"blocked by: [SERVICE_UNAVAILABLE/2/no master];"},"status":503}`)
	return true
}

// hang never answers: the request ends when the replicator gives up on it.
func hang(_ http.ResponseWriter, r *http.Request, _ []byte) bool {
	<-r.Context().Done()
	return true
}

// reject429 applies the request on the emulator but answers the item about id with
// 429 rejected_execution_exception, as a target whose write queue is full would.
func reject429(pass http.Handler, id string) func(w http.ResponseWriter, r *http.Request, body []byte) bool {
	return func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		pass.ServeHTTP(rec, r)
		var ans struct {
			Took  int                          `json:"took"`
			Items []map[string]json.RawMessage `json:"items"`
		}
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &ans) != nil {
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return true
		}
		for _, it := range ans.Items {
			for action, raw := range it {
				var res struct {
					Index string `json:"_index"`
					ID    string `json:"_id"`
				}
				if json.Unmarshal(raw, &res) == nil && res.ID == id {
					it[action] = json.RawMessage(fmt.Sprintf(`{"_index":%q,"_id":%q,"status":429,"error":{"type":"rejected_execution_exception","reason":"rejected execution of coordinating operation"}}`, res.Index, res.ID))
				}
			}
		}
		out, _ := json.Marshal(map[string]any{"took": ans.Took, "errors": true, "items": ans.Items})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
		return true
	}
}

// committed returns the group's committed offset of partition p of topic, -1 if none.
func committed(t *testing.T, k *kafkatest.Cluster, group string, p int32) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(k.Client(t)).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, p); ok && o.Err == nil {
		return o.At
	}
	return -1
}

// slowDrain is a configuration whose drain would take minutes if stopping waited for
// the retries: a stop that finishes in seconds was not waiting for them.
func slowDrain(cfg replicator.Config) replicator.Config {
	cfg.Limits.ShutdownTimeout = 3 * time.Minute
	cfg.Consume.RebalanceTimeout = 4 * time.Minute
	cfg.Retry.Initial = 10 * time.Millisecond
	cfg.Retry.Max = 200 * time.Millisecond
	return cfg
}

// stopWithin drains rr (as SIGTERM does) and fails unless Run returned within d.
func stopWithin(t *testing.T, rr interface{ Stop(testing.TB) }, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { rr.Stop(t); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("the drain did not end within %s (limits.shutdown_timeout is 3m): it waited for the retries", d)
	}
}

// TestStopInterruptsRetries: while the target answers every _bulk with 503, a drain
// (SIGTERM) ends the retrying at once instead of sending until limits.shutdown_timeout
// passes: no _bulk starts after it (but for one per partition already on its way) and
// nothing is committed for the records it did not apply.
func TestStopInterruptsRetries(t *testing.T) {
	k := kafkatestCluster(t)
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	f := newFront(t, target)
	f.setMode(unavailable)
	cfg := slowDrain(testConfig(k, &emulator{Cluster: target.Cluster, url: f.url}, "b"))

	var ops []*opspb.Operation
	for i := range 20 {
		ops = append(ops, op(opspb.Kind_KIND_INDEX, "docs", fmt.Sprintf("doc-%d", i), "", 1, `{}`))
	}
	k.ProduceSync(t, encode(t, ops...)...)
	r := startReplicator(t, cfg)
	waitFor(t, 30*time.Second, "the replicator retrying against the 503s", func() bool { return f.count() >= 10 })

	start := time.Now()
	stopWithin(t, r, 30*time.Second)
	if n := f.bulksSince(start); n > 2 {
		t.Errorf("%d _bulk requests arrived after the drain began; want at most one per partition, already on its way", n)
	}
	for p := range int32(2) {
		if off := committed(t, k, r.Group(), p); off > 0 {
			t.Errorf("partition %d committed to %d although nothing was applied", p, off)
		}
	}
	t.Logf("drained in %s after %d refused requests", time.Since(start).Round(time.Millisecond), f.count())
}

// TestStopKeepsWhatWasApplied: a drain that abandons a batch half applied (one item
// answered 429 again and again, the others applied) commits up to that item, not to
// the batch's start, so the next owner does not apply the rest again.
func TestStopKeepsWhatWasApplied(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	f := newFront(t, target)
	f.setMode(reject429(f.pass, "doc-6"))
	cfg := slowDrain(testConfig(k, &emulator{Cluster: target.Cluster, url: f.url}, "b"))
	cfg.Retry.ItemAttempts = 1000 // the item stays pending: retried, never dead-lettered

	var ops []*opspb.Operation
	for i := range 10 {
		ops = append(ops, op(opspb.Kind_KIND_INDEX, "docs", fmt.Sprintf("doc-%d", i), "", 1, `{}`))
	}
	k.ProduceSync(t, encode(t, ops...)...)
	r := startReplicator(t, cfg)
	waitFor(t, 30*time.Second, "doc-6 retried", func() bool { return f.count() >= 3 })
	stopWithin(t, r, 30*time.Second)
	// doc-6 is the seventh record: offsets 0–5 are resolved, 6 is not.
	if off := committed(t, k, r.Group(), 0); off != 6 {
		t.Errorf("committed offset %d after the drain, want 6 (the first record still unresolved)", off)
	}
}

// TestRevokeWhileTargetHangs: a partition revoked while its _bulk hangs on a target
// that never answers is handed over after that one attempt's bound
// (limits.bulk_timeout), not after limits.shutdown_timeout of further attempts.
func TestRevokeWhileTargetHangs(t *testing.T) {
	k := kafkatestCluster(t)
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	fa := newFront(t, target)
	fa.setMode(hang)
	cfgA := slowDrain(testConfig(k, &emulator{Cluster: target.Cluster, url: fa.url}, "b"))
	cfgA.Limits.BulkTimeout = 3 * time.Second

	var ops []*opspb.Operation
	for i := range 20 {
		ops = append(ops, op(opspb.Kind_KIND_INDEX, "docs", fmt.Sprintf("doc-%d", i), "", 1, `{}`))
	}
	k.ProduceSync(t, encode(t, ops...)...)
	a := startReplicator(t, cfgA)
	waitFor(t, 30*time.Second, "A sending to the hanging target", func() bool { return fa.count() >= 2 })

	// B applies to the target directly; it gets a partition only once A has let go.
	cfgB := slowDrain(testConfig(k, target, "b"))
	start := time.Now()
	b := startReplicator(t, cfgB)
	waitFor(t, 60*time.Second, "B assigned a partition", func() bool {
		return b.Metric(t, "fanout_replicator_assigned_partitions", nil) >= 1
	})
	t.Logf("the revoke handed a partition over %s after B started", time.Since(start).Round(time.Millisecond))
	a.Crash(t) // A's other partition goes to B too, through its session timeout
	waitFor(t, 60*time.Second, "B applying every record", func() bool {
		return b.Ops(t, "applied") >= 20
	})
}

// TestBackoffResetsAfterProgress: after an outage has grown the wait between attempts
// to retry.max, the first answer that applies anything starts the waits short again:
// the item still refused is retried after about retry.initial, not retry.max.
func TestBackoffResetsAfterProgress(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	f := newFront(t, target)
	cfg := testConfig(k, &emulator{Cluster: target.Cluster, url: f.url}, "b")
	cfg.Retry.Initial = 20 * time.Millisecond
	cfg.Retry.Max = 2560 * time.Millisecond // 20 ms doubled 7 times; jittered, at least 1.28 s

	// The outage: 503 until the backoff reached the cap (the 8th failure waits it).
	var outage atomic.Int64
	refuse := reject429(f.pass, "doc-3")
	f.setMode(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if outage.Add(1) <= 8 {
			return unavailable(w, r, body)
		}
		return refuse(w, r, body)
	})
	var ops []*opspb.Operation
	for i := range 10 {
		ops = append(ops, op(opspb.Kind_KIND_INDEX, "docs", fmt.Sprintf("doc-%d", i), "", 1, `{}`))
	}
	k.ProduceSync(t, encode(t, ops...)...)
	startReplicator(t, cfg)
	// Request 9 applies all but doc-3; request 10 retries doc-3.
	waitFor(t, 2*time.Minute, "doc-3 retried after the outage", func() bool { return f.count() >= 10 })
	f.mu.Lock()
	gap := f.bulks[9].Sub(f.answered[8])
	f.mu.Unlock()
	if gap >= time.Second {
		t.Errorf("the retry after the first answer that applied items waited %s: the backoff kept the outage's wait", gap)
	}
	t.Logf("retry %s after progress", gap.Round(time.Millisecond))
}
