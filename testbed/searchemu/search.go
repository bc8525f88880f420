package searchemu

import (
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"
)

var searchParams = []string{
	"q", "df", "analyzer", "analyze_wildcard", "default_operator", "lenient", "explain",
	"stored_fields", "docvalue_fields", "from", "size", "sort", "_source", "_source_includes",
	"_source_excludes", "track_total_hits", "track_scores", "version", "seq_no_primary_term",
	"timeout", "terminate_after", "routing", "preference", "search_type", "request_cache",
	"allow_no_indices", "ignore_unavailable", "expand_wildcards", "ignore_throttled",
	"rest_total_hits_as_int", "typed_keys", "batched_reduce_size", "max_concurrent_shard_requests",
	"pre_filter_shard_size", "allow_partial_search_results", "ccs_minimize_roundtrips", "stats",
	"scroll", "cancel_after_time_interval", "phase_took", "search_pipeline", "min_score",
	"include_named_queries_score", "suggest_field", "suggest_mode", "suggest_size", "suggest_text",
}

var countParams = []string{
	"q", "df", "analyzer", "analyze_wildcard", "default_operator", "lenient", "ignore_unavailable",
	"allow_no_indices", "expand_wildcards", "ignore_throttled", "min_score", "preference", "routing",
	"terminate_after",
}

// sortKind is what a sort clause sorts on.
type sortKind uint8

const (
	sortField sortKind = iota
	sortScore
	sortDoc
	sortID
	// sortShardDoc is Elasticsearch's _shard_doc (7.12+): the shard's index in the search
	// request in the high 32 bits, the Lucene doc id in the low ones
	// (ShardDocSortField.encodeShardAndDoc), unique over a point in time.
	sortShardDoc
)

type sortSpec struct {
	kind         sortKind
	field        string
	desc         bool
	missing      any // "_last", "_first" or a value
	unmappedType string
	mode         string
}

// searchReq is a parsed search body plus URL parameters.
type searchReq struct {
	q          query
	post       query
	size, from int
	sorts      []sortSpec
	trackTotal int // -1 omit, else the counting limit
	// trackTotalLimited: track_total_hits was set to false or to a limit other than
	// Integer.MAX_VALUE (trackTotalHitsUpTo != TRACK_TOTAL_HITS_ACCURATE)
	trackTotalLimited bool
	fetch             *fetchSource
	stored            *searchStored
	version           bool
	seqNo             bool
	searchAfter       []any
	trackScores       bool
	minScore          *float64
	totalAsInt        bool
	pitID             string
	pitKeep           string
	scroll            string
	// slice keeps the documents of one slice of a sliced scroll or point in time.
	slice *sliceSpec
	// shape is what decides which hits match and in what order (query, post_filter,
	// min_score, slice, sort, track_scores, from the body and the URL), as written: two
	// requests of the same shape over the same documents and mappings get the same
	// sorted hits, which a point in time keeps between pages.
	shape []byte
}

// shapeMembers are the search body members that decide the matching hits and their order.
var shapeMembers = map[string]bool{
	"query": true, "post_filter": true, "min_score": true, "slice": true, "sort": true,
	"track_scores": true,
}

// shapeParams are the URL parameters that do, after the body's.
var shapeParams = []string{"q", "df", "sort", "track_scores"}

// appendShape encodes a parsed JSON value exactly as written (numbers by their literal),
// so that two values encode alike only if they parse alike.
func appendShape(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 'z')
	case bool:
		if x {
			return append(b, 't')
		}
		return append(b, 'f')
	case string:
		return appendJSONString(append(b, 's'), x)
	case jsonNum:
		b = append(b, 'n')
		if x.float {
			b = append(b, '.')
		}
		return appendJSONString(b, x.raw)
	case []any:
		b = append(b, '[')
		for _, e := range x {
			if b = appendShape(b, e); b == nil {
				return nil
			}
			b = append(b, ',')
		}
		return append(b, ']')
	case *jsonObj:
		b = append(b, '{')
		for _, m := range x.m {
			if b = appendShape(append(appendJSONString(b, m.k), ':'), m.v); b == nil {
				return nil
			}
			b = append(b, ',')
		}
		return append(b, '}')
	}
	// an unknown value type makes the shape unique: never shared
	return nil
}

// sliceSpec is a search's slice: the documents whose _id hashes to id modulo max.
// Real clusters hash the _id with murmur3 (or slice by shard); any hash partitions
// the documents the same way for a client, which only needs every document in exactly
// one slice.
type sliceSpec struct {
	id, max int
}

func (s *sliceSpec) keeps(docID string) bool {
	h := fnv.New32a()
	_, _ = h.Write([]byte(docID))
	return int(h.Sum32()%uint32(s.max)) == s.id
}

const trackAll = math.MaxInt

var unsupportedSearchKeys = map[string]bool{
	"aggs": true, "aggregations": true, "highlight": true, "collapse": true,
	"suggest": true, "script_fields": true, "rescore": true, "fields": true,
	"docvalue_fields": true, "indices_boost": true, "knn": true,
}

// ignoredSearchKeys change nothing the emulator returns.
var ignoredSearchKeys = map[string]bool{
	"timeout": true, "terminate_after": true, "stats": true, "profile": true, "explain": true,
	"ext": true, "_name": true,
}

func (c *Cluster) parseSearch(rq *request, countOnly bool) (*searchReq, *esError) {
	sr := &searchReq{size: 10, trackTotal: 10000, q: matchAll{boost: 1}, shape: []byte{'b'}}
	qp := &queryParser{src: rq.body, now: c.now()}
	if len(rq.body) > 0 {
		v, je := parseJSON(rq.body)
		if je != nil {
			return nil, errFromJSON(rq.body, je)
		}
		body, ok := v.(*jsonObj)
		if !ok {
			return nil, errParsing("Unexpected token "+tokenOf(v)+" in [search request]", rq.body, 0)
		}
		for _, m := range body.m {
			if countOnly && m.k != "query" {
				return nil, errParsing("request does not support ["+m.k+"]", rq.body, m.koff)
			}
			if shapeMembers[m.k] && sr.shape != nil {
				sr.shape = appendJSONString(sr.shape, m.k)
				sr.shape = appendShape(append(sr.shape, ':'), m.v)
			}
			switch m.k {
			case "query":
				q, err := qp.parse(m.v, m.voff)
				if err != nil {
					return nil, err
				}
				sr.q = q
			case "post_filter":
				q, err := qp.parse(m.v, m.voff)
				if err != nil {
					return nil, err
				}
				sr.post = q
			case "size":
				n, err := intValue(m.v, "size", rq.body, m.voff)
				if err != nil {
					return nil, err
				}
				if n < 0 {
					return nil, errIllegalArg("[size] parameter cannot be negative, found [" + strconv.Itoa(n) + "]")
				}
				sr.size = n
			case "from":
				n, err := intValue(m.v, "from", rq.body, m.voff)
				if err != nil {
					return nil, err
				}
				if n < 0 {
					return nil, errIllegalArg("[from] parameter cannot be negative, found [" + strconv.Itoa(n) + "]")
				}
				sr.from = n
			case "sort":
				s, err := parseSorts(m.v, rq.body, m.voff)
				if err != nil {
					return nil, err
				}
				sr.sorts = s
			case "track_total_hits":
				switch x := m.v.(type) {
				case bool:
					if x {
						sr.trackTotal = trackAll
					} else {
						sr.trackTotal = -1
					}
					sr.trackTotalLimited = !x
				case jsonNum:
					n, ok := x.int64()
					if !ok || n < -1 {
						return nil, errIllegalArg("[track_total_hits] parameter must be positive or equals to -1, got " + x.raw)
					}
					sr.trackTotal = int(n)
					sr.trackTotalLimited = n != math.MaxInt32
					if n == -1 {
						sr.trackTotal = trackAll
					}
				default:
					return nil, errParsing("[track_total_hits] failed to parse", rq.body, m.voff)
				}
			case "_source":
				f, err := fetchFromJSON(m.v)
				if err != nil {
					return nil, err
				}
				sr.fetch = f
			case "stored_fields":
				st, err := storedFieldsFromJSON(rq.body, m.v, m.voff)
				if err != nil {
					return nil, err
				}
				sr.stored = st
			case "version":
				sr.version, _ = m.v.(bool)
			case "seq_no_primary_term":
				sr.seqNo, _ = m.v.(bool)
			case "track_scores":
				sr.trackScores, _ = m.v.(bool)
			case "search_after":
				l, ok := m.v.([]any)
				if !ok {
					return nil, errParsing("Unknown key for a "+tokenOf(m.v)+" in [search_after].", rq.body, m.koff)
				}
				sr.searchAfter = l
			case "pit":
				po, ok := m.v.(*jsonObj)
				if !ok {
					return nil, errParsing("[pit] failed to parse", rq.body, m.voff)
				}
				for _, pm := range po.m {
					switch pm.k {
					case "id":
						sr.pitID, _ = pm.v.(string)
					case "keep_alive":
						sr.pitKeep, _ = pm.v.(string)
					default:
						return nil, newErr(400, typeXContentParse, "["+locString(rq.body, pm.koff)+"] [point_in_time] unknown field ["+pm.k+"]", false)
					}
				}
			case "slice":
				sl, err := parseSlice(m.v, rq.body, m.voff)
				if err != nil {
					return nil, err
				}
				sr.slice = sl
			case "min_score":
				f, ok := toNumber(m.v)
				if !ok {
					return nil, errParsing("Unknown key for a "+tokenOf(m.v)+" in [min_score].", rq.body, m.koff)
				}
				sr.minScore = &f
			default:
				if ignoredSearchKeys[m.k] {
					continue
				}
				if unsupportedSearchKeys[m.k] {
					return nil, errIllegalArg("[searchemu] search option [" + m.k + "] is not supported by the emulator")
				}
				return nil, errParsing("Unknown key for a "+tokenOf(m.v)+" in ["+m.k+"].", rq.body, m.koff)
			}
		}
	}
	if sr.shape != nil {
		sr.shape = append(sr.shape, 'u')
		for _, k := range shapeParams {
			if v, ok := rq.query[k]; ok {
				sr.shape = appendJSONString(append(appendJSONString(sr.shape, k), '='), v)
			}
		}
	}
	// URL parameters override the body, as RestSearchAction.parseSearchRequest does
	if v, ok := rq.query["q"]; ok {
		q, err := parseQueryString(v, rq.query["df"])
		if err != nil {
			return nil, err
		}
		sr.q = q
	}
	if _, ok := rq.query["size"]; ok {
		n, err := rq.paramInt("size", 10)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, errIllegalArg("[size] parameter cannot be negative, found [" + strconv.Itoa(n) + "]")
		}
		sr.size = n
	}
	if _, ok := rq.query["from"]; ok {
		n, err := rq.paramInt("from", 0)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, errIllegalArg("[from] parameter cannot be negative, found [" + strconv.Itoa(n) + "]")
		}
		sr.from = n
	}
	if v, ok := rq.query["sort"]; ok {
		sr.sorts = nil
		for _, part := range splitComma(v) {
			s := sortSpec{field: part}
			if i := strings.LastIndexByte(part, ':'); i >= 0 {
				s.field = part[:i]
				s.desc = part[i+1:] == "desc"
			}
			finishSort(&s, s.desc || (s.field == "_score" && !strings.Contains(part, ":")))
			sr.sorts = append(sr.sorts, s)
		}
	}
	if f := fetchFromParams(rq); f != nil {
		sr.fetch = f
	}
	if v, ok := rq.query["stored_fields"]; ok {
		st, err := parseStoredFields(splitExpr(v))
		if err != nil {
			return nil, err
		}
		sr.stored = st
	}
	if v, ok := rq.query["track_total_hits"]; ok {
		switch v {
		case "true", "":
			sr.trackTotal = trackAll
			sr.trackTotalLimited = false
		case "false":
			sr.trackTotal = -1
			sr.trackTotalLimited = true
		default:
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, errIllegalArg("Failed to parse int parameter [track_total_hits] with value [" + v + "]")
			}
			sr.trackTotal = n
			sr.trackTotalLimited = n != math.MaxInt32
		}
	}
	for _, k := range []string{"version", "seq_no_primary_term", "track_scores"} {
		if _, ok := rq.query[k]; ok {
			b, err := rq.paramBool(k, false)
			if err != nil {
				return nil, err
			}
			switch k {
			case "version":
				sr.version = b
			case "seq_no_primary_term":
				sr.seqNo = b
			case "track_scores":
				sr.trackScores = b
			}
		}
	}
	if b, err := rq.paramBool("rest_total_hits_as_int", false); err != nil {
		return nil, err
	} else {
		sr.totalAsInt = b
	}
	if sr.totalAsInt && sr.trackTotal != -1 {
		sr.trackTotal = trackAll
	}
	// _shard_doc is a sort of Elasticsearch 8 only (OpenSearch has it from 3.3, Elasticsearch
	// from 7.12, later than the emulated releases): elsewhere it is an unmapped field.
	// SearchRequest.validate refuses it without a point in time, its last check.
	var shardDocMsgs []string
	if c.opts.Flavor == Elasticsearch8 {
		for k := range sr.sorts {
			if sr.sorts[k].kind == sortField && sr.sorts[k].field == "_shard_doc" {
				sr.sorts[k].kind = sortShardDoc
				if sr.pitID == "" {
					shardDocMsgs = append(shardDocMsgs, "[_shard_doc] sort field cannot be used without [point in time]")
				}
			}
		}
	}
	if v, ok := rq.query["scroll"]; ok {
		if _, err := parseTimeValue(v, "scroll"); err != nil {
			return nil, err
		}
		sr.scroll = v
		var msgs []string
		// SearchRequest.validate's first scroll check: a scroll counts every hit
		if sr.trackTotalLimited {
			msgs = append(msgs, "disabling [track_total_hits] is not allowed in a scroll context")
		}
		if len(sr.searchAfter) > 0 {
			msgs = append(msgs, "`search_after` cannot be used in a scroll context.")
		}
		if sr.from > 0 {
			msgs = append(msgs, "using [from] is not allowed in a scroll context")
		}
		if sr.size == 0 {
			msgs = append(msgs, "[size] cannot be [0] in a scroll context")
		}
		if sr.pitID != "" {
			msgs = append(msgs, "using [point in time] is not allowed in a scroll context")
		}
		msgs = append(msgs, shardDocMsgs...)
		if len(msgs) > 0 {
			return nil, errValidation(msgs)
		}
	}
	if len(shardDocMsgs) > 0 {
		return nil, errValidation(shardDocMsgs)
	}
	if sr.slice != nil && sr.scroll == "" && sr.pitID == "" {
		return nil, errValidation([]string{"[slice] can only be used with [scroll] or [point-in-time] requests"})
	}
	if len(sr.searchAfter) > 0 {
		if sr.from > 0 {
			return nil, errIllegalArg("`from` parameter must be set to 0 when `search_after` is used.")
		}
		if len(sr.sorts) == 0 {
			return nil, errIllegalArg("[search_after] requires a sort")
		}
		if len(sr.searchAfter) != len(sr.sorts) {
			return nil, errIllegalArg("search_after has " + strconv.Itoa(len(sr.searchAfter)) + " value(s) but sort has " + strconv.Itoa(len(sr.sorts)) + ".")
		}
	}
	return sr, nil
}

// parseSlice reads {"id":n,"max":m[,"field":"_id"]}; only the default field (_id) is
// supported.
func parseSlice(v any, src []byte, off int) (*sliceSpec, *esError) {
	o, ok := v.(*jsonObj)
	if !ok {
		return nil, errParsing("[slice] failed to parse", src, off)
	}
	sl := &sliceSpec{id: -1, max: -1}
	for _, m := range o.m {
		switch m.k {
		case "id", "max":
			n, err := intValue(m.v, m.k, src, m.voff)
			if err != nil {
				return nil, err
			}
			if m.k == "id" {
				sl.id = n
			} else {
				sl.max = n
			}
		case "field":
			if f, _ := m.v.(string); f != "_id" {
				return nil, errIllegalArg("[searchemu] [slice] on field [" + f + "] is not supported by the emulator, only [_id]")
			}
		default:
			return nil, newErr(400, typeXContentParse, "["+locString(src, m.koff)+"] [slice] unknown field ["+m.k+"]", false)
		}
	}
	switch {
	case sl.id < 0:
		return nil, errIllegalArg("id must be greater than or equal to 0")
	case sl.max <= 1:
		return nil, errIllegalArg("max must be greater than 1")
	case sl.id >= sl.max:
		return nil, errIllegalArg("max must be greater than id")
	}
	return sl, nil
}

// parseQueryString supports the simple forms of ?q=: "*", "f:v", or a bare term.
func parseQueryString(q, df string) (query, *esError) {
	q = strings.TrimSpace(q)
	if q == "" || q == "*" || q == "*:*" {
		return matchAll{boost: 1}, nil
	}
	if strings.ContainsAny(q, " ()[]{}\"") {
		return nil, errIllegalArg("[searchemu] only \"field:value\" forms of q= are supported by the emulator")
	}
	if i := strings.IndexByte(q, ':'); i > 0 {
		return &matchQuery{f: field{name: q[:i]}, text: q[i+1:], boost: 1}, nil
	}
	if df == "" {
		return nil, errIllegalArg("[searchemu] q= without a field needs df= in the emulator")
	}
	return &matchQuery{f: field{name: df}, text: q, boost: 1}, nil
}

func intValue(v any, name string, src []byte, off int) (int, *esError) {
	switch x := v.(type) {
	case jsonNum:
		if n, ok := x.int64(); ok {
			return int(n), nil
		}
		return int(x.float64()), nil
	case string:
		n, err := strconv.Atoi(x)
		if err == nil {
			return n, nil
		}
	}
	return 0, errParsing("["+name+"] failed to parse", src, off)
}

func finishSort(s *sortSpec, desc bool) {
	s.desc = desc
	switch s.field {
	case "_score":
		s.kind = sortScore
	case "_doc":
		s.kind = sortDoc
	case "_id":
		s.kind = sortID
	}
}

func parseSorts(v any, src []byte, off int) ([]sortSpec, *esError) {
	var out []sortSpec
	add := func(e any) *esError {
		switch x := e.(type) {
		case string:
			s := sortSpec{field: x}
			finishSort(&s, x == "_score")
			out = append(out, s)
		case *jsonObj:
			for _, m := range x.m {
				s := sortSpec{field: m.k}
				desc := m.k == "_score"
				switch y := m.v.(type) {
				case string:
					switch y {
					case "asc":
						desc = false
					case "desc":
						desc = true
					default:
						return errIllegalArg("Unknown SortOrder [" + y + "]")
					}
				case *jsonObj:
					for _, p := range y.m {
						switch p.k {
						case "order":
							o, _ := p.v.(string)
							switch o {
							case "asc":
								desc = false
							case "desc":
								desc = true
							default:
								return errIllegalArg("Unknown SortOrder [" + o + "]")
							}
						case "missing":
							s.missing = p.v
						case "unmapped_type":
							s.unmappedType, _ = p.v.(string)
						case "mode":
							s.mode, _ = p.v.(string)
						case "numeric_type", "format", "nested", "nested_path", "nested_filter":
						default:
							return errParsing("[field_sort] unknown field ["+p.k+"]", src, p.koff)
						}
					}
				default:
					return errParsing("[sort] failed to parse", src, m.voff)
				}
				finishSort(&s, desc)
				out = append(out, s)
			}
		default:
			return errParsing("[sort] failed to parse", src, off)
		}
		return nil
	}
	if l, ok := v.([]any); ok {
		for _, e := range l {
			if err := add(e); err != nil {
				return nil, err
			}
		}
	} else if err := add(v); err != nil {
		return nil, err
	}
	return out, nil
}

// hit is one matching document with its sort key.
type hit struct {
	ix    *index
	d     *doc
	score float64
	order int // global doc order for tie breaks: by shard set, then doc order
	// shardDoc is the doc's position within its shard (the _doc sort value).
	shardDoc int
	// set is the index of the doc's shard among the searched ones (_shard_doc).
	set  int
	keys []sortVal
}

// sortVal is one sort value: numeric (n), string (s), or missing.
type sortVal struct {
	str     bool
	missing bool
	n       float64
	i       int64
	isInt   bool
	u       uint64 // unsigned_long values (isU), compared and rendered exactly
	isU     bool
	s       string
	typ     string // field type for rendering
}

// shardFailure wraps a per-shard failure as the search phase does.
func shardFailure(c *Cluster, ixs []*index, cause *esError) *esError {
	e := newErr(cause.status, typeSearchPhase, "all shards failed", true)
	// SearchPhaseExecutionException.guessRootCauses: each failure's own root causes
	e.rootCauses = cause.roots()
	ex := []byte(`"phase":"query","grouped":true,"failed_shards":[`)
	for i, ix := range ixs {
		if i > 0 {
			ex = append(ex, ',')
		}
		ex = append(ex, `{"shard":0,"index":`...)
		ex = appendJSONString(ex, ix.name)
		ex = append(ex, `,"node":`...)
		ex = appendJSONString(ex, c.nodeID)
		ex = append(ex, `,"reason":`...)
		ex = cause.appendObject(ex)
		ex = append(ex, '}')
		break // grouped: one failure per distinct cause
	}
	ex = append(ex, ']')
	e.extra = ex
	e.cause = cause
	return e
}

func (c *Cluster) sortKey(ec *evalCtx, s sortSpec, h *hit) sortVal {
	switch s.kind {
	case sortScore:
		return sortVal{n: h.score, typ: "_score"}
	case sortDoc:
		return sortVal{i: int64(h.shardDoc), isInt: true, n: float64(h.shardDoc), typ: "_doc"}
	case sortID:
		return sortVal{str: true, s: h.d.id, typ: "_id"}
	case sortShardDoc:
		v := int64(h.set)<<32 | int64(h.shardDoc-1)
		return sortVal{i: v, n: float64(v), isInt: true, typ: "_shard_doc"}
	}
	f := ec.resolve(s.field)
	typ := s.unmappedType
	if f.m != nil {
		typ = f.m.typ
	}
	kind := fieldKind(typ)
	var best *sortVal
	for _, v := range ec.values(f, h.d) {
		var cand sortVal
		switch kind {
		case kindInt:
			c, ok := intSortVal(typ, v)
			if !ok {
				continue
			}
			cand = c
		case kindFloat:
			n, ok := toNumber(v)
			if !ok {
				continue
			}
			if typ == "float" || typ == "half_float" {
				n = float64(float32(n))
			}
			cand = sortVal{n: n}
		case kindDate:
			if f.m == nil {
				continue
			}
			ms, ok := ec.toDate(f.m, v)
			if !ok {
				continue
			}
			cand = sortVal{i: ms, n: float64(ms), isInt: true}
		case kindBool:
			b, ok := toBool(v)
			if !ok {
				continue
			}
			cand = sortVal{i: b2i(b), n: float64(b2i(b)), isInt: true}
		default:
			str, ok := scalarString(v)
			if !ok {
				continue
			}
			cand = sortVal{str: true, s: str}
		}
		cand.typ = typ
		if best == nil {
			best = &cand
			continue
		}
		cmp := compareSortVal(cand, *best)
		if (s.desc && s.mode != "min") || s.mode == "max" {
			if cmp > 0 {
				best = &cand
			}
		} else if cmp < 0 {
			best = &cand
		}
	}
	if best == nil {
		return c.missingKey(ec, s, typ)
	}
	return *best
}

// missingKey is the sort value of a document without the field, as the comparator holds
// it and the hit's sort array renders it (XFieldComparatorSource.missingObject): a
// numeric sort replaces it with the extreme of its reduced type for _last and _first
// (min = _first XOR reverse) or with the custom missing value, and then compares it
// like any value, so that it ties with the other missing documents and round-trips
// through search_after. A string sort takes a custom missing value as its value and
// keeps _last and _first as missing (rendered null).
func (c *Cluster) missingKey(ec *evalCtx, s sortSpec, typ string) sortVal {
	kind := fieldKind(typ)
	str := kind == kindText || kind == kindOther || kind == kindIP
	if s.missing != nil && s.missing != "_first" && s.missing != "_last" {
		v := c.afterValue(ec, s, s.missing)
		if typ == "float" || typ == "half_float" {
			v.n = float64(float32(v.n))
		}
		v.typ = typ
		return v
	}
	if str {
		return sortVal{missing: true, typ: typ, str: true}
	}
	useMin := (s.missing == "_first") != s.desc
	switch {
	case typ == "unsigned_long":
		// UnsignedLongValuesComparatorSource.missingObject: 0 or 2^64-1
		if useMin {
			return sortVal{isU: true, typ: typ}
		}
		return sortVal{u: math.MaxUint64, isU: true, n: math.MaxUint64, typ: typ}
	case kind == kindFloat:
		if useMin {
			return sortVal{n: math.Inf(-1), typ: typ}
		}
		return sortVal{n: math.Inf(1), typ: typ}
	case useMin:
		return sortVal{i: math.MinInt64, n: math.MinInt64, isInt: true, typ: typ}
	}
	return sortVal{i: math.MaxInt64, n: math.MaxInt64, isInt: true, typ: typ}
}

func compareSortVal(a, b sortVal) int {
	if a.str || b.str {
		return strings.Compare(a.s, b.s)
	}
	if a.isU && b.isU {
		return cmpUint(a.u, b.u)
	}
	if a.isInt && b.isInt {
		return cmpInt(a.i, b.i)
	}
	return cmpFloat(a.n, b.n)
}

// compareHits orders two hits by the sort specs (missing last unless told otherwise),
// breaking ties by doc order.
func compareHits(specs []sortSpec, a, b *hit) int {
	for k, s := range specs {
		c := compareWithMissing(s, a.keys[k], b.keys[k])
		if c != 0 {
			return c
		}
	}
	return cmpInt(int64(a.order), int64(b.order))
}

// compareWithMissing compares two sort values of spec s. Only a string sort's _last or
// _first leaves a value missing (missingKey): it sorts after or before every value and
// ties with the other missing ones.
func compareWithMissing(s sortSpec, x, y sortVal) int {
	if x.missing || y.missing {
		if x.missing && y.missing {
			return 0
		}
		first := s.missing == "_first"
		if x.missing == first {
			return -1
		}
		return 1
	}
	c := compareSortVal(x, y)
	if s.desc {
		return -c
	}
	return c
}

// afterValue converts a search_after value to a sort value comparable with spec's keys.
func (c *Cluster) afterValue(ec *evalCtx, s sortSpec, v any) sortVal {
	switch s.kind {
	case sortScore:
		n, _ := toNumber(v)
		return sortVal{n: n}
	case sortDoc:
		n, _ := toNumber(v)
		return sortVal{i: int64(n), n: n, isInt: true}
	case sortID:
		str, _ := scalarString(v)
		return sortVal{str: true, s: str}
	case sortShardDoc:
		// a long, read exactly: shard indexes above 2^21 do not fit a double
		if n, ok := v.(jsonNum); ok {
			if i, ok := n.int64(); ok {
				return sortVal{i: i, n: float64(i), isInt: true}
			}
		}
		n, _ := toNumber(v)
		return sortVal{i: int64(n), n: n, isInt: true}
	}
	typ := s.unmappedType
	var m *mapper
	if ec != nil {
		if m = ec.m.lookup(s.field); m != nil {
			typ = m.typ
		}
	}
	if v == nil {
		// A hit renders null only for a string sort's missing value; a null sent back
		// for another sort is taken as its missing value too.
		return c.missingKey(ec, s, typ)
	}
	switch fieldKind(typ) {
	case kindInt:
		if c, ok := intSortVal(typ, v); ok {
			return c
		}
		n, _ := toNumber(v)
		return sortVal{i: int64(n), n: math.Trunc(n), isInt: true}
	case kindBool:
		n, _ := toNumber(v)
		if b, ok := v.(bool); ok {
			n = float64(b2i(b))
		}
		return sortVal{i: int64(n), n: math.Trunc(n), isInt: true}
	case kindFloat:
		n, _ := toNumber(v)
		return sortVal{n: n}
	case kindDate:
		if m != nil {
			// a number is the raw sort value as a hit carried it (millis for date,
			// nanos for date_nanos: SearchAfterBuilder.convertValueFromSortType)
			if n, ok := v.(jsonNum); ok {
				if i, ok := n.int64(); ok {
					return sortVal{i: i, n: float64(i), isInt: true}
				}
			}
			ms, _ := ec.toDate(m, v)
			return sortVal{i: ms, n: float64(ms), isInt: true}
		}
	}
	str, _ := scalarString(v)
	return sortVal{str: true, s: str}
}

// appendSortValue renders a sort value the way the server does: a missing value as the
// stand-in missingKey chose (null for a string sort), the infinities of a float sort's
// stand-in as the strings Jackson writes for them.
func appendSortValue(b []byte, s sortSpec, v sortVal) []byte {
	if v.missing {
		return append(b, "null"...)
	}
	if !v.str && !v.isInt && !v.isU && math.IsInf(v.n, 0) {
		if v.n > 0 {
			return append(b, `"Infinity"`...)
		}
		return append(b, `"-Infinity"`...)
	}
	switch {
	case v.str:
		return appendJSONString(b, v.s)
	case s.kind == sortScore:
		return append(b, javaFloat(float32(v.n))...)
	case v.isU:
		return strconv.AppendUint(b, v.u, 10)
	case v.isInt:
		return strconv.AppendInt(b, v.i, 10)
	case v.typ == "float" || v.typ == "half_float":
		return append(b, javaFloat(float32(v.n))...)
	}
	return append(b, javaDouble(v.n)...)
}

// checkSorts validates sort fields against the mappings (text fields and unmapped
// fields without unmapped_type fail).
func (c *Cluster) checkSorts(ixs []*index, sorts []sortSpec) *esError {
	for _, s := range sorts {
		if s.kind == sortID && c.opts.Flavor == Elasticsearch8 && len(ixs) > 0 {
			return shardFailure(c, ixs, errIDFieldData())
		}
		if s.kind != sortField {
			continue
		}
		switch s.field {
		case "_seq_no":
			// SeqNoFieldType has long doc values to sort on
			continue
		case "_version":
			// VersionFieldType has no fielddata (MappedFieldType.fielddataBuilder)
			return shardFailure(c, ixs, errIllegalArg("Fielddata is not supported on field [_version] of type [_version]"))
		}
		for _, ix := range ixs {
			m := ix.mapping.Load().lookup(s.field)
			if m == nil {
				if s.unmappedType != "" {
					continue
				}
				e := newErr(400, typeQueryShard, "No mapping found for ["+s.field+"] in order to sort on", true)
				e.meta = []metaKV{{k: "index", v: ix.name}, {k: "index_uuid", v: ix.uuid}}
				return shardFailure(c, ixs, e)
			}
			if m.object || m.typ == "text" || m.typ == "match_only_text" {
				cause := errIllegalArg("Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [" + s.field + "] in order to load field data by uninverting the inverted index. Note that this can use significant memory.")
				return shardFailure(c, ixs, cause)
			}
		}
	}
	return nil
}

// docSet is the documents of one shard a search runs over: a live snapshot, or the one a
// point in time or scroll pinned.
type docSet struct {
	ix    *index
	shard int
	docs  []*doc
}

// setIndices returns the distinct indices of the sets, in name order.
func setIndices(sets []docSet) []*index {
	var out []*index
	seen := map[*index]bool{}
	for _, s := range sets {
		if !seen[s.ix] {
			seen[s.ix] = true
			out = append(out, s.ix)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// searchResult is an evaluated search: every matching hit in result order.
type searchResult struct {
	hits     []hit
	total    int
	maxScore float64
	scored   bool
	shards   int
}

// handleSearch serves GET/POST /_search and /{index}/_search.
func handleSearch(c *Cluster, rq *request) *response {
	sr, err := c.parseSearch(rq, false)
	if err != nil {
		return errResp(err)
	}
	var sets []docSet
	var prefix []byte
	var pit *pitCtx
	if sr.pitID != "" {
		if rq.path["index"] != "" {
			return errResp(errValidation([]string{"[indices] cannot be used with point in time. Do not specify any index with point in time."}))
		}
		p, perr := c.usePIT(sr.pitID, sr.pitKeep)
		if perr != nil {
			return errResp(perr)
		}
		sets = p.sets
		pit = p
		prefix = append(appendJSONString([]byte(`"pit_id":`), p.id), ',')
	} else {
		ixs, rerr := c.resolveIndices(rq, optForbidClosed)
		if rerr != nil {
			return errResp(rerr)
		}
		var terr *esError
		if sets, terr = c.searchSets(rq, ixs); terr != nil {
			return errResp(terr)
		}
	}
	ixs := setIndices(sets)
	for _, ix := range ixs {
		if w := ix.k().maxResultWindow; sr.from+sr.size > w {
			cause := errIllegalArg("Result window is too large, from + size must be less than or equal to: [" + strconv.Itoa(w) + "] but was [" + strconv.Itoa(sr.from+sr.size) + "]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.")
			return errResp(shardFailure(c, ixs, cause))
		}
	}
	if err := c.checkQueries(ixs, sr); err != nil {
		return errResp(err)
	}
	if err := c.checkSorts(ixs, sr.sorts); err != nil {
		return errResp(err)
	}
	if err := sr.checkStoredFields(c, ixs); err != nil {
		return errResp(err)
	}
	var res searchResult
	if pit != nil {
		res = c.pitSearch(pit, sr)
	} else {
		res = c.runSearch(sets, sr)
	}
	hits := res.hits
	var warn [][2]string
	for _, s := range sr.sorts {
		if s.kind == sortID {
			warn = append(warn, [2]string{"Warning", c.warning("Loading the fielddata on the _id field is deprecated and will be removed in future versions. If you require sorting or aggregating on this field you should also include the id in the body of your documents, and map this field as a keyword field that has [doc_values] enabled")})
			break
		}
	}
	if sr.scroll != "" {
		keep, _ := parseTimeValue(sr.scroll, "scroll")
		id := c.openScroll(&scrollCtx{res: res, sr: sr, pos: sr.size, keep: keep})
		prefix = append(appendJSONString([]byte(`"_scroll_id":`), id), ',')
	}
	page := hits
	if sr.from >= len(page) {
		page = nil
	} else {
		page = page[sr.from:]
	}
	if len(page) > sr.size {
		page = page[:sr.size]
	}
	resp := jsonResp(200, c.renderSearch(rq, sr, &res, page, prefix))
	resp.headers = warn
	return resp
}

// warning renders a deprecation Warning header value (RFC 7234 code 299) as the node does.
func (c *Cluster) warning(msg string) string {
	p := c.product()
	agent := p.name + "-" + p.number + "-" + p.buildHash
	return "299 " + agent + ` "` + strings.ReplaceAll(msg, `"`, `\"`) + `"`
}

// runSearch evaluates, sorts and applies search_after. Outside a scroll only the first
// from+size hits are answered, so when they are few only they are sorted.
func (c *Cluster) runSearch(sets []docSet, sr *searchReq) searchResult {
	hits, total := c.collect(sets, sr, nil)
	res := c.scoredResult(sets, sr, hits, total)
	if sr.size == 0 {
		res.maxScore = math.NaN()
	}
	if len(sr.searchAfter) > 0 {
		hits = filterAfter(sr.sorts, hits, c.afterValues(sets, sr), hits[:0])
	}
	if k := sr.from + sr.size; sr.scroll == "" && k < len(hits)/2 && !anyNaN(hits) {
		res.hits = topHits(sr.sorts, hits, k)
		return res
	}
	sortHits(sr.sorts, hits)
	res.hits = hits
	return res
}

// hitLess is the hits' result order: by the sorts then doc order, or by score then doc
// order. Doc order is unique, so the order is total and any sort gives the same hits.
func hitLess(sorts []sortSpec, a, b *hit) bool {
	if len(sorts) > 0 {
		return compareHits(sorts, a, b) < 0
	}
	if a.score != b.score {
		return a.score > b.score
	}
	return a.order < b.order
}

func sortHits(sorts []sortSpec, hits []hit) {
	sort.SliceStable(hits, func(i, j int) bool { return hitLess(sorts, &hits[i], &hits[j]) })
}

// topHits returns the first k hits in result order, sorting batches of 2k at a time
// rather than every hit.
func topHits(sorts []sortSpec, hits []hit, k int) []hit {
	if k == 0 {
		return nil
	}
	buf := make([]hit, 0, 2*k)
	for i := range hits {
		if len(buf) == 2*k {
			sortHits(sorts, buf)
			buf = buf[:k]
		}
		buf = append(buf, hits[i])
	}
	sortHits(sorts, buf)
	return buf[:min(k, len(buf))]
}

// anyNaN says whether a hit's score or sort value is NaN, which compares equal to
// everything and so leaves the order to the sort's history: only a full stable sort
// answers as before.
func anyNaN(hits []hit) bool {
	for i := range hits {
		if math.IsNaN(hits[i].score) || hasNaN(hits[i].keys) {
			return true
		}
	}
	return false
}

// sortedRun evaluates a search and sorts every matching hit, search_after aside; the max
// score is that of every hit, whatever the size. clockRead says whether the query did date
// math on now.
func (c *Cluster) sortedRun(sets []docSet, sr *searchReq) (res searchResult, clockRead bool) {
	hits, total := c.collect(sets, sr, &clockRead)
	res = c.scoredResult(sets, sr, hits, total)
	sortHits(sr.sorts, hits)
	res.hits = hits
	return res, clockRead
}

// scoredResult starts the result of a search: total, shards, whether hits are scored and
// the max score over every hit.
func (c *Cluster) scoredResult(sets []docSet, sr *searchReq, hits []hit, total int) searchResult {
	res := searchResult{total: total, maxScore: math.NaN(), scored: len(sr.sorts) == 0 || sr.trackScores}
	res.shards = len(sets)
	for _, s := range sr.sorts {
		if s.kind == sortScore {
			res.scored = true
		}
	}
	if res.scored {
		for i := range hits {
			if math.IsNaN(res.maxScore) || hits[i].score > res.maxScore {
				res.maxScore = hits[i].score
			}
		}
	}
	return res
}

// afterValues converts a request's search_after values to sort values.
func (c *Cluster) afterValues(sets []docSet, sr *searchReq) []sortVal {
	var ec *evalCtx
	if len(sets) > 0 {
		ec = &evalCtx{ix: sets[0].ix, m: sets[0].ix.mapping.Load(), now: c.now()}
	}
	after := make([]sortVal, len(sr.sorts))
	for k, s := range sr.sorts {
		after[k] = c.afterValue(ec, s, sr.searchAfter[k])
	}
	return after
}

// compareAfter compares a hit's sort values with search_after's, without the doc order
// tie-break: a hit is kept when it sorts strictly after.
func compareAfter(sorts []sortSpec, h *hit, after []sortVal) int {
	for k, s := range sorts {
		if cmp := compareWithMissing(s, h.keys[k], after[k]); cmp != 0 {
			return cmp
		}
	}
	return 0
}

// filterAfter appends to dst the hits that sort after search_after's values.
func filterAfter(sorts []sortSpec, hits []hit, after []sortVal, dst []hit) []hit {
	for i := range hits {
		if compareAfter(sorts, &hits[i], after) > 0 {
			dst = append(dst, hits[i])
		}
	}
	return dst
}

// hasNaN says whether a sort value is a NaN, which compares equal to everything
// (cmpFloat): sorted hits are then no longer split by search_after into a prefix before
// and a suffix after.
func hasNaN(vals []sortVal) bool {
	for _, v := range vals {
		if !v.missing && !v.str && !v.isInt && !v.isU && math.IsNaN(v.n) {
			return true
		}
	}
	return false
}

// renderSearch renders a search response; prefix holds leading members (_scroll_id,
// pit_id) with their trailing comma.
func (c *Cluster) renderSearch(rq *request, sr *searchReq, res *searchResult, page []hit, prefix []byte) []byte {
	b := make([]byte, 0, 256+len(page)*256)
	b = append(b, '{')
	b = append(b, prefix...)
	b = append(b, `"took":`...)
	b = strconv.AppendInt(b, rq.tookMillis(), 10)
	b = append(b, `,"timed_out":false,"_shards":{"total":`...)
	b = strconv.AppendInt(b, int64(res.shards), 10)
	b = append(b, `,"successful":`...)
	b = strconv.AppendInt(b, int64(res.shards), 10)
	b = append(b, `,"skipped":0,"failed":0},"hits":{`...)
	total := res.total
	if sr.totalAsInt {
		b = append(b, `"total":`...)
		if sr.trackTotal == -1 {
			b = append(b, "-1"...)
		} else {
			b = strconv.AppendInt(b, int64(total), 10)
		}
		b = append(b, ',')
	} else if sr.trackTotal != -1 {
		rel := "eq"
		v := total
		if total > sr.trackTotal {
			v, rel = sr.trackTotal, "gte"
		}
		b = append(b, `"total":{"value":`...)
		b = strconv.AppendInt(b, int64(v), 10)
		b = append(b, `,"relation":"`...)
		b = append(b, rel...)
		b = append(b, `"},`...)
	}
	b = append(b, `"max_score":`...)
	if math.IsNaN(res.maxScore) {
		b = append(b, "null"...)
	} else {
		b = append(b, javaFloat(float32(res.maxScore))...)
	}
	b = append(b, `,"hits":[`...)
	for i := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = c.appendHit(b, &page[i], sr, res.scored)
	}
	return append(b, `]}}`...)
}

// collect evaluates the query over the document sets and counts the total.
// clockRead, if not nil, is set when the query does date math on now.
func (c *Cluster) collect(sets []docSet, sr *searchReq, clockRead *bool) ([]hit, int) {
	var hits []hit
	order := 0
	now := c.now()
	for si, set := range sets {
		ix := set.ix
		ec := &evalCtx{ix: ix, m: ix.mapping.Load(), now: now, clockRead: clockRead}
		for pos, d := range set.docs {
			order++
			if sr.slice != nil && !sr.slice.keeps(d.id) {
				continue
			}
			ok, score := sr.q.match(ec, d)
			if !ok {
				continue
			}
			if sr.post != nil {
				if ok, _ := sr.post.match(ec, d); !ok {
					continue
				}
			}
			if sr.minScore != nil && score < *sr.minScore {
				continue
			}
			h := hit{ix: ix, d: d, score: score, order: order, shardDoc: pos + 1, set: si}
			if len(sr.sorts) > 0 {
				h.keys = make([]sortVal, len(sr.sorts))
				for k, s := range sr.sorts {
					h.keys[k] = c.sortKey(ec, s, &h)
				}
			}
			hits = append(hits, h)
		}
	}
	return hits, len(hits)
}

func (c *Cluster) appendHit(b []byte, h *hit, sr *searchReq, scored bool) []byte {
	d := h.d
	b = append(b, `{"_index":`...)
	b = appendJSONString(b, h.ix.name)
	b = c.appendDocTypeOf(b, c.indexDocType(h.ix))
	// stored_fields=_none_ loads no stored field at all, _id and _routing included.
	loads := sr.stored == nil || !sr.stored.none
	if loads {
		b = append(b, `,"_id":`...)
		b = appendJSONString(b, d.id)
	}
	if sr.version {
		b = append(b, `,"_version":`...)
		b = strconv.AppendInt(b, d.version, 10)
	}
	if sr.seqNo {
		b = append(b, `,"_seq_no":`...)
		b = strconv.AppendInt(b, d.seqNo, 10)
		b = append(b, `,"_primary_term":`...)
		b = strconv.AppendInt(b, d.primaryTerm, 10)
	}
	b = append(b, `,"_score":`...)
	if scored {
		b = append(b, javaFloat(float32(h.score))...)
	} else {
		b = append(b, "null"...)
	}
	if d.hasRouting && loads {
		b = append(b, `,"_routing":`...)
		b = appendJSONString(b, d.routing)
	}
	if sd, stored := h.ix.storedSource(d); stored {
		if f := sr.hitSource(); f.fetch {
			b = append(b, `,"_source":`...)
			b = append(b, renderSource(sd, f)...)
		}
	}
	b = appendHitFields(b, sr.hitFields(h))
	if len(sr.sorts) > 0 {
		b = append(b, `,"sort":[`...)
		for k, s := range sr.sorts {
			if k > 0 {
				b = append(b, ',')
			}
			b = appendSortValue(b, s, h.keys[k])
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// handleCount serves GET/POST /_count and /{index}/_count.
func handleCount(c *Cluster, rq *request) *response {
	sr, err := c.parseSearch(rq, true)
	if err != nil {
		return errResp(err)
	}
	ixs, rerr := c.resolveIndices(rq, optForbidClosed)
	if rerr != nil {
		return errResp(rerr)
	}
	if v, ok := rq.query["min_score"]; ok {
		f, okf := javaParseDouble(v)
		if !okf {
			return errResp(errIllegalArg("Failed to parse float parameter [min_score] with value [" + v + "]"))
		}
		sr.minScore = &f
	}
	sr.sorts = nil
	if err := c.checkQueries(ixs, sr); err != nil {
		return errResp(err)
	}
	sets, terr := c.searchSets(rq, ixs)
	if terr != nil {
		return errResp(terr)
	}
	_, total := c.collect(sets, sr, nil)
	shards := len(sets)
	b := []byte(`{"count":`)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"_shards":{"total":`...)
	b = strconv.AppendInt(b, int64(shards), 10)
	b = append(b, `,"successful":`...)
	b = strconv.AppendInt(b, int64(shards), 10)
	b = append(b, `,"skipped":0,"failed":0}}`...)
	return jsonResp(200, b)
}

// intSortVal is the sort value of an integer field: the exact long (LongValuesComparatorSource)
// or, for unsigned_long, the exact unsigned value rendered as a JSON number
// (UnsignedLongValuesComparatorSource; SearchSortValues writes the BigInteger as is).
func intSortVal(typ string, v any) (sortVal, bool) {
	if typ == "unsigned_long" {
		u, ok := unsignedLongValue(v)
		if !ok {
			return sortVal{}, false
		}
		return sortVal{u: u, isU: true, n: float64(u)}, true
	}
	i, ok := longValue(v)
	if !ok {
		n, okn := toNumber(v)
		if !okn {
			return sortVal{}, false
		}
		i = clampToLong(math.Trunc(n))
	}
	return sortVal{i: i, n: float64(i), isInt: true}, true
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
