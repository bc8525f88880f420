package searchemu

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Integer fields are compared, sorted and rendered exactly, as the server's Long and
// BigInteger values are: going through float64 would tie 9223372036854775806 with
// 9223372036854775807 and lose every unsigned_long above 2^53.
//
// Followed: NumberFieldMapper.NumberType (LONG, UNSIGNED_LONG: parse, termQuery,
// rangeQuery, objectToLong, objectToUnsignedLong) and org.opensearch.common.Numbers
// (toLong, toUnsignedLong, toUnsignedLongExact).

// maxUnsignedLong is 2^64-1 (Numbers.MAX_UNSIGNED_LONG_VALUE).
var maxUnsignedLong = new(big.Int).SetUint64(math.MaxUint64)

// bigDecimalRat parses the syntax of java.math.BigDecimal(String) exactly.
func bigDecimalRat(s string) (*big.Rat, bool) {
	if _, ok := parseBigDecimal(s); !ok {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(strings.TrimPrefix(s, "+"))
	return r, ok
}

// truncRat is BigDecimal.toBigInteger: the integer part, rounding toward zero.
func truncRat(r *big.Rat) *big.Int {
	return new(big.Int).Quo(r.Num(), r.Denom())
}

// jacksonBigInteger is what Jackson's getBigIntegerValue returns for a number token: the
// integer itself, or for a fraction BigDecimal.valueOf(double).toBigInteger().
func jacksonBigInteger(n jsonNum) (*big.Int, bool) {
	if !n.float {
		v, ok := new(big.Int).SetString(n.raw, 10)
		return v, ok
	}
	f, err := strconv.ParseFloat(n.raw, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	if !ok {
		return nil, false
	}
	return truncRat(r), true
}

// unsignedLongValue converts a stored source value of an unsigned_long field to the value
// the field indexes (coerce: fractions truncate, strings parse as BigDecimal).
func unsignedLongValue(v any) (uint64, bool) {
	var bi *big.Int
	switch x := v.(type) {
	case jsonNum:
		if !x.float {
			u, err := strconv.ParseUint(x.raw, 10, 64)
			if err != nil {
				return 0, false
			}
			return u, true
		}
		b, ok := jacksonBigInteger(x)
		if !ok {
			return 0, false
		}
		bi = b
	case string:
		r, ok := bigDecimalRat(x)
		if !ok {
			return 0, false
		}
		bi = truncRat(r)
	default:
		return 0, false
	}
	if bi.Sign() < 0 || bi.Cmp(maxUnsignedLong) > 0 {
		return 0, false
	}
	return bi.Uint64(), true
}

// longValue converts a stored source value of a long-backed field (long, integer, short,
// byte, token_count) to the value the field indexes.
func longValue(v any) (int64, bool) {
	switch x := v.(type) {
	case jsonNum:
		if !x.float {
			i, err := strconv.ParseInt(x.raw, 10, 64)
			if err != nil {
				return 0, false
			}
			return i, true
		}
		// Jackson's longValue on a double token: a narrowing cast, truncating
		f, err := strconv.ParseFloat(x.raw, 64)
		if err != nil || math.IsNaN(f) {
			return 0, false
		}
		return clampToLong(math.Trunc(f)), true
	case string:
		// Numbers.toLong(s, coerce=true)
		if i, err := strconv.ParseInt(x, 10, 64); err == nil {
			return i, true
		}
		r, ok := bigDecimalRat(x)
		if !ok {
			return 0, false
		}
		bi := truncRat(r)
		if !bi.IsInt64() {
			return 0, false
		}
		return bi.Int64(), true
	}
	return 0, false
}

func clampToLong(f float64) int64 {
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// queryRat reads a query value (term value, range bound) of an integer field exactly; ok
// is false for values the field type cannot parse.
func queryRat(v any) (*big.Rat, bool) {
	switch x := v.(type) {
	case jsonNum:
		if !x.float {
			return new(big.Rat).SetString(x.raw)
		}
		f, err := strconv.ParseFloat(x.raw, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, false
		}
		return new(big.Rat).SetFloat64(f), true
	case string:
		if r, ok := bigDecimalRat(strings.TrimSpace(x)); ok {
			return r, true
		}
		f, ok := javaParseDouble(x)
		if !ok || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, false
		}
		return new(big.Rat).SetFloat64(f), true
	}
	return nil, false
}

// intFieldRat is the exact value an integer field indexed for source value v.
func intFieldRat(typ string, v any) (*big.Rat, bool) {
	if typ == "unsigned_long" {
		u, ok := unsignedLongValue(v)
		if !ok {
			return nil, false
		}
		return new(big.Rat).SetInt(new(big.Int).SetUint64(u)), true
	}
	if typ == "long" || typ == "token_count" {
		i, ok := longValue(v)
		if !ok {
			return nil, false
		}
		return new(big.Rat).SetInt64(i), true
	}
	// integer, short, byte: parsed through a double and cast (intValue/shortValue)
	f, ok := toNumber(v)
	if !ok {
		return nil, false
	}
	return new(big.Rat).SetInt64(clampToLong(math.Trunc(f))), true
}

// intFieldMatches is the term query of an integer field: a value with a decimal part
// matches nothing (NumberType.termQuery), anything else compares exactly.
func intFieldMatches(typ string, qv, sv any) bool {
	if a, ok := qv.(jsonNum); ok && !a.float {
		if b, ok := sv.(jsonNum); ok && !b.float && typ != "unsigned_long" {
			x, err1 := strconv.ParseInt(a.raw, 10, 64)
			y, err2 := strconv.ParseInt(b.raw, 10, 64)
			if err1 == nil && err2 == nil {
				return x == y
			}
		}
	}
	q, ok := queryRat(qv)
	if !ok || !q.IsInt() {
		return false
	}
	s, ok := intFieldRat(typ, sv)
	return ok && q.Cmp(s) == 0
}

// intFieldCompare compares the indexed value of sv with a range bound exactly; comparing
// an integer with a fractional bound is what longRangeQuery's rounding of the bounds
// amounts to.
func intFieldCompare(typ string, sv, bound any) (int, bool) {
	s, ok := intFieldRat(typ, sv)
	if !ok {
		return 0, false
	}
	b, ok := queryRat(bound)
	if !ok {
		return 0, false
	}
	return s.Cmp(b), true
}

// checkUnsignedLong is NumberType.UNSIGNED_LONG.parse(parser, coerce) followed by
// createFields' Numbers.toUnsignedLongExact: the cause a document value is refused with,
// or nil.
func checkUnsignedLong(t tok, src []byte, text string, coerce bool) *esError {
	switch t.kind {
	case 's':
		if !coerce {
			return errIllegalArg("BigInteger value passed as String")
		}
		return unsignedFromString(text)
	case 'n':
		bi, ok := jacksonBigInteger(jsonNum{raw: string(src[t.start:t.end]), float: t.float})
		if !ok {
			return errIllegalArg("Value [" + string(src[t.start:t.end]) + "] is out of range for an unsigned long")
		}
		if !coerce && t.float {
			f, _ := strconv.ParseFloat(string(src[t.start:t.end]), 64)
			if f != math.Trunc(f) {
				return errIllegalArg(javaDouble(f) + " cannot be converted to BigInteger without data loss")
			}
		}
		if bi.Sign() < 0 || bi.Cmp(maxUnsignedLong) > 0 {
			return errIllegalArg("Value [" + bi.String() + "] is out of range for an unsigned long")
		}
	}
	return nil
}

// unsignedFromString is Numbers.toUnsignedLong(s, coerce=true).
func unsignedFromString(s string) *esError {
	r, ok := bigDecimalRat(s)
	if !ok {
		return errIllegalArg(`For input string: "` + s + `"`)
	}
	upper := new(big.Rat).SetInt(new(big.Int).Add(maxUnsignedLong, big.NewInt(1)))
	if r.Cmp(upper) >= 0 || r.Cmp(big.NewRat(-1, 1)) <= 0 {
		return errIllegalArg("Value [" + s + "] is out of range for an unsigned long")
	}
	if truncRat(r).Sign() < 0 {
		return errIllegalArg("Value [" + s + "] is out of range for an unsigned long")
	}
	return nil
}
