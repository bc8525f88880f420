package replication_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/services/proxy/proxytest"
)

// The by-query suites: _delete_by_query, _update_by_query and _reindex sent through the
// proxy, which runs them as its own scroll of the primary and guarded bulks, while other
// clients write the same documents through the proxy. Each index is created without a
// scheduled refresh and seeded with a refresh, so the operation's search sees the seeded
// documents and every concurrent write after it is one its guarded write must not
// overwrite. Every case ends with both targets equal to the primary, versions included.

const (
	bqDocs    = 240 // documents per index
	bqWriters = 3   // concurrent writers, each owning every bqWriters-th document
	bqBatch   = 40  // scroll_size
)

// bqStack is a pipeline with two targets, each with its replicator.
type bqStack struct {
	*pipeline
	targets []*emulator
	groups  []string
}

func startBQStack(t *testing.T) *bqStack {
	t.Helper()
	s := &bqStack{pipeline: startPipeline(t, 4)}
	for _, name := range []string{"b", "c"} {
		target := startTarget(t, name, "")
		s.targets = append(s.targets, target)
		s.groups = append(s.groups, startReplicator(t, testConfig(s.kafka, target, name)).Group())
	}
	return s
}

// converged waits for both replicators and compares both targets with the primary.
func (s *bqStack) converged(t *testing.T) {
	t.Helper()
	for i, target := range s.targets {
		waitCaughtUp(t, s.kafka, s.groups[i], 2*time.Minute)
		rep := assertConverged(t, s.primary, target, nil)
		t.Logf("target %s: %d documents converged", target.url, rep.Compared)
	}
}

// bqRouting is document n's routing ("" for none): every third is routed, so that a
// by-query write that lost the hit's routing would miss the document.
func bqRouting(n int) string {
	if n%3 == 0 {
		return "r" + fmt.Sprint(n%4)
	}
	return ""
}

func docURL(base, ix string, n int) string {
	u := fmt.Sprintf("%s/%s/_doc/d-%d", base, ix, n)
	if r := bqRouting(n); r != "" {
		u += "?routing=" + r
	}
	return u
}

// create creates ix on the primary and the targets, with no scheduled refresh.
func (s *bqStack) create(t *testing.T, ix string) {
	t.Helper()
	settings := fmt.Sprintf(`{"settings":{"number_of_shards":%d,"refresh_interval":"-1"}}`, shards)
	for _, c := range append([]*emulator{s.primary}, s.targets...) {
		if code, ans := httpDo(t, http.MethodPut, c.url+"/"+ix, settings); code != http.StatusOK {
			t.Fatalf("creating %s on %s: %d %s", ix, c.url, code, ans)
		}
	}
}

// seed creates ix and writes bqDocs documents through the proxy, half of them
// {"grp":"x"}, refreshed.
func (s *bqStack) seed(t *testing.T, ix string) {
	t.Helper()
	s.create(t, ix)
	var b strings.Builder
	for n := 0; n < bqDocs; n++ {
		meta := fmt.Sprintf(`"_index":%q,"_id":"d-%d"`, ix, n)
		if r := bqRouting(n); r != "" {
			meta += fmt.Sprintf(`,"routing":%q`, r)
		}
		fmt.Fprintf(&b, "{\"index\":{%s}}\n{\"n\":%d,\"grp\":%q}\n", meta, n, []string{"x", "y"}[n%2])
	}
	code, ans := httpDo(t, http.MethodPost, s.proxy+"/_bulk?refresh=true", b.String())
	if code != http.StatusOK || strings.Contains(string(ans), `"errors":true`) {
		t.Fatalf("seeding %s: %d %.300s", ix, code, ans)
	}
}

// writers write documents of the "x" group of an index through the proxy while an
// operation runs, each writer its own documents (so each knows its last write of
// each), and remember every document's last acknowledged source.
type writers struct {
	stop chan struct{}
	wg   sync.WaitGroup
	n    atomic.Int64 // acknowledged writes
	mu   sync.Mutex
	last map[int]string // document number → last acknowledged source
	err  error
}

// startWriters starts the writers on ix (and on also, each write made to both when set)
// and returns once each has written at least twice, after the seed's refresh: the
// operation's search, made after this, sees documents older than these writes.
func startWriters(t *testing.T, proxy, ix string) *writers {
	t.Helper()
	w := &writers{stop: make(chan struct{}), last: map[int]string{}}
	started := make(chan struct{}, bqWriters)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: bqWriters}, Timeout: time.Minute}
	for g := 0; g < bqWriters; g++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for round := 0; ; round++ {
				// Group x is the even documents; writer g owns every bqWriters-th of them.
				for k := g; 2*k < bqDocs; k += bqWriters {
					select {
					case <-w.stop:
						return
					default:
					}
					n := 2 * k
					src := fmt.Sprintf(`{"n":%d,"grp":"x","writer":%d,"round":%d}`, n, g, round)
					if err := putDoc(client, docURL(proxy, ix, n), src); err != nil {
						w.mu.Lock()
						w.err = err
						w.mu.Unlock()
						return
					}
					w.mu.Lock()
					w.last[n] = src
					w.mu.Unlock()
					if w.n.Add(1); round == 0 && k == g+bqWriters {
						started <- struct{}{}
					}
					// Pacing: the writers' think time, so that they share two cores
					// with the operation rather than starve it.
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	for g := 0; g < bqWriters; g++ {
		select {
		case <-started:
		case <-time.After(time.Minute):
			t.Fatal("the writers did not start")
		}
	}
	t.Cleanup(func() { w.finish(t); client.CloseIdleConnections() })
	return w
}

// putDoc writes one document; any answer but 200 or 201 is an error.
func putDoc(client *http.Client, u, body string) error {
	req, err := http.NewRequest(http.MethodPut, u, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	ans, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT %s: %d %.300s", u, resp.StatusCode, ans)
	}
	return nil
}

// finish stops the writers and waits for the writes in flight.
func (w *writers) finish(t *testing.T) {
	t.Helper()
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
	if w.err != nil {
		t.Fatalf("writer: %v", w.err)
	}
}

// kept asserts that every document the writers wrote holds, on the primary, the last
// write acknowledged to its writer: no by-query write overwrote or deleted it.
func (w *writers) kept(t *testing.T, primary, ix string) {
	t.Helper()
	for n, src := range w.last {
		code, ans := httpDo(t, http.MethodGet, docURL(primary, ix, n), "")
		var got struct {
			Found  bool            `json:"found"`
			Source json.RawMessage `json:"_source"`
		}
		if err := json.Unmarshal(ans, &got); err != nil || code != http.StatusOK || !got.Found || !jsonSame(got.Source, src) {
			t.Errorf("%s/d-%d: a concurrent write was overwritten: the primary has %d %s, the writer's last write was %s", ix, n, code, ans, src)
		}
	}
}

func jsonSame(a json.RawMessage, b string) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// bqAnswer is the by-query answer (BulkByScrollResponse).
type bqAnswer struct {
	Total            int64             `json:"total"`
	Updated          int64             `json:"updated"`
	Created          int64             `json:"created"`
	Deleted          int64             `json:"deleted"`
	Batches          int64             `json:"batches"`
	VersionConflicts int64             `json:"version_conflicts"`
	Noops            int64             `json:"noops"`
	Failures         []json.RawMessage `json:"failures"`
}

func byQuery(t *testing.T, u, body string) (int, bqAnswer, []byte) {
	t.Helper()
	code, ans := httpDo(t, http.MethodPost, u, body)
	var a bqAnswer
	if err := json.Unmarshal(ans, &a); err != nil {
		t.Fatalf("answer of %s: %d %s", u, code, ans)
	}
	return code, a, ans
}

// docState reads document n of ix from the primary: found and source.
func docState(t *testing.T, primary, ix string, n int) (bool, json.RawMessage) {
	t.Helper()
	_, ans := httpDo(t, http.MethodGet, docURL(primary, ix, n), "")
	var got struct {
		Found  bool            `json:"found"`
		Source json.RawMessage `json:"_source"`
	}
	if err := json.Unmarshal(ans, &got); err != nil {
		t.Fatalf("GET d-%d: %s", n, ans)
	}
	return got.Found, got.Source
}

// TestByQueryUnderConcurrentWriters: delete-by-query, update-by-query and reindex into a
// new index, each while writers rewrite the matched documents through the proxy, with
// conflicts=proceed: no concurrent write is overwritten, each conflict is counted, and
// both targets end equal to the primary.
func TestByQueryUnderConcurrentWriters(t *testing.T) {
	s := startBQStack(t)
	half := int64(bqDocs / 2)

	t.Run("delete_by_query", func(t *testing.T) {
		s.seed(t, "dbq")
		w := startWriters(t, s.proxy, "dbq")
		code, a, ans := byQuery(t, s.proxy+fmt.Sprintf("/dbq/_delete_by_query?conflicts=proceed&scroll_size=%d", bqBatch), `{"query":{"term":{"grp":"x"}}}`)
		w.finish(t)
		if code != http.StatusOK || a.Total != half || a.Deleted+a.VersionConflicts != half || a.VersionConflicts < bqWriters*2 || len(a.Failures) != 0 {
			t.Fatalf("%d %s", code, ans)
		}
		w.kept(t, s.primary.url, "dbq")
		// What no writer touched is gone; group y is untouched.
		for n := 0; n < bqDocs; n++ {
			found, _ := docState(t, s.primary.url, "dbq", n)
			_, written := w.last[n]
			if want := n%2 == 1 || written; found != want {
				t.Errorf("d-%d: found %t, want %t", n, found, want)
			}
		}
		t.Logf("deleted %d, %d conflicts with %d concurrent writes", a.Deleted, a.VersionConflicts, w.n.Load())
	})

	t.Run("update_by_query", func(t *testing.T) {
		s.seed(t, "ubq")
		w := startWriters(t, s.proxy, "ubq")
		code, a, ans := byQuery(t, s.proxy+fmt.Sprintf("/ubq/_update_by_query?conflicts=proceed&scroll_size=%d&q=grp:x", bqBatch), "")
		w.finish(t)
		if code != http.StatusOK || a.Total != half || a.Updated+a.VersionConflicts != half || a.VersionConflicts < bqWriters*2 || len(a.Failures) != 0 {
			t.Fatalf("%d %s", code, ans)
		}
		w.kept(t, s.primary.url, "ubq")
		t.Logf("updated %d, %d conflicts with %d concurrent writes", a.Updated, a.VersionConflicts, w.n.Load())
	})

	t.Run("reindex", func(t *testing.T) {
		s.seed(t, "src")
		s.create(t, "dst")
		// The writers write the destination's documents as the reindex copies them:
		// a create never overwrites one of theirs.
		w := startWriters(t, s.proxy, "dst")
		code, a, ans := byQuery(t, s.proxy+"/_reindex?refresh=true",
			fmt.Sprintf(`{"conflicts":"proceed","source":{"index":"src","size":%d,"query":{"term":{"grp":"x"}}},"dest":{"index":"dst","op_type":"create"}}`, bqBatch))
		w.finish(t)
		if code != http.StatusOK || a.Total != half || a.Created+a.VersionConflicts != half || a.VersionConflicts < bqWriters*2 || len(a.Failures) != 0 {
			t.Fatalf("%d %s", code, ans)
		}
		w.kept(t, s.primary.url, "dst")
		for n := 0; n < bqDocs; n += 2 {
			if _, written := w.last[n]; written {
				continue
			}
			if found, src := docState(t, s.primary.url, "dst", n); !found || !jsonSame(src, fmt.Sprintf(`{"n":%d,"grp":"x"}`, n)) {
				t.Errorf("dst/d-%d: found %t %s, want the source's document", n, found, src)
			}
		}
		t.Logf("created %d, %d conflicts with %d concurrent writes", a.Created, a.VersionConflicts, w.n.Load())
	})

	s.converged(t)
}

// TestByQueryAbortMaxDocsRefreshAndFailure: conflicts=abort stops at the batch with a
// conflict, reporting it as OpenSearch does; max_docs bounds what is changed; refresh
// makes the changes visible to search at once; and a primary gone mid-way stops the
// operation with what was done. Both targets end equal to the primary.
func TestByQueryAbortMaxDocsRefreshAndFailure(t *testing.T) {
	s := startBQStack(t)

	t.Run("conflicts=abort", func(t *testing.T) {
		s.seed(t, "abort")
		w := startWriters(t, s.proxy, "abort")
		code, a, ans := byQuery(t, s.proxy+"/abort/_delete_by_query?scroll_size=2&q=grp:x", "")
		w.finish(t)
		// The writers wrote documents before the search: a batch conflicts, and the
		// operation stops after it, every document of the batches run judged.
		if code != http.StatusConflict || a.VersionConflicts == 0 || len(a.Failures) != int(a.VersionConflicts) ||
			a.Deleted+a.VersionConflicts != 2*a.Batches || a.Total != bqDocs/2 {
			t.Fatalf("%d %s", code, ans)
		}
		var f struct {
			Index, ID string
			Cause     struct{ Type string }
			Status    int
		}
		if err := json.Unmarshal(a.Failures[0], &f); err != nil || f.Index != "abort" || f.Status != 409 || f.Cause.Type != "version_conflict_engine_exception" {
			t.Fatalf("failure %s", a.Failures[0])
		}
		w.kept(t, s.primary.url, "abort")
		present := 0
		for n := 0; n < bqDocs; n += 2 {
			if found, _ := docState(t, s.primary.url, "abort", n); found {
				present++
			}
		}
		if _, ans := httpDo(t, http.MethodGet, s.primary.url+"/abort/_count", ""); present < bqDocs/2-int(a.Deleted) {
			t.Fatalf("%d of group x left, %d deleted: documents after the aborted batch were deleted (%s)", present, a.Deleted, ans)
		}
	})

	t.Run("max_docs", func(t *testing.T) {
		s.seed(t, "maxdocs")
		code, a, ans := byQuery(t, s.proxy+"/maxdocs/_update_by_query?scroll_size=3&max_docs=7", `{"query":{"term":{"grp":"y"}}}`)
		if code != http.StatusOK || a.Total != 7 || a.Updated != 7 || a.Batches != 3 {
			t.Fatalf("%d %s", code, ans)
		}
		var twice int
		for n := 1; n < bqDocs; n += 2 {
			_, ans := httpDo(t, http.MethodGet, docURL(s.primary.url, "maxdocs", n), "")
			var v struct {
				Version int `json:"_version"`
			}
			_ = json.Unmarshal(ans, &v)
			if v.Version == 2 {
				twice++
			}
		}
		if twice != 7 {
			t.Fatalf("%d documents updated, want 7", twice)
		}
	})

	t.Run("refresh", func(t *testing.T) {
		s.seed(t, "refresh")
		code, a, ans := byQuery(t, s.proxy+"/refresh/_delete_by_query?refresh=true&q=grp:y", "")
		if code != http.StatusOK || a.Deleted != bqDocs/2 {
			t.Fatalf("%d %s", code, ans)
		}
		// The index refreshes on no schedule: only the operation's refresh shows the
		// deletes to search.
		code, body := httpDo(t, http.MethodGet, s.proxy+"/refresh/_count", "")
		if code != http.StatusOK || !strings.Contains(string(body), fmt.Sprintf(`"count":%d`, bqDocs/2)) {
			t.Fatalf("count after the refresh: %d %s", code, body)
		}
	})

	t.Run("primary gone mid-way", func(t *testing.T) {
		s.seed(t, "midway")
		// A second proxy, on the same topic, whose primary connection breaks at the
		// second scroll page, as a primary that crashed does.
		var scrolls atomic.Int64
		front := breakingFront(t, s.primary.url, func(r *http.Request) bool {
			return r.URL.Path == "/_search/scroll" && r.Method == http.MethodPost && scrolls.Add(1) == 2
		})
		cfg := proxytest.Config(front, s.kafka.Addrs(), topic)
		cfg.MetricsListen = ""
		p2 := proxytest.Start(t, cfg, testLogger())
		code, ans := httpDo(t, http.MethodPost, p2.URL()+"/midway/_update_by_query?scroll_size=30&q=grp:x", "")
		if code != http.StatusBadGateway || !strings.Contains(string(ans), "; before it, 0 documents were created, 60 updated and 0 deleted on the primary and replicated") {
			t.Fatalf("%d %s", code, ans)
		}
		var updated int
		for n := 0; n < bqDocs; n += 2 {
			_, ans := httpDo(t, http.MethodGet, docURL(s.primary.url, "midway", n), "")
			var v struct {
				Version int `json:"_version"`
			}
			_ = json.Unmarshal(ans, &v)
			if v.Version == 2 {
				updated++
			}
		}
		if updated != 60 {
			t.Fatalf("%d documents updated on the primary, want the first two batches' 60", updated)
		}
	})

	s.converged(t)
}

// breakingFront serves a reverse proxy to target on 127.0.0.1 that closes the
// connection of each request brk picks without answering it.
func breakingFront(t *testing.T, target string, brk func(*http.Request) bool) string {
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
		if brk(r) {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
