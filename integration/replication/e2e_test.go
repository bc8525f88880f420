package replication_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestThreeTargetsConverge: 50,000 index / update / delete operations on overlapping
// ids through the proxy, one stream consumed by three replicators for three targets,
// one of which renames indices; every target converges to the primary, versions
// included.
func TestThreeTargetsConverge(t *testing.T) {
	pl := startPipeline(t, 6)
	names := []string{"b", "c", "d"}
	targets := map[string]*emulator{}
	rename := map[string]string{"b": "{index}", "c": "{index}", "d": "{index}-dr"}
	var reps []*replicatortest.Running
	for _, n := range names {
		targets[n] = startTarget(t, n, rename[n])
		cfg := testConfig(pl.kafka, targets[n], n)
		cfg.Indices.Rename = rename[n]
		reps = append(reps, startReplicator(t, cfg))
	}
	const ops = 50_000
	w := newWorkload(t, pl.proxy, 4000, 250)
	start := time.Now()
	w.run(t, nil, ops, 4, 0, 1)
	t.Logf("%d operations through the proxy in %s", w.ops.Load(), time.Since(start).Round(time.Millisecond))
	for i, n := range names {
		waitCaughtUp(t, pl.kafka, reps[i].Group(), 2*time.Minute)
		tmpl := rename[n]
		rep := assertConverged(t, pl.primary, targets[n], func(ix string) string { return replicator.RenameIndex(tmpl, ix) })
		t.Logf("target %s (rename %s): %d documents converged; applied %v, stale %v, retried %v", n, tmpl, rep.Compared,
			reps[i].Ops(t, "applied"), reps[i].Ops(t, "stale"), reps[i].Ops(t, "retried"))
		if got := reps[i].Ops(t, "dlq"); got != 0 {
			t.Errorf("target %s: %v records dead-lettered", n, got)
		}
	}
	t.Logf("all three targets converged %s after the first write", time.Since(start).Round(time.Millisecond))
	if code, body := httpDo(t, http.MethodGet, targets["d"].url+"/orders-dr/_count", ""); code != 200 || strings.Contains(string(body), `"count":0,`) {
		t.Errorf("renamed index orders-dr on d: %d %s", code, body)
	}
	if code, _ := httpDo(t, http.MethodGet, targets["d"].url+"/orders/_count", ""); code != 404 {
		t.Errorf("d holds an un-renamed index orders: %d", code)
	}
}

// TestCrashLoop: while traffic flows, a replicator is aborted without draining at
// random moments 20 times and restarted each time; the target converges with zero
// divergence, nothing is dead-lettered, and the re-applies count as stale.
func TestCrashLoop(t *testing.T) {
	pl := startPipeline(t, 4)
	target := startTarget(t, "b", "")
	cfg := testConfig(pl.kafka, target, "b")
	cfg.Consume.CommitInterval = 300 * time.Millisecond
	w := newWorkload(t, pl.proxy, 2000, 100)
	stop := w.background(t, 2, 5*time.Millisecond, 2)

	rng := rand.New(rand.NewPCG(3, 4))
	var applied, stale float64
	for i := 0; i < 20; i++ {
		r := startReplicator(t, cfg)
		// The random moment is a number of records resolved by this incarnation: a
		// crash mid-stream, whatever the machine's speed.
		at := float64(1 + rng.IntN(1500))
		replicatortest.WaitFor(t, time.Minute, fmt.Sprintf("incarnation %d to resolve %v records", i, at), func() bool {
			return r.Ops(t, "applied")+r.Ops(t, "stale") >= at
		})
		r.Crash(t)
		applied += r.Ops(t, "applied")
		stale += r.Ops(t, "stale")
		if got := r.Ops(t, "dlq"); got != 0 {
			t.Fatalf("incarnation %d dead-lettered %v records", i, got)
		}
	}
	stop()
	sent := w.ops.Load()
	final := startReplicator(t, cfg)
	waitCaughtUp(t, pl.kafka, final.Group(), 2*time.Minute)
	applied += final.Ops(t, "applied")
	stale += final.Ops(t, "stale")
	rep := assertConverged(t, pl.primary, target, nil)
	dlqEmpty(t, pl.kafka, "b")
	t.Logf("20 crashes under %d operations: %d documents converged; %v applies, %v re-applies counted stale",
		sent, rep.Compared, applied, stale)
	if stale == 0 {
		t.Error("no re-apply was counted stale: the crashes did not re-deliver anything, so the test proved nothing")
	}
}

// owns reports whether the members between them own all partitions, each one owned by
// exactly one of them, and every member owns some.
func owns(partitions int, members ...*replicatortest.Running) bool {
	seen := map[int32]bool{}
	for _, m := range members {
		ps := m.Status().Partitions
		if len(ps) == 0 {
			return false
		}
		for _, p := range ps {
			if seen[p.Partition] {
				return false
			}
			seen[p.Partition] = true
		}
	}
	return len(seen) == partitions
}

// TestMembersComeAndGo: instances of one target's group join, leave gracefully and
// crash mid-stream; the target converges, and per document the versions the target
// applied (its operation log) never go backwards.
func TestMembersComeAndGo(t *testing.T) {
	const partitions = 12
	pl := startPipeline(t, partitions)
	target := startTarget(t, "b", "")
	cfg := testConfig(pl.kafka, target, "b")
	w := newWorkload(t, pl.proxy, 1500, 100)
	stop := w.background(t, 2, 5*time.Millisecond, 5)

	// applying waits until members own the partitions between them and each has
	// resolved more records than it had: the group settled and works.
	applying := func(what string, members ...*replicatortest.Running) {
		t.Helper()
		before := make([]float64, len(members))
		for i, m := range members {
			before[i] = m.Ops(t, "applied") + m.Ops(t, "stale")
		}
		replicatortest.WaitFor(t, time.Minute, what, func() bool {
			if !owns(partitions, members...) {
				return false
			}
			for i, m := range members {
				if m.Ops(t, "applied")+m.Ops(t, "stale") <= before[i] {
					return false
				}
			}
			return true
		})
	}
	a := startReplicator(t, cfg)
	b := startReplicator(t, cfg)
	applying("a and b sharing the partitions", a, b)
	c := startReplicator(t, cfg) // a third joins
	applying("c joining a and b", a, b, c)
	a.Stop(t) // one leaves gracefully
	applying("b and c taking over from a", b, c)
	b.Crash(t) // one dies; its partitions wait for its session to time out
	d := startReplicator(t, cfg)
	applying("c and d taking over from the crashed b", c, d)
	c.Stop(t)
	applying("d alone", d)
	stop()
	waitCaughtUp(t, pl.kafka, d.Group(), 2*time.Minute)
	rep := assertConverged(t, pl.primary, target, nil)
	dlqEmpty(t, pl.kafka, "b")

	var total, stale float64
	for _, r := range []*replicatortest.Running{a, b, c, d} {
		total += r.Ops(t, "applied")
		stale += r.Ops(t, "stale")
	}
	t.Logf("%d operations, %d documents converged; %v applies, %v stale across 4 members", w.ops.Load(), rep.Compared, total, stale)
	checkVersionsOnlyGrow(t, target, workloadIndices)
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
	target := startTarget(t, "b", "")
	cfg := testConfig(pl.kafka, target, "b")
	cfg.Retry.Max = 5 * time.Second // the production default 30 s would only slow the test
	r := startReplicator(t, cfg)
	w := newWorkload(t, pl.proxy, 2000, 50)
	stop := w.background(t, 1, 20*time.Millisecond, 6)

	lag := func() float64 { return r.Metric(t, "fanout_replicator_lag_records", nil) }
	replicatortest.WaitFor(t, 10*time.Second, "some documents applied", func() bool { return r.Ops(t, "applied") > 200 })

	target.SetFaults(searchemu.Faults{Down: true})
	downAt := time.Now()
	replicatortest.WaitFor(t, 10*time.Second, "target_up 0", func() bool {
		return r.Metric(t, "fanout_replicator_target_up", nil) == 0
	})
	if code, body := httpDo(t, http.MethodGet, r.MetricsURL()+"/readyz", ""); code != 503 || !strings.Contains(string(body), "target") {
		t.Errorf("/readyz while the target is down: %d %s", code, body)
	}
	replicatortest.WaitFor(t, 10*time.Second, "a partition blocked with lag", func() bool {
		for _, p := range r.Status().Partitions {
			if p.State == "blocked" && p.LastError != "" && p.Lag > 0 {
				return lag() > 0
			}
		}
		return false
	})
	lagEarly := lag()
	// The outage lasts 30 s (the fault under test): the lag readings are taken at
	// 25 s, when lag_seconds must count the whole time since the last apply.
	time.Sleep(time.Until(downAt.Add(25 * time.Second)))
	lagLate := lag()
	if secs := r.Metric(t, "fanout_replicator_lag_seconds", nil); secs < 20 {
		t.Errorf("lag_seconds %v after 25s down, want the time since the last applied event", secs)
	}
	if !(lagEarly > 0 && lagLate > lagEarly) {
		t.Errorf("lag did not grow while the target was down: %v at first, %v after 25s", lagEarly, lagLate)
	}
	time.Sleep(time.Until(downAt.Add(30 * time.Second)))
	target.SetFaults(searchemu.Faults{})
	upAt := time.Now()
	appliedAtUp := r.Ops(t, "applied")
	replicatortest.WaitFor(t, time.Minute, "applies after the outage", func() bool { return r.Ops(t, "applied") > appliedAtUp+200 })
	stop()
	waitCaughtUp(t, pl.kafka, r.Group(), 2*time.Minute)
	t.Logf("caught up %s after the target came back (lag peaked above %v records)", time.Since(upAt).Round(time.Millisecond), lagLate)
	replicatortest.WaitFor(t, 10*time.Second, "lag back to 0", func() bool { return lag() == 0 })
	if r.Metric(t, "fanout_replicator_target_up", nil) != 1 {
		t.Error("target_up is not 1 after the outage")
	}
	if code, body := httpDo(t, http.MethodGet, r.MetricsURL()+"/readyz", ""); code != 200 {
		t.Errorf("/readyz after the outage: %d %s", code, body)
	}
	if got := r.Ops(t, "dlq"); got != 0 {
		t.Errorf("%v records dead-lettered during the outage", got)
	}
	dlqEmpty(t, pl.kafka, "b")
	if failed := r.Metric(t, "fanout_replicator_bulk_requests_total", map[string]string{"result": "failed"}); failed == 0 {
		t.Error("no failed bulk request counted during the outage")
	}
	assertConverged(t, pl.primary, target, nil)
}

// TestItem429s: the target rejects 20% of bulk items with 429; they are retried
// until applied, nothing is dead-lettered, and the target converges.
func TestItem429s(t *testing.T) {
	pl := startPipeline(t, 4)
	target := startTarget(t, "b", "")
	target.SetFaults(searchemu.Faults{BulkItem429Ratio: 0.2})
	r := startReplicator(t, testConfig(pl.kafka, target, "b"))
	w := newWorkload(t, pl.proxy, 2000, 200)
	w.run(t, nil, 10_000, 2, 0, 7)
	waitCaughtUp(t, pl.kafka, r.Group(), 2*time.Minute)
	assertConverged(t, pl.primary, target, nil)
	if got := r.Ops(t, "dlq"); got != 0 {
		t.Errorf("%v records dead-lettered", got)
	}
	dlqEmpty(t, pl.kafka, "b")
	retried := r.Ops(t, "retried")
	if retried < 1000 {
		t.Errorf("retried = %v, want about 20%% of %d operations and more", retried, w.ops.Load())
	}
	t.Logf("%d operations, %v item retries", w.ops.Load(), retried)
}

// TestElasticsearch7Target: replicas may run another vendor. An OpenSearch primary is
// replicated into an Elasticsearch 7 target (whose answers carry _type and its own
// exception names), with 429s on some items, and converges.
func TestElasticsearch7Target(t *testing.T) {
	pl := startPipeline(t, 4)
	target := startTarget(t, "es7", "", func(o *searchemu.Options) { o.Flavor = searchemu.Elasticsearch7 })
	target.SetFaults(searchemu.Faults{BulkItem429Ratio: 0.05})
	r := startReplicator(t, testConfig(pl.kafka, target, "es7"))
	w := newWorkload(t, pl.proxy, 500, 100)
	w.run(t, nil, 3_000, 2, 0, 11)
	waitCaughtUp(t, pl.kafka, r.Group(), time.Minute)
	assertConverged(t, pl.primary, target, nil)
	if got := r.Ops(t, "dlq"); got != 0 {
		t.Errorf("%v records dead-lettered", got)
	}
}
