package spool

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The frame decoder never panics, never reads past its input, and what it accepts is
// exactly what the encoder writes.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(appendFrame(nil, TypeKafkaRecord, time.Unix(0, 42), []byte("payload")))
	f.Add(appendFrame(nil, 7, time.Unix(0, 0), nil))
	f.Add(make([]byte, 20))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, n, err := decodeFrame(b)
		if err != nil {
			if !errors.Is(err, errShort) && !errors.Is(err, errBadFrame) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if n > len(b) {
			t.Fatalf("size %d past the input's %d", n, len(b))
		}
		if again := appendFrame(nil, e.Type, e.Time, e.Payload); !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoded %x, decoded from %x", again, b[:n])
		}
	})
}

func FuzzDecodeKafkaRecord(f *testing.F) {
	f.Add(EncodeKafkaRecord(nil, &kgo.Record{Topic: "t", Key: []byte("i/1"), Value: []byte("v"),
		Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}}))
	f.Add(EncodeKafkaRecord(nil, &kgo.Record{Topic: "t"}))
	f.Add([]byte{1, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeKafkaRecord(b)
		if err != nil {
			return
		}
		if again := EncodeKafkaRecord(nil, r); !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, decoded from %x", again, b)
		}
	})
}

func TestKafkaRecordRoundTrip(t *testing.T) {
	tests := []*kgo.Record{
		{Topic: "fanout.ops", Key: []byte("idx/1"), Value: []byte("value"),
			Headers: []kgo.RecordHeader{{Key: "schema", Value: []byte("1")}, {Key: "empty"}}},
		{Topic: "t", Value: []byte{}},
		{Topic: "t", Key: []byte{}, Value: bytes.Repeat([]byte("x"), 100_000)},
	}
	for _, r := range tests {
		b := EncodeKafkaRecord(nil, r)
		if len(b) > KafkaRecordBytes(r) {
			t.Fatalf("encoded %d bytes, KafkaRecordBytes said at most %d", len(b), KafkaRecordBytes(r))
		}
		got, err := DecodeKafkaRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Topic != r.Topic || !bytes.Equal(got.Key, r.Key) || (got.Key == nil) != (r.Key == nil) ||
			!bytes.Equal(got.Value, r.Value) || len(got.Headers) != len(r.Headers) {
			t.Fatalf("round trip: %+v, want %+v", got, r)
		}
		for i, h := range r.Headers {
			if got.Headers[i].Key != h.Key || !bytes.Equal(got.Headers[i].Value, h.Value) {
				t.Fatalf("header %d: %+v, want %+v", i, got.Headers[i], h)
			}
		}
	}
	if _, err := DecodeKafkaRecord([]byte{9}); err == nil {
		t.Fatal("unknown version decoded")
	}
}
