package replicator

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/bulk"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// Chunk groups. A document too large for one record arrives as a group of pieces
// (pkg/event.Split), each a full Operation; the partition puts them back together
// (pkg/event.Assembler) and applies the document as one INDEX, in the place of its
// last piece. While a group is open the partition's committed offset stays at its
// first piece, whatever the partition resolves after it, so that a replicator killed
// mid-group reads the whole group again (DESIGN.md principle 3). A group is resolved
// when it is assembled and applied (or found stale, or rejected and dead-lettered as
// its chunks), superseded by a newer event of its document, dead-lettered as invalid
// (gap, mismatch, checksum) or too large, or given up as incomplete once
// consume.chunk_timeout has passed in the partition's record timestamps.
//
// Memory: a group holds its pieces (then the assembled document, once) outside the
// fetch buffer caps, at most limits.max_document_bytes each; a larger group is
// dead-lettered piece by piece without buffering. The bytes held are
// fanout_replicator_chunk_buffered_bytes.

// piece takes a chunk record of the batch. It returns the assembled event (its
// document left empty), its pieces and its group when rec completes a group that checks
// out; nil otherwise (the piece is kept, skipped, or dead-lettered into dead). The
// pieces go into the _bulk body as they are (appendPieces): the document is never
// copied whole.
func (p *partition) piece(rec *kgo.Record, op *opspb.Operation, dead *[]deadEntry, now time.Time) (*opspb.Operation, *event.Group, [][]byte) {
	r := p.r
	before := p.asm.Buffered()
	defer func() { r.m.chunkBuffered.Add(float64(p.asm.Buffered() - before)) }()
	out, g, done, err := p.asm.Add(rec, op)
	switch out {
	case event.Buffered, event.Duplicate:
		return nil, nil, nil
	case event.Orphan:
		r.m.chunkOrphans.Inc()
		return nil, nil, nil
	case event.Refused:
		*dead = append(*dead, p.chunkDead(rec, event.ReasonDocumentTooLarge, fmt.Sprintf(
			"chunked document %s of %d bytes is over limits.max_document_bytes (%d); piece %d of %d dead-lettered as it is",
			g.Key, g.Total, r.cfg.Limits.MaxDocumentBytes, op.GetChunk().GetIndex(), g.Count), now))
		if done {
			r.m.chunkGroups.WithLabelValues(chunkTooLarge).Inc()
			p.log.Warn("chunked document over limits.max_document_bytes dead-lettered", "key", g.Key,
				"bytes", g.Total, "first_offset", g.FirstOffset(), "last_offset", rec.Offset)
		}
		return nil, nil, nil
	case event.Invalid:
		reason := event.ReasonChunkMismatch
		if pe, ok := err.(*event.PoisonError); ok {
			reason = pe.Reason
		}
		p.groupDead(g, reason, err.Error(), now, dead)
		if n := len(g.Offsets); n == 0 || g.Offsets[n-1] != rec.Offset {
			*dead = append(*dead, p.chunkDead(rec, reason, err.Error(), now))
		}
		r.m.chunkGroups.WithLabelValues(chunkInvalid).Inc()
		p.log.Warn("invalid chunk group dead-lettered", "key", g.Key, "offset", rec.Offset, "error", err)
		return nil, nil, nil
	}
	// Complete.
	r.m.chunkGroups.WithLabelValues(chunkAssembled).Inc()
	doc, pieces := g.Parts()
	return doc, g, pieces
}

// appendPieces appends a _bulk item whose document is the concatenation of pieces,
// as bulk.AppendItem would: a document holding a line break is compacted whole.
func appendPieces(dst []byte, m *bulk.Meta, pieces [][]byte) []byte {
	for i, pc := range pieces {
		if bytes.IndexByte(pc, '\n') >= 0 || i == len(pieces)-1 && len(pc) > 0 && pc[len(pc)-1] == '\r' {
			return bulk.AppendItem(dst, m, bytes.Join(pieces, nil))
		}
	}
	total := 1
	for _, pc := range pieces {
		total += len(pc)
	}
	// Grown once: appending a 50 MiB document piece by piece would copy it again at
	// every doubling of the body.
	dst = slices.Grow(bulk.AppendMeta(dst, m), total)
	for _, pc := range pieces {
		dst = append(dst, pc...)
	}
	return append(dst, '\n')
}

// supersede gives up the open groups of a document that an event of a higher
// replication version makes stale: the target would refuse them (409), and their later
// pieces, if any come, are orphans.
func (p *partition) supersede(key []byte, version int64) int {
	if p.asm.Len() == 0 {
		return 0
	}
	n := 0
	before := p.asm.Buffered()
	for _, g := range p.asm.Open() {
		if g.Key == string(key) && g.Meta.GetReplicationVersion() < version {
			p.asm.Remove(g)
			n++
		}
	}
	p.r.m.chunkBuffered.Add(float64(p.asm.Buffered() - before))
	if n > 0 {
		p.r.m.chunkGroups.WithLabelValues(chunkSuperseded).Add(float64(n))
	}
	return n
}

// expire dead-letters the open groups that can no longer complete: the partition holds
// a record stamped more than consume.chunk_timeout after their first piece. The rule
// reads only the log, so a replicator that reads the partition again decides the same.
func (p *partition) expire(clock time.Time, dead *[]deadEntry, now time.Time) {
	if p.asm.Len() == 0 || clock.IsZero() {
		return
	}
	timeout := p.r.cfg.Consume.ChunkTimeout
	before := p.asm.Buffered()
	for _, g := range p.asm.Open() {
		if !clock.After(g.First.Timestamp.Add(timeout)) {
			continue
		}
		p.asm.Remove(g)
		p.r.m.chunkGroups.WithLabelValues(chunkIncomplete).Inc()
		if g.Refused {
			// Its pieces were dead-lettered as they came.
			continue
		}
		detail := fmt.Sprintf("chunk group %x of %s has %d of its %d pieces (%d of %d bytes), and the partition has records stamped more than consume.chunk_timeout (%s) after its first piece: the rest will never come",
			g.ID, g.Key, len(g.Pieces), g.Count, g.Bytes(), g.Total, timeout)
		p.groupDead(g, event.ReasonChunkIncomplete, detail, now, dead)
		p.log.Warn("incomplete chunk group dead-lettered", "key", g.Key, "first_offset", g.FirstOffset(),
			"pieces", len(g.Pieces), "count", g.Count)
	}
	p.r.m.chunkBuffered.Add(float64(p.asm.Buffered() - before))
}

// groupDead appends the dead-letter entries of the pieces a group received, each
// re-encoded as the chunk record it came in, with its own source offset.
func (p *partition) groupDead(g *event.Group, reason event.Reason, detail string, now time.Time, dead *[]deadEntry) {
	for k := range g.Pieces {
		rec, err := g.PieceRecord(p.topic, k)
		if err != nil {
			// The pieces decoded, so they encode; keep the record's place regardless.
			rec = &kgo.Record{Topic: p.topic, Key: []byte(g.Key)}
		}
		rec.Partition, rec.Offset = p.id, g.Offsets[k]
		*dead = append(*dead, p.chunkDead(rec, reason, detail, now))
	}
}

// chunkDead is the dead-letter entry of one chunk record.
func (p *partition) chunkDead(rec *kgo.Record, reason event.Reason, detail string, now time.Time) deadEntry {
	return deadEntry{rec: rec, dl: kafkax.DeadLetter{
		Class: kafkax.ClassPoison, ErrorType: string(reason), Reason: detail,
		Cluster: p.r.cfg.Target.Name, SourceTopic: p.topic, SourcePartition: p.id, SourceOffset: rec.Offset,
		FirstFailure: now, LastFailure: now,
	}}
}

// dlqSlack is kept free in a dead-letter record for the dead-letter headers (the
// reason is capped at 4 KiB) when a rejected document is split for the dead-letter
// topic.
const dlqSlack = 8 << 10

// rejectedChunks builds the dead-letter entries of an assembled document the target
// refused for good: the document split again into chunk records that fit the
// dead-letter topic (same group id), so that fanoutctl dlq replay can put it together
// and apply it whole. Every entry names the group's first piece as its source offset.
func (p *partition) rejectedChunks(it *item, dl kafkax.DeadLetter) []deadEntry {
	topic := p.r.cfg.dlqTopic(p.topic)
	g := it.group
	dl.SourceOffset = g.FirstOffset()
	op, pieces := it.recordedEvent()
	doc := proto.Clone(op).(*opspb.Operation)
	doc.Source = bytes.Join(pieces, nil)
	rs, err := event.Split(p.topic, doc, p.r.dlqLimit(topic)-dlqSlack, func() []byte { return g.ID })
	if err != nil {
		// Cannot happen for an event that decoded; keep the last piece's record, which
		// FitDeadLetter turns into a reference if need be.
		return []deadEntry{{rec: it.rec, index: it.op.GetIndex(), id: it.op.GetId(), dl: dl}}
	}
	out := make([]deadEntry, 0, rs.Len())
	for k := 0; k < rs.Len(); k++ {
		rec, err := rs.Record(k)
		if err != nil {
			return []deadEntry{{rec: it.rec, index: it.op.GetIndex(), id: it.op.GetId(), dl: dl}}
		}
		rec.Partition, rec.Offset = p.id, g.FirstOffset()
		out = append(out, deadEntry{rec: rec, index: it.op.GetIndex(), id: it.op.GetId(), dl: dl})
	}
	return out
}

// hold caps a resolved offset at the first piece of the oldest open group: the
// committed offset must not pass it until the group is resolved. Only the partition's
// goroutine, which owns the assembler, calls it.
func (p *partition) hold(off int64, epoch int32) (int64, int32) {
	var first *event.Group
	for _, g := range p.asm.Open() {
		if first == nil || g.FirstOffset() < first.FirstOffset() {
			first = g
		}
	}
	if first != nil && first.FirstOffset() < off {
		return first.FirstOffset(), first.First.LeaderEpoch
	}
	return off, epoch
}

// releaseChunks forgets the open groups of a partition that stops: its next owner
// reads them again from their first pieces.
func (p *partition) releaseChunks() {
	p.r.m.chunkBuffered.Sub(float64(p.asm.Buffered()))
	p.asm.Reset()
}
