// Package converge compares two search clusters document by document through their REST
// APIs: the check that ends every end-to-end test of fanout and backs `fanoutctl verify`.
//
// The comparison pages through each side with search_after sorted on _id and looks the
// other side up with _mget. It never assumes both clusters sort _id the same way: real
// clusters sort _id by its encoded Lucene form, which differs from plain string order and
// may differ between vendors. So it makes two passes, primary → replica (missing and
// differing documents) and replica → primary (extra documents), in constant memory.
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
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

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
	// Indices to compare, as named on the primary. Empty means every index the primary
	// lists, except hidden ones (names starting with ".") and those Include refuses.
	Indices []string
	// Include, when set, chooses which of the primary's listed indices are compared
	// (a replica that replicates only some indices). Extra replica indices are then not
	// reported: the replica may hold indices of its own.
	Include func(index string) bool
	// ReplicaIndex maps a primary index name to the replica's; nil keeps the name.
	ReplicaIndex func(string) string
	// ExpectVersion, when set, also compares the replica's _version with the one it
	// returns for the primary document.
	ExpectVersion VersionFunc
	// ExactBytes compares sources byte for byte; otherwise they are compared as JSON
	// values (key order and white space do not matter).
	ExactBytes bool
	// Refresh refreshes the compared indices on both sides first, so that search sees
	// every acknowledged write.
	Refresh bool
	// PageSize is the number of documents per search page and _mget; default 1000.
	PageSize int
	// MaxDiffs caps the differences kept in Report.Diffs; the counts stay exact.
	// Default 1000.
	MaxDiffs int
}

// Diff is one document that is not the same on both sides.
type Diff struct {
	Kind         Kind   `json:"kind"`
	Index        string `json:"index"`
	ReplicaIndex string `json:"replica_index"`
	ID           string `json:"id"`
	// Detail says what differs, e.g. the fields or the two versions.
	Detail string `json:"detail,omitempty"`
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
	Compared  int      `json:"compared"` // documents on the primary
	Missing   int      `json:"missing"`
	Extra     int      `json:"extra"`
	Different int      `json:"different"` // source, version or routing
	Diffs     []Diff   `json:"diffs,omitempty"`
	// ExtraIndices are replica indices that no compared primary index maps to; only
	// filled when Options.Indices and Options.Include are both unset.
	ExtraIndices []string `json:"extra_indices,omitempty"`
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

func (r *Report) add(d Diff) {
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
}

// Compare compares the replica with the primary.
func Compare(ctx context.Context, primary, replica *opensearch.Client, opts Options) (*Report, error) {
	if opts.PageSize <= 0 {
		opts.PageSize = 1000
	}
	if opts.MaxDiffs <= 0 {
		opts.MaxDiffs = 1000
	}
	rename := opts.ReplicaIndex
	if rename == nil {
		rename = func(s string) string { return s }
	}
	p := &side{c: primary, name: "primary"}
	r := &side{c: replica, name: "replica"}

	rep := &Report{maxDiffs: opts.MaxDiffs}
	indices := opts.Indices
	if len(indices) == 0 {
		var err error
		if indices, err = p.indices(ctx); err != nil {
			return nil, err
		}
		if opts.Include != nil {
			indices = slices.DeleteFunc(indices, func(ix string) bool { return !opts.Include(ix) })
		}
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

	for _, ix := range indices {
		rix := rename(ix)
		if opts.Refresh {
			if err := p.refresh(ctx, ix); err != nil {
				return nil, err
			}
			if err := r.refresh(ctx, rix); err != nil {
				return nil, err
			}
		}
		if err := compareForward(ctx, p, r, ix, rix, opts, rep); err != nil {
			return nil, err
		}
		if err := compareBackward(ctx, p, r, ix, rix, opts, rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// compareForward pages through the primary and looks every document up on the replica.
func compareForward(ctx context.Context, p, r *side, ix, rix string, opts Options, rep *Report) error {
	return p.scan(ctx, ix, opts.PageSize, true, func(hits []hit) error {
		rep.Compared += len(hits)
		docs, err := r.mget(ctx, rix, hits, true)
		if err != nil {
			return err
		}
		for i := range hits {
			ph, rd := &hits[i], &docs[i]
			d := Diff{Index: ix, ReplicaIndex: rix, ID: ph.ID}
			switch {
			case !rd.Found:
				d.Kind = Missing
			case ph.Routing != rd.Routing:
				d.Kind, d.Detail = Routing, fmt.Sprintf("routing %q on the primary, %q on the replica", ph.Routing, rd.Routing)
			default:
				if detail, same := sameSource(ph.Source, rd.Source, opts.ExactBytes); !same {
					d.Kind, d.Detail = Source, detail
					break
				}
				if opts.ExpectVersion == nil {
					continue
				}
				want := opts.ExpectVersion(DocVersion{Version: ph.Version, SeqNo: ph.SeqNo, PrimaryTerm: ph.PrimaryTerm, HasSeqNo: ph.HasSeqNo})
				if rd.Version == want {
					continue
				}
				d.Kind, d.Detail = Version, fmt.Sprintf("replica _version %d, expected %d (primary _version %d, _seq_no %d, _primary_term %d)",
					rd.Version, want, ph.Version, ph.SeqNo, ph.PrimaryTerm)
			}
			rep.add(d)
		}
		return nil
	})
}

// compareBackward pages through the replica and reports what the primary does not have.
func compareBackward(ctx context.Context, p, r *side, ix, rix string, opts Options, rep *Report) error {
	return r.scan(ctx, rix, opts.PageSize, false, func(hits []hit) error {
		docs, err := p.mget(ctx, ix, hits, false)
		if err != nil {
			return err
		}
		for i := range hits {
			if !docs[i].Found {
				rep.add(Diff{Kind: Extra, Index: ix, ReplicaIndex: rix, ID: hits[i].ID})
			}
		}
		return nil
	})
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
	c    *opensearch.Client
	name string
}

type hit struct {
	ID          string
	Routing     string
	Version     int64
	SeqNo       int64
	PrimaryTerm int64
	HasSeqNo    bool
	Source      json.RawMessage
	Sort        []any
}

// UnmarshalJSON tells an absent _seq_no (a cluster too old to have one) from zero.
func (h *hit) UnmarshalJSON(b []byte) error {
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
	*h = hit{ID: w.ID, Routing: w.Routing, Version: w.Version, PrimaryTerm: w.PrimaryTerm, Source: w.Source, Sort: w.Sort}
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
	raw, err := io.ReadAll(resp.Body)
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
		return fmt.Errorf("%s %s on the %s: HTTP %d: %s", method, path, s.name, resp.StatusCode, truncate(raw, 512))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding %s %s answer from the %s: %w", method, path, s.name, err)
	}
	return nil
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

// scan calls fn with successive pages of index, sorted on _id, until the index is
// exhausted. An absent index is empty.
func (s *side) scan(ctx context.Context, index string, pageSize int, withSource bool, fn func([]hit) error) error {
	var after []any
	for {
		body := map[string]any{
			"size":                pageSize,
			"query":               map[string]any{"match_all": map[string]any{}},
			"sort":                []any{map[string]any{"_id": "asc"}},
			"version":             true,
			"seq_no_primary_term": true,
			"track_total_hits":    false,
			"_source":             withSource,
		}
		if after != nil {
			body["search_after"] = after
		}
		var resp struct {
			Hits struct {
				Hits []hit `json:"hits"`
			} `json:"hits"`
		}
		err := s.do(ctx, http.MethodPost, "/"+url.PathEscape(index)+"/_search", nil, body, &resp)
		if errors.Is(err, errNoIndex) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("paging through %s: %w", index, err)
		}
		if len(resp.Hits.Hits) == 0 {
			return nil
		}
		hits := resp.Hits.Hits
		if err := fn(hits); err != nil {
			return err
		}
		last := hits[len(hits)-1]
		if len(last.Sort) == 0 {
			return fmt.Errorf("paging through %s on the %s: hits carry no sort values", index, s.name)
		}
		after = last.Sort
		if len(hits) < pageSize {
			return nil
		}
	}
}

// mget looks the hits' ids up in index, with their routing, in hit order.
func (s *side) mget(ctx context.Context, index string, hits []hit, withSource bool) ([]mgetDoc, error) {
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
