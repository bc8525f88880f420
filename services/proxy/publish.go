package proxy

import (
	"context"
	"errors"
	"fmt"
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
	// values are record values the producer is done with, for the next records: a
	// fresh value per record (allocated, zeroed, collected) was two-thirds of the
	// cost of building one (BenchmarkEncode against BenchmarkEncodeAppend), and
	// building records a fifth of the proxy's CPU under bulk load (issue 16).
	values *valuePool
}

// valuePool keeps record values of up to maxPooledValue bytes of capacity. A value
// goes back only from its record's promise: kgo is done with a record once it has
// called the promise (acknowledged, or failed and never retried), and nothing else
// holds the records publishEach builds.
type valuePool struct{ p sync.Pool }

// maxPooledValue is the largest value capacity kept: a document's record, not a 1 MiB
// chunk piece held for the next small one.
const maxPooledValue = 64 << 10

func newValuePool() *valuePool { return &valuePool{} }

// get returns a buffer to encode a value into (nil when the pool is empty).
func (vp *valuePool) get() []byte {
	if b, ok := vp.p.Get().(*[]byte); ok {
		return *b
	}
	return nil
}

// put gives back a value kgo is done with.
func (vp *valuePool) put(v []byte) {
	if cap(v) == 0 || cap(v) > maxPooledValue {
		return
	}
	v = v[:0]
	vp.p.Put(&v)
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

	// unacked[k] counts event k's records not acknowledged yet; bad[k] is set when
	// one failed (or could not be built), and then the rest are not produced.
	unacked := make([]atomic.Int32, n)
	bad := make([]atomic.Bool, n)
	refusedK := make([]atomic.Bool, n)
	var (
		mu      sync.Mutex
		errSeen error
		wg      sync.WaitGroup
	)
	fail := func(k int, err error) {
		bad[k].Store(true)
		if refusedForGood(err) {
			refusedK[k].Store(true)
		}
		mu.Lock()
		if errSeen == nil {
			errSeen = err
		}
		mu.Unlock()
	}
	for k := 0; k < n; k++ {
		rs, err := records(k)
		if err != nil {
			fail(k, err)
			continue
		}
		unacked[k].Store(int32(rs.Len()))
		if rs.Chunked() {
			p.m.chunkedEvents.Inc()
		}
		for j := 0; j < rs.Len() && !bad[k].Load(); j++ {
			rec, err := rs.RecordAppend(j, p.values.get())
			if err != nil {
				fail(k, fmt.Errorf("encoding record %d of %d: %w", j, rs.Len(), err))
				break
			}
			wg.Add(1)
			p.cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
				defer wg.Done()
				p.values.put(r.Value)
				r.Value = nil
				if err != nil {
					fail(k, err)
					return
				}
				p.m.records.Inc()
				if unacked[k].Add(-1) == 0 {
					p.m.events.Inc()
				}
			})
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// Promises normally fire at the timeout (cancellation is allowed for in-flight
		// records); this branch only bounds the answer if one does not.
	}
	p.m.publishSeconds.Observe(time.Since(start).Seconds())
	for k := range unacked {
		if bad[k].Load() || unacked[k].Load() != 0 {
			failed = append(failed, k)
			if refusedK[k].Load() {
				refused = append(refused, k)
			}
		}
	}
	if len(failed) == 0 {
		return nil, nil, nil
	}
	p.m.publishFailures.Add(float64(len(failed)))
	mu.Lock()
	firstErr = errSeen
	mu.Unlock()
	if firstErr == nil {
		firstErr = fmt.Errorf("%w within %s", errNoAck, p.timeout)
	}
	return failed, refused, firstErr
}

// refusedForGood says whether Kafka refused a record for what it is (too large for
// the topic, invalid), not for the state it is in: producing it again fails again.
func refusedForGood(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) ||
		errors.Is(err, kerr.InvalidRecord) || errors.Is(err, kerr.UnsupportedForMessageFormat)
}
