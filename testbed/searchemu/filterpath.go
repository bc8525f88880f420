package searchemu

import (
	"strings"
	"unicode/utf16"

	"github.com/fanout-dev/fanout/pkg/glob"
)

// applyFilterPath implements the filter_path response parameter: comma-separated dotted
// paths where '*' matches within one name and '**' across levels; a leading '-' excludes.
// Arrays are transparent, and containers left empty by an include filter are dropped.
func applyFilterPath(body []byte, spec string) []byte {
	v, err := parseJSON(body)
	if err != nil {
		return body
	}
	var inc, exc [][]string
	for _, p := range splitComma(spec) {
		if strings.HasPrefix(p, "-") {
			exc = append(exc, strings.Split(p[1:], "."))
		} else {
			inc = append(inc, strings.Split(p, "."))
		}
	}
	if len(inc) > 0 {
		out, ok := fpInclude(v, inc)
		if !ok {
			out = &jsonObj{}
			if _, isArr := v.([]any); isArr {
				out = []any{}
			}
		}
		v = out
	}
	if len(exc) > 0 {
		v = fpExclude(v, exc)
	}
	return appendCanonicalRaw(nil, v)
}

// appendCanonicalRaw is appendCanonical keeping number literals as written (responses are
// ours, already canonical).
func appendCanonicalRaw(b []byte, v any) []byte {
	switch x := v.(type) {
	case jsonNum:
		return append(b, x.raw...)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonicalRaw(b, e)
		}
		return append(b, ']')
	case *jsonObj:
		b = append(b, '{')
		for i, m := range x.m {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, m.k)
			b = append(b, ':')
			b = appendCanonicalRaw(b, m.v)
		}
		return append(b, '}')
	}
	return appendCanonical(b, v)
}

// fpStep returns the patterns that continue below key k and whether one ends at k.
func fpStep(pats [][]string, k string) ([][]string, bool) {
	var next [][]string
	full := false
	var visit func(p []string)
	visit = func(p []string) {
		if len(p) == 0 {
			return
		}
		if p[0] == "**" {
			next = append(next, p) // ** consumes k
			visit(p[1:])           // ** matches nothing
			if len(p) == 1 {
				full = true
			}
			return
		}
		if filterPathSegmentMatch(p[0], k) {
			if len(p) == 1 {
				full = true
			} else {
				next = append(next, p[1:])
			}
		}
	}
	for _, p := range pats {
		visit(p)
	}
	return next, full
}

func fpInclude(v any, pats [][]string) (any, bool) {
	switch x := v.(type) {
	case *jsonObj:
		out := &jsonObj{}
		for _, m := range x.m {
			next, full := fpStep(pats, m.k)
			if full {
				out.m = append(out.m, m)
				continue
			}
			if len(next) == 0 {
				continue
			}
			if sub, ok := fpInclude(m.v, next); ok {
				out.m = append(out.m, jsonMember{k: m.k, v: sub})
			}
		}
		return out, len(out.m) > 0
	case []any:
		out := []any{}
		for _, e := range x {
			if sub, ok := fpInclude(e, pats); ok {
				out = append(out, sub)
			}
		}
		return out, len(out) > 0
	}
	return nil, false
}

func fpExclude(v any, pats [][]string) any {
	switch x := v.(type) {
	case *jsonObj:
		out := &jsonObj{}
		for _, m := range x.m {
			next, full := fpStep(pats, m.k)
			if full {
				continue
			}
			if len(next) == 0 {
				out.m = append(out.m, m)
				continue
			}
			out.m = append(out.m, jsonMember{k: m.k, v: fpExclude(m.v, next)})
		}
		return out
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			out = append(out, fpExclude(e, pats))
		}
		return out
	}
	return v
}

// filterPathSegmentMatch is FilterPath.matchProperty's test of one name against one
// segment (libs/core/src/main/java/org/opensearch/core/xcontent/filtering/FilterPath.java):
// "*" and "**" take any name, any other segment is Glob.globMatch.
func filterPathSegmentMatch(seg, name string) bool {
	if seg == "*" || seg == "**" {
		return true
	}
	if strings.IndexByte(name, '*') < 0 {
		// Without a '*' in the name, Glob.globMatch's loop is the textbook greedy matcher
		// for star-only patterns, which decides as Regex.simpleMatch does: pkg/glob,
		// linear in the name.
		return glob.Match(seg, name)
	}
	return javaGlobMatch(utf16.Encode([]rune(seg)), utf16.Encode([]rune(name)))
}

// javaGlobMatch is Glob.globMatch (libs/common/src/main/java/org/opensearch/common/Glob.java)
// as the server runs it, over UTF-16 code units. It only differs from simpleMatch when the
// name holds a '*': it tries the characters for equality before it takes the pattern's
// '*' as a wildcard, so a '*' meeting a '*' is matched as a letter and records no point to
// come back to: "*" alone (were it not taken first above) would not match "*foo", and
// "*o" does not match "*fo". Its cost is the server's: at most len(p)·len(s) steps, as it
// restarts only from the last wildcard, never exponential.
func javaGlobMatch(p, s []uint16) bool {
	si, pi, match, star := 0, 0, 0, -1
	for si < len(s) {
		switch {
		case pi < len(p) && s[si] == p[pi]:
			si++
			pi++
		case pi < len(p) && p[pi] == '*':
			star, match = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			match++
			si = match
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
