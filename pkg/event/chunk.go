package event

import (
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// Chunked events: an INDEX event whose record would pass the producer's record limit
// travels as a group of records, each a full Operation whose source is one piece of the
// document (see proto/fanout/v1/operation.proto). Kafka stays the complete log of what
// the primary accepted: a replicator needs nothing but the topic to apply any event.

// Reasons a chunk group is dead-lettered. They go into the dead-letter headers and
// metric labels like the poison reasons, and never change meaning.
const (
	// ReasonChunkGap: a piece came whose index is past the next one expected: a piece
	// of the group is missing from the log.
	ReasonChunkGap Reason = "chunk_gap"
	// ReasonChunkMismatch: a piece disagrees with the group's first piece (count, size,
	// checksum, or the event's fields), or the pieces' sizes do not add up.
	ReasonChunkMismatch Reason = "chunk_mismatch"
	// ReasonChunkChecksum: the assembled document's CRC-32C is not the group's.
	ReasonChunkChecksum Reason = "chunk_checksum"
	// ReasonChunkIncomplete: the group's last pieces never came (the proxy failed
	// between pieces and answered its client with an error).
	ReasonChunkIncomplete Reason = "chunk_group_incomplete"
	// ReasonDocumentTooLarge: the group's document is over the reader's document limit.
	ReasonDocumentTooLarge Reason = "document_too_large"
)

// MaxGroupIDBytes bounds a chunk group id.
const MaxGroupIDBytes = 64

// castagnoli is the CRC-32C table (hardware-accelerated on amd64 and arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is the CRC-32C of a document, as Chunk.crc32c carries it.
func Checksum(src []byte) uint32 { return crc32.Checksum(src, castagnoli) }

// minPiece is the smallest piece Split makes: a record limit that leaves less than
// this beside an event's own fields is a configuration error, not a reason to write
// thousands of records per document.
const minPiece = 512

// recordOverhead bounds what a record costs in a produce batch besides its value: the
// record batch header (61 bytes, which a lone record pays), the record's varints at
// their widest, its key, and its headers.
func recordOverhead(keyLen int, chunked bool) int {
	schema := schemaOf(chunked)
	return 61 + 5 + 1 + 10 + 5 + 5 + keyLen + 5 + 5 +
		5 + len(HeaderSchema) + 5 + len(schema) + 5 + len(HeaderContentType) + 5 + len(ContentType)
}

// Records are the Kafka records of one event: one record, or a chunk group when one
// record would pass the limit. They are built one at a time (Record), so that a big
// document never has all its records in memory beside the producer's buffer; each
// piece is copied once, into its record's value.
type Records struct {
	topic string
	op    *opspb.Operation
	src   []byte
	piece int // bytes per piece; 0: one record
	n     int
	chunk *opspb.Chunk
	size  int // proto.Size of the event (without a chunk)
	fixed int // proto.Size of a piece's event without its source, chunk numbers at their widest
}

// Split plans the records of op on topic so that each fits maxRecordBytes (a produce
// batch holding that one record, as the Kafka client counts it). An event that fits is
// one record, exactly what Encode builds. An INDEX event that does not is split into
// pieces of a group whose id newGroup returns (called only then); any other event that
// does not fit is an error. op must not change until the last Record call.
func Split(topic string, op *opspb.Operation, maxRecordBytes int, newGroup func() []byte) (*Records, error) {
	rs := new(Records)
	if err := rs.Split(topic, op, maxRecordBytes, newGroup); err != nil {
		return nil, err
	}
	return rs, nil
}

// Split is the function Split into rs, whatever it held, for a producer that plans one
// event at a time and reuses rs for the next once the last one's records are built.
// On an error rs holds nothing.
func (rs *Records) Split(topic string, op *opspb.Operation, maxRecordBytes int, newGroup func() []byte) error {
	*rs = Records{}
	if op == nil {
		return errors.New("splitting operation: nil operation")
	}
	if op.GetChunk() != nil {
		return fmt.Errorf("splitting operation %q/%q: it is a chunk already", op.GetIndex(), op.GetId())
	}
	if perr := validate(op); perr != nil {
		return fmt.Errorf("encoding operation %q/%q: %w", op.GetIndex(), op.GetId(), perr)
	}
	keyLen := len(op.GetIndex()) + 1 + len(op.GetId())
	size, ok := sizeDoc(op)
	if !ok {
		size = proto.Size(op)
	}
	plan := Records{topic: topic, op: op, src: op.GetSource(), n: 1, size: size}
	if recordOverhead(keyLen, false)+size <= maxRecordBytes {
		*rs = plan
		return nil
	}
	if op.GetKind() != opspb.Kind_KIND_INDEX {
		return fmt.Errorf("encoding operation %q/%q: its record would pass %d bytes, and only INDEX events are chunked",
			op.GetIndex(), op.GetId(), maxRecordBytes)
	}
	var group []byte
	if newGroup != nil {
		group = newGroup()
	}
	if len(group) == 0 || len(group) > MaxGroupIDBytes {
		return fmt.Errorf("splitting operation %q/%q: group id of %d bytes, want 1 to %d", op.GetIndex(), op.GetId(), len(group), MaxGroupIDBytes)
	}
	// The fields every piece repeats, sized with the chunk's numbers at their widest.
	plan.chunk = &opspb.Chunk{Group: group, Index: math.MaxUint32, Count: math.MaxUint32,
		TotalBytes: uint64(len(plan.src)), Crc32C: Checksum(plan.src)}
	op.Source, op.Chunk = nil, plan.chunk
	fixed := proto.Size(op)
	op.Source, op.Chunk = plan.src, nil
	plan.fixed = fixed
	plan.piece = maxRecordBytes - recordOverhead(keyLen, true) - fixed - 1 - 5 // source's tag and length
	if plan.piece < minPiece {
		return fmt.Errorf("splitting operation %q/%q: a record limit of %d bytes leaves %d bytes per piece beside the event's fields, want at least %d",
			op.GetIndex(), op.GetId(), maxRecordBytes, plan.piece, minPiece)
	}
	plan.n = (len(plan.src) + plan.piece - 1) / plan.piece
	if plan.n > math.MaxUint32 {
		return fmt.Errorf("splitting operation %q/%q: %d pieces", op.GetIndex(), op.GetId(), plan.n)
	}
	plan.chunk.Count = uint32(plan.n)
	*rs = plan
	return nil
}

// Len is the number of records: 1, or the group's count.
func (rs *Records) Len() int { return rs.n }

// Chunked reports whether the event is a chunk group.
func (rs *Records) Chunked() bool { return rs.piece > 0 }

// Bytes is about what the records' values hold in all: the document once, and the
// event's fields once per record.
func (rs *Records) Bytes() int64 {
	return int64(len(rs.src)) + int64(rs.n)*int64(rs.size-len(rs.src)+64)
}

// ValueBytes is about the size of the k-th record's value (0 ≤ k < Len()): exact for
// one record, at most a few bytes over for a piece.
func (rs *Records) ValueBytes(k int) int {
	if rs.piece == 0 {
		return rs.size
	}
	n := min(rs.piece, len(rs.src)-k*rs.piece)
	return rs.fixed + 1 + protowire.SizeBytes(n)
}

// Record builds the k-th record (0 ≤ k < Len()).
func (rs *Records) Record(k int) (*kgo.Record, error) {
	rec := new(kgo.Record)
	if err := rs.RecordInto(k, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// RecordInto is Record into rec, reusing its memory (EncodeInto).
func (rs *Records) RecordInto(k int, rec *kgo.Record) error {
	if k < 0 || k >= rs.n {
		return fmt.Errorf("record %d of %d", k, rs.n)
	}
	if rs.piece == 0 {
		return EncodeInto(rec, rs.topic, rs.op)
	}
	start := k * rs.piece
	end := min(start+rs.piece, len(rs.src))
	c := &opspb.Chunk{Group: rs.chunk.Group, Index: uint32(k), Count: rs.chunk.Count,
		TotalBytes: rs.chunk.TotalBytes, Crc32C: rs.chunk.Crc32C}
	op := rs.op
	op.Source, op.Chunk = rs.src[start:end], c
	defer func() { op.Source, op.Chunk = rs.src, nil }()
	return EncodeInto(rec, rs.topic, op)
}

// validateChunk checks what a chunk must be on its own; the group's consistency is
// the Assembler's.
func validateChunk(op *opspb.Operation, c *opspb.Chunk) *PoisonError {
	bad := func(format string, args ...any) *PoisonError {
		return poison(ReasonInvalidChunk, fmt.Sprintf(format, args...), nil)
	}
	switch {
	case op.GetKind() != opspb.Kind_KIND_INDEX:
		return bad("a %v operation is never chunked", op.GetKind())
	case len(c.GetGroup()) == 0 || len(c.GetGroup()) > MaxGroupIDBytes:
		return bad("chunk group id of %d bytes, want 1 to %d", len(c.GetGroup()), MaxGroupIDBytes)
	case c.GetCount() < 2:
		return bad("chunk count %d, want at least 2", c.GetCount())
	case c.GetIndex() >= c.GetCount():
		return bad("chunk index %d of count %d", c.GetIndex(), c.GetCount())
	case c.GetTotalBytes() < uint64(c.GetCount()):
		return bad("document of %d bytes in %d pieces", c.GetTotalBytes(), c.GetCount())
	case uint64(len(op.GetSource())) > c.GetTotalBytes():
		return bad("piece of %d bytes in a document of %d", len(op.GetSource()), c.GetTotalBytes())
	}
	return nil
}

// Assembler puts chunk groups back together, for one partition's records in offset
// order. Groups may interleave (concurrent writers of one document, or of documents of
// one partition); pieces of one group come in index order. It is not safe for
// concurrent use.
type Assembler struct {
	// MaxDocumentBytes is the largest document assembled; a larger group is refused
	// from its first piece, without buffering any of it. 0: no limit.
	MaxDocumentBytes int64

	groups   map[string]*Group
	buffered int64
}

// Group is a chunk group being assembled (or refused).
type Group struct {
	// ID is the group id; Key the record key of its document.
	ID  []byte
	Key string
	// Meta is the first piece's Operation without its source and chunk: the event's
	// fields, which every piece repeats.
	Meta *opspb.Operation
	// Count, Total and CRC are the group's numbers from its first piece.
	Count uint32
	Total int64
	CRC   uint32
	// Pieces are the pieces received, in index order (none when Refused).
	Pieces [][]byte
	// Offsets are the record offsets of the pieces received, in index order; the
	// first is where the group starts in its partition.
	Offsets []int64
	// First is the first piece's record, without its value (its timestamp places
	// the group in time; its headers are the event's).
	First *kgo.Record
	// Refused: the document is over MaxDocumentBytes; its pieces are dead-lettered as
	// they come instead of buffered.
	Refused bool

	have int64
	next uint32
	crc  uint32
}

// Bytes is what the group holds in memory.
func (g *Group) Bytes() int64 { return g.have }

// FirstOffset is the offset of the group's first piece.
func (g *Group) FirstOffset() int64 { return g.Offsets[0] }

// Document returns the assembled event: Meta with the whole source, which is a copy
// of the pieces (they are dropped). Only for a group Add reported Complete.
func (g *Group) Document() *opspb.Operation {
	src := make([]byte, 0, g.Total)
	for _, p := range g.Pieces {
		src = append(src, p...)
	}
	g.Pieces = nil
	op := proto.Clone(g.Meta).(*opspb.Operation)
	op.Source = src
	return op
}

// Parts returns the assembled event without copying the document: Meta's fields
// (source empty) and the pieces, which are the caller's from now on. Only for a group
// Add reported Complete. A writer that streams the pieces (a _bulk body) saves the copy
// Document makes.
func (g *Group) Parts() (*opspb.Operation, [][]byte) {
	pieces := g.Pieces
	g.Pieces = nil
	return proto.Clone(g.Meta).(*opspb.Operation), pieces
}

// Outcome is what adding one piece came to.
type Outcome int

// The outcomes of Assembler.Add.
const (
	// Buffered: the piece is kept; the group waits for more.
	Buffered Outcome = iota + 1
	// Complete: the piece was the group's last and the document checks out; the
	// group is no longer the Assembler's (Group.Document builds the event).
	Complete
	// Duplicate: a piece the group has already (a redelivery); nothing changed.
	Duplicate
	// Orphan: a later piece of a group the Assembler does not know: one resolved
	// before (completed, superseded, dead-lettered, or read before this
	// Assembler's first record), so there is nothing left to do with it.
	Orphan
	// Invalid: the piece does not fit its group (the error says why, as a
	// *PoisonError with a chunk reason); the group, with the pieces received before
	// this one, is no longer the Assembler's and goes to the dead-letter topic with
	// the piece.
	Invalid
	// Refused: a piece of a group over MaxDocumentBytes; it goes to the dead-letter
	// topic as it is. Done reports whether it was the group's last piece (the group
	// is no longer the Assembler's).
	Refused
)

// Add takes the next piece of a partition: rec is its record and op its decoded
// Operation (op.Chunk set). The group it belongs to is returned for every outcome but
// Orphan.
func (a *Assembler) Add(rec *kgo.Record, op *opspb.Operation) (Outcome, *Group, bool, error) {
	c := op.GetChunk()
	id := string(c.GetGroup())
	g := a.groups[id]
	if g == nil {
		if c.GetIndex() != 0 {
			return Orphan, nil, false, nil
		}
		if a.groups == nil {
			a.groups = map[string]*Group{}
		}
		meta := proto.Clone(op).(*opspb.Operation)
		meta.Source, meta.Chunk = nil, nil
		first := *rec
		first.Value = nil
		g = &Group{ID: c.GetGroup(), Key: string(rec.Key), Meta: meta, Count: c.GetCount(),
			Total: int64(c.GetTotalBytes()), CRC: c.GetCrc32C(), First: &first}
		g.Refused = a.MaxDocumentBytes > 0 && g.Total > a.MaxDocumentBytes
		a.groups[id] = g
	} else if c.GetIndex() < g.next {
		return Duplicate, g, false, nil
	}
	if err := g.check(rec, op); err != nil {
		a.drop(g)
		return Invalid, g, false, err
	}
	piece := op.GetSource()
	g.Offsets = append(g.Offsets, rec.Offset)
	g.next++
	last := g.next == g.Count
	if g.Refused {
		if last {
			delete(a.groups, id)
		}
		return Refused, g, last, nil
	}
	g.have += int64(len(piece))
	a.buffered += int64(len(piece))
	g.Pieces = append(g.Pieces, piece)
	g.crc = crc32.Update(g.crc, castagnoli, piece)
	switch {
	case g.have > g.Total || last && g.have != g.Total:
		a.drop(g)
		return Invalid, g, false, poison(ReasonChunkMismatch,
			fmt.Sprintf("pieces of %d bytes through index %d for a document of %d", g.have, c.GetIndex(), g.Total), nil)
	case !last:
		return Buffered, g, false, nil
	case g.crc != g.CRC:
		a.drop(g)
		return Invalid, g, false, poison(ReasonChunkChecksum,
			fmt.Sprintf("assembled document has CRC-32C %08x, the group says %08x", g.crc, g.CRC), nil)
	}
	a.drop(g)
	return Complete, g, true, nil
}

// PieceRecord re-encodes the k-th piece received as the chunk record it came in (for
// the dead-letter topic): topic, the group's key, the event's fields and headers.
func (g *Group) PieceRecord(topic string, k int) (*kgo.Record, error) {
	op := proto.Clone(g.Meta).(*opspb.Operation)
	op.Source = g.Pieces[k]
	op.Chunk = &opspb.Chunk{Group: g.ID, Index: uint32(k), Count: g.Count, TotalBytes: uint64(g.Total), Crc32C: g.CRC}
	return Encode(topic, op)
}

// check tells whether the piece is the group's next one and agrees with its first.
func (g *Group) check(rec *kgo.Record, op *opspb.Operation) error {
	c := op.GetChunk()
	mismatch := func(what string) error {
		return poison(ReasonChunkMismatch, fmt.Sprintf("piece %d of group %x: %s differs from the group's first piece", c.GetIndex(), g.ID, what), nil)
	}
	switch {
	case c.GetIndex() > g.next:
		return poison(ReasonChunkGap, fmt.Sprintf("piece %d of group %x came after piece %d: pieces %d to %d are missing",
			c.GetIndex(), g.ID, int64(g.next)-1, g.next, c.GetIndex()-1), nil)
	case c.GetCount() != g.Count:
		return mismatch("count")
	case int64(c.GetTotalBytes()) != g.Total:
		return mismatch("total_bytes")
	case c.GetCrc32C() != g.CRC:
		return mismatch("crc32c")
	case string(rec.Key) != g.Key:
		return mismatch("record key")
	}
	if g.next == 0 {
		return nil
	}
	m := g.Meta
	switch {
	case op.GetReplicationVersion() != m.GetReplicationVersion() || op.GetVersion() != m.GetVersion() ||
		op.GetSeqNo() != m.GetSeqNo() || op.GetPrimaryTerm() != m.GetPrimaryTerm():
		return mismatch("version")
	case op.GetRouting() != m.GetRouting():
		return mismatch("routing")
	case op.GetSourceCluster() != m.GetSourceCluster():
		return mismatch("source_cluster")
	}
	return nil
}

func (a *Assembler) drop(g *Group) {
	if a.groups[string(g.ID)] == g {
		delete(a.groups, string(g.ID))
		a.buffered -= g.have
	}
}

// Remove gives up on an open group (superseded or incomplete): the Assembler forgets
// it, and its later pieces, if any come, are orphans.
func (a *Assembler) Remove(g *Group) { a.drop(g) }

// Open returns the open groups, in no order.
func (a *Assembler) Open() []*Group {
	out := make([]*Group, 0, len(a.groups))
	for _, g := range a.groups {
		out = append(out, g)
	}
	return out
}

// Len is the number of open groups.
func (a *Assembler) Len() int { return len(a.groups) }

// Buffered is the bytes of pieces the open groups hold.
func (a *Assembler) Buffered() int64 { return a.buffered }

// FirstOffset is the offset of the oldest open group's first piece; ok false when no
// group is open. A partition's committed offset must not pass it.
func (a *Assembler) FirstOffset() (off int64, ok bool) {
	for _, g := range a.groups {
		if !ok || g.FirstOffset() < off {
			off, ok = g.FirstOffset(), true
		}
	}
	return off, ok
}

// Reset forgets every group.
func (a *Assembler) Reset() {
	clear(a.groups)
	a.buffered = 0
}
