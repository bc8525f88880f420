package searchemu

import (
	"sort"
	"strconv"
	"strings"
)

// getSpec is what a GET (or one _mget item) asks for: the stored fields (nil when not
// given), the _source context (nil when not given) and a version to check.
type getSpec struct {
	storedFields []string
	hasStored    bool
	fetch        *fetchSource
	version      int64
	versionType  string
}

// source is ShardGetService.normalizeFetchSourceContent: an explicit _source wins; with
// stored_fields and no _source the source is fetched only when "_source" is among them.
func (g *getSpec) source() *fetchSource {
	if g.fetch != nil {
		return g.fetch
	}
	if !g.hasStored {
		return &fetchSource{fetch: true}
	}
	for _, f := range g.storedFields {
		if f == "_source" {
			return &fetchSource{fetch: true}
		}
	}
	return &fetchSource{fetch: false}
}

// getSpecFromParams reads stored_fields, _source*, version and version_type (RestGetAction,
// RestMultiGetAction) and validates the version as GetRequest.validate does.
func getSpecFromParams(rq *request, validate bool) (*getSpec, *esError) {
	g := &getSpec{fetch: fetchFromParams(rq), version: matchAny, versionType: vtInternal}
	if v, ok := rq.query["stored_fields"]; ok {
		g.storedFields, g.hasStored = splitExpr(v), true
	}
	if _, ok := rq.query["fields"]; ok {
		return nil, errIllegalArg("the parameter [fields] is no longer supported, please use [stored_fields] to retrieve stored fields or [_source] to load the field from _source")
	}
	if !validate {
		return g, nil
	}
	v, _, err := rq.paramLong("version", matchAny)
	if err != nil {
		return nil, err
	}
	vt, verr := parseVersionType(rq.query["version_type"])
	if verr != nil {
		return nil, verr
	}
	g.version, g.versionType = v, vt
	if !validVersionForReads(v, vt) {
		return nil, errValidation([]string{"illegal version value [" + itoa(v) + "] for version type [" + versionTypeName(vt) + "]"})
	}
	return g, nil
}

// validVersionForReads is VersionType.validateVersionForReads.
func validVersionForReads(v int64, vt string) bool {
	if vt == vtInternal {
		return v > 0 || v == matchAny
	}
	return v >= 0 || v == matchAny
}

// checkVersion is Engine.get's VersionType.isVersionConflictForReads: every version type
// asks for exactly the given version; a missing document is not a conflict (it is
// found:false).
func (g *getSpec) checkVersion(ix *index, id string, d *doc) *esError {
	if g.version == matchAny || d == nil {
		return nil
	}
	if d.version != g.version {
		return errVersionConflict(ix, id, "current version ["+itoa(d.version)+"] is different than the one provided ["+itoa(g.version)+"]")
	}
	return nil
}

// checkStoredFields is innerGetLoadFromStoredFields' first check: an object field cannot
// be loaded as a stored field.
func (g *getSpec) checkStoredFields(ix *index) *esError {
	m := ix.mapping.Load()
	for _, f := range g.storedFields {
		if fm := m.lookup(f); fm != nil && fm.object {
			return errIllegalArg("field [" + f + "] isn't a leaf field")
		}
	}
	return nil
}

// isStored reports whether the mapper declares store: true.
func (fm *mapper) isStored() bool {
	for _, p := range fm.params {
		if p.k == "store" {
			switch v := p.v.(type) {
			case bool:
				return v
			case string:
				return v == "true"
			}
		}
	}
	return false
}

// appendGetBody renders a GET response body (GetResult.toXContent) for what g asks:
// _routing is a stored metadata field, so it is shown whenever stored fields or the
// source are loaded at all (FieldsVisitor); fields with store: true come under "fields".
func (c *Cluster) appendGetBody(b []byte, ix *index, id string, d *doc, g *getSpec) []byte {
	b = append(b, `{"_index":`...)
	b = appendJSONString(b, ix.name)
	b = c.appendDocType(b)
	b = append(b, `,"_id":`...)
	b = appendJSONString(b, id)
	if d == nil {
		return append(b, `,"found":false}`...)
	}
	b = append(b, `,"_version":`...)
	b = strconv.AppendInt(b, d.version, 10)
	b = append(b, `,"_seq_no":`...)
	b = strconv.AppendInt(b, d.seqNo, 10)
	b = append(b, `,"_primary_term":`...)
	b = strconv.AppendInt(b, d.primaryTerm, 10)
	f := g.source()
	visited := len(g.storedFields) > 0 || f.fetch
	if d.hasRouting && visited {
		b = append(b, `,"_routing":`...)
		b = appendJSONString(b, d.routing)
	}
	b = append(b, `,"found":true`...)
	if sd, stored := ix.storedSource(d); stored && f.fetch {
		b = append(b, `,"_source":`...)
		b = append(b, renderSource(sd, f)...)
	}
	if fields := storedValues(ix, d, g.storedFields); len(fields) > 0 {
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
		b = append(b, '}')
	}
	return append(b, '}')
}

// storedValues returns the values of the requested fields that the mapping stores
// (store: true), read from the source as the translog path of ShardGetService re-parses
// it. Metadata fields other than _routing are not stored fields the emulator keeps.
func storedValues(ix *index, d *doc, names []string) map[string][]any {
	if len(names) == 0 {
		return nil
	}
	m := ix.mapping.Load()
	out := map[string][]any{}
	for _, n := range names {
		if strings.HasPrefix(n, "_") {
			continue
		}
		fm := m.lookup(n)
		if fm == nil || fm.object || !fm.isStored() {
			continue
		}
		var vals []any
		for _, v := range fieldValues(d.source(), m.sourcePath(n), nil) {
			if _, isObj := v.(*jsonObj); !isObj && v != nil {
				vals = append(vals, v)
			}
		}
		if len(vals) > 0 {
			out[n] = vals
		}
	}
	return out
}
