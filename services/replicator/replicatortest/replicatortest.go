// Package replicatortest runs fanout-replicator engines in the tests of any module (the
// replicator's own, fanoutctl's, the end-to-end suites in integration/), so that they
// all start, read and stop the real engine the same way.
package replicatortest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// Config returns a replicator configuration for tests: target targetURL named name,
// the given brokers and topics, no metrics listener of its own (Start passes one), the
// admin routes on a free loopback port (AdminURL), and fast commits, retries, lag
// readings and probes.
func Config(name, targetURL string, brokers []string, topics ...string) replicator.Config {
	cfg := replicator.DefaultConfig()
	cfg.MetricsListen = ""
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Target.Name = name
	cfg.Target.Endpoints = []string{targetURL}
	cfg.Target.Timeout = 10 * time.Second
	cfg.Kafka.Brokers = brokers
	cfg.Consume.Topics = topics
	cfg.Consume.CommitInterval = 100 * time.Millisecond
	cfg.Consume.LagInterval = 200 * time.Millisecond
	cfg.Consume.FetchMaxWait = 100 * time.Millisecond
	cfg.Consume.SessionTimeout = 6 * time.Second
	cfg.Consume.RebalanceTimeout = 8 * time.Second
	cfg.Retry.Initial = 10 * time.Millisecond
	cfg.Retry.Max = 500 * time.Millisecond
	cfg.Limits.ShutdownTimeout = 5 * time.Second
	cfg.Limits.BulkTimeout = 10 * time.Second
	cfg.Limits.ProbeInterval = 100 * time.Millisecond
	cfg.Log.Level = "warn"
	return cfg
}

// KafkaOpts are the test-speed client settings of kafkatest (see kafkatest.Cluster.Client):
// without them every injected retriable error costs seconds of metadata age.
func KafkaOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.MetadataMinAge(kafkatest.TestRetryBackoff),
		kgo.RetryBackoffFn(func(int) time.Duration { return kafkatest.TestRetryBackoff }),
	}
}

// Running is a replicator started by Start. Its metrics are served on MetricsURL (a
// 127.0.0.1 port of its own), its admin routes on AdminURL (cfg.Admin.Listen).
type Running struct {
	*replicator.Replicator
	// Registry holds the replicator's metrics.
	Registry *prometheus.Registry

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Start runs a replicator with cfg until the test ends (a drain, as Stop); log may be nil.
func Start(t testing.TB, cfg replicator.Config, log *slog.Logger) *Running {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	r, err := replicator.New(cfg, replicator.Deps{Logger: log, Registry: reg, MetricsListener: ln, KafkaOpts: KafkaOpts()})
	if err != nil {
		_ = ln.Close()
		t.Fatalf("replicator.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &Running{Replicator: r, Registry: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.Run(ctx) }()
	t.Cleanup(func() { rr.Stop(t) })
	return rr
}

// Stop drains the replicator (as SIGTERM would) and waits for Run; later calls, and
// Crash after it, do nothing.
func (rr *Running) Stop(t testing.TB) {
	t.Helper()
	rr.once.Do(func() {
		rr.cancel()
		rr.wait(t)
	})
}

// Crash aborts the replicator without draining or committing, as a kill would, and waits
// for Run.
func (rr *Running) Crash(t testing.TB) {
	t.Helper()
	rr.once.Do(func() {
		rr.Abort()
		rr.wait(t)
		rr.cancel()
	})
}

func (rr *Running) wait(t testing.TB) {
	t.Helper()
	select {
	case err := <-rr.done:
		if err != nil {
			t.Errorf("replicator Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("replicator did not stop within 30s")
	}
}

// Metric sums the samples of the replicator's counter, gauge or histogram (its sample
// counts) family name whose labels include want.
func (rr *Running) Metric(t testing.TB, name string, want map[string]string) float64 {
	t.Helper()
	return Metric(t, rr.Registry, name, want)
}

// Ops is fanout_replicator_ops_total for one result (applied, stale, retried, dlq,
// skipped).
func (rr *Running) Ops(t testing.TB, result string) float64 {
	t.Helper()
	return rr.Metric(t, "fanout_replicator_ops_total", map[string]string{"result": result})
}

// Metric sums the samples of g's family name whose labels include want.
func Metric(t testing.TB, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !hasLabels(m, want) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Behind lists the partitions of topic where group has not committed the end offset, as
// "partition:committed/end"; none means the group is caught up.
func Behind(ctx context.Context, cl *kgo.Client, group, topic string) ([]string, error) {
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing the end offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("listing the end offsets of %s: %w", topic, err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("fetching the offsets of group %s: %w", group, err)
	}
	behind := []string{}
	ends.Each(func(o kadm.ListedOffset) {
		at := int64(0)
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok {
			at = c.At
		}
		if at < o.Offset {
			behind = append(behind, fmt.Sprintf("%d:%d/%d", o.Partition, at, o.Offset))
		}
	})
	return behind, nil
}

// WaitCaughtUp waits until group has committed the end of every partition of topic,
// reading offsets with cl, and fails t after timeout naming the partitions behind.
func WaitCaughtUp(t testing.TB, cl *kgo.Client, group, topic string, timeout time.Duration) {
	t.Helper()
	var last string
	waitFor(t, timeout, func() string {
		return fmt.Sprintf("group %s to commit the end of %s (partition:committed/end %s)", group, topic, last)
	}, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		behind, err := Behind(ctx, cl, group, topic)
		if err != nil {
			last = err.Error()
			return false
		}
		last = strings.Join(behind, " ")
		return len(behind) == 0
	})
}

// PollInterval is how often WaitFor checks its condition.
const PollInterval = 50 * time.Millisecond

// WaitFor polls cond every PollInterval until it holds, and fails t, saying what it
// waited for, if it still does not after timeout. Tests wait on conditions this way
// instead of sleeping for a time that is enough on a fast machine.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	waitFor(t, timeout, func() string { return what }, cond)
}

// waitFor is WaitFor with a description made after the deadline, from the last state
// cond saw.
func waitFor(t testing.TB, timeout time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what())
		}
		<-tick.C
	}
}
