package proxy

import (
	"errors"
	"net/url"
	"strings"
)

// The proxy reads a request's parameters as the primary does, not as net/url does: the
// primary's RestUtils.decodeQueryString (server/.../rest/RestUtils.java) splits on '&'
// and ';', keeps the last value of a repeated key, decodes '+' as a space and "%%" as
// '%'. url.Values keeps the first value for Get and drops pairs with ';', so a request
// such as ?routing=a&routing=b would be replicated with the routing the primary did not
// apply.

// queryPair is one parameter of a query string: the raw segment and what it decodes to.
type queryPair struct {
	raw        string
	sep        byte // the separator before raw, 0 for the first segment
	key, value string
	named      bool // false for an empty segment or "=": no parameter
}

// splitQuery splits a raw query string into its segments, decoded as decodeQueryString
// does: a segment's name ends at its first '=' that does not start it; a segment
// without one is a parameter with an empty value.
func splitQuery(raw string) ([]queryPair, error) {
	var out []queryPair
	var sep byte
	for len(raw) > 0 {
		end := strings.IndexAny(raw, "&;")
		if end < 0 {
			end = len(raw)
		}
		seg := raw[:end]
		next := byte(0)
		if end < len(raw) {
			next = raw[end]
			raw = raw[end+1:]
		} else {
			raw = ""
		}
		if seg != "" {
			qp, err := decodePair(seg)
			if err != nil {
				return nil, err
			}
			qp.sep = sep
			out = append(out, qp)
		}
		sep = next
	}
	return out, nil
}

func decodePair(seg string) (queryPair, error) {
	qp := queryPair{raw: seg}
	var name string
	hasName := false
	pos := 0
	for i := 0; i < len(seg); i++ {
		if seg[i] == '=' && !hasName {
			if pos != i {
				n, err := decodeComponent(seg[pos:i])
				if err != nil {
					return qp, err
				}
				name, hasName = n, true
			}
			pos = i + 1
		}
	}
	rest, err := decodeComponent(seg[pos:])
	if err != nil {
		return qp, err
	}
	switch {
	case hasName:
		qp.key, qp.value, qp.named = name, rest, true
	case pos != len(seg):
		qp.key, qp.named = rest, true
	}
	return qp, nil
}

// restQuery returns the parameters the primary reads from raw, one value per key: the
// last one given.
func restQuery(raw string) (url.Values, error) {
	pairs, err := splitQuery(raw)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, p := range pairs {
		if p.named {
			q[p.key] = []string{p.value}
		}
	}
	return q, nil
}

// withoutParams returns raw without the parameters named in drop, the others kept byte
// for byte, in order, with the separators that preceded them; raw itself when nothing
// is dropped.
func withoutParams(raw string, drop ...string) string {
	pairs, err := splitQuery(raw)
	if err != nil {
		return raw
	}
	var b strings.Builder
	dropped := false
	for _, p := range pairs {
		if p.named && contains(drop, p.key) {
			dropped = true
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(p.sep)
		}
		b.WriteString(p.raw)
	}
	if !dropped {
		return raw
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// decodeComponent is RestUtils.decodeComponent with plusAsSpace: '+' is a space, "%%"
// is '%', "%XY" is a byte; a '%' without two hex digits is an error (the primary
// answers 400). Bytes that are not UTF-8 are kept as they are, where Java would put
// U+FFFD in their place.
func decodeComponent(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	buf := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			buf = append(buf, ' ')
		case '%':
			if i == len(s)-1 {
				return "", errors.New("unterminated escape sequence at end of string: " + s)
			}
			i++
			if s[i] == '%' {
				buf = append(buf, '%')
				continue
			}
			if i == len(s)-1 {
				return "", errors.New("partial escape sequence at end of string: " + s)
			}
			hi, lo := unhex(s[i]), unhex(s[i+1])
			if hi < 0 || lo < 0 {
				return "", errors.New("invalid escape sequence `%" + s[i:i+2] + "' in: " + s)
			}
			i++
			buf = append(buf, byte(hi<<4|lo))
		default:
			buf = append(buf, c)
		}
	}
	return string(buf), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
