// Package converge compares two search clusters document by document through their REST
// APIs: the check that ends every end-to-end test of fanout and backs `fanoutctl verify`.
//
// Each side is read through without sorting on _id (which Elasticsearch 8 refuses and
// the others load as deprecated field data): with a point in time searched after its
// _shard_doc order where the release has one, a scroll in _doc order elsewhere (Paging).
// The order is the cluster's own, so the comparison makes two passes: primary → replica
// (missing and differing documents, looked up with _mget) and replica → primary (extra
// documents), in constant memory. Points in time and scrolls are closed when a pass
// ends, also when it fails or its context is cancelled.
//
// Full mode (the default) compares sources; Fast mode moves no source, only ids,
// routing and versions, and relies on _version: a replica written with the replication
// version of the primary's _seq_no and _primary_term (Options.ExpectVersion) holds a
// different document only under a different version.
//
// The clusters should be quiet while they are compared: documents written during a
// comparison may be reported on either side.
package converge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
)

// Kind says how a document differs.
type Kind string

// The kinds of difference.
const (
	Missing Kind = "missing" // on the primary, not on the replica
	Extra   Kind = "extra"   // on the replica, not on the primary (e.g. a delete that never arrived)
	Source  Kind = "source"  // both have it, the documents differ
	Version Kind = "version" // both have it, the replica's _version is not the expected one
	Routing Kind = "routing" // both have it, under different routing
)

// Mode says how much of each document is compared.
type Mode string

const (
	// Full compares sources as well as routing and versions; the zero Mode is Full.
	Full Mode = "full"
	// Fast moves no source: ids, routing and versions only. Without ExpectVersion it
	// compares only which documents exist and their routing.
	Fast Mode = "fast"
)

// ParseMode reads "fast" or "full" ("" is Full).
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", Full:
		return Full, nil
	case Fast:
		return Fast, nil
	}
	return "", fmt.Errorf("%q is not a comparison mode: fast or full", s)
}

// DocVersion is what the primary says about a document's version.
type DocVersion struct {
	Version     int64
	SeqNo       int64
	PrimaryTerm int64
	HasSeqNo    bool
}

// VersionFunc returns the _version a replica must hold for a primary document.
type VersionFunc func(DocVersion) int64

// ExactVersions expects the replica's _version to equal the primary's.
func ExactVersions(v DocVersion) int64 { return v.Version }

// Options configure a comparison.
type Options struct {
	// Indices to compare, as named on the primary; an index pattern (logs-*) names the
	// primary's indices it matches, hidden ones excepted. Empty means every index the
	// primary lists, except hidden ones (names starting with ".") and those Include
	// refuses.
	Indices []string
	// Include, when set, chooses which of the primary's listed indices are compared
	// (a replica that replicates only some indices). Extra replica indices are then not
	// reported: the replica may hold indices of its own.
	Include func(index string) bool
	// ReplicaIndex maps a primary index name to the replica's; nil keeps the name.
	ReplicaIndex func(string) string
	// Mode is Full (the zero value) or Fast.
	Mode Mode
	// ExpectVersion, when set, also compares the replica's _version with the one it
	// returns for the primary document.
	ExpectVersion VersionFunc
	// ExactBytes compares sources byte for byte; otherwise they are compared as JSON
	// values (key order and white space do not matter). Full mode only.
	ExactBytes bool
	// Sample, when positive, compares only about that many primary documents (and as
	// many replica documents for extra ones), shared among the indices by their
	// document counts and spread evenly over each index's paging order: a spot check.
	// Every id is still paged through, but without sources; only the sampled documents
	// are looked up on the other side (and their sources fetched, in Full mode).
	Sample int
	// Refresh refreshes the compared indices on both sides first, so that search sees
	// every acknowledged write.
	Refresh bool
	// PageSize is the number of documents per search page and _mget; default 1000.
	PageSize int
	// MaxDiffs caps the differences kept in Report.Diffs; the counts stay exact.
	// Default 1000.
	MaxDiffs int
	// Progress, when set, is called after every compared page, on the goroutine that
	// called Compare.
	Progress func(Progress)
	// OnDiff, when set, is handed every difference as it is found, on the goroutine that
	// called Compare, whatever MaxDiffs: a caller that acts on all of them (fanoutctl
	// verify --repair) sees each without Compare holding them. An error stops the
	// comparison; Compare returns it.
	OnDiff func(Diff) error
}

// Progress is how far a comparison has come.
type Progress struct {
	Index    string        // the primary index being compared
	Pass     string        // "primary" (missing and differing documents) or "replica" (extra ones)
	Compared int           // primary documents compared so far
	Checked  int           // replica documents checked for extra ones so far
	Bytes    int64         // bytes sent and received so far, both sides
	Elapsed  time.Duration // since Compare began
}

// Rate is the primary documents compared per second so far.
func (p Progress) Rate() float64 { return rate(p.Compared, p.Elapsed) }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return math.Round(float64(n)/d.Seconds()*10) / 10
}

// Diff is one document that is not the same on both sides.
type Diff struct {
	Kind         Kind   `json:"kind"`
	Index        string `json:"index"`
	ReplicaIndex string `json:"replica_index"`
	ID           string `json:"id"`
	// Detail says what differs, e.g. the fields or the two versions.
	Detail string `json:"detail,omitempty"`
	// Routing is the primary document's routing (not for Extra); ReplicaRouting and
	// ReplicaVersion are the replica document's (not for Missing), as the comparison saw
	// them: what a repair needs to address each copy.
	Routing        string `json:"routing,omitempty"`
	ReplicaRouting string `json:"replica_routing,omitempty"`
	ReplicaVersion int64  `json:"replica_version,omitempty"`
	// ExpectedVersion is the _version the replica must hold for the primary document
	// as the comparison saw it (Options.ExpectVersion; not for Extra, 0 without it):
	// who checks the difference again later tells by it whether the primary changed.
	ExpectedVersion int64 `json:"expected_version,omitempty"`
}

func (d Diff) String() string {
	s := fmt.Sprintf("%s %s/%s", d.Kind, d.Index, d.ID)
	if d.ReplicaIndex != d.Index {
		s += " (replica " + d.ReplicaIndex + ")"
	}
	if d.Detail != "" {
		s += ": " + d.Detail
	}
	return s
}

// Report is the outcome of a comparison.
type Report struct {
	Indices   []string `json:"indices"`
	Mode      Mode     `json:"mode"`
	Sample    int      `json:"sample,omitempty"` // Options.Sample, when sampling
	Compared  int      `json:"compared"`         // documents on the primary (sampled ones when sampling)
	Checked   int      `json:"checked"`          // replica documents checked for extra ones
	Missing   int      `json:"missing"`
	Extra     int      `json:"extra"`
	Different int      `json:"different"` // source, version or routing
	Diffs     []Diff   `json:"diffs,omitempty"`
	// ExtraIndices are replica indices that no compared primary index maps to; only
	// filled when Options.Indices and Options.Include are both unset.
	ExtraIndices []string `json:"extra_indices,omitempty"`
	// Paging is how each side was read through.
	PrimaryPaging Paging `json:"primary_paging"`
	ReplicaPaging Paging `json:"replica_paging"`
	// Seconds is the comparison's duration, DocsPerSecond Compared over it.
	Seconds       float64 `json:"seconds"`
	DocsPerSecond float64 `json:"docs_per_second"`
	// BytesSent and BytesReceived count request and answer bodies, both sides, answers
	// as decoded (after any transport compression).
	BytesSent     int64 `json:"bytes_sent"`
	BytesReceived int64 `json:"bytes_received"`
	// Metadata is the metadata comparison (CompareMetadata), when one was made.
	Metadata *MetaReport `json:"metadata,omitempty"`

	maxDiffs int
}

// Converged reports whether the replica holds exactly the primary's documents and,
// when they were compared, its metadata.
func (r *Report) Converged() bool {
	return r.Missing == 0 && r.Extra == 0 && r.Different == 0 && len(r.ExtraIndices) == 0 &&
		(r.Metadata == nil || r.Metadata.Converged())
}

// String summarises the report, listing the first differences.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "compared %d documents in %d indices: %d missing, %d extra, %d different",
		r.Compared, len(r.Indices), r.Missing, r.Extra, r.Different)
	if len(r.ExtraIndices) > 0 {
		fmt.Fprintf(&b, ", extra indices %v", r.ExtraIndices)
	}
	mode := string(r.Mode)
	if r.Sample > 0 {
		mode += fmt.Sprintf(", sample of %d", r.Sample)
	}
	fmt.Fprintf(&b, " (%s mode; %.1fs, %.0f docs/s, %s received)", mode, r.Seconds, r.DocsPerSecond, byteSize(r.BytesReceived))
	for i, d := range r.Diffs {
		if i == 20 {
			fmt.Fprintf(&b, "\n  … %d more", len(r.Diffs)-i)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(d.String())
	}
	if r.Metadata != nil {
		b.WriteString("\n" + r.Metadata.String())
	}
	return b.String()
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func (c *comparison) add(d Diff) error {
	r := c.rep
	switch d.Kind {
	case Missing:
		r.Missing++
	case Extra:
		r.Extra++
	default:
		r.Different++
	}
	if len(r.Diffs) < r.maxDiffs {
		r.Diffs = append(r.Diffs, d)
	}
	if c.opts.OnDiff != nil {
		return c.opts.OnDiff(d)
	}
	return nil
}

// comparison is one Compare call's state.
type comparison struct {
	p, r  *side
	opts  Options
	rep   *Report
	start time.Time
}

// Compare compares the replica with the primary.
func Compare(ctx context.Context, primary, replica *opensearch.Client, opts Options) (rep *Report, err error) {
	start := time.Now()
	if opts.PageSize <= 0 {
		opts.PageSize = 1000
	}
	if opts.MaxDiffs <= 0 {
		opts.MaxDiffs = 1000
	}
	mode, err := ParseMode(string(opts.Mode))
	if err != nil {
		return nil, err
	}
	opts.Mode = mode
	if opts.Sample < 0 {
		opts.Sample = 0
	}
	rename := opts.ReplicaIndex
	if rename == nil {
		rename = func(s string) string { return s }
	}
	p := &side{c: primary, name: "primary"}
	r := &side{c: replica, name: "replica"}
	rep = &Report{Mode: opts.Mode, Sample: opts.Sample, maxDiffs: opts.MaxDiffs}
	defer func() {
		if rep == nil {
			return
		}
		elapsed := time.Since(start)
		rep.Seconds = math.Round(elapsed.Seconds()*1000) / 1000
		rep.DocsPerSecond = rate(rep.Compared, elapsed)
		rep.BytesSent, rep.BytesReceived = p.sent+r.sent, p.received+r.received
	}()

	for _, s := range []*side{p, r} {
		if err := s.detectPaging(ctx); err != nil {
			return nil, err
		}
	}
	rep.PrimaryPaging, rep.ReplicaPaging = p.paging, r.paging

	indices := opts.Indices
	if len(indices) == 0 {
		var err error
		if indices, err = p.indices(ctx); err != nil {
			return nil, err
		}
		if opts.Include != nil {
			indices = slices.DeleteFunc(indices, func(ix string) bool { return !opts.Include(ix) })
		}
	} else if indices, err = p.expand(ctx, indices); err != nil {
		return nil, err
	}
	if len(opts.Indices) == 0 && opts.Include == nil {
		replicaIndices, err := r.indices(ctx)
		if err != nil {
			return nil, err
		}
		mapped := make(map[string]bool, len(indices))
		for _, ix := range indices {
			mapped[rename(ix)] = true
		}
		for _, ix := range replicaIndices {
			if !mapped[ix] {
				rep.ExtraIndices = append(rep.ExtraIndices, ix)
			}
		}
	}
	rep.Indices = indices

	if opts.Refresh {
		for _, ix := range indices {
			if err := p.refresh(ctx, ix); err != nil {
				return nil, err
			}
			if err := r.refresh(ctx, rename(ix)); err != nil {
				return nil, err
			}
		}
	}
	cmp := &comparison{p: p, r: r, opts: opts, rep: rep, start: start}
	quotas := make([]int, len(indices))
	if opts.Sample > 0 {
		if quotas, err = cmp.quotas(ctx, indices); err != nil {
			return nil, err
		}
	}
	for i, ix := range indices {
		if opts.Sample > 0 && quotas[i] == 0 {
			continue
		}
		rix := rename(ix)
		if err := cmp.forward(ctx, ix, rix, quotas[i]); err != nil {
			return nil, err
		}
		if err := cmp.backward(ctx, ix, rix, quotas[i]); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func (c *comparison) progress(ix, pass string) {
	if c.opts.Progress == nil {
		return
	}
	c.opts.Progress(Progress{
		Index: ix, Pass: pass, Compared: c.rep.Compared, Checked: c.rep.Checked,
		Bytes:   c.p.sent + c.p.received + c.r.sent + c.r.received,
		Elapsed: time.Since(c.start),
	})
}

// forward pages through the primary and looks every document (or every sampled one,
// quota of them) up on the replica.
func (c *comparison) forward(ctx context.Context, ix, rix string, quota int) error {
	full := c.opts.Mode == Full
	// sampling pages ids only and fetches the sampled sources afterwards
	pageSources := full && quota == 0
	compare := func(hits []Doc) error {
		if full && !pageSources {
			docs, err := c.p.mget(ctx, ix, hits, true)
			if err != nil {
				return err
			}
			kept := hits[:0]
			for i := range hits {
				// gone since it was paged: a write during the comparison
				if docs[i].Found {
					hits[i].Source = docs[i].Source
					kept = append(kept, hits[i])
				}
			}
			hits = kept
		}
		c.rep.Compared += len(hits)
		docs, err := c.r.mget(ctx, rix, hits, full)
		if err != nil {
			return err
		}
		for i := range hits {
			if d, differ := c.diff(&hits[i], &docs[i], ix, rix); differ {
				if err := c.add(d); err != nil {
					return err
				}
			}
		}
		c.progress(ix, "primary")
		return nil
	}
	if quota == 0 {
		return c.p.scan(ctx, ix, c.opts.PageSize, pageSources, compare)
	}
	count, err := c.p.count(ctx, ix)
	if err != nil {
		return err
	}
	return sampleScan(ctx, c.p, ix, c.opts.PageSize, count, quota, compare)
}

// diff compares a primary hit with the replica's document.
func (c *comparison) diff(ph *Doc, rd *mgetDoc, ix, rix string) (Diff, bool) {
	d := Diff{Index: ix, ReplicaIndex: rix, ID: ph.ID, Routing: ph.Routing}
	if rd.Found {
		d.ReplicaRouting, d.ReplicaVersion = rd.Routing, rd.Version
	}
	var want int64
	if c.opts.ExpectVersion != nil {
		want = c.opts.ExpectVersion(DocVersion{Version: ph.Version, SeqNo: ph.SeqNo, PrimaryTerm: ph.PrimaryTerm, HasSeqNo: ph.HasSeqNo})
		d.ExpectedVersion = want
	}
	switch {
	case !rd.Found:
		d.Kind = Missing
		return d, true
	case ph.Routing != rd.Routing:
		d.Kind, d.Detail = Routing, fmt.Sprintf("routing %q on the primary, %q on the replica", ph.Routing, rd.Routing)
		return d, true
	}
	if c.opts.Mode == Full {
		if detail, same := sameSource(ph.Source, rd.Source, c.opts.ExactBytes); !same {
			d.Kind, d.Detail = Source, detail
			return d, true
		}
	}
	if c.opts.ExpectVersion == nil {
		return d, false
	}
	if rd.Version == want {
		return d, false
	}
	d.Kind, d.Detail = Version, fmt.Sprintf("replica _version %d, expected %d (primary _version %d, _seq_no %d, _primary_term %d)",
		rd.Version, want, ph.Version, ph.SeqNo, ph.PrimaryTerm)
	return d, true
}

// backward pages through the replica and reports what the primary does not have.
func (c *comparison) backward(ctx context.Context, ix, rix string, quota int) error {
	check := func(hits []Doc) error {
		c.rep.Checked += len(hits)
		docs, err := c.p.mget(ctx, ix, hits, false)
		if err != nil {
			return err
		}
		for i := range hits {
			if !docs[i].Found {
				d := Diff{Kind: Extra, Index: ix, ReplicaIndex: rix, ID: hits[i].ID, ReplicaRouting: hits[i].Routing, ReplicaVersion: hits[i].Version}
				if err := c.add(d); err != nil {
					return err
				}
			}
		}
		c.progress(ix, "replica")
		return nil
	}
	if quota == 0 {
		return c.r.scan(ctx, rix, c.opts.PageSize, false, check)
	}
	count, err := c.r.count(ctx, rix)
	if err != nil {
		return err
	}
	return sampleScan(ctx, c.r, rix, c.opts.PageSize, count, quota, check)
}

// SameSource says whether two _source values are the same JSON value (key order and
// white space aside), as a Full comparison judges them.
func SameSource(a, b json.RawMessage) bool {
	_, same := sameSource(a, b, false)
	return same
}

// sameSource compares two _source values; when they differ it names the paths.
func sameSource(a, b json.RawMessage, exact bool) (string, bool) {
	if bytes.Equal(a, b) {
		return "", true
	}
	if exact {
		return "source bytes differ" + fieldDetail(a, b), false
	}
	va, errA := decodeJSON(a)
	vb, errB := decodeJSON(b)
	if errA != nil || errB != nil {
		return "source bytes differ (not both valid JSON)", false
	}
	var paths []string
	diffPaths("", va, vb, &paths)
	if len(paths) == 0 {
		return "", true
	}
	return "fields differ: " + joinPaths(paths), false
}

// fieldDetail names differing fields for the exact-bytes message when both are JSON.
func fieldDetail(a, b json.RawMessage) string {
	va, errA := decodeJSON(a)
	vb, errB := decodeJSON(b)
	if errA != nil || errB != nil {
		return ""
	}
	var paths []string
	diffPaths("", va, vb, &paths)
	if len(paths) == 0 {
		return " (same JSON value, different encoding)"
	}
	return "; fields differ: " + joinPaths(paths)
}

func joinPaths(paths []string) string {
	const most = 10
	sort.Strings(paths)
	if len(paths) > most {
		return strings.Join(paths[:most], ", ") + fmt.Sprintf(" and %d more", len(paths)-most)
	}
	return strings.Join(paths, ", ")
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// diffPaths appends the dotted paths at which a and b differ. Objects recurse; arrays and
// scalars compare whole, as the search engine treats them.
func diffPaths(prefix string, a, b any, out *[]string) {
	ma, okA := a.(map[string]any)
	mb, okB := b.(map[string]any)
	if !okA || !okB {
		if !jsonEqual(a, b) {
			*out = append(*out, orRoot(prefix))
		}
		return
	}
	for k, va := range ma {
		vb, ok := mb[k]
		if !ok {
			*out = append(*out, join(prefix, k))
			continue
		}
		diffPaths(join(prefix, k), va, vb, out)
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			*out = append(*out, join(prefix, k))
		}
	}
}

func jsonEqual(a, b any) bool {
	switch va := a.(type) {
	case []any:
		vb, ok := b.([]any)
		return ok && slices.EqualFunc(va, vb, jsonEqual)
	case map[string]any:
		vb, ok := b.(map[string]any)
		if !ok || len(va) != len(vb) {
			return false
		}
		for k, x := range va {
			y, ok := vb[k]
			if !ok || !jsonEqual(x, y) {
				return false
			}
		}
		return true
	case json.Number:
		vb, ok := b.(json.Number)
		return ok && numbersEqual(va, vb)
	default:
		return a == b
	}
}

// numbersEqual treats 1, 1.0 and 1e0 as equal, as a search engine does.
func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	fa, errA := a.Float64()
	fb, errB := b.Float64()
	return errA == nil && errB == nil && fa == fb
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func orRoot(p string) string {
	if p == "" {
		return "(whole document)"
	}
	return p
}

// side is one cluster, spoken to through the client's transport (its node pool, auth
// and TLS) with requests built here, because the typed API omits _version in hits.
type side struct {
	c      *opensearch.Client
	name   string
	paging Paging
	// bytes of request bodies sent and of answers received (as decoded, after any
	// transport compression)
	sent, received int64
}

// httpError is a non-2xx answer other than the 404s do maps to errNoIndex and
// errNotFound.
type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.body) }

// Doc is one hit of a page: the document's id, routing and versions, and its source
// when the page was asked for sources.
type Doc struct {
	ID          string
	Routing     string
	Version     int64
	SeqNo       int64
	PrimaryTerm int64
	HasSeqNo    bool // false on a cluster too old to have sequence numbers
	Source      json.RawMessage
	sort        []any // the hit's sort values: where a point in time's next page starts
}

// UnmarshalJSON tells an absent _seq_no (a cluster too old to have one) from zero.
func (h *Doc) UnmarshalJSON(b []byte) error {
	var w struct {
		ID          string          `json:"_id"`
		Routing     string          `json:"_routing"`
		Version     int64           `json:"_version"`
		SeqNo       *int64          `json:"_seq_no"`
		PrimaryTerm int64           `json:"_primary_term"`
		Source      json.RawMessage `json:"_source"`
		Sort        []any           `json:"sort"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*h = Doc{ID: w.ID, Routing: w.Routing, Version: w.Version, PrimaryTerm: w.PrimaryTerm, Source: w.Source, sort: w.Sort}
	if w.SeqNo != nil {
		h.SeqNo, h.HasSeqNo = *w.SeqNo, true
	}
	return nil
}

type mgetDoc struct {
	ID      string          `json:"_id"`
	Routing string          `json:"_routing"`
	Version int64           `json:"_version"`
	Found   bool            `json:"found"`
	Source  json.RawMessage `json:"_source"`
	Error   json.RawMessage `json:"error"`
}

// errNoIndex marks a 404 index_not_found_exception: an absent index is an empty one here.
var errNoIndex = errors.New("index not found")

func (s *side) do(ctx context.Context, method, path string, query url.Values, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding %s %s body: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
		s.sent += int64(len(b))
	}
	u := path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("building %s %s on the %s: %w", method, path, s.name, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.c.Perform(req)
	if err != nil {
		return fmt.Errorf("%s %s on the %s: %w", method, path, s.name, err)
	}
	defer resp.Body.Close()
	raw, err := readBody(resp)
	s.received += int64(len(raw))
	if err != nil {
		return fmt.Errorf("reading %s %s answer from the %s: %w", method, path, s.name, err)
	}
	if resp.StatusCode == http.StatusNotFound && bytes.Contains(raw, []byte("index_not_found_exception")) {
		return errNoIndex
	}
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s %s on the %s: HTTP 404: %s: %w", method, path, s.name, truncate(raw, 512), errNotFound)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s on the %s: %w", method, path, s.name, &httpError{status: resp.StatusCode, body: truncate(raw, 512)})
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding %s %s answer from the %s: %w", method, path, s.name, err)
	}
	return nil
}

// readBody reads an answer into a buffer of its announced length: io.ReadAll's
// doublings copied a hit of a 50 MiB document several times over.
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n <= 1<<30 {
		var b bytes.Buffer
		b.Grow(int(n) + bytes.MinRead) // ReadFrom reads the EOF without growing
		_, err := b.ReadFrom(resp.Body)
		return b.Bytes(), err
	}
	return io.ReadAll(resp.Body)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

func (s *side) indices(ctx context.Context) ([]string, error) {
	var rows []struct {
		Index string `json:"index"`
	}
	if err := s.do(ctx, http.MethodGet, "/_cat/indices", url.Values{"format": {"json"}, "h": {"index"}}, nil, &rows); err != nil {
		return nil, fmt.Errorf("listing indices: %w", err)
	}
	var out []string
	for _, r := range rows {
		if !strings.HasPrefix(r.Index, ".") {
			out = append(out, r.Index)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (s *side) refresh(ctx context.Context, index string) error {
	err := s.do(ctx, http.MethodPost, "/"+url.PathEscape(index)+"/_refresh", nil, nil, nil)
	if errors.Is(err, errNoIndex) {
		return nil
	}
	return err
}

// mget looks the hits' ids up in index, with their routing, in hit order.
func (s *side) mget(ctx context.Context, index string, hits []Doc, withSource bool) ([]mgetDoc, error) {
	docs := make([]map[string]any, len(hits))
	for i, h := range hits {
		d := map[string]any{"_id": h.ID}
		if h.Routing != "" {
			d["routing"] = h.Routing
		}
		docs[i] = d
	}
	var resp struct {
		Docs []mgetDoc `json:"docs"`
	}
	q := url.Values{"_source": {fmt.Sprint(withSource)}, "realtime": {"true"}}
	if !withSource {
		// without the source and stored fields a GET loads no stored field at all, so
		// no _routing either (ShardGetService.buildFieldsVisitors); asking for it loads
		// the metadata fields
		q.Set("stored_fields", "_routing")
	}
	err := s.do(ctx, http.MethodPost, "/"+url.PathEscape(index)+"/_mget", q, map[string]any{"docs": docs}, &resp)
	if errors.Is(err, errNoIndex) {
		return make([]mgetDoc, len(hits)), nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up %d documents in %s: %w", len(hits), index, err)
	}
	if len(resp.Docs) != len(hits) {
		return nil, fmt.Errorf("looking up %d documents in %s on the %s: got %d answers", len(hits), index, s.name, len(resp.Docs))
	}
	for i := range resp.Docs {
		if e := resp.Docs[i].Error; e != nil && !bytes.Contains(e, []byte("index_not_found_exception")) {
			return nil, fmt.Errorf("looking up %s/%s on the %s: %s", index, hits[i].ID, s.name, truncate(e, 256))
		}
	}
	return resp.Docs, nil
}
