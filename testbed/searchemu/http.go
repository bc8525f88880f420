package searchemu

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// request is an HTTP request as handlers see it.
type request struct {
	ctx     context.Context
	method  string
	rawPath string
	uri     string
	path    map[string]string
	query   map[string]string
	body    []byte
	start   time.Time
	// accept is the Accept header (the _cat APIs choose their output format by it).
	accept string
	// es8 is what the Elasticsearch 8 flavour negotiated from the media type headers.
	es8 *es8Negotiation
	// local is the address of the socket the request arrived on ("" if unknown).
	local string
	// remote is the address the request came from.
	remote string
	// principal is who the request authenticated as (nil on a cluster without security).
	principal *principal
}

// paramBool mirrors RestRequest.paramAsBoolean ("" counts as true).
func (rq *request) paramBool(k string, def bool) (bool, *esError) {
	v, ok := rq.query[k]
	if !ok {
		return def, nil
	}
	switch v {
	case "", "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errIllegalArg("Failed to parse value [" + v + "] as only [true] or [false] are allowed.")
}

// paramLong mirrors RestRequest.paramAsLong.
func (rq *request) paramLong(k string, def int64) (int64, bool, *esError) {
	v, ok := rq.query[k]
	if !ok {
		return def, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, errIllegalArgCause("Failed to parse long parameter ["+k+"] with value ["+v+"]", newErr(400, typeNumberFormat, `For input string: "`+v+`"`, false))
	}
	return n, true, nil
}

func (rq *request) paramInt(k string, def int) (int, *esError) {
	v, ok := rq.query[k]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errIllegalArgCause("Failed to parse int parameter ["+k+"] with value ["+v+"]", newErr(400, typeNumberFormat, `For input string: "`+v+`"`, false))
	}
	return n, nil
}

// response is what handlers return.
type response struct {
	status  int
	body    []byte
	ctype   string
	headers [][2]string
}

const jsonContentType = "application/json; charset=UTF-8"

func jsonResp(status int, body []byte) *response {
	return &response{status: status, body: body}
}

func errResp(e *esError) *response {
	return &response{status: e.status, body: e.envelope()}
}

// simpleErr is the router-level envelope {"error":"…","status":N}.
func simpleErr(status int, msg string) *response {
	b := append([]byte(`{"error":`), appendJSONString(nil, msg)...)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	return &response{status: status, body: append(b, '}')}
}

type handlerFunc func(c *Cluster, rq *request) *response

type endpoint struct {
	fn     handlerFunc
	params map[string]bool
}

type route struct {
	segs    []string
	methods map[string]*endpoint
}

type router struct {
	routes []*route
	// trie is built on the first lookup, once every route is added.
	trieOnce sync.Once
	trie     *trieNode
}

// methodOrder is RestRequest.Method's declaration order.
var methodOrder = []string{"GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE", "CONNECT"}

// globalParams are accepted by every endpoint (response and content parameters).
var globalParams = map[string]bool{
	"pretty": true, "human": true, "error_trace": true, "filter_path": true, "format": true,
	"source": true, "source_content_type": true,
}

func (rt *router) add(method, pattern string, fn handlerFunc, params ...string) {
	segs := splitPath(pattern)
	var r *route
	for _, x := range rt.routes {
		if strings.Join(x.segs, "/") == strings.Join(segs, "/") {
			r = x
		}
	}
	if r == nil {
		r = &route{segs: segs, methods: map[string]*endpoint{}}
		rt.routes = append(rt.routes, r)
	}
	ep := &endpoint{fn: fn, params: map[string]bool{}}
	for _, p := range params {
		ep.params[p] = true
	}
	r.methods[method] = ep
}

// splitPath splits a route pattern; request paths go through pathSegments.
func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

type match struct {
	r      *route
	params map[string]string
}

// find returns the routes matching the path in the order the server's RestController
// tries them: one per PathTrie matching mode (see pathtrie.go), duplicates dropped.
func (rt *router) find(segs []string) []match {
	rt.trieOnce.Do(func() {
		rt.trie = &trieNode{}
		for _, r := range rt.routes {
			rt.trie.insert(r.segs, r)
		}
	})
	if len(segs) == 0 {
		for _, r := range rt.routes {
			if len(r.segs) == 0 {
				return []match{{r: r}}
			}
		}
		return nil
	}
	var out []match
	for mode := explicitNodesOnly; mode <= wildcardNodesAllowed; mode++ {
		r := rt.trie.retrieve(segs, 0, mode)
		if r == nil {
			continue
		}
		dup := false
		for _, m := range out {
			dup = dup || m.r == r
		}
		if !dup {
			out = append(out, match{r: r, params: r.params(segs)})
		}
	}
	return out
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ServeHTTP serves the cluster's REST API. It honours every fault except Down, which only
// servers started with Listen can apply.
func (c *Cluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			c.log.Error("searchemu: handler panic", "method", r.Method, "uri", r.RequestURI, "panic", p)
			e := newErr(500, "exception", "searchemu internal error", true)
			writeResponse(w, r, errResp(e), false)
		}
	}()
	if c.opts.Flavor.elastic() {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	rawPath := r.URL.EscapedPath()
	if rawPath == "" {
		rawPath = "/"
	}
	if strings.HasPrefix(rawPath, "/_emu/") || rawPath == "/_emu" {
		c.serveEmu(w, r, rawPath)
		return
	}
	if c.opts.Observe != nil {
		c.opts.Observe(r)
	}
	f := c.faults.Load()
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if f.Unavailable {
		e := newErr(503, typeClusterBlock, "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];", true)
		writeResponse(w, r, errResp(e), false)
		return
	}
	if f.Request429Ratio > 0 && c.randFloat() < f.Request429Ratio {
		writeResponse(w, r, errResp(c.errRejected("coordinating", 0)), false)
		return
	}
	// http.max_content_length applies to the decoded body (the aggregator sits behind the
	// decompressor), so the wire length only decides for identity bodies.
	body, decoded, derr := bodyDecoder(r)
	if derr != nil {
		c.abortCorrupt(r, derr)
	}
	if !decoded && r.ContentLength > c.maxBody {
		c.tooLarge(w)
		return
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 64<<20 {
			bodyPool.Put(buf)
		}
	}()
	if r.ContentLength > 0 && !decoded {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(body, c.maxBody+1))
	if err != nil && decoded {
		c.abortCorrupt(r, err)
	}
	if err != nil {
		// the client went away or sent a broken body; nothing sensible to answer
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			c.tooLarge(w)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if n > c.maxBody {
		c.tooLarge(w)
		return
	}
	rq := &request{
		ctx:     r.Context(),
		method:  r.Method,
		rawPath: rawPath,
		uri:     r.RequestURI,
		body:    buf.Bytes(),
		start:   time.Now(),
		accept:  r.Header.Get("Accept"),
		remote:  r.RemoteAddr,
	}
	if rq.uri == "" {
		rq.uri = r.URL.RequestURI()
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		rq.local = a.String()
	}
	if c.opts.Flavor == Elasticsearch8 {
		neg, err := negotiateES8(r.Header, n > 0)
		if err != nil {
			writeResponse(w, r, errResp(err), false)
			return
		}
		rq.es8 = neg
	}
	pretty := false
	// RestUtils.decodeQueryString (querystring.go); an undecodable query leaves the
	// request without parameters
	q, qerr := decodeQueryString(rq.uri)
	if qerr != nil {
		q = map[string]string{}
	}
	rq.query = q
	if v, ok := rq.query["pretty"]; ok && v != "false" {
		pretty = true
	}
	resp := c.dispatch(r, rq, qerr)
	if fp, ok := rq.query["filter_path"]; ok && fp != "" && len(resp.body) > 0 && (resp.ctype == "" || strings.HasPrefix(resp.ctype, "application/json")) {
		resp.body = applyFilterPath(resp.body, fp)
	}
	if rq.es8 != nil && resp.ctype == "" {
		resp.ctype = rq.es8.responseType()
	}
	if id := r.Header.Get("X-Opaque-Id"); id != "" {
		resp.headers = append(resp.headers, [2]string{"X-Opaque-Id", id})
	}
	writeResponse(w, r, resp, pretty)
}

// abortCorrupt drops the connection without an answer, as OpenSearch does when the
// decompressor throws: the DecoderException reaches AbstractHttpServerTransport.onException,
// which logs "caught exception while handling client http traffic, closing connection"
// and closes the channel.
func (c *Cluster) abortCorrupt(r *http.Request, err error) {
	c.log.Warn("searchemu: closing connection on an undecodable request body", "method", r.Method, "uri", r.RequestURI, "err", err)
	panic(http.ErrAbortHandler)
}

func (c *Cluster) tooLarge(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
}

func (c *Cluster) dispatch(r *http.Request, rq *request, qerr error) *response {
	if qerr != nil {
		return errResp(errBadParameter(qerr))
	}
	var segs []string
	for _, s := range pathSegments(rq.rawPath) {
		u, err := url.PathUnescape(s)
		if err != nil || !utf8.ValidString(u) {
			return errResp(errIllegalArg("unable to decode path segment [" + s + "]"))
		}
		segs = append(segs, u)
	}
	matches := c.rt.find(segs)
	var ep *endpoint
	var m match
	for _, cand := range matches {
		if e := cand.r.methods[rq.method]; e != nil {
			ep, m = e, cand
			break
		}
	}
	if ep == nil {
		allowed := map[string]bool{}
		for _, cand := range matches {
			for meth := range cand.r.methods {
				allowed[meth] = true
			}
		}
		if len(allowed) == 0 {
			b := append([]byte(`{"error":`), appendJSONString(nil, "no handler found for uri ["+rq.uri+"] and method ["+rq.method+"]")...)
			return jsonResp(400, append(b, '}'))
		}
		var list []string
		for _, meth := range methodOrder {
			if allowed[meth] {
				list = append(list, meth)
			}
		}
		if rq.method == http.MethodOptions {
			return &response{status: 200, headers: [][2]string{{"Allow", strings.Join(list, ",")}}, ctype: "text/plain; charset=UTF-8"}
		}
		resp := simpleErr(405, "Incorrect HTTP method for uri ["+rq.uri+"] and method ["+rq.method+"], allowed: ["+strings.Join(list, ", ")+"]")
		resp.headers = append(resp.headers, [2]string{"Allow", strings.Join(list, ",")})
		return resp
	}
	rq.path = m.params
	if len(rq.body) == 0 {
		if src, ok := rq.query["source"]; ok {
			rq.body = []byte(src)
			if ct, ok := rq.query["source_content_type"]; ok {
				r.Header.Set("Content-Type", ct)
			} else {
				return errResp(errIllegalArg("source and source_content_type parameters are required"))
			}
		}
	}
	if len(rq.body) > 0 {
		ctValues := r.Header.Values("Content-Type")
		if rq.es8 != nil && rq.es8.content != nil && rq.es8.content.vendor() {
			ctValues = []string{rq.es8.content.base()}
		}
		kind, resp := checkContentType(ctValues)
		if resp != nil {
			return resp
		}
		if kind != "json" {
			if strings.HasSuffix(rq.rawPath, "/_bulk") && kind != "smile" {
				return simpleErr(406, "Content-Type ["+kind+"] does not support stream parsing. Use JSON or SMILE instead")
			}
			switch kind {
			case "yaml":
				js, err := yamlToJSON(rq.body)
				if err != nil {
					e := errParse("Failed to parse content to map")
					e.cause = newErr(400, "y_a_m_l_exception", err.Error(), false)
					return errResp(e)
				}
				rq.body = js
			case "cbor":
				js, err := cborToJSON(rq.body)
				if err != nil {
					e := errParse("Failed to parse content to map")
					e.cause = newErr(400, typeJSONParse, err.Error(), false)
					return errResp(e)
				}
				rq.body = js
			default:
				return errResp(errIllegalArg("[searchemu] " + kind + " request bodies are not supported by the emulator; send JSON"))
			}
		}
	}
	p, denied := c.authenticate(r, rq, m.r)
	if denied != nil {
		return denied
	}
	rq.principal = p
	var unknown []string
	for k := range rq.query {
		if !ep.params[k] && !globalParams[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return errResp(errIllegalArg(unrecognizedParams(rq.rawPath, unknown, ep.params)))
	}
	// date math in the path's index expressions resolves before any index is looked up
	// (the resolver heads every resolution chain)
	if ix, ok := rq.path["index"]; ok {
		name, err := c.resolveDateMathList(ix)
		if err != nil {
			return errResp(err)
		}
		rq.path["index"] = name
	}
	return ep.fn(c, rq)
}

// checkContentType classifies the body's media type like XContentType.fromMediaType:
// json (application/json, application/x-ndjson), yaml, smile or cbor, with any
// parameters; anything else answers 406 like the server.
func checkContentType(values []string) (string, *response) {
	if len(values) == 0 {
		return "", simpleErr(406, "Content-Type header is missing")
	}
	mt, _, err := mime.ParseMediaType(values[0])
	if err == nil {
		switch strings.ToLower(mt) {
		case "application/json", "application/x-ndjson":
			return "json", nil
		case "application/yaml":
			return "yaml", nil
		case "application/smile":
			return "smile", nil
		case "application/cbor":
			return "cbor", nil
		}
	}
	return "", simpleErr(406, "Content-Type header ["+strings.Join(values, ",")+"] is not supported")
}

// unrecognizedParams mirrors BaseRestHandler.unrecognized, with its "did you mean" hints.
func unrecognizedParams(path string, invalid []string, candidates map[string]bool) string {
	sort.Strings(invalid)
	var sb strings.Builder
	sb.WriteString("request [" + path + "] contains unrecognized parameter")
	if len(invalid) > 1 {
		sb.WriteByte('s')
	}
	sb.WriteString(": ")
	all := make([]string, 0, len(candidates)+len(globalParams))
	for k := range candidates {
		all = append(all, k)
	}
	for k := range globalParams {
		all = append(all, k)
	}
	for i, inv := range invalid {
		type scored struct {
			d float64
			s string
		}
		var sc []scored
		for _, cand := range all {
			if d := levenshteinSimilarity(inv, cand); d > 0.5 {
				sc = append(sc, scored{d, cand})
			}
		}
		sort.Slice(sc, func(a, b int) bool {
			if sc[a].d != sc[b].d {
				return sc[a].d > sc[b].d
			}
			return sc[a].s < sc[b].s
		})
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("[" + inv + "]")
		if len(sc) > 0 {
			sb.WriteString(" -> did you mean ")
			if len(sc) == 1 {
				sb.WriteString("[" + sc[0].s + "]")
			} else {
				names := make([]string, len(sc))
				for k := range sc {
					names[k] = sc[k].s
				}
				sb.WriteString("any of [" + strings.Join(names, ", ") + "]")
			}
			sb.WriteByte('?')
		}
	}
	return sb.String()
}

// levenshteinSimilarity is Lucene's LevenshteinDistance.getDistance: 1 - d/max(len).
func levenshteinSimilarity(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	if len(ra) == 0 || len(rb) == 0 {
		if len(ra) == len(rb) {
			return 1
		}
		return 0
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(cur[j-1]+1, prev[j]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return 1 - float64(prev[len(rb)])/float64(max(len(ra), len(rb)))
}

func writeResponse(w http.ResponseWriter, r *http.Request, resp *response, pretty bool) {
	h := w.Header()
	for _, kv := range resp.headers {
		h.Add(kv[0], kv[1])
	}
	body := resp.body
	if r.Method == http.MethodHead {
		h.Set("Content-Type", "text/plain; charset=UTF-8")
		h.Set("Content-Length", "0")
		w.WriteHeader(resp.status)
		return
	}
	ct := resp.ctype
	if ct == "" {
		ct = jsonContentType
	}
	if pretty && (strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, vndPrefix+"json")) && len(body) > 0 {
		body = appendPretty(nil, body)
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.status)
	_, _ = w.Write(body)
}

// tookMillis is the "took" of a response.
func (rq *request) tookMillis() int64 {
	return time.Since(rq.start).Milliseconds()
}
