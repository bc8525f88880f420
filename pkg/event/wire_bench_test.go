package event

import (
	"bytes"
	"testing"

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
// for. (A hand-written encoder measured no faster than proto.Marshal: the allocation
// and the copy of the source are most of either.)
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

// BenchmarkEncodeAppend is BenchmarkEncode with the value's buffer reused, as the
// proxy's publisher does.
func BenchmarkEncodeAppend(b *testing.B) {
	op := benchOp()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		rec, err := EncodeAppend(buf, "t", op)
		if err != nil {
			b.Fatal(err)
		}
		buf = rec.Value
	}
}
