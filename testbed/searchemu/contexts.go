package searchemu

import (
	"encoding/base64"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Search contexts (scrolls and points in time) pin the documents they saw: docs are
// immutable, so keeping the slices of doc pointers is a consistent snapshot.

type scrollCtx struct {
	res     searchResult
	sr      *searchReq
	pos     int
	keep    time.Duration
	expires time.Time
}

type pitCtx struct {
	id      string
	sets    []docSet
	created time.Time
	keep    time.Duration
	expires time.Time

	// runs keep the sorted hits of the searches run on the point in time, most recently
	// used first, so that paging with search_after costs a binary search and the page
	// instead of evaluating and sorting every pinned document again.
	runsMu sync.Mutex
	runs   []*pitRun
}

// maxPITRuns bounds the sorted searches a point in time keeps: one per slice and sort
// of a client's scan is what paging needs.
const maxPITRuns = 16

// pitRun is one search shape evaluated over a point in time's documents.
type pitRun struct {
	shape string
	// mappings are those of the sets' indices the hits were evaluated with: a mapping
	// update since changes how fields match and sort, so the run is redone.
	mappings []*mapping
	once     sync.Once
	res      searchResult
	// clockRead: the query did date math on now, so every page evaluates it afresh.
	clockRead bool
	// linear: a NaN sort value breaks the binary search, so search_after filters.
	linear bool
}

// pitSearch runs a search over a point in time: the search's sorted hits are evaluated
// once per shape and kept, and each page finds its start by binary search. The hits are
// shared between pages: callers only read them.
func (c *Cluster) pitSearch(p *pitCtx, sr *searchReq) searchResult {
	if sr.shape == nil {
		return c.runSearch(p.sets, sr)
	}
	mappings := make([]*mapping, len(p.sets))
	for i, s := range p.sets {
		mappings[i] = s.ix.mapping.Load()
	}
	run := p.run(string(sr.shape), mappings)
	run.once.Do(func() {
		run.res, run.clockRead = c.sortedRun(p.sets, sr)
		if run.clockRead {
			run.res = searchResult{}
			return
		}
		for i := range run.res.hits {
			if h := &run.res.hits[i]; math.IsNaN(h.score) || hasNaN(h.keys) {
				run.linear = true
				break
			}
		}
	})
	if run.clockRead {
		return c.runSearch(p.sets, sr)
	}
	res := run.res
	if sr.size == 0 {
		res.maxScore = math.NaN()
	}
	if len(sr.searchAfter) == 0 {
		return res
	}
	after := c.afterValues(p.sets, sr)
	if run.linear || hasNaN(after) {
		res.hits = filterAfter(sr.sorts, res.hits, after, nil)
		return res
	}
	// the hits are sorted on these values, so those after search_after are a suffix
	start := sort.Search(len(res.hits), func(i int) bool {
		return compareAfter(sr.sorts, &res.hits[i], after) > 0
	})
	res.hits = res.hits[start:]
	return res
}

// run finds or adds the run of a shape evaluated with these mappings.
func (p *pitCtx) run(shape string, mappings []*mapping) *pitRun {
	p.runsMu.Lock()
	defer p.runsMu.Unlock()
	for i, r := range p.runs {
		if r.shape == shape && slices.Equal(r.mappings, mappings) {
			copy(p.runs[1:i+1], p.runs[:i])
			p.runs[0] = r
			return r
		}
	}
	r := &pitRun{shape: shape, mappings: mappings}
	if len(p.runs) >= maxPITRuns {
		p.runs = p.runs[:maxPITRuns-1]
	}
	p.runs = append([]*pitRun{r}, p.runs...)
	return r
}

type searchContexts struct {
	mu      sync.Mutex
	seq     int64
	scrolls map[string]*scrollCtx
	pits    map[string]*pitCtx
}

func (c *Cluster) contexts() *searchContexts {
	c.ctxOnce.Do(func() {
		c.ctxs = &searchContexts{scrolls: map[string]*scrollCtx{}, pits: map[string]*pitCtx{}}
	})
	return c.ctxs
}

func (c *Cluster) contextID(kind string, n int64) string {
	raw := kind + "\x00" + c.nodeID + "\x00" + strconv.FormatInt(n, 10)
	return base64.StdEncoding.EncodeToString([]byte(raw))
}

func (c *Cluster) openScroll(sc *scrollCtx) string {
	ctxs := c.contexts()
	ctxs.mu.Lock()
	defer ctxs.mu.Unlock()
	ctxs.seq++
	id := c.contextID("queryThenFetch", ctxs.seq)
	sc.expires = c.now().Add(sc.keep)
	ctxs.scrolls[id] = sc
	return id
}

func errContextMissing(c *Cluster, id string) *esError {
	cause := newErr(404, "search_context_missing_exception", "No search context found for id ["+id+"]", true)
	e := newErr(404, typeSearchPhase, "all shards failed", true)
	e.rootCauses = []*esError{cause}
	ex := []byte(`"phase":"query","grouped":true,"failed_shards":[{"shard":-1,"index":null,"reason":`)
	ex = cause.appendObject(ex)
	e.extra = append(ex, `}]`...)
	e.cause = cause
	return e
}

var scrollParams = []string{"scroll", "scroll_id", "rest_total_hits_as_int"}

// handleScroll serves GET/POST /_search/scroll[/{scroll_id}].
func handleScroll(c *Cluster, rq *request) *response {
	id := rq.path["scroll_id"]
	if v, ok := rq.query["scroll_id"]; ok {
		id = v
	}
	keep := rq.query["scroll"]
	if len(rq.body) > 0 {
		body, err := parseContentMap(rq.body)
		if err != nil {
			return errResp(err)
		}
		for _, m := range body.m {
			switch m.k {
			case "scroll_id":
				id, _ = m.v.(string)
			case "scroll":
				keep, _ = m.v.(string)
			default:
				return errResp(errIllegalArg("Unknown parameter [" + m.k + "] in request body or parameter is of the wrong type[" + tokenOf(m.v) + "] "))
			}
		}
	}
	if id == "" {
		return errResp(errValidation([]string{"scrollId is missing"}))
	}
	var keepD time.Duration
	if keep != "" {
		d, err := parseTimeValue(keep, "scroll")
		if err != nil {
			return errResp(err)
		}
		keepD = d
	}
	ctxs := c.contexts()
	ctxs.mu.Lock()
	sc := ctxs.scrolls[id]
	now := c.now()
	if sc != nil && now.After(sc.expires) {
		delete(ctxs.scrolls, id)
		sc = nil
	}
	if sc == nil {
		ctxs.mu.Unlock()
		if _, err := base64.StdEncoding.DecodeString(id); err != nil {
			return errResp(errIllegalArg("Cannot parse scroll id"))
		}
		return errResp(errContextMissing(c, id))
	}
	if keepD > 0 {
		sc.keep = keepD
	}
	sc.expires = now.Add(sc.keep)
	page := sc.res.hits
	if sc.pos >= len(page) {
		page = nil
	} else {
		page = page[sc.pos:]
	}
	if len(page) > sc.sr.size {
		page = page[:sc.sr.size]
	}
	sc.pos += sc.sr.size
	sr := *sc.sr
	ctxs.mu.Unlock()
	if b, err := rq.paramBool("rest_total_hits_as_int", false); err == nil && b {
		sr.totalAsInt = true
	}
	prefix := append(appendJSONString([]byte(`"_scroll_id":`), id), ',')
	return jsonResp(200, c.renderSearch(rq, &sr, &sc.res, page, prefix))
}

// handleClearScroll serves DELETE /_search/scroll[/{scroll_id}].
func handleClearScroll(c *Cluster, rq *request) *response {
	var ids []string
	if p := rq.path["scroll_id"]; p != "" {
		ids = splitComma(p)
	}
	if v, ok := rq.query["scroll_id"]; ok {
		ids = append(ids, splitComma(v)...)
	}
	if len(rq.body) > 0 {
		body, err := parseContentMap(rq.body)
		if err != nil {
			return errResp(err)
		}
		for _, m := range body.m {
			if m.k != "scroll_id" {
				return errResp(errIllegalArg("Unknown parameter [" + m.k + "] in request body or parameter is of the wrong type[" + tokenOf(m.v) + "] "))
			}
			switch x := m.v.(type) {
			case string:
				ids = append(ids, x)
			case []any:
				for _, e := range x {
					if s, ok := e.(string); ok {
						ids = append(ids, s)
					}
				}
			}
		}
	}
	if len(ids) == 0 {
		return errResp(errValidation([]string{"no scroll ids specified"}))
	}
	ctxs := c.contexts()
	ctxs.mu.Lock()
	freed := 0
	for _, id := range ids {
		if id == "_all" {
			freed += len(ctxs.scrolls)
			ctxs.scrolls = map[string]*scrollCtx{}
			continue
		}
		if _, ok := ctxs.scrolls[id]; ok {
			delete(ctxs.scrolls, id)
			freed++
		}
	}
	ctxs.mu.Unlock()
	status := 200
	if freed == 0 {
		status = 404
	}
	b := []byte(`{"succeeded":true,"num_freed":`)
	b = strconv.AppendInt(b, int64(freed), 10)
	return jsonResp(status, append(b, '}'))
}

// handleCreatePIT serves POST /{index}/_search/point_in_time.
func handleCreatePIT(c *Cluster, rq *request) *response {
	kv, ok := rq.query["keep_alive"]
	if !ok {
		return errResp(errValidation([]string{"keep alive not specified"}))
	}
	keep, err := parseTimeValue(kv, "keep_alive")
	if err != nil {
		return errResp(err)
	}
	ixs, rerr := c.resolveIndices(rq, optForbidClosed)
	if rerr != nil {
		return errResp(rerr)
	}
	sets, terr := c.searchSets(rq, ixs)
	if terr != nil {
		return errResp(terr)
	}
	now := c.now()
	ctxs := c.contexts()
	ctxs.mu.Lock()
	ctxs.seq++
	id := c.contextID("pit", ctxs.seq)
	ctxs.pits[id] = &pitCtx{id: id, sets: sets, created: now, keep: keep, expires: now.Add(keep)}
	ctxs.mu.Unlock()
	if c.opts.Flavor == Elasticsearch7 {
		// Elasticsearch 7.10: POST /{index}/_pit answers {"id":"…"}
		return jsonResp(200, append(appendJSONString([]byte(`{"id":`), id), '}'))
	}
	shards := len(sets)
	if c.opts.Flavor == Elasticsearch8 {
		// Elasticsearch 8's OpenPointInTimeResponse adds the broadcast shards header
		b := appendJSONString([]byte(`{"id":`), id)
		b = append(b, `,"_shards":{"total":`...)
		b = strconv.AppendInt(b, int64(shards), 10)
		b = append(b, `,"successful":`...)
		b = strconv.AppendInt(b, int64(shards), 10)
		return jsonResp(200, append(b, `,"skipped":0,"failed":0}}`...))
	}
	b := appendJSONString([]byte(`{"pit_id":`), id)
	b = append(b, `,"_shards":{"total":`...)
	b = strconv.AppendInt(b, int64(shards), 10)
	b = append(b, `,"successful":`...)
	b = strconv.AppendInt(b, int64(shards), 10)
	b = append(b, `,"skipped":0,"failed":0},"creation_time":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	return jsonResp(200, append(b, '}'))
}

// usePIT looks up a point in time and extends its keep-alive.
func (c *Cluster) usePIT(id, keep string) (*pitCtx, *esError) {
	var keepD time.Duration
	if keep != "" {
		d, err := parseTimeValue(keep, "keep_alive")
		if err != nil {
			return nil, err
		}
		keepD = d
	}
	ctxs := c.contexts()
	ctxs.mu.Lock()
	defer ctxs.mu.Unlock()
	p := ctxs.pits[id]
	now := c.now()
	if p != nil && now.After(p.expires) {
		delete(ctxs.pits, id)
		p = nil
	}
	if p == nil {
		return nil, errContextMissing(c, id)
	}
	if keepD > 0 {
		p.keep = keepD
	}
	p.expires = now.Add(p.keep)
	return p, nil
}

// handleListPITs serves GET /_search/point_in_time/_all.
func handleListPITs(c *Cluster, rq *request) *response {
	ctxs := c.contexts()
	ctxs.mu.Lock()
	now := c.now()
	var list []*pitCtx
	for id, p := range ctxs.pits {
		if now.After(p.expires) {
			delete(ctxs.pits, id)
			continue
		}
		list = append(list, p)
	}
	ctxs.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].id < list[j].id })
	b := []byte(`{"pits":[`)
	for i, p := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(append(b, `{"pit_id":`...), p.id)
		b = append(b, `,"creation_time":`...)
		b = strconv.AppendInt(b, p.created.UnixMilli(), 10)
		b = append(b, `,"keep_alive":`...)
		b = strconv.AppendInt(b, p.keep.Milliseconds(), 10)
		b = append(b, '}')
	}
	return jsonResp(200, append(b, `]}`...))
}

// handleDeletePITs serves DELETE /_search/point_in_time and /_search/point_in_time/_all.
func handleDeletePITs(c *Cluster, rq *request) *response {
	var ids []string
	all := strings.HasSuffix(rq.rawPath, "/_all")
	if !all {
		if len(rq.body) == 0 {
			return errResp(errBodyRequired())
		}
		body, err := parseContentMap(rq.body)
		if err != nil {
			return errResp(err)
		}
		for _, m := range body.m {
			if m.k != "pit_id" {
				return errResp(errIllegalArg("Unknown parameter [" + m.k + "] in request body or parameter is of the wrong type[" + tokenOf(m.v) + "] "))
			}
			switch x := m.v.(type) {
			case string:
				ids = append(ids, x)
			case []any:
				for _, e := range x {
					if s, ok := e.(string); ok {
						ids = append(ids, s)
					}
				}
			}
		}
		if len(ids) == 0 {
			return errResp(errValidation([]string{"No pit ids specified"}))
		}
	}
	ctxs := c.contexts()
	ctxs.mu.Lock()
	if all {
		for id := range ctxs.pits {
			ids = append(ids, id)
		}
		sort.Strings(ids)
	}
	b := []byte(`{"pits":[`)
	for i, id := range ids {
		_, ok := ctxs.pits[id]
		delete(ctxs.pits, id)
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(append(b, `{"pit_id":`...), id)
		b = append(b, `,"successful":`...)
		b = strconv.AppendBool(b, ok)
		b = append(b, '}')
	}
	ctxs.mu.Unlock()
	return jsonResp(200, append(b, `]}`...))
}

// handleDeletePITES serves Elasticsearch 7's DELETE /_pit {"id":"…"}.
func handleDeletePITES(c *Cluster, rq *request) *response {
	if len(rq.body) == 0 {
		return errResp(errBodyRequired())
	}
	body, err := parseContentMap(rq.body)
	if err != nil {
		return errResp(err)
	}
	v, _ := body.get("id")
	id, _ := v.(string)
	if id == "" {
		return errResp(errValidation([]string{"point in time id must be specified"}))
	}
	ctxs := c.contexts()
	ctxs.mu.Lock()
	_, ok := ctxs.pits[id]
	delete(ctxs.pits, id)
	ctxs.mu.Unlock()
	if !ok {
		return jsonResp(404, []byte(`{"succeeded":true,"num_freed":0}`))
	}
	return jsonResp(200, []byte(`{"succeeded":true,"num_freed":1}`))
}

// OpenContexts counts the scrolls and points in time still open (not cleared, not
// expired): what a client left behind. Real clusters report it as the open_contexts of
// _nodes/stats/indices/search, which the emulator does not serve.
func (c *Cluster) OpenContexts() (scrolls, pits int) {
	ctxs := c.contexts()
	ctxs.mu.Lock()
	defer ctxs.mu.Unlock()
	now := c.now()
	for id, sc := range ctxs.scrolls {
		if now.After(sc.expires) {
			delete(ctxs.scrolls, id)
			continue
		}
		scrolls++
	}
	for id, p := range ctxs.pits {
		if now.After(p.expires) {
			delete(ctxs.pits, id)
			continue
		}
		pits++
	}
	return scrolls, pits
}
