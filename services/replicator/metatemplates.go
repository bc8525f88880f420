package replicator

import (
	"encoding/json"
	"fmt"
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
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("template body: %w", err)
	}
	changed := false
	if kind == opspb.TemplateKind_TEMPLATE_KIND_LEGACY {
		if raw, ok := obj["settings"]; ok {
			out, drop, err := a.templateSettings(raw)
			if err != nil {
				return nil, err
			}
			if drop {
				obj["settings"], changed = out, true
			}
		}
	} else if raw, ok := obj["template"]; ok {
		var tpl map[string]json.RawMessage
		if err := json.Unmarshal(raw, &tpl); err != nil {
			return nil, fmt.Errorf("template body's template: %w", err)
		}
		if st, ok := tpl["settings"]; ok {
			out, drop, err := a.templateSettings(st)
			if err != nil {
				return nil, err
			}
			if drop {
				tpl["settings"] = out
				obj["template"], _ = json.Marshal(tpl)
				changed = true
			}
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

// templateSettings removes the settings not copied from a template's settings object
// (nested or flat); drop reports whether any was.
func (a *metaApplier) templateSettings(raw json.RawMessage) (out json.RawMessage, drop bool, err error) {
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, false, fmt.Errorf("template settings: %w", err)
	}
	flat := metadata.Flatten(st)
	for k := range flat {
		if !a.copied(k) {
			delete(flat, k)
			drop = true
		}
	}
	if !drop {
		return raw, false, nil
	}
	out, err = json.Marshal(flat)
	return out, true, err
}
