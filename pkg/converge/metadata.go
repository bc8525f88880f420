package converge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/opensearch-project/opensearch-go/v4"

	"github.com/fanout-dev/fanout/pkg/glob"
	"github.com/fanout-dev/fanout/pkg/metadata"
)

// MetaKind says how metadata differs.
type MetaKind string

// The kinds of metadata difference.
const (
	MissingIndex    MetaKind = "missing_index"    // a compared primary index is not on the replica
	MappingDiff     MetaKind = "mapping"          // a mapped field or mapping parameter differs
	SettingDiff     MetaKind = "setting"          // a compared index setting differs
	MissingAlias    MetaKind = "missing_alias"    // an alias of the primary index is not on the replica index
	ExtraAlias      MetaKind = "extra_alias"      // an alias of the replica index the primary index does not have
	AliasDiff       MetaKind = "alias"            // both have the alias, its filter, routing or flags differ
	MissingTemplate MetaKind = "missing_template" // an index, component or legacy template the replica lacks
	ExtraTemplate   MetaKind = "extra_template"
	TemplateDiff    MetaKind = "template"
	MissingPipeline MetaKind = "missing_pipeline"
	ExtraPipeline   MetaKind = "extra_pipeline"
	PipelineDiff    MetaKind = "pipeline"
)

// MetaOptions configure a metadata comparison. Indices, Include and ReplicaIndex are
// read as in Options.
type MetaOptions struct {
	Indices      []string
	Include      func(index string) bool
	ReplicaIndex func(string) string
	// Settings says which index settings are compared; the zero value compares all but
	// metadata.TargetLocal.
	Settings metadata.Settings
	// Indices' mappings, settings and aliases are always compared; these add the
	// cluster-wide objects.
	Templates bool // index templates, component templates and legacy templates
	Pipelines bool // ingest pipelines
	// MaxDiffs caps MetaReport.Diffs; the count stays exact. Default 1000.
	MaxDiffs int
}

// MetaDiff is one metadata difference.
type MetaDiff struct {
	Kind         MetaKind `json:"kind"`
	Index        string   `json:"index,omitempty"`
	ReplicaIndex string   `json:"replica_index,omitempty"`
	// Name is the alias, template or pipeline, as named on the replica.
	Name string `json:"name,omitempty"`
	// Path is the field path of a mapping difference (title.raw), the flat setting name,
	// or the parameter of an alias, template or pipeline that differs.
	Path    string          `json:"path,omitempty"`
	Primary json.RawMessage `json:"primary,omitempty"`
	Replica json.RawMessage `json:"replica,omitempty"`
}

func (d MetaDiff) String() string {
	var b strings.Builder
	b.WriteString(string(d.Kind))
	if d.Index != "" {
		b.WriteString(" " + d.Index)
		if d.ReplicaIndex != "" && d.ReplicaIndex != d.Index {
			b.WriteString(" (replica " + d.ReplicaIndex + ")")
		}
	}
	if d.Name != "" {
		b.WriteString(" " + d.Name)
	}
	if d.Path != "" {
		b.WriteString(" " + d.Path)
	}
	switch {
	case d.Primary != nil && d.Replica != nil:
		fmt.Fprintf(&b, ": %s on the primary, %s on the replica", d.Primary, d.Replica)
	case d.Primary != nil:
		fmt.Fprintf(&b, ": %s on the primary, absent on the replica", d.Primary)
	case d.Replica != nil:
		fmt.Fprintf(&b, ": absent on the primary, %s on the replica", d.Replica)
	}
	return b.String()
}

// Skipped is metadata that was not compared, and why.
type Skipped struct {
	Index  string `json:"index,omitempty"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// MetaReport is the outcome of a metadata comparison.
type MetaReport struct {
	Indices    []string   `json:"indices"`
	Templates  int        `json:"templates,omitempty"` // templates on the primary, all three kinds
	Pipelines  int        `json:"pipelines,omitempty"`
	Different  int        `json:"different"` // every difference, listed or not
	Diffs      []MetaDiff `json:"diffs,omitempty"`
	Skipped    []Skipped  `json:"skipped,omitempty"`
	maxDiffs   int
	rename     func(string) string
	replicaIxs map[string]bool
}

// Converged reports whether the replica's metadata is the primary's.
func (r *MetaReport) Converged() bool { return r.Different == 0 }

// String summarises the report, listing the first differences.
func (r *MetaReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "metadata of %d indices", len(r.Indices))
	if r.Templates > 0 {
		fmt.Fprintf(&b, ", %d templates", r.Templates)
	}
	if r.Pipelines > 0 {
		fmt.Fprintf(&b, ", %d pipelines", r.Pipelines)
	}
	fmt.Fprintf(&b, ": %d different", r.Different)
	for i, d := range r.Diffs {
		if i == 20 {
			fmt.Fprintf(&b, "\n  … %d more", len(r.Diffs)-i)
			break
		}
		b.WriteString("\n  " + d.String())
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "\n  skipped %s", s.Name)
		if s.Index != "" {
			fmt.Fprintf(&b, " of %s", s.Index)
		}
		b.WriteString(": " + s.Reason)
	}
	return b.String()
}

func (r *MetaReport) add(d MetaDiff) {
	r.Different++
	if len(r.Diffs) < r.maxDiffs {
		r.Diffs = append(r.Diffs, d)
	}
}

// CompareMetadata compares the replica's index metadata (and, as asked, templates and
// pipelines) with the primary's.
func CompareMetadata(ctx context.Context, primary, replica *opensearch.Client, opts MetaOptions) (*MetaReport, error) {
	if opts.MaxDiffs <= 0 {
		opts.MaxDiffs = 1000
	}
	rep := &MetaReport{maxDiffs: opts.MaxDiffs, rename: opts.ReplicaIndex}
	if rep.rename == nil {
		rep.rename = func(s string) string { return s }
	}
	p := &side{c: primary, name: "primary"}
	r := &side{c: replica, name: "replica"}
	indices := opts.Indices
	if len(indices) == 0 {
		var err error
		if indices, err = p.indices(ctx); err != nil {
			return nil, err
		}
		if opts.Include != nil {
			indices = slices.DeleteFunc(indices, func(ix string) bool { return !opts.Include(ix) })
		}
	}
	// metadata is read index by index, under each one's own (renamed) name
	indices, err := p.expand(ctx, indices)
	if err != nil {
		return nil, err
	}
	rep.Indices = indices
	rixs, err := r.indices(ctx)
	if err != nil {
		return nil, err
	}
	rep.replicaIxs = make(map[string]bool, len(rixs))
	for _, ix := range rixs {
		rep.replicaIxs[ix] = true
	}
	for _, ix := range indices {
		if err := compareIndexMeta(ctx, p, r, ix, opts, rep); err != nil {
			return nil, err
		}
	}
	if opts.Templates {
		if err := compareTemplates(ctx, p, r, opts, rep); err != nil {
			return nil, err
		}
	}
	if opts.Pipelines {
		if err := comparePipelines(ctx, p, r, rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// expand replaces each index pattern of indices with the indices it matches on s, in
// order and without repeats: a pattern names the indices it matches.
func (s *side) expand(ctx context.Context, indices []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, ix := range indices {
		names := []string{ix}
		if glob.IsPattern(ix) {
			var err error
			if names, err = s.indicesMatching(ctx, ix); err != nil {
				return nil, err
			}
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// indicesMatching lists the indices an index pattern matches, hidden ones excepted.
func (s *side) indicesMatching(ctx context.Context, pattern string) ([]string, error) {
	var rows []struct {
		Index string `json:"index"`
	}
	err := s.do(ctx, http.MethodGet, "/_cat/indices/"+url.PathEscape(pattern), url.Values{"format": {"json"}, "h": {"index"}}, nil, &rows)
	if errors.Is(err, errNoIndex) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the indices %s matches: %w", pattern, err)
	}
	var out []string
	for _, r := range rows {
		if !strings.HasPrefix(r.Index, ".") {
			out = append(out, r.Index)
		}
	}
	sort.Strings(out)
	return out, nil
}

type indexMeta struct {
	Aliases  map[string]map[string]any `json:"aliases"`
	Mappings map[string]any            `json:"mappings"`
	Settings map[string]any            `json:"settings"`
}

// getIndexMeta reads one index's metadata; nil when it does not exist. Settings are
// read flat, so that they compare name by name.
func (s *side) getIndexMeta(ctx context.Context, index string) (*indexMeta, error) {
	var resp map[string]json.RawMessage
	err := s.do(ctx, http.MethodGet, "/"+url.PathEscape(index), url.Values{"flat_settings": {"true"}}, nil, &resp)
	if errors.Is(err, errNoIndex) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the metadata of %s: %w", index, err)
	}
	raw, ok := resp[index]
	if !ok {
		// the name is an alias or data stream on this side: there is no index of that name
		return nil, nil
	}
	var m indexMeta
	if err := decodeInto(raw, &m); err != nil {
		return nil, fmt.Errorf("decoding the metadata of %s from the %s: %w", index, s.name, err)
	}
	m.Mappings = untyped(m.Mappings)
	return &m, nil
}

// decodeInto decodes with json.Number, so that numbers compare as numbers.
func decodeInto(raw []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(out)
}

// untyped removes the mapping type an Elasticsearch 7 index may show its mapping under
// (include_type_name, or an index created on 6.x): {"_doc":{"properties":…}}. A
// mapping whose only key is not a mapping parameter is such a wrapper: the root of a
// mapping holds parameters (properties, dynamic, _source…), never field names.
func untyped(m map[string]any) map[string]any {
	if len(m) != 1 {
		return m
	}
	for k, v := range m {
		inner, ok := v.(map[string]any)
		if ok && !rootMappingParam(k) {
			return inner
		}
	}
	return m
}

func rootMappingParam(k string) bool {
	switch k {
	case "properties", "dynamic", "dynamic_templates", "date_detection", "dynamic_date_formats",
		"numeric_detection", "enabled", "runtime", "subobjects":
		return true
	}
	return strings.HasPrefix(k, "_") && k != "_doc"
}

func compareIndexMeta(ctx context.Context, p, r *side, ix string, opts MetaOptions, rep *MetaReport) error {
	rix := rep.rename(ix)
	pm, err := p.getIndexMeta(ctx, ix)
	if err != nil {
		return err
	}
	if pm == nil {
		return nil // deleted since it was listed
	}
	rm, err := r.getIndexMeta(ctx, rix)
	if err != nil {
		return err
	}
	if rm == nil {
		rep.add(MetaDiff{Kind: MissingIndex, Index: ix, ReplicaIndex: rix})
		return nil
	}
	var paths []mappingPath
	diffMapping("", pm.Mappings, rm.Mappings, &paths)
	for _, mp := range paths {
		rep.add(MetaDiff{Kind: MappingDiff, Index: ix, ReplicaIndex: rix, Path: mp.path, Primary: rawOf(mp.primary), Replica: rawOf(mp.replica)})
	}
	diffSettings(pm.Settings, rm.Settings, opts.Settings, func(name string, a, b any) {
		rep.add(MetaDiff{Kind: SettingDiff, Index: ix, ReplicaIndex: rix, Path: name, Primary: rawOf(a), Replica: rawOf(b)})
	})
	compareAliases(ix, rix, pm.Aliases, rm.Aliases, rep)
	return nil
}

// mappingPath is one mapping difference: the field path, with the parameter that differs
// after a space ("title.raw type"), or the field alone when one side lacks the field.
type mappingPath struct {
	path             string
	primary, replica any // nil: absent on that side
}

// diffMapping walks two mappings field by field: "properties" and multi-field "fields"
// hold fields (their names make the path), everything else is a parameter, compared
// whole as a JSON value.
func diffMapping(field string, a, b map[string]any, out *[]mappingPath) {
	for _, k := range unionKeys(a, b) {
		va, okA := a[k]
		vb, okB := b[k]
		ma, objA := va.(map[string]any)
		mb, objB := vb.(map[string]any)
		if (k == "properties" || k == "fields") && (objA || !okA) && (objB || !okB) {
			for _, name := range unionKeys(ma, mb) {
				fa, inA := ma[name]
				fb, inB := mb[name]
				path := join(field, name)
				da, isA := fa.(map[string]any)
				db, isB := fb.(map[string]any)
				switch {
				case !inB:
					*out = append(*out, mappingPath{path: path, primary: fa})
				case !inA:
					*out = append(*out, mappingPath{path: path, replica: fb})
				case isA && isB:
					diffMapping(path, da, db, out)
				case !jsonEqual(fa, fb):
					*out = append(*out, mappingPath{path: path, primary: fa, replica: fb})
				}
			}
			continue
		}
		if okA && okB && jsonEqual(va, vb) {
			continue
		}
		p := mappingPath{path: strings.TrimSpace(field + " " + k)}
		if okA {
			p.primary = va
		}
		if okB {
			p.replica = vb
		}
		*out = append(*out, p)
	}
}

func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// diffSettings calls fn for every compared flat setting that differs (nil: absent).
// Values compare as JSON: GET shows every value as a string or an array of strings, so
// "5s" and "5000ms" differ, as they do in the request that set them.
func diffSettings(a, b map[string]any, s metadata.Settings, fn func(name string, a, b any)) {
	for _, k := range unionKeys(a, b) {
		if !s.Compared(k) {
			continue
		}
		va, okA := a[k]
		vb, okB := b[k]
		if okA && okB && jsonEqual(va, vb) {
			continue
		}
		fn(k, va, vb)
	}
}

// aliasDef normalises an alias definition as GET shows it: routing is shown as
// index_routing and search_routing by both vendors, but a template may say "routing".
func aliasDef(d map[string]any) map[string]any {
	out := make(map[string]any, len(d))
	for k, v := range d {
		out[k] = v
	}
	if r, ok := out["routing"]; ok {
		delete(out, "routing")
		if _, ok := out["index_routing"]; !ok {
			out["index_routing"] = r
		}
		if _, ok := out["search_routing"]; !ok {
			out["search_routing"] = r
		}
	}
	return out
}

// compareAliases compares the aliases of one index pair. A primary alias is expected on
// the replica under its renamed name (indices.rename applies to alias names as to index
// names, so that the renamed copies of a primary stay apart from other indices of the
// target); when that name is an index on the replica, the alias cannot exist there and is
// skipped, and reported as such.
func compareAliases(ix, rix string, pa, ra map[string]map[string]any, rep *MetaReport) {
	expected := map[string]bool{}
	for _, name := range unionKeys(pa, nil) {
		rname := rep.rename(name)
		if rep.replicaIxs[rname] {
			rep.Skipped = append(rep.Skipped, Skipped{Index: ix, Name: name,
				Reason: fmt.Sprintf("renamed to %s, which is an index on the replica: an alias cannot have an index's name", rname)})
			continue
		}
		expected[rname] = true
		rd, ok := ra[rname]
		if !ok {
			rep.add(MetaDiff{Kind: MissingAlias, Index: ix, ReplicaIndex: rix, Name: rname, Primary: rawOf(pa[name])})
			continue
		}
		a, b := aliasDef(pa[name]), aliasDef(rd)
		for _, k := range unionKeys(a, b) {
			va, okA := a[k]
			vb, okB := b[k]
			if okA && okB && jsonEqual(va, vb) {
				continue
			}
			rep.add(MetaDiff{Kind: AliasDiff, Index: ix, ReplicaIndex: rix, Name: rname, Path: k, Primary: rawOf(va), Replica: rawOf(vb)})
		}
	}
	for _, rname := range unionKeys(ra, nil) {
		if !expected[rname] {
			rep.add(MetaDiff{Kind: ExtraAlias, Index: ix, ReplicaIndex: rix, Name: rname, Replica: rawOf(ra[rname])})
		}
	}
}

// rawOf encodes a decoded JSON value for a MetaDiff; nil stays nil (absent).
func rawOf(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(fmt.Sprintf("%q", fmt.Sprint(v)))
	}
	return b
}
