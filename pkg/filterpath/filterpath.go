// Package filterpath applies the `filter_path` response parameter of OpenSearch and
// Elasticsearch to a JSON body: comma-separated dotted paths, where `*` matches within
// one name, `**` matches any number of levels and a leading `-` excludes. Arrays are
// transparent, and objects or arrays that an include filter leaves empty disappear.
//
// The proxy needs it because clients (Logstash, Beats) ask bulk answers to be cut down
// to `errors,items.*.error`, while the proxy must read every item's _id and versions: it
// asks the primary for the whole answer and cuts it itself. Kept values keep their bytes
// and their order.
package filterpath

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fanout-dev/fanout/pkg/glob"
)

// Filter is a parsed filter_path.
type Filter struct {
	include []path
	exclude []path
}

// path is one filter_path entry, one compiled pattern per dotted segment; a segment
// "**" is the any-levels wildcard, any other is matched by pkg/glob against one name.
type path = []glob.Pattern

func parsePath(p string) path {
	segs := strings.Split(p, ".")
	out := make(path, len(segs))
	for i, s := range segs {
		out[i] = glob.Compile(s)
	}
	return out
}

// Parse parses a filter_path value; an empty one filters nothing.
func Parse(spec string) Filter {
	var f Filter
	for _, p := range strings.Split(spec, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == "" || p == "-":
		case strings.HasPrefix(p, "-"):
			f.exclude = append(f.exclude, parsePath(p[1:]))
		default:
			f.include = append(f.include, parsePath(p))
		}
	}
	return f
}

// Empty reports whether the filter keeps everything.
func (f Filter) Empty() bool { return len(f.include) == 0 && len(f.exclude) == 0 }

// Apply returns the filtered body. An include filter that matches nothing gives `{}`.
func (f Filter) Apply(body []byte) ([]byte, error) {
	if f.Empty() {
		return body, nil
	}
	out := body
	if len(f.include) > 0 {
		var b bytes.Buffer
		ok, err := include(&b, out, f.include)
		if err != nil {
			return nil, err
		}
		if !ok {
			return []byte("{}"), nil
		}
		out = b.Bytes()
	}
	if len(f.exclude) > 0 {
		var b bytes.Buffer
		if _, err := exclude(&b, out, f.exclude); err != nil {
			return nil, err
		}
		out = b.Bytes()
	}
	return out, nil
}

// step returns the paths left after matching name, and whether one of them is done
// (matched to its end: the value is kept, or removed, whole).
func step(paths []path, name string) (next []path, done bool) {
	for _, p := range paths {
		if len(p) == 0 {
			continue
		}
		if p[0].String() == "**" {
			next = append(next, p) // ** takes this name and may take more
			rest, d := step([]path{p[1:]}, name)
			next = append(next, rest...)
			done = done || d || len(p) == 1
			continue
		}
		if p[0].Match(name) {
			if len(p) == 1 {
				done = true
			} else {
				next = append(next, p[1:])
			}
		}
	}
	return next, done
}

// include writes what of raw the paths select; it reports false when nothing is.
func include(w *bytes.Buffer, raw []byte, paths []path) (bool, error) {
	switch firstByte(raw) {
	case '{':
		return members(w, raw, func(w *bytes.Buffer, name string, val []byte) (bool, error) {
			next, done := step(paths, name)
			if done {
				w.Write(val)
				return true, nil
			}
			if len(next) == 0 {
				return false, nil
			}
			return include(w, val, next)
		})
	case '[':
		return elements(w, raw, func(w *bytes.Buffer, val []byte) (bool, error) { return include(w, val, paths) }, true)
	default:
		return false, nil // a scalar where the path wanted more levels
	}
}

// exclude writes raw without what the paths select.
func exclude(w *bytes.Buffer, raw []byte, paths []path) (bool, error) {
	switch firstByte(raw) {
	case '{':
		_, err := members(w, raw, func(w *bytes.Buffer, name string, val []byte) (bool, error) {
			next, done := step(paths, name)
			if done {
				return false, nil
			}
			if len(next) == 0 {
				w.Write(val)
				return true, nil
			}
			return exclude(w, val, next)
		})
		return true, err
	case '[':
		_, err := elements(w, raw, func(w *bytes.Buffer, val []byte) (bool, error) { return exclude(w, val, paths) }, false)
		return true, err
	default:
		w.Write(raw)
		return true, nil
	}
}

// members rewrites an object, asking keep to write each member's value. With drop
// semantics (include filters) an object left empty reports false.
func members(w *bytes.Buffer, raw []byte, keep func(*bytes.Buffer, string, []byte) (bool, error)) (bool, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return false, fmt.Errorf("filter_path: %w", err)
	}
	start := w.Len()
	w.WriteByte('{')
	n := 0
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return false, fmt.Errorf("filter_path: %w", err)
		}
		name, _ := t.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return false, fmt.Errorf("filter_path: %w", err)
		}
		mark := w.Len()
		if n > 0 {
			w.WriteByte(',')
		}
		kb, _ := json.Marshal(name)
		w.Write(kb)
		w.WriteByte(':')
		ok, err := keep(w, name, val)
		if err != nil {
			return false, err
		}
		if ok {
			n++
		} else {
			w.Truncate(mark)
		}
	}
	w.WriteByte('}')
	if n == 0 {
		w.Truncate(start)
		w.WriteString("{}")
		return false, nil
	}
	return true, nil
}

// elements rewrites an array; with drop, elements that keep nothing are left out and an
// empty result reports false.
func elements(w *bytes.Buffer, raw []byte, keep func(*bytes.Buffer, []byte) (bool, error), drop bool) (bool, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return false, fmt.Errorf("filter_path: %w", err)
	}
	start := w.Len()
	w.WriteByte('[')
	n := 0
	for _, e := range elems {
		mark := w.Len()
		if n > 0 {
			w.WriteByte(',')
		}
		ok, err := keep(w, e)
		if err != nil {
			return false, err
		}
		if ok || !drop {
			n++
		} else {
			w.Truncate(mark)
		}
	}
	w.WriteByte(']')
	if n == 0 && drop {
		w.Truncate(start)
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
