package replicator_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/services/replicator"
)

// pipeline is a primary behind the ingest proxy, publishing to an embedded Kafka.
type pipeline struct {
	kafka   *kafkatest.Cluster
	primary *emulator
	proxy   string
}

func startPipeline(t *testing.T, partitions int32) *pipeline {
	t.Helper()
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, partitions))
	primary := startEmulator(t, "primary")
	p := startProxy(t, k, primary)
	return &pipeline{kafka: k, primary: primary, proxy: p.URL()}
}

// dlqEmpty asserts that nothing reached cluster's dead-letter topic.
func dlqEmpty(t *testing.T, k *kafkatest.Cluster, cluster string) {
	t.Helper()
	if recs := dlqRecords(t, k, cluster, 1, 500*time.Millisecond); len(recs) > 0 {
		t.Errorf("dead-letter topic of %s has records, e.g. headers %v", cluster, recs[0].Headers)
	}
}

// TestThreeTargetsConverge: 50,000 index / update / delete operations on overlapping
// ids through the proxy, one stream consumed by three replicators for three targets,
// one of which renames indices; every target converges to the primary, versions
// included.
func TestThreeTargetsConverge(t *testing.T) {
	pl := startPipeline(t, 6)
	names := []string{"b", "c", "d"}
	targets := map[string]*emulator{}
	rename := map[string]string{"b": "{index}", "c": "{index}", "d": "{index}-dr"}
	var reps []*running
	for _, n := range names {
		targets[n] = startEmulator(t, n)
		cfg := testConfig(pl.kafka, targets[n], n)
		cfg.Indices.Rename = rename[n]
		reps = append(reps, startReplicator(t, cfg))
	}
	const ops = 50_000
	w := newWorkload(pl.proxy, 4000, 250)
	start := time.Now()
	w.run(t, nil, ops, 4, 0, 1)
	t.Logf("%d operations through the proxy in %s", w.ops.Load(), time.Since(start).Round(time.Millisecond))
	for i, n := range names {
		waitCaughtUp(t, pl.kafka, reps[i].Group(), 2*time.Minute)
		tmpl := rename[n]
		rep := assertConverged(t, pl.primary, targets[n], func(ix string) string { return replicator.RenameIndex(tmpl, ix) })
		t.Logf("target %s (rename %s): %d documents converged; applied %v, stale %v, retried %v", n, tmpl, rep.Compared,
			reps[i].ops(t, "applied"), reps[i].ops(t, "stale"), reps[i].ops(t, "retried"))
		if got := reps[i].ops(t, "dlq"); got != 0 {
			t.Errorf("target %s: %v records dead-lettered", n, got)
		}
	}
	t.Logf("all three targets converged %s after the first write", time.Since(start).Round(time.Millisecond))
	if code, _ := httpDo(t, "GET", targets["d"].url+"/orders-dr/_count", ""); code != 200 {
		t.Errorf("renamed index orders-dr missing on d: %d", code)
	}
	if code, _ := httpDo(t, "GET", targets["d"].url+"/orders/_count", ""); code != 404 {
		t.Errorf("d holds an un-renamed index orders: %d", code)
	}
}

// TestCrashLoop: while traffic flows, a replicator is aborted without draining at
// random moments 20 times and restarted each time; the target converges with zero
// divergence, nothing is dead-lettered, and the re-applies count as stale.
func TestCrashLoop(t *testing.T) {
	pl := startPipeline(t, 4)
	target := startEmulator(t, "b")
	cfg := testConfig(pl.kafka, target, "b")
	cfg.Consume.CommitInterval = 300 * time.Millisecond
	w := newWorkload(pl.proxy, 2000, 100)
	stop := w.background(t, 2, 5*time.Millisecond, 2)

	rng := rand.New(rand.NewPCG(3, 4))
	var applied, stale float64
	for i := 0; i < 20; i++ {
		r := startReplicator(t, cfg)
		time.Sleep(time.Duration(200+rng.IntN(1300)) * time.Millisecond)
		r.crash(t)
		applied += r.ops(t, "applied")
		stale += r.ops(t, "stale")
		if got := r.ops(t, "dlq"); got != 0 {
			t.Fatalf("incarnation %d dead-lettered %v records", i, got)
		}
	}
	stop()
	sent := w.ops.Load()
	final := startReplicator(t, cfg)
	waitCaughtUp(t, pl.kafka, final.Group(), 2*time.Minute)
	applied += final.ops(t, "applied")
	stale += final.ops(t, "stale")
	rep := assertConverged(t, pl.primary, target, nil)
	dlqEmpty(t, pl.kafka, "b")
	t.Logf("20 crashes under %d operations: %d documents converged; %v applies, %v re-applies counted stale",
		sent, rep.Compared, applied, stale)
	if stale == 0 {
		t.Error("no re-apply was counted stale: the crashes did not re-deliver anything, so the test proved nothing")
	}
}

// TestMembersComeAndGo: instances of one target's group join, leave gracefully and
// crash mid-stream; the target converges, and per document the versions the target
// applied (its operation log) never go backwards.
func TestMembersComeAndGo(t *testing.T) {
	pl := startPipeline(t, 12)
	target := startEmulator(t, "b")
	cfg := testConfig(pl.kafka, target, "b")
	w := newWorkload(pl.proxy, 1500, 100)
	stop := w.background(t, 2, 5*time.Millisecond, 5)

	a := startReplicator(t, cfg)
	b := startReplicator(t, cfg)
	time.Sleep(1500 * time.Millisecond)
	c := startReplicator(t, cfg) // a third joins
	time.Sleep(1500 * time.Millisecond)
	a.stop(t) // one leaves gracefully
	time.Sleep(1500 * time.Millisecond)
	b.crash(t) // one dies
	d := startReplicator(t, cfg)
	time.Sleep(1500 * time.Millisecond)
	c.stop(t)
	time.Sleep(500 * time.Millisecond)
	stop()
	waitCaughtUp(t, pl.kafka, d.Group(), 2*time.Minute)
	rep := assertConverged(t, pl.primary, target, nil)
	dlqEmpty(t, pl.kafka, "b")

	var total, stale float64
	for _, r := range []*running{a, b, c, d} {
		total += r.ops(t, "applied")
		stale += r.ops(t, "stale")
	}
	t.Logf("%d operations, %d documents converged; %v applies, %v stale across 4 members", w.ops.Load(), rep.Compared, total, stale)
	checkVersionsOnlyGrow(t, target, w.indices)
}

// checkVersionsOnlyGrow asserts from the emulator's operation log that every
// document's applied versions strictly increase.
func checkVersionsOnlyGrow(t *testing.T, target *emulator, indices []string) {
	t.Helper()
	entries := 0
	for _, ix := range indices {
		last := map[string]searchemu.OpLogEntry{}
		for _, e := range target.OpLog(ix) {
			entries++
			if prev, ok := last[e.ID]; ok && e.Version <= prev.Version {
				t.Errorf("%s/%s: %s version %d applied after %s version %d", ix, e.ID, e.Op, e.Version, prev.Op, prev.Version)
			}
			if e.VersionType != "external" {
				t.Errorf("%s/%s written with version_type %q", ix, e.ID, e.VersionType)
			}
			last[e.ID] = e
		}
	}
	if entries == 0 {
		t.Error("the operation log is empty")
	}
}

// TestTargetDown30s: the target refuses connections for 30 s under load. The
// partitions block and retry, /readyz says not ready, target_up is 0, lag grows;
// once it is back, lag returns to 0, nothing was dead-lettered, and it converges.
func TestTargetDown30s(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s outage")
	}
	pl := startPipeline(t, 4)
	target := startEmulator(t, "b")
	cfg := testConfig(pl.kafka, target, "b")
	cfg.Retry.Max = 5 * time.Second // the production default 30 s would only slow the test
	r := startReplicator(t, cfg)
	w := newWorkload(pl.proxy, 2000, 50)
	stop := w.background(t, 1, 20*time.Millisecond, 6)

	lag := func() float64 { return metricValue(t, r.reg, "fanout_replicator_lag_records", nil) }
	waitFor(t, 10*time.Second, "some documents applied", func() bool { return r.ops(t, "applied") > 200 })

	target.SetFaults(searchemu.Faults{Down: true})
	downAt := time.Now()
	waitFor(t, 10*time.Second, "target_up 0", func() bool {
		return metricValue(t, r.reg, "fanout_replicator_target_up", nil) == 0
	})
	if code, body := httpDo(t, "GET", r.MetricsURL()+"/readyz", ""); code != 503 || !strings.Contains(string(body), "target") {
		t.Errorf("/readyz while the target is down: %d %s", code, body)
	}
	time.Sleep(5 * time.Second)
	lagEarly := lag()
	blocked := 0
	for _, p := range r.Status().Partitions {
		if p.State == "blocked" && p.LastError != "" {
			blocked++
		}
	}
	if blocked == 0 {
		t.Errorf("no partition reports blocked while the target is down: %+v", r.Status().Partitions)
	}
	time.Sleep(time.Until(downAt.Add(25 * time.Second)))
	lagLate := lag()
	if secs := metricValue(t, r.reg, "fanout_replicator_lag_seconds", nil); secs < 20 {
		t.Errorf("lag_seconds %v after 25s down, want the time since the last applied event", secs)
	}
	if !(lagEarly > 0 && lagLate > lagEarly) {
		t.Errorf("lag did not grow while the target was down: %v after 5s, %v after 25s", lagEarly, lagLate)
	}
	time.Sleep(time.Until(downAt.Add(30 * time.Second)))
	target.SetFaults(searchemu.Faults{})
	upAt := time.Now()
	time.Sleep(2 * time.Second)
	stop()
	waitCaughtUp(t, pl.kafka, r.Group(), 2*time.Minute)
	t.Logf("caught up %s after the target came back (lag peaked above %v records)", time.Since(upAt).Round(time.Millisecond), lagLate)
	waitFor(t, 10*time.Second, "lag back to 0", func() bool { return lag() == 0 })
	if metricValue(t, r.reg, "fanout_replicator_target_up", nil) != 1 {
		t.Error("target_up is not 1 after the outage")
	}
	if code, body := httpDo(t, "GET", r.MetricsURL()+"/readyz", ""); code != 200 {
		t.Errorf("/readyz after the outage: %d %s", code, body)
	}
	if got := r.ops(t, "dlq"); got != 0 {
		t.Errorf("%v records dead-lettered during the outage", got)
	}
	dlqEmpty(t, pl.kafka, "b")
	if failed := metricValue(t, r.reg, "fanout_replicator_bulk_requests_total", map[string]string{"result": "failed"}); failed == 0 {
		t.Error("no failed bulk request counted during the outage")
	}
	assertConverged(t, pl.primary, target, nil)
}

// TestItem429s: the target rejects 20% of bulk items with 429; they are retried
// until applied, nothing is dead-lettered, and the target converges.
func TestItem429s(t *testing.T) {
	pl := startPipeline(t, 4)
	target := startEmulator(t, "b")
	target.SetFaults(searchemu.Faults{BulkItem429Ratio: 0.2})
	r := startReplicator(t, testConfig(pl.kafka, target, "b"))
	w := newWorkload(pl.proxy, 2000, 200)
	w.run(t, nil, 10_000, 2, 0, 7)
	waitCaughtUp(t, pl.kafka, r.Group(), 2*time.Minute)
	assertConverged(t, pl.primary, target, nil)
	if got := r.ops(t, "dlq"); got != 0 {
		t.Errorf("%v records dead-lettered", got)
	}
	dlqEmpty(t, pl.kafka, "b")
	retried := r.ops(t, "retried")
	if retried < 1000 {
		t.Errorf("retried = %v, want about 20%% of %d operations and more", retried, w.ops.Load())
	}
	t.Logf("%d operations, %v item retries", w.ops.Load(), retried)
}

// TestUnavailableTarget: whole-request 503s block the partitions (never the DLQ)
// until the target answers again.
func TestUnavailableTarget(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	target := startEmulator(t, "b")
	target.SetFaults(searchemu.Faults{Unavailable: true})
	r := startReplicator(t, testConfig(k, target, "b"))
	var ops []string
	for i := 0; i < 50; i++ {
		ops = append(ops, fmt.Sprint(i))
	}
	recs := encode(t, opsFor("docs", ops)...)
	k.ProduceSync(t, recs...)
	waitFor(t, 10*time.Second, "target_up 0", func() bool {
		return metricValue(t, r.reg, "fanout_replicator_target_up", nil) == 0
	})
	time.Sleep(time.Second)
	if ok, _ := caughtUp(t, k, r.Group()); ok {
		t.Fatal("offsets committed while the target answered 503")
	}
	target.SetFaults(searchemu.Faults{})
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	for _, id := range ops {
		if d := getDoc(t, target, "docs", id, ""); !d.Found {
			t.Fatalf("docs/%s missing after the target came back", id)
		}
	}
	if got := r.ops(t, "dlq"); got != 0 {
		t.Errorf("%v records dead-lettered", got)
	}
}

// TestBackpressure: with small buffer caps and a slow target, fetching pauses
// instead of buffering without bound, and everything is applied in the end.
func TestBackpressure(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	target := startEmulator(t, "b")
	target.SetFaults(searchemu.Faults{Latency: 50 * time.Millisecond})
	cfg := testConfig(k, target, "b")
	cfg.Consume.FetchMaxBytes = 64 << 10
	cfg.Consume.FetchMaxPartitionBytes = 32 << 10
	cfg.Consume.MaxPartitionBufferedBytes = 64 << 10
	cfg.Consume.MaxBufferedBytes = 96 << 10
	cfg.Batch.MaxDocs = 50
	var ids []string
	for i := 0; i < 3000; i++ {
		ids = append(ids, fmt.Sprint(i))
	}
	// Kafka hands out whole record batches, so a fetch overshoots its limit by up to
	// one batch per partition: keep the batches small for a tight bound. The caps
	// count decompressed bytes and fetch limits compressed ones: no compression here.
	prod := k.Client(t, kgo.ProducerBatchMaxBytes(16<<10), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err := prod.ProduceSync(t.Context(), encode(t, opsFor("docs", ids)...)...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := startReplicator(t, cfg)

	var mu sync.Mutex
	var maxBuffered float64
	sawPaused := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if ok, _ := caughtUp(t, k, r.Group()); ok {
				return
			}
			b := metricValue(t, r.reg, "fanout_replicator_buffered_bytes", nil)
			p := metricValue(t, r.reg, "fanout_replicator_fetch_paused_partitions", nil)
			mu.Lock()
			maxBuffered = max(maxBuffered, b)
			sawPaused = sawPaused || p > 0
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("not caught up after 2 minutes")
	}
	mu.Lock()
	defer mu.Unlock()
	// A cap is checked after each fetch, so one fetch response can overshoot it.
	if limit := float64(cfg.Consume.MaxBufferedBytes + int64(cfg.Consume.FetchMaxBytes) + 2*16<<10); maxBuffered > limit {
		t.Errorf("buffered up to %v bytes, cap %d plus one fetch %d", maxBuffered, cfg.Consume.MaxBufferedBytes, cfg.Consume.FetchMaxBytes)
	}
	if !sawPaused {
		t.Error("fetching was never paused")
	}
	if got := r.ops(t, "applied"); got != float64(len(ids)) {
		t.Errorf("applied %v, want %d", got, len(ids))
	}
	t.Logf("peak buffered %v bytes", maxBuffered)
}

// opsFor returns one ~1 KiB INDEX event per id.
func opsFor(index string, ids []string) []*opspb.Operation {
	filler := strings.Repeat("x", 900)
	out := make([]*opspb.Operation, len(ids))
	for i, id := range ids {
		out[i] = op(opspb.Kind_KIND_INDEX, index, id, "", 1, fmt.Sprintf(`{"id":%q,"text":%q}`, id, filler))
	}
	return out
}

// TestGracefulShutdownCommits: a drained replicator commits what it resolved, so
// its successor re-applies nothing.
func TestGracefulShutdownCommits(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 3))
	target := startEmulator(t, "b")
	cfg := testConfig(k, target, "b")
	cfg.Consume.CommitInterval = time.Hour // only revoke and shutdown commit
	var ids []string
	for i := 0; i < 300; i++ {
		ids = append(ids, fmt.Sprint(i))
	}
	k.ProduceSync(t, encode(t, opsFor("docs", ids)...)...)
	r := startReplicator(t, cfg)
	waitFor(t, 20*time.Second, "all applied", func() bool { return r.ops(t, "applied") == 300 })
	if ok, _ := caughtUp(t, k, r.Group()); ok {
		t.Fatal("committed before shutdown with an hour-long commit interval")
	}
	r.stop(t)
	if ok, behind := caughtUp(t, k, r.Group()); !ok {
		t.Fatalf("not committed at shutdown: %s", behind)
	}
	again := startReplicator(t, cfg)
	k.ProduceSync(t, encode(t, opsFor("docs", []string{"after"})...)...)
	waitFor(t, 20*time.Second, "the new record applied", func() bool { return again.ops(t, "applied") == 1 })
	time.Sleep(300 * time.Millisecond)
	if got := again.ops(t, "stale"); got != 0 {
		t.Errorf("the successor re-applied %v records", got)
	}
	ids = append(ids, "after")
	sort.Strings(ids)
	if code, body := httpDo(t, "GET", target.url+"/docs/_count", ""); code != 200 || !strings.Contains(string(body), `"count":301`) {
		t.Errorf("count: %d %s", code, body)
	}
}

// TestElasticsearch7Target: replicas may run another vendor. An OpenSearch primary is
// replicated into an Elasticsearch 7 target (whose answers carry _type and its own
// exception names), with 429s on some items, and converges.
func TestElasticsearch7Target(t *testing.T) {
	pl := startPipeline(t, 4)
	target := startEmulator(t, "es7", func(o *searchemu.Options) { o.Flavor = searchemu.Elasticsearch7 })
	target.SetFaults(searchemu.Faults{BulkItem429Ratio: 0.05})
	r := startReplicator(t, testConfig(pl.kafka, target, "es7"))
	w := newWorkload(pl.proxy, 500, 100)
	w.run(t, nil, 3_000, 2, 0, 11)
	waitCaughtUp(t, pl.kafka, r.Group(), time.Minute)
	assertConverged(t, pl.primary, target, nil)
	if got := r.ops(t, "dlq"); got != 0 {
		t.Errorf("%v records dead-lettered", got)
	}
}
