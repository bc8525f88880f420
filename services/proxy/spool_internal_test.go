package proxy

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestWithoutSorted(t *testing.T) {
	for _, tt := range []struct{ a, b, want []int }{
		{a: []int{1, 2, 3}, b: nil, want: []int{1, 2, 3}},
		{a: []int{1, 2, 3}, b: []int{2}, want: []int{1, 3}},
		{a: []int{1, 2, 3}, b: []int{0, 1, 2, 3, 4}, want: []int{}},
		{a: []int{4, 7}, b: []int{5, 6}, want: []int{4, 7}},
		{a: nil, b: []int{1}, want: []int{}},
	} {
		if got := withoutSorted(tt.a, tt.b); !slices.Equal(got, tt.want) {
			t.Errorf("withoutSorted(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestRefusedForGood: only refusals of the record itself keep an event out of the
// spool; Kafka being unavailable, slow or not letting the proxy in spools it.
func TestRefusedForGood(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{kerr.MessageTooLarge, true},
		{fmt.Errorf("producing: %w", kerr.RecordListTooLarge), true},
		{kerr.InvalidRecord, true},
		{kerr.NotEnoughReplicas, false},
		{kerr.TopicAuthorizationFailed, false},
		{kgo.ErrRecordTimeout, false},
		{fmt.Errorf("%w within 1s", errNoAck), false},
	} {
		if got := refusedForGood(tt.err); got != tt.want {
			t.Errorf("refusedForGood(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
