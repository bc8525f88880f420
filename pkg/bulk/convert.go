package bulk

import (
	"math"
	"strconv"
	"strings"
)

// Value conversions with the semantics of OpenSearch's AbstractXContentParser accessors,
// which coerce strings to numbers and report failures with Java's messages.

// longValue is parser.longValue(): JSON numbers as Jackson converts them, strings through
// OpenSearch's Numbers.toLong.
func (l *lexer) longValue() (int64, *Error) {
	switch l.tok {
	case tokNumber:
		text := l.raw()
		if !l.float {
			v, ok := parseJSONInt(text)
			if !ok {
				return 0, l.coercionError(text, "long (-9223372036854775808 - 9223372036854775807)")
			}
			return v, nil
		}
		f, _ := strconv.ParseFloat(string(text), 64)
		// Jackson range-checks the double against (double)Long.MIN/MAX_VALUE, then casts;
		// Java's cast saturates, which only matters for exactly 2^63.
		if f < -0x1p63 || f > 0x1p63 {
			return 0, l.coercionError(text, "long (-9223372036854775808 - 9223372036854775807)")
		}
		if f >= 0x1p63 {
			return math.MaxInt64, nil
		}
		return int64(f), nil
	case tokString:
		text, ok := l.text()
		if !ok {
			return 0, l.err
		}
		return javaToLong(string(text))
	}
	l.fail(typeJSONParse, l.end, "Current token ("+l.jacksonName()+") not numeric, can not use numeric value accessors")
	return 0, l.err
}

// intValue is parser.intValue(): strings go through Double.parseDouble and a range check.
func (l *lexer) intValue() (int, *Error) {
	switch l.tok {
	case tokNumber:
		text := l.raw()
		const rng = "int (-2147483648 - 2147483647)"
		if !l.float {
			v, ok := parseJSONInt(text)
			if !ok || v < math.MinInt32 || v > math.MaxInt32 {
				return 0, l.coercionError(text, rng)
			}
			return int(v), nil
		}
		f, _ := strconv.ParseFloat(string(text), 64)
		if f < math.MinInt32 || f > math.MaxInt32 {
			return 0, l.coercionError(text, rng)
		}
		return int(int32(f)), nil
	case tokString:
		text, ok := l.text()
		if !ok {
			return 0, l.err
		}
		s := string(text)
		f, err := javaParseDouble(s)
		if err != nil {
			return 0, err
		}
		if f < math.MinInt32 || f > math.MaxInt32 {
			return 0, badRequest(typeIllegalArgument, "Value ["+s+"] is out of range for an integer")
		}
		if math.IsNaN(f) {
			return 0, nil // Java's (int)NaN
		}
		return int(int32(f)), nil
	}
	l.fail(typeJSONParse, l.end, "Current token ("+l.jacksonName()+") not numeric, can not use numeric value accessors")
	return 0, l.err
}

// boolValue is parser.booleanValue(): strings must be exactly "true" or "false", and an
// empty string is false (Booleans.parseBoolean's default).
func (l *lexer) boolValue() (bool, *Error) {
	switch l.tok {
	case tokTrue:
		return true, nil
	case tokFalse:
		return false, nil
	case tokString:
		text, ok := l.text()
		if !ok {
			return false, l.err
		}
		switch string(text) {
		case "", "false":
			return false, nil
		case "true":
			return true, nil
		}
		return false, badRequest(typeIllegalArgument, "Failed to parse value ["+string(text)+"] as only [true] or [false] are allowed.")
	}
	l.fail(typeJSONParse, l.end, "Current token ("+l.jacksonName()+") not of boolean type")
	return false, l.err
}

// parseJSONInt converts a JSON integer token (already validated: optional '-', digits)
// without allocating; ok is false if it does not fit in an int64.
func parseJSONInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		u = u*10 + uint64(c-'0')
	}
	// 19 digits cannot overflow a uint64, so the range checks below are exact.
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return int64(-u), true // u <= 2^63, checked above
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

func (l *lexer) coercionError(text []byte, rng string) *Error {
	l.fail(typeInputCoercion, l.end, "Numeric value ("+string(text)+") out of range of "+rng)
	return l.err
}

// javaToLong mirrors OpenSearch's Numbers.toLong(s, coerce=true): Long.parseLong, else a
// BigDecimal truncated toward zero, with range and syntax errors as IllegalArgumentException.
func javaToLong(s string) (int64, *Error) {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	neg, mant, exp, ok := parseBigDecimal(s)
	if !ok {
		return 0, badRequest(typeIllegalArgument, "For input string: \""+s+"\"")
	}
	mant = strings.TrimLeft(mant, "0")
	intDigits := len(mant) + exp // digits before the decimal point
	if mant == "" || intDigits <= 0 {
		return 0, nil
	}
	if intDigits > 19 {
		return 0, badRequest(typeIllegalArgument, "Value ["+s+"] is out of range for a long")
	}
	var digits string
	if exp >= 0 {
		digits = mant + strings.Repeat("0", exp)
	} else {
		digits = mant[:intDigits]
	}
	u, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || (!neg && u > math.MaxInt64) || (neg && u > 1<<63) {
		return 0, badRequest(typeIllegalArgument, "Value ["+s+"] is out of range for a long")
	}
	if neg {
		return int64(-u), nil // u <= 2^63, checked above
	}
	return int64(u), nil
}

// parseBigDecimal parses Java BigDecimal(String) syntax: [sign] digits [. digits] |
// [sign] . digits, then an optional exponent. It returns the significand's digits without
// the point and the power of ten to apply to them.
func parseBigDecimal(s string) (neg bool, mant string, exp int, ok bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[start:i]
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		frac = s[fs:i]
	}
	if intPart == "" && frac == "" {
		return false, "", 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		es := i
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		ds := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == ds || i-ds > 10 {
			return false, "", 0, false
		}
		e, err := strconv.ParseInt(s[es:i], 10, 32) // Java requires an int exponent
		if err != nil {
			return false, "", 0, false
		}
		exp = int(e)
	}
	if i != len(s) {
		return false, "", 0, false
	}
	return neg, intPart + frac, exp - len(frac), true
}

// javaParseDouble approximates Double.parseDouble: surrounding whitespace is trimmed, a
// trailing type suffix (d/D/f/F) is allowed and only "NaN"/"Infinity" spell the specials.
// Failures are NumberFormatException, which OpenSearch reports as a 400.
func javaParseDouble(s string) (float64, *Error) {
	t := strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	if t == "" {
		return 0, badRequest(typeNumberFormat, "empty String")
	}
	body := strings.TrimLeft(t, "+-")
	switch body {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		if t[0] == '-' {
			return math.Inf(-1), nil
		}
		return math.Inf(1), nil
	}
	if n := len(t); n > 1 && strings.ContainsRune("dDfF", rune(t[n-1])) && !strings.HasPrefix(strings.ToLower(body), "0x") {
		t = t[:n-1]
	}
	lower := strings.ToLower(body)
	if strings.Contains(lower, "inf") || strings.Contains(lower, "nan") || strings.Contains(t, "_") {
		return 0, badRequest(typeNumberFormat, "For input string: \""+s+"\"")
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil && !isRangeErr(err) {
		return 0, badRequest(typeNumberFormat, "For input string: \""+s+"\"")
	}
	return f, nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}
