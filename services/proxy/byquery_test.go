package proxy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// seedBooks creates index ix (no scheduled refresh, so that a test decides what the
// search sees) with n documents {"n":i,"k":"a"|"b"} through the proxy, refreshed, and
// returns how many events that published.
func seedBooks(t *testing.T, e *env, ix string, n int) {
	t.Helper()
	if r := send(t, http.MethodPut, e.primaryURL+"/"+ix, `{"settings":{"number_of_shards":2,"refresh_interval":"-1"}}`); r.status != 200 {
		t.Fatalf("creating %s: %d %s", ix, r.status, r.body)
	}
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":%q,\"_id\":\"%d\",\"routing\":\"r%d\"}}\n{\"n\":%d,\"k\":%q}\n", ix, i, i%3, i, []string{"a", "b"}[i%2])
	}
	if r := send(t, http.MethodPost, e.url()+"/_bulk?refresh=true", b.String()); r.status != 200 || strings.Contains(string(r.body), `"errors":true`) {
		t.Fatalf("seeding %s: %d %s", ix, r.status, r.body)
	}
}

// primaryDocs is every document of ix on the primary: id → source.
func primaryDocs(t *testing.T, e *env, ix string) map[string]string {
	t.Helper()
	if r := send(t, http.MethodPost, e.primaryURL+"/"+ix+"/_refresh", ""); r.status != 200 {
		t.Fatalf("refreshing %s: %d %s", ix, r.status, r.body)
	}
	r := send(t, http.MethodPost, e.primaryURL+"/"+ix+"/_search", `{"size":1000}`)
	if r.status == http.StatusNotFound {
		return map[string]string{}
	}
	var ans struct {
		Hits struct {
			Hits []struct {
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(r.body, &ans); err != nil || r.status != 200 {
		t.Fatalf("searching %s: %d %s", ix, r.status, r.body)
	}
	out := map[string]string{}
	for _, h := range ans.Hits.Hits {
		out[h.ID] = string(h.Source)
	}
	return out
}

// TestByQueryRefusedBeforeAnyWrite: what the primary's REST handlers refuse, and what
// the proxy does not run, is refused before anything is searched or written.
func TestByQueryRefusedBeforeAnyWrite(t *testing.T) {
	e := startEnv(t, 1)
	seedBooks(t, e, "books", 4)
	before := primaryDocs(t, e, "books")
	seeded := len(e.published())
	const iae, ave, xcp = "illegal_argument_exception", "action_request_validation_exception", "x_content_parse_exception"
	cases := []struct {
		name, path, body string
		typ, reason      string
	}{
		{"wait_for_completion false", "/books/_delete_by_query?wait_for_completion=false", "", iae,
			"fanout runs _delete_by_query synchronously through the proxy, which replicates every document it changes: [wait_for_completion=false] would need a task the proxy does not run; send the request with wait_for_completion=true (the default) and a client timeout long enough for it"},
		{"slices 2", "/books/_update_by_query?slices=2", "", iae,
			"fanout runs _update_by_query as one slice: [slices=2] is not supported through the proxy; use slices=1 or slices=auto"},
		{"slices 0", "/books/_delete_by_query?slices=0", "", iae, `[slices] must be a positive integer or the string "auto", but was [0]`},
		{"slices word", "/_reindex?slices=many", `{"source":{"index":"books"},"dest":{"index":"b2"}}`, iae, `[slices] must be a positive integer or the string "auto", but was [many]`},
		{"requests_per_second 0", "/books/_delete_by_query?requests_per_second=0", "", iae, "[requests_per_second] must be a float greater than 0. Use -1 to disable throttling."},
		{"conflicts in the query", "/books/_delete_by_query?conflicts=maybe", "", iae, `conflicts may only be "proceed" or "abort" but was [maybe]`},
		{"conflicts in the body", "/books/_delete_by_query", `{"conflicts":"never"}`, iae, `conflicts may only be "proceed" or "abort" but was [never]`},
		{"negative max_docs", "/books/_delete_by_query?max_docs=-1", "", iae, "[max_docs] parameter cannot be negative, found [-1]"},
		{"max_docs 0", "/books/_delete_by_query", `{"max_docs":0}`, ave, "Validation Failed: 1: maxDocs should be greater than 0 if the request is limited to some number of documents or -1 if it isn't but it was [0];"},
		{"max_docs twice", "/books/_delete_by_query?max_docs=2", `{"max_docs":3}`, iae, "[max_docs] set to two different values [3] and [2]"},
		{"size and max_docs", "/books/_update_by_query?size=3", `{"max_docs":2}`, iae, "[max_docs] set to two different values [2] and [3]"},
		{"max_docs in the body and the query", "/books/_update_by_query?max_docs=3", `{"max_docs":2}`, iae, "[max_docs] set to two different values [2] and [3]"},
		{"max_docs not a number", "/books/_delete_by_query?max_docs=many", "", iae, "Failed to parse int parameter [max_docs] with value [many]"},
		{"from", "/books/_delete_by_query?from=2", "", ave, "Validation Failed: 1: from is not supported in this context;"},
		{"unknown parameter", "/books/_delete_by_query?colour=red", "", iae, "request [/books/_delete_by_query] contains unrecognized parameter: [colour]"},
		{"pipeline on delete-by-query", "/books/_delete_by_query?pipeline=p", "", iae, "request [/books/_delete_by_query] contains unrecognized parameter: [pipeline]"},
		{"refresh not a boolean", "/books/_delete_by_query?refresh=yes", "", iae, "Failed to parse value [yes] as only [true] or [false] are allowed."},
		{"scroll not a time", "/books/_delete_by_query?scroll=long", "", iae, "failed to parse setting [scroll] with value [long] as a time value: unit is missing or unrecognized"},
		{"timeout not a time", "/books/_update_by_query?timeout=10", "", iae, "failed to parse setting [timeout] with value [10] as a time value: unit is missing or unrecognized"},
		{"scroll_size not a number", "/books/_update_by_query?scroll_size=big", "", iae, "Failed to parse int parameter [scroll_size] with value [big]"},
		{"stored_fields", "/books/_delete_by_query", `{"stored_fields":["n"]}`, ave, "Validation Failed: 1: stored_fields is not supported in this context;"},
		{"body not JSON", "/books/_delete_by_query", `{"query":`, "parse_exception", ""},
		{"reindex pipeline parameter", "/_reindex?pipeline=p", `{"source":{"index":"books"},"dest":{"index":"b2"}}`, iae,
			"_reindex doesn't support [pipeline] as a query parameter. Specify it in the [dest] object instead."},
		{"reindex script", "/_reindex", `{"source":{"index":"books"},"dest":{"index":"b2"},"script":{"source":"ctx._source.n++"}}`, iae,
			"fanout does not run reindex scripts: the proxy runs _reindex itself to replicate every document it writes, and it has no Painless engine to run the script on each document; reindex without a script, then change the documents with _update_by_query and a script, which the primary runs"},
		{"remote reindex", "/_reindex", `{"source":{"index":"books","remote":{"host":"http://other:9200"}},"dest":{"index":"b2"}}`, iae,
			"fanout does not run remote reindex: the proxy replicates what its own primary accepts, and documents read from another cluster would need that cluster's consistent view; run the remote reindex on a cluster outside fanout, or reindex locally on the primary"},
		{"reindex without dest", "/_reindex", `{"source":{"index":"books"}}`, ave, "Validation Failed: 1: index must be specified;"},
		{"reindex without source", "/_reindex", `{"dest":{"index":"b2"}}`, ave, "Validation Failed: 1: use _all if you really want to copy from all existing indexes;"},
		{"reindex into itself", "/_reindex", `{"source":{"index":"books"},"dest":{"index":"books"}}`, ave, "Validation Failed: 1: reindex cannot write into an index its reading from [books];"},
		{"reindex op_type", "/_reindex", `{"source":{"index":"books"},"dest":{"index":"b2","op_type":"upsert"}}`, iae, "opType must be 'create' or 'index', found: [upsert]"},
		{"reindex routing", "/_reindex", `{"source":{"index":"books"},"dest":{"index":"b2","routing":"copy"}}`, iae, "Unsupported routing command [copy]"},
		{"reindex unknown field", "/_reindex", `{"source":{"index":"books"},"dest":{"index":"b2"},"colour":1}`, xcp, "[reindex] unknown field [colour]"},
		{"reindex without body", "/_reindex", "", "parse_exception", "request body is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := send(t, http.MethodPost, e.url()+c.path, c.body)
			ans := r.json(t)
			errObj, _ := ans["error"].(map[string]any)
			if r.status != http.StatusBadRequest || errObj["type"] != c.typ || c.reason != "" && errObj["reason"] != c.reason || ans["status"] != float64(400) {
				t.Fatalf("%d %s\nwant 400 %s %q", r.status, r.body, c.typ, c.reason)
			}
		})
	}
	if after := primaryDocs(t, e, "books"); !reflect.DeepEqual(after, before) {
		t.Errorf("a refused request changed the primary: %v, was %v", after, before)
	}
	if r := send(t, http.MethodHead, e.primaryURL+"/b2", ""); r.status != http.StatusNotFound {
		t.Errorf("a refused reindex created its destination: %d", r.status)
	}
	e.noNewEvents(seeded)
}

// byQueryAnswer is the by-query answer's shape.
type byQueryAnswer struct {
	Took             *int64            `json:"took"`
	TimedOut         bool              `json:"timed_out"`
	Total            int64             `json:"total"`
	Updated          int64             `json:"updated"`
	Created          int64             `json:"created"`
	Deleted          int64             `json:"deleted"`
	Batches          int64             `json:"batches"`
	VersionConflicts int64             `json:"version_conflicts"`
	Noops            int64             `json:"noops"`
	Retries          map[string]int64  `json:"retries"`
	RequestsPerSec   float64           `json:"requests_per_second"`
	Failures         []json.RawMessage `json:"failures"`
}

// counts are the by-query answer's counts.
type counts struct{ Total, Updated, Created, Deleted, Batches, VersionConflicts, Noops int64 }

func decodeByQuery(t *testing.T, r response) byQueryAnswer {
	t.Helper()
	var a byQueryAnswer
	if err := json.Unmarshal(r.body, &a); err != nil || a.Took == nil {
		t.Fatalf("not a by-query answer (%d): %s", r.status, r.body)
	}
	return a
}

// topKeys lists a JSON object's keys in order.
func topKeys(t *testing.T, body []byte) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var ks []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return ks
}

// TestByQueryAnswersAndEvents runs each API through the proxy and checks the answer
// against BulkByScrollResponse's shape and the events against the primary's state.
func TestByQueryAnswersAndEvents(t *testing.T) {
	e := startEnv(t, 1)
	seedBooks(t, e, "books", 9)
	seen := e.published()
	tail := []string{"batches", "version_conflicts", "noops", "retries", "throttled_millis", "requests_per_second", "throttled_until_millis", "failures"}
	cases := []struct {
		name, path, body string
		keys             []string
		want             counts
		kinds            map[opspb.Kind]int
		index            string // of the events
	}{
		{"update by query without script", "/books/_update_by_query?q=k:a&scroll_size=2&refresh", "",
			append([]string{"took", "timed_out", "total", "updated", "deleted"}, tail...),
			counts{Total: 5, Updated: 5, Batches: 3}, map[opspb.Kind]int{opspb.Kind_KIND_INDEX: 5}, "books"},
		{"reindex", "/_reindex?refresh=true", `{"source":{"index":"books","size":4,"query":{"term":{"k":"b"}}},"dest":{"index":"copy","routing":"=x"}}`,
			append([]string{"took", "timed_out", "total", "updated", "created", "deleted"}, tail...),
			counts{Total: 4, Created: 4, Batches: 1}, map[opspb.Kind]int{opspb.Kind_KIND_INDEX: 4}, "copy"},
		{"reindex again overwrites", "/_reindex?refresh=true", `{"source":{"index":"books","query":{"term":{"k":"b"}}},"dest":{"index":"copy","routing":"=x"}}`,
			append([]string{"took", "timed_out", "total", "updated", "created", "deleted"}, tail...),
			counts{Total: 4, Updated: 4, Batches: 1}, map[opspb.Kind]int{opspb.Kind_KIND_INDEX: 4}, "copy"},
		{"reindex create conflicts proceed", "/_reindex", `{"source":{"index":"books","query":{"term":{"k":"b"}}},"dest":{"index":"copy","op_type":"create","routing":"=x"},"conflicts":"proceed"}`,
			append([]string{"took", "timed_out", "total", "updated", "created", "deleted"}, tail...),
			counts{Total: 4, VersionConflicts: 4, Batches: 1}, map[opspb.Kind]int{}, "copy"},
		{"delete by query with max_docs", "/books/_delete_by_query?refresh&scroll_size=2&slices=1", `{"query":{"term":{"k":"a"}},"max_docs":3}`,
			append([]string{"took", "timed_out", "total", "deleted"}, tail...),
			counts{Total: 3, Deleted: 3, Batches: 2}, map[opspb.Kind]int{opspb.Kind_KIND_DELETE: 3}, "books"},
		{"throttled", "/books/_update_by_query?q=k:b&scroll_size=2&requests_per_second=100&refresh", "",
			append([]string{"took", "timed_out", "total", "updated", "deleted"}, tail...),
			counts{Total: 4, Updated: 4, Batches: 2}, map[opspb.Kind]int{opspb.Kind_KIND_INDEX: 4}, "books"},
		{"size as max_docs", "/books/_update_by_query?q=k:b&size=1&refresh", "",
			append([]string{"took", "timed_out", "total", "updated", "deleted"}, tail...),
			counts{Total: 1, Updated: 1, Batches: 1}, map[opspb.Kind]int{opspb.Kind_KIND_INDEX: 1}, "books"},
		{"filter_path", "/books/_delete_by_query?refresh&filter_path=deleted,failures&q=n:1", "",
			[]string{"deleted", "failures"}, counts{Deleted: 1}, map[opspb.Kind]int{opspb.Kind_KIND_DELETE: 1}, "books"},
		{"sorted by the query string", "/books/_update_by_query?q=k:b&sort=n:desc&max_docs=2&scroll_size=1&refresh", "",
			append([]string{"took", "timed_out", "total", "updated", "deleted"}, tail...),
			counts{Total: 2, Updated: 2, Batches: 2}, map[opspb.Kind]int{opspb.Kind_KIND_INDEX: 2}, "books"},
		{"nothing matches", "/books/_delete_by_query?q=k:c", "",
			append([]string{"took", "timed_out", "total", "deleted"}, tail...),
			counts{}, map[opspb.Kind]int{}, "books"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := send(t, http.MethodPost, e.url()+c.path, c.body)
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if ks := topKeys(t, r.body); !reflect.DeepEqual(ks, c.keys) {
				t.Errorf("keys %v\nwant %v", ks, c.keys)
			}
			var a byQueryAnswer
			_ = json.Unmarshal(r.body, &a)
			got := counts{Total: a.Total, Updated: a.Updated, Created: a.Created, Deleted: a.Deleted, Batches: a.Batches, VersionConflicts: a.VersionConflicts, Noops: a.Noops}
			if got != c.want {
				t.Errorf("counts %+v, want %+v: %s", got, c.want, r.body)
			}
			if c.name == "throttled" {
				// Two batches of 2 at 100 a second: 20 ms waited after each.
				var th struct {
					Throttled int64   `json:"throttled_millis"`
					RPS       float64 `json:"requests_per_second"`
				}
				if json.Unmarshal(r.body, &th) != nil || th.Throttled < 40 || th.RPS != 100 || !strings.Contains(string(r.body), `"requests_per_second":100.0,`) {
					t.Errorf("throttling: %s", r.body)
				}
			} else if c.keys[0] == "took" && (a.RequestsPerSec != -1 || a.Retries["bulk"] != 0 || a.Failures == nil || len(a.Failures) != 0) {
				t.Errorf("answer %s", r.body)
			}
			all := e.published()
			ops := newEvents(seen, all)
			seen = all
			kinds := map[opspb.Kind]int{}
			for _, op := range ops {
				kinds[op.GetKind()]++
				if op.GetIndex() != c.index {
					t.Errorf("event for %s/%s", op.GetIndex(), op.GetId())
				}
				checkAgainstPrimary(t, e, op)
			}
			if !reflect.DeepEqual(kinds, c.kinds) {
				t.Errorf("events %v, want %v", kinds, c.kinds)
			}
		})
	}
}

// checkAgainstPrimary asserts that an event is the primary's current state of its
// document (no test here writes a document twice between two checks).
func checkAgainstPrimary(t *testing.T, e *env, op *opspb.Operation) {
	t.Helper()
	u := e.primaryURL + "/" + op.GetIndex() + "/_doc/" + url.PathEscape(op.GetId())
	if op.GetRouting() != "" {
		u += "?routing=" + url.QueryEscape(op.GetRouting())
	}
	r := send(t, http.MethodGet, u, "")
	ans := r.json(t)
	switch op.GetKind() {
	case opspb.Kind_KIND_DELETE:
		if ans["found"] != false {
			t.Errorf("delete event of %s/%s, the primary has it: %s", op.GetIndex(), op.GetId(), r.body)
		}
	default:
		src, _ := json.Marshal(ans["_source"])
		var evSrc any
		_ = json.Unmarshal(op.GetSource(), &evSrc)
		want, _ := json.Marshal(evSrc)
		if ans["found"] != true || string(src) != string(want) || int64(ans["_version"].(float64)) != op.GetVersion() ||
			int64(ans["_seq_no"].(float64)) != op.GetSeqNo() {
			t.Errorf("event %s/%s v%d seq %d %s, the primary has %s", op.GetIndex(), op.GetId(), op.GetVersion(), op.GetSeqNo(), op.GetSource(), r.body)
		}
	}
}

// TestByQueryConflicts: a document changed after the search that found it is a version
// conflict, never overwritten: with conflicts=abort the operation stops after its batch
// with the conflict as a failure, as OpenSearch reports it (status 409); with proceed it
// is counted and the operation goes on.
func TestByQueryConflicts(t *testing.T) {
	e := startEnv(t, 1)
	for _, c := range []struct {
		name, conflicts string
		status          int
	}{{"abort", "", http.StatusConflict}, {"proceed", "&conflicts=proceed", http.StatusOK}} {
		t.Run(c.name, func(t *testing.T) {
			ix := "conflicts-" + c.name
			seedBooks(t, e, ix, 6)
			// Written after the last refresh: the search sees the older seq_no.
			if r := send(t, http.MethodPut, e.url()+"/"+ix+"/_doc/2?routing=r2", `{"n":2,"k":"a","mine":true}`); r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			seen := e.published()
			r := send(t, http.MethodPost, e.url()+"/"+ix+"/_delete_by_query?scroll_size=10"+c.conflicts, "")
			a := decodeByQuery(t, r)
			if r.status != c.status || a.VersionConflicts != 1 || a.Deleted != 5 || a.Total != 6 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if c.name == "abort" {
				var f struct {
					Index, ID string
					Cause     map[string]any
					Status    int
				}
				if len(a.Failures) != 1 || json.Unmarshal(a.Failures[0], &f) != nil || f.Index != ix || f.ID != "2" || f.Status != 409 ||
					f.Cause["type"] != "version_conflict_engine_exception" || !strings.HasPrefix(fmt.Sprint(f.Cause["reason"]), "[2]: version conflict, required seqNo [") {
					t.Fatalf("failures %s", r.body)
				}
				if ks := topKeys(t, a.Failures[0]); !reflect.DeepEqual(ks, []string{"index", "id", "cause", "status"}) {
					t.Errorf("failure keys %v", ks)
				}
			} else if len(a.Failures) != 0 {
				t.Fatalf("failures with proceed: %s", r.body)
			}
			if docs := primaryDocs(t, e, ix); len(docs) != 1 || docs["2"] != `{"n":2,"k":"a","mine":true}` {
				t.Fatalf("the concurrent write was not kept: %v", docs)
			}
			if ops := newEvents(seen, e.published()); len(ops) != 5 {
				t.Fatalf("%d events, want the 5 deletes", len(ops))
			}
		})
	}
}

// TestByQueryAbortStopsAfterTheBatch: with conflicts=abort the batches after the one
// with the conflict are not run.
func TestByQueryAbortStopsAfterTheBatch(t *testing.T) {
	e := startEnv(t, 1)
	seedBooks(t, e, "abort", 6)
	// Every document conflicts: the first batch of 2 ends the operation.
	var b strings.Builder
	for i := 0; i < 6; i++ {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":\"abort\",\"_id\":\"%d\",\"routing\":\"r%d\"}}\n{\"n\":%d,\"again\":true}\n", i, i%3, i)
	}
	if r := send(t, http.MethodPost, e.url()+"/_bulk", b.String()); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	r := send(t, http.MethodPost, e.url()+"/abort/_update_by_query?scroll_size=2", "")
	a := decodeByQuery(t, r)
	if r.status != http.StatusConflict || a.Batches != 1 || a.VersionConflicts != 2 || len(a.Failures) != 2 || a.Updated != 0 {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

// TestUpdateByQueryScriptFailures: until the primary runs scripts, a script it rejects
// gives per-document failures as OpenSearch reports them, and changes nothing.
func TestUpdateByQueryScriptFailures(t *testing.T) {
	e := startEnv(t, 1)
	seedBooks(t, e, "scripted", 4)
	before := primaryDocs(t, e, "scripted")
	seen := len(e.published())
	r := send(t, http.MethodPost, e.url()+"/scripted/_update_by_query?scroll_size=3",
		`{"query":{"match_all":{}},"script":{"source":"ctx._source.n++","lang":"expression"}}`)
	a := decodeByQuery(t, r)
	if r.status != http.StatusBadRequest || a.Batches != 1 || len(a.Failures) != 3 || a.Updated != 0 || a.Total != 4 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var f struct {
		Index, ID string
		Cause     struct {
			Type, Reason string
			CausedBy     map[string]any `json:"caused_by"`
		}
		Status int
	}
	if err := json.Unmarshal(a.Failures[0], &f); err != nil || f.Index != "scripted" || f.Status != 400 ||
		f.Cause.Type != "illegal_argument_exception" || f.Cause.Reason != "failed to execute script" || f.Cause.CausedBy == nil {
		t.Fatalf("failure %s", a.Failures[0])
	}
	if after := primaryDocs(t, e, "scripted"); !reflect.DeepEqual(after, before) {
		t.Errorf("a failed script changed the primary: %v", after)
	}
	e.noNewEvents(seen)
}

// TestByQuerySearchErrorsPassThrough: a search the primary refuses (a missing index, a
// bad query) ends the operation with the primary's error, as its own by-query does.
func TestByQuerySearchErrorsPassThrough(t *testing.T) {
	e := startEnv(t, 1)
	for _, c := range []struct {
		path, body string
		status     int
		typ        string
	}{
		{"/missing/_delete_by_query", "", 404, "index_not_found_exception"},
		{"/_reindex", `{"source":{"index":"missing"},"dest":{"index":"d"}}`, 404, "index_not_found_exception"},
		{"/missing/_update_by_query", `{"query":{"no_such_query":{}}}`, 400, ""},
	} {
		r := send(t, http.MethodPost, e.url()+c.path, c.body)
		ans := r.json(t)
		errObj, _ := ans["error"].(map[string]any)
		if r.status != c.status || errObj == nil || c.typ != "" && errObj["type"] != c.typ {
			t.Errorf("%s: %d %s", c.path, r.status, r.body)
		}
	}
	e.noEvents()
}

// TestByQueryKafkaFailsMidway: Kafka refusing the events of the second batch stops the
// operation there with the replication error of the write path, naming the documents
// applied and not queued, and saying what the first batch did.
func TestByQueryKafkaFailsMidway(t *testing.T) {
	e := startEnv(t, 0)
	var mu sync.Mutex
	bulks := 0
	var fault interface{ Remove() }
	front := frontPrimary(t, e.primaryURL, func(_ http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/_bulk") && r.Header.Get("X-Opaque-Id") == "midway" {
			mu.Lock()
			defer mu.Unlock()
			if bulks++; bulks == 2 {
				fault = e.kafka.FailProduce(0, kerr.MessageTooLarge)
			}
		}
		return false
	})
	cfg := e.config()
	cfg.Primary.Endpoints = []string{front}
	cfg.Publish.Timeout = 2 * time.Second
	e.proxies = append(e.proxies, startProxy(t, cfg))
	seedBooks(t, e, "midway", 6)
	before := e.published()

	r := call(t, http.MethodPost, e.url()+"/midway/_delete_by_query?scroll_size=2", "", "X-Opaque-Id", "midway")
	mu.Lock()
	defer mu.Unlock()
	if fault == nil {
		t.Fatalf("the second batch never came: %d %s", r.status, r.body)
	}
	fault.Remove()
	ans := r.json(t)
	errObj, _ := ans["error"].(map[string]any)
	reason := fmt.Sprint(errObj["reason"])
	applied, _ := errObj["fanout.applied"].([]any)
	if r.status != http.StatusServiceUnavailable || errObj["type"] != "fanout_replication_exception" || len(applied) != 2 ||
		!strings.HasPrefix(reason, "_delete_by_query stopped at batch 2: the primary applied 2 writes but ") ||
		!strings.HasSuffix(reason, "; before it, 0 documents were created, 0 updated and 2 deleted on the primary and replicated (0 noops, 0 version conflicts)") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// The third batch was never run; the first batch's deletes are in Kafka.
	if docs := primaryDocs(t, e, "midway"); len(docs) != 2 {
		t.Fatalf("primary has %d documents, want the 2 of the batch never run", len(docs))
	}
	var deletes []string
	for _, op := range newEvents(before, decodeAll(t, e.kafka.ConsumeAll(t, topic, eventWait))) {
		if op.GetIndex() == "midway" && op.GetKind() == opspb.Kind_KIND_DELETE {
			deletes = append(deletes, op.GetId())
		}
	}
	if len(deletes) < 2 {
		t.Fatalf("deletes in Kafka: %v, want at least the first batch's 2", deletes)
	}
}

// newEvents is what all holds that before does not: the topic is read partition by
// partition, so new events are not all at the end.
func newEvents(before, all []*opspb.Operation) []*opspb.Operation {
	key := func(op *opspb.Operation) string {
		return fmt.Sprintf("%v %s/%s %d/%d v%d", op.GetKind(), op.GetIndex(), op.GetId(), op.GetSeqNo(), op.GetPrimaryTerm(), op.GetVersion())
	}
	had := map[string]int{}
	for _, op := range before {
		had[key(op)]++
	}
	var out []*opspb.Operation
	for _, op := range all {
		if k := key(op); had[k] > 0 {
			had[k]--
			continue
		}
		out = append(out, op)
	}
	return out
}

// frontPrimary serves a reverse proxy to the primary at target on 127.0.0.1 that calls
// hook with each request before forwarding it; a hook that answered it stops it there.
func frontPrimary(t *testing.T, target string, hook func(http.ResponseWriter, *http.Request) (answered bool)) string {
	t.Helper()
	tu, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(tu)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hook(w, r) {
			rp.ServeHTTP(w, r)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestByQueryPrimaryGoneMidway: the primary going away between batches (its
// connection closed without an answer to the scroll, as a crashed node's) stops the
// operation with what was done; what was applied was replicated.
func TestByQueryPrimaryGoneMidway(t *testing.T) {
	e := startEnv(t, 0)
	var mu sync.Mutex
	scrolls := 0
	front := frontPrimary(t, e.primaryURL, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/_search/scroll" || r.Method != http.MethodPost {
			return false
		}
		mu.Lock()
		scrolls++
		mu.Unlock()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return false
		}
		_ = conn.Close()
		return true
	})
	cfg := e.config()
	cfg.Primary.Endpoints = []string{front}
	e.proxies = append(e.proxies, startProxy(t, cfg))
	seedBooks(t, e, "gone", 5)
	before := e.published()

	r := send(t, http.MethodPost, e.url()+"/gone/_update_by_query?scroll_size=2", "")
	mu.Lock()
	defer mu.Unlock()
	ans := r.json(t)
	errObj, _ := ans["error"].(map[string]any)
	reason := fmt.Sprint(errObj["reason"])
	if r.status != http.StatusBadGateway || scrolls != 1 || errObj["type"] != "fanout_primary_exception" ||
		!strings.HasPrefix(reason, "the primary cluster could not be reached while searching the documents to change; _update_by_query stopped there [request id ") ||
		!strings.HasSuffix(reason, "; before it, 0 documents were created, 2 updated and 0 deleted on the primary and replicated (0 noops, 0 version conflicts)") {
		t.Fatalf("%d %s (scrolls %d)", r.status, r.body, scrolls)
	}
	ops := newEvents(before, e.published())
	for _, op := range ops {
		checkAgainstPrimary(t, e, op)
	}
	if len(ops) != 2 {
		t.Fatalf("%d events, want the first batch's 2", len(ops))
	}
}

// TestByQueryBatchOverBudget: a batch is held in limits.max_inflight_bytes; one that
// cannot fit is refused with 429 and what was done, before its bulk is sent.
func TestByQueryBatchOverBudget(t *testing.T) {
	e := startEnv(t, 1, func(c *proxy.Config) { c.Limits.MaxInflightBytes, c.Limits.MaxBodyBytes = 1<<20, 256<<10 })
	// Written on the primary directly: 8 documents of 100 KiB.
	big := strings.Repeat("x", 100<<10)
	var b strings.Builder
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":\"big\",\"_id\":\"%d\"}}\n{\"blob\":%q}\n", i, big)
	}
	if r := send(t, http.MethodPost, e.primaryURL+"/_bulk?refresh=true", b.String()); r.status != 200 {
		t.Fatalf("%d %.300s", r.status, r.body)
	}
	// Two documents a batch fit; the batch of six after them does not.
	r := send(t, http.MethodPost, e.url()+"/big/_update_by_query?scroll_size=2&max_docs=2", "")
	if a := decodeByQuery(t, r); r.status != 200 || a.Updated != 2 {
		t.Fatalf("%d %.500s", r.status, r.body)
	}
	r = send(t, http.MethodPost, e.url()+"/big/_update_by_query?scroll_size=6", "")
	ans := r.json(t)
	errObj, _ := ans["error"].(map[string]any)
	if r.status != http.StatusTooManyRequests || errObj["type"] != "rejected_execution_exception" ||
		!strings.Contains(fmt.Sprint(errObj["reason"]), "retry later or with a smaller scroll_size") {
		t.Fatalf("%d %.500s", r.status, r.body)
	}
	e.noNewEvents(2)
}

// TestByQueryOnElasticsearch7: against an Elasticsearch 7 primary the typeless APIs
// run and replicate as on OpenSearch (its hits carry _type, which the proxy's typeless
// bulk items leave out); the typed forms are refused before anything is written.
func TestByQueryOnElasticsearch7(t *testing.T) {
	e := startFlavorEnv(t, searchemu.Elasticsearch7)
	seedBooks(t, e, "books", 6)
	seen := e.published()
	r := send(t, http.MethodPost, e.url()+"/books/doc/_delete_by_query", "")
	if ans := r.json(t); r.status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(ans["error"]),
		"fanout does not run the typed _delete_by_query (/{index}/{type}/_delete_by_query): use /{index}/_delete_by_query") {
		t.Fatalf("typed: %d %s", r.status, r.body)
	}
	if docs := primaryDocs(t, e, "books"); len(docs) != 6 {
		t.Fatalf("the refused typed delete-by-query changed the primary: %v", docs)
	}
	r = send(t, http.MethodPost, e.url()+"/books/_delete_by_query?q=k:a&refresh&slices=auto", "")
	if a := decodeByQuery(t, r); r.status != http.StatusOK || a.Deleted != 3 || a.Total != 3 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	ops := newEvents(seen, e.published())
	for _, op := range ops {
		checkAgainstPrimary(t, e, op)
	}
	if len(ops) != 3 {
		t.Fatalf("%d events, want 3 deletes", len(ops))
	}
}

// TestByQueryRetriesRejectedBulks: a bulk the primary rejects (429) as a whole is sent
// again after OpenSearch's backoff, and so are the items it rejects one by one, only
// those; each retry is counted in retries.bulk.
func TestByQueryRetriesRejectedBulks(t *testing.T) {
	e := startEnv(t, 0)
	tu, err := url.Parse(e.primaryURL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(tu)
	var mu sync.Mutex
	var sent [][]string     // the ids of each by-query bulk, in order
	var rejected [][]string // the ids each rejected item by item
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/_bulk") || r.Header.Get("X-Opaque-Id") != "rejected" {
			rp.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var ids []string
		for _, l := range strings.Split(string(body), "\n") {
			var m map[string]struct {
				ID string `json:"_id"`
			}
			if json.Unmarshal([]byte(l), &m) == nil {
				ids = append(ids, m["delete"].ID)
			}
		}
		mu.Lock()
		sent = append(sent, ids)
		switch len(sent) {
		case 1: // the first batch's bulk: rejected whole
			e.primary.SetFaults(searchemu.Faults{Request429Ratio: 1})
		case 2: // its retry: about half of the items rejected
			e.primary.SetFaults(searchemu.Faults{BulkItem429Ratio: 0.5})
		default:
			e.primary.SetFaults(searchemu.Faults{})
		}
		mu.Unlock()
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		var ans struct {
			Items []map[string]struct {
				ID     string `json:"_id"`
				Status int    `json:"status"`
			} `json:"items"`
		}
		var rej []string
		if json.Unmarshal(rec.Body.Bytes(), &ans) == nil {
			for _, it := range ans.Items {
				if it["delete"].Status == http.StatusTooManyRequests {
					rej = append(rej, it["delete"].ID)
				}
			}
		}
		mu.Lock()
		rejected = append(rejected, rej)
		mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	cfg := e.config()
	cfg.Primary.Endpoints = []string{"http://" + ln.Addr().String()}
	e.proxies = append(e.proxies, startProxy(t, cfg))
	seedBooks(t, e, "rejected", 12)
	before := e.published()

	r := call(t, http.MethodPost, e.url()+"/rejected/_delete_by_query?scroll_size=20", "", "X-Opaque-Id", "rejected")
	a := decodeByQuery(t, r)
	mu.Lock()
	defer mu.Unlock()
	wantBulks := 2
	if len(rejected) > 1 && len(rejected[1]) > 0 {
		wantBulks = 3
		if !reflect.DeepEqual(sent[2], rejected[1]) {
			t.Errorf("the retry sent %v, the primary had rejected %v", sent[2], rejected[1])
		}
	}
	if r.status != http.StatusOK || a.Deleted != 12 || a.Retries["bulk"] != int64(wantBulks-1) || a.Batches != 1 || len(sent) != wantBulks ||
		len(sent[0]) != 12 || !reflect.DeepEqual(sent[1], sent[0]) {
		t.Fatalf("%d %s; bulks sent %v, rejected items %v", r.status, r.body, sent, rejected)
	}
	if ops := newEvents(before, e.published()); len(ops) != 12 {
		t.Fatalf("%d events, want the 12 deletes", len(ops))
	}
	t.Logf("bulks sent %v; rejected item by item %v", sent, rejected)
}

// TestByQueryPipelines: update-by-query's pipeline parameter and reindex's dest.pipeline
// reach each write (the emulator has no pipelines: a named one does not exist, a
// per-document failure that stops the operation), and nothing is changed.
func TestByQueryPipelines(t *testing.T) {
	e := startEnv(t, 1)
	seedBooks(t, e, "piped", 3)
	seen := e.published()
	for _, c := range []struct{ path, body string }{
		{"/piped/_update_by_query?pipeline=enrich", ""},
		{"/_reindex", `{"source":{"index":"piped"},"dest":{"index":"piped2","pipeline":"enrich"}}`},
	} {
		r := send(t, http.MethodPost, e.url()+c.path, c.body)
		a := decodeByQuery(t, r)
		var f struct {
			Cause struct{ Type, Reason string }
		}
		if r.status != http.StatusBadRequest || len(a.Failures) != 3 || json.Unmarshal(a.Failures[0], &f) != nil ||
			f.Cause.Reason != "pipeline with id [enrich] does not exist" || a.Updated+a.Created != 0 {
			t.Fatalf("%s: %d %s", c.path, r.status, r.body)
		}
	}
	e.noNewEvents(len(seen))
}
