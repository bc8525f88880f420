package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

// kfake and kgo clients start goroutines; every test must leave none behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestNewClusterSeedsTopics(t *testing.T) {
	c := NewCluster(t, WithTopic("fanout.ops", 4), WithTopic("fanout.ops.dlq.b", 1))
	adm := kadm.NewClient(c.Client(t))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	details, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatalf("listing topics: %v", err)
	}
	want := map[string]int{"fanout.ops": 4, "fanout.ops.dlq.b": 1}
	got := map[string]int{}
	for name, d := range details {
		got[name] = len(d.Partitions)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("topics = %v, want %v", got, want)
	}
}

func TestNewClusterBrokers(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want int
	}{
		{name: "default is one broker", want: 1},
		{name: "three brokers", opts: []Option{WithBrokers(3)}, want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCluster(t, tt.opts...)
			addrs := c.Addrs()
			if len(addrs) != tt.want {
				t.Fatalf("Addrs() = %v, want %d addresses", addrs, tt.want)
			}
			for _, a := range addrs {
				host, _, err := net.SplitHostPort(a)
				if err != nil || host != "127.0.0.1" {
					t.Errorf("broker address %q is not on 127.0.0.1 (%v)", a, err)
				}
			}
			// Addrs hands out a copy.
			addrs[0] = "mutated"
			if c.Addrs()[0] == "mutated" {
				t.Error("Addrs() exposes the cluster's slice")
			}
			adm := kadm.NewClient(c.Client(t))
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			meta, err := adm.BrokerMetadata(ctx)
			if err != nil {
				t.Fatalf("broker metadata: %v", err)
			}
			if len(meta.Brokers) != tt.want {
				t.Errorf("cluster reports %d brokers, want %d", len(meta.Brokers), tt.want)
			}
		})
	}
}

// fatalTB records a Fatalf and stops the calling goroutine as testing.T
// does, so that option validation can be tested.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func TestNewClusterRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{name: "zero partitions", opts: []Option{WithTopic("t", 0)}, want: "at least one partition"},
		{name: "empty topic name", opts: []Option{WithTopic("", 1)}, want: "need a name"},
		{name: "no brokers", opts: []Option{WithBrokers(0)}, want: "at least one broker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ftb := &fatalTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				NewCluster(ftb, tt.opts...)
			}()
			<-done
			ftb.mu.Lock()
			defer ftb.mu.Unlock()
			if !strings.Contains(ftb.msg, tt.want) {
				t.Errorf("NewCluster failed with %q, want a message containing %q", ftb.msg, tt.want)
			}
		})
	}
}

func TestClientClosedOnCleanup(t *testing.T) {
	c := NewCluster(t, WithTopic("t", 1))
	var cl *kgo.Client
	t.Run("owner", func(t *testing.T) {
		cl = c.Client(t, kgo.DefaultProduceTopic("t"))
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if err := cl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr(); err != nil {
			t.Fatalf("producing with the client: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr(); !errors.Is(err, kgo.ErrClientClosed) {
		t.Errorf("produce after the owning test ended = %v, want ErrClientClosed", err)
	}
}

func TestProduceSyncThenConsume(t *testing.T) {
	const topic, n = "fanout.ops", 30
	c := NewCluster(t, WithTopic(topic, 3))
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%7), Value: fmt.Appendf(nil, "v%02d", i)})
	}
	c.ProduceSync(t, rs...)
	for _, r := range rs {
		if r.Offset < 0 || r.Partition < 0 || r.Partition > 2 {
			t.Fatalf("record %s not filled in: partition %d offset %d", r.Value, r.Partition, r.Offset)
		}
	}

	got := c.Consume(t, topic, n, 5*time.Second)
	if len(got) != n {
		t.Fatalf("Consume returned %d records, want %d", len(got), n)
	}
	var values []string
	lastOffset := map[int32]int64{}
	for _, r := range got {
		values = append(values, string(r.Value))
		if last, ok := lastOffset[r.Partition]; ok && r.Offset <= last {
			t.Errorf("partition %d: offset %d after %d", r.Partition, r.Offset, last)
		}
		lastOffset[r.Partition] = r.Offset
	}
	slices.Sort(values)
	for i, v := range values {
		if want := fmt.Sprintf("v%02d", i); v != want {
			t.Fatalf("consumed values %v, want v00..v%02d", values, n-1)
		}
	}
}

func TestConsumeStopsAtDeadline(t *testing.T) {
	const topic = "t"
	c := NewCluster(t, WithTopic(topic, 2), WithTopic("empty", 1))
	c.ProduceSync(t,
		&kgo.Record{Topic: topic, Value: []byte("a")},
		&kgo.Record{Topic: topic, Value: []byte("b")},
	)
	tests := []struct {
		name  string
		topic string
		n     int
		want  int
	}{
		{name: "fewer records than asked", topic: topic, n: 5, want: 2},
		{name: "empty topic", topic: "empty", n: 1, want: 0},
		{name: "topic that does not exist", topic: "missing", n: 1, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const timeout = 400 * time.Millisecond
			start := time.Now()
			got := c.Consume(t, tt.topic, tt.n, timeout)
			took := time.Since(start)
			if len(got) != tt.want {
				t.Errorf("Consume returned %d records, want %d", len(got), tt.want)
			}
			if took < timeout || took > timeout+3*time.Second {
				t.Errorf("Consume took %v with a %v timeout", took, timeout)
			}
		})
	}

	t.Run("returns as soon as n arrived", func(t *testing.T) {
		start := time.Now()
		got := c.Consume(t, topic, 2, 10*time.Second)
		if len(got) != 2 {
			t.Fatalf("Consume returned %d records, want 2", len(got))
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Consume took %v for records already there", took)
		}
	})

	t.Run("never more than n", func(t *testing.T) {
		if got := c.Consume(t, topic, 1, 5*time.Second); len(got) != 1 {
			t.Errorf("Consume(n=1) returned %d records", len(got))
		}
	})
}

func TestConsumeSeesRecordsProducedLater(t *testing.T) {
	const topic = "t"
	c := NewCluster(t, WithTopic(topic, 1))
	cl := c.Client(t, kgo.DefaultProduceTopic(topic))
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // runs before the client's cleanup closes it
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(300 * time.Millisecond)
		// The result is checked through Consume; a failure here shows
		// as a missing record.
		cl.Produce(context.Background(), kgo.StringRecord("late"), nil)
	}()
	got := c.Consume(t, topic, 1, 5*time.Second)
	if len(got) != 1 || string(got[0].Value) != "late" {
		t.Fatalf("Consume = %v, want the record produced while it waited", got)
	}
}

func TestFailProduce(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		err       *kerr.Error
		opts      []kgo.Opt
		wantFirst error // error of the first ProduceSync, nil when kgo retries through
	}{
		{name: "retriable error is retried through", n: 3, err: kerr.NotEnoughReplicas},
		{name: "retriable leader error", n: 1, err: kerr.NotLeaderForPartition},
		{name: "non-retriable error fails the records", n: 1, err: kerr.MessageTooLarge, wantFirst: kerr.MessageTooLarge},
		{
			name: "non-idempotent producer", n: 1, err: kerr.InvalidRecord,
			opts: []kgo.Opt{kgo.DisableIdempotentWrite()}, wantFirst: kerr.InvalidRecord,
		},
		{name: "nil error means unknown server error", n: 1, err: nil, wantFirst: kerr.UnknownServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each has its own cluster
			const topic = "t"
			c := NewCluster(t, WithTopic(topic, 2))
			f := c.FailProduce(tt.n, tt.err)
			cl := c.Client(t, append([]kgo.Opt{kgo.DefaultProduceTopic(topic)}, tt.opts...)...)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()

			err := cl.ProduceSync(ctx, kgo.StringRecord("first")).FirstErr()
			if tt.wantFirst == nil && err != nil {
				t.Fatalf("first produce: %v, want success after retries", err)
			}
			if tt.wantFirst != nil && !errors.Is(err, tt.wantFirst) {
				t.Fatalf("first produce: %v, want %v", err, tt.wantFirst)
			}
			if err := f.Wait(ctx); err != nil {
				t.Fatalf("fault not used up: %v", err)
			}
			if f.Hits() != tt.n {
				t.Errorf("Hits() = %d, want %d", f.Hits(), tt.n)
			}
			// The fault is spent: the next produce goes through.
			if err := cl.ProduceSync(ctx, kgo.StringRecord("second")).FirstErr(); err != nil {
				t.Fatalf("produce after the fault: %v", err)
			}
			if f.Hits() != tt.n {
				t.Errorf("Hits() = %d after the fault was spent, want %d", f.Hits(), tt.n)
			}

			var want []string
			if tt.wantFirst == nil {
				want = append(want, "first")
			}
			want = append(want, "second")
			var got []string
			for _, r := range c.ConsumeAll(t, topic, 10*time.Second) {
				got = append(got, string(r.Value))
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("topic holds %v, want %v", got, want)
			}
		})
	}
}

func TestFailProduceUntilRemoved(t *testing.T) {
	const topic = "t"
	c := NewCluster(t, WithTopic(topic, 1))
	f := c.FailProduce(0, kerr.NotEnoughReplicas)
	cl := c.Client(t, kgo.DefaultProduceTopic(topic),
		// Stand-in for the proxy's publish deadline.
		kgo.RecordDeliveryTimeout(time.Second))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	if err := cl.ProduceSync(ctx, kgo.StringRecord("lost")).FirstErr(); err == nil {
		t.Fatal("produce succeeded while every request fails")
	}
	if h := f.Hits(); h < 2 {
		t.Errorf("Hits() = %d, want the retries counted too", h)
	}
	select {
	case <-f.Done():
		t.Error("Done closed for a fault without a count")
	default:
	}

	f.Remove()
	if err := cl.ProduceSync(ctx, kgo.StringRecord("kept")).FirstErr(); err != nil {
		t.Fatalf("produce after Remove: %v", err)
	}
	got := c.ConsumeAll(t, topic, 10*time.Second)
	if len(got) != 1 || string(got[0].Value) != "kept" {
		t.Errorf("topic holds %d records (%v), want only \"kept\"", len(got), got)
	}
}

func TestFailProduceWaitTimesOut(t *testing.T) {
	c := NewCluster(t)
	f := c.FailProduce(1, kerr.NotEnoughReplicas)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := f.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait without produce requests = %v, want a deadline error", err)
	}
}

func TestFailProduceStacks(t *testing.T) {
	// Two faults run one after the other, the first added first.
	const topic = "t"
	c := NewCluster(t, WithTopic(topic, 1))
	first := c.FailProduce(1, kerr.MessageTooLarge)
	second := c.FailProduce(1, kerr.InvalidRecord)
	cl := c.Client(t, kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	for i, want := range []error{kerr.MessageTooLarge, kerr.InvalidRecord, nil} {
		err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr()
		if !errors.Is(err, want) {
			t.Fatalf("produce %d: %v, want %v", i, err, want)
		}
	}
	if first.Hits() != 1 || second.Hits() != 1 {
		t.Errorf("hits = %d, %d, want 1, 1", first.Hits(), second.Hits())
	}
}

func TestProduceSyncFailsTheTest(t *testing.T) {
	c := NewCluster(t, WithTopic("t", 1))
	c.FailProduce(1, kerr.MessageTooLarge)
	ftb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.ProduceSync(ftb, &kgo.Record{Topic: "t", Value: []byte("v")})
	}()
	<-done
	ftb.mu.Lock()
	defer ftb.mu.Unlock()
	if !strings.Contains(ftb.msg, "MESSAGE_TOO_LARGE") {
		t.Errorf("ProduceSync failed the test with %q, want the produce error", ftb.msg)
	}
}

func TestConsumeAll(t *testing.T) {
	const topic = "t"
	c := NewCluster(t, WithTopic(topic, 3))
	if got := c.ConsumeAll(t, topic, 10*time.Second); len(got) != 0 {
		t.Fatalf("empty topic gave %d records", len(got))
	}
	if got := c.ConsumeAll(t, "missing", 10*time.Second); got != nil {
		t.Fatalf("missing topic gave %d records", len(got))
	}
	cl := c.Client(t, kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var want []string
	for i := range 7 {
		v := fmt.Sprintf("r%d", i)
		want = append(want, v)
		if err := cl.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, r := range c.ConsumeAll(t, topic, 10*time.Second) {
		got = append(got, string(r.Value))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("ConsumeAll = %v, want %v", got, want)
	}
}
