package event

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

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

// TestMarshalDocFastPath: every shape of document event the proxy writes is encoded by
// marshalDoc, to proto.Marshal's bytes and size, after whatever dst held.
func TestMarshalDocFastPath(t *testing.T) {
	ops := fastPathOps()
	ops["all zero"] = &opspb.Operation{}
	ops["negative kind"] = with(func(op *opspb.Operation) { op.Kind = -1 })
	ops["negative nanos"] = with(func(op *opspb.Operation) { op.AcceptedAt.Nanos = -5 })
	ops["empty accepted_at"] = with(func(op *opspb.Operation) { op.AcceptedAt = &timestamppb.Timestamp{} })
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			prefix := []byte("prefix")
			want, err := proto.MarshalOptions{}.MarshalAppend(prefix, op)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := marshalDoc([]byte("prefix"), op)
			if !ok {
				t.Fatalf("marshalDoc fell back on %v", op)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("marshalDoc:\n got % x\nwant % x", got, want)
			}
			if n, ok := sizeDoc(op); !ok || n != proto.Size(op) {
				t.Fatalf("sizeDoc = %d, %v; proto.Size %d", n, ok, proto.Size(op))
			}
		})
	}
}

// TestMarshalDocFallback: what marshalDoc does not encode is left to proto, and
// EncodeInto still gives proto's bytes (the unknown fields kept) or its error.
func TestMarshalDocFallback(t *testing.T) {
	unknown := indexOp()
	unknown.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	unknownTS := indexOp()
	unknownTS.AcceptedAt.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 1))
	for name, tc := range map[string]struct {
		op      *opspb.Operation
		invalid bool // proto.Marshal refuses it
	}{
		"chunk":                 {op: with(func(op *opspb.Operation) { op.Chunk = &opspb.Chunk{Group: []byte("g"), Index: 1, Count: 2} })},
		"metadata":              {op: with(func(op *opspb.Operation) { op.Metadata = &opspb.Metadata{Request: "PUT /i"} })},
		"barrier":               {op: with(func(op *opspb.Operation) { op.Barrier = &opspb.Barrier{Id: "b"} })},
		"unknown field":         {op: unknown},
		"accepted_at unknown":   {op: unknownTS},
		"invalid utf-8 id":      {op: with(func(op *opspb.Operation) { op.Id = "d\xff" }), invalid: true},
		"invalid utf-8 request": {op: with(func(op *opspb.Operation) { op.RequestId = "\xc3" }), invalid: true},
		"invalid utf-8 routing": {op: with(func(op *opspb.Operation) { op.Routing = "r\x80" }), invalid: true},
		"invalid utf-8 cluster": {op: with(func(op *opspb.Operation) { op.SourceCluster = "\xed\xa0\x80" }), invalid: true},
	} {
		t.Run(name, func(t *testing.T) {
			if _, ok := marshalDoc(nil, tc.op); ok {
				t.Fatalf("marshalDoc took %v", tc.op)
			}
			want, err := proto.Marshal(tc.op)
			if (err != nil) != tc.invalid {
				t.Fatalf("proto.Marshal: %v", err)
			}
			if _, ok := sizeDoc(tc.op); ok && !tc.invalid {
				t.Fatalf("sizeDoc took %v", tc.op)
			}
			if tc.op.Chunk != nil || tc.op.Metadata != nil || tc.op.Barrier != nil {
				return // EncodeInto refuses or needs more (Split); the fallback is proto's either way
			}
			rec := new(kgo.Record)
			err = EncodeInto(rec, "t", tc.op)
			if tc.invalid {
				if err == nil {
					t.Fatalf("EncodeInto took what proto.Marshal refuses: % x", rec.Value)
				}
				return
			}
			if err != nil || !bytes.Equal(rec.Value, want) {
				t.Fatalf("EncodeInto: %v\n got % x\nwant % x", err, rec.Value, want)
			}
		})
	}
}

// FuzzMarshalDoc holds marshalDoc and sizeDoc to proto: the same bytes after any
// prefix, the same size, and a fallback only where proto.Marshal refuses or the
// message has what marshalDoc leaves to it.
func FuzzMarshalDoc(f *testing.F) {
	f.Add([]byte("p"), int32(1), "logs", "d-1", "r", []byte(`{"a":1}`), int64(5), int64(-1), true, int64(3), int64(1), true, int64(1700000000), int32(5), "req", "east")
	f.Add([]byte(nil), int32(-1), "", "", "", []byte(nil), int64(0), int64(0), false, int64(0), int64(0), false, int64(0), int32(-1), "", "")
	f.Fuzz(func(t *testing.T, prefix []byte, kind int32, index, id, routing string, source []byte, rv, v int64,
		hasSeq bool, seq, term int64, hasTS bool, secs int64, nanos int32, reqID, cluster string) {
		op := &opspb.Operation{Kind: opspb.Kind(kind), Index: index, Id: id, Routing: routing, Source: source,
			ReplicationVersion: rv, Version: v, RequestId: reqID, SourceCluster: cluster}
		if hasSeq {
			op.SeqNo, op.PrimaryTerm = &seq, &term
		}
		if hasTS {
			op.AcceptedAt = &timestamppb.Timestamp{Seconds: secs, Nanos: nanos}
		}
		want, wantErr := proto.MarshalOptions{}.MarshalAppend(slices.Clone(prefix), op)
		got, ok := marshalDoc(slices.Clone(prefix), op)
		switch {
		case ok && wantErr != nil:
			t.Fatalf("marshalDoc encoded what proto.Marshal refuses (%v): %v", wantErr, op)
		case !ok && wantErr == nil:
			t.Fatalf("marshalDoc fell back on %v", op)
		case ok && !bytes.Equal(got, want):
			t.Fatalf("marshalDoc:\n got % x\nwant % x", got, want)
		}
		if n, ok := sizeDoc(op); !ok || n != proto.Size(op) {
			t.Fatalf("sizeDoc = %d, %v; proto.Size %d", n, ok, proto.Size(op))
		}
	})
}

// TestEncodeInto: a record reused whatever it held (every field kgo sets after a
// produce among it) becomes Encode's record, in its own memory when that is big enough.
func TestEncodeInto(t *testing.T) {
	op := indexOp()
	want, err := Encode("t", op)
	if err != nil {
		t.Fatal(err)
	}
	used := func(value []byte) *kgo.Record {
		return &kgo.Record{Topic: "old", Key: bytes.Repeat([]byte{0xee}, 300), Value: value,
			Headers:   []kgo.RecordHeader{{Key: "x", Value: []byte("garbage, long enough")}, {Key: "y", Value: []byte("more garbage")}, {Key: "z"}},
			Timestamp: time.Unix(1, 0), Partition: 7, Offset: 99, ProducerID: 3, ProducerEpoch: 1, LeaderEpoch: 2,
			Attrs: kgo.RecordAttrs{}, Context: context.Background()}
	}
	for name, rec := range map[string]*kgo.Record{
		"new":        new(kgo.Record),
		"too small":  used(make([]byte, 3, 4)),
		"big enough": used(bytes.Repeat([]byte{0xee}, 4096)),
	} {
		value, key := rec.Value, rec.Key
		if err := EncodeInto(rec, "t", op); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(rec, want) {
			t.Fatalf("%s: record %+v, Encode's %+v", name, rec, want)
		}
		if reused := cap(value) >= len(want.Value) && &rec.Value[0] == &value[:1][0]; reused != (name == "big enough") {
			t.Fatalf("%s: value in the old value's memory %v", name, reused)
		}
		if reused := cap(key) >= len(want.Key) && &rec.Key[0] == &key[:1][0]; reused != (name != "new") {
			t.Fatalf("%s: key in the old key's memory %v", name, reused)
		}
		if _, err := Decode(rec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// A refused operation leaves the record as it was.
	rec := used([]byte("v"))
	if err := EncodeInto(rec, "t", with(func(op *opspb.Operation) { op.Id = "" })); err == nil || rec.Topic != "old" {
		t.Fatalf("EncodeInto of an invalid event: %v, record %+v", err, rec)
	}
}
