package searchemu

import (
	"sort"
	"strconv"
	"strings"
)

// mapper is one node of an index mapping: the root, an object, or a field. Mappings are
// immutable once published (copy-on-write), so documents are checked against a snapshot
// without holding the index lock.
type mapper struct {
	name   string // leaf name
	path   string // full dotted path ("" for the root)
	typ    string // field type, "object" or "nested"
	object bool

	// params are the definition's other parameters in the order given; a "fields" member
	// marks where the multi-fields are rendered.
	params []jsonMember

	props  map[string]*mapper // object children
	fields map[string]*mapper // multi-fields

	dynamic string // objects: "", "true", "false", "strict"
	enabled bool   // objects

	ignoreAbove     int // keyword: -1 when unset
	ignoreMalformed bool
	coerce          bool
	format          string // date
}

// mapping is an index mapping.
type mapping struct {
	root             *mapper
	rootParams       []jsonMember // _source, _routing, _meta, dynamic_templates, …
	dateDetection    bool
	numericDetection bool
}

func newMapping() *mapping {
	return &mapping{root: &mapper{typ: "object", object: true, enabled: true, props: map[string]*mapper{}, ignoreAbove: -1, coerce: true}, dateDetection: true}
}

// knownFieldTypes are the field types of an OpenSearch 2.x distribution.
var knownFieldTypes = map[string]bool{
	"text": true, "keyword": true, "long": true, "integer": true, "short": true, "byte": true,
	"double": true, "float": true, "half_float": true, "scaled_float": true, "unsigned_long": true,
	"boolean": true, "date": true, "date_nanos": true, "ip": true, "object": true, "nested": true,
	"flat_object": true, "geo_point": true, "geo_shape": true, "binary": true, "completion": true,
	"search_as_you_type": true, "token_count": true, "alias": true, "match_only_text": true,
	"wildcard": true, "constant_keyword": true, "rank_feature": true, "rank_features": true,
	"knn_vector": true, "percolator": true, "join": true, "integer_range": true, "long_range": true,
	"float_range": true, "double_range": true, "date_range": true, "ip_range": true,
}

// rootMappingParams are the root-level mapping parameters kept verbatim.
var rootMappingParams = map[string]bool{
	"_source": true, "_routing": true, "_meta": true, "dynamic_templates": true,
	"dynamic_date_formats": true, "_field_names": true, "_size": true, "numeric_detection": true,
	"date_detection": true, "enabled": true,
}

// metadataFields cannot appear at the root of a document.
var metadataFields = map[string]bool{
	"_id": true, "_index": true, "_routing": true, "_source": true, "_version": true,
	"_seq_no": true, "_ignored": true, "_field_names": true, "_data_stream_timestamp": true,
	"_nested_path": true,
}

func newField(name, path, typ string) *mapper {
	return &mapper{name: name, path: path, typ: typ, ignoreAbove: -1, coerce: true, enabled: true}
}

func newObject(name, path string) *mapper {
	return &mapper{name: name, path: path, typ: "object", object: true, enabled: true, props: map[string]*mapper{}, ignoreAbove: -1, coerce: true}
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// isTypedMapping reports a mapping wrapped in the type name (MapperService.isMappingSourceTyped).
func isTypedMapping(def *jsonObj) bool {
	return len(def.m) == 1 && def.m[0].k == "_doc"
}

// parseMappingDef parses a root mapping definition ({"properties":…,"dynamic":…}).
func parseMappingDef(def *jsonObj) (*mapping, *esError) {
	m := newMapping()
	if err := m.applyRoot(def); err != nil {
		return nil, err
	}
	return m, nil
}

// applyRoot merges a root definition into m (m must be a private copy).
func (m *mapping) applyRoot(def *jsonObj) *esError {
	var unsupported []string
	for _, mem := range def.m {
		switch mem.k {
		case "properties":
			props, ok := mem.v.(*jsonObj)
			if !ok {
				if mem.v == nil {
					continue
				}
				return errMapperParsing("Expected map for property [properties] on field [_doc] but got a "+javaClassName(mem.v), nil)
			}
			if err := mergeProperties(m.root, props); err != nil {
				return err
			}
		case "dynamic":
			d, err := parseDynamic(mem.v, "_doc")
			if err != nil {
				return err
			}
			m.root.dynamic = d
		default:
			if !rootMappingParams[mem.k] {
				unsupported = append(unsupported, "["+mem.k+" : "+javaToString(mem.v)+"]")
				continue
			}
			switch mem.k {
			case "date_detection":
				m.dateDetection = boolValue(mem.v, true)
			case "numeric_detection":
				m.numericDetection = boolValue(mem.v, false)
			case "enabled":
				m.root.enabled = boolValue(mem.v, true)
			}
			replaced := false
			for i := range m.rootParams {
				if m.rootParams[i].k == mem.k {
					m.rootParams[i].v = mem.v
					replaced = true
				}
			}
			if !replaced {
				m.rootParams = append(m.rootParams, jsonMember{k: mem.k, v: mem.v})
			}
		}
	}
	if len(unsupported) > 0 {
		return errMapperParsing("Root mapping definition has unsupported parameters:  "+strings.Join(unsupported, " "), nil)
	}
	return nil
}

func javaClassName(v any) string {
	switch v.(type) {
	case string:
		return "class java.lang.String"
	case bool:
		return "class java.lang.Boolean"
	case jsonNum:
		return "class java.lang.Integer"
	case []any:
		return "class java.util.ArrayList"
	}
	return "class java.lang.Object"
}

func boolValue(v any, def bool) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		switch x {
		case "true":
			return true
		case "false":
			return false
		}
	}
	return def
}

func parseDynamic(v any, field string) (string, *esError) {
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x), nil
	case string:
		switch x {
		case "true", "false", "strict":
			return x, nil
		}
		return "", errMapperParsing("Could not convert [dynamic] to boolean", nil)
	case nil:
		return "", nil
	}
	return "", errMapperParsing("Could not convert [dynamic] to boolean", nil)
}

// mergeProperties parses a "properties" object into parent, merging with what exists.
func mergeProperties(parent *mapper, props *jsonObj) *esError {
	for _, mem := range props.m {
		name := mem.k
		if name == "" {
			return errMapperParsing("name cannot be empty string", nil)
		}
		def, ok := mem.v.(*jsonObj)
		if !ok {
			return errMapperParsing("Expected map for property [fields] on field ["+name+"] but got a "+javaClassName(mem.v), nil)
		}
		target := parent
		// dots in mapping field names create intermediate objects
		if strings.Contains(name, ".") {
			parts := strings.Split(name, ".")
			for _, p := range parts[:len(parts)-1] {
				if p == "" {
					return errIllegalArg("field name cannot contain only the character [.]")
				}
				child := target.props[p]
				if child == nil {
					child = newObject(p, joinPath(target.path, p))
					target.props[p] = child
				} else if !child.object {
					return errIllegalArg("can't merge a non object mapping [" + child.path + "] with an object mapping")
				}
				target = child
			}
			name = parts[len(parts)-1]
		}
		nm, err := parseFieldDef(name, joinPath(target.path, name), def, false)
		if err != nil {
			return err
		}
		if old := target.props[name]; old != nil {
			merged, err := mergeMapper(old, nm)
			if err != nil {
				return err
			}
			target.props[name] = merged
		} else {
			target.props[name] = nm
		}
	}
	return nil
}

// parseFieldDef parses one property definition.
func parseFieldDef(name, path string, def *jsonObj, multiField bool) (*mapper, *esError) {
	typ := ""
	if tv, ok := def.get("type"); ok {
		s, ok := tv.(string)
		if !ok {
			s = javaToString(tv)
		}
		typ = s
	} else {
		if _, ok := def.get("properties"); ok {
			typ = "object"
		} else if len(def.m) == 1 && def.m[0].k == "enabled" {
			typ = "object"
		} else if multiField {
			return nil, errMapperParsing("No type specified for field ["+name+"]", nil)
		} else {
			return nil, errMapperParsing("No type specified for field ["+name+"]", nil)
		}
	}
	if !knownFieldTypes[typ] {
		return nil, errMapperParsing("No handler for type ["+typ+"] declared on field ["+name+"]", nil)
	}
	if typ == "object" || typ == "nested" {
		if multiField {
			return nil, errMapperParsing("Type ["+typ+"] cannot be used in multi field", nil)
		}
		o := newObject(name, path)
		o.typ = typ
		for _, mem := range def.m {
			switch mem.k {
			case "type":
			case "properties":
				props, ok := mem.v.(*jsonObj)
				if !ok {
					return nil, errMapperParsing("Expected map for property [properties] on field ["+name+"] but got a "+javaClassName(mem.v), nil)
				}
				if err := mergeProperties(o, props); err != nil {
					return nil, err
				}
			case "dynamic":
				d, err := parseDynamic(mem.v, name)
				if err != nil {
					return nil, err
				}
				o.dynamic = d
			case "enabled":
				o.enabled = boolValue(mem.v, true)
				o.params = append(o.params, mem)
			default:
				o.params = append(o.params, jsonMember{k: mem.k, v: mem.v})
			}
		}
		return o, nil
	}
	if k, bad := unknownParam(typ, def); bad {
		return nil, errMapperParsing("unknown parameter ["+k+"] on mapper ["+name+"] of type ["+typ+"]", nil)
	}
	f := newField(name, path, typ)
	for _, mem := range def.m {
		switch mem.k {
		case "type":
		case "fields":
			subs, ok := mem.v.(*jsonObj)
			if !ok {
				return nil, errMapperParsing("Expected map for property [fields] on field ["+name+"] but got a "+javaClassName(mem.v), nil)
			}
			if f.fields == nil {
				f.fields = map[string]*mapper{}
			}
			for _, sm := range subs.m {
				sdef, ok := sm.v.(*jsonObj)
				if !ok {
					return nil, errMapperParsing("illegal field ["+sm.k+"], only fields can be specified inside fields", nil)
				}
				sub, err := parseFieldDef(sm.k, path+"."+sm.k, sdef, true)
				if err != nil {
					return nil, err
				}
				f.fields[sm.k] = sub
			}
			f.params = append(f.params, jsonMember{k: "fields"})
		case "properties":
			return nil, errMapperParsing("unknown parameter [properties] on mapper ["+name+"] of type ["+typ+"]", nil)
		default:
			switch mem.k {
			case "ignore_above":
				if n, ok := mem.v.(jsonNum); ok {
					if i, ok := n.int64(); ok {
						f.ignoreAbove = int(i)
					}
				} else if s, ok := mem.v.(string); ok {
					if i, err := strconv.Atoi(s); err == nil {
						f.ignoreAbove = i
					}
				}
			case "ignore_malformed":
				f.ignoreMalformed = boolValue(mem.v, false)
			case "coerce":
				f.coerce = boolValue(mem.v, true)
			case "format":
				if s, ok := mem.v.(string); ok {
					f.format = s
				}
			}
			f.params = append(f.params, jsonMember{k: mem.k, v: mem.v})
		}
	}
	return f, nil
}

// mergeMapper merges an update into an existing mapper (put mapping semantics).
func mergeMapper(old, upd *mapper) (*mapper, *esError) {
	if old.object != upd.object {
		if old.object {
			return nil, errIllegalArg("can't merge a non object mapping [" + old.path + "] with an object mapping")
		}
		return nil, errIllegalArg("can't merge a non object mapping [" + old.path + "] with an object mapping")
	}
	if old.object {
		if err := objectMergeErr(old, upd); err != nil {
			return nil, err
		}
	} else if old.typ != upd.typ {
		return nil, errIllegalArg("mapper [" + old.path + "] cannot be changed from type [" + old.typ + "] to [" + upd.typ + "]")
	}
	out := old.clone()
	if old.object {
		if upd.dynamic != "" {
			out.dynamic = upd.dynamic
		}
		for k, c := range upd.props {
			if oc := out.props[k]; oc != nil {
				mc, err := mergeMapper(oc, c)
				if err != nil {
					return nil, err
				}
				out.props[k] = mc
			} else {
				out.props[k] = c
			}
		}
		out.params = mergeParams(out.params, upd.params)
		return out, nil
	}
	conflicts := fieldConflicts(old, upd)
	// the merged field takes the update's parameters: non-updateable ones must be equal
	// and an updateable one the update leaves out returns to its default
	// (ParametrizedFieldMapper.Builder.merge); multi-fields merge one by one
	out.params = append([]jsonMember(nil), upd.params...)
	if len(old.fields) > 0 && upd.fields == nil {
		out.params = append(out.params, jsonMember{k: "fields"})
	}
	out.ignoreAbove, out.ignoreMalformed, out.coerce, out.format = upd.ignoreAbove, upd.ignoreMalformed, upd.coerce, upd.format
	for _, k := range sortedKeys(upd.fields) {
		c := upd.fields[k]
		if out.fields == nil {
			out.fields = map[string]*mapper{}
		}
		if oc := out.fields[k]; oc != nil {
			mc, err := mergeMapper(oc, c)
			if err != nil {
				return nil, err
			}
			out.fields[k] = mc
		} else {
			out.fields[k] = c
		}
	}
	if len(conflicts) > 0 {
		return nil, errConflicts(old.path, conflicts)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func mergeParams(old, upd []jsonMember) []jsonMember {
	out := append([]jsonMember(nil), old...)
	for _, u := range upd {
		found := false
		for i := range out {
			if out[i].k == u.k {
				if u.k != "fields" {
					out[i].v = u.v
				}
				found = true
			}
		}
		if !found {
			out = append(out, u)
		}
	}
	return out
}

func (m *mapper) clone() *mapper {
	c := *m
	if m.props != nil {
		c.props = make(map[string]*mapper, len(m.props))
		for k, v := range m.props {
			c.props[k] = v.clone()
		}
	}
	if m.fields != nil {
		c.fields = make(map[string]*mapper, len(m.fields))
		for k, v := range m.fields {
			c.fields[k] = v.clone()
		}
	}
	return &c
}

func (m *mapping) clone() *mapping {
	c := *m
	c.root = m.root.clone()
	c.rootParams = append([]jsonMember(nil), m.rootParams...)
	return &c
}

// fieldCount counts mappers as the total-fields limit does (objects, fields, multi-fields).
func (m *mapper) fieldCount() int {
	n := 0
	for _, c := range m.props {
		n++
		n += c.fieldCount()
	}
	n += len(m.fields)
	return n
}

// lookup resolves a full field path, including multi-fields ("title.keyword").
func (m *mapping) lookup(path string) *mapper {
	cur := m.root
	rest := path
	for {
		if cur.object {
			if c := cur.props[rest]; c != nil {
				return c
			}
			i := strings.IndexByte(rest, '.')
			for i >= 0 {
				if c := cur.props[rest[:i]]; c != nil {
					if next := lookupFrom(c, rest[i+1:]); next != nil {
						return next
					}
				}
				j := strings.IndexByte(rest[i+1:], '.')
				if j < 0 {
					break
				}
				i += j + 1
			}
			return nil
		}
		return nil
	}
}

func lookupFrom(m *mapper, rest string) *mapper {
	if m.object {
		sub := &mapping{root: m}
		return sub.lookup(rest)
	}
	if f := m.fields[rest]; f != nil {
		return f
	}
	return nil
}

// sourcePath returns the source path that feeds a mapper (multi-fields read their parent).
func (m *mapping) sourcePath(path string) string {
	f := m.lookup(path)
	if f == nil {
		return path
	}
	if i := strings.LastIndexByte(path, '.'); i > 0 {
		parent := m.lookup(path[:i])
		if parent != nil && !parent.object && parent.fields[path[i+1:]] == f {
			return path[:i]
		}
	}
	return path
}

// appendMapping renders the mapping as GET _mapping shows it.
func (m *mapping) appendJSON(b []byte) []byte {
	b = append(b, '{')
	n := 0
	sep := func() {
		if n > 0 {
			b = append(b, ',')
		}
		n++
	}
	if m.root.dynamic != "" {
		sep()
		b = append(b, `"dynamic":`...)
		b = appendDynamic(b, m.root.dynamic)
	}
	for _, p := range m.rootParams {
		sep()
		b = appendJSONString(b, p.k)
		b = append(b, ':')
		b = appendCanonical(b, p.v)
	}
	if len(m.root.props) > 0 {
		sep()
		b = append(b, `"properties":`...)
		b = appendProps(b, m.root.props)
	}
	return append(b, '}')
}

func appendDynamic(b []byte, d string) []byte {
	if d == "strict" {
		return append(b, `"strict"`...)
	}
	return appendJSONString(b, d)
}

func appendProps(b []byte, props map[string]*mapper) []byte {
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	b = append(b, '{')
	for i, k := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = props[k].appendJSON(b)
	}
	return append(b, '}')
}

func (m *mapper) appendJSON(b []byte) []byte {
	b = append(b, '{')
	n := 0
	sep := func() {
		if n > 0 {
			b = append(b, ',')
		}
		n++
	}
	if m.object {
		if m.typ == "nested" {
			sep()
			b = append(b, `"type":"nested"`...)
		}
		if m.dynamic != "" {
			sep()
			b = append(b, `"dynamic":`...)
			b = appendDynamic(b, m.dynamic)
		}
		for _, p := range m.params {
			sep()
			b = appendJSONString(b, p.k)
			b = append(b, ':')
			b = appendCanonical(b, p.v)
		}
		if len(m.props) > 0 {
			sep()
			b = append(b, `"properties":`...)
			b = appendProps(b, m.props)
		} else if m.typ != "nested" && n == 0 {
			sep()
			b = append(b, `"type":"object"`...)
		}
		return append(b, '}')
	}
	sep()
	b = append(b, `"type":`...)
	b = appendJSONString(b, m.typ)
	for _, p := range m.params {
		sep()
		b = appendJSONString(b, p.k)
		b = append(b, ':')
		if p.k == "fields" {
			b = appendProps(b, m.fields)
			continue
		}
		b = appendCanonical(b, p.v)
	}
	return append(b, '}')
}

// dynField is a mapper created dynamically while parsing one document.
type dynField struct {
	path   string
	typ    string // field type or "object"
	format string // date format when not the default
}

func dynamicMapper(name, path string, d dynField) *mapper {
	switch d.typ {
	case "object":
		return newObject(name, path)
	case "text":
		f := newField(name, path, "text")
		kw := newField("keyword", path+".keyword", "keyword")
		kw.ignoreAbove = 256
		kw.params = []jsonMember{{k: "ignore_above", v: jsonNum{raw: "256"}}}
		f.fields = map[string]*mapper{"keyword": kw}
		f.params = []jsonMember{{k: "fields"}}
		return f
	case "date":
		f := newField(name, path, "date")
		if d.format != "" {
			f.format = d.format
			f.params = []jsonMember{{k: "format", v: d.format}}
		}
		return f
	}
	return newField(name, path, d.typ)
}

// applyDynamic adds the dynamic mappers of one document to a copy of m, reporting the
// conflicts the server finds when it merges them (DocumentParser.createDynamicUpdate).
func (m *mapping) applyDynamic(dyn []dynField) (*mapping, *esError) {
	sorted := append([]dynField(nil), dyn...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].path < sorted[j].path })
	out := m.clone()
	for _, d := range sorted {
		parts := strings.Split(d.path, ".")
		cur := out.root
		for _, p := range parts[:len(parts)-1] {
			c := cur.props[p]
			if c == nil {
				c = newObject(p, joinPath(cur.path, p))
				cur.props[p] = c
			}
			if !c.object {
				return nil, errIllegalArg("can't merge a non object mapping [" + c.path + "] with an object mapping")
			}
			cur = c
		}
		leaf := parts[len(parts)-1]
		nm := dynamicMapper(leaf, d.path, d)
		if old := cur.props[leaf]; old != nil {
			if old.object != nm.object {
				return nil, errIllegalArg("can't merge a non object mapping [" + d.path + "] with an object mapping")
			}
			if old.typ != nm.typ {
				return nil, errIllegalArg("mapper [" + d.path + "] cannot be changed from type [" + old.typ + "] to [" + nm.typ + "]")
			}
			continue
		}
		cur.props[leaf] = nm
	}
	return out, nil
}

// checkLimits enforces index.mapping.total_fields.limit, index.mapping.depth.limit and
// index.mapping.nested_fields.limit in the order and words of MappingLookup.checkLimits
// (an object at the root is at depth 2: its dots plus two).
func (m *mapping) checkLimits(ix *index) *esError {
	k := ix.k()
	if n := m.root.fieldCount(); n > k.totalFieldsLimit {
		return errIllegalArg("Limit of total fields [" + strconv.Itoa(k.totalFieldsLimit) + "] has been exceeded")
	}
	if where := m.root.tooDeep(k.depthLimit); where != "" {
		return errIllegalArg("Limit of mapping depth [" + strconv.Itoa(k.depthLimit) + "] has been exceeded due to object field [" + where + "]")
	}
	if n := m.root.nestedCount(); n > k.nestedFieldsLimit {
		return errIllegalArg("Limit of nested fields [" + strconv.Itoa(k.nestedFieldsLimit) + "] has been exceeded")
	}
	return nil
}

// nestedCount counts the nested object mappers under m.
func (m *mapper) nestedCount() int {
	n := 0
	for _, c := range m.props {
		if c.typ == "nested" {
			n++
		}
		if c.object {
			n += c.nestedCount()
		}
	}
	return n
}

// tooDeep returns the first object path, in sorted order, whose depth exceeds limit (the
// server walks a hash map; sorted order names the outermost object for a single chain,
// as it does).
func (m *mapper) tooDeep(limit int) string {
	var paths []string
	var walk func(*mapper)
	walk = func(o *mapper) {
		for _, c := range o.props {
			if c.object {
				paths = append(paths, c.path)
				walk(c)
			}
		}
	}
	walk(m)
	sort.Strings(paths)
	for _, p := range paths {
		if strings.Count(p, ".")+2 > limit {
			return p
		}
	}
	return ""
}
