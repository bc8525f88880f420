package searchemu

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeQueryString reads the parameters of a request URI as the server does
// (server/src/main/java/org/opensearch/rest/RestUtils.java, decodeQueryString, called
// by RestRequest.params on the whole URI from its first '?'):
//   - the query ends at the URI's first '#';
//   - '&' and ';' both separate parameters;
//   - the first '=' ends the name, later ones belong to the value;
//   - a parameter without '=' has the empty value; "=v" with no name is the parameter v
//     with the empty value; empty pieces ("a&&b") are skipped;
//   - a repeated name keeps its last value (a HashMap put).
//
// Names and values are decoded by decodeQueryComponent; its IllegalArgumentException
// message is returned as the error.
func decodeQueryString(uri string) (map[string]string, error) {
	params := map[string]string{}
	q := strings.IndexByte(uri, '?')
	if q < 0 {
		return params, nil
	}
	from := q + 1
	end := len(uri)
	if h := strings.IndexByte(uri, '#'); h >= 0 {
		end = h
	}
	var name string
	hasName := false
	pos := from
	i := from
	for ; i < end; i++ {
		switch c := uri[i]; {
		case c == '=' && !hasName:
			if pos != i {
				n, err := decodeQueryComponent(uri[pos:i])
				if err != nil {
					return nil, err
				}
				name, hasName = n, true
			}
			pos = i + 1
		case c == '&' || c == ';':
			if !hasName && pos != i {
				n, err := decodeQueryComponent(uri[pos:i])
				if err != nil {
					return nil, err
				}
				params[n] = ""
			} else if hasName {
				v, err := decodeQueryComponent(uri[pos:i])
				if err != nil {
					return nil, err
				}
				params[name] = v
				hasName = false
			}
			pos = i + 1
		}
	}
	switch {
	case pos < i && !hasName:
		n, err := decodeQueryComponent(uri[pos:i])
		if err != nil {
			return nil, err
		}
		params[n] = ""
	case pos < i:
		v, err := decodeQueryComponent(uri[pos:i])
		if err != nil {
			return nil, err
		}
		params[name] = v
	case hasName:
		params[name] = ""
	}
	return params, nil
}

// queryDecodeError is RestUtils.decodeComponent's IllegalArgumentException.
type queryDecodeError struct{ msg string }

func (e *queryDecodeError) Error() string { return e.msg }

// decodeQueryComponent is RestUtils.decodeComponent with plusAsSpace: '+' is a space,
// "%%" is '%', "%XY" is the byte 0xXY; the bytes are then read as UTF-8, a malformed
// byte becoming U+FFFD as Java's String(byte[], UTF_8) does (Java replaces a maximal
// malformed subsequence once where this replaces each of its bytes).
func decodeQueryComponent(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	buf := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '+':
			buf = append(buf, ' ')
		case '%':
			if i == len(s)-1 {
				return "", &queryDecodeError{"unterminated escape sequence at end of string: " + s}
			}
			i++
			if s[i] == '%' {
				buf = append(buf, '%')
				continue
			}
			if i == len(s)-1 {
				return "", &queryDecodeError{"partial escape sequence at end of string: " + s}
			}
			hi, lo := hexNibble(s[i]), hexNibble(s[i+1])
			i++
			if hi < 0 || lo < 0 {
				return "", &queryDecodeError{"invalid escape sequence `%" + s[i-1:i+1] + "' at index " + strconv.Itoa(i-2) + " of: " + s}
			}
			buf = append(buf, byte(hi<<4|lo))
		default:
			buf = append(buf, c)
		}
	}
	if utf8.Valid(buf) {
		return string(buf), nil
	}
	var b strings.Builder
	for len(buf) > 0 {
		r, n := utf8.DecodeRune(buf)
		b.WriteRune(r) // RuneError (U+FFFD) for a malformed byte
		buf = buf[n:]
	}
	return b.String(), nil
}

func hexNibble(c byte) int {
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

// errBadParameter is the answer to an undecodable query string: RestRequest.params
// wraps the IllegalArgumentException in BadParameterException (a RuntimeException, so
// its reason is the cause's toString), and the HTTP transport dispatches the request as
// a bad request, without parameters and before any handler is looked up
// (AbstractHttpServerTransport.handleIncomingRequest, RestController.dispatchBadRequest).
func errBadParameter(err error) *esError {
	e := newErr(400, "bad_parameter_exception", "java.lang.IllegalArgumentException: "+err.Error(), false)
	e.cause = errIllegalArg(err.Error())
	return e
}
