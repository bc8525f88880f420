package replicator_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// bigDoc is a JSON document of exactly n bytes with a field a strict mapping refuses.
func bigDoc(n int) string {
	const head, tail = `{"n":1,"blob":"`, `"}`
	return head + strings.Repeat("z", n-len(head)-len(tail)) + tail
}

// TestOversizedRejectionDeadLettersReference: the case. A 1,010,028-byte
// document a strict replica mapping rejects cannot be copied to the DLQ (franz-go's
// 1,000,012-byte batch limit, plus the dead-letter headers): it is dead-lettered as a
// reference record, and the partition's later records are applied.
func TestOversizedRejectionDeadLettersReference(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs", `{"dynamic":"strict","properties":{"n":{"type":"long"}}}`)
	r := startReplicator(t, testConfig(k, target, "b"))

	const size = 1010028
	ops := []*opspb.Operation{op(opspb.Kind_KIND_INDEX, "docs", "big", "", 1, bigDoc(size))}
	var ids []string
	for i := 0; i < 30; i++ {
		ids = append(ids, strconv.Itoa(i))
	}
	ops = append(ops, opsFor("docs", ids)...)
	for _, o := range ops[1:] {
		o.Source = []byte(`{"n":` + o.GetId() + `}`)
	}
	recs := encode(t, ops...)
	// The proxy publishes events up to 1 MiB: so does this producer.
	if err := k.Client(t, kgo.ProducerBatchMaxBytes(2<<20)).ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, k, r.Group(), 60*time.Second)
	for _, id := range ids {
		if d := getDoc(t, target, "docs", id, ""); !d.Found {
			t.Errorf("docs/%s not applied after the oversized rejection", id)
		}
	}
	dlq := dlqRecords(t, k, "b", 2, 3*time.Second)
	if len(dlq) != 1 {
		t.Fatalf("%d dead-letter records, want the reference record of docs/big", len(dlq))
	}
	ref := dlq[0]
	dl, err := kafkax.ParseDeadLetter(ref.Headers)
	if err != nil {
		t.Fatal(err)
	}
	dr, isRef, err := kafkax.ParseDropped(ref.Headers)
	if err != nil || !isRef {
		t.Fatalf("not a reference record (%v): %v", err, ref.Headers)
	}
	if string(ref.Key) != "docs/big" || len(ref.Value) != 0 || dr.Reason != kafkax.DroppedTooLarge ||
		dr.Bytes != len(recs[0].Value) || dr.Limit != 1000012 {
		t.Errorf("reference %q value %d bytes, dropped %+v (source value %d bytes)", ref.Key, len(ref.Value), dr, len(recs[0].Value))
	}
	if dl.ErrorType != "strict_dynamic_mapping_exception" || dl.SourceTopic != topic ||
		dl.SourcePartition != recs[0].Partition || dl.SourceOffset != recs[0].Offset {
		t.Errorf("dead letter %+v, want strict_dynamic_mapping_exception from %d/%d", dl, recs[0].Partition, recs[0].Offset)
	}
	if got := r.Metric(t, "fanout_replicator_dlq_references_total", nil); got != 1 {
		t.Errorf("references = %v, want 1", got)
	}
	if got := r.Metric(t, "fanout_replicator_dlq_permanent_errors_total", nil); got != 0 {
		t.Errorf("permanent errors = %v, want 0", got)
	}
}
