package converge

import (
	"context"
	"fmt"

	"github.com/opensearch-project/opensearch-go/v4"
)

// Scanner reads indices of one cluster through page by page as Compare does, for
// callers that need every document of an index once, in one consistent view, without
// sorting on _id: a point in time searched after its _shard_doc order where the
// release has one, a scroll elsewhere (Paging). A Scanner is used by one goroutine at a
// time.
type Scanner struct {
	s *side
}

// NewScanner chooses the paging from the cluster's release (GET /). name says which
// cluster errors are about, e.g. "target dr".
func NewScanner(ctx context.Context, c *opensearch.Client, name string) (*Scanner, error) {
	s := &side{c: c, name: name}
	if err := s.detectPaging(ctx); err != nil {
		return nil, err
	}
	return &Scanner{s: s}, nil
}

// Paging is how the Scanner reads.
func (sc *Scanner) Paging() Paging { return sc.s.paging }

// Scan calls fn with successive pages of index, of at most pageSize documents each (with
// sources when withSource), in the cluster's own order, until the index is exhausted or
// fn fails; fn's error is returned as it is. An absent index is empty. The view is the
// index as it was when the scan began. The point in time or scroll lives between two
// pages for two minutes, and is closed before Scan returns, whatever the outcome.
func (sc *Scanner) Scan(ctx context.Context, index string, pageSize int, withSource bool, fn func([]Doc) error) error {
	if pageSize <= 0 {
		return fmt.Errorf("scanning %s on the %s: page size %d is not positive", index, sc.s.name, pageSize)
	}
	return sc.s.scan(ctx, index, pageSize, withSource, fn)
}
