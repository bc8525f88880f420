package replicator_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// pieces splits o into chunk records of at most 2 KiB, as the proxy does with its
// publish.max_record_bytes.
func pieces(t *testing.T, o *opspb.Operation, group string) []*kgo.Record {
	t.Helper()
	rs, err := event.Split(topic, o, 2048, func() []byte { return []byte(group) })
	if err != nil || !rs.Chunked() {
		t.Fatalf("split: %v (chunked %v)", err, rs != nil && rs.Chunked())
	}
	out := make([]*kgo.Record, rs.Len())
	for k := range out {
		if out[k], err = rs.Record(k); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func jsonDoc(n int, tag string) string {
	return fmt.Sprintf(`{"tag":%q,"blob":"%s"}`, tag, strings.Repeat(tag[:1], n))
}

// TestChunkGroups: on one partition, a chunk group is assembled and applied while an
// older group of the same document interleaves with it (superseded, its later pieces
// skipped); groups with a gap, a bad checksum, or over limits.max_document_bytes, and
// one whose last pieces never come, go to the DLQ with their reasons; nothing stalls
// the partition, which commits its end.
func TestChunkGroups(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	cfg := testConfig(k, target, "b")
	cfg.Consume.ChunkTimeout = time.Second
	cfg.Limits.MaxDocumentBytes = 9000
	r := startReplicator(t, cfg)

	newer := pieces(t, op(opspb.Kind_KIND_INDEX, "docs", "a", "", 5, jsonDoc(6000, "new")), "a-new")
	older := pieces(t, op(opspb.Kind_KIND_INDEX, "docs", "a", "", 4, jsonDoc(6000, "old")), "a-old")
	gap := pieces(t, op(opspb.Kind_KIND_INDEX, "docs", "gap", "", 1, jsonDoc(6000, "gap")), "gap")
	crc := pieces(t, op(opspb.Kind_KIND_INDEX, "docs", "crc", "", 1, jsonDoc(6000, "crc")), "crc")
	for i, rec := range crc { // a checksum that does not match the pieces
		o, _ := event.Decode(rec)
		o.Chunk.Crc32C++
		crc[i].Value, _ = proto.Marshal(o)
	}
	large := pieces(t, op(opspb.Kind_KIND_INDEX, "docs", "large", "", 1, jsonDoc(12000, "large")), "large")
	lost := pieces(t, op(opspb.Kind_KIND_INDEX, "docs", "lost", "", 1, jsonDoc(6000, "lost")), "lost")
	if len(gap) < 3 || len(lost) < 3 {
		t.Fatalf("want at least 3 pieces per document, got %d", len(gap))
	}
	t0 := time.Now()
	var recs []*kgo.Record
	recs = append(recs, older[0], newer[0], older[1])
	recs = append(recs, newer[1:]...)
	recs = append(recs, older[2:]...)
	recs = append(recs, gap[0], gap[2])
	recs = append(recs, crc...)
	recs = append(recs, large...)
	recs = append(recs, lost[:2]...)
	for _, rec := range recs {
		rec.Timestamp = t0
	}
	// Stamped past consume.chunk_timeout after the lost group's first piece.
	after := encode(t, op(opspb.Kind_KIND_INDEX, "docs", "after", "", 1, `{"n":1}`))[0]
	after.Timestamp = t0.Add(time.Minute)
	k.ProduceSync(t, append(recs, after)...)
	waitCaughtUp(t, k, r.Group(), 30*time.Second)

	if d := getDoc(t, target, "docs", "a", ""); !d.Found || !strings.Contains(string(d.Source), `"new"`) || d.Version != 1<<40|5 {
		t.Fatalf("docs/a: %+v %.40s", d, d.Source)
	}
	if d := getDoc(t, target, "docs", "after", ""); !d.Found {
		t.Fatalf("docs/after was not applied")
	}
	for _, id := range []string{"gap", "crc", "large", "lost"} {
		if d := getDoc(t, target, "docs", id, ""); d.Found {
			t.Errorf("docs/%s was applied", id)
		}
	}
	want := map[string]int{
		string(event.ReasonChunkGap):         2,
		string(event.ReasonChunkChecksum):    len(crc),
		string(event.ReasonDocumentTooLarge): len(large),
		string(event.ReasonChunkIncomplete):  2,
	}
	total := 0
	for _, n := range want {
		total += n
	}
	got := map[string]int{}
	for _, rec := range dlqRecords(t, k, "b", total, 20*time.Second) {
		got[hdr(rec, kafkax.HeaderErrorType)]++
		if o, err := event.Decode(rec); err != nil || o.GetChunk() == nil {
			t.Errorf("dead-lettered record is not a chunk: %v", err)
		}
	}
	for reason, n := range want {
		if got[reason] != n {
			t.Errorf("%d dead-letter records %s, want %d (all: %v)", got[reason], reason, n, got)
		}
	}
	for result, n := range map[string]float64{"assembled": 1, "superseded": 1, "invalid": 2, "too_large": 1, "incomplete": 1} {
		if v := r.Metric(t, "fanout_replicator_chunk_groups_total", map[string]string{"result": result}); v != n {
			t.Errorf("chunk groups %s: %v, want %v", result, v, n)
		}
	}
	if v := r.Metric(t, "fanout_replicator_chunk_orphans_total", nil); v != float64(len(older)-2) {
		t.Errorf("orphan pieces: %v, want %d", v, len(older)-2)
	}
	if v := r.Metric(t, "fanout_replicator_chunk_buffered_bytes", nil); v != 0 {
		t.Errorf("chunk_buffered_bytes %v after every group resolved", v)
	}
}

// TestChunkedDocumentTooLargeForTarget: an assembled document over the target's
// http.max_content_length is refused with 413 in a bulk of its own; it is dead-lettered
// after retry.item_attempts (as one record: it fits the DLQ topic whole), named by its
// group's first piece, and the documents around it are applied.
func TestChunkedDocumentTooLargeForTarget(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b", func(o *searchemu.Options) { o.MaxBodyBytes = 64 << 10 })
	createIndex(t, target, "docs")
	r := startReplicator(t, testConfig(k, target, "b"))
	huge := pieces(t, op(opspb.Kind_KIND_INDEX, "docs", "huge", "", 1, jsonDoc(100<<10, "huge")), "huge")
	var recs []*kgo.Record
	recs = append(recs, encode(t, op(opspb.Kind_KIND_INDEX, "docs", "before", "", 1, `{"n":1}`))...)
	recs = append(recs, huge...)
	recs = append(recs, encode(t, op(opspb.Kind_KIND_INDEX, "docs", "after", "", 1, `{"n":2}`))...)
	k.ProduceSync(t, recs...)
	waitCaughtUp(t, k, r.Group(), 30*time.Second)
	for _, id := range []string{"before", "after"} {
		if d := getDoc(t, target, "docs", id, ""); !d.Found {
			t.Fatalf("docs/%s not applied", id)
		}
	}
	dlq := dlqRecords(t, k, "b", 2, 3*time.Second)
	if len(dlq) != 1 {
		t.Fatalf("%d dead-letter records, want the huge document", len(dlq))
	}
	dl, err := kafkax.ParseDeadLetter(dlq[0].Headers)
	if err != nil {
		t.Fatal(err)
	}
	o, err := event.Decode(dlq[0])
	if err != nil || len(o.GetSource()) != len(jsonDoc(100<<10, "huge")) || o.GetChunk() != nil {
		t.Fatalf("dead-lettered document: %v", err)
	}
	if dl.HTTPStatus != 413 || dl.Class != kafkax.ClassRejected || dl.SourceOffset != 1 || string(dlq[0].Key) != "docs/huge" {
		t.Errorf("dead letter %+v for key %s", dl, dlq[0].Key)
	}
}
