package bulk

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"
)

// Low-level JSON scanning shared by the action-line lexer and the response parser. The
// functions validate as they go and report failures as a scanErr code plus the offset it
// concerns, so that each caller can phrase the error in its own terms (Jackson-like for
// request parsing, plain Go errors for responses) without allocating on success.

type scanErr uint8

const (
	seNone        scanErr = iota
	seEOF                 // input ended inside the token
	seCtrl                // unescaped control character in a string
	seEscape              // unknown escape character
	seHex                 // non-hex digit in a \u escape
	seUTF8Start           // invalid UTF-8 lead byte
	seUTF8Middle          // invalid UTF-8 continuation byte
	seLeadingZero         // number with a leading zero
	seMinus               // '-' not followed by a digit
	seFraction            // '.' not followed by a digit
	seExponent            // exponent marker not followed by a digit
)

// strPlain marks the bytes that can appear unescaped in a JSON string and need no further
// checking: printable ASCII except '"' and '\\'.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString validates the string whose opening quote is at b[i]. It returns the offset
// just past the closing quote and whether the string holds escapes (and so needs
// decoding). On failure at is the offending offset.
func scanString(b []byte, i int) (end int, esc bool, code scanErr, at int) {
	j := i + 1
	for {
		// Eight bytes at a time while none needs a closer look, then byte by byte.
		for j+8 <= len(b) && !special8(binary.LittleEndian.Uint64(b[j:])) {
			j += 8
		}
		for j < len(b) && strPlain[b[j]] {
			j++
		}
		if j >= len(b) {
			return 0, esc, seEOF, j
		}
		switch c := b[j]; {
		case c == '"':
			return j + 1, esc, seNone, 0
		case c == '\\':
			esc = true
			if j+1 >= len(b) {
				return 0, esc, seEOF, j + 1
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				for k := j + 2; k < j+6; k++ {
					if k >= len(b) {
						return 0, esc, seEOF, k
					}
					if unhex(b[k]) < 0 {
						return 0, esc, seHex, k
					}
				}
				j += 6
			default:
				return 0, esc, seEscape, j + 1
			}
		case c < 0x20:
			return 0, esc, seCtrl, j
		default: // non-ASCII: validate one UTF-8 sequence
			r, size := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && size <= 1 {
				if c >= 0xC2 && c <= 0xF4 {
					if j+1 >= len(b) {
						return 0, esc, seEOF, j + 1
					}
					return 0, esc, seUTF8Middle, j + 1
				}
				return 0, esc, seUTF8Start, j
			}
			j += size
		}
	}
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// special8 reports whether any of the eight bytes in v is a quote, a backslash, a control
// character or non-ASCII (the classic "has zero byte" bit trick: borrows can only cause
// false positives above a byte that is itself special, so the answer is exact).
func special8(v uint64) bool {
	q := v ^ (lsb * '"')
	bs := v ^ (lsb * '\\')
	return ((v-lsb*0x20)&^v|(q-lsb)&^q|(bs-lsb)&^bs|v)&msb != 0
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func hex4(b []byte) rune {
	return rune(unhex(b[0])<<12 | unhex(b[1])<<8 | unhex(b[2])<<4 | unhex(b[3]))
}

// decodeString appends the decoded content of a string validated by scanString; raw is
// the content between the quotes. A lone UTF-16 surrogate becomes U+FFFD, as in
// encoding/json.
func decodeString(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+2:])
			i += 6
			if utf16IsHigh(r) && i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
				if r2 := hex4(raw[i+2:]); utf16IsLow(r2) {
					r = (r-0xD800)<<10 + (r2 - 0xDC00) + 0x10000
					i += 6
				}
			}
			if utf16IsHigh(r) || utf16IsLow(r) {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

func utf16IsHigh(r rune) bool { return r >= 0xD800 && r < 0xDC00 }
func utf16IsLow(r rune) bool  { return r >= 0xDC00 && r < 0xE000 }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber validates the JSON number starting at b[i] ('-' or a digit). It returns the
// offset just past it and whether it has a fraction or exponent.
func scanNumber(b []byte, i int) (end int, float bool, code scanErr, at int) {
	j := i
	if b[j] == '-' {
		j++
		if j >= len(b) {
			return 0, false, seEOF, j
		}
		if !isDigit(b[j]) {
			return 0, false, seMinus, j
		}
	}
	if b[j] == '0' {
		j++
		if j < len(b) && isDigit(b[j]) {
			return 0, false, seLeadingZero, j
		}
	} else {
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	}
	if j < len(b) && b[j] == '.' {
		float = true
		j++
		if j >= len(b) {
			return 0, true, seEOF, j
		}
		if !isDigit(b[j]) {
			return 0, true, seFraction, j
		}
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		float = true
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) {
			return 0, true, seEOF, j
		}
		if !isDigit(b[j]) {
			return 0, true, seExponent, j
		}
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	}
	return j, float, seNone, 0
}

// charDesc describes the character at b[i] the way Jackson's _getCharDesc does, for use
// inside parentheses: 'x' (code 120), (CTRL-CHAR, code 10) or 'é' (code 233 / 0xe9).
func charDesc(b []byte, i int) string {
	c := b[i]
	if c < 0x20 {
		return "(CTRL-CHAR, code " + strconv.Itoa(int(c)) + ")"
	}
	if c < 0x80 {
		return "'" + string(rune(c)) + "' (code " + strconv.Itoa(int(c)) + ")"
	}
	r, size := utf8.DecodeRune(b[i:])
	if r == utf8.RuneError && size <= 1 {
		return "(INVALID-BYTE, code 0x" + strconv.FormatInt(int64(c), 16) + ")"
	}
	return "'" + string(r) + "' (code " + strconv.Itoa(int(r)) + " / 0x" + strconv.FormatInt(int64(r), 16) + ")"
}
