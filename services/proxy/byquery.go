package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

// _delete_by_query, _update_by_query and local _reindex change documents on the primary
// without a write per document that the proxy could see, so the proxy runs them itself,
// the way the primary's own implementation does (modules/reindex,
// AbstractAsyncBulkByScrollAction), but with its own requests: a scroll search of the
// primary sorted by _doc, with each hit's _seq_no, _primary_term and _version, then one
// _bulk per batch of hits sent through the proxy's own write path (serveWrite), so that
// every write the primary applies is published exactly as a client's bulk would be:
//
//   - delete-by-query: a delete of each hit, guarded by if_seq_no/if_primary_term;
//   - update-by-query without a script: an index of the hit's _source, guarded the same
//     way (with the pipeline parameter);
//   - update-by-query with a script: an update with the script, guarded the same way;
//     the primary runs the script (ctx.op noop and delete come back as noop and
//     deleted results);
//   - reindex: an index (or a create, with dest.op_type create) of the hit's _source in
//     dest.index, unguarded as the primary's own reindex is (with dest.version_type
//     external, the hit's version).
//
// A guarded write that finds the document changed since the search is a version
// conflict: a concurrent writer is never overwritten. Conflicts are counted, and with
// conflicts=abort (the default) end the operation after the batch, reported as
// failures, as the primary's own implementation does. The answer has the shape of its
// BulkByScrollResponse.

// serveByQuery runs one by-query request.
func (p *Proxy) serveByQuery(w http.ResponseWriter, r *http.Request, rt route, body []byte) {
	if rt.id != "" {
		writeError(w, r, http.StatusBadRequest, "illegal_argument_exception", fmt.Sprintf(
			"fanout does not run the typed %s (/{index}/{type}/%s): use /{index}/%s, which the proxy runs and replicates",
			rt.byQuery.api(), rt.byQuery.api(), rt.byQuery.api()))
		return
	}
	job, ce := parseByQuery(r, rt.byQuery, rt.index, body)
	if ce != nil {
		writeError(w, r, ce.status, ce.typ, ce.reason)
		return
	}
	reqID := r.Header.Get("X-Opaque-Id")
	if reqID == "" {
		reqID = newRequestID()
	}
	run := &byQueryRun{p: p, job: job, r: r, reqID: reqID, start: time.Now(), routeName: rt.name,
		log: p.log.With("request_id", reqID, "route", rt.name), dests: map[string]bool{},
		answerRes: reservation{b: p.budget}}
	defer run.answerRes.release()
	run.run(w)
}

// byQueryRun is the state of one by-query operation as it runs.
type byQueryRun struct {
	p     *Proxy
	job   *byQueryJob
	r     *http.Request
	reqID string
	start time.Time
	// routeName labels the primary calls' metrics.
	routeName string
	log       *slog.Logger
	// answerRes holds the current search answer's share of the memory budget.
	answerRes reservation

	st        byQueryStatus
	failures  []json.RawMessage
	timedOut  bool
	scrollID  string
	dests     map[string]bool // indexes written, refreshed at the end with refresh=true
	destOrder []string
}

// byQueryStatus is BulkByScrollTask.Status as the proxy keeps it.
type byQueryStatus struct {
	total, updated, created, deleted, versionConflicts, noops int64
	bulkRetries                                               int64
	batches                                                   int
	throttled                                                 time.Duration
}

func (s *byQueryStatus) processed() int64 { return s.updated + s.created + s.deleted }

// searchHit is what the proxy reads of a hit.
type searchHit struct {
	Index       string          `json:"_index"`
	ID          string          `json:"_id"`
	Version     *int64          `json:"_version"`
	SeqNo       *int64          `json:"_seq_no"`
	PrimaryTerm *int64          `json:"_primary_term"`
	Routing     string          `json:"_routing"`
	Source      json.RawMessage `json:"_source"`
}

type searchAnswer struct {
	ScrollID string `json:"_scroll_id"`
	TimedOut bool   `json:"timed_out"`
	Shards   struct {
		Failures []json.RawMessage `json:"failures"`
	} `json:"_shards"`
	Hits struct {
		Total json.RawMessage `json:"total"`
		Hits  []searchHit     `json:"hits"`
	} `json:"hits"`
}

// totalHits reads hits.total, an object or (rest_total_hits_as_int) a number.
func (a *searchAnswer) totalHits() int64 {
	var obj struct {
		Value int64 `json:"value"`
	}
	if json.Unmarshal(a.Hits.Total, &obj) == nil && len(a.Hits.Total) > 0 && a.Hits.Total[0] == '{' {
		return obj.Value
	}
	n, _ := jsonInt(a.Hits.Total)
	return n
}

// stop ends the run with an answer other than the BulkByScrollResponse.
type stop struct {
	status int
	body   []byte // sent as is when set
	header http.Header
}

func (run *byQueryRun) run(w http.ResponseWriter) {
	defer run.clearScroll()
	ans, st := run.search()
	for st == nil {
		if len(ans.Shards.Failures) > 0 || ans.TimedOut {
			run.failures = append(run.failures, ans.Shards.Failures...)
			run.timedOut = ans.TimedOut
			break
		}
		total := ans.totalHits()
		if run.job.maxDocs > 0 {
			total = min(total, run.job.maxDocs)
		}
		run.st.total = total
		hits := ans.Hits.Hits
		if len(hits) == 0 {
			break
		}
		run.st.batches++
		if run.job.maxDocs > 0 {
			if remaining := max(0, run.job.maxDocs-run.st.processed()); remaining < int64(len(hits)) {
				hits = hits[:remaining]
			}
		}
		var done bool
		if done, st = run.batch(hits); st != nil || done {
			break
		}
		if run.job.maxDocs > 0 && run.st.processed() >= run.job.maxDocs {
			break
		}
		if err := run.r.Context().Err(); err != nil {
			// The client is gone: stop between batches; what was written is replicated.
			run.log.Warn("client went away; stopping "+run.job.kind.api()+" between batches", "batches", run.st.batches)
			return
		}
		run.throttle(len(hits))
		ans, st = run.scrollNext()
	}
	if st != nil {
		run.stopWith(w, st)
		return
	}
	if st := run.refresh(); st != nil {
		run.stopWith(w, st)
		return
	}
	run.answer(w)
}

// throttle waits as requests_per_second asks, between batches (as
// WorkerBulkByScrollTaskState.throttleWaitTime: the batch's size over the rate, less
// the time the batch took).
func (run *byQueryRun) throttle(n int) {
	if math.IsInf(run.job.rps, 1) {
		return
	}
	wait := time.Duration(float64(n) / run.job.rps * float64(time.Second))
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		run.st.throttled += wait
	case <-run.r.Context().Done():
	}
}

// search runs the first search of the scroll.
func (run *byQueryRun) search() (*searchAnswer, *stop) {
	q := url.Values{}
	for k, v := range run.job.search {
		q[k] = v
	}
	q.Set("scroll", run.job.scroll)
	path := "/" + escapeIndices(run.job.indices) + "/_search"
	return run.searchCall(http.MethodPost, path, q.Encode(), run.job.searchBody)
}

func (run *byQueryRun) scrollNext() (*searchAnswer, *stop) {
	body, _ := json.Marshal(map[string]string{"scroll": run.job.scroll, "scroll_id": run.scrollID})
	return run.searchCall(http.MethodPost, "/_search/scroll", "", body)
}

func (run *byQueryRun) searchCall(method, path, rawQuery string, body []byte) (*searchAnswer, *stop) {
	run.answerRes.release() // the previous batch is done with
	resp, ans, err := run.call(method, path, rawQuery, body)
	if err != nil {
		return nil, run.primaryGone("searching the documents to change", err)
	}
	// The answer and the hits decoded from it (sources copied) are held until the
	// batch is written; a batch that does not fit is refused, with what was done.
	if err := run.answerRes.grow(run.r.Context(), 2*int64(len(ans))); err != nil {
		return nil, &stop{status: http.StatusTooManyRequests, body: errJSON(http.StatusTooManyRequests, errRejected,
			fmt.Sprintf("a batch of %s (%d bytes of search answer) does not fit in the proxy's in-flight memory now "+
				"(limits.max_inflight_bytes): %s; retry later or with a smaller scroll_size%s", run.job.kind.api(), len(ans), err, run.progress()))}
	}
	if resp.StatusCode/100 != 2 {
		// The search was refused (missing index, bad query, overload…): the primary's
		// own by-query would fail with the same error.
		return nil, run.withProgress(resp.StatusCode, resp.Header, ans, run.job.kind.api()+" stopped, its search failed: ")
	}
	var a searchAnswer
	if err := json.Unmarshal(ans, &a); err != nil {
		return nil, &stop{status: http.StatusBadGateway, body: errJSON(http.StatusBadGateway, errPrimary,
			"cannot read the primary's search answer: "+err.Error()+run.progress())}
	}
	if a.ScrollID != "" {
		run.scrollID = a.ScrollID
	}
	return &a, nil
}

// batch writes one batch of hits through the proxy's write path. done is set when the
// batch ended the operation (failures).
func (run *byQueryRun) batch(hits []searchHit) (done bool, st *stop) {
	job := run.job
	items := make([]bqItem, 0, len(hits))
	for i := range hits {
		h := &hits[i]
		m := bulk.Meta{Index: h.Index, ID: h.ID, HasID: true, Routing: h.Routing}
		var payload []byte
		switch job.kind {
		case deleteByQuery, updateByQuery:
			if h.SeqNo == nil || h.PrimaryTerm == nil {
				return true, &stop{status: http.StatusBadGateway, body: errJSON(http.StatusBadGateway, errPrimary,
					fmt.Sprintf("the primary's search gave no _seq_no/_primary_term for [%s][%s]; nothing of this batch was written%s", h.Index, h.ID, run.progress()))}
			}
			m.IfSeqNo, m.HasIfSeqNo, m.IfPrimaryTerm, m.HasIfPrimaryTerm = *h.SeqNo, true, *h.PrimaryTerm, true
		}
		switch {
		case job.kind == deleteByQuery:
			m.Action = bulk.ActionDelete
		case job.kind == updateByQuery && job.script != nil:
			m.Action = bulk.ActionUpdate
			payload = append(append([]byte(`{"script":`), job.script...), '}')
		default: // update-by-query without a script, reindex
			if len(h.Source) == 0 || string(h.Source) == "null" {
				// AbstractAsyncBulkByScrollAction.accept
				return true, &stop{status: http.StatusBadRequest, body: errJSON(http.StatusBadRequest, "illegal_argument_exception",
					fmt.Sprintf("[%s][_doc][%s] didn't store _source", h.Index, h.ID))}
			}
			m.Action = bulk.ActionIndex
			payload = h.Source
			if job.kind == updateByQuery {
				m.Pipeline = job.pipeline
				break
			}
			m.Index, m.Pipeline = job.dest.index, job.dest.pipeline
			m.RequireAlias, m.HasRequireAlias = job.dest.requireAlias, job.dest.requireAlias
			switch d := job.dest.routing; {
			case d == "discard":
				m.Routing = ""
			case strings.HasPrefix(d, "="):
				m.Routing = d[1:]
			}
			if job.dest.opType == "create" {
				m.Action = bulk.ActionCreate
			}
			if vt := job.dest.versionType; vt != "" && vt != "internal" && h.Version != nil {
				m.Version, m.HasVersion, m.VersionType = *h.Version, true, vt
			}
		}
		items = append(items, bqItem{meta: m, payload: payload})
	}
	if len(items) == 0 {
		return false, nil
	}
	if st := run.send(items); st != nil {
		return true, st
	}
	return len(run.failures) > 0, nil
}

// bqItem is one bulk item of a batch.
type bqItem struct {
	meta    bulk.Meta
	payload []byte
}

// maxBulkRetries is how often a rejected bulk is retried (AbstractBulkByScrollRequest's
// maxRetries).
const maxBulkRetries = 11

// bulkBackoff is the wait before retry n (0-based) of a rejected bulk: OpenSearch's
// BackoffPolicy.exponentialBackoff from 500 ms (retryBackoffInitialTime), about a
// minute in all over the 11 retries.
func bulkBackoff(n int) time.Duration {
	return 500*time.Millisecond + 10*time.Millisecond*time.Duration(int64(math.Exp(0.8*float64(n)))-1)
}

// send writes a batch's items and counts their results. As the primary's own by-query
// does (its bulk Retry), a bulk rejected as a whole (429) is sent again after a backoff,
// and so are the items rejected with 429 when those are its only failures; each retry
// is counted in retries.bulk. Retrying is safe: a guarded write that was applied after
// all conflicts, and nothing rejected was applied.
func (run *byQueryRun) send(items []bqItem) *stop {
	for attempt := 0; ; attempt++ {
		var out []byte
		for i := range items {
			out = bulk.AppendItem(out, &items[i].meta, items[i].payload)
		}
		status, header, ans := run.bulk(out)
		retry := attempt < maxBulkRetries && run.r.Context().Err() == nil
		if status == http.StatusTooManyRequests && retry {
			if !run.backoff(attempt) {
				return run.bulkFailed(status, header, ans)
			}
			continue
		}
		if status != http.StatusOK {
			return run.bulkFailed(status, header, ans)
		}
		results := make([]bulk.ItemResult, 0, len(items))
		if _, err := bulk.ParseResponse(ans, func(i int, res *bulk.ItemResult) error {
			r := *res
			r.Error = bytes.Clone(res.Error)
			results = append(results, r)
			return nil
		}); err != nil || len(results) != len(items) {
			if err == nil {
				err = fmt.Errorf("%d items for %d sent", len(results), len(items))
			}
			// The write path answered 200 only after every event was queued: the writes
			// are replicated, but the proxy cannot say what they did.
			return &stop{status: http.StatusBadGateway, body: errJSON(http.StatusBadGateway, errPrimary,
				"the batch was applied and replicated, but fanout cannot read the primary's bulk answer: "+err.Error()+run.progress())}
		}
		var rejected []bqItem
		onlyRejections := true
		for i := range results {
			switch st := results[i].Status; {
			case st == http.StatusTooManyRequests:
				rejected = append(rejected, items[i])
			case st/100 != 2 && results[i].Result == "" || results[i].Error != nil:
				onlyRejections = false
			}
		}
		if len(rejected) > 0 && onlyRejections && retry {
			for i := range results {
				if results[i].Status != http.StatusTooManyRequests {
					run.count(&results[i])
				}
			}
			if !run.backoff(attempt) {
				for i := range results {
					if results[i].Status == http.StatusTooManyRequests {
						run.count(&results[i])
					}
				}
				return nil
			}
			items = rejected
			continue
		}
		for i := range results {
			run.count(&results[i])
		}
		return nil
	}
}

// backoff waits before retry n of a rejected bulk and counts it; false when the
// client went away meanwhile.
func (run *byQueryRun) backoff(n int) bool {
	t := time.NewTimer(bulkBackoff(n))
	defer t.Stop()
	select {
	case <-t.C:
		run.st.bulkRetries++
		return true
	case <-run.r.Context().Done():
		return false
	}
}

// count accounts for one bulk item as AbstractAsyncBulkByScrollAction.onBulkResponse
// does, with the results an update item adds (noop, deleted by the script).
func (run *byQueryRun) count(res *bulk.ItemResult) {
	if res.Error != nil || res.Status/100 != 2 && res.Result == "" {
		// A scripted update of a document deleted since the search finds it missing
		// (404), where the primary's own update-by-query, which indexes with
		// if_seq_no, conflicts: the same race, counted the same.
		conflict := res.Status == http.StatusConflict ||
			res.Action == bulk.ActionUpdate && res.Status == http.StatusNotFound && res.ErrorType == "document_missing_exception"
		if conflict {
			run.st.versionConflicts++
			if !run.job.abort {
				return
			}
		}
		run.failures = append(run.failures, bulkFailure(res))
		return
	}
	switch res.Result {
	case "created":
		run.st.created++
	case "updated":
		run.st.updated++
	case "deleted":
		run.st.deleted++
	case "noop":
		run.st.noops++
		return
	case "not_found":
		// A delete guarded by if_seq_no conflicts rather than finds nothing; a primary
		// that answers so changed nothing.
		return
	}
	if !run.dests[res.Index] {
		run.dests[res.Index] = true
		run.destOrder = append(run.destOrder, res.Index)
	}
}

// bulkFailure is BulkItemResponse.Failure as the by-query answer lists it.
func bulkFailure(res *bulk.ItemResult) json.RawMessage {
	var b bytes.Buffer
	b.WriteString(`{"index":`)
	writeJSONString(&b, res.Index)
	if res.ID != "" {
		b.WriteString(`,"id":`)
		writeJSONString(&b, res.ID)
	}
	b.WriteString(`,"cause":`)
	if len(res.Error) > 0 && res.Error[0] == '{' {
		b.Write(res.Error)
	} else {
		fmt.Fprintf(&b, `{"type":%q,"reason":%q}`, res.ErrorType, res.ErrorReason)
	}
	fmt.Fprintf(&b, `,"status":%d}`, res.Status)
	return b.Bytes()
}

func writeJSONString(b *bytes.Buffer, s string) {
	e, _ := json.Marshal(s)
	b.Write(e)
}

// bulk sends one batch's bulk body through the proxy's write path, as a client's bulk:
// planned, applied on the primary, its events built and published, within a share of
// the memory budget of its own, given back when the batch is judged.
func (run *byQueryRun) bulk(body []byte) (int, http.Header, []byte) {
	res := reservation{b: run.p.budget}
	defer res.release()
	// Built already, within the search answer's charge; serveWrite charges its plan
	// and the primary's answer to res.
	res.force(int64(len(body)))
	q := url.Values{}
	for k, v := range run.job.bulk {
		q[k] = v
	}
	sub, err := http.NewRequestWithContext(run.r.Context(), http.MethodPost, "/_bulk", nil)
	if err != nil {
		return http.StatusInternalServerError, nil, errJSON(http.StatusInternalServerError, errReplication, err.Error())
	}
	sub.URL = &url.URL{Path: "/_bulk", RawQuery: q.Encode()}
	sub.Header = byQueryHeaders(run.r, run.reqID)
	sub.RemoteAddr, sub.Host = run.r.RemoteAddr, run.r.Host
	rec := &bufferedAnswer{h: http.Header{}}
	run.p.serveWrite(rec, sub, route{name: "bulk", write: true}, body, &res)
	return rec.code(), rec.h, rec.body.Bytes()
}

// byQueryHeaders are the headers of the proxy's own requests for a by-query request:
// the client's (its credentials reach the primary as for any request of its own), as
// JSON, with the request id of the whole operation.
func byQueryHeaders(r *http.Request, reqID string) http.Header {
	h := r.Header.Clone()
	for _, k := range []string{"Content-Length", "Content-Encoding", "Accept-Encoding"} {
		h.Del(k)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	h.Set("X-Opaque-Id", reqID)
	return h
}

// call sends one of the proxy's own requests (search, scroll, refresh) to the primary.
func (run *byQueryRun) call(method, path, rawQuery string, body []byte) (*http.Response, []byte, error) {
	ctx := context.WithoutCancel(run.r.Context())
	if t := run.p.cfg.Primary.Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	out, err := http.NewRequestWithContext(ctx, method, "/", rd)
	if err != nil {
		return nil, nil, err
	}
	out.URL = &url.URL{Path: path, RawQuery: rawQuery}
	fwd := &http.Request{Header: byQueryHeaders(run.r, run.reqID), RemoteAddr: run.r.RemoteAddr}
	run.p.forwardHeaders(out.Header, fwd)
	out.ContentLength = int64(len(body))
	start := time.Now()
	resp, err := run.p.primary.Perform(out)
	run.p.m.primarySeconds.WithLabelValues(run.routeName).Observe(time.Since(start).Seconds())
	if err != nil {
		closeBody(resp)
		return nil, nil, err
	}
	defer resp.Body.Close()
	ans, err := readAnswer(resp)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the primary's answer: %w", err)
	}
	return resp, ans, nil
}

// clearScroll frees the scroll on the primary; a failure only leaves it to expire.
func (run *byQueryRun) clearScroll() {
	if run.scrollID == "" {
		return
	}
	body, _ := json.Marshal(map[string][]string{"scroll_id": {run.scrollID}})
	if _, _, err := run.call(http.MethodDelete, "/_search/scroll", "", body); err != nil {
		run.log.Warn("cannot clear the scroll of a by-query operation; it expires by itself", "error", err, "scroll", run.job.scroll)
	}
}

// refresh refreshes the indexes written, when asked (refreshAndFinish).
func (run *byQueryRun) refresh() *stop {
	if !run.job.refresh || len(run.destOrder) == 0 {
		return nil
	}
	parts := make([]string, len(run.destOrder))
	for i, ix := range run.destOrder {
		parts[i] = url.PathEscape(ix)
	}
	resp, ans, err := run.call(http.MethodPost, "/"+strings.Join(parts, ",")+"/_refresh", "", nil)
	if err != nil {
		return run.primaryGone("refreshing the indexes written (every change was replicated)", err)
	}
	if resp.StatusCode/100 != 2 {
		return run.withProgress(resp.StatusCode, resp.Header, ans, "refreshing the indexes written (every change was replicated) failed: ")
	}
	return nil
}

// primaryGone is the answer when the primary cannot be reached for one of the
// proxy's own requests; what was written before was replicated.
func (run *byQueryRun) primaryGone(doing string, err error) *stop {
	run.log.Error("primary call of a by-query operation failed; stopping", "doing", doing, "error", err)
	return &stop{status: http.StatusBadGateway, body: errJSON(http.StatusBadGateway, errPrimary,
		fmt.Sprintf("the primary cluster could not be reached while %s; %s stopped there [request id %s]%s",
			doing, run.job.kind.api(), run.reqID, run.progress()))}
}

// bulkFailed is the answer when the write path did not answer 200: the batch's bulk
// was refused by the primary (nothing of it applied), not answered, or applied and not
// all queued in Kafka. The write path's error (its type, the documents applied and not
// queued) is kept, and its reason says where the operation stopped.
func (run *byQueryRun) bulkFailed(status int, header http.Header, ans []byte) *stop {
	return run.withProgress(status, header, ans, fmt.Sprintf("%s stopped at batch %d: ", run.job.kind.api(), run.st.batches))
}

// withProgress is an error answer of the primary or of the write path, its reason
// prefixed and followed by what earlier batches did; an answer that is not an error
// envelope goes as it is.
func (run *byQueryRun) withProgress(status int, header http.Header, ans []byte, prefix string) *stop {
	progress := run.progress()
	var env map[string]json.RawMessage
	var e map[string]json.RawMessage
	var reason string
	if json.Unmarshal(ans, &env) != nil || json.Unmarshal(env["error"], &e) != nil || json.Unmarshal(e["reason"], &reason) != nil {
		return &stop{status: status, body: ans, header: header}
	}
	if progress == "" {
		return &stop{status: status, body: ans, header: header} // nothing was done: the error as it is
	}
	e["reason"], _ = json.Marshal(prefix + reason + progress)
	env["error"], _ = json.Marshal(e)
	out, _ := json.Marshal(env)
	return &stop{status: status, body: out, header: header}
}

// progress says what the operation did before it stopped, for error reasons; "" when
// it did nothing.
func (run *byQueryRun) progress() string {
	s := &run.st
	if s.processed() == 0 && s.noops == 0 && s.versionConflicts == 0 {
		return ""
	}
	return fmt.Sprintf("; before it, %d documents were created, %d updated and %d deleted on the primary and replicated "+
		"(%d noops, %d version conflicts)", s.created, s.updated, s.deleted, s.noops, s.versionConflicts)
}

func (run *byQueryRun) stopWith(w http.ResponseWriter, st *stop) {
	if st.header != nil {
		copyHeaders(w.Header(), st.header)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	writeBody(w, run.r, st.status, st.body)
}

// answer writes the BulkByScrollResponse (BulkByScrollResponse.toXContent with
// BulkByScrollTask.Status.innerXContent; delete-by-query leaves out updated and
// created, update-by-query created) with the status
// BulkIndexByScrollResponseContentListener gives: the highest of the failures', 408
// on a timeout, else 200.
func (run *byQueryRun) answer(w http.ResponseWriter) {
	s := &run.st
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"took":%d,"timed_out":%t,"total":%d`, time.Since(run.start).Milliseconds(), run.timedOut, s.total)
	if run.job.kind != deleteByQuery {
		fmt.Fprintf(&b, `,"updated":%d`, s.updated)
	}
	if run.job.kind == reindexAPI {
		fmt.Fprintf(&b, `,"created":%d`, s.created)
	}
	rps := "-1.0"
	if !math.IsInf(run.job.rps, 1) {
		rps = strconv.FormatFloat(float64(float32(run.job.rps)), 'f', -1, 32)
		if !strings.Contains(rps, ".") {
			rps += ".0"
		}
	}
	fmt.Fprintf(&b, `,"deleted":%d,"batches":%d,"version_conflicts":%d,"noops":%d,"retries":{"bulk":%d,"search":0},`+
		`"throttled_millis":%d,"requests_per_second":%s,"throttled_until_millis":0,"failures":[`,
		s.deleted, s.batches, s.versionConflicts, s.noops, s.bulkRetries, s.throttled.Milliseconds(), rps)
	status := http.StatusOK
	if run.timedOut {
		status = http.StatusRequestTimeout
	}
	for i, f := range run.failures {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(f)
		var fs struct {
			Status int `json:"status"`
		}
		if json.Unmarshal(f, &fs) == nil && fs.Status > status {
			status = fs.Status
		}
	}
	b.WriteString("]}")
	body := b.Bytes()
	if !run.job.filter.Empty() {
		if cut, err := run.job.filter.Apply(body); err == nil {
			body = cut
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	writeBody(w, run.r, status, body)
}

// errJSON is the standard error envelope.
func errJSON(status int, typ, reason string) []byte {
	body, _ := json.Marshal(struct {
		Error  errorBody `json:"error"`
		Status int       `json:"status"`
	}{errorBody{RootCause: []errorCause{{Type: typ, Reason: reason}}, Type: typ, Reason: reason}, status})
	return body
}

// escapeIndices escapes an index expression for a path, commas kept.
func escapeIndices(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, ",")
}

// bufferedAnswer is the ResponseWriter the write path answers a batch into.
type bufferedAnswer struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedAnswer) Header() http.Header { return b.h }

func (b *bufferedAnswer) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedAnswer) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedAnswer) code() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}
