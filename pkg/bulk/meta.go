package bulk

import (
	"strconv"
)

type metaKey uint8

const (
	keyUnknown metaKey = iota
	keyIndex
	keyType
	keyID
	keyRouting
	keyOpType
	keyVersion
	keyVersionType
	keyIfSeqNo
	keyIfPrimaryTerm
	keyRetryOnConflict
	keyPipeline
	keySource
	keyRequireAlias
)

func lookupMetaKey(name []byte, legacy bool) metaKey {
	switch string(name) {
	case "_index":
		return keyIndex
	case "_id":
		return keyID
	case "routing":
		return keyRouting
	case "op_type":
		return keyOpType
	case "version":
		return keyVersion
	case "version_type":
		return keyVersionType
	case "if_seq_no":
		return keyIfSeqNo
	case "if_primary_term":
		return keyIfPrimaryTerm
	case "retry_on_conflict":
		return keyRetryOnConflict
	case "pipeline":
		return keyPipeline
	case "_source":
		return keySource
	case "require_alias":
		return keyRequireAlias
	case "_type":
		if legacy {
			return keyType
		}
	}
	return keyUnknown
}

func malformed(line int, msg string) *Error {
	return &Error{Status: 400, Type: typeIllegalArgument, Line: line,
		Reason: "Malformed action/metadata line [" + strconv.Itoa(line) + "], " + msg}
}

// parseAction parses one action line into s.item.Meta, in the order and with the checks
// of BulkRequestParser.parse. blank reports a line without tokens (skipped by the
// server). With the legacy parser an unknown action yields act 0.
func (s *Scanner) parseAction(line []byte, lineNo int) (act Action, blank bool, err *Error) {
	m := &s.item.Meta
	*m = Meta{}
	s.srcOff = -1
	s.npend = 0
	s.strBuf = s.strBuf[:0]
	l := &s.lex
	l.reset(line)
	defer func() {
		if err != nil && err.Line == 0 {
			err.Line = lineNo
		}
	}()

	t := l.next()
	switch t {
	case tokErr:
		return 0, false, l.err
	case tokEOF:
		return 0, true, nil
	case tokStartObject:
	default:
		return 0, false, malformed(lineNo, "expected START_OBJECT but found ["+t.String()+"]")
	}
	if t = l.next(); t == tokErr {
		return 0, false, l.err
	} else if t != tokFieldName {
		return 0, false, malformed(lineNo, "expected FIELD_NAME but found ["+t.String()+"]")
	}
	act, ok := parseActionBytes(l.name)
	if !ok && !s.opts.legacy {
		return 0, false, malformed(lineNo, "expected one of [create, delete, index, update] but found ["+string(l.name)+"]")
	}
	m.Action = act

	// Next comes the metadata object. (The server also takes END_OBJECT here, which Jackson
	// cannot produce right after a field name.) Like the server, nothing after the
	// metadata object is read: trailing bytes on the line, even a missing final '}' or
	// more actions, are ignored.
	switch t = l.next(); t {
	case tokErr:
		return 0, false, l.err
	case tokEndObject:
		return act, false, nil
	case tokStartObject:
	default:
		return 0, false, malformed(lineNo, "expected START_OBJECT or END_OBJECT but found ["+t.String()+"]")
	}
	var key metaKey
	var keyName []byte
	for {
		t = l.next()
		switch {
		case t == tokErr:
			return 0, false, l.err
		case t == tokEndObject:
			s.materialize()
			return act, false, nil
		case t == tokFieldName:
			keyName = l.name
			key = lookupMetaKey(keyName, s.opts.legacy)
		case t.isValue():
			if err := s.metaValue(key, keyName, lineNo); err != nil {
				return 0, false, err
			}
		case t == tokStartArray:
			return 0, false, malformed(lineNo, "expected a simple value for field ["+string(keyName)+"] but found [START_ARRAY]")
		case t == tokStartObject && key == keySource:
			start := l.start
			if err := parseSourceObject(l); err != nil {
				return 0, false, err
			}
			s.srcOff, s.srcLen = start, l.pos-start
		case t != tokNull:
			return 0, false, malformed(lineNo, "expected a simple value for field ["+string(keyName)+"] but found ["+t.String()+"]")
		}
		// null values are ignored, whatever the key
	}
}

// metaValue applies one scalar metadata value.
func (s *Scanner) metaValue(key metaKey, keyName []byte, lineNo int) *Error {
	l := &s.lex
	m := &s.item.Meta
	switch key {
	case keyIndex:
		return s.textField(slotIndex, &m.Index)
	case keyType:
		return s.textField(slotType, &m.Type)
	case keyID:
		m.HasID = true
		return s.textField(slotID, &m.ID)
	case keyRouting:
		return s.textField(slotRouting, &m.Routing)
	case keyPipeline:
		return s.textField(slotPipeline, &m.Pipeline)
	case keyOpType:
		return s.textField(slotOpType, &m.OpType)
	case keyVersionType:
		text, ok := l.text()
		if !ok {
			return l.err
		}
		switch string(text) { // VersionType.fromString
		case "internal", "external", "external_gt", "external_gte":
		default:
			return badRequest(typeIllegalArgument, "No version type match ["+string(text)+"]")
		}
		s.setString(slotVersionType, &m.VersionType, text)
	case keyVersion:
		v, err := l.longValue()
		if err != nil {
			return err
		}
		m.Version, m.HasVersion = v, true
	case keyIfSeqNo:
		v, err := l.longValue()
		if err != nil {
			return err
		}
		m.IfSeqNo, m.HasIfSeqNo = v, true
	case keyIfPrimaryTerm:
		v, err := l.longValue()
		if err != nil {
			return err
		}
		m.IfPrimaryTerm, m.HasIfPrimaryTerm = v, true
	case keyRetryOnConflict:
		v, err := l.intValue()
		if err != nil {
			return err
		}
		m.RetryOnConflict = v
	case keyRequireAlias:
		v, err := l.boolValue()
		if err != nil {
			return err
		}
		m.RequireAlias, m.HasRequireAlias = v, true
	case keySource:
		// FetchSourceContext.fromXContent on a scalar: a boolean, or one include pattern.
		switch l.tok {
		case tokString:
			if _, ok := l.text(); !ok {
				return l.err
			}
		case tokNumber:
			return badRequest(typeParsing, "Expected one of [VALUE_BOOLEAN, VALUE_STRING, START_ARRAY, START_OBJECT] but found [VALUE_NUMBER]")
		}
		s.srcOff, s.srcLen = l.start, l.end-l.start
	default:
		return &Error{Status: 400, Type: typeIllegalArgument, Line: lineNo,
			Reason: "Action/metadata line [" + strconv.Itoa(lineNo) + "] contains an unknown parameter [" + string(keyName) + "]"}
	}
	return nil
}

func (s *Scanner) textField(slot strSlot, dst *string) *Error {
	text, ok := s.lex.text()
	if !ok {
		return s.lex.err
	}
	s.setString(slot, dst, text)
	return nil
}

// setString assigns b to *dst without allocating when it equals the previous item's value
// of the same field or a well-known constant; otherwise it is queued for materialize.
func (s *Scanner) setString(slot strSlot, dst *string, b []byte) {
	if string(b) == s.prev[slot] {
		*dst = s.prev[slot]
		return
	}
	if c, ok := knownValue(slot, b); ok {
		*dst = c
		return
	}
	s.pend[s.npend] = pendingString{dst: dst, slot: slot, off: len(s.strBuf), n: len(b)}
	s.npend++
	s.strBuf = append(s.strBuf, b...)
}

func knownValue(slot strSlot, b []byte) (string, bool) {
	switch slot {
	case slotOpType:
		switch string(b) {
		case "create":
			return "create", true
		case "index":
			return "index", true
		}
	case slotVersionType:
		switch string(b) {
		case "internal":
			return "internal", true
		case "external":
			return "external", true
		case "external_gt":
			return "external_gt", true
		case "external_gte":
			return "external_gte", true
		}
	case slotType:
		if string(b) == "_doc" {
			return "_doc", true
		}
	}
	return "", false
}

// materialize converts the queued strings of the line with a single allocation.
func (s *Scanner) materialize() {
	if s.npend == 0 {
		return
	}
	all := string(s.strBuf)
	for i := range s.pend[:s.npend] {
		p := &s.pend[i]
		v := all[p.off : p.off+p.n]
		*p.dst = v
		s.prev[p.slot] = v
		p.dst = nil
	}
	s.npend = 0
	s.strBuf = s.strBuf[:0]
}

// parseSourceObject validates an object "_source" value the way OpenSearch 2.x's
// FetchSourceContext.fromXContent does; the lexer is on its START_OBJECT.
func parseSourceObject(l *lexer) *Error {
	var field []byte
	known := false
	for {
		t := l.next()
		switch t {
		case tokErr:
			return l.err
		case tokEndObject:
			return nil
		case tokFieldName:
			field = l.name
			switch string(field) {
			case "includes", "include", "excludes", "exclude":
				known = true
			default:
				known = false
			}
			continue
		case tokStartArray:
			if !known {
				break
			}
			for {
				t = l.next()
				if t == tokErr {
					return l.err
				}
				if t == tokEndArray {
					break
				}
				if t != tokString {
					return unknownSourceKey(t, field)
				}
				if _, ok := l.text(); !ok {
					return l.err
				}
			}
			continue
		case tokString:
			if !known {
				break
			}
			if _, ok := l.text(); !ok {
				return l.err
			}
			continue
		}
		return unknownSourceKey(t, field)
	}
}

func unknownSourceKey(t tok, field []byte) *Error {
	return badRequest(typeParsing, "Unknown key for a "+t.String()+" in ["+string(field)+"].")
}
