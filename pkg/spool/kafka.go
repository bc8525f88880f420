package spool

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaRecordV1 is the version byte of the TypeKafkaRecord payload:
//
//	[version u8 = 1][topic][key][value][header count uvarint]{[header key][header value]}
//
// each string or byte field an uvarint length and its bytes; a nil key (no key) is
// length 0 with a flag: the key field is preceded by one byte, 0 nil, 1 present.
const kafkaRecordV1 = 1

// EncodeKafkaRecord encodes the parts of a record the drainer produces again: topic,
// key, value and headers. The partition is not kept: the drainer's producer picks it
// from the key, as it did the first time.
func EncodeKafkaRecord(b []byte, r *kgo.Record) []byte {
	b = append(b, kafkaRecordV1)
	b = appendBytes(b, []byte(r.Topic))
	if r.Key == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendBytes(b, r.Key)
	}
	b = appendBytes(b, r.Value)
	b = binary.AppendUvarint(b, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		b = appendBytes(b, []byte(h.Key))
		b = appendBytes(b, h.Value)
	}
	return b
}

// KafkaRecordBytes is the size EncodeKafkaRecord gives r, at most.
func KafkaRecordBytes(r *kgo.Record) int {
	n := 1 + 2*binary.MaxVarintLen64 + len(r.Topic) + 1 + len(r.Key) + binary.MaxVarintLen64 + len(r.Value)
	for _, h := range r.Headers {
		n += 2*binary.MaxVarintLen64 + len(h.Key) + len(h.Value)
	}
	return n
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

var errKafkaRecord = errors.New("bad spooled Kafka record")

// DecodeKafkaRecord decodes a TypeKafkaRecord payload into a record to produce. Key,
// value and header values alias p.
func DecodeKafkaRecord(p []byte) (*kgo.Record, error) {
	if len(p) == 0 {
		return nil, fmt.Errorf("%w: empty", errKafkaRecord)
	}
	if p[0] != kafkaRecordV1 {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", errKafkaRecord, p[0], kafkaRecordV1)
	}
	d := decoder{b: p[1:]}
	r := &kgo.Record{Topic: string(d.bytes())}
	switch d.byte() {
	case 0:
	case 1:
		r.Key = d.bytes()
		if r.Key == nil {
			r.Key = []byte{}
		}
	default:
		d.fail("key flag")
	}
	r.Value = d.bytes()
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every header takes at least two bytes
		d.fail("header count")
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := d.bytes()
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: string(k), Value: d.bytes()})
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errKafkaRecord, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("cut short")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	// Only the shortest encoding: one record has one encoding.
	if n <= 0 || n > 1 && d.b[n-1] == 0 {
		d.fail("bad length")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length past the end")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
