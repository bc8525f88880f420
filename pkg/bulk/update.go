package bulk

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
)

// UpdatePayload is a parsed update payload (bulk second line or _update body). Raw fields
// alias the input.
type UpdatePayload struct {
	Doc, Upsert, Script, Source  []byte // raw JSON, nil if absent
	DocAsUpsert, ScriptedUpsert  bool
	DetectNoop                   bool // default true
	IfSeqNo, IfPrimaryTerm       int64
	HasIfSeqNo, HasIfPrimaryTerm bool
}

type updateField uint8

const (
	ufUnknown updateField = iota
	ufDoc
	ufUpsert
	ufDocAsUpsert
	ufDetectNoop
	ufScript
	ufScriptedUpsert
	ufSource
	ufIfSeqNo
	ufIfPrimaryTerm
)

// updateFieldNames are UpdateRequest's declared fields, the candidates of "did you mean".
var updateFieldNames = []string{"script", "scripted_upsert", "upsert", "doc", "doc_as_upsert", "detect_noop", "_source", "if_seq_no", "if_primary_term"}

var scriptFieldNames = []string{"source", "id", "lang", "options", "params"}

func lookupUpdateField(name []byte) updateField {
	switch string(name) {
	case "doc":
		return ufDoc
	case "upsert":
		return ufUpsert
	case "doc_as_upsert":
		return ufDocAsUpsert
	case "detect_noop":
		return ufDetectNoop
	case "script":
		return ufScript
	case "scripted_upsert":
		return ufScriptedUpsert
	case "_source":
		return ufSource
	case "if_seq_no":
		return ufIfSeqNo
	case "if_primary_term":
		return ufIfPrimaryTerm
	}
	return ufUnknown
}

// supports mirrors ObjectParser.ValueType of each declared field.
func (f updateField) supports(t tok) bool {
	switch f {
	case ufDoc, ufUpsert:
		return t == tokStartObject
	case ufScript:
		return t == tokStartObject || t == tokString
	case ufSource:
		return t == tokStartObject || t == tokStartArray || t == tokString || t == tokTrue || t == tokFalse
	case ufIfSeqNo, ufIfPrimaryTerm:
		return t == tokNumber || t == tokString
	default: // booleans
		return t == tokTrue || t == tokFalse || t == tokString
	}
}

// ParseUpdatePayload parses an update payload (bulk second line or _update body) with the
// server's rules (UpdateRequest's ObjectParser): recognised fields doc, upsert,
// doc_as_upsert, detect_noop, script, scripted_upsert, _source, if_seq_no,
// if_primary_term. The error is an *Error as the server reports it, for example
//
//   - unknown field: 400 x_content_parse_exception
//     "[1:2] [UpdateRequest] unknown field [dac] did you mean [doc]?"
//     (OpenSearch prefixes these reasons with the [line:column] of the token);
//   - malformed JSON between fields: 400 json_parse_exception (json_e_o_f_exception
//     when truncated);
//   - a bad value: 400 x_content_parse_exception
//     "[L:C] [UpdateRequest] failed to parse field [doc]" with the JSON or conversion
//     error in CausedBy, or "[L:C] [UpdateRequest] doc doesn't support values of type: VALUE_STRING".
//
// Everything up to the payload's closing brace is validated (duplicate keys included, as
// the server copies doc and upsert token by token); like the server, bytes after it are
// ignored. Whether the combination of fields is valid ("script or doc is missing", ...) is
// request validation, left to the caller.
func ParseUpdatePayload(b []byte) (*UpdatePayload, error) {
	p, err := parseUpdatePayload(b)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func parseUpdatePayload(b []byte) (*UpdatePayload, *Error) {
	p := &UpdatePayload{DetectNoop: true}
	var l lexer
	l.reset(b)
	t := l.next()
	if t == tokErr {
		return nil, l.err
	}
	if t != tokStartObject {
		at := l.start
		if t == tokEOF {
			at = len(b)
		}
		return nil, xcontentError(&l, at, "[UpdateRequest] Expected START_OBJECT but was: "+t.String(), nil)
	}
	var name []byte
	var namePos int
	var field updateField
	for {
		t = l.next()
		switch t {
		case tokErr:
			return nil, l.err
		case tokEndObject:
			return p, nil
		case tokFieldName:
			name, namePos = l.name, l.nameStart
			field = lookupUpdateField(name)
			continue
		}
		if field == ufUnknown {
			return nil, xcontentError(&l, namePos, "[UpdateRequest] unknown field ["+string(name)+"]"+didYouMean(string(name), updateFieldNames), nil)
		}
		if !field.supports(t) {
			return nil, xcontentError(&l, l.start, "[UpdateRequest] "+string(name)+" doesn't support values of type: "+t.String(), nil)
		}
		if cause := p.setField(&l, field); cause != nil {
			return nil, xcontentError(&l, l.start, "[UpdateRequest] failed to parse field ["+string(name)+"]", cause)
		}
	}
}

// setField parses one declared field's value, the lexer being on its first token.
func (p *UpdatePayload) setField(l *lexer, f updateField) *Error {
	var err *Error
	switch f {
	case ufDoc:
		p.Doc, err = rawContainer(l)
	case ufUpsert:
		p.Upsert, err = rawContainer(l)
	case ufScript:
		p.Script, err = parseScript(l)
	case ufSource:
		p.Source, err = parseUpdateSource(l)
	case ufDocAsUpsert:
		p.DocAsUpsert, err = l.boolValue()
	case ufDetectNoop:
		p.DetectNoop, err = l.boolValue()
	case ufScriptedUpsert:
		p.ScriptedUpsert, err = l.boolValue()
	case ufIfSeqNo:
		p.IfSeqNo, err = l.longValue()
		p.HasIfSeqNo = err == nil
	case ufIfPrimaryTerm:
		p.IfPrimaryTerm, err = l.longValue()
		p.HasIfPrimaryTerm = err == nil
	}
	return err
}

// rawContainer validates the object or array the lexer is on and returns its bytes.
func rawContainer(l *lexer) ([]byte, *Error) {
	start, comments := l.start, l.comments
	if !l.skipChildren() {
		return nil, l.err
	}
	return l.rawSince(start, comments), nil
}

// rawSince returns l.b[start:l.pos], without the comments Jackson let through (which the
// server drops when it copies the value) if any were skipped since the count was taken.
func (l *lexer) rawSince(start, comments int) []byte {
	if l.comments != comments {
		return stripComments(l.b[start:l.pos])
	}
	return l.b[start:l.pos]
}

// rawValue returns the bytes of the scalar or container the lexer is on, validated.
func rawValue(l *lexer) ([]byte, *Error) {
	switch l.tok {
	case tokStartObject, tokStartArray:
		return rawContainer(l)
	case tokString:
		if l.pending && !l.finishString() {
			return nil, l.err
		}
	}
	return l.raw(), nil
}

// parseScript checks a script the way Script.parse does, less what only matters when a
// script runs: a string is an inline script; an object takes source, id, lang, options
// and params and needs source or id.
func parseScript(l *lexer) ([]byte, *Error) {
	start, comments := l.start, l.comments
	if l.tok == tokString {
		return rawValue(l)
	}
	var name []byte
	var namePos int
	hasCode, stored, hasLang, hasOptions := false, false, false, false
	var options []string // key=value of the options besides content_type, in order
	for {
		t := l.next()
		switch t {
		case tokErr:
			return nil, l.err
		case tokEndObject:
			if !hasCode {
				return nil, badRequest(typeIllegalArgument, "must specify either [source] for an inline script or [id] for a stored script")
			}
			// Script.Builder.build
			switch {
			case stored && hasLang:
				return nil, badRequest(typeIllegalArgument, "illegally specified <lang> for a stored script")
			case stored && hasOptions:
				return nil, badRequest(typeIllegalArgument, "field [options] cannot be specified using a stored script")
			case !stored && len(options) > 0:
				return nil, badRequest(typeIllegalArgument, "illegal compiler options ["+javaHashMapString(options)+"] specified")
			}
			return l.rawSince(start, comments), nil
		case tokFieldName:
			name, namePos = l.name, l.nameStart
			continue
		}
		var ok bool
		switch string(name) {
		case "source":
			ok, hasCode = t == tokStartObject || t == tokString, true
		case "id":
			ok, hasCode, stored = t == tokString, true, true
		case "lang":
			ok, hasLang = t == tokString, true
		case "options":
			ok, hasOptions = t == tokStartObject, true
			if ok {
				opts, err := scriptOptions(l)
				if err != nil {
					return nil, xcontentError(l, l.start, "[script] failed to parse field ["+string(name)+"]", err)
				}
				options = append(options, opts...)
				continue
			}
		case "params":
			ok = t == tokStartObject
		default:
			return nil, xcontentError(l, namePos, "[script] unknown field ["+string(name)+"]"+didYouMean(string(name), scriptFieldNames), nil)
		}
		if !ok {
			return nil, xcontentError(l, l.start, "[script] "+string(name)+" doesn't support values of type: "+t.String(), nil)
		}
		if _, err := rawValue(l); err != nil {
			return nil, xcontentError(l, l.start, "[script] failed to parse field ["+string(name)+"]", err)
		}
	}
}

// scriptOptions reads the options object the lexer is on (XContentParser.mapStrings)
// and returns its members other than content_type as key=value.
func scriptOptions(l *lexer) ([]string, *Error) {
	var out []string
	var key string
	for {
		t := l.next()
		switch {
		case t == tokErr:
			return nil, l.err
		case t == tokEndObject:
			return out, nil
		case t == tokFieldName:
			key = string(l.name)
		case t.isValue():
			v, ok := l.text()
			if !ok {
				return nil, l.err
			}
			if key != "content_type" {
				out = append(out, key+"="+string(v))
			}
		default:
			if !l.skipChildren() {
				return nil, l.err
			}
			if key != "content_type" {
				out = append(out, key+"=")
			}
		}
	}
}

// javaHashMapString renders key=value pairs as a java.util.HashMap of them prints: in
// the order of the keys' hash buckets (a small map has 16), insertion order within one.
func javaHashMapString(kvs []string) string {
	type kv struct {
		bucket int
		s      string
	}
	items := make([]kv, len(kvs))
	for i, s := range kvs {
		k := s
		if j := strings.IndexByte(s, '='); j >= 0 {
			k = s[:j]
		}
		var h int32
		for _, u := range utf16.Encode([]rune(k)) {
			h = 31*h + int32(u)
		}
		items[i] = kv{int((h ^ int32(uint32(h)>>16)) & 15), s}
	}
	slices.SortStableFunc(items, func(a, b kv) int { return a.bucket - b.bucket })
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = it.s
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// parseUpdateSource is OpenSearch 2.x FetchSourceContext.fromXContent in an update body,
// where (unlike in an action line) a top-level array of patterns is allowed.
func parseUpdateSource(l *lexer) ([]byte, *Error) {
	start, comments := l.start, l.comments
	switch l.tok {
	case tokStartObject:
		if err := parseSourceObject(l); err != nil {
			return nil, err
		}
		return l.rawSince(start, comments), nil
	case tokStartArray:
		for {
			t := l.next()
			switch {
			case t == tokErr:
				return nil, l.err
			case t == tokEndArray:
				return l.rawSince(start, comments), nil
			case t.isValue(): // list.add(parser.text())
				if _, ok := l.text(); !ok {
					return nil, l.err
				}
			default:
				line, col := l.lineCol(l.start)
				return nil, badRequest(typeIllegalState, "Can't get text on a "+t.String()+" at "+strconv.Itoa(line)+":"+strconv.Itoa(col))
			}
		}
	}
	return rawValue(l)
}

// xcontentError builds an XContentParseException, whose message OpenSearch prefixes with
// the [line:column] of the token it concerns.
func xcontentError(l *lexer, at int, msg string, cause *Error) *Error {
	return &Error{Status: 400, Type: typeXContentParse, Reason: l.xloc(at) + " " + msg, CausedBy: cause}
}

// didYouMean renders the suggestion ObjectParser appends to an unknown field: candidates
// whose Lucene Levenshtein similarity exceeds 0.5, best first, then by name.
func didYouMean(field string, candidates []string) string {
	type scored struct {
		d    float32
		name string
	}
	var hits []scored
	for _, c := range candidates {
		if d := levenshteinSimilarity(field, c); d > 0.5 {
			hits = append(hits, scored{d, c})
		}
	}
	if len(hits) == 0 {
		return ""
	}
	slices.SortFunc(hits, func(a, b scored) int {
		switch {
		case a.d > b.d:
			return -1
		case a.d < b.d:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	if len(hits) == 1 {
		return " did you mean [" + hits[0].name + "]?"
	}
	names := make([]string, len(hits))
	for i, h := range hits {
		names[i] = h.name
	}
	return " did you mean any of [" + strings.Join(names, ", ") + "]?"
}

// levenshteinSimilarity is Lucene's LevenshteinDistance.getDistance: 1 - d/max(len).
func levenshteinSimilarity(a, b string) float32 {
	ra, rb := []rune(a), []rune(b)
	n, m := len(ra), len(rb)
	if n == 0 || m == 0 {
		if n == m {
			return 1
		}
		return 0
	}
	prev := make([]int, n+1)
	cur := make([]int, n+1)
	for i := range prev {
		prev[i] = i
	}
	for j := 1; j <= m; j++ {
		cur[0] = j
		for i := 1; i <= n; i++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[i] = min(cur[i-1]+1, prev[i]+1, prev[i-1]+cost)
		}
		prev, cur = cur, prev
	}
	return 1 - float32(prev[n])/float32(max(n, m))
}
