package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A held produce is not acknowledged, and nothing of it is written, until Release;
// then it and later ones go through.
func TestHoldProduce(t *testing.T) {
	c := NewCluster(t, WithTopic("t", 1))
	cl := c.Client(t, kgo.DefaultProduceTopic("t"))
	h := c.HoldProduce()

	acked := make(chan error, 1)
	cl.Produce(context.Background(), &kgo.Record{Value: []byte("held")}, func(_ *kgo.Record, err error) { acked <- err })
	deadline := time.Now().Add(10 * time.Second)
	for h.Held() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the produce request never reached the hold")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The request is parked in the hold: it cannot have been answered.
	select {
	case err := <-acked:
		t.Fatalf("a held record was answered: %v", err)
	default:
	}
	if recs := c.ConsumeAll(t, "t", 5*time.Second); len(recs) != 0 {
		t.Fatalf("%d records written while held", len(recs))
	}

	h.Release()
	h.Release() // harmless
	select {
	case err := <-acked:
		if err != nil {
			t.Fatalf("held record after Release: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("held record not acknowledged after Release")
	}
	c.ProduceSync(t, &kgo.Record{Topic: "t", Value: []byte("after")})
	if recs := c.ConsumeAll(t, "t", 5*time.Second); len(recs) != 2 || string(recs[0].Value) != "held" {
		t.Fatalf("after Release: %d records", len(recs))
	}
}
