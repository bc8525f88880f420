package searchemu

import "sort"

// luceneDistance is Lucene's LevenshteinDistance.getDistance: 1 minus the edit distance
// over the longer length, on UTF-16 code units as Java strings are, in float arithmetic
// (3 edits in 10 is exactly 0.7f, not more, where float64 would say more).
func luceneDistance(target, other string) float32 {
	sa, oa := utf16Units(target), utf16Units(other)
	n, m := len(sa), len(oa)
	if n == 0 || m == 0 {
		if n == m {
			return 1
		}
		return 0
	}
	p := make([]int, n+1)
	d := make([]int, n+1)
	for i := range p {
		p[i] = i
	}
	for j := 1; j <= m; j++ {
		tj := oa[j-1]
		d[0] = j
		for i := 1; i <= n; i++ {
			cost := 1
			if sa[i-1] == tj {
				cost = 0
			}
			d[i] = min(d[i-1]+1, p[i]+1, p[i-1]+cost)
		}
		p, d = d, p
	}
	longer := max(n, m)
	return 1 - float32(p[n])/float32(longer)
}

func utf16Units(s string) []uint16 {
	out := make([]uint16, 0, len(s))
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)))
			continue
		}
		out = append(out, uint16(r))
	}
	return out
}

// javaHashSetOrder returns items (with their hashCodes, in insertion order) in the order
// a java.util.HashSet iterates them: by bucket of the spread hash at the table size the
// set grew to, insertion order within a bucket (a resize keeps it). Messages that print
// a HashSet (Can't update non dynamic settings…) list their items this way.
func javaHashSetOrder(items []string, hashes []int32) []string {
	capacity := 16
	for float64(len(items)) > 0.75*float64(capacity) {
		capacity *= 2
	}
	type entry struct {
		s      string
		bucket int
		pos    int
	}
	es := make([]entry, len(items))
	for i, s := range items {
		h := uint32(hashes[i])
		h ^= h >> 16
		es[i] = entry{s, int(h & uint32(capacity-1)), i}
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].bucket < es[j].bucket })
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.s
	}
	return out
}

// indexHash is org.opensearch.core.index.Index.hashCode (31 * name.hashCode + uuid.hashCode).
func indexHash(ix *index) int32 {
	return 31*javaStringHash(ix.name) + javaStringHash(ix.uuid)
}
