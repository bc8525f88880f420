package searchemu

import (
	"math"
	"math/big"
	"strings"
)

// Query values of integer fields are parsed when the shard builds the query
// (NumberFieldMapper.NumberType.termQuery/rangeQuery, objectToLong,
// objectToUnsignedLong), so a value the type cannot hold fails the search with
// "failed to create query: …" rather than matching nothing; a term value with a decimal
// part matches nothing without failing.

// checkIntQueryValue returns the exception parsing v as a query value of typ throws.
func checkIntQueryValue(typ string, v any, term bool) *esError {
	var d float64
	var text string
	switch x := v.(type) {
	case jsonNum:
		d, text = x.float64(), canonicalNumber(x)
	case string:
		f, ok := javaParseDouble(x)
		if !ok {
			// Double.parseDouble, through hasDecimalPart or objectToDouble
			return newErr(400, typeNumberFormat, `For input string: "`+strings.TrimSpace(x)+`"`, false)
		}
		d, text = f, x
	case bool:
		return newErr(400, typeNumberFormat, `For input string: "`+javaToString(x)+`"`, false)
	default:
		return nil
	}
	if term && d != math.Trunc(d) {
		return nil
	}
	outOfRange := func(what string) *esError {
		return errIllegalArg("Value [" + text + "] is out of range for " + what)
	}
	switch typ {
	case "long", "token_count":
		if d < math.MinInt64 || d > math.MaxInt64 || math.IsNaN(d) {
			return outOfRange("a long")
		}
		// Numbers.toLong on the text: exact bounds
		if r, ok := queryRat(v); ok {
			hi := new(big.Rat).SetInt(new(big.Int).Add(big.NewInt(math.MaxInt64), big.NewInt(1)))
			lo := new(big.Rat).SetInt(new(big.Int).Sub(big.NewInt(math.MinInt64), big.NewInt(1)))
			if r.Cmp(hi) >= 0 || r.Cmp(lo) <= 0 {
				return outOfRange("a long")
			}
		}
	case "integer":
		if d < math.MinInt32 || d > math.MaxInt32 || math.IsNaN(d) {
			return outOfRange("an integer")
		}
	case "short":
		if d < math.MinInt16 || d > math.MaxInt16 || math.IsNaN(d) {
			return outOfRange("a short")
		}
	case "byte":
		if d < math.MinInt8 || d > math.MaxInt8 || math.IsNaN(d) {
			return outOfRange("a byte")
		}
	case "unsigned_long":
		if d < 0 || d > float64(math.MaxUint64) || math.IsNaN(d) {
			return outOfRange("an unsigned long")
		}
		if r, ok := queryRat(v); ok {
			upper := new(big.Rat).SetInt(new(big.Int).Add(maxUnsignedLong, big.NewInt(1)))
			if r.Cmp(upper) >= 0 {
				return outOfRange("an unsigned long")
			}
		}
	}
	return nil
}

// checkIntQuery checks the values of a term, terms or range query on an integer field.
func checkIntQuery(ec *evalCtx, field string, values []any, term bool) *esError {
	if strings.HasPrefix(field, "_") {
		return nil
	}
	m := ec.m.lookup(field)
	if m == nil || m.object || fieldKind(m.typ) != kindInt {
		return nil
	}
	for _, v := range values {
		if v == nil {
			continue
		}
		if err := checkIntQueryValue(m.typ, v, term); err != nil {
			return failedToCreate(ec.ix, err)
		}
	}
	return nil
}
