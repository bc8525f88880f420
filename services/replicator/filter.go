package replicator

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fanout-dev/fanout/pkg/glob"
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

// Included reports whether index matches one of the include patterns and none of the
// exclude patterns. Patterns are the search engine's own index patterns (pkg/glob:
// only * is a wildcard), so that a pattern means here what it means in an index
// expression on the cluster.
func Included(index string, include, exclude []string) bool {
	for _, p := range exclude {
		if glob.Match(p, index) {
			return false
		}
	}
	for _, p := range include {
		if glob.Match(p, index) {
			return true
		}
	}
	return false
}

// CheckIndexPattern reports why p cannot be an index pattern. The characters refused
// are those that were wildcards or escapes when patterns had path.Match syntax: with
// them refused, a configuration written for that syntax fails loudly instead of
// silently matching other indices. No index name can hold ? or \ anyway.
func CheckIndexPattern(p string) error {
	if p == "" {
		return errors.New("a pattern cannot be empty")
	}
	if i := strings.IndexAny(p, `?[\`); i >= 0 {
		return fmt.Errorf("%q: only * is a wildcard in an index pattern, %q is not supported", p, p[i])
	}
	return nil
}

// RenameIndex renders a rename template: {index} stands for the primary's index name.
func RenameIndex(template, index string) string {
	if template == "{index}" {
		return index
	}
	return strings.ReplaceAll(template, "{index}", index)
}
