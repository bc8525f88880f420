package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// metaPublisher publishes metadata changes: one copy of the change on every partition
// of the topic, all in one Kafka transaction, so that a replicator reading with
// read_committed sees every copy or none, even if the proxy dies half-way. It has a
// client of its own: the document producer is idempotent but not transactional, and
// its records must not wait for, or be aborted with, a metadata change.
type metaPublisher struct {
	opts    []kgo.Opt
	topic   string
	timeout time.Duration

	// mu makes changes one at a time (a transactional client runs one transaction at
	// a time; the proxy's metadata lock already serializes them). cl is nil after a
	// failed change: the next change starts a new client with the same transactional
	// id, whose registration fences the old producer and aborts whatever of its
	// transaction the broker still holds open.
	mu     sync.Mutex
	cl     *kgo.Client
	closed bool
}

// maxTxnTimeout is Kafka's default transaction.max.timeout.ms: a longer transaction
// timeout is refused by the broker.
const maxTxnTimeout = 15 * time.Minute

// defaultTransactionalID is unique per process: two proxies (or two engines in one
// test process) with one id would fence each other.
func defaultTransactionalID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "fanout-proxy-" + host + "-" + hex.EncodeToString(b[:])
}

// newMetaPublisher builds the transactional producer's options from the connection
// options (kafka.*), publish.* and the caller's extra options, and makes its first
// client (which connects lazily).
func newMetaPublisher(conn []kgo.Opt, cfg PublishConfig, extra []kgo.Opt) (*metaPublisher, error) {
	codec, err := compression(cfg.Compression)
	if err != nil {
		return nil, err
	}
	id := cfg.TransactionalID
	if id == "" {
		id = defaultTransactionalID()
	}
	// The transaction must outlive the publish bound, or the broker aborts a change
	// the proxy is still committing; shorter is better for readers, whose
	// read_committed position waits for an open transaction until it times out.
	txnTimeout := min(max(2*cfg.Timeout, 10*time.Second), maxTxnTimeout)
	opts := append(append([]kgo.Opt(nil), conn...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.TransactionalID(id),
		kgo.TransactionTimeout(txnTimeout),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerBatchMaxBytes(cfg.MaxRecordBytes),
		kgo.RecordDeliveryTimeout(cfg.Timeout),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.RetryBackoffFn(func(tries int) time.Duration {
			return min(time.Duration(tries)*50*time.Millisecond, time.Second)
		}),
	)
	opts = append(opts, extra...)
	mp := &metaPublisher{opts: opts, topic: cfg.Topic, timeout: cfg.Timeout}
	if mp.cl, err = kgo.NewClient(opts...); err != nil {
		return nil, fmt.Errorf("kafka metadata producer: %w", err)
	}
	return mp, nil
}

// metaPublished says where a change went.
type metaPublished struct {
	barrierID         string
	partitions        int32
	coordinatorOffset int64 // the offset of partition 0's copy
}

// publish commits one copy of the change md on every partition of the topic, within
// publish.timeout: partition 0's copy first (coordinator_offset -1), then, once its
// offset o0 is known, the others carrying o0. Any failure aborts the transaction: no
// copy becomes visible to read_committed readers.
func (mp *metaPublisher) publish(ctx context.Context, base *opspb.Operation, md *opspb.Metadata) (metaPublished, error) {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	if mp.closed {
		return metaPublished{}, errors.New("the metadata producer is closed")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mp.timeout)
	defer cancel()
	if mp.cl == nil {
		cl, err := kgo.NewClient(mp.opts...)
		if err != nil {
			return metaPublished{}, fmt.Errorf("kafka metadata producer: %w", err)
		}
		mp.cl = cl
	}
	// The transaction runs on its own so that its bound holds even when a record is
	// in flight: a transactional producer cannot cancel those, and a broker that never
	// answers would hold ProduceSync forever.
	cl := mp.cl
	type result struct {
		res metaPublished
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := mp.transact(ctx, cl, base, md)
		done <- result{res, err}
	}()
	select {
	case out := <-done:
		if out.err != nil {
			mp.abort(cl)
			return metaPublished{}, out.err
		}
		return out.res, nil
	case <-ctx.Done():
		// Closing the client fails what it still holds; the next change's client
		// fences this one and aborts its transaction on the broker.
		mp.cl = nil
		go func() {
			cl.Close()
			<-done
		}()
		return metaPublished{}, fmt.Errorf("%w within %s", errNoAck, mp.timeout)
	}
}

// transact runs the change's transaction; the caller aborts it on error.
func (mp *metaPublisher) transact(ctx context.Context, cl *kgo.Client, base *opspb.Operation, md *opspb.Metadata) (metaPublished, error) {
	// The partition count is read per change: partitions added since the last one
	// must get their copy too.
	n, err := mp.partitions(ctx, cl)
	if err != nil {
		return metaPublished{}, err
	}
	res := metaPublished{barrierID: newBarrierID(), partitions: n, coordinatorOffset: -1}
	if err := cl.BeginTransaction(); err != nil {
		return res, fmt.Errorf("beginning the transaction: %w", err)
	}
	op := &opspb.Operation{
		Kind: opspb.Kind_KIND_METADATA, AcceptedAt: base.GetAcceptedAt(), RequestId: base.GetRequestId(),
		SourceCluster: base.GetSourceCluster(), Metadata: md,
		Barrier: &opspb.Barrier{Id: res.barrierID, Partitions: n, CoordinatorOffset: -1},
	}
	rec, err := event.EncodeMetadata(mp.topic, 0, op)
	if err != nil {
		return res, err
	}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return res, fmt.Errorf("producing the copy on partition 0: %w", err)
	}
	res.coordinatorOffset = rec.Offset
	op.Barrier.CoordinatorOffset = rec.Offset
	recs := make([]*kgo.Record, 0, n-1)
	for p := int32(1); p < n; p++ {
		r, err := event.EncodeMetadata(mp.topic, p, op)
		if err != nil {
			return res, err
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return res, fmt.Errorf("producing the copies on partitions 1-%d: %w", n-1, err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return res, fmt.Errorf("committing the transaction: %w", err)
	}
	return res, nil
}

// partitions asks the cluster for the topic's partition count.
func (mp *metaPublisher) partitions(ctx context.Context, cl *kgo.Client) (int32, error) {
	topics, err := kadm.NewClient(cl).ListTopics(ctx, mp.topic)
	if err != nil {
		return 0, fmt.Errorf("reading the partitions of %s: %w", mp.topic, err)
	}
	td, ok := topics[mp.topic]
	switch {
	case !ok:
		return 0, fmt.Errorf("reading the partitions of %s: the cluster did not answer for it", mp.topic)
	case td.Err != nil:
		return 0, fmt.Errorf("reading the partitions of %s: %w", mp.topic, td.Err)
	case len(td.Partitions) == 0:
		return 0, fmt.Errorf("reading the partitions of %s: none", mp.topic)
	}
	return int32(len(td.Partitions)), nil
}

// abort ends a failed change's transaction, if it got that far, and drops the client:
// after a failure its state is not to be trusted, and the next change's new client
// (same transactional id) fences it on the broker in any case.
func (mp *metaPublisher) abort(cl *kgo.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), mp.timeout)
	defer cancel()
	_ = cl.AbortBufferedRecords(ctx)
	_ = cl.EndTransaction(ctx, kgo.TryAbort)
	cl.Close()
	mp.cl = nil
}

// close releases the producer; later changes fail.
func (mp *metaPublisher) close() {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	mp.closed = true
	if mp.cl != nil {
		mp.cl.Close()
		mp.cl = nil
	}
}

// newBarrierID is 16 random bytes as 32 hex digits.
func newBarrierID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
