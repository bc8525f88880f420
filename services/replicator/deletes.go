package replicator

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// Why a memory of deletes (DESIGN.md principle 8): two proxies publish writes of one
// document in the order each reaches Kafka, not in the primary's order, so a partition
// can hold DELETE v6 followed by INDEX v5 of the same document. The target's delete
// tombstone (index.gc_deletes, 60 s by default) rejects the older INDEX only while it
// lasts; after a longer outage INDEX v5 would land and the document would be back for
// good. A partition therefore remembers, per target document, the version of the
// newest DELETE it has seen, and resolves an INDEX with a lower version as stale
// without sending it.
//
// How long: an event accepted at time t is in Kafka by t + publish.timeout (the
// proxy's record delivery bound, linger included) on the publishing proxy's clock.
// An INDEX older than a DELETE was accepted before it, so once the partition has seen
// an event accepted at T ≥ t_delete + publish.timeout + 2·(clock skew between the
// proxies), every older INDEX of that document is behind us in the partition. The
// window, deletes.window, must be at least that; the default (5 min) leaves wide room
// over the proxy's default publish.timeout (10 s). Time is the events' accepted times,
// never the replicator's clock, so a replicator that is hours behind keeps the entries
// exactly as long as it needs them.
//
// The memory is bounded: deletes.max_entries caps the entries over all partitions of
// the replicator. An entry pushed out by the cap before its window ends is counted in
// fanout_replicator_delete_memory_evicted_total: from then on only the target's
// tombstone protects that document, so the cap must be sized for the delete rate
// (entries ≈ deletes per second × window).
//
// On assignment the memory is rebuilt from Kafka (readback.go): the partition reads
// back from the offset for timestamp (its first record's timestamp − window) up to
// where it starts, so a restart or a rebalance does not forget a delete whose older
// INDEX is still to come.

// docID is a document on the target.
type docID struct{ index, id string }

type deleteMark struct {
	version int64
	at      time.Time // the DELETE's accepted time
}

type fifoEntry struct {
	key docID
	deleteMark
}

// deleteEntryOverhead is a rough size of one entry beyond its index and id strings:
// the map slot, the FIFO slot, two string headers, a version and a time, each twice.
const deleteEntryOverhead = 160

// deletesShared is what the partitions' memories share: the cap over all of them and
// the metrics.
type deletesShared struct {
	window  time.Duration
	max     int64
	entries atomic.Int64
	gauge   prometheus.Gauge // entries
	bytes   prometheus.Gauge // estimated bytes
	evicted prometheus.Counter
	hits    prometheus.Counter // INDEX events found stale by the memory
}

// deleteMemory is one partition's memory of recent deletes. It is owned by the
// partition's goroutine.
type deleteMemory struct {
	s     *deletesShared
	m     map[docID]deleteMark
	fifo  []fifoEntry // in the order remembered; may hold entries since replaced
	head  int
	clock time.Time // the newest accepted time seen in the partition
	bytes int64
}

func newDeleteMemory(s *deletesShared) *deleteMemory {
	return &deleteMemory{s: s, m: map[docID]deleteMark{}}
}

// acceptedAt is an event's accepted time, or its record's timestamp when it has none.
func acceptedAt(op *opspb.Operation, rec *kgo.Record) time.Time {
	if ts := op.GetAcceptedAt(); ts != nil {
		return ts.AsTime()
	}
	return rec.Timestamp
}

// observe advances the memory's clock to an event's accepted time and forgets the
// deletes whose window has passed.
func (d *deleteMemory) observe(at time.Time) {
	if at.After(d.clock) {
		d.clock = at
	}
	d.expire()
}

// remember records a DELETE of index/id with version v accepted at at.
func (d *deleteMemory) remember(index, id string, v int64, at time.Time) {
	k := docID{index, id}
	if old, ok := d.m[k]; ok && old.version >= v {
		return
	}
	d.m[k] = deleteMark{v, at}
	d.fifo = append(d.fifo, fifoEntry{k, deleteMark{v, at}})
	n := int64(len(index)+len(id)) + deleteEntryOverhead
	d.bytes += n
	d.s.entries.Add(1)
	d.s.gauge.Inc()
	d.s.bytes.Add(float64(n))
	d.expire()
}

// supersedes says whether a DELETE newer than version v of index/id was seen.
func (d *deleteMemory) supersedes(index, id string, v int64) bool {
	mk, ok := d.m[docID{index, id}]
	return ok && mk.version > v
}

// expire drops the oldest entries while their window has passed or the replicator
// holds more than deletes.max_entries.
func (d *deleteMemory) expire() {
	horizon := d.clock.Add(-d.s.window)
	for d.head < len(d.fifo) {
		e := d.fifo[d.head]
		overCap := d.s.entries.Load() > d.s.max
		if !overCap && !e.at.Before(horizon) {
			break
		}
		if overCap && !e.at.Before(horizon) {
			if cur, ok := d.m[e.key]; ok && cur == e.deleteMark {
				d.s.evicted.Inc()
			}
		}
		d.pop()
	}
	if d.head > 1024 && d.head > len(d.fifo)/2 {
		n := copy(d.fifo, d.fifo[d.head:])
		clear(d.fifo[n:])
		d.fifo, d.head = d.fifo[:n], 0
	}
}

func (d *deleteMemory) pop() {
	e := d.fifo[d.head]
	d.fifo[d.head] = fifoEntry{}
	d.head++
	if cur, ok := d.m[e.key]; ok && cur == e.deleteMark {
		delete(d.m, e.key)
	}
	n := int64(len(e.key.index)+len(e.key.id)) + deleteEntryOverhead
	d.bytes -= n
	d.s.entries.Add(-1)
	d.s.gauge.Dec()
	d.s.bytes.Sub(float64(n))
}

// release forgets everything (the partition is no longer owned).
func (d *deleteMemory) release() {
	for d.head < len(d.fifo) {
		d.pop()
	}
	d.fifo, d.head = nil, 0
	clear(d.m)
}

// len is the number of documents remembered.
func (d *deleteMemory) len() int { return len(d.m) }
