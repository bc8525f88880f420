package glob

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// The issue case: a pattern that makes a backtracking matcher try every way of placing
// eight "a" among the name's characters. The matcher passes over each byte of the name
// at most once, so the steps grow with the name, not with the placements.
func TestPathologicalPatternIsLinear(t *testing.T) {
	const pattern = "*a*a*a*a*a*a*a*a*b"
	for _, n := range []int{40, 4000, 400000} {
		for _, name := range []string{
			strings.Repeat("a", n),                                  // the issue: no b, the suffix fails at once
			strings.Repeat("a", n-1) + "b",                          // matches
			strings.Repeat("ab", n/2),                               // matches, parts spread out
			strings.Repeat("b", n-1) + "a",                          // suffix fails at once
			strings.Repeat("a", 7) + strings.Repeat("x", n-8) + "b", // the eighth search runs to the end
			strings.Repeat("a", n/2) + strings.Repeat("c", n/2),     // suffix fails at once
		} {
			for _, m := range []struct {
				kind  string
				match func(string, *int) bool
			}{
				{"Match", split(pattern).match},
				{"Pattern.Match", Compile(pattern).match},
			} {
				steps := 0
				m.match(name, &steps)
				if steps > len(name) {
					t.Errorf("%s(%q, %d-byte name %q…): %d steps, want at most %d (one pass)", m.kind, pattern, len(name), name[:8], steps, len(name))
				}
			}
		}
	}
}

// Steps are bounded by the name for every pattern, not only the pathological one.
func FuzzSteps(f *testing.F) {
	f.Add("*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 40))
	f.Add("*ab*abc*abcd", "abababcabcabcd")
	f.Add("x", "x")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if !utf8.ValidString(pattern) {
			t.Skip()
		}
		for _, match := range []func(string, *int) bool{split(pattern).match, Compile(pattern).match} {
			steps := 0
			match(s, &steps)
			if steps > len(s) {
				t.Fatalf("(%q, %q): %d steps for a %d-byte name", pattern, s, steps, len(s))
			}
		}
	})
}
