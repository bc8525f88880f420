package replicator_test

import (
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// gcDeletes is the target index's index.gc_deletes: the outages below outlast it.
const gcDeletes = time.Second

// createGCIndex creates index on e with index.gc_deletes at gcDeletes.
func createGCIndex(t testing.TB, e *emulator, index string) {
	t.Helper()
	body := `{"settings":{"number_of_shards":3,"index.gc_deletes":"1s"}}`
	if code, ans := httpDo(t, http.MethodPut, e.url+"/"+index, body); code != http.StatusOK {
		t.Fatalf("creating %s: %d %s", index, code, ans)
	}
}

// TestDeletedStaysDeleted is the resurrection case of issue 9: a partition holds
// INDEX v4, DELETE v6 and then INDEX v5 of one document (two proxies published v5 and
// v6 in the order they reached Kafka), and the target is down for longer than its
// gc_deletes between the DELETE and the late INDEX, so its tombstone is gone when
// INDEX v5 could be sent. The document must stay deleted — with the same replicator,
// and with a new one that has only Kafka to remember the DELETE by.
func TestDeletedStaysDeleted(t *testing.T) {
	tests := []struct {
		name    string
		restart bool
	}{
		{name: "same replicator"},
		{name: "replicator restarted in between", restart: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
			target := startEmulator(t, "b")
			createGCIndex(t, target, "books")
			cfg := testConfig(k, target, "b")
			r := startReplicator(t, cfg)

			created := op(opspb.Kind_KIND_INDEX, "books", "1", "r1", 4, `{"v":4}`)
			deleted := op(opspb.Kind_KIND_DELETE, "books", "1", "r1", 6, "")
			late := op(opspb.Kind_KIND_INDEX, "books", "1", "r1", 5, `{"v":5}`)
			// The late INDEX was accepted before the DELETE, as on the primary.
			late.AcceptedAt = timestamppb.New(deleted.GetAcceptedAt().AsTime().Add(-time.Millisecond))
			k.ProduceSync(t, encode(t, created, deleted)...)
			waitCaughtUp(t, k, r.Group(), 20*time.Second)
			if d := getDoc(t, target, "books", "1", "r1"); d.Found {
				t.Fatalf("books/1 after the DELETE: %+v", d)
			}
			if tc.restart {
				r.Stop(t)
			}

			target.SetFaults(searchemu.Faults{Down: true})
			k.ProduceSync(t, encode(t, late)...)
			// The outage is the fault under test: it outlasts the target's tombstone.
			time.Sleep(gcDeletes + 500*time.Millisecond)
			if tc.restart {
				r = startReplicator(t, cfg)
			}
			target.SetFaults(searchemu.Faults{})
			waitCaughtUp(t, k, r.Group(), 20*time.Second)

			if d := getDoc(t, target, "books", "1", "r1"); d.Found {
				t.Fatalf("books/1 came back after the DELETE: %+v", d)
			}
			if got := r.Metric(t, "fanout_replicator_superseded_by_delete_total", nil); got != 1 {
				t.Errorf("superseded_by_delete_total = %v, want 1", got)
			}
			if got := r.Ops(t, "dlq"); got != 0 {
				t.Errorf("%v records dead-lettered", got)
			}
		})
	}
}

// TestRecreateAfterDelete: an INDEX newer than the DELETE (the document re-created on
// the primary) still applies, after an outage as long as the one above and a restart.
func TestRecreateAfterDelete(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	target := startEmulator(t, "b")
	createGCIndex(t, target, "books")
	cfg := testConfig(k, target, "b")
	r := startReplicator(t, cfg)
	k.ProduceSync(t, encode(t,
		op(opspb.Kind_KIND_INDEX, "books", "1", "", 4, `{"v":4}`),
		op(opspb.Kind_KIND_DELETE, "books", "1", "", 6, ""))...)
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	r.Stop(t)
	target.SetFaults(searchemu.Faults{Down: true})
	k.ProduceSync(t, encode(t, op(opspb.Kind_KIND_INDEX, "books", "1", "", 7, `{"v":7}`))...)
	time.Sleep(gcDeletes + 500*time.Millisecond) // the outage under test
	r = startReplicator(t, cfg)
	target.SetFaults(searchemu.Faults{})
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	d := getDoc(t, target, "books", "1", "")
	if want := int64(1<<event.SeqNoBits | 7); !d.Found || d.Version != want || string(d.Source) != `{"v":7}` {
		t.Fatalf("books/1 re-created with v7: %+v, want version %d", d, want)
	}
	if got := r.Metric(t, "fanout_replicator_superseded_by_delete_total", nil); got != 0 {
		t.Errorf("superseded_by_delete_total = %v, want 0", got)
	}
}

// TestDeleteMemoryWindowIsAcceptedTime: past deletes.window of accepted time the
// memory forgets a DELETE, and only the target's tombstone is left: with it expired an
// INDEX older than the DELETE lands. This is the bound the README states, and it shows
// that the cases above are decided by the memory, not by the emulator.
func TestDeleteMemoryWindowIsAcceptedTime(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b")
	createGCIndex(t, target, "books")
	cfg := testConfig(k, target, "b")
	cfg.Deletes.Window = time.Second
	r := startReplicator(t, cfg)

	base := time.Now().Add(-time.Hour)
	at := func(o *opspb.Operation, d time.Duration) *opspb.Operation {
		o.AcceptedAt = timestamppb.New(base.Add(d))
		return o
	}
	k.ProduceSync(t, encode(t,
		at(op(opspb.Kind_KIND_INDEX, "books", "1", "", 4, `{"v":4}`), 0),
		at(op(opspb.Kind_KIND_DELETE, "books", "1", "", 6, ""), time.Second))...)
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	target.SetFaults(searchemu.Faults{Down: true})
	// Another document accepted 2 s of event time after the DELETE: past the window.
	k.ProduceSync(t, encode(t,
		at(op(opspb.Kind_KIND_INDEX, "books", "2", "", 8, `{"v":8}`), 3*time.Second),
		at(op(opspb.Kind_KIND_INDEX, "books", "1", "", 5, `{"v":5}`), time.Second-time.Millisecond))...)
	time.Sleep(gcDeletes + 500*time.Millisecond) // the outage under test
	target.SetFaults(searchemu.Faults{})
	waitCaughtUp(t, k, r.Group(), 20*time.Second)
	if d := getDoc(t, target, "books", "1", ""); !d.Found || string(d.Source) != `{"v":5}` {
		t.Fatalf("books/1 past the window: %+v, want INDEX v5 landed on the expired tombstone", d)
	}
	replicatortest.WaitFor(t, 5*time.Second, "the memory emptied", func() bool {
		return r.Metric(t, "fanout_replicator_delete_memory_entries", nil) == 0
	})
}
