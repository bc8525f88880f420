package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/spool"
)

// The local durable spool (spool.dir). A write's events go to Kafka as before, but a
// write waits only spool.kafka_wait for the acknowledgement: the events Kafka has not
// acknowledged whole by then are appended to the spool (fsync'ed) and the client gets
// its normal answer. While the spool holds anything, every write's events are appended
// to it instead of produced, and a drainer publishes them, in order, through the same
// producer (same keys, so the same partitions); once it is empty, writes publish
// directly again.
//
// Ordering. What must hold: a write W2 whose events are handed over (produced or
// spooled) after the proxy answered an earlier write W1 never has its events in Kafka
// ahead of W1's. (Writes in flight together are not ordered by the client; the
// replication version orders their effects on the targets.) Writes decide under
// mode.RLock whether to spool, and append under it; a write whose direct publish
// failed sets spooling, then appends, under it, before it answers. The drainer turns
// spooling off only under mode.Lock, when the spool is empty: all appended entries
// were drained, that is acknowledged by Kafka. So:
//   - W1 acknowledged directly: its events are in Kafka before its answer, before W2.
//   - W1 spooled: spooling was set before W1's answer. W2 either sees it and is
//     appended behind W1, drained after it (the drainer publishes in spool order and
//     the idempotent producer keeps each partition's order); or sees it off, which
//     the drainer did only once W1 was drained and acknowledged.
//   - A record of W1 cancelled at kafka_wait may still have reached Kafka (in flight
//     when cancelled), and W1 is spooled too: it lands twice, harmless (replicators
//     apply by external version). That copy was handed to the producer before W1's
//     answer, so it is ahead of every later record of its partition in the producer,
//     and lands before W2's or not at all.
//
// The drainer retries a batch whole until every record is acknowledged, then moves
// the drained mark past it: a crash between the two re-drains the batch (duplicates,
// never a gap). The producer fails every record buffered behind a timed-out one on
// its partition, so a batch never has a later record of a partition in Kafka with an
// earlier one missing.
//
// Limits. A chunked event (a document over publish.max_record_bytes) whose direct
// publish gave up part-way is spooled as a new chunk group (a fresh group id): the
// pieces of the first try that did reach Kafka make an incomplete group, which
// replicators dead-letter after consume.chunk_timeout (chunk_group_incomplete) while
// the spooled group applies; the DLQ record is noise, and replaying it is harmless.
// The spooled copies of a request's events are in memory, beside the request, only
// spoolChunkBytes at a time, and are not counted in limits.max_inflight_bytes. A crash
// of the proxy between the primary's answer and the spool's fsync loses the events
// (crash recovery is not the spool's business). An event Kafka refuses for good when
// published directly (MESSAGE_TOO_LARGE: a record over the topic's max.message.bytes)
// is not spooled: its write fails as without a spool. One appended while spooling was
// not tried, and the drainer retries it, and everything behind it, until Kafka takes
// it (a topic setting raised).
//
// Metadata changes (metadata.go) wait, with the metadata lock held (no write in
// flight), up to spool.kafka_wait for the spool to drain, and are refused with 503
// before the primary is called if it does not: a change's copies must not overtake
// documents accepted before it.
type spooler struct {
	s            *spool.Spool
	cfg          SpoolConfig
	pub          *publisher // the proxy's producer, with kafka_wait as its timeout
	topicTimeout time.Duration
	log          *slog.Logger
	now          func() time.Time

	// mode orders the decision to spool with the drainer's switch back (see above).
	mode     sync.RWMutex
	spooling atomic.Bool

	drained, refused, appended prometheus.Counter

	kick chan struct{} // wakes the drainer
	stop context.CancelFunc
	done chan struct{}
	// empty is closed and replaced whenever the drainer finds the spool empty.
	emptyMu sync.Mutex
	empty   chan struct{}
}

// Drainer batches: bounded so that one batch never fills the producer's buffer.
const (
	drainBatchRecords = 4096
	drainBatchBytes   = 8 << 20
)

// openSpool opens spool.dir (taking its lock: a second proxy on the same directory
// fails to start) and registers its metrics.
func openSpool(cfg Config, pub *publisher, reg prometheus.Registerer, log *slog.Logger, now func() time.Time) (*spooler, error) {
	s, err := spool.Open(cfg.Spool.Dir, spool.Options{Now: now})
	if err != nil {
		return nil, fmt.Errorf("spool.dir: %w", err)
	}
	sp := &spooler{s: s, cfg: cfg.Spool, log: log, now: now, topicTimeout: cfg.Publish.Timeout,
		pub:  &publisher{cl: pub.cl, timeout: cfg.Spool.KafkaWait, m: pub.m, records: pub.records},
		kick: make(chan struct{}, 1), done: make(chan struct{}), empty: make(chan struct{})}
	st := s.Stats()
	sp.spooling.Store(st.Records > 0)
	if st.Records > 0 {
		log.Warn("the spool holds events not drained to Kafka yet; draining them before publishing directly",
			"dir", cfg.Spool.Dir, "records", st.Records, "bytes", st.Bytes, "oldest", st.Oldest)
	}
	sp.drained, sp.appended, sp.refused = registerSpoolMetrics(reg, s.Stats, now)
	return sp, nil
}

// registerSpoolMetrics registers the spool's series (fanout_proxy_spool_*) on reg, its
// gauges reading stats; RegisterMetrics registers them without a spool.
func registerSpoolMetrics(reg prometheus.Registerer, stats func() spool.Stats, now func() time.Time) (drained, appended, refused prometheus.Counter) {
	f := promauto.With(reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "fanout_proxy_spool_bytes", Help: "Bytes of events in the local spool not drained to Kafka yet."},
		func() float64 { return float64(stats().Bytes) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "fanout_proxy_spool_records", Help: "Kafka records in the local spool not drained yet."},
		func() float64 { return float64(stats().Records) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "fanout_proxy_spool_oldest_age_seconds", Help: "Age of the oldest record in the local spool; 0 when empty."},
		func() float64 {
			if o := stats().Oldest; !o.IsZero() {
				return now().Sub(o).Seconds()
			}
			return 0
		})
	drained = f.NewCounter(prometheus.CounterOpts{Name: "fanout_proxy_spool_drained_total", Help: "Spooled records the drainer published to Kafka (acknowledged)."})
	appended = f.NewCounter(prometheus.CounterOpts{Name: "fanout_proxy_spool_appended_total", Help: "Kafka records of applied writes appended to the local spool."})
	refused = f.NewCounter(prometheus.CounterOpts{Name: "fanout_proxy_spool_refused_total", Help: "Write requests refused with 429 before the primary was called because the spool was full (spool.max_bytes or spool.max_age)."})
	return drained, appended, refused
}

// full says why the spool takes no new writes, "" when it does.
func (sp *spooler) full() string {
	st := sp.s.Stats()
	switch {
	case sp.spooling.Load() && sp.s.Err() != nil:
		// Every event goes to the spool until it is drained, and it takes no more:
		// refused before the primary rather than applied and answered 503.
		return fmt.Sprintf("the proxy's spool of events not yet in Kafka failed and takes no more events (%v)", sp.s.Err())
	case st.Bytes >= sp.cfg.MaxBytes:
		return fmt.Sprintf("the proxy's spool of events not yet in Kafka holds [%d] bytes, its limit (spool.max_bytes) is [%d]", st.Bytes, sp.cfg.MaxBytes)
	case !st.Oldest.IsZero() && sp.now().Sub(st.Oldest) >= sp.cfg.MaxAge:
		return fmt.Sprintf("the oldest event in the proxy's spool of events not yet in Kafka is [%s] old, its limit (spool.max_age) is [%s]",
			sp.now().Sub(st.Oldest).Round(time.Second), sp.cfg.MaxAge)
	}
	return ""
}

// refuseFull answers 429 when the spool is full, before the primary is called, and
// says whether it did.
func (p *Proxy) refuseSpoolFull(w http.ResponseWriter, r *http.Request) bool {
	if p.spool == nil {
		return false
	}
	reason := p.spool.full()
	if reason == "" {
		return false
	}
	p.spool.refused.Inc()
	retryLater(w, 10*time.Second)
	writeError(w, r, http.StatusTooManyRequests, errRejected,
		reason+": Kafka has not taken the proxy's events for a while; the write was not sent to the primary, nothing was applied. Retry later")
	return true
}

// publishEvents hands a write's events over: to Kafka (p.pub), or with a spool as
// described at the top of this file. It returns the events that are neither
// acknowledged by Kafka nor spooled, with the first error.
func (p *Proxy) publishEvents(ctx context.Context, n int, records func(k int) (*event.Records, error)) ([]int, error) {
	if p.spool == nil {
		return p.pub.publish(ctx, n, records)
	}
	return p.spool.publish(ctx, n, records)
}

func (sp *spooler) publish(ctx context.Context, n int, records func(k int) (*event.Records, error)) ([]int, error) {
	if n == 0 {
		return nil, nil
	}
	sp.mode.RLock()
	if sp.spooling.Load() {
		defer sp.mode.RUnlock()
		return sp.append(ctx, eventList{n: n}, records)
	}
	sp.mode.RUnlock()
	failed, refused, perr := sp.pub.publishEach(ctx, n, records)
	if len(failed) == 0 {
		return nil, nil
	}
	// An event Kafka refused for good is not spooled: the drainer could never publish
	// it, and every event spooled behind it would wait forever. It fails as it does
	// without a spool.
	toSpool := failed
	if len(refused) > 0 {
		sp.log.Error("Kafka refused events for good; not spooled", "error", perr, "events", len(refused))
		toSpool = withoutSorted(failed, refused)
		if len(toSpool) == 0 {
			return refused, perr
		}
	}
	sp.mode.RLock()
	defer sp.mode.RUnlock()
	sp.spooling.Store(true)
	sp.log.Warn("Kafka did not acknowledge events in time; spooling them, and every event after them until the spool is drained",
		"error", perr, "events", len(toSpool), "kafka_wait", sp.cfg.KafkaWait)
	unspooled, serr := sp.append(ctx, eventList{n: len(toSpool), idx: toSpool}, records)
	if len(refused) == 0 {
		return unspooled, serr
	}
	return mergeSorted(unspooled, refused), perr
}

// withoutSorted returns the indexes of a not in b, both increasing.
func withoutSorted(a, b []int) []int {
	out := make([]int, 0, len(a))
	for _, x := range a {
		for len(b) > 0 && b[0] < x {
			b = b[1:]
		}
		if len(b) == 0 || b[0] != x {
			out = append(out, x)
		}
	}
	return out
}

// append spools the events of l whole (every record of each), in order, and returns
// those that could not be (not built, or the spool failed). The entries go in appends
// of about spoolChunkBytes, so that a big request holds at most that much beside its
// events; each shares its fsync with the other requests'. Called under mode.RLock.
func (sp *spooler) append(ctx context.Context, l eventList, records func(k int) (*event.Records, error)) ([]int, error) {
	var (
		entries []spool.Entry
		size    int
		pending []int // events whose entries are in entries
		failed  []int
		first   error
	)
	// The primary applied these writes: the client going away does not stop this.
	ctx = context.WithoutCancel(ctx)
	flush := func() error {
		if len(entries) == 0 {
			return nil
		}
		if err := sp.s.Append(ctx, entries); err != nil {
			return err
		}
		sp.appended.Add(float64(len(entries)))
		entries, size, pending = entries[:0], 0, pending[:0]
		return nil
	}
	for i := 0; i < l.len(); i++ {
		k := l.at(i)
		rs, err := records(k)
		if err == nil {
			var es []spool.Entry
			if es, err = spoolEntries(rs); err == nil {
				entries = append(entries, es...)
				for _, e := range es {
					size += len(e.Payload)
				}
				pending = append(pending, k)
			}
		}
		if err != nil {
			failed = append(failed, k)
			if first == nil {
				first = err
			}
		}
		if size >= spoolChunkBytes {
			if err := flush(); err != nil {
				return sp.appendFailed(failed, pending, l, i+1, err)
			}
		}
	}
	if err := flush(); err != nil {
		return sp.appendFailed(failed, pending, l, l.len(), err)
	}
	select {
	case sp.kick <- struct{}{}:
	default:
	}
	return failed, first
}

// spoolChunkBytes: see append.
const spoolChunkBytes = 4 << 20

// appendFailed lists what a failed append leaves unspooled: the events that failed
// before, those of the failed append, and those from l's i-th on.
func (sp *spooler) appendFailed(failed, pending []int, l eventList, from int, err error) ([]int, error) {
	sp.log.Error("events of applied writes could not be spooled", "error", err)
	out := mergeSorted(failed, pending)
	for i := from; i < l.len(); i++ {
		out = append(out, l.at(i))
	}
	return out, fmt.Errorf("spooling: %w", err)
}

// spoolEntries are an event's records as spool entries.
func spoolEntries(rs *event.Records) ([]spool.Entry, error) {
	es := make([]spool.Entry, 0, rs.Len())
	for j := 0; j < rs.Len(); j++ {
		rec, err := rs.Record(j)
		if err != nil {
			return nil, fmt.Errorf("encoding record %d of %d: %w", j, rs.Len(), err)
		}
		es = append(es, spool.Entry{Type: spool.TypeKafkaRecord, Payload: spool.EncodeKafkaRecord(make([]byte, 0, spool.KafkaRecordBytes(rec)), rec)})
	}
	return es, nil
}

// start runs the drainer until stop.
func (sp *spooler) start() {
	ctx, cancel := context.WithCancel(context.Background())
	sp.stop = cancel
	go func() {
		defer close(sp.done)
		sp.drain(ctx)
	}()
}

// drain publishes spooled entries in order whenever there are some, and switches the
// proxy back to direct publishing when the spool is empty.
func (sp *spooler) drain(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		changed := sp.s.Changed()
		n, err := DrainBatch(ctx, sp.s, sp.pub.cl, sp.log)
		sp.drained.Add(float64(n))
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			sp.log.Warn("draining the spool to Kafka failed; retrying", "error", err, "retry_in", backoff, "records", sp.s.Stats().Records)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		case n > 0:
			backoff = 100 * time.Millisecond
			continue
		}
		// Empty: back to direct publishing, unless a write is appending right now
		// (it holds mode.RLock), whose entry the next round drains.
		sp.mode.Lock()
		if sp.s.Stats().Records == 0 && sp.spooling.Load() {
			sp.spooling.Store(false)
			sp.log.Info("spool drained; publishing directly to Kafka again")
		}
		sp.mode.Unlock()
		sp.emptyMu.Lock()
		if sp.s.Stats().Records == 0 {
			close(sp.empty)
			sp.empty = make(chan struct{})
		}
		sp.emptyMu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-sp.kick:
		case <-changed:
		case <-time.After(time.Second):
		}
	}
}

// DrainBatch publishes the next batch of spooled Kafka records (from the drained mark)
// through cl, waits for every acknowledgement, and moves the mark past them; it returns
// how many it drained (0: the spool is empty). Records keep their topic, key and
// headers, so the producer's partitioner puts them where direct publishing would. On
// an error nothing is marked: the batch is published again next time (duplicates,
// which replicators apply idempotently, never a gap).
func DrainBatch(ctx context.Context, s *spool.Spool, cl *kgo.Client, log *slog.Logger) (int, error) {
	entries, err := s.Read(s.Drained(), drainBatchRecords, drainBatchBytes)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, e := range entries {
		if e.Type != spool.TypeKafkaRecord {
			return 0, fmt.Errorf("spool entry at %s has type %d, not a Kafka record: this spool was written by something else", e.Pos, e.Type)
		}
		rec, err := spool.DecodeKafkaRecord(e.Payload)
		if err != nil {
			return 0, fmt.Errorf("spool entry at %s: %w", e.Pos, err)
		}
		wg.Add(1)
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return 0, fmt.Errorf("publishing %d spooled records: %w", len(entries), first)
	}
	if err := s.MarkDrained(entries); err != nil {
		return 0, err
	}
	return len(entries), nil
}

// waitEmpty waits, up to d, for the spool to be drained; false if it is not.
func (sp *spooler) waitEmpty(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		sp.emptyMu.Lock()
		ch := sp.empty
		sp.emptyMu.Unlock()
		if sp.s.Stats().Records == 0 {
			return true
		}
		select {
		case sp.kick <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-t.C:
			return sp.s.Stats().Records == 0
		case <-ctx.Done():
			return false
		}
	}
}

// close drains the spool for up to d (writes have stopped), then stops the drainer and
// releases the directory; what is left is drained at the next start.
func (sp *spooler) close(d time.Duration) {
	if sp.stop != nil {
		if d > 0 && !sp.waitEmpty(context.Background(), d) {
			st := sp.s.Stats()
			sp.log.Warn("the spool was not drained to Kafka within spool.drain_timeout; what is left is drained at the next start",
				"dir", sp.cfg.Dir, "records", st.Records, "bytes", st.Bytes, "drain_timeout", d)
		}
		sp.stop()
		<-sp.done
	}
	if err := sp.s.Close(); err != nil && !errors.Is(err, spool.ErrClosed) {
		sp.log.Error("closing the spool", "error", err)
	}
}

// spoolBlocksMetadata refuses a metadata change, before the primary is called, while
// the spool holds documents it must not overtake and does not drain within
// spool.kafka_wait. Called with the metadata lock held: no write is in flight.
func (p *Proxy) spoolBlocksMetadata(w http.ResponseWriter, r *http.Request, reqID string) bool {
	if p.spool == nil || p.spool.waitEmpty(r.Context(), p.cfg.Spool.KafkaWait) {
		return false
	}
	st := p.spool.s.Stats()
	retryLater(w, 5*time.Second)
	writeError(w, r, http.StatusServiceUnavailable, errReplication, fmt.Sprintf(
		"the proxy's spool holds [%d] events of earlier writes not yet in Kafka, which this metadata change must not overtake; "+
			"it was not sent to the primary, nothing was applied. Retry once Kafka is back [request id %s]", st.Records, reqID))
	return true
}

// DrainProducerOpts are the producer options a spool drainer outside the proxy
// (fanoutctl spool drain) uses: the proxy's own (acks from every in-sync replica,
// idempotent, bounded delivery), so that drained records land as the proxy's would.
func DrainProducerOpts(p PublishConfig) ([]kgo.Opt, error) { return producerOpts(p) }
