package searchemu

import (
	"sort"
	"strconv"
	"strings"

	"github.com/fanout-dev/fanout/pkg/glob"
)

// flattenUpdate flattens an update settings body like flattenSettings, keeping the keys
// set to null apart: they reset the setting. normalizePrefix leaves keys ending in "*"
// alone (Settings.Builder.normalizePrefix).
func flattenUpdate(prefix string, v any, vals map[string]string, nulls map[string]bool) {
	norm := func(k string) string {
		if strings.HasSuffix(k, "*") {
			return k
		}
		return normalizeSettingKey(k)
	}
	switch x := v.(type) {
	case *jsonObj:
		for _, m := range x.m {
			k := m.k
			if prefix != "" {
				k = prefix + "." + k
			}
			flattenUpdate(k, m.v, vals, nulls)
		}
	case []any:
		k := norm(prefix)
		delete(nulls, k)
		vals[k] = encodeSettingList(x)
	case nil:
		k := norm(prefix)
		delete(vals, k)
		nulls[k] = true
	default:
		k := norm(prefix)
		delete(nulls, k)
		vals[k] = javaToString(x)
	}
}

// handlePutSettings serves PUT /_settings and /{index}/_settings (RestUpdateSettingsAction,
// MetadataUpdateSettingsService.updateSettings):
//
//   - every key must be registered, and none private or internal (AbstractScopedSettings
//     validate; the first failure is thrown, the others suppressed);
//   - a setting that is not dynamic is refused if any target is open ("Can't update non
//     dynamic settings"), a final one on closed targets too ("final … not updateable");
//   - null resets a setting (a wildcard key resets the matching ones), and a target left
//     without index.number_of_replicas gets the default back.
func handlePutSettings(c *Cluster, rq *request) *response {
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
	// RestUpdateSettingsAction: a "settings" object is the settings, whatever else the
	// body holds
	if v, ok := body.get("settings"); ok {
		if o, ok := v.(*jsonObj); ok {
			body = o
		}
	}
	vals, nulls := map[string]string{}, map[string]bool{}
	flattenUpdate("", body, vals, nulls)
	if len(vals)+len(nulls) == 0 {
		// UpdateSettingsRequest.validate
		return errResp(errValidation([]string{"no settings to update"}))
	}
	ixs, rerr := c.resolveIndices(rq, optUpdateMeta)
	if rerr != nil {
		return errResp(rerr)
	}
	// TransportUpdateSettingsAction.checkBlock: a request changing only a block setting
	// may lift the block it is refused by
	if raw := rawSettingKeys(body); len(raw) != 1 || !blockSettingKeys[raw[0]] {
		if err := metadataWriteBlock(ixs); err != nil {
			return errResp(err)
		}
	}
	keys := make([]string, 0, len(vals)+len(nulls))
	for k := range vals {
		keys = append(keys, k)
	}
	for k := range nulls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	reg := c.settings
	if err := reg.validate(keys, vals, true); err != nil {
		return errResp(err)
	}
	// skippedSettings: what an open index cannot take; wildcards count as dynamic
	var skipped []string
	for _, k := range keys {
		if strings.Contains(k, "*") {
			continue
		}
		if p, _ := reg.lookup(k); p&propDynamic == 0 {
			skipped = append(skipped, k)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var open, closed []*index
	for _, ix := range ixs {
		if ix.isClosed() {
			closed = append(closed, ix)
		} else {
			open = append(open, ix)
		}
	}
	if len(skipped) > 0 && len(open) > 0 {
		return errResp(errIllegalArg("Can't update non dynamic settings [" + javaSetString(skipped, javaStringHashes(skipped)) + "] for open indices " + indexSetString(open)))
	}
	if len(closed) > 0 {
		// AbstractScopedSettings.updateSettings, per closed index in the HashSet's order
		first := closed[0]
		if len(closed) > 1 {
			first = indexSetOrder(closed)[0]
		}
		for _, k := range keys {
			p, known := reg.lookup(k)
			_, hasVal := vals[k]
			switch {
			case strings.Contains(k, "*") && hasVal:
				return errResp(errIllegalArg(first.name + " setting [" + k + "], not recognized"))
			case known && p&propFinal != 0:
				return errResp(errIllegalArg("final " + first.name + " setting [" + k + "], not updateable"))
			}
		}
	}
	preserve, perr := rq.paramBool("preserve_existing", false)
	if perr != nil {
		return errResp(perr)
	}
	now := c.now()
	type change struct {
		settings map[string]string
		knobs    indexKnobs
	}
	changes := make([]change, len(ixs))
	for i, ix := range ixs {
		onlyDynamic := !ix.isClosed()
		next := make(map[string]string, len(ix.settings))
		for k, v := range ix.settings {
			next[k] = v
		}
		for k := range nulls {
			for cur := range next {
				if cur != k && !(strings.Contains(k, "*") && glob.Match(k, cur)) {
					continue
				}
				// isValidDelete: never a final setting; on an open index a dynamic one only
				p, known := reg.lookup(cur)
				if !known || p&propFinal != 0 || (onlyDynamic && p&propDynamic == 0) {
					continue
				}
				delete(next, cur)
			}
		}
		for k, v := range vals {
			if _, had := ix.settings[k]; had && preserve {
				// preserve_existing: the index's own value stays
				continue
			}
			next[k] = v
		}
		if _, ok := next["index.number_of_replicas"]; !ok {
			next["index.number_of_replicas"] = strconv.Itoa(c.replicas)
		}
		k := c.defaultKnobs()
		k.closed = ix.k().closed
		if err := k.apply(next); err != nil {
			return errResp(err)
		}
		changes[i] = change{next, k}
	}
	for i, ix := range ixs {
		ix.setKnobs(&changes[i].knobs, now)
		if !sameSettings(ix.settings, changes[i].settings) {
			// MetadataUpdateSettingsService moves settings_version only on a change
			ix.versions.bump(&ix.versions.settings)
		}
		ix.settings = changes[i].settings
	}
	c.state.changed()
	return jsonResp(200, []byte(`{"acknowledged":true}`))
}

// blockSettingKeys are the settings whose sole change passes the metadata write block.
var blockSettingKeys = map[string]bool{"index.blocks.metadata": true, "index.blocks.read_only": true, "index.blocks.read_only_allow_delete": true}

// rawSettingKeys are the keys of a settings body as the request holds them, before the
// index. prefix is added (checkBlock looks at request.settings()).
func rawSettingKeys(body *jsonObj) []string {
	vals, nulls := map[string]string{}, map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if o, ok := v.(*jsonObj); ok {
			for _, m := range o.m {
				k := m.k
				if prefix != "" {
					k = prefix + "." + k
				}
				walk(k, m.v)
			}
			return
		}
		if v == nil {
			nulls[prefix] = true
		} else {
			vals[prefix] = ""
		}
	}
	walk("", body)
	out := sortedKeys(vals)
	for k := range nulls {
		if _, ok := vals[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// metadataWriteBlock is ClusterBlocks.indicesBlockedException(METADATA_WRITE) for the
// block the emulator models, index.blocks.read_only (IndexMetadata.INDEX_READ_ONLY_BLOCK,
// levels WRITE and METADATA_WRITE).
func metadataWriteBlock(ixs []*index) *esError {
	for _, ix := range ixs {
		if ix.k().blockReadOnly {
			return errIndexBlockReadOnly(ix.name)
		}
	}
	return nil
}

// javaStringHashes is javaStringHash of each item.
func javaStringHashes(items []string) []int32 {
	out := make([]int32, len(items))
	for i, s := range items {
		out[i] = javaStringHash(s)
	}
	return out
}

// javaSetString renders a HashSet of strings as AbstractCollection.toString does.
func javaSetString(items []string, hashes []int32) string {
	return javaList(javaHashSetOrder(items, hashes))
}

// indexSetOrder orders indices as a HashSet<Index> iterates them.
func indexSetOrder(ixs []*index) []*index {
	names := make([]string, len(ixs))
	hashes := make([]int32, len(ixs))
	byName := make(map[string]*index, len(ixs))
	for i, ix := range ixs {
		names[i] = ix.name
		hashes[i] = indexHash(ix)
		byName[ix.name] = ix
	}
	ordered := javaHashSetOrder(names, hashes)
	out := make([]*index, len(ordered))
	for i, n := range ordered {
		out[i] = byName[n]
	}
	return out
}

// indexSetString renders a HashSet<Index>: "[[name/uuid], [name/uuid]]" (Index.toString).
func indexSetString(ixs []*index) string {
	parts := make([]string, 0, len(ixs))
	for _, ix := range indexSetOrder(ixs) {
		parts = append(parts, "["+ix.name+"/"+ix.uuid+"]")
	}
	return javaList(parts)
}

func sameSettings(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
