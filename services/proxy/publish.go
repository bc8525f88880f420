package proxy

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/event"
)

// compression maps publish.compression to a codec.
func compression(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "none":
		return kgo.NoCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("publish.compression: must be lz4, zstd, snappy, gzip or none, got %q", name)
}

// producerOpts are the options that make "2xx" mean "durable in Kafka": every in-sync
// replica acknowledges, the idempotent producer keeps each partition's order across
// retries, and a record that cannot be delivered in time fails instead of waiting
// forever. A failed record may still land later, or twice if re-produced; replicators
// apply idempotently, so that is harmless.
func producerOpts(p PublishConfig) ([]kgo.Opt, error) {
	codec, err := compression(p.Compression)
	if err != nil {
		return nil, err
	}
	return []kgo.Opt{
		kgo.DefaultProduceTopic(p.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(p.Linger),
		kgo.MaxBufferedBytes(int(p.MaxBufferedBytes)),
		kgo.ProducerBatchMaxBytes(p.MaxRecordBytes),
		kgo.RecordDeliveryTimeout(p.Timeout),
		kgo.AllowIdempotentProduceCancellation(),
		// A retriable produce error (leader moved) waits for fresh metadata; kgo's 5 s
		// default minimum between refreshes would eat half the publish timeout.
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.RetryBackoffFn(func(tries int) time.Duration {
			return min(time.Duration(tries)*50*time.Millisecond, time.Second)
		}),
	}, nil
}

// publisher sends a request's events and waits, bounded, for Kafka's acknowledgement.
type publisher struct {
	cl      *kgo.Client
	timeout time.Duration
	m       *metrics
	// records are records the producer is done with, for the next ones: building a
	// record afresh (its value, key and headers allocated, zeroed and collected) was
	// most of the cost of building one (BenchmarkEncode against BenchmarkEncodeInto),
	// and building records a fifth of the proxy's CPU under bulk load (issue 16).
	records *recordPool
}

// recordPool keeps records for reuse. A record goes back only from its promise: kgo is
// done with a record once it has called the promise (acknowledged, or failed and never
// retried; it reads nothing of it after), and nothing else holds the records
// publishEach builds.
//
// It is a free list bounded by the bytes it holds, not a sync.Pool: a bulk of 1,000
// documents has 1,000 records in flight at once, and the collector, which runs often
// under bulk load, empties a sync.Pool every other cycle: with one, the proxy's
// allocation profile still showed records, keys and headers built afresh. Records are kept by the capacity of their value, in classes of
// powers of two, and a record is taken for a value of about its size: what a record in
// kgo's buffer holds is then less than twice the bytes kgo and the proxy's budget count
// for it (a 300-byte document's record holding a 64 KiB value that a larger one left
// would hide 200 times its size).
type recordPool struct {
	mu    sync.Mutex
	free  [maxPooledClass + 1][]*pooledRecord // by floor(log2(cap(value)))
	bytes int                                 // what the free records' keys, values and headers hold
	max   int
}

// pooledRecord is a record, with the promise that gives it back and what that promise
// needs to know, in one allocation that lives as long as the record is reused.
type pooledRecord struct {
	rec     kgo.Record
	promise func(*kgo.Record, error) // made once per pooledRecord: calls call.done
	call    *publishCall             // set before each Produce; kgo never reads it
	event   int
	held    int // heldBytes, as put counted it into the pool's bytes while the record is free
}

// maxPooledValue is the largest value capacity kept with a record: a document's record,
// not a 1 MiB chunk piece held for the next small one.
const (
	maxPooledValue = 64 << 10
	maxPooledClass = 16 // valueClass(maxPooledValue)
)

// pooledRecordBytes bounds the memory the free records hold: a few thousand records of
// 1 KiB documents, the records of the bulks in flight under heavy load.
const pooledRecordBytes = 8 << 20

func newRecordPool() *recordPool { return &recordPool{max: pooledRecordBytes} }

// valueClass is floor(log2(n)) for n > 0.
func valueClass(n int) int { return bits.Len(uint(n)) - 1 }

// get returns a record to encode a value of about size bytes into.
func (rp *recordPool) get(size int) *pooledRecord {
	if c := valueClass(max(size, 1)); size <= maxPooledValue {
		rp.mu.Lock()
		if n := len(rp.free[c]); n > 0 {
			pr := rp.free[c][n-1]
			rp.free[c][n-1] = nil
			rp.free[c] = rp.free[c][:n-1]
			rp.bytes -= pr.held
			rp.mu.Unlock()
			return pr
		}
		rp.mu.Unlock()
	}
	pr := new(pooledRecord)
	pr.promise = func(_ *kgo.Record, err error) {
		call, k := pr.call, pr.event
		rp.put(pr) // from here on pr may be another record's
		call.done(k, err)
	}
	return pr
}

// put gives back a record kgo is done with (or one never produced).
func (rp *recordPool) put(pr *pooledRecord) {
	pr.call = nil
	pr.rec.Context = nil // what the record was produced with is not kept alive by the pool
	if cap(pr.rec.Value) > maxPooledValue {
		return
	}
	c := valueClass(max(cap(pr.rec.Value), 1))
	pr.held = pr.heldBytes() // outside the lock, and what get takes back off
	rp.mu.Lock()
	if rp.bytes+pr.held <= rp.max {
		rp.free[c] = append(rp.free[c], pr)
		rp.bytes += pr.held
	}
	rp.mu.Unlock()
}

// heldBytes is what a record's memory for reuse holds.
func (pr *pooledRecord) heldBytes() int {
	n := cap(pr.rec.Key) + cap(pr.rec.Value) + 256 // the record and its headers
	for _, h := range pr.rec.Headers[:cap(pr.rec.Headers)] {
		n += cap(h.Value)
	}
	return n
}

// publish produces the records of n events in order, records(k) planning the k-th
// event's (one record, or the pieces of a chunked document), and returns the indexes
// of the events Kafka did not acknowledge whole within the timeout (or that could not
// be built), with the first error seen. An event counts as published only once every
// one of its records is acknowledged (DESIGN.md principle 5). Records are built one at
// a time because the producer's buffer is bounded: Produce waits for room, so a request
// of a million events, or a document of 100 MiB, holds only the records in that buffer.
// The primary has already applied these writes, so the caller's cancellation does not
// stop publishing. Every record goes through the one idempotent producer, on the
// event's key, so a chunked event's pieces land in order on one partition.
func (p *publisher) publish(ctx context.Context, n int, records func(k int) (*event.Records, error)) (failed []int, firstErr error) {
	failed, _, firstErr = p.publishEach(ctx, n, records)
	return failed, firstErr
}

// publishEach is publish, and also says which of the failed events Kafka refused for
// good (refusedForGood): sending them again cannot succeed.
func (p *publisher) publishEach(ctx context.Context, n int, records func(k int) (*event.Records, error)) (failed, refused []int, firstErr error) {
	if n == 0 {
		return nil, nil, nil
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()

	call := &publishCall{m: p.m, unacked: make([]atomic.Int32, n), bad: make([]atomic.Bool, n), refused: make([]atomic.Bool, n)}
	for k := 0; k < n; k++ {
		rs, err := records(k)
		if err != nil {
			call.fail(k, err)
			continue
		}
		call.unacked[k].Store(int32(rs.Len()))
		if rs.Chunked() {
			p.m.chunkedEvents.Inc()
		}
		for j := 0; j < rs.Len() && !call.bad[k].Load(); j++ {
			pr := p.records.get(rs.ValueBytes(j))
			if err := rs.RecordInto(j, &pr.rec); err != nil {
				p.records.put(pr)
				call.fail(k, fmt.Errorf("encoding record %d of %d: %w", j, rs.Len(), err))
				break
			}
			pr.call, pr.event = call, k
			call.wg.Add(1)
			p.cl.Produce(ctx, &pr.rec, pr.promise)
		}
	}
	done := make(chan struct{})
	go func() { call.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// Promises normally fire at the timeout (cancellation is allowed for in-flight
		// records); this branch only bounds the answer if one does not.
	}
	p.m.publishSeconds.Observe(time.Since(start).Seconds())
	for k := range call.unacked {
		if call.bad[k].Load() || call.unacked[k].Load() != 0 {
			failed = append(failed, k)
			if call.refused[k].Load() {
				refused = append(refused, k)
			}
		}
	}
	if len(failed) == 0 {
		return nil, nil, nil
	}
	p.m.publishFailures.Add(float64(len(failed)))
	call.mu.Lock()
	firstErr = call.firstErr
	call.mu.Unlock()
	if firstErr == nil {
		firstErr = fmt.Errorf("%w within %s", errNoAck, p.timeout)
	}
	return failed, refused, firstErr
}

// publishCall is the state of one publishEach that its records' promises update.
type publishCall struct {
	m  *metrics
	wg sync.WaitGroup // the records produced and not yet promised
	// unacked[k] counts event k's records not acknowledged yet; bad[k] is set when
	// one failed (or could not be built), and then the rest are not produced;
	// refused[k] when Kafka refused one for good.
	unacked      []atomic.Int32
	bad, refused []atomic.Bool
	mu           sync.Mutex
	firstErr     error
}

// done is a promise of event k's record.
func (c *publishCall) done(k int, err error) {
	defer c.wg.Done()
	if err != nil {
		c.fail(k, err)
		return
	}
	c.m.records.Inc()
	if c.unacked[k].Add(-1) == 0 {
		c.m.events.Inc()
	}
}

// fail marks event k failed.
func (c *publishCall) fail(k int, err error) {
	c.bad[k].Store(true)
	if refusedForGood(err) {
		c.refused[k].Store(true)
	}
	c.mu.Lock()
	if c.firstErr == nil {
		c.firstErr = err
	}
	c.mu.Unlock()
}

// refusedForGood says whether Kafka refused a record for what it is (too large for
// the topic, invalid), not for the state it is in: producing it again fails again.
func refusedForGood(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) ||
		errors.Is(err, kerr.InvalidRecord) || errors.Is(err, kerr.UnsupportedForMessageFormat)
}
