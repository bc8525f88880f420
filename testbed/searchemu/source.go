package searchemu

import (
	"sort"
	"strings"

	"github.com/fanout-dev/fanout/pkg/glob"
)

// fetchSource is FetchSourceContext: whether to return _source and how to filter it.
type fetchSource struct {
	fetch    bool
	includes []string
	excludes []string
}

func (f *fetchSource) filters() bool {
	return f != nil && (len(f.includes) > 0 || len(f.excludes) > 0)
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// fetchFromParams mirrors FetchSourceContext.parseFromRestRequest; nil when no parameter
// is given.
func fetchFromParams(rq *request) *fetchSource {
	var f *fetchSource
	get := func() *fetchSource {
		if f == nil {
			f = &fetchSource{fetch: true}
		}
		return f
	}
	if v, ok := rq.query["_source"]; ok {
		switch v {
		case "true":
			get().fetch = true
		case "false":
			get().fetch = false
		default:
			get().includes = splitComma(v)
		}
	}
	if v, ok := rq.query["_source_includes"]; ok {
		get().includes = splitComma(v)
	}
	if v, ok := rq.query["_source_excludes"]; ok {
		get().excludes = splitComma(v)
	}
	return f
}

// fetchFromJSON parses a _source value in a body: bool, string, array or
// {"includes"/"include", "excludes"/"exclude"}.
func fetchFromJSON(v any) (*fetchSource, *esError) {
	switch x := v.(type) {
	case bool:
		return &fetchSource{fetch: x}, nil
	case string:
		return &fetchSource{fetch: true, includes: []string{x}}, nil
	case []any:
		f := &fetchSource{fetch: true}
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, errParsing("Unknown key for a "+tokenOf(e)+" in [_source].", nil, -1)
			}
			f.includes = append(f.includes, s)
		}
		return f, nil
	case *jsonObj:
		f := &fetchSource{fetch: true}
		for _, m := range x.m {
			var list []string
			switch y := m.v.(type) {
			case string:
				list = []string{y}
			case []any:
				for _, e := range y {
					s, ok := e.(string)
					if !ok {
						return nil, errParsing("Unknown key for a "+tokenOf(e)+" in ["+m.k+"].", nil, -1)
					}
					list = append(list, s)
				}
			default:
				return nil, errParsing("Unknown key for a "+tokenOf(m.v)+" in ["+m.k+"].", nil, -1)
			}
			switch m.k {
			case "includes", "include":
				f.includes = list
			case "excludes", "exclude":
				f.excludes = list
			default:
				return nil, errParsing("Unknown key for a START_ARRAY in ["+m.k+"].", nil, -1)
			}
		}
		return f, nil
	case nil:
		return nil, nil
	}
	return nil, errParsing("Expected one of [TRUE, FALSE, VALUE_STRING, START_ARRAY, START_OBJECT] but found ["+tokenOf(v)+"]", nil, -1)
}

func tokenOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "VALUE_NULL"
	case bool:
		return "VALUE_BOOLEAN"
	case string:
		return "VALUE_STRING"
	case jsonNum:
		_ = x
		return "VALUE_NUMBER"
	case []any:
		return "START_ARRAY"
	}
	return "START_OBJECT"
}

// sourceFilter is XContentMapValues.filter
// (server/src/main/java/org/opensearch/common/xcontent/support/XContentMapValues.java): include patterns match a path and everything
// under it, '*' matches any characters (dots included), excludes win.
type sourceFilter struct {
	inc, exc []string
}

// anyAccept reports whether s, or a path above it, matches a pattern. The server runs
// Regex.simpleMatchToAutomaton over the patterns, `*` being any string and every other
// character itself: pkg/glob's semantics exactly.
func anyAccept(pats []string, s string) bool {
	for _, p := range pats {
		if glob.Match(p, s) || glob.Match(p+".*", s) {
			return true
		}
	}
	return false
}

// anyAlive reports whether a path that starts with s can still be accepted: whether the
// server's automaton is not dead after reading s.
func anyAlive(pats []string, s string) bool {
	for _, p := range pats {
		if glob.CanExtend(p+".*", s) {
			return true
		}
	}
	return false
}

// filterSource applies includes/excludes to a parsed source. Like the server, filtered
// objects come out in Java HashMap order.
func filterSource(src *jsonObj, f *fetchSource) *jsonObj {
	sf := sourceFilter{inc: f.includes, exc: f.excludes}
	return sf.filterMap(src, "", len(sf.inc) == 0, "", len(sf.exc) > 0)
}

// state strings are the path prefixes read so far; all/excAlive mark automaton states.
func (sf *sourceFilter) filterMap(m *jsonObj, incState string, matchAll bool, excState string, excAlive bool) *jsonObj {
	out := &jsonObj{}
	for _, mem := range m.m {
		key := mem.k
		is := incState + key
		if !matchAll && !anyAlive(sf.inc, is) {
			continue
		}
		es := excState + key
		eAlive := excAlive && anyAlive(sf.exc, es)
		if eAlive && anyAccept(sf.exc, es) {
			continue
		}
		incAccept := matchAll || anyAccept(sf.inc, is)
		subAll := matchAll
		subState := is
		if incAccept && !matchAll {
			if !eAlive || !anyAlive(sf.exc, es+".") {
				out.m = append(out.m, jsonMember{k: key, v: mem.v})
				continue
			}
			subAll = true
		}
		if matchAll && (!eAlive || !anyAlive(sf.exc, es+".")) {
			out.m = append(out.m, jsonMember{k: key, v: mem.v})
			continue
		}
		switch v := mem.v.(type) {
		case *jsonObj:
			sub := sf.filterMap(v, subState+".", subAll, es+".", eAlive)
			if incAccept || len(sub.m) > 0 {
				out.m = append(out.m, jsonMember{k: key, v: sub})
			}
		case []any:
			sub := sf.filterList(v, subState, subAll, es, eAlive, incAccept)
			if incAccept || len(sub) > 0 {
				out.m = append(out.m, jsonMember{k: key, v: sub})
			}
		default:
			if incAccept && (!eAlive || !anyAccept(sf.exc, es)) {
				out.m = append(out.m, jsonMember{k: key, v: mem.v})
			}
		}
	}
	javaHashOrder(out)
	return out
}

func (sf *sourceFilter) filterList(l []any, incState string, matchAll bool, excState string, excAlive, isInclude bool) []any {
	out := []any{}
	for _, v := range l {
		switch x := v.(type) {
		case *jsonObj:
			if !matchAll && !anyAlive(sf.inc, incState+".") {
				continue
			}
			sub := sf.filterMap(x, incState+".", matchAll, excState+".", excAlive && anyAlive(sf.exc, excState+"."))
			if len(sub.m) > 0 {
				out = append(out, sub)
			}
		case []any:
			sub := sf.filterList(x, incState, matchAll, excState, excAlive, isInclude)
			if len(sub) > 0 {
				out = append(out, sub)
			}
		default:
			if isInclude || matchAll {
				out = append(out, v)
			}
		}
	}
	return out
}

// javaStringHash is String.hashCode over UTF-16 code units.
func javaStringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// javaHashOrder reorders members as a java.util.HashMap built by inserting them in order
// would iterate them: by bucket of the final table, then insertion order.
func javaHashOrder(o *jsonObj) {
	n := len(o.m)
	if n < 2 {
		return
	}
	capacity := 16
	for float64(n) > 0.75*float64(capacity) {
		capacity *= 2
	}
	bucket := func(k string) int {
		h := uint32(javaStringHash(k))
		h ^= h >> 16
		return int(h & uint32(capacity-1))
	}
	idx := make([]int, n)
	for i := range o.m {
		idx[i] = bucket(o.m[i].k)
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return idx[order[a]] < idx[order[b]] })
	out := make([]jsonMember, n)
	for i, j := range order {
		out[i] = o.m[j]
	}
	o.m = out
}

// renderSource returns the source bytes to send for a doc under a fetch context: the
// stored bytes untouched when there is no filtering.
func renderSource(d *doc, f *fetchSource) []byte {
	if !f.filters() {
		return d.src
	}
	return appendCanonical(nil, filterSource(d.source(), f))
}
