package kafkax

import (
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers of a reference record: a dead-letter record whose value was dropped because
// the full copy would not fit in the dead-letter topic. Its key and original headers
// stay, its value is empty, and the source topic/partition/offset (always present)
// say where the original event still is.
const (
	// HeaderValueDropped says why the value was dropped: "too_large".
	HeaderValueDropped = "fanout-value-dropped"
	// HeaderValueBytes is the size of the dropped value, in bytes.
	HeaderValueBytes = "fanout-value-bytes"
	// HeaderValueLimit is the record size limit the full copy did not fit in.
	HeaderValueLimit = "fanout-value-limit"
)

// DroppedTooLarge is the HeaderValueDropped value of a copy over the size limit.
const DroppedTooLarge = "too_large"

func init() {
	dlqHeaders[HeaderValueDropped] = true
	dlqHeaders[HeaderValueBytes] = true
	dlqHeaders[HeaderValueLimit] = true
}

// Dropped describes the value a reference record left out.
type Dropped struct {
	Reason string // DroppedTooLarge
	Bytes  int    // the dropped value's size
	Limit  int    // the limit it did not fit in; 0: unknown (the broker refused it)
}

func (d Dropped) headers() []kgo.RecordHeader {
	return []kgo.RecordHeader{
		{Key: HeaderValueDropped, Value: []byte(d.Reason)},
		{Key: HeaderValueBytes, Value: []byte(strconv.Itoa(d.Bytes))},
		{Key: HeaderValueLimit, Value: []byte(strconv.Itoa(d.Limit))},
	}
}

// ParseDropped reads the reference headers of a dead-letter record: ok false when the
// record carries its value.
func ParseDropped(hs []kgo.RecordHeader) (Dropped, bool, error) {
	var d Dropped
	var reason, size, limit string
	var have int
	for _, h := range hs {
		switch h.Key {
		case HeaderValueDropped:
			reason, have = string(h.Value), have|1
		case HeaderValueBytes:
			size, have = string(h.Value), have|2
		case HeaderValueLimit:
			limit, have = string(h.Value), have|4
		}
	}
	if have == 0 {
		return Dropped{}, false, nil
	}
	if have != 7 {
		return Dropped{}, true, fmt.Errorf("reference record: %s, %s and %s must all be present", HeaderValueDropped, HeaderValueBytes, HeaderValueLimit)
	}
	d.Reason = reason
	n, err := strconv.Atoi(size)
	if err != nil || n < 0 {
		return Dropped{}, true, fmt.Errorf("reference record: %s %q is not a size", HeaderValueBytes, size)
	}
	d.Bytes = n
	if n, err = strconv.Atoi(limit); err != nil || n < 0 {
		return Dropped{}, true, fmt.Errorf("reference record: %s %q is not a size", HeaderValueLimit, limit)
	}
	d.Limit = n
	return d, true, nil
}

// NewReferenceRecord returns the reference record for src: the dead-letter record
// without its value, saying why and how large the value was.
func NewReferenceRecord(topic string, src *kgo.Record, d DeadLetter, dr Dropped) *kgo.Record {
	rec := NewDeadLetterRecord(topic, src, d)
	rec.Value = nil
	rec.Headers = append(rec.Headers, dr.headers()...)
	return rec
}

// FitDeadLetter returns the dead-letter record for src, or its reference record when
// the full copy would be larger than limit bytes on the wire (BatchBytes).
func FitDeadLetter(topic string, src *kgo.Record, d DeadLetter, limit int) (rec *kgo.Record, dropped bool) {
	rec = NewDeadLetterRecord(topic, src, d)
	if limit <= 0 || BatchBytes(rec) <= limit {
		return rec, false
	}
	return NewReferenceRecord(topic, src, d, Dropped{Reason: DroppedTooLarge, Bytes: len(src.Value), Limit: limit}), true
}

// recordBatchOverhead is a v2 record batch with no records, with the 4-byte length
// prefix the producer counts against its batch limit.
const recordBatchOverhead = 4 + 61

// BatchBytes is the size, uncompressed, of a record batch holding only r: what
// franz-go checks against ProducerBatchMaxBytes and, compressed (never larger,
// franz-go sends the smaller), what a broker checks against max.message.bytes.
// Varints are counted at their widest, so it may exceed the exact size by a few
// bytes, never fall short.
func BatchBytes(r *kgo.Record) int {
	const varint, varlong = 5, 10
	n := varint + 1 + varlong + varint // length, attributes, timestamp and offset deltas
	n += varint + len(r.Key) + varint + len(r.Value) + varint
	for _, h := range r.Headers {
		n += varint + len(h.Key) + varint + len(h.Value)
	}
	return recordBatchOverhead + n
}
