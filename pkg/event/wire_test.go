package event

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// fastPathOps are the shapes of document event the proxy writes: each must take
// unmarshalDoc's path, or the replicator's hot path silently falls back.
func fastPathOps() map[string]*opspb.Operation {
	return map[string]*opspb.Operation{
		"index":            indexOp(),
		"delete":           with(func(op *opspb.Operation) { op.Kind, op.Source = opspb.Kind_KIND_DELETE, nil }),
		"no seq_no":        with(func(op *opspb.Operation) { op.SeqNo, op.PrimaryTerm = nil, nil }),
		"seq_no 0":         with(func(op *opspb.Operation) { op.SeqNo, op.PrimaryTerm = proto.Int64(0), proto.Int64(1) }),
		"no accepted_at":   with(func(op *opspb.Operation) { op.AcceptedAt = nil }),
		"zero accepted_at": with(func(op *opspb.Operation) { op.AcceptedAt.Seconds, op.AcceptedAt.Nanos = 0, 0 }),
		"no routing":       with(func(op *opspb.Operation) { op.Routing, op.RequestId = "", "" }),
		"negative version": with(func(op *opspb.Operation) { op.Version = -3 }),
		"utf-8 id":         with(func(op *opspb.Operation) { op.Id = "dóc/ü-1" }),
	}
}

func TestUnmarshalDocFastPath(t *testing.T) {
	for name, want := range fastPathOps() {
		t.Run(name, func(t *testing.T) {
			b, err := proto.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := unmarshalDoc(b)
			if !ok {
				t.Fatalf("unmarshalDoc fell back on %v", want)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("unmarshalDoc:\n got %v\nwant %v", got, want)
			}
			if len(got.Source) > 0 {
				if cap(got.Source) != len(got.Source) {
					t.Fatalf("source has spare capacity %d: an append would write into the record", cap(got.Source)-len(got.Source))
				}
				// An alias sees a change to the value.
				b[bytes.Index(b, want.Source)] ^= 0xff
				if got.Source[0] == want.Source[0] {
					t.Fatal("source is a copy, not an alias of the value")
				}
			}
		})
	}
}

// fallbackValues are values unmarshalDoc must leave to proto.Unmarshal.
func fallbackValues(t testing.TB) map[string][]byte {
	marshal := func(op *opspb.Operation) []byte {
		b, err := proto.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	doc := marshal(indexOp())
	ts := protowire.AppendVarint(protowire.AppendTag(nil, fieldSeconds, protowire.VarintType), 7)
	return map[string][]byte{
		"chunk":    marshal(with(func(op *opspb.Operation) { op.Chunk = &opspb.Chunk{Index: 1, Count: 2} })),
		"metadata": marshal(&opspb.Operation{Kind: opspb.Kind_KIND_METADATA, Metadata: &opspb.Metadata{Request: "PUT /i"}}),
		"barrier":  marshal(with(func(op *opspb.Operation) { op.Barrier = &opspb.Barrier{Id: "b"} })),
		"unknown varint field": protowire.AppendVarint(
			protowire.AppendTag(append([]byte(nil), doc...), 99, protowire.VarintType), 1),
		"unknown bytes field": protowire.AppendBytes(
			protowire.AppendTag(append([]byte(nil), doc...), 13, protowire.BytesType), []byte("new")),
		"unknown fixed field": protowire.AppendFixed64(
			protowire.AppendTag(append([]byte(nil), doc...), 14, protowire.Fixed64Type), 1),
		"kind as bytes": protowire.AppendBytes(
			protowire.AppendTag(nil, fieldKind, protowire.BytesType), []byte{1}),
		"index as varint": protowire.AppendVarint(
			protowire.AppendTag(nil, fieldIndex, protowire.VarintType), 1),
		"accepted_at twice": protowire.AppendBytes(
			protowire.AppendTag(append([]byte(nil), doc...), fieldAcceptedAt, protowire.BytesType), ts),
		"accepted_at unknown field": protowire.AppendBytes(protowire.AppendTag(nil, fieldAcceptedAt, protowire.BytesType),
			protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 1)),
		"accepted_at bytes seconds": protowire.AppendBytes(protowire.AppendTag(nil, fieldAcceptedAt, protowire.BytesType),
			protowire.AppendBytes(protowire.AppendTag(nil, fieldSeconds, protowire.BytesType), []byte{1})),
		"invalid utf-8 index": protowire.AppendBytes(
			protowire.AppendTag(nil, fieldIndex, protowire.BytesType), []byte{0xff, 'x'}),
		"invalid utf-8 source_cluster": protowire.AppendBytes(
			protowire.AppendTag(nil, fieldSourceCluster, protowire.BytesType), []byte{0xc3}),
		"truncated":       doc[:len(doc)-3],
		"truncated tag":   {0x80},
		"field number 0":  {0x00, 0x01},
		"truncated bytes": append(protowire.AppendTag(nil, fieldSource, protowire.BytesType), 0x05, 'a'),
	}
}

// TestUnmarshalDocFallback checks that unmarshalDoc gives up on what it does not
// decode exactly, and that Decode then still gives proto.Unmarshal's answer: the
// unknown fields kept, a malformed value refused.
func TestUnmarshalDocFallback(t *testing.T) {
	for name, b := range fallbackValues(t) {
		t.Run(name, func(t *testing.T) {
			if _, ok := unmarshalDoc(b); ok {
				t.Fatalf("unmarshalDoc took % x", b)
			}
			want := new(opspb.Operation)
			wantErr := proto.Unmarshal(b, want)
			got, ok := unmarshalDoc(b)
			if !ok {
				got = new(opspb.Operation)
				if err := proto.Unmarshal(b, got); (err != nil) != (wantErr != nil) {
					t.Fatalf("fallback error %v, proto.Unmarshal %v", err, wantErr)
				}
			}
			if wantErr == nil && !proto.Equal(got, want) {
				t.Fatalf("fallback:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// FuzzUnmarshalDoc holds unmarshalDoc to proto.Unmarshal: whatever it decodes,
// proto.Unmarshal decodes to an equal message (unknown fields included).
func FuzzUnmarshalDoc(f *testing.F) {
	for _, op := range fastPathOps() {
		b, err := proto.Marshal(op)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, b := range fallbackValues(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := unmarshalDoc(b)
		if !ok {
			return
		}
		want := new(opspb.Operation)
		if err := proto.Unmarshal(b, want); err != nil {
			t.Fatalf("unmarshalDoc decoded what proto.Unmarshal refuses (%v): %v", err, got)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("unmarshalDoc:\n got %v\nwant %v", got, want)
		}
	})
}

// TestEncodeAppend: the value goes into dst's capacity when it fits (whatever dst held)
// and is grown when not, and the record is Encode's either way.
func TestEncodeAppend(t *testing.T) {
	op := indexOp()
	want, err := Encode("t", op)
	if err != nil {
		t.Fatal(err)
	}
	for name, dst := range map[string][]byte{
		"nil":        nil,
		"too small":  make([]byte, 3, 4),
		"big enough": bytes.Repeat([]byte{0xee}, 4096),
	} {
		got, err := EncodeAppend(dst, "t", op)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got.Value, want.Value) || !bytes.Equal(got.Key, want.Key) || len(got.Headers) != len(want.Headers) {
			t.Fatalf("%s: record %+v, Encode's %+v", name, got, want)
		}
		if reused := cap(dst) >= len(want.Value) && &got.Value[0] == &dst[:1][0]; reused != (name == "big enough") {
			t.Fatalf("%s: value in dst's memory %v", name, reused)
		}
	}
}
