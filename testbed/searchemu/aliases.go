package searchemu

import (
	"sort"
	"strings"

	"github.com/fanout-dev/fanout/pkg/glob"
)

// Alias actions as OpenSearch applies them: TransportIndicesAliasesAction resolves each
// action's indices and aliases against the state before the request, then
// MetadataIndexAliasesService.applyAliasActions runs them in one cluster state update —
// remove_index first, then add and remove in order — and the new metadata is validated
// as a whole (IndexAbstraction.Alias: at most one write index, one is_hidden value), so
// a request applies entirely or not at all.

// aliasAction is one parsed entry of POST /_aliases.
type aliasAction struct {
	kind    string // add, remove, remove_index
	indices []string
	aliases []string
	meta    aliasMeta
}

// aliasActionFields are the fields AliasActions' ADD_PARSER, REMOVE_PARSER and
// REMOVE_INDEX_PARSER declare. OpenSearch 2.x declares must_exist on the add parser
// (whose setter refuses it), so a remove action cannot carry it.
var aliasActionFields = map[string]map[string]bool{
	"add":          {"index": true, "indices": true, "alias": true, "aliases": true, "filter": true, "routing": true, "index_routing": true, "search_routing": true, "is_write_index": true, "is_hidden": true, "must_exist": true},
	"remove":       {"index": true, "indices": true, "alias": true, "aliases": true},
	"remove_index": {"index": true, "indices": true, "alias": true, "aliases": true},
}

// checkAliasActionFields refuses the fields an action's parser does not declare, and
// the declared ones whose setter refuses that action type.
func checkAliasActionFields(kind string, def *jsonObj, src []byte) *esError {
	allowed, known := aliasActionFields[kind]
	if !known {
		return nil // the caller refuses the action itself
	}
	upper := strings.ToUpper(kind)
	for _, m := range def.m {
		if !allowed[m.k] {
			return newErr(400, typeXContentParse, "["+locString(src, m.koff)+"] ["+kind+"] unknown field ["+m.k+"]", false)
		}
		refused := (kind == "add" && m.k == "must_exist") || (kind == "remove_index" && (m.k == "alias" || m.k == "aliases"))
		if refused {
			e := newErr(400, typeXContentParse, "["+locString(src, m.voff)+"] ["+kind+"] failed to parse field ["+m.k+"]", false)
			e.cause = errIllegalArg("[" + m.k + "] is unsupported for [" + upper + "]")
			return e
		}
	}
	return nil
}

// validateAliasAction is AliasActions.validate, run as each action is added.
func validateAliasAction(kind string, indices, aliases []string) *esError {
	if len(indices) == 0 {
		return errIllegalArg("One of [index] or [indices] is required")
	}
	if kind != "remove_index" && len(aliases) == 0 {
		return errIllegalArg("One of [alias] or [aliases] is required")
	}
	return nil
}

// optAliasActions is IndicesAliasesRequest's indices options:
// fromOptions(false, true, true, true), open and closed indices, data streams excluded.
var optAliasActions = indicesOptions{allowNoIndices: true, expandOpen: true, expandClosed: true}

// aliasStage is the aliases of the indices an alias request touches, copied on first
// change, so that nothing changes unless the whole request is valid.
type aliasStage struct {
	c       *Cluster
	changed map[*index]map[string]*aliasMeta
	deleted map[*index]bool
}

func (s *aliasStage) of(ix *index) map[string]*aliasMeta {
	if m, ok := s.changed[ix]; ok {
		return m
	}
	return ix.aliases
}

func (s *aliasStage) mutable(ix *index) map[string]*aliasMeta {
	if m, ok := s.changed[ix]; ok {
		return m
	}
	m := make(map[string]*aliasMeta, len(ix.aliases)+1)
	for k, v := range ix.aliases {
		m[k] = v
	}
	s.changed[ix] = m
	return m
}

// validateAliasName is AliasValidator.validateAliasStandalone and the name lookup of
// validateAlias.
func (c *Cluster) validateAliasName(alias, indexRouting string, deleted map[*index]bool) *esError {
	if strings.TrimSpace(alias) == "" {
		return errIllegalArg("alias name is required")
	}
	if err := validateIndexName(alias); err != nil && !strings.HasSuffix(err.reason, "must be lowercase") {
		// validateIndexOrAliasName has the index name rules but the lowercase one
		desc := strings.TrimPrefix(err.reason, "Invalid index name ["+alias+"], ")
		return newErr(400, typeInvalidAliasName, "Invalid alias name ["+alias+"]: "+desc, true)
	}
	if strings.Contains(indexRouting, ",") {
		return errIllegalArg("alias [" + alias + "] has several index routing values associated with it")
	}
	if ix := c.indices[alias]; (ix != nil && !deleted[ix]) || c.dataStreamLocked(alias) != nil {
		return newErr(400, typeInvalidAliasName, "Invalid alias name ["+alias+"]: an index or data stream exists with the same name as the alias", true)
	}
	return nil
}

// errBackingAlias is TransportIndicesAliasesAction's refusal of a backing index.
func errBackingAlias(exprs []string, ds string) *esError {
	return errIllegalArg("The provided expressions [" + strings.Join(exprs, ",") + "] match a backing index belonging to data stream [" + ds + "]. Data streams and their backing indices don't support aliases.")
}

// applyAliasActionsLocked runs a parsed alias request; c.mu must be held for writing.
func (c *Cluster) applyAliasActionsLocked(actions []aliasAction) *esError {
	st := &aliasStage{c: c, changed: map[*index]map[string]*aliasMeta{}, deleted: map[*index]bool{}}
	type resolved struct {
		act     *aliasAction
		targets []*index
		// remove: the aliases each index has that the action names, as of the request
		names map[*index][]string
	}
	var plan []resolved
	final := 0
	original := map[string]bool{}
	for i := range actions {
		a := &actions[i]
		targets, err := c.concreteIndicesLocked(a.indices, optAliasActions)
		if err != nil {
			return err
		}
		for _, ix := range targets {
			if ix.dsName != "" && c.dataStreamLocked(ix.dsName) != nil {
				return errBackingAlias(a.indices, ix.dsName)
			}
		}
		for _, al := range a.aliases {
			original[al] = true
		}
		r := resolved{act: a, targets: targets}
		switch a.kind {
		case "add", "remove_index":
			if a.kind == "add" {
				final += len(targets) * len(a.aliases)
			} else {
				final += len(targets)
			}
		case "remove":
			// concreteAliases: removals expand alias wildcards among the index's aliases
			r.names = map[*index][]string{}
			for _, ix := range targets {
				for _, have := range sortedKeys(ix.aliases) {
					for _, p := range a.aliases {
						if p == have || p == "_all" || glob.Match(p, have) {
							r.names[ix] = append(r.names[ix], have)
							break
						}
					}
				}
				final += len(r.names[ix])
			}
		}
		plan = append(plan, r)
	}
	if final == 0 && len(actions) > 0 {
		names := sortedKeys(original)
		e := newErr(404, "aliases_not_found_exception", "aliases ["+strings.Join(names, ", ")+"] missing", true)
		e.meta = []metaKV{{k: "resource.type", v: "aliases"}, resourceIDs(names)}
		return e
	}
	// remove_index actions run first (applyAliasActions)
	var doomed []*index
	for _, r := range plan {
		if r.act.kind != "remove_index" {
			continue
		}
		for _, ix := range r.targets {
			if !st.deleted[ix] {
				st.deleted[ix] = true
				doomed = append(doomed, ix)
			}
		}
	}
	if err := c.checkDeleteBackingLocked(doomed); err != nil {
		return err
	}
	touched := map[string]bool{}
	for _, r := range plan {
		switch r.act.kind {
		case "add":
			for _, ix := range r.targets {
				if st.deleted[ix] {
					return errIndexNotFound(ix.name)
				}
				for _, al := range r.act.aliases {
					indexRouting := r.act.meta.indexRouting
					if indexRouting == "" {
						indexRouting = r.act.meta.routing
					}
					if err := c.validateAliasName(al, indexRouting, st.deleted); err != nil {
						return err
					}
					m := r.act.meta
					st.mutable(ix)[al] = &m
					touched[al] = true
				}
			}
		case "remove":
			for _, ix := range r.targets {
				if st.deleted[ix] {
					return errIndexNotFound(ix.name)
				}
				for _, al := range r.names[ix] {
					// AliasAction.Remove.apply: a name already gone is skipped
					if _, ok := st.of(ix)[al]; ok {
						delete(st.mutable(ix), al)
					}
				}
			}
		}
	}
	for _, al := range sortedKeys(touched) {
		if err := c.validateAliasMembersLocked(al, st.of, st.deleted); err != nil {
			return err
		}
	}
	for _, ix := range doomed {
		c.deleteIndexLocked(ix)
	}
	for ix, m := range st.changed {
		if !st.deleted[ix] {
			ix.aliases = m
			ix.versions.bump(&ix.versions.aliases)
		}
	}
	c.state.changed()
	return nil
}

// validateAliasMembersLocked is IndexAbstraction.Alias's validation of an alias over all
// its indices: one write index at most, one is_hidden value (IllegalStateException, 500).
// Index names are listed in name order, where the server lists them in its metadata
// map's order.
func (c *Cluster) validateAliasMembersLocked(alias string, aliasesOf func(*index) map[string]*aliasMeta, skip map[*index]bool) *esError {
	var writes, hidden, visible []string
	for _, n := range sortedKeys(c.indices) {
		ix := c.indices[n]
		if skip[ix] {
			continue
		}
		m, ok := aliasesOf(ix)[alias]
		if !ok {
			continue
		}
		if m.isWriteIndex != nil && *m.isWriteIndex {
			writes = append(writes, n)
		}
		if m.isHidden != nil && *m.isHidden {
			hidden = append(hidden, n)
		} else {
			visible = append(visible, n)
		}
	}
	if len(writes) > 1 {
		return newErr(500, "illegal_state_exception", "alias ["+alias+"] has more than one write index ["+strings.Join(writes, ",")+"]", false)
	}
	if len(hidden) > 0 && len(visible) > 0 {
		return newErr(500, "illegal_state_exception", "alias ["+alias+"] has is_hidden set to true on indices ["+strings.Join(hidden, ",")+
			"] but does not have is_hidden set to true on indices ["+strings.Join(visible, ",")+"]; alias must have the same is_hidden setting on all indices", false)
	}
	return nil
}

// validateNewIndexAliasesLocked validates the aliases a new index brings against the
// indices that already have them (clusterStateCreateIndex builds and validates the new
// metadata).
func (c *Cluster) validateNewIndexAliasesLocked(ix *index) *esError {
	names := make([]string, 0, len(ix.aliases))
	for a := range ix.aliases {
		names = append(names, a)
	}
	sort.Strings(names)
	of := func(other *index) map[string]*aliasMeta { return other.aliases }
	for _, a := range names {
		c.indices[ix.name] = ix
		err := c.validateAliasMembersLocked(a, of, nil)
		delete(c.indices, ix.name)
		if err != nil {
			return err
		}
	}
	return nil
}
