package replicator

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/fanout-dev/fanout/pkg/metadata"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// Steps 1, 2 and 11 of applying a metadata change (metaapply.go): ingest pipelines and
// templates.

// --- 1, 2: pipelines and templates -------------------------------------------------

func (m *metaRun) pipelinesAndComponents(md *opspb.Metadata) error {
	for _, p := range md.GetPipelines() {
		if !m.a.policy.Pipelines {
			m.step(stepPipeline, stepSkipped)
			continue
		}
		path := "/_ingest/pipeline/" + esc(p.GetId())
		if !p.GetExists() {
			if err := m.del(stepPipeline, p.GetId(), path); err != nil {
				return err
			}
			continue
		}
		var cur map[string]json.RawMessage
		found, err := m.get(path, &cur)
		if err != nil {
			return err
		}
		if found && sameJSON(cur[p.GetId()], p.GetBody()) {
			m.step(stepPipeline, stepUnchanged)
			continue
		}
		if _, err := m.put(stepPipeline, p.GetId(), http.MethodPut, path, p.GetBody()); err != nil {
			return err
		}
	}
	for _, t := range md.GetTemplates() {
		if t.GetKind() == opspb.TemplateKind_TEMPLATE_KIND_COMPONENT && t.GetExists() {
			if err := m.putTemplate(t); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *metaRun) indexTemplates(md *opspb.Metadata) error {
	for _, t := range md.GetTemplates() {
		if t.GetKind() == opspb.TemplateKind_TEMPLATE_KIND_COMPONENT {
			continue
		}
		if t.GetExists() {
			if err := m.putTemplate(t); err != nil {
				return err
			}
		}
	}
	return nil
}

// templateDeletes deletes index and legacy templates, then component templates: last,
// after the data streams that may use them and the index templates that may compose
// them are gone (the engine refuses to delete a template in use).
func (m *metaRun) templateDeletes(md *opspb.Metadata) error {
	for _, component := range []bool{false, true} {
		for _, t := range md.GetTemplates() {
			if !t.GetExists() && (t.GetKind() == opspb.TemplateKind_TEMPLATE_KIND_COMPONENT) == component {
				if err := m.deleteTemplate(t); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// templateAPI is the path prefix, the key of a GET answer's list and the step kind of
// a template kind.
func templateAPI(k opspb.TemplateKind) (prefix, list, kind string) {
	switch k {
	case opspb.TemplateKind_TEMPLATE_KIND_COMPONENT:
		return "/_component_template/", "component_templates", stepComponent
	case opspb.TemplateKind_TEMPLATE_KIND_LEGACY:
		return "/_template/", "", stepLegacy
	default:
		return "/_index_template/", "index_templates", stepTemplate
	}
}

func (m *metaRun) putTemplate(t *opspb.TemplateState) error {
	prefix, list, kind := templateAPI(t.GetKind())
	if !m.a.policy.Templates {
		m.step(kind, stepSkipped)
		return nil
	}
	body, err := m.a.targetTemplate(t.GetKind(), t.GetBody())
	if err != nil {
		m.res.refused = append(m.res.refused, metaRefusal{Step: kind, Object: t.GetName(), ErrorType: "invalid_template_state", Reason: err.Error()})
		m.step(kind, stepRefused)
		return nil
	}
	path := prefix + esc(t.GetName())
	cur, found, err := m.currentTemplate(path, list, t.GetName())
	if err != nil {
		return err
	}
	if found && sameJSON(cur, body) {
		m.step(kind, stepUnchanged)
		return nil
	}
	_, err = m.put(kind, t.GetName(), http.MethodPut, path, body)
	return err
}

// currentTemplate reads a template as its PUT body.
func (m *metaRun) currentTemplate(path, list, name string) (json.RawMessage, bool, error) {
	if list == "" { // legacy: {"name": {...}}
		var cur map[string]json.RawMessage
		found, err := m.get(path, &cur)
		return cur[name], found && cur[name] != nil, err
	}
	var cur map[string][]map[string]json.RawMessage
	found, err := m.get(path, &cur)
	if err != nil || !found {
		return nil, false, err
	}
	body := strings.TrimSuffix(list, "s") // "index_templates" lists {"name", "index_template"}
	for _, e := range cur[list] {
		var n string
		if json.Unmarshal(e["name"], &n) == nil && n == name {
			return e[body], e[body] != nil, nil
		}
	}
	return nil, false, nil
}

func (m *metaRun) deleteTemplate(t *opspb.TemplateState) error {
	prefix, _, kind := templateAPI(t.GetKind())
	if !m.a.policy.Templates {
		m.step(kind, stepSkipped)
		return nil
	}
	return m.del(kind, t.GetName(), prefix+esc(t.GetName()))
}

// targetTemplate is a template body as the target must hold it: its settings without
// those replication never copies (target-local, ignored, identity: an index the
// template creates on the target must get what replication would give it), and its
// index_patterns rewritten with the rename template.
func (a *metaApplier) targetTemplate(kind opspb.TemplateKind, body []byte) ([]byte, error) {
	var obj map[string]json.RawMessage
	err := json.Unmarshal(body, &obj)
	if err != nil {
		return nil, fmt.Errorf("template body: %w", err)
	}
	// A legacy template holds its settings at the top, the others under "template".
	var changed bool
	if kind == opspb.TemplateKind_TEMPLATE_KIND_LEGACY {
		if changed, err = a.dropUncopied(obj); err != nil {
			return nil, err
		}
	} else if raw, ok := obj["template"]; ok {
		var tpl map[string]json.RawMessage
		if err := json.Unmarshal(raw, &tpl); err != nil {
			return nil, fmt.Errorf("template body's template: %w", err)
		}
		if changed, err = a.dropUncopied(tpl); err != nil {
			return nil, err
		}
		if changed {
			obj["template"], _ = json.Marshal(tpl)
		}
	}
	if raw, ok := obj["index_patterns"]; ok && a.renamed() {
		var patterns []string
		if err := json.Unmarshal(raw, &patterns); err != nil {
			var one string // a legacy template may give one pattern as a string
			if err := json.Unmarshal(raw, &one); err != nil {
				return nil, fmt.Errorf("template index_patterns: %w", err)
			}
			patterns = []string{one}
		}
		for i, p := range patterns {
			patterns[i] = RenameIndex(a.rename, p)
		}
		obj["index_patterns"], _ = json.Marshal(patterns)
		changed = true
	}
	if !changed {
		return body, nil
	}
	return json.Marshal(obj)
}

// dropUncopied removes, from the "settings" object (nested or flat) of obj, the
// settings replication does not copy, and reports whether it removed any.
func (a *metaApplier) dropUncopied(obj map[string]json.RawMessage) (bool, error) {
	raw, ok := obj["settings"]
	if !ok {
		return false, nil
	}
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		return false, fmt.Errorf("template settings: %w", err)
	}
	flat := metadata.Flatten(st)
	n := len(flat)
	maps.DeleteFunc(flat, func(k string, _ any) bool { return !a.copied(k) })
	if len(flat) == n {
		return false, nil
	}
	out, err := json.Marshal(flat)
	if err != nil {
		return false, err
	}
	obj["settings"] = out
	return true, nil
}
