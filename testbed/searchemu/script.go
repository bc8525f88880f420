package searchemu

import (
	"container/list"
	"math"
	"math/big"
	"strconv"
	"sync"
	"time"

	"github.com/fanout-dev/fanout/testbed/searchemu/painless"
)

// Scripted updates: UpdateHelper.prepareUpdateScriptRequest and executeScriptedUpsert
// (server/src/main/java/org/opensearch/action/update/UpdateHelper.java) over the Painless
// subset of package painless.

// updateScript is a parsed Script (org.opensearch.script.Script) of an update request.
type updateScript struct {
	source string
	id     string
	lang   string
	params *painless.Map
}

// parseUpdateScript reads the script pkg/bulk validated: a string is an inline Painless
// source; an object has source or id, lang (painless by default), params and options.
// Params are parsed as XContentParser.map does, into HashMaps.
func parseUpdateScript(raw []byte) *updateScript {
	s := &updateScript{lang: "painless", params: painless.NewMap(true)}
	v, _ := parseJSON(raw)
	switch x := v.(type) {
	case string:
		s.source = x
	case *jsonObj:
		for _, m := range x.m {
			switch m.k {
			case "source":
				switch sv := m.v.(type) {
				case string:
					s.source = sv
				case *jsonObj: // a source object is stored as its JSON text
					s.source = string(appendCanonical(nil, sv))
				}
			case "id":
				s.id, _ = m.v.(string)
			case "lang":
				s.lang, _ = m.v.(string)
			case "params":
				if o, ok := m.v.(*jsonObj); ok {
					s.params = toPainless(o, true).(*painless.Map)
				}
			}
		}
	}
	return s
}

// The update context's ScriptCache defaults (ScriptContext's): 100 compiled scripts, and
// at most 75 compilations in 5 minutes (script.context.update.max_compilations_rate).
const (
	scriptCacheSize     = 100
	scriptMaxSourceSize = 65535 // script.max_size_in_bytes
	compileRate         = 75
	compileWindow       = 5 * time.Minute
)

// scriptCache is ScriptCache for the update context: compiled scripts by source (LRU),
// and the token bucket that limits how often new ones are compiled. A script that fails
// to compile is not cached, so every attempt spends a token again.
type scriptCache struct {
	mu      sync.Mutex
	lru     *list.List // of *cachedScript, most recently used first
	byKey   map[string]*list.Element
	tokens  float64
	last    time.Time
	started bool
}

type cachedScript struct {
	key string
	p   *painless.Script
}

// compile returns the compiled script for src, compiling it (and taking a token) when
// it is not cached.
func (sc *scriptCache) compile(now time.Time, src string) (*painless.Script, *painless.Error, bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.byKey == nil {
		sc.byKey = map[string]*list.Element{}
		sc.lru = list.New()
	}
	if el, ok := sc.byKey[src]; ok {
		sc.lru.MoveToFront(el)
		return el.Value.(*cachedScript).p, nil, true
	}
	// checkCompilationLimit: refill in proportion to the time passed, capped at the rate
	if !sc.started {
		sc.started, sc.tokens, sc.last = true, compileRate, now
	}
	tokens := sc.tokens + float64(now.Sub(sc.last))*compileRate/float64(compileWindow)
	sc.last = now
	if tokens > compileRate {
		tokens = compileRate
	}
	if tokens < 1 {
		sc.tokens = tokens
		return nil, nil, false
	}
	sc.tokens = tokens - 1
	p, err := painless.Compile(src)
	if err != nil {
		return nil, err, true
	}
	sc.byKey[src] = sc.lru.PushFront(&cachedScript{src, p})
	if sc.lru.Len() > scriptCacheSize {
		old := sc.lru.Remove(sc.lru.Back()).(*cachedScript)
		delete(sc.byKey, old.key)
	}
	return p, nil, true
}

// compile is ScriptService.compile for the update context: stored scripts and other
// languages answer what a cluster without them answers (scriptError), an inline source
// is limited in size, and compilations are cached and rate limited (ScriptCache); the
// error is wrapped as UpdateHelper.executeScript wraps it.
func (c *Cluster) compileScript(s *updateScript, raw []byte) (*painless.Script, *esError) {
	if s.id != "" || s.lang != "painless" {
		return nil, scriptError(raw)
	}
	if len(s.source) > scriptMaxSourceSize {
		return nil, errIllegalArgCause("failed to execute script", errIllegalArg("exceeded max allowed inline script size in bytes ["+strconv.Itoa(scriptMaxSourceSize)+"] with size ["+strconv.Itoa(len(s.source))+"] for script ["+s.source+"]"))
	}
	p, err, ok := c.scripts.compile(c.now(), s.source)
	if !ok {
		cb := newErr(429, "circuit_breaking_exception", "[script] Too many dynamic script compilations within, max: [75/5m]; please use indexed, or scripts with parameters instead; this limit can be changed by the [script.context.update.max_compilations_rate] setting", true)
		cb.meta = []metaKV{{k: "bytes_wanted", v: "0", num: true}, {k: "bytes_limit", v: "0", num: true}, {k: "durability", v: "TRANSIENT"}}
		// ScriptCache wraps what is not a ScriptException
		gse := newErr(500, "general_script_exception", "Failed to compile inline script ["+s.source+"] using lang [painless]", true)
		gse.cause = cb
		return nil, errIllegalArgCause("failed to execute script", gse)
	}
	if err != nil {
		return nil, errIllegalArgCause("failed to execute script", scriptException(err))
	}
	return p, nil
}

// run executes the compiled script against ctx.
func (s *updateScript) run(p *painless.Script, ctx *painless.Map) *esError {
	if err := p.Execute(ctx, s.params); err != nil {
		return errIllegalArgCause("failed to execute script", scriptException(err))
	}
	return nil
}

// scriptException renders a ScriptException: type, reason, then its metadata
// (script_stack, script, lang, position) and the Java cause, in
// OpenSearchException.toXContent's order.
func scriptException(e *painless.Error) *esError {
	x := newErr(400, typeScript, e.Reason(), true)
	b := []byte(`"script_stack":[`)
	for i, l := range e.Stack {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, l)
	}
	b = append(b, `],"script":`...)
	b = appendJSONString(b, e.Script)
	b = append(b, `,"lang":"painless"`...)
	if e.Offset >= 0 {
		b = append(b, `,"position":{"offset":`...)
		b = strconv.AppendInt(b, int64(e.Offset), 10)
		b = append(b, `,"start":`...)
		b = strconv.AppendInt(b, int64(e.Start), 10)
		b = append(b, `,"end":`...)
		b = strconv.AppendInt(b, int64(e.End), 10)
		b = append(b, '}')
	}
	b = append(b, `,"caused_by":`...)
	x.extra = appendCause(b, &e.Cause)
	return x
}

func appendCause(b []byte, c *painless.Cause) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, c.Type)
	b = append(b, `,"reason":`...)
	if c.Null {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, c.Reason)
	}
	if c.Inner != nil {
		b = append(b, `,"caused_by":`...)
		b = appendCause(b, c.Inner)
	}
	return append(b, '}')
}

// toPainless converts a parsed JSON value to the Java objects XContent parsing gives a
// script: Integer, Long or BigInteger for integers, Double for fractions, ArrayList,
// and LinkedHashMap (the source) or HashMap (params) for objects.
func toPainless(v any, hashed bool) any {
	switch x := v.(type) {
	case *jsonObj:
		m := painless.NewMap(hashed)
		for _, e := range x.m {
			m.Put(e.k, toPainless(e.v, hashed))
		}
		return m
	case []any:
		l := &painless.List{Elems: make([]any, len(x))}
		for i, e := range x {
			l.Elems[i] = toPainless(e, hashed)
		}
		return l
	case jsonNum:
		if x.float {
			f, _ := strconv.ParseFloat(x.raw, 64)
			return f
		}
		if n, err := strconv.ParseInt(x.raw, 10, 64); err == nil {
			if n >= math.MinInt32 && n <= math.MaxInt32 {
				return int32(n)
			}
			return n
		}
		b, ok := new(big.Int).SetString(x.raw, 10)
		if !ok {
			return painless.BigInt(x.raw)
		}
		return painless.BigInt(b.String())
	}
	return v
}

// fromPainless converts a script's result back to JSON the way XContentBuilder writes
// the Java objects; a key that is not a String fails as the builder's cast does.
func fromPainless(v any) (any, *esError) {
	switch x := v.(type) {
	case *painless.Map:
		o := &jsonObj{}
		var err *esError
		x.Range(func(k, val any) {
			if err != nil {
				return
			}
			ks, ok := k.(string)
			if !ok {
				err = newErr(500, "class_cast_exception", "class "+javaClassOf(k)+" cannot be cast to class java.lang.String", false)
				return
			}
			var cv any
			cv, err = fromPainless(val)
			o.m = append(o.m, jsonMember{k: ks, v: cv})
		})
		return o, err
	case *painless.List:
		out := make([]any, len(x.Elems))
		for i, e := range x.Elems {
			cv, err := fromPainless(e)
			if err != nil {
				return nil, err
			}
			out[i] = cv
		}
		return out, nil
	case int32:
		return jsonNum{raw: strconv.FormatInt(int64(x), 10)}, nil
	case int64:
		return jsonNum{raw: strconv.FormatInt(x, 10)}, nil
	case painless.BigInt:
		return jsonNum{raw: string(x)}, nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			// Jackson's QUOTE_NON_NUMERIC_NUMBERS
			return painless.JavaFloat(x, 64), nil
		}
		return jsonNum{raw: painless.JavaFloat(x, 64), float: true}, nil
	case float32:
		f := float64(x)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return painless.JavaFloat(f, 32), nil
		}
		return jsonNum{raw: painless.JavaFloat(f, 32), float: true}, nil
	}
	return v, nil
}

func javaClassOf(v any) string {
	switch v.(type) {
	case int32:
		return "java.lang.Integer"
	case int64:
		return "java.lang.Long"
	case float64:
		return "java.lang.Double"
	case float32:
		return "java.lang.Float"
	case bool:
		return "java.lang.Boolean"
	case *painless.List:
		return "java.util.ArrayList"
	case *painless.Map:
		return "java.util.HashMap"
	}
	return "java.lang.Object"
}

// scriptOp reads ctx.op after the script, as UpdateHelper does: (String) ctx.get("op"),
// then UpdateOpType.lenientFromString (an unknown op is "none").
func scriptOp(ctx *painless.Map) (string, *esError) {
	v, _ := ctx.Get("op")
	switch x := v.(type) {
	case nil:
		return "", newErr(500, "null_pointer_exception", `Cannot invoke "String.hashCode()" because "operation" is null`, false)
	case string:
		switch x {
		case "create", "index", "delete", "none":
			return x, nil
		}
		return "none", nil
	}
	return "", newErr(500, "class_cast_exception", "class "+javaClassOf(v)+" cannot be cast to class java.lang.String", false)
}

// scriptSource reads ctx._source after the script: (Map<String, Object>) ctx.get("_source").
func scriptSource(ctx *painless.Map) (*jsonObj, *esError) {
	v, _ := ctx.Get("_source")
	m, ok := v.(*painless.Map)
	if !ok {
		if v == nil {
			return nil, newErr(500, "null_pointer_exception", `Cannot invoke "java.util.Map.size()" because "source" is null`, false)
		}
		return nil, newErr(500, "class_cast_exception", "class "+javaClassOf(v)+" cannot be cast to class java.util.Map", false)
	}
	o, err := fromPainless(m)
	if err != nil {
		return nil, err
	}
	return o.(*jsonObj), nil
}

// scriptUpdate runs a script against the live document d (prepareUpdateScriptRequest) and
// applies its outcome: index (updated, always a write: detect_noop does not apply to
// scripts), delete, or a noop for "none" and any other op. ix.mu is held.
func (c *Cluster) scriptUpdate(ix *index, op *docOp, d *doc, shard int, now time.Time) (writeRes, []byte, *esError) {
	s := parseUpdateScript(op.upd.Script)
	p, err := c.compileScript(s, op.upd.Script)
	if err != nil {
		return writeRes{}, nil, err
	}
	sd, stored := ix.storedSource(d)
	if !stored {
		return writeRes{}, nil, c.errSourceMissing(ix, op.id)
	}
	ctx := painless.NewMap(true)
	ctx.Put("op", "index")
	ctx.Put("_index", ix.name)
	switch c.opts.Flavor {
	case Elasticsearch7:
		// Elasticsearch 7's UpdateHelper also gives the script the document's type
		ctx.Put("_type", c.indexDocType(ix))
	case Elasticsearch8:
		ctx.Put("_type", "_doc")
	}
	ctx.Put("_id", op.id)
	ctx.Put("_version", d.version)
	if d.hasRouting {
		ctx.Put("_routing", d.routing)
	} else {
		ctx.Put("_routing", nil)
	}
	ctx.Put("_source", toPainless(sd.source(), false))
	ctx.Put("_now", now.UnixMilli())
	if err := s.run(p, ctx); err != nil {
		return writeRes{}, nil, err
	}
	kind, err := scriptOp(ctx)
	if err != nil {
		return writeRes{}, nil, err
	}
	newSrc, err := scriptSource(ctx)
	if err != nil {
		return writeRes{}, nil, err
	}
	switch kind {
	case "index":
		src := appendCanonical(nil, newSrc)
		if err := ix.checkAndPublishLocked(src, op.id); err != nil {
			return writeRes{}, nil, err
		}
		// calculateRouting: a script request has no doc, so the stored _routing stays
		wr := writeReq{shard: shard, id: op.id, src: src, routing: d.routing, hasRouting: d.hasRouting, versionType: vtInternal, version: matchAny, ifSeqNo: d.seqNo, ifTerm: d.primaryTerm, parsed: newSrc}
		res, err := ix.applyIndexLocked(c, &wr, now)
		if err != nil {
			return writeRes{}, nil, err
		}
		return res, updateGet(op.fetch, res, src, newSrc), nil
	case "delete":
		wr := writeReq{shard: shard, id: op.id, routing: d.routing, hasRouting: d.hasRouting, versionType: vtInternal, version: matchAny, ifSeqNo: d.seqNo, ifTerm: d.primaryTerm}
		res, err := ix.applyDeleteLocked(c, &wr, now)
		if err != nil {
			return writeRes{}, nil, err
		}
		if op.fetch == nil || !op.fetch.fetch {
			return res, nil, nil
		}
		if op.fetch.filters() {
			// extractGetResult filters with sourceAsBytes null: the delete is applied and
			// the response fails (TransportUpdateAction's listener)
			return writeRes{}, nil, newErr(500, "null_pointer_exception", `Cannot invoke "org.opensearch.core.common.bytes.BytesReference.length()" because "sourceAsBytes" is null`, false)
		}
		// GetResult with a null source: no _source member
		g := []byte(`{"_seq_no":`)
		g = strconv.AppendInt(g, res.seqNo, 10)
		g = append(g, `,"_primary_term":`...)
		g = strconv.AppendInt(g, res.term, 10)
		g = append(g, `,"found":true}`...)
		return res, g, nil
	}
	res := writeRes{result: "noop", status: 200, version: d.version, seqNo: d.seqNo, term: d.primaryTerm}
	// the noop's get: the stored bytes, or the script's map when filtering
	var get []byte
	if op.fetch != nil && op.fetch.fetch && op.fetch.filters() {
		get = updateGet(op.fetch, res, nil, newSrc)
	} else {
		get = updateGet(op.fetch, res, sd.src, sd.source())
	}
	return res, get, nil
}

// scriptedUpsert runs the script on the upsert document of a missing document
// (executeScriptedUpsert): ctx holds only op ("create"), _source and _now; "create"
// indexes the script's source, anything else is a noop on the missing document.
func (c *Cluster) scriptedUpsert(ix *index, op *docOp, shard int, now time.Time) (writeRes, []byte, *esError) {
	s := parseUpdateScript(op.upd.Script)
	p, err := c.compileScript(s, op.upd.Script)
	if err != nil {
		return writeRes{}, nil, err
	}
	uv, je := parseJSON(op.upd.Upsert)
	if je != nil {
		return writeRes{}, nil, wrapParse(errFromJSON(op.upd.Upsert, je))
	}
	ctx := painless.NewMap(true)
	ctx.Put("op", "create")
	ctx.Put("_source", toPainless(uv, false))
	ctx.Put("_now", now.UnixMilli())
	if err := s.run(p, ctx); err != nil {
		return writeRes{}, nil, err
	}
	kind, err := scriptOp(ctx)
	if err != nil {
		return writeRes{}, nil, err
	}
	newSrc, err := scriptSource(ctx)
	if err != nil {
		return writeRes{}, nil, err
	}
	if kind != "create" {
		// UpdateResponse of the missing document's GetResult: version -1, no seq_no,
		// and that GetResult as "get" whether or not _source was asked for
		return writeRes{result: "noop", status: 200, version: -1, seqNo: unassignedSeq, term: 0}, []byte(`{"found":false}`), nil
	}
	src := appendCanonical(nil, newSrc)
	if err := ix.checkAndPublishLocked(src, op.id); err != nil {
		return writeRes{}, nil, err
	}
	wr := writeReq{shard: shard, id: op.id, src: src, routing: op.routing, hasRouting: op.hasRouting, versionType: vtInternal, version: matchAny, ifSeqNo: unassignedSeq, create: true, parsed: newSrc}
	res, err := ix.applyIndexLocked(c, &wr, now)
	if err != nil {
		return writeRes{}, nil, err
	}
	return res, updateGet(op.fetch, res, src, newSrc), nil
}
