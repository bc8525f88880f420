package conformance_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// Shards and routing (opensearch-api.md §8 "Shards and routing"), checked against
// OpenSearch's server/src/main/java/org/opensearch/cluster/routing/OperationRouting.java,
// Murmur3HashFunction.java, cluster/metadata/IndexMetadata.java,
// action/bulk/TransportBulkAction.java, action/get/TransportGetAction.java,
// action/get/TransportMultiGetAction.java, action/update/TransportUpdateAction.java,
// action/update/UpdateHelper.java, action/RoutingMissingException.java and
// index/mapper/DocumentMapper.java. Placement tables come from OpenSearch's
// OperationRoutingTests (testdata/opensearch_routing.json).

// routingTables reads the OperationRoutingTests tables shared with the unit tests.
type routingTable struct {
	Name          string                    `json:"name"`
	Shards        int                       `json:"number_of_shards"`
	RoutingShards int                       `json:"number_of_routing_shards"`
	Partition     int                       `json:"routing_partition_size"`
	Routings      map[string]map[string]int `json:"routings"`
}

func routingTables(t *testing.T) map[string]routingTable {
	t.Helper()
	raw, err := os.ReadFile("../testdata/opensearch_routing.json")
	if err != nil {
		t.Fatalf("reading routing fixture: %v", err)
	}
	var f struct {
		Tables []routingTable `json:"tables"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("decoding routing fixture: %v", err)
	}
	out := map[string]routingTable{}
	for _, tab := range f.Tables {
		out[tab.Name] = tab
	}
	return out
}

// Routing values and ids whose shards testBWC pins for 8 shards, 8 routing shards.
const (
	onShard1  = "sEERfFzPSI" // shard 1
	onShard7  = "cNRiIrjzYd" // shard 7
	onShard3  = "cnepjZhQnb" // shard 3
	onShard0a = "hswhrppvDH" // shard 0
	onShard0b = "FYQRIBcNqz" // shard 0
	onShard5  = "BgfLBXUyWT" // shard 5
	onShard6  = "OKCmuYkeCK" // shard 6
)

// createBWCIndex creates an index laid out like testBWC's: 8 shards, 8 routing shards.
func (e *emu) createBWCIndex(t *testing.T, name, mappings string) {
	t.Helper()
	body := `{"settings":{"index.number_of_shards":8,"index.number_of_routing_shards":8}`
	if mappings != "" {
		body += `,"mappings":` + mappings
	}
	e.createIndex(t, name, body+`}`)
}

// shardsOfIDs asks every shard of index, through preference=_shards:N, which documents it
// holds, and returns id → shards (an id may live on several shards under several routings).
func (e *emu) shardsOfIDs(t *testing.T, index string, shards int) map[string][]int {
	t.Helper()
	out := map[string][]int{}
	for n := 0; n < shards; n++ {
		r := e.search(t, index, `{"size":1000}`, opensearchapi.SearchParams{Preference: "_shards:" + strconv.Itoa(n)})
		if !wantStatus(t, r, 200) {
			return out
		}
		if got := num(t, r.Body, "_shards", "total"); got != 1 {
			t.Errorf("preference=_shards:%d searched %d shards, want 1", n, got)
		}
		for _, id := range hitIDs(t, r.Body) {
			out[id] = append(out[id], n)
		}
	}
	return out
}

// TestRoutingPlacement pins where documents land against OperationRoutingTests: testBWC
// (ids without routing, and routings for one id), testPartitionedIndexBWC and
// testPartitionedIndexShrunk (routing_partition_size spreads one routing over shards by
// the id's hash), observed through preference=_shards:N.
func TestRoutingPlacement(t *testing.T) {
	t.Parallel()
	tabs := routingTables(t)
	e := newEmu(t, searchemu.Options{})

	t.Run("testBWC ids and routings", func(t *testing.T) {
		tab := tabs["testBWC"]
		e.createBWCIndex(t, "bwc", "")
		var b strings.Builder
		for term := range tab.Routings[""] {
			fmt.Fprintf(&b, "{\"index\":{\"_index\":\"bwc\",\"_id\":%q}}\n{}\n", term)
			fmt.Fprintf(&b, "{\"index\":{\"_index\":\"bwc\",\"_id\":%q,\"routing\":%q}}\n{}\n", "routed-"+term, term)
		}
		r := e.bulk(t, "", b.String(), opensearchapi.BulkParams{Refresh: "true"})
		if !wantStatus(t, r, 200) {
			return
		}
		wantErrorsFlag(t, r, false)
		placed := e.shardsOfIDs(t, "bwc", tab.Shards)
		for term, want := range tab.Routings[""] {
			if got := placed[term]; !reflect.DeepEqual(got, []int{want}) {
				t.Errorf("_id %q is on shards %v, want [%d]", term, got, want)
			}
			if got := placed["routed-"+term]; !reflect.DeepEqual(got, []int{want}) {
				t.Errorf("routing %q placed its document on shards %v, want [%d]", term, got, want)
			}
		}
	})

	for _, name := range []string{"testPartitionedIndexBWC", "testPartitionedIndexShrunk"} {
		tab := tabs[name]
		t.Run(name, func(t *testing.T) {
			index := strings.ToLower(name)
			e.createIndex(t, index, fmt.Sprintf(`{"settings":{"index.number_of_shards":%d,"index.number_of_routing_shards":%d,"index.routing_partition_size":%d},"mappings":{"_routing":{"required":true}}}`, tab.Shards, tab.RoutingShards, tab.Partition))
			var b strings.Builder
			for routing, ids := range tab.Routings {
				for id := range ids {
					fmt.Fprintf(&b, "{\"index\":{\"_index\":%q,\"_id\":%q,\"routing\":%q}}\n{}\n", index, id, routing)
				}
			}
			r := e.bulk(t, "", b.String(), opensearchapi.BulkParams{Refresh: "true"})
			if !wantStatus(t, r, 200) {
				return
			}
			wantErrorsFlag(t, r, false)
			placed := e.shardsOfIDs(t, index, tab.Shards)
			for routing, ids := range tab.Routings {
				for id, want := range ids {
					if got := placed[id]; !reflect.DeepEqual(got, []int{want}) {
						t.Errorf("_id %q routing %q is on shards %v, want [%d]", id, routing, got, want)
					}
				}
				// computeTargetedShards: a routed search reaches every partition of the routing
				// (and so every document of the other routings those shards hold)
				sr := e.search(t, index, `{"size":100}`, opensearchapi.SearchParams{Routing: []string{routing}})
				if !wantStatus(t, sr, 200) {
					continue
				}
				found := map[string]bool{}
				for _, id := range hitIDs(t, sr.Body) {
					found[id] = true
				}
				for id := range ids {
					if !found[id] {
						t.Errorf("search routing=%s did not find %q: %s", routing, id, sr)
					}
				}
				shardsOf := map[int]bool{}
				for _, s := range ids {
					shardsOf[s] = true
				}
				if got := num(t, sr.Body, "_shards", "total"); got < int64(len(shardsOf)) || got > int64(tab.Partition) {
					t.Errorf("search routing=%s searched %d shards, want between %d and %d", routing, got, len(shardsOf), tab.Partition)
				}
			}
		})
	}
}

// TestRoutingLookups covers every lookup and write by id on a multi-shard index: each goes
// to the shard its routing names, so another routing finds nothing, and one _id can live
// on two shards under two routings.
func TestRoutingLookups(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createBWCIndex(t, "r", "")
	index := func(id, routing, doc string) *resp {
		t.Helper()
		return e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "r", DocumentID: id, Body: strings.NewReader(doc), Params: opensearchapi.IndexParams{Routing: routing, Refresh: "true"}})
	}

	t.Run("a routed document is not found or deleted with another routing", func(t *testing.T) {
		r := index(onShard3, onShard1, `{"n":1}`)
		if !wantStatus(t, r, 201) {
			return
		}
		if got := r.Header.Get("Location"); got != "/r/_doc/"+onShard3+"?routing="+onShard1 {
			t.Errorf("Location want the routing, got %q", got)
		}
		for _, tc := range []struct{ name, routing string }{{"other routing", onShard7}, {"no routing (the id's shard)", ""}} {
			g := e.do(t, http.MethodGet, opensearchapi.DocumentGetReq{Index: "r", DocumentID: onShard3, Params: opensearchapi.DocumentGetParams{Routing: tc.routing}})
			if wantStatus(t, g, 404) {
				wantExactBody(t, g, `{"_index":"r","_id":"`+onShard3+`","found":false}`)
			}
			ex := e.do(t, http.MethodHead, opensearchapi.DocumentExistsReq{Index: "r", DocumentID: onShard3, Params: opensearchapi.DocumentExistsParams{Routing: tc.routing}})
			wantStatus(t, ex, 404)
			src := e.do(t, http.MethodGet, opensearchapi.DocumentSourceReq{Index: "r", DocumentID: onShard3, Params: opensearchapi.DocumentSourceParams{Routing: tc.routing}})
			wantError(t, src, 404, "resource_not_found_exception", "Document not found [r]/["+onShard3+"]")
			d := e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "r", DocumentID: onShard3, Params: opensearchapi.DocumentDeleteParams{Routing: tc.routing}})
			if wantStatus(t, d, 404) && str(t, d.Body, "result") != "not_found" {
				t.Errorf("%s: delete want not_found: %s", tc.name, d)
			}
		}
		g := e.do(t, http.MethodGet, opensearchapi.DocumentGetReq{Index: "r", DocumentID: onShard3, Params: opensearchapi.DocumentGetParams{Routing: onShard1}})
		if wantStatus(t, g, 200) {
			wantExactBody(t, g, `{"_index":"r","_id":"`+onShard3+`","_version":1,"_seq_no":0,"_primary_term":1,"_routing":"`+onShard1+`","found":true,"_source":{"n":1}}`)
		}
		d := e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "r", DocumentID: onShard3, Params: opensearchapi.DocumentDeleteParams{Routing: onShard1}})
		if wantStatus(t, d, 200) && str(t, d.Body, "result") != "deleted" {
			t.Errorf("delete with the stored routing want deleted: %s", d)
		}
	})

	t.Run("the same id under two routings is two documents on two shards", func(t *testing.T) {
		a := index("twice", onShard5, `{"on":5}`)
		b := index("twice", onShard7, `{"on":7}`)
		for _, r := range []*resp{a, b} {
			if wantStatus(t, r, 201) && (str(t, r.Body, "result") != "created" || num(t, r.Body, "_version") != 1) {
				t.Errorf("want a new document (created, version 1): %s", r)
			}
		}
		s := e.search(t, "r", `{"query":{"ids":{"values":["twice"]}}}`, opensearchapi.SearchParams{})
		if wantStatus(t, s, 200) {
			if got := hitIDs(t, s.Body); !reflect.DeepEqual(got, []string{"twice", "twice"}) {
				t.Errorf("want the id twice, got %v", got)
			}
			// merged by shard: shard 5's copy before shard 7's
			wantJSON(t, s.Body, `"`+onShard5+`"`, "hits", "hits", 0, "_routing")
			wantJSON(t, s.Body, `"`+onShard7+`"`, "hits", "hits", 1, "_routing")
		}
		mg := e.do(t, http.MethodPost, opensearchapi.MGetReq{Index: "r", Body: strings.NewReader(`{"docs":[{"_id":"twice","routing":"` + onShard5 + `"},{"_id":"twice","routing":"` + onShard7 + `"},{"_id":"twice"}]}`)})
		if wantStatus(t, mg, 200) {
			wantJSON(t, mg.Body, `{"on":5}`, "docs", 0, "_source")
			wantJSON(t, mg.Body, `{"on":7}`, "docs", 1, "_source")
			wantJSON(t, mg.Body, `false`, "docs", 2, "found")
		}
		mp := e.do(t, http.MethodPost, opensearchapi.MGetReq{Index: "r", Body: strings.NewReader(`{"ids":["twice"]}`), Params: opensearchapi.MGetParams{Routing: onShard7}})
		if wantStatus(t, mp, 200) {
			wantJSON(t, mp.Body, `{"on":7}`, "docs", 0, "_source")
		}
	})

	t.Run("bulk items use their routing and the request default", func(t *testing.T) {
		// the id's own shard is 6; the document is stored under a routing of shard 1
		line := func(action, routing string) string {
			if routing == "" {
				return fmt.Sprintf("{%q:{\"_index\":\"r\",\"_id\":%q}}\n", action, onShard6)
			}
			return fmt.Sprintf("{%q:{\"_index\":\"r\",\"_id\":%q,\"routing\":%q}}\n", action, onShard6, routing)
		}
		body := line("index", onShard1) + "{\"v\":1}\n" +
			line("delete", onShard7) +
			line("update", "") + "{\"doc\":{\"v\":2}}\n" +
			line("update", onShard1) + "{\"doc\":{\"v\":3}}\n" +
			line("delete", "")
		r := e.bulk(t, "", body, opensearchapi.BulkParams{Refresh: "true"})
		if !wantStatus(t, r, 200) {
			return
		}
		wantItem(t, r, 0, "index", 201, "created")
		wantItem(t, r, 1, "delete", 404, "not_found")
		it := wantItemError(t, r, 2, "update", 404, "document_missing_exception", "["+onShard6+"]: document missing")
		wantMeta(t, it, "shard", "6", "error")
		wantItem(t, r, 3, "update", 200, "updated")
		wantItem(t, r, 4, "delete", 404, "not_found")
		r = e.bulk(t, "", line("delete", ""), opensearchapi.BulkParams{Routing: onShard1})
		if wantStatus(t, r, 200) {
			wantItem(t, r, 0, "delete", 200, "deleted")
		}
	})

	t.Run("an empty routing on a write is no routing", func(t *testing.T) {
		// IndexRequest.routing("") stores null: the id places the document, no _routing
		r := e.raw(t, http.MethodPut, e.url+"/r/_doc/"+onShard0a+"?routing=&refresh=true", `{"e":1}`)
		if !wantStatus(t, r, 201) {
			return
		}
		if got := r.Header.Get("Location"); got != "/r/_doc/"+onShard0a {
			t.Errorf("Location want no routing, got %q", got)
		}
		g := e.get(t, "r", onShard0a)
		if wantStatus(t, g, 200) && has(g.Body, "_routing") {
			t.Errorf("an empty routing must not be stored: %s", g)
		}
	})
}

// TestRoutingSeqNoPerShard checks that _seq_no counts per shard: the first write on each
// shard gets 0, whatever was written on the others.
func TestRoutingSeqNoPerShard(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createBWCIndex(t, "s", "")
	tests := []struct {
		name, op, id string
		status       int
		seq          int64
	}{
		{"first on shard 1", "index", "sEERfFzPSI", 201, 0},
		{"first on shard 7", "index", "cNRiIrjzYd", 201, 0},
		{"second on shard 1", "index", "yCdyocKWou", 201, 1},
		{"first on shard 3", "index", "cnepjZhQnb", 201, 0},
		{"third on shard 1 (an update)", "index", "sEERfFzPSI", 200, 2},
		{"second on shard 7 (a delete)", "delete", "cNRiIrjzYd", 200, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r *resp
			if tc.op == "delete" {
				r = e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "s", DocumentID: tc.id})
			} else {
				r = e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "s", DocumentID: tc.id, Body: strings.NewReader(`{}`)})
			}
			if wantStatus(t, r, tc.status) {
				if got := num(t, r.Body, "_seq_no"); got != tc.seq {
					t.Errorf("_seq_no = %d, want %d", got, tc.seq)
				}
				if got := num(t, r.Body, "_primary_term"); got != 1 {
					t.Errorf("_primary_term = %d, want 1", got)
				}
			}
		})
	}
	t.Run("op log records the shard", func(t *testing.T) {
		log := e.cluster.OpLog("s")
		want := []int{1, 7, 1, 3, 1, 7}
		if len(log) != len(want) {
			t.Fatalf("op log has %d entries, want %d", len(log), len(want))
		}
		for i, w := range want {
			if log[i].Shard != w || log[i].SeqNo != tests[i].seq {
				t.Errorf("op log %d: shard %d seq_no %d, want shard %d seq_no %d", i, log[i].Shard, log[i].SeqNo, w, tests[i].seq)
			}
		}
		r := e.raw(t, http.MethodGet, e.url+"/_emu/oplog/s", "")
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `7`, 1, "shard")
			wantJSON(t, r.Body, `0`, 1, "seq_no")
		}
	})
}

// TestRoutingUpdateKeepsStoredRouting covers UpdateHelper.calculateRouting: an update sent
// without routing runs on the id's shard and, when it finds the document there, keeps the
// routing the document was stored with; one stored under a routing that places it on
// another shard is missing on the id's shard.
func TestRoutingUpdateKeepsStoredRouting(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createBWCIndex(t, "u", "")
	// the id and the routing both hash to shard 0
	r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "u", DocumentID: onShard0a, Body: strings.NewReader(`{"a":1}`), Params: opensearchapi.IndexParams{Routing: onShard0b}})
	if !wantStatus(t, r, 201) {
		return
	}
	up := e.update(t, "u", onShard0a, `{"doc":{"a":2}}`, opensearchapi.UpdateParams{})
	if wantStatus(t, up, 200) && str(t, up.Body, "result") != "updated" {
		t.Errorf("update want updated: %s", up)
	}
	g := e.do(t, http.MethodGet, opensearchapi.DocumentGetReq{Index: "u", DocumentID: onShard0a, Params: opensearchapi.DocumentGetParams{Routing: onShard0b}})
	if wantStatus(t, g, 200) {
		wantJSON(t, g.Body, `"`+onShard0b+`"`, "_routing")
		wantJSON(t, g.Body, `{"a":2}`, "_source")
	}

	// stored with a routing of shard 1, the id's shard is 3
	r = e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "u", DocumentID: onShard3, Body: strings.NewReader(`{"a":1}`), Params: opensearchapi.IndexParams{Routing: onShard1}})
	if !wantStatus(t, r, 201) {
		return
	}
	up = e.update(t, "u", onShard3, `{"doc":{"a":2}}`, opensearchapi.UpdateParams{})
	wantError(t, up, 404, "document_missing_exception", "["+onShard3+"]: document missing")
	wantMeta(t, up.Body, "shard", "3", "error")
	up = e.update(t, "u", onShard3, `{"doc":{"a":3}}`, opensearchapi.UpdateParams{Routing: onShard1})
	if wantStatus(t, up, 200) && str(t, up.Body, "result") != "updated" {
		t.Errorf("update with the routing want updated: %s", up)
	}
	// an upsert without routing creates a second document on the id's shard
	up = e.update(t, "u", onShard3, `{"doc":{"a":4},"doc_as_upsert":true}`, opensearchapi.UpdateParams{})
	if wantStatus(t, up, 201) && (str(t, up.Body, "result") != "created" || num(t, up.Body, "_seq_no") != 0) {
		t.Errorf("upsert on the id's shard want created with _seq_no 0: %s", up)
	}
}

// TestRoutingRequired covers _routing.required: RoutingMissingException (400) for single
// document APIs, a failed item for bulk and mget (TransportBulkAction,
// TransportMultiGetAction), and writes and reads with routing going through.
func TestRoutingRequired(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "req", `{"settings":{"index.number_of_shards":3},"mappings":{"_routing":{"required":true}}}`)
	const reason = "routing is required for [req]/[1]"
	checkMissing := func(t *testing.T, r *resp) {
		t.Helper()
		wantError(t, r, 400, "routing_missing_exception", reason)
		wantMeta(t, r.Body, "index", "req", "error")
		wantMeta(t, r.Body, "index_uuid", "_na_", "error")
	}

	t.Run("single document APIs refuse a missing routing", func(t *testing.T) {
		checkMissing(t, e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "req", DocumentID: "1", Body: strings.NewReader(`{}`)}))
		checkMissing(t, e.do(t, http.MethodPut, opensearchapi.DocumentCreateReq{Index: "req", DocumentID: "1", Body: strings.NewReader(`{}`)}))
		checkMissing(t, e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "req", DocumentID: "1"}))
		checkMissing(t, e.update(t, "req", "1", `{"doc":{},"doc_as_upsert":true}`, opensearchapi.UpdateParams{}))
		checkMissing(t, e.get(t, "req", "1"))
		checkMissing(t, e.do(t, http.MethodGet, opensearchapi.DocumentSourceReq{Index: "req", DocumentID: "1"}))
		wantStatus(t, e.do(t, http.MethodHead, opensearchapi.DocumentExistsReq{Index: "req", DocumentID: "1"}), 400)
		// an empty routing on a write is none
		checkMissing(t, e.raw(t, http.MethodPut, e.url+"/req/_doc/1?routing=", `{}`))
	})

	t.Run("with routing everything goes through", func(t *testing.T) {
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "req", DocumentID: "1", Body: strings.NewReader(`{"a":1}`), Params: opensearchapi.IndexParams{Routing: "x"}})
		wantStatus(t, r, 201)
		g := e.do(t, http.MethodGet, opensearchapi.DocumentGetReq{Index: "req", DocumentID: "1", Params: opensearchapi.DocumentGetParams{Routing: "x"}})
		if wantStatus(t, g, 200) {
			wantJSON(t, g.Body, `"x"`, "_routing")
		}
		wantStatus(t, e.update(t, "req", "1", `{"doc":{"a":2}}`, opensearchapi.UpdateParams{Routing: "x"}), 200)
	})

	t.Run("bulk fails the items without routing only", func(t *testing.T) {
		body := "{\"index\":{\"_index\":\"req\",\"_id\":\"1\"}}\n{}\n" +
			"{\"index\":{\"_index\":\"req\",\"_id\":\"2\",\"routing\":\"x\"}}\n{}\n" +
			"{\"update\":{\"_index\":\"req\",\"_id\":\"1\"}}\n{\"doc\":{}}\n" +
			"{\"delete\":{\"_index\":\"req\",\"_id\":\"1\"}}\n" +
			"{\"create\":{\"_index\":\"req\",\"_id\":\"3\"}}\n{}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{})
		if !wantStatus(t, r, 200) {
			return
		}
		wantErrorsFlag(t, r, true)
		it := wantItemError(t, r, 0, "index", 400, "routing_missing_exception", reason)
		wantMeta(t, it, "index", "req", "error")
		wantItem(t, r, 1, "index", 201, "created")
		wantItemError(t, r, 2, "update", 400, "routing_missing_exception", reason)
		wantItemError(t, r, 3, "delete", 400, "routing_missing_exception", reason)
		wantItemError(t, r, 4, "create", 400, "routing_missing_exception", "routing is required for [req]/[3]")
		r = e.bulk(t, "", "{\"delete\":{\"_index\":\"req\",\"_id\":\"2\"}}\n", opensearchapi.BulkParams{Routing: "x"})
		if wantStatus(t, r, 200) {
			wantItem(t, r, 0, "delete", 200, "deleted")
		}
	})

	t.Run("mget fails the items without routing only", func(t *testing.T) {
		mg := e.do(t, http.MethodPost, opensearchapi.MGetReq{Index: "req", Body: strings.NewReader(`{"docs":[{"_id":"1"},{"_id":"1","routing":"x"}]}`)})
		if !wantStatus(t, mg, 200) {
			return
		}
		wantJSON(t, mg.Body, `"routing_missing_exception"`, "docs", 0, "error", "type")
		wantJSON(t, mg.Body, `"`+reason+`"`, "docs", 0, "error", "reason")
		if got := keys(t, rawAt(t, mg.Body, "docs", 0)); !reflect.DeepEqual(got, []string{"_index", "_id", "error"}) {
			t.Errorf("failed mget item keys %v, want [_index _id error]", got)
		}
		wantJSON(t, mg.Body, `true`, "docs", 1, "found")
		mp := e.do(t, http.MethodPost, opensearchapi.MGetReq{Index: "req", Body: strings.NewReader(`{"ids":["1"]}`), Params: opensearchapi.MGetParams{Routing: "x"}})
		if wantStatus(t, mp, 200) {
			wantJSON(t, mp.Body, `true`, "docs", 0, "found")
		}
	})

	t.Run("auto id without routing fails the whole request", func(t *testing.T) {
		// IndexRequest.process builds RoutingMissingException before the id is generated;
		// its constructor's Objects.requireNonNull(id) throws, which TransportBulkAction does
		// not catch per item.
		r := e.do(t, http.MethodPost, opensearchapi.IndexReq{Index: "req", Body: strings.NewReader(`{}`)})
		wantError(t, r, 500, "null_pointer_exception", "id must not be null")
		b := e.bulk(t, "", "{\"index\":{\"_index\":\"req\",\"_id\":\"9\",\"routing\":\"x\"}}\n{}\n{\"index\":{\"_index\":\"req\"}}\n{}\n", opensearchapi.BulkParams{})
		wantError(t, b, 500, "null_pointer_exception", "id must not be null")
		g := e.do(t, http.MethodGet, opensearchapi.DocumentGetReq{Index: "req", DocumentID: "9", Params: opensearchapi.DocumentGetParams{Routing: "x"}})
		wantStatus(t, g, 404) // no item of the failed request ran
	})

	t.Run("Elasticsearch 7 names the type", func(t *testing.T) {
		es := newEmu(t, searchemu.Options{Flavor: searchemu.Elasticsearch7})
		es.createIndex(t, "req", `{"mappings":{"_routing":{"required":true}}}`)
		wantError(t, es.get(t, "req", "1"), 400, "routing_missing_exception", "routing is required for [req]/[_doc]/[1]")
	})
}

// TestRoutingSettings covers the routing settings' checks at index creation
// (IndexMetadata's validators, IndexMetadata.Builder.build, DocumentMapper.validate).
func TestRoutingSettings(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	tests := []struct {
		name, body, reason string
	}{
		{"routing shards below shards", `{"settings":{"index.number_of_shards":8,"index.number_of_routing_shards":4}}`, "index.number_of_routing_shards [4] must be >= index.number_of_shards [8]"},
		{"routing shards not a multiple", `{"settings":{"index.number_of_shards":2,"index.number_of_routing_shards":3}}`, "the number of source shards [2] must be a factor of [3]"},
		{"partition not below routing shards", `{"settings":{"index.number_of_shards":2,"index.number_of_routing_shards":4,"index.routing_partition_size":4},"mappings":{"_routing":{"required":true}}}`, "routing partition size [4] should be a positive number less than the number of shards [4] for [bad]"},
		{"partition without required routing", `{"settings":{"index.number_of_shards":3,"index.routing_partition_size":2},"mappings":{"properties":{"a":{"type":"keyword"}}}}`, "mapping type [_doc] must have routing required for partitioned index [bad]"},
		{"too many shards", `{"settings":{"index.number_of_shards":1025}}`, "Failed to parse value [1025] for setting [index.number_of_shards] must be <= 1024"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodPut, opensearchapi.IndicesCreateReq{Index: "bad", Body: strings.NewReader(tc.body)})
			wantError(t, r, 400, "illegal_argument_exception", tc.reason)
		})
	}
	t.Run("a partition below the default routing shards is accepted", func(t *testing.T) {
		// 3 shards route over 768 routing shards by default, so a partition of 5 is valid
		e.createIndex(t, "part", `{"settings":{"index.number_of_shards":3,"index.routing_partition_size":5},"mappings":{"_routing":{"required":true}}}`)
	})
	t.Run("a dynamic mapping update of a partitioned index without required routing fails", func(t *testing.T) {
		e.createIndex(t, "part2", `{"settings":{"index.number_of_shards":3,"index.routing_partition_size":2}}`)
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "part2", DocumentID: "1", Body: strings.NewReader(`{"a":1}`), Params: opensearchapi.IndexParams{Routing: "x"}})
		wantError(t, r, 400, "illegal_argument_exception", "mapping type [_doc] must have routing required for partitioned index [part2]")
	})
	t.Run("a mapping update of a partitioned index needs routing required", func(t *testing.T) {
		e.createIndex(t, "part3", `{"settings":{"index.number_of_shards":3,"index.routing_partition_size":2}}`)
		r := e.do(t, http.MethodPut, opensearchapi.MappingPutReq{Indices: []string{"part3"}, Body: strings.NewReader(`{"properties":{"a":{"type":"keyword"}}}`)})
		wantError(t, r, 400, "illegal_argument_exception", "mapping type [_doc] must have routing required for partitioned index [part3]")
		r = e.do(t, http.MethodPut, opensearchapi.MappingPutReq{Indices: []string{"part3"}, Body: strings.NewReader(`{"_routing":{"required":true},"properties":{"a":{"type":"keyword"}}}`)})
		wantStatus(t, r, 200)
	})
	t.Run("routing settings are not dynamic", func(t *testing.T) {
		e.createIndex(t, "stat", `{"settings":{"index.number_of_shards":2}}`)
		r := e.do(t, http.MethodPut, opensearchapi.SettingsPutReq{Indices: []string{"stat"}, Body: strings.NewReader(`{"index.routing_partition_size":1}`)})
		wantStatus(t, r, 400)
	})
}

// TestRoutingSearchShards covers which shards a search reaches and how their hits merge:
// _shards counts per shard, routing= and preference=_shards:N narrow the shards
// (OperationRouting.computeTargetedShards, preferenceActiveShardIterator), and hits with
// equal scores come by shard, then doc order (ShardId order, the query phase's merge).
func TestRoutingSearchShards(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createBWCIndex(t, "q", "")
	e.createIndex(t, "q2", `{"settings":{"index.number_of_shards":3}}`)
	// written so that write order differs from shard order
	writes := []struct{ id, routing string }{
		{"d7", onShard7}, {"d1a", onShard1}, {"d3", onShard3}, {"d1b", onShard1}, {"d0", onShard0a},
	}
	var b strings.Builder
	for _, w := range writes {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":\"q\",\"_id\":%q,\"routing\":%q}}\n{\"k\":\"v\"}\n", w.id, w.routing)
	}
	if r := e.bulk(t, "", b.String(), opensearchapi.BulkParams{Refresh: "true"}); !wantStatus(t, r, 200) {
		return
	}

	tests := []struct {
		name    string
		params  opensearchapi.SearchParams
		shards  int64
		wantIDs []string
	}{
		{"all shards, merged by shard then doc order", opensearchapi.SearchParams{}, 8, []string{"d0", "d1a", "d1b", "d3", "d7"}},
		{"routing", opensearchapi.SearchParams{Routing: []string{onShard1}}, 1, []string{"d1a", "d1b"}},
		{"two routings", opensearchapi.SearchParams{Routing: []string{onShard7, onShard1}}, 2, []string{"d1a", "d1b", "d7"}},
		{"preference _shards", opensearchapi.SearchParams{Preference: "_shards:3"}, 1, []string{"d3"}},
		{"preference two shards", opensearchapi.SearchParams{Preference: "_shards:7,0"}, 2, []string{"d0", "d7"}},
		{"preference with a further preference", opensearchapi.SearchParams{Preference: "_shards:1|_local"}, 1, []string{"d1a", "d1b"}},
		{"routing and preference intersect", opensearchapi.SearchParams{Routing: []string{onShard1}, Preference: "_shards:3"}, 0, []string{}},
		{"preference past the last shard", opensearchapi.SearchParams{Preference: "_shards:9"}, 0, []string{}},
		{"a custom preference string changes nothing", opensearchapi.SearchParams{Preference: "session-1"}, 8, []string{"d0", "d1a", "d1b", "d3", "d7"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.search(t, "q", `{"query":{"match_all":{}}}`, tc.params)
			if !wantStatus(t, r, 200) {
				return
			}
			wantJSON(t, r.Body, fmt.Sprintf(`{"total":%d,"successful":%d,"skipped":0,"failed":0}`, tc.shards, tc.shards), "_shards")
			if got := hitIDs(t, r.Body); !reflect.DeepEqual(got, tc.wantIDs) {
				t.Errorf("hits %v, want %v", got, tc.wantIDs)
			}
			c := e.do(t, http.MethodPost, opensearchapi.IndicesCountReq{Indices: []string{"q"}, Params: opensearchapi.IndicesCountParams{Routing: tc.params.Routing, Preference: tc.params.Preference}})
			if wantStatus(t, c, 200) {
				wantJSON(t, c.Body, fmt.Sprintf(`{"total":%d,"successful":%d,"skipped":0,"failed":0}`, tc.shards, tc.shards), "_shards")
				if got := num(t, c.Body, "count"); got != int64(len(tc.wantIDs)) {
					t.Errorf("count %d, want %d", got, len(tc.wantIDs))
				}
			}
		})
	}

	t.Run("_doc sort values are per shard and ties break by shard", func(t *testing.T) {
		r := e.search(t, "q", `{"sort":["_doc"]}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) {
			// d0, d1a, d3, d7 are each their shard's first document; d1b is shard 1's second
			if got := hitIDs(t, r.Body); !reflect.DeepEqual(got, []string{"d0", "d1a", "d3", "d7", "d1b"}) {
				t.Errorf("hits %v, want [d0 d1a d3 d7 d1b]", got)
			}
		}
	})

	t.Run("shards of several indices", func(t *testing.T) {
		r := e.search(t, "q,q2", `{}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `11`, "_shards", "total")
		}
		for _, path := range []string{"/q,q2/_refresh", "/q,q2/_flush"} {
			rf := e.raw(t, http.MethodPost, e.url+path, "")
			if wantStatus(t, rf, 200) {
				// one replica each, unassigned on one node: 2 copies per shard, 1 answers
				wantJSON(t, rf.Body, `{"total":22,"successful":11,"failed":0}`, "_shards")
			}
		}
	})

	t.Run("bad preferences", func(t *testing.T) {
		r := e.search(t, "q", `{}`, opensearchapi.SearchParams{Preference: "_shards:x"})
		wantError(t, r, 400, "number_format_exception", `For input string: "x"`)
		r = e.search(t, "q", `{}`, opensearchapi.SearchParams{Preference: "_bogus"})
		wantError(t, r, 400, "illegal_argument_exception", "no Preference for [_bogus]")
		// after the bar Preference.parse reads a preference type, so a custom string fails
		r = e.search(t, "q", `{}`, opensearchapi.SearchParams{Preference: "_shards:1|custom"})
		wantError(t, r, 400, "illegal_argument_exception", "no Preference for [custom]")
	})

	t.Run("shard counts in cat indices and health", func(t *testing.T) {
		ci := e.raw(t, http.MethodGet, e.url+"/_cat/indices/q?format=json&h=index,pri,rep", "")
		if wantStatus(t, ci, 200) {
			wantJSON(t, ci.Body, `[{"index":"q","pri":"8","rep":"1"}]`)
		}
		h := e.raw(t, http.MethodGet, e.url+"/_cluster/health/q", "")
		if wantStatus(t, h, 200) {
			wantJSON(t, h.Body, `8`, "active_primary_shards")
			wantJSON(t, h.Body, `8`, "unassigned_shards")
		}
	})

	t.Run("a point in time reaches the routed shards", func(t *testing.T) {
		r := e.raw(t, http.MethodPost, e.url+"/q/_search/point_in_time?keep_alive=1m&preference=_shards:1,3", "")
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `{"total":2,"successful":2,"skipped":0,"failed":0}`, "_shards")
			pit := str(t, r.Body, "pit_id")
			s := e.search(t, "", `{"pit":{"id":"`+pit+`"}}`, opensearchapi.SearchParams{})
			if wantStatus(t, s, 200) {
				ids := hitIDs(t, s.Body)
				sort.Strings(ids)
				if !reflect.DeepEqual(ids, []string{"d1a", "d1b", "d3"}) {
					t.Errorf("pit hits %v, want [d1a d1b d3]", ids)
				}
			}
		}
	})
}

// TestRoutingSingleShard shows why a one-shard index hides routing bugs, exactly as a real
// cluster does: every routing names shard 0, so a delete with another routing finds the
// id there and deletes it.
func TestRoutingSingleShard(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "one", DocumentID: "1", Body: strings.NewReader(`{}`), Params: opensearchapi.IndexParams{Routing: "5"}})
	if !wantStatus(t, r, 201) {
		return
	}
	d := e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "one", DocumentID: "1", Params: opensearchapi.DocumentDeleteParams{Routing: "4"}})
	if wantStatus(t, d, 200) && str(t, d.Body, "result") != "deleted" {
		t.Errorf("on one shard a delete with another routing deletes: %s", d)
	}
}

// TestRoutingAliases covers routing aliases (Metadata.resolveWriteIndexRouting,
// resolveIndexRouting, IndexNameExpressionResolver.resolveSearchRouting): writes and gets
// through the alias take its index routing and refuse another, searches through it reach
// the shards of its search routing.
func TestRoutingAliases(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createBWCIndex(t, "al", "")
	r := e.raw(t, http.MethodPost, e.url+"/_aliases", `{"actions":[{"add":{"index":"al","alias":"ra","routing":"`+onShard1+`"}},{"add":{"index":"al","alias":"plain"}}]}`)
	if !wantStatus(t, r, 200) {
		return
	}
	conflict := "Alias [ra] has index routing associated with it [" + onShard1 + "], and was provided with routing value [" + onShard7 + "], rejecting operation"

	t.Run("writes and gets through the alias take its routing", func(t *testing.T) {
		w := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "ra", DocumentID: onShard3, Body: strings.NewReader(`{"via":"alias"}`), Params: opensearchapi.IndexParams{Refresh: "true"}})
		if !wantStatus(t, w, 201) {
			return
		}
		if got := w.Header.Get("Location"); got != "/al/_doc/"+onShard3+"?routing="+onShard1 {
			t.Errorf("Location want the alias routing, got %q", got)
		}
		g := e.do(t, http.MethodGet, opensearchapi.DocumentGetReq{Index: "al", DocumentID: onShard3, Params: opensearchapi.DocumentGetParams{Routing: onShard1}})
		if wantStatus(t, g, 200) {
			wantJSON(t, g.Body, `"`+onShard1+`"`, "_routing")
		}
		if g := e.get(t, "ra", onShard3); wantStatus(t, g, 200) {
			wantJSON(t, g.Body, `{"via":"alias"}`, "_source")
		}
		// the plain name reads the id's shard (3), where nothing is stored
		wantStatus(t, e.get(t, "al", onShard3), 404)
		mg := e.do(t, http.MethodPost, opensearchapi.MGetReq{Body: strings.NewReader(`{"docs":[{"_index":"ra","_id":"` + onShard3 + `"},{"_index":"ra","_id":"` + onShard3 + `","routing":"` + onShard7 + `"}]}`)})
		if wantStatus(t, mg, 200) {
			wantJSON(t, mg.Body, `true`, "docs", 0, "found")
			wantJSON(t, mg.Body, `"`+conflict+`"`, "docs", 1, "error", "reason")
			wantJSON(t, mg.Body, `"ra"`, "docs", 1, "_index") // TransportMultiGetAction: item.index()
		}
	})

	t.Run("another routing through the alias is refused", func(t *testing.T) {
		w := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "ra", DocumentID: "x", Body: strings.NewReader(`{}`), Params: opensearchapi.IndexParams{Routing: onShard7}})
		wantError(t, w, 400, "illegal_argument_exception", conflict)
		g := e.do(t, http.MethodGet, opensearchapi.DocumentGetReq{Index: "ra", DocumentID: "x", Params: opensearchapi.DocumentGetParams{Routing: onShard7}})
		wantError(t, g, 400, "illegal_argument_exception", conflict)
		b := e.bulk(t, "", `{"delete":{"_index":"ra","_id":"x","routing":"`+onShard7+`"}}`+"\n"+`{"delete":{"_index":"ra","_id":"x","routing":"`+onShard1+`"}}`+"\n", opensearchapi.BulkParams{})
		if wantStatus(t, b, 200) {
			wantItemError(t, b, 0, "delete", 400, "illegal_argument_exception", conflict)
			wantItem(t, b, 1, "delete", 404, "not_found")
		}
	})

	t.Run("searches through the alias reach its routing's shards", func(t *testing.T) {
		tests := []struct {
			name, index string
			routing     []string
			shards      int64
		}{
			{"the routing alias", "ra", nil, 1},
			{"the routing alias with its own routing", "ra", []string{onShard1}, 1},
			// an empty intersection of alias and parameter routing drops the routing map
			{"the routing alias with another routing", "ra", []string{onShard7}, 8},
			{"an alias without routing", "plain", nil, 8},
			{"an alias without routing takes the parameter", "plain", []string{onShard7}, 1},
			{"the index named directly wins", "al,ra", nil, 8},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := e.search(t, tc.index, `{}`, opensearchapi.SearchParams{Routing: tc.routing})
				if wantStatus(t, s, 200) {
					wantJSON(t, s.Body, strconv.FormatInt(tc.shards, 10), "_shards", "total")
				}
			})
		}
	})
}

// TestShardLimit covers ShardLimitValidator: cluster.max_shards_per_node (1000 on the one
// data node) counts every shard copy of the open indices, unassigned replicas included,
// and refuses an index that would pass it, whether created or auto-created.
func TestShardLimit(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "big", `{"settings":{"index.number_of_shards":499}}`)                              // 998 copies
	e.createIndex(t, "exact", `{"settings":{"index.number_of_shards":2,"index.number_of_replicas":0}}`) // 1000: at the limit
	const full = "Validation Failed: 1: this action would add [%d] total shards, but this cluster currently has [1000]/[1000] maximum shards open;"
	r := e.do(t, http.MethodPut, opensearchapi.IndicesCreateReq{Index: "more", Body: strings.NewReader(`{"settings":{"index.number_of_replicas":0}}`)})
	wantError(t, r, 400, "validation_exception", fmt.Sprintf(full, 1))
	b := e.bulk(t, "", "{\"index\":{\"_index\":\"auto\",\"_id\":\"1\"}}\n{}\n", opensearchapi.BulkParams{})
	if wantStatus(t, b, 200) {
		wantItemError(t, b, 0, "index", 400, "validation_exception", fmt.Sprintf(full, 2))
	}
	wantStatus(t, e.do(t, http.MethodDelete, opensearchapi.IndicesDeleteReq{Indices: []string{"exact"}}), 200)
	e.createIndex(t, "fits", `{"settings":{"index.number_of_shards":1}}`)
}
