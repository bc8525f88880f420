package converge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Paging is how one side is read through: a point in time searched after its
// _shard_doc order, or a scroll in _doc order. Neither sorts on _id, which
// Elasticsearch 8 refuses (indices.id_field_data.enabled is false by default) and
// OpenSearch and Elasticsearch 7 load as deprecated field data.
type Paging string

const (
	// PagingPIT is Elasticsearch's point in time with search_after on _shard_doc
	// (Elasticsearch 7.12 and later).
	PagingPIT Paging = "pit"
	// PagingScroll is a scroll sorted on _doc, which every supported release has. It is
	// used where _shard_doc is missing: OpenSearch before 3.3 has points in time but no
	// _shard_doc, and search_after on _doc alone skips documents of other shards that
	// share the last hit's doc number.
	PagingScroll Paging = "scroll"
)

// keepAlive is how long an unused point in time or scroll lives between two pages:
// long enough for a page's lookups on the other side, short enough that one left by a
// killed process goes soon.
const keepAlive = "2m"

// closeTimeout bounds the close of a point in time or scroll, which runs even when the
// comparison's context is cancelled.
const closeTimeout = 10 * time.Second

// pagingFor chooses the paging of a release as GET / describes it.
func pagingFor(distribution, number string) Paging {
	major, minor, ok := majorMinor(number)
	if !ok {
		return PagingScroll
	}
	if distribution == "opensearch" {
		// OpenSearch has _shard_doc from 3.3 (ShardDocSortBuilder, PR #18924); before,
		// a point in time can only be paged on fields of the documents. Scroll until
		// the emulator models a release that has it.
		return PagingScroll
	}
	if major > 7 || major == 7 && minor >= 12 {
		return PagingPIT
	}
	return PagingScroll
}

func majorMinor(number string) (int, int, bool) {
	parts := strings.SplitN(number, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}

// detectPaging reads the side's release from GET /. A cluster that does not answer it
// (a proxy that serves only the data APIs) is scrolled: every release can.
func (s *side) detectPaging(ctx context.Context) error {
	var root struct {
		Version struct {
			Distribution string `json:"distribution"`
			Number       string `json:"number"`
		} `json:"version"`
	}
	err := s.do(ctx, http.MethodGet, "/", nil, nil, &root)
	var he *httpError
	switch {
	case errors.As(err, &he), errors.Is(err, errNotFound):
		s.paging = PagingScroll
		return nil
	case err != nil:
		return fmt.Errorf("reading the %s's release: %w", s.name, err)
	}
	s.paging = pagingFor(root.Version.Distribution, root.Version.Number)
	return nil
}

// searchBody is the page request: ids, routing, versions and, when asked, sources.
func searchBody(pageSize int, withSource bool, sort any) map[string]any {
	return map[string]any{
		"size":                pageSize,
		"query":               map[string]any{"match_all": map[string]any{}},
		"sort":                sort,
		"version":             true,
		"seq_no_primary_term": true,
		"track_total_hits":    false,
		"_source":             withSource,
	}
}

type pageResp struct {
	PitID    string `json:"pit_id"`
	ScrollID string `json:"_scroll_id"`
	Hits     struct {
		Hits []Doc `json:"hits"`
	} `json:"hits"`
}

// scan calls fn with successive pages of index, in no particular order, until the index
// is exhausted or fn fails. An absent index is empty. The point in time or scroll is
// closed before scan returns, whatever the outcome.
func (s *side) scan(ctx context.Context, index string, pageSize int, withSource bool, fn func([]Doc) error) error {
	if s.paging == PagingPIT {
		return s.scanPIT(ctx, index, pageSize, withSource, fn)
	}
	return s.scanScroll(ctx, index, pageSize, withSource, fn)
}

func (s *side) scanPIT(ctx context.Context, index string, pageSize int, withSource bool, fn func([]Doc) error) (err error) {
	var open struct {
		ID string `json:"id"`
	}
	err = s.do(ctx, http.MethodPost, "/"+url.PathEscape(index)+"/_pit", url.Values{"keep_alive": {keepAlive}}, nil, &open)
	if errors.Is(err, errNoIndex) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening a point in time on %s: %w", index, err)
	}
	if open.ID == "" {
		return fmt.Errorf("opening a point in time on %s on the %s: the answer has no id", index, s.name)
	}
	id := open.ID
	defer func() {
		if cerr := s.closePIT(ctx, id); cerr != nil && err == nil {
			err = cerr
		}
	}()
	var after []any
	for {
		body := searchBody(pageSize, withSource, []any{map[string]any{"_shard_doc": "asc"}})
		body["pit"] = map[string]any{"id": id, "keep_alive": keepAlive}
		if after != nil {
			body["search_after"] = after
		}
		var resp pageResp
		if err := s.do(ctx, http.MethodPost, "/_search", nil, body, &resp); err != nil {
			return fmt.Errorf("paging through %s: %w", index, err)
		}
		// the id may change from page to page; the last one names the point in time
		if resp.PitID != "" {
			id = resp.PitID
		}
		hits := resp.Hits.Hits
		if len(hits) == 0 {
			return nil
		}
		if err := fn(hits); err != nil {
			return err
		}
		last := hits[len(hits)-1]
		if len(last.sort) == 0 {
			return fmt.Errorf("paging through %s on the %s: hits carry no sort values", index, s.name)
		}
		after = last.sort
		if len(hits) < pageSize {
			return nil
		}
	}
}

// closePIT closes a point in time even when ctx is cancelled. One already gone (it
// expired) is not an error.
func (s *side) closePIT(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	err := s.do(ctx, http.MethodDelete, "/_pit", nil, map[string]any{"id": id}, nil)
	if err != nil && !errors.Is(err, errNotFound) {
		return fmt.Errorf("closing a point in time: %w", err)
	}
	return nil
}

func (s *side) scanScroll(ctx context.Context, index string, pageSize int, withSource bool, fn func([]Doc) error) (err error) {
	var resp pageResp
	body := searchBody(pageSize, withSource, []any{"_doc"})
	// a scroll counts every hit: SearchRequest.validate refuses track_total_hits false
	delete(body, "track_total_hits")
	err = s.do(ctx, http.MethodPost, "/"+url.PathEscape(index)+"/_search", url.Values{"scroll": {keepAlive}}, body, &resp)
	if errors.Is(err, errNoIndex) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("paging through %s: %w", index, err)
	}
	// every id a page returned, cleared at the end: releases may hand out a new one
	// with a page (normally it stays the same, so this stays one id long)
	var ids []string
	note := func(id string) {
		if id != "" && (len(ids) == 0 || ids[len(ids)-1] != id) {
			ids = append(ids, id)
		}
	}
	note(resp.ScrollID)
	defer func() {
		if cerr := s.clearScroll(ctx, ids); cerr != nil && err == nil {
			err = cerr
		}
	}()
	for {
		hits := resp.Hits.Hits
		if len(hits) == 0 {
			return nil
		}
		if err := fn(hits); err != nil {
			return err
		}
		if len(hits) < pageSize {
			return nil
		}
		if len(ids) == 0 {
			return fmt.Errorf("paging through %s on the %s: the answer has no scroll id", index, s.name)
		}
		resp = pageResp{}
		body := map[string]any{"scroll": keepAlive, "scroll_id": ids[len(ids)-1]}
		if err := s.do(ctx, http.MethodPost, "/_search/scroll", nil, body, &resp); err != nil {
			return fmt.Errorf("paging through %s: %w", index, err)
		}
		note(resp.ScrollID)
	}
}

// clearScroll clears scrolls even when ctx is cancelled; ones already gone are not an
// error (the cluster answers 404).
func (s *side) clearScroll(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	err := s.do(ctx, http.MethodDelete, "/_search/scroll", nil, map[string]any{"scroll_id": ids}, nil)
	if err != nil && !errors.Is(err, errNotFound) {
		return fmt.Errorf("clearing a scroll: %w", err)
	}
	return nil
}
