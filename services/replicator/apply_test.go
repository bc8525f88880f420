package replicator_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestApplyIndexDeleteRouting: INDEX and DELETE events reach the target with their
// routing and the replication version as the external version; skipped indices are
// committed without being applied.
func TestApplyIndexDeleteRouting(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	target := startEmulator(t, "b")
	createIndex(t, target, "logs")
	cfg := testConfig(k, target, "b")
	cfg.Indices.Exclude = []string{"secret-*"}
	r := startReplicator(t, cfg)

	k.ProduceSync(t, encode(t,
		op(opspb.Kind_KIND_INDEX, "logs", "1", "", 1, `{"msg":"one"}`),
		op(opspb.Kind_KIND_INDEX, "logs", "2", "tenant-7", 1, `{"msg":"two"}`),
		op(opspb.Kind_KIND_INDEX, "logs", "3", "", 1, `{"msg":"three"}`),
		op(opspb.Kind_KIND_INDEX, "logs", "4", "tenant-9", 1, `{"msg":"four"}`),
		op(opspb.Kind_KIND_INDEX, "logs", "1", "", 2, `{"msg":"one again"}`),
		op(opspb.Kind_KIND_INDEX, "logs", "2", "tenant-7", 2, `{"msg":"two again"}`),
		op(opspb.Kind_KIND_DELETE, "logs", "3", "", 2, ""),
		op(opspb.Kind_KIND_DELETE, "logs", "4", "tenant-9", 2, ""),
		op(opspb.Kind_KIND_INDEX, "secret-1", "x", "", 1, `{"msg":"not for b"}`),
		// A delete of a document the target never had is resolved, not an error.
		op(opspb.Kind_KIND_DELETE, "logs", "never", "", 5, ""),
	)...)
	waitCaughtUp(t, k, r.Group(), 20*time.Second)

	d1 := getDoc(t, target, "logs", "1", "")
	if !d1.Found || d1.Version != 1<<event.SeqNoBits|2 || !strings.Contains(string(d1.Source), "one again") {
		t.Errorf("logs/1 = %+v, want version %d with the second source", d1, int64(1<<event.SeqNoBits|2))
	}
	d2 := getDoc(t, target, "logs", "2", "tenant-7")
	if !d2.Found || d2.Routing != "tenant-7" || d2.Version != 1<<event.SeqNoBits|2 || !strings.Contains(string(d2.Source), "two again") {
		t.Errorf("logs/2 = %+v, want routing tenant-7 and the second source", d2)
	}
	if d3 := getDoc(t, target, "logs", "3", ""); d3.Found {
		t.Errorf("logs/3 still there after its delete: %+v", d3)
	}
	if d4 := getDoc(t, target, "logs", "4", "tenant-9"); d4.Found {
		t.Errorf("routed logs/4 still there after its delete: %+v", d4)
	}
	httpDo(t, "POST", target.url+"/logs/_refresh", "") // _count searches refreshed data only
	if code, body := httpDo(t, "GET", target.url+"/logs/_count", ""); code != 200 || !strings.Contains(string(body), `"count":2`) {
		t.Errorf("logs count: %d %s, want 2 documents (1 and 2)", code, body)
	}
	if code, _ := httpDo(t, "GET", target.url+"/secret-1/_doc/x", ""); code != 404 {
		t.Errorf("excluded index secret-1 reached the target: GET answered %d", code)
	}
	want := `
# HELP fanout_replicator_ops_total Operations by outcome: applied, stale (target had newer), retried (per attempt), dlq, skipped (index not replicated).
# TYPE fanout_replicator_ops_total counter
fanout_replicator_ops_total{cluster="b",result="applied"} 9
fanout_replicator_ops_total{cluster="b",result="dlq"} 0
fanout_replicator_ops_total{cluster="b",result="retried"} 0
fanout_replicator_ops_total{cluster="b",result="skipped"} 1
fanout_replicator_ops_total{cluster="b",result="stale"} 0
# HELP fanout_replicator_target_up 1 when the target cluster answers, 0 while requests fail as a whole.
# TYPE fanout_replicator_target_up gauge
fanout_replicator_target_up{cluster="b"} 1
# HELP fanout_replicator_inflight_bulks _bulk requests in flight.
# TYPE fanout_replicator_inflight_bulks gauge
fanout_replicator_inflight_bulks{cluster="b"} 0
# HELP fanout_replicator_paused 1 while replication is paused by an operator (POST /admin/pause).
# TYPE fanout_replicator_paused gauge
fanout_replicator_paused{cluster="b"} 0
`
	if err := testutil.GatherAndCompare(r.Registry, strings.NewReader(want), "fanout_replicator_ops_total",
		"fanout_replicator_target_up", "fanout_replicator_inflight_bulks", "fanout_replicator_paused"); err != nil {
		t.Error(err)
	}
	waitFor(t, 5*time.Second, "lag 0 on every partition", func() bool {
		return r.Metric(t, "fanout_replicator_lag_records", nil) == 0 &&
			r.Metric(t, "fanout_replicator_lag_seconds", nil) == 0
	})
	if n := testutil.CollectAndCount(r.Registry, "fanout_replicator_lag_records"); n != 2 {
		t.Errorf("%d lag series, want one per partition", n)
	}
}

// TestNewestFirst: two versions of one document delivered newest first; the target
// ends at the newest and the older one counts as stale, in one batch or two.
func TestNewestFirst(t *testing.T) {
	for _, sameBatch := range []bool{true, false} {
		t.Run("same batch "+strconv.FormatBool(sameBatch), func(t *testing.T) {
			k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
			target := startEmulator(t, "b")
			createIndex(t, target, "docs")
			r := startReplicator(t, testConfig(k, target, "b"))
			newer := op(opspb.Kind_KIND_INDEX, "docs", "a", "u1", 9, `{"v":"newer"}`)
			older := op(opspb.Kind_KIND_INDEX, "docs", "a", "u1", 4, `{"v":"older"}`)
			if sameBatch {
				k.ProduceSync(t, encode(t, newer, older)...)
			} else {
				k.ProduceSync(t, encode(t, newer)...)
				waitCaughtUp(t, k, r.Group(), 20*time.Second)
				k.ProduceSync(t, encode(t, older)...)
			}
			waitCaughtUp(t, k, r.Group(), 20*time.Second)
			d := getDoc(t, target, "docs", "a", "u1")
			if !d.Found || d.Version != newer.ReplicationVersion || !strings.Contains(string(d.Source), "newer") {
				t.Fatalf("docs/a = %+v, want the newer version %d", d, newer.ReplicationVersion)
			}
			if got := r.Ops(t, "stale"); got != 1 {
				t.Errorf("stale = %v, want 1", got)
			}
			if got := r.Ops(t, "applied"); got != 1 {
				t.Errorf("applied = %v, want 1", got)
			}
			log := target.OpLog("docs")
			if len(log) != 1 || log[0].Version != newer.ReplicationVersion {
				t.Errorf("op log %+v, want only the newer write", log)
			}
		})
	}
}

// TestPoisonRecords: an undecodable value and an unknown schema version go to the
// dead-letter topic at once, with the reason; the records after them apply and the
// partition's offsets are committed past them.
func TestPoisonRecords(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	r := startReplicator(t, testConfig(k, target, "b"))

	good := encode(t, op(opspb.Kind_KIND_INDEX, "docs", "1", "", 1, `{"ok":1}`), op(opspb.Kind_KIND_INDEX, "docs", "2", "", 1, `{"ok":2}`))
	garbage := &kgo.Record{Topic: topic, Key: []byte("docs/x"), Value: []byte("\xff\xfe not protobuf"), Headers: good[0].Headers}
	future := encode(t, op(opspb.Kind_KIND_INDEX, "docs", "y", "", 1, `{"v":2}`))[0]
	future.Headers = []kgo.RecordHeader{{Key: event.HeaderSchema, Value: []byte("99")}, {Key: event.HeaderContentType, Value: []byte(event.ContentType)}}
	// A valid event but for its 600-byte id, which a target refuses for the whole
	// _bulk request (action_request_validation_exception): poison, never sent.
	long := op(opspb.Kind_KIND_INDEX, "docs", strings.Repeat("z", 600), "", 1, `{"v":3}`)
	longValue, err := proto.Marshal(long)
	if err != nil {
		t.Fatal(err)
	}
	longID := &kgo.Record{Topic: topic, Key: event.Key("docs", long.GetId()), Value: longValue, Headers: good[0].Headers}
	k.ProduceSync(t, good[0], garbage, future, longID, good[1])
	waitCaughtUp(t, k, r.Group(), 20*time.Second)

	for _, id := range []string{"1", "2"} {
		if d := getDoc(t, target, "docs", id, ""); !d.Found {
			t.Errorf("docs/%s not applied after the poison records", id)
		}
	}
	dlq := dlqRecords(t, k, "b", 4, 2*time.Second)
	if len(dlq) != 3 {
		t.Fatalf("dead-letter records: %d, want 3", len(dlq))
	}
	wantTypes := []string{"undecodable_value", "unknown_schema", "id_too_long"}
	for i, rec := range dlq {
		dl, err := kafkax.ParseDeadLetter(rec.Headers)
		if err != nil {
			t.Fatalf("dead-letter headers of record %d: %v", i, err)
		}
		src := []*kgo.Record{garbage, future, longID}[i]
		if string(rec.Key) != string(src.Key) || string(rec.Value) != string(src.Value) {
			t.Errorf("record %d: key/value %q/%q, want the original %q/%q", i, rec.Key, rec.Value, src.Key, src.Value)
		}
		if dl.Class != kafkax.ClassPoison || dl.ErrorType != wantTypes[i] || dl.Attempts != 0 || dl.HTTPStatus != 0 ||
			dl.Cluster != "b" || dl.SourceTopic != topic || dl.SourcePartition != 0 || dl.SourceOffset != int64(i+1) {
			t.Errorf("record %d: dead letter %+v", i, dl)
		}
		if !strings.Contains(dl.Reason, wantTypes[i]) {
			t.Errorf("record %d: reason %q does not say %s", i, dl.Reason, wantTypes[i])
		}
		if hdr(rec, event.HeaderSchema) == "" {
			t.Errorf("record %d: the original headers were dropped: %v", i, rec.Headers)
		}
	}
	if got := r.Ops(t, "dlq"); got != 3 {
		t.Errorf("dlq = %v, want 3", got)
	}
}

func hdr(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestMappingConflictDLQ: the target maps field n as a number; the documents whose n
// is not a number are rejected (400) item_attempts times and dead-lettered with the
// right headers, exactly those; the others apply and the partition keeps moving.
func TestMappingConflictDLQ(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs", `{"properties":{"n":{"type":"long"}}}`)
	r := startReplicator(t, testConfig(k, target, "b"))

	var ops []*opspb.Operation
	bad := map[string]bool{}
	for i := 0; i < 200; i++ {
		id := strconv.Itoa(i)
		src := `{"n":` + id + `}`
		if i%23 == 5 {
			src = `{"n":"not a number ` + id + `"}`
			bad[id] = true
		}
		routing := ""
		if i%4 == 1 {
			routing = "r" + id[len(id)-1:]
		}
		ops = append(ops, op(opspb.Kind_KIND_INDEX, "docs", id, routing, 1, src))
	}
	recs := encode(t, ops...)
	before := time.Now()
	k.ProduceSync(t, recs...)
	waitCaughtUp(t, k, r.Group(), 30*time.Second)

	dlq := dlqRecords(t, k, "b", len(bad)+1, 2*time.Second)
	if len(dlq) != len(bad) {
		t.Fatalf("dead-letter records: %d, want %d", len(dlq), len(bad))
	}
	offsets := map[string]*kgo.Record{}
	for _, rec := range recs {
		offsets[string(rec.Key)] = rec
	}
	for _, rec := range dlq {
		o, err := event.Decode(rec)
		if err != nil {
			t.Fatalf("dead-letter value is not the original event: %v", err)
		}
		if !bad[o.GetId()] {
			t.Errorf("docs/%s dead-lettered, but its document is fine", o.GetId())
		}
		delete(bad, o.GetId())
		dl, err := kafkax.ParseDeadLetter(rec.Headers)
		if err != nil {
			t.Fatal(err)
		}
		src := offsets[string(rec.Key)]
		if dl.Class != kafkax.ClassRejected || dl.ErrorType != "mapper_parsing_exception" || dl.HTTPStatus != 400 ||
			dl.Attempts != 3 || dl.Cluster != "b" || dl.SourceTopic != topic ||
			dl.SourcePartition != src.Partition || dl.SourceOffset != src.Offset {
			t.Errorf("docs/%s: dead letter %+v, want rejected mapper_parsing_exception 400 after 3 attempts from %d/%d",
				o.GetId(), dl, src.Partition, src.Offset)
		}
		if dl.Reason == "" || dl.FirstFailure.Before(before) || dl.LastFailure.Before(dl.FirstFailure) ||
			!dl.LastFailure.After(dl.FirstFailure) {
			t.Errorf("docs/%s: reason %q, failures %s … %s", o.GetId(), dl.Reason, dl.FirstFailure, dl.LastFailure)
		}
	}
	if len(bad) > 0 {
		t.Errorf("not dead-lettered: %v", bad)
	}
	for i, o := range ops {
		id := o.GetId()
		d := getDoc(t, target, "docs", id, o.GetRouting())
		if d.Found == (i%23 == 5) {
			t.Errorf("docs/%s found=%v", id, d.Found)
		}
	}
	// The partition keeps moving after the rejections.
	k.ProduceSync(t, encode(t, op(opspb.Kind_KIND_INDEX, "docs", "late", "", 1, `{"n":1}`))...)
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	if d := getDoc(t, target, "docs", "late", ""); !d.Found {
		t.Error("docs/late not applied after the rejections")
	}
	if got, want := r.Ops(t, "dlq"), float64(len(dlq)); got != want {
		t.Errorf("dlq = %v, want %v", got, want)
	}
	if got := r.Ops(t, "retried"); got != float64(2*len(dlq)) {
		t.Errorf("retried = %v, want %d (two retries per rejected item before the DLQ)", got, 2*len(dlq))
	}
}

// TestStatusPauseResume: the admin routes on the admin listener.
func TestStatusPauseResume(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 3))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	r := startReplicator(t, testConfig(k, target, "b"))
	base := r.AdminURL()

	k.ProduceSync(t, encode(t, op(opspb.Kind_KIND_INDEX, "docs", "1", "", 1, `{"a":1}`))...)
	waitCaughtUp(t, k, r.Group(), 20*time.Second)

	status := func() replicator.Status {
		code, body := httpDo(t, "GET", base+"/admin/status", "")
		if code != 200 {
			t.Fatalf("/admin/status: %d %s", code, body)
		}
		var st replicator.Status
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("/admin/status: %v: %s", err, body)
		}
		return st
	}
	waitFor(t, 5*time.Second, "three partitions in the status", func() bool { return len(status().Partitions) == 3 })
	st := status()
	if st.Cluster != "b" || st.Group != "fanout-replicator-b" || st.Paused || !st.TargetUp {
		t.Errorf("status %+v", st)
	}
	var withDoc *replicator.PartitionStatus
	for i, p := range st.Partitions {
		if p.State != "running" {
			t.Errorf("partition %d state %q", p.Partition, p.State)
		}
		if p.HighWatermark == 1 {
			withDoc = &st.Partitions[i]
		}
	}
	if withDoc == nil || withDoc.CommittedOffset != 1 || withDoc.ResolvedOffset != 1 || withDoc.Lag != 0 || withDoc.LastApplied == nil {
		t.Errorf("partition with the document: %+v", withDoc)
	}

	if code, body := httpDo(t, "POST", base+"/admin/pause", "{}"); code != 200 || !strings.Contains(string(body), `"paused": true`) {
		t.Fatalf("pause: %d %s", code, body)
	}
	waitFor(t, 5*time.Second, "paused partitions", func() bool {
		for _, p := range status().Partitions {
			if p.State != "paused" {
				return false
			}
		}
		return true
	})
	if r.Metric(t, "fanout_replicator_paused", nil) != 1 {
		t.Error("fanout_replicator_paused is not 1 while paused")
	}
	k.ProduceSync(t, encode(t, op(opspb.Kind_KIND_INDEX, "docs", "2", "", 1, `{"a":2}`))...)
	// Once the replicator's high watermark counts docs/2, a running partition would
	// apply it; a paused one keeps it as lag.
	waitFor(t, 5*time.Second, "lag while paused", func() bool {
		lag := int64(0)
		for _, p := range status().Partitions {
			lag += p.Lag
		}
		return lag == 1
	})
	if d := getDoc(t, target, "docs", "2", ""); d.Found {
		t.Fatal("docs/2 applied while paused")
	}

	if code, body := httpDo(t, "POST", base+"/admin/resume", "{}"); code != 200 {
		t.Fatalf("resume: %d %s", code, body)
	}
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	if d := getDoc(t, target, "docs", "2", ""); !d.Found {
		t.Fatal("docs/2 not applied after resume")
	}
	if code, body := httpDo(t, "GET", r.MetricsURL()+"/readyz", ""); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}
	if code, body := httpDo(t, "GET", r.MetricsURL()+"/metrics", ""); code != 200 || !strings.Contains(string(body), "fanout_replicator_lag_records") {
		t.Errorf("/metrics: %d, lag series missing", code)
	}
}

// TestRevokeCommits: when a second member joins, the first commits what it resolved
// for the partitions it gives up, so the newcomer re-applies nothing.
func TestRevokeCommits(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 4))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	cfg := testConfig(k, target, "b")
	cfg.Consume.CommitInterval = time.Hour // only revoke and shutdown commit
	var ids []string
	for i := 0; i < 400; i++ {
		ids = append(ids, strconv.Itoa(i))
	}
	k.ProduceSync(t, encode(t, routedOpsFor("docs", ids)...)...)
	a := startReplicator(t, cfg)
	waitFor(t, 20*time.Second, "all applied by the first member", func() bool { return a.Ops(t, "applied") == 400 })
	b := startReplicator(t, cfg)
	waitFor(t, 20*time.Second, "partitions shared, their offsets known", func() bool {
		ps := b.Status().Partitions
		for _, p := range ps {
			if p.CommittedOffset < 0 || p.HighWatermark < 0 {
				return false
			}
		}
		return len(a.Status().Partitions) == 2 && len(ps) == 2
	})
	// Only the revoke committed: the partitions b took over are at their end.
	committed := 0
	for _, p := range b.Status().Partitions {
		if p.CommittedOffset == p.HighWatermark && p.HighWatermark > 0 {
			committed++
		}
	}
	if committed != 2 {
		t.Errorf("b started %d of its 2 partitions at their end: %+v", committed, b.Status().Partitions)
	}
	// Anything b re-delivered would come before the markers on its partitions.
	markers := produceToEach(t, k, 4, "docs")
	waitFor(t, 20*time.Second, "the markers resolved on every partition", func() bool {
		return a.Ops(t, "applied")+b.Ops(t, "applied") == float64(400+len(markers)) && allResolved(4, a, b)
	})
	if got := b.Ops(t, "stale"); got != 0 || b.Ops(t, "applied") != 2 {
		t.Errorf("the newcomer re-applied %v records and applied %v, want only its 2 markers", got, b.Ops(t, "applied"))
	}
}

// TestDLQWriteFailureBlocks: while the dead-letter topic cannot be written, the
// partition waits and retries; a poison record is resolved (and committed past) only
// once its dead-letter copy is acknowledged.
func TestDLQWriteFailureBlocks(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	cfg := testConfig(k, target, "b")
	cfg.Retry.Initial = 200 * time.Millisecond
	good := encode(t, op(opspb.Kind_KIND_INDEX, "docs", "1", "", 1, `{"ok":1}`))
	garbage := &kgo.Record{Topic: topic, Key: []byte("docs/x"), Value: []byte("garbage"), Headers: good[0].Headers}
	k.ProduceSync(t, garbage, good[0])
	fault := k.FailProduce(0, kerr.InvalidRecord) // every produce request fails until removed
	r := startReplicator(t, cfg)
	waitFor(t, 20*time.Second, "failed dead-letter writes", func() bool {
		return r.Metric(t, "fanout_replicator_dlq_produce_errors_total", nil) >= 2
	})
	st := r.Status().Partitions[0]
	if st.State != "blocked" || !strings.Contains(st.LastError, "dead-letter") {
		t.Errorf("partition while the DLQ fails: state %q, last error %q", st.State, st.LastError)
	}
	if ok, _ := caughtUp(t, k, r.Group()); ok {
		t.Fatal("committed past a poison record whose dead-letter write failed")
	}
	fault.Remove()
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	if dlq := dlqRecords(t, k, "b", 2, 3*time.Second); len(dlq) != 1 || string(dlq[0].Value) != "garbage" {
		t.Errorf("dead-letter topic holds %d records, want the poison record once", len(dlq))
	}
	if d := getDoc(t, target, "docs", "1", ""); !d.Found {
		t.Error("docs/1 not applied")
	}
}

// TestRequestTooLarge: a target that refuses large bodies (413) gets the batch in
// smaller requests, in order; a single operation too large for it is rejected and
// dead-lettered instead of stalling the partition.
func TestRequestTooLarge(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b", func(o *searchemu.Options) { o.MaxBodyBytes = 64 << 10 })
	createIndex(t, target, "docs")
	r := startReplicator(t, testConfig(k, target, "b"))
	var ids []string
	for i := 0; i < 300; i++ {
		ids = append(ids, strconv.Itoa(i))
	}
	ops := opsFor("docs", ids[:150])
	ops = append(ops, op(opspb.Kind_KIND_INDEX, "docs", "huge", "", 1, `{"text":"`+strings.Repeat("y", 100<<10)+`"}`))
	ops = append(ops, opsFor("docs", ids[150:])...)
	k.ProduceSync(t, encode(t, ops...)...)
	waitCaughtUp(t, k, r.Group(), 30*time.Second)
	for _, id := range ids {
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
	if dl.HTTPStatus != 413 || dl.Class != kafkax.ClassRejected || dl.Attempts != 3 || string(dlq[0].Key) != "docs/huge" {
		t.Errorf("dead letter %+v for key %s", dl, dlq[0].Key)
	}
}
