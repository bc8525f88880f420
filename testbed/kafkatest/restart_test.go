package kafkatest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Stop refuses connections (a produce fails), Start brings the cluster back on the
// same address with its records and the groups' committed offsets, and a client
// created before the outage goes on with it.
func TestStopStartKeepsState(t *testing.T) {
	c := NewCluster(t, WithTopic("t", 2), WithDataDir(t.TempDir()))
	addrs := c.Addrs()
	c.ProduceSync(t, &kgo.Record{Topic: "t", Value: []byte("before-1")}, &kgo.Record{Topic: "t", Value: []byte("before-2")})
	cl := c.Client(t, kgo.DefaultProduceTopic("t"), kgo.RecordDeliveryTimeout(time.Minute))
	adm := kadm.NewClient(cl)
	ctx := t.Context()
	if _, err := adm.CommitOffsets(ctx, "g", kadm.OffsetsFromRecords(kgo.Record{Topic: "t", Partition: 0, Offset: 7})); err != nil {
		t.Fatalf("committing an offset: %v", err)
	}

	c.Stop()
	short, cancel := context.WithTimeout(ctx, time.Second)
	err := c.Client(t, kgo.DefaultProduceTopic("t")).ProduceSync(short, &kgo.Record{Value: []byte("during")}).FirstErr()
	cancel()
	if err == nil {
		t.Fatal("a produce to the stopped cluster succeeded")
	}
	// A record produced during the outage by a client with a long delivery timeout is
	// written once the cluster is back.
	done := make(chan error, 1)
	cl.Produce(ctx, &kgo.Record{Value: []byte("across")}, func(_ *kgo.Record, err error) { done <- err })
	time.Sleep(500 * time.Millisecond)

	c.Start(t)
	if got := c.Addrs(); len(got) != len(addrs) || got[0] != addrs[0] {
		t.Fatalf("restarted on %v, was %v", got, addrs)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the record produced across the outage: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the record produced across the outage was not acknowledged after Start")
	}
	recs := c.ConsumeAll(t, "t", 10*time.Second)
	got := map[string]bool{}
	for _, r := range recs {
		got[string(r.Value)] = true
	}
	for _, want := range []string{"before-1", "before-2", "across"} {
		if !got[want] {
			t.Errorf("record %q not in the topic after the restart (have %d records)", want, len(recs))
		}
	}
	offs, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatalf("fetching the group's offsets: %v", err)
	}
	if o, ok := offs.Lookup("t", 0); !ok || o.At != 8 {
		t.Errorf("committed offset after the restart = %+v (found %v), want 8 (the record after offset 7)", o, ok)
	}
}

func TestStartNeedsDataDir(t *testing.T) {
	c := NewCluster(t)
	c.Stop()
	ftb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Start(ftb)
	}()
	<-done
	ftb.mu.Lock()
	defer ftb.mu.Unlock()
	if !strings.Contains(ftb.msg, "WithDataDir") {
		t.Errorf("Start without a data directory failed with %q, want a message naming WithDataDir", ftb.msg)
	}
}
