package conformance_test

import (
	"net/http"

	"github.com/fanout-dev/fanout/testbed/searchemu"
	"testing"
)

// TestSearchShardsAndSeqNoStats: _search_shards names the shard a routing reaches
// (OperationRouting.searchShards, ClusterSearchShardsResponse), and _stats with
// level=shards gives each shard copy's seq_no.max_seq_no (SeqNoStats: the highest
// sequence number the shard assigned, deletes included) and its primary term
// (RetentionLeaseStats), as ShardStats.toXContent writes them.
func TestSearchShardsAndSeqNoStats(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "s", `{"settings":{"index.number_of_shards":8,"index.number_of_routing_shards":8}}`)
	wantStatus(t, e.raw(t, http.MethodPut, "/s/_doc/a?routing="+onShard1, `{}`), 201)
	wantStatus(t, e.raw(t, http.MethodPut, "/s/_doc/b?routing="+onShard1, `{}`), 201)
	wantStatus(t, e.raw(t, http.MethodDelete, "/s/_doc/b?routing="+onShard1, ""), 200)
	wantStatus(t, e.raw(t, http.MethodPut, "/s/_doc/c?routing="+onShard3, `{}`), 201)

	r := e.raw(t, http.MethodGet, "/s/_search_shards?routing="+onShard1, "")
	if wantStatus(t, r, 200) {
		if n := num(t, r.Body, "shards", 0, 0, "shard"); n != 1 {
			t.Errorf("routing %s: shard %d, want 1: %s", onShard1, n, r.Body)
		}
		if str(t, r.Body, "shards", 0, 0, "index") != "s" || string(rawAt(t, r.Body, "shards", 0, 0, "primary")) != "true" {
			t.Errorf("shard group copy: %s", r.Body)
		}
		if has(r.Body, "shards", 1) {
			t.Errorf("one routing, one shard group: %s", r.Body)
		}
	}
	r = e.raw(t, http.MethodGet, "/s/_search_shards", "")
	if wantStatus(t, r, 200) && !has(r.Body, "shards", 7) {
		t.Errorf("no routing: all 8 shards: %s", r.Body)
	}

	r = e.raw(t, http.MethodGet, "/s/_stats/docs?level=shards", "")
	if !wantStatus(t, r, 200) {
		return
	}
	for _, tc := range []struct {
		shard  string
		maxSeq int64
		docs   int64
	}{{"1", 2, 1}, {"3", 0, 1}, {"0", -1, 0}} {
		if got := num(t, r.Body, "indices", "s", "shards", tc.shard, 0, "seq_no", "max_seq_no"); got != tc.maxSeq {
			t.Errorf("shard %s max_seq_no %d, want %d: %s", tc.shard, got, tc.maxSeq, r.Body)
		}
		if got := num(t, r.Body, "indices", "s", "shards", tc.shard, 0, "docs", "count"); got != tc.docs {
			t.Errorf("shard %s docs.count %d, want %d", tc.shard, got, tc.docs)
		}
		if got := num(t, r.Body, "indices", "s", "shards", tc.shard, 0, "retention_leases", "primary_term"); got != 1 {
			t.Errorf("shard %s primary_term %d, want 1", tc.shard, got)
		}
	}
	if num(t, r.Body, "indices", "s", "primaries", "docs", "count") != 2 {
		t.Errorf("primaries docs.count: %s", r.Body)
	}
	wantStatus(t, e.raw(t, http.MethodGet, "/s/_stats/docs?level=nodes", ""), 400)
	wantStatus(t, e.raw(t, http.MethodGet, "/missing/_stats/docs?level=shards", ""), 404)
}
