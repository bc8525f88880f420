package fanoutctl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// dlqBed is a primary behind the proxy and one target, "b", whose "books" index is
// strict: documents with a field it does not map are rejected, and dead-lettered.
type dlqBed struct {
	k               *kafkatest.Cluster
	primary, target *emulator
	proxyURL        string
	brokers         string
}

func newDLQBed(t *testing.T, targetOpts ...func(*searchemu.Options)) *dlqBed {
	t.Helper()
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(opsTopic, 4), kafkatest.WithTopic(opsTopic+".dlq.b", 4))
	b := &dlqBed{k: k, brokers: strings.Join(k.Addrs(), ",")}
	b.primary = startEmulator(t, "primary")
	b.primary.createIndex(t, "books")
	b.target = startEmulator(t, "b", targetOpts...)
	b.target.createIndex(t, "books", `{"dynamic":"strict","properties":{"title":{"type":"text"}}}`)
	b.proxyURL = startProxy(t, k, b.primary)
	startReplicator(t, replicatorConfig(k, b.target, "b"))
	return b
}

// write sends a bulk through the proxy and checks the primary took every item.
func (b *dlqBed) write(t *testing.T, body string) {
	t.Helper()
	code, answer := httpDo(t, http.MethodPost, b.proxyURL+"/_bulk?refresh=true", body)
	if code != http.StatusOK || strings.Contains(answer, `"errors":true`) {
		t.Fatalf("bulk through the proxy: %d %s", code, answer)
	}
}

// fixMapping maps the field the target rejected.
func (b *dlqBed) fixMapping(t *testing.T) {
	t.Helper()
	if code, body := b.target.do(t, http.MethodPut, "/books/_mapping", `{"properties":{"price":{"type":"float"}}}`); code != http.StatusOK {
		t.Fatalf("fixing the mapping: %d %s", code, body)
	}
}

func (b *dlqBed) replayArgs(extra ...string) []string {
	return append([]string{"dlq", "replay", "--brokers", b.brokers, "--cluster", "b",
		"--target", b.target.url, "--primary", b.primary.url}, extra...)
}

// waitDLQ waits until the target's DLQ holds n records.
func (b *dlqBed) waitDLQ(t *testing.T, n int) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("%d records in the DLQ", n), func() bool { return dlqCount(t, b.k, "b") >= n })
	if got := dlqCount(t, b.k, "b"); got != n {
		t.Fatalf("DLQ holds %d records, want %d", got, n)
	}
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}

// TestDLQRoundTrip: documents the target's mapping rejects land in the DLQ; a replay
// before the fix fails again and keeps them (attempts + 1); a dry run changes
// nothing; after the fix a replay interrupted twice (gracefully, then as a crash
// before a commit) resumes where its progress stopped and applies all of them; the
// target then equals the primary, and replaying everything again changes nothing.
func TestDLQRoundTrip(t *testing.T) {
	b := newDLQBed(t)
	rejected, fine := ids("r", 20), ids("ok", 10)
	b.write(t, bulkBody("books", rejected, func(id string) string { return fmt.Sprintf(`{"title":"book %s","price":%d}`, id, len(id)) })+
		bulkBody("books", fine, func(id string) string { return fmt.Sprintf(`{"title":"book %s"}`, id) }))
	b.waitDLQ(t, 20)
	waitFor(t, 10*time.Second, "the accepted documents on the target", func() bool {
		_, _, ok := b.target.doc(t, "books", fine[len(fine)-1], routingOf(fine[len(fine)-1]))
		return ok
	})

	// list: grouped by error type and index.
	var list struct {
		Total  int        `json:"total"`
		Groups []dlqGroup `json:"groups"`
	}
	cliJSON(t, 0, &list, deps{}, "dlq", "list", "--brokers", b.brokers, "--cluster", "b")
	if list.Total != 20 || len(list.Groups) != 1 {
		t.Fatalf("dlq list: %+v, want one group of 20", list)
	}
	if g := list.Groups[0]; g.ErrorType != "strict_dynamic_mapping_exception" || g.Index != "books" || g.Count != 20 ||
		g.Class != "rejected" || g.Oldest == nil || g.Newest == nil || g.Newest.Before(*g.Oldest) {
		t.Fatalf("dlq list group: %+v", g)
	}

	// show: headers and a readable document.
	var shown []dlqRecord
	cliJSON(t, 0, &shown, deps{}, "dlq", "show", "--brokers", b.brokers, "--cluster", "b", "--limit", "3")
	if len(shown) != 3 {
		t.Fatalf("dlq show --limit 3 showed %d records", len(shown))
	}
	for _, r := range shown {
		if r.Event == nil || r.Event.Index != "books" || !strings.Contains(string(r.Document), `"price"`) ||
			r.Attempts != 1 || r.HTTPStatus != 400 || r.Headers["fanout-error-type"] != "strict_dynamic_mapping_exception" {
			t.Fatalf("dlq show record: %+v", r)
		}
	}
	text := cli(t, context.Background(), deps{}, nil, "dlq", "show", "--brokers", b.brokers, "--cluster", "b", "--limit", "1")
	for _, want := range []string{"strict_dynamic_mapping_exception", "document", `"price"`, "attempts", "event"} {
		if !strings.Contains(text.stdout, want) {
			t.Fatalf("dlq show text lacks %q:\n%s", want, text.stdout)
		}
	}

	// Before the fix: every record fails again and goes back with attempts + 1.
	var rep replayReport
	cliJSON(t, 1, &rep, deps{}, b.replayArgs()...)
	if rep.Selected != 20 || rep.Failed != 20 || rep.Applied != 0 || len(rep.Failures) != 20 {
		t.Fatalf("replay before the fix: %+v", rep)
	}
	if f := rep.Failures[0]; f.Attempts != 2 || f.ErrorType != "strict_dynamic_mapping_exception" {
		t.Fatalf("failure: %+v, want attempts 2", f)
	}
	if n := dlqCount(t, b.k, "b"); n != 40 {
		t.Fatalf("DLQ holds %d records after the failed replay, want 40 (20 re-published)", n)
	}
	cliJSON(t, 0, &shown, deps{}, "dlq", "show", "--brokers", b.brokers, "--cluster", "b", "--limit", "0")
	if len(shown) != 20 || shown[0].Attempts != 2 {
		t.Fatalf("pending after the failed replay: %d records, first %+v; want the 20 re-published ones", len(shown), shown[0])
	}

	b.fixMapping(t)
	applied := len(b.target.OpLog("books"))

	// Dry run: the plan, and nothing changes (target, progress).
	cliJSON(t, 0, &rep, deps{}, b.replayArgs("--dry-run")...)
	if rep.Selected != 20 || rep.WouldApply != 20 || rep.Applied != 0 || len(rep.Plan) != 20 || rep.Plan[0].Action != "index" || rep.Plan[0].Resolution != resolvedCurrent {
		t.Fatalf("dry run: %+v", rep)
	}
	if n := len(b.target.OpLog("books")); n != applied {
		t.Fatalf("dry run wrote to the target: oplog %d → %d", applied, n)
	}

	// Interrupted after two batches of 5 (as Ctrl-C would): half applied, committed.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := cli(t, ctx, deps{replay: replayHooks{afterCommit: func(batch int) {
		if batch == 2 {
			cancel()
		}
	}}}, nil, b.replayArgs("--batch", "5")...)
	if r.code != 1 || !strings.Contains(r.stderr, "interrupted") || !strings.Contains(r.stdout, "10 applied") {
		t.Fatalf("interrupted replay: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Killed before committing its first batch: applied, not committed.
	crash := errors.New("killed")
	r = cli(t, context.Background(), deps{replay: replayHooks{beforeCommit: func(batch int) error { return crash }}}, nil,
		b.replayArgs("--batch", "5")...)
	if r.code != 1 || !strings.Contains(r.stderr, "killed") {
		t.Fatalf("crashed replay: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Resumed: the 10 records after the last commit; those the crashed run applied
	// are stale now.
	cliJSON(t, 0, &rep, deps{}, b.replayArgs("--batch", "5")...)
	if rep.Selected != 10 || rep.Applied != 5 || rep.Stale != 5 || rep.Failed != 0 {
		t.Fatalf("resumed replay: %+v, want 10 selected: 5 applied, 5 stale", rep)
	}
	for _, id := range rejected {
		if _, _, ok := b.target.doc(t, "books", id, routingOf(id)); !ok {
			t.Fatalf("books/%s not on the target after the replay", id)
		}
	}
	assertConverged(t, b.primary, b.target)
	if n, _ := cliDLQPending(t, b); n != 0 {
		t.Fatalf("%d records pending after the replay", n)
	}

	// Again: nothing left; and from the start, everything is stale.
	applied = len(b.target.OpLog("books"))
	cliJSON(t, 0, &rep, deps{}, b.replayArgs()...)
	if rep.Read != 0 || rep.Selected != 0 {
		t.Fatalf("second replay: %+v, want nothing to do", rep)
	}
	cliJSON(t, 0, &rep, deps{}, b.replayArgs("--from-start")...)
	if rep.Selected != 40 || rep.Stale != 40 || rep.Applied != 0 || rep.Failed != 0 {
		t.Fatalf("replay from the start: %+v, want 40 stale", rep)
	}
	if n := len(b.target.OpLog("books")); n != applied {
		t.Fatalf("a replay of stale records wrote to the target: oplog %d → %d", applied, n)
	}
	assertConverged(t, b.primary, b.target)

	// Filters select; a filtered replay keeps its own progress.
	cliJSON(t, 0, &rep, deps{}, b.replayArgs("--from-start", "--error-type", "mapper_parsing_exception")...)
	if rep.Read != 40 || rep.Filtered != 40 || rep.Selected != 0 {
		t.Fatalf("replay filtered on another error type: %+v", rep)
	}
	cliJSON(t, 0, &rep, deps{}, b.replayArgs("--index", "book*", "--since", "1h", "--limit", "7")...)
	if rep.Selected != 7 || rep.Stale != 7 || rep.Group == replayGroup("b", filters{}) || rep.Remaining != 33 {
		t.Fatalf("filtered replay: %+v", rep)
	}
}

// cliDLQPending counts the records not replayed yet.
func cliDLQPending(t *testing.T, b *dlqBed) (int, error) {
	t.Helper()
	var out struct {
		Total int `json:"total"`
	}
	cliJSON(t, 0, &out, deps{}, "dlq", "list", "--brokers", b.brokers, "--cluster", "b")
	return out.Total, nil
}
