package converge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/fanout-dev/fanout/pkg/metadata"
)

// errNotFound marks a 404 of a GET that lists cluster-wide objects: OpenSearch answers
// GET /_ingest/pipeline with 404 {} when there is none, and a template GET with 404 when
// the name matches none.
var errNotFound = errors.New("not found")

// getObjects reads a listing, treating a 404 as an empty one.
func (s *side) getObjects(ctx context.Context, path string, out any) error {
	err := s.do(ctx, http.MethodGet, path, nil, nil, &rawCapture{out: out})
	if errors.Is(err, errNotFound) || errors.Is(err, errNoIndex) {
		return nil
	}
	return err
}

// rawCapture decodes with json.Number (decodeInto) instead of float64.
type rawCapture struct{ out any }

func (r *rawCapture) UnmarshalJSON(b []byte) error { return decodeInto(b, r.out) }

// objects is a set of named cluster-wide definitions of one kind.
type objects struct {
	kind                      string // as the report names it
	missing, extra, different MetaKind
	defs                      map[string]map[string]any
}

func (s *side) templates(ctx context.Context) ([]objects, error) {
	var composable struct {
		IndexTemplates []struct {
			Name string         `json:"name"`
			Def  map[string]any `json:"index_template"`
		} `json:"index_templates"`
	}
	var component struct {
		ComponentTemplates []struct {
			Name string         `json:"name"`
			Def  map[string]any `json:"component_template"`
		} `json:"component_templates"`
	}
	legacy := map[string]map[string]any{}
	for _, g := range []struct {
		path string
		out  any
	}{{"/_index_template", &composable}, {"/_component_template", &component}, {"/_template", &legacy}} {
		if err := s.getObjects(ctx, g.path, g.out); err != nil {
			return nil, fmt.Errorf("listing templates: %w", err)
		}
	}
	it := objects{kind: "index template", defs: map[string]map[string]any{}}
	for _, t := range composable.IndexTemplates {
		it.defs[t.Name] = t.Def
	}
	ct := objects{kind: "component template", defs: map[string]map[string]any{}}
	for _, t := range component.ComponentTemplates {
		ct.defs[t.Name] = t.Def
	}
	lt := objects{kind: "legacy template", defs: legacy}
	out := []objects{it, ct, lt}
	for i := range out {
		out[i].missing, out[i].extra, out[i].different = MissingTemplate, ExtraTemplate, TemplateDiff
	}
	return out, nil
}

// compareTemplates compares templates by name (names are the cluster's, not index
// names, so they are not renamed). What a template says about indices is renamed as the
// indices are: its index_patterns and the names of its aliases; its settings are
// compared as an index's are, without the target-local ones.
func compareTemplates(ctx context.Context, p, r *side, opts MetaOptions, rep *MetaReport) error {
	pt, err := p.templates(ctx)
	if err != nil {
		return err
	}
	rt, err := r.templates(ctx)
	if err != nil {
		return err
	}
	for i := range pt {
		for name, def := range pt[i].defs {
			if !replicatedPatterns(def, opts.Include) {
				rep.Skipped = append(rep.Skipped, Skipped{Name: name, Reason: pt[i].kind + " whose index_patterns name only indices that are not replicated"})
				delete(pt[i].defs, name)
				delete(rt[i].defs, name)
			}
		}
		for name, def := range pt[i].defs {
			pt[i].defs[name] = normTemplate(def, rep.rename, opts.Settings)
		}
		for name, def := range rt[i].defs {
			rt[i].defs[name] = normTemplate(def, nil, opts.Settings)
		}
		rep.Templates += compareObjects(pt[i], rt[i], rep)
	}
	return nil
}

// replicatedPatterns reports whether a template applies to some replicated index: a
// pattern counts when the include/exclude patterns take it as a name (exclude "private*"
// refuses "private-*"). Component templates have no patterns and always count.
func replicatedPatterns(def map[string]any, include func(string) bool) bool {
	pats, ok := def["index_patterns"].([]any)
	if !ok || include == nil {
		return true
	}
	for _, p := range pats {
		if ps, ok := p.(string); ok && include(ps) {
			return true
		}
	}
	return false
}

func comparePipelines(ctx context.Context, p, r *side, rep *MetaReport) error {
	get := func(s *side) (objects, error) {
		o := objects{kind: "pipeline", missing: MissingPipeline, extra: ExtraPipeline, different: PipelineDiff, defs: map[string]map[string]any{}}
		if err := s.getObjects(ctx, "/_ingest/pipeline", &o.defs); err != nil {
			return o, fmt.Errorf("listing ingest pipelines: %w", err)
		}
		return o, nil
	}
	po, err := get(p)
	if err != nil {
		return err
	}
	ro, err := get(r)
	if err != nil {
		return err
	}
	rep.Pipelines = compareObjects(po, ro, rep)
	return nil
}

// compareObjects reports the differences between two sets of definitions and returns
// how many of the primary's were compared. Hidden ones (names starting with ".") are the
// products' own; so are definitions only the replica has that say _meta.managed, as
// Elasticsearch's built-in templates and pipelines do.
func compareObjects(p, r objects, rep *MetaReport) int {
	n := 0
	for _, name := range unionKeys(p.defs, r.defs) {
		if strings.HasPrefix(name, ".") {
			continue
		}
		pd, inP := p.defs[name]
		rd, inR := r.defs[name]
		switch {
		case !inR:
			n++
			rep.add(MetaDiff{Kind: p.missing, Name: name, Primary: rawOf(pd)})
		case !inP:
			if managed(rd) {
				continue
			}
			rep.add(MetaDiff{Kind: p.extra, Name: name, Replica: rawOf(rd)})
		default:
			n++
			var paths []string
			diffPaths("", pd, rd, &paths)
			if len(paths) > 0 {
				rep.add(MetaDiff{Kind: p.different, Name: name, Path: joinPaths(paths), Primary: rawOf(pd), Replica: rawOf(rd)})
			}
		}
	}
	return n
}

func managed(def map[string]any) bool {
	m, _ := def["_meta"].(map[string]any)
	b, _ := m["managed"].(bool)
	return b
}

// normTemplate returns a template's definition as the replica should hold it: settings
// flat and without the ones not compared, index_patterns and alias names renamed (nil
// rename keeps them), empty settings, mappings and aliases dropped (a legacy template
// shows them as {} when unset), and mappings without an Elasticsearch 7 type wrapper.
func normTemplate(def map[string]any, rename func(string) string, s metadata.Settings) map[string]any {
	out := make(map[string]any, len(def))
	for k, v := range def {
		out[k] = v
	}
	if rename != nil {
		if pats, ok := out["index_patterns"].([]any); ok {
			renamed := make([]any, len(pats))
			for i, p := range pats {
				if ps, ok := p.(string); ok {
					renamed[i] = rename(ps)
				} else {
					renamed[i] = p
				}
			}
			out["index_patterns"] = renamed
		}
	}
	normBody(out, rename, s)
	if inner, ok := out["template"].(map[string]any); ok {
		t := make(map[string]any, len(inner))
		for k, v := range inner {
			t[k] = v
		}
		normBody(t, rename, s)
		if len(t) == 0 {
			delete(out, "template")
		} else {
			out["template"] = t
		}
	}
	if c, ok := out["composed_of"].([]any); ok && len(c) == 0 {
		delete(out, "composed_of")
	}
	return out
}

// normBody normalises the settings, mappings and aliases of a template body in place.
func normBody(b map[string]any, rename func(string) string, s metadata.Settings) {
	if st, ok := b["settings"].(map[string]any); ok {
		flat := metadata.Flatten(st)
		for k := range flat {
			if !s.Compared(k) {
				delete(flat, k)
			}
		}
		b["settings"] = flat
	}
	if m, ok := b["mappings"].(map[string]any); ok {
		b["mappings"] = untyped(m)
	}
	if al, ok := b["aliases"].(map[string]any); ok {
		renamed := make(map[string]any, len(al))
		for name, d := range al {
			if rename != nil {
				name = rename(name)
			}
			if dm, ok := d.(map[string]any); ok {
				d = aliasDef(dm)
			}
			renamed[name] = d
		}
		b["aliases"] = renamed
	}
	for _, k := range []string{"settings", "mappings", "aliases"} {
		if m, ok := b[k].(map[string]any); ok && len(m) == 0 {
			delete(b, k)
		}
	}
}
