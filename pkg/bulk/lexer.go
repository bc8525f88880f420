package bulk

import (
	"bytes"
	"strconv"
)

// The lexer is a pull tokenizer over one JSON text that behaves like the Jackson parser
// the server uses (with OpenSearch's settings: comments allowed, strict duplicate
// detection, nesting depth 1000). Matching Jackson matters beyond accepting the same
// inputs: the server interleaves its own checks with token reads, so which error a broken
// line produces depends on how far Jackson has read. In particular, like Jackson:
//
//   - reading a FIELD_NAME also reads the colon and the start of the value; numbers and
//     true/false/null are read (and validated) right then, strings are not;
//   - a string value is scanned only when its text is asked for or the next token is read;
//   - nothing after the last token asked for is looked at.

type tok uint8

const (
	tokErr tok = iota // lexer.err is set
	tokEOF            // no more tokens (Jackson's null)
	tokStartObject
	tokEndObject
	tokStartArray
	tokEndArray
	tokFieldName
	tokString
	tokNumber
	tokTrue
	tokFalse
	tokNull
)

// String returns the XContentParser.Token name OpenSearch puts in its messages; the end of
// input prints as Java's null.
func (t tok) String() string {
	switch t {
	case tokStartObject:
		return "START_OBJECT"
	case tokEndObject:
		return "END_OBJECT"
	case tokStartArray:
		return "START_ARRAY"
	case tokEndArray:
		return "END_ARRAY"
	case tokFieldName:
		return "FIELD_NAME"
	case tokString:
		return "VALUE_STRING"
	case tokNumber:
		return "VALUE_NUMBER"
	case tokTrue, tokFalse:
		return "VALUE_BOOLEAN"
	case tokNull:
		return "VALUE_NULL"
	}
	return "null"
}

// isValue mirrors XContentParser.Token.isValue: scalars except null.
func (t tok) isValue() bool {
	return t == tokString || t == tokNumber || t == tokTrue || t == tokFalse
}

// maxNestingDepth is Jackson's StreamReadConstraints default, which OpenSearch keeps.
const maxNestingDepth = 1000

// wideObject is the number of fields after which duplicate detection switches from a
// linear scan to a map, so that objects with thousands of fields stay linear.
const wideObject = 32

type lexCtx struct {
	obj   bool
	n     int // entries read so far
	start int // offset of the '{' or '['
	keys  int // index in lexer.keys of this object's first field name
	wide  map[string]struct{}
}

type lexer struct {
	b   []byte
	pos int

	ctx  []lexCtx
	keys [][]byte // names of the fields of the open objects, for duplicate detection

	// current token; for values [start,end) is the raw text (for a string, quotes included,
	// end known only once scanned)
	tok        tok
	start, end int
	float      bool // number with fraction or exponent
	pending    bool // string not scanned yet
	esc        bool // string has escapes
	name       []byte
	nameStart  int

	// the value token read together with the field name
	aTok         tok
	aStart, aEnd int
	aFloat       bool

	err      *Error
	scratch  []byte // decoded string text
	comments int    // comments skipped so far
}

func (l *lexer) reset(b []byte) {
	l.b = b
	l.pos = 0
	// Each line is a fresh parser for the server, and Jackson's bootstrapper skips a
	// UTF-8 byte order mark at the start of its input.
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		l.pos = 3
	}
	for i := range l.ctx {
		l.ctx[i].wide = nil
	}
	l.ctx = l.ctx[:0]
	clear(l.keys)
	l.keys = l.keys[:0]
	l.tok = tokEOF
	l.pending = false
	l.err = nil
	l.name = nil
	l.comments = 0
}

// next reads the next token, like JsonParser.nextToken.
func (l *lexer) next() tok {
	switch {
	case l.tok == tokErr:
		return tokErr
	case l.tok == tokFieldName:
		l.tok, l.start, l.end, l.float = l.aTok, l.aStart, l.aEnd, l.aFloat
		l.pending = l.tok == tokString
		if l.tok == tokStartObject || l.tok == tokStartArray {
			if !l.push(l.tok == tokStartObject, l.start) {
				return tokErr
			}
		}
		return l.tok
	case l.pending:
		if !l.finishString() {
			return tokErr
		}
	}
	c := l.skipWS()
	if c == wsErr {
		return tokErr
	}
	d := len(l.ctx)
	if c == wsEOF {
		if d == 0 {
			l.tok = tokEOF
			return tokEOF
		}
		top := &l.ctx[d-1]
		return l.fail(typeJSONEOF, len(l.b), "Unexpected end-of-input: expected close marker for "+
			ctxDesc(top.obj)+" (start marker at "+l.source(top.start)+")")
	}
	if c == '}' || c == ']' {
		return l.close(byte(c))
	}
	if d > 0 {
		top := &l.ctx[d-1]
		if top.n > 0 {
			if c != ',' {
				return l.fail(typeJSONParse, l.pos+1, "Unexpected character ("+charDesc(l.b, l.pos)+
					"): was expecting comma to separate "+ctxDesc(top.obj)+" entries")
			}
			l.pos++
			if c = l.skipWS(); c == wsErr {
				return tokErr
			} else if c == wsEOF {
				return l.fail(typeJSONEOF, len(l.b), "Unexpected end-of-input within/between "+ctxDesc(top.obj)+" entries")
			}
		}
		top.n++
		if top.obj {
			return l.fieldName(byte(c))
		}
	}
	l.tok, l.start, l.end, l.float = l.value(byte(c))
	if l.tok == tokErr {
		return tokErr
	}
	l.pending = l.tok == tokString
	if l.tok == tokStartObject || l.tok == tokStartArray {
		if !l.push(l.tok == tokStartObject, l.start) {
			return tokErr
		}
	}
	return l.tok
}

func ctxDesc(obj bool) string {
	if obj {
		return "Object"
	}
	return "Array"
}

func (l *lexer) close(c byte) tok {
	d := len(l.ctx)
	if d == 0 {
		return l.fail(typeJSONParse, l.pos+1, "Unexpected close marker '"+string(rune(c))+
			"': expected ']' (for root starting at "+l.source(0)+")")
	}
	top := &l.ctx[d-1]
	want := byte(']')
	if top.obj {
		want = '}'
	}
	if c != want {
		return l.fail(typeJSONParse, l.pos+1, "Unexpected close marker '"+string(rune(c))+"': expected '"+
			string(rune(want))+"' (for "+ctxDesc(top.obj)+" starting at "+l.source(top.start)+")")
	}
	if top.obj {
		clear(l.keys[top.keys:])
		l.keys = l.keys[:top.keys]
		top.wide = nil
		l.tok = tokEndObject
	} else {
		l.tok = tokEndArray
	}
	l.start, l.end = l.pos, l.pos+1
	l.ctx = l.ctx[:d-1]
	l.pos++
	return l.tok
}

func (l *lexer) push(obj bool, start int) bool {
	if len(l.ctx) >= maxNestingDepth {
		l.fail(typeStreamConstraints, l.pos, "Document nesting depth ("+strconv.Itoa(len(l.ctx)+1)+
			") exceeds the maximum allowed ("+strconv.Itoa(maxNestingDepth)+", from `StreamReadConstraints.getMaxNestingDepth()`)")
		return false
	}
	l.ctx = append(l.ctx, lexCtx{obj: obj, start: start, keys: len(l.keys)})
	return true
}

// fieldName reads a field name, the colon and the start of the value (see the type doc).
func (l *lexer) fieldName(c byte) tok {
	if c != '"' {
		return l.fail(typeJSONParse, l.pos+1, "Unexpected character ("+charDesc(l.b, l.pos)+
			"): was expecting double-quote to start field name")
	}
	end, esc, code, at := scanString(l.b, l.pos)
	if code != seNone {
		return l.stringError(code, at, true)
	}
	name := l.b[l.pos+1 : end-1]
	if esc {
		// Escaped names are rare; give each its own copy as it must outlive the scratch
		// buffer for duplicate detection.
		name = decodeString(nil, name)
	}
	if l.duplicate(name) {
		return l.fail(typeJSONParse, end, "Duplicate field '"+string(name)+"'")
	}
	l.name, l.nameStart = name, l.pos
	l.pos = end
	if c := l.skipWS(); c == wsErr {
		return tokErr
	} else if c == wsEOF {
		return l.fail(typeJSONEOF, len(l.b), "Unexpected end-of-input within/between Object entries")
	} else if c != ':' {
		return l.fail(typeJSONParse, l.pos+1, "Unexpected character ("+charDesc(l.b, l.pos)+
			"): was expecting a colon to separate field name and value")
	}
	l.pos++
	c2 := l.skipWS()
	if c2 == wsErr {
		return tokErr
	} else if c2 == wsEOF {
		return l.fail(typeJSONEOF, len(l.b), "Unexpected end-of-input within/between Object entries")
	}
	l.aTok, l.aStart, l.aEnd, l.aFloat = l.value(byte(c2))
	if l.aTok == tokErr {
		return tokErr
	}
	l.tok = tokFieldName
	return tokFieldName
}

// duplicate records name as a field of the innermost object and reports whether it was
// already there (Jackson's STRICT_DUPLICATE_DETECTION, which OpenSearch enables).
func (l *lexer) duplicate(name []byte) bool {
	top := &l.ctx[len(l.ctx)-1]
	if top.wide != nil {
		if _, ok := top.wide[string(name)]; ok {
			return true
		}
		top.wide[string(name)] = struct{}{}
		return false
	}
	names := l.keys[top.keys:]
	for _, k := range names {
		if bytes.Equal(k, name) {
			return true
		}
	}
	if len(names) >= wideObject {
		top.wide = make(map[string]struct{}, 2*wideObject)
		for _, k := range names {
			top.wide[string(k)] = struct{}{}
		}
		top.wide[string(name)] = struct{}{}
		return false
	}
	l.keys = append(l.keys, name)
	return false
}

// value reads the start of a value whose first byte c is at l.pos. Containers are
// consumed up to their opening byte only, strings not at all (l.pos stays on the quote),
// numbers and literals entirely.
func (l *lexer) value(c byte) (t tok, start, end int, float bool) {
	start = l.pos
	switch {
	case c == '"':
		return tokString, start, 0, false
	case c == '{':
		l.pos++
		return tokStartObject, start, l.pos, false
	case c == '[':
		l.pos++
		return tokStartArray, start, l.pos, false
	case c == '-' || isDigit(c):
		end, float, code, at := scanNumber(l.b, start)
		if code != seNone {
			return l.numberError(code, at), 0, 0, false
		}
		l.pos = end
		if len(l.ctx) == 0 && end < len(l.b) && !isJSONSpace(l.b[end]) {
			// Jackson's _verifyRootSpace
			return l.fail(typeJSONParse, end+1, "Unexpected character ("+charDesc(l.b, end)+
				"): Expected space separating root-level values"), 0, 0, false
		}
		return tokNumber, start, end, float
	case c == 't':
		return l.literal("true", tokTrue)
	case c == 'f':
		return l.literal("false", tokFalse)
	case c == 'n':
		return l.literal("null", tokNull)
	case c == '+':
		return l.fail(typeJSONParse, l.pos+1, "Unexpected character ("+charDesc(l.b, l.pos)+") in numeric value: "+
			"JSON spec does not allow numbers to have plus signs: enable `JsonReadFeature.ALLOW_LEADING_PLUS_SIGN_FOR_NUMBERS` to allow"), 0, 0, false
	case c == '}' || c == ',' || c == ']' && len(l.ctx) > 0 && !l.ctx[len(l.ctx)-1].obj:
		// Jackson's _handleUnexpectedValue: a missing value (ALLOW_MISSING_VALUES is off)
		return l.fail(typeJSONParse, l.pos+1, "Unexpected character ("+charDesc(l.b, l.pos)+"): expected a value"), 0, 0, false
	case isIdentPart(c):
		return l.invalidToken(start), 0, 0, false
	}
	return l.fail(typeJSONParse, l.pos+1, "Unexpected character ("+charDesc(l.b, l.pos)+
		"): expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"), 0, 0, false
}

func (l *lexer) literal(word string, t tok) (tok, int, int, bool) {
	start := l.pos
	end := start + len(word)
	if end > len(l.b) || string(l.b[start:end]) != word || (end < len(l.b) && isIdentPart(l.b[end])) {
		return l.invalidToken(start), 0, 0, false
	}
	l.pos = end
	return t, start, end, false
}

// isIdentPart approximates Java's Character.isJavaIdentifierPart, which Jackson uses to
// delimit an unrecognized token; any non-ASCII byte counts.
func isIdentPart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_' || c == '$' || c >= 0x80
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (l *lexer) invalidToken(start int) tok {
	end := start
	for end < len(l.b) && end-start < 256 && isIdentPart(l.b[end]) {
		end++
	}
	if end == start {
		end++
	}
	return l.fail(typeJSONParse, end+1, "Unrecognized token '"+string(l.b[start:end])+
		"': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')")
}

const (
	wsEOF = -1
	wsErr = -2
)

// skipWS skips whitespace and comments and returns the next byte without consuming it,
// wsEOF at the end of input or wsErr with l.err set.
func (l *lexer) skipWS() int {
	for l.pos < len(l.b) {
		switch c := l.b[l.pos]; c {
		case ' ', '\t', '\n', '\r':
			l.pos++
		case '/':
			if !l.skipComment() {
				return wsErr
			}
		default:
			if c < 0x20 {
				l.fail(typeJSONParse, l.pos+1, "Illegal character ("+charDesc(l.b, l.pos)+
					"): only regular white space (\\r, \\n, \\t) is allowed between tokens")
				return wsErr
			}
			return int(c)
		}
	}
	return wsEOF
}

// skipComment skips a /* */ or // comment (OpenSearch enables ALLOW_COMMENTS).
func (l *lexer) skipComment() bool {
	l.comments++
	p := l.pos + 1
	if p >= len(l.b) {
		l.fail(typeJSONEOF, len(l.b), "Unexpected end-of-input in a comment")
		return false
	}
	switch l.b[p] {
	case '*':
		i := bytes.Index(l.b[p+1:], []byte("*/"))
		if i < 0 {
			l.fail(typeJSONEOF, len(l.b), "Unexpected end-of-input in a comment")
			return false
		}
		l.pos = p + 1 + i + 2
	case '/':
		i := bytes.IndexAny(l.b[p+1:], "\r\n")
		if i < 0 {
			l.pos = len(l.b)
		} else {
			l.pos = p + 1 + i
		}
	default:
		l.fail(typeJSONParse, p+1, "Unexpected character ("+charDesc(l.b, p)+"): was expecting either '*' or '/' for a comment")
		return false
	}
	return true
}

// finishString scans a pending string value.
func (l *lexer) finishString() bool {
	end, esc, code, at := scanString(l.b, l.start)
	if code != seNone {
		l.stringError(code, at, false)
		return false
	}
	l.end, l.esc, l.pending = end, esc, false
	l.pos = end
	return true
}

// text returns the current value's text as the server's parser.text() does: decoded for
// strings, the literal source text for numbers and booleans. The slice is valid until the
// next call. It returns false with l.err set if the string is malformed.
func (l *lexer) text() ([]byte, bool) {
	switch l.tok {
	case tokString:
		if l.pending && !l.finishString() {
			return nil, false
		}
		raw := l.b[l.start+1 : l.end-1]
		if !l.esc {
			return raw, true
		}
		l.scratch = decodeString(l.scratch[:0], raw)
		return l.scratch, true
	case tokNumber, tokTrue, tokFalse, tokNull:
		return l.b[l.start:l.end], true
	}
	return nil, true
}

// skipChildren reads up to the end of the object or array the current token starts,
// validating everything on the way, like Jackson's copyCurrentStructure does.
func (l *lexer) skipChildren() bool {
	if l.tok != tokStartObject && l.tok != tokStartArray {
		return l.tok != tokErr
	}
	d := len(l.ctx) - 1
	for {
		switch l.next() {
		case tokErr:
			return false
		case tokEndObject, tokEndArray:
			if len(l.ctx) == d {
				return true
			}
		}
	}
}

// raw returns the current value's source bytes; after skipChildren on a container, the
// caller slices from the container's start to l.pos instead.
func (l *lexer) raw() []byte { return l.b[l.start:l.end] }

func (l *lexer) fail(typ string, at int, msg string) tok {
	l.err = badRequest(typ, msg+"\n at "+l.source(at))
	l.tok = tokErr
	return tokErr
}

// source renders a Jackson location for offset at. Since Jackson 2.16 the source itself
// is redacted by default, which is what current OpenSearch releases print.
func (l *lexer) source(at int) string {
	line, col := l.lineCol(at)
	return "[Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: " +
		strconv.Itoa(line) + ", column: " + strconv.Itoa(col) + "]"
}

// lineCol converts an offset to Jackson's 1-based line and column; like Jackson it counts
// "\n", "\r" and "\r\n" as one line break each. Only used when reporting errors.
func (l *lexer) lineCol(at int) (line, col int) {
	if at > len(l.b) {
		at = len(l.b)
	}
	line, rowStart := 1, 0
	for i := 0; i < at; i++ {
		switch l.b[i] {
		case '\n':
			line, rowStart = line+1, i+1
		case '\r':
			if i+1 < at && l.b[i+1] == '\n' {
				i++
			}
			line, rowStart = line+1, i+1
		}
	}
	return line, at - rowStart + 1
}

// xloc renders an XContentLocation ("[L:C]") for the token starting at offset at, as
// OpenSearch prefixes x_content_parse_exception reasons.
func (l *lexer) xloc(at int) string {
	line, col := l.lineCol(at)
	return "[" + strconv.Itoa(line) + ":" + strconv.Itoa(col) + "]"
}

func (l *lexer) stringError(code scanErr, at int, name bool) tok {
	what := "string value"
	if name {
		what = "name"
	}
	switch code {
	case seEOF:
		if name {
			return l.fail(typeJSONEOF, len(l.b), "Unexpected end-of-input: was expecting closing '\"' for name")
		}
		return l.fail(typeJSONEOF, len(l.b), "Unexpected end-of-input: was expecting closing quote for a string value")
	case seCtrl:
		return l.fail(typeJSONParse, at+1, "Illegal unquoted character ("+charDesc(l.b, at)+
			"): has to be escaped using backslash to be included in "+what)
	case seEscape:
		return l.fail(typeJSONParse, at+1, "Unrecognized character escape "+charDesc(l.b, at))
	case seHex:
		return l.fail(typeJSONParse, at+1, "Unexpected character ("+charDesc(l.b, at)+
			"): expected a hex-digit for character escape sequence")
	case seUTF8Middle:
		return l.fail(typeJSONParse, at+1, "Invalid UTF-8 middle byte 0x"+strconv.FormatInt(int64(l.b[at]), 16))
	default:
		return l.fail(typeJSONParse, at+1, "Invalid UTF-8 start byte 0x"+strconv.FormatInt(int64(l.b[at]), 16))
	}
}

func (l *lexer) numberError(code scanErr, at int) tok {
	switch code {
	case seEOF:
		return l.fail(typeJSONEOF, len(l.b), "Unexpected end-of-input in a Number value")
	case seLeadingZero:
		return l.fail(typeJSONParse, at+1, "Invalid numeric value: Leading zeroes not allowed")
	case seMinus:
		return l.fail(typeJSONParse, at+1, "Unexpected character ("+charDesc(l.b, at)+
			") in numeric value: expected digit (0-9) to follow minus sign, for valid numeric value")
	case seFraction:
		return l.fail(typeJSONParse, at+1, "Unexpected character ("+charDesc(l.b, at)+
			") in numeric value: Decimal point not followed by a digit")
	default:
		return l.fail(typeJSONParse, at+1, "Unexpected character ("+charDesc(l.b, at)+
			") in numeric value: Exponent indicator not followed by a digit")
	}
}

// jacksonName is the Jackson JsonToken name of the current value, used in messages that
// come from Jackson accessors.
func (l *lexer) jacksonName() string {
	switch l.tok {
	case tokNumber:
		if l.float {
			return "VALUE_NUMBER_FLOAT"
		}
		return "VALUE_NUMBER_INT"
	case tokTrue:
		return "VALUE_TRUE"
	case tokFalse:
		return "VALUE_FALSE"
	}
	return l.tok.String()
}

// stripComments returns a copy of the valid JSON-with-comments text b without its
// comments, for handing raw values on to code that expects plain JSON.
func stripComments(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			end, _, code, _ := scanString(b, i)
			if code != seNone {
				return append(out, b[i:]...)
			}
			out = append(out, b[i:end]...)
			i = end
		case c == '/' && i+1 < len(b) && b[i+1] == '*':
			end := bytes.Index(b[i+2:], []byte("*/"))
			if end < 0 {
				return out
			}
			out = append(out, ' ')
			i += 2 + end + 2
		case c == '/' && i+1 < len(b) && b[i+1] == '/':
			end := bytes.IndexAny(b[i+2:], "\r\n")
			if end < 0 {
				return out
			}
			i += 2 + end
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}
