package replicator_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// The suites that write through the ingest proxy are in integration/replication: the
// replicator module does not depend on the proxy. These run a replicator on events
// produced straight to Kafka.

// TestUnavailableTarget: whole-request 503s block the partitions (never the DLQ)
// until the target answers again.
func TestUnavailableTarget(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	target.SetFaults(searchemu.Faults{Unavailable: true})
	r := startReplicator(t, testConfig(k, target, "b"))
	var ops []string
	for i := 0; i < 50; i++ {
		ops = append(ops, fmt.Sprint(i))
	}
	recs := encode(t, routedOpsFor("docs", ops)...)
	k.ProduceSync(t, recs...)
	waitFor(t, 10*time.Second, "target_up 0", func() bool {
		return r.Metric(t, "fanout_replicator_target_up", nil) == 0
	})
	waitFor(t, 10*time.Second, "every partition blocked on the 503s", func() bool {
		ps := r.Status().Partitions
		for _, p := range ps {
			if p.State != "blocked" || p.LastError == "" {
				return false
			}
		}
		return len(ps) == 2
	})
	if ok, _ := caughtUp(t, k, r.Group()); ok {
		t.Fatal("offsets committed while the target answered 503")
	}
	target.SetFaults(searchemu.Faults{})
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	for _, o := range routedOpsFor("docs", ops) {
		if d := getDoc(t, target, "docs", o.GetId(), o.GetRouting()); !d.Found || d.Routing != o.GetRouting() {
			t.Fatalf("docs/%s (routing %q) after the target came back: %+v", o.GetId(), o.GetRouting(), d)
		}
	}
	if got := r.Ops(t, "dlq"); got != 0 {
		t.Errorf("%v records dead-lettered", got)
	}
}

// TestBackpressure: with small buffer caps and a slow target, fetching pauses
// instead of buffering without bound, and everything is applied in the end.
func TestBackpressure(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
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

	// Sample the buffer while waiting: every check of the condition is one sample.
	var maxBuffered float64
	sawPaused := false
	adm := k.Client(t)
	waitFor(t, 2*time.Minute, "the group caught up", func() bool {
		maxBuffered = max(maxBuffered, r.Metric(t, "fanout_replicator_buffered_bytes", nil))
		sawPaused = sawPaused || r.Metric(t, "fanout_replicator_fetch_paused_partitions", nil) > 0
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		behind, err := replicatortest.Behind(ctx, adm, r.Group(), topic)
		return err == nil && len(behind) == 0
	})
	// A cap is checked after each fetch, so one fetch response can overshoot it.
	if limit := float64(cfg.Consume.MaxBufferedBytes + int64(cfg.Consume.FetchMaxBytes) + 2*16<<10); maxBuffered > limit {
		t.Errorf("buffered up to %v bytes, cap %d plus one fetch %d", maxBuffered, cfg.Consume.MaxBufferedBytes, cfg.Consume.FetchMaxBytes)
	}
	if !sawPaused {
		t.Error("fetching was never paused")
	}
	if got := r.Ops(t, "applied"); got != float64(len(ids)) {
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

// routedOpsFor is opsFor with every third document routed (routing derived from the id,
// so that every write of one document uses the same routing, as clients must).
func routedOpsFor(index string, ids []string) []*opspb.Operation {
	out := opsFor(index, ids)
	for i, o := range out {
		if i%3 == 0 {
			o.Routing = "r" + o.Id[len(o.Id)-1:]
		}
	}
	return out
}

// produceToEach produces one INDEX event of index to every partition of topic (a marker:
// a partition's records are resolved in order, so once a consumer resolved its marker it
// has resolved everything before it on that partition) and returns their ids.
func produceToEach(t *testing.T, k *kafkatest.Cluster, partitions int32, index string) []string {
	t.Helper()
	cl := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var ids []string
	var recs []*kgo.Record
	for p := int32(0); p < partitions; p++ {
		id := fmt.Sprintf("marker-%d", p)
		rec := encode(t, op(opspb.Kind_KIND_INDEX, index, id, "", 1, `{"marker":true}`))[0]
		rec.Partition = p
		recs = append(recs, rec)
		ids = append(ids, id)
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatalf("producing the markers: %v", err)
	}
	return ids
}

// allResolved reports whether the members between them own the partitions of topic
// and have resolved each one up to its high watermark.
func allResolved(partitions int, members ...*replicatortest.Running) bool {
	n := 0
	for _, m := range members {
		for _, p := range m.Status().Partitions {
			if p.HighWatermark < 0 || p.ResolvedOffset != p.HighWatermark {
				return false
			}
			n++
		}
	}
	return n == partitions
}

// TestGracefulShutdownCommits: a drained replicator commits what it resolved, so
// its successor re-applies nothing.
func TestGracefulShutdownCommits(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 3))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	cfg := testConfig(k, target, "b")
	cfg.Consume.CommitInterval = time.Hour // only revoke and shutdown commit
	var ids []string
	for i := 0; i < 300; i++ {
		ids = append(ids, fmt.Sprint(i))
	}
	k.ProduceSync(t, encode(t, routedOpsFor("docs", ids)...)...)
	r := startReplicator(t, cfg)
	waitFor(t, 20*time.Second, "all applied", func() bool { return r.Ops(t, "applied") == 300 })
	if ok, _ := caughtUp(t, k, r.Group()); ok {
		t.Fatal("committed before shutdown with an hour-long commit interval")
	}
	r.Stop(t)
	if ok, behind := caughtUp(t, k, r.Group()); !ok {
		t.Fatalf("not committed at shutdown: %s", behind)
	}
	again := startReplicator(t, cfg)
	markers := produceToEach(t, k, 3, "docs")
	// Anything re-delivered would come before the markers on its partition.
	waitFor(t, 20*time.Second, "the markers resolved on every partition", func() bool {
		return again.Ops(t, "applied") == float64(len(markers)) && allResolved(3, again)
	})
	if got := again.Ops(t, "stale"); got != 0 {
		t.Errorf("the successor re-applied %v records", got)
	}
	httpDo(t, "POST", target.url+"/docs/_refresh", "") // _count searches refreshed data only
	if code, body := httpDo(t, "GET", target.url+"/docs/_count", ""); code != 200 || !strings.Contains(string(body), `"count":303`) {
		t.Errorf("count: %d %s", code, body)
	}
}
