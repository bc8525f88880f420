package searchemu

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The emulator keeps JSON the way the server's Java code sees it: objects keep their key
// order (Jackson → LinkedHashMap), numbers keep their literal until they must be
// re-encoded, and re-encoding follows Jackson's rules (compact, minimal escaping, doubles
// printed by Double.toString). Values are:
//
//	nil, bool, string, jsonNum, []any, *jsonObj

// jsonObj is a JSON object with its members in document order.
type jsonObj struct {
	m []jsonMember
}

// jsonMember is one key/value pair; the offsets point into the parsed input so that
// errors can name a line and column like the server does.
type jsonMember struct {
	k          string
	v          any
	koff, voff int
}

// jsonNum is a JSON number literal.
type jsonNum struct {
	raw   string
	float bool // has a fraction or exponent (Jackson: double)
}

func (o *jsonObj) get(k string) (any, bool) {
	for i := range o.m {
		if o.m[i].k == k {
			return o.m[i].v, true
		}
	}
	return nil, false
}

func (o *jsonObj) member(k string) *jsonMember {
	for i := range o.m {
		if o.m[i].k == k {
			return &o.m[i]
		}
	}
	return nil
}

// set replaces the value of k in place (keeping its position) or appends it.
func (o *jsonObj) set(k string, v any) {
	for i := range o.m {
		if o.m[i].k == k {
			o.m[i].v = v
			return
		}
	}
	o.m = append(o.m, jsonMember{k: k, v: v})
}

func (n jsonNum) float64() float64 {
	f, _ := strconv.ParseFloat(n.raw, 64)
	return f
}

// int64 returns the integer value and whether the literal is an integer that fits.
func (n jsonNum) int64() (int64, bool) {
	if n.float {
		return 0, false
	}
	i, err := strconv.ParseInt(n.raw, 10, 64)
	return i, err == nil
}

// jsonErr is a syntax error in the words of Jackson (the server's JSON parser).
type jsonErr struct {
	typ string // json_parse_exception, json_e_o_f_exception, ...
	msg string
	off int // byte offset the location refers to
}

const (
	typeJSONParse         = "json_parse_exception"
	typeJSONEOF           = "json_e_o_f_exception"
	typeStreamConstraints = "stream_constraints_exception"
	typeInputCoercion     = "input_coercion_exception"
)

// maxJSONDepth is Jackson's default StreamReadConstraints nesting limit.
const maxJSONDepth = 1000

const validValueList = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"

// reason renders the error like Jackson does, with the location suffix.
func (e *jsonErr) reason(src []byte) string {
	if e.off < 0 {
		return e.msg
	}
	return e.msg + "\n at " + jacksonLocation(src, e.off)
}

// jacksonLocation renders "[Source: (byte[])"..."; line: L, column: C]".
func jacksonLocation(src []byte, off int) string {
	if off > len(src) {
		off = len(src)
	}
	if off < 0 {
		off = 0
	}
	line, col := lineCol(src, off)
	var sb strings.Builder
	sb.WriteString(`[Source: (byte[])"`)
	const maxDesc = 500
	if len(src) > maxDesc {
		sb.Write(src[:maxDesc])
		sb.WriteString(`"[truncated `)
		sb.WriteString(strconv.Itoa(len(src) - maxDesc))
		sb.WriteString(` bytes]`)
	} else {
		sb.Write(src)
		sb.WriteByte('"')
	}
	sb.WriteString("; line: ")
	sb.WriteString(strconv.Itoa(line))
	sb.WriteString(", column: ")
	sb.WriteString(strconv.Itoa(col))
	sb.WriteByte(']')
	return sb.String()
}

// lineCol returns the 1-based line and column of a byte offset.
func lineCol(src []byte, off int) (int, int) {
	if off > len(src) {
		off = len(src)
	}
	line := 1 + bytes.Count(src[:off], []byte{'\n'})
	start := bytes.LastIndexByte(src[:off], '\n') + 1
	return line, off - start + 1
}

func charDesc(c byte) string {
	if c < 0x20 {
		return "(CTRL-CHAR, code " + strconv.Itoa(int(c)) + ")"
	}
	if c >= 0x80 {
		return "(code " + strconv.Itoa(int(c)) + ")"
	}
	return "('" + string(rune(c)) + "' (code " + strconv.Itoa(int(c)) + "))"
}

func unexpectedChar(src []byte, pos int, what string) *jsonErr {
	return &jsonErr{typ: typeJSONParse, msg: "Unexpected character " + charDesc(src[pos]) + ": " + what, off: pos + 1}
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(src []byte, pos int) int {
	for pos < len(src) && isWS(src[pos]) {
		pos++
	}
	return pos
}

// tokenEnd returns the end of an unrecognised token for Jackson's message.
func tokenEnd(src []byte, pos int) int {
	for pos < len(src) {
		c := src[pos]
		if isWS(c) || c == ',' || c == ':' || c == ']' || c == '}' || c == '[' || c == '{' || c == '"' {
			break
		}
		pos++
	}
	return pos
}

func unrecognizedToken(src []byte, pos int) *jsonErr {
	end := tokenEnd(src, pos)
	if end == pos {
		end = pos + 1
	}
	tok := string(src[pos:end])
	if len(tok) > 256 {
		tok = tok[:256]
	}
	return &jsonErr{typ: typeJSONParse, msg: "Unrecognized token '" + tok + "': was expecting " + validValueList, off: end}
}

// scanString scans the string starting at src[pos] == '"'. It returns the offset just past
// the closing quote and whether the content holds escapes.
func scanString(src []byte, pos int, fieldName bool) (int, bool, *jsonErr) {
	i := pos + 1
	esc := false
	for {
		// fast path over plain ASCII
		for i < len(src) {
			c := src[i]
			if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				break
			}
			i++
		}
		if i >= len(src) {
			what := "Unexpected end-of-input: was expecting closing quote for a string value"
			if fieldName {
				what = "Unexpected end-of-input in field name"
			}
			return 0, false, &jsonErr{typ: typeJSONEOF, msg: what, off: len(src)}
		}
		c := src[i]
		switch {
		case c == '"':
			return i + 1, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(src) {
				return 0, false, &jsonErr{typ: typeJSONEOF, msg: "Unexpected end-of-input in character escape sequence", off: len(src)}
			}
			e := src[i+1]
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(src) {
					return 0, false, &jsonErr{typ: typeJSONEOF, msg: "Unexpected end-of-input in character escape sequence", off: len(src)}
				}
				for k := i + 2; k < i+6; k++ {
					if !isHex(src[k]) {
						return 0, false, &jsonErr{typ: typeJSONParse, msg: "Unexpected character " + charDesc(src[k]) + ": expected a hex-digit for character escape sequence", off: k + 1}
					}
				}
				i += 6
			default:
				return 0, false, &jsonErr{typ: typeJSONParse, msg: "Unrecognized character escape " + escDesc(e), off: i + 2}
			}
		case c < 0x20:
			return 0, false, &jsonErr{typ: typeJSONParse, msg: "Illegal unquoted character (" + charDesc(c) + "): has to be escaped using backslash to be included in " + map[bool]string{true: "name", false: "string value"}[fieldName], off: i + 1}
		default:
			r, size := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && size <= 1 {
				return 0, false, &jsonErr{typ: typeJSONParse, msg: "Invalid UTF-8 start byte 0x" + strconv.FormatInt(int64(c), 16), off: i + 1}
			}
			i += size
		}
	}
}

func escDesc(c byte) string {
	if c < 0x20 || c >= 0x80 {
		return "(code " + strconv.Itoa(int(c)) + ")"
	}
	return "'" + string(rune(c)) + "' (code " + strconv.Itoa(int(c)) + ")"
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// unescape decodes the content of a scanned string (without quotes).
func unescape(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := rune(hexVal(raw[i+1 : i+5]))
			i += 4
			if r >= 0xD800 && r < 0xDC00 && i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				r2 := rune(hexVal(raw[i+3 : i+7]))
				if r2 >= 0xDC00 && r2 < 0xE000 {
					r = (r-0xD800)<<10 + (r2 - 0xDC00) + 0x10000
					i += 6
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			out = append(out, raw[i])
		}
	}
	return string(out)
}

func hexVal(b []byte) int {
	v := 0
	for _, c := range b {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= int(c - '0')
		case c >= 'a' && c <= 'f':
			v |= int(c-'a') + 10
		case c >= 'A' && c <= 'F':
			v |= int(c-'A') + 10
		}
	}
	return v
}

// scanNumber scans a JSON number at src[pos] ('-' or digit).
func scanNumber(src []byte, pos int) (int, bool, *jsonErr) {
	i := pos
	if src[i] == '-' {
		i++
		if i >= len(src) {
			return 0, false, &jsonErr{typ: typeJSONEOF, msg: "Unexpected end-of-input in a Number value", off: i}
		}
		if src[i] < '0' || src[i] > '9' {
			return 0, false, &jsonErr{typ: typeJSONParse, msg: "Unexpected character " + charDesc(src[i]) + " in numeric value: expected digit (0-9) to follow minus sign, for valid numeric value", off: i + 1}
		}
	}
	if src[i] == '0' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9' {
		return 0, false, &jsonErr{typ: typeJSONParse, msg: "Invalid numeric value: Leading zeroes not allowed", off: i + 2}
	}
	for i < len(src) && src[i] >= '0' && src[i] <= '9' {
		i++
	}
	float := false
	if i < len(src) && src[i] == '.' {
		float = true
		i++
		if i >= len(src) {
			return 0, false, &jsonErr{typ: typeJSONEOF, msg: "Unexpected end-of-input in a Number value", off: i}
		}
		if src[i] < '0' || src[i] > '9' {
			return 0, false, &jsonErr{typ: typeJSONParse, msg: "Unexpected character " + charDesc(src[i]) + " in numeric value: Decimal point not followed by a digit", off: i + 1}
		}
		for i < len(src) && src[i] >= '0' && src[i] <= '9' {
			i++
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		float = true
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if i >= len(src) {
			return 0, false, &jsonErr{typ: typeJSONEOF, msg: "Unexpected end-of-input in a Number value", off: i}
		}
		if src[i] < '0' || src[i] > '9' {
			return 0, false, &jsonErr{typ: typeJSONParse, msg: "Unexpected character " + charDesc(src[i]) + " in numeric value: Exponent indicator not followed by a digit", off: i + 1}
		}
		for i < len(src) && src[i] >= '0' && src[i] <= '9' {
			i++
		}
	}
	if i < len(src) {
		c := src[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' {
			return 0, false, &jsonErr{typ: typeJSONParse, msg: "Unexpected character " + charDesc(c) + " in numeric value: expected digit (0-9) or '.' or 'e'/'E'", off: i + 1}
		}
	}
	return i, float, nil
}

// scanLiteral matches true/false/null at pos.
func scanLiteral(src []byte, pos int) (int, byte, *jsonErr) {
	var lit string
	switch src[pos] {
	case 't':
		lit = "true"
	case 'f':
		lit = "false"
	case 'n':
		lit = "null"
	default:
		return 0, 0, unrecognizedToken(src, pos)
	}
	if len(src)-pos < len(lit) || string(src[pos:pos+len(lit)]) != lit {
		return 0, 0, unrecognizedToken(src, pos)
	}
	end := pos + len(lit)
	if end < len(src) {
		c := src[end]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' {
			return 0, 0, unrecognizedToken(src, pos)
		}
	}
	return end, src[pos], nil
}

// jsonParser builds values from bytes.
type jsonParser struct {
	src   []byte
	pos   int
	depth int
}

// parseJSON parses one JSON value and requires nothing but whitespace after it.
func parseJSON(src []byte) (any, *jsonErr) {
	p := jsonParser{src: src}
	p.pos = skipWS(src, 0)
	if p.pos >= len(src) {
		return nil, &jsonErr{typ: typeJSONEOF, msg: "Unexpected end-of-input: expected a value", off: len(src)}
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.pos = skipWS(src, p.pos)
	if p.pos < len(src) {
		return nil, trailingErr(src, p.pos)
	}
	return v, nil
}

// trailingErr reports content after the root value the way DocumentParser.validateEnd
// does: Jackson's own error for garbage, else "found extra data after parsing: TOKEN".
func trailingErr(src []byte, pos int) *jsonErr {
	tok := ""
	switch c := src[pos]; {
	case c == '{':
		tok = "START_OBJECT"
	case c == '[':
		tok = "START_ARRAY"
	case c == '"':
		if _, _, err := scanString(src, pos, false); err != nil {
			return err
		}
		tok = "VALUE_STRING"
	case c == '-' || (c >= '0' && c <= '9'):
		if _, _, err := scanNumber(src, pos); err != nil {
			return err
		}
		tok = "VALUE_NUMBER"
	case c == 't' || c == 'f' || c == 'n':
		_, l, err := scanLiteral(src, pos)
		if err != nil {
			return err
		}
		tok = "VALUE_BOOLEAN"
		if l == 'n' {
			tok = "VALUE_NULL"
		}
	case c == '}' || c == ']' || c == ',' || c == ':':
		return unexpectedChar(src, pos, "expected a valid value "+validValueList)
	default:
		return unrecognizedToken(src, pos)
	}
	return &jsonErr{typ: typeIllegalArgument, msg: "Malformed content, found extra data after parsing: " + tok, off: -1}
}

func (p *jsonParser) value() (any, *jsonErr) {
	src := p.src
	if p.pos >= len(src) {
		return nil, &jsonErr{typ: typeJSONEOF, msg: "Unexpected end-of-input: expected a value", off: len(src)}
	}
	switch c := src[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		end, _, err := scanString(src, p.pos, false)
		if err != nil {
			return nil, err
		}
		s := unescape(src[p.pos+1 : end-1])
		p.pos = end
		return s, nil
	case c == '-' || (c >= '0' && c <= '9'):
		end, fl, err := scanNumber(src, p.pos)
		if err != nil {
			return nil, err
		}
		n := jsonNum{raw: string(src[p.pos:end]), float: fl}
		p.pos = end
		return n, nil
	case c == 't' || c == 'f' || c == 'n':
		end, l, err := scanLiteral(src, p.pos)
		if err != nil {
			return nil, err
		}
		p.pos = end
		switch l {
		case 't':
			return true, nil
		case 'f':
			return false, nil
		}
		return nil, nil
	case c == ']' || c == '}' || c == ',' || c == ':':
		return nil, unexpectedChar(src, p.pos, "expected a valid value "+validValueList)
	default:
		return nil, unrecognizedToken(src, p.pos)
	}
}

func (p *jsonParser) enter() *jsonErr {
	p.depth++
	if p.depth > maxJSONDepth {
		return &jsonErr{typ: typeStreamConstraints, msg: "Document nesting depth (" + strconv.Itoa(p.depth) + ") exceeds the maximum allowed (1000, from `StreamReadConstraints.getMaxNestingDepth()`)", off: p.pos + 1}
	}
	return nil
}

func (p *jsonParser) object() (any, *jsonErr) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	src := p.src
	start := p.pos
	p.pos++
	o := &jsonObj{}
	p.pos = skipWS(src, p.pos)
	if p.pos < len(src) && src[p.pos] == '}' {
		p.pos++
		p.depth--
		return o, nil
	}
	for {
		if p.pos >= len(src) {
			return nil, eofInObject(src, start)
		}
		if src[p.pos] != '"' {
			return nil, unexpectedChar(src, p.pos, "was expecting double-quote to start field name")
		}
		koff := p.pos
		end, _, err := scanString(src, p.pos, true)
		if err != nil {
			return nil, err
		}
		k := unescape(src[p.pos+1 : end-1])
		p.pos = skipWS(src, end)
		if p.pos >= len(src) {
			return nil, eofInObject(src, start)
		}
		if src[p.pos] != ':' {
			return nil, unexpectedChar(src, p.pos, "was expecting a colon to separate field name and value")
		}
		p.pos = skipWS(src, p.pos+1)
		if p.pos >= len(src) {
			return nil, eofInObject(src, start)
		}
		for i := range o.m {
			if o.m[i].k == k {
				return nil, &jsonErr{typ: typeJSONParse, msg: "Duplicate field '" + k + "'", off: end}
			}
		}
		voff := p.pos
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		o.m = append(o.m, jsonMember{k: k, v: v, koff: koff, voff: voff})
		p.pos = skipWS(src, p.pos)
		if p.pos >= len(src) {
			return nil, eofInObject(src, start)
		}
		switch src[p.pos] {
		case ',':
			p.pos = skipWS(src, p.pos+1)
		case '}':
			p.pos++
			p.depth--
			return o, nil
		default:
			return nil, unexpectedChar(src, p.pos, "was expecting comma to separate Object entries")
		}
	}
}

func eofInObject(src []byte, start int) *jsonErr {
	l, c := lineCol(src, start)
	return &jsonErr{typ: typeJSONEOF, msg: "Unexpected end-of-input: expected close marker for Object (start marker at [Source: (byte[])\"" + truncDesc(src) + "; line: " + strconv.Itoa(l) + ", column: " + strconv.Itoa(c) + "])", off: len(src)}
}

func eofInArray(src []byte, start int) *jsonErr {
	l, c := lineCol(src, start)
	return &jsonErr{typ: typeJSONEOF, msg: "Unexpected end-of-input: expected close marker for Array (start marker at [Source: (byte[])\"" + truncDesc(src) + "; line: " + strconv.Itoa(l) + ", column: " + strconv.Itoa(c) + "])", off: len(src)}
}

func truncDesc(src []byte) string {
	if len(src) > 500 {
		return string(src[:500]) + `"[truncated ` + strconv.Itoa(len(src)-500) + ` bytes]`
	}
	return string(src) + `"`
}

func (p *jsonParser) array() (any, *jsonErr) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	src := p.src
	start := p.pos
	p.pos = skipWS(src, p.pos+1)
	arr := []any{}
	if p.pos < len(src) && src[p.pos] == ']' {
		p.pos++
		p.depth--
		return arr, nil
	}
	for {
		if p.pos >= len(src) {
			return nil, eofInArray(src, start)
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		p.pos = skipWS(src, p.pos)
		if p.pos >= len(src) {
			return nil, eofInArray(src, start)
		}
		switch src[p.pos] {
		case ',':
			p.pos = skipWS(src, p.pos+1)
		case ']':
			p.pos++
			p.depth--
			return arr, nil
		default:
			return nil, unexpectedChar(src, p.pos, "was expecting comma to separate Array entries")
		}
	}
}

// ---- encoding ----

// appendJSONString appends s as a JSON string with Jackson's escaping: quotes, backslash
// and control characters only (short forms for \b \t \n \f \r, \u00XX otherwise).
// Invalid UTF-8 becomes U+FFFD so that the output is always valid JSON.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x80 {
			i++
			continue
		}
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, "\ufffd"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			const hex = "0123456789ABCDEF"
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendCanonical re-encodes a value the way the server re-serialises a parsed source map.
func appendCanonical(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		if x {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case string:
		return appendJSONString(b, x)
	case jsonNum:
		return append(b, canonicalNumber(x)...)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonical(b, e)
		}
		return append(b, ']')
	case *jsonObj:
		b = append(b, '{')
		for i, m := range x.m {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, m.k)
			b = append(b, ':')
			b = appendCanonical(b, m.v)
		}
		return append(b, '}')
	case rawJSON:
		return append(b, x...)
	}
	return append(b, "null"...)
}

// rawJSON is pre-encoded JSON embedded in a value tree.
type rawJSON []byte

// canonicalNumber renders a number literal as Jackson writes the Java value it parses to:
// integers as their decimal value, fractions as Double.toString.
func canonicalNumber(n jsonNum) string {
	if !n.float {
		if n.raw == "-0" {
			return "0"
		}
		return n.raw
	}
	f, err := strconv.ParseFloat(n.raw, 64)
	if err != nil && !math.IsInf(f, 0) {
		return n.raw
	}
	return javaDouble(f)
}

// javaDouble formats like Java's Double.toString (shortest digits that round-trip).
func javaDouble(f float64) string { return javaFloatFormat(f, 64) }

// javaFloat formats like Java's Float.toString.
func javaFloat(f float32) string { return javaFloatFormat(float64(f), 32) }

func javaFloatFormat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	s := strconv.FormatFloat(f, 'e', -1, bits) // d.ddddde±XX
	neg := false
	if s[0] == '-' {
		neg = true
		s = s[1:]
	}
	epos := strings.IndexByte(s, 'e')
	mant := s[:epos]
	exp, _ := strconv.Atoi(s[epos+1:])
	digits := strings.Replace(mant, ".", "", 1)
	var out string
	abs := math.Abs(f)
	if abs >= 1e-3 && abs < 1e7 {
		// plain notation
		if exp >= 0 {
			if len(digits) <= exp+1 {
				out = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
			} else {
				out = digits[:exp+1] + "." + digits[exp+1:]
			}
		} else {
			out = "0." + strings.Repeat("0", -exp-1) + digits
		}
	} else {
		frac := digits[1:]
		if frac == "" {
			frac = "0"
		}
		out = digits[:1] + "." + frac + "E" + strconv.Itoa(exp)
	}
	if neg {
		return "-" + out
	}
	return out
}

// appendPretty re-indents compact JSON the way the server does for ?pretty (Jackson's
// DefaultPrettyPrinter with two-space indentation on objects and arrays).
func appendPretty(dst, src []byte) []byte {
	v, err := parseJSON(src)
	if err != nil {
		return append(dst, src...)
	}
	dst = prettyValue(dst, v, 0)
	return append(dst, '\n')
}

func prettyValue(b []byte, v any, depth int) []byte {
	indent := func(b []byte, d int) []byte {
		b = append(b, '\n')
		for i := 0; i < d; i++ {
			b = append(b, ' ', ' ')
		}
		return b
	}
	switch x := v.(type) {
	case *jsonObj:
		if len(x.m) == 0 {
			return append(b, "{ }"...)
		}
		b = append(b, '{')
		for i, m := range x.m {
			if i > 0 {
				b = append(b, ',')
			}
			b = indent(b, depth+1)
			b = appendJSONString(b, m.k)
			b = append(b, " : "...)
			b = prettyValue(b, m.v, depth+1)
		}
		b = indent(b, depth)
		return append(b, '}')
	case []any:
		if len(x) == 0 {
			return append(b, "[ ]"...)
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = indent(b, depth+1)
			b = prettyValue(b, e, depth+1)
		}
		b = indent(b, depth)
		return append(b, ']')
	case jsonNum:
		return append(b, x.raw...)
	}
	return appendCanonical(b, v)
}

// javaToString renders a parsed value like Java's toString of the map/list/scalar the
// server builds (used in "Preview of field's value").
func javaToString(v any) string {
	var sb strings.Builder
	javaToStringInto(&sb, v)
	return sb.String()
}

func javaToStringInto(sb *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		sb.WriteString("null")
	case bool:
		sb.WriteString(strconv.FormatBool(x))
	case string:
		sb.WriteString(x)
	case jsonNum:
		sb.WriteString(canonicalNumber(x))
	case []any:
		sb.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				sb.WriteString(", ")
			}
			javaToStringInto(sb, e)
		}
		sb.WriteByte(']')
	case *jsonObj:
		sb.WriteByte('{')
		for i, m := range x.m {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(m.k)
			sb.WriteByte('=')
			javaToStringInto(sb, m.v)
		}
		sb.WriteByte('}')
	}
}

// jsonEqual compares two values the way Java's equals compares the parsed objects:
// maps ignore key order, numbers compare within their Java class (int/long vs double).
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case jsonNum:
		y, ok := b.(jsonNum)
		if !ok || x.float != y.float {
			return false
		}
		if x.float {
			return x.float64() == y.float64()
		}
		return canonicalNumber(x) == canonicalNumber(y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case *jsonObj:
		y, ok := b.(*jsonObj)
		if !ok || len(x.m) != len(y.m) {
			return false
		}
		for _, m := range x.m {
			yv, ok := y.get(m.k)
			if !ok || !jsonEqual(m.v, yv) {
				return false
			}
		}
		return true
	}
	return false
}

// deepCopy copies objects and arrays so that merges never alias stored values.
func deepCopy(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	case *jsonObj:
		out := &jsonObj{m: make([]jsonMember, len(x.m))}
		for i, m := range x.m {
			out.m[i] = jsonMember{k: m.k, v: deepCopy(m.v)}
		}
		return out
	}
	return v
}
