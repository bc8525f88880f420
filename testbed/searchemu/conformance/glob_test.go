package conformance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// manyStars is the pattern of fanout issue 10: against a 40-character name a
// backtracking matcher tries every placement of its eight "a"; the server's matchers
// (automata, indexOf loops) decide it in one pass, and so must the emulator.
const manyStars = "*a*a*a*a*a*a*a*a*b"

// TestWildcardPatterns follows the server's wildcard matchers: Regex.simpleMatch
// (server/src/main/java/org/opensearch/common/regex/Regex.java) for index expressions,
// Regex.simpleMatchToAutomaton for _source includes and excludes
// (server/.../common/xcontent/support/XContentMapValues.java), Glob.globMatch
// (libs/common/src/main/java/org/opensearch/common/Glob.java) for filter_path segments
// other than "*" and "**" (libs/core/.../xcontent/filtering/FilterPath.java), and
// Lucene's WildcardQuery for the wildcard query.
func TestWildcardPatterns(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	long := strings.Repeat("a", 40)

	t.Run("index expression with many stars", func(t *testing.T) {
		e.put(t, long, "1", `{}`)
		e.put(t, long+"b", "1", `{}`)
		e.put(t, long+"b", "2", `{}`)
		r := e.raw(t, http.MethodGet, "/"+manyStars+"/_count", "")
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `2`, "count")
		}
	})

	e.put(t, "g", "1", `{"`+long+`":1,"`+long+`b":2,"o":{"`+long+`b":3,"x":4},"*fo":5,"fo":6}`)

	t.Run("_source includes and excludes with many stars", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/g/_doc/1?_source_includes="+manyStars, "")
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `{"`+long+`b":2,"o":{"`+long+`b":3}}`, "_source")
		}
		r = e.raw(t, http.MethodGet, "/g/_doc/1?_source_excludes="+manyStars+",*fo", "")
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `{"`+long+`":1,"o":{"x":4}}`, "_source")
		}
	})

	t.Run("filter_path segment with many stars", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/g/_doc/1?filter_path=_source."+manyStars+",_source.o."+manyStars, "")
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `{"_source":{"`+long+`b":2,"o":{"`+long+`b":3}}}`)
		}
	})

	// Glob.globMatch compares a '*' of the pattern with a '*' of the name as letters
	// before it takes it as a wildcard, so "*o" does not match "*fo"; the lone "*" is
	// FilterPath's simple wildcard and matches it.
	t.Run("filter_path and a star in a name", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/g/_doc/1?filter_path=_source.*o", "")
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `{"_source":{"o":{"`+long+`b":3,"x":4},"fo":6}}`)
		}
		r = e.raw(t, http.MethodGet, "/g/_doc/1?filter_path=_source.*", "")
		if wantStatus(t, r, 200) && !has(r.Body, "_source", "*fo") {
			t.Errorf("filter_path=_source.* must keep *fo: %s", r)
		}
	})

	t.Run("wildcard query with many stars", func(t *testing.T) {
		e.createIndex(t, "w", `{"mappings":{"properties":{"k":{"type":"keyword"}}}}`)
		e.put(t, "w", "1", `{"k":"`+long+`"}`)
		e.put(t, "w", "2", `{"k":"`+long+`b"}`)
		r := e.raw(t, http.MethodPost, "/w/_search", `{"query":{"wildcard":{"k":{"value":"`+manyStars+`"}}}}`)
		if wantStatus(t, r, 200) {
			wantJSON(t, r.Body, `1`, "hits", "total", "value")
			wantJSON(t, r.Body, `"2"`, "hits", "hits", 0, "_id")
		}
	})
}
