package replicator_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// TestCapsCountBatchesInFlight: the records of a batch being applied stay counted
// against the buffer caps until the batch is resolved. A partition whose one batch
// hangs on a slow target holds that memory: the buffered-bytes gauge shows it, and
// fetching for the partition stays paused past its cap instead of buffering a second
// cap's worth behind the batch.
func TestCapsCountBatchesInFlight(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	f := newFront(t, target)
	release := make(chan struct{})
	f.setMode(func(_ http.ResponseWriter, r *http.Request, _ []byte) bool {
		select {
		case <-release:
		case <-r.Context().Done():
			return true
		}
		return false // then pass the request on to the emulator
	})
	cfg := testConfig(k, &emulator{Cluster: target.Cluster, url: f.url}, "b")
	cfg.Consume.FetchMaxBytes = 64 << 10
	cfg.Consume.FetchMaxPartitionBytes = 64 << 10
	cfg.Consume.MaxPartitionBufferedBytes = 128 << 10
	cfg.Consume.MaxBufferedBytes = 256 << 10
	cfg.Batch.MaxDocs = 10_000
	cfg.Batch.MaxBytes = 192 << 10 // one batch takes the partition past its cap
	cfg.Limits.BulkTimeout = 2 * time.Minute

	var ids []string
	for i := range 1000 {
		ids = append(ids, fmt.Sprint(i))
	}
	prod := k.Client(t, kgo.ProducerBatchMaxBytes(16<<10), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err := prod.ProduceSync(t.Context(), encode(t, opsFor("docs", ids)...)...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := startReplicator(t, cfg)
	waitFor(t, 30*time.Second, "a batch in flight", func() bool { return f.count() >= 1 })
	// The batch in flight is over the partition cap by itself: it must be counted, and
	// fetching paused, for as long as it is in flight.
	waitFor(t, 30*time.Second, "fetching paused behind the batch in flight", func() bool {
		return r.Metric(t, "fanout_replicator_fetch_paused_partitions", nil) == 1
	})
	// A fetch is checked against the cap after it arrived: it can overshoot by one
	// fetch response (and a record batch).
	limit := cfg.Consume.MaxPartitionBufferedBytes + int64(cfg.Consume.FetchMaxBytes) + 16<<10
	for range 10 {
		gauge := r.Metric(t, "fanout_replicator_buffered_bytes", nil)
		st := r.Status()
		if len(st.Partitions) != 1 {
			t.Fatalf("status: %+v", st)
		}
		p := st.Partitions[0]
		if p.InFlightRecords == 0 || gauge != float64(p.BufferedBytes+p.InFlightBytes) {
			t.Fatalf("gauge %v, status %+v: the batch in flight is not counted", gauge, p)
		}
		if held := p.BufferedBytes + p.InFlightBytes; held > limit {
			t.Fatalf("the partition holds %d bytes (%d records buffered, %d in flight) behind a hanging batch; the cap is %d, at most %d with one fetch",
				held, p.BufferedRecords, p.InFlightRecords, cfg.Consume.MaxPartitionBufferedBytes, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(release)
	waitCaughtUp(t, k, r.Group(), time.Minute)
	waitFor(t, 10*time.Second, "the gauge back to 0", func() bool {
		return r.Metric(t, "fanout_replicator_buffered_bytes", nil) == 0
	})
	if got := r.Ops(t, "applied"); got != float64(len(ids)) {
		t.Errorf("applied %v, want %d", got, len(ids))
	}
}
