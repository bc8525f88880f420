// Package sourcefilter implements the search engine's `_source` filtering: which part
// of a document a request asks back (`_source`, `_source_includes`,
// `_source_excludes`), and the filter itself, with the server's rules: patterns are
// full dotted paths with `*` wildcards, an included object comes whole, excludes win,
// objects inside arrays are filtered element by element, and an object left empty by
// filtering disappears. Key order and the bytes of kept values are preserved.
package sourcefilter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/fanout-dev/fanout/pkg/glob"
)

// Want is what a request asks back of a document.
type Want struct {
	Fetch    bool
	Includes []string
	Excludes []string
}

// Whole reports whether the whole document is asked for.
func (w Want) Whole() bool { return w.Fetch && len(w.Includes) == 0 && len(w.Excludes) == 0 }

// FromQuery reads `_source`, `_source_includes` and `_source_excludes` query
// parameters; ok is false when none is present.
func FromQuery(q url.Values) (w Want, ok bool) {
	fetch := true
	if vs, has := q["_source"]; has {
		ok = true
		switch v := vs[0]; v {
		case "true":
		case "false":
			fetch = false
		default:
			w.Includes = splitList(v)
		}
	}
	for _, k := range []string{"_source_includes", "_source_include"} {
		if v, has := q[k]; has {
			ok = true
			w.Includes = splitList(v[0])
		}
	}
	for _, k := range []string{"_source_excludes", "_source_exclude"} {
		if v, has := q[k]; has {
			ok = true
			w.Excludes = splitList(v[0])
		}
	}
	if !ok {
		return Want{}, false
	}
	w.Fetch = fetch
	return w, true
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// FromJSON reads a `_source` value from a request body or bulk action line: a boolean,
// a field name, a list of names, or {"includes": …, "excludes": …}. A value it cannot
// read asks for the whole document, the server's default when `_source` is given.
func FromJSON(raw []byte) Want {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return Want{Fetch: true}
	}
	switch x := v.(type) {
	case bool:
		return Want{Fetch: x}
	case string:
		return Want{Fetch: true, Includes: []string{x}}
	case []any:
		return Want{Fetch: true, Includes: stringsOf(x)}
	case map[string]any:
		w := Want{Fetch: true}
		for k, val := range x {
			switch k {
			case "includes", "include":
				w.Includes = stringsOf(val)
			case "excludes", "exclude":
				w.Excludes = stringsOf(val)
			}
		}
		return w
	}
	return Want{Fetch: true}
}

func stringsOf(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Filter returns the part of the JSON object src that w asks for. It is only called
// with Fetch set.
func (w Want) Filter(src []byte) ([]byte, error) {
	if w.Whole() {
		return src, nil
	}
	var out bytes.Buffer
	out.Grow(len(src))
	if _, err := w.filterObject(src, "", false, &out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// filterObject writes the filtered object raw (prefix is the object's path, "" at the
// root; included says an ancestor matched an include). It returns how many members
// it kept.
func (w Want) filterObject(raw []byte, prefix string, included bool, out *bytes.Buffer) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, fmt.Errorf("_source is not a JSON object")
	}
	out.WriteByte('{')
	kept := 0
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return 0, fmt.Errorf("reading _source: %w", err)
		}
		key, _ := t.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return 0, fmt.Errorf("reading _source field %q: %w", key, err)
		}
		path := key
		if prefix != "" {
			path = prefix + "." + key
		}
		mark := out.Len()
		if kept > 0 {
			out.WriteByte(',')
		}
		kb, _ := json.Marshal(key)
		out.Write(kb)
		out.WriteByte(':')
		ok, err := w.filterValue(val, path, included, out)
		if err != nil {
			return 0, err
		}
		if ok {
			kept++
		} else {
			out.Truncate(mark)
		}
	}
	out.WriteByte('}')
	return kept, nil
}

// filterValue writes the filtered value at path and reports whether it is kept.
func (w Want) filterValue(val []byte, path string, included bool, out *bytes.Buffer) (bool, error) {
	if matchAny(w.Excludes, path) {
		return false, nil
	}
	in := included || len(w.Includes) == 0 || matchAny(w.Includes, path)
	if !in && !canExtendAny(w.Includes, path+".") {
		return false, nil
	}
	// Nothing below can be excluded or needs selecting: keep the bytes as they are.
	if in && !canExtendAny(w.Excludes, path+".") {
		out.Write(val)
		return true, nil
	}
	switch firstByte(val) {
	case '{':
		mark := out.Len()
		n, err := w.filterObject(val, path, in, out)
		if err != nil {
			return false, err
		}
		if n == 0 && !in {
			out.Truncate(mark)
			return false, nil
		}
		return true, nil
	case '[':
		return w.filterArray(val, path, in, out)
	default:
		if in {
			out.Write(val)
		}
		return in, nil
	}
}

// filterArray filters the objects of an array; scalars stay only when included.
func (w Want) filterArray(val []byte, path string, included bool, out *bytes.Buffer) (bool, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(val, &elems); err != nil {
		return false, fmt.Errorf("reading _source field %q: %w", path, err)
	}
	mark := out.Len()
	out.WriteByte('[')
	kept := 0
	for _, e := range elems {
		m := out.Len()
		if kept > 0 {
			out.WriteByte(',')
		}
		var ok bool
		switch firstByte(e) {
		case '{':
			n, err := w.filterObject(e, path, included, out)
			if err != nil {
				return false, err
			}
			ok = n > 0 // the server drops objects that filtering emptied, even included ones
		case '[':
			var err error
			if ok, err = w.filterArray(e, path, included, out); err != nil {
				return false, err
			}
		default:
			if included {
				out.Write(e)
				ok = true
			}
		}
		if ok {
			kept++
		} else {
			out.Truncate(m)
		}
	}
	out.WriteByte(']')
	if kept == 0 { // as the server does: a filtered array left empty disappears
		out.Truncate(mark)
		return false, nil
	}
	return true, nil
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// matchAny reports whether some pattern matches path whole (pkg/glob: `*` matches any
// run of characters, dots included, as Regex.simpleMatchToAutomaton does for the server).
func matchAny(patterns []string, path string) bool {
	for _, p := range patterns {
		if glob.Match(p, path) {
			return true
		}
	}
	return false
}

// canExtendAny reports whether some pattern could match a path that starts with s.
func canExtendAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if glob.CanExtend(p, s) {
			return true
		}
	}
	return false
}
