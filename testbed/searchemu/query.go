package searchemu

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// query is a compiled query. match reports whether a document matches and its score.
type query interface {
	match(ec *evalCtx, d *doc) (bool, float64)
}

// evalCtx is the per-index evaluation context.
type evalCtx struct {
	ix  *index
	m   *mapping
	now time.Time
	// clockRead, when set, is made true by any date math on now: such a search's
	// result depends on when it runs, so a point in time must not keep it.
	clockRead *bool
}

// dateMath resolves date math on now (parseDateMath), noting that the clock was read.
func (ec *evalCtx) dateMath(s string) (int64, bool) {
	if ec.clockRead != nil && strings.HasPrefix(s, "now") {
		*ec.clockRead = true
	}
	return parseDateMath(s, ec.now)
}

// knownQueries are the query names a 2.x node registers (for "did you mean").
var knownQueries = []string{
	"match_all", "match_none", "match", "match_phrase", "match_phrase_prefix", "match_bool_prefix",
	"multi_match", "query_string", "simple_query_string", "term", "terms", "terms_set", "range",
	"exists", "prefix", "wildcard", "regexp", "fuzzy", "ids", "bool", "boosting", "constant_score",
	"dis_max", "function_score", "script_score", "script", "nested", "has_child", "has_parent",
	"parent_id", "geo_bounding_box", "geo_distance", "geo_polygon", "geo_shape", "more_like_this",
	"span_term", "span_first", "span_near", "span_or", "span_not", "span_containing", "span_within",
	"span_multi", "field_masking_span", "wrapper", "distance_feature", "intervals", "rank_feature",
	"combined_fields", "neural", "knn", "xy_shape",
}

func didYouMean(name string, candidates []string) string {
	type sc struct {
		d float64
		s string
	}
	var l []sc
	for _, c := range candidates {
		if d := levenshteinSimilarity(name, c); d > 0.5 {
			l = append(l, sc{d, c})
		}
	}
	if len(l) == 0 {
		return ""
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].d != l[j].d {
			return l[i].d > l[j].d
		}
		return l[i].s < l[j].s
	})
	if len(l) == 1 {
		return " did you mean [" + l[0].s + "]?"
	}
	names := make([]string, len(l))
	for i := range l {
		names[i] = l[i].s
	}
	return " did you mean any of [" + strings.Join(names, ", ") + "]?"
}

// queryParser compiles query DSL; src is the request body for error locations.
type queryParser struct {
	src []byte
	now time.Time
}

func (qp *queryParser) perr(msg string, off int) *esError {
	return errParsing(msg, qp.src, off)
}

// parse compiles one query clause ({"name": {...}}); off is the offset of its value.
func (qp *queryParser) parse(v any, off int) (query, *esError) {
	o, ok := v.(*jsonObj)
	if !ok {
		return nil, qp.perr("[_na] query malformed, must start with start_object", off)
	}
	if len(o.m) == 0 {
		return nil, qp.perr("query malformed, empty clause found at ["+locString(qp.src, off)+"]", off)
	}
	if len(o.m) > 1 {
		return nil, qp.perr("["+o.m[0].k+"] malformed query, expected [END_OBJECT] but found [FIELD_NAME]", o.m[1].koff)
	}
	name, body, voff := o.m[0].k, o.m[0].v, o.m[0].voff
	switch name {
	case "match_all":
		return qp.matchAll(body, voff)
	case "match_none":
		return matchNone{}, nil
	case "ids":
		return qp.ids(body, voff)
	case "term":
		return qp.term(body, voff)
	case "terms":
		return qp.terms(body, voff)
	case "range":
		return qp.rangeQ(body, voff)
	case "exists":
		return qp.exists(body, voff)
	case "bool":
		return qp.boolQ(body, voff)
	case "match":
		return qp.matchQ(body, voff)
	case "prefix":
		return qp.prefixQ(body, voff, false)
	case "wildcard":
		return qp.prefixQ(body, voff, true)
	case "constant_score":
		return qp.constantScore(body, voff)
	}
	for _, k := range knownQueries {
		if k == name {
			return nil, errIllegalArg("[searchemu] query [" + name + "] is not supported by the emulator")
		}
	}
	e := qp.perr("unknown query ["+name+"]"+didYouMean(name, knownQueries), voff)
	e.cause = newErr(400, typeNamedObjectNotFound, "["+locString(qp.src, voff)+"] unknown field ["+name+"]", false)
	return nil, e
}

func locString(src []byte, off int) string {
	if src == nil || off < 0 {
		return "-1:-1"
	}
	l, c := lineCol(src, off)
	return strconv.Itoa(l) + ":" + strconv.Itoa(c)
}

func numBoost(v any) (float64, bool) {
	switch x := v.(type) {
	case jsonNum:
		return x.float64(), true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

type matchAll struct{ boost float64 }

func (q matchAll) match(*evalCtx, *doc) (bool, float64) { return true, q.boost }

type matchNone struct{}

func (matchNone) match(*evalCtx, *doc) (bool, float64) { return false, 0 }

func (qp *queryParser) matchAll(v any, off int) (query, *esError) {
	q := matchAll{boost: 1}
	o, ok := v.(*jsonObj)
	if !ok {
		return nil, qp.perr("[match_all] query malformed, no start_object after query name", off)
	}
	for _, m := range o.m {
		switch m.k {
		case "boost":
			b, ok := numBoost(m.v)
			if !ok {
				return nil, qp.perr("[match_all] query does not support ["+m.k+"]", m.koff)
			}
			q.boost = b
		case "_name":
		default:
			return nil, qp.perr("[match_all] query does not support ["+m.k+"]", m.koff)
		}
	}
	return q, nil
}

type idsQuery struct {
	ids   map[string]bool
	boost float64
}

func (q idsQuery) match(_ *evalCtx, d *doc) (bool, float64) {
	if q.ids[d.id] {
		return true, q.boost
	}
	return false, 0
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case jsonNum:
		return x.raw, true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

func (qp *queryParser) ids(v any, off int) (query, *esError) {
	o, ok := v.(*jsonObj)
	if !ok {
		return nil, qp.perr("[ids] query malformed, no start_object after query name", off)
	}
	q := idsQuery{ids: map[string]bool{}, boost: 1}
	for _, m := range o.m {
		switch m.k {
		case "values":
			l, ok := m.v.([]any)
			if !ok {
				return nil, newErr(400, typeXContentParse, "["+locString(qp.src, m.voff)+"] [ids] values doesn't support values of type: "+tokenOf(m.v), false)
			}
			for _, e := range l {
				s, ok := scalarString(e)
				if !ok {
					return nil, newErr(400, typeXContentParse, "["+locString(qp.src, m.voff)+"] [ids] failed to parse field [values]", false)
				}
				q.ids[s] = true
			}
		case "boost":
			q.boost, _ = numBoost(m.v)
		case "_name", "type", "types":
		default:
			return nil, newErr(400, typeXContentParse, "["+locString(qp.src, m.koff)+"] [ids] unknown field ["+m.k+"]", false)
		}
	}
	return q, nil
}

// fieldValues returns the source values at a dotted path (arrays flattened, dotted keys
// in the source honoured).
func fieldValues(v any, path string, out []any) []any {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = fieldValues(e, path, out)
		}
		return out
	case *jsonObj:
		if path == "" {
			return out
		}
		for _, m := range x.m {
			if m.k == path {
				out = leafValues(m.v, out)
			} else if strings.HasPrefix(path, m.k+".") {
				out = fieldValues(m.v, path[len(m.k)+1:], out)
			}
		}
	}
	return out
}

func leafValues(v any, out []any) []any {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = leafValues(e, out)
		}
	case *jsonObj:
		out = append(out, x)
	case nil:
	default:
		out = append(out, x)
	}
	return out
}

// field resolves a query field to its mapper and the source path feeding it.
type field struct {
	name    string
	m       *mapper
	srcPath string
}

func (ec *evalCtx) resolve(name string) field {
	f := field{name: name}
	switch name {
	case "_id", "_index", "_routing":
		return f
	case "_seq_no":
		f.m = seqNoMapper
		return f
	}
	f.m = ec.m.lookup(name)
	f.srcPath = name
	if f.m != nil {
		f.srcPath = ec.m.sourcePath(name)
	}
	return f
}

func (ec *evalCtx) values(f field, d *doc) []any {
	switch f.name {
	case "_id":
		return []any{d.id}
	case "_index":
		return []any{ec.ix.name}
	case "_routing":
		if d.hasRouting {
			return []any{d.routing}
		}
		return nil
	case "_seq_no":
		return []any{jsonNum{raw: strconv.FormatInt(d.seqNo, 10)}}
	}
	if f.m == nil {
		return nil
	}
	vals := fieldValues(d.source(), f.srcPath, nil)
	if f.m.typ == "keyword" && f.m.ignoreAbove >= 0 {
		kept := vals[:0:0]
		for _, v := range vals {
			if s, ok := scalarString(v); ok && len([]rune(s)) > f.m.ignoreAbove {
				continue
			}
			kept = append(kept, v)
		}
		vals = kept
	}
	return vals
}

// analyze is an approximation of the standard analyzer: Unicode letter/digit runs
// (with inner apostrophes, dots and underscores kept), lowercased.
func analyze(s string) []string {
	var toks []string
	var cur []rune
	rs := []rune(s)
	flush := func() {
		if len(cur) > 0 {
			toks = append(toks, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for i, r := range rs {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || unicode.Is(unicode.Mn, r) {
			cur = append(cur, r)
			continue
		}
		if (r == '\'' || r == '.' || r == ',' && false) && len(cur) > 0 && i+1 < len(rs) && (unicode.IsLetter(rs[i+1]) || unicode.IsDigit(rs[i+1])) {
			if r == '.' && !(unicode.IsDigit(cur[len(cur)-1]) && unicode.IsDigit(rs[i+1])) && !(unicode.IsLetter(cur[len(cur)-1]) && unicode.IsLetter(rs[i+1])) {
				flush()
				continue
			}
			cur = append(cur, r)
			continue
		}
		flush()
	}
	flush()
	return toks
}

// termMatches compares one query term with one source value under the field's type.
func (ec *evalCtx) termMatches(f field, qv any, sv any, caseInsensitive bool) bool {
	if f.m == nil {
		qs, _ := scalarString(qv)
		ss, _ := scalarString(sv)
		if caseInsensitive {
			return strings.EqualFold(qs, ss)
		}
		return qs == ss
	}
	switch fieldKind(f.m.typ) {
	case kindText:
		qs, ok := scalarString(qv)
		ss, ok2 := scalarString(sv)
		if !ok || !ok2 {
			return false
		}
		if f.m.typ == "text" || f.m.typ == "match_only_text" || f.m.typ == "search_as_you_type" {
			for _, t := range analyze(ss) {
				if t == qs || (caseInsensitive && strings.EqualFold(t, qs)) {
					return true
				}
			}
			return false
		}
		if caseInsensitive {
			return strings.EqualFold(qs, ss)
		}
		return qs == ss
	case kindInt:
		return intFieldMatches(f.m.typ, qv, sv)
	case kindFloat:
		a, ok := toNumber(qv)
		b, ok2 := toNumber(sv)
		if !ok || !ok2 {
			return false
		}
		if f.m.typ == "float" {
			a, b = float64(float32(a)), float64(float32(b))
		}
		return a == b
	case kindBool:
		a, ok := toBool(qv)
		b, ok2 := toBool(sv)
		return ok && ok2 && a == b
	case kindDate:
		return ec.dateTermMatches(f.m, qv, sv)
	case kindIP:
		qs, _ := scalarString(qv)
		ss, _ := scalarString(sv)
		a, err := netip.ParseAddr(qs)
		b, err2 := netip.ParseAddr(ss)
		return err == nil && err2 == nil && a == b
	}
	qs, _ := scalarString(qv)
	ss, _ := scalarString(sv)
	return qs == ss
}

func toNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case jsonNum:
		return x.float64(), true
	case string:
		return javaParseDouble(x)
	case bool:
		return 0, false
	}
	return 0, false
}

func toBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch x {
		case "true":
			return true, true
		case "false", "":
			return false, true
		}
	}
	return false, false
}

// toDate converts a date value to the long the field indexes: epoch milliseconds for
// date, nanoseconds for date_nanos (DateFieldMapper.Resolution).
func (ec *evalCtx) toDate(m *mapper, v any) (int64, bool) {
	if m.typ == "date_nanos" {
		return ec.toDateNanos(m, v)
	}
	switch x := v.(type) {
	case jsonNum:
		if x.float {
			return int64(x.float64()), true
		}
		n, ok := x.int64()
		return n, ok
	case string:
		if ms, ok := ec.dateMath(x); ok {
			return ms, true
		}
		if ms, ok := parseDate(m.format, x); ok {
			return ms, true
		}
		return parseDate(defaultDateFormat, x)
	}
	return 0, false
}

type termQuery struct {
	f               field
	value           any
	boost           float64
	caseInsensitive bool
}

func (q *termQuery) match(ec *evalCtx, d *doc) (bool, float64) {
	f := ec.resolve(q.f.name)
	for _, sv := range ec.values(f, d) {
		if ec.termMatches(f, q.value, sv, q.caseInsensitive) {
			return true, q.boost
		}
	}
	return false, 0
}

// singleField reads {"field": value-or-object}, rejecting several fields.
func (qp *queryParser) singleField(name string, v any, off int) (string, any, int, *jsonMember, *esError) {
	o, ok := v.(*jsonObj)
	if !ok {
		return "", nil, 0, nil, qp.perr("["+name+"] query malformed, no start_object after query name", off)
	}
	var fieldName string
	var val any
	var voff int
	var fm *jsonMember
	for i := range o.m {
		m := &o.m[i]
		if m.k == "boost" || m.k == "_name" {
			continue
		}
		if fieldName != "" {
			return "", nil, 0, nil, qp.perr("["+name+"] query doesn't support multiple fields, found ["+fieldName+"] and ["+m.k+"]", m.koff)
		}
		fieldName, val, voff, fm = m.k, m.v, m.voff, m
	}
	if fieldName == "" {
		return "", nil, 0, nil, errIllegalArg("[" + name + "] requires fieldName")
	}
	return fieldName, val, voff, fm, nil
}

func (qp *queryParser) term(v any, off int) (query, *esError) {
	fname, val, voff, _, err := qp.singleField("term", v, off)
	if err != nil {
		return nil, err
	}
	q := &termQuery{f: field{name: fname}, boost: 1}
	switch x := val.(type) {
	case *jsonObj:
		for _, m := range x.m {
			switch m.k {
			case "value":
				q.value = m.v
			case "boost":
				q.boost, _ = numBoost(m.v)
			case "case_insensitive":
				q.caseInsensitive, _ = m.v.(bool)
			case "_name":
			default:
				return nil, qp.perr("[term] query does not support ["+m.k+"]", m.koff)
			}
		}
		if q.value == nil {
			return nil, errIllegalArg("value cannot be null")
		}
	case []any:
		return nil, qp.perr("[term] query does not support array of values", voff)
	case nil:
		return nil, errIllegalArg("value cannot be null")
	default:
		q.value = x
	}
	return q, nil
}

type termsQuery struct {
	f      field
	values []any
	boost  float64
}

func (q *termsQuery) match(ec *evalCtx, d *doc) (bool, float64) {
	f := ec.resolve(q.f.name)
	for _, sv := range ec.values(f, d) {
		for _, qv := range q.values {
			if ec.termMatches(f, qv, sv, false) {
				return true, q.boost
			}
		}
	}
	return false, 0
}

func (qp *queryParser) terms(v any, off int) (query, *esError) {
	o, ok := v.(*jsonObj)
	if !ok {
		return nil, qp.perr("[terms] query malformed, no start_object after query name", off)
	}
	q := &termsQuery{boost: 1}
	for _, m := range o.m {
		switch x := m.v.(type) {
		case []any:
			if q.f.name != "" {
				return nil, qp.perr("[terms] query does not support multiple fields", m.koff)
			}
			q.f = field{name: m.k}
			for _, e := range x {
				if e == nil {
					return nil, errIllegalArg("No value specified for terms query")
				}
				q.values = append(q.values, e)
			}
		case *jsonObj:
			return nil, errIllegalArg("[searchemu] terms lookup is not supported by the emulator")
		default:
			switch m.k {
			case "boost":
				q.boost, _ = numBoost(m.v)
			case "_name":
			default:
				return nil, qp.perr("[terms] query does not support ["+m.k+"]", m.koff)
			}
		}
	}
	if q.f.name == "" {
		return nil, qp.perr("[terms] query requires a field with values", off)
	}
	return q, nil
}

type rangeQuery struct {
	f                 field
	gt, gte, lt, lte  any
	includeLo, inclHi bool
	format            string
	boost             float64
}

func (q *rangeQuery) match(ec *evalCtx, d *doc) (bool, float64) {
	f := ec.resolve(q.f.name)
	for _, sv := range ec.values(f, d) {
		if ec.inRange(f, q, sv) {
			return true, q.boost
		}
	}
	return false, 0
}

// compareTyped compares a source value with a bound: -1, 0, 1; ok false if incomparable.
func (ec *evalCtx) compareTyped(f field, sv, bound any, format string) (int, bool) {
	kind := kindText
	if f.m != nil {
		kind = fieldKind(f.m.typ)
	}
	switch kind {
	case kindInt:
		return intFieldCompare(f.m.typ, sv, bound)
	case kindFloat:
		a, ok := toNumber(sv)
		b, ok2 := toNumber(bound)
		if !ok || !ok2 {
			return 0, false
		}
		return cmpFloat(a, b), true
	case kindBool:
		a, ok := toBool(sv)
		b, ok2 := toBool(bound)
		if !ok || !ok2 {
			return 0, false
		}
		return cmpInt(b2i(a), b2i(b)), true
	}
	a, ok := scalarString(sv)
	b, ok2 := scalarString(bound)
	if !ok || !ok2 {
		return 0, false
	}
	return strings.Compare(a, b), true
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (ec *evalCtx) inRange(f field, q *rangeQuery, sv any) bool {
	if f.m != nil && fieldKind(f.m.typ) == kindDate {
		return ec.dateInRange(f, q, sv)
	}
	vals := []any{sv}
	if f.m != nil && (f.m.typ == "text" || f.m.typ == "match_only_text") {
		s, _ := scalarString(sv)
		vals = vals[:0]
		for _, t := range analyze(s) {
			vals = append(vals, t)
		}
	}
	for _, v := range vals {
		ok := true
		if q.gt != nil {
			c, cok := ec.compareTyped(f, v, q.gt, q.format)
			ok = ok && cok && c > 0
		}
		if q.gte != nil {
			c, cok := ec.compareTyped(f, v, q.gte, q.format)
			ok = ok && cok && c >= 0
		}
		if q.lt != nil {
			c, cok := ec.compareTyped(f, v, q.lt, q.format)
			ok = ok && cok && c < 0
		}
		if q.lte != nil {
			c, cok := ec.compareTyped(f, v, q.lte, q.format)
			ok = ok && cok && c <= 0
		}
		if ok {
			return true
		}
	}
	return false
}

func (qp *queryParser) rangeQ(v any, off int) (query, *esError) {
	fname, val, voff, _, err := qp.singleField("range", v, off)
	if err != nil {
		return nil, err
	}
	o, ok := val.(*jsonObj)
	if !ok {
		return nil, qp.perr("[range] query malformed, after field missing start object", voff)
	}
	q := &rangeQuery{f: field{name: fname}, boost: 1, includeLo: true, inclHi: true}
	var from, to any
	hasFrom, hasTo := false, false
	for _, m := range o.m {
		switch m.k {
		case "gt":
			q.gt = m.v
		case "gte":
			q.gte = m.v
		case "lt":
			q.lt = m.v
		case "lte":
			q.lte = m.v
		case "from":
			from, hasFrom = m.v, true
		case "to":
			to, hasTo = m.v, true
		case "include_lower":
			q.includeLo, _ = m.v.(bool)
		case "include_upper":
			q.inclHi, _ = m.v.(bool)
		case "format":
			q.format, _ = m.v.(string)
		case "boost":
			q.boost, _ = numBoost(m.v)
		case "time_zone", "relation", "_name":
		default:
			return nil, qp.perr("[range] query does not support ["+m.k+"]", m.koff)
		}
	}
	if hasFrom && from != nil {
		if q.includeLo {
			q.gte = from
		} else {
			q.gt = from
		}
	}
	if hasTo && to != nil {
		if q.inclHi {
			q.lte = to
		} else {
			q.lt = to
		}
	}
	return q, nil
}

type existsQuery struct {
	name  string
	boost float64
}

func (q *existsQuery) match(ec *evalCtx, d *doc) (bool, float64) {
	if ok, handled := metaExists(q.name, d); handled {
		if ok {
			return true, q.boost
		}
		return false, 0
	}
	m := ec.m.lookup(q.name)
	if m == nil {
		// an object path: exists if any mapped field under it has a value
		return false, 0
	}
	if m.object {
		for _, v := range fieldValues(d.source(), q.name, nil) {
			if o, ok := v.(*jsonObj); ok && hasLeaf(o) {
				return true, q.boost
			}
		}
		return false, 0
	}
	f := ec.resolve(q.name)
	if len(ec.values(f, d)) > 0 {
		return true, q.boost
	}
	return false, 0
}

func hasLeaf(o *jsonObj) bool {
	for _, m := range o.m {
		switch x := m.v.(type) {
		case nil:
		case *jsonObj:
			if hasLeaf(x) {
				return true
			}
		case []any:
			for _, e := range leafValues(x, nil) {
				if eo, ok := e.(*jsonObj); !ok || hasLeaf(eo) {
					return true
				}
			}
		default:
			return true
		}
	}
	return false
}

func (qp *queryParser) exists(v any, off int) (query, *esError) {
	o, ok := v.(*jsonObj)
	if !ok {
		return nil, qp.perr("[exists] query malformed, no start_object after query name", off)
	}
	q := &existsQuery{boost: 1}
	for _, m := range o.m {
		switch m.k {
		case "field":
			q.name, _ = m.v.(string)
		case "boost":
			q.boost, _ = numBoost(m.v)
		case "_name":
		default:
			return nil, qp.perr("[exists] query does not support ["+m.k+"]", m.koff)
		}
	}
	if q.name == "" {
		return nil, qp.perr("[exists] must be provided with a [field]", off)
	}
	return q, nil
}

type boolQuery struct {
	must, filter, should, mustNot []query
	minShould                     int
	boost                         float64
}

func (q *boolQuery) match(ec *evalCtx, d *doc) (bool, float64) {
	score := 0.0
	for _, c := range q.must {
		ok, s := c.match(ec, d)
		if !ok {
			return false, 0
		}
		score += s
	}
	for _, c := range q.filter {
		if ok, _ := c.match(ec, d); !ok {
			return false, 0
		}
	}
	for _, c := range q.mustNot {
		if ok, _ := c.match(ec, d); ok {
			return false, 0
		}
	}
	matched := 0
	for _, c := range q.should {
		if ok, s := c.match(ec, d); ok {
			matched++
			score += s
		}
	}
	need := q.minShould
	if need < 0 {
		need = 0
		if len(q.should) > 0 && len(q.must) == 0 && len(q.filter) == 0 {
			need = 1
		}
	}
	if matched < need {
		return false, 0
	}
	return true, score * q.boost
}

func (qp *queryParser) boolQ(v any, off int) (query, *esError) {
	o, ok := v.(*jsonObj)
	if !ok {
		return nil, qp.perr("[bool] query malformed, no start_object after query name", off)
	}
	q := &boolQuery{boost: 1, minShould: -1}
	for _, m := range o.m {
		var dst *[]query
		switch m.k {
		case "must":
			dst = &q.must
		case "filter":
			dst = &q.filter
		case "should":
			dst = &q.should
		case "must_not", "mustNot":
			dst = &q.mustNot
		case "boost":
			q.boost, _ = numBoost(m.v)
			continue
		case "minimum_should_match", "minimumShouldMatch":
			s, _ := scalarString(m.v)
			if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
				q.minShould = n
			} else if strings.HasSuffix(s, "%") {
				p, _ := strconv.Atoi(strings.TrimSuffix(s, "%"))
				q.minShould = -2 - p // resolved below
			}
			continue
		case "_name", "adjust_pure_negative", "disable_coord":
			continue
		default:
			return nil, qp.perr("[bool] query does not support ["+m.k+"]", m.koff)
		}
		switch x := m.v.(type) {
		case []any:
			for _, e := range x {
				c, err := qp.parse(e, m.voff)
				if err != nil {
					return nil, err
				}
				*dst = append(*dst, c)
			}
		case *jsonObj:
			c, err := qp.parse(x, m.voff)
			if err != nil {
				return nil, err
			}
			*dst = append(*dst, c)
		default:
			return nil, qp.perr("[bool] query does not support ["+m.k+"]", m.koff)
		}
	}
	if q.minShould <= -2 {
		p := -2 - q.minShould
		q.minShould = len(q.should) * p / 100
	}
	return q, nil
}

type matchQuery struct {
	f        field
	text     any
	and      bool
	boost    float64
	minMatch int
}

func (q *matchQuery) match(ec *evalCtx, d *doc) (bool, float64) {
	f := ec.resolve(q.f.name)
	vals := ec.values(f, d)
	if f.m != nil && (f.m.typ == "text" || f.m.typ == "match_only_text" || f.m.typ == "search_as_you_type") {
		qs, _ := scalarString(q.text)
		terms := analyze(qs)
		if len(terms) == 0 {
			return false, 0
		}
		have := map[string]bool{}
		for _, sv := range vals {
			s, _ := scalarString(sv)
			for _, t := range analyze(s) {
				have[t] = true
			}
		}
		n := 0
		for _, t := range terms {
			if have[t] {
				n++
			}
		}
		if (q.and && n == len(terms)) || (!q.and && n > 0 && n >= q.minMatch) {
			return true, q.boost * float64(n) / float64(len(terms))
		}
		return false, 0
	}
	for _, sv := range vals {
		if ec.termMatches(f, q.text, sv, false) {
			return true, q.boost
		}
	}
	return false, 0
}

func (qp *queryParser) matchQ(v any, off int) (query, *esError) {
	fname, val, _, _, err := qp.singleField("match", v, off)
	if err != nil {
		return nil, err
	}
	q := &matchQuery{f: field{name: fname}, boost: 1}
	if o, ok := val.(*jsonObj); ok {
		for _, m := range o.m {
			switch m.k {
			case "query":
				q.text = m.v
			case "operator":
				s, _ := m.v.(string)
				q.and = strings.EqualFold(s, "and")
			case "boost":
				q.boost, _ = numBoost(m.v)
			case "minimum_should_match":
				s, _ := scalarString(m.v)
				q.minMatch, _ = strconv.Atoi(s)
			case "analyzer", "fuzziness", "prefix_length", "max_expansions", "lenient", "zero_terms_query", "auto_generate_synonyms_phrase_query", "fuzzy_transpositions", "_name":
			default:
				return nil, qp.perr("[match] query does not support ["+m.k+"]", m.koff)
			}
		}
	} else {
		q.text = val
	}
	if q.text == nil {
		return nil, errIllegalArg("[match] requires query value")
	}
	return q, nil
}

type prefixQuery struct {
	f        field
	value    string
	wildcard bool
	boost    float64
	ci       bool
}

func (q *prefixQuery) match(ec *evalCtx, d *doc) (bool, float64) {
	f := ec.resolve(q.f.name)
	test := func(s string) bool {
		v := q.value
		if q.ci {
			s, v = strings.ToLower(s), strings.ToLower(v)
		}
		if q.wildcard {
			return wildcardQueryMatch(v, s)
		}
		return strings.HasPrefix(s, v)
	}
	for _, sv := range ec.values(f, d) {
		s, ok := scalarString(sv)
		if !ok {
			continue
		}
		if f.m != nil && (f.m.typ == "text" || f.m.typ == "match_only_text") {
			for _, t := range analyze(s) {
				if test(t) {
					return true, q.boost
				}
			}
			continue
		}
		if test(s) {
			return true, q.boost
		}
	}
	return false, 0
}

// wildcardQueryMatch is the wildcard query's test, '*' any run of characters and '?'
// one character (Lucene's WildcardQuery, less its '\' escape). It is the greedy matcher
// with one point to come back to, the last '*': a later '*' can absorb whatever an
// earlier one would have, so earlier choices never need revisiting. At most
// len(p)·len(s) steps, where the recursive matcher it replaces was exponential in the
// number of stars.
func wildcardQueryMatch(p, s string) bool {
	pr, sr := []rune(p), []rune(s)
	pi, si, star, match := 0, 0, -1, 0
	for si < len(sr) {
		switch {
		case pi < len(pr) && pr[pi] == '*':
			star, match = pi, si
			pi++
		case pi < len(pr) && (pr[pi] == '?' || pr[pi] == sr[si]):
			pi++
			si++
		case star >= 0:
			pi = star + 1
			match++
			si = match
		default:
			return false
		}
	}
	for pi < len(pr) && pr[pi] == '*' {
		pi++
	}
	return pi == len(pr)
}

func (qp *queryParser) prefixQ(v any, off int, wildcard bool) (query, *esError) {
	name := "prefix"
	if wildcard {
		name = "wildcard"
	}
	fname, val, _, _, err := qp.singleField(name, v, off)
	if err != nil {
		return nil, err
	}
	q := &prefixQuery{f: field{name: fname}, wildcard: wildcard, boost: 1}
	if o, ok := val.(*jsonObj); ok {
		for _, m := range o.m {
			switch m.k {
			case "value", "wildcard", "prefix":
				q.value, _ = scalarString(m.v)
			case "boost":
				q.boost, _ = numBoost(m.v)
			case "case_insensitive":
				q.ci, _ = m.v.(bool)
			case "rewrite", "_name":
			default:
				return nil, qp.perr("["+name+"] query does not support ["+m.k+"]", m.koff)
			}
		}
	} else {
		q.value, _ = scalarString(val)
	}
	return q, nil
}

type constantScore struct {
	filter query
	boost  float64
}

func (q *constantScore) match(ec *evalCtx, d *doc) (bool, float64) {
	if ok, _ := q.filter.match(ec, d); ok {
		return true, q.boost
	}
	return false, 0
}

func (qp *queryParser) constantScore(v any, off int) (query, *esError) {
	o, ok := v.(*jsonObj)
	if !ok {
		return nil, qp.perr("[constant_score] query malformed, no start_object after query name", off)
	}
	q := &constantScore{boost: 1}
	for _, m := range o.m {
		switch m.k {
		case "filter":
			f, err := qp.parse(m.v, m.voff)
			if err != nil {
				return nil, err
			}
			q.filter = f
		case "boost":
			q.boost, _ = numBoost(m.v)
		case "_name":
		default:
			return nil, qp.perr("[constant_score] query does not support ["+m.k+"]", m.koff)
		}
	}
	if q.filter == nil {
		return nil, qp.perr("[constant_score] requires a 'filter' element", off)
	}
	return q, nil
}
