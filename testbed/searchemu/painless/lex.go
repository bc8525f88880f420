package painless

import "strings"

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tInt     // integer literal, text kept
	tDecimal // decimal literal, text kept
	tString  // string literal, value unescaped
	tOp      // punctuation and operators, text kept
)

type token struct {
	kind tokKind
	text string // source text (tString: the value)
	pos  int
}

// display is ANTLR's getTokenErrorDisplay: the token text in single quotes.
func (t token) display() string {
	if t.kind == tEOF {
		return "<EOF>"
	}
	return "'" + t.text + "'"
}

// operators, longest first
var operators = []string{
	">>>=", "===", "!==", "<<=", ">>=", ">>>", "==~",
	"++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "==", "!=", "<=", ">=", "&&", "||", "<<", ">>", "?.", "?:", "->", "::", "=~",
	"+", "-", "*", "/", "%", "=", "<", ">", "!", "~", "&", "|", "^", "?", ":", ".", ",", ";", "(", ")", "[", "]", "{", "}",
}

// lex splits src into tokens the way Painless's lexer does for the subset; an error is a
// compile error at the offending offset (EnhancedPainlessLexer.recover).
func lex(src string) ([]token, *Error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' && src[i] != '\r' {
				i++
			}
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, lexError(src, i, "unexpected character ["+src[i:]+"].")
			}
			i += end + 4
			continue
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			toks = append(toks, token{tIdent, src[i:j], i})
			i = j
			continue
		case c >= '0' && c <= '9' || (c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9' && !afterDotTarget(toks)):
			t, j := lexNumber(src, i)
			toks = append(toks, t)
			i = j
			continue
		case c == '"' || c == '\'':
			t, j, err := lexString(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = j
			continue
		}
		matched := false
		for _, op := range operators {
			if strings.HasPrefix(src[i:], op) {
				toks = append(toks, token{tOp, op, i})
				i += len(op)
				matched = true
				break
			}
		}
		if !matched {
			return nil, lexError(src, i, "unexpected character ["+string(src[i])+"].")
		}
	}
	return append(toks, token{tEOF, "<EOF>", len(src)}), nil
}

// afterDotTarget: ".5" after an identifier or closing bracket is a member access
// (list.0 style), not a decimal.
func afterDotTarget(toks []token) bool {
	if len(toks) == 0 {
		return false
	}
	t := toks[len(toks)-1]
	return t.kind == tIdent || (t.kind == tOp && (t.text == ")" || t.text == "]"))
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func lexNumber(src string, i int) (token, int) {
	j := i
	if strings.HasPrefix(src[i:], "0x") || strings.HasPrefix(src[i:], "0X") {
		j += 2
		for j < len(src) && strings.IndexByte("0123456789abcdefABCDEF", src[j]) >= 0 {
			j++
		}
		if j < len(src) && (src[j] == 'l' || src[j] == 'L') {
			j++
		}
		return token{tInt, src[i:j], i}, j
	}
	for j < len(src) && src[j] >= '0' && src[j] <= '9' {
		j++
	}
	decimal := false
	// a dot followed by a digit continues the number; "1.foo" stays an integer and a dot
	if j+1 < len(src) && src[j] == '.' && src[j+1] >= '0' && src[j+1] <= '9' {
		decimal = true
		j++
		for j < len(src) && src[j] >= '0' && src[j] <= '9' {
			j++
		}
	} else if j < len(src) && src[j] == '.' && (j+1 == len(src) || !isIdentStart(src[j+1])) && j > i {
		// "1." is a decimal in Painless's DECIMAL rule
		decimal = true
		j++
	}
	if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
		k := j + 1
		if k < len(src) && (src[k] == '+' || src[k] == '-') {
			k++
		}
		if k < len(src) && src[k] >= '0' && src[k] <= '9' {
			for k < len(src) && src[k] >= '0' && src[k] <= '9' {
				k++
			}
			j = k
			decimal = true
		}
	}
	if j < len(src) {
		switch src[j] {
		case 'l', 'L':
			if !decimal {
				return token{tInt, src[i : j+1], i}, j + 1
			}
		case 'f', 'F', 'd', 'D':
			return token{tDecimal, src[i : j+1], i}, j + 1
		}
	}
	if decimal {
		return token{tDecimal, src[i:j], i}, j
	}
	return token{tInt, src[i:j], i}, j
}

// lexString reads a string literal; Painless knows only the escapes \\ and the quote.
func lexString(src string, i int) (token, int, *Error) {
	q := src[i]
	var sb strings.Builder
	j := i + 1
	for j < len(src) {
		c := src[j]
		switch {
		case c == q:
			return token{tString, sb.String(), i}, j + 1, nil
		case c == '\\':
			if j+1 < len(src) && (src[j+1] == q || src[j+1] == '\\') {
				sb.WriteByte(src[j+1])
				j += 2
				continue
			}
			bad := src[i:min(j+2, len(src))]
			return token{}, 0, lexError(src, i, "unexpected character ["+bad+"]. The only valid escape sequences in strings starting with ["+string(q)+"] are [\\\\] and [\\"+string(q)+"].")
		}
		sb.WriteByte(c)
		j++
	}
	return token{}, 0, lexError(src, i, "unexpected character ["+src[i:]+"].")
}

func lexError(src string, at int, msg string) *Error {
	return compileError(src, at, Cause{Type: "illegal_argument_exception", Reason: msg, Inner: &Cause{Type: "lexer_no_viable_alt_exception", Null: true}})
}
