package searchemu

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/fanout-dev/fanout/pkg/glob"
)

var (
	createIndexParams = []string{"wait_for_active_shards", "timeout", "master_timeout", "cluster_manager_timeout"}
	indicesOptParams  = []string{"ignore_unavailable", "allow_no_indices", "expand_wildcards"}
)

func withParams(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

// parseContentMap parses a body that the server reads with XContentHelper.convertToMap.
func parseContentMap(body []byte) (*jsonObj, *esError) {
	v, je := parseJSON(body)
	if je != nil {
		e := errParse("Failed to parse content to map")
		e.cause = errFromJSON(body, je)
		return nil, e
	}
	o, ok := v.(*jsonObj)
	if !ok {
		e := errParse("Failed to parse content to map")
		e.cause = newErr(400, typeJSONParse, "Current token ("+tokenOf(v)+") not START_OBJECT", false)
		return nil, e
	}
	return o, nil
}

// flattenSettings flattens a settings object into "index."-prefixed keys.
func flattenSettings(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case *jsonObj:
		for _, m := range x.m {
			k := m.k
			if prefix != "" {
				k = prefix + "." + k
			}
			flattenSettings(k, m.v, out)
		}
	case []any:
		out[normalizeSettingKey(prefix)] = encodeSettingList(x)
	case nil:
		delete(out, normalizeSettingKey(prefix))
	default:
		out[normalizeSettingKey(prefix)] = javaToString(x)
	}
}

// settingListPrefix marks a list value in a flattened settings map: Settings hold a
// JSON array as a list of strings under one key (Settings.fromXContent), rendered back as
// an array, not as "key.0", "key.1" members.
const settingListPrefix = "\x00list\x00"

// encodeSettingList stores a JSON array as a settings value: its items as Java's
// toString gives them.
func encodeSettingList(items []any) string {
	b := []byte(settingListPrefix + "[")
	for i, e := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, javaToString(e))
	}
	return string(append(b, ']'))
}

// decodeSettingList returns the items of a list value.
func decodeSettingList(v string) ([]string, bool) {
	if !strings.HasPrefix(v, settingListPrefix) {
		return nil, false
	}
	var out []string
	if err := json.Unmarshal([]byte(v[len(settingListPrefix):]), &out); err != nil {
		return nil, false
	}
	return out, true
}

// appendSettingValue renders a settings value: a string, or an array of strings.
func appendSettingValue(b []byte, v string) []byte {
	l, ok := decodeSettingList(v)
	if !ok {
		return appendJSONString(b, v)
	}
	b = append(b, '[')
	for i, e := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, e)
	}
	return append(b, ']')
}

func normalizeSettingKey(k string) string {
	if strings.HasPrefix(k, "index.") {
		return k
	}
	return "index." + k
}

func parseAliases(v any) (map[string]*aliasMeta, *esError) {
	o, ok := v.(*jsonObj)
	if !ok {
		return nil, errParse("key [aliases] must be an object")
	}
	out := map[string]*aliasMeta{}
	for _, m := range o.m {
		a := &aliasMeta{}
		if def, ok := m.v.(*jsonObj); ok {
			for _, p := range def.m {
				switch p.k {
				case "is_write_index":
					if b, ok := p.v.(bool); ok {
						a.isWriteIndex = &b
					}
				case "filter":
					a.filter = p.v
				case "routing":
					a.routing, _ = p.v.(string)
				case "index_routing":
					a.indexRouting, _ = p.v.(string)
				case "search_routing":
					a.searchRouting, _ = p.v.(string)
				case "is_hidden":
					if b, ok := p.v.(bool); ok {
						a.isHidden = &b
					}
				default:
					return nil, errIllegalArg("Unknown field [" + p.k + "] in alias [" + m.k + "]")
				}
			}
		}
		out[m.k] = a
	}
	return out, nil
}

// handleCreateIndex serves PUT /{index}.
func handleCreateIndex(c *Cluster, rq *request) *response {
	name := rq.path["index"]
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	req := &createIndexReq{settings: map[string]string{}}
	if len(rq.body) > 0 {
		body, err := parseContentMap(rq.body)
		if err != nil {
			return errResp(err)
		}
		if mv, ok := body.get("mappings"); ok {
			if mo, ok := mv.(*jsonObj); ok && isTypedMapping(mo) {
				return errResp(errIllegalArg("The mapping definition cannot be nested under a type [_doc] unless include_type_name is set to true."))
			}
		}
		for _, m := range body.m {
			switch m.k {
			case "settings":
				if _, ok := m.v.(*jsonObj); !ok {
					return errResp(errParse("key [settings] must be an object"))
				}
				flattenSettings("", m.v, req.settings)
			case "mappings":
				mo, ok := m.v.(*jsonObj)
				if !ok {
					return errResp(errParse("key [mappings] must be an object"))
				}
				mp, err := parseMappingDef(mo)
				if err != nil {
					// the server parses the mapping in the create task, after the
					// settings, the name and its existence were checked
					req.mappingErr = errMapperParsing("Failed to parse mapping [_doc]: "+err.reason, err)
					continue
				}
				req.mapping, req.mappingDef = mp, mo
			case "aliases":
				al, err := parseAliases(m.v)
				if err != nil {
					return errResp(err)
				}
				req.aliases = al
			default:
				return errResp(errParse("unknown key [" + m.k + "] for create index"))
			}
		}
	}
	// MetadataCreateIndexService.normalizeRequestSetting validates the request's settings
	// before the index name or its existence is looked at
	if err := c.settings.validate(sortedKeys(req.settings), req.settings, false); err != nil {
		return errResp(err)
	}
	req.explicit = true
	c.mu.Lock()
	_, err := c.createIndexLocked(name, req)
	c.mu.Unlock()
	if err != nil {
		return errResp(err)
	}
	b := []byte(`{"acknowledged":true,"shards_acknowledged":true,"index":`)
	b = appendJSONString(b, name)
	return jsonResp(200, append(b, '}'))
}

// handleDeleteIndex serves DELETE /{index} (RestDeleteIndexAction,
// TransportDeleteIndexAction): the expression is resolved with DeleteIndexRequest's
// options — open and closed indices, aliases treated as missing — and nothing is deleted
// unless all of it resolves. action.destructive_requires_name defaults to false in
// OpenSearch 2.x, so wildcards and _all are allowed.
func handleDeleteIndex(c *Cluster, rq *request) *response {
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	o, err := rq.indicesOpts(optDeleteIndex)
	if err != nil {
		return errResp(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	targets, rerr := c.concreteIndicesLocked(splitExpr(rq.path["index"]), o)
	if rerr != nil {
		return errResp(rerr)
	}
	if err := c.checkDeleteBackingLocked(targets); err != nil {
		return errResp(err)
	}
	for _, ix := range targets {
		c.deleteIndexLocked(ix)
	}
	return jsonResp(200, []byte(`{"acknowledged":true}`))
}

// handleIndexExists serves HEAD /{index}.
func handleIndexExists(c *Cluster, rq *request) *response {
	ixs, rerr := c.resolveIndices(rq, optClusterInfo)
	if rerr != nil {
		return &response{status: rerr.status}
	}
	if len(ixs) == 0 {
		return &response{status: 404}
	}
	return &response{status: 200}
}

// appendSettings renders flattened settings as nested objects with sorted keys.
func appendSettings(b []byte, s map[string]string, flat bool) []byte {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if flat {
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendSettingValue(b, s[k])
		}
		return append(b, '}')
	}
	root := &jsonObj{}
	for _, k := range keys {
		parts := strings.Split(k, ".")
		cur := root
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur.get(p)
			o, isObj := next.(*jsonObj)
			if !ok || !isObj {
				o = &jsonObj{}
				cur.set(p, o)
			}
			cur = o
		}
		v := any(s[k])
		if l, ok := decodeSettingList(s[k]); ok {
			items := make([]any, len(l))
			for i, e := range l {
				items[i] = e
			}
			v = items
		}
		cur.set(parts[len(parts)-1], v)
	}
	return appendCanonical(b, root)
}

func appendAliases(b []byte, al map[string]*aliasMeta) []byte {
	names := make([]string, 0, len(al))
	for k := range al {
		names = append(names, k)
	}
	sort.Strings(names)
	b = append(b, '{')
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		a := al[n]
		b = appendJSONString(b, n)
		b = append(b, ":{"...)
		first := true
		add := func(k string) {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendJSONString(b, k)
			b = append(b, ':')
		}
		if a.filter != nil {
			add("filter")
			b = appendCanonical(b, a.filter)
		}
		ir, sr := a.indexRouting, a.searchRouting
		if a.routing != "" {
			if ir == "" {
				ir = a.routing
			}
			if sr == "" {
				sr = a.routing
			}
		}
		if ir != "" {
			add("index_routing")
			b = appendJSONString(b, ir)
		}
		if sr != "" {
			add("search_routing")
			b = appendJSONString(b, sr)
		}
		if a.isWriteIndex != nil {
			add("is_write_index")
			b = strconv.AppendBool(b, *a.isWriteIndex)
		}
		if a.isHidden != nil {
			add("is_hidden")
			b = strconv.AppendBool(b, *a.isHidden)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// handleGetIndex serves GET /{index} (RestGetIndicesAction, TransportGetIndexAction,
// GetIndexResponse): per concrete index its aliases, mappings and settings, and the data
// stream of a backing index. The request is a ClusterInfoRequest (strictExpandOpen with
// data streams): a closed index named explicitly is answered, wildcards skip closed
// indices unless expand_wildcards says otherwise.
func handleGetIndex(c *Cluster, rq *request) *response {
	ixs, rerr := c.resolveIndices(rq, optClusterInfo)
	if rerr != nil {
		return errResp(rerr)
	}
	flat, _ := rq.paramBool("flat_settings", false)
	b := []byte{'{'}
	c.mu.RLock()
	for i, ix := range ixs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, ix.name)
		b = append(b, `:{"aliases":`...)
		b = appendAliases(b, ix.aliases)
		b = append(b, `,"mappings":`...)
		b = ix.mapping.Load().appendJSON(b)
		b = append(b, `,"settings":`...)
		b = appendSettings(b, ix.settings, flat)
		// GetIndexResponse names the stream a backing index belongs to
		// (TransportGetIndexAction: metadata.findDataStreams)
		if ix.dsName != "" && c.dataStreamLocked(ix.dsName) != nil {
			b = append(b, `,"data_stream":`...)
			b = appendJSONString(b, ix.dsName)
		}
		b = append(b, '}')
	}
	c.mu.RUnlock()
	return jsonResp(200, append(b, '}'))
}

// handleGetMapping serves GET /_mapping and /{index}/_mapping.
func handleGetMapping(c *Cluster, rq *request) *response {
	ixs, rerr := c.resolveIndices(rq, optClusterInfo)
	if rerr != nil {
		return errResp(rerr)
	}
	b := []byte{'{'}
	for i, ix := range ixs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, ix.name)
		b = append(b, `:{"mappings":`...)
		b = ix.mapping.Load().appendJSON(b)
		b = append(b, '}')
	}
	return jsonResp(200, append(b, '}'))
}

// handlePutMapping serves PUT/POST /{index}/_mapping.
func handlePutMapping(c *Cluster, rq *request) *response {
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	if len(rq.body) == 0 {
		return errResp(errBodyRequired())
	}
	body, err := parseContentMap(rq.body)
	if err != nil {
		return errResp(err)
	}
	if isTypedMapping(body) {
		return errResp(errIllegalArg("Types cannot be provided in put mapping requests"))
	}
	ixs, rerr := c.resolveIndices(rq, optUpdateMeta)
	if rerr != nil {
		return errResp(rerr)
	}
	if err := metadataWriteBlock(ixs); err != nil {
		return errResp(err)
	}
	for _, ix := range ixs {
		ix.mu.Lock()
	}
	defer func() {
		for _, ix := range ixs {
			ix.mu.Unlock()
		}
	}()
	// the update is parsed on its own before it is merged (MetadataMappingService:
	// mapperService.parse, then existingMapper.merge), so a bad definition is reported
	// before any conflict with the existing mapping
	if _, err := parseMappingDef(body); err != nil {
		return errResp(err)
	}
	updated := make([]*mapping, len(ixs))
	for i, ix := range ixs {
		m := ix.mapping.Load().clone()
		if err := checkSourceMerge(m, body); err != nil {
			return errResp(err)
		}
		if err := m.applyRoot(body); err != nil {
			return errResp(err)
		}
		if err := m.checkLimits(ix); err != nil {
			return errResp(err)
		}
		if err := ix.checkPartitionedMapping(m); err != nil {
			return errResp(err)
		}
		updated[i] = m
	}
	for i, ix := range ixs {
		// MetadataMappingService moves mapping_version only when the mapping changed
		if string(ix.mapping.Load().appendJSON(nil)) != string(updated[i].appendJSON(nil)) {
			ix.versions.bump(&ix.versions.mapping)
		}
		ix.mapping.Store(updated[i])
	}
	return jsonResp(200, []byte(`{"acknowledged":true}`))
}

func shardsTotals(ixs []*index) (total, primaries int) {
	for _, ix := range ixs {
		k := ix.k()
		total += k.shards * (1 + k.replicas)
		primaries += k.shards
	}
	return
}

// handleRefresh serves /_refresh, /{index}/_refresh, /_flush and /{index}/_flush.
func handleRefresh(c *Cluster, rq *request) *response {
	ixs, rerr := c.resolveIndices(rq, optForbidClosed)
	if rerr != nil {
		return errResp(rerr)
	}
	flush := strings.HasSuffix(rq.rawPath, "/_flush")
	for _, ix := range ixs {
		if flush {
			c.flushIndex(ix)
		} else {
			c.refreshIndex(ix)
		}
	}
	total, ok := shardsTotals(ixs)
	b := []byte(`{"_shards":{"total":`)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"successful":`...)
	b = strconv.AppendInt(b, int64(ok), 10)
	b = append(b, `,"failed":0}}`...)
	return jsonResp(200, b)
}

// humanBytes renders ByteSizeValue.toString (one truncated decimal, dropped when zero).
func humanBytes(n int64) string {
	units := []struct {
		s string
		v float64
	}{{"pb", 1 << 50}, {"tb", 1 << 40}, {"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}}
	for _, u := range units {
		if float64(n) >= u.v {
			return format1Decimals(float64(n)/u.v, u.s)
		}
	}
	return strconv.FormatInt(n, 10) + "b"
}

func format1Decimals(v float64, suffix string) string {
	p := javaDouble(v)
	ix := strings.IndexByte(p, '.') + 1
	ex := strings.IndexByte(p, 'E')
	fraction := p[ix]
	if fraction == '0' {
		if ex != -1 {
			return p[:ix-1] + p[ex:] + suffix
		}
		return p[:ix-1] + suffix
	}
	if ex != -1 {
		return p[:ix] + string(fraction) + p[ex:] + suffix
	}
	return p[:ix] + string(fraction) + suffix
}

// handleRoot serves GET / and HEAD / (RestMainAction; the version object is the
// flavour's product, see flavor.go).
func handleRoot(c *Cluster, rq *request) *response {
	if rq.method == "HEAD" {
		return &response{status: 200}
	}
	b := []byte(`{"name":`)
	b = appendJSONString(b, c.nodeName)
	b = append(b, `,"cluster_name":`...)
	b = appendJSONString(b, c.opts.Name)
	b = append(b, `,"cluster_uuid":`...)
	b = appendJSONString(b, c.uuid)
	p := c.product()
	b = append(b, `,"version":`...)
	b = p.appendVersion(b)
	b = append(b, `,"tagline":`...)
	b = appendJSONString(b, p.tagline)
	b = append(b, '}')
	return jsonResp(200, b)
}

// handleGetSettings serves GET /_settings, /{index}/_settings.
func handleGetSettings(c *Cluster, rq *request) *response {
	ixs, rerr := c.resolveIndices(rq, optGetSettings)
	if rerr != nil {
		return errResp(rerr)
	}
	flat, _ := rq.paramBool("flat_settings", false)
	b := []byte{'{'}
	c.mu.RLock()
	for i, ix := range ixs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, ix.name)
		b = append(b, `:{"settings":`...)
		s := ix.settings
		if name := rq.path["name"]; name != "" {
			s = map[string]string{}
			for k, v := range ix.settings {
				for _, p := range splitComma(name) {
					if glob.Match(p, k) {
						s[k] = v
					}
				}
			}
		}
		b = appendSettings(b, s, flat)
		b = append(b, '}')
	}
	c.mu.RUnlock()
	return jsonResp(200, append(b, '}'))
}

// handleAliases serves POST /_aliases.
func handleAliases(c *Cluster, rq *request) *response {
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	if len(rq.body) == 0 {
		return errResp(errBodyRequired())
	}
	body, err := parseContentMap(rq.body)
	if err != nil {
		return errResp(err)
	}
	av, _ := body.get("actions")
	actions, ok := av.([]any)
	if !ok {
		return errResp(errValidation([]string{"no actions specified"}))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var acts []aliasAction
	for _, a := range actions {
		ao, ok := a.(*jsonObj)
		if !ok || len(ao.m) != 1 {
			return errResp(errParsing("[aliases] failed to parse field [actions]", nil, -1))
		}
		kind := ao.m[0].k
		def, _ := ao.m[0].v.(*jsonObj)
		if def == nil {
			return errResp(errParsing("[aliases] failed to parse field [actions]", nil, -1))
		}
		if err := checkAliasActionFields(kind, def, rq.body); err != nil {
			return errResp(err)
		}
		var indices, aliases []string
		meta := &aliasMeta{}
		for _, m := range def.m {
			switch m.k {
			case "index":
				s, _ := m.v.(string)
				indices = append(indices, s)
			case "indices":
				if l, ok := m.v.([]any); ok {
					for _, e := range l {
						s, _ := e.(string)
						indices = append(indices, s)
					}
				}
			case "alias":
				s, _ := m.v.(string)
				aliases = append(aliases, s)
			case "aliases":
				if l, ok := m.v.([]any); ok {
					for _, e := range l {
						s, _ := e.(string)
						aliases = append(aliases, s)
					}
				}
			case "is_write_index":
				if b, ok := m.v.(bool); ok {
					meta.isWriteIndex = &b
				}
			case "is_hidden":
				if b, ok := m.v.(bool); ok {
					meta.isHidden = &b
				}
			case "filter":
				meta.filter = m.v
			case "routing":
				meta.routing, _ = m.v.(string)
			case "index_routing":
				meta.indexRouting, _ = m.v.(string)
			case "search_routing":
				meta.searchRouting, _ = m.v.(string)
			}
		}
		switch kind {
		case "add", "remove", "remove_index":
		default:
			return errResp(errParsing("["+kind+"] unknown field", nil, -1))
		}
		if err := validateAliasAction(kind, indices, aliases); err != nil {
			return errResp(err)
		}
		acts = append(acts, aliasAction{kind: kind, indices: indices, aliases: aliases, meta: *meta})
	}
	if err := c.applyAliasActionsLocked(acts); err != nil {
		return errResp(err)
	}
	return jsonResp(200, []byte(`{"acknowledged":true}`))
}

// handleGetAlias serves GET /_alias[/{name}] and /{index}/_alias[/{name}].
func handleGetAlias(c *Cluster, rq *request) *response {
	ixs, rerr := c.resolveRead(rq.path["index"], false, true)
	if rerr != nil {
		return errResp(rerr)
	}
	names := splitComma(rq.path["name"])
	c.mu.RLock()
	defer c.mu.RUnlock()
	b := []byte{'{'}
	n := 0
	matched := map[string]bool{}
	for _, ix := range ixs {
		sel := map[string]*aliasMeta{}
		for a, m := range ix.aliases {
			if len(names) == 0 {
				sel[a] = m
				continue
			}
			for _, p := range names {
				if p == a || glob.Match(p, a) || p == "_all" {
					sel[a] = m
					matched[p] = true
				}
			}
		}
		if len(names) > 0 && len(sel) == 0 {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = appendJSONString(b, ix.name)
		b = append(b, `:{"aliases":`...)
		b = appendAliases(b, sel)
		b = append(b, '}')
	}
	b = append(b, '}')
	var missing []string
	for _, p := range names {
		if !matched[p] && !strings.Contains(p, "*") && p != "_all" {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		if rq.method == "HEAD" {
			return &response{status: 404}
		}
		msg := "alias [" + strings.Join(missing, ",") + "] missing"
		if len(missing) > 1 {
			msg = "aliases [" + strings.Join(missing, ",") + "] missing"
		}
		out := append([]byte(`{"error":`), appendJSONString(nil, msg)...)
		out = append(out, `,"status":404`...)
		if len(b) > 2 {
			out = append(out, ',')
		}
		out = append(out, b[1:]...)
		return jsonResp(404, out)
	}
	if rq.method == "HEAD" {
		return &response{status: 200}
	}
	return jsonResp(200, b)
}

// checkAliasIndices refuses an index list that names nothing, as the alias endpoints do
// with an empty {index} ("//_alias/a"): RestIndexPutAliasAction and
// RestIndexDeleteAliasesAction split it on commas and AliasActions.indices throws
// (server/src/main/java/org/opensearch/action/admin/indices/alias/IndicesAliasesRequest.java).
func checkAliasIndices(expr string) *esError {
	if len(splitExpr(expr)) == 0 {
		return errIllegalArg("[indices] can't be empty")
	}
	return nil
}

// handlePutAlias serves PUT|POST /{index}/_alias/{name}.
func handlePutAlias(c *Cluster, rq *request) *response {
	body := []byte(`{}`)
	if len(rq.body) > 0 {
		body = rq.body
	}
	inner, err := parseContentMap(body)
	if err != nil {
		return errResp(err)
	}
	indices := rq.path["index"]
	if v, ok := inner.get("index"); ok {
		indices, _ = scalarString(v)
	}
	if err := checkAliasIndices(indices); err != nil {
		return errResp(err)
	}
	act := &jsonObj{}
	// the body's index and alias replace the path's (RestIndexPutAliasAction)
	def := &jsonObj{}
	for _, m := range []jsonMember{{k: "index", v: rq.path["index"]}, {k: "alias", v: rq.path["name"]}} {
		if _, ok := inner.get(m.k); !ok {
			def.m = append(def.m, m)
		}
	}
	def.m = append(def.m, inner.m...)
	act.m = []jsonMember{{k: "add", v: def}}
	rq.body = appendCanonical(nil, &jsonObj{m: []jsonMember{{k: "actions", v: []any{act}}}})
	return handleAliases(c, rq)
}

// handleDeleteAlias serves DELETE /{index}/_alias/{name}.
func handleDeleteAlias(c *Cluster, rq *request) *response {
	if err := checkAliasIndices(rq.path["index"]); err != nil {
		return errResp(err)
	}
	act := &jsonObj{m: []jsonMember{{k: "remove", v: &jsonObj{m: []jsonMember{{k: "index", v: rq.path["index"]}, {k: "alias", v: rq.path["name"]}}}}}}
	rq.body = appendCanonical(nil, &jsonObj{m: []jsonMember{{k: "actions", v: []any{act}}}})
	return handleAliases(c, rq)
}
