package converge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
)

// quotas shares Options.Sample among the indices in proportion to their document
// counts (the larger of the two sides, so that an index empty on the primary is still
// checked for extra documents), by largest remainder: the quotas add up to the sample,
// or to every document when there are fewer.
func (c *comparison) quotas(ctx context.Context, indices []string) ([]int, error) {
	rename := c.opts.ReplicaIndex
	if rename == nil {
		rename = func(s string) string { return s }
	}
	weights := make([]int, len(indices))
	total := 0
	for i, ix := range indices {
		pc, err := c.p.count(ctx, ix)
		if err != nil {
			return nil, err
		}
		rc, err := c.r.count(ctx, rename(ix))
		if err != nil {
			return nil, err
		}
		weights[i] = max(pc, rc)
		total += weights[i]
	}
	return shareOut(c.opts.Sample, weights, total), nil
}

// shareOut splits n over weights (summing to total) by largest remainder.
func shareOut(n int, weights []int, total int) []int {
	out := make([]int, len(weights))
	if total == 0 {
		return out
	}
	if n >= total {
		copy(out, weights)
		return out
	}
	type rem struct{ i, r int }
	rems := make([]rem, len(weights))
	given := 0
	for i, w := range weights {
		out[i] = n * w / total
		rems[i] = rem{i, n * w % total}
		given += out[i]
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for k := 0; given < n; k++ {
		out[rems[k].i]++
		given++
	}
	return out
}

// errSampled ends a sampling scan once its quota is taken.
var errSampled = errors.New("sample taken")

// sampleScan pages through index without sources and calls fn with batches of up to
// pageSize of quota documents spread evenly over its count documents in paging order.
func sampleScan(ctx context.Context, s *side, index string, pageSize, count, quota int, fn func([]Doc) error) error {
	if quota <= 0 || count <= 0 {
		return nil
	}
	stride := max(float64(count)/float64(quota), 1)
	next := stride / 2
	k, taken := 0, 0
	batch := make([]Doc, 0, min(pageSize, quota))
	err := s.scan(ctx, index, pageSize, false, func(page []Doc) error {
		for i := range page {
			if float64(k) >= next-0.5 {
				batch = append(batch, page[i])
				taken++
				next += stride
			}
			k++
			if len(batch) == pageSize {
				if err := fn(batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
			if taken == quota {
				return errSampled
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errSampled) {
		return err
	}
	if len(batch) > 0 {
		return fn(batch)
	}
	return nil
}

// count is the number of documents of index; an absent one has none.
func (s *side) count(ctx context.Context, index string) (int, error) {
	var resp struct {
		Count int `json:"count"`
	}
	err := s.do(ctx, http.MethodGet, "/"+url.PathEscape(index)+"/_count", nil, nil, &resp)
	if errors.Is(err, errNoIndex) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("counting the documents of %s: %w", index, err)
	}
	return resp.Count, nil
}
