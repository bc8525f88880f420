package fanoutctl

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/services/replicator"
)

// dlqPieces reads the target's DLQ and counts its chunk records.
func dlqPieces(t *testing.T, b *dlqBed) (records, pieces int) {
	t.Helper()
	for _, rec := range b.k.ConsumeAll(t, replicator.DLQTopic("{topic}.dlq.{cluster}", opsTopic, "b"), 10*time.Second) {
		records++
		if op, err := event.Decode(rec); err == nil && op.GetChunk() != nil {
			pieces++
		}
	}
	return records, pieces
}

// TestDLQReplaysChunkedDocument: a 1.5 MiB document the target's mapping rejects is
// dead-lettered as chunk records that fit the DLQ topic; a replay before the fix puts
// the primary's document back in the DLQ as chunks again; after the fix a replay
// --as-recorded reading one record per batch (so the group straddles batches and
// commits) applies it whole, and the target converges.
func TestDLQReplaysChunkedDocument(t *testing.T) {
	b := newDLQBed(t)
	doc := `{"title":"big","price":1,"blob":"` + strings.Repeat("x", 3<<19) + `"}`
	code, ans := httpDo(t, http.MethodPut, b.proxyURL+"/books/_doc/big?refresh=true", doc)
	if code != http.StatusCreated {
		t.Fatalf("PUT through the proxy: %d %.300s", code, ans)
	}
	waitFor(t, 30*time.Second, "the rejected document in the DLQ", func() bool { _, p := dlqPieces(t, b); return p >= 2 })
	recs, pieces := dlqPieces(t, b)
	if recs != pieces {
		t.Fatalf("DLQ holds %d records of which %d pieces: the document must be dead-lettered as pieces only", recs, pieces)
	}

	// Before the fix: resolved from the primary, refused again, back as pieces.
	var rep replayReport
	cliJSON(t, 1, &rep, deps{}, b.replayArgs()...)
	if rep.Selected != int64(pieces) || rep.Failed != 1 || rep.Pieces != int64(pieces-1) || rep.Applied != 0 {
		t.Fatalf("replay before the fix: %+v", rep)
	}
	if r2, p2 := dlqPieces(t, b); r2 != 2*recs || p2 != 2*pieces {
		t.Fatalf("DLQ after the failed replay: %d records, %d pieces; want %d pieces", r2, p2, 2*pieces)
	}

	b.fixMapping(t)
	if code, body := b.target.do(t, http.MethodPut, "/books/_mapping", `{"properties":{"blob":{"type":"text"}}}`); code != http.StatusOK {
		t.Fatalf("mapping blob: %d %s", code, body)
	}
	cliJSON(t, 0, &rep, deps{}, b.replayArgs("--as-recorded", "--batch", "1")...)
	if rep.Applied != 1 || rep.Failed != 0 || rep.Pieces != int64(pieces-1) || rep.OpenGroups != 0 {
		t.Fatalf("replay --as-recorded after the fix: %+v", rep)
	}
	assertConverged(t, b.primary, b.target)
}

// TestDLQReplayAsRecordedIncompleteGroup: a chunk group whose last piece is not in the
// DLQ (a replicator gave up on it as incomplete) cannot be completed by any replay
// --as-recorded. Once the replay has read the whole range, its pieces go back to the
// DLQ as they were (attempts + 1, chunk_incomplete) and the progress moves past them,
// instead of holding at its first piece forever; a replay without --as-recorded then
// resolves the document from the primary.
func TestDLQReplayAsRecordedIncompleteGroup(t *testing.T) {
	b := newDLQBed(t)
	doc := `{"title":"big","price":1,"blob":"` + strings.Repeat("x", 3<<19) + `"}`
	if code, ans := httpDo(t, http.MethodPut, b.proxyURL+"/books/_doc/big?refresh=true", doc); code != http.StatusCreated {
		t.Fatalf("PUT through the proxy: %d %.300s", code, ans)
	}
	dlq := replicator.DLQTopic("{topic}.dlq.{cluster}", opsTopic, "b")
	waitFor(t, 30*time.Second, "the rejected document in the DLQ", func() bool { _, p := dlqPieces(t, b); return p >= 2 })
	b.fixMapping(t)
	if code, body := b.target.do(t, http.MethodPut, "/books/_mapping", `{"properties":{"blob":{"type":"text"}}}`); code != http.StatusOK {
		t.Fatalf("mapping blob: %d %s", code, body)
	}

	// The DLQ gets the group again without its last piece, behind the whole group.
	whole := b.k.ConsumeAll(t, dlq, 10*time.Second)
	var partial []*kgo.Record
	count := 0
	for _, rec := range whole {
		op, err := event.Decode(rec)
		if err != nil || op.GetChunk() == nil {
			t.Fatalf("DLQ record %d is not a piece: %v", rec.Offset, err)
		}
		count = int(op.GetChunk().GetCount())
		if int(op.GetChunk().GetIndex()) < count-1 {
			partial = append(partial, &kgo.Record{Topic: rec.Topic, Partition: rec.Partition, Key: rec.Key, Value: rec.Value, Headers: rec.Headers})
		}
	}
	if len(whole) != count || len(partial) != count-1 {
		t.Fatalf("DLQ holds %d records of a %d-piece group", len(whole), count)
	}
	cl := b.k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(t.Context(), partial...).FirstErr(); err != nil {
		t.Fatalf("producing the partial group: %v", err)
	}

	var rep replayReport
	cliJSON(t, 1, &rep, deps{}, b.replayArgs("--as-recorded", "--batch", "2")...)
	if rep.Applied != 1 || rep.IncompleteGroups != 1 || rep.Failed != int64(count-1) || rep.OpenGroups != 0 || rep.Remaining != 0 {
		t.Fatalf("replay --as-recorded: %+v; want the whole group applied, the partial one re-published, nothing left", rep)
	}
	after := b.k.ConsumeAll(t, dlq, 10*time.Second)
	if len(after) != len(whole)+2*len(partial) {
		t.Fatalf("DLQ holds %d records after the replay, want %d", len(after), len(whole)+2*len(partial))
	}
	for i, rec := range after[len(whole)+len(partial):] {
		dl, err := kafkax.ParseDeadLetter(rec.Headers)
		op, derr := event.Decode(rec)
		if err != nil || derr != nil {
			t.Fatalf("re-published piece %d: %v %v", i, err, derr)
		}
		if dl.ErrorType != string(event.ReasonChunkIncomplete) || dl.Attempts < 2 ||
			int(op.GetChunk().GetIndex()) != i || int(op.GetChunk().GetCount()) != count {
			t.Errorf("re-published piece %d: %s attempts %d, chunk %d of %d", i, dl.ErrorType, dl.Attempts,
				op.GetChunk().GetIndex(), op.GetChunk().GetCount())
		}
	}

	// The next replay --as-recorded reads only the re-published pieces, and moves on.
	cliJSON(t, 1, &rep, deps{}, b.replayArgs("--as-recorded")...)
	if rep.Selected != int64(count-1) || rep.IncompleteGroups != 1 || rep.Remaining != 0 {
		t.Fatalf("second replay --as-recorded: %+v", rep)
	}
	// Resolved from the primary, the document needs only its first piece.
	cliJSON(t, 0, &rep, deps{}, b.replayArgs()...)
	if rep.Failed != 0 || rep.Remaining != 0 || rep.Applied+rep.Stale != 1 {
		t.Fatalf("replay resolving from the primary: %+v", rep)
	}
	assertConverged(t, b.primary, b.target)
}
