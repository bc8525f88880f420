package searchemu

import (
	"sort"
	"strings"

	"github.com/fanout-dev/fanout/pkg/glob"
)

// indicesOptions mirrors IndicesOptions: how an index expression is resolved to concrete
// indices. Each API has its own defaults (the request class's indicesOptions field), which
// the allow_no_indices, ignore_unavailable and expand_wildcards parameters override
// (IndicesOptions.fromRequest).
type indicesOptions struct {
	ignoreUnavailable bool
	allowNoIndices    bool
	expandOpen        bool
	expandClosed      bool
	expandHidden      bool
	// forbidClosed makes a named closed index an index_closed_exception
	// (FORBID_CLOSED_INDICES) and drops closed indices an alias points to.
	forbidClosed bool
	// ignoreAliases treats alias names as missing (delete index, IGNORE_ALIASES).
	ignoreAliases bool
	// forbidAliasesToMulti refuses an alias with more than one index.
	forbidAliasesToMulti bool
	// includeDataStreams is the request's includeDataStreams(): a data stream resolves
	// to its backing indices. Without it a data stream is excluded, as a missing index.
	includeDataStreams bool
}

// The defaults of the request classes the emulator serves (IndicesOptions constants and the
// fields of DeleteIndexRequest, OpenIndexRequest, PutMappingRequest, GetSettingsRequest…).
var (
	// strictExpandOpen: CloseIndexRequest.
	optStrictExpandOpen = indicesOptions{allowNoIndices: true, expandOpen: true}
	// GetIndexRequest and GetMappingsRequest are ClusterInfoRequests, which include data
	// streams.
	optClusterInfo = indicesOptions{allowNoIndices: true, expandOpen: true, includeDataStreams: true}
	// strictExpand: _cat/indices (open and closed).
	optStrictExpand = indicesOptions{allowNoIndices: true, expandOpen: true, expandClosed: true}
	// strictExpandOpenAndForbidClosed: BroadcastRequest (refresh, flush), CreatePitRequest;
	// SearchRequest adds ignore_throttled, which the emulator has nothing to act on.
	// These requests include data streams.
	optForbidClosed = indicesOptions{allowNoIndices: true, expandOpen: true, forbidClosed: true, includeDataStreams: true}
	// lenientExpandHidden: ClusterHealthRequest.
	optLenientExpandHidden = indicesOptions{ignoreUnavailable: true, allowNoIndices: true, expandOpen: true, expandClosed: true, expandHidden: true}
	// DeleteIndexRequest: fromOptions(false, true, true, true, false, false, true, false).
	optDeleteIndex = indicesOptions{allowNoIndices: true, expandOpen: true, expandClosed: true, forbidAliasesToMulti: true, ignoreAliases: true}
	// OpenIndexRequest: fromOptions(false, true, false, true) — wildcards expand to closed.
	optOpenIndex = indicesOptions{allowNoIndices: true, expandClosed: true}
	// GetSettingsRequest: fromOptions(false, true, true, true).
	optGetSettings = indicesOptions{allowNoIndices: true, expandOpen: true, expandClosed: true}
	// PutMappingRequest and UpdateSettingsRequest: fromOptions(false, false, true, true).
	optUpdateMeta = indicesOptions{expandOpen: true, expandClosed: true}
	// strictSingleIndexNoExpandForbidClosed: GetRequest, MultiGetRequest.Item, writes.
	optSingleIndex = indicesOptions{forbidAliasesToMulti: true, forbidClosed: true}
)

// indicesOpts reads the indices options parameters over def, as IndicesOptions.fromRequest
// does: the booleans go through XContentMapValues.nodeBooleanValue (an empty value keeps
// the default), expand_wildcards through WildcardStates.parseParameter.
func (rq *request) indicesOpts(def indicesOptions) (indicesOptions, *esError) {
	o := def
	// ignore_throttled is parsed and checked; the emulator has no throttled indices.
	var ignoreThrottled bool
	for _, p := range []struct {
		name string
		dst  *bool
	}{{"ignore_unavailable", &o.ignoreUnavailable}, {"allow_no_indices", &o.allowNoIndices}, {"ignore_throttled", &ignoreThrottled}} {
		v, ok := rq.query[p.name]
		if !ok || v == "" {
			continue
		}
		switch v {
		case "true":
			*p.dst = true
		case "false":
			*p.dst = false
		default:
			return o, errIllegalArgCause("Could not convert ["+p.name+"] to boolean", errIllegalArg("Failed to parse value ["+v+"] as only [true] or [false] are allowed."))
		}
	}
	if v, ok := rq.query["expand_wildcards"]; ok {
		o.expandOpen, o.expandClosed, o.expandHidden = false, false, false
		for _, w := range splitComma(v) {
			switch w {
			case "open":
				o.expandOpen = true
			case "closed":
				o.expandClosed = true
			case "hidden":
				o.expandHidden = true
			case "none":
				o.expandOpen, o.expandClosed, o.expandHidden = false, false, false
			case "all":
				o.expandOpen, o.expandClosed, o.expandHidden = true, true, true
			default:
				return o, errIllegalArg("No valid expand wildcard value [" + w + "]")
			}
		}
	}
	return o, nil
}

// resolveIndices resolves the request's {index} path parameter with the API's default
// options def overridden by the request's parameters.
func (c *Cluster) resolveIndices(rq *request, def indicesOptions) ([]*index, *esError) {
	o, err := rq.indicesOpts(def)
	if err != nil {
		return nil, err
	}
	return c.resolveExpr(rq.path["index"], o)
}

// resolveExpr resolves a comma-separated index expression to concrete indices in name
// order.
func (c *Cluster) resolveExpr(expr string, o indicesOptions) ([]*index, *esError) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.concreteIndicesLocked(splitExpr(expr), o)
}

func (ix *index) hidden() bool { return ix.settings["index.hidden"] == "true" }

func (ix *index) isClosed() bool { return ix.k().closed }

// errIndexNotFoundRes is IndexNotFoundException(name) with setResources(type, ids…): the
// resource members name what was resolved ("index_or_alias" or "index_expression"); a null
// name (no single expression to blame) renders as "[null]" without index metadata.
func errIndexNotFoundRes(name string, null bool, resType string, ids []string) *esError {
	if null {
		name = "null"
	}
	e := newErr(404, typeIndexNotFound, "no such index ["+name+"]", true)
	e.meta = []metaKV{{k: "resource.type", v: resType}, resourceIDs(ids)}
	if !null {
		e.meta = append(e.meta, metaKV{k: "index_uuid", v: "_na_"}, metaKV{k: "index", v: name})
	}
	return e
}

// resourceIDs renders a metadata list as OpenSearchException does: one value as a string,
// several as an array.
func resourceIDs(ids []string) metaKV {
	if len(ids) == 1 {
		return metaKV{k: "resource.id", v: ids[0]}
	}
	b := []byte{'['}
	for i, s := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return metaKV{k: "resource.id", v: string(append(b, ']')), num: true}
}

// errIndexClosed is IndexClosedException: 400, reason "closed", with the index metadata.
func errIndexClosed(ix *index) *esError {
	e := newErr(400, "index_closed_exception", "closed", true)
	e.meta = []metaKV{{k: "index_uuid", v: ix.uuid}, {k: "index", v: ix.name}}
	return e
}

func errAliasesNotSupported(expr string) *esError {
	return errIllegalArg("The provided expression [" + expr + "] matches an alias, specify the corresponding concrete indices instead.")
}

// aliasMembers returns the indices an alias points to, in name order.
func (c *Cluster) aliasMembersLocked(name string) []*index {
	var out []*index
	for _, ix := range c.indices {
		if _, ok := ix.aliases[name]; ok {
			out = append(out, ix)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// abstractionLocked looks a name up in the indices lookup: an index, a data stream or an
// alias (its backing indices or members), nil members and false when none.
func (c *Cluster) abstractionLocked(name string) (ix *index, alias []*index, ok bool) {
	if ix := c.indices[name]; ix != nil {
		return ix, nil, true
	}
	if ds := c.dataStreamLocked(name); ds != nil {
		return nil, c.backingLocked(ds), true
	}
	if m := c.aliasMembersLocked(name); len(m) > 0 {
		return nil, m, true
	}
	return nil, nil, false
}

// concreteIndicesLocked follows IndexNameExpressionResolver.concreteIndices (its
// WildcardExpressionResolver included; data streams and date math aside); c.mu must be
// held.
func (c *Cluster) concreteIndicesLocked(exprs []string, o indicesOptions) ([]*index, *esError) {
	orig := exprs
	if len(orig) == 0 {
		orig = []string{"_all"}
	}
	// With one expression, allow_no_indices decides whether a missing name fails; with
	// several, ignore_unavailable does (a quirk the source documents).
	failNoIndices := !o.ignoreUnavailable
	if len(orig) == 1 {
		failNoIndices = !o.allowNoIndices
	}
	resolved, err := c.resolveWildcardsLocked(orig, o)
	if err != nil {
		return nil, err
	}
	if len(resolved) == 0 {
		if !o.allowNoIndices {
			if len(orig) == 1 && orig[0] == "_all" {
				e := errIndexNotFoundRes("", true, "index_expression", orig)
				e.reason = "no such index [null] and no indices exist"
				return nil, e
			}
			return nil, errIndexNotFoundRes("", true, "index_expression", orig)
		}
		return nil, nil
	}
	seen := map[string]*index{}
	excludedDS := false
	for _, name := range resolved {
		ix, members, ok := c.abstractionLocked(name)
		isDS := ok && ix == nil && c.dataStreamLocked(name) != nil
		if isDS && !o.includeDataStreams {
			excludedDS = true
			continue
		}
		if !ok {
			if failNoIndices {
				if name == "_all" {
					e := errIndexNotFoundRes(name, false, "index_expression", []string{name})
					e.reason = "no such index [_all] and no indices exist"
					return nil, e
				}
				return nil, errIndexNotFoundRes(name, false, "index_expression", []string{name})
			}
			continue
		}
		if ix == nil && o.ignoreAliases && !isDS {
			if failNoIndices {
				return nil, errAliasesNotSupported(name)
			}
			continue
		}
		if ix != nil {
			members = []*index{ix}
		} else if len(members) > 1 && o.forbidAliasesToMulti {
			names := make([]string, len(members))
			for i, m := range members {
				names[i] = m.name
			}
			return nil, errIllegalArg("alias [" + name + "] has more than one index associated with it [" + strings.Join(names, ", ") + "], can't execute a single index op")
		}
		for _, m := range members {
			if m.isClosed() {
				if o.forbidClosed && !o.ignoreUnavailable {
					return nil, errIndexClosed(m)
				}
				if o.forbidClosed {
					continue
				}
			}
			seen[m.name] = m
		}
	}
	if !o.allowNoIndices && len(seen) == 0 {
		e := errIndexNotFoundRes("", true, "index_expression", orig)
		if excludedDS {
			// EXCLUDED_DATA_STREAMS_KEY, rendered without its "opensearch." prefix
			e.meta = append(e.meta, metaKV{k: "excluded_ds", v: "true"})
		}
		return nil, e
	}
	out := make([]*index, 0, len(seen))
	for _, ix := range seen {
		out = append(out, ix)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// stateExcluded reports whether wildcard expansion skips ix (excludeState).
func (o indicesOptions) stateExcluded(ix *index) bool {
	if ix.isClosed() {
		return !o.expandClosed
	}
	return !o.expandOpen
}

// resolveWildcardsLocked is WildcardExpressionResolver.resolve: it expands wildcards and
// exclusions into index (and alias) names, leaving plain names for the concrete step.
func (c *Cluster) resolveWildcardsLocked(exprs []string, o indicesOptions) ([]string, *esError) {
	if !o.expandOpen && !o.expandClosed {
		return exprs, nil
	}
	if len(exprs) == 1 && (exprs[0] == "_all" || exprs[0] == "*") {
		var out []string
		for _, ix := range c.indices {
			// the backing indices of data streams come with their streams
			inStream := o.includeDataStreams && ix.dsName != "" && c.dataStreamLocked(ix.dsName) != nil
			if (!ix.hidden() || o.expandHidden || inStream) && !o.stateExcluded(ix) {
				out = append(out, ix.name)
			}
		}
		return out, nil
	}
	var result map[string]bool
	var order []string
	add := func(s string) {
		if !result[s] {
			result[s] = true
			order = append(order, s)
		}
	}
	wildcardSeen := false
	for i, expr := range exprs {
		if expr == "" {
			return nil, errIndexNotFoundRes(expr, false, "index_or_alias", []string{expr})
		}
		if expr[0] == '_' {
			return nil, errInvalidIndexName(expr, "must not start with '_'.")
		}
		if c.aliasOrIndexExistsLocked(expr, o) {
			if result != nil {
				add(expr)
			}
			continue
		}
		include := true
		if expr[0] == '-' && wildcardSeen {
			include = false
			expr = expr[1:]
		}
		if result == nil {
			result = map[string]bool{}
			for _, prev := range exprs[:i] {
				add(prev)
			}
		}
		if !strings.Contains(expr, "*") {
			if !o.ignoreUnavailable {
				ix, _, ok := c.abstractionLocked(expr)
				if !ok {
					return nil, errIndexNotFoundRes(expr, false, "index_or_alias", []string{expr})
				}
				isDS := ix == nil && c.dataStreamLocked(expr) != nil
				if ix == nil && o.ignoreAliases && !isDS {
					return nil, errAliasesNotSupported(expr)
				}
				if isDS && !o.includeDataStreams {
					return nil, errIndexNotFoundRes(expr, false, "index_or_alias", []string{expr})
				}
			}
			if include {
				add(expr)
			} else {
				delete(result, expr)
			}
			continue
		}
		matched := false
		for _, name := range c.expandWildcardLocked(expr, o, &matched) {
			if include {
				add(name)
			} else {
				delete(result, name)
			}
		}
		if !o.allowNoIndices && !matched {
			return nil, errIndexNotFoundRes(expr, false, "index_or_alias", []string{expr})
		}
		wildcardSeen = true
	}
	if result == nil {
		return exprs, nil
	}
	out := make([]string, 0, len(result))
	for _, s := range order {
		if result[s] {
			out = append(out, s)
		}
	}
	if len(out) == 0 && !o.allowNoIndices {
		return nil, errIndexNotFoundRes("", true, "index_or_alias", exprs)
	}
	return out, nil
}

func (c *Cluster) aliasOrIndexExistsLocked(name string, o indicesOptions) bool {
	ix, _, ok := c.abstractionLocked(name)
	if ok && ix == nil && c.dataStreamLocked(name) != nil {
		return o.includeDataStreams
	}
	return ok && (ix != nil || !o.ignoreAliases)
}

// expandWildcardLocked returns the concrete index names a wildcard matches (through index
// names and, unless aliases are ignored, alias names), honouring the open/closed/hidden
// states; matched reports whether any name matched at all (before state filtering).
func (c *Cluster) expandWildcardLocked(pattern string, o indicesOptions, matched *bool) []string {
	var out []string
	implicitHidden := strings.HasPrefix(pattern, ".")
	take := func(name string, members []*index, hidden bool) {
		*matched = true
		if hidden && !o.expandHidden && !(implicitHidden && strings.HasPrefix(name, ".")) {
			return
		}
		for _, m := range members {
			if !o.stateExcluded(m) {
				out = append(out, m.name)
			}
		}
	}
	aliases := map[string][]*index{}
	hiddenAlias := map[string]bool{}
	for _, ix := range c.indices {
		if glob.Match(pattern, ix.name) {
			take(ix.name, []*index{ix}, ix.hidden())
		}
		if o.ignoreAliases {
			continue
		}
		for a, meta := range ix.aliases {
			if glob.Match(pattern, a) {
				aliases[a] = append(aliases[a], ix)
				// An alias is hidden when its is_hidden is true (all its indices agree,
				// MetadataIndexAliasesService validates that).
				if meta.isHidden != nil && *meta.isHidden {
					hiddenAlias[a] = true
				}
			}
		}
	}
	for a, members := range aliases {
		take(a, members, hiddenAlias[a])
	}
	if o.includeDataStreams {
		// a data stream is not hidden; its hidden backing indices come with it
		for n, ds := range c.dataStreams {
			if glob.Match(pattern, n) {
				*matched = true
				for _, m := range c.backingLocked(ds) {
					if !o.stateExcluded(m) {
						out = append(out, m.name)
					}
				}
			}
		}
	}
	return out
}
