package event

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// benchOp is a proxy's event for a 1 KiB document.
func benchOp() *opspb.Operation {
	return with(func(op *opspb.Operation) { op.Source = bytes.Repeat([]byte("x"), 1024) })
}

// BenchmarkEncode is the proxy's cost of building one event's record.
func BenchmarkEncode(b *testing.B) {
	op := benchOp()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode("t", op); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode is the replicator's cost of reading one event's record.
func BenchmarkDecode(b *testing.B) {
	rec, err := Encode("t", benchOp())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWire compares unmarshalDoc with the generic protobuf decoder it stands in
// for.
func BenchmarkWire(b *testing.B) {
	op := benchOp()
	value, err := proto.Marshal(op)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("unmarshalDoc", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			unmarshalDoc(value)
		}
	})
	b.Run("proto.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = proto.Unmarshal(value, new(opspb.Operation))
		}
	})
}

// BenchmarkEncodeInto is BenchmarkEncode with the record reused, as the proxy's
// publisher does.
func BenchmarkEncodeInto(b *testing.B) {
	op := benchOp()
	rec := new(kgo.Record)
	b.ReportAllocs()
	for b.Loop() {
		if err := EncodeInto(rec, "t", op); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshal compares marshalDoc with proto.Marshal into a reused buffer.
func BenchmarkMarshal(b *testing.B) {
	op := benchOp()
	var buf []byte
	b.Run("marshalDoc", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = marshalDoc(buf[:0], op)
		}
	})
	b.Run("proto.MarshalAppend", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = proto.MarshalOptions{}.MarshalAppend(buf[:0], op)
		}
	})
}

// BenchmarkSplit is the proxy's cost of planning one event's records.
func BenchmarkSplit(b *testing.B) {
	op := benchOp()
	var rs Records
	b.ReportAllocs()
	for b.Loop() {
		if err := rs.Split("t", op, 1<<20, nil); err != nil {
			b.Fatal(err)
		}
	}
}
