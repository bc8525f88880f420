package replicator_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// metaPublisher produces metadata changes as the proxy does: one copy per partition in
// one transaction, partition 0's first, the others carrying its offset.
type metaPublisher struct {
	t          *testing.T
	cl         *kgo.Client
	partitions int32
}

func newMetaPublisher(t *testing.T, k *kafkatest.Cluster, txID string, partitions int32) *metaPublisher {
	t.Helper()
	cl := k.Client(t, kgo.TransactionalID(txID), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionTimeout(30*time.Second))
	return &metaPublisher{t: t, cl: cl, partitions: partitions}
}

func barrierID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// change is one metadata change being published.
type change struct {
	mp *metaPublisher
	id string
	md *opspb.Metadata
	o0 int64
}

// begin opens the change's transaction and produces partition 0's copy.
func (mp *metaPublisher) begin(md *opspb.Metadata) *change {
	mp.t.Helper()
	if err := mp.cl.BeginTransaction(); err != nil {
		mp.t.Fatal(err)
	}
	c := &change{mp: mp, id: barrierID(), md: md}
	c.o0 = c.produce(0)
	return c
}

func (c *change) produce(partition int32) int64 {
	t := c.mp.t
	t.Helper()
	o0 := c.o0
	if partition == 0 {
		o0 = -1
	}
	op := &opspb.Operation{Kind: opspb.Kind_KIND_METADATA, Metadata: c.md, SourceCluster: "primary",
		Barrier: &opspb.Barrier{Id: c.id, Partitions: c.mp.partitions, CoordinatorOffset: o0}}
	rec, err := event.EncodeMetadata(topic, partition, op)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.mp.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatalf("producing copy %d of %s: %v", partition, c.id, err)
	}
	return rec.Offset
}

// rest produces the copies to the partitions not given yet (all but 0 by default).
func (c *change) rest(partitions ...int32) {
	c.mp.t.Helper()
	if partitions == nil {
		for q := int32(1); q < c.mp.partitions; q++ {
			partitions = append(partitions, q)
		}
	}
	for _, q := range partitions {
		c.produce(q)
	}
}

func (mp *metaPublisher) commit() {
	mp.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := mp.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		mp.t.Fatal(err)
	}
}

// publish produces a whole change.
func (mp *metaPublisher) publish(md *opspb.Metadata) {
	mp.t.Helper()
	c := mp.begin(md)
	c.rest()
	mp.commit()
}

// produceTo produces document events to one partition.
func produceTo(t *testing.T, cl *kgo.Client, partition int32, ops ...*opspb.Operation) {
	t.Helper()
	recs := encode(t, ops...)
	for _, r := range recs {
		r.Partition = partition
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func docOp(index, id, source string) *opspb.Operation {
	return op(opspb.Kind_KIND_INDEX, index, id, "", 1, source)
}

// metaChanges sums fanout_replicator_metadata_changes_total{result} over replicators.
func metaChanges(t *testing.T, result string, rs ...interface {
	Metric(testing.TB, string, map[string]string) float64
}) float64 {
	var n float64
	for _, r := range rs {
		n += r.Metric(t, "fanout_replicator_metadata_changes_total", map[string]string{"result": result})
	}
	return n
}

// TestMetadataBarrierOrdersDocuments: two replicators share four partitions; each
// change is applied after every document before it on every partition, and before
// every document after it: a document using a field a change adds to a strict mapping
// is accepted, and a document written before an index delete on another partition
// does not bring the index back.
func TestMetadataBarrierOrdersDocuments(t *testing.T) {
	const parts = 4
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, parts))
	target := startEmulator(t, "b")
	cfg := testConfig(k, target, "b")
	cfg.Batch.MaxDocs = 10 // many bulks before the delete on partitions 1-3 (below)
	r1 := startReplicator(t, cfg)
	r2 := startReplicator(t, cfg)
	waitFor(t, 30*time.Second, "two members owning two partitions each", func() bool {
		return len(r1.Status().Partitions) == 2 && len(r2.Status().Partitions) == 2
	})
	mp := newMetaPublisher(t, k, "proxy-1", parts)
	docs := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))

	mp.publish(&opspb.Metadata{Request: "PUT /docs", Indices: []*opspb.IndexState{
		indexState("docs", `{"index.number_of_shards":"3"}`, `{"dynamic":"strict","properties":{"a":{"type":"keyword"}}}`, `{}`),
		indexState("gone", `{"index.number_of_shards":"1"}`, `{}`, `{}`),
	}})
	for q := int32(0); q < parts; q++ {
		// The other partitions have more to apply before the delete than partition 0:
		// without the barrier their documents of "gone" would come after it.
		var before []*opspb.Operation
		for i := 0; q > 0 && i < 100; i++ {
			before = append(before, docOp("docs", fmt.Sprintf("%d-0-%d", q, i), `{"a":"x"}`))
		}
		before = append(before, docOp("docs", fmt.Sprintf("%d-1", q), `{"a":"x"}`), docOp("gone", fmt.Sprintf("%d", q), `{"x":1}`))
		produceTo(t, docs, q, before...)
	}
	mp.publish(&opspb.Metadata{Request: "PUT /docs/_mapping", Indices: []*opspb.IndexState{
		indexState("docs", `{"index.number_of_shards":"3"}`, `{"dynamic":"strict","properties":{"a":{"type":"keyword"},"b":{"type":"long"}}}`, `{}`),
		{Name: "gone", Uuid: "uuid-gone"},
	}})
	for q := int32(0); q < parts; q++ {
		produceTo(t, docs, q, docOp("docs", fmt.Sprintf("%d-2", q), `{"a":"x","b":1}`))
	}
	waitCaughtUp(t, k, r1.Group(), 60*time.Second)

	for q := 0; q < parts; q++ {
		for _, id := range []string{fmt.Sprintf("%d-1", q), fmt.Sprintf("%d-2", q)} {
			if d := getDoc(t, target, "docs", id, ""); !d.Found {
				t.Errorf("docs/%s missing", id)
			}
		}
	}
	if code, b := httpDo(t, http.MethodGet, target.url+"/gone", ""); code != 404 {
		t.Errorf("gone exists after its delete: %d %s", code, b)
	}
	if n := r1.Ops(t, "dlq") + r2.Ops(t, "dlq"); n != 0 {
		t.Errorf("%v records dead-lettered", n)
	}
	if n := metaChanges(t, "applied", r1, r2); n != 2 {
		t.Errorf("metadata changes applied %v, want 2", n)
	}
}

// TestMetadataCrossingBarriers: two proxies' changes reach partition 0 as B1, B2 and
// partition 1 as B2, B1; both complete, in partition 0's order.
func TestMetadataCrossingBarriers(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	target := startEmulator(t, "b")
	p1 := newMetaPublisher(t, k, "proxy-1", 2)
	p2 := newMetaPublisher(t, k, "proxy-2", 2)
	b1 := p1.begin(&opspb.Metadata{Request: "PUT /x1", Indices: []*opspb.IndexState{indexState("x1", `{}`, `{}`, `{}`)}})
	b2 := p2.begin(&opspb.Metadata{Request: "PUT /x2", Indices: []*opspb.IndexState{indexState("x2", `{}`, `{}`, `{}`)}})
	b2.rest(1)
	b1.rest(1)
	p1.commit()
	p2.commit()
	r := startReplicator(t, testConfig(k, target, "b"))
	waitCaughtUp(t, k, r.Group(), 30*time.Second)
	for _, ix := range []string{"x1", "x2"} {
		getJSON(t, target, "/"+ix, 200)
	}
	if n := metaChanges(t, "applied", r); n != 2 {
		t.Errorf("metadata changes applied %v, want 2", n)
	}
}

// TestMetadataRefusedStepDeadLetters: a change the target refuses in part is
// dead-lettered (class metadata) with the target's error; its other steps are applied
// and the documents after it go on.
func TestMetadataRefusedStepDeadLetters(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs", `{"dynamic":"strict","properties":{"a":{"type":"keyword"}}}`)
	r := startReplicator(t, testConfig(k, target, "b"))
	mp := newMetaPublisher(t, k, "proxy-1", 2)
	docs := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	mp.publish(&opspb.Metadata{Request: "PUT /docs/_settings", Indices: []*opspb.IndexState{
		indexState("docs", `{"index.number_of_shards":"3","index.max_result_window":"0"}`,
			`{"dynamic":"strict","properties":{"a":{"type":"keyword"},"b":{"type":"long"}}}`, `{}`),
	}})
	produceTo(t, docs, 1, docOp("docs", "1", `{"a":"x","b":2}`))
	waitCaughtUp(t, k, r.Group(), 30*time.Second)
	dl := dlqRecords(t, k, "b", 1, 10*time.Second)
	d, err := kafkax.ParseDeadLetter(dl[0].Headers)
	if err != nil {
		t.Fatal(err)
	}
	if d.Class != replicator.ClassMetadata || d.ErrorType != "illegal_argument_exception" || d.HTTPStatus != 400 || d.SourcePartition != 0 {
		t.Errorf("dead letter %+v", d)
	}
	if !event.IsMetadata(dl[0]) {
		t.Error("the dead-letter record is not the metadata copy")
	}
	if got := getDoc(t, target, "docs", "1", ""); !got.Found {
		t.Error("the document after the change was not applied")
	}
	if n := metaChanges(t, "dlq", r); n != 1 {
		t.Errorf("metadata changes dlq %v, want 1", n)
	}
}

// TestMetadataTargetDownAtBarrier: a change met while the target answers 503, or
// does not answer at all, is applied once it is back, and the documents after it
// follow.
func TestMetadataTargetDownAtBarrier(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults searchemu.Faults
	}{
		{"unavailable", searchemu.Faults{Unavailable: true}},
		{"down", searchemu.Faults{Down: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
			target := startEmulator(t, "b")
			target.SetFaults(tc.faults)
			r := startReplicator(t, testConfig(k, target, "b"))
			mp := newMetaPublisher(t, k, "proxy-1", 2)
			docs := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			mp.publish(&opspb.Metadata{Request: "PUT /docs", Indices: []*opspb.IndexState{
				indexState("docs", `{"index.number_of_shards":"2"}`, `{"dynamic":"strict","properties":{"a":{"type":"keyword"}}}`, `{}`)}})
			produceTo(t, docs, 1, docOp("docs", "1", `{"a":"x"}`))
			waitFor(t, 20*time.Second, "partition 0 blocked applying the change", func() bool {
				for _, p := range r.Status().Partitions {
					if p.Partition == 0 && p.State == "blocked" && strings.Contains(p.LastError, "metadata change") {
						return true
					}
				}
				return false
			})
			if ok, _ := caughtUp(t, k, r.Group()); ok {
				t.Fatal("caught up while the target was down")
			}
			target.SetFaults(searchemu.Faults{})
			waitCaughtUp(t, k, r.Group(), 30*time.Second)
			if dyn := dig(getJSON(t, target, "/docs/_mapping", 200), "docs", "mappings", "dynamic"); dyn != "strict" {
				t.Errorf("docs mapping dynamic %v, want strict (created by the change, not by the document)", dyn)
			}
			if d := getDoc(t, target, "docs", "1", ""); !d.Found {
				t.Error("docs/1 missing")
			}
		})
	}
}

// TestMetadataStopWhileWaiting: a replicator stopped while partition 0 waits at a
// barrier leaves it unresolved (committed at the copy, with the barrier's metadata);
// the next run completes it.
func TestMetadataStopWhileWaiting(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	// Partition 1 is stuck behind a document the target keeps answering 429 for.
	target.SetFaults(searchemu.Faults{BulkItem429Ratio: 1})
	docs := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceTo(t, docs, 1, docOp("docs", "before", `{"a":"x"}`))
	mp := newMetaPublisher(t, k, "proxy-1", 2)
	mp.publish(&opspb.Metadata{Request: "PUT /made", Indices: []*opspb.IndexState{indexState("made", `{}`, `{}`, `{}`)}})

	cfg := testConfig(k, target, "b")
	r := startReplicator(t, cfg)
	waitFor(t, 20*time.Second, "partition 0 waiting at the barrier for partition 1", func() bool {
		for _, p := range r.Status().Partitions {
			if p.Partition == 0 && p.State == "barrier" && strings.Contains(p.Barrier, "partitions 1") {
				return true
			}
		}
		return false
	})
	if r.Metric(t, "fanout_replicator_barriers_waiting", nil) != 1 {
		t.Error("fanout_replicator_barriers_waiting is not 1")
	}
	stopped := time.Now()
	r.Stop(t)
	if d := time.Since(stopped); d > 5*time.Second {
		t.Errorf("stopping took %s while waiting at a barrier", d)
	}
	adm := kadm.NewClient(k.Client(t))
	offs, err := adm.FetchOffsets(context.Background(), r.Group())
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 0); !ok || !strings.HasPrefix(o.Metadata, "fanout-barrier ") {
		t.Errorf("partition 0's commit %+v: want the barrier's metadata", o)
	}
	if code, _ := httpDo(t, http.MethodGet, target.url+"/made", ""); code != 404 {
		t.Error("the change was applied before partition 1 reached it")
	}

	target.SetFaults(searchemu.Faults{})
	r2 := startReplicator(t, cfg)
	waitCaughtUp(t, k, r2.Group(), 30*time.Second)
	getJSON(t, target, "/made", 200)
	if d := getDoc(t, target, "docs", "before", ""); !d.Found {
		t.Error("docs/before missing")
	}
}

// TestMetadataPoisonCopyTakesPart: a copy that is poison for another reason than its
// barrier (here document fields on a metadata record) is dead-lettered and still
// takes part in the barrier, so the change and the documents after it go on.
func TestMetadataPoisonCopyTakesPart(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	target := startEmulator(t, "b")
	r := startReplicator(t, testConfig(k, target, "b"))
	mp := newMetaPublisher(t, k, "proxy-1", 2)
	md := &opspb.Metadata{Request: "PUT /made", Indices: []*opspb.IndexState{indexState("made", `{}`, `{}`, `{}`)}}
	c := mp.begin(md)
	bad := &opspb.Operation{Kind: opspb.Kind_KIND_METADATA, Metadata: md, Index: "made", Id: "x",
		Barrier: &opspb.Barrier{Id: c.id, Partitions: 2, CoordinatorOffset: c.o0}}
	value, err := proto.Marshal(bad)
	if err != nil {
		t.Fatal(err)
	}
	rec := &kgo.Record{Topic: topic, Partition: 1, Key: event.MetadataKey(c.id), Value: value,
		Headers: []kgo.RecordHeader{{Key: event.HeaderSchema, Value: []byte(event.SchemaMetadata)}, {Key: event.HeaderContentType, Value: []byte(event.ContentType)}}}
	if err := mp.cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	mp.commit()
	docs := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceTo(t, docs, 1, docOp("made", "1", `{"a":"x"}`))
	waitCaughtUp(t, k, r.Group(), 30*time.Second)
	getJSON(t, target, "/made", 200)
	dl := dlqRecords(t, k, "b", 1, 10*time.Second)
	if d, err := kafkax.ParseDeadLetter(dl[0].Headers); err != nil || d.Class != kafkax.ClassPoison || d.SourcePartition != 1 {
		t.Errorf("dead letter %+v, %v", d, err)
	}
}

// TestMetadataSinglePartition: a topic of one partition needs no waiting.
func TestMetadataSinglePartition(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b")
	r := startReplicator(t, testConfig(k, target, "b"))
	mp := newMetaPublisher(t, k, "proxy-1", 1)
	mp.publish(&opspb.Metadata{Request: "PUT /one", Indices: []*opspb.IndexState{indexState("one", `{}`, `{"dynamic":"strict","properties":{"a":{"type":"keyword"}}}`, `{}`)}})
	docs := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceTo(t, docs, 0, docOp("one", "1", `{"a":"x"}`))
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	if d := getDoc(t, target, "one", "1", ""); !d.Found {
		t.Error("one/1 missing")
	}
}

// TestMetadataPauseAtBarrier: an operator pause holds a partition waiting at a
// barrier (it shows paused, and the change is not applied while it lasts); a resume
// lets it complete.
func TestMetadataPauseAtBarrier(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	target.SetFaults(searchemu.Faults{BulkItem429Ratio: 1})
	docs := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceTo(t, docs, 1, docOp("docs", "before", `{"a":"x"}`))
	mp := newMetaPublisher(t, k, "proxy-1", 2)
	mp.publish(&opspb.Metadata{Request: "PUT /made", Indices: []*opspb.IndexState{indexState("made", `{}`, `{}`, `{}`)}})
	r := startReplicator(t, testConfig(k, target, "b"))
	waitFor(t, 20*time.Second, "partition 0 at the barrier", func() bool {
		for _, p := range r.Status().Partitions {
			if p.Partition == 0 && p.State == "barrier" {
				return true
			}
		}
		return false
	})
	r.Pause()
	waitFor(t, 10*time.Second, "partition 0 paused", func() bool {
		for _, p := range r.Status().Partitions {
			if p.Partition == 0 && p.State == "paused" {
				return true
			}
		}
		return false
	})
	target.SetFaults(searchemu.Faults{})
	time.Sleep(300 * time.Millisecond) // long enough for a barrier poll and an apply
	if code, _ := httpDo(t, http.MethodGet, target.url+"/made", ""); code != 404 {
		t.Error("the change was applied while replication was paused")
	}
	r.Resume()
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	getJSON(t, target, "/made", 200)
}

// TestMetadataPolicyKeepsDeleted: with metadata.replicate.deletes off, an index the
// primary deleted stays on the target (the change is counted as skipped, its barrier
// still honoured), and the documents after it are applied to it.
func TestMetadataPolicyKeepsDeleted(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	target := startEmulator(t, "b")
	createIndex(t, target, "keep")
	cfg := testConfig(k, target, "b")
	cfg.Metadata.Replicate.Deletes = false
	r := startReplicator(t, cfg)
	mp := newMetaPublisher(t, k, "proxy-1", 2)
	mp.publish(&opspb.Metadata{Request: "DELETE /keep", Indices: []*opspb.IndexState{{Name: "keep", Uuid: "u"}}})
	docs := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceTo(t, docs, 1, docOp("keep", "after", `{"a":"x"}`))
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	if d := getDoc(t, target, "keep", "after", ""); !d.Found {
		t.Error("keep/after missing")
	}
	if n := metaChanges(t, "skipped", r); n != 1 {
		t.Errorf("metadata changes skipped %v, want 1", n)
	}
	if n := r.Metric(t, "fanout_replicator_metadata_steps_total", map[string]string{"kind": "index_delete", "result": "skipped"}); n != 1 {
		t.Errorf("index_delete steps skipped %v, want 1", n)
	}
}
