package searchemu

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/fanout-dev/fanout/pkg/glob"
)

func TestFilterPathSegmentMatch(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 40)
	cases := []struct {
		seg, name string
		want      bool
	}{
		{"*", "*foo", true}, // FilterPath's simpleWildcard, before Glob.globMatch
		{"**", "*foo", true},
		{"*o", "fo", true},
		{"*o", "*fo", false}, // Glob.globMatch takes the name's '*' as the pattern's letter
		{"*o", "x*o", true},
		{"a*", "a*b", false},
		{"*_id", "_id", true},
		{"*a*a*a*a*a*a*a*a*b", long, false},
		{"*a*a*a*a*a*a*a*a*b", long + "b", true},
		{"*a*a*a*a*a*a*a*a*b", "*" + long + "b", true},
	}
	for _, c := range cases {
		if got := filterPathSegmentMatch(c.seg, c.name); got != c.want {
			t.Errorf("filterPathSegmentMatch(%q, %q) = %v, want %v", c.seg, c.name, got, c.want)
		}
	}
}

func TestWildcardQueryMatch(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 4000)
	cases := []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"?", "", false},
		{"?", "é", true}, // one character, not one byte
		{"b?r", "bar", true},
		{"b*r", "bazaar", true},
		{"*ab*ab", "abab", true},
		{"*ab*ab", "aba", false},
		{"a*?", "a", false},
		{"*a*a*a*a*a*a*a*a*b", long, false},
		{"*a*a*a*a*a*a*a*a*b", long + "b", true},
		{"*?*?*?*?*?*?*?*?*b", long, false},
	}
	for _, c := range cases {
		if got := wildcardQueryMatch(c.p, c.s); got != c.want {
			t.Errorf("wildcardQueryMatch(%q, %.20q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}

// wildcardReference is the wildcard query as an anchored RE2 expression.
func wildcardReference(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)\A`)
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

// FuzzGlobs checks the emulator's matchers against references: Glob.globMatch's loop
// decides as pkg/glob (Regex.simpleMatch) for names without a '*', which
// filterPathSegmentMatch relies on, and the wildcard query matcher as a regexp.
func FuzzGlobs(f *testing.F) {
	f.Add("*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 40))
	f.Add("*o", "*fo")
	f.Add("b?r*", "bär")
	f.Add("**", "")
	f.Fuzz(func(t *testing.T, p, s string) {
		if !utf8.ValidString(p) || !utf8.ValidString(s) {
			t.Skip("JSON and URL text")
		}
		if !strings.Contains(s, "*") {
			java := javaGlobMatch(utf16.Encode([]rune(p)), utf16.Encode([]rune(s)))
			if got := glob.Match(p, s); got != java {
				t.Fatalf("glob.Match(%q, %q) = %v, Glob.globMatch %v", p, s, got, java)
			}
		}
		if got, want := wildcardQueryMatch(p, s), wildcardReference(p).MatchString(s); got != want {
			t.Fatalf("wildcardQueryMatch(%q, %q) = %v, reference %v", p, s, got, want)
		}
	})
}
