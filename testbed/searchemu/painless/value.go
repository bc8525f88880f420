package painless

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Values the evaluator works on, each standing for the Java object a script sees:
//
//	nil      null
//	bool     java.lang.Boolean
//	int32    java.lang.Integer
//	int64    java.lang.Long
//	float32  java.lang.Float
//	float64  java.lang.Double
//	string   java.lang.String
//	BigInt   java.math.BigInteger (a JSON integer beyond long)
//	*List    java.util.ArrayList
//	*Map     java.util.LinkedHashMap, or java.util.HashMap when Hashed
//
// Integers keep their width because Painless does: Integer + Integer stays an Integer
// (and overflows like one), and the stored JSON prints what the script produced.

// BigInt is a java.math.BigInteger, kept as its decimal digits.
type BigInt string

// List is a java.util.ArrayList. Mods counts structural changes (ArrayList's modCount),
// which fail an iteration in progress.
type List struct {
	Elems []any
	Mods  int
}

// Map is a java.util.LinkedHashMap (insertion order) or, when Hashed, a java.util.HashMap,
// whose iteration order (and so the order Jackson writes its keys in) follows the key
// hashes: the params of a script are parsed into HashMaps (XContentParser.map), the source
// into LinkedHashMaps (XContentHelper.convertToMap with ordered=true).
type Map struct {
	Hashed  bool
	entries []entry
	table   int // HashMap capacity: 16, doubled whenever size passes 0.75 of it
}

type entry struct{ k, v any }

// NewMap returns an empty map of the given kind.
func NewMap(hashed bool) *Map { return &Map{Hashed: hashed} }

// Len is the number of entries.
func (m *Map) Len() int { return len(m.entries) }

func (m *Map) find(k any) int {
	for i := range m.entries {
		if javaEquals(m.entries[i].k, k) {
			return i
		}
	}
	return -1
}

// Get returns the value of k (Java's Map.get).
func (m *Map) Get(k any) (any, bool) {
	if i := m.find(k); i >= 0 {
		return m.entries[i].v, true
	}
	return nil, false
}

// Put sets k (Map.put) and returns the previous value.
func (m *Map) Put(k, v any) any {
	if i := m.find(k); i >= 0 {
		old := m.entries[i].v
		m.entries[i].v = v
		return old
	}
	m.entries = append(m.entries, entry{k, v})
	if m.table == 0 {
		m.table = 16
	}
	for float64(len(m.entries)) > 0.75*float64(m.table) {
		m.table *= 2
	}
	return nil
}

// Remove deletes k (Map.remove) and returns its value.
func (m *Map) Remove(k any) any {
	if i := m.find(k); i >= 0 {
		old := m.entries[i].v
		m.entries = append(m.entries[:i], m.entries[i+1:]...)
		return old
	}
	return nil
}

// Range calls f for each entry in the map's iteration order.
func (m *Map) Range(f func(k, v any)) {
	for _, e := range m.ordered() {
		f(e.k, e.v)
	}
}

// ordered is the iteration order: insertion order, or for a HashMap the bucket order
// (insertion order within a bucket, which HashMap's resize split keeps).
func (m *Map) ordered() []entry {
	if !m.Hashed || len(m.entries) < 2 {
		return m.entries
	}
	out := make([]entry, 0, len(m.entries))
	buckets := map[int][]entry{}
	idx := make([]int, 0, len(m.entries))
	for _, e := range m.entries {
		h := javaHash(e.k)
		b := int((h ^ int32(uint32(h)>>16)) & int32(m.table-1))
		if _, ok := buckets[b]; !ok {
			idx = append(idx, b)
		}
		buckets[b] = append(buckets[b], e)
	}
	sortInts(idx)
	for _, b := range idx {
		out = append(out, buckets[b]...)
	}
	return out
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// javaHash is the key's hashCode.
func javaHash(k any) int32 {
	switch x := k.(type) {
	case string:
		var h int32
		for _, u := range utf16Units(x) {
			h = 31*h + int32(u)
		}
		return h
	case int32:
		return x
	case int64:
		return int32(x ^ int64(uint64(x)>>32))
	case bool:
		if x {
			return 1231
		}
		return 1237
	case float64:
		b := math.Float64bits(x)
		return int32(b ^ b>>32)
	case float32:
		return int32(math.Float32bits(x))
	}
	return 0
}

func utf16Units(s string) []uint16 {
	out := make([]uint16, 0, len(s))
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xD800+(r>>10)), uint16(0xDC00+(r&0x3FF)))
			continue
		}
		out = append(out, uint16(r))
	}
	return out
}

// className is the Java class name of a value (getClass().getName()).
func className(v any) string {
	switch x := v.(type) {
	case bool:
		return "java.lang.Boolean"
	case int32:
		return "java.lang.Integer"
	case int64:
		return "java.lang.Long"
	case float32:
		return "java.lang.Float"
	case float64:
		return "java.lang.Double"
	case string:
		return "java.lang.String"
	case BigInt:
		return "java.math.BigInteger"
	case *List:
		return "java.util.ArrayList"
	case *Map:
		if x.Hashed {
			return "java.util.HashMap"
		}
		return "java.util.LinkedHashMap"
	}
	return "java.lang.Object"
}

// unboxedName is PainlessLookupUtility.typeToUnboxedType(value.getClass()).getCanonicalName().
func unboxedName(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case int32:
		return "int"
	case int64:
		return "long"
	case float32:
		return "float"
	case float64:
		return "double"
	}
	return className(v)
}

// javaEquals is Object.equals: numbers of different classes are never equal.
func javaEquals(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case *List:
		y, ok := b.(*List)
		if !ok || len(x.Elems) != len(y.Elems) {
			return false
		}
		for i := range x.Elems {
			if !javaEquals(x.Elems[i], y.Elems[i]) {
				return false
			}
		}
		return true
	case *Map:
		y, ok := b.(*Map)
		if !ok || len(x.entries) != len(y.entries) {
			return false
		}
		for _, e := range x.entries {
			v, ok := y.Get(e.k)
			if !ok || !javaEquals(e.v, v) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && (math.Float64bits(x) == math.Float64bits(y) || (math.IsNaN(x) && math.IsNaN(y)))
	case float32:
		y, ok := b.(float32)
		return ok && (math.Float32bits(x) == math.Float32bits(y) || (x != x && y != y))
	}
	return a == b
}

// ToString is String.valueOf(v), as string concatenation renders it.
func ToString(v any) string {
	var sb strings.Builder
	toStringInto(&sb, v)
	return sb.String()
}

func toStringInto(sb *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		sb.WriteString("null")
	case bool:
		sb.WriteString(strconv.FormatBool(x))
	case int32:
		sb.WriteString(strconv.FormatInt(int64(x), 10))
	case int64:
		sb.WriteString(strconv.FormatInt(x, 10))
	case float32:
		sb.WriteString(JavaFloat(float64(x), 32))
	case float64:
		sb.WriteString(JavaFloat(x, 64))
	case string:
		sb.WriteString(x)
	case BigInt:
		sb.WriteString(string(x))
	case *List:
		sb.WriteByte('[')
		for i, e := range x.Elems {
			if i > 0 {
				sb.WriteString(", ")
			}
			toStringInto(sb, e)
		}
		sb.WriteByte(']')
	case *Map:
		sb.WriteByte('{')
		for i, e := range x.ordered() {
			if i > 0 {
				sb.WriteString(", ")
			}
			toStringInto(sb, e.k)
			sb.WriteByte('=')
			toStringInto(sb, e.v)
		}
		sb.WriteByte('}')
	}
}

// JavaFloat formats like Double.toString (bits 64) or Float.toString (bits 32).
func JavaFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	s := strconv.FormatFloat(f, 'e', -1, bits)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	epos := strings.IndexByte(s, 'e')
	exp, _ := strconv.Atoi(s[epos+1:])
	digits := strings.Replace(s[:epos], ".", "", 1)
	var out string
	if abs := math.Abs(f); abs >= 1e-3 && abs < 1e7 {
		switch {
		case exp < 0:
			out = "0." + strings.Repeat("0", -exp-1) + digits
		case len(digits) <= exp+1:
			out = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
		default:
			out = digits[:exp+1] + "." + digits[exp+1:]
		}
	} else {
		frac := digits[1:]
		if frac == "" {
			frac = "0"
		}
		out = digits[:1] + "." + frac + "E" + strconv.Itoa(exp)
	}
	if neg {
		return "-" + out
	}
	return out
}

// numeric classes, in promotion order
const (
	nkNone = iota
	nkInt
	nkLong
	nkFloat
	nkDouble
)

func numKind(v any) int {
	switch v.(type) {
	case int32, BigInt:
		return nkInt // a BigInteger promotes like an Integer in DefMath (intValue)
	case int64:
		return nkLong
	case float32:
		return nkFloat
	case float64:
		return nkDouble
	}
	return nkNone
}

func isNumber(v any) bool { return numKind(v) != nkNone }

func asInt64(v any) int64 {
	switch x := v.(type) {
	case int32:
		return int64(x)
	case int64:
		return x
	case float32:
		return javaF2L(float64(x))
	case float64:
		return javaF2L(x)
	case BigInt:
		b, _ := new(big.Int).SetString(string(x), 10)
		if b == nil {
			return 0
		}
		// Number.longValue of a BigInteger: its low 64 bits
		return int64(new(big.Int).And(b, new(big.Int).SetUint64(math.MaxUint64)).Uint64())
	}
	return 0
}

func asFloat64(v any) float64 {
	switch x := v.(type) {
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case float32:
		return float64(x)
	case float64:
		return x
	case BigInt:
		f, _ := strconv.ParseFloat(string(x), 64)
		return f
	}
	return 0
}

// javaF2L is Java's (long) cast of a double: NaN → 0, saturating.
func javaF2L(f float64) int64 {
	switch {
	case f != f:
		return 0
	case f >= 9.223372036854775807e18:
		return math.MaxInt64
	case f <= -9.223372036854775808e18:
		return math.MinInt64
	}
	return int64(f)
}

// javaF2I is Java's (int) cast of a double.
func javaF2I(f float64) int32 {
	switch {
	case f != f:
		return 0
	case f >= 2147483647:
		return math.MaxInt32
	case f <= -2147483648:
		return math.MinInt32
	}
	return int32(f)
}

// toKind converts a number to the class of kind k, as Java's primitive casts do.
func toKind(v any, k int) any {
	switch k {
	case nkInt:
		switch x := v.(type) {
		case float32:
			return javaF2I(float64(x))
		case float64:
			return javaF2I(x)
		}
		return int32(asInt64(v))
	case nkLong:
		return asInt64(v)
	case nkFloat:
		return float32(asFloat64(v))
	case nkDouble:
		return asFloat64(v)
	}
	return v
}
