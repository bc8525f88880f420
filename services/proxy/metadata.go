package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// Metadata replication (DESIGN.md principle 10). A metadata request the primary
// answered 2xx is published as ONE change: the primary's resulting state of every
// object it touched, read back after the answer (state, not the request), as one
// KIND_METADATA copy on every partition of the topic, committed in one Kafka
// transaction (metapublish.go).
//
// Ordering. The proxy's metadata lock (Proxy.metaMu) orders changes with documents:
// a document write holds it shared from before it is sent to the primary until its
// events are acknowledged by Kafka (or failed); a metadata request holds it exclusively
// while it resolves what it names, is sent to the primary, reads the state back and is
// published. So, within one proxy, every document accepted before the change is in
// Kafka ahead of the change's copy on its partition, and every document accepted after
// it is behind. A document write waits while a change is in flight, and a change waits
// for the writes in flight (at most primary.timeout plus publish.timeout).
// Recovery (recovery.go) publishes the documents' state it read only if no change ran
// since, under the lock shared: its events are on one side of a change as a write's.
//
// Limitation: the lock is per proxy. With several proxies, a metadata change through
// one is not ordered with the documents that others accept at the same time: a
// document another proxy had the primary accept just before the change may land
// behind its copies, and one accepted just after ahead of them. Writes that depend on
// a metadata change (an index created with its mapping before its documents) are
// ordered when the client waits for the change's answer before sending them, through
// any proxy: the answer comes only once the copies are committed.

// serveMetadata handles a metadata API request, with the body read already.
func (p *Proxy) serveMetadata(w http.ResponseWriter, r *http.Request, rt route, body []byte) {
	if rt.meta == metaRollover && dryRun(r) {
		// Nothing changes on the primary: an ordinary pass-through.
		p.passthrough(w, r, rt, body)
		return
	}
	reqID := r.Header.Get("X-Opaque-Id")
	if reqID == "" {
		reqID = newRequestID()
	}
	log := p.log.With("request_id", reqID, "route", rt.name)
	ch, err := newMetaChange(rt, r, body)
	if err != nil {
		p.m.replicationErrs.Inc()
		writeError(w, r, http.StatusNotAcceptable, errNotReplicable, err.Error()+"; nothing was sent to the primary")
		return
	}

	p.metaMu.Lock()
	p.metaGen.Add(1)
	locked := true
	unlock := func() {
		if locked {
			locked = false
			p.metaMu.Unlock()
		}
	}
	defer unlock()
	if p.spoolBlocksMetadata(w, r, reqID) {
		return
	}

	// A read the primary refuses (401, 403…) is not the end: the request goes on, so
	// that the client gets the primary's own answer to it, which is almost always the
	// same refusal. Only if the primary applies it anyway is the change unknown.
	beforeErr := ch.before(p, r)
	var re *metaReadError
	if beforeErr != nil && (!errors.As(beforeErr, &re) || re.status/100 != 4) {
		p.m.metadataFailures.WithLabelValues(rt.meta.kind(), "resolve").Inc()
		log.Warn("cannot read from the primary what a metadata request names; not sent", "error", beforeErr)
		writeError(w, r, http.StatusBadGateway, errPrimary, fmt.Sprintf(
			"fanout could not read from the primary what this request names (%s); nothing was sent to the primary [request id %s]",
			beforeErr, reqID))
		return
	}
	pl := &plan{body: body, rawQuery: r.URL.RawQuery, keepAccept: true}
	resp, respBody, err := p.callPrimary(r, rt.name, pl)
	// Whatever the answer, what the proxy knew of aliases and pipeline settings may be
	// stale now.
	p.stored.observe(r)
	p.aliasRouting.forget()
	if err != nil {
		var ce *primaryCallError
		if beforeErr == nil && (!errors.As(err, &ce) || ce.notApplied == "") {
			// The primary may have applied it: its state, whatever it is, is safe to
			// publish, and keeps the targets in step if it did.
			if _, perr := p.publishChange(r, ch, nil, reqID, log); perr != nil {
				log.Warn("metadata request of unknown outcome: its state was not published either", "error", perr)
			}
		}
		unlock()
		p.primaryFailed(w, r, reqID, err, log)
		return
	}
	if resp.StatusCode/100 != 2 {
		// Refused: nothing changed, nothing to publish.
		unlock()
		p.answer(w, r, resp, respBody, pl)
		return
	}
	if beforeErr != nil {
		unlock()
		p.m.replicationErrs.Inc()
		p.m.metadataFailures.WithLabelValues(rt.meta.kind(), "resolve").Inc()
		log.Error("primary applied a metadata request whose objects the proxy could not read beforehand; not replicated", "error", beforeErr)
		writeErrorBody(w, r, http.StatusServiceUnavailable, errorBody{Type: errReplication,
			Reason: "the primary applied the request, but fanout could not read beforehand what it names, so its replication was not queued: " + beforeErr.Error()})
		return
	}
	if stage, err := p.publishChange(r, ch, respBody, reqID, log); err != nil {
		unlock()
		p.m.replicationErrs.Inc()
		p.m.metadataFailures.WithLabelValues(rt.meta.kind(), stage).Inc()
		reason := "the primary applied the request, but fanout could not read its resulting state from the primary, so its replication was not queued: " + err.Error()
		if stage == "publish" {
			reason = fmt.Sprintf("the primary applied the request, but its replication was not committed to Kafka within %s (%s) [request id %s]",
				p.cfg.Publish.Timeout, kafkaReason(err), reqID)
		}
		writeErrorBody(w, r, http.StatusServiceUnavailable, errorBody{Type: errReplication, Reason: reason})
		return
	}
	unlock()
	p.answer(w, r, resp, respBody, pl)
}

// publishChange reads back the change's state and publishes it; on error it says at
// which stage (read_back or publish).
func (p *Proxy) publishChange(r *http.Request, ch *metaChange, answer []byte, reqID string, log *slog.Logger) (string, error) {
	accepted := p.now()
	md, err := ch.after(p, r, answer)
	if err != nil {
		log.Error("cannot read back the state a metadata request left on the primary; not replicated", "error", err)
		return "read_back", err
	}
	md.Request = r.Method + " " + r.URL.EscapedPath()
	if len(md.Indices)+len(md.Templates)+len(md.Pipelines)+len(md.DataStreams) == 0 {
		// It named nothing that exists or existed (a wildcard that matched nothing):
		// no change, and no barrier for every partition of every replicator to wait at.
		log.Debug("metadata request changed nothing; nothing published", "request", md.Request)
		return "", nil
	}
	base := &opspb.Operation{AcceptedAt: timestamppb.New(accepted), RequestId: reqID, SourceCluster: p.cfg.ClusterName}
	res, err := p.meta.publish(r.Context(), base, md)
	if err != nil {
		log.Error("metadata change applied on the primary was not committed to Kafka", "request", md.Request, "error", err)
		return "publish", err
	}
	p.m.metadataChanges.WithLabelValues(ch.rt.meta.kind()).Inc()
	log.Info("metadata change published", "request", md.Request, "barrier_id", res.barrierID,
		"coordinator_offset", res.coordinatorOffset, "partitions", res.partitions,
		"indices", len(md.Indices), "templates", len(md.Templates), "pipelines", len(md.Pipelines), "data_streams", len(md.DataStreams))
	return "", nil
}

// dryRun reports a rollover that only says what it would do.
func dryRun(r *http.Request) bool {
	q, err := restQuery(r.URL.RawQuery)
	if err != nil || !q.Has("dry_run") {
		return false
	}
	v := q.Get("dry_run")
	return v == "" || v == "true"
}

// metaChange is what the proxy knows of one metadata request: what it names, and what
// those names resolved to before it was sent.
type metaChange struct {
	rt route
	// indexExprs and aliasExprs are the index and alias expressions the request names.
	indexExprs, aliasExprs []string
	// Before the request: the indices it could touch (their uuids tell deleted ones),
	// and the templates, pipelines and data streams a delete names.
	beforeIndices map[string]*opspb.IndexState
	beforeNames   []string
	beforeStreams []streamInfo
}

// newMetaChange reads the names the request gives; an error refuses the request
// before the primary (a body the proxy must read and cannot).
func newMetaChange(rt route, r *http.Request, body []byte) (*metaChange, error) {
	ch := &metaChange{rt: rt}
	all := func(x string) string {
		if x == "" {
			return "_all"
		}
		return x
	}
	switch rt.meta {
	case metaUpdateAliases, metaPutAlias:
		if rt.meta == metaPutAlias {
			ch.indexExprs, ch.aliasExprs = nonEmpty(rt.index), nonEmpty(rt.id)
		}
		if len(body) == 0 {
			break
		}
		if !jsonMedia(r.Header.Get("Content-Type"), false) {
			return nil, errors.New("fanout-proxy replicates alias requests with JSON bodies only (it reads which indices and aliases they name); send this one as application/json")
		}
		idx, als, err := aliasBodyNames(rt.meta, body)
		if err != nil {
			// The primary refuses what cannot be parsed; if it accepts it anyway, the
			// state read back covers only what the path names.
			break
		}
		if rt.meta == metaPutAlias {
			// The body's index and alias replace the path's (RestIndexPutAliasAction).
			if len(idx) > 0 {
				ch.indexExprs = idx
			}
			if len(als) > 0 {
				ch.aliasExprs = als
			}
		} else {
			ch.indexExprs, ch.aliasExprs = idx, als
		}
	case metaDeleteAlias:
		ch.indexExprs, ch.aliasExprs = []string{all(rt.index)}, nonEmpty(rt.id)
	case metaRollover:
		ch.aliasExprs = []string{rt.index}
	default:
		ch.indexExprs = []string{all(rt.index)}
	}
	return ch, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// aliasBodyNames reads the index and alias expressions of a POST /_aliases body
// ({"actions":[{"add"|"remove"|"remove_index":{"index"|"indices":…,"alias"|"aliases":…}}]})
// or of a put alias body ({"index":…,"alias":…}).
func aliasBodyNames(op metaOp, body []byte) (indices, aliases []string, err error) {
	type names struct {
		Index   json.RawMessage `json:"index"`
		Indices json.RawMessage `json:"indices"`
		Alias   json.RawMessage `json:"alias"`
		Aliases json.RawMessage `json:"aliases"`
	}
	add := func(dst *[]string, raw json.RawMessage) {
		if len(raw) == 0 {
			return
		}
		var one string
		if json.Unmarshal(raw, &one) == nil {
			if one != "" {
				*dst = append(*dst, one)
			}
			return
		}
		var many []string
		if json.Unmarshal(raw, &many) == nil {
			for _, s := range many {
				if s != "" {
					*dst = append(*dst, s)
				}
			}
		}
	}
	if op == metaPutAlias {
		var n names
		if err := json.Unmarshal(body, &n); err != nil {
			return nil, nil, err
		}
		add(&indices, n.Index)
		add(&aliases, n.Alias)
		return indices, aliases, nil
	}
	var req struct {
		Actions []map[string]names `json:"actions"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil, err
	}
	for _, a := range req.Actions {
		for _, n := range a {
			add(&indices, n.Index)
			add(&indices, n.Indices)
			add(&aliases, n.Alias)
			add(&aliases, n.Aliases)
		}
	}
	return indices, aliases, nil
}

// templateKind is the template API of a template route.
func (c *metaChange) templateKind() opspb.TemplateKind {
	switch c.rt.meta {
	case metaPutIndexTemplate, metaDeleteIndexTemplate:
		return opspb.TemplateKind_TEMPLATE_KIND_INDEX
	case metaPutComponentTemplate, metaDeleteComponentTemplate:
		return opspb.TemplateKind_TEMPLATE_KIND_COMPONENT
	}
	return opspb.TemplateKind_TEMPLATE_KIND_LEGACY
}

// before resolves, ahead of the request, what it may remove or move: the indices a
// delete or an alias request names (their uuids, for those that will be gone), the
// holders of a rolled-over alias or the backing indices of a data stream, the
// templates and pipelines a delete's wildcard names.
func (c *metaChange) before(p *Proxy, r *http.Request) error {
	var err error
	switch c.rt.meta {
	case metaDeleteIndex, metaUpdateAliases, metaPutAlias, metaDeleteAlias:
		if c.beforeIndices, err = p.indexStates(r, c.indexExprs); err != nil {
			return err
		}
		holders, err := p.aliasHolders(r, c.aliasExprs)
		if err != nil {
			return err
		}
		c.beforeNames = holders
	case metaRollover:
		holders, err := p.aliasHolders(r, c.aliasExprs)
		if err != nil {
			return err
		}
		if c.beforeStreams, err = p.dataStreams(r, c.rt.index); err != nil {
			return err
		}
		for _, ds := range c.beforeStreams {
			for _, ix := range ds.backing {
				holders = append(holders, ix.name)
			}
		}
		if c.beforeIndices, err = p.indexStates(r, holders); err != nil {
			return err
		}
	case metaDeleteDataStream:
		if c.beforeStreams, err = p.dataStreams(r, c.rt.id); err != nil {
			return err
		}
		var backing []string
		for _, ds := range c.beforeStreams {
			for _, ix := range ds.backing {
				backing = append(backing, ix.name)
			}
		}
		if c.beforeIndices, err = p.indexStates(r, backing); err != nil {
			return err
		}
	case metaDeleteIndexTemplate, metaDeleteComponentTemplate, metaDeleteLegacyTemplate:
		ts, err := p.templates(r, c.templateKind(), c.rt.id)
		if err != nil {
			return err
		}
		c.beforeNames = sortedKeys(ts)
	case metaDeletePipeline:
		ps, err := p.pipelines(r, c.rt.id)
		if err != nil {
			return err
		}
		c.beforeNames = sortedKeys(ps)
	}
	return nil
}

// after reads the state the request left: every object it touched, those gone with
// exists false. answer is the primary's answer to the request (nil when it never came).
func (c *metaChange) after(p *Proxy, r *http.Request, answer []byte) (*opspb.Metadata, error) {
	md := &opspb.Metadata{}
	switch c.rt.meta {
	case metaCreateIndex:
		exprs := c.indexExprs
		// The name the primary created (a date-math name resolved once).
		var ans struct {
			Index string `json:"index"`
		}
		if json.Unmarshal(answer, &ans) == nil && ans.Index != "" {
			exprs = []string{ans.Index}
		}
		states, err := p.indexStates(r, exprs)
		if err != nil {
			return nil, err
		}
		md.Indices = sortedStates(states, nil)
	case metaOpenIndex, metaCloseIndex, metaPutMapping, metaPutSettings:
		states, err := p.indexStates(r, c.indexExprs)
		if err != nil {
			return nil, err
		}
		md.Indices = sortedStates(states, nil)
	case metaDeleteIndex, metaUpdateAliases, metaPutAlias, metaDeleteAlias, metaRollover:
		holders, err := p.aliasHolders(r, c.aliasExprs)
		if err != nil {
			return nil, err
		}
		exprs := slices.Concat(c.indexExprs, c.beforeNames, holders, sortedKeys(c.beforeIndices))
		if c.rt.meta == metaRollover {
			streams, err := p.dataStreams(r, c.rt.index)
			if err != nil {
				return nil, err
			}
			if md.DataStreams, err = streamStates(c.beforeStreams, streams); err != nil {
				return nil, err
			}
			for _, ds := range streams {
				for _, ix := range ds.backing {
					exprs = append(exprs, ix.name)
				}
			}
		}
		states, err := p.indexStates(r, dedup(exprs))
		if err != nil {
			return nil, err
		}
		md.Indices = sortedStates(states, c.beforeIndices)
	case metaCreateDataStream, metaDeleteDataStream:
		expr := c.rt.id
		for _, ds := range c.beforeStreams {
			expr += "," + ds.name
		}
		streams, err := p.dataStreams(r, expr)
		if err != nil {
			return nil, err
		}
		if c.rt.meta == metaCreateDataStream && len(streams) == 0 {
			return nil, fmt.Errorf("the primary has no data stream %s after creating it", c.rt.id)
		}
		if md.DataStreams, err = streamStates(c.beforeStreams, streams); err != nil {
			return nil, err
		}
		var backing []string
		for _, ds := range streams {
			for _, ix := range ds.backing {
				backing = append(backing, ix.name)
			}
		}
		states, err := p.indexStates(r, backing)
		if err != nil {
			return nil, err
		}
		md.Indices = sortedStates(states, c.beforeIndices)
	case metaPutIndexTemplate, metaDeleteIndexTemplate, metaPutComponentTemplate, metaDeleteComponentTemplate,
		metaPutLegacyTemplate, metaDeleteLegacyTemplate:
		k := c.templateKind()
		names := c.beforeNames
		if !strings.HasPrefix(c.rt.name, "delete_") {
			// A proto string must be UTF-8; the primary decodes the path so too.
			names = []string{strings.ToValidUTF8(c.rt.id, "\uFFFD")}
		}
		for _, n := range names {
			ts, err := p.templates(r, k, n)
			if err != nil {
				return nil, err
			}
			body, ok := ts[n]
			md.Templates = append(md.Templates, &opspb.TemplateState{Kind: k, Name: n, Exists: ok, Body: body})
		}
	case metaPutPipeline, metaDeletePipeline:
		ids := c.beforeNames
		if c.rt.meta == metaPutPipeline {
			ids = []string{strings.ToValidUTF8(c.rt.id, "\uFFFD")}
		}
		for _, id := range ids {
			ps, err := p.pipelines(r, id)
			if err != nil {
				return nil, err
			}
			body, ok := ps[id]
			md.Pipelines = append(md.Pipelines, &opspb.PipelineState{Id: id, Exists: ok, Body: body})
		}
	default:
		return nil, fmt.Errorf("no read-back for route %s", c.rt.name)
	}
	return md, nil
}

// sortedStates lists states by name, then every index of before that is gone, with
// exists false and the uuid it had.
func sortedStates(states, before map[string]*opspb.IndexState) []*opspb.IndexState {
	out := make([]*opspb.IndexState, 0, len(states))
	for _, name := range sortedKeys(states) {
		out = append(out, states[name])
	}
	for _, name := range sortedKeys(before) {
		// Gone, or deleted and re-created by someone else in between (the new one is
		// listed above): the old one's documents are gone either way.
		if now, ok := states[name]; !ok || now.Uuid != before[name].Uuid {
			out = append(out, &opspb.IndexState{Name: name, Exists: false, Uuid: before[name].Uuid})
		}
	}
	return out
}

// streamStates lists the data streams found after the request, then those of before
// that are gone, with exists false.
func streamStates(before, after []streamInfo) ([]*opspb.DataStreamState, error) {
	var out []*opspb.DataStreamState
	seen := map[string]bool{}
	for _, ds := range after {
		st := &opspb.DataStreamState{Name: ds.name, Exists: true, Template: ds.template, Generation: ds.generation}
		for _, ix := range ds.backing {
			st.Indices = append(st.Indices, ix.name)
		}
		seen[ds.name] = true
		out = append(out, st)
	}
	for _, ds := range before {
		if !seen[ds.name] {
			seen[ds.name] = true
			out = append(out, &opspb.DataStreamState{Name: ds.name, Exists: false})
		}
	}
	slices.SortFunc(out, func(a, b *opspb.DataStreamState) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func dedup(xs []string) []string {
	seen := make(map[string]bool, len(xs))
	out := xs[:0:0]
	for _, x := range xs {
		if x != "" && !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
