package searchemu

import (
	"sort"
	"strconv"
)

// Two read-only shard-level APIs, as far as fanout's crash recovery reads them:
//
//   - GET|POST /{index}/_search_shards (RestClusterSearchShardsAction,
//     ClusterSearchShardsResponse/Group): the shard groups a search with the given
//     routing reaches, each with its copies' ShardRouting ("state", "primary", "node",
//     "relocating_node", "shard", "index", "allocation_id"), plus "nodes" and
//     "indices". The emulated cluster has one node and only primaries are assigned, so
//     each group lists its primary.
//   - GET /{index}/_stats/docs?level=shards (RestIndicesStatsAction): per index
//     "primaries" and "total" docs, and with level=shards every shard copy's ShardStats
//     ("routing", "docs", "seq_no" {max_seq_no, local_checkpoint, global_checkpoint},
//     "retention_leases" {primary_term, version, leases}, "shard_path"). Only the docs
//     metric is modelled, so only that route is served; other metrics are not routed.
//     max_seq_no is the shard's highest assigned _seq_no (-1 before any operation),
//     the checkpoints equal it (every write is applied before it is answered).

func handleSearchShards(c *Cluster, rq *request) *response {
	ixs, rerr := c.resolveIndices(rq, optForbidClosed)
	if rerr != nil {
		return errResp(rerr)
	}
	routing, hasRouting := rq.query["routing"]
	var routes []string
	if hasRouting {
		routes = parseSearchRouting(routing)
	}
	sort.Slice(ixs, func(i, j int) bool { return ixs[i].name < ixs[j].name })
	b := []byte(`{"nodes":{"`)
	b = append(b, c.nodeID...)
	b = append(b, `":{"name":`...)
	b = appendJSONString(b, c.nodeName)
	b = append(b, `,"ephemeral_id":`...)
	b = appendJSONString(b, c.nodeID)
	b = append(b, `,"transport_address":"127.0.0.1:9300","attributes":{}}},"indices":{`...)
	for i, ix := range ixs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, ix.name)
		b = append(b, `:{}`...)
	}
	b = append(b, `},"shards":[`...)
	first := true
	for _, ix := range ixs {
		for _, n := range ix.searchTargets(routes, hasRouting && len(routes) > 0, nil) {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, `[{"state":"STARTED","primary":true,"node":`...)
			b = appendJSONString(b, c.nodeID)
			b = append(b, `,"relocating_node":null,"shard":`...)
			b = strconv.AppendInt(b, int64(n), 10)
			b = append(b, `,"index":`...)
			b = appendJSONString(b, ix.name)
			b = append(b, `,"allocation_id":{"id":`...)
			b = appendJSONString(b, ix.uuid+"-"+strconv.Itoa(n))
			b = append(b, `}}]`...)
		}
	}
	b = append(b, `]}`...)
	return jsonResp(200, b)
}

func handleDocsStats(c *Cluster, rq *request) *response {
	ixs, rerr := c.resolveIndices(rq, optForbidClosed)
	if rerr != nil {
		return errResp(rerr)
	}
	level := rq.query["level"]
	switch level {
	case "", "indices", "cluster", "shards":
	default:
		return errResp(errIllegalArg("level parameter must be one of [cluster] or [indices] or [shards] but was [" + level + "]"))
	}
	sort.Slice(ixs, func(i, j int) bool { return ixs[i].name < ixs[j].name })
	type shardNums struct{ docs, maxSeq int64 }
	per := make([][]shardNums, len(ixs))
	var all int64
	for i, ix := range ixs {
		ix.mu.RLock()
		per[i] = make([]shardNums, len(ix.shards))
		for n := range ix.shards {
			sh := &ix.shards[n]
			per[i][n] = shardNums{docs: int64(len(sh.docs)), maxSeq: sh.nextSeq - 1}
			all += int64(len(sh.docs))
		}
		ix.mu.RUnlock()
	}
	docs := func(b []byte, n int64) []byte {
		b = append(b, `{"docs":{"count":`...)
		b = strconv.AppendInt(b, n, 10)
		return append(b, `,"deleted":0}}`...)
	}
	total, ok := shardsTotals(ixs)
	b := []byte(`{"_shards":{"total":`)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"successful":`...)
	b = strconv.AppendInt(b, int64(ok), 10)
	b = append(b, `,"failed":0},"_all":{"primaries":`...)
	b = docs(b, all)
	b = append(b, `,"total":`...)
	b = docs(b, all)
	b = append(b, '}')
	if level != "cluster" {
		b = append(b, `,"indices":{`...)
		for i, ix := range ixs {
			if i > 0 {
				b = append(b, ',')
			}
			var sum int64
			for _, s := range per[i] {
				sum += s.docs
			}
			b = appendJSONString(b, ix.name)
			b = append(b, `:{"uuid":`...)
			b = appendJSONString(b, ix.uuid)
			b = append(b, `,"primaries":`...)
			b = docs(b, sum)
			b = append(b, `,"total":`...)
			b = docs(b, sum)
			if level == "shards" {
				b = append(b, `,"shards":{`...)
				for n, s := range per[i] {
					if n > 0 {
						b = append(b, ',')
					}
					b = append(b, '"')
					b = strconv.AppendInt(b, int64(n), 10)
					b = append(b, `":[{"routing":{"state":"STARTED","primary":true,"node":`...)
					b = appendJSONString(b, c.nodeID)
					b = append(b, `,"relocating_node":null},"docs":{"count":`...)
					b = strconv.AppendInt(b, s.docs, 10)
					b = append(b, `,"deleted":0},"seq_no":{"max_seq_no":`...)
					b = strconv.AppendInt(b, s.maxSeq, 10)
					b = append(b, `,"local_checkpoint":`...)
					b = strconv.AppendInt(b, s.maxSeq, 10)
					b = append(b, `,"global_checkpoint":`...)
					b = strconv.AppendInt(b, s.maxSeq, 10)
					b = append(b, `},"retention_leases":{"primary_term":`...)
					b = strconv.AppendInt(b, primaryTerm, 10)
					b = append(b, `,"version":0,"leases":[]},"shard_path":{"state_path":"/emu","data_path":"/emu","is_custom_data_path":false}}]`...)
				}
				b = append(b, '}')
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	b = append(b, '}')
	return jsonResp(200, b)
}
