package replicator_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// withGCDeletes makes an emulator keep delete tombstones for d (index.gc_deletes).
func withGCDeletes(d time.Duration) func(*searchemu.Options) {
	return func(o *searchemu.Options) { o.GCDeletes = d }
}

// lateConfig is a replicator configuration with late_events.window at window and, when
// primary is set, the primary to resolve late events against.
func lateConfig(k *kafkatest.Cluster, target, primary *emulator, window time.Duration) replicator.Config {
	cfg := testConfig(k, target, "b")
	cfg.LateEvents.Window = window
	if primary != nil {
		cfg.Primary.Endpoints = []string{primary.url}
	}
	return cfg
}

// acceptedAgo sets an event's accepted time to d before now.
func acceptedAgo(o *opspb.Operation, d time.Duration) *opspb.Operation {
	o.AcceptedAt = timestamppb.New(time.Now().Add(-d))
	return o
}

func docURL(e *emulator, index, id, routing string) string {
	u := e.url + "/" + url.PathEscape(index) + "/_doc/" + url.PathEscape(id)
	if routing != "" {
		u += "?routing=" + url.QueryEscape(routing)
	}
	return u
}

// primaryDoc is what the primary holds for a document: its source and the replication
// version of its _seq_no/_primary_term.
func primaryDoc(t testing.TB, e *emulator, index, id, routing string) (json.RawMessage, int64) {
	t.Helper()
	u := docURL(e, index, id, routing)
	code, b := httpDo(t, http.MethodGet, u, "")
	var d struct {
		Found       bool            `json:"found"`
		Version     int64           `json:"_version"`
		SeqNo       int64           `json:"_seq_no"`
		PrimaryTerm int64           `json:"_primary_term"`
		Source      json.RawMessage `json:"_source"`
	}
	if err := json.Unmarshal(b, &d); err != nil || code != http.StatusOK || !d.Found {
		t.Fatalf("GET %s on the primary: %d %s", u, code, b)
	}
	v, err := event.ReplicationVersion(d.SeqNo, d.PrimaryTerm, d.Version, true)
	if err != nil {
		t.Fatal(err)
	}
	return d.Source, v
}

// writePrimary indexes source as index/id (routed) on the primary.
func writePrimary(t testing.TB, e *emulator, index, id, routing, source string) {
	t.Helper()
	u := docURL(e, index, id, routing)
	if code, b := httpDo(t, http.MethodPut, u, source); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("PUT %s on the primary: %d %s", u, code, b)
	}
}

// TestLateIndexDoesNotResurrect is issue 13's must-show: a late INDEX (accepted before
// a DELETE, applied after the target's tombstone of that DELETE expired, past the
// memory of deletes) must not bring the document back. With the primary configured it is
// resolved there (gone: applied as a DELETE); without, it is applied as recorded and the
// document DOES come back — which shows the test can fail, and is counted.
func TestLateIndexDoesNotResurrect(t *testing.T) {
	tests := []struct {
		name      string
		primary   bool
		wantFound bool
		outcome   string
	}{
		{name: "resolved against the primary", primary: true, outcome: "deleted"},
		{name: "no primary: resurrected, counted", wantFound: true, outcome: "unresolved"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
			target := startEmulator(t, "b", withGCDeletes(gcDeletes))
			createIndex(t, target, "books")
			// The primary's state after the writes below: books/1 written, then deleted.
			primary := startEmulator(t, "primary")
			createIndex(t, primary, "books")
			writePrimary(t, primary, "books", "1", "r1", `{"v":4}`)
			if code, b := httpDo(t, http.MethodDelete, primary.url+"/books/_doc/1?routing=r1", ""); code != http.StatusOK {
				t.Fatalf("deleting on the primary: %d %s", code, b)
			}
			var p *emulator
			if tc.primary {
				p = primary
			}
			cfg := lateConfig(k, target, p, 500*time.Millisecond)
			// The memory of deletes would catch the late INDEX within deletes.window of
			// accepted time; the late events this is about come after it forgot.
			cfg.Deletes.Window = time.Second
			r := startReplicator(t, cfg)

			deleted := op(opspb.Kind_KIND_DELETE, "books", "1", "r1", 6, "")
			// Accepted before the DELETE, as on the primary, and published long after it
			// (a proxy's spool drained after a Kafka outage).
			late := op(opspb.Kind_KIND_INDEX, "books", "1", "r1", 5, `{"v":5}`)
			late.AcceptedAt = timestamppb.New(deleted.GetAcceptedAt().AsTime().Add(-time.Millisecond))
			k.ProduceSync(t, encode(t, op(opspb.Kind_KIND_INDEX, "books", "1", "r1", 4, `{"v":4}`), deleted)...)
			waitCaughtUp(t, k, r.Group(), 20*time.Second)
			if d := getDoc(t, target, "books", "1", "r1"); d.Found {
				t.Fatalf("books/1 after the DELETE: %+v", d)
			}

			// The target forgets the DELETE (its lookups check the tombstone's age exactly).
			time.Sleep(gcDeletes + 500*time.Millisecond)
			// Another document's event moves the partition's accepted time past
			// deletes.window after the DELETE: the memory forgets it too.
			k.ProduceSync(t, encode(t, op(opspb.Kind_KIND_INDEX, "books", "2", "", 1, `{"other":1}`))...)
			waitCaughtUp(t, k, r.Group(), 20*time.Second)
			k.ProduceSync(t, encode(t, late)...)
			waitCaughtUp(t, k, r.Group(), 20*time.Second)

			d := getDoc(t, target, "books", "1", "r1")
			if d.Found != tc.wantFound {
				t.Fatalf("books/1 found = %v after the late INDEX, want %v: %+v", d.Found, tc.wantFound, d)
			}
			if tc.wantFound && string(d.Source) != `{"v":5}` {
				t.Fatalf("books/1 = %s, want the late INDEX's {\"v\":5}", d.Source)
			}
			if got := r.Metric(t, "fanout_replicator_late_events_total", map[string]string{"outcome": tc.outcome}); got < 1 {
				t.Errorf("late_events_total{outcome=%q} = %v, want at least 1", tc.outcome, got)
			}
			if got := r.Metric(t, "fanout_replicator_superseded_by_delete_total", nil); got != 0 {
				t.Errorf("superseded_by_delete_total = %v: the memory of deletes decided, not the late-event rule", got)
			}
			lookups := r.Metric(t, "fanout_replicator_primary_lookups_total", map[string]string{"result": "ok"})
			if tc.primary != (lookups > 0) {
				t.Errorf("primary_lookups_total{result=ok} = %v with primary %v", lookups, tc.primary)
			}
			if got := r.Ops(t, "dlq"); got != 0 {
				t.Errorf("%v records dead-lettered", got)
			}
		})
	}
}

// TestLateIndexTakesPrimaryCurrent: a late INDEX of a document the primary has written
// since applies the primary's current document, routed, with the replication version of
// its _seq_no; a later real write still wins over it and an older one is refused.
func TestLateIndexTakesPrimaryCurrent(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b", withGCDeletes(gcDeletes))
	createIndex(t, target, "books")
	primary := startEmulator(t, "primary")
	createIndex(t, primary, "books")
	for _, s := range []string{`{"v":"first"}`, `{"v":"second"}`, `{"v":"third"}`} {
		writePrimary(t, primary, "books", "1", "r1", s)
	}
	src, pv := primaryDoc(t, primary, "books", "1", "r1")
	r := startReplicator(t, lateConfig(k, target, primary, 500*time.Millisecond))

	// The event of the first write, published a minute late.
	first := acceptedAgo(op(opspb.Kind_KIND_INDEX, "books", "1", "r1", 1, `{"v":"first"}`), time.Minute)
	k.ProduceSync(t, encode(t, first)...)
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	d := getDoc(t, target, "books", "1", "r1")
	if !d.Found || d.Version != pv || string(d.Source) != string(src) {
		t.Fatalf("books/1 on the target: %+v, want the primary's %s at version %d", d, src, pv)
	}
	if got := r.Metric(t, "fanout_replicator_late_events_total", map[string]string{"outcome": "current"}); got != 1 {
		t.Errorf("late_events_total{outcome=current} = %v, want 1", got)
	}

	// The second write's event (older than what the primary gave) is refused; a write
	// after the lookup wins.
	second := op(opspb.Kind_KIND_INDEX, "books", "1", "r1", 2, `{"v":"second"}`)
	k.ProduceSync(t, encode(t, second)...)
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	if d := getDoc(t, target, "books", "1", "r1"); d.Version != pv || string(d.Source) != string(src) {
		t.Fatalf("an older event rolled books/1 back: %+v", d)
	}
	later := op(opspb.Kind_KIND_INDEX, "books", "1", "r1", 10, `{"v":"later"}`)
	k.ProduceSync(t, encode(t, later)...)
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	if d := getDoc(t, target, "books", "1", "r1"); d.Version != later.GetReplicationVersion() || string(d.Source) != `{"v":"later"}` {
		t.Fatalf("a later write lost to the resolved document: %+v", d)
	}
}

// TestLatePrimaryDown: while the primary cannot be asked the partition blocks: the late
// INDEX is neither applied nor skipped (nothing committed past it, nothing on the
// target), and the partition goes on once the primary is back.
func TestLatePrimaryDown(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b")
	createIndex(t, target, "books")
	primary := startEmulator(t, "primary")
	createIndex(t, primary, "books")
	writePrimary(t, primary, "books", "1", "", `{"v":"primary"}`)
	src, pv := primaryDoc(t, primary, "books", "1", "")
	r := startReplicator(t, lateConfig(k, target, primary, 500*time.Millisecond))

	primary.SetFaults(searchemu.Faults{Down: true})
	k.ProduceSync(t, encode(t,
		acceptedAgo(op(opspb.Kind_KIND_INDEX, "books", "1", "", 1, `{"v":"recorded"}`), time.Minute),
		op(opspb.Kind_KIND_INDEX, "books", "2", "", 1, `{"v":"behind it"}`))...)
	waitFor(t, 20*time.Second, "lookups failing", func() bool {
		return r.Metric(t, "fanout_replicator_primary_lookups_total", map[string]string{"result": "failed"}) >= 3
	})
	if ok, _ := caughtUp(t, k, r.Group()); ok {
		t.Fatal("the partition committed past a late INDEX it could not resolve")
	}
	for _, id := range []string{"1", "2"} {
		if d := getDoc(t, target, "books", id, ""); d.Found {
			t.Fatalf("books/%s applied while the primary was down: %+v", id, d)
		}
	}
	code, status := httpDo(t, http.MethodGet, r.AdminURL()+"/admin/status", "")
	if code != http.StatusOK || !json.Valid(status) || !strings.Contains(string(status), `"blocked"`) || !strings.Contains(string(status), "late INDEX") {
		t.Errorf("admin status while the primary is down: %d %s", code, status)
	}

	primary.SetFaults(searchemu.Faults{})
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	if d := getDoc(t, target, "books", "1", ""); !d.Found || d.Version != pv || string(d.Source) != string(src) {
		t.Fatalf("books/1 after the primary came back: %+v, want the primary's %s at %d", d, src, pv)
	}
	if d := getDoc(t, target, "books", "2", ""); !d.Found {
		t.Fatal("books/2 not applied after the primary came back")
	}
}

// TestLateMixedBatchKeepsOrder: late and fresh events of one partition reach the target
// in the partition's order, the late ones replaced by what the primary holds.
func TestLateMixedBatchKeepsOrder(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b")
	createIndex(t, target, "books")
	primary := startEmulator(t, "primary")
	createIndex(t, primary, "books")
	writePrimary(t, primary, "books", "b", "", `{"v":"b1"}`)
	writePrimary(t, primary, "books", "b", "", `{"v":"b2"}`)
	_, bv := primaryDoc(t, primary, "books", "b", "")
	// d is not on the primary: deleted since its event.

	ops := []*opspb.Operation{
		op(opspb.Kind_KIND_INDEX, "books", "a", "", 1, `{"v":"a"}`),
		acceptedAgo(op(opspb.Kind_KIND_INDEX, "books", "b", "", 1, `{"v":"b1"}`), time.Minute),
		op(opspb.Kind_KIND_INDEX, "books", "c", "", 1, `{"v":"c"}`),
		acceptedAgo(op(opspb.Kind_KIND_INDEX, "books", "d", "", 1, `{"v":"d"}`), time.Minute),
		op(opspb.Kind_KIND_INDEX, "books", "b", "", 10, `{"v":"b10"}`),
		op(opspb.Kind_KIND_INDEX, "books", "e", "", 1, `{"v":"e"}`),
	}
	// Produced before the replicator starts: its first fetch takes them together.
	k.ProduceSync(t, encode(t, ops...)...)
	// A wide window: only the events a minute old are late, however slow the machine.
	r := startReplicator(t, lateConfig(k, target, primary, 20*time.Second))
	waitCaughtUp(t, k, r.Group(), 20*time.Second)

	type entry struct {
		op, id  string
		version int64
	}
	want := []entry{
		{"index", "a", 1<<event.SeqNoBits | 1},
		{"index", "b", bv},
		{"index", "c", 1<<event.SeqNoBits | 1},
		{"delete", "d", 1<<event.SeqNoBits | 2},
		{"index", "b", 1<<event.SeqNoBits | 10},
		{"index", "e", 1<<event.SeqNoBits | 1},
	}
	var got []entry
	for _, e := range target.OpLog("books") {
		got = append(got, entry{e.Op, e.ID, e.Version})
	}
	if len(got) != len(want) {
		t.Fatalf("target oplog %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("target oplog %v, want %v", got, want)
		}
	}
	if got := r.Metric(t, "fanout_replicator_primary_lookups_total", map[string]string{"result": "ok"}); got != 1 {
		t.Errorf("primary_lookups_total{result=ok} = %v, want 1 (one _mget for the batch's late events)", got)
	}
}

// TestLateChunkedAndUnresolvable: a late document assembled from chunks is resolved as
// one INDEX (the primary's whole current document replaces its pieces, or a DELETE when
// the primary no longer has it); a late INDEX the primary can never resolve (its index
// stores no _source) goes to the DLQ as recorded, without stalling the partition.
func TestLateChunkedAndUnresolvable(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	createIndex(t, target, "nosource")
	primary := startEmulator(t, "primary")
	createIndex(t, primary, "docs")
	createIndex(t, primary, "nosource", `{"_source":{"enabled":false}}`)
	current := jsonDoc(5000, "current")
	writePrimary(t, primary, "docs", "big", "", jsonDoc(5000, "old"))
	writePrimary(t, primary, "docs", "big", "", current)
	_, bigV := primaryDoc(t, primary, "docs", "big", "")
	writePrimary(t, primary, "nosource", "1", "", `{"v":1}`)
	r := startReplicator(t, lateConfig(k, target, primary, 20*time.Second))

	var recs []*kgo.Record
	recs = append(recs, pieces(t, acceptedAgo(op(opspb.Kind_KIND_INDEX, "docs", "big", "", 1, jsonDoc(5000, "old")), time.Minute), "big")...)
	recs = append(recs, pieces(t, acceptedAgo(op(opspb.Kind_KIND_INDEX, "docs", "gone", "", 1, jsonDoc(5000, "gone")), time.Minute), "gone")...)
	recs = append(recs, encode(t, acceptedAgo(op(opspb.Kind_KIND_INDEX, "nosource", "1", "", 1, `{"v":1}`), time.Minute))...)
	k.ProduceSync(t, recs...)
	waitCaughtUp(t, k, r.Group(), 20*time.Second)

	if d := getDoc(t, target, "docs", "big", ""); !d.Found || d.Version != bigV || string(d.Source) != current {
		t.Fatalf("docs/big on the target: found %v version %d (%d bytes), want the primary's current document at %d", d.Found, d.Version, len(d.Source), bigV)
	}
	if d := getDoc(t, target, "docs", "gone", ""); d.Found {
		t.Fatal("docs/gone, not on the primary, applied from its chunks")
	}
	dead := dlqRecords(t, k, "b", 1, 10*time.Second)
	if len(dead) != 1 || hdr(dead[0], kafkax.HeaderErrorType) != "source_missing" || string(dead[0].Key) != "nosource/1" {
		t.Fatalf("dead letters %d, want nosource/1 as source_missing: %v", len(dead), dead)
	}
	for outcome, want := range map[string]float64{"current": 1, "deleted": 1, "dlq": 1} {
		if got := r.Metric(t, "fanout_replicator_late_events_total", map[string]string{"outcome": outcome}); got != want {
			t.Errorf("late_events_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

// TestLateDeleteRemembered: a late INDEX resolved as a DELETE is remembered like a
// DELETE event, so an older late INDEX of the document after it (the rest of a drained
// spool) is stale without another lookup.
func TestLateDeleteRemembered(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b")
	createIndex(t, target, "books")
	primary := startEmulator(t, "primary")
	createIndex(t, primary, "books")
	r := startReplicator(t, lateConfig(k, target, primary, 500*time.Millisecond))
	k.ProduceSync(t, encode(t, acceptedAgo(op(opspb.Kind_KIND_INDEX, "books", "1", "", 3, `{"v":3}`), time.Minute))...)
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	k.ProduceSync(t, encode(t, acceptedAgo(op(opspb.Kind_KIND_INDEX, "books", "1", "", 2, `{"v":2}`), time.Minute))...)
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	if d := getDoc(t, target, "books", "1", ""); d.Found {
		t.Fatalf("books/1 on the target: %+v", d)
	}
	if got := r.Metric(t, "fanout_replicator_primary_lookups_total", map[string]string{"result": "ok"}); got != 1 {
		t.Errorf("primary_lookups_total{result=ok} = %v, want 1", got)
	}
	if got := r.Metric(t, "fanout_replicator_superseded_by_delete_total", nil); got != 1 {
		t.Errorf("superseded_by_delete_total = %v, want 1", got)
	}
}
