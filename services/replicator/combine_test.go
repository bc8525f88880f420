package replicator_test

import (
	"bytes"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// combinedBacklog produces two versions of docs documents over 8 partitions and
// returns a replicator configuration with batch.combine_window set, pointed at f.
func combinedBacklog(t *testing.T, docs int) (*kafkatest.Cluster, *emulator, *front, func() replicator.Config) {
	t.Helper()
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 8))
	target := startEmulator(t, "b")
	createIndex(t, target, "c")
	f := newFront(t, target)
	var ops []*opspb.Operation
	for v := int64(1); v <= 2; v++ {
		for i := 0; i < docs; i++ {
			ops = append(ops, op(opspb.Kind_KIND_INDEX, "c", fmt.Sprintf("d%d", i), "", v, fmt.Sprintf(`{"v":%d}`, v)))
		}
	}
	k.ProduceSync(t, encode(t, ops...)...)
	return k, target, f, func() replicator.Config {
		cfg := testConfig(k, target, "b")
		cfg.Target.Endpoints = []string{f.url}
		// Wide, so that the partitions' first batches, fetched together, surely share.
		cfg.Batch.CombineWindow = 200 * time.Millisecond
		return cfg
	}
}

// checkAllAt checks that every document is on the target at version 2.
func checkAllAt(t *testing.T, target *emulator, docs int) {
	t.Helper()
	for i := 0; i < docs; i++ {
		if d := getDoc(t, target, "c", fmt.Sprintf("d%d", i), ""); !d.Found || d.Version != 1<<event.SeqNoBits|2 || string(d.Source) != `{"v":2}` {
			t.Fatalf("d%d on the target: %+v", i, d)
		}
	}
}

// TestCombinedBulks: with batch.combine_window, the batches of partitions ready
// together go as one _bulk, and every document ends as on the primary.
func TestCombinedBulks(t *testing.T) {
	const docs = 100
	k, target, f, config := combinedBacklog(t, docs)
	cfg := config()
	start := time.Now()
	startReplicator(t, cfg)
	waitCaughtUp(t, k, cfg.GroupName(), 30*time.Second)
	checkAllAt(t, target, docs)
	// One bulk per partition (8, each holding both versions of its documents) without
	// combining; the backlog is fetched at once, so the batches share a few.
	if n := f.bulksSince(start); n >= 8 || n == 0 {
		t.Fatalf("%d _bulk requests for the batches of 8 partitions ready together, want fewer than 8", n)
	}
}

// TestCombinedBulkRefusedWhole: a combined _bulk the target refuses as a whole (413
// over 30 items, then once an answer with no items, which counts for nothing) is not
// pinned on any one partition: each sends its items alone, narrowing down only its own,
// and nothing is dead-lettered.
func TestCombinedBulkRefusedWhole(t *testing.T) {
	const docs = 60
	k, target, f, config := combinedBacklog(t, docs)
	var refused, short atomic.Int32
	f.setMode(func(w http.ResponseWriter, _ *http.Request, body []byte) bool {
		switch items := bytes.Count(body, []byte("\n")) / 2; {
		case items > 30:
			refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = w.Write([]byte(`{"error":{"type":"content_too_long_exception","reason":"too long"},"status":413}`))
			return true
		case items > 1 && short.CompareAndSwap(0, 1):
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"took":1,"errors":false,"items":[]}`))
			return true
		}
		return false
	})
	cfg := config()
	cfg.Retry.ItemAttempts = 1 // an item wrongly taken for the refused one would be dead-lettered at once
	rep := startReplicator(t, cfg)
	waitCaughtUp(t, k, cfg.GroupName(), 30*time.Second)
	checkAllAt(t, target, docs)
	if refused.Load() == 0 || short.Load() == 0 {
		t.Fatalf("the target refused %d requests and answered %d short: the test did not test", refused.Load(), short.Load())
	}
	if dlq := replicatortest.Metric(t, rep.Registry, "fanout_replicator_ops_total", map[string]string{"result": "dlq"}); dlq != 0 {
		t.Fatalf("%v events dead-lettered", dlq)
	}
}
