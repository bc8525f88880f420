package fanoutctl

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// metaDeadLetter is the dead-letter record of partition 0's copy of a metadata change
// (the coordinator dead-letters it), written to DLQ partition dlqPartition.
func metaDeadLetter(t *testing.T, md *opspb.Metadata, dlqPartition int32) *kgo.Record {
	t.Helper()
	op := &opspb.Operation{Kind: opspb.Kind_KIND_METADATA, Metadata: md, SourceCluster: "primary",
		Barrier: &opspb.Barrier{Id: "0123456789abcdef0123456789abcdef", Partitions: 2, CoordinatorOffset: -1}}
	src, err := event.EncodeMetadata(opsTopic, 0, op)
	if err != nil {
		t.Fatal(err)
	}
	src.Offset = 7
	now := time.Now()
	rec := kafkax.NewDeadLetterRecord(opsTopic+".dlq.b", src, kafkax.DeadLetter{
		Class: replicator.ClassMetadata, ErrorType: "illegal_argument_exception", Reason: "settings", HTTPStatus: 400, Attempts: 1,
		Cluster: "b", SourceTopic: opsTopic, SourcePartition: 0, SourceOffset: 7, FirstFailure: now, LastFailure: now,
	})
	rec.Partition = dlqPartition
	return rec
}

// TestDLQReplayMetadata: a dead-lettered metadata change is replayed as recorded,
// without barrier (its copy read from another DLQ partition than its source's); one
// the target still refuses goes back with class metadata and attempts + 1.
func TestDLQReplayMetadata(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(opsTopic, 2), kafkatest.WithTopic(opsTopic+".dlq.b", 2))
	target := startEmulator(t, "b")
	good := metaDeadLetter(t, &opspb.Metadata{Request: "PUT /made", Indices: []*opspb.IndexState{{Name: "made", Exists: true,
		Settings: []byte(`{"index.number_of_shards":"2"}`), Mappings: []byte(`{"properties":{"a":{"type":"keyword"}}}`), Aliases: []byte(`{"m":{}}`)}}}, 1)
	bad := metaDeadLetter(t, &opspb.Metadata{Request: "PUT /made/_settings", Indices: []*opspb.IndexState{{Name: "made", Exists: true,
		Settings: []byte(`{"index.number_of_shards":"2","index.max_result_window":"0"}`), Mappings: []byte(`{"properties":{"a":{"type":"keyword"}}}`), Aliases: []byte(`{"m":{}}`)}}}, 1)
	cl := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(t.Context(), good, bad).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var rep replayReport
	cliJSON(t, 1, &rep, deps{}, "dlq", "replay", "--brokers", strings.Join(k.Addrs(), ","), "--cluster", "b", "--target", target.url, "--as-recorded")
	if rep.Selected != 2 || rep.Applied != 1 || rep.Failed != 1 || len(rep.Failures) != 1 {
		t.Fatalf("replay: %+v", rep)
	}
	if f := rep.Failures[0]; f.Attempts != 2 || f.ErrorType != "illegal_argument_exception" || !strings.Contains(f.Reason, "max_result_window") {
		t.Errorf("failure %+v", f)
	}
	code, body := target.do(t, http.MethodGet, "/made", "")
	if code != 200 || !strings.Contains(body, `"m":{}`) || !strings.Contains(body, `"keyword"`) {
		t.Fatalf("made on the target: %d %s", code, body)
	}
	if n := dlqCount(t, k, "b"); n != 3 {
		t.Errorf("DLQ holds %d records, want 3 (one re-published)", n)
	}
}
