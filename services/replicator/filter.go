package replicator

import (
	"path"
	"strings"
)

// indexMapper decides, per primary index, whether its events reach the target and
// under which name. It is used by one partition goroutine at a time and caches its
// answers, since a topic carries few distinct indices and the hot path sees each
// many times.
type indexMapper struct {
	include, exclude []string
	rename           string
	cache            map[string]mappedIndex
}

type mappedIndex struct {
	target   string
	included bool
}

// maxMappedIndices bounds the cache; a topic with more distinct indices than this
// (time-based indices over a long retention) just recomputes.
const maxMappedIndices = 4096

func newIndexMapper(c IndicesConfig) *indexMapper {
	return &indexMapper{include: c.Include, exclude: c.Exclude, rename: c.Rename, cache: map[string]mappedIndex{}}
}

// Map returns the target index for a primary index, and false when the index is not
// replicated.
func (m *indexMapper) Map(index string) (string, bool) {
	if mi, ok := m.cache[index]; ok {
		return mi.target, mi.included
	}
	mi := mappedIndex{included: Included(index, m.include, m.exclude)}
	if mi.included {
		mi.target = RenameIndex(m.rename, index)
	}
	if len(m.cache) >= maxMappedIndices {
		clear(m.cache)
	}
	m.cache[index] = mi
	return mi.target, mi.included
}

// Included reports whether index matches one of the include globs and none of the
// exclude globs (path.Match syntax). Invalid patterns match nothing; Config.Validate
// rejects them.
func Included(index string, include, exclude []string) bool {
	for _, p := range exclude {
		if ok, _ := path.Match(p, index); ok {
			return false
		}
	}
	for _, p := range include {
		if ok, _ := path.Match(p, index); ok {
			return true
		}
	}
	return false
}

// RenameIndex renders a rename template: {index} stands for the primary's index name.
func RenameIndex(template, index string) string {
	if template == "{index}" {
		return index
	}
	return strings.ReplaceAll(template, "{index}", index)
}
