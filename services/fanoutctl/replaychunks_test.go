package fanoutctl

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/event"
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
