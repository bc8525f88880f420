package replicator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/fanout-dev/fanout/pkg/glob"
	"github.com/fanout-dev/fanout/pkg/metadata"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// Steps 3 and 5 to 9 of applying a metadata change (metaapply.go): indices, their
// mappings, settings, state and aliases.

// --- index targets ----------------------------------------------------------------

// indexTarget is the target name of an index state; ok false when the index is not
// replicated to this target.
func (a *metaApplier) indexTarget(ix *opspb.IndexState) (string, bool) {
	if ix.GetDataStream() != "" {
		if a.renamed() || !a.streamIncluded(ix.GetDataStream()) {
			return "", false
		}
		return ix.GetName(), true // backing index names are the engine's
	}
	return a.mapper.Map(ix.GetName())
}

func (a *metaApplier) streamIncluded(name string) bool {
	return !a.renamed() && Included(name, a.mapper.include, a.mapper.exclude)
}

// --- 3: index deletes ---------------------------------------------------------------

func (m *metaRun) indexDeletes(md *opspb.Metadata) error {
	for _, ix := range md.GetIndices() {
		if ix.GetExists() || ix.GetDataStream() != "" {
			continue
		}
		name, ok := m.a.indexTarget(ix)
		if !ok || !m.a.policy.Indices || !m.a.policy.Deletes {
			m.step(stepIndexDelete, stepSkipped)
			continue
		}
		if err := m.del(stepIndexDelete, name, "/"+esc(name)); err != nil {
			return err
		}
	}
	return nil
}

// --- 5-8: indices -------------------------------------------------------------------

// targetIndex is what the target has of one index.
type targetIndex struct {
	Aliases  map[string]json.RawMessage `json:"aliases"`
	Mappings json.RawMessage            `json:"mappings"`
	Settings map[string]any             `json:"settings"`
	closed   bool
}

// readIndex reads the target's index, nil when it has none.
func (m *metaRun) readIndex(name string) (*targetIndex, error) {
	var ans map[string]*targetIndex
	found, err := m.get("/"+esc(name)+"?flat_settings=true&expand_wildcards=all", &ans)
	if err != nil || !found {
		return nil, err
	}
	ti := ans[name]
	if ti == nil {
		return nil, nil // an alias or stream of that name: no index
	}
	var cat []struct {
		Status string `json:"status"`
	}
	if _, err := m.get("/_cat/indices/"+esc(name)+"?format=json&h=status&expand_wildcards=all", &cat); err != nil {
		return nil, err
	}
	ti.closed = len(cat) == 1 && cat[0].Status == "close"
	return ti, nil
}

// stateSettings decodes an index state's settings into flat names (values as the
// primary gave them: strings, or lists).
func stateSettings(ix *opspb.IndexState) (map[string]any, error) {
	if len(ix.GetSettings()) == 0 {
		return map[string]any{}, nil
	}
	var raw map[string]any
	if err := json.Unmarshal(ix.GetSettings(), &raw); err != nil {
		return nil, fmt.Errorf("settings of %s: %w", ix.GetName(), err)
	}
	return metadata.Flatten(raw), nil
}

// settingString renders a flat setting value as the engine shows it (strings; lists as
// JSON).
func settingString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// copied reports whether setting is copied to the target at all.
func (a *metaApplier) copied(setting string) bool {
	for _, p := range creationOnly {
		if glob.Match(p, setting) {
			return false
		}
	}
	return a.settings.Compared(setting)
}

func isStatic(setting string) bool {
	for _, p := range staticSettings {
		if glob.Match(p, setting) {
			return true
		}
	}
	return false
}

func (m *metaRun) indices(md *opspb.Metadata) error {
	for _, ix := range md.GetIndices() {
		if !ix.GetExists() {
			continue
		}
		name, ok := m.a.indexTarget(ix)
		if !ok {
			m.step(stepIndexCreate, stepSkipped)
			continue
		}
		if err := m.index(ix, name); err != nil {
			return err
		}
	}
	return nil
}

// index brings one existing index of the primary to its state on the target.
func (m *metaRun) index(ix *opspb.IndexState, name string) error {
	a := m.a
	want, err := stateSettings(ix)
	if err != nil {
		m.res.refused = append(m.res.refused, metaRefusal{Step: stepIndexCreate, Object: name, ErrorType: "invalid_index_state", Reason: err.Error()})
		m.step(stepIndexCreate, stepRefused)
		return nil
	}
	cur, err := m.readIndex(name)
	if err != nil {
		return err
	}
	if cur == nil {
		if ix.GetDataStream() != "" || !a.policy.Indices {
			// Backing indices come from the data stream API (create, rollover), never
			// PUT /{index}; one the target lacks is made by step 10's rollover. With
			// metadata.replicate.indices off no index is created (the mappings,
			// settings and aliases of those the target has are still kept equal).
			m.step(stepIndexCreate, stepSkipped)
			return nil
		}
		s := map[string]any{}
		if a.policy.Settings {
			for k, v := range want {
				if a.copied(k) {
					s[k] = v
				}
			}
		}
		status, answer, err := m.putSettings(stepIndexCreate, name, http.MethodPut, "/"+esc(name), s, func(s map[string]any) []byte {
			body := map[string]any{}
			if len(s) > 0 {
				body["settings"] = s
			}
			if a.policy.Mappings && len(ix.GetMappings()) > 0 && !bytes.Equal(ix.GetMappings(), []byte("{}")) {
				body["mappings"] = json.RawMessage(ix.GetMappings())
			}
			b, _ := json.Marshal(body)
			return b
		})
		if err != nil {
			return err
		}
		if status >= 300 && !alreadyExists(answer) {
			m.refuse(stepIndexCreate, name, status, answer)
			m.refusedIndex[name] = true
			return nil
		}
		m.step(stepIndexCreate, stepApplied)
		if cur, err = m.readIndex(name); err != nil || cur == nil {
			if err == nil {
				err = fmt.Errorf("%w: index %s not found right after its creation on %s", errMetaTrouble, name, a.cluster)
			}
			return err
		}
	} else {
		m.step(stepIndexCreate, stepUnchanged)
	}

	if !ix.GetClosed() && cur.closed && a.policy.Indices {
		if err := m.openClose(name, "_open"); err != nil {
			return err
		}
		cur.closed = false
	}
	if a.policy.Mappings && len(ix.GetMappings()) > 0 {
		if sameMappings(cur.Mappings, ix.GetMappings()) {
			m.step(stepMapping, stepUnchanged)
		} else if _, err := m.put(stepMapping, name, http.MethodPut, "/"+esc(name)+"/_mapping", ix.GetMappings()); err != nil {
			return err
		}
	} else if len(ix.GetMappings()) > 0 {
		m.step(stepMapping, stepSkipped)
	}
	if a.policy.Settings {
		if err := m.updateSettings(name, want, cur.Settings); err != nil {
			return err
		}
	} else {
		m.step(stepSettings, stepSkipped)
	}
	if ix.GetClosed() && !cur.closed && a.policy.Indices {
		if err := m.openClose(name, "_close"); err != nil {
			return err
		}
	}
	return nil
}

// alreadyExists reports a create answered resource_already_exists_exception: another
// apply of the same change (a previous owner's) got there first.
func alreadyExists(answer []byte) bool {
	typ, _ := errorOf(answer, 400)
	return typ == "resource_already_exists_exception"
}

// sameMappings compares mappings by value; an empty mapping equals {}.
func sameMappings(cur, want []byte) bool {
	norm := func(b []byte) []byte {
		if len(bytes.TrimSpace(b)) == 0 {
			return []byte("{}")
		}
		return b
	}
	return sameJSON(norm(cur), norm(want))
}

func (m *metaRun) openClose(name, action string) error {
	_, err := m.put(stepOpenClose, name, http.MethodPost, "/"+esc(name)+"/"+action, nil)
	return err
}

// updateSettings sends the dynamic copied settings whose values differ (and resets
// those the primary no longer sets); static ones that differ are logged and counted.
func (m *metaRun) updateSettings(name string, want, curRaw map[string]any) error {
	a := m.a
	wantX, curX := expandSettings(want), expandSettings(metadata.Flatten(curRaw))
	// base is the setting a flat name belongs to: a list's items show as name.0,
	// name.1 … on some engines (and the emulator), as one list on others.
	// (No setting name ends in a number otherwise.)
	base := func(k string) string {
		if i := strings.LastIndexByte(k, '.'); i > 0 {
			if _, err := strconv.Atoi(k[i+1:]); err == nil {
				return k[:i]
			}
		}
		return k
	}
	differs := map[string]bool{}
	for k, v := range wantX {
		if c, ok := curX[k]; !ok || c != v {
			differs[base(k)] = true
		}
	}
	reset := map[string]bool{}
	for k := range curX {
		if _, ok := wantX[k]; ok {
			continue
		}
		if b := base(k); want[b] != nil {
			differs[b] = true // a longer list on the target
		} else {
			reset[b] = true
		}
	}
	upd := map[string]any{}
	var static []string
	for k := range differs {
		if !a.copied(k) {
			continue
		}
		if isStatic(k) {
			if _, has := curX[k]; !has && metadata.IsVendorSpecific(k) {
				continue // left out at creation: the target does not know it
			}
			static = append(static, k)
			continue
		}
		upd[k] = want[k]
	}
	for k := range reset {
		if a.copied(k) && !isStatic(k) {
			upd[k] = nil // the primary no longer sets it: back to the default
		}
	}
	sort.Strings(static)
	for _, k := range static {
		m.step(stepSettings, stepStatic)
		a.log.Warn("a static setting differs between primary and target; it is not changed on an existing index",
			"index", name, "setting", k, "primary", settingString(want[k]), "target", curX[k])
	}
	if len(upd) == 0 {
		if len(static) == 0 {
			m.step(stepSettings, stepUnchanged)
		}
		return nil
	}
	status, answer, err := m.putSettings(stepSettings, name, http.MethodPut, "/"+esc(name)+"/_settings", upd, func(s map[string]any) []byte {
		b, _ := json.Marshal(s)
		return b
	})
	switch {
	case err != nil:
		return err
	case status >= 300:
		m.refuse(stepSettings, name, status, answer)
	default:
		m.step(stepSettings, stepApplied)
	}
	return nil
}

// expandSettings renders flat settings as strings, a list as one entry per item
// (name.0, name.1 …), so that both ways engines show lists compare equal.
func expandSettings(s map[string]any) map[string]string {
	out := make(map[string]string, len(s))
	for k, v := range s {
		if l, ok := v.([]any); ok {
			for i, e := range l {
				out[k+"."+strconv.Itoa(i)] = settingString(e)
			}
			continue
		}
		out[k] = settingString(v)
	}
	return out
}

// --- 9: aliases ---------------------------------------------------------------------

func (m *metaRun) aliases(md *opspb.Metadata) error {
	a := m.a
	var actions []map[string]map[string]any
	considered := false
	for _, ix := range md.GetIndices() {
		if !ix.GetExists() || ix.GetDataStream() != "" {
			continue
		}
		name, ok := a.indexTarget(ix)
		if !ok || m.refusedIndex[name] {
			continue
		}
		if !a.policy.Aliases {
			m.step(stepAliases, stepSkipped)
			continue
		}
		want := map[string]json.RawMessage{}
		if len(ix.GetAliases()) > 0 {
			if err := json.Unmarshal(ix.GetAliases(), &want); err != nil {
				m.res.refused = append(m.res.refused, metaRefusal{Step: stepAliases, Object: name, ErrorType: "invalid_index_state", Reason: err.Error()})
				m.step(stepAliases, stepRefused)
				continue
			}
		}
		cur, err := m.readIndex(name)
		if err != nil {
			return err
		}
		if cur == nil {
			continue // its create was skipped (policy) or refused
		}
		considered = true
		for alias := range cur.Aliases {
			if _, ok := want[alias]; !ok {
				actions = append(actions, map[string]map[string]any{"remove": {"index": name, "alias": alias}})
			}
		}
		for _, alias := range sortedKeys(want) {
			props := want[alias]
			if c, ok := cur.Aliases[alias]; ok && sameJSON(c, props) {
				continue
			}
			add := map[string]any{}
			_ = json.Unmarshal(props, &add)
			add["index"], add["alias"] = name, alias
			actions = append(actions, map[string]map[string]any{"add": add})
		}
	}
	if !considered {
		return nil
	}
	if len(actions) == 0 {
		m.step(stepAliases, stepUnchanged)
		return nil
	}
	b, _ := json.Marshal(map[string]any{"actions": actions})
	_, err := m.put(stepAliases, "_aliases", http.MethodPost, "/_aliases", b)
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
