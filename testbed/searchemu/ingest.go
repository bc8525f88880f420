package searchemu

import (
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

// Ingest pipelines, as OpenSearch's IngestService runs them (server/.../ingest/
// IngestService.java, ConfigurationUtils.java, Pipeline.java, IngestDocument.java, and the
// processors of modules/ingest-common). The emulator has the processors set, remove,
// rename, lowercase, uppercase, append and drop, with their common options (tag,
// description, ignore_failure, ignore_missing). Everything else a cluster would accept
// — other processor types, "if" conditions (scripts), on_failure handlers, {{templates}},
// processors that read or write the metadata fields (_index, _id, _routing, …) — is
// refused when the pipeline is stored, with the parse_exception a cluster gives for an
// unknown processor type, so that nothing is ever accepted and then silently ignored.
//
// A write runs its pipelines (the request's or the item's "pipeline", else the index's
// index.default_pipeline, then its index.final_pipeline) after validation and before
// auto-create and routing, as TransportBulkAction does; a bulk answer then carries
// "ingest_took" (BulkResponse). The index's settings are read for existing indices only:
// the emulator has no index templates.

// ingestStore holds the cluster's pipelines.
type ingestStore struct {
	mu    sync.RWMutex
	pipes map[string]*pipelineDef
}

// pipelineDef is one stored pipeline: its configuration as given (returned by GET) and
// its compiled processors.
type pipelineDef struct {
	id     string
	config *jsonObj
	procs  []ingestProc
}

// ingestProc is one compiled processor.
type ingestProc struct {
	typ, tag      string
	ignoreFailure bool
	// run changes the document; drop reports that the document is to be dropped.
	run func(doc *jsonObj) (drop bool, err *esError)
}

func (s *ingestStore) get(id string) *pipelineDef {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pipes[id]
}

// errProcessorConfig is ConfigurationUtils.newConfigurationException: a parse_exception
// with the processor's type, tag and property as metadata.
func errProcessorConfig(typ, tag, prop, reason string) *esError {
	if prop != "" {
		reason = "[" + prop + "] " + reason
	}
	e := errParse(reason)
	if typ != "" {
		e.meta = append(e.meta, metaKV{k: "processor_type", v: typ})
	}
	if tag != "" {
		e.meta = append(e.meta, metaKV{k: "processor_tag", v: tag})
	}
	if prop != "" {
		e.meta = append(e.meta, metaKV{k: "property_name", v: prop})
	}
	return e
}

// javaClass names a value's class as Jackson's map parsing makes it (for messages).
func javaClass(v any) string {
	switch x := v.(type) {
	case string:
		return "java.lang.String"
	case bool:
		return "java.lang.Boolean"
	case *jsonObj:
		return "java.util.LinkedHashMap"
	case []any:
		return "java.util.ArrayList"
	case jsonNum:
		if x.float {
			return "java.lang.Double"
		}
		if n, ok := x.int64(); ok && n >= -1<<31 && n < 1<<31 {
			return "java.lang.Integer"
		}
		return "java.lang.Long"
	}
	return "null"
}

// handlePutPipeline serves PUT /_ingest/pipeline/{id} (RestPutPipelineAction,
// IngestService.validatePipeline): the pipeline is compiled before it is stored.
func handlePutPipeline(c *Cluster, rq *request) *response {
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	if len(rq.body) == 0 {
		return errResp(errBodyRequired())
	}
	id := rq.path["id"]
	cfg, err := parseContentMap(rq.body)
	if err != nil {
		return errResp(err)
	}
	def, err := compilePipeline(id, cfg)
	if err != nil {
		return errResp(err)
	}
	c.ingest.mu.Lock()
	if c.ingest.pipes == nil {
		c.ingest.pipes = map[string]*pipelineDef{}
	}
	c.ingest.pipes[id] = def
	c.ingest.mu.Unlock()
	return jsonResp(200, []byte(`{"acknowledged":true}`))
}

// handleGetPipeline serves GET /_ingest/pipeline[/{id}] (RestGetPipelineAction): ids
// and wildcards, comma-separated; an answer without pipelines is a 404 with `{}`.
func handleGetPipeline(c *Cluster, rq *request) *response {
	ids := splitExpr(rq.path["id"])
	c.ingest.mu.RLock()
	var found []*pipelineDef
	seen := map[string]bool{}
	add := func(p *pipelineDef) {
		if !seen[p.id] {
			seen[p.id] = true
			found = append(found, p)
		}
	}
	if len(ids) == 0 {
		for _, p := range c.ingest.pipes {
			add(p)
		}
		sort.Slice(found, func(i, j int) bool { return found[i].id < found[j].id })
	} else {
		for _, id := range ids {
			if strings.Contains(id, "*") {
				var ms []*pipelineDef
				for k, p := range c.ingest.pipes {
					if simpleMatch(id, k) {
						ms = append(ms, p)
					}
				}
				sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
				for _, p := range ms {
					add(p)
				}
			} else if p := c.ingest.pipes[id]; p != nil {
				add(p)
			}
		}
	}
	c.ingest.mu.RUnlock()
	b := []byte{'{'}
	for i, p := range found {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, p.id)
		b = append(b, ':')
		b = appendCanonical(b, p.config)
	}
	b = append(b, '}')
	// GetPipelineResponse.status: NOT_FOUND whenever no pipeline is in the answer, also
	// for GET /_ingest/pipeline on a cluster without any
	if len(found) == 0 {
		return jsonResp(404, b)
	}
	return jsonResp(200, b)
}

// handleDeletePipeline serves DELETE /_ingest/pipeline/{id} (IngestService.innerDelete):
// wildcards delete every match; nothing matched by a name that is not "*" is a 404.
func handleDeletePipeline(c *Cluster, rq *request) *response {
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	id := rq.path["id"]
	c.ingest.mu.Lock()
	defer c.ingest.mu.Unlock()
	var del []string
	for k := range c.ingest.pipes {
		if simpleMatch(id, k) {
			del = append(del, k)
		}
	}
	if len(del) == 0 && id != "*" {
		return errResp(newErr(404, typeResourceNotFound, "pipeline ["+id+"] is missing", true))
	}
	for _, k := range del {
		delete(c.ingest.pipes, k)
	}
	return jsonResp(200, []byte(`{"acknowledged":true}`))
}

// simpleMatch is Regex.simpleMatch: '*' matches any run of characters.
func simpleMatch(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i := 1; i < len(parts)-1; i++ {
		j := strings.Index(s, parts[i])
		if j < 0 {
			return false
		}
		s = s[j+len(parts[i]):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// compilePipeline is Pipeline.create: description, version and _meta are read, then the
// processors; any other key is refused.
func compilePipeline(id string, cfg *jsonObj) (*pipelineDef, *esError) {
	def := &pipelineDef{id: id, config: cfg}
	var procsV any
	hasProcs := false
	var unknown []string
	for _, m := range cfg.m {
		switch m.k {
		case "description", "version", "_meta":
		case "processors":
			procsV, hasProcs = m.v, true
		case "on_failure":
			if l, ok := m.v.([]any); ok && len(l) > 0 {
				return nil, errProcessorConfig("", "", "", "[searchemu] pipeline-level on_failure processors are not supported by the emulator")
			}
		default:
			unknown = append(unknown, m.k)
		}
	}
	if !hasProcs || procsV == nil {
		return nil, errProcessorConfig("", "", "processors", "required property is missing")
	}
	list, ok := procsV.([]any)
	if !ok {
		return nil, errProcessorConfig("", "", "processors", "property isn't a list, but of type ["+javaClass(procsV)+"]")
	}
	for _, pv := range list {
		po, ok := pv.(*jsonObj)
		if !ok {
			return nil, errProcessorConfig("", "", "processors", "property isn't a list of maps")
		}
		for _, m := range po.m {
			p, err := compileProcessor(m.k, m.v)
			if err != nil {
				return nil, err
			}
			def.procs = append(def.procs, p)
		}
	}
	if len(unknown) > 0 {
		return nil, errParse("pipeline [" + id + "] doesn't support one or more provided configuration parameters [" + strings.Join(unknown, ", ") + "]")
	}
	return def, nil
}

// procConfig reads a processor's configuration as ConfigurationUtils does: every read
// removes the key, and what is left at the end is refused.
type procConfig struct {
	typ, tag string
	m        map[string]any
	order    []string
}

func (pc *procConfig) take(k string) (any, bool) {
	v, ok := pc.m[k]
	delete(pc.m, k)
	return v, ok && v != nil
}

func (pc *procConfig) str(k string, required bool, def string) (string, *esError) {
	v, ok := pc.take(k)
	if !ok {
		if required {
			return "", errProcessorConfig(pc.typ, pc.tag, k, "required property is missing")
		}
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", errProcessorConfig(pc.typ, pc.tag, k, "property isn't a string, but of type ["+javaClass(v)+"]")
	}
	return s, nil
}

func (pc *procConfig) boolean(k string, def bool) (bool, *esError) {
	v, ok := pc.take(k)
	if !ok {
		return def, nil
	}
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		if x == "true" {
			return true, nil
		}
		if x == "false" {
			return false, nil
		}
	}
	return false, errProcessorConfig(pc.typ, pc.tag, k, "property isn't a boolean, but of type ["+javaClass(v)+"]")
}

// field reads a field path, refusing what the emulator does not model.
func (pc *procConfig) field(k string, required bool, def string) (string, *esError) {
	f, err := pc.str(k, required, def)
	if err != nil || f == "" {
		return f, err
	}
	return pc.checkPath(k, f)
}

func (pc *procConfig) checkPath(k, f string) (string, *esError) {
	if strings.Contains(f, "{{") {
		return "", errProcessorConfig(pc.typ, pc.tag, k, "[searchemu] templates are not supported by the emulator")
	}
	f = strings.TrimPrefix(f, "_source.")
	first, _, _ := strings.Cut(f, ".")
	switch first {
	case "_index", "_id", "_routing", "_version", "_version_type", "_if_seq_no", "_if_primary_term", "_ingest":
		return "", errProcessorConfig(pc.typ, pc.tag, k, "[searchemu] processors on metadata field ["+first+"] are not supported by the emulator")
	}
	return f, nil
}

// value reads a value, refusing templates inside it.
func (pc *procConfig) value(k string) (any, *esError) {
	v, ok := pc.take(k)
	if !ok {
		return nil, errProcessorConfig(pc.typ, pc.tag, k, "required property is missing")
	}
	if hasTemplate(v) {
		return nil, errProcessorConfig(pc.typ, pc.tag, k, "[searchemu] templates are not supported by the emulator")
	}
	return v, nil
}

func hasTemplate(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, "{{")
	case []any:
		for _, e := range x {
			if hasTemplate(e) {
				return true
			}
		}
	case *jsonObj:
		for _, m := range x.m {
			if hasTemplate(m.v) || strings.Contains(m.k, "{{") {
				return true
			}
		}
	}
	return false
}

// compileProcessor is ConfigurationUtils.readProcessor.
func compileProcessor(typ string, cfgV any) (ingestProc, *esError) {
	co, ok := cfgV.(*jsonObj)
	if !ok {
		return ingestProc{}, errProcessorConfig(typ, "", "", "property isn't a map, but of type ["+javaClass(cfgV)+"]")
	}
	pc := &procConfig{typ: typ, m: map[string]any{}}
	for _, m := range co.m {
		pc.m[m.k] = m.v
		pc.order = append(pc.order, m.k)
	}
	if t, ok := pc.m["tag"].(string); ok {
		pc.tag = t
	}
	build, known := processorFactories[typ]
	if !known {
		return ingestProc{}, errProcessorConfig(typ, pc.tag, "", "No processor type exists with name ["+typ+"]")
	}
	p := ingestProc{typ: typ, tag: pc.tag}
	var err *esError
	if p.ignoreFailure, err = pc.boolean("ignore_failure", false); err != nil {
		return p, err
	}
	if _, err = pc.str("tag", false, ""); err != nil {
		return p, err
	}
	if _, err = pc.str("description", false, ""); err != nil {
		return p, err
	}
	if v, ok := pc.take("on_failure"); ok {
		if l, ok := v.([]any); !ok || len(l) > 0 {
			return p, errProcessorConfig(typ, pc.tag, "on_failure", "[searchemu] on_failure processors are not supported by the emulator")
		}
		return p, errProcessorConfig(typ, pc.tag, "on_failure", "processors list cannot be empty")
	}
	if _, ok := pc.take("if"); ok {
		return p, errProcessorConfig(typ, pc.tag, "if", "[searchemu] processor conditions are scripts, which the emulator does not run")
	}
	if p.run, err = build(pc); err != nil {
		return p, err
	}
	if len(pc.m) > 0 {
		var left []string
		for _, k := range pc.order {
			if _, ok := pc.m[k]; ok {
				left = append(left, k)
			}
		}
		return p, errProcessorConfig(typ, pc.tag, "", "processor ["+typ+"] doesn't support one or more provided configuration parameters ["+strings.Join(left, ", ")+"]")
	}
	return p, nil
}

type procFactory func(pc *procConfig) (func(*jsonObj) (bool, *esError), *esError)

// processorFactories are the processors the emulator has (modules/ingest-common).
var processorFactories = map[string]procFactory{
	"set":       newSetProc,
	"remove":    newRemoveProc,
	"rename":    newRenameProc,
	"lowercase": newCaseProc(strings.ToLower),
	"uppercase": newCaseProc(strings.ToUpper),
	"append":    newAppendProc,
	"drop": func(*procConfig) (func(*jsonObj) (bool, *esError), *esError) {
		return func(*jsonObj) (bool, *esError) { return true, nil }, nil
	},
}

// SetProcessor: field, value or copy_from, override (true), ignore_empty_value (false).
func newSetProc(pc *procConfig) (func(*jsonObj) (bool, *esError), *esError) {
	field, err := pc.field("field", true, "")
	if err != nil {
		return nil, err
	}
	copyFrom, err := pc.field("copy_from", false, "")
	if err != nil {
		return nil, err
	}
	var value any
	if copyFrom == "" {
		if value, err = pc.value("value"); err != nil {
			return nil, err
		}
	} else if _, ok := pc.m["value"]; ok {
		return nil, errProcessorConfig(pc.typ, pc.tag, "copy_from", "cannot set both `copy_from` and `value` in the same processor")
	}
	override, err := pc.boolean("override", true)
	if err != nil {
		return nil, err
	}
	ignoreEmpty, err := pc.boolean("ignore_empty_value", false)
	if err != nil {
		return nil, err
	}
	return func(doc *jsonObj) (bool, *esError) {
		if !override {
			if cur, ok := getPath(doc, field); ok == nil && cur != nil {
				return false, nil
			}
		}
		v := value
		if copyFrom != "" {
			cur, gerr := getPath(doc, copyFrom)
			if gerr != nil {
				return false, gerr
			}
			v = cur
		}
		if ignoreEmpty && (v == nil || v == "") {
			return false, nil
		}
		return false, setPath(doc, field, deepCopy(v))
	}, nil
}

// RemoveProcessor: field (a string or a list), ignore_missing.
func newRemoveProc(pc *procConfig) (func(*jsonObj) (bool, *esError), *esError) {
	v, ok := pc.take("field")
	if !ok {
		return nil, errProcessorConfig(pc.typ, pc.tag, "field", "required property is missing")
	}
	var fields []string
	switch x := v.(type) {
	case string:
		fields = []string{x}
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, errProcessorConfig(pc.typ, pc.tag, "field", "[searchemu] field must be a string or a list of strings")
			}
			fields = append(fields, s)
		}
	default:
		return nil, errProcessorConfig(pc.typ, pc.tag, "field", "[searchemu] field must be a string or a list of strings")
	}
	for i, f := range fields {
		if f == "" {
			continue
		}
		p, err := pc.checkPath("field", f)
		if err != nil {
			return nil, err
		}
		fields[i] = p
	}
	ignoreMissing, err := pc.boolean("ignore_missing", false)
	if err != nil {
		return nil, err
	}
	return func(doc *jsonObj) (bool, *esError) {
		for _, f := range fields {
			if f == "" || !hasPath(doc, f) {
				switch {
				case ignoreMissing:
					continue
				case f == "":
					return false, errIllegalArg("field path cannot be null nor empty")
				default:
					return false, errIllegalArg("field [" + f + "] doesn't exist")
				}
			}
			if err := removePath(doc, f); err != nil {
				return false, err
			}
		}
		return false, nil
	}, nil
}

// RenameProcessor: field, target_field, ignore_missing.
func newRenameProc(pc *procConfig) (func(*jsonObj) (bool, *esError), *esError) {
	field, err := pc.field("field", true, "")
	if err != nil {
		return nil, err
	}
	target, err := pc.field("target_field", true, "")
	if err != nil {
		return nil, err
	}
	ignoreMissing, err := pc.boolean("ignore_missing", false)
	if err != nil {
		return nil, err
	}
	return func(doc *jsonObj) (bool, *esError) {
		if !hasPath(doc, field) {
			if ignoreMissing {
				return false, nil
			}
			return false, errIllegalArg("field [" + field + "] doesn't exist")
		}
		if hasPath(doc, target) {
			return false, errIllegalArg("field [" + target + "] already exists")
		}
		v, _ := getPath(doc, field)
		if err := removePath(doc, field); err != nil {
			return false, err
		}
		if err := setPath(doc, target, v); err != nil {
			_ = setPath(doc, field, v)
			return false, err
		}
		return false, nil
	}, nil
}

// AbstractStringProcessor (lowercase, uppercase): field, target_field, ignore_missing;
// a string or a list of strings.
func newCaseProc(fn func(string) string) procFactory {
	return func(pc *procConfig) (func(*jsonObj) (bool, *esError), *esError) {
		field, err := pc.field("field", true, "")
		if err != nil {
			return nil, err
		}
		ignoreMissing, err := pc.boolean("ignore_missing", false)
		if err != nil {
			return nil, err
		}
		target, err := pc.field("target_field", false, field)
		if err != nil {
			return nil, err
		}
		return func(doc *jsonObj) (bool, *esError) {
			var val any
			if ignoreMissing && !hasPath(doc, field) {
				return false, nil
			}
			val, gerr := getPath(doc, field)
			if gerr != nil {
				return false, gerr
			}
			if val == nil {
				if ignoreMissing {
					return false, nil
				}
				return false, errIllegalArg("field [" + field + "] is null, cannot process it.")
			}
			var out any
			switch x := val.(type) {
			case string:
				out = fn(x)
			case []any:
				l := make([]any, 0, len(x))
				for _, e := range x {
					s, ok := e.(string)
					if !ok {
						return false, errIllegalArg("value [" + javaToString(e) + "] of type [" + javaClass(e) + "] in list field [" + field + "] cannot be cast to [java.lang.String]")
					}
					l = append(l, fn(s))
				}
				out = l
			default:
				return false, errIllegalArg("field [" + field + "] of type [" + javaClass(val) + "] cannot be cast to [java.lang.String]")
			}
			return false, setPath(doc, target, out)
		}, nil
	}
}

// AppendProcessor: field, value, allow_duplicates (true).
func newAppendProc(pc *procConfig) (func(*jsonObj) (bool, *esError), *esError) {
	field, err := pc.field("field", true, "")
	if err != nil {
		return nil, err
	}
	value, err := pc.value("value")
	if err != nil {
		return nil, err
	}
	dups, err := pc.boolean("allow_duplicates", true)
	if err != nil {
		return nil, err
	}
	return func(doc *jsonObj) (bool, *esError) {
		return false, appendPath(doc, field, deepCopy(value), dups)
	}, nil
}

// The field paths of IngestDocument: dot-separated, through objects and list indexes.

func resolveStep(ctx any, el, path string) (any, *esError) {
	switch x := ctx.(type) {
	case nil:
		return nil, errIllegalArg("cannot resolve [" + el + "] from null as part of path [" + path + "]")
	case *jsonObj:
		v, ok := x.get(el)
		if !ok {
			return nil, errIllegalArg("field [" + el + "] not present as part of path [" + path + "]")
		}
		return v, nil
	case []any:
		i, err := listIndex(el, len(x), path)
		if err != nil {
			return nil, err
		}
		return x[i], nil
	}
	return nil, errIllegalArg("cannot resolve [" + el + "] from object of type [" + javaClass(ctx) + "] as part of path [" + path + "]")
}

func listIndex(el string, n int, path string) (int, *esError) {
	i, err := strconv.Atoi(el)
	if err != nil {
		return 0, errIllegalArg("[" + el + "] is not an integer, cannot be used as an index as part of path [" + path + "]")
	}
	if i < 0 || i >= n {
		return 0, errIllegalArg("[" + el + "] is out of bounds for array with length [" + strconv.Itoa(n) + "] as part of path [" + path + "]")
	}
	return i, nil
}

func getPath(doc *jsonObj, path string) (any, *esError) {
	if path == "" {
		return nil, errIllegalArg("path cannot be null nor empty")
	}
	var ctx any = doc
	for _, el := range strings.Split(path, ".") {
		v, err := resolveStep(ctx, el, path)
		if err != nil {
			return nil, err
		}
		ctx = v
	}
	return ctx, nil
}

func hasPath(doc *jsonObj, path string) bool {
	if path == "" {
		return false
	}
	_, err := getPath(doc, path)
	return err == nil
}

// parentOf walks to the container of the path's last element, creating missing objects
// on the way (IngestDocument.setFieldValue).
func parentOf(doc *jsonObj, path string) (any, string, *esError) {
	if path == "" {
		return nil, "", errIllegalArg("path cannot be null nor empty")
	}
	els := strings.Split(path, ".")
	var ctx any = doc
	for _, el := range els[:len(els)-1] {
		switch x := ctx.(type) {
		case nil:
			return nil, "", errIllegalArg("cannot resolve [" + el + "] from null as part of path [" + path + "]")
		case *jsonObj:
			v, ok := x.get(el)
			if !ok {
				v = &jsonObj{}
				x.set(el, v)
			}
			ctx = v
		case []any:
			i, err := listIndex(el, len(x), path)
			if err != nil {
				return nil, "", err
			}
			ctx = x[i]
		default:
			return nil, "", errIllegalArg("cannot resolve [" + el + "] from object of type [" + javaClass(ctx) + "] as part of path [" + path + "]")
		}
	}
	return ctx, els[len(els)-1], nil
}

func setPath(doc *jsonObj, path string, v any) *esError {
	ctx, leaf, err := parentOf(doc, path)
	if err != nil {
		return err
	}
	switch x := ctx.(type) {
	case nil:
		return errIllegalArg("cannot set [" + leaf + "] with null parent as part of path [" + path + "]")
	case *jsonObj:
		x.set(leaf, v)
		return nil
	case []any:
		i, err := listIndex(leaf, len(x), path)
		if err != nil {
			return err
		}
		x[i] = v
		return nil
	}
	return errIllegalArg("cannot set [" + leaf + "] with parent object of type [" + javaClass(ctx) + "] as part of path [" + path + "]")
}

// appendPath is IngestDocument.appendFieldValue: the field becomes a list (a present
// scalar its first element) and the value, or each element of a list value, is added.
func appendPath(doc *jsonObj, path string, v any, dups bool) *esError {
	ctx, leaf, err := parentOf(doc, path)
	if err != nil {
		return err
	}
	add := func(cur any, present bool) []any {
		var list []any
		if l, ok := cur.([]any); ok {
			list = l
		} else if present {
			list = []any{cur}
		}
		vals := []any{v}
		if l, ok := v.([]any); ok {
			vals = l
		}
		for _, e := range vals {
			if !dups && containsJSON(list, e) {
				continue
			}
			list = append(list, e)
		}
		if list == nil {
			list = []any{}
		}
		return list
	}
	switch x := ctx.(type) {
	case nil:
		return errIllegalArg("cannot set [" + leaf + "] with null parent as part of path [" + path + "]")
	case *jsonObj:
		cur, ok := x.get(leaf)
		x.set(leaf, add(cur, ok))
		return nil
	case []any:
		i, err := listIndex(leaf, len(x), path)
		if err != nil {
			return err
		}
		x[i] = add(x[i], true)
		return nil
	}
	return errIllegalArg("cannot set [" + leaf + "] with parent object of type [" + javaClass(ctx) + "] as part of path [" + path + "]")
}

func containsJSON(list []any, v any) bool {
	for _, e := range list {
		if jsonEqual(e, v) {
			return true
		}
	}
	return false
}

func removePath(doc *jsonObj, path string) *esError {
	els := strings.Split(path, ".")
	var ctx any = doc
	for _, el := range els[:len(els)-1] {
		v, err := resolveStep(ctx, el, path)
		if err != nil {
			return err
		}
		ctx = v
	}
	leaf := els[len(els)-1]
	switch x := ctx.(type) {
	case *jsonObj:
		for i := range x.m {
			if x.m[i].k == leaf {
				x.m = append(x.m[:i], x.m[i+1:]...)
				return nil
			}
		}
		return errIllegalArg("field [" + leaf + "] not present as part of path [" + path + "]")
	case nil:
		return errIllegalArg("cannot remove [" + leaf + "] from null as part of path [" + path + "]")
	}
	return errIllegalArg("cannot remove [" + leaf + "] from object of type [" + javaClass(ctx) + "] as part of path [" + path + "]")
}

// Running pipelines.

// ingestOutcome is what the pipelines did to one write.
type ingestOutcome int

const (
	ingestNone    ingestOutcome = iota // no pipeline applies
	ingestRan                          // pipelines ran; op.payload is the processed source
	ingestDropped                      // a drop processor dropped the document
	ingestFailed                       // a pipeline is missing or a processor failed
)

// pipelinesFor is IngestService.resolvePipelines for an index or create op: the
// request's pipeline, else the index's default_pipeline, then its final_pipeline ("_none"
// for none). Only existing indices (or an alias's write index) are looked at.
func (c *Cluster) pipelinesFor(op *docOp) []string {
	if op.action != bulk.ActionIndex && op.action != bulk.ActionCreate {
		return nil
	}
	def, fin := "_none", "_none"
	c.mu.RLock()
	if ix, err := c.resolveWriteLocked(op.index); err == nil {
		if v, ok := ix.settings["index.default_pipeline"]; ok {
			def = v
		}
		if v, ok := ix.settings["index.final_pipeline"]; ok {
			fin = v
		}
	}
	c.mu.RUnlock()
	if op.pipeline != "" {
		def = op.pipeline
	}
	var out []string
	for _, p := range []string{def, fin} {
		if p != "_none" {
			out = append(out, p)
		}
	}
	return out
}

// runIngest runs the op's pipelines on its payload (IngestService.executePipelines and
// innerExecute). On success op.payload is the processed document.
func (c *Cluster) runIngest(op *docOp, pipes []string) (ingestOutcome, *esError) {
	if len(pipes) == 0 {
		return ingestNone, nil
	}
	var doc *jsonObj
	for _, id := range pipes {
		p := c.ingest.get(id)
		if p == nil {
			return ingestFailed, errIllegalArg("pipeline with id [" + id + "] does not exist")
		}
		if len(p.procs) == 0 {
			continue
		}
		if doc == nil {
			v, jerr := parseJSON(op.payload)
			if jerr != nil {
				e := errParse("Failed to parse content to map")
				e.cause = newErr(400, jerr.typ, jerr.reason(op.payload), false)
				return ingestFailed, e
			}
			o, ok := v.(*jsonObj)
			if !ok {
				return ingestFailed, errParse("Failed to parse content to map")
			}
			doc = o
		}
		for _, pr := range p.procs {
			drop, err := pr.run(doc)
			if err != nil {
				if pr.ignoreFailure {
					continue
				}
				// CompoundProcessor wraps the failure in an IngestProcessorException, a
				// wrapper the REST layer unwraps: the item shows the processor's own error.
				return ingestFailed, err
			}
			if drop {
				return ingestDropped, nil
			}
		}
	}
	if doc != nil {
		op.payload = appendCanonical(nil, doc)
	}
	return ingestRan, nil
}

// droppedResult is BulkRequestModifier.markItemAsDropped: an UpdateResponse with result
// noop, no seq_no, the request's version (-3, MATCH_ANY, unless it gave one) and empty
// shard counts.
func droppedResult(op *docOp) opResult {
	return opResult{key: op.action.String(), index: op.index, id: op.id, idNull: !op.hasID,
		res: writeRes{status: 200, result: "noop", version: op.version, seqNo: unassignedSeq}}
}

// checkPipelineSettings validates index.default_pipeline and index.final_pipeline as
// IndexSettings' setting parsers do. Whether the pipeline exists is not checked there:
// a write names a missing pipeline as its error.
func checkPipelineSettings(s map[string]string) *esError {
	for _, k := range []string{"index.default_pipeline", "index.final_pipeline"} {
		if v, ok := s[k]; ok && v == "" {
			return errIllegalArg("Value for [" + k + "] must be a non-empty string.")
		}
	}
	return nil
}
