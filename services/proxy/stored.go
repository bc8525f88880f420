package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/fanout-dev/fanout/pkg/bulk"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// An index or create event carries the document as the primary stored it, as JSON. Most
// of the time that is the request's payload byte for byte, and the event carries it
// without a second look. Two things make them differ:
//
//   - a body that is not JSON (application/yaml, application/cbor, application/smile):
//     the primary stores it as sent and converts it to JSON only when it is read;
//   - an ingest pipeline: the request's or the bulk item's "pipeline", or the index's
//     index.default_pipeline / index.final_pipeline settings.
//
// For those writes the proxy reads the documents back from the primary after the write,
// in one realtime _mget per request (the concrete index the answer names, the id, the
// routing the write used; with the client's credentials in passthrough mode, as the
// routing lookups of routing.go), and the event carries the fetched _source and the
// fetched state's _version, _seq_no and _primary_term. The _mget answer is JSON whatever
// the stored source's content type: GetResult.toXContent writes the source with
// XContentHelper.writeRawField, and the JSON generator's writeRawField copies a source of
// another content type through a parser instead of writing its bytes.
//
// The fetched state may be newer than the write (another client wrote the document in
// between): it is still a state of the primary, and the replicas order events by version,
// so publishing it converges them. A document that is not found (deleted since, or moved
// by a pipeline that changed its _index or _routing), or found with another _routing than
// the write's, is not published and the client gets fanout_replication_exception naming
// it, as when Kafka does not take an event: a silent gap would be worse than a retry.
//
// Which writes are read back (publish.read_back):
//   - always: every index and create.
//   - auto (default): single-document writes with a non-JSON body, a "pipeline" other
//     than _none, or a target index whose settings name a default or final pipeline (a
//     per-index cache, below); bulks whose answer carries "ingest_took" (BulkResponse
//     writes it only when pipelines ran, whichever named them) or that name a pipeline.
//
// The settings cache: on first sight of an index (after the write, which may have
// created it), the proxy reads its index.default_pipeline and index.final_pipeline; the
// answer is kept for publish.pipeline_settings_ttl and forgotten whenever the proxy
// passes a request that may change it (settings, templates, pipelines, index creation).
// Its window: settings changed on the primary without going through the proxy are seen
// only when the entry expires, and single-document writes in between publish the
// request's document. Bulks have no such window. Use publish.read_back: always where
// that matters more than one extra get per write.

// Read-back modes (publish.read_back).
const (
	ReadBackAuto   = "auto"
	ReadBackAlways = "always"
)

// maxPipelineCache bounds the settings cache; past it the cache starts again.
const maxPipelineCache = 10000

// storedReader holds what read-backs need across requests.
type storedReader struct {
	mode string
	ttl  time.Duration
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]pipelineSettings
	// gen counts the cache's invalidations: a lookup that began before one does not
	// store what it read, which may predate the change.
	gen uint64

	readBacks      *prometheus.CounterVec // outcome: ok, failed
	readBackDocs   *prometheus.CounterVec // result: published, unread, superseded
	settingLookups *prometheus.CounterVec // outcome: ok, failed
}

// pipelineSettings is what the cache knows of one index.
type pipelineSettings struct {
	pipelined bool // a default or final pipeline is set
	at        time.Time
}

func newStoredReader(cfg PublishConfig, reg prometheus.Registerer, now func() time.Time) *storedReader {
	f := promauto.With(reg)
	return &storedReader{
		mode: cfg.ReadBack, ttl: cfg.PipelineSettingsTTL, now: now, cache: map[string]pipelineSettings{},
		readBacks: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_proxy_read_backs_total",
			Help: "Realtime _mget requests that read written documents back from the primary (non-JSON bodies, ingest pipelines, publish.read_back always), by outcome (ok, failed).",
		}, []string{"outcome"}),
		readBackDocs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_proxy_read_back_documents_total",
			Help: "Index and create events whose document was read back from the primary, by result: published (with the fetched source), unread (not found, moved or not readable: not published, the client told), superseded (a later write of the request replaced it).",
		}, []string{"result"}),
		settingLookups: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_proxy_pipeline_settings_lookups_total",
			Help: "Reads of an index's default and final pipeline settings for the read-back cache, by outcome (ok, failed).",
		}, []string{"outcome"}),
	}
}

// observe forgets the settings cache when the proxy passes a request that may change an
// index's pipelines, and reports whether it did (aliases may have changed too).
func (s *storedReader) observe(r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return false
	}
	path := r.URL.Path
	changes := strings.Contains(path, "/_settings") || strings.Contains(path, "_template") ||
		strings.Contains(path, "/_ingest/") || strings.Contains(path, "/_alias") ||
		strings.Contains(path, "/_rollover") || strings.Contains(path, "/_data_stream") ||
		strings.Contains(path, "/_clone") || strings.Contains(path, "/_split") || strings.Contains(path, "/_shrink")
	if !changes {
		// PUT or DELETE /{index}: index creation and deletion.
		seg := strings.Trim(path, "/")
		changes = seg != "" && !strings.Contains(seg, "/") && !strings.HasPrefix(seg, "_")
	}
	if changes {
		s.mu.Lock()
		clear(s.cache)
		s.gen++
		s.mu.Unlock()
	}
	return changes
}

// nonJSON reports a request body the primary stores as something else than JSON.
func nonJSON(r *http.Request) bool { return !jsonMedia(r.Header.Get("Content-Type"), false) }

// errNotReplicable is a write the proxy refuses before the primary because it could
// not replicate it: a body it cannot read where it must, or an answer it could not read.
const errNotReplicable = "fanout_unreplicable_request_exception"

// refuseUnreplicableMedia refuses, before the primary, the writes the proxy would not be
// able to replicate for their media types; it reports whether it answered.
//   - A SMILE bulk: RestController streams JSON and SMILE bulks (a YAML or CBOR bulk it
//     refuses itself with 406, so those go on and nothing is applied); the proxy's bulk
//     scanner reads NDJSON only.
//   - An update with a non-JSON body: the proxy rewrites an update's body to ask for the
//     resulting document, which it can do only in JSON.
//   - An Accept header that asks for another answer than JSON: every event is built from
//     the primary's answer.
func (p *Proxy) refuseUnreplicableMedia(w http.ResponseWriter, r *http.Request, rt route) bool {
	var why string
	switch {
	case !jsonMedia(r.Header.Get("Accept"), true):
		why = "fanout-proxy builds the replication of a write from the primary's answer and reads JSON answers only; send Accept: application/json (or none)"
	case rt.name == "bulk" && !jsonMedia(r.Header.Get("Content-Type"), false) && strings.Contains(strings.ToLower(r.Header.Get("Content-Type")), "smile"):
		why = "fanout-proxy replicates _bulk bodies in NDJSON (application/x-ndjson or application/json) only; send this bulk as NDJSON"
	case rt.action == bulk.ActionUpdate && rt.name != "bulk" && !jsonMedia(r.Header.Get("Content-Type"), false):
		why = "fanout-proxy replicates update requests with JSON bodies only; send this update as application/json"
	default:
		return false
	}
	p.m.replicationErrs.Inc()
	writeError(w, r, http.StatusNotAcceptable, errNotReplicable, why+"; nothing was sent to the primary")
	return true
}

// jsonMedia reports a media type the proxy reads as JSON; empty counts as JSON for an
// Accept header (the primary then answers in the request's type, which callPrimary sets
// to JSON) and for a Content-Type (the primary refuses the request itself). A
// comma-separated Accept is JSON when its first type is (or */*).
func jsonMedia(v string, accept bool) bool {
	v = strings.TrimSpace(v)
	if accept {
		v, _, _ = strings.Cut(v, ",")
		if strings.TrimSpace(v) == "" || strings.HasPrefix(strings.TrimSpace(v), "*/*") {
			return true
		}
	}
	if v == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return true // the primary refuses it
	}
	mt = strings.ToLower(mt)
	switch {
	case mt == "application/json" || mt == "application/x-ndjson":
		return true
	case strings.HasPrefix(mt, "application/vnd.elasticsearch+") || strings.HasPrefix(mt, "application/vnd.opensearch+"):
		sub := mt[strings.IndexByte(mt, '+')+1:]
		return sub == "json" || sub == "x-ndjson"
	case mt == "application/yaml" || mt == "application/cbor" || mt == "application/smile":
		return false
	}
	return true // not a type the primary knows: it refuses it
}

// wantsReadBack decides whether the request's index and create events are read back.
// For a single-document write it may look the target index's pipeline settings up.
func (p *Proxy) wantsReadBack(r *http.Request, rt route, respBody []byte, evs []pendingEvent, log *slog.Logger) bool {
	if p.stored.mode == ReadBackAlways {
		return true
	}
	q, _, _, err := clientQuery(r)
	if err == nil {
		if pl := q.Get("pipeline"); pl != "" && pl != "_none" {
			return true
		}
	}
	if rt.name == "bulk" {
		// An item that names a pipeline makes the answer carry ingest_took too
		// (resolvePipelines counts any pipeline other than _none, found or not).
		return bulkIngestRan(respBody)
	}
	if nonJSON(r) {
		return true
	}
	if len(evs) != 1 || evs[0].kind != opspb.Kind_KIND_INDEX {
		return false
	}
	return p.stored.pipelined(p, r, evs[0].index, log)
}

// bulkIngestRan reports whether a bulk answer says pipelines ran: BulkResponse writes
// "ingest_took" after "took" and before "items" only then.
func bulkIngestRan(body []byte) bool {
	head := body
	if i := bytes.Index(body, []byte(`"items"`)); i >= 0 {
		head = body[:i]
	}
	return bytes.Contains(head, []byte(`"ingest_took"`))
}

// pipelined reports whether index has a default or final pipeline, from the cache or the
// primary. A lookup that fails counts as pipelined: a read-back too many costs a get, one
// too few a wrong replica.
func (s *storedReader) pipelined(p *Proxy, r *http.Request, index string, log *slog.Logger) bool {
	now := s.now()
	s.mu.Lock()
	e, ok := s.cache[index]
	gen := s.gen
	s.mu.Unlock()
	if ok && now.Sub(e.at) < s.ttl {
		return e.pipelined
	}
	path := "/" + url.PathEscape(index) + "/_settings/index.default_pipeline,index.final_pipeline?flat_settings=true"
	ans, code, err := p.getOnBehalf(r, path)
	if err != nil || code != http.StatusOK {
		s.settingLookups.WithLabelValues("failed").Inc()
		log.Debug("cannot read an index's pipeline settings; reading its documents back", "index", index, "status", code, "error", err)
		if code == http.StatusUnauthorized || code == http.StatusForbidden {
			// This client may not read settings (passthrough mode): remembered as
			// pipelined, the safe side, rather than asked again on every write.
			s.store(index, gen, pipelineSettings{pipelined: true, at: now})
		}
		return true
	}
	var got map[string]struct {
		Settings map[string]string `json:"settings"`
	}
	if err := json.Unmarshal(ans, &got); err != nil {
		s.settingLookups.WithLabelValues("failed").Inc()
		return true
	}
	s.settingLookups.WithLabelValues("ok").Inc()
	set := func(v string) bool { return v != "" && v != "_none" }
	st := got[index].Settings
	e = pipelineSettings{pipelined: set(st["index.default_pipeline"]) || set(st["index.final_pipeline"]), at: now}
	s.store(index, gen, e)
	return e.pipelined
}

// store caches e for index unless the cache was invalidated since generation gen.
func (s *storedReader) store(index string, gen uint64, e pipelineSettings) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return
	}
	if len(s.cache) >= maxPipelineCache {
		clear(s.cache)
	}
	s.cache[index] = e
}

// aliases reports whether b points into whole's bytes: an index or create event's source
// aliases the request body (buildEvents), an update's the primary's answer.
func aliases(b, whole []byte) bool {
	if len(b) == 0 || len(whole) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(whole)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return at >= start && at < start+uintptr(len(whole))
}

// lastEntryBytes is what one entry of readBackStored's map of documents costs (key,
// value and the map's overhead), about.
const lastEntryBytes = int64(unsafe.Sizeof(docKey{})) + 8 + 48

// readBackStored replaces the request's document by the primary's stored one in every
// index and create event that needs it (see the top of this file). It returns the events
// that could not be read (unread: not published, the client is told) and those a later
// write of the same request replaced (superseded: not published), both increasing. The
// answer's memory is counted against res.
func (p *Proxy) readBackStored(r *http.Request, rt route, body, respBody []byte, evs []pendingEvent, res *reservation, log *slog.Logger) (unread, superseded []int, reason string) {
	var idx []int
	for i := range evs {
		if evs[i].kind == opspb.Kind_KIND_INDEX && aliases(evs[i].source, body) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil, nil, ""
	}
	if !p.wantsReadBack(r, rt, respBody, evs, log) {
		return nil, nil, ""
	}
	// The map below, the _mget request and its documents: counted as the rest of the
	// write path's memory is (the write is applied, so this can only make others wait).
	res.force(int64(len(evs))*lastEntryBytes + int64(len(idx))*int64(unsafe.Sizeof(mgetDoc{})+unsafe.Sizeof(fetchedDoc{})+96))
	// Per document, only the request's last write needs its state: an earlier one is
	// already overwritten on the primary by a later one of the same request, whose own
	// event is published (or reported).
	last := map[docKey]int{}
	for i := range evs {
		k := evs[i].key()
		if j, ok := last[k]; !ok || evs[i].seqNo >= evs[j].seqNo {
			last[k] = i
		}
	}
	var need []int
	for _, i := range idx {
		if last[evs[i].key()] != i {
			superseded = append(superseded, i)
			continue
		}
		need = append(need, i)
	}
	if len(superseded) > 0 {
		p.stored.readBackDocs.WithLabelValues("superseded").Add(float64(len(superseded)))
	}
	if len(need) == 0 {
		return nil, superseded, ""
	}
	docs := make([]mgetDoc, len(need))
	for n, i := range need {
		docs[n] = mgetDoc{Index: evs[i].index, ID: evs[i].id, Routing: evs[i].routing, Source: true, StoredFields: []string{"_routing"}}
	}
	got, size, err := p.mgetDocs(r, docs)
	res.force(size) // the answer is held until the events are published
	if err != nil {
		p.stored.readBacks.WithLabelValues("failed").Inc()
		p.stored.readBackDocs.WithLabelValues("unread").Add(float64(len(need)))
		log.Error("cannot read written documents back from the primary; not replicated", "error", err, "documents", len(need))
		hint := ""
		var se *lookupStatusError
		if errors.As(err, &se) && (se.code == http.StatusUnauthorized || se.code == http.StatusForbidden) {
			hint = "; the client's credentials must allow reading the documents it writes through pipelines or in non-JSON bodies (indices:data/read/get), or run the proxy with auth.mode proxy"
		}
		return need, superseded, fmt.Sprintf("fanout could not read %d written documents back from the primary (%s), so their replication was not queued%s", len(need), err, hint)
	}
	p.stored.readBacks.WithLabelValues("ok").Inc()
	var why string
	for n, i := range need {
		e, d := &evs[i], &got.Docs[n]
		if msg := checkFetched(e, d); msg != "" {
			unread = append(unread, i)
			if why == "" {
				why = msg
			}
			log.Error("a written document read back from the primary is not the write's; not replicated", "index", e.index, "id", e.id, "reason", msg)
			continue
		}
		e.source = d.Source
		e.version = d.Version
		// The routing the primary stored is the one replicas must use: it differs from
		// the request's when an alias's index_routing or a pipeline set it, and the read
		// found the document at the write's shard.
		e.routing = ""
		if d.Routing != nil {
			e.routing = *d.Routing
		}
		if d.SeqNo != nil && d.Term != nil {
			e.seqNo, e.term, e.hasSeqNo = *d.SeqNo, *d.Term, true
		}
		v, verr := event.ReplicationVersion(e.seqNo, e.term, e.version, e.hasSeqNo)
		if verr != nil {
			unread = append(unread, i)
			if why == "" {
				why = verr.Error()
			}
			continue
		}
		e.replicationVersion = v
	}
	p.stored.readBackDocs.WithLabelValues("published").Add(float64(len(need) - len(unread)))
	if len(unread) > 0 {
		p.stored.readBackDocs.WithLabelValues("unread").Add(float64(len(unread)))
		reason = fmt.Sprintf("fanout read %d written documents back from the primary and could not confirm them (%s), so their replication was not queued", len(unread), why)
	}
	return unread, superseded, reason
}

// checkFetched says why a fetched document cannot stand for the write of e ("" if it
// can): it must be found at the write's address and be the write's state or a later
// one. Its stored routing is taken as it is (readBackStored).
func checkFetched(e *pendingEvent, d *fetchedDoc) string {
	switch {
	case len(d.Error) > 0 && !bytes.Equal(d.Error, []byte("null")):
		return "the read failed: " + string(d.Error)
	case d.ID != e.id || d.Index != e.index:
		return fmt.Sprintf("asked for %s/%s, answered %s/%s", e.index, e.id, d.Index, d.ID)
	case !d.Found:
		return "not found: deleted since, or moved by its pipeline to another _index or _routing"
	case len(d.Source) == 0 || d.Source[0] != '{':
		return "the answer has no _source object (is _source disabled?)"
	}
	if e.hasSeqNo && d.SeqNo != nil && d.Term != nil {
		if *d.Term < e.term || (*d.Term == e.term && *d.SeqNo < e.seqNo) {
			return fmt.Sprintf("the primary answered an older state (seq_no %d, term %d) than the write's (%d, %d)", *d.SeqNo, *d.Term, e.seqNo, e.term)
		}
	} else if d.Version < e.version {
		return fmt.Sprintf("the primary answered an older version (%d) than the write's (%d)", d.Version, e.version)
	}
	return ""
}

// fetchedDoc is one document of a read-back's answer (GetResult.toXContent).
type fetchedDoc struct {
	Index   string          `json:"_index"`
	ID      string          `json:"_id"`
	Found   bool            `json:"found"`
	SeqNo   *int64          `json:"_seq_no"`
	Term    *int64          `json:"_primary_term"`
	Version int64           `json:"_version"`
	Routing *string         `json:"_routing"`
	Source  json.RawMessage `json:"_source"`
	Error   json.RawMessage `json:"error"`
}

type fetchedDocs struct {
	Docs []fetchedDoc `json:"docs"`
}

// mgetDocs reads docs in one realtime _mget on the client's behalf; it returns the
// answer's size (to be counted) with what it got.
func (p *Proxy) mgetDocs(r *http.Request, docs []mgetDoc) (*fetchedDocs, int64, error) {
	req, err := json.Marshal(struct {
		Docs []mgetDoc `json:"docs"`
	}{docs})
	if err != nil {
		return nil, 0, fmt.Errorf("encoding the read-back: %w", err)
	}
	ans, code, err := p.requestOnBehalf(r, http.MethodPost, "/_mget?realtime=true", req)
	size := int64(len(ans))
	if err != nil {
		return nil, size, err
	}
	if code != http.StatusOK {
		return nil, size, &lookupStatusError{code: code, body: ans}
	}
	var got fetchedDocs
	if err := json.Unmarshal(ans, &got); err != nil {
		return nil, size, fmt.Errorf("parsing the read-back's answer: %w", err)
	}
	if len(got.Docs) != len(docs) {
		return nil, size, fmt.Errorf("the read-back answered %d documents for %d asked", len(got.Docs), len(docs))
	}
	return &got, 2 * size, nil // the answer and the decoded sources
}

func (p *Proxy) getOnBehalf(r *http.Request, path string) ([]byte, int, error) {
	return p.requestOnBehalf(r, http.MethodGet, path, nil)
}

// requestOnBehalf makes one of the proxy's own JSON requests to the primary for a
// client's write (the routing lookups, the read-backs): with the client's credentials in
// passthrough mode and the proxy's in proxy mode (forwardHeaders), none of the client's
// body headers, within primary.timeout, not cancelled by the client going away (the write
// is applied; its event still has to be settled). It returns the answer and its status.
func (p *Proxy) requestOnBehalf(r *http.Request, method, path string, body []byte) ([]byte, int, error) {
	ctx := context.WithoutCancel(r.Context())
	if t := p.cfg.Primary.Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	out, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return nil, 0, fmt.Errorf("building %s %s: %w", method, path, err)
	}
	p.forwardHeaders(out.Header, r)
	// A compatible-with Accept would need a matching Content-Type; the client's
	// encoding headers describe its body, not this one.
	for _, h := range []string{"Content-Encoding", "Accept-Encoding", "Content-Length", "Accept", "Content-Type"} {
		out.Header.Del(h)
	}
	if body != nil {
		out.Header.Set("Content-Type", "application/json")
	}
	out.Header.Set("Accept", "application/json")
	out.ContentLength = int64(len(body))

	resp, err := p.primary.Stream(out) // read once, by readAnswer
	if err != nil {
		closeBody(resp)
		return nil, 0, fmt.Errorf("%s %s: %w", method, out.URL.Path, err)
	}
	defer resp.Body.Close()
	ans, err := readAnswer(resp)
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("reading the answer to %s %s: %w", method, out.URL.Path, err)
	}
	return ans, resp.StatusCode, nil
}
