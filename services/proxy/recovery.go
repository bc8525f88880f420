package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/intentlog"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/pkg/resolve"
)

// Crash recovery, the start-up side (intent.go records the intents).
//
// On start the proxy opens recovery.dir and finds the intents its predecessor left
// open. In the background, before /readyz says ready (writes are still served: see
// below), it waits recovery.settle, then resolves every document of those intents
// against the primary, as `fanoutctl dlq replay` resolves dead-lettered events:
//
//   - found (realtime _mget, with the recorded routing): an INDEX of the document's
//     current _source and _routing, with the replication version of its current
//     _seq_no/_primary_term. A target holding that version or a later one answers
//     409 (stale): harmless.
//   - missing: a DELETE, but only with a version that beats whatever a target may
//     hold of the document and can never beat a later real write of it. The proxy
//     reads the shard the document lives on (_search_shards with its routing) and
//     that shard's max_seq_no M and primary term T (_stats?level=shards), and only
//     then reads the document again; still missing, the DELETE gets (T<<40)|(M+1).
//     Every write the shard took before the stats were read has _seq_no <= M, so a
//     version at most (T<<40)|(M+1): the DELETE beats (or ties with, when it is the
//     very delete at M: then the target has it or gets it) everything a target may
//     hold. Every write after the read has _seq_no > M, so a version of at least
//     (T<<40)|(M+2) (a failover raises T): a later real write always wins. Reading
//     the document after the stats is what makes this hold: a document re-created
//     between the two reads is found by the second.
//     When that cannot be read (a partitioned index, whose routing names a set of
//     shards; a document written through an alias, whose index_routing may have placed
//     it; a primary refusing the APIs), nothing is published: the document is counted
//     unverified and logged. So is a document the primary answers an error for. A DELETE with a guessed version could delete a
//     later write on the targets; a missing one leaves a target with a document the
//     primary deleted, which an operator can see and fix.
//   - the index is gone: nothing; the index deletion replicates as metadata.
//
// Then the events are published (through the spool when there is one, under the
// metadata lock shared: see recoverBatch); once Kafka acknowledged every one, or the
// spool took it, the intents are closed. Any failure (primary or Kafka unreachable) retries with backoff until it
// succeeds or the proxy stops, leaving the intents open for the next start.
//
// Why in the background and not before serving: resolving needs the primary and Kafka,
// and a proxy that will not serve until both answer turns a short outage into a
// refused start. Serving new writes meanwhile is safe: a new write's event carries the
// version of its own, later, _seq_no, which beats the recovered INDEX or DELETE of the
// same document on every target whichever arrives first. /readyz stays false until
// recovery is done, so a load balancer sends writes elsewhere while it runs.
//
// Not covered: a write the killed proxy sent that the primary applies after settle
// (a bulk running longer than it); deletes and updates by query (byquery.go), whose
// documents are not known before the primary runs them; metadata changes
// (metadata.go). A secured primary needs the proxy's own credentials (auth.mode
// proxy) for the lookups: in passthrough mode the proxy has none.

// openRecovery opens recovery.dir, when set, and counts the intents found open.
func (p *Proxy) openRecovery() error {
	if p.cfg.Recovery.Dir == "" {
		p.m.recoveryComplete.Set(1)
		p.recovered.Store(true)
		return nil
	}
	l, open, err := intentlog.Open(p.cfg.Recovery.Dir, intentlog.Options{})
	if err != nil {
		return fmt.Errorf("recovery.dir: %w", err)
	}
	p.intents, p.leftOpen = l, open
	p.ids = newIDGenerator(p.now)
	p.orphans = &orphans{m: p.m}
	p.m.recoveryIntents.Add(float64(len(open)))
	if st := l.Stats(); st.TruncatedBytes > 0 {
		p.log.Warn("intent log had a torn tail, cut off (the record of a write that had not reached the primary)",
			"dir", p.cfg.Recovery.Dir, "bytes", st.TruncatedBytes)
	}
	if len(open) == 0 {
		p.m.recoveryComplete.Set(1)
		p.recovered.Store(true)
	}
	return nil
}

// recover resolves the intents left open, retrying until done or ctx ends, then this
// process's own orphans (orphans.go).
func (p *Proxy) recover(ctx context.Context) {
	if p.intents == nil {
		return
	}
	p.recoverLeftOpen(ctx)
	p.resolveOrphans(ctx)
}

func (p *Proxy) recoverLeftOpen(ctx context.Context) {
	if len(p.leftOpen) == 0 {
		return
	}
	docs := 0
	for _, in := range p.leftOpen {
		docs += len(in.Items)
	}
	p.log.Warn("resolving the writes a previous proxy left unconfirmed", "intents", len(p.leftOpen), "documents", docs,
		"settle", p.cfg.Recovery.Settle)
	if !sleepCtx(ctx, p.cfg.Recovery.Settle) {
		return
	}
	for attempt := 0; ; attempt++ {
		left, err := p.recoverIntents(ctx, p.leftOpen)
		p.leftOpen = left // those closed are not resolved again
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		p.log.Error("recovering open intents; retrying", "error", err, "attempt", attempt+1)
		if !sleepCtx(ctx, min(time.Duration(attempt+1)*500*time.Millisecond, 10*time.Second)) {
			return
		}
	}
	p.leftOpen = nil
	p.m.recoveryComplete.Set(1)
	p.recovered.Store(true)
	p.log.Info("recovery done: every write left unconfirmed is resolved and its events are in Kafka")
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// recoverIntents resolves, publishes and closes intents, a few hundred documents at a
// time, in order; it stops at the first error and returns the intents not closed (the
// rest of intents, from the batch that failed on), to be tried again.
func (p *Proxy) recoverIntents(ctx context.Context, intents []intentlog.Intent) ([]intentlog.Intent, error) {
	const batch = 256 // documents per round of lookups
	for start := 0; start < len(intents); {
		end, n := start, 0
		for end < len(intents) && (n == 0 || n+len(intents[end].Items) <= batch) {
			n += len(intents[end].Items)
			end++
		}
		if err := p.recoverBatch(ctx, intents[start:end]); err != nil {
			return intents[start:], err
		}
		start = end
	}
	return nil, nil
}

// recoverBatch resolves, publishes and closes some intents.
func (p *Proxy) recoverBatch(ctx context.Context, intents []intentlog.Intent) error {
	seen := map[docKey]bool{}
	var keys []docKey
	for _, in := range intents {
		for _, it := range in.Items {
			k := docKey{index: it.Index, id: it.ID, routing: it.Routing}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	// Ordered with metadata changes as a write is (metadata.go): the documents' state
	// is published only if no change ran since it was read, and under the metadata lock,
	// so that a change's copies are behind the events (or the events read what it did).
	// Optimistic, not the lock held through the lookups: those are many calls, and a
	// change waiting for the lock would hold up every write meanwhile.
	var evs []pendingEvent
	var outcomes map[string]int
	for {
		p.metaMu.RLock()
		gen := p.metaGen.Load()
		p.metaMu.RUnlock()
		var err error
		if evs, outcomes, err = p.resolveDocs(ctx, keys); err != nil {
			return err
		}
		p.metaMu.RLock()
		if p.metaGen.Load() == gen {
			break
		}
		p.metaMu.RUnlock()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	enc := p.encoder("recovery-"+newRequestID(), p.now(), nil)
	// Through the spool when there is one: a recovered event is then durable during a
	// Kafka outage too, and in order with this proxy's other events.
	failed, perr := p.publishEvents(ctx, len(evs), func(k int) (*event.Records, error) { return enc(&evs[k]) })
	p.metaMu.RUnlock()
	if len(failed) > 0 {
		return fmt.Errorf("publishing %d recovered events: %d neither acknowledged nor spooled: %w", len(evs), len(failed), perr)
	}
	p.m.recoveredEvents.Add(float64(len(evs)))
	for o, n := range outcomes {
		p.m.recoveredDocs.WithLabelValues(o).Add(float64(n))
	}
	for _, in := range intents {
		if err := p.intents.End(in.ID); err != nil {
			return fmt.Errorf("closing recovered intents: %w", err)
		}
	}
	return nil
}

// Outcomes of a recovered document (fanout_proxy_recovery_documents_total).
const (
	recoveredCurrent    = "current"
	recoveredDeleted    = "deleted"
	recoveredIndexGone  = "index_gone"
	recoveredUnverified = "unverified"
)

// resolveDocs decides the event of each document (see the comment at the top).
func (p *Proxy) resolveDocs(ctx context.Context, keys []docKey) ([]pendingEvent, map[string]int, error) {
	docs, err := p.recoveryMget(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	outcomes := map[string]int{}
	var evs []pendingEvent
	var missing []docKey
	for i, k := range keys {
		ev, outcome, err := currentEvent(k, &docs[i])
		switch {
		case err != nil:
			p.unverified(k, "the primary answered an error for it", err)
			outcomes[recoveredUnverified]++
		case outcome == "missing" && docs[i].Index != "" && docs[i].Index != k.index:
			// Written through an alias (or date math): an alias's index_routing may
			// have placed it, so the shard its routing names may not be its own.
			p.unverified(k, "it was written through "+k.index+", not its index "+docs[i].Index, nil)
			outcomes[recoveredUnverified]++
		case outcome == "missing":
			missing = append(missing, k)
		case outcome == recoveredCurrent:
			evs = append(evs, ev)
			outcomes[outcome]++
		default:
			outcomes[outcome]++
		}
	}
	if len(missing) == 0 {
		return evs, outcomes, nil
	}
	// The shard of each missing document and its max_seq_no, read before the second
	// look at the documents.
	type shardRef struct {
		index string
		shard int
	}
	where := make([]shardRef, len(missing))
	ok := make([]bool, len(missing))
	stats := map[string]map[int]shardSeq{}
	for i, k := range missing {
		ix, shard, err := p.docShard(ctx, k)
		if err != nil {
			p.log.Warn("recovery: cannot tell the shard of a missing document; no delete published", "index", k.index, "id", k.id, "error", err)
			continue
		}
		if _, have := stats[ix]; !have {
			st, err := p.shardSeqNos(ctx, ix)
			if err != nil {
				p.log.Warn("recovery: cannot read the shards' max_seq_no; no delete published", "index", ix, "error", err)
				stats[ix] = nil
			} else {
				stats[ix] = st
			}
		}
		if _, have := stats[ix][shard]; have {
			where[i], ok[i] = shardRef{ix, shard}, true
		}
	}
	again, err := p.recoveryMget(ctx, missing)
	if err != nil {
		return nil, nil, err
	}
	for i, k := range missing {
		ev, outcome, err := currentEvent(k, &again[i])
		switch {
		case err != nil:
			p.unverified(k, "the primary answered an error for it", err)
			outcomes[recoveredUnverified]++
		case outcome != "missing":
			if outcome == recoveredCurrent {
				evs = append(evs, ev)
			}
			outcomes[outcome]++
		case !ok[i]:
			outcomes[recoveredUnverified]++
			p.unverified(k, "no safe delete version could be read", nil)
		default:
			st := stats[where[i].index][where[i].shard]
			v, err := event.ReplicationVersion(st.maxSeqNo, st.term, 0, true)
			if err != nil || st.maxSeqNo < 0 {
				outcomes[recoveredUnverified]++
				p.unverified(k, fmt.Sprintf("no delete version from max_seq_no %d", st.maxSeqNo), err)
				continue
			}
			evs = append(evs, pendingEvent{kind: opspb.Kind_KIND_DELETE, index: where[i].index, id: k.id,
				routing: k.routing, addressed: k.routing, replicationVersion: v})
			outcomes[recoveredDeleted]++
		}
	}
	return evs, outcomes, nil
}

// unverified logs a document recovery publishes nothing for, though a write to it may
// have been applied unreplicated: an operator can compare it (fanoutctl) and fix it.
func (p *Proxy) unverified(k docKey, why string, err error) {
	p.log.Error("recovery: a document of an unconfirmed write is not replicated: "+why+"; a target may differ from the primary",
		"index", k.index, "id", k.id, "routing", k.routing, "error", err)
}

// currentEvent reads one _mget document: its INDEX event when found; "missing",
// index_gone, or an error for the document (resolveDocs counts it unverified). A found document is
// resolved as pkg/resolve resolves it for the replicator and fanoutctl (its current
// source at the replication version of its current _seq_no); a missing one is not:
// recovery knows no version of the write it resolves, so its DELETE takes the shard's
// (resolveDocs).
func currentEvent(k docKey, d *resolve.Doc) (pendingEvent, string, error) {
	if len(d.Error) > 0 && string(d.Error) != "null" {
		if typ, _ := resolve.ErrorOf(d.Error); typ == "index_not_found_exception" {
			return pendingEvent{}, recoveredIndexGone, nil
		}
	} else if !d.Found {
		return pendingEvent{}, "missing", nil
	}
	res := resolve.Resolve(&opspb.Operation{Kind: opspb.Kind_KIND_INDEX, Index: k.index, Id: k.id, Routing: k.routing}, d)
	if res.Err != nil {
		return pendingEvent{}, "", res.Err
	}
	op := res.Op
	ev := pendingEvent{kind: opspb.Kind_KIND_INDEX, index: d.Index, id: k.id, routing: d.Routing, addressed: k.routing,
		source: op.GetSource(), version: op.GetVersion(), replicationVersion: op.GetReplicationVersion(),
		hasSeqNo: op.SeqNo != nil}
	if ev.hasSeqNo {
		ev.seqNo, ev.term = op.GetSeqNo(), op.GetPrimaryTerm()
	}
	return ev, recoveredCurrent, nil
}

// recoveryMget reads the documents realtime (pkg/resolve.Lookup): it sees every write
// the primary has answered, refreshed or not.
func (p *Proxy) recoveryMget(ctx context.Context, keys []docKey) ([]resolve.Doc, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ops := make([]*opspb.Operation, len(keys))
	for i, k := range keys {
		ops[i] = &opspb.Operation{Index: k.index, Id: k.id, Routing: k.routing}
	}
	docs, err := resolve.Lookup(ctx, p.primary, p.cfg.Primary.Name, ops)
	var se *resolve.StatusError
	if errors.As(err, &se) && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden) {
		return nil, fmt.Errorf("recovery reads documents with the proxy's own credentials "+
			"(auth.mode: proxy and primary.username/api_key): %w", err)
	}
	return docs, err
}

// docShard finds the concrete index and shard a document lives on: _search_shards with
// the document's routing (its id when it has none) names the shard a get of it reads.
// A routing that names more than one shard (index.routing_partition_size > 1) is an
// error: the document's shard also depends on its id.
func (p *Proxy) docShard(ctx context.Context, k docKey) (string, int, error) {
	routing := k.routing
	if routing == "" {
		routing = k.id
	}
	answer, err := p.recoveryCall(ctx, http.MethodGet,
		"/"+url.PathEscape(k.index)+"/_search_shards?routing="+url.QueryEscape(routing), nil)
	if err != nil {
		return "", 0, err
	}
	var resp struct {
		Shards [][]struct {
			Index   string `json:"index"`
			Shard   int    `json:"shard"`
			Primary bool   `json:"primary"`
		} `json:"shards"`
	}
	if err := json.Unmarshal(answer, &resp); err != nil {
		return "", 0, fmt.Errorf("reading the _search_shards answer: %w", err)
	}
	if len(resp.Shards) != 1 || len(resp.Shards[0]) == 0 {
		return "", 0, fmt.Errorf("the routing names %d shards, not one", len(resp.Shards))
	}
	c := resp.Shards[0][0]
	return c.Index, c.Shard, nil
}

// shardSeq is what _stats says of one primary shard.
type shardSeq struct{ maxSeqNo, term int64 }

// shardSeqNos reads the max_seq_no and primary term of every primary shard of a
// concrete index (ShardStats: "seq_no" and "retention_leases" of each copy).
func (p *Proxy) shardSeqNos(ctx context.Context, index string) (map[int]shardSeq, error) {
	answer, err := p.recoveryCall(ctx, http.MethodGet, "/"+url.PathEscape(index)+"/_stats/docs?level=shards", nil)
	if err != nil {
		return nil, err
	}
	type copyStats struct {
		Routing struct {
			Primary bool `json:"primary"`
		} `json:"routing"`
		SeqNo *struct {
			MaxSeqNo int64 `json:"max_seq_no"`
		} `json:"seq_no"`
		Leases *struct {
			PrimaryTerm int64 `json:"primary_term"`
		} `json:"retention_leases"`
	}
	var resp struct {
		Indices map[string]struct {
			Shards map[string][]copyStats `json:"shards"`
		} `json:"indices"`
	}
	if err := json.Unmarshal(answer, &resp); err != nil {
		return nil, fmt.Errorf("reading the _stats answer: %w", err)
	}
	ix, ok := resp.Indices[index]
	if !ok {
		return nil, fmt.Errorf("the _stats answer does not name index %s", index)
	}
	out := map[int]shardSeq{}
	for name, copies := range ix.Shards {
		n, err := strconv.Atoi(name)
		if err != nil {
			return nil, fmt.Errorf("the _stats answer names shard %q", name)
		}
		for _, c := range copies {
			if c.Routing.Primary && c.SeqNo != nil && c.Leases != nil {
				out[n] = shardSeq{maxSeqNo: c.SeqNo.MaxSeqNo, term: c.Leases.PrimaryTerm}
			}
		}
	}
	return out, nil
}

// recoveryCall sends one lookup to the primary with the proxy's own client and returns
// the body of a 200.
func (p *Proxy) recoveryCall(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.primary.Perform(req)
	if err != nil {
		return nil, fmt.Errorf("recovery lookup %s %s on the primary: %w", method, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, fmt.Errorf("%s %s on the primary: HTTP %d: recovery reads documents with the proxy's own credentials "+
			"(auth.mode: proxy and primary.username/api_key): %.300s", method, path, resp.StatusCode, answer)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s on the primary: HTTP %d: %.300s", method, path, resp.StatusCode, answer)
	}
	return answer, nil
}
