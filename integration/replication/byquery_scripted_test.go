package replication_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestScriptedUpdateByQueryUnderConcurrentWriters: an update-by-query whose script
// increments a counter, deletes some documents (ctx.op = "delete") and leaves others
// (ctx.op = "noop"), while writers rewrite documents of the same group: the primary runs
// the script, no concurrent write is overwritten, and both targets converge.
func TestScriptedUpdateByQueryUnderConcurrentWriters(t *testing.T) {
	s := startBQStack(t)
	s.create(t, "sbq")
	acts := []string{"inc", "delete", "noop"}
	var b strings.Builder
	for n := 0; n < bqDocs; n++ {
		meta := fmt.Sprintf(`"_index":"sbq","_id":"d-%d"`, n)
		if r := bqRouting(n); r != "" {
			meta += fmt.Sprintf(`,"routing":%q`, r)
		}
		fmt.Fprintf(&b, "{\"index\":{%s}}\n{\"n\":%d,\"grp\":%q,\"act\":%q,\"c\":0}\n", meta, n, []string{"x", "y"}[n%2], acts[(n/2)%3])
	}
	if code, ans := httpDo(t, http.MethodPost, s.proxy+"/_bulk?refresh=true", b.String()); code != 200 || strings.Contains(string(ans), `"errors":true`) {
		t.Fatalf("seeding: %d %.300s", code, ans)
	}
	w := startWriters(t, s.proxy, "sbq")
	script := `{"query":{"term":{"grp":"x"}},"script":{"lang":"painless","params":{"k":5},"source":` +
		`"if (ctx._source.act == 'delete') { ctx.op = 'delete' } else if (ctx._source.act == 'noop') { ctx.op = 'noop' } else { ctx._source.c += params.k }"}}`
	code, a, ans := byQuery(t, s.proxy+fmt.Sprintf("/sbq/_update_by_query?conflicts=proceed&scroll_size=%d", bqBatch), script)
	w.finish(t)
	half := int64(bqDocs / 2)
	if code != http.StatusOK || a.Total != half || a.Updated+a.Deleted+a.Noops+a.VersionConflicts != half ||
		a.VersionConflicts < bqWriters*2 || a.Deleted == 0 || a.Noops == 0 || len(a.Failures) != 0 {
		t.Fatalf("%d %s", code, ans)
	}
	w.kept(t, s.primary.url, "sbq")
	for n := 0; n < bqDocs; n += 2 {
		if _, written := w.last[n]; written {
			continue
		}
		found, src := docState(t, s.primary.url, "sbq", n)
		var doc struct{ C int }
		_ = json.Unmarshal(src, &doc)
		switch act := acts[(n/2)%3]; {
		case act == "delete" && found, act != "delete" && !found:
			t.Errorf("d-%d (%s): found %t", n, act, found)
		case act == "inc" && doc.C != 5, act == "noop" && doc.C != 0:
			t.Errorf("d-%d (%s): %s", n, act, src)
		}
	}
	s.converged(t)
}
