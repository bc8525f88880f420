package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// Entry types. 0 is never valid (a zero-filled tail is not an entry).
const (
	// TypeKafkaRecord is one Kafka record (EncodeKafkaRecord).
	TypeKafkaRecord uint8 = 1
	// Types from 2 up are for other users of the format.
)

const (
	headerBytes = 4 + 4 + 1
	timeBytes   = 8
	// MaxPayloadBytes bounds one entry's payload; a frame claiming more is corrupt.
	MaxPayloadBytes = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Entry is one record of the log.
type Entry struct {
	Type uint8
	// Time is when it was appended (set by Append when zero).
	Time    time.Time
	Payload []byte
	// Pos is where it is in the log and Next where the one after it is (set by Read).
	Pos, Next Pos
}

// Pos is a position in the log: a segment's sequence number and a byte offset in it.
type Pos struct {
	Segment uint64 `json:"segment"`
	Offset  int64  `json:"offset"`
}

// Less orders positions.
func (p Pos) Less(q Pos) bool {
	return p.Segment < q.Segment || p.Segment == q.Segment && p.Offset < q.Offset
}

func (p Pos) String() string { return fmt.Sprintf("%s@%d", segmentName(p.Segment), p.Offset) }

// frameSize is the bytes an entry with a payload of n bytes takes on disk.
func frameSize(n int) int { return headerBytes + timeBytes + n }

// appendFrame encodes one entry onto b.
func appendFrame(b []byte, typ uint8, t time.Time, payload []byte) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(timeBytes+len(payload)))
	b = binary.LittleEndian.AppendUint32(b, 0) // crc, below
	b = append(b, typ)
	b = binary.LittleEndian.AppendUint64(b, uint64(t.UnixNano()))
	b = append(b, payload...)
	crc := crc32.Checksum(b[start+8:], castagnoli)
	binary.LittleEndian.PutUint32(b[start+4:], crc)
	return b
}

var (
	// errShort: the bytes end inside the frame.
	errShort = errors.New("frame cut short")
	// errBadFrame: the frame is not one Append wrote.
	errBadFrame = errors.New("bad frame")
)

// frameHeader reads a frame's header: the body length it claims, and an error when the
// header itself cannot be right.
func frameHeader(h []byte) (bodyLen int, err error) {
	if len(h) < headerBytes {
		return 0, errShort
	}
	n := binary.LittleEndian.Uint32(h)
	if n < timeBytes || n > timeBytes+MaxPayloadBytes {
		return 0, fmt.Errorf("%w: body length %d", errBadFrame, n)
	}
	if h[8] == 0 {
		return 0, fmt.Errorf("%w: entry type 0", errBadFrame)
	}
	return int(n), nil
}

// decodeFrame decodes the frame at the start of b and returns its size. The payload
// aliases b. errShort means b ends inside the frame; errBadFrame that the frame is
// wrong (bad header or CRC).
func decodeFrame(b []byte) (e Entry, size int, err error) {
	n, err := frameHeader(b)
	if err != nil {
		return Entry{}, 0, err
	}
	size = headerBytes + n
	if len(b) < size {
		return Entry{}, 0, errShort
	}
	want := binary.LittleEndian.Uint32(b[4:])
	if got := crc32.Checksum(b[8:size], castagnoli); got != want {
		return Entry{}, 0, fmt.Errorf("%w: crc32c %08x, the frame says %08x", errBadFrame, got, want)
	}
	e.Type = b[8]
	e.Time = time.Unix(0, int64(binary.LittleEndian.Uint64(b[headerBytes:])))
	e.Payload = b[headerBytes+timeBytes : size]
	return e, size, nil
}

// CorruptError is a frame in the middle of the log that is not one Append wrote.
type CorruptError struct {
	Dir string
	At  Pos
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("spool %s: corrupt entry at %s (%v); entries after it were not read. "+
		"Move the directory aside to start with an empty spool, and recover what it holds by hand", e.Dir, e.At, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }
