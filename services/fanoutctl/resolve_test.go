package fanoutctl

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestReplayResolvesAgainstPrimary: dead-lettered events whose document changed on the
// primary afterwards end equal to the primary after a replay, including a document the
// primary deleted after the target's delete tombstone expired, which a replay of the
// recorded event would resurrect.
func TestReplayResolvesAgainstPrimary(t *testing.T) {
	// The target keeps no delete tombstones: as if index.gc_deletes had passed.
	b := newDLQBed(t, func(o *searchemu.Options) { o.GCDeletes = -1 })

	// updated: rejected twice (price), its current state is the second.
	// overtaken: rejected, then updated without price: the target applied the update.
	// deleted: rejected, then deleted on the primary; the target applied the delete.
	// updated and deleted are routed: the replay must look them up with their routing.
	b.write(t, `{"index":{"_index":"books","_id":"updated","routing":"u1"}}
{"title":"first","price":1}
{"index":{"_index":"books","_id":"overtaken"}}
{"title":"first","price":1}
{"index":{"_index":"books","_id":"deleted","routing":"d1"}}
{"title":"first","price":1}
`)
	b.write(t, `{"index":{"_index":"books","_id":"updated","routing":"u1"}}
{"title":"second","price":2}
{"index":{"_index":"books","_id":"overtaken"}}
{"title":"second"}
{"delete":{"_index":"books","_id":"deleted","routing":"d1"}}
`)
	b.waitDLQ(t, 4)
	waitFor(t, 10*time.Second, "the update and the delete applied on the target", func() bool {
		src, _, ok := b.target.doc(t, "books", "overtaken", "")
		if !ok || src["title"] != "second" {
			return false
		}
		for _, e := range b.target.OpLog("books") {
			if e.Op == "delete" && e.ID == "deleted" {
				return true
			}
		}
		return false
	})
	if _, _, ok := b.target.doc(t, "books", "deleted", "d1"); ok {
		t.Fatal("the deleted document is on the target before the replay")
	}

	b.fixMapping(t)
	var rep replayReport
	cliJSON(t, 0, &rep, deps{}, b.replayArgs()...)
	// updated: its first record applies the current document, its second is stale;
	// overtaken: stale; deleted: a delete of what the target does not have (applied).
	if rep.Selected != 4 || rep.Applied != 2 || rep.Stale != 2 || rep.Failed != 0 || rep.ResolvedDeleted != 1 {
		t.Fatalf("replay: %+v, want 4 selected: 2 applied, 2 stale, 1 resolved as a delete", rep)
	}
	if src, _, ok := b.target.doc(t, "books", "updated", "u1"); !ok || src["title"] != "second" {
		t.Fatalf("books/updated on the target: %v %v, want the primary's second version", ok, src)
	}
	if _, _, ok := b.target.doc(t, "books", "deleted", "d1"); ok {
		t.Fatal("the replay resurrected books/deleted")
	}
	assertConverged(t, b.primary, b.target)

	// The counter-proof: the recorded events would have resurrected the deleted
	// document, since the target no longer remembers the delete.
	cliJSON(t, 0, &rep, deps{}, b.replayArgs("--from-start", "--as-recorded")...)
	if src, _, ok := b.target.doc(t, "books", "deleted", "d1"); !ok || src["title"] != "first" {
		t.Fatalf("--as-recorded did not resurrect books/deleted (%v %v): the scenario does not test what it claims", ok, src)
	}
}

// TestResolveOne pins the versions a resolved replay applies.
func TestResolveOne(t *testing.T) {
	const v = int64(1)<<40 | 6 // term 1, seq_no 5
	seq, term := int64(9), int64(1)
	cases := []struct {
		name     string
		kind     opspb.Kind
		doc      mgetDoc
		wantKind opspb.Kind
		wantV    int64
		wantHow  string
		wantErr  string
	}{
		{name: "found: current document and version", kind: opspb.Kind_KIND_INDEX,
			doc:      mgetDoc{Found: true, Version: 3, SeqNo: &seq, PrimaryTerm: &term, Source: json.RawMessage(`{"a":2}`)},
			wantKind: opspb.Kind_KIND_INDEX, wantV: 1<<40 | 10, wantHow: resolvedCurrent},
		{name: "found without seq_no: _version", kind: opspb.Kind_KIND_INDEX,
			doc:      mgetDoc{Found: true, Version: 7, Source: json.RawMessage(`{"a":2}`)},
			wantKind: opspb.Kind_KIND_INDEX, wantV: 7, wantHow: resolvedCurrent},
		{name: "deleted after an INDEX: the event's version + 1", kind: opspb.Kind_KIND_INDEX,
			doc: mgetDoc{Found: false}, wantKind: opspb.Kind_KIND_DELETE, wantV: v + 1, wantHow: resolvedDeleted},
		{name: "a DELETE still deleted: its own version", kind: opspb.Kind_KIND_DELETE,
			doc: mgetDoc{Found: false}, wantKind: opspb.Kind_KIND_DELETE, wantV: v, wantHow: resolvedDeleted},
		{name: "a DELETE re-created since: the current document", kind: opspb.Kind_KIND_DELETE,
			doc:      mgetDoc{Found: true, Version: 1, SeqNo: &seq, PrimaryTerm: &term, Source: json.RawMessage(`{"a":3}`)},
			wantKind: opspb.Kind_KIND_INDEX, wantV: 1<<40 | 10, wantHow: resolvedCurrent},
		{name: "index gone on the primary: deleted", kind: opspb.Kind_KIND_INDEX,
			doc:      mgetDoc{Error: json.RawMessage(`{"type":"index_not_found_exception","reason":"no such index [books]"}`)},
			wantKind: opspb.Kind_KIND_DELETE, wantV: v + 1, wantHow: resolvedDeleted},
		{name: "other error: fails", kind: opspb.Kind_KIND_INDEX,
			doc:     mgetDoc{Error: json.RawMessage(`{"type":"routing_missing_exception","reason":"routing is required"}`)},
			wantErr: "primary_routing_missing_exception"},
		{name: "no _source: fails", kind: opspb.Kind_KIND_INDEX,
			doc: mgetDoc{Found: true, Version: 1}, wantErr: "source_missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := &opspb.Operation{Kind: c.kind, Index: "books", Id: "1", ReplicationVersion: v, Routing: "r"}
			if c.kind == opspb.Kind_KIND_INDEX {
				op.Source = []byte(`{"a":1}`)
			}
			doc := c.doc
			got := resolveOne(op, &doc)
			if c.wantErr != "" {
				if got.err == nil || got.errType != c.wantErr {
					t.Fatalf("got %+v, want error type %s", got, c.wantErr)
				}
				return
			}
			if got.err != nil {
				t.Fatal(got.err)
			}
			if got.op.GetKind() != c.wantKind || got.op.GetReplicationVersion() != c.wantV || got.how != c.wantHow {
				t.Fatalf("got %v v%d %s, want %v v%d %s", got.op.GetKind(), got.op.GetReplicationVersion(), got.how, c.wantKind, c.wantV, c.wantHow)
			}
			if got.op.GetRouting() != "r" || got.op.GetId() != "1" || got.op.GetIndex() != "books" {
				t.Fatalf("resolution lost the document's coordinates: %v", got.op)
			}
			if c.wantKind == opspb.Kind_KIND_DELETE && got.op.GetSource() != nil {
				t.Fatal("a delete carries a source")
			}
			if op.GetReplicationVersion() != v {
				t.Fatal("resolveOne changed the recorded event")
			}
		})
	}
	t.Run("no successor", func(t *testing.T) {
		op := &opspb.Operation{Kind: opspb.Kind_KIND_INDEX, Index: "books", Id: "1", ReplicationVersion: math.MaxInt64, Source: []byte(`{}`)}
		if got := resolveOne(op, &mgetDoc{}); got.err == nil {
			t.Fatalf("got %+v, want an error", got)
		}
	})
}
