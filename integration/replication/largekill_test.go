package replication_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
)

// TestKill9MidChunkGroup: a fanout-replicator process is SIGKILLed while it holds half
// of a chunk group, after it applied later events of the partition. Its committed
// offset never passed the group's first piece, so the next incarnation reads the
// whole group again, assembles it and converges.
//
// The pieces are produced by the test, exactly as the proxy builds them (event.Split),
// so that the kill lands between two pieces of one group, which a proxy publishing at
// full speed would not let a test choose; the document itself is written on the
// primary, whose answer gives the event its versions, as the proxy does.
func TestKill9MidChunkGroup(t *testing.T) {
	bin := buildReplicator(t)
	pl := startLargePipeline(t, 1)
	target := startTarget(t, "b", "")
	// The proxy's producer limit (publish.max_record_bytes), which the split uses.
	kcl := pl.kafka.Client(t, kgo.ProducerBatchMaxBytes(1<<20))
	adm := kadm.NewClient(kcl)
	group := replicator.DefaultConfig()
	group.Target.Name = "b"
	proc := newReplicatorProc(t, bin, "b-0", []string{
		"FANOUT_TARGET_NAME=b",
		"FANOUT_TARGET_ENDPOINTS=" + target.url,
		"FANOUT_KAFKA_BROKERS=" + strings.Join(pl.kafka.Addrs(), ","),
		"FANOUT_METRICS_LISTEN=127.0.0.1:0",
		"FANOUT_ADMIN_LISTEN=127.0.0.1:0",
		"FANOUT_CONSUME_COMMIT_INTERVAL=200ms",
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replicator log:\n%s", proc.logTail(8000))
		}
	})
	if err := proc.start(); err != nil {
		t.Fatal(err)
	}
	waitSettled(t, adm, group.GroupName(), 1, time.Minute, "b-0")

	// The document on the primary, and its event split as the proxy splits it.
	doc := largeDoc(5<<20, "killed")
	code, ans := httpDo(t, http.MethodPut, pl.primary.url+"/orders/_doc/killed", string(doc))
	if code != http.StatusCreated {
		t.Fatalf("writing the document on the primary: %d %.300s", code, ans)
	}
	var w struct {
		Index       string `json:"_index"`
		Version     int64  `json:"_version"`
		SeqNo       int64  `json:"_seq_no"`
		PrimaryTerm int64  `json:"_primary_term"`
	}
	if err := json.Unmarshal(ans, &w); err != nil {
		t.Fatal(err)
	}
	rv, err := event.ReplicationVersion(w.SeqNo, w.PrimaryTerm, w.Version, true)
	if err != nil {
		t.Fatal(err)
	}
	op := &opspb.Operation{Kind: opspb.Kind_KIND_INDEX, Index: w.Index, Id: "killed", Source: doc,
		ReplicationVersion: rv, Version: w.Version, SeqNo: &w.SeqNo, PrimaryTerm: &w.PrimaryTerm,
		AcceptedAt: timestamppb.Now(), RequestId: "kill-test", SourceCluster: "primary"}
	rs, err := event.Split(topic, op, 1<<20, func() []byte { return []byte("kill-test-group!") })
	if err != nil || rs.Len() < 4 {
		t.Fatalf("split into %d pieces: %v", rs.Len(), err)
	}
	produce := func(from, to int) int64 {
		var first int64 = -1
		for k := from; k < to; k++ {
			rec, err := rs.Record(k)
			if err != nil {
				t.Fatal(err)
			}
			got, err := kcl.ProduceSync(context.Background(), rec).First()
			if err != nil {
				t.Fatalf("producing piece %d: %v", k, err)
			}
			if first < 0 {
				first = got.Offset
			}
		}
		return first
	}

	// An event before the group, committed: the group's first piece is not the
	// partition's first record.
	if code, ans := httpDo(t, http.MethodPut, pl.proxy+"/users/_doc/before", `{"n":0}`); code/100 != 2 {
		t.Fatalf("write through the proxy: %d %s", code, ans)
	}
	if !poll(time.Minute, 50*time.Millisecond, func() bool { return committedOffset(t, adm, group.GroupName()) == 1 }) {
		t.Fatalf("the first event was not committed")
	}
	half := rs.Len() / 2
	firstPiece := produce(0, half)
	// Later events of the same partition, through the proxy: the replicator applies
	// them while the group is open.
	for i := 0; i < 5; i++ {
		if code, ans := httpDo(t, http.MethodPut, pl.proxy+fmt.Sprintf("/users/_doc/after-%d", i), `{"n":1}`); code/100 != 2 {
			t.Fatalf("write through the proxy: %d %s", code, ans)
		}
	}
	if !poll(time.Minute, 50*time.Millisecond, func() bool {
		code, _ := httpDo(t, http.MethodGet, target.url+"/users/_doc/after-4", "")
		return code == http.StatusOK
	}) {
		t.Fatalf("the replicator did not apply the events after the open group")
	}
	// Once the partition has taken every record and committed what it resolved, the
	// resolved (and committed) offset is the open group's first piece, although the
	// events after the group are applied.
	admin := regexp.MustCompile(`"admin":"(http://[^"]+)"`).FindStringSubmatch(proc.logTail(1 << 20))
	if admin == nil {
		t.Fatalf("no admin address in the replicator's log")
	}
	var st replicator.Status
	if !poll(time.Minute, 50*time.Millisecond, func() bool {
		code, body := httpDo(t, http.MethodGet, admin[1]+"/admin/status", "")
		if code != http.StatusOK || json.Unmarshal(body, &st) != nil || len(st.Partitions) != 1 {
			return false
		}
		ps := st.Partitions[0]
		return ps.BufferedRecords == 0 && ps.InFlightRecords == 0 && ps.HighWatermark > firstPiece+int64(half) &&
			ps.CommittedOffset == ps.ResolvedOffset
	}) {
		t.Fatalf("the partition did not settle: %+v", st)
	}
	if ps := st.Partitions[0]; ps.ResolvedOffset != firstPiece {
		t.Fatalf("resolved offset %d with the group open, want its first piece %d (high watermark %d)", ps.ResolvedOffset, firstPiece, ps.HighWatermark)
	}
	if err := proc.kill(); err != nil {
		t.Fatal(err)
	}
	if got := committedOffset(t, adm, group.GroupName()); got != firstPiece {
		t.Fatalf("committed offset %d, want the open group's first piece %d", got, firstPiece)
	}
	produce(half, rs.Len())
	if err := proc.start(); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, pl.kafka, group.GroupName(), 2*time.Minute)
	assertConverged(t, pl.primary, target, nil)
	dlqEmpty(t, pl.kafka, "b")
	if code, _ := httpDo(t, http.MethodGet, target.url+"/orders/_doc/killed", ""); code != http.StatusOK {
		t.Fatalf("the target does not have the document: %d", code)
	}
}

// committedOffset is the group's committed offset of the topic's partition 0, -1 if none.
func committedOffset(t *testing.T, adm *kadm.Client, group string) int64 {
	t.Helper()
	offs, err := adm.FetchOffsets(context.Background(), group)
	if err != nil {
		return -1
	}
	if o, ok := offs.Lookup(topic, 0); ok && o.Err == nil {
		return o.At
	}
	return -1
}
