package replicator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/bulk"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// Partition states in /admin/status.
const (
	stateRunning = "running" // applying, or waiting for records
	statePaused  = "paused"  // an operator paused replication
	stateBlocked = "blocked" // waiting to retry: the target or the dead-letter topic is in trouble, or items are being retried
	stateBarrier = "barrier" // at a metadata change, waiting for the other partitions (barrier.go)
)

// partition is one assigned partition: its buffered records, its progress, and the
// goroutine that applies them. The poll loop pushes; the goroutine takes batches; a
// batch's offsets count as resolved only when every record of it is.
type partition struct {
	r      *Replicator
	topic  string
	id     int32
	log    *slog.Logger
	mapper *indexMapper
	meta   *metaApplier // applies the metadata changes this partition coordinates
	tid    [16]byte     // the topic's id, once read (barrier commits)

	ctx      context.Context // cancelled by stopHard: abandon the batch in hand
	cancel   context.CancelFunc
	stop     chan struct{} // closed by stopSoft: take no new batch
	stopOnce sync.Once
	done     chan struct{}
	wake     chan struct{} // records were pushed

	lagRecords, lagSeconds prometheus.Gauge

	mu          sync.Mutex
	queue       []*kgo.Record // buffered records from head on
	head        int
	bytes       int64 // of the buffered records
	inflight    int64 // bytes of p.batch: taken, not resolved yet; they count against the caps too
	inflightN   int   // records of p.batch
	fetchPaused bool
	released    bool
	// resolved is the offset after the last resolved record; committed the last
	// committed offset (or where consumption started). -1 until known.
	resolved      int64
	resolvedEpoch int32
	committed     int64
	hwm           int64
	lastApplied   time.Time // when an event was last applied (or found stale)
	lastAccepted  time.Time // the primary's accepted time of the last applied event
	state         string
	barrier       string // what the partition waits for at a barrier, "" elsewhere
	lastErr       string
	lastErrAt     time.Time

	// Owned by the partition's goroutine.
	bo      backoff       // between attempts; reset whenever an attempt makes progress
	deletes *deleteMemory // recent deletes: an older INDEX behind one is stale
	rebuilt bool          // deletes read back from before the first record
	batch   []*kgo.Record
	items   []item
	pending []int
	// solo: this batch's requests go alone, not combined with other partitions'
	// (combine.go), since a combined one was refused as a whole.
	solo bool
	asm  event.Assembler // chunk groups being put together (chunks.go)
	part *combinedPart   // reused by the next combined attempt (combine.go)
}

// sendBuffers are the request body and answer of one _bulk in flight. They are taken
// from the replicator's pool with a bulk slot, so that at most batch.max_inflight of
// them are in use however many partitions there are.
type sendBuffers struct {
	body []byte
	resp bytes.Buffer
	rb   *requestBody // the last request's body, which aliases body
}

// requestBody is a _bulk request body that says when the HTTP transport is done with
// it. The transport may still read a body after the response arrived (a target that
// answers early, e.g. 413), so the buffer is reused only once it was closed.
type requestBody struct {
	bytes.Reader
	closed chan struct{}
	once   sync.Once
}

func (b *requestBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// putBuffers returns b to the pool, unless the transport may still be reading its
// body: then it is left to the garbage collector.
func (r *Replicator) putBuffers(b *sendBuffers) {
	if b.rb != nil {
		select {
		case <-b.rb.closed:
		default:
			return
		}
		b.rb = nil
	}
	// A document assembled from chunks makes a body far past batch.max_bytes: keeping
	// it would hold that much per pooled buffer for good.
	if int64(cap(b.body)) > 2*r.cfg.Batch.MaxBytes || int64(b.resp.Cap()) > 2*r.cfg.Batch.MaxBytes {
		return
	}
	select {
	case r.buffers <- b:
	default:
	}
}

// item is one operation of a batch on its way to the target.
type item struct {
	rec      *kgo.Record
	op       *opspb.Operation
	action   bulk.Action
	index    string // on the target
	status   int    // of the last attempt
	errType  string
	errMsg   string
	attempts int
	first    time.Time // first failure
	last     time.Time // last failure
	outcome  outcome   // applied or stale once resolved by the target
	// group is the chunk group the document was assembled from (rec is its last
	// piece), and pieces the document (op's source is empty); nil for an event of one
	// record.
	group  *event.Group
	pieces [][]byte
	// recorded and recordedPieces are the event as it came, when op and pieces were
	// replaced by what the primary holds (late.go): a rejection dead-letters the event.
	recorded       *opspb.Operation
	recordedPieces [][]byte
}

// recordedEvent is the item's event as it came in the partition.
func (it *item) recordedEvent() (*opspb.Operation, [][]byte) {
	if it.recorded != nil {
		return it.recorded, it.recordedPieces
	}
	return it.op, it.pieces
}

// sourceBytes is the size of the item's document.
func (it *item) sourceBytes() int {
	n := len(it.op.GetSource())
	for _, pc := range it.pieces {
		n += len(pc)
	}
	return n
}

func newPartition(r *Replicator, topic string, id int32) *partition {
	ctx, cancel := context.WithCancel(context.Background())
	ps := strconv.Itoa(int(id))
	return &partition{
		asm: event.Assembler{MaxDocumentBytes: r.cfg.Limits.MaxDocumentBytes},
		r:   r, topic: topic, id: id,
		log:        r.log.With("topic", topic, "partition", id),
		mapper:     newIndexMapper(r.cfg.Indices),
		meta:       newMetaApplier(r.cfg, r.target, r.log.With("topic", topic, "partition", id)),
		deletes:    newDeleteMemory(r.deletes),
		bo:         backoff{initial: r.cfg.Retry.Initial, max: r.cfg.Retry.Max},
		ctx:        ctx,
		cancel:     cancel,
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		wake:       make(chan struct{}, 1),
		lagRecords: r.m.lagRecords.WithLabelValues(topic, ps),
		lagSeconds: r.m.lagSeconds.WithLabelValues(topic, ps),
		resolved:   -1,
		committed:  -1,
		hwm:        -1,
		state:      stateRunning,
	}
}

func (p *partition) key() topicPartition { return topicPartition{p.topic, p.id} }

func (p *partition) stopSoft() { p.stopOnce.Do(func() { close(p.stop) }) }

// stopping reports whether the partition was told to stop (soft or hard): no new
// batch is taken and no new attempt is sent; only an attempt in flight goes on.
func (p *partition) stopping() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

func (p *partition) stopHard() {
	p.stopSoft()
	p.cancel()
}

// recordBytes is what a buffered record counts against the buffer caps: its key and
// value plus a rough overhead for the record itself.
func recordBytes(r *kgo.Record) int64 { return int64(len(r.Key)+len(r.Value)) + 128 }

// push appends fetched records (the poll loop's goroutine).
func (p *partition) push(recs []*kgo.Record, hwm int64) {
	var n int64
	for _, rec := range recs {
		n += recordBytes(rec)
	}
	p.mu.Lock()
	if p.released {
		p.mu.Unlock()
		return
	}
	if hwm > p.hwm {
		p.hwm = hwm
	}
	if len(recs) == 0 {
		p.mu.Unlock()
		return
	}
	if p.resolved < 0 {
		p.resolved, p.committed = recs[0].Offset, recs[0].Offset
	}
	p.queue = append(p.queue, recs...)
	p.bytes += n
	p.mu.Unlock()
	p.r.flow.add(n)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// release drops the buffered records of a partition that is no longer owned.
func (p *partition) release() {
	p.mu.Lock()
	n := p.bytes + p.inflight
	p.released = true
	p.bytes, p.inflight, p.inflightN = 0, 0, 0
	clear(p.queue)
	p.queue, p.head = nil, 0
	p.mu.Unlock()
	p.r.flow.add(-n)
	ps := strconv.Itoa(int(p.id))
	p.r.m.lagRecords.DeleteLabelValues(p.topic, ps)
	p.r.m.lagSeconds.DeleteLabelValues(p.topic, ps)
	p.cancel()
}

// wantFetchPaused decides whether the partition's fetching should be paused and says
// whether that changes its state (flowControl holds its lock).
func (p *partition) wantFetchPaused(all bool, partCap int64) (want, change bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return false, false
	}
	held := p.bytes + p.inflight
	want = all || held >= partCap || (p.fetchPaused && held > partCap/2)
	change = want != p.fetchPaused
	p.fetchPaused = want
	return want, change
}

// run applies batches until the partition is stopped.
func (p *partition) run() {
	defer p.r.wg.Done()
	defer close(p.done)
	defer p.cancel()
	defer p.deletes.release()
	defer p.releaseChunks()
	for {
		if !p.waitResumed() || !p.take() || !p.process() {
			return
		}
	}
}

// waitResumed waits while an operator has paused replication.
func (p *partition) waitResumed() bool {
	ch := p.r.resumedSignal()
	if ch == nil {
		return true
	}
	p.setState(statePaused)
	select {
	case <-ch:
		p.setState(stateRunning)
		return true
	case <-p.stop:
	case <-p.ctx.Done():
	}
	return false
}

// take waits for records and moves up to batch.max_docs / batch.max_bytes of them
// into p.batch, waiting up to batch.linger for a batch to fill. It returns false
// when the partition is stopped.
func (p *partition) take() bool {
	cfg := p.r.cfg.Batch
	var timer *time.Timer
	var lingerC <-chan time.Time
	lingered := cfg.Linger == 0
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if p.stopping() || p.r.isPaused() && !p.waitResumed() {
			return false
		}
		p.mu.Lock()
		n, b := len(p.queue)-p.head, p.bytes
		// A batch ends before a metadata change (see below): waiting for more records
		// cannot make the batch bigger.
		cut := n > 0 && p.metadataAhead()
		p.mu.Unlock()
		if n > 0 && (lingered || cut || n >= cfg.MaxDocs || b >= cfg.MaxBytes) {
			break
		}
		if n > 0 && timer == nil {
			timer = time.NewTimer(cfg.Linger)
			lingerC = timer.C
		}
		select {
		case <-p.wake:
		case <-lingerC:
			lingered = true
		case <-p.stop:
			return false
		case <-p.ctx.Done():
			return false
		}
	}

	p.mu.Lock()
	q := p.queue[p.head:]
	k, size := 0, int64(0)
	// A metadata change is never mixed with documents: a batch ends before one, and
	// one is a batch of its own, taken once everything before it is resolved
	// (process runs batches one at a time), as its barrier requires.
	for k < len(q) && k < cfg.MaxDocs {
		s := recordBytes(q[k])
		if k > 0 && size+s > cfg.MaxBytes {
			break
		}
		if meta := event.IsMetadata(q[k]); meta && k > 0 {
			break
		} else if meta {
			size += s
			k++
			break
		}
		size += s
		k++
	}
	p.batch = append(p.batch[:0], q[:k]...)
	clear(q[:k]) // the records are the batch's now; let the queue forget them
	p.head += k
	switch {
	case p.head == len(p.queue):
		p.queue, p.head = p.queue[:0], 0
	case p.head > 4096 && p.head > len(p.queue)/2:
		n := copy(p.queue, p.queue[p.head:])
		clear(p.queue[n:])
		p.queue, p.head = p.queue[:n], 0
	}
	// The batch's bytes stay counted, as in flight, until it is resolved: the
	// memory is held until then, and the caps are about memory.
	p.bytes -= size
	p.inflight, p.inflightN = size, k
	p.mu.Unlock()
	return true
}

// settle stops counting the resolved batch against the caps, and lets fetching resume
// if that frees enough.
func (p *partition) settle() {
	p.mu.Lock()
	n := p.inflight
	p.inflight, p.inflightN = 0, 0
	paused := p.fetchPaused
	p.mu.Unlock()
	if p.r.flow.add(-n) || paused {
		p.r.flow.update()
	}
}

// deadEntry is a record on its way to the dead-letter topic.
type deadEntry struct {
	rec       *kgo.Record
	index, id string // "" for poison records
	dl        kafkax.DeadLetter
}

// process resolves every record of p.batch: applied, stale, skipped, or
// dead-lettered with the write acknowledged. It returns false when the partition is
// stopped before that: the records before the first unresolved one count as resolved
// (abandon), the rest are delivered again to the partition's next owner.
func (p *partition) process() bool {
	r := p.r
	if !p.rebuilt {
		if !p.rebuildDeletes(p.batch[0]) {
			return false
		}
		p.rebuilt = true
	}
	if len(p.batch) == 1 && event.IsMetadata(p.batch[0]) {
		return p.processMetadata(p.batch[0])
	}
	now := r.now()
	p.items = p.items[:0]
	var dead []deadEntry
	skipped, superseded := 0, 0
	var clock time.Time // the latest record timestamp of the batch, for chunk_timeout
	for _, rec := range p.batch {
		if rec.Attrs.IsControl() {
			continue // a transaction marker: nothing to apply
		}
		if rec.Timestamp.After(clock) {
			clock = rec.Timestamp
		}
		op, err := event.Decode(rec)
		if err != nil {
			dead = append(dead, p.poison(rec, err, now))
			continue
		}
		ix, ok := p.mapper.Map(op.GetIndex())
		if !ok {
			skipped++
			continue
		}
		var group *event.Group
		var pieces [][]byte
		if op.GetChunk() != nil {
			if op, group, pieces = p.piece(rec, op, &dead, now); op == nil {
				continue
			}
		}
		superseded += p.supersede(rec.Key, op.GetReplicationVersion())
		at := acceptedAt(op, rec)
		p.deletes.observe(at)
		act := bulk.ActionIndex
		if op.GetKind() == opspb.Kind_KIND_DELETE {
			act = bulk.ActionDelete
			p.deletes.remember(ix, op.GetId(), op.GetReplicationVersion(), at)
		} else if p.deletes.supersedes(ix, op.GetId(), op.GetReplicationVersion()) {
			// An older INDEX published behind a newer DELETE: the document is deleted
			// on the primary, and the target's tombstone may have expired.
			superseded++
			continue
		}
		p.items = append(p.items, item{rec: rec, op: op, action: act, index: ix, group: group, pieces: pieces})
	}
	p.expire(clock, &dead, now)
	if skipped > 0 {
		r.m.opSkipped.Add(float64(skipped))
	}
	if superseded > 0 {
		r.m.opStale.Add(float64(superseded))
		r.m.deletes.hits.Add(float64(superseded))
		p.log.Info("older INDEX events behind a newer DELETE resolved as stale", "events", superseded)
	}
	if !p.resolveLate(&dead) || !p.apply(&dead) {
		return false
	}
	if len(dead) > 0 && !p.deadLetter(dead) {
		return false
	}
	p.resolvedThrough(p.batch[len(p.batch)-1])
	clear(p.items) // drop the decoded operations until the next batch
	clear(p.batch)
	p.settle()
	return true
}

// poison builds the dead-letter entry of a record that cannot be decoded.
func (p *partition) poison(rec *kgo.Record, err error, now time.Time) deadEntry {
	typ := string(event.ReasonUndecodable)
	var pe *event.PoisonError
	if errors.As(err, &pe) {
		typ = string(pe.Reason)
	}
	return deadEntry{rec: rec, dl: kafkax.DeadLetter{
		Class: kafkax.ClassPoison, ErrorType: typ, Reason: err.Error(),
		Cluster: p.r.cfg.Target.Name, SourceTopic: rec.Topic, SourcePartition: rec.Partition, SourceOffset: rec.Offset,
		FirstFailure: now, LastFailure: now,
	}}
}

// apply sends p.items to the target until each is applied, stale, or rejected often
// enough to be dead-lettered (appended to dead). Items answered 429/5xx and whole-
// request failures are retried without limit; later batches of the partition wait.
// A stop ends the retrying at once: no attempt is sent after it, a backoff sleep is
// cut short, and only an attempt in flight finishes (within limits.bulk_timeout, or
// until the stop turns hard). It returns false then, with the batch abandoned.
func (p *partition) apply(dead *[]deadEntry) bool {
	r := p.r
	pending := p.pending[:0]
	for i := range p.items {
		pending = append(pending, i)
	}
	defer func() { p.pending = pending[:0] }()
	p.solo = false // a batch may share requests with other partitions' until one is refused whole
	failures := 0
	limit := len(pending) // items per request; halved when the target finds a request too large
	// isolating: a whole-request 400 is being narrowed down to the items that cause it;
	// limit grows back after every request the target takes.
	isolating := false
	for len(pending) > 0 {
		if p.stopping() {
			p.abandon(pending, *dead)
			return false
		}
		sent := p.sendable(pending, limit)
		at := p.attempt(sent)
		status, connErr, err := at.status, at.connErr, at.err
		if errors.Is(err, errStopped) || p.ctx.Err() != nil {
			p.abandon(pending, *dead) // the answer, if any, counts for nothing: resend it
			return false
		}
		if err != nil && at.combined && (status == http.StatusRequestEntityTooLarge || status == http.StatusBadRequest) {
			// Another partition's items may be the cause: send these alone, at once.
			p.solo = true
			continue
		}
		if err != nil && (status == http.StatusRequestEntityTooLarge || status == http.StatusBadRequest) {
			// 413: the request is over the target's http.max_content_length. 400: the
			// target refused the request as a whole for what one of its items holds
			// (bulk validation, action_request_validation_exception, answers for all
			// items at once, e.g. for an invalid version or id). Neither is cluster
			// trouble: send the items in smaller requests, in order (a bisection), until
			// one item alone is refused; that is its rejection, which goes the way of
			// item rejections (retried, then dead-lettered), or it would stall the
			// partition forever (DESIGN.md principle 7). Cluster-wide refusals (401,
			// 403, 404, 429, 5xx) stay below, blocking and retrying.
			if len(sent) > 1 {
				limit = max(len(sent)/2, 1)
				isolating = isolating || status == http.StatusBadRequest
				p.log.Info("target refused a _bulk as a whole; splitting it to find the items it refuses", "status", status, "items", len(sent), "bytes", at.bytes, "error", err)
				continue
			}
			it := &p.items[sent[0]]
			it.status, it.errType, it.errMsg = status, at.errType, err.Error()
			err = nil
		}
		if err != nil {
			// Cluster trouble: nothing of this request counts. Block the partition and
			// retry forever; never dead-letter for it (DESIGN.md principle 3).
			failures++
			if !at.combined { // a combined request is counted once, by sendCombined
				r.m.bulkFailed.Inc()
			}
			r.health.markDown(err.Error(), connErr)
			p.trouble(err)
			if failures == 1 || failures%10 == 0 {
				p.log.Warn("bulk request failed; retrying with backoff", "error", err,
					"items", len(sent), "attempt", failures, "first_offset", p.items[sent[0]].rec.Offset)
			}
			if !p.sleep(p.bo.next(), connErr) {
				p.abandon(pending, *dead)
				return false
			}
			continue
		}
		if status == http.StatusOK {
			if !at.combined {
				r.m.bulkOK.Inc()
			}
			r.health.markUp(false)
			if isolating {
				limit = min(limit*2, len(p.items))
			}
		}
		if failures > 0 {
			p.log.Info("target answers again", "failed_attempts", failures)
			failures = 0
		}

		now := r.now()
		// Filtered in place: writes trail the reads. The items not sent stay pending
		// behind those to retry, keeping the partition's order.
		next := pending[:0]
		var nApplied, nStale, nRetried int
		var firstRetry *item
		for _, i := range sent {
			it := &p.items[i]
			switch o := classify(it.action, it.status); o {
			case applied, stale:
				it.outcome = o
				if o == applied {
					nApplied++
				} else {
					nStale++
				}
			case retry, rejected:
				it.attempts++
				if it.first.IsZero() {
					it.first = now
				}
				it.last = now
				if o == rejected && it.attempts >= r.cfg.Retry.ItemAttempts {
					*dead = append(*dead, p.rejected(it)...)
					continue
				}
				nRetried++
				next = append(next, i)
				if firstRetry == nil {
					firstRetry = it
				}
			}
		}
		next = append(next, pending[len(sent):]...)
		r.m.opApplied.Add(float64(nApplied))
		r.m.opStale.Add(float64(nStale))
		r.m.opRetried.Add(float64(nRetried))
		if nRetried < len(sent) {
			// Progress: the target takes writes again, so the next wait starts short
			// rather than where a long outage left it.
			p.bo.reset()
		}
		pending = next
		if firstRetry == nil {
			continue // everything sent is resolved; send the rest, if any
		}
		if n := p.dropSuperseded(&pending); n > 0 {
			r.m.opStale.Add(float64(n))
			if len(pending) == 0 {
				break
			}
		}
		err = fmt.Errorf("%d items to retry, e.g. %s/%s (offset %d): HTTP %d %s: %s", nRetried,
			firstRetry.index, firstRetry.op.GetId(), firstRetry.rec.Offset, firstRetry.status, firstRetry.errType, firstRetry.errMsg)
		p.trouble(err)
		p.log.Debug("retrying bulk items", "error", err)
		if !p.sleep(p.bo.next(), false) {
			p.abandon(pending, *dead)
			return false
		}
	}
	return true
}

// sendable is the head of pending that goes in the next _bulk: at most limit items,
// and within batch.max_bytes of documents unless it is one item. Batches are taken
// within batch.max_bytes of records, so only a document assembled from chunks (the
// batch counts its last piece) makes a bulk of its own here.
func (p *partition) sendable(pending []int, limit int) []int {
	most := p.r.cfg.Batch.MaxBytes
	k, size := 0, int64(0)
	for k < len(pending) && k < limit {
		it := &p.items[pending[k]]
		n := int64(it.sourceBytes()+len(it.op.GetId())+len(it.index)) + 128
		if k > 0 && size+n > most {
			break
		}
		size += n
		k++
	}
	return pending[:k]
}

// dropSuperseded resolves as stale the items to retry whose document was already
// written in this batch with a higher version: the target would answer 409, and not
// resending them keeps an old version from landing on a tombstone that has expired.
func (p *partition) dropSuperseded(pending *[]int) int {
	type docKey struct{ index, id, routing string }
	newest := map[docKey]int64{}
	for i := range p.items {
		it := &p.items[i]
		if it.outcome == 0 {
			continue
		}
		k := docKey{it.index, it.op.GetId(), it.op.GetRouting()}
		if v := it.op.GetReplicationVersion(); v > newest[k] {
			newest[k] = v
		}
	}
	if len(newest) == 0 {
		return 0
	}
	keep := (*pending)[:0]
	dropped := 0
	for _, i := range *pending {
		it := &p.items[i]
		if newest[docKey{it.index, it.op.GetId(), it.op.GetRouting()}] > it.op.GetReplicationVersion() {
			it.outcome = stale
			dropped++
			continue
		}
		keep = append(keep, i)
	}
	*pending = keep
	return dropped
}

// rejected builds the dead-letter entries of an item the target refused for good: one,
// or a document assembled from chunks as chunks again (rejectedChunks).
func (p *partition) rejected(it *item) []deadEntry {
	typ := it.errType
	if typ == "" {
		typ = "http_" + strconv.Itoa(it.status)
	}
	dl := kafkax.DeadLetter{
		Class: kafkax.ClassRejected, ErrorType: typ, Reason: it.errMsg, HTTPStatus: it.status, Attempts: it.attempts,
		Cluster: p.r.cfg.Target.Name, SourceTopic: it.rec.Topic, SourcePartition: it.rec.Partition, SourceOffset: it.rec.Offset,
		FirstFailure: it.first, LastFailure: it.last,
	}
	if it.group != nil {
		return p.rejectedChunks(it, dl)
	}
	return []deadEntry{{rec: it.rec, index: it.op.GetIndex(), id: it.op.GetId(), dl: dl}}
}

// errAnswer marks failures to make sense of an answer (as opposed to not getting one).
var errAnswer = errors.New("unusable _bulk answer")

// errStopped is send's answer when the partition stopped while it waited for a slot:
// nothing was sent.
var errStopped = errors.New("partition stopped")

// attemptResult is what one _bulk attempt came to.
type attemptResult struct {
	status  int    // HTTP status, 0 without an answer
	connErr bool   // no HTTP answer at all
	err     error  // nil: every sent item has its status
	bytes   int    // of the request body
	errType string // of a whole-request 400 or 413 answer
	// combined: the request held other partitions' items too (combine.go), so a 413 or
	// a whole-request 400 says nothing about this partition's own.
	combined bool
}

// attempt sends the items at sent in one _bulk and records each item's status from
// the answer. It waits for a bulk slot first (errStopped if the partition stops
// meanwhile), and builds the body only once it has one.
func (p *partition) attempt(sent []int) attemptResult {
	r := p.r
	select {
	case r.sem <- struct{}{}:
	case <-p.stop:
		return attemptResult{err: errStopped}
	case <-p.ctx.Done():
		return attemptResult{err: errStopped}
	}
	var buf *sendBuffers
	select {
	case buf = <-r.buffers:
	default:
		buf = &sendBuffers{}
	}
	// The slot and the buffers go back when the attempt returns, unless a combined
	// request it leads took them over (it gives them back when it is done).
	release := func() {
		r.putBuffers(buf)
		<-r.sem
	}
	handedOff := false
	defer func() {
		if !handedOff {
			release()
		}
	}()
	body := buf.body[:0]
	for _, i := range sent {
		it := &p.items[i]
		meta := opMeta(it.index, it.op)
		if it.pieces != nil {
			body = appendPieces(body, &meta, it.pieces)
			continue
		}
		body = bulk.AppendItem(body, &meta, it.op.GetSource())
	}
	buf.body = body
	if r.comb != nil && !p.solo {
		var res attemptResult
		res, handedOff = p.attemptCombined(buf, sent, body, release)
		return res
	}
	answer, status, connErr, err := p.send(buf, body)
	if err == nil {
		err = p.judge(sent, answer)
	}
	res := attemptResult{status: status, connErr: connErr, err: err, bytes: len(body)}
	if err != nil && (status == http.StatusRequestEntityTooLarge || status == http.StatusBadRequest) {
		res.errType = wholeRequestErrorType(buf.resp.Bytes(), status)
	}
	return res
}

// send posts one _bulk body and returns the answer of a 200, which aliases buf.resp.
// Any other outcome is an error, with the HTTP status if there was one (connErr: no
// HTTP answer at all). The caller holds a bulk slot.
func (p *partition) send(buf *sendBuffers, body []byte) (answer []byte, status int, connErr bool, err error) {
	return p.sendFrom(p.ctx, buf, body)
}

// sendFrom is send bounded by parent rather than the partition's context.
func (p *partition) sendFrom(parent context.Context, buf *sendBuffers, body []byte) (answer []byte, status int, connErr bool, err error) {
	r := p.r
	r.m.inflight.Inc()
	defer r.m.inflight.Dec()

	ctx, cancel := context.WithTimeout(parent, r.cfg.Limits.BulkTimeout)
	defer cancel()
	rb := &requestBody{closed: make(chan struct{})}
	rb.Reset(body)
	buf.rb = rb
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/_bulk", rb)
	if err != nil {
		return nil, 0, false, fmt.Errorf("building _bulk request: %w", err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	start := time.Now()
	// Stream, not Perform: Perform reads every answer into a fresh buffer of its own,
	// and the answer is read into buf.resp here anyway.
	resp, err := r.target.Stream(req)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, 0, true, fmt.Errorf("sending _bulk to %s: %w", r.cfg.Target.Name, err)
	}
	buf.resp.Reset()
	_, err = buf.resp.ReadFrom(resp.Body)
	resp.Body.Close()
	r.m.bulkSeconds.Observe(time.Since(start).Seconds())
	r.m.bulkBytes.Observe(float64(len(body)))
	if err != nil {
		return nil, resp.StatusCode, true, fmt.Errorf("reading _bulk answer from %s: %w", r.cfg.Target.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, false, fmt.Errorf("_bulk on %s: HTTP %d: %s", r.cfg.Target.Name, resp.StatusCode, truncate(buf.resp.Bytes(), 300))
	}
	return buf.resp.Bytes(), resp.StatusCode, false, nil
}

// judge records each sent item's status from the answer. It fails, and nothing of
// the answer counts, when the answer does not account for every item in order.
func (p *partition) judge(pending []int, answer []byte) error {
	err := judgeAnswer(answer, len(pending), func(k int) string { return p.items[pending[k]].op.GetId() },
		func(k int, res *bulk.ItemResult) {
			it := &p.items[pending[k]]
			it.status = res.Status
			if res.Status < 200 || res.Status >= 300 {
				it.errType, it.errMsg = res.ErrorType, res.ErrorReason
			}
		})
	if err != nil {
		return fmt.Errorf("judging _bulk answer from %s: %w", p.r.cfg.Target.Name, err)
	}
	return nil
}

// deadLetter writes the entries to the dead-letter topic and waits for Kafka to
// acknowledge every one: a record counts as resolved only once its dead-letter copy is
// durable (DESIGN.md principle 3). How a failed write goes on depends on its class
// (classifyProduce):
//
//   - retriable (broker or network trouble): written again after a backoff;
//   - too large or invalid as it is: written once more as a reference record, without
//     its value (the source offset locates the event; dlq replay resolves it against
//     the primary), so one oversized event never stalls its partition (principle 7).
//     A copy over the topic's size limit is written as a reference at once;
//   - permanent (authorization, missing topic, or a reference refused too): nothing
//     written to this topic can succeed until an operator acts, and skipping the
//     record would commit past an unresolved one (principle 3): the partition blocks
//     with the error (status, log, fanout_replicator_dlq_permanent_errors_total) and
//     probes again every retry.max, so it resumes by itself once the cause is fixed.
func (p *partition) deadLetter(dead []deadEntry) bool {
	r := p.r
	topic := r.cfg.dlqTopic(p.topic)
	limit := r.dlqLimit(topic)
	recs := make([]*kgo.Record, len(dead))
	refs := make([]bool, len(dead))
	for i := range dead {
		recs[i], refs[i] = kafkax.FitDeadLetter(topic, dead[i].rec, dead[i].dl, limit)
	}
	for len(dead) > 0 {
		if p.stopping() {
			p.abandon(nil, dead)
			return false
		}
		errs := make([]error, len(dead))
		var wg sync.WaitGroup
		wg.Add(len(dead))
		for i := range dead {
			r.producer.Produce(p.ctx, recs[i], func(_ *kgo.Record, err error) {
				errs[i] = err
				wg.Done()
			})
		}
		wg.Wait()
		next, nextRecs, nextRefs := dead[:0], recs[:0], refs[:0]
		var firstErr error
		permanent := false
		for i, err := range errs {
			d := dead[i]
			if err != nil {
				if p.ctx.Err() == nil {
					switch classifyProduce(err) {
					case produceTooLarge:
						if !refs[i] {
							p.log.Warn("dead-letter copy refused as it is; writing a reference record without the value",
								"offset", d.dl.SourceOffset, "index", d.index, "id", d.id, "dlq_topic", topic,
								"value_bytes", len(d.rec.Value), "error", err)
							recs[i] = kafkax.NewReferenceRecord(topic, d.rec, d.dl,
								kafkax.Dropped{Reason: kafkax.DroppedTooLarge, Bytes: len(d.rec.Value)})
							refs[i] = true
							next, nextRecs, nextRefs = append(next, d), append(nextRecs, recs[i]), append(nextRefs, true)
							continue
						}
						permanent = true
					case producePermanent:
						permanent = true
					}
				}
				next, nextRecs, nextRefs = append(next, d), append(nextRecs, recs[i]), append(nextRefs, refs[i])
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			r.m.opDLQ.Inc()
			if refs[i] {
				r.m.dlqReferences.Inc()
			}
			p.log.Warn("record dead-lettered", "offset", d.dl.SourceOffset, "index", d.index, "id", d.id,
				"dlq_topic", topic, "class", d.dl.Class, "error_type", d.dl.ErrorType, "reason", d.dl.Reason,
				"http_status", d.dl.HTTPStatus, "attempts", d.dl.Attempts, "value_dropped", refs[i], "value_bytes", len(d.rec.Value))
		}
		if len(next) < len(dead) {
			p.bo.reset()
		}
		dead, recs, refs = next, nextRecs, nextRefs
		if len(dead) == 0 {
			break
		}
		if p.ctx.Err() != nil {
			p.abandon(nil, dead)
			return false
		}
		if firstErr == nil {
			continue // only fallbacks to reference records: write them now
		}
		r.m.dlqProduceErrs.Add(float64(len(dead)))
		wait := p.bo.next()
		if permanent {
			r.m.dlqPermanent.Inc()
			wait = r.cfg.Retry.Max
			err := fmt.Errorf("dead-letter topic %s refuses %d records for good (the partition blocks until this is fixed; it probes again every %s): %w",
				topic, len(dead), wait, firstErr)
			p.trouble(err)
			p.log.Error("dead-letter write refused; the partition is blocked", "error", err)
		} else {
			err := fmt.Errorf("writing %d records to dead-letter topic %s: %w", len(dead), topic, firstErr)
			p.trouble(err)
			p.log.Error("dead-letter write failed; the partition waits and retries", "error", err)
		}
		if !p.sleep(wait, false) {
			p.abandon(nil, dead)
			return false
		}
	}
	return true
}

// abandon gives up on the batch in hand because the partition is stopping: the
// records before the first one still unresolved (an item pending, or a dead-letter
// copy not written) count as resolved, so that the partition's next owner starts
// there rather than at the batch's first record.
func (p *partition) abandon(pending []int, dead []deadEntry) {
	first := int64(-1)
	for _, i := range pending {
		off := p.items[i].rec.Offset
		if g := p.items[i].group; g != nil {
			off = g.FirstOffset() // the document is its pieces from the first on
		}
		if first < 0 || off < first {
			first = off
		}
	}
	for _, d := range dead {
		if off := d.rec.Offset; first < 0 || off < first {
			first = off
		}
	}
	var last *kgo.Record
	for _, rec := range p.batch {
		if first >= 0 && rec.Offset >= first {
			break
		}
		last = rec
	}
	if last == nil {
		return
	}
	off, epoch := p.hold(last.Offset+1, last.LeaderEpoch)
	p.mu.Lock()
	if off > p.resolved {
		p.resolved = off
		p.resolvedEpoch = epoch
	}
	p.mu.Unlock()
}

// sleep waits d, or until the target is back when wakeOnUp; false when stopped.
func (p *partition) sleep(d time.Duration, wakeOnUp bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	var up <-chan struct{}
	if wakeOnUp {
		up = p.r.health.upSignal()
	}
	select {
	case <-t.C:
	case <-up:
	case <-p.stop:
		return false
	case <-p.ctx.Done():
		return false
	}
	return true
}

func (p *partition) setState(s string) {
	p.mu.Lock()
	p.state = s
	p.mu.Unlock()
}

func (p *partition) trouble(err error) {
	p.mu.Lock()
	p.state = stateBlocked
	p.lastErr = err.Error()
	p.lastErrAt = p.r.now()
	p.mu.Unlock()
}

// resolvedThrough marks the batch ending with last as resolved.
func (p *partition) resolvedThrough(last *kgo.Record) {
	var accepted time.Time
	appliedAny := false
	for i := len(p.items) - 1; i >= 0; i-- {
		if p.items[i].outcome != 0 {
			appliedAny = true
			if ts := p.items[i].op.GetAcceptedAt(); ts != nil {
				accepted = ts.AsTime()
			}
			break
		}
	}
	off, epoch := p.hold(last.Offset+1, last.LeaderEpoch)
	p.mu.Lock()
	if off > p.resolved {
		p.resolved, p.resolvedEpoch = off, epoch
	}
	if appliedAny {
		p.lastApplied = p.r.now()
	}
	if !accepted.IsZero() {
		p.lastAccepted = accepted
	}
	p.state = stateRunning
	p.barrier = ""
	p.mu.Unlock()
	p.updateLag()
}

// toCommit returns the offset to commit, if it is past the committed one.
func (p *partition) toCommit() (kgo.EpochOffset, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resolved < 0 || p.resolved <= p.committed {
		return kgo.EpochOffset{}, false
	}
	return kgo.EpochOffset{Epoch: p.resolvedEpoch, Offset: p.resolved}, true
}

func (p *partition) committedTo(off int64) {
	p.mu.Lock()
	if off > p.committed {
		p.committed = off
	}
	p.mu.Unlock()
}

// setStartIfUnknown sets the group's committed offset as the starting point while no
// record has been fetched yet, so that lag is known before the first fetch.
func (p *partition) setStartIfUnknown(committed int64) {
	p.mu.Lock()
	if p.resolved < 0 && committed >= 0 {
		p.resolved, p.committed = committed, committed
	}
	p.mu.Unlock()
}

func (p *partition) setHighWatermark(h int64) {
	p.mu.Lock()
	if h > p.hwm {
		p.hwm = h
	}
	p.mu.Unlock()
}

// lagLocked returns the records not yet resolved and the lag in seconds: now minus
// the accepted time of the last applied (or stale) event while records are pending,
// 0 when none are. The caller holds p.mu.
func (p *partition) lagLocked(now time.Time) (int64, float64) {
	if p.hwm < 0 || p.resolved < 0 {
		return 0, 0
	}
	n := max(p.hwm-p.resolved, 0)
	if n == 0 {
		return 0, 0
	}
	since := p.lastAccepted
	if since.IsZero() && p.head < len(p.queue) {
		// Nothing applied yet: the oldest buffered record's timestamp (its produce
		// time, close to the primary's accepted time) says how far behind we are.
		since = p.queue[p.head].Timestamp
	}
	if since.IsZero() {
		return n, 0
	}
	return n, max(now.Sub(since).Seconds(), 0)
}

func (p *partition) updateLag() {
	now := p.r.now()
	p.mu.Lock()
	n, secs := p.lagLocked(now)
	released := p.released
	p.mu.Unlock()
	if released {
		return
	}
	p.lagRecords.Set(float64(n))
	p.lagSeconds.Set(secs)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// wholeRequestErrorType is the error type of a whole-request error answer
// ({"error":{"type":…}}), or a name for the status when the answer has none.
func wholeRequestErrorType(answer []byte, status int) string {
	var e struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	if json.Unmarshal(answer, &e) == nil && e.Error.Type != "" {
		return e.Error.Type
	}
	if status == http.StatusRequestEntityTooLarge {
		return "request_entity_too_large"
	}
	return "http_" + strconv.Itoa(status)
}
