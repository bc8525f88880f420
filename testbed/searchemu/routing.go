package searchemu

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

// Document routing, as OpenSearch places documents on shards.
//
// Followed: server/src/main/java/org/opensearch/cluster/routing/Murmur3HashFunction.java
// (the hash), OperationRouting.java (generateShardId, calculateScaledShardId,
// computeTargetedShards, preferenceActiveShardIterator), cluster/metadata/IndexMetadata.java
// (number_of_routing_shards, routing factor, routing_partition_size and their checks) and
// MetadataCreateIndexService.calculateNumRoutingShards (the default routing_num_shards).

// murmur3String is Murmur3HashFunction.hash(String): murmur3 x86 32-bit with seed 0 over
// the string's UTF-16 code units, each written as two little-endian bytes.
func murmur3String(s string) int32 {
	var stack [256]byte
	b := stack[:0]
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			b = append(b, byte(r1), byte(r1>>8), byte(r2), byte(r2>>8))
			continue
		}
		b = append(b, byte(r), byte(r>>8))
	}
	return int32(murmur3x86_32(b, 0))
}

// murmur3x86_32 is Lucene's StringHelper.murmurhash3_x86_32.
func murmur3x86_32(b []byte, seed uint32) uint32 {
	const c1, c2 = 0xcc9e2d51, 0x1b873593
	h := seed
	n := len(b) &^ 3
	for i := 0; i < n; i += 4 {
		k := binary.LittleEndian.Uint32(b[i:])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
		h = bits.RotateLeft32(h, 13)
		h = h*5 + 0xe6546b64
	}
	var k uint32
	switch len(b) & 3 {
	case 3:
		k = uint32(b[n+2]) << 16
		fallthrough
	case 2:
		k |= uint32(b[n+1]) << 8
		fallthrough
	case 1:
		k |= uint32(b[n])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
	}
	h ^= uint32(len(b))
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// floorMod is Java's Math.floorMod for a positive modulus.
func floorMod(x int32, m int) int {
	r := int(x) % m
	if r < 0 {
		r += m
	}
	return r
}

// routingTable is the part of an index's metadata that places documents.
type routingTable struct {
	shards        int // number_of_shards
	routingShards int // routing_num_shards
	factor        int // routing_num_shards / number_of_shards
	partition     int // routing_partition_size
}

// partitioned is IndexMetadata.isRoutingPartitionedIndex.
func (rt *routingTable) partitioned() bool { return rt.partition != 1 }

// shardOf is OperationRouting.generateShardId: the effective routing is the routing when
// one is given, else the id; a partitioned index adds an offset taken from the id's hash.
func (rt *routingTable) shardOf(id, routing string, hasRouting bool) int {
	if rt.shards == 1 {
		return 0 // floorMod(h, routingShards) < factor: every routing lands on shard 0
	}
	eff := id
	if hasRouting {
		eff = routing
	}
	offset := int32(0)
	if rt.partitioned() {
		offset = int32(floorMod(murmur3String(id), rt.partition))
	}
	return rt.scaled(eff, offset)
}

// scaled is OperationRouting.calculateScaledShardId; the sum wraps as Java's int does.
func (rt *routingTable) scaled(routing string, offset int32) int {
	h := murmur3String(routing) + offset
	return floorMod(h, rt.routingShards) / rt.factor
}

// routingShardSet adds the shards a search routing value reaches
// (OperationRouting.computeTargetedShards): one per partition offset.
func (rt *routingTable) routingShardSet(routing string, into []bool) {
	for off := 0; off < rt.partition; off++ {
		into[rt.scaled(routing, int32(off))] = true
	}
}

// defaultRoutingShards is MetadataCreateIndexService.calculateNumRoutingShards for indices
// created on 7.0 or later: the largest numShards·2^k not above 1024, with k at least 1.
func defaultRoutingShards(numShards int) int {
	log2Max := 10
	log2Num := 32 - bits.LeadingZeros32(uint32(numShards-1))
	splits := log2Max - log2Num
	if splits < 1 {
		splits = 1
	}
	return numShards << splits
}

// newRoutingTable validates the routing settings of a new index as IndexMetadata does and
// returns the table. s is the flattened settings; shards is index.number_of_shards.
func newRoutingTable(name string, s map[string]string, shards int) (routingTable, *esError) {
	rt := routingTable{shards: shards, routingShards: defaultRoutingShards(shards), partition: 1}
	if v, ok := s["index.number_of_routing_shards"]; ok {
		n, err := parseIntSetting(v, "index.number_of_routing_shards", 1)
		if err != nil {
			return rt, err
		}
		// IndexMetadata.INDEX_NUMBER_OF_ROUTING_SHARDS_SETTING's validator
		if n < shards {
			return rt, errIllegalArg("index.number_of_routing_shards [" + strconv.Itoa(n) + "] must be >= index.number_of_shards [" + strconv.Itoa(shards) + "]")
		}
		if f := n / shards; n > shards && (f*shards != n || f <= 1) {
			return rt, errIllegalArg("the number of source shards [" + strconv.Itoa(shards) + "] must be a factor of [" + strconv.Itoa(n) + "]")
		}
		rt.routingShards = n
	}
	rt.factor = rt.routingShards / shards
	if v, ok := s["index.routing_partition_size"]; ok {
		n, err := parseIntSetting(v, "index.routing_partition_size", 1)
		if err != nil {
			return rt, err
		}
		// IndexMetadata.Builder.build. The bound is the routing shards even though the
		// 2.x message says "shards" (OpenSearch's main branch now says "routing shards").
		if n != 1 && n >= rt.routingShards {
			return rt, errIllegalArg("routing partition size [" + strconv.Itoa(n) + "] should be a positive number less than the number of shards [" + strconv.Itoa(rt.routingShards) + "] for [" + name + "]")
		}
		rt.partition = n
	}
	return rt, nil
}

// parseIntSetting parses an integer index setting with a lower bound (Setting.parseInt).
func parseIntSetting(v, key string, min int) (int, *esError) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errIllegalArgCause("Failed to parse value ["+v+"] for setting ["+key+"]", newErr(400, typeNumberFormat, `For input string: "`+v+`"`, false))
	}
	if n < min {
		return 0, errIllegalArg("Failed to parse value [" + v + "] for setting [" + key + "] must be >= " + strconv.Itoa(min))
	}
	return n, nil
}

// routingRequired reports the mapping's _routing.required (RoutingFieldMapper).
func (m *mapping) routingRequired() bool {
	for _, p := range m.rootParams {
		if p.k != "_routing" {
			continue
		}
		o, ok := p.v.(*jsonObj)
		if !ok {
			return false
		}
		if v, ok := o.get("required"); ok {
			return boolValue(v, false)
		}
	}
	return false
}

// checkPartitionedMapping is DocumentMapper.validate's rule for partitioned indices: their
// mapping must require routing. It runs wherever the server merges a mapping.
func (ix *index) checkPartitionedMapping(m *mapping) *esError {
	if !ix.routing.partitioned() || m.routingRequired() {
		return nil
	}
	return errIllegalArg("mapping type [_doc] must have routing required for partitioned index [" + ix.name + "]")
}

// errRoutingMissing is RoutingMissingException (400), whose message names the type in
// Elasticsearch 7.
func (c *Cluster) errRoutingMissing(ix *index, id string) *esError {
	reason := "routing is required for [" + ix.name + "]/[" + id + "]"
	if c.opts.Flavor == Elasticsearch7 {
		reason = "routing is required for [" + ix.name + "]/[_doc]/[" + id + "]"
	}
	e := newErr(400, "routing_missing_exception", reason, true)
	e.meta = []metaKV{{k: "index_uuid", v: "_na_"}, {k: "index", v: ix.name}}
	return e
}

// errRoutingMissingNullID is what a cluster answers for an auto-id index request into an
// index whose mapping requires routing when none is given: IndexRequest.process builds
// RoutingMissingException before the id is generated, and its constructor's null check
// throws instead, failing the whole request.
func errRoutingMissingNullID() *esError {
	return newErr(500, "null_pointer_exception", "id must not be null", false)
}

// shardTargets is the set of shards one index's search reaches, in shard order.
type shardTargets []int

// searchTargets applies the search routing and preference=_shards to an index:
// OperationRouting.computeTargetedShards then preferenceActiveShardIterator.
func (ix *index) searchTargets(routing []string, hasRouting bool, pref *shardPref) shardTargets {
	rt := &ix.routing
	reached := make([]bool, rt.shards)
	if hasRouting {
		for _, r := range routing {
			rt.routingShardSet(r, reached)
		}
	} else {
		for i := range reached {
			reached[i] = true
		}
	}
	out := make(shardTargets, 0, rt.shards)
	for n, ok := range reached {
		if ok && pref.allows(n) {
			out = append(out, n)
		}
	}
	return out
}

// shardPref is a parsed preference=_shards:N[,M][|rest]; nil allows every shard.
type shardPref struct {
	ids map[int]bool
}

func (p *shardPref) allows(n int) bool { return p == nil || p.ids[n] }

// parseSearchRouting splits a search routing parameter as
// Strings.splitStringByCommaToArray does: Java's String.split(","), which keeps inner
// empty values and drops trailing ones; an empty parameter names no routing at all, so
// the search reaches no shard.
func parseSearchRouting(v string) []string {
	parts := strings.Split(v, ",")
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// parsePreference reads the preference parameter as preferenceActiveShardIterator does.
// Only _shards changes which shards answer on a one-node cluster; the other named
// preferences (_local, _primary, _replica, _only_local, _prefer_nodes:…, _only_nodes:…)
// and custom strings pick among copies of a shard, of which the emulator has one. An
// unknown name starting with '_' is refused as Preference.parse refuses it;
// Elasticsearch 7 no longer knows _primary, _replica, _primary_first and _replica_first.
func parsePreference(v string, es7 bool) (*shardPref, *esError) {
	if v == "" || v[0] != '_' {
		return nil, nil
	}
	name := preferenceName(v)
	if name != "_shards" {
		return nil, checkPreferenceName(name, es7)
	}
	if len(v) <= len("_shards") {
		// preference.substring(length + 1) past the end of "_shards"
		return nil, newErr(500, "string_index_out_of_bounds_exception", "begin 8, end "+strconv.Itoa(len(v))+", length "+strconv.Itoa(len(v)), false)
	}
	rest := v[len("_shards")+1:]
	if i := strings.IndexByte(rest, '|'); i >= 0 {
		// what follows the bar is parsed as a preference of its own, custom strings included
		tail := rest[i+1:]
		rest = rest[:i]
		if tail != "" {
			switch tn := preferenceName(tail); tn {
			case "_shards":
				return nil, errIllegalArg("unknown preference [SHARDS]")
			default:
				if err := checkPreferenceName(tn, es7); err != nil {
					return nil, err
				}
			}
		}
	}
	p := &shardPref{ids: map[int]bool{}}
	// Strings.splitStringByCommaToArray, then Integer.parseInt of each id
	for _, id := range parseSearchRouting(rest) {
		n, err := strconv.ParseInt(id, 10, 32)
		if err != nil {
			return nil, newErr(400, typeNumberFormat, `For input string: "`+id+`"`, false)
		}
		p.ids[int(n)] = true
	}
	return p, nil
}

// preferenceName is the preference type of a preference string (Preference.parse).
func preferenceName(v string) string {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		return v[:i]
	}
	return v
}

// checkPreferenceName refuses a preference type Preference.parse does not know.
func checkPreferenceName(name string, es7 bool) *esError {
	switch name {
	case "_prefer_nodes", "_local", "_only_local", "_only_nodes":
		return nil
	case "_primary", "_replica", "_primary_first", "_replica_first":
		if !es7 {
			return nil
		}
	}
	return errIllegalArg("no Preference for [" + name + "]")
}

// normaliseRouting drops an empty routing: IndexRequest, DeleteRequest and UpdateRequest
// store routing("") as null, so the document is placed by its id and keeps no _routing.
func (op *docOp) normaliseRouting() {
	if op.hasRouting && op.routing == "" {
		op.routing, op.hasRouting = "", false
	}
}

// wholeRequestRoutingError is the failure a write request as a whole meets before any
// item runs: an auto-id index request into an index that requires routing, sent without
// one (see errRoutingMissingNullID).
func (c *Cluster) wholeRequestRoutingError(ix *index, op *docOp) *esError {
	if op.hasID || (op.action != bulk.ActionIndex && op.action != bulk.ActionCreate) {
		return nil
	}
	has := op.hasRouting && op.routing != ""
	if _, aliased, err := c.aliasIndexRouting(op.index, ix, op.routing, has); err == nil {
		has = aliased
	}
	if !has && ix.mapping.Load().routingRequired() {
		return errRoutingMissingNullID()
	}
	return nil
}

// getShard is the shard a realtime get reads (TransportGetAction.resolveRequest): the
// routing of the alias it was addressed to, else the routing parameter's, else the id's;
// an index whose mapping requires routing refuses a
// get without one. GetRequest keeps an empty routing as given, so ?routing= hashes "".
func (c *Cluster) getShard(rq *request, ix *index, id string) (int, *esError) {
	routing, has := rq.query["routing"]
	routing, has, err := c.aliasIndexRouting(rq.path["index"], ix, routing, has)
	if err != nil {
		return 0, err
	}
	if !has && ix.mapping.Load().routingRequired() {
		return 0, c.errRoutingMissing(ix, id)
	}
	return ix.shardFor(id, routing, has), nil
}

// searchSets snapshots the shards a search, count or point in time reaches: every shard
// of each index, or those its routing (the parameter's, or its aliases' search routing)
// names, narrowed by preference=_shards.
// They come in the order the query phase's merge breaks ties in — by shard id, then index
// name (ShardId.compareTo, as GroupShardsIterator.sortAndCreate orders shard iterators) —
// and within a shard by doc order, so that the merged hits are deterministic.
func (c *Cluster) searchSets(rq *request, ixs []*index) ([]docSet, *esError) {
	pref, err := parsePreference(rq.query["preference"], c.opts.Flavor == Elasticsearch7)
	if err != nil {
		return nil, err
	}
	rv, hasRouting := rq.query["routing"]
	rmap := c.searchRoutingMap(rq.path["index"], parseSearchRouting(rv), hasRouting)
	targets := make([]shardTargets, len(ixs))
	maxShard := 0
	for i, ix := range ixs {
		routing, routed := rmap[ix.name]
		targets[i] = ix.searchTargets(routing, routed, pref)
		if ix.routing.shards > maxShard {
			maxShard = ix.routing.shards
		}
	}
	var sets []docSet
	next := make([]int, len(ixs))
	for n := 0; n < maxShard; n++ {
		for i, ix := range ixs {
			t := targets[i]
			if next[i] < len(t) && t[next[i]] == n {
				next[i]++
				sets = append(sets, docSet{ix: ix, shard: n, docs: ix.shardSnapshot(n)})
			}
		}
	}
	return sets, nil
}
