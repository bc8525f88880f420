package searchemu

import (
	"slices"
	"strconv"
)

// maxShards is the upper bound of index.number_of_shards (IndexMetadata's
// INDEX_NUMBER_OF_SHARDS_SETTING: the opensearch.index.max_number_of_shards default).
const maxShards = 1024

// shard is one primary shard: its live documents, its tombstones and its own
// sequence-number counter (a local checkpoint per shard, as the engine keeps). The index
// lock guards it.
type shard struct {
	docs    map[string]*doc
	tombs   map[string]tombstone
	nextSeq int64
}

func newShards(n int) []shard {
	out := make([]shard, n)
	for i := range out {
		out[i] = shard{docs: map[string]*doc{}, tombs: map[string]tombstone{}}
	}
	return out
}

// shardFor is the shard a document with this id and routing lives on.
func (ix *index) shardFor(id, routing string, hasRouting bool) int {
	return ix.routing.shardOf(id, routing, hasRouting)
}

// shardSnapshot returns the docs a search of one shard sees (its refreshed view, see
// refresh.go) in its doc order (by last write).
func (ix *index) shardSnapshot(n int) []*doc {
	out := ix.searchable(n)
	slices.SortFunc(out, func(a, b *doc) int { return cmpInt(a.seqNo, b.seqNo) })
	return out
}

// onShard sets the shard of an engine exception's metadata (see shardMeta).
func (e *esError) onShard(n int) *esError {
	for i := range e.meta {
		if e.meta[i].k == "shard" {
			e.meta[i].v = strconv.Itoa(n)
		}
	}
	return e
}

// maxShardsPerNode is cluster.max_shards_per_node's default; the emulated cluster has one
// data node, so it is also the cluster's limit.
const maxShardsPerNode = 1000

// checkShardLimitLocked is ShardLimitValidator.validateShardLimit: an index whose shard
// copies (primaries and replicas, assigned or not) would take the open indices past the
// limit is refused. c.mu must be held.
func (c *Cluster) checkShardLimitLocked(shards, replicas int) *esError {
	open := 0
	for _, ix := range c.indices {
		k := ix.k()
		open += k.shards * (1 + k.replicas)
	}
	add := shards * (1 + replicas)
	if open+add <= maxShardsPerNode {
		return nil
	}
	reason := "Validation Failed: 1: this action would add [" + strconv.Itoa(add) + "] total shards, but this cluster currently has [" + strconv.Itoa(open) + "]/[" + strconv.Itoa(maxShardsPerNode) + "] maximum shards open;"
	return newErr(400, "validation_exception", reason, false)
}
