// Package kafkatest runs an in-process Kafka cluster (franz-go's kfake) for
// the tests of every fanout module: one helper that starts it on 127.0.0.1,
// seeds topics, hands out clients, and closes everything through t.Cleanup.
//
//	c := kafkatest.NewCluster(t, kafkatest.WithTopic("fanout.ops", 4))
//	cl := c.Client(t, kgo.DefaultProduceTopic("fanout.ops"))
//	c.FailProduce(2, kerr.NotEnoughReplicas) // the next two produce requests fail
//	recs := c.Consume(t, "fanout.ops", 10, 5*time.Second)
//
// Packages whose tests use it start goroutines (kfake's and the clients'),
// so they should run goleak.VerifyTestMain.
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// DefaultTimeout bounds ProduceSync; Consume takes its own.
	DefaultTimeout = 10 * time.Second
	// TestRetryBackoff is the retry backoff and metadata minimum age of
	// the clients this package creates (see Cluster.Client).
	TestRetryBackoff = 10 * time.Millisecond
)

// Option configures NewCluster.
type Option func(*config)

type topicSpec struct {
	name       string
	partitions int32
}

type config struct {
	brokers   int
	topics    []topicSpec
	kfakeOpts []kfake.Opt
	dataDir   string
}

// WithTopic creates topic name with the given number of partitions (>= 1)
// when the cluster starts. kfake does not create topics on first use unless
// told to (WithKfakeOptions(kfake.AllowAutoTopicCreation())), like a
// production cluster with auto-creation off.
func WithTopic(name string, partitions int32) Option {
	return func(c *config) { c.topics = append(c.topics, topicSpec{name, partitions}) }
}

// WithBrokers sets the number of brokers (default 1). More than one spreads
// partition leadership, for tests of leader moves and broker loss.
func WithBrokers(n int) Option {
	return func(c *config) { c.brokers = n }
}

// WithKfakeOptions passes options straight to kfake.NewCluster, after the
// ones this package derives; for what this package does not wrap (SASL, ACLs,
// auto topic creation, group session timeouts, a logger).
func WithKfakeOptions(opts ...kfake.Opt) Option {
	return func(c *config) { c.kfakeOpts = append(c.kfakeOpts, opts...) }
}

// WithDataDir keeps the cluster's whole state (topics, records, committed offsets,
// producer ids) in dir (kfake.DataDir), so that Stop and Start can take the cluster
// down and bring it back, on the same addresses, with what it held: a Kafka outage
// as clients see one (connections refused), not an error answer.
func WithDataDir(dir string) Option {
	return func(c *config) { c.dataDir = dir }
}

// Cluster is a running kfake cluster bound to a test.
type Cluster struct {
	fake  *kfake.Cluster
	addrs []string
	opts  []kfake.Opt // to start it again (Start), with WithDataDir
	dir   string
}

// NewCluster starts a kfake cluster listening on 127.0.0.1 (ephemeral
// ports) and closes it when t's cleanup runs. It fails t if the cluster
// cannot start.
func NewCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	cfg := config{brokers: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.brokers < 1 {
		t.Fatalf("kafkatest: WithBrokers(%d): need at least one broker", cfg.brokers)
	}
	kopts := []kfake.Opt{kfake.NumBrokers(cfg.brokers)}
	for _, tp := range cfg.topics {
		if tp.name == "" || tp.partitions < 1 {
			// kfake would silently use its default of 10 partitions.
			t.Fatalf("kafkatest: WithTopic(%q, %d): need a name and at least one partition", tp.name, tp.partitions)
		}
		kopts = append(kopts, kfake.SeedTopics(tp.partitions, tp.name))
	}
	if cfg.dataDir != "" {
		kopts = append(kopts, kfake.DataDir(cfg.dataDir))
	}
	kopts = append(kopts, cfg.kfakeOpts...)
	fake, err := kfake.NewCluster(kopts...)
	if err != nil {
		t.Fatalf("kafkatest: starting kfake cluster: %v", err)
	}
	c := &Cluster{fake: fake, addrs: fake.ListenAddrs(), opts: kopts, dir: cfg.dataDir}
	t.Cleanup(func() { c.fake.Close() })
	return c
}

// Stop closes the cluster: its listeners and every connection to it are closed, so
// clients find every broker refusing connections until Start. Its state stays in
// the WithDataDir directory. Closing a stopped cluster again is harmless.
func (c *Cluster) Stop() { c.fake.Close() }

// Start brings a stopped cluster back on the same addresses, with the state it had
// when it was stopped. It needs WithDataDir, and fails t when the cluster cannot
// start (another process took one of its ports meanwhile). Call it from the test's
// goroutine, not concurrently with Fake.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	if c.dir == "" {
		t.Fatalf("kafkatest: Start needs the cluster's state on disk: NewCluster(t, WithDataDir(dir))")
	}
	ports := make([]int, 0, len(c.addrs))
	for _, a := range c.addrs {
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatalf("kafkatest: broker address %q: %v", a, err)
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("kafkatest: broker address %q: %v", a, err)
		}
		ports = append(ports, n)
	}
	opts := append(append([]kfake.Opt(nil), c.opts...), kfake.Ports(ports...))
	var err error
	// The old listeners' ports may take a moment to be free again.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var fake *kfake.Cluster
		if fake, err = kfake.NewCluster(opts...); err == nil {
			c.fake = fake
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	t.Fatalf("kafkatest: starting kfake cluster again on %v: %v", c.addrs, err)
}

// Addrs returns the brokers' host:port addresses, for seed-broker settings
// of the code under test.
func (c *Cluster) Addrs() []string {
	return append([]string(nil), c.addrs...)
}

// Fake returns the underlying kfake cluster, for fault injection beyond
// FailProduce: ControlKey/KeepControl/SleepControl to intercept requests,
// Fault for targeted error injection, MoveTopicPartition, RemoveNode.
func (c *Cluster) Fake() *kfake.Cluster { return c.fake }

// Client returns a client seeded with the cluster's brokers and closes it
// when t's cleanup runs (before the cluster closes, when both belong to the
// same test).
//
// Before opts it sets two test-speed defaults, which opts can override:
// kgo.MetadataMinAge and kgo.RetryBackoffFn of TestRetryBackoff. kgo
// refreshes metadata before retrying a retriable produce or fetch error, at
// most once per MetadataMinAge (5s by default), so with the defaults every
// injected retriable error would cost seconds. Code under test that builds
// its own client from config should get the same settings in its tests.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := c.newClient(opts...)
	if err != nil {
		t.Fatalf("kafkatest: creating client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (c *Cluster) newClient(opts ...kgo.Opt) (*kgo.Client, error) {
	all := make([]kgo.Opt, 0, len(opts)+3)
	all = append(all,
		kgo.SeedBrokers(c.addrs...),
		kgo.MetadataMinAge(TestRetryBackoff),
		kgo.RetryBackoffFn(func(int) time.Duration { return TestRetryBackoff }),
	)
	all = append(all, opts...)
	return kgo.NewClient(all...)
}

// ProduceSync produces rs (each with its Topic set) with a short-lived
// client and waits for all of them, failing t if any is not written within
// DefaultTimeout. The records get their Partition and Offset filled in.
// Call it from the test's goroutine.
func (c *Cluster) ProduceSync(t testing.TB, rs ...*kgo.Record) {
	t.Helper()
	cl, err := c.newClient()
	if err != nil {
		t.Fatalf("kafkatest: creating producer: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), DefaultTimeout)
	defer cancel()
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("kafkatest: producing %d records: %v", len(rs), err)
	}
}

// ConsumeAll reads everything topic holds when it is called: it asks for the
// partitions' end offsets first, then reads up to them, failing t when they are not
// reached within timeout. Unlike Consume with a short window, it cannot miss a record
// that was slow to arrive, so it is the way to check that nothing else is there. A
// topic that does not exist holds nothing.
func (c *Cluster) ConsumeAll(t testing.TB, topic string, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := c.newClient()
	if err != nil {
		t.Fatalf("kafkatest: creating admin client: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		var ends kadm.ListedOffsets
		ends, err = adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			n := 0
			ends.Each(func(o kadm.ListedOffset) {
				if s, ok := starts.Lookup(o.Topic, o.Partition); ok {
					n += int(o.Offset - s.Offset)
				}
			})
			cl.Close()
			if n == 0 {
				return nil
			}
			out := c.Consume(t, topic, n, time.Until(deadlineOf(ctx)))
			if len(out) < n {
				t.Fatalf("kafkatest: read %d of the %d records %s holds within %v", len(out), n, topic, timeout)
			}
			return out
		}
	}
	cl.Close()
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil
	}
	t.Fatalf("kafkatest: listing offsets of %s: %v", topic, err)
	return nil
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// Consume reads topic from its start, outside any consumer group, until it
// has n records or timeout has passed, and returns what it read (at most n).
// It does not fail t when fewer arrive: compare the length, or ask for more
// than expected with a short timeout to check that nothing else is there.
// Records of one partition come in offset order; partitions interleave.
// Call it from the test's goroutine.
func (c *Cluster) Consume(t testing.TB, topic string, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := c.newClient(
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Return soon after the last record instead of holding the
		// fetch open the default 5s; the deadline decides when to stop.
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("kafkatest: creating consumer of %s: %v", topic, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()

	out := make([]*kgo.Record, 0, max(n, 0))
	logged := map[string]bool{}
	for len(out) < n {
		fs := cl.PollRecords(ctx, n-len(out))
		out = append(out, fs.Records()...)
		if ctx.Err() != nil {
			break
		}
		// Fetch errors are usually transient here (a topic not created
		// yet, a leader moving); the client retries, so log each
		// distinct one for the failure message and go on.
		fs.EachError(func(tp string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			msg := fmt.Sprintf("%s[%d]: %v", tp, p, err)
			if !logged[msg] {
				logged[msg] = true
				t.Logf("kafkatest: consuming %s: %s", topic, msg)
			}
		})
	}
	return out
}

// ProduceFault makes produce requests fail; see FailProduce.
type ProduceFault struct {
	c    *Cluster
	n    int
	code int16

	mu      sync.Mutex
	hits    int
	removed bool
	done    chan struct{} // closed when the n-th request has been failed
}

// FailProduce makes the next n produce requests the cluster receives fail:
// every partition in them is answered with err and nothing is written. With
// n <= 0 every produce request fails until Remove. A nil err means
// kerr.UnknownServerError.
//
// It counts requests, not records: a client batches many records, of many
// partitions, into one request, and retries a failed one as a new request.
// Retriable errors (kerr.NotEnoughReplicas, kerr.LeaderNotAvailable,
// kerr.RequestTimedOut...) are retried by kgo and so, with a small n, only
// delay the records; non-retriable ones (kerr.MessageTooLarge,
// kerr.InvalidRecord, kerr.TopicAuthorizationFailed...) fail them. An
// acks=0 request is swallowed instead, as it gets no answer. Before each
// retry of a retriable error kgo waits for a metadata refresh, which its
// MetadataMinAge rate-limits (see Cluster.Client).
//
// It is built on kfake's ControlKey: a control that answers a request
// bypasses kfake's own Fault rules and runs before other, later-added
// controls for Produce.
func (c *Cluster) FailProduce(n int, err *kerr.Error) *ProduceFault {
	if err == nil {
		err = kerr.UnknownServerError
	}
	f := &ProduceFault{c: c, n: n, code: err.Code, done: make(chan struct{})}
	c.fake.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		last, ok := f.take()
		if !ok {
			// Removed, or a request raced in after the last hit:
			// let kfake handle it and forget this control.
			c.fake.DropControl()
			return nil, nil, false
		}
		if !last {
			c.fake.KeepControl()
		}
		req := kreq.(*kmsg.ProduceRequest)
		if req.Acks == 0 {
			// No response is expected: the records are dropped,
			// which is what a failure looks like with acks=0.
			return nil, nil, true
		}
		return produceErrorResponse(req, f.code), nil, true
	})
	return f
}

// take counts one failed request; ok is false when the fault no longer
// applies, last is true for the n-th request.
func (f *ProduceFault) take() (last, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.removed || (f.n > 0 && f.hits >= f.n) {
		return false, false
	}
	f.hits++
	if f.n > 0 && f.hits == f.n {
		close(f.done)
		return true, true
	}
	return false, true
}

// Hits returns how many produce requests the fault has failed so far.
func (f *ProduceFault) Hits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

// Done is closed once the fault has failed its n requests; never for a
// fault without a count.
func (f *ProduceFault) Done() <-chan struct{} { return f.done }

// Wait blocks until the fault has failed its n requests or ctx is done.
func (f *ProduceFault) Wait(ctx context.Context) error {
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %d failed produce requests (%d so far): %w", f.n, f.Hits(), ctx.Err())
	}
}

// Remove stops failing requests; the control is dropped on the next produce
// request, which kfake then handles normally.
func (f *ProduceFault) Remove() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = true
}

// produceErrorResponse answers every partition of req with code.
func produceErrorResponse(req *kmsg.ProduceRequest, code int16) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
