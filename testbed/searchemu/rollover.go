package searchemu

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Rollover of a write alias, as TransportRolloverAction and MetadataRolloverService do
// it: the conditions are evaluated against the write index (its live documents as index
// stats count them, its age, its size), and when one is met — or none is given — a new
// index is created (templates applied) and the alias moved to it. A data stream target
// gets its next generation (rolloverDataStream).

var rolloverParams = []string{"dry_run", "timeout", "master_timeout", "cluster_manager_timeout", "wait_for_active_shards"}

// rolloverCondition is one of RolloverRequest's conditions.
type rolloverCondition struct {
	name  string // max_age, max_docs, max_size
	text  string // its value as Condition.toString renders it
	age   time.Duration
	docs  int64
	bytes int64
}

func (r rolloverCondition) String() string { return "[" + r.name + ": " + r.text + "]" }

var rolloverNamePattern = regexp.MustCompile(`^.*-\d+$`)

// nextRolloverName is generateRolloverIndexName for a name without date math.
func nextRolloverName(source string) (string, *esError) {
	if !rolloverNamePattern.MatchString(source) {
		return "", errIllegalArg("index name [" + source + "] does not match pattern '^.*-\\d+$'")
	}
	i := strings.LastIndex(source, "-")
	n, err := strconv.ParseInt(source[i+1:], 10, 32)
	if err != nil {
		return "", newErr(400, "number_format_exception", "For input string: \""+source[i+1:]+"\"", false)
	}
	return fmt.Sprintf("%s-%06d", source[:i], n+1), nil
}

// parseRolloverBody reads RolloverRequest's body: conditions and the new index's
// settings, mappings and aliases.
func parseRolloverBody(src []byte) ([]rolloverCondition, *createIndexReq, *esError) {
	req := &createIndexReq{settings: map[string]string{}}
	if len(src) == 0 {
		return nil, req, nil
	}
	root, err := parseContentMap(src)
	if err != nil {
		return nil, nil, err
	}
	var conds []rolloverCondition
	for _, m := range root.m {
		switch m.k {
		case "conditions":
			co, ok := m.v.(*jsonObj)
			if !ok {
				return nil, nil, newErr(400, typeXContentParse, "["+locString(src, m.voff)+"] [rollover] conditions doesn't support values of type: "+tokenOf(m.v), false)
			}
			for _, cm := range co.m {
				c := rolloverCondition{name: cm.k}
				switch cm.k {
				case "max_age":
					s, _ := cm.v.(string)
					d, err := parseTimeValue(s, "max_age")
					if err != nil {
						return nil, nil, err
					}
					c.text, c.age = s, d
				case "max_docs":
					n, ok := longValue(cm.v)
					if !ok {
						return nil, nil, newErr(400, typeXContentParse, "["+locString(src, cm.voff)+"] [conditions] failed to parse field [max_docs]", false)
					}
					c.text, c.docs = strconv.FormatInt(n, 10), n
				case "max_size":
					s, _ := cm.v.(string)
					n, err := parseByteSize(s, "max_size")
					if err != nil {
						return nil, nil, err
					}
					c.text, c.bytes = strings.ToLower(strings.TrimSpace(s)), n
				default:
					return nil, nil, newErr(400, typeXContentParse, "["+locString(src, cm.koff)+"] [conditions] unknown field ["+cm.k+"]", false)
				}
				conds = append(conds, c)
			}
		case "settings":
			so, ok := m.v.(*jsonObj)
			if !ok {
				return nil, nil, errParse("key [settings] must be an object")
			}
			flattenSettings("", so, req.settings)
		case "mappings":
			mo, ok := m.v.(*jsonObj)
			if !ok {
				return nil, nil, errParse("key [mappings] must be an object")
			}
			if isTypedMapping(mo) {
				return nil, nil, errIllegalArg("The mapping definition cannot be nested under a type [_doc] unless include_type_name is set to true.")
			}
			mp, err := parseMappingDef(mo)
			if err != nil {
				return nil, nil, errMapperParsing("Failed to parse mapping [_doc]: "+err.reason, err)
			}
			req.mapping, req.mappingDef = mp, mo
		case "aliases":
			al, err := parseAliases(m.v)
			if err != nil {
				return nil, nil, err
			}
			req.aliases = al
		default:
			return nil, nil, newErr(400, typeXContentParse, "["+locString(src, m.koff)+"] [rollover] unknown field ["+m.k+"]", false)
		}
	}
	return conds, req, nil
}

// parseByteSize is ByteSizeValue.parseBytesSizeValue for the units rollover takes.
func parseByteSize(v, key string) (int64, *esError) {
	s := strings.ToLower(strings.TrimSpace(v))
	units := []struct {
		suffix string
		mul    float64
	}{{"pb", 1 << 50}, {"tb", 1 << 40}, {"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"p", 1 << 50}, {"t", 1 << 40}, {"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}, {"b", 1}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num := strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || num == "" || f < 0 {
				break
			}
			return int64(f * u.mul), nil
		}
	}
	return 0, newErr(400, typeParse, "failed to parse setting ["+key+"] with value ["+v+"] as a size in bytes: unit is missing or unrecognized", true)
}

// writeIndexOfLocked is the write index of alias: the index where it is an explicit
// write alias, else its only index; nil when there is none.
func (c *Cluster) writeIndexOfLocked(alias string) (*index, []*index) {
	var all []*index
	var explicit *index
	for _, n := range sortedKeys(c.indices) {
		ix := c.indices[n]
		if a, ok := ix.aliases[alias]; ok {
			all = append(all, ix)
			if a.isWriteIndex != nil && *a.isWriteIndex {
				explicit = ix
			}
		}
	}
	if explicit != nil {
		return explicit, all
	}
	if len(all) == 1 {
		if a := all[0].aliases[alias]; a.isWriteIndex == nil || *a.isWriteIndex {
			return all[0], all
		}
	}
	return nil, all
}

// handleRollover serves POST /{index}/_rollover[/{new_index}].
func handleRollover(c *Cluster, rq *request) *response {
	target := rq.path["index"]
	newName := rq.path["new_index"]
	dryRun, perr := rq.paramBool("dry_run", false)
	if perr != nil {
		return errResp(perr)
	}
	conds, req, err := parseRolloverBody(rq.body)
	if err != nil {
		return errResp(err)
	}
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()

	// MetadataRolloverService.validate
	if _, isIndex := c.indices[target]; isIndex {
		return errResp(errIllegalArg("rollover target is a [concrete index] but one of [alias,data_stream] was expected"))
	}
	ds := c.dataStreamLocked(target)
	var write *index
	var all []*index
	if ds != nil {
		all = c.backingLocked(ds)
		write, _ = c.resolveWriteLocked(target)
	} else {
		write, all = c.writeIndexOfLocked(target)
	}
	if len(all) == 0 {
		return errResp(errIllegalArg("rollover target [" + target + "] does not exist"))
	}
	if write == nil {
		return errResp(errIllegalArg("rollover target [" + target + "] does not point to a write index"))
	}
	source := write.name
	if ds != nil {
		if newName != "" {
			return errResp(errIllegalArg("new index name may not be specified when rolling over a data stream"))
		}
		if len(req.settings) > 0 || len(req.aliases) > 0 || req.mappingDef != nil {
			return errResp(errIllegalArg("aliases, mappings, and index settings may not be specified when rolling over a data stream"))
		}
		newName = backingIndexName(ds.name, ds.generation+1)
	}
	if newName == "" {
		provided := write.settings["index.provided_name"]
		if provided == "" {
			provided = source
		}
		n, err := nextRolloverName(provided)
		if err != nil {
			return errResp(err)
		}
		newName = n
	}
	if strings.HasPrefix(newName, "<") {
		n, err := resolveDateMath(newName, c.now())
		if err != nil {
			return errResp(err)
		}
		newName = n
	}
	if err := validateIndexName(newName); err != nil {
		return errResp(err)
	}
	if ix := c.indices[newName]; ix != nil {
		e := newErr(400, typeResourceExists, "index ["+newName+"/"+ix.uuid+"] already exists", true)
		e.meta = []metaKV{{k: "index_uuid", v: ix.uuid}, {k: "index", v: newName}}
		return errResp(e)
	}
	if ds == nil {
		if err := c.checkNoDuplicatedTemplateAliasLocked(newName, target); err != nil {
			return errResp(err)
		}
	}

	// TransportRolloverAction.evaluateConditions against the write index's primaries
	now := c.now()
	docs := int64(write.statsDocCount(now))
	write.mu.RLock()
	size := write.srcBytes + docs*64
	write.mu.RUnlock()
	results := make(map[string]bool, len(conds))
	met := false
	for _, cd := range conds {
		var ok bool
		switch cd.name {
		case "max_age":
			ok = now.Sub(write.created) >= cd.age
		case "max_docs":
			ok = docs >= cd.docs
		case "max_size":
			ok = size >= cd.bytes
		}
		results[cd.String()] = ok
		met = met || ok
	}
	answer := func(rolled, ack bool) *response {
		b := []byte(`{"acknowledged":`)
		b = strconv.AppendBool(b, ack)
		b = append(b, `,"shards_acknowledged":`...)
		b = strconv.AppendBool(b, ack)
		b = append(b, `,"old_index":`...)
		b = appendJSONString(b, source)
		b = append(b, `,"new_index":`...)
		b = appendJSONString(b, newName)
		b = append(b, `,"rolled_over":`...)
		b = strconv.AppendBool(b, rolled)
		b = append(b, `,"dry_run":`...)
		b = strconv.AppendBool(b, dryRun)
		b = append(b, `,"conditions":{`...)
		keys := make([]string, 0, len(results))
		for k := range results {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = strconv.AppendBool(b, results[k])
		}
		return jsonResp(200, append(b, "}}"...))
	}
	if dryRun || (len(conds) > 0 && !met) {
		return answer(false, false)
	}
	if ds != nil {
		if _, err := c.rolloverDataStreamLocked(ds); err != nil {
			return errResp(err)
		}
		return answer(true, true)
	}
	// the new index's settings are checked as index creation checks them; the server's
	// rollover skips normalizeRequestSetting, so an unknown setting may fail later
	// there, or not at all: the emulator refuses it here rather than be more permissive
	if err := c.settings.validate(sortedKeys(req.settings), req.settings, false); err != nil {
		return errResp(err)
	}
	req.explicit = true
	oldAlias := write.aliases[target]
	explicit := oldAlias.isWriteIndex != nil && *oldAlias.isWriteIndex
	if _, err := c.createIndexLocked(newName, req); err != nil {
		return errResp(err)
	}
	// rolloverAliasToNewIndex: the new index gets the alias without filter or routing
	added := &aliasMeta{isHidden: oldAlias.isHidden}
	if explicit {
		t, f := true, false
		added.isWriteIndex = &t
		oldAlias.isWriteIndex = &f
	} else {
		delete(write.aliases, target)
	}
	c.indices[newName].aliases[target] = added
	write.versions.bump(&write.versions.aliases)
	c.state.changed()
	return answer(true, true)
}

// checkNoDuplicatedTemplateAliasLocked refuses a rollover whose new index would get the
// rollover alias from a template too, which would make it point to several write
// indices (checkNoDuplicatedAliasInIndexTemplate).
func (c *Cluster) checkNoDuplicatedTemplateAliasLocked(newIndex, alias string) *esError {
	s := &c.templates
	s.init()
	for _, n := range sortedKeys(s.legacy) {
		t := s.legacy[n]
		if !matchesAny(t.patterns, newIndex) {
			continue
		}
		if _, ok := t.body.aliases[alias]; ok {
			return errIllegalArg(fmt.Sprintf("Rollover alias [%s] can point to multiple indices, found duplicated alias [%s] in index template [%s]",
				alias, javaList(sortedKeys(t.body.aliases)), n))
		}
	}
	if v2 := s.v2TemplateFor(newIndex); v2 != "" {
		bodies := s.composition(s.v2[v2])
		for i := len(bodies) - 1; i >= 0; i-- {
			if _, ok := bodies[i].aliases[alias]; ok {
				return errIllegalArg(fmt.Sprintf("Rollover alias [%s] can point to multiple indices, found duplicated alias [%s] in index template [%s]",
					alias, javaList(sortedKeys(bodies[i].aliases)), v2))
			}
		}
	}
	return nil
}
