package glob_test

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fanout-dev/fanout/pkg/glob"
)

// TestMatchOpenSearchCases holds the cases of OpenSearch's RegexTests
// (server/src/test/java/org/opensearch/common/regex/RegexTests.java,
// testDoubleWildcardMatch; the case-insensitive ones are left out: no caller asks for
// that variant) and the pattern styles Regex.simpleMatch documents.
func TestMatchOpenSearchCases(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		// RegexTests.testDoubleWildcardMatch
		{"ddd", "ddd", true},
		{"ddd", "Ddd", false},
		{"d*d*d", "dadd", true},
		{"**ddd", "dddd", true},
		{"**ddd", "fff", false},
		{"fff*ddd", "fffabcddd", true},
		{"fff**ddd", "fffabcddd", true},
		{"fff**ddd", "fffabcdd", false},
		{"fff*******ddd", "fffabcddd", true},
		{"fff******ddd", "fffabcdd", false},
		// The styles of Regex.simpleMatch's doc comment, and its special cases.
		{"xxx*", "xxxyyy", true},
		{"xxx*", "xxyyy", false},
		{"*xxx", "yyyxxx", true},
		{"*xxx", "xx", false},
		{"*xxx*", "yxxxy", true},
		{"*xxx*", "yxxy", false},
		{"xxx*yyy", "xxxzyyy", true},
		{"xxx*yyy", "xxxyyy", true},
		{"xxx*yyy", "xxyy", false},
		{"*", "", true},
		{"*", "anything.at.all", true},
		{"***", "", true},
		{"", "", true},
		{"", "a", false},
		{"a", "", false},
		// The prefix and the suffix may not share characters of the name.
		{"a*a", "a", false},
		{"a*a", "aa", true},
		{"ab*bc", "abc", false},
		{"ab*bc", "abbc", true},
		// Middle parts may not share characters of the name with the suffix or each other.
		{"*ab*abc", "abc", false},
		{"*ab*abc", "ababc", true},
		{"*ab*bc", "abc", false},
		{"*ab*ab*", "aba", false},
		{"*ab*ab*", "abab", true},
		{"*a*b*c*", "xxaxxbxxcxx", true},
		{"*a*b*c*", "xxcxxbxxaxx", false},
		// Only * is special; dots, ?, brackets and a * in the name are ordinary.
		{"meta.*", "meta.author", true},
		{"m*.a*", "meta.author", true},
		{"m*.a*", "meta", false},
		{"metr?cs", "metrics", false},
		{"metr?cs", "metr?cs", true},
		{"shard-[0-4]", "shard-3", false},
		{"a\\*", "a\\b", true},
		{"*a", "*ba", true},
		// Case-sensitive, bytes of UTF-8 compared as such.
		{"Logs-*", "logs-1", false},
		{"é*ü", "éaü", true},
		{"*ü", "u", false},
	}
	for _, tt := range tests {
		if got := glob.Match(tt.pattern, tt.s); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
		if got := glob.Compile(tt.pattern).Match(tt.s); got != tt.want {
			t.Errorf("Compile(%q).Match(%q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// TestMatchRandomOpenSearch is RegexTests.testSimpleMatch: a pattern made from a name by
// replacing substrings with stars matches it, and inserting a digit (which the name
// lacks) makes it match no more.
func TestMatchRandomOpenSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	between := func(lo, hi int) int { return lo + r.IntN(hi-lo+1) }
	for range 5000 {
		b := make([]byte, between(0, 50))
		for i := range b {
			b[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[r.IntN(52)]
		}
		name := string(b)
		pattern := name
		for shrink := between(0, 5); shrink > 0; shrink-- {
			start := between(0, len(pattern))
			end := between(start, len(pattern))
			pattern = pattern[:start] + "*" + pattern[end:]
		}
		if !glob.Match(pattern, name) {
			t.Fatalf("Match(%q, %q) = false, want true", pattern, name)
		}
		at := between(0, len(pattern))
		pattern = pattern[:at] + string(rune('0'+r.IntN(10))) + pattern[at:]
		if glob.Match(pattern, name) || glob.Compile(pattern).Match(name) {
			t.Fatalf("Match(%q, %q) = true, want false", pattern, name)
		}
	}
}

func TestCanExtend(t *testing.T) {
	tests := []struct {
		pattern, prefix string
		want            bool
	}{
		{"meta.author", "meta.", true},
		{"meta.author", "meta.author", true},
		{"meta.author", "meta.author.", false},
		{"meta.author", "metb", false},
		{"meta", "meta.", false},
		{"m*.a*", "meta.", true},
		{"m*.a*", "x", false},
		{"*", "anything.", true},
		{"*.by", "reviews.", true},
		{"reviews*", "rev", true},
		{"reviews*", "reviews.x.y", true},
		{"reviews*", "revx", false},
		{"", "", true},
		{"", "a", false},
	}
	for _, tt := range tests {
		if got := glob.CanExtend(tt.pattern, tt.prefix); got != tt.want {
			t.Errorf("CanExtend(%q, %q) = %v, want %v", tt.pattern, tt.prefix, got, tt.want)
		}
		if got := glob.Compile(tt.pattern).CanExtend(tt.prefix); got != tt.want {
			t.Errorf("Compile(%q).CanExtend(%q) = %v, want %v", tt.pattern, tt.prefix, got, tt.want)
		}
	}
}

func TestIsPattern(t *testing.T) {
	for s, want := range map[string]bool{"logs-*": true, "*": true, "logs": false, "": false, "a?": false} {
		if got := glob.IsPattern(s); got != want {
			t.Errorf("IsPattern(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	name := strings.Repeat("a", 40)
	const pattern = "*a*a*a*a*a*a*a*a*b"
	p := glob.Compile(pattern)
	if n := testing.AllocsPerRun(100, func() {
		glob.Match(pattern, name)
		p.Match(name)
		glob.CanExtend(pattern, name)
	}); n != 0 {
		t.Errorf("Match allocates %v times per call, want 0", n)
	}
}

// reference is the pattern as an anchored RE2 regular expression, which Go matches in
// time linear in the name: every literal part quoted, every star `.*` (dots and
// newlines included).
func reference(pattern string) *regexp.Regexp {
	parts := strings.Split(pattern, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`(?s)\A` + strings.Join(parts, ".*") + `\z`)
}

func FuzzMatch(f *testing.F) {
	for _, seed := range [][2]string{
		{"*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 40)},
		{"fff*ddd", "fffabcddd"},
		{"*", ""},
		{"a*a", "a"},
		{"*ab*abc", "ababc"},
		{"m*.a*", "meta.author"},
		{"**", "*"},
		{"x*y*", "x\ny"},
		{"é*", "é"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if !utf8.ValidString(pattern) || !utf8.ValidString(s) {
			t.Skip("the reference reads UTF-8; names and patterns arrive as JSON or URL text")
		}
		want := reference(pattern).MatchString(s)
		if got := glob.Match(pattern, s); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference %v", pattern, s, got, want)
		}
		p := glob.Compile(pattern)
		if got := p.Match(s); got != want {
			t.Fatalf("Compile(%q).Match(%q) = %v, reference %v", pattern, s, got, want)
		}
		if p.String() != pattern {
			t.Fatalf("Compile(%q).String() = %q", pattern, p.String())
		}
		// Every prefix of a matching name can be extended; a prefix that cannot be
		// extended is no start of a matching name, this one included.
		for i := 0; i <= len(s); i++ {
			can := glob.CanExtend(pattern, s[:i])
			if want && !can {
				t.Fatalf("Match(%q, %q) but CanExtend(%q) = false", pattern, s, s[:i])
			}
			if !can && (want || p.Match(s[:i]+"x")) {
				t.Fatalf("CanExtend(%q, %q) = false but a name that starts with it matches", pattern, s[:i])
			}
			if can != p.CanExtend(s[:i]) {
				t.Fatalf("CanExtend(%q, %q) differs between compiled and not", pattern, s[:i])
			}
		}
	})
}
