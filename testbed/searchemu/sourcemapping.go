package searchemu

import "strconv"

// The _source metadata mapper (SourceFieldMapper): with "enabled": false a document is
// indexed but no source is stored, so GET, mget and search answer without "_source" and
// the update API cannot merge into it (DocumentSourceMissingException); "includes" and
// "excludes" filter what is stored. The emulator keeps the full source for evaluating
// queries (the fields are indexed either way) and applies the mapping when it answers.

// sourceMapping is the _source mapper's configuration.
type sourceMapping struct {
	disabled bool
	filter   *fetchSource // includes/excludes; nil when the whole source is stored
}

// sourceMapping reads the _source root parameter of the mapping.
func (m *mapping) sourceMapping() sourceMapping {
	var sm sourceMapping
	for _, p := range m.rootParams {
		if p.k != "_source" {
			continue
		}
		o, ok := p.v.(*jsonObj)
		if !ok {
			continue
		}
		f := &fetchSource{fetch: true}
		for _, mem := range o.m {
			switch mem.k {
			case "enabled":
				sm.disabled = !boolValue(mem.v, true)
			case "includes":
				f.includes = stringList(mem.v)
			case "excludes":
				f.excludes = stringList(mem.v)
			}
		}
		if f.filters() {
			sm.filter = f
		}
	}
	return sm
}

func stringList(v any) []string {
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

// storedSource returns d as the index stores it: d itself, a view holding the filtered
// source (SourceFieldMapper.applyFilters re-encodes the filtered map), or ok=false when
// the index stores no source.
func (ix *index) storedSource(d *doc) (*doc, bool) {
	sm := ix.mapping.Load().sourceMapping()
	if sm.disabled {
		return nil, false
	}
	if sm.filter == nil {
		return d, true
	}
	filtered := filterSource(d.source(), sm.filter)
	v := &doc{id: d.id, src: appendCanonical(nil, filtered), version: d.version, seqNo: d.seqNo, primaryTerm: d.primaryTerm, routing: d.routing, hasRouting: d.hasRouting}
	v.parsed.Store(filtered)
	return v, true
}

// errSourceMissing is DocumentSourceMissingException: an update of a document whose index
// stores no source.
func (c *Cluster) errSourceMissing(ix *index, id string) *esError {
	reason := "[" + id + "]: document source missing"
	if c.opts.Flavor == Elasticsearch7 {
		reason = "[_doc][" + id + "]: document source missing"
	}
	e := newErr(400, "document_source_missing_exception", reason, true)
	e.meta = shardMeta(ix)
	return e
}

// checkSourceMerge refuses an update that turns _source on or off: SourceFieldMapper's
// "enabled" is a parameter that cannot be updated, and the update's _source mapper
// (with its defaults) is merged into the existing one (ParametrizedFieldMapper.merge).
func checkSourceMerge(m *mapping, update *jsonObj) *esError {
	v, ok := update.get("_source")
	if !ok {
		return nil
	}
	o, ok := v.(*jsonObj)
	if !ok {
		return nil
	}
	was := !m.sourceMapping().disabled
	now := true
	if e, ok := o.get("enabled"); ok {
		now = boolValue(e, true)
	}
	if was == now {
		return nil
	}
	return errIllegalArg("Mapper for [_source] conflicts with existing mapper:\n\tCannot update parameter [enabled] from [" + strconv.FormatBool(was) + "] to [" + strconv.FormatBool(now) + "]")
}
