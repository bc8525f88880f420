package replicator

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestClassifyProduce(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want produceClass
	}{
		{name: "client-side too large", err: fmt.Errorf("%w (uncompressed_bytes=1010100)", kerr.MessageTooLarge), want: produceTooLarge},
		{name: "broker record list too large", err: kerr.RecordListTooLarge, want: produceTooLarge},
		{name: "invalid record", err: kerr.InvalidRecord, want: producePermanent},
		{name: "topic authorization", err: kerr.TopicAuthorizationFailed, want: producePermanent},
		{name: "missing topic, auto-create off", err: kerr.UnknownTopicOrPartition, want: producePermanent},
		{name: "policy violation", err: kerr.PolicyViolation, want: producePermanent},
		{name: "not enough replicas", err: kerr.NotEnoughReplicas, want: produceRetriable},
		{name: "leader moved", err: kerr.NotLeaderForPartition, want: produceRetriable},
		{name: "delivery timeout", err: kgo.ErrRecordTimeout, want: produceRetriable},
		{name: "deadline", err: context.DeadlineExceeded, want: produceRetriable},
		{name: "broker unreachable", err: fmt.Errorf("unable to dial: %w", fmt.Errorf("connection refused")), want: produceRetriable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyProduce(tt.err); got != tt.want {
				t.Errorf("classifyProduce(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
