package searchemu

import (
	"sort"

	"github.com/fanout-dev/fanout/pkg/glob"
)

// searchStored is a search's stored_fields (StoredFieldsContext): nil when not given;
// none is "_none_", which loads nothing, not even _id.
type searchStored struct {
	names []string
	none  bool
}

// parseStoredFields is StoredFieldsContext.fromList.
func parseStoredFields(names []string) (*searchStored, *esError) {
	if len(names) == 1 && names[0] == "_none_" {
		return &searchStored{none: true}, nil
	}
	for _, n := range names {
		if n == "_none_" {
			return nil, errIllegalArg("cannot combine _none_ with other fields")
		}
	}
	return &searchStored{names: names}, nil
}

// storedFieldsFromJSON reads the body's "stored_fields" (a string or an array of strings).
func storedFieldsFromJSON(src []byte, v any, off int) (*searchStored, *esError) {
	switch x := v.(type) {
	case string:
		return parseStoredFields([]string{x})
	case []any:
		names := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, errParsing("Expected [VALUE_STRING] in [stored_fields] but found ["+tokenOf(e)+"]", src, off)
			}
			names = append(names, s)
		}
		return parseStoredFields(names)
	}
	return nil, errParsing("Expected [VALUE_STRING] or [START_ARRAY] in [stored_fields] but found ["+tokenOf(v)+"]", src, off)
}

// checkStoredFields is SearchService.parseSource's check of a disabled stored_fields and
// FetchPhase's refusal of object fields; both fail every shard.
func (sr *searchReq) checkStoredFields(c *Cluster, ixs []*index) *esError {
	st := sr.stored
	if st == nil {
		return nil
	}
	if st.none {
		switch {
		case sr.version:
			return shardFailure(c, ixs, errIllegalArg("`stored_fields` cannot be disabled if version is requested"))
		case sr.fetch != nil && sr.fetch.fetch:
			return shardFailure(c, ixs, errIllegalArg("`stored_fields` cannot be disabled if _source is requested"))
		}
		return nil
	}
	for _, ix := range ixs {
		m := ix.mapping.Load()
		for _, n := range st.names {
			if fm := m.lookup(n); fm != nil && fm.object {
				return shardFailure(c, ixs, errIllegalArg("field ["+n+"] isn't a leaf field"))
			}
		}
	}
	return nil
}

// hitSource is FetchPhase.createStoredFieldsVisitor's choice of _source: by default the
// source; with stored_fields only when _source is asked for or listed.
func (sr *searchReq) hitSource() *fetchSource {
	st := sr.stored
	if st == nil {
		if sr.fetch == nil {
			return &fetchSource{fetch: true}
		}
		return sr.fetch
	}
	if st.none {
		return &fetchSource{fetch: false}
	}
	for _, n := range st.names {
		if n == "_source" {
			f := fetchSource{fetch: true}
			if sr.fetch != nil {
				f.includes, f.excludes = sr.fetch.includes, sr.fetch.excludes
			}
			return &f
		}
	}
	if sr.fetch != nil {
		return sr.fetch
	}
	return &fetchSource{fetch: false}
}

// hitFields returns the stored (store: true) fields a hit carries, the requested names
// expanded over the mapping as simpleMatchToFullName does.
func (sr *searchReq) hitFields(h *hit) map[string][]any {
	if sr.stored == nil || sr.stored.none {
		return nil
	}
	m := h.ix.mapping.Load()
	var names []string
	for _, n := range sr.stored.names {
		if n == "_source" {
			continue
		}
		names = append(names, m.matchFullNames(n)...)
	}
	return storedValues(h.ix, h.d, names)
}

// matchFullNames lists the mapped leaf fields (multi-fields included) a pattern matches.
func (m *mapping) matchFullNames(pattern string) []string {
	var out []string
	var walk func(mp *mapper)
	walk = func(mp *mapper) {
		for _, c := range mp.props {
			if c.object {
				walk(c)
				continue
			}
			if glob.Match(pattern, c.path) {
				out = append(out, c.path)
			}
			for _, f := range c.fields {
				if glob.Match(pattern, f.path) {
					out = append(out, f.path)
				}
			}
		}
	}
	walk(m.root)
	sort.Strings(out)
	return out
}

// appendHitFields renders the hit's "fields" member (DocumentField per field).
func appendHitFields(b []byte, fields map[string][]any) []byte {
	if len(fields) == 0 {
		return b
	}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	b = append(b, `,"fields":{`...)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, n)
		b = append(b, ":["...)
		for j, v := range fields[n] {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendCanonical(b, v)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}
