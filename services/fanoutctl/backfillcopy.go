package fanoutctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/pkg/resolve"
)

// requestTimeout bounds one request of the copy to either cluster.
const requestTimeout = 2 * time.Minute

// searchClient speaks to one cluster with requests built here: the typed API leaves
// out what a copy needs (_seq_no, _version and sort values of hits).
type searchClient struct {
	c    *opensearch.Client
	name string
}

// do sends one request and returns the status and the answer; an error means no
// answer.
func (sc *searchClient) do(ctx context.Context, method, path string, body any) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, fmt.Errorf("encoding %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("building %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := sc.c.Perform(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s on the %s: %w", method, path, sc.name, err)
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer to %s %s from the %s: %w", method, path, sc.name, err)
	}
	return resp.StatusCode, ans, nil
}

// json sends one request that must answer 200 and decodes the answer into out.
func (sc *searchClient) json(ctx context.Context, method, path string, body, out any) error {
	code, ans, err := sc.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return &statusError{what: fmt.Sprintf("%s %s on the %s", method, path, sc.name), status: code, answer: oneLineAnswer(ans)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(ans, out); err != nil {
		return fmt.Errorf("decoding the answer to %s %s from the %s: %w", method, path, sc.name, err)
	}
	return nil
}

// statusError is an answer other than 200.
type statusError struct {
	what   string
	status int
	answer string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.what, e.status, e.answer)
}

// pitGone reports whether err says the point in time expired (or its node left).
func pitGone(err error) bool {
	var se *statusError
	return errors.As(err, &se) && se.status == http.StatusNotFound && strings.Contains(se.answer, "search_context_missing_exception")
}

func oneLineAnswer(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// pitAPI is how a cluster opens and closes points in time: OpenSearch's
// /_search/point_in_time, or Elasticsearch's /_pit.
type pitAPI int

const (
	pitOpenSearch pitAPI = iota
	pitElasticsearch
)

// flavor tells OpenSearch from Elasticsearch by GET /.
func (sc *searchClient) flavor(ctx context.Context) (pitAPI, error) {
	var root struct {
		Version struct {
			Distribution string `json:"distribution"`
		} `json:"version"`
	}
	if err := sc.json(ctx, http.MethodGet, "/", nil, &root); err != nil {
		return 0, fmt.Errorf("backfill: %w", err)
	}
	if root.Version.Distribution == "opensearch" {
		return pitOpenSearch, nil
	}
	return pitElasticsearch, nil
}

type catRow struct {
	Index  string `json:"index"`
	Status string `json:"status"`
}

func (sc *searchClient) catIndices(ctx context.Context) ([]catRow, error) {
	var rows []catRow
	if err := sc.json(ctx, http.MethodGet, "/_cat/indices?format=json&h=index,status&expand_wildcards=all&s=index", nil, &rows); err != nil {
		return nil, fmt.Errorf("backfill: listing the indices: %w", err)
	}
	return rows, nil
}

// metadata creates the indices on the target, or brings them to the primary's
// mappings, settings and aliases, through the replicator's metadata path.
func (b *backfill) metadata(ctx context.Context, indices []*indexProgress) error {
	md := &opspb.Metadata{Request: "fanoutctl backfill"}
	for _, ip := range indices {
		var got map[string]struct {
			Aliases  json.RawMessage `json:"aliases"`
			Mappings json.RawMessage `json:"mappings"`
			Settings json.RawMessage `json:"settings"`
		}
		if err := b.primary.json(ctx, http.MethodGet, "/"+url.PathEscape(ip.Index)+"?flat_settings=true", nil, &got); err != nil {
			return fmt.Errorf("backfill: reading the metadata of %s: %w", ip.Index, err)
		}
		ix, ok := got[ip.Index]
		if !ok {
			return fmt.Errorf("backfill: the primary's answer about %s does not name it", ip.Index)
		}
		var flat map[string]any
		if err := json.Unmarshal(ix.Settings, &flat); err != nil {
			return fmt.Errorf("backfill: the settings of %s: %w", ip.Index, err)
		}
		uuid, _ := flat["index.uuid"].(string)
		md.Indices = append(md.Indices, &opspb.IndexState{Name: ip.Index, Exists: true, Uuid: uuid,
			Settings: orEmptyJSON(ix.Settings), Mappings: orEmptyJSON(ix.Mappings), Aliases: orEmptyJSON(ix.Aliases)})
	}
	res, err := b.apply.ApplyMetadata(ctx, md)
	if err != nil {
		return fmt.Errorf("backfill: creating the indices on %s: %w", b.s.cfg.Target.Name, err)
	}
	if len(res.Refused) > 0 {
		r := res.Refused[0]
		return fmt.Errorf("backfill: the target %s refused %d metadata steps, first %s of %s: HTTP %d %s: %s",
			b.s.cfg.Target.Name, len(res.Refused), r.Step, r.Object, r.Status, r.ErrorType, r.Reason)
	}
	return nil
}

func orEmptyJSON(b json.RawMessage) []byte {
	if len(b) == 0 || string(b) == "null" {
		return []byte("{}")
	}
	return b
}

// pit is an open point in time on one index.
type pit struct {
	api    pitAPI
	id     string
	opened time.Time // read before the open: the snapshot is at least this young
}

func (b *backfill) openPIT(ctx context.Context, api pitAPI, index string) (*pit, error) {
	// A write the primary acknowledged is not in a point in time until a refresh made
	// it visible: without this one, a write acknowledged (and published) before the
	// offsets were recorded could be neither in the copy nor in the stream.
	if err := b.primary.json(ctx, http.MethodPost, "/"+url.PathEscape(index)+"/_refresh", nil, nil); err != nil {
		return nil, fmt.Errorf("backfill: refreshing %s: %w", index, err)
	}
	p := &pit{api: api, opened: b.e.now()}
	keep := url.QueryEscape(keepAlive(b.f.keepAlive))
	var ans struct {
		PitID string `json:"pit_id"`
		ID    string `json:"id"`
	}
	path := "/" + url.PathEscape(index) + "/_search/point_in_time?keep_alive=" + keep
	if api == pitElasticsearch {
		path = "/" + url.PathEscape(index) + "/_pit?keep_alive=" + keep
	}
	if err := b.primary.json(ctx, http.MethodPost, path, nil, &ans); err != nil {
		return nil, fmt.Errorf("backfill: opening a point in time on %s: %w", index, err)
	}
	p.id = ans.PitID + ans.ID
	if p.id == "" {
		return nil, fmt.Errorf("backfill: the primary opened a point in time on %s without an id", index)
	}
	return p, nil
}

func (b *backfill) closePIT(ctx context.Context, p *pit) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var err error
	if p.api == pitElasticsearch {
		_, _, err = b.primary.do(ctx, http.MethodDelete, "/_pit", map[string]any{"id": p.id})
	} else {
		_, _, err = b.primary.do(ctx, http.MethodDelete, "/_search/point_in_time", map[string]any{"pit_id": []string{p.id}})
	}
	if err != nil {
		b.log.Warn("closing a point in time (it expires by itself after --keep-alive)", "error", err)
	}
}

func keepAlive(d time.Duration) string {
	return fmt.Sprintf("%ds", int64(d.Round(time.Second)/time.Second))
}

// copyAll copies the indices one after the other, each in its slices at once.
func (b *backfill) copyAll(ctx context.Context, api pitAPI, indices []*indexProgress) error {
	for _, ip := range indices {
		done := false
		b.state.read(func(*backfillState) { done = ip.copied() })
		if done {
			continue
		}
		if err := b.copyIndex(ctx, api, ip); err != nil {
			return err
		}
	}
	return nil
}

func (b *backfill) copyIndex(ctx context.Context, api pitAPI, ip *indexProgress) error {
	p, err := b.openPIT(ctx, api, ip.Index)
	if err != nil {
		return err
	}
	defer b.closePIT(ctx, p)
	if h := b.hooks.afterPIT; h != nil {
		h(ip.Index)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	// An Applier is used by one goroutine at a time: one per slice.
	appliers := make([]applier, len(ip.Slices))
	defer func() {
		for _, a := range appliers {
			if a != nil {
				_ = a.Close()
			}
		}
	}()
	for k := range appliers {
		if appliers[k], err = newApplier(b.s.cfg, b.log); err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
	}
	for k := range ip.Slices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.copySlice(ctx, p, ip, k, appliers[k]); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				cancel(err)
			}
		}()
	}
	wg.Wait()
	return first
}

// pitHit is one hit of a point-in-time page.
type pitHit struct {
	Index       string          `json:"_index"`
	ID          string          `json:"_id"`
	Routing     string          `json:"_routing"`
	Version     int64           `json:"_version"`
	SeqNo       *int64          `json:"_seq_no"`
	PrimaryTerm *int64          `json:"_primary_term"`
	Source      json.RawMessage `json:"_source"`
	Sort        []any           `json:"sort"`
}

type pitPage struct {
	PitID string `json:"pit_id"`
	Hits  struct {
		Total *struct {
			Value int64 `json:"value"`
		} `json:"total"`
		Hits []pitHit `json:"hits"`
	} `json:"hits"`
}

// copySlice copies slice k of ip from p, page by page, from where its progress says.
// Between pages it stops when ctx is done; a page it fetched is applied and saved
// even then (drain, then save), so that a resumed backfill copies no page twice.
func (b *backfill) copySlice(ctx context.Context, p *pit, ip *indexProgress, k int, a applier) error {
	id := p.id
	reopened := false // a point in time was opened for the page being read
	for {
		var sp sliceProgress
		b.state.read(func(*backfillState) { sp = *ip.Slices[k] })
		if sp.Done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("backfill: copying %s (slice %d): %w", ip.Index, k, context.Cause(ctx))
		}
		body := map[string]any{
			"pit":                 map[string]any{"id": id, "keep_alive": keepAlive(b.f.keepAlive)},
			"size":                b.f.pageSize,
			"sort":                []any{map[string]any{"_id": "asc"}},
			"seq_no_primary_term": true,
			"version":             true,
			"_source":             true,
			"track_total_hits":    sp.Total == 0 && sp.After == nil,
		}
		if len(ip.Slices) > 1 {
			body["slice"] = map[string]any{"id": k, "max": len(ip.Slices)}
		}
		if sp.After != nil {
			body["search_after"] = sp.After
		}
		var page pitPage
		if err := b.primary.json(ctx, http.MethodPost, "/_search", body, &page); err != nil {
			if pitGone(err) && !reopened {
				// The point in time outlived its keep_alive (a long throttle wait, a slow
				// target): this slice goes on from its last _id in a new one, whose age
				// the window then counts from.
				b.log.Warn("the point in time expired; opening a new one (raise --keep-alive)", "index", ip.Index, "slice", k)
				np, err := b.openPIT(ctx, p.api, ip.Index)
				if err != nil {
					return err
				}
				defer b.closePIT(ctx, np)
				p, id, reopened = np, np.id, true
				continue
			}
			return idSortHint(fmt.Errorf("backfill: reading %s (slice %d): %w", ip.Index, k, err), "primary", ip.Index)
		}
		reopened = false
		if page.PitID != "" {
			id = page.PitID // Elasticsearch may hand out a new id with each page
		}
		hits := page.Hits.Hits
		if page.Hits.Total != nil && sp.Total == 0 && sp.After == nil {
			b.bar.addTotal(page.Hits.Total.Value)
			sp.Total = page.Hits.Total.Value
		}
		if len(hits) == 0 {
			return b.state.update(func(*backfillState) {
				ip.Slices[k].Done = true
				ip.Slices[k].Total = max(ip.Slices[k].Total, sp.Total)
			})
		}
		var nbytes int64
		for i := range hits {
			nbytes += int64(len(hits[i].Source))
		}
		if err := b.docs.take(ctx, float64(len(hits))); err != nil {
			return fmt.Errorf("backfill: copying %s (slice %d): %w", ip.Index, k, err)
		}
		if err := b.bytes.take(ctx, float64(nbytes)); err != nil {
			return fmt.Errorf("backfill: copying %s (slice %d): %w", ip.Index, k, err)
		}
		// From here on the page is applied whatever ctx says (within its own bound).
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*requestTimeout)
		c, err := b.applyPage(actx, a, p, ip, hits)
		cancel()
		if err != nil {
			return err
		}
		last := hits[len(hits)-1]
		if len(last.Sort) == 0 {
			return fmt.Errorf("backfill: the primary's page of %s carries no sort values", ip.Index)
		}
		err = b.state.update(func(*backfillState) {
			s := ip.Slices[k]
			s.After = last.Sort
			s.Total = max(s.Total, sp.Total)
			s.Docs += int64(len(hits))
			s.Bytes += nbytes
			s.Resolved += c.resolved
			s.Stale += c.stale
			s.Deleted += c.deleted
			s.Failed += c.failed
		})
		if err != nil {
			return err
		}
		b.bar.add(int64(len(hits)), nbytes)
		if h := b.hooks.afterPage; h != nil {
			h(ip.Index, k, len(hits))
		}
	}
}

// idSortHint turns Elasticsearch 8's refusal of _id field data into what to do about
// it. The copy pages on _id so that a resumed copy can go on in a new point in time.
func idSortHint(err error, side, index string) error {
	if !strings.Contains(err.Error(), "indices.id_field_data.enabled") {
		return err
	}
	return fmt.Errorf("backfill: the %s refuses to sort %s on _id: set its cluster setting indices.id_field_data.enabled to true for the backfill (Elasticsearch 8 disables it by default)", side, index)
}

// pageCounts are what became of one page.
type pageCounts struct {
	resolved, stale, deleted, failed int64
}

// applyPage applies one page: as the point in time has it while the point in time is
// younger than --window, else as the primary has it now (realtime _mget).
func (b *backfill) applyPage(ctx context.Context, a applier, p *pit, ip *indexProgress, hits []pitHit) (pageCounts, error) {
	var c pageCounts
	ops := make([]*opspb.Operation, 0, len(hits))
	for i := range hits {
		h := &hits[i]
		if len(h.Source) == 0 || string(h.Source) == "null" {
			c.failed++
			b.log.Warn("the primary returned no _source (is _source disabled?); not copied", "index", ip.Index, "id", h.ID)
			continue
		}
		op := &opspb.Operation{Kind: opspb.Kind_KIND_INDEX, Index: ip.Index, Id: h.ID, Routing: h.Routing, Source: h.Source, Version: h.Version,
			SeqNo: h.SeqNo, PrimaryTerm: h.PrimaryTerm}
		var seq, term int64
		hasSeq := h.SeqNo != nil && h.PrimaryTerm != nil
		if hasSeq {
			seq, term = *h.SeqNo, *h.PrimaryTerm
		}
		v, err := event.ReplicationVersion(seq, term, h.Version, hasSeq)
		if err != nil {
			c.failed++
			b.log.Warn("a document has no replication version; not copied", "index", ip.Index, "id", h.ID, "error", err)
			continue
		}
		op.ReplicationVersion = v
		ops = append(ops, op)
	}
	if age := b.e.now().Sub(p.opened); age > b.f.window {
		res, err := b.resolve.resolve(ctx, ops)
		if err != nil {
			return c, fmt.Errorf("backfill: looking a page of %s up on the primary: %w", ip.Index, err)
		}
		ops = ops[:0]
		for _, r := range res {
			if r.err != nil {
				c.failed++
				b.log.Warn("the primary cannot say what to copy of a document", "index", ip.Index, "error_type", r.errType, "error", r.err)
				continue
			}
			c.resolved++
			if r.how == resolvedDeleted {
				c.deleted++
			}
			ops = append(ops, r.op)
		}
	}
	if len(ops) == 0 {
		return c, nil
	}
	if n := b.hooks.bulkRequests; n != nil {
		n.Add(1)
	}
	results, err := a.Apply(ctx, ops)
	if err != nil {
		return c, fmt.Errorf("backfill: applying a page of %s to %s: %w", ip.Index, b.s.cfg.Target.Name, err)
	}
	for i, r := range results {
		switch r.Outcome {
		case outcomeStale:
			c.stale++
		case outcomeFailed:
			c.failed++
			b.log.Warn("the target refused a document", "index", ip.Index, "id", ops[i].GetId(), "http_status", r.Status, "error_type", r.ErrorType, "reason", r.Reason)
		case outcomeSkipped:
			c.failed++
			b.log.Warn("the replicator configuration skips this index", "index", ip.Index)
		}
	}
	return c, nil
}

// reconcileAll deletes, index by index, the target's documents the primary does not
// have: what a late bulk of the copy brought back after its delete's tombstone was
// gone, or what the target held before the backfill.
func (b *backfill) reconcileAll(ctx context.Context, indices []*indexProgress) error {
	sc, err := converge.NewScanner(ctx, b.target.c, b.target.name)
	if err != nil {
		return fmt.Errorf("backfill: reconcile: %w", err)
	}
	for _, ip := range indices {
		done := false
		b.state.read(func(*backfillState) { done = ip.Reconciled })
		if done {
			continue
		}
		if err := b.reconcile(ctx, sc, ip); err != nil {
			return err
		}
	}
	return nil
}

// reconcile reads the target index through (converge.Scanner: a point in time on
// _shard_doc, or a scroll, so one consistent view in linear time and no _id field
// data), looks each page up on the primary (realtime _mget) and deletes what the
// primary does not have.
func (b *backfill) reconcile(ctx context.Context, sc *converge.Scanner, ip *indexProgress) error {
	tix := url.PathEscape(ip.TargetIndex)
	if err := b.target.json(ctx, http.MethodPost, "/"+tix+"/_refresh", nil, nil); err != nil {
		return fmt.Errorf("backfill: reconcile: refreshing %s: %w", ip.TargetIndex, err)
	}
	var checked, deleted int64
	var pageErr error // a page's own failure, which says what failed already
	err := sc.Scan(ctx, ip.TargetIndex, b.f.pageSize, false, func(docs []converge.Doc) error {
		n, err := b.reconcilePage(ctx, ip, docs)
		if err != nil {
			pageErr = err
			return err
		}
		checked += int64(len(docs))
		deleted += n
		if h := b.hooks.afterReconcilePage; h != nil {
			h(ip.TargetIndex, len(docs))
		}
		return nil
	})
	if pageErr != nil {
		return pageErr
	}
	if err != nil {
		return fmt.Errorf("backfill: reconcile: reading %s: %w", ip.TargetIndex, err)
	}
	return b.state.update(func(*backfillState) {
		ip.Reconciled, ip.ReconcileChecked, ip.ReconcileDeleted = true, checked, deleted
	})
}

// reconcilePage deletes the documents of a target page the primary does not have, with
// the target's version + 1 (external): above the copy the target holds, below any later
// write of the document on the primary (resolve.Resolve says why), so a document
// re-created meanwhile still wins. It returns how many it deleted.
func (b *backfill) reconcilePage(ctx context.Context, ip *indexProgress, docs []converge.Doc) (int64, error) {
	ops := make([]*opspb.Operation, len(docs))
	for i, d := range docs {
		ops[i] = &opspb.Operation{Kind: opspb.Kind_KIND_INDEX, Index: ip.Index, Id: d.ID, Routing: d.Routing, ReplicationVersion: d.Version}
	}
	res, err := b.resolve.resolve(ctx, ops)
	if err != nil {
		return 0, fmt.Errorf("backfill: reconcile: looking %s up on the primary: %w", ip.Index, err)
	}
	var dels []*opspb.Operation
	for _, r := range res {
		if r.err == nil && r.how == resolve.Deleted {
			dels = append(dels, r.op)
		}
	}
	if len(dels) == 0 {
		return 0, nil
	}
	results, err := b.apply.Apply(ctx, dels)
	if err != nil {
		return 0, fmt.Errorf("backfill: reconcile: deleting from %s: %w", ip.TargetIndex, err)
	}
	var deleted int64
	for _, r := range results {
		if r.Outcome == outcomeApplied {
			deleted++
		}
	}
	return deleted, nil
}
