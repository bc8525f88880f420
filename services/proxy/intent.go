package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/fanout-dev/fanout/pkg/bulk"
	"github.com/fanout-dev/fanout/pkg/intentlog"
)

// Crash recovery, the write side (recovery.dir; recovery.go resolves on start-up).
//
// Before the primary is called, the documents a write addresses (index, id, routing,
// action of each item) are recorded as an OPEN intent and fsync'ed. Once the write's
// events are acknowledged by Kafka, or fsync'ed in the spool (spool.go), the intent is
// closed, never before. A proxy killed in between
// leaves the intent open; its successor, on start-up, asks the primary for each
// document's current state and publishes that (recovery.go), so a write the primary
// applied reaches the targets even though the proxy that sent it died before its
// events were durable (DESIGN.md principle 5).
//
// An intent is also left open when the outcome is not known or the events were not
// all queued (no answer from the primary, a 503 fanout_replication_exception): the
// proxy resolves those documents itself once recovery.settle has passed (orphans,
// recovery.go), and the next start does if it dies first. Only a write the primary
// certainly did not apply (a refused request, an unreachable primary) closes its
// intent at once.

// writeIntent is the open intent of one request; nil when recovery is off or the
// request names no document.
type writeIntent struct {
	p     *Proxy
	id    uint64
	items []intentlog.Item
	ended bool // one request's goroutine only
}

// end closes the intent: the request's events are durable (or nothing was applied).
// This is the hook for every path that makes a request's events durable.
func (in *writeIntent) end() {
	if in == nil || in.ended {
		return
	}
	in.ended = true
	// An error here is a log that stopped taking records (a failed write or fsync):
	// the next Begin fails and says so; the intent stays open, resolved again at the
	// next start, which is harmless.
	_ = in.p.intents.End(in.id)
}

// orphanIfOpen hands an intent its request did not end (outcome unknown, events not
// all queued) to the proxy's own resolver (recovery.go); deferred by serveWrite.
func (in *writeIntent) orphanIfOpen() {
	if in == nil || in.ended {
		return
	}
	in.p.orphans.add(intentlog.Intent{ID: in.id, Items: in.items}, in.p.now())
}

// endIfNotApplied closes the intent of a write whose primary call failed when the
// primary certainly did not take it in; otherwise the outcome is unknown and the
// intent stays open for the next start to resolve.
func (in *writeIntent) endIfNotApplied(err error) {
	var ce *primaryCallError
	if errors.As(err, &ce) && ce.notApplied != "" {
		in.end()
	}
}

// beginIntent gives the plan's auto-id writes ids of the proxy's own (autoid.go) and
// records the plan's documents as an open intent, durably, before the primary is
// called. A plan the proxy could not read (scanErr) names no documents: it is sent as
// it came and answered 503 if applied, as before.
func (p *Proxy) beginIntent(r *http.Request, rt route, pl *plan, ch charge) (*writeIntent, error) {
	if p.intents == nil || pl.scanErr != nil || len(pl.items) == 0 {
		return nil, nil
	}
	if err := p.assignIDs(r, rt, pl, ch); err != nil {
		return nil, err
	}
	items := make([]intentlog.Item, 0, len(pl.items))
	for i := range pl.items {
		q := &pl.items[i]
		if q.index == "" || q.id == "" {
			continue // the primary refuses such an item: nothing to recover
		}
		items = append(items, intentlog.Item{Index: q.index, ID: q.id, Routing: q.routing, Action: q.action.String()})
	}
	if len(items) == 0 {
		return nil, nil
	}
	id, err := p.intents.Begin(items)
	if err != nil {
		return nil, &intentError{err: err}
	}
	p.m.intents.Inc()
	return &writeIntent{p: p, id: id, items: items}, nil
}

// intentError is an intent that could not be recorded: the write is refused before the
// primary is called.
type intentError struct{ err error }

func (e *intentError) Error() string {
	return "recording the write's intent (recovery.dir): " + e.err.Error()
}
func (e *intentError) Unwrap() error { return e.err }

// refuseNoIntent answers a write whose intent could not be recorded: 503, nothing
// applied; other errors are the memory budget's.
func (p *Proxy) refuseNoIntent(w http.ResponseWriter, r *http.Request, err error) {
	var ie *intentError
	if !errors.As(err, &ie) {
		p.overBudget(w, r, err)
		return
	}
	p.m.rejected.WithLabelValues("intent_log").Inc()
	p.log.Error("cannot record a write's intent; refused before the primary", "error", err)
	writeError(w, r, http.StatusServiceUnavailable, errReplication,
		"fanout could not record the write for crash recovery ("+ie.err.Error()+"); nothing was applied")
}

// assignIDs gives every index or create without an id one of the proxy's. A bulk body
// is rewritten with "_id" on those action lines (everything else kept byte for byte);
// a single-document POST /{index}/_doc becomes POST /{index}/_doc/{id}?op_type=create,
// which answers as the auto-id request does.
//
// A bulk index line keeps its action and op_type: with op_type=create the primary would
// name the item "create" in its answer, which the client did not send. An index of a
// fresh id only differs from a create if the id exists already, which an id of this
// format (a per-process random node part, a millisecond clock and a sequence) does not.
func (p *Proxy) assignIDs(r *http.Request, rt route, pl *plan, ch charge) error {
	need := false
	for i := range pl.items {
		q := &pl.items[i]
		if q.id == "" && (q.action == bulk.ActionIndex || q.action == bulk.ActionCreate) {
			need = true
			break
		}
	}
	if !need {
		return nil
	}
	if rt.name != "bulk" {
		id := p.ids.next()
		pl.items[0].id = id
		esc := strings.TrimSuffix(r.URL.EscapedPath(), "/") + "/" + id
		u, err := url.Parse(esc)
		if err != nil {
			return fmt.Errorf("building the path of an auto-id write: %w", err)
		}
		raw := withoutParams(pl.rawQuery, "op_type")
		if raw != "" {
			raw += "&"
		}
		u.RawQuery = raw + "op_type=create"
		pl.primaryURL = u
		return nil
	}
	if err := ch.add(int64(len(pl.body)) + int64(len(pl.items))*32); err != nil {
		return err
	}
	out := make([]byte, 0, len(pl.body)+len(pl.items)*32)
	var copied int64
	sc := bulk.NewBytesScanner(pl.body, bulk.WithLegacyParser())
	for k := 0; sc.Next(); k++ {
		if k >= len(pl.items) {
			return fmt.Errorf("the bulk body has more items on a second read than on the first")
		}
		it := sc.Item()
		q := &pl.items[k]
		if q.id != "" || it.HasID || (q.action != bulk.ActionIndex && q.action != bulk.ActionCreate) {
			continue
		}
		q.id = p.ids.next()
		out = append(out, pl.body[copied:it.Offset]...)
		meta := it.Meta
		meta.ID, meta.HasID = q.id, true
		out = bulk.AppendItem(out, &meta, it.Payload)
		copied = it.End
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the bulk body again to give ids: %w", err)
	}
	pl.body = append(out, pl.body[copied:]...)
	return nil
}

// target is where the plan goes on the primary: the client's path, or the one
// assignIDs made.
func (pl *plan) target(r *http.Request) *url.URL {
	if pl.primaryURL != nil {
		return pl.primaryURL
	}
	return clientPath(r, pl.rawQuery)
}
