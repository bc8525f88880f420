package converge

import (
	"fmt"
	"testing"
)

func TestPagingFor(t *testing.T) {
	tests := []struct {
		distribution, number string
		want                 Paging
	}{
		{"", "8.15.0", PagingPIT},
		{"", "9.0.0", PagingPIT},
		{"", "7.12.0", PagingPIT},    // _shard_doc arrived in 7.12
		{"", "7.11.2", PagingScroll}, // points in time, no _shard_doc
		{"", "7.10.2", PagingScroll},
		{"", "6.8.23", PagingScroll},
		{"opensearch", "1.3.20", PagingScroll},
		{"opensearch", "2.11.0", PagingScroll}, // points in time, no _shard_doc
		{"opensearch", "3.0.0", PagingScroll},
		{"", "", PagingScroll}, // an answer without a version
		{"", "eight", PagingScroll},
	}
	for _, tt := range tests {
		if got := pagingFor(tt.distribution, tt.number); got != tt.want {
			t.Errorf("pagingFor(%q, %q) = %s, want %s", tt.distribution, tt.number, got, tt.want)
		}
	}
}

func TestShareOut(t *testing.T) {
	tests := []struct {
		n       int
		weights []int
		want    []int
	}{
		{100, []int{700, 300}, []int{70, 30}},
		{10, []int{1, 1, 1}, []int{1, 1, 1}}, // fewer documents than the sample: all of them
		{2, []int{5, 3, 2}, []int{1, 1, 0}},  // largest remainders first
		{7, []int{0, 10}, []int{0, 7}},
		{5, []int{0, 0}, []int{0, 0}},
		{3, []int{1, 1, 1, 1, 1, 1}, []int{1, 1, 1, 0, 0, 0}}, // ties: index order
	}
	for _, tt := range tests {
		total := 0
		for _, w := range tt.weights {
			total += w
		}
		got := shareOut(tt.n, tt.weights, total)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("shareOut(%d, %v) = %v, want %v", tt.n, tt.weights, got, tt.want)
		}
		sum := 0
		for _, q := range got {
			sum += q
		}
		if sum != min(tt.n, total) {
			t.Errorf("shareOut(%d, %v) sums to %d, want %d", tt.n, tt.weights, sum, min(tt.n, total))
		}
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Full, "full": Full, "fast": Fast} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"FAST", "quick", " fast"} {
		if _, err := ParseMode(bad); err == nil {
			t.Errorf("ParseMode(%q): want an error", bad)
		}
	}
}
