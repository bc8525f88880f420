package bulk

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// AppendMeta appends the action line for m, terminated by "\n": {"index":{...}} with only
// the keys that are set, in the canonical order _index, _type, _id, routing, op_type,
// version, version_type, if_seq_no, if_primary_term, retry_on_conflict, pipeline,
// require_alias, _source. A string key is set when non-empty (_id when HasID),
// RetryOnConflict when non-zero, the others by their Has flag; Source is written as is
// (compacted if it spans lines). m.Action must be valid: an invalid one is written by its
// String form, which the server rejects.
func AppendMeta(dst []byte, m *Meta) []byte {
	dst = append(dst, `{"`...)
	dst = append(dst, m.Action.String()...)
	dst = append(dst, `":{`...)
	n := len(dst)
	if m.Index != "" {
		dst = appendStringField(dst, n, "_index", m.Index)
	}
	if m.Type != "" {
		dst = appendStringField(dst, n, "_type", m.Type)
	}
	if m.HasID {
		dst = appendStringField(dst, n, "_id", m.ID)
	}
	if m.Routing != "" {
		dst = appendStringField(dst, n, "routing", m.Routing)
	}
	if m.OpType != "" {
		dst = appendStringField(dst, n, "op_type", m.OpType)
	}
	if m.HasVersion {
		dst = appendKey(dst, n, "version")
		dst = strconv.AppendInt(dst, m.Version, 10)
	}
	if m.VersionType != "" {
		dst = appendStringField(dst, n, "version_type", m.VersionType)
	}
	if m.HasIfSeqNo {
		dst = appendKey(dst, n, "if_seq_no")
		dst = strconv.AppendInt(dst, m.IfSeqNo, 10)
	}
	if m.HasIfPrimaryTerm {
		dst = appendKey(dst, n, "if_primary_term")
		dst = strconv.AppendInt(dst, m.IfPrimaryTerm, 10)
	}
	if m.RetryOnConflict != 0 {
		dst = appendKey(dst, n, "retry_on_conflict")
		dst = strconv.AppendInt(dst, int64(m.RetryOnConflict), 10)
	}
	if m.Pipeline != "" {
		dst = appendStringField(dst, n, "pipeline", m.Pipeline)
	}
	if m.HasRequireAlias {
		dst = appendKey(dst, n, "require_alias")
		dst = strconv.AppendBool(dst, m.RequireAlias)
	}
	if len(m.Source) > 0 {
		dst = appendKey(dst, n, "_source")
		dst = appendOneLine(dst, m.Source)
	}
	return append(dst, "}}\n"...)
}

// AppendItem appends the action line for m and, except for a delete, the payload line.
// The payload is written as is unless it would break the framing: a payload spanning
// several lines is compacted (or, if it is not valid JSON, its line breaks become spaces).
func AppendItem(dst []byte, m *Meta, payload []byte) []byte {
	dst = AppendMeta(dst, m)
	if m.Action == ActionDelete {
		return dst
	}
	dst = appendOneLine(dst, payload)
	return append(dst, '\n')
}

// appendOneLine appends JSON text b, making sure it holds no line break that would end
// the NDJSON line early (or a trailing '\r' the server would strip).
func appendOneLine(dst, b []byte) []byte {
	if bytes.IndexByte(b, '\n') < 0 && (len(b) == 0 || b[len(b)-1] != '\r') {
		return append(dst, b...)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err == nil {
		return append(dst, buf.Bytes()...)
	}
	for _, c := range b {
		if c == '\n' || c == '\r' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

// appendKey appends a field name, preceded by a comma unless the object (which started at
// dst[n]) is still empty.
func appendKey(dst []byte, n int, key string) []byte {
	if len(dst) > n {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

func appendStringField(dst []byte, n int, key, v string) []byte {
	return appendString(appendKey(dst, n, key), v)
}

// strSafe marks the bytes appendString copies unchanged.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as with
// encoding/json, so the output is always valid JSON.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if strSafe[c] {
			i++
			continue
		}
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"
