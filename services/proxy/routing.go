package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"

	"github.com/fanout-dev/fanout/pkg/bulk"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// The routing an update applies is not always the request's. OpenSearch's
// UpdateHelper.calculateRouting (server/.../action/update/UpdateHelper.java) gives an
// update of an existing document the routing of its partial "doc" request when that has
// one, else the routing stored with the document. Only the single-document API sets the
// partial doc's routing (RestUpdateAction copies ?routing onto it); a bulk update item's
// doc never has one (BulkRequestParser), and a script update has no doc. Upserts that
// create the document take the request's routing (prepareUpsert).
//
// The answer does not say which routing was applied: UpdateResponse's "get" block is
// built by UpdateHelper.extractGetResult with empty metadata fields, so it never carries
// "_routing" (GetResult.toXContentEmbedded writes only the metadata fields it holds), and
// DocWriteResponse has no routing member. So for those updates the proxy asks the primary:
// one realtime _mget per client request before the write, for every such document, that
// returns each document's _routing (asked for as a stored field), _version, _seq_no and
// _primary_term; an update whose _version is one more than the one read kept the routing
// read (nothing came in between). Only when that does not settle every update (another
// write came in between, or the document did not exist and the update did not create
// it), one more _mget after the write. A realtime get sees every write the primary has
// answered: the write reached every in-sync copy before the answer.

// pendingEvent is the event of one applied write before its routing is settled. It
// holds the fields of its opspb.Operation flat, and the Operation is built only to be
// encoded: a bulk has one of these per item, and a proto message with its pointers
// costs twice as much.
type pendingEvent struct {
	kind opspb.Kind
	// hasSeqNo: seqNo and term are the primary's _seq_no and _primary_term.
	hasSeqNo bool
	// unknown: routing is not yet known to be what the primary applied.
	unknown bool
	// keeps: the write kept the routing the document had before it (an update of an
	// existing document that took the stored routing).
	keeps bool
	// superseded: the routing stays unknown, but a later write of the document has
	// overwritten what this one wrote (see resolveRouting); it is not published.
	superseded bool

	index, id string
	routing   string
	// addressed is the routing the request addressed the document with ("" for none):
	// with the index and id it names the shard copy the write went to.
	addressed string
	// via is the name the request addressed when it is not the concrete index (an
	// alias, date math), "" otherwise: an alias's index_routing applies to the write.
	via                string
	source             []byte // INDEX: the document (aliases the request or the answer)
	version            int64  // the primary's _version
	seqNo, term        int64
	replicationVersion int64
}

// docKey names one document as the request addressed it. Two items with the same id and
// different routings may address different shards, so different documents.
type docKey struct{ index, id, routing string }

func (e *pendingEvent) key() docKey {
	return docKey{index: e.index, id: e.id, routing: e.addressed}
}

// lookedUp is what a realtime get said of a document.
type lookedUp struct {
	index                string // the concrete index that answered
	found                bool
	seqNo, term, version int64
	routing              string
	lookupFailed         string // why this document's lookup failed, "" if it did not
}

// lookupBefore reads, before the write, the state of every document an update of the
// request may apply the stored routing of, keyed by the concrete index that answered. A
// document the request indexes, creates or deletes before updating it is left out: its
// routing comes from that write. A failed lookup returns nothing; the lookup after the
// write is the fallback.
func (p *Proxy) lookupBefore(r *http.Request, pl *plan, log *slog.Logger) map[docKey]lookedUp {
	if !slices.ContainsFunc(pl.items, func(it planItem) bool { return it.storedRouting }) {
		return nil // the usual bulk: no map entry per item
	}
	var keys []docKey
	seen := map[docKey]bool{}
	for _, it := range pl.items {
		k := docKey{index: it.index, id: it.id, routing: it.routing}
		switch {
		case it.id == "" || it.index == "": // the primary refuses the item
		case it.action != bulk.ActionUpdate:
			seen[k] = true
		case it.storedRouting && !seen[k]:
			seen[k] = true
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	found, err := p.lookupRouting(r, keys)
	if err != nil {
		p.m.routingLookups.WithLabelValues("failed").Inc()
		level := slog.LevelWarn
		var se *lookupStatusError
		if errors.As(err, &se) && (se.code == http.StatusUnauthorized || se.code == http.StatusForbidden) {
			// The client may not read these documents (or did not authenticate): its
			// write is then most likely refused too. Anyone can cause this; not a warning.
			level = slog.LevelDebug
		}
		log.Log(r.Context(), level, "cannot read updated documents' routing before the write; asking after it", "error", err, "documents", len(keys))
		return nil
	}
	p.m.routingLookups.WithLabelValues("ok").Inc()
	out := make(map[docKey]lookedUp, len(keys))
	for i, k := range keys {
		if l := found[i]; l.lookupFailed == "" && l.found {
			out[docKey{index: l.index, id: k.id, routing: k.routing}] = l
		}
	}
	return out
}

// resolveRouting settles the routing of every event whose routing the primary's answer
// does not give. It returns the indexes of the events it could not settle (unresolved:
// not published, and the client is told, since a guessed routing would put the replica's
// copy on another shard or give it another _routing) and of those it found superseded
// (not published, nothing to tell), both in increasing order.
//
// Per document, the request's events are taken in the primary's order (seq_no within one
// shard). A routing is carried from one write to the next only when the next kept the
// stored routing and its _version is exactly one more: no other write of the document
// can have come in between. First forward: from the state read before the write (before)
// and from the request's own writes whose routing is known (an index, then updates of
// it); then, for what is left, back from a lookup after the write, which settles the
// newest write if and only if the document's current _seq_no and _primary_term are that
// write's. (Versions count every write of a document while its delete tombstone lives,
// index.gc_deletes; a document deleted, forgotten and written back up to the same
// _version between the read and the write would fool the forward step, and so would an
// external_gte write of the same version.)
//
// What is still unknown then had other writes of its document on both sides: after the
// read before the write, and before the read after it, which found the document at a
// later _seq_no or gone, or before a later write of the same request. Its routing is not
// known, but neither is it needed: the state it wrote is already overwritten on the
// primary by a later write of the same document (the same id on the same shard), whose
// own event carries the document from then on (or deletes it). So the event is superseded: it is not published, and the client gets
// the primary's answer. Replicas converge to the primary's state, not to every state in
// between. Only when a lookup fails is the routing unresolved: the client gets
// fanout_replication_exception naming the document (the primary applied it; replication
// was not queued), as when Kafka does not take an event.
func (p *Proxy) resolveRouting(r *http.Request, evs []pendingEvent, before map[docKey]lookedUp, log *slog.Logger) (unresolved, superseded []int) {
	// Only the documents with an event of unknown routing are looked at: in most
	// requests there is none, and a map entry per item of a big bulk costs more than
	// the rest of its events.
	var pending map[docKey]bool
	for i := range evs {
		if evs[i].unknown {
			if pending == nil {
				pending = map[docKey]bool{}
			}
			pending[evs[i].key()] = true
		}
	}
	if pending == nil {
		return nil, nil
	}
	groups := map[docKey][]int{}
	var keys []docKey
	for i := range evs {
		k := evs[i].key()
		if !pending[k] {
			continue
		}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	var need []docKey
	for _, k := range keys {
		g := groups[k]
		sort.SliceStable(g, func(a, b int) bool { return evs[g[a]].seqNo < evs[g[b]].seqNo })
		if b, ok := before[k]; ok {
			if first := &evs[g[0]]; first.unknown && first.keeps && first.version == b.version+1 {
				first.routing, first.unknown = b.routing, false
			}
		}
		carryForward(evs, g)
		for _, i := range g {
			if evs[i].unknown {
				need = append(need, k)
				break
			}
		}
	}
	if len(need) == 0 {
		return nil, nil
	}

	found, err := p.lookupRouting(r, need)
	if err != nil {
		p.m.routingLookups.WithLabelValues("failed").Inc()
		log.Error("cannot look up the routing of updated documents on the primary", "error", err, "documents", len(need))
	} else {
		p.m.routingLookups.WithLabelValues("ok").Inc()
		for n, k := range need {
			if found[n].lookupFailed == "" && found[n].found && found[n].index != k.index {
				found[n].lookupFailed = "asked " + k.index + ", answered " + found[n].index
			}
			if found[n].lookupFailed != "" {
				log.Error("the primary did not return an updated document's routing", "index", k.index, "id", k.id, "error", found[n].lookupFailed)
				continue
			}
			carryBack(evs, groups[k], found[n])
			// What carrying back could not settle is overwritten: by a later write of
			// this request, whose event is published, or, when the document is not as
			// the request left it, by another client's write.
			for _, i := range groups[k] {
				if evs[i].unknown {
					evs[i].unknown, evs[i].superseded = false, true
				}
			}
		}
	}
	for i := range evs {
		switch {
		case evs[i].unknown:
			unresolved = append(unresolved, i)
		case evs[i].superseded:
			superseded = append(superseded, i)
		}
	}
	if len(superseded) > 0 {
		p.m.supersededUpdates.Add(float64(len(superseded)))
		first := evs[superseded[0]].key()
		log.Debug("updates already overwritten on the primary by later writes of their documents; not replicated",
			"events", len(superseded), "first", first.index+"/"+first.id)
	}
	if len(unresolved) > 0 {
		p.m.unconfirmedRouting.Add(float64(len(unresolved)))
		first := evs[unresolved[0]].key()
		log.Error("the routing updates applied could not be read from the primary; not replicated",
			"events", len(unresolved), "first", first.index+"/"+first.id)
	}
	return unresolved, superseded
}

// mergeSorted merges two increasing lists of event indexes.
func mergeSorted(a, b []int) []int {
	out := make([]int, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	sort.Ints(out)
	return out
}

// carryForward settles events of one document (g, in seq_no order) from the previous
// write of the same request when the routing could not have changed in between.
func carryForward(evs []pendingEvent, g []int) {
	for n := 1; n < len(g); n++ {
		prev, cur := &evs[g[n-1]], &evs[g[n]]
		if cur.unknown && cur.keeps && !prev.unknown && prev.kind != opspb.Kind_KIND_DELETE &&
			cur.version == prev.version+1 {
			cur.routing, cur.unknown = prev.routing, false
		}
	}
}

// carryBack settles events of one document (g, in seq_no order) from the lookup: the
// newest if the document is still as it left it, and older ones through writes that
// kept the routing. It settles nothing when the document is not as the request left it
// (written again or deleted since).
func carryBack(evs []pendingEvent, g []int, l lookedUp) {
	last := &evs[g[len(g)-1]]
	if !l.found || !last.hasSeqNo || l.seqNo != last.seqNo || l.term != last.term {
		return
	}
	for n := len(g) - 1; n >= 0; n-- {
		e := &evs[g[n]]
		if e.unknown {
			e.routing, e.unknown = l.routing, false
		}
		if n == 0 || !e.keeps || e.version != evs[g[n-1]].version+1 {
			return
		}
	}
}

// lookupStatusError is a routing lookup the primary answered with an error status (a
// 401 or 403 in passthrough mode: the lookup carries the client's credentials).
type lookupStatusError struct {
	code int
	body []byte
}

func (e *lookupStatusError) Error() string {
	return fmt.Sprintf("the primary answered %d: %.512s", e.code, e.body)
}

// mgetDoc is one document of the lookup request. It asks for the stored field _routing
// and not the source: ShardGetService.buildFieldsVisitors loads no stored field at all,
// _routing included, for a get with neither stored_fields nor _source, so an _mget with
// only "_source": false would never say the routing.
type mgetDoc struct {
	Index        string   `json:"_index"`
	ID           string   `json:"_id"`
	Routing      string   `json:"routing,omitempty"`
	Source       bool     `json:"_source"`
	StoredFields []string `json:"stored_fields"`
}

// mgetAnswer is the part of an _mget answer the lookup reads (GetResult.toXContent).
type mgetAnswer struct {
	Docs []fetchedDoc `json:"docs"`
}

// lookupRouting reads the current routing, _seq_no and _primary_term of docs from the
// primary in one realtime _mget, addressing each as the write did. An error means the
// lookup as a whole failed; a document that could not be read says why in lookupFailed.
func (p *Proxy) lookupRouting(r *http.Request, docs []docKey) ([]lookedUp, error) {
	req := struct {
		Docs []mgetDoc `json:"docs"`
	}{Docs: make([]mgetDoc, len(docs))}
	for i, k := range docs {
		req.Docs[i] = mgetDoc{Index: k.index, ID: k.id, Routing: k.routing, StoredFields: []string{"_routing"}}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding the routing lookup: %w", err)
	}
	// realtime=true is the default; it is said so that no cluster default changes it.
	ans, code, err := p.requestOnBehalf(r, http.MethodPost, "/_mget?realtime=true", body)
	if err != nil {
		return nil, fmt.Errorf("routing lookup: %w", err)
	}
	if code != http.StatusOK {
		return nil, &lookupStatusError{code: code, body: ans}
	}
	var got mgetAnswer
	if err := json.Unmarshal(ans, &got); err != nil {
		return nil, fmt.Errorf("parsing the routing lookup's answer: %w", err)
	}
	if len(got.Docs) != len(docs) {
		return nil, fmt.Errorf("the routing lookup answered %d documents for %d asked", len(got.Docs), len(docs))
	}
	res := make([]lookedUp, len(docs))
	for i, d := range got.Docs {
		switch {
		case d.ID != docs[i].id:
			res[i].lookupFailed = fmt.Sprintf("asked for %s/%s, answered %s/%s", docs[i].index, docs[i].id, d.Index, d.ID)
		case len(d.Error) > 0 && !bytes.Equal(d.Error, []byte("null")):
			res[i].lookupFailed = string(d.Error)
		case d.Found && (d.SeqNo == nil || d.Term == nil):
			res[i].lookupFailed = "the answer has no _seq_no or _primary_term"
		case d.Found:
			res[i] = lookedUp{index: d.Index, found: true, seqNo: *d.SeqNo, term: *d.Term, version: d.Version}
			if d.Routing != nil {
				res[i].routing = *d.Routing
			}
		}
	}
	return res, nil
}
