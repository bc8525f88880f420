package intentlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Record kinds.
const (
	kindOpen  byte = 1 // an intent: its items are about to be written to the primary
	kindClose byte = 2 // the intent's events are durable: nothing left to recover
)

// frameHeader is a record's length (of the payload, 4 bytes) and the CRC-32C of the
// payload (4 bytes); the payload follows.
const frameHeader = 8

// maxPayload bounds a record: a longer length in a header is corruption, not a reason
// to allocate more. Begin refuses an intent whose record would be longer, so a record
// that was written is never mistaken for a torn one. (An intent costs about its
// items' index, id and routing: a 100 MiB bulk of tiny items stays far below.)
const maxPayload = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn is a frame that ends before its length says, or whose CRC does not match:
// the tail of a write the process died in, or corruption. Everything from it on is
// dropped.
var errTorn = errors.New("torn or corrupt record")

// Item is one document an intent is about to write.
type Item struct {
	Index   string
	ID      string
	Routing string
	// Action is the write's action as the caller names it (index, create, update,
	// delete); the log keeps it for the resolver.
	Action string
}

// Intent is an open intent: writes sent (or about to be sent) to the primary whose
// events are not known to be durable.
type Intent struct {
	ID    uint64
	Items []Item
}

// record is one decoded frame.
type record struct {
	kind  byte
	id    uint64
	items []Item // kindOpen only
}

// appendOpen appends the frame of an OPEN record to b.
func appendOpen(b []byte, id uint64, items []Item) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHeader)...)
	b = append(b, kindOpen)
	b = binary.AppendUvarint(b, id)
	b = binary.AppendUvarint(b, uint64(len(items)))
	for i := range items {
		it := &items[i]
		for _, s := range [...]string{it.Index, it.ID, it.Routing, it.Action} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	return seal(b, start)
}

// appendClose appends the frame of a CLOSE record to b.
func appendClose(b []byte, id uint64) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHeader)...)
	b = append(b, kindClose)
	b = binary.AppendUvarint(b, id)
	return seal(b, start)
}

// seal fills in the header of the frame that starts at b[start].
func seal(b []byte, start int) []byte {
	payload := b[start+frameHeader:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	return b
}

// decodeFrame reads the frame at the start of b: the record and the frame's length.
// errTorn means b does not start with a whole, intact frame.
func decodeFrame(b []byte) (record, int, error) {
	if len(b) < frameHeader {
		return record{}, 0, errTorn
	}
	n := binary.LittleEndian.Uint32(b)
	if n == 0 || n > maxPayload || uint64(len(b)-frameHeader) < uint64(n) {
		return record{}, 0, errTorn
	}
	payload := b[frameHeader : frameHeader+int(n)]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return record{}, 0, errTorn
	}
	rec, err := decodePayload(payload)
	if err != nil {
		// The CRC matched: a writer of another format, not a torn write.
		return record{}, 0, fmt.Errorf("%w: %w", errTorn, err)
	}
	return rec, frameHeader + int(n), nil
}

func decodePayload(p []byte) (record, error) {
	d := decoder{b: p}
	rec := record{kind: d.byte()}
	rec.id = d.uvarint()
	switch rec.kind {
	case kindOpen:
		n := d.uvarint()
		// Each item takes at least four bytes: a count larger than the rest is corrupt.
		if n > uint64(len(d.b)/4) {
			return record{}, errors.New("item count larger than the record")
		}
		rec.items = make([]Item, 0, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			rec.items = append(rec.items, Item{Index: d.str(), ID: d.str(), Routing: d.str(), Action: d.str()})
		}
	case kindClose:
	default:
		if d.err == nil {
			return record{}, fmt.Errorf("unknown record kind %d", rec.kind)
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes after the record", len(d.b))
	}
	if d.err != nil {
		return record{}, d.err
	}
	return rec, nil
}

// decoder reads a payload; the first error sticks and makes every later read zero.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("record shorter than its fields")

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = cmpErr(d.err, errShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errShort
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func cmpErr(have, want error) error {
	if have != nil {
		return have
	}
	return want
}
