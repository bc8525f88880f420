package glob_test

import (
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/glob"
)

// pathological is the case: 3.2 s of CPU per match with the backtracking
// matcher this package replaced.
const pathological = "*a*a*a*a*a*a*a*a*b"

var sink bool

// worstName is a name of n bytes the pattern does not match, found out only at its
// end: seven of the eight "a" are there, and the suffix is.
func worstName(n int) string { return strings.Repeat("a", 7) + strings.Repeat("x", n-8) + "b" }

// BenchmarkMatchPathological is the figure scripts/bench.sh reports: the pattern
// against the 40-byte name that costs this matcher most, a full scan. The issue's own
// name, 40 "a" (947 million steps for the old matcher), fails at the suffix at once
// (BenchmarkMatch/issue).
func BenchmarkMatchPathological(b *testing.B) {
	name := worstName(40)
	p := glob.Compile(pathological)
	for b.Loop() {
		sink = p.Match(name)
	}
}

func BenchmarkMatch(b *testing.B) {
	cases := []struct{ name, pattern, s string }{
		{"issue/40", pathological, strings.Repeat("a", 40)},
		{"full_scan/40", pathological, worstName(40)},
		{"full_scan/4000", pathological, worstName(4000)},
		{"matching/4000", pathological, strings.Repeat("a", 3999) + "b"},
		{"literal", "meta.author", "meta.author"},
		{"prefix", "logs-*", "logs-2026.01.01"},
		{"two_stars", "*.error.*", "items.index.error.reason"},
	}
	for _, c := range cases {
		p := glob.Compile(c.pattern)
		b.Run(c.name+"/compiled", func(b *testing.B) {
			for b.Loop() {
				sink = p.Match(c.s)
			}
		})
		b.Run(c.name+"/once", func(b *testing.B) {
			for b.Loop() {
				sink = glob.Match(c.pattern, c.s)
			}
		})
	}
}
