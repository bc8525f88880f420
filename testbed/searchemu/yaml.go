package searchemu

import (
	"errors"
	"strconv"
	"strings"
)

// The server accepts YAML request bodies (XContentType.YAML). The emulator converts the
// common subset — block mappings and sequences, flow collections, plain and quoted
// scalars, comments — to JSON before handling the request; anchors, tags, multi-line
// scalars and multiple documents are not supported and answer 400.

type yamlLine struct {
	indent int
	text   string
	no     int
}

// yamlToJSON converts a YAML document to compact JSON.
func yamlToJSON(src []byte) ([]byte, error) {
	var lines []yamlLine
	for i, raw := range strings.Split(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n") {
		t := stripYAMLComment(raw)
		if strings.TrimSpace(t) == "" || strings.TrimSpace(t) == "---" {
			continue
		}
		if strings.Contains(t, "\t") && strings.TrimLeft(t, " \t") != strings.TrimLeft(t, " ") {
			return nil, errors.New("tabs are not allowed for indentation (line " + strconv.Itoa(i+1) + ")")
		}
		trimmed := strings.TrimLeft(t, " ")
		lines = append(lines, yamlLine{indent: len(t) - len(trimmed), text: strings.TrimRight(trimmed, " "), no: i + 1})
	}
	if len(lines) == 0 {
		return []byte("null"), nil
	}
	p := &yamlParser{lines: lines}
	v, err := p.block(lines[0].indent)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.lines) {
		return nil, errors.New("unexpected content at line " + strconv.Itoa(p.lines[p.pos].no))
	}
	return appendCanonicalRaw(nil, v), nil
}

func stripYAMLComment(s string) string {
	inS, inD := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'' && !inD:
			inS = !inS
		case c == '"' && !inS:
			inD = !inD
		case c == '#' && !inS && !inD && (i == 0 || s[i-1] == ' '):
			return s[:i]
		}
	}
	return s
}

type yamlParser struct {
	lines []yamlLine
	pos   int
}

func (p *yamlParser) block(indent int) (any, error) {
	if p.pos >= len(p.lines) {
		return nil, nil
	}
	l := p.lines[p.pos]
	if strings.HasPrefix(l.text, "- ") || l.text == "-" {
		return p.sequence(indent)
	}
	if _, _, ok := splitYAMLKey(l.text); ok {
		return p.mapping(indent)
	}
	p.pos++
	return yamlScalar(l.text)
}

func (p *yamlParser) sequence(indent int) (any, error) {
	out := []any{}
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent != indent || !(strings.HasPrefix(l.text, "- ") || l.text == "-") {
			if l.indent > indent {
				return nil, errors.New("bad indentation at line " + strconv.Itoa(l.no))
			}
			break
		}
		rest := strings.TrimLeft(strings.TrimPrefix(l.text, "-"), " ")
		if rest == "" {
			p.pos++
			if p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
				v, err := p.block(p.lines[p.pos].indent)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			} else {
				out = append(out, nil)
			}
			continue
		}
		if _, _, ok := splitYAMLKey(rest); ok && !strings.HasPrefix(rest, "{") && !strings.HasPrefix(rest, "[") {
			// "- key: value" starts a mapping indented at the item's content
			inner := indent + (len(l.text) - len(rest))
			p.lines[p.pos] = yamlLine{indent: inner, text: rest, no: l.no}
			v, err := p.mapping(inner)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			continue
		}
		p.pos++
		v, err := yamlScalar(rest)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (p *yamlParser) mapping(indent int) (any, error) {
	out := &jsonObj{}
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return nil, errors.New("bad indentation at line " + strconv.Itoa(l.no))
		}
		k, rest, ok := splitYAMLKey(l.text)
		if !ok {
			return nil, errors.New("expected a mapping key at line " + strconv.Itoa(l.no))
		}
		key, err := yamlKey(k)
		if err != nil {
			return nil, err
		}
		if _, dup := out.get(key); dup {
			return nil, errors.New("duplicate field '" + key + "'")
		}
		p.pos++
		var v any
		if rest == "" {
			if p.pos < len(p.lines) && (p.lines[p.pos].indent > indent || (p.lines[p.pos].indent == indent && strings.HasPrefix(p.lines[p.pos].text, "- "))) {
				v, err = p.block(p.lines[p.pos].indent)
				if err != nil {
					return nil, err
				}
			}
		} else {
			if v, err = yamlScalar(rest); err != nil {
				return nil, err
			}
		}
		out.m = append(out.m, jsonMember{k: key, v: v})
	}
	return out, nil
}

// splitYAMLKey splits "key: rest" (outside quotes and flow collections).
func splitYAMLKey(s string) (string, string, bool) {
	inS, inD, depth := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'' && !inD:
			inS = !inS
		case c == '"' && !inS:
			inD = !inD
		case (c == '[' || c == '{') && !inS && !inD:
			depth++
		case (c == ']' || c == '}') && !inS && !inD:
			depth--
		case c == ':' && !inS && !inD && depth == 0 && (i+1 == len(s) || s[i+1] == ' '):
			return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:]), true
		}
	}
	return "", "", false
}

func yamlKey(k string) (string, error) {
	v, err := yamlScalar(k)
	if err != nil {
		return "", err
	}
	if s, ok := scalarString(v); ok {
		return s, nil
	}
	if v == nil {
		return "null", nil
	}
	return "", errors.New("unsupported mapping key [" + k + "]")
}

func yamlScalar(s string) (any, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || s == "~" || s == "null" || s == "Null" || s == "NULL":
		return nil, nil
	case s == "true" || s == "True" || s == "TRUE":
		return true, nil
	case s == "false" || s == "False" || s == "FALSE":
		return false, nil
	case s[0] == '"':
		v, je := parseJSON([]byte(s))
		if je != nil {
			return nil, errors.New("bad double-quoted scalar " + s)
		}
		return v, nil
	case s[0] == '\'':
		if len(s) < 2 || s[len(s)-1] != '\'' {
			return nil, errors.New("bad single-quoted scalar " + s)
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	case s[0] == '[' || s[0] == '{':
		fp := &yamlFlow{s: s}
		v, err := fp.value()
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(fp.s[fp.i:]) != "" {
			return nil, errors.New("unexpected content after flow collection " + s)
		}
		return v, nil
	case s[0] == '&' || s[0] == '*' || s[0] == '!' || s[0] == '|' || s[0] == '>':
		return nil, errors.New("[searchemu] YAML anchors, tags and block scalars are not supported: " + s)
	}
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return jsonNum{raw: strings.TrimPrefix(s, "+")}, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "xXpP_") {
		return jsonNum{raw: javaDouble(f), float: true}, nil
	}
	return s, nil
}

// yamlFlow parses flow collections ([a, b], {k: v}) with plain or quoted scalars.
type yamlFlow struct {
	s string
	i int
}

func (f *yamlFlow) ws() {
	for f.i < len(f.s) && f.s[f.i] == ' ' {
		f.i++
	}
}

func (f *yamlFlow) value() (any, error) {
	f.ws()
	if f.i >= len(f.s) {
		return nil, errors.New("unexpected end of flow collection")
	}
	switch f.s[f.i] {
	case '[':
		f.i++
		out := []any{}
		for {
			f.ws()
			if f.i < len(f.s) && f.s[f.i] == ']' {
				f.i++
				return out, nil
			}
			v, err := f.value()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			f.ws()
			if f.i < len(f.s) && f.s[f.i] == ',' {
				f.i++
			}
		}
	case '{':
		f.i++
		out := &jsonObj{}
		for {
			f.ws()
			if f.i < len(f.s) && f.s[f.i] == '}' {
				f.i++
				return out, nil
			}
			kv, err := f.scalarToken(true)
			if err != nil {
				return nil, err
			}
			key, err := yamlKey(kv)
			if err != nil {
				return nil, err
			}
			f.ws()
			if f.i >= len(f.s) || f.s[f.i] != ':' {
				return nil, errors.New("expected ':' in flow mapping")
			}
			f.i++
			v, err := f.value()
			if err != nil {
				return nil, err
			}
			out.m = append(out.m, jsonMember{k: key, v: v})
			f.ws()
			if f.i < len(f.s) && f.s[f.i] == ',' {
				f.i++
			}
		}
	}
	tokn, err := f.scalarToken(false)
	if err != nil {
		return nil, err
	}
	return yamlScalar(tokn)
}

func (f *yamlFlow) scalarToken(key bool) (string, error) {
	start := f.i
	if f.i < len(f.s) && (f.s[f.i] == '"' || f.s[f.i] == '\'') {
		q := f.s[f.i]
		f.i++
		for f.i < len(f.s) {
			if f.s[f.i] == '\\' && q == '"' {
				f.i += 2
				continue
			}
			if f.s[f.i] == q {
				f.i++
				return f.s[start:f.i], nil
			}
			f.i++
		}
		return "", errors.New("unterminated quoted scalar")
	}
	for f.i < len(f.s) {
		c := f.s[f.i]
		if c == ',' || c == ']' || c == '}' || (key && c == ':') {
			break
		}
		f.i++
	}
	return strings.TrimSpace(f.s[start:f.i]), nil
}
