package conformance_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// Refresh (near-real-time search), checked against OpenSearch 2.x's source:
// IndexService (AsyncRefreshTask, onRefreshIntervalChange), IndexShard (scheduledRefresh,
// isSearchIdle, awaitShardSearchActive, docStats), RefreshListeners.addOrNotify,
// TransportWriteAction (AsyncAfterWriteAction), InternalEngine.get and flush,
// TransportGetAction and TransportShardMultiGetAction. Every case runs on its own cluster
// with a fake clock, so "time passes" means the test advanced the cluster clock.

// refreshEmu starts a cluster on a fake clock.
func refreshEmu(t *testing.T) (*emu, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	return newEmu(t, searchemu.Options{Now: clk.Now}), clk
}

// count is what _count answers for index.
func (e *emu) count(t testing.TB, index string) int64 {
	t.Helper()
	r := e.do(t, http.MethodGet, opensearchapi.IndicesCountReq{Indices: []string{index}})
	if r.Status != http.StatusOK {
		t.Fatalf("count %s: %s", index, r)
	}
	return num(t, r.Body, "count")
}

// searchTotal is hits.total.value of a match_all search on index.
func (e *emu) searchTotal(t testing.TB, index string) int64 {
	t.Helper()
	r := e.do(t, http.MethodPost, opensearchapi.SearchReq{Indices: []string{index}, Body: strings.NewReader(`{"query":{"match_all":{}}}`)})
	if r.Status != http.StatusOK {
		t.Fatalf("search %s: %s", index, r)
	}
	return num(t, r.Body, "hits", "total", "value")
}

// catDocsCount is docs.count of index in _cat/indices.
func (e *emu) catDocsCount(t testing.TB, index string) string {
	t.Helper()
	r := e.raw(t, http.MethodGet, "/_cat/indices/"+index+"?format=json&h=docs.count", "")
	if r.Status != http.StatusOK {
		t.Fatalf("_cat/indices %s: %s", index, r)
	}
	return str(t, r.Body, 0, "docs.count")
}

// index writes doc without any refresh parameter.
func (e *emu) index(t testing.TB, index, id, doc string) {
	t.Helper()
	r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: index, DocumentID: id, Body: strings.NewReader(doc)})
	if r.Status != http.StatusOK && r.Status != http.StatusCreated {
		t.Fatalf("indexing %s/%s: %s", index, id, r)
	}
}

func wantCount(t testing.TB, e *emu, index string, want int64, why string) {
	t.Helper()
	if got := e.count(t, index); got != want {
		t.Errorf("%s: _count want %d, got %d", why, want, got)
	}
}

// asyncWrite sends a write from another goroutine (without failing the test from there)
// and delivers its answer.
func (e *emu) asyncWrite(method, path, body string) <-chan *resp {
	out := make(chan *resp, 1)
	go func() {
		r, err := e.tryRaw(method, path, body)
		if err != nil {
			r = &resp{Status: -1, Body: []byte(err.Error()), desc: method + " " + path}
		}
		out <- r
	}()
	return out
}

// awaitApplied waits until a realtime GET sees index/id: the write was applied, whatever
// its refresh policy still waits for.
func (e *emu) awaitApplied(t testing.TB, index, id string) {
	t.Helper()
	for e.get(t, index, id).Status != http.StatusOK {
	}
}

func TestRefreshScheduled(t *testing.T) {
	t.Parallel()
	t.Run("search and count do not see an unrefreshed write", func(t *testing.T) {
		e, _ := refreshEmu(t)
		e.index(t, "s", "1", `{"a":1}`)
		if got := e.searchTotal(t, "s"); got != 0 {
			t.Errorf("search before any refresh: want 0 hits, got %d", got)
		}
		wantCount(t, e, "s", 0, "before any refresh")
	})
	t.Run("the write shows after refresh_interval passes on the cluster clock", func(t *testing.T) {
		e, clk := refreshEmu(t)
		e.index(t, "s", "1", `{"a":1}`) // creates the index: its refresh task starts now
		clk.Advance(500 * time.Millisecond)
		wantCount(t, e, "s", 0, "half an interval later")
		clk.Advance(500 * time.Millisecond)
		wantCount(t, e, "s", 1, "one interval (1s default) later")
		if got := e.searchTotal(t, "s"); got != 1 {
			t.Errorf("search after the scheduled refresh: want 1 hit, got %d", got)
		}
	})
	t.Run("refresh_interval -1 never refreshes on its own", func(t *testing.T) {
		e, clk := refreshEmu(t)
		e.createIndex(t, "s", `{"settings":{"index":{"refresh_interval":"-1"}}}`)
		e.index(t, "s", "1", `{"a":1}`)
		clk.Advance(time.Hour)
		wantCount(t, e, "s", 0, "an hour later with refresh_interval -1")
		r := e.do(t, http.MethodPost, opensearchapi.IndicesRefreshReq{Index: []string{"s"}})
		wantStatus(t, r, 200)
		wantCount(t, e, "s", 1, "after _refresh")
	})
	t.Run("a custom refresh_interval sets the schedule", func(t *testing.T) {
		e, clk := refreshEmu(t)
		e.createIndex(t, "s", `{"settings":{"index":{"refresh_interval":"30s"}}}`)
		e.index(t, "s", "1", `{"a":1}`)
		clk.Advance(29 * time.Second)
		wantCount(t, e, "s", 0, "29s into a 30s interval")
		clk.Advance(time.Second)
		wantCount(t, e, "s", 1, "30s into a 30s interval")
	})
	t.Run("an update and a delete after a refresh stay unseen until the next one", func(t *testing.T) {
		e, clk := refreshEmu(t)
		e.put(t, "s", "1", `{"v":1}`) // refresh=true
		e.put(t, "s", "2", `{"v":1}`)
		clk.Advance(100 * time.Millisecond)
		r := e.do(t, http.MethodPost, opensearchapi.UpdateReq{Index: "s", DocumentID: "1", Body: strings.NewReader(`{"doc":{"v":2}}`)})
		wantStatus(t, r, 200)
		r = e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "s", DocumentID: "2"})
		wantStatus(t, r, 200)

		s := e.do(t, http.MethodPost, opensearchapi.SearchReq{Indices: []string{"s"}, Body: strings.NewReader(`{"query":{"term":{"v":1}},"sort":["_doc"]}`)})
		if wantStatus(t, s, 200) {
			if got := num(t, s.Body, "hits", "total", "value"); got != 2 {
				t.Errorf("search must still see both old versions: want 2 hits on v:1, got %d (%s)", got, s.Body)
			} else if src := rawAt(t, s.Body, "hits", "hits", 0, "_source"); !jsonEq(t, src, []byte(`{"v":1}`)) {
				t.Errorf("search must return the refreshed source {\"v\":1}, got %s", src)
			}
		}
		if src := e.source(t, "s", "1"); !jsonEq(t, src, []byte(`{"v":2}`)) {
			t.Errorf("realtime GET must see the update: want {\"v\":2}, got %s", src)
		}
		if g := e.get(t, "s", "2"); g.Status != 404 {
			t.Errorf("realtime GET must see the delete: %s", g)
		}
		clk.Advance(900 * time.Millisecond)
		wantCount(t, e, "s", 1, "after the next scheduled refresh (the delete shows)")
		s = e.do(t, http.MethodPost, opensearchapi.SearchReq{Indices: []string{"s"}, Body: strings.NewReader(`{"query":{"term":{"v":2}}}`)})
		if wantStatus(t, s, 200) && num(t, s.Body, "hits", "total", "value") != 1 {
			t.Errorf("after the next refresh the update shows: %s", s.Body)
		}
	})
	t.Run("scroll and point in time keep the reader they opened", func(t *testing.T) {
		e, _ := refreshEmu(t)
		e.put(t, "s", "1", `{}`)
		r := e.raw(t, http.MethodPost, "/s/_search/point_in_time?keep_alive=1m", "")
		if !wantStatus(t, r, 200) {
			return
		}
		pit := str(t, r.Body, "pit_id")
		e.put(t, "s", "2", `{}`) // refreshed, but after the PIT opened
		s := e.raw(t, http.MethodPost, "/_search", `{"pit":{"id":"`+pit+`"}}`)
		if wantStatus(t, s, 200) && num(t, s.Body, "hits", "total", "value") != 1 {
			t.Errorf("a PIT sees the reader of its creation: %s", s.Body)
		}
		wantCount(t, e, "s", 2, "a fresh search sees the refreshed write")
	})
}

func TestRefreshAPIAndWriteParams(t *testing.T) {
	t.Parallel()
	t.Run("_refresh makes writes visible at once", func(t *testing.T) {
		e, _ := refreshEmu(t)
		e.index(t, "s", "1", `{}`)
		e.index(t, "t", "1", `{}`)
		r := e.do(t, http.MethodPost, opensearchapi.IndicesRefreshReq{Index: []string{"s"}})
		wantStatus(t, r, 200)
		wantCount(t, e, "s", 1, "after POST /s/_refresh")
		wantCount(t, e, "t", 0, "another index is not refreshed by /s/_refresh")
		r = e.do(t, http.MethodPost, opensearchapi.IndicesRefreshReq{})
		wantStatus(t, r, 200)
		wantCount(t, e, "t", 1, "after POST /_refresh")
	})
	t.Run("_flush refreshes only the internal reader", func(t *testing.T) {
		e, _ := refreshEmu(t)
		e.createIndex(t, "s", `{"settings":{"index":{"refresh_interval":"-1"}}}`)
		e.index(t, "s", "1", `{}`)
		if got := e.catDocsCount(t, "s"); got != "0" {
			t.Errorf("docs.count before any refresh: want 0, got %s", got)
		}
		r := e.raw(t, http.MethodPost, "/s/_flush", "")
		wantStatus(t, r, 200)
		if got := e.catDocsCount(t, "s"); got != "1" {
			t.Errorf("docs.count after _flush (IndexShard.docStats reads the internal reader): want 1, got %s", got)
		}
		wantCount(t, e, "s", 0, "after _flush (InternalEngine.flush refreshes the internal reader only)")
	})
	for _, tc := range []struct{ name, path string }{
		{"index", "/s/_doc/1?refresh=true"},
		{"index, empty refresh", "/s/_doc/1?refresh"},
	} {
		t.Run("refresh=true on "+tc.name+" is visible before the answer", func(t *testing.T) {
			e, _ := refreshEmu(t)
			r := e.raw(t, http.MethodPut, tc.path, `{}`)
			if wantStatus(t, r, 201) && string(rawAt(t, r.Body, "forced_refresh")) != "true" {
				t.Errorf("want forced_refresh true: %s", r.Body)
			}
			wantCount(t, e, "s", 1, "right after refresh=true")
		})
	}
	t.Run("refresh=true on delete, update and bulk", func(t *testing.T) {
		e, _ := refreshEmu(t)
		e.put(t, "s", "1", `{"v":1}`)
		e.put(t, "s", "2", `{}`)
		r := e.raw(t, http.MethodPost, "/s/_update/1?refresh=true", `{"doc":{"v":2}}`)
		if wantStatus(t, r, 200) && string(rawAt(t, r.Body, "forced_refresh")) != "true" {
			t.Errorf("update: want forced_refresh true: %s", r.Body)
		}
		s := e.raw(t, http.MethodPost, "/s/_search", `{"query":{"term":{"v":2}}}`)
		if wantStatus(t, s, 200) && num(t, s.Body, "hits", "total", "value") != 1 {
			t.Errorf("update with refresh=true must be searchable at once: %s", s.Body)
		}
		r = e.raw(t, http.MethodDelete, "/s/_doc/2?refresh=true", "")
		if wantStatus(t, r, 200) && string(rawAt(t, r.Body, "forced_refresh")) != "true" {
			t.Errorf("delete: want forced_refresh true: %s", r.Body)
		}
		wantCount(t, e, "s", 1, "after delete with refresh=true")
		r = e.bulk(t, "", "{\"index\":{\"_index\":\"s\",\"_id\":\"3\"}}\n{}\n", opensearchapi.BulkParams{Refresh: "true"})
		wantStatus(t, r, 200)
		wantCount(t, e, "s", 2, "after bulk with refresh=true")
	})
	t.Run("a noop update with refresh=true neither refreshes nor says so", func(t *testing.T) {
		// TransportUpdateAction answers a noop without a shard-level write.
		e, _ := refreshEmu(t)
		e.put(t, "s", "1", `{"v":1}`)
		e.index(t, "s", "2", `{}`)
		r := e.raw(t, http.MethodPost, "/s/_update/1?refresh=true", `{"doc":{"v":1}}`)
		if wantStatus(t, r, 200) {
			if str(t, r.Body, "result") != "noop" || has(r.Body, "forced_refresh") {
				t.Errorf("want a noop without forced_refresh: %s", r.Body)
			}
		}
		wantCount(t, e, "s", 1, "a noop update does not refresh the other pending write")
	})
	t.Run("refresh=wait_for answers after the next scheduled refresh", func(t *testing.T) {
		e, clk := refreshEmu(t)
		e.createIndex(t, "s", "")
		done := e.asyncWrite(http.MethodPut, "/s/_doc/1?refresh=wait_for", `{}`)
		e.awaitApplied(t, "s", "1")
		wantCount(t, e, "s", 0, "while the wait_for write waits")
		select {
		case r := <-done:
			t.Fatalf("wait_for answered before any refresh made the write visible: %s", r)
		default:
		}
		clk.Advance(time.Second)
		r := <-done
		if wantStatus(t, r, 201) && has(r.Body, "forced_refresh") {
			t.Errorf("wait_for released by a scheduled refresh carries no forced_refresh: %s", r.Body)
		}
		wantCount(t, e, "s", 1, "once wait_for answered")
	})
	t.Run("refresh=wait_for with refresh_interval -1 waits for a refresh from elsewhere", func(t *testing.T) {
		e, clk := refreshEmu(t)
		e.createIndex(t, "s", `{"settings":{"index":{"refresh_interval":"-1"}}}`)
		done := e.asyncWrite(http.MethodPost, "/_bulk?refresh=wait_for", "{\"index\":{\"_index\":\"s\",\"_id\":\"1\"}}\n{}\n")
		e.awaitApplied(t, "s", "1")
		clk.Advance(time.Hour)
		wantCount(t, e, "s", 0, "an hour later, nothing refreshed")
		select {
		case r := <-done:
			t.Fatalf("wait_for answered without a refresh: %s", r)
		default:
		}
		r := e.do(t, http.MethodPost, opensearchapi.IndicesRefreshReq{Index: []string{"s"}})
		wantStatus(t, r, 200)
		r = <-done
		if wantStatus(t, r, 200) && has(rawAt(t, r.Body, "items", 0, "index"), "forced_refresh") {
			t.Errorf("an item released by _refresh carries no forced_refresh: %s", r.Body)
		}
	})
	t.Run("a waiting refresh=wait_for answers when its index is deleted", func(t *testing.T) {
		// IndexShard.close closes RefreshListeners, which fires every waiting listener.
		e, _ := refreshEmu(t)
		e.createIndex(t, "s", `{"settings":{"index":{"refresh_interval":"-1"}}}`)
		done := e.asyncWrite(http.MethodPut, "/s/_doc/1?refresh=wait_for", `{}`)
		e.awaitApplied(t, "s", "1")
		r := e.do(t, http.MethodDelete, opensearchapi.IndicesDeleteReq{Indices: []string{"s"}})
		wantStatus(t, r, 200)
		r = <-done
		if wantStatus(t, r, 201) && has(r.Body, "forced_refresh") {
			t.Errorf("released by the close, not forced: %s", r.Body)
		}
	})
	t.Run("a waiting refresh=wait_for answers when its index is closed", func(t *testing.T) {
		e, _ := refreshEmu(t)
		e.createIndex(t, "s", `{"settings":{"index":{"refresh_interval":"-1"}}}`)
		done := e.asyncWrite(http.MethodPut, "/s/_doc/1?refresh=wait_for", `{}`)
		e.awaitApplied(t, "s", "1")
		wantStatus(t, e.raw(t, http.MethodPost, "/s/_close", ""), 200)
		r := <-done
		wantStatus(t, r, 201)
	})
	t.Run("refresh=wait_for past index.max_refresh_listeners forces a refresh", func(t *testing.T) {
		e, _ := refreshEmu(t)
		e.createIndex(t, "s", `{"settings":{"index":{"refresh_interval":"-1","max_refresh_listeners":0}}}`)
		r := e.raw(t, http.MethodPut, "/s/_doc/1?refresh=wait_for", `{}`)
		if wantStatus(t, r, 201) && string(rawAt(t, r.Body, "forced_refresh")) != "true" {
			t.Errorf("RefreshListeners.addOrNotify out of slots forces a refresh and says so: %s", r.Body)
		}
		wantCount(t, e, "s", 1, "after the forced refresh")
	})
	t.Run("refresh=wait_for on an already visible write answers at once", func(t *testing.T) {
		e, _ := refreshEmu(t)
		e.put(t, "s", "1", `{"v":1}`)
		r := e.raw(t, http.MethodPost, "/s/_update/1?refresh=wait_for", `{"doc":{"v":1}}`)
		if wantStatus(t, r, 200) && str(t, r.Body, "result") != "noop" {
			t.Errorf("want noop: %s", r.Body)
		}
	})
	t.Run("unknown refresh value", func(t *testing.T) {
		e, _ := refreshEmu(t)
		r := e.raw(t, http.MethodPut, "/s/_doc/1?refresh=soon", `{}`)
		wantError(t, r, 400, iae, "Unknown value for refresh: [soon].")
	})
}

func TestRefreshRealtimeReads(t *testing.T) {
	t.Parallel()
	e, _ := refreshEmu(t)
	e.put(t, "s", "0", `{}`)
	e.index(t, "s", "1", `{"a":1}`)

	reads := []struct {
		name   string
		method string
		path   string
		status int
	}{
		{"GET is realtime", http.MethodGet, "/s/_doc/1", 200},
		{"GET realtime=true", http.MethodGet, "/s/_doc/1?realtime=true", 200},
		{"GET realtime=false reads the refreshed reader", http.MethodGet, "/s/_doc/1?realtime=false", 404},
		{"HEAD realtime=false", http.MethodHead, "/s/_doc/1?realtime=false", 404},
		{"_source is realtime", http.MethodGet, "/s/_source/1", 200},
		{"_source realtime=false", http.MethodGet, "/s/_source/1?realtime=false", 404},
		{"HEAD _source realtime=false", http.MethodHead, "/s/_source/1?realtime=false", 404},
		{"GET realtime=false sees refreshed docs", http.MethodGet, "/s/_doc/0?realtime=false", 200},
		{"GET refresh=true without realtime=false does not refresh", http.MethodGet, "/s/_doc/1?refresh=true", 200},
	}
	for _, tc := range reads {
		t.Run(tc.name, func(t *testing.T) {
			r := e.raw(t, tc.method, tc.path, "")
			wantStatus(t, r, tc.status)
		})
	}
	t.Run("mget realtime=false", func(t *testing.T) {
		r := e.raw(t, http.MethodPost, "/s/_mget?realtime=false", `{"ids":["0","1"]}`)
		if wantStatus(t, r, 200) {
			if string(rawAt(t, r.Body, "docs", 0, "found")) != "true" || string(rawAt(t, r.Body, "docs", 1, "found")) != "false" {
				t.Errorf("mget realtime=false sees only the refreshed doc: %s", r.Body)
			}
		}
		r = e.raw(t, http.MethodPost, "/s/_mget", `{"ids":["0","1"]}`)
		if wantStatus(t, r, 200) && string(rawAt(t, r.Body, "docs", 1, "found")) != "true" {
			t.Errorf("mget is realtime by default: %s", r.Body)
		}
	})
	t.Run("bad realtime value", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/s/_doc/1?realtime=maybe", "")
		wantError(t, r, 400, iae, "Failed to parse value [maybe] as only [true] or [false] are allowed.")
	})
	// Last: these refresh the index.
	t.Run("realtime GETs did not refresh for search", func(t *testing.T) {
		wantCount(t, e, "s", 1, "after realtime GETs (they refresh the internal reader only)")
	})
	t.Run("GET realtime=false&refresh=true refreshes first", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/s/_doc/1?realtime=false&refresh=true", "")
		wantStatus(t, r, 200)
		wantCount(t, e, "s", 2, "the GET's refresh is a real one")
	})
}

// TestRefreshCloseOpen: closing flushes every shard and opening recovers it from that
// commit, refreshing after recovery (TransportVerifyShardBeforeCloseAction,
// IndexShard.postRecovery), so everything written shows.
func TestRefreshCloseOpen(t *testing.T) {
	t.Parallel()
	e, _ := refreshEmu(t)
	e.createIndex(t, "s", `{"settings":{"index":{"refresh_interval":"-1"}}}`)
	e.index(t, "s", "1", `{}`)
	wantCount(t, e, "s", 0, "before the close")
	wantStatus(t, e.raw(t, http.MethodPost, "/s/_close", ""), 200)
	wantStatus(t, e.raw(t, http.MethodPost, "/s/_open", ""), 200)
	wantCount(t, e, "s", 1, "after _close and _open")
}

func TestRefreshIntervalSetting(t *testing.T) {
	t.Parallel()
	t.Run("changing refresh_interval refreshes at once and restarts the schedule", func(t *testing.T) {
		e, clk := refreshEmu(t)
		e.createIndex(t, "s", `{"settings":{"index":{"refresh_interval":"-1"}}}`)
		e.index(t, "s", "1", `{}`)
		clk.Advance(10 * time.Second)
		wantCount(t, e, "s", 0, "with -1")
		r := e.raw(t, http.MethodPut, "/s/_settings", `{"index":{"refresh_interval":"5s"}}`)
		wantStatus(t, r, 200)
		wantCount(t, e, "s", 1, "right after the interval changed (IndexService.onRefreshIntervalChange)")
		e.index(t, "s", "2", `{}`)
		clk.Advance(4 * time.Second)
		wantCount(t, e, "s", 1, "4s into the new 5s schedule")
		clk.Advance(time.Second)
		wantCount(t, e, "s", 2, "5s into the new 5s schedule")
		r = e.raw(t, http.MethodGet, "/s/_settings/index.refresh_interval?flat_settings=true", "")
		if wantStatus(t, r, 200) && str(t, r.Body, "s", "settings", "index.refresh_interval") != "5s" {
			t.Errorf("the setting is stored: %s", r.Body)
		}
	})
	t.Run("setting refresh_interval to -1 stops scheduled refreshes", func(t *testing.T) {
		e, clk := refreshEmu(t)
		e.createIndex(t, "s", "")
		r := e.raw(t, http.MethodPut, "/s/_settings", `{"index":{"refresh_interval":"-1"}}`)
		wantStatus(t, r, 200)
		e.index(t, "s", "1", `{}`)
		clk.Advance(time.Minute)
		wantCount(t, e, "s", 0, "a minute after refresh_interval became -1")
	})
	t.Run("invalid values are refused", func(t *testing.T) {
		e, _ := refreshEmu(t)
		e.createIndex(t, "s", "")
		for _, body := range []string{
			`{"index":{"refresh_interval":"-2s"}}`,
			`{"index":{"refresh_interval":"soon"}}`,
			`{"index":{"max_refresh_listeners":-1}}`,
			`{"index":{"search":{"idle":{"after":"-5s"}}}}`,
		} {
			r := e.raw(t, http.MethodPut, "/s/_settings", body)
			if wantStatus(t, r, 400) && str(t, r.Body, "error", "type") != iae {
				t.Errorf("%s: want %s, got %s", body, iae, r.Body)
			}
		}
	})
}

func TestRefreshSearchIdle(t *testing.T) {
	t.Parallel()
	// A shard not searched for index.search.idle.after (30s) skips its scheduled refreshes
	// while refresh_interval is not set explicitly; the next search waits for a refresh and
	// sees everything written (IndexShard.scheduledRefresh, awaitShardSearchActive).
	// docs.count (the internal reader, which a skipped refresh leaves alone) shows the skip.
	t.Run("default refresh_interval: ticks are skipped, the next search sees the writes", func(t *testing.T) {
		e, clk := refreshEmu(t)
		e.createIndex(t, "s", "")
		clk.Advance(40 * time.Second)
		e.index(t, "s", "1", `{}`)
		clk.Advance(3 * time.Second)
		if got := e.catDocsCount(t, "s"); got != "0" {
			t.Errorf("search idle: the scheduled refreshes must have been skipped, docs.count want 0, got %s", got)
		}
		wantCount(t, e, "s", 1, "a search on a search-idle shard with a pending refresh")
		if got := e.catDocsCount(t, "s"); got != "1" {
			t.Errorf("after the search's refresh: docs.count want 1, got %s", got)
		}
		// the shard is search-active again: the next write shows on schedule
		e.index(t, "s", "2", `{}`)
		clk.Advance(time.Second)
		if got := e.catDocsCount(t, "s"); got != "2" {
			t.Errorf("search-active again: docs.count want 2 after one interval, got %s", got)
		}
	})
	t.Run("explicit refresh_interval: never search idle", func(t *testing.T) {
		e, clk := refreshEmu(t)
		e.createIndex(t, "s", `{"settings":{"index":{"refresh_interval":"1s"}}}`)
		clk.Advance(40 * time.Second)
		e.index(t, "s", "1", `{}`)
		clk.Advance(3 * time.Second)
		if got := e.catDocsCount(t, "s"); got != "1" {
			t.Errorf("explicit refresh_interval refreshes on schedule: docs.count want 1, got %s", got)
		}
	})
	t.Run("index.search.idle.after is honoured", func(t *testing.T) {
		e, clk := refreshEmu(t)
		e.createIndex(t, "s", `{"settings":{"index":{"search":{"idle":{"after":"5m"}}}}}`)
		clk.Advance(40 * time.Second)
		e.index(t, "s", "1", `{}`)
		clk.Advance(3 * time.Second)
		if got := e.catDocsCount(t, "s"); got != "1" {
			t.Errorf("not idle before 5m: docs.count want 1, got %s", got)
		}
	})
	t.Run("a shard that goes inactive flushes: docs.count moves, search does not", func(t *testing.T) {
		// IndexShard.flushOnIdle after indices.memory.shard_inactive_time (5m) without
		// writes; the flush refreshes the internal reader only.
		e, clk := refreshEmu(t)
		e.createIndex(t, "s", `{"settings":{"index":{"refresh_interval":"-1"}}}`)
		e.index(t, "s", "1", `{}`)
		clk.Advance(4 * time.Minute)
		if got := e.catDocsCount(t, "s"); got != "0" {
			t.Errorf("4m after the write: docs.count want 0, got %s", got)
		}
		clk.Advance(time.Minute)
		if got := e.catDocsCount(t, "s"); got != "1" {
			t.Errorf("5m after the write: docs.count want 1, got %s", got)
		}
		wantCount(t, e, "s", 0, "the flush on idle does not refresh for search")
	})
}

// TestRefreshElasticsearch7 runs the basics on the Elasticsearch 7.10 flavour, whose
// IndexShard, InternalEngine and TransportGetAction refresh the same way.
func TestRefreshElasticsearch7(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	e := newEmu(t, searchemu.Options{Now: clk.Now, Flavor: searchemu.Elasticsearch7})
	e.index(t, "s", "1", `{}`)
	wantCount(t, e, "s", 0, "before a refresh")
	if r := e.raw(t, http.MethodGet, "/s/_doc/1?realtime=false", ""); r.Status != 404 {
		t.Errorf("realtime=false before a refresh: %s", r)
	}
	if r := e.get(t, "s", "1"); r.Status != 200 {
		t.Errorf("realtime GET: %s", r)
	}
	clk.Advance(time.Second)
	wantCount(t, e, "s", 1, "after the scheduled refresh")
}
