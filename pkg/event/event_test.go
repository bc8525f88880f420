package event

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// indexOp returns a complete, valid INDEX operation; tests change one thing.
func indexOp() *opspb.Operation {
	return &opspb.Operation{
		Kind:               opspb.Kind_KIND_INDEX,
		Index:              "logs-2026.11",
		Id:                 "doc-1",
		Routing:            "tenant-7",
		Source:             []byte(`{"msg":"hello","n":1}`),
		ReplicationVersion: 3<<SeqNoBits | 42,
		Version:            5,
		SeqNo:              proto.Int64(41),
		PrimaryTerm:        proto.Int64(3),
		AcceptedAt:         timestamppb.New(time.Date(2026, 11, 22, 1, 2, 3, 456789, time.UTC)),
		RequestId:          "req-0001",
		SourceCluster:      "primary-eu",
	}
}

func with(f func(op *opspb.Operation)) *opspb.Operation {
	op := indexOp()
	f(op)
	return op
}

// mustMarshal encodes op without Encode's validation, to build records that
// Encode would refuse.
func mustMarshal(t *testing.T, op *opspb.Operation) []byte {
	t.Helper()
	b, err := proto.Marshal(op)
	if err != nil {
		t.Fatalf("marshalling %v: %v", op, err)
	}
	return b
}

func TestKey(t *testing.T) {
	tests := []struct {
		name, index, id, want string
	}{
		{name: "plain", index: "logs", id: "1", want: "logs/1"},
		{name: "id with slashes", index: "logs", id: "a/b/c", want: "logs/a/b/c"},
		{name: "unicode id", index: "idx", id: "é🙂", want: "idx/é🙂"},
		{name: "empty parts", index: "", id: "", want: "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Key(tt.index, tt.id); string(got) != tt.want {
				t.Errorf("Key(%q, %q) = %q, want %q", tt.index, tt.id, got, tt.want)
			}
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		op   *opspb.Operation
	}{
		{name: "index with everything", op: indexOp()},
		{name: "delete", op: with(func(op *opspb.Operation) {
			op.Kind = opspb.Kind_KIND_DELETE
			op.Source = nil
		})},
		{name: "without seq_no uses _version", op: with(func(op *opspb.Operation) {
			op.SeqNo, op.PrimaryTerm = nil, nil
			op.ReplicationVersion = op.Version
		})},
		{name: "seq_no 0 is present, not absent", op: with(func(op *opspb.Operation) {
			op.SeqNo, op.PrimaryTerm = proto.Int64(0), proto.Int64(1)
			op.ReplicationVersion = 1<<SeqNoBits | 1
		})},
		{name: "minimal", op: &opspb.Operation{
			Kind: opspb.Kind_KIND_INDEX, Index: "i", Id: "1", Source: []byte("{}"), ReplicationVersion: 1,
		}},
		{name: "id with slash and unicode", op: with(func(op *opspb.Operation) { op.Id = "a/b/é🙂" })},
		{name: "largest version", op: with(func(op *opspb.Operation) {
			op.SeqNo, op.PrimaryTerm = proto.Int64(MaxSeqNo), proto.Int64(MaxPrimaryTerm)
			op.ReplicationVersion = 1<<63 - 1
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Encode("fanout.ops", tt.op)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if rec.Topic != "fanout.ops" {
				t.Errorf("topic = %q, want fanout.ops", rec.Topic)
			}
			if want := Key(tt.op.GetIndex(), tt.op.GetId()); !bytes.Equal(rec.Key, want) {
				t.Errorf("key = %q, want %q", rec.Key, want)
			}
			wantHeaders := []kgo.RecordHeader{
				{Key: "fanout-schema", Value: []byte("1")},
				{Key: "content-type", Value: []byte("application/x-protobuf; messageType=fanout.v1.Operation")},
			}
			if !headersEqual(rec.Headers, wantHeaders) {
				t.Errorf("headers = %v, want %v", rec.Headers, wantHeaders)
			}
			got, err := Decode(rec)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !proto.Equal(got, tt.op) {
				t.Errorf("round trip changed the operation:\n got %v\nwant %v", got, tt.op)
			}
			if (got.SeqNo != nil) != (tt.op.SeqNo != nil) {
				t.Errorf("seq_no presence = %v, want %v", got.SeqNo != nil, tt.op.SeqNo != nil)
			}
		})
	}
}

func headersEqual(a, b []kgo.RecordHeader) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// TestDecodeAccepts covers records that are not byte-for-byte what Encode
// writes but are still valid.
func TestDecodeAccepts(t *testing.T) {
	valid := func(t *testing.T) *kgo.Record {
		rec, err := Encode("t", indexOp())
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		return rec
	}
	tests := []struct {
		name   string
		mutate func(t *testing.T, r *kgo.Record)
	}{
		{name: "content type spelled differently", mutate: func(_ *testing.T, r *kgo.Record) {
			r.Headers[1].Value = []byte(`Application/X-Protobuf ; MessageType="fanout.v1.Operation"`)
		}},
		{name: "headers in other order with extra ones", mutate: func(_ *testing.T, r *kgo.Record) {
			r.Headers = []kgo.RecordHeader{
				{Key: "traceparent", Value: []byte("00-abc-def-01")},
				r.Headers[1], r.Headers[0],
			}
		}},
		{name: "first of duplicate headers counts", mutate: func(_ *testing.T, r *kgo.Record) {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderSchema, Value: []byte("2")})
		}},
		{name: "unknown field from a newer producer", mutate: func(_ *testing.T, r *kgo.Record) {
			r.Value = protowire.AppendTag(r.Value, 99, protowire.BytesType)
			r.Value = protowire.AppendString(r.Value, "future")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := valid(t)
			tt.mutate(t, rec)
			op, err := Decode(rec)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if op.GetId() != "doc-1" || op.GetKind() != opspb.Kind_KIND_INDEX {
				t.Errorf("decoded %v", op)
			}
		})
	}

	t.Run("unknown fields survive a re-encode", func(t *testing.T) {
		rec := valid(t)
		rec.Value = protowire.AppendTag(rec.Value, 99, protowire.BytesType)
		rec.Value = protowire.AppendString(rec.Value, "future")
		op, err := Decode(rec)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		again, err := Encode("t", op)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		if !bytes.Contains(again.Value, []byte("future")) {
			t.Errorf("re-encoded value %q lost the unknown field", again.Value)
		}
	})
}

func TestDecodePoison(t *testing.T) {
	// record builds a record with Encode's key and headers around value.
	record := func(op *opspb.Operation, value []byte) *kgo.Record {
		return &kgo.Record{
			Topic: "t",
			Key:   Key(op.GetIndex(), op.GetId()),
			Value: value,
			Headers: []kgo.RecordHeader{
				{Key: HeaderSchema, Value: []byte(SchemaVersion)},
				{Key: HeaderContentType, Value: []byte(ContentType)},
			},
		}
	}
	// of returns a record carrying op, encoded without validation.
	of := func(t *testing.T, op *opspb.Operation) *kgo.Record {
		return record(op, mustMarshal(t, op))
	}
	valid := func(t *testing.T) *kgo.Record { return of(t, indexOp()) }

	tests := []struct {
		name   string
		rec    func(t *testing.T) *kgo.Record
		reason Reason
	}{
		{name: "nil record", rec: func(*testing.T) *kgo.Record { return nil }, reason: ReasonEmptyValue},
		{name: "no headers", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Headers = nil
			return r
		}, reason: ReasonMissingHeader},
		{name: "no schema header", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Headers = r.Headers[1:]
			return r
		}, reason: ReasonMissingHeader},
		{name: "no content-type header", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Headers = r.Headers[:1]
			return r
		}, reason: ReasonMissingHeader},
		{name: "header name is case-sensitive", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Headers[0].Key = "Fanout-Schema"
			return r
		}, reason: ReasonMissingHeader},
		{name: "newer schema", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Headers[0].Value = []byte("4")
			return r
		}, reason: ReasonUnknownSchema},
		{name: "document record under the metadata schema", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Headers[0].Value = []byte(SchemaMetadata)
			return r
		}, reason: ReasonInvalidBarrier},
		{name: "empty schema", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Headers[0].Value = nil
			return r
		}, reason: ReasonUnknownSchema},
		{name: "first of duplicate schema headers counts", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Headers = append([]kgo.RecordHeader{{Key: HeaderSchema, Value: []byte("0")}}, r.Headers...)
			return r
		}, reason: ReasonUnknownSchema},
		{name: "json content type", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Headers[1].Value = []byte("application/json")
			return r
		}, reason: ReasonContentType},
		{name: "protobuf of another message", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Headers[1].Value = []byte("application/x-protobuf; messageType=fanout.v2.Operation")
			return r
		}, reason: ReasonContentType},
		{name: "protobuf without message type", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Headers[1].Value = []byte("application/x-protobuf")
			return r
		}, reason: ReasonContentType},
		{name: "unparsable content type", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Headers[1].Value = []byte("application/x-protobuf; messageType")
			return r
		}, reason: ReasonContentType},
		{name: "nil value (tombstone)", rec: func(t *testing.T) *kgo.Record {
			return record(indexOp(), nil)
		}, reason: ReasonEmptyValue},
		{name: "garbage value", rec: func(t *testing.T) *kgo.Record {
			return record(indexOp(), []byte{0xff, 0xff, 0xff, 0xff})
		}, reason: ReasonUndecodable},
		{name: "truncated value", rec: func(t *testing.T) *kgo.Record {
			v := mustMarshal(t, indexOp())
			return record(indexOp(), v[:len(v)-3])
		}, reason: ReasonUndecodable},
		{name: "JSON value", rec: func(t *testing.T) *kgo.Record {
			return record(indexOp(), []byte(`{"kind":"KIND_INDEX","index":"i","id":"1"}`))
		}, reason: ReasonUndecodable},
		{name: "kind unspecified", rec: func(t *testing.T) *kgo.Record {
			return of(t, with(func(op *opspb.Operation) { op.Kind = opspb.Kind_KIND_UNSPECIFIED }))
		}, reason: ReasonKindUnspecified},
		{name: "kind raw not supported yet", rec: func(t *testing.T) *kgo.Record {
			return of(t, with(func(op *opspb.Operation) { op.Kind = opspb.Kind_KIND_RAW }))
		}, reason: ReasonUnsupportedKind},
		{name: "kind from a newer producer", rec: func(t *testing.T) *kgo.Record {
			return of(t, with(func(op *opspb.Operation) { op.Kind = 42 }))
		}, reason: ReasonUnsupportedKind},
		{name: "empty index", rec: func(t *testing.T) *kgo.Record {
			return of(t, with(func(op *opspb.Operation) { op.Index = "" }))
		}, reason: ReasonEmptyIndex},
		{name: "index with slash", rec: func(t *testing.T) *kgo.Record {
			return of(t, with(func(op *opspb.Operation) { op.Index, op.Id = "logs/a", "b" }))
		}, reason: ReasonInvalidIndex},
		{name: "empty id", rec: func(t *testing.T) *kgo.Record {
			return of(t, with(func(op *opspb.Operation) { op.Id = "" }))
		}, reason: ReasonEmptyID},
		{name: "key of another document", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Key = Key("logs-2026.11", "doc-2")
			return r
		}, reason: ReasonKeyMismatch},
		{name: "no key", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Key = nil
			return r
		}, reason: ReasonKeyMismatch},
		{name: "key of the same length, another separator", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Key = []byte("logs-2026.11:doc-1")
			return r
		}, reason: ReasonKeyMismatch},
		{name: "key split elsewhere", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Key = []byte("logs-2026.1/1doc-1")
			return r
		}, reason: ReasonKeyMismatch},
		{name: "key with the id alone", rec: func(t *testing.T) *kgo.Record {
			r := valid(t)
			r.Key = []byte("doc-1")
			return r
		}, reason: ReasonKeyMismatch},
		{name: "replication version 0", rec: func(t *testing.T) *kgo.Record {
			return of(t, with(func(op *opspb.Operation) { op.ReplicationVersion = 0 }))
		}, reason: ReasonInvalidVersion},
		{name: "negative replication version", rec: func(t *testing.T) *kgo.Record {
			return of(t, with(func(op *opspb.Operation) { op.ReplicationVersion = -3 }))
		}, reason: ReasonInvalidVersion},
		{name: "delete without replication version", rec: func(t *testing.T) *kgo.Record {
			return of(t, with(func(op *opspb.Operation) {
				op.Kind, op.Source, op.ReplicationVersion = opspb.Kind_KIND_DELETE, nil, 0
			}))
		}, reason: ReasonInvalidVersion},
		{name: "index without source", rec: func(t *testing.T) *kgo.Record {
			return of(t, with(func(op *opspb.Operation) { op.Source = nil }))
		}, reason: ReasonEmptySource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, err := Decode(tt.rec(t))
			if err == nil {
				t.Fatalf("Decode = %v, want a poison error (%s)", op, tt.reason)
			}
			if op != nil {
				t.Errorf("Decode returned %v with its error, want nil", op)
			}
			var perr *PoisonError
			if !errors.As(err, &perr) {
				t.Fatalf("Decode error %v (%T) is not a *PoisonError", err, err)
			}
			if perr.Reason != tt.reason {
				t.Errorf("reason = %s, want %s (%v)", perr.Reason, tt.reason, err)
			}
			if !strings.Contains(err.Error(), string(tt.reason)) {
				t.Errorf("error text %q does not name the reason %s", err, tt.reason)
			}
		})
	}
}

func TestDecodeUndecodableWrapsCause(t *testing.T) {
	rec, err := Encode("t", indexOp())
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	rec.Value = []byte{0x0a}
	_, err = Decode(rec)
	var perr *PoisonError
	if !errors.As(err, &perr) || perr.Reason != ReasonUndecodable {
		t.Fatalf("Decode error = %v, want %s", err, ReasonUndecodable)
	}
	if perr.Err == nil || errors.Unwrap(err) == nil {
		t.Errorf("poison error %v does not carry the protobuf error", err)
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	tests := []struct {
		name   string
		op     *opspb.Operation
		reason Reason // "" when the error is not a poison error
	}{
		{name: "nil operation", op: nil},
		{name: "kind unspecified", op: with(func(op *opspb.Operation) { op.Kind = 0 }), reason: ReasonKindUnspecified},
		{name: "kind raw", op: with(func(op *opspb.Operation) { op.Kind = opspb.Kind_KIND_RAW }), reason: ReasonUnsupportedKind},
		{name: "empty index", op: with(func(op *opspb.Operation) { op.Index = "" }), reason: ReasonEmptyIndex},
		{name: "index with slash", op: with(func(op *opspb.Operation) { op.Index = "a/b" }), reason: ReasonInvalidIndex},
		{name: "empty id", op: with(func(op *opspb.Operation) { op.Id = "" }), reason: ReasonEmptyID},
		{name: "id over 512 bytes", op: with(func(op *opspb.Operation) { op.Id = strings.Repeat("é", 257) }), reason: ReasonIDTooLong},
		{name: "no replication version", op: with(func(op *opspb.Operation) { op.ReplicationVersion = 0 }), reason: ReasonInvalidVersion},
		{name: "index without source", op: with(func(op *opspb.Operation) { op.Source = []byte{} }), reason: ReasonEmptySource},
	}
	if _, err := Encode("t", with(func(op *opspb.Operation) { op.Id = strings.Repeat("x", MaxIDBytes) })); err != nil {
		t.Errorf("an id of exactly %d bytes is valid: %v", MaxIDBytes, err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Encode("t", tt.op)
			if err == nil {
				t.Fatalf("Encode = %v, want an error", rec)
			}
			if tt.reason == "" {
				return
			}
			var perr *PoisonError
			if !errors.As(err, &perr) || perr.Reason != tt.reason {
				t.Errorf("Encode error = %v, want reason %s", err, tt.reason)
			}
		})
	}
}

func TestPoisonErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  *PoisonError
		want string
	}{
		{name: "reason only", err: &PoisonError{Reason: ReasonEmptyID}, want: "poison record (empty_id)"},
		{name: "with detail", err: &PoisonError{Reason: ReasonEmptyID, Detail: "id is empty"}, want: "poison record (empty_id): id is empty"},
		{name: "with cause", err: &PoisonError{Reason: ReasonUndecodable, Detail: "bad", Err: errors.New("eof")}, want: "poison record (undecodable_value): bad: eof"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
