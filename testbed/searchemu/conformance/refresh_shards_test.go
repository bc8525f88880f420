package conformance_test

import (
	"net/http"
	"testing"
	"time"
)

// TestRefreshPerShard: every shard has its own reader. refresh=true refreshes the shard
// the write reached (TransportWriteAction runs per shard-level request, IndexShard.refresh
// refreshes one shard), and the same _id under two routings is two documents, each seen
// or not on its own shard.
func TestRefreshPerShard(t *testing.T) {
	t.Parallel()
	const settings = `{"settings":{"index.number_of_shards":8,"index.number_of_routing_shards":8,"index.refresh_interval":"-1"}}`
	t.Run("refresh=true refreshes only the shard it wrote", func(t *testing.T) {
		e, _ := refreshEmu(t)
		e.createIndex(t, "s", settings)
		wantStatus(t, e.raw(t, http.MethodPut, "/s/_doc/a?routing="+onShard1, `{}`), 201)
		r := e.raw(t, http.MethodPut, "/s/_doc/b?refresh=true&routing="+onShard3, `{}`)
		if wantStatus(t, r, 201) && string(rawAt(t, r.Body, "forced_refresh")) != "true" {
			t.Errorf("want forced_refresh true: %s", r.Body)
		}
		wantCount(t, e, "s", 1, "shard 3 refreshed, shard 1 not")
		wantStatus(t, e.raw(t, http.MethodPost, "/s/_refresh", ""), 200)
		wantCount(t, e, "s", 2, "after _refresh of every shard")
	})
	t.Run("refresh=true refreshes the shard of a failed bulk item too", func(t *testing.T) {
		// AsyncAfterWriteAction refreshes the shard after its shard-level request,
		// whatever the items' outcomes.
		e, _ := refreshEmu(t)
		e.createIndex(t, "s", settings)
		wantStatus(t, e.raw(t, http.MethodPut, "/s/_doc/a?routing="+onShard1, `{}`), 201)
		body := "{\"create\":{\"_index\":\"s\",\"_id\":\"a\",\"routing\":\"" + onShard1 + "\"}}\n{}\n"
		r := e.raw(t, http.MethodPost, "/_bulk?refresh=true", body, "application/x-ndjson")
		if wantStatus(t, r, 200) {
			wantItem(t, r, 0, "create", 409, "")
		}
		wantCount(t, e, "s", 1, "the conflicting create's shard was refreshed")
	})
	t.Run("a routed search wakes only the shard it searches", func(t *testing.T) {
		// IndexShard.awaitShardSearchActive runs on the shards a search reaches.
		e, clk := refreshEmu(t)
		e.createIndex(t, "s", `{"settings":{"index.number_of_shards":8,"index.number_of_routing_shards":8}}`)
		clk.Advance(40 * time.Second)
		wantStatus(t, e.raw(t, http.MethodPut, "/s/_doc/a?routing="+onShard1, `{}`), 201)
		wantStatus(t, e.raw(t, http.MethodPut, "/s/_doc/b?routing="+onShard3, `{}`), 201)
		clk.Advance(3 * time.Second)
		r := e.raw(t, http.MethodGet, "/s/_count?routing="+onShard1, "")
		if wantStatus(t, r, 200) && num(t, r.Body, "count") != 1 {
			t.Errorf("the routed count on a search-idle shard sees its write: %s", r.Body)
		}
		if got := e.catDocsCount(t, "s"); got != "1" {
			t.Errorf("only shard 1 refreshed: docs.count want 1, got %s", got)
		}
		wantCount(t, e, "s", 2, "a search of every shard")
	})
	t.Run("one id under two routings is two documents", func(t *testing.T) {
		e, _ := refreshEmu(t)
		e.createIndex(t, "s", settings)
		for _, routing := range []string{onShard1, onShard3} {
			wantStatus(t, e.raw(t, http.MethodPut, "/s/_doc/x?refresh=true&routing="+routing, `{"on":"`+routing+`"}`), 201)
		}
		wantCount(t, e, "s", 2, "the same _id on two shards")
		wantStatus(t, e.raw(t, http.MethodDelete, "/s/_doc/x?routing="+onShard1, ""), 200)
		wantCount(t, e, "s", 2, "the delete is not refreshed yet")
		if r := e.raw(t, http.MethodGet, "/s/_doc/x?realtime=false&routing="+onShard1, ""); r.Status != 200 {
			t.Errorf("realtime=false still reads the refreshed copy on shard 1: %s", r)
		}
		if r := e.raw(t, http.MethodGet, "/s/_doc/x?routing="+onShard1, ""); r.Status != 404 {
			t.Errorf("realtime GET sees the delete on shard 1: %s", r)
		}
		wantStatus(t, e.raw(t, http.MethodPost, "/s/_refresh", ""), 200)
		wantCount(t, e, "s", 1, "after _refresh the copy on shard 3 is left")
		if r := e.raw(t, http.MethodGet, "/s/_doc/x?realtime=false&routing="+onShard3, ""); r.Status != 200 {
			t.Errorf("the copy on shard 3 is untouched: %s", r)
		}
	})
}
