package searchemu

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// docWalker checks one document source against a mapping snapshot in a single pass over
// the bytes, the way the server's DocumentParser does: JSON syntax (Jackson's errors),
// metadata fields, strict/false dynamic objects, every value against its field type, and
// the dynamic mappers a new field needs. It allocates only on errors and new fields, so
// the bulk hot path stays cheap; sources are stored exactly as given.
type docWalker struct {
	src   []byte
	pos   int
	id    string
	m     *mapping
	dyn   []dynField
	depth int
	keys  [][]byte // duplicate-key detection, one frame per open object

	// nestedLimit is index.mapping.nested_objects.limit; nested counts the nested
	// objects (Lucene documents of their own) parsed so far.
	nestedLimit, nested int
}

var walkerPool = sync.Pool{New: func() any { return &docWalker{keys: make([][]byte, 0, 64)} }}

// walkSource checks src and returns the dynamic mappers it needs, under the default
// index limits.
func walkSource(m *mapping, src []byte, id string) ([]dynField, *esError) {
	return walkSourceLimited(m, src, id, defaultNestedObjectsLimit)
}

// walkSource checks src against m under the index's limits.
func (ix *index) walkSource(m *mapping, src []byte, id string) ([]dynField, *esError) {
	return walkSourceLimited(m, src, id, ix.k().nestedObjectsLimit)
}

func walkSourceLimited(m *mapping, src []byte, id string, nestedLimit int) ([]dynField, *esError) {
	w := walkerPool.Get().(*docWalker)
	*w = docWalker{src: src, id: id, m: m, keys: w.keys[:0], nestedLimit: nestedLimit}
	err := w.run()
	dyn := w.dyn
	// drop references into the request before pooling
	clear(w.keys[:cap(w.keys)])
	w.src, w.m, w.dyn = nil, nil, nil
	walkerPool.Put(w)
	if err != nil {
		return nil, err
	}
	return dyn, nil
}

// wrap turns a non-mapper exception into MapperParsingException("failed to parse", e).
func wrapParse(e *esError) *esError {
	if e.typ == typeMapperParsing || e.typ == typeStrictDynamic {
		return e
	}
	return errMapperParsing("failed to parse", e)
}

func (w *docWalker) jerr(je *jsonErr) *esError {
	return wrapParse(errFromJSON(w.src, je))
}

func (w *docWalker) run() *esError {
	src := w.src
	w.pos = skipWS(src, 0)
	if w.pos >= len(src) {
		return errMapperParsing("Malformed content, must start with an object", nil)
	}
	c := src[w.pos]
	if c != '{' {
		switch {
		case c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9'):
			return errMapperParsing("Malformed content, must start with an object", nil)
		case c == 't' || c == 'f' || c == 'n':
			if _, _, err := scanLiteral(src, w.pos); err != nil {
				return w.jerr(err)
			}
			return errMapperParsing("Malformed content, must start with an object", nil)
		case c == ']' || c == '}' || c == ',' || c == ':':
			return w.jerr(unexpectedChar(src, w.pos, "expected a valid value "+validValueList))
		}
		return w.jerr(unrecognizedToken(src, w.pos))
	}
	root := w.m.root
	if !root.enabled {
		if err := w.skipValue(); err != nil {
			return err
		}
	} else {
		eff := root.dynamic
		if eff == "" {
			eff = "true"
		}
		if err := w.walkObject(root, "", eff); err != nil {
			return err
		}
	}
	w.pos = skipWS(src, w.pos)
	if w.pos < len(src) {
		je := trailingErr(src, w.pos)
		return wrapParse(errFromJSON(src, je))
	}
	return nil
}

func (w *docWalker) enter() *esError {
	w.depth++
	if w.depth > maxJSONDepth {
		return w.jerr(&jsonErr{typ: typeStreamConstraints, msg: "Document nesting depth (" + strconv.Itoa(w.depth) + ") exceeds the maximum allowed (1000, from `StreamReadConstraints.getMaxNestingDepth()`)", off: w.pos + 1})
	}
	return nil
}

// skipValue validates and skips the value at w.pos.
func (w *docWalker) skipValue() *esError {
	src := w.src
	if w.pos >= len(src) {
		return w.jerr(&jsonErr{typ: typeJSONEOF, msg: "Unexpected end-of-input: expected a value", off: len(src)})
	}
	switch c := src[w.pos]; {
	case c == '{':
		return w.walkObject(nil, "", "false")
	case c == '[':
		if err := w.enter(); err != nil {
			return err
		}
		start := w.pos
		w.pos = skipWS(src, w.pos+1)
		if w.pos < len(src) && src[w.pos] == ']' {
			w.pos++
			w.depth--
			return nil
		}
		for {
			if err := w.skipValue(); err != nil {
				return err
			}
			if err := w.arraySep(start); err != nil {
				if err == errArrayEnd {
					w.depth--
					return nil
				}
				return err
			}
		}
	default:
		_, err := w.scalar()
		return err
	}
}

// errArrayEnd is a sentinel returned by arraySep at ']'.
var errArrayEnd = &esError{}

// arraySep consumes "," (returning nil) or "]" (returning errArrayEnd).
func (w *docWalker) arraySep(start int) *esError {
	src := w.src
	w.pos = skipWS(src, w.pos)
	if w.pos >= len(src) {
		return w.jerr(eofInArray(src, start))
	}
	switch src[w.pos] {
	case ',':
		w.pos = skipWS(src, w.pos+1)
		if w.pos >= len(src) {
			return w.jerr(eofInArray(src, start))
		}
		return nil
	case ']':
		w.pos++
		return errArrayEnd
	}
	return w.jerr(unexpectedChar(src, w.pos, "was expecting comma to separate Array entries"))
}

// tok is one scalar token.
type tok struct {
	kind       byte // 's' string, 'n' number, 't' true, 'f' false, 'z' null
	start, end int  // string: content without quotes; others: the literal
	esc        bool
	float      bool
}

func (w *docWalker) scalar() (tok, *esError) {
	src := w.src
	if w.pos >= len(src) {
		return tok{}, w.jerr(&jsonErr{typ: typeJSONEOF, msg: "Unexpected end-of-input: expected a value", off: len(src)})
	}
	switch c := src[w.pos]; {
	case c == '"':
		end, esc, je := scanString(src, w.pos, false)
		if je != nil {
			return tok{}, w.jerr(je)
		}
		t := tok{kind: 's', start: w.pos + 1, end: end - 1, esc: esc}
		w.pos = end
		return t, nil
	case c == '-' || (c >= '0' && c <= '9'):
		end, fl, je := scanNumber(src, w.pos)
		if je != nil {
			return tok{}, w.jerr(je)
		}
		t := tok{kind: 'n', start: w.pos, end: end, float: fl}
		w.pos = end
		return t, nil
	case c == 't' || c == 'f' || c == 'n':
		end, l, je := scanLiteral(src, w.pos)
		if je != nil {
			return tok{}, w.jerr(je)
		}
		t := tok{kind: l, start: w.pos, end: end}
		if l == 'n' {
			t.kind = 'z'
		}
		w.pos = end
		return t, nil
	case c == ']' || c == '}' || c == ',' || c == ':':
		return tok{}, w.jerr(unexpectedChar(src, w.pos, "expected a valid value "+validValueList))
	}
	return tok{}, w.jerr(unrecognizedToken(src, w.pos))
}

func (w *docWalker) text(t tok) string {
	if t.kind == 's' {
		if t.esc {
			return unescape(w.src[t.start:t.end])
		}
		return string(w.src[t.start:t.end])
	}
	return string(w.src[t.start:t.end])
}

// walkObject walks the object at w.pos. obj is its mapper (nil when the object is new
// or not mapped); path its full path; eff the effective dynamic setting inside it.
func (w *docWalker) walkObject(obj *mapper, path, eff string) *esError {
	src := w.src
	if err := w.enter(); err != nil {
		return err
	}
	start := w.pos
	w.pos = skipWS(src, w.pos+1)
	frame := len(w.keys)
	defer func() { w.keys = w.keys[:frame] }()
	if w.pos < len(src) && src[w.pos] == '}' {
		w.pos++
		w.depth--
		return nil
	}
	for {
		if w.pos >= len(src) {
			return w.jerr(eofInObject(src, start))
		}
		if src[w.pos] != '"' {
			return w.jerr(unexpectedChar(src, w.pos, "was expecting double-quote to start field name"))
		}
		kend, kesc, je := scanString(src, w.pos, true)
		if je != nil {
			return w.jerr(je)
		}
		key := src[w.pos+1 : kend-1]
		if kesc {
			key = []byte(unescape(key))
		}
		w.pos = skipWS(src, kend)
		if w.pos >= len(src) {
			return w.jerr(eofInObject(src, start))
		}
		if src[w.pos] != ':' {
			return w.jerr(unexpectedChar(src, w.pos, "was expecting a colon to separate field name and value"))
		}
		for _, k := range w.keys[frame:] {
			if string(k) == string(key) {
				return w.jerr(&jsonErr{typ: typeJSONParse, msg: "Duplicate field '" + string(key) + "'", off: kend})
			}
		}
		w.keys = append(w.keys, key)
		w.pos = skipWS(src, w.pos+1)
		if w.pos >= len(src) {
			return w.jerr(eofInObject(src, start))
		}
		if err := w.member(obj, path, eff, key); err != nil {
			return err
		}
		w.pos = skipWS(src, w.pos)
		if w.pos >= len(src) {
			return w.jerr(eofInObject(src, start))
		}
		switch src[w.pos] {
		case ',':
			w.pos = skipWS(src, w.pos+1)
		case '}':
			w.pos++
			w.depth--
			return nil
		default:
			return w.jerr(unexpectedChar(src, w.pos, "was expecting comma to separate Object entries"))
		}
	}
}

// member handles one field of an object; w.pos is at its value.
func (w *docWalker) member(obj *mapper, path, eff string, key []byte) *esError {
	if obj == nil {
		// inside an unmapped object: only dynamic handling
		if eff == "false" {
			return w.skipValue()
		}
		return w.dynamicMember(nil, path, eff, string(key))
	}
	// fast path: a plain mapped key
	if m := obj.props[string(key)]; m != nil {
		return w.parseWith(m, key)
	}
	name := string(key)
	if path == "" && metadataFields[name] {
		return errMapperParsing("Field ["+name+"] is a metadata field and cannot be added inside a document. Use the index API request parameters.", nil)
	}
	if name == "" {
		return wrapParse(errIllegalArg("field name cannot be an empty string"))
	}
	if strings.IndexByte(name, '.') >= 0 {
		if err := validateDottedName(name); err != nil {
			return wrapParse(err)
		}
		parts := strings.Split(name, ".")
		cur := obj
		for _, p := range parts[:len(parts)-1] {
			c := cur.props[p]
			if c == nil || !c.object {
				cur = nil
				break
			}
			if !c.enabled {
				return w.skipValue()
			}
			cur = c
		}
		// a dotted name cannot reach through a nested object (DocumentParser.getMapper)
		for o, i := obj, 0; i < len(parts)-1 && o != nil; i++ {
			c := o.props[parts[i]]
			if c == nil || !c.object {
				break
			}
			if c.typ == "nested" {
				return errMapperParsing("Cannot add a value for field ["+name+"] since one of the intermediate objects is mapped as a nested object: ["+c.path+"]", nil)
			}
			o = c
		}
		if cur != nil {
			if m := cur.props[parts[len(parts)-1]]; m != nil {
				return w.parseWith(m, key)
			}
		}
	}
	return w.dynamicMember(obj, path, eff, name)
}

func validateDottedName(name string) *esError {
	parts := strings.Split(name, ".")
	if len(parts) == 0 || strings.Trim(name, ".") == "" {
		return errIllegalArg("field name cannot contain only the character [.]")
	}
	for _, p := range parts {
		if strings.TrimSpace(p) == "" {
			if p != "" {
				return errIllegalArg("object field cannot contain only whitespace: ['" + name + "']")
			}
			return errIllegalArg("object field starting or ending with a [.] makes object resolution ambiguous: [" + name + "]")
		}
	}
	return nil
}

func strictErr(within, field string) *esError {
	if within == "" {
		within = "_doc"
	}
	return newErr(400, typeStrictDynamic, "mapping set to strict, dynamic introduction of ["+field+"] within ["+within+"] is not allowed", true)
}

// dynamicMember handles a key with no mapper. obj is the (mapped) containing object or nil.
func (w *docWalker) dynamicMember(obj *mapper, path, eff, name string) *esError {
	src := w.src
	parts := []string{name}
	if strings.IndexByte(name, '.') >= 0 {
		if err := validateDottedName(name); err != nil {
			return wrapParse(err)
		}
		parts = strings.Split(name, ".")
	}
	// resolve intermediate objects of a dotted name (getDynamicParentMapper)
	parentPath, parentEff, parent := path, eff, obj
	for _, p := range parts[:len(parts)-1] {
		full := joinPath(parentPath, p)
		var existing *mapper
		if parent != nil {
			existing = parent.props[p]
		}
		if existing != nil && !existing.object {
			return errMapperParsing("Could not dynamically add mapping for field ["+joinPath(path, name)+"]. Existing mapping for ["+full+"] must be of type object but found ["+existing.typ+"].", nil)
		}
		if existing != nil {
			parent = existing
			parentPath = full
			if existing.dynamic != "" {
				parentEff = existing.dynamic
			}
			continue
		}
		switch parentEff {
		case "strict":
			return strictErr(parentPath, p)
		case "false":
			return w.skipValue()
		}
		w.dyn = append(w.dyn, dynField{path: full, typ: "object"})
		parent = nil
		parentPath = full
		parentEff = "true"
	}
	leaf := parts[len(parts)-1]
	full := joinPath(parentPath, leaf)
	if parent != nil {
		if m := parent.props[leaf]; m != nil {
			return w.parseWith(m, []byte(name))
		}
	}
	if w.pos >= len(src) {
		return w.jerr(&jsonErr{typ: typeJSONEOF, msg: "Unexpected end-of-input: expected a value", off: len(src)})
	}
	switch src[w.pos] {
	case '{':
		switch parentEff {
		case "strict":
			return strictErr(path, leaf)
		case "false":
			return w.skipValue()
		}
		w.dyn = append(w.dyn, dynField{path: full, typ: "object"})
		return w.walkObject(nil, full, "true")
	case '[':
		if parentEff == "strict" {
			return strictErr(parentPath, leaf)
		}
		if parentEff == "false" {
			return w.skipValue()
		}
		return w.dynamicArray(parentPath, leaf, full, obj, name)
	}
	t, err := w.scalar()
	if err != nil {
		return err
	}
	return w.dynamicScalar(t, parentPath, parentEff, leaf, full, obj, name)
}

func (w *docWalker) dynamicScalar(t tok, parentPath, parentEff, leaf, full string, obj *mapper, rawName string) *esError {
	if t.kind == 'z' {
		if obj != nil && obj.dynamic == "strict" {
			return strictErr(obj.path, rawName)
		}
		return nil
	}
	switch parentEff {
	case "strict":
		return strictErr(parentPath, leaf)
	case "false":
		return nil
	}
	d := dynField{path: full}
	switch t.kind {
	case 't', 'f':
		d.typ = "boolean"
	case 'n':
		if t.float {
			d.typ = "float"
		} else {
			d.typ = "long"
		}
	case 's':
		s := w.text(t)
		_, longErr := strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 64)
		_, dblOK := javaParseDouble(s)
		switch {
		case longErr == nil && w.m.numericDetection:
			d.typ = "long"
		case dblOK && w.m.numericDetection:
			d.typ = "float"
		case longErr != nil && !dblOK && w.m.dateDetection:
			if _, ok := parseISODate(s); ok {
				d.typ = "date"
			} else if _, ok := parsePattern("yyyy/MM/dd HH:mm:ss", s); ok {
				d.typ, d.format = "date", slashDateFormat
			} else if _, ok := parsePattern("yyyy/MM/dd", s); ok {
				d.typ, d.format = "date", slashDateFormat
			} else {
				d.typ = "text"
			}
		default:
			d.typ = "text"
		}
	}
	w.dyn = append(w.dyn, d)
	m := dynamicMapper(leaf, full, d)
	return w.checkLeaf(m, t)
}

// dynamicArray walks an array under an unmapped name (parseNonDynamicArray with no mapper).
func (w *docWalker) dynamicArray(parentPath, leaf, full string, obj *mapper, rawName string) *esError {
	src := w.src
	if err := w.enter(); err != nil {
		return err
	}
	start := w.pos
	w.pos = skipWS(src, w.pos+1)
	if w.pos < len(src) && src[w.pos] == ']' {
		w.pos++
		w.depth--
		return nil
	}
	for {
		if w.pos >= len(src) {
			return w.jerr(eofInArray(src, start))
		}
		switch src[w.pos] {
		case '{':
			w.dyn = append(w.dyn, dynField{path: full, typ: "object"})
			if err := w.walkObject(nil, full, "true"); err != nil {
				return err
			}
		case '[':
			if err := w.dynamicArray(parentPath, leaf, full, obj, rawName); err != nil {
				return err
			}
		default:
			t, err := w.scalar()
			if err != nil {
				return err
			}
			if err := w.dynamicScalar(t, parentPath, "true", leaf, full, obj, rawName); err != nil {
				return err
			}
		}
		if err := w.arraySep(start); err != nil {
			if err == errArrayEnd {
				w.depth--
				return nil
			}
			return err
		}
	}
}

// parseWith parses the value at w.pos with an existing mapper.
func (w *docWalker) parseWith(m *mapper, key []byte) *esError {
	src := w.src
	if w.pos >= len(src) {
		return w.jerr(&jsonErr{typ: typeJSONEOF, msg: "Unexpected end-of-input: expected a value", off: len(src)})
	}
	c := src[w.pos]
	if m.object {
		if !m.enabled {
			return w.skipValue()
		}
		switch c {
		case '{':
			if err := w.countNested(m); err != nil {
				return err
			}
			eff := m.dynamic
			if eff == "" {
				eff = w.inheritedDynamic(m.path)
			}
			return w.walkObject(m, m.path, eff)
		case '[':
			return w.objectArray(m, key)
		}
		t, err := w.scalar()
		if err != nil {
			return err
		}
		if t.kind == 'z' {
			return nil
		}
		return errMapperParsing("object mapping for ["+m.path+"] tried to parse field ["+string(key)+"] as object, but found a concrete value", nil)
	}
	switch c {
	case '[':
		return w.leafArray(m)
	case '{':
		return w.objectIntoLeaf(m)
	}
	t, err := w.scalar()
	if err != nil {
		return err
	}
	return w.checkLeaf(m, t)
}

// inheritedDynamic computes dynamicOrDefault for an object whose own setting is unset.
func (w *docWalker) inheritedDynamic(path string) string {
	for {
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			break
		}
		path = path[:i]
		if p := w.m.lookup(path); p != nil && p.dynamic != "" {
			return p.dynamic
		}
	}
	if w.m.root.dynamic != "" {
		return w.m.root.dynamic
	}
	return "true"
}

func (w *docWalker) objectArray(m *mapper, key []byte) *esError {
	src := w.src
	if err := w.enter(); err != nil {
		return err
	}
	start := w.pos
	w.pos = skipWS(src, w.pos+1)
	if w.pos < len(src) && src[w.pos] == ']' {
		w.pos++
		w.depth--
		return nil
	}
	for {
		if w.pos >= len(src) {
			return w.jerr(eofInArray(src, start))
		}
		switch src[w.pos] {
		case '{':
			if err := w.countNested(m); err != nil {
				return err
			}
			eff := m.dynamic
			if eff == "" {
				eff = w.inheritedDynamic(m.path)
			}
			if err := w.walkObject(m, m.path, eff); err != nil {
				return err
			}
		case '[':
			if err := w.objectArray(m, key); err != nil {
				return err
			}
		default:
			t, err := w.scalar()
			if err != nil {
				return err
			}
			if t.kind != 'z' {
				return errMapperParsing("object mapping for ["+m.path+"] tried to parse field ["+string(key)+"] as object, but found a concrete value", nil)
			}
		}
		if err := w.arraySep(start); err != nil {
			if err == errArrayEnd {
				w.depth--
				return nil
			}
			return err
		}
	}
}

func (w *docWalker) leafArray(m *mapper) *esError {
	src := w.src
	if err := w.enter(); err != nil {
		return err
	}
	start := w.pos
	w.pos = skipWS(src, w.pos+1)
	if w.pos < len(src) && src[w.pos] == ']' {
		w.pos++
		w.depth--
		return nil
	}
	for {
		if w.pos >= len(src) {
			return w.jerr(eofInArray(src, start))
		}
		switch src[w.pos] {
		case '{':
			if err := w.objectIntoLeaf(m); err != nil {
				return err
			}
		case '[':
			if err := w.leafArray(m); err != nil {
				return err
			}
		default:
			t, err := w.scalar()
			if err != nil {
				return err
			}
			if err := w.checkLeaf(m, t); err != nil {
				return err
			}
		}
		if err := w.arraySep(start); err != nil {
			if err == errArrayEnd {
				w.depth--
				return nil
			}
			return err
		}
	}
}

// objectIntoLeaf reports an object given to a field mapper (or skips it for fields that
// take objects, and for ignore_malformed).
func (w *docWalker) objectIntoLeaf(m *mapper) *esError {
	start := w.pos
	switch m.typ {
	case "geo_point", "geo_shape", "flat_object", "join", "completion", "percolator", "rank_features",
		"integer_range", "long_range", "float_range", "double_range", "date_range", "ip_range", "alias", "knn_vector":
		return w.skipValue()
	}
	var cause *esError
	switch fieldKind(m.typ) {
	case kindText, kindDate, kindIP:
		l, c := lineCol(w.src, start)
		cause = newErr(400, typeIllegalState, "Can't get text on a START_OBJECT at "+strconv.Itoa(l)+":"+strconv.Itoa(c), false)
	case kindInt, kindFloat:
		cause = newErr(400, typeJSONParse, "Current token (START_OBJECT) not numeric, can not use numeric value accessors\n at "+jacksonLocation(w.src, start+1), false)
	case kindBool:
		cause = newErr(400, typeJSONParse, "Current token (START_OBJECT) not of boolean type\n at "+jacksonLocation(w.src, start+1), false)
	default:
		return w.skipValue()
	}
	if m.ignoreMalformed {
		return w.skipValue()
	}
	// the preview reads the whole object
	p := jsonParser{src: w.src, pos: start}
	v, je := p.value()
	if je != nil {
		return errMapperParsing("failed to parse field ["+m.path+"] of type ["+m.typ+"] in document with id '"+w.id+"'. Could not parse field value preview,", cause)
	}
	w.pos = p.pos
	return errMapperParsing("failed to parse field ["+m.path+"] of type ["+m.typ+"] in document with id '"+w.id+"'. Preview of field's value: '"+javaToString(v)+"'", cause)
}

type valueKind uint8

const (
	kindOther valueKind = iota
	kindText
	kindInt
	kindFloat
	kindBool
	kindDate
	kindIP
)

func fieldKind(typ string) valueKind {
	switch typ {
	case "text", "keyword", "wildcard", "match_only_text", "constant_keyword", "search_as_you_type":
		return kindText
	case "long", "integer", "short", "byte", "unsigned_long", "token_count":
		return kindInt
	case "float", "double", "half_float", "scaled_float":
		return kindFloat
	case "boolean":
		return kindBool
	case "date", "date_nanos":
		return kindDate
	case "ip":
		return kindIP
	}
	return kindOther
}

// checkLeaf checks one scalar against a field mapper and its multi-fields.
func (w *docWalker) checkLeaf(m *mapper, t tok) *esError {
	if err := w.checkValue(m, t); err != nil {
		return err
	}
	for _, sub := range m.fields {
		if fieldKind(sub.typ) == kindText {
			continue
		}
		if err := w.checkValue(sub, t); err != nil {
			return err
		}
	}
	return nil
}

func (w *docWalker) checkValue(m *mapper, t tok) *esError {
	if t.kind == 'z' {
		return nil
	}
	var cause *esError
	switch fieldKind(m.typ) {
	case kindText, kindOther:
		return nil
	case kindInt:
		cause = w.checkInt(m, t)
	case kindFloat:
		cause = w.checkFloat(m, t)
	case kindBool:
		cause = w.checkBool(t)
	case kindDate:
		cause = w.checkDate(m, t)
	case kindIP:
		s := w.text(t)
		if _, err := netip.ParseAddr(s); err != nil {
			cause = errIllegalArg("'" + s + "' is not an IP string literal.")
		}
	}
	if cause == nil || (m.ignoreMalformed && !unsignedRangeCause(m, t, cause)) {
		return nil
	}
	return errMapperParsing("failed to parse field ["+m.path+"] of type ["+m.typ+"] in document with id '"+w.id+"'. Preview of field's value: '"+w.preview(t)+"'", cause)
}

func (w *docWalker) preview(t tok) string {
	switch t.kind {
	case 's':
		return w.text(t)
	case 'n':
		return canonicalNumber(jsonNum{raw: string(w.src[t.start:t.end]), float: t.float})
	case 't':
		return "true"
	case 'f':
		return "false"
	}
	return "null"
}

func tokenName(t tok) string {
	switch t.kind {
	case 't':
		return "VALUE_TRUE"
	case 'f':
		return "VALUE_FALSE"
	case 'n':
		if t.float {
			return "VALUE_NUMBER_FLOAT"
		}
		return "VALUE_NUMBER_INT"
	case 's':
		return "VALUE_STRING"
	}
	return "VALUE_NULL"
}

var intRanges = map[string][3]any{
	"integer": {int64(math.MinInt32), int64(math.MaxInt32), "an integer"},
	"short":   {int64(math.MinInt16), int64(math.MaxInt16), "a short"},
	"byte":    {int64(math.MinInt8), int64(math.MaxInt8), "a byte"},
}

func (w *docWalker) checkInt(m *mapper, t tok) *esError {
	switch t.kind {
	case 't', 'f':
		return newErr(400, typeJSONParse, "Current token ("+tokenName(t)+") not numeric, can not use numeric value accessors\n at "+jacksonLocation(w.src, t.end), false)
	case 's':
		s := w.text(t)
		if s == "" {
			return nil
		}
		if m.typ == "unsigned_long" {
			return checkUnsignedLong(t, w.src, s, m.coerce)
		}
		if !m.coerce {
			return errIllegalArg(javaNumberClass(m.typ) + " value passed as String")
		}
		if m.typ == "long" || m.typ == "token_count" {
			return javaToLong(s)
		}
		f, ok := javaParseDouble(s)
		if !ok {
			return newErr(400, typeNumberFormat, `For input string: "`+s+`"`, false)
		}
		r := intRanges[m.typ]
		if f < float64(r[0].(int64)) || f > float64(r[1].(int64)) || math.IsNaN(f) {
			return errIllegalArg("Value [" + s + "] is out of range for " + r[2].(string))
		}
		return nil
	case 'n':
		if m.typ == "unsigned_long" {
			return checkUnsignedLong(t, w.src, "", m.coerce)
		}
		raw := string(w.src[t.start:t.end])
		if !t.float {
			v, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				return newErr(400, typeInputCoercion, "Numeric value ("+raw+") out of range of long (-9223372036854775808 - 9223372036854775807)\n at "+jacksonLocation(w.src, t.end), false)
			}
			if r, ok := intRanges[m.typ]; ok {
				if m.typ == "integer" {
					if v < r[0].(int64) || v > r[1].(int64) {
						return newErr(400, typeInputCoercion, "Numeric value ("+raw+") out of range of int (-2147483648 - 2147483647)\n at "+jacksonLocation(w.src, t.end), false)
					}
				} else if v < r[0].(int64) || v > r[1].(int64) {
					return errIllegalArg("Value [" + strconv.FormatInt(int64(int32(v)), 10) + "] is out of range for " + r[2].(string))
				}
			}
			return nil
		}
		f, _ := strconv.ParseFloat(raw, 64)
		limit := float64(math.MaxInt64)
		what := "long (-9223372036854775808 - 9223372036854775807)"
		if m.typ != "long" && m.typ != "token_count" {
			limit = float64(math.MaxInt32)
			what = "int (-2147483648 - 2147483647)"
		}
		if f >= limit+1 || f < -limit-1 || math.IsInf(f, 0) {
			return newErr(400, typeInputCoercion, "Numeric value ("+raw+") out of range of "+what+"\n at "+jacksonLocation(w.src, t.end), false)
		}
		if !m.coerce && f != math.Trunc(f) {
			return errIllegalArg("Value [" + raw + "] has a decimal part")
		}
		if r, ok := intRanges[m.typ]; ok && m.typ != "integer" {
			v := int64(f)
			if v < r[0].(int64) || v > r[1].(int64) {
				return errIllegalArg("Value [" + strconv.FormatInt(v, 10) + "] is out of range for " + r[2].(string))
			}
		}
	}
	return nil
}

func javaNumberClass(typ string) string {
	switch typ {
	case "integer":
		return "Integer"
	case "short":
		return "Short"
	case "byte":
		return "Byte"
	case "float", "half_float":
		return "Float"
	case "double", "scaled_float":
		return "Double"
	}
	return "Long"
}

// javaToLong mirrors Numbers.toLong(String, coerce=true).
func javaToLong(s string) *esError {
	if _, err := strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 64); err == nil && !strings.HasPrefix(s, "+-") {
		return nil
	}
	f, ok := parseBigDecimal(s)
	if !ok {
		return errIllegalArg(`For input string: "` + s + `"`)
	}
	if f >= 9.223372036854775807e18 || f <= -9.223372036854775808e18 {
		return errIllegalArg("Value [" + s + "] is out of range for a long")
	}
	return nil
}

// parseBigDecimal accepts the syntax of java.math.BigDecimal(String).
func parseBigDecimal(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	i := 0
	if s[0] == '+' || s[0] == '-' {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		ed := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			ed++
		}
		if ed == 0 {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// javaParseDouble accepts what Double.parseDouble accepts (for the common cases):
// surrounding whitespace, a sign, decimal or exponent forms, a trailing d/f, NaN, Infinity.
func javaParseDouble(s string) (float64, bool) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, false
	}
	body := t
	sign := 1.0
	if body[0] == '+' || body[0] == '-' {
		if body[0] == '-' {
			sign = -1
		}
		body = body[1:]
	}
	switch body {
	case "NaN":
		return math.NaN(), true
	case "Infinity":
		return math.Inf(int(sign)), true
	}
	if n := len(body); n > 0 && strings.ContainsRune("dDfF", rune(body[n-1])) {
		body = body[:n-1]
	}
	if body == "" {
		return 0, false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(body, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return sign * f, true
		}
		return 0, false
	}
	return sign * f, true
}

func (w *docWalker) checkFloat(m *mapper, t tok) *esError {
	var f float64
	switch t.kind {
	case 't', 'f':
		return newErr(400, typeJSONParse, "Current token ("+tokenName(t)+") not numeric, can not use numeric value accessors\n at "+jacksonLocation(w.src, t.end), false)
	case 's':
		s := w.text(t)
		if s == "" {
			return nil
		}
		if !m.coerce {
			return errIllegalArg(javaNumberClass(m.typ) + " value passed as String")
		}
		v, ok := javaParseDouble(s)
		if !ok {
			return newErr(400, typeNumberFormat, `For input string: "`+s+`"`, false)
		}
		f = v
	case 'n':
		f, _ = strconv.ParseFloat(string(w.src[t.start:t.end]), 64)
	}
	switch m.typ {
	case "float":
		f32 := float32(f)
		if math.IsInf(float64(f32), 0) || math.IsNaN(float64(f32)) {
			return errIllegalArg("[float] supports only finite values, but got [" + javaFloat(f32) + "]")
		}
	case "half_float":
		if math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 65504 {
			v := f
			if math.Abs(f) > 65504 && !math.IsNaN(f) {
				v = math.Inf(int(math.Copysign(1, f)))
			}
			return errIllegalArg("[half_float] supports only finite values, but got [" + javaFloat(float32(v)) + "]")
		}
	case "double":
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return errIllegalArg("[double] supports only finite values, but got [" + javaDouble(f) + "]")
		}
	case "scaled_float":
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return errIllegalArg("[scaled_float] only supports finite values, but got [" + javaDouble(f) + "]")
		}
	}
	return nil
}

func (w *docWalker) checkBool(t tok) *esError {
	switch t.kind {
	case 't', 'f':
		return nil
	case 's':
		s := w.text(t)
		if s == "true" || s == "false" || s == "" {
			return nil
		}
		return errIllegalArg("Failed to parse value [" + s + "] as only [true] or [false] are allowed.")
	}
	return newErr(400, typeJSONParse, "Current token ("+tokenName(t)+") not of boolean type\n at "+jacksonLocation(w.src, t.end), false)
}

func (w *docWalker) checkDate(m *mapper, t tok) *esError {
	s := w.text(t)
	if s == "" {
		return errIllegalArg("cannot parse empty date")
	}
	format := m.format
	if format == "" {
		format = defaultDateFormat
		if m.typ == "date_nanos" {
			format = defaultDateNanosFormat
		}
	}
	if !dateFormatKnown(format) {
		return nil
	}
	if m.typ == "date_nanos" {
		if t, ok := parseDateTime(format, s); ok {
			return nanosRangeCause(t)
		}
	} else if _, ok := parseDate(format, s); ok {
		return nil
	}
	inner := "Failed to parse with all enclosed parsers"
	if !strings.Contains(format, "||") {
		inner = "Text '" + s + "' could not be parsed at index 0"
	}
	return errIllegalArgCause("failed to parse date field ["+s+"] with format ["+format+"]", newErr(400, typeDateTimeParse, inner, false))
}

// unsignedRangeCause reports the unsigned_long range check of a number token, which the
// server makes when it creates the Lucene fields, after (and so regardless of)
// ignore_malformed (NumberFieldMapper.parseCreateField, Numbers.toUnsignedLongExact).
func unsignedRangeCause(m *mapper, t tok, cause *esError) bool {
	return m.typ == "unsigned_long" && t.kind == 'n' && strings.HasPrefix(cause.reason, "Value [")
}

// defaultNestedObjectsLimit is the default of index.mapping.nested_objects.limit.
const defaultNestedObjectsLimit = 10000

// countNested counts one nested object as ParseContext.InternalParseContext.addDoc does,
// refusing the document once there are more than index.mapping.nested_objects.limit.
func (w *docWalker) countNested(m *mapper) *esError {
	if m.typ != "nested" {
		return nil
	}
	w.nested++
	if w.nested > w.nestedLimit {
		return errMapperParsing("The number of nested documents has exceeded the allowed limit of ["+strconv.Itoa(w.nestedLimit)+"]. This limit can be set by changing the [index.mapping.nested_objects.limit] index level setting.", nil)
	}
	return nil
}
