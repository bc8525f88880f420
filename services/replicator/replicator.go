// Package replicator is fanout's replicator engine: it consumes the operation events
// the ingest proxy publishes and applies them to one target cluster, in order per
// partition, with external versions so that nothing is applied twice into an older
// state (DESIGN.md principles 2–4 and 7).
//
// One goroutine per assigned partition takes batches from what the poll loop hands
// it, sends them as _bulk requests (at most one in flight per partition, at most
// batch.max_inflight over all), judges the answer item by item, retries what the
// target could not take, dead-letters what it refuses, and only then marks the
// batch's offsets as resolved. Resolved offsets are committed periodically, on
// revoke and at shutdown. Memory is bounded by pausing fetches, never by blocking the
// poll loop.
package replicator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/adminhttp"
	"github.com/fanout-dev/fanout/pkg/cluster"
	"github.com/fanout-dev/fanout/pkg/config"
	"github.com/fanout-dev/fanout/pkg/telemetry"
)

// Deps are what the replicator gets from its caller rather than from configuration.
type Deps struct {
	Logger *slog.Logger
	// Registry receives the metrics and is served on /metrics; nil makes one.
	Registry *prometheus.Registry
	// MetricsListener, when set, is used instead of cfg.MetricsListen (tests and the
	// dev stack pass a 127.0.0.1:0 listener).
	MetricsListener net.Listener
	// AdminListener, when set, is used instead of cfg.Admin.Listen.
	AdminListener net.Listener
	// KafkaOpts are added to the options of the consumer and of the dead-letter
	// producer (tests shorten metadata ages and backoffs).
	KafkaOpts []kgo.Opt
	// Now is the clock for lag and failure times; nil means time.Now.
	Now func() time.Time
}

// Replicator is the replicator engine for one target cluster.
type Replicator struct {
	cfg    Config
	log    *slog.Logger
	reg    *prometheus.Registry
	m      *metrics
	now    func() time.Time
	group  string
	target *opensearch.Client
	// primary resolves late INDEX events (late.go); nil without primary.endpoints.
	primary *opensearch.Client
	// lateWarnedAt (unix ns) and lateUnwarned space the warnings about late events
	// applied unresolved.
	lateWarnedAt atomic.Int64
	lateUnwarned atomic.Int64

	consumer *kgo.Client
	// consumerSet is closed once consumer is stored: the client calls back into the
	// replicator (resumeExpired) as soon as it joins, possibly before New stores it.
	consumerSet chan struct{}
	producer    *kgo.Client // dead-letter records: acks=all, idempotent
	// dlqLimits is the size limit of a record per dead-letter topic (readDLQLimits),
	// written before the partitions start.
	dlqLimits map[string]int
	// kafkaOpts connect a client to the cluster (reading recent deletes back).
	kafkaOpts []kgo.Opt
	deletes   *deletesShared

	metricsLn net.Listener
	admin     *telemetry.Server // /metrics, /healthz, /readyz on metricsLn
	adminLn   net.Listener
	adminMux  http.Handler      // the guarded /admin routes on adminLn
	sem       chan struct{}     // bulks in flight, over all partitions
	comb      *combiner         // nil unless batch.combine_window is set
	buffers   chan *sendBuffers // free buffers, at most one per bulk slot

	mu    sync.Mutex
	parts map[topicPartition]*partition
	wg    sync.WaitGroup // partition goroutines

	flow flowControl

	pauseMu sync.Mutex
	paused  bool
	resumed chan struct{} // closed when an operator pause ends; nil while running

	health health

	// commitMu serialises commits with revokes, so that no commit for a partition
	// happens after its revoke returned (the new owner's commits would be rewound).
	commitMu sync.Mutex

	draining atomic.Bool
	aborted  atomic.Bool
	abortCh  chan struct{}
	abortMu  sync.Once
	ran      atomic.Bool
}

type topicPartition struct {
	topic     string
	partition int32
}

// New validates cfg, builds the clients and binds the metrics listener; Run works.
func New(cfg Config, deps Deps) (*Replicator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Replicator{
		cfg: cfg, log: deps.Logger, reg: deps.Registry, now: deps.Now,
		group:   cfg.GroupName(),
		sem:     make(chan struct{}, cfg.Batch.MaxInflight),
		comb:    newCombiner(cfg.Batch),
		buffers: make(chan *sendBuffers, cfg.Batch.MaxInflight),
		parts:   map[topicPartition]*partition{},
		abortCh: make(chan struct{}),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("cluster", cfg.Target.Name)
	config.LogWarnings(r.log, cfg.Warnings())
	if r.reg == nil {
		r.reg = telemetry.NewRegistry()
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.m = newMetrics(r.reg, cfg.Target.Name)
	r.flow = flowControl{r: r, totalCap: cfg.Consume.MaxBufferedBytes, partCap: cfg.Consume.MaxPartitionBufferedBytes}
	r.health.init(r.m)
	r.deletes = &deletesShared{window: cfg.Deletes.Window, max: cfg.Deletes.MaxEntries,
		gauge: r.m.deletes.entries, bytes: r.m.deletes.bytes, evicted: r.m.deletes.evicted, hits: r.m.deletes.hits}

	var err error
	if r.target, err = cluster.New(cfg.Target); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	conn, err := cfg.Kafka.Opts()
	if err != nil {
		_ = r.target.Close()
		return nil, err
	}
	r.kafkaOpts = append(append([]kgo.Opt(nil), conn...), deps.KafkaOpts...)
	// start_from is where a partition with no committed offset starts. A committed
	// offset the log no longer holds (retention passed it while the replicator was
	// away) resumes at the log start, whatever start_from says, and is counted: the
	// reset offset is always the start, and resumeExpired moves and counts it first.
	start := kgo.NewOffset().AtStart()
	if cfg.Consume.StartFrom == "latest" {
		start = kgo.NewOffset().AtEnd()
	}
	copts := append(append([]kgo.Opt(nil), conn...),
		kgo.ConsumerGroup(r.group),
		kgo.ConsumeTopics(cfg.Consume.Topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(r.assigned),
		kgo.OnPartitionsRevoked(r.revoked),
		kgo.OnPartitionsLost(r.lost),
		kgo.ConsumeStartOffset(start),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AdjustFetchOffsetsFn(r.resumeExpired),
		kgo.FetchMaxBytes(cfg.Consume.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(cfg.Consume.FetchMaxPartitionBytes),
		kgo.MaxConcurrentFetches(cfg.Consume.MaxConcurrentFetches),
		kgo.FetchMaxWait(cfg.Consume.FetchMaxWait),
		// Metadata changes are published as one transaction of copies, one per
		// partition: a reader must see all of them or none (barrier.go). Control
		// records (the transaction markers) are kept so that a partition's resolved
		// offset can move past the marker at its end: without them the committed
		// offset would stay one below the end offset for good.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.SessionTimeout(cfg.Consume.SessionTimeout),
		kgo.RebalanceTimeout(cfg.Consume.RebalanceTimeout),
		kgo.HeartbeatInterval(cfg.Consume.HeartbeatInterval),
		// Cooperative: a rebalance revokes only the partitions that move, so the
		// survivors keep applying while a dead member's partitions are reassigned.
		// revoked() commits and lost() drops per partition, as this needs.
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
	)
	if cfg.Consume.InstanceID != "" {
		copts = append(copts, kgo.InstanceID(cfg.Consume.InstanceID))
	}
	copts = append(copts, deps.KafkaOpts...)
	r.consumerSet = make(chan struct{})
	consumer, err := kgo.NewClient(copts...)
	if err != nil {
		_ = r.target.Close()
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	r.consumer = consumer
	close(r.consumerSet)
	popts := append(append([]kgo.Opt(nil), conn...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		// A dead-letter write that cannot be acknowledged in time fails, and the
		// partition retries it (with backoff) rather than waiting on it forever.
		kgo.RecordDeliveryTimeout(30*time.Second),
	)
	popts = append(popts, deps.KafkaOpts...)
	if r.producer, err = kgo.NewClient(popts...); err != nil {
		_ = r.target.Close()
		r.consumer.Close()
		return nil, fmt.Errorf("kafka dead-letter producer: %w", err)
	}

	if cfg.PrimaryEnabled() {
		if r.primary, err = cluster.New(cfg.Primary); err != nil {
			_ = r.target.Close()
			r.consumer.Close()
			r.producer.Close()
			return nil, fmt.Errorf("primary: %w", err)
		}
	}
	closeAll := func() {
		_ = r.target.Close()
		r.closePrimary()
		r.consumer.Close()
		r.producer.Close()
		if r.metricsLn != nil {
			_ = r.metricsLn.Close()
		}
		if r.adminLn != nil {
			_ = r.adminLn.Close()
		}
	}
	var token string
	if cfg.Admin.TokenFile != "" {
		if token, err = ReadAdminToken(cfg.Admin.TokenFile); err != nil {
			closeAll()
			return nil, fmt.Errorf("admin.token_file: %w", err)
		}
	}
	r.metricsLn = deps.MetricsListener
	if r.metricsLn == nil && cfg.MetricsListen != "" {
		if r.metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			closeAll()
			return nil, fmt.Errorf("metrics_listen: %w", err)
		}
	}
	r.adminLn = deps.AdminListener
	if r.adminLn == nil && cfg.Admin.Listen != "" {
		if r.adminLn, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
			closeAll()
			return nil, fmt.Errorf("admin.listen: %w", err)
		}
	}
	r.admin = telemetry.NewServer(r.reg, r.log)
	r.admin.AddCheck("draining", func(context.Context) error {
		if r.draining.Load() {
			return errors.New("shutting down")
		}
		return nil
	})
	r.admin.AddCheck("target", func(context.Context) error {
		if up, why := r.health.state(); !up {
			return fmt.Errorf("target cluster %s not available: %s", cfg.Target.Name, why)
		}
		return nil
	})
	r.admin.AddCheck("kafka", func(ctx context.Context) error { return r.consumer.Ping(ctx) })
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/status", r.serveStatus)
	mux.HandleFunc("POST /admin/pause", r.servePause)
	mux.HandleFunc("POST /admin/resume", r.serveResume)
	adminhttp.HandlePprof(mux)
	r.adminMux = adminhttp.NewGuard(token, "fanout-replicator admin", "admin.token_file").Wrap(mux)
	return r, nil
}

func (r *Replicator) closePrimary() {
	if r.primary != nil {
		_ = r.primary.Close()
	}
}

// MetricsURL is where /metrics, /healthz and /readyz are served, "" if nowhere.
func (r *Replicator) MetricsURL() string {
	if r.metricsLn == nil {
		return ""
	}
	return telemetry.Addr(r.metricsLn)
}

// AdminURL is where the /admin routes are served, "" if nowhere.
func (r *Replicator) AdminURL() string {
	if r.adminLn == nil {
		return ""
	}
	return telemetry.Addr(r.adminLn)
}

// Handler serves the metrics routes (for tests that skip the listener).
func (r *Replicator) Handler() http.Handler { return r.admin }

// AdminHandler serves the guarded admin routes (for tests that skip the listener).
func (r *Replicator) AdminHandler() http.Handler { return r.adminMux }

// Group is the consumer group this replicator belongs to.
func (r *Replicator) Group() string { return r.group }

// Abort stops Run at once, as a crash would: in-flight bulks are abandoned, nothing is
// committed, and the records not committed yet are delivered again to whoever owns
// their partitions next. Run returns after the clients are closed. For tests of crash
// safety and for a supervisor that must stop without delay.
func (r *Replicator) Abort() {
	r.abortMu.Do(func() {
		r.aborted.Store(true)
		close(r.abortCh)
	})
}

// Run replicates until ctx is done (or Abort), then drains: readiness goes false,
// fetching stops, in-flight bulks finish within limits.shutdown_timeout, resolved
// offsets are committed and the clients close. Run can be called once.
func (r *Replicator) Run(ctx context.Context) error {
	if !r.ran.CompareAndSwap(false, true) {
		return errors.New("replicator: Run called twice")
	}
	// The background parts stop when told to by the shutdown below, not when ctx is
	// done: the drain still needs them.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	pollCtx, stopPoll := context.WithCancel(bg)
	defer stopPoll()

	if r.cfg.Consume.CreateDLQTopic {
		r.createDLQTopics(ctx)
	}
	r.readDLQLimits(ctx)
	var bgWG sync.WaitGroup
	fatal := make(chan error, 3)
	goBG := func(f func(context.Context)) {
		bgWG.Add(1)
		go func() { defer bgWG.Done(); f(bg) }()
	}
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdmin()
	adminDone := make(chan struct{})
	if r.metricsLn != nil {
		go func() {
			defer close(adminDone)
			if err := r.admin.Run(adminCtx, "", r.metricsLn); err != nil {
				fatal <- err
			}
		}()
	} else {
		close(adminDone)
	}
	adminRoutesDone := make(chan struct{})
	if r.adminLn != nil {
		go func() {
			defer close(adminRoutesDone)
			if err := adminhttp.Serve(adminCtx, r.adminLn, r.adminMux); err != nil {
				fatal <- err
			}
		}()
	} else {
		close(adminRoutesDone)
	}
	goBG(r.probe)
	goBG(r.commitLoop)
	goBG(r.lagLoop)
	if r.cfg.AntiEntropy.Enabled {
		goBG(r.antiEntropyLoop)
	}
	pollDone := make(chan struct{})
	go func() { defer close(pollDone); r.pollLoop(pollCtx) }()

	r.log.Info("fanout-replicator running", "group", r.group, "topics", r.cfg.Consume.Topics,
		"target", config.RedactURLs(r.cfg.Target.Endpoints), "metrics", r.MetricsURL(), "admin", r.AdminURL())

	var runErr error
	select {
	case <-ctx.Done():
	case <-r.abortCh:
	case runErr = <-fatal:
		r.log.Error("stopping after a failure", "error", runErr)
	}

	r.draining.Store(true)
	stopPoll()
	<-pollDone
	// One budget for the whole drain: stopping, the final commit and the flush.
	budget := r.newStopBudget()
	if r.aborted.Load() {
		r.log.Warn("aborting: in-flight bulks abandoned, nothing committed")
		r.stopPartitions(r.allPartitions(), time.Time{})
	} else {
		// Stop the Kafka client's background fetches; nothing polls any more.
		r.consumer.PauseFetchTopics(r.cfg.Consume.Topics...)
		r.stopPartitions(r.allPartitions(), budget.stop)
		cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), budget.end)
		if err := r.commit(cctx, nil); err != nil {
			r.log.Error("final commit failed: the resolved records since the last commit will be applied again (harmlessly)", "error", err)
		}
		cancel()
	}
	stopBG()
	bgWG.Wait()

	if !r.aborted.Load() {
		// The partitions waited for their dead-letter writes before they resolved,
		// so this has only what a hard stop left behind.
		fctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), budget.end)
		if err := r.producer.Flush(fctx); err != nil {
			r.log.Error("dead-letter records still buffered at shutdown", "error", err)
		}
		cancel()
	}
	r.producer.Close()
	// Leaving the group revokes what is left; revoked() commits nothing new (and
	// nothing at all after Abort).
	r.consumer.CloseAllowingRebalance()
	r.mu.Lock()
	left := len(r.parts)
	r.mu.Unlock()
	if left > 0 {
		// Only a client closed without the final revoke gets here; drop the state.
		r.stopPartitions(r.allPartitions(), time.Time{})
	}
	r.wg.Wait()
	// The client's background pollers (node stats, health) stop with it.
	_ = r.target.Close()
	r.closePrimary()
	stopAdmin()
	<-adminDone
	<-adminRoutesDone
	r.log.Info("fanout-replicator stopped", "aborted", r.aborted.Load())
	return runErr
}

// health tracks whether the target answers, for target_up, /readyz and to wake the
// partitions blocked on connection failures as soon as it is back.
type health struct {
	m      *metrics
	mu     sync.Mutex
	up     bool
	why    string
	byConn bool          // down for a connection-level failure (the prober may clear it)
	upCh   chan struct{} // closed when the target comes back
}

func (h *health) init(m *metrics) {
	h.m = m
	h.up = true
	h.upCh = make(chan struct{})
	close(h.upCh)
	m.targetUp.Set(1)
}

func (h *health) state() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.up, h.why
}

// markUp records a successful exchange with the target. A probe (GET /) only
// clears a connection-level failure: a cluster that answers its root but fails
// every _bulk (503, 429) is still in trouble.
func (h *health) markUp(probe bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.up || (probe && !h.byConn) {
		return
	}
	h.up, h.why, h.byConn = true, "", false
	close(h.upCh)
	h.m.targetUp.Set(1)
}

func (h *health) markDown(why string, byConn bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.why = why
	h.byConn = h.byConn || byConn
	if !h.up {
		return
	}
	h.up = false
	h.byConn = byConn
	h.upCh = make(chan struct{})
	h.m.targetUp.Set(0)
}

// upSignal returns a channel closed when the target is next seen up (already closed
// when it is up).
func (h *health) upSignal() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.upCh
}

// probe keeps the target's health current while no bulk says anything about it.
func (r *Replicator) probe(ctx context.Context) {
	t := time.NewTicker(r.cfg.Limits.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, min(r.cfg.Limits.ProbeInterval, 5*time.Second))
		req, _ := http.NewRequestWithContext(pctx, http.MethodGet, "/", nil)
		resp, err := r.target.Perform(req)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				r.health.markDown("probe: "+err.Error(), true)
			}
		case resp.StatusCode >= 500:
			r.health.markDown(fmt.Sprintf("probe: GET / answered HTTP %d", resp.StatusCode), false)
		default:
			r.health.markUp(true)
		}
		if resp != nil {
			resp.Body.Close()
		}
		cancel()
	}
}
