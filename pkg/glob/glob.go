// Package glob matches names against the search engine's simple wildcard patterns:
// `*` matches any run of characters (dots and nothing included) and every other
// character stands for itself, case-sensitively. It is Regex.simpleMatch of OpenSearch
// (server/src/main/java/org/opensearch/common/regex/Regex.java) and what its
// simpleMatchToAutomaton accepts: index patterns, `_source` includes and excludes,
// filter_path segments. A `*` in the name is an ordinary character.
//
// Matching never backtracks. A pattern is cut at its stars into a prefix, a suffix and
// the literal parts in between; the prefix and the suffix are compared in place and each
// middle part is searched (strings.Index) from where the previous one ended, leftmost
// first. Leftmost is always right: taking a later occurrence only leaves less of the
// name to the parts after it. So the name is passed over once, whatever the pattern:
// `*a*a*a*a*a*a*a*a*b` against a 4000-character name costs one scan, where a
// backtracking matcher tries exponentially many splits.
package glob

import "strings"

// Match reports whether s matches pattern whole. It allocates nothing; callers that
// match one pattern against many names can Compile it once instead.
func Match(pattern, s string) bool {
	return split(pattern).match(s, nil)
}

// CanExtend reports whether some name that starts with prefix matches pattern: whether
// a walk down a dotted path ("a", "a.", "a.b") can still reach a match below it.
func CanExtend(pattern, prefix string) bool {
	return split(pattern).canExtend(prefix)
}

// IsPattern reports whether s holds a wildcard, as Regex.isSimpleMatchPattern does; a
// string without one matches only itself.
func IsPattern(s string) bool { return strings.IndexByte(s, '*') >= 0 }

// Pattern is a compiled pattern. The zero Pattern is the empty pattern, which matches
// only the empty name.
type Pattern struct {
	src   string
	parts parts
	// middle holds the literal parts between the first and the last star, empty ones
	// (from runs of stars) left out.
	middle []string
}

// Compile prepares pattern for matching many names. Every string is a valid pattern.
func Compile(pattern string) Pattern {
	p := Pattern{src: pattern, parts: split(pattern)}
	for rest := p.parts.inner; rest != ""; {
		var part string
		part, rest = cut(rest)
		if part != "" {
			p.middle = append(p.middle, part)
		}
	}
	return p
}

// String returns the pattern as given to Compile.
func (p Pattern) String() string { return p.src }

// Match reports whether s matches the pattern whole. It allocates nothing.
func (p Pattern) Match(s string) bool { return p.match(s, nil) }

// CanExtend reports whether some name that starts with prefix matches the pattern.
func (p Pattern) CanExtend(prefix string) bool { return p.parts.canExtend(prefix) }

func (p Pattern) match(s string, steps *int) bool {
	mid, ok := p.parts.ends(s, steps)
	if !ok || p.parts.inner == "" {
		return ok
	}
	for _, part := range p.middle {
		if mid, ok = find(mid, part, steps); !ok {
			return false
		}
	}
	return true
}

// parts is a pattern cut at its first and last star.
type parts struct {
	prefix, suffix string
	inner          string // between the first and the last star, stars kept
	star           bool   // there is at least one star; without one, prefix is the pattern
}

func split(pattern string) parts {
	first := strings.IndexByte(pattern, '*')
	if first < 0 {
		return parts{prefix: pattern}
	}
	last := strings.LastIndexByte(pattern, '*')
	p := parts{prefix: pattern[:first], suffix: pattern[last+1:], star: true}
	if last > first {
		p.inner = pattern[first+1 : last]
	}
	return p
}

// cut returns the literal part of a pattern up to its first star, and what follows the
// star.
func cut(pattern string) (part, rest string) {
	if i := strings.IndexByte(pattern, '*'); i >= 0 {
		return pattern[:i], pattern[i+1:]
	}
	return pattern, ""
}

// ends compares the prefix and the suffix with the two ends of s and returns what lies
// between them, which the middle parts must be found in.
func (p parts) ends(s string, steps *int) (string, bool) {
	if !p.star {
		count(steps, len(s))
		return "", s == p.prefix
	}
	if len(s) < len(p.prefix)+len(p.suffix) {
		return "", false
	}
	count(steps, len(p.prefix)+len(p.suffix))
	if s[:len(p.prefix)] != p.prefix || s[len(s)-len(p.suffix):] != p.suffix {
		return "", false
	}
	return s[len(p.prefix) : len(s)-len(p.suffix)], true
}

func (p parts) match(s string, steps *int) bool {
	mid, ok := p.ends(s, steps)
	for rest := p.inner; ok && rest != ""; {
		var part string
		part, rest = cut(rest)
		if part != "" {
			mid, ok = find(mid, part, steps)
		}
	}
	return ok
}

func (p parts) canExtend(prefix string) bool {
	if !p.star || len(prefix) <= len(p.prefix) {
		return strings.HasPrefix(p.prefix, prefix)
	}
	return strings.HasPrefix(prefix, p.prefix)
}

// find searches s for part and returns what follows its leftmost occurrence. It counts
// as steps the bytes of s it passes over: the search never comes back to them.
func find(s, part string, steps *int) (string, bool) {
	i := strings.Index(s, part)
	if i < 0 {
		count(steps, len(s))
		return "", false
	}
	count(steps, i+len(part))
	return s[i+len(part):], true
}

func count(steps *int, n int) {
	if steps != nil {
		*steps += n
	}
}
