package fanoutctl

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestDLQReferenceRecord: a 1,010,028-byte document the strict replica mapping rejects
// is dead-lettered as a reference record (value dropped); show says so, --as-recorded
// cannot replay it, a replay before the fix re-dead-letters it (attempts + 1, still a
// reference), and after the fix the replay resolves it from the primary.
func TestDLQReferenceRecord(t *testing.T) {
	b := newDLQBed(t)
	const size = 1010028
	const head, tail = `{"title":"big","price":1,"blob":"`, `"}`
	doc := head + strings.Repeat("z", size-len(head)-len(tail)) + tail
	fine := ids("ok", 5)
	b.write(t, `{"index":{"_index":"books","_id":"big"}}`+"\n"+doc+"\n"+
		bulkBody("books", fine, func(id string) string { return `{"title":"book ` + id + `"}` }))
	b.waitDLQ(t, 1)
	waitFor(t, 20*time.Second, "the later documents on the target", func() bool {
		for _, id := range fine {
			if _, _, ok := b.target.doc(t, "books", id, routingOf(id)); !ok {
				return false
			}
		}
		return true
	})

	var shown []dlqRecord
	cliJSON(t, 0, &shown, deps{}, "dlq", "show", "--brokers", b.brokers, "--cluster", "b")
	if len(shown) != 1 || shown[0].ValueDropped == nil || shown[0].ValueDropped.Reason != "too_large" ||
		shown[0].ValueDropped.Bytes <= size || shown[0].Key != "books/big" || shown[0].ErrorType != "strict_dynamic_mapping_exception" {
		t.Fatalf("dlq show: %+v", shown)
	}
	text := cli(t, context.Background(), deps{}, nil, "dlq", "show", "--brokers", b.brokers, "--cluster", "b")
	if !strings.Contains(text.stdout, "value dropped (too_large)") {
		t.Fatalf("dlq show text does not say the value was dropped:\n%s", text.stdout)
	}

	var rep replayReport
	cliJSON(t, 1, &rep, deps{}, b.replayArgs("--as-recorded")...)
	if rep.ReferencesNotReplayed != 1 || rep.Failed != 1 || rep.Applied != 0 {
		t.Fatalf("replay --as-recorded: %+v", rep)
	}
	cliJSON(t, 1, &rep, deps{}, b.replayArgs()...)
	if rep.References != 1 || rep.Failed != 1 || len(rep.Failures) != 1 || rep.Failures[0].Attempts != 3 {
		t.Fatalf("replay before the fix: %+v, want the reference re-dead-lettered with attempts 3", rep)
	}
	cliJSON(t, 0, &shown, deps{}, "dlq", "show", "--brokers", b.brokers, "--cluster", "b")
	if len(shown) != 1 || shown[0].ValueDropped == nil || shown[0].Attempts != 3 {
		t.Fatalf("pending after the failed replay: %+v", shown)
	}

	b.fixMapping(t)
	if code, body := b.target.do(t, "PUT", "/books/_mapping", `{"properties":{"blob":{"type":"text","index":false}}}`); code != 200 {
		t.Fatalf("mapping blob: %d %s", code, body)
	}
	cliJSON(t, 0, &rep, deps{}, b.replayArgs()...)
	if rep.References != 1 || rep.Applied != 1 || rep.Failed != 0 {
		t.Fatalf("replay after the fix: %+v", rep)
	}
	src, _, ok := b.target.doc(t, "books", "big", routingOf("big"))
	if !ok || len(src["blob"].(string)) != size-len(head)-len(tail) {
		t.Fatalf("books/big not on the target with its document")
	}
	assertConverged(t, b.primary, b.target)
}
