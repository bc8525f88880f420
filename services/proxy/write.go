package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fanout-dev/fanout/pkg/bulk"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/filterpath"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/pkg/sourcefilter"
)

// planItem is what the proxy remembers of one write of a request, to build its event
// from the primary's answer and to shape the answer for the client.
type planItem struct {
	action bulk.Action // effective action (index with op_type=create is a create)
	// storedRouting: an update that, when the document exists, applies the routing
	// stored with it rather than this item's (see routing.go).
	storedRouting bool
	routing       string
	payload       []byte // index/create: the document as sent (aliases the request body)
	// want is what an update's client asked to see of the document; nil (for every
	// other action, and an update that asked nothing) is the zero Want. A pointer:
	// a bulk has one planItem per item, and few are updates.
	want *sourcefilter.Want
	// index and id address the document as the request did (the index may be an alias).
	index, id string
}

// wanted is what the client asked to see of an updated document.
func (q *planItem) wanted() sourcefilter.Want {
	if q.want == nil {
		return sourcefilter.Want{}
	}
	return *q.want
}

// plan is a write request as it goes to the primary.
type plan struct {
	body []byte // what the primary receives
	// rawQuery is the query string sent to the primary: the client's, pairs kept byte
	// for byte, with the proxy's few changes.
	rawQuery string
	items    []planItem
	scanErr  error // the body is not a bulk body we understand: forward it untouched
	// filter is the client's filter_path: the primary is asked for the whole answer,
	// which the proxy needs to build events, and the proxy cuts it for the client.
	filter filterpath.Filter
	// answerRoom is what was charged for the primary's answer before it came.
	answerRoom int64
	// keepAccept sends the client's Accept as it is: the proxy does not read this
	// answer (a metadata request's, which the proxy reads back instead).
	keepAccept bool
	// primaryURL, when set, replaces the client's path and query (an auto-id write
	// given an id by the proxy: intent.go).
	primaryURL *url.URL
}

// clientQuery reads the request's query as the primary does: its parameters without
// filter_path, the query string to send on (without filter_path: the proxy needs the
// whole answer), and the filter. A query the primary cannot decode goes on untouched,
// with the error: the primary rejects it.
func clientQuery(r *http.Request) (url.Values, string, filterpath.Filter, error) {
	q, err := restQuery(r.URL.RawQuery)
	if err != nil {
		return url.Values{}, r.URL.RawQuery, filterpath.Filter{}, fmt.Errorf("decoding the query string: %w", err)
	}
	f := filterpath.Parse(q.Get("filter_path"))
	q.Del("filter_path")
	return q, withoutParams(r.URL.RawQuery, "filter_path"), f, nil
}

// What a request item costs the proxy besides its bytes in the body, counted against
// limits.max_inflight_bytes before the primary is called: its planItem, its event, and
// room for its item of the primary's answer (about 170 bytes for an index item with a
// 20-byte id; an update's answer carries the document, counted as its payload's size
// more). The answer is counted as it really is once read (see serveWrite).
const (
	answerPerItem = 224
	costPerItem   = int64(unsafe.Sizeof(planItem{})+unsafe.Sizeof(pendingEvent{})) + answerPerItem
	// answerPerDoc is the room counted for a single-document write's answer.
	answerPerDoc = 1 << 10
)

// charge counts memory a request is about to hold against the budget; nil counts
// nothing (tests).
type charge func(n int64) error

func (c charge) add(n int64) error {
	if c == nil {
		return nil
	}
	return c(n)
}

// planBulk scans a _bulk body. Update actions are rewritten to ask for the full
// resulting document (`"_source":true` on the action line, which wins over the payload
// and the query defaults), because an update's event carries the whole document.
//
// The body is framed by the parser of Elasticsearch 7 and OpenSearch 1.x
// (bulk.WithLegacyParser), whatever the primary: it accepts everything the later
// parser accepts, frames it the same, and more — "_type" on action lines (which
// Logstash and the ES 6/7 shippers send) and unknown actions, skipped with their
// payload line. A primary with the later parser refuses such a body as a whole, so
// nothing of it is applied and nothing published; one with the legacy parser applies
// the same items as the proxy read. A rewritten body keeps every byte of the client's
// around the rewritten action lines (blank lines, skipped items), so the primary frames
// it as it would have framed the client's.
//
// The memory its items will cost is charged as they are planned; a charge that fails
// stops the planning with its error.
func planBulk(r *http.Request, rt route, body []byte, ch charge) (*plan, error) {
	q, raw, filter, qerr := clientQuery(r)
	pl := &plan{body: body, rawQuery: raw, filter: filter, scanErr: qerr}
	if qerr != nil {
		return pl, nil
	}
	// Sized once for a bulk of index items (two lines each): grown by append, the
	// slice would be copied a dozen times and leave as much again as garbage.
	est := bytes.Count(body, []byte{'\n'})/2 + 1
	if err := ch.add(int64(est) * costPerItem); err != nil {
		return nil, err
	}
	pl.answerRoom = int64(est) * answerPerItem
	pl.items = make([]planItem, 0, est)
	defaultRouting := q.Get("routing")
	defaultIndex := rt.index         // /{index}/_bulk, /{index}/{type}/_bulk
	var queryWant *sourcefilter.Want // shared by the items it applies to
	if w, ok := sourcefilter.FromQuery(q); ok {
		queryWant = &w
	}

	var out []byte   // rewritten body, only built when there is an update
	var copied int64 // body[:copied] is in out
	sc := bulk.NewBytesScanner(body, bulk.WithLegacyParser())
	for sc.Next() {
		it := sc.Item()
		pi := planItem{action: it.EffectiveAction(), routing: it.Routing, index: it.Index, id: it.ID}
		if pi.routing == "" {
			pi.routing = defaultRouting
		}
		if pi.index == "" {
			pi.index = defaultIndex
		}
		switch it.Action {
		case bulk.ActionIndex, bulk.ActionCreate:
			pi.payload = it.Payload
		case bulk.ActionUpdate:
			// The answer carries the resulting document.
			if err := ch.add(int64(len(it.Payload))); err != nil {
				return nil, err
			}
			pl.answerRoom += int64(len(it.Payload))
			// BulkRequestParser never gives the partial doc a routing.
			pi.storedRouting = true
			switch {
			case it.Source != nil:
				w := sourcefilter.FromJSON(it.Source)
				pi.want = &w
			case queryWant != nil:
				pi.want = queryWant
			default:
				if up, err := bulk.ParseUpdatePayload(it.Payload); err == nil && up.Source != nil {
					w := sourcefilter.FromJSON(up.Source)
					pi.want = &w
				}
			}
			if out == nil {
				if err := ch.add(int64(len(body)) + 64); err != nil {
					return nil, err
				}
				out = make([]byte, 0, len(body)+64)
			}
			// What came before (earlier items, blank lines, skipped items) goes as it was.
			out = append(out, body[copied:it.Offset]...)
			meta := it.Meta
			meta.Source = []byte("true")
			out = bulk.AppendItem(out, &meta, it.Payload)
			copied = it.End
		}
		if len(pl.items) >= est { // more items than lines/2: deletes
			if err := ch.add(costPerItem); err != nil {
				return nil, err
			}
			pl.answerRoom += answerPerItem
		}
		pl.items = append(pl.items, pi)
	}
	if err := sc.Err(); err != nil {
		return &plan{body: body, rawQuery: raw, filter: filter, scanErr: err}, nil
	}
	if out != nil {
		pl.body = append(out, body[copied:]...)
	}
	return pl, nil
}

// planDoc plans a single-document write. For an update the query asks for the full
// document (`_source=true`) and a `_source` in the body, which would win over the
// query, is taken out; what the client asked for is restored in the answer.
func planDoc(r *http.Request, rt route, body []byte, ch charge) (*plan, error) {
	room := int64(answerPerDoc)
	if rt.action == bulk.ActionUpdate {
		room += int64(len(body)) // the answer carries the resulting document
	}
	if err := ch.add(costPerItem + room); err != nil {
		return nil, err
	}
	q, raw, filter, qerr := clientQuery(r)
	if qerr != nil {
		return nil, qerr
	}
	pi := planItem{action: rt.action, routing: q.Get("routing"), index: rt.index, id: rt.id}
	if rt.action == bulk.ActionIndex && (q.Get("op_type") == "create" || rt.id == "") {
		pi.action = bulk.ActionCreate // auto-id writes are creates
	}
	pl := &plan{body: body, rawQuery: raw, filter: filter, answerRoom: room}
	switch rt.action {
	case bulk.ActionIndex, bulk.ActionCreate:
		pi.payload = body
	case bulk.ActionUpdate:
		w, _ := sourcefilter.FromQuery(q)
		pi.want = &w
		// RestUpdateAction gives a partial doc the request's routing; a script update
		// (no doc) or a request without routing applies the stored one.
		pi.storedRouting = true
		if up, err := bulk.ParseUpdatePayload(body); err == nil {
			pi.storedRouting = pi.routing == "" || up.Doc == nil
			if up.Source != nil {
				w := sourcefilter.FromJSON(up.Source)
				pi.want = &w
				// The decoded members and the body re-encoded without _source.
				if err := ch.add(2 * int64(len(body))); err != nil {
					return nil, err
				}
				stripped, err := withoutMember(body, "_source")
				if err != nil {
					return nil, err
				}
				pl.body = stripped
			}
		}
		sep := "&"
		raw = withoutParams(raw, "_source", "_source_includes", "_source_excludes", "_source_include", "_source_exclude")
		if raw == "" {
			sep = ""
		}
		pl.rawQuery = raw + sep + "_source=true"
	}
	pl.items = []planItem{pi}
	return pl, nil
}

// withoutMember re-encodes a JSON object without one member, keeping the other values'
// bytes. Member order is not kept; the primary does not care about it.
func withoutMember(obj []byte, key string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return nil, fmt.Errorf("rewriting update body: %w", err)
	}
	delete(m, key)
	return json.Marshal(m)
}

// serveWrite handles the replicated write APIs, with the body read already; res is
// the request's share of the memory budget.
func (p *Proxy) serveWrite(w http.ResponseWriter, r *http.Request, rt route, body []byte, res *reservation) {
	if p.refuseUnreplicableMedia(w, r, rt) {
		return
	}
	ch := func(n int64) error { return res.grow(r.Context(), n) }
	var pl *plan
	var err error
	if rt.name == "bulk" {
		pl, err = planBulk(r, rt, body, ch)
	} else if pl, err = planDoc(r, rt, body, ch); err != nil && !isBudgetErr(err) {
		// Not JSON, or a query the primary cannot decode: it will reject the
		// request; send it as it came.
		_, raw, filter, _ := clientQuery(r)
		pl, err = &plan{body: body, rawQuery: raw, filter: filter, scanErr: err}, nil
	}
	if err != nil {
		p.overBudget(w, r, err)
		return
	}
	prepaid, err := p.reserveRecords(pl, ch)
	if err != nil {
		p.refuseUnreplicable(w, r, err)
		return
	}

	if p.refuseSpoolFull(w, r) {
		return
	}

	// Crash recovery: the documents this write addresses are on disk before the
	// primary is called (intent.go); in.end() once its events are durable, and one
	// not ended goes to the proxy's own resolver.
	in, err := p.beginIntent(r, rt, pl, ch)
	if err != nil {
		p.refuseNoIntent(w, r, err)
		return
	}
	defer in.orphanIfOpen()

	reqID := r.Header.Get("X-Opaque-Id")
	if reqID == "" {
		reqID = newRequestID()
	}
	log := p.log.With("request_id", reqID, "route", rt.name)

	// The metadata lock, shared, from before the primary is called until the events are
	// acknowledged or failed: a metadata change waits for this write, or this write for
	// it, so that its events are on the right side of the change's copies (metadata.go).
	p.metaMu.RLock()
	unlock := sync.OnceFunc(p.metaMu.RUnlock)
	defer unlock()
	before := p.lookupBefore(r, pl, log)
	resp, respBody, err := p.callPrimary(r, rt.name, pl)
	if err != nil {
		in.endIfNotApplied(err) // [intent] an unknown outcome stays open for recovery
		p.primaryFailed(w, r, reqID, err, log)
		return
	}
	accepted := p.now()
	// The answer is in memory now, counted as it is: the write is applied, so this
	// cannot be refused, only make later requests wait.
	if extra := int64(len(respBody)) - pl.answerRoom; extra > 0 {
		res.force(extra)
	}
	if !pl.filter.Empty() {
		res.force(int64(len(respBody))) // the answer cut for the client
	}

	// Not applied (a rejected request, a missing document, a conflict): the primary's
	// answer goes back byte for byte and nothing is published.
	if resp.StatusCode/100 != 2 {
		if resp.StatusCode < 500 {
			in.end() // [intent] nothing applied; a 5xx may have applied some: left to recovery
		}
		p.answer(w, r, resp, respBody, pl)
		return
	}
	if pl.scanErr != nil {
		if resp.StatusCode/100 == 2 {
			// The primary applied something the proxy could not read: it cannot say what
			// to replicate. Never tell the client all is well.
			p.m.replicationErrs.Inc()
			log.Error("primary accepted a write the proxy could not parse; not replicated", "error", pl.scanErr)
			writeErrorBody(w, r, http.StatusServiceUnavailable, errorBody{Type: errReplication,
				Reason: "the primary applied the request, but fanout could not parse it to queue its replication: " + pl.scanErr.Error()})
			return
		}
		p.answer(w, r, resp, respBody, pl)
		return
	}

	evs, edits, err := p.buildEvents(rt, pl, resp.StatusCode, respBody)
	if len(edits) > 0 {
		res.force(int64(len(respBody))) // the answer with the edits applied
	}
	if err != nil {
		p.m.replicationErrs.Inc()
		log.Error("cannot build events from the primary's answer; not replicated", "error", err)
		writeErrorBody(w, r, http.StatusServiceUnavailable, errorBody{Type: errReplication,
			Reason: "the primary applied the request, but fanout could not read its answer to queue replication: " + err.Error()})
		return
	}
	// Settle the routing of updates the answer does not give. Events whose routing is
	// settled are published even when others' is not: their writes are applied and what
	// to replicate is known.
	// Writes through an alias with index_routing applied the alias's routing, which the
	// answer does not show (aliasrouting.go).
	aliasUnknown := p.aliasRouting.apply(p, r, evs, log)
	unresolved, superseded := p.resolveRouting(r, evs, before, log)
	unresolved = mergeSorted(unresolved, aliasUnknown)
	// Index and create events whose document the primary may have stored otherwise
	// (a pipeline, a non-JSON body) carry what it stored (stored.go).
	unread, replaced, unreadReason := p.readBackStored(r, rt, body, respBody, evs, res, log)
	unresolved = mergeSorted(unresolved, unread)
	send := publishable(len(evs), mergeSorted(unresolved, mergeSorted(superseded, replaced)))
	enc := p.encoder(reqID, accepted, &recordCharge{prepaid: prepaid, res: res})
	failed, perr := p.publishEvents(r.Context(), send.len(), func(k int) (*event.Records, error) {
		return enc(&evs[send.at(k)])
	})
	unlock()
	if len(failed) == 0 && len(unresolved) == 0 {
		in.end() // [intent] every event acknowledged by Kafka
		p.answer(w, r, resp, applyEdits(respBody, edits), pl)
		return
	}
	p.m.replicationErrs.Inc()
	notQueued := make([]string, 0, len(unresolved)+len(failed))
	for _, i := range unresolved {
		notQueued = append(notQueued, evs[i].index+"/"+evs[i].id)
	}
	for _, k := range failed {
		e := &evs[send.at(k)]
		notQueued = append(notQueued, e.index+"/"+e.id)
	}
	var reasons []string
	if len(unresolved) > len(unread) {
		reasons = append(reasons, fmt.Sprintf("fanout could not read from the primary the routing it applied to %d written documents, "+
			"so their replication was not queued", len(unresolved)-len(unread)))
	}
	if unreadReason != "" {
		reasons = append(reasons, unreadReason)
	}
	if len(failed) > 0 {
		log.Error("events of applied writes were not queued in Kafka", "error", perr,
			"failed_events", len(failed), "events", send.len(), "first", notQueued[len(unresolved)])
		reasons = append(reasons, fmt.Sprintf("replication of %d of them was not queued in Kafka within %s (%s) [request id %s]",
			len(failed), p.cfg.Publish.Timeout, kafkaReason(perr), reqID))
	}
	writeErrorBody(w, r, http.StatusServiceUnavailable, errorBody{
		Type:         errReplication,
		Reason:       fmt.Sprintf("the primary applied %d writes but ", len(evs)) + strings.Join(reasons, "; "),
		Applied:      notQueued[:min(len(notQueued), maxListed)],
		AppliedTotal: len(notQueued),
	})
}

// publishable lists the events to publish: all n but those at the indexes in skip
// (sorted), in request order. Without skips it is the identity and costs nothing.
func publishable(n int, skip []int) eventList {
	if len(skip) == 0 {
		return eventList{n: n}
	}
	l := eventList{n: n - len(skip), idx: make([]int, 0, n-len(skip))}
	for i := 0; i < n; i++ {
		if len(skip) > 0 && skip[0] == i {
			skip = skip[1:]
			continue
		}
		l.idx = append(l.idx, i)
	}
	return l
}

// eventList is a list of event indexes; idx nil means 0..n-1.
type eventList struct {
	n   int
	idx []int
}

func (l eventList) len() int { return l.n }

func (l eventList) at(k int) int {
	if l.idx == nil {
		return k
	}
	return l.idx[k]
}

// encoder returns the function that plans a request's events one at a time, as the
// publisher takes them: a record is built only once the producer has room for it, so
// a big bulk never holds all its records at once. An event too large for one record
// (publish.max_record_bytes) becomes a chunk group with a fresh group id, its records
// counted against the request's budget (rc). The Operation is reused (a record copies
// what it needs, and the publisher builds an event's records before it plans the next
// event), and so are its Records and the acceptance time, the same for every event.
func (p *Proxy) encoder(reqID string, accepted time.Time, rc *recordCharge) func(*pendingEvent) (*event.Records, error) {
	op := &opspb.Operation{AcceptedAt: timestamppb.New(accepted), RequestId: reqID, SourceCluster: p.cfg.ClusterName}
	var seqNo, term int64
	var rs event.Records
	return func(e *pendingEvent) (*event.Records, error) {
		op.Kind, op.Index, op.Id, op.Routing, op.Source = e.kind, e.index, e.id, e.routing, e.source
		op.Version, op.ReplicationVersion = e.version, e.replicationVersion
		op.SeqNo, op.PrimaryTerm = nil, nil
		if e.hasSeqNo {
			seqNo, term = e.seqNo, e.term
			op.SeqNo, op.PrimaryTerm = &seqNo, &term
		}
		if err := rs.Split(p.cfg.Publish.Topic, op, int(p.cfg.Publish.MaxRecordBytes), newGroupID); err != nil {
			return nil, fmt.Errorf("encoding the event of %s/%s: %w", e.index, e.id, err)
		}
		if rs.Chunked() {
			rc.add(rs.Bytes())
		}
		return &rs, nil
	}
}

// answer sends the primary's answer (shaped by the proxy) to the client, cut down by
// the client's filter_path.
func (p *Proxy) answer(w http.ResponseWriter, r *http.Request, resp *http.Response, body []byte, pl *plan) {
	if !pl.filter.Empty() {
		if cut, err := pl.filter.Apply(body); err == nil {
			body = cut
		} else {
			p.log.Warn("cannot apply filter_path to the primary's answer; sending it whole", "error", err)
		}
	}
	copyHeaders(w.Header(), resp.Header)
	writeBody(w, r, resp.StatusCode, body)
}

// maxListed bounds the documents named in a replication error.
const maxListed = 20

// edit replaces body[start:end] in the answer to the client.
type edit struct {
	start, end int
	with       []byte
}

func applyEdits(body []byte, edits []edit) []byte {
	if len(edits) == 0 {
		return body
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	out := make([]byte, 0, len(body))
	pos := 0
	for _, e := range edits {
		out = append(out, body[pos:e.start]...)
		out = append(out, e.with...)
		pos = e.end
	}
	return append(out, body[pos:]...)
}

// buildEvents turns the primary's answer into one event per applied write, in request
// order, and the edits that restore what the client asked to see of updated documents.
// Events of updates that applied the document's stored routing are marked unknown: the
// answer does not say what it was (resolveRouting finds out).
func (p *Proxy) buildEvents(rt route, pl *plan, status int, body []byte) (evs []pendingEvent, edits []edit, err error) {
	add := func(i int, res *bulk.ItemResult) error {
		if i >= len(pl.items) {
			return fmt.Errorf("the answer has more items (%d) than the request", i+1)
		}
		q := &pl.items[i]
		if q.action == bulk.ActionUpdate && res.GetSpan != [2]int{} {
			if e, ok, err := shapeGet(body, res, q.wanted()); err != nil {
				return err
			} else if ok {
				edits = append(edits, e)
			}
		}
		if res.Status/100 != 2 {
			return nil
		}
		ev := pendingEvent{index: res.Index, id: res.ID, routing: q.routing, addressed: q.routing,
			version: res.Version, hasSeqNo: res.HasSeqNo}
		if q.routing == "" && q.index != "" && q.index != res.Index {
			ev.via = q.index
		}
		if res.HasSeqNo {
			ev.seqNo, ev.term = res.SeqNo, res.PrimaryTerm
		}
		switch res.Result {
		case "created", "updated":
			ev.kind = opspb.Kind_KIND_INDEX
			if q.action == bulk.ActionUpdate {
				if res.GetSource == nil {
					return fmt.Errorf("the primary returned no document for the update of %s/%s", res.Index, res.ID)
				}
				ev.source = res.GetSource
			} else {
				ev.source = q.payload
			}
		case "deleted":
			ev.kind = opspb.Kind_KIND_DELETE
		default: // noop, not_found: nothing changed
			return nil
		}
		// An update that created the document (an upsert) applied the request's
		// routing; one that changed an existing document may have applied the stored
		// one. One that deleted it (by script) needs no routing but the shard's: the
		// request's address found the document, and a replica laid out as the primary
		// finds its copy on the same shard by the same address.
		if q.action == bulk.ActionUpdate && q.storedRouting && res.Result == "updated" {
			ev.routing, ev.unknown, ev.keeps = "", true, true
		}
		v, err := event.ReplicationVersion(res.SeqNo, res.PrimaryTerm, res.Version, res.HasSeqNo)
		if err != nil {
			return fmt.Errorf("replication version of %s/%s: %w", res.Index, res.ID, err)
		}
		ev.replicationVersion = v
		if evs == nil {
			evs = make([]pendingEvent, 0, len(pl.items)) // at most one per item
		}
		evs = append(evs, ev)
		return nil
	}

	if rt.name == "bulk" {
		n := 0
		if _, err := bulk.ParseResponse(body, func(i int, res *bulk.ItemResult) error {
			n = i + 1
			return add(i, res)
		}); err != nil {
			return nil, nil, fmt.Errorf("parsing the bulk answer: %w", err)
		}
		if n != len(pl.items) {
			return nil, nil, fmt.Errorf("the bulk answer has %d items for %d requested", n, len(pl.items))
		}
		return evs, edits, nil
	}
	var res bulk.ItemResult
	if err := bulk.ParseWriteResponse(body, status, pl.items[0].action, &res); err != nil {
		return nil, nil, fmt.Errorf("parsing the write answer: %w", err)
	}
	if err := add(0, &res); err != nil {
		return nil, nil, err
	}
	return evs, edits, nil
}

// shapeGet returns the edit that makes an update's "get" block what the client asked
// for: removed when it did not ask, filtered when it asked for some fields.
func shapeGet(body []byte, res *bulk.ItemResult, want sourcefilter.Want) (edit, bool, error) {
	switch {
	case !want.Fetch:
		return edit{start: res.GetSpan[0], end: res.GetSpan[1]}, true, nil
	case want.Whole():
		return edit{}, false, nil
	}
	if res.GetSource == nil {
		return edit{}, false, nil
	}
	filtered, err := want.Filter(res.GetSource)
	if err != nil {
		return edit{}, false, fmt.Errorf("filtering get._source: %w", err)
	}
	return edit{start: res.GetSourceSpan[0], end: res.GetSourceSpan[1], with: filtered}, true, nil
}

// callPrimary sends the planned write and reads the whole answer. The client going
// away does not cancel it: the primary may apply the write regardless, and then its
// event must still be published.
func (p *Proxy) callPrimary(r *http.Request, routeName string, pl *plan) (*http.Response, []byte, error) {
	ctx, trace := withSendTrace(context.WithoutCancel(r.Context()))
	if t := p.cfg.Primary.Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, "/", bytes.NewReader(pl.body))
	if err != nil {
		return nil, nil, fmt.Errorf("building the primary request: %w", err)
	}
	out.URL = pl.target(r)
	p.forwardHeaders(out.Header, r)
	// The body was read (and inflated) here; the transport negotiates its own
	// response compression and decodes it, so the answer can be parsed.
	out.Header.Del("Content-Encoding")
	out.Header.Del("Accept-Encoding")
	if nonJSON(r) && !pl.keepAccept {
		// The primary answers in the request's media type unless told otherwise
		// (AbstractRestChannel); the proxy reads JSON (see refuseUnreplicableMedia).
		out.Header.Set("Accept", "application/json")
	}
	out.ContentLength = int64(len(pl.body))

	start := time.Now()
	// Stream, not Perform: Perform reads the whole answer into a buffer of its own,
	// grown by doubling, before readAnswer copies it again.
	resp, err := p.primary.Stream(out)
	p.m.primarySeconds.WithLabelValues(routeName).Observe(time.Since(start).Seconds())
	if err != nil {
		closeBody(resp) // Stream may return an answer with its error
		return nil, nil, &primaryCallError{err: err, notApplied: trace.notApplied(err)}
	}
	defer resp.Body.Close()
	body, err := readAnswer(resp)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the primary's answer: %w", err)
	}
	return resp, body, nil
}

// readAnswer reads a whole answer into a buffer sized by Content-Length when the
// cluster sent one: a bulk answer runs to hundreds of KiB, which io.ReadAll would reach
// by doubling, copying and clearing its buffer a dozen times.
func readAnswer(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= 1<<30 {
		body := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(resp.Body)
}

// primaryCallError is a primary call that got no answer, with what is known of its
// outcome.
type primaryCallError struct {
	err error
	// notApplied is set when the primary certainly did not take the request in
	// (primaryerr.go); "" when it may have.
	notApplied notApplied
}

func (e *primaryCallError) Error() string { return e.err.Error() }
func (e *primaryCallError) Unwrap() error { return e.err }

// primaryFailed answers a write whose primary call failed: 502 when the primary
// certainly did not take it in, counted as not applied; otherwise 504, with the outcome
// unknown, counted and said. The answer names no address: the cause, which does, is
// logged with the request id the client is given.
func (p *Proxy) primaryFailed(w http.ResponseWriter, r *http.Request, reqID string, err error, log *slog.Logger) {
	var ce *primaryCallError
	if errors.As(err, &ce) && ce.notApplied != "" {
		p.m.notApplied.WithLabelValues(string(ce.notApplied)).Inc()
		log.Warn("primary unreachable; the write was not applied", "reason", string(ce.notApplied), "error", err)
		writeError(w, r, http.StatusBadGateway, errPrimary, fmt.Sprintf(
			"the primary cluster could not be reached (%s); the write was not applied and nothing was published [request id %s]",
			ce.notApplied.describe(), reqID))
		return
	}
	p.m.unknownOutcome.Inc()
	log.Error("no answer from the primary for a write: it may have been applied without being replicated", "error", err)
	writeError(w, r, http.StatusGatewayTimeout, errPrimary, fmt.Sprintf(
		"no answer from the primary cluster; the write may or may not have been applied and was not queued for replication [request id %s]",
		reqID))
}

// closeBody closes the body of an answer Stream returned along with an error.
func closeBody(resp *http.Response) {
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
}

// hopByHop headers are not forwarded (RFC 9110 §7.6.1).
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// forwardHeaders copies the client's headers onto a request to a cluster, for the client
// or for a lookup made on its behalf. The client's Authorization goes through unless the
// proxy authenticates clients itself (auth.mode proxy), in which case the cluster client
// adds the proxy's own credentials. Identity headers the client sent are removed
// (auth.pass_headers keeps some), and X-Forwarded-For is the connection's address, after
// the client's only when the client's is kept.
func (p *Proxy) forwardHeaders(dst http.Header, r *http.Request) {
	for k, vs := range r.Header {
		dst[k] = append([]string(nil), vs...)
	}
	for _, h := range hopByHop {
		dst.Del(h)
	}
	if p.ownAuth {
		dst.Del("Authorization")
	}
	for _, h := range p.strip {
		dst.Del(h)
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := r.Header.Get("X-Forwarded-For"); prior != "" && p.passXFF {
			host = prior + ", " + host
		}
		dst.Set("X-Forwarded-For", host)
	}
}

// copyHeaders copies a cluster's response headers for the client.
func copyHeaders(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = append([]string(nil), vs...)
	}
	for _, h := range hopByHop {
		dst.Del(h)
	}
	dst.Del("Content-Length")
	dst.Del("Content-Encoding")
}

func writeBody(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
