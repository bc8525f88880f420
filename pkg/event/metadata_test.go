package event

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

func metadataOp(partitions int32, coordinator int64) *opspb.Operation {
	return &opspb.Operation{
		Kind:          opspb.Kind_KIND_METADATA,
		SourceCluster: "primary",
		Barrier:       &opspb.Barrier{Id: "0123456789abcdef0123456789abcdef", Partitions: partitions, CoordinatorOffset: coordinator},
		Metadata: &opspb.Metadata{Request: "PUT /logs", Indices: []*opspb.IndexState{
			{Name: "logs", Exists: true, Uuid: "u1", Settings: []byte(`{"index.number_of_shards":"1"}`), Mappings: []byte(`{}`), Aliases: []byte(`{}`)},
		}},
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	for _, part := range []int32{0, 2} {
		coord := int64(-1)
		if part != 0 {
			coord = 41
		}
		op := metadataOp(3, coord)
		rec, err := EncodeMetadata("ops", part, op)
		if err != nil {
			t.Fatalf("EncodeMetadata(partition %d): %v", part, err)
		}
		if !IsMetadata(rec) || rec.Partition != part || string(rec.Key) != MetadataKeyPrefix+op.GetBarrier().GetId() {
			t.Fatalf("record = partition %d key %q, IsMetadata %v", rec.Partition, rec.Key, IsMetadata(rec))
		}
		got, err := Decode(rec)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if !proto.Equal(got, op) {
			t.Fatalf("Decode = %v, want %v", got, op)
		}
	}
	doc, err := Encode("ops", &opspb.Operation{Kind: opspb.Kind_KIND_INDEX, Index: "i", Id: "1", Source: []byte(`{}`), ReplicationVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	if IsMetadata(doc) {
		t.Fatal("a document record reads as metadata")
	}
}

func TestMetadataPoison(t *testing.T) {
	tests := []struct {
		name   string
		part   int32
		op     func() *opspb.Operation
		edit   func(*kgo.Record)
		reason Reason
	}{
		{name: "no barrier", op: func() *opspb.Operation { op := metadataOp(1, -1); op.Barrier = nil; return op }, reason: ReasonInvalidBarrier},
		{name: "empty id", op: func() *opspb.Operation { op := metadataOp(1, -1); op.Barrier.Id = ""; return op }, reason: ReasonInvalidBarrier},
		{name: "no partitions", op: func() *opspb.Operation { return metadataOp(0, -1) }, reason: ReasonInvalidBarrier},
		{name: "partition past the barrier's", part: 3, op: func() *opspb.Operation { return metadataOp(3, 7) }, reason: ReasonInvalidBarrier},
		{name: "coordinator copy with an offset", op: func() *opspb.Operation { return metadataOp(2, 5) }, reason: ReasonInvalidBarrier},
		{name: "other copy without the coordinator's offset", part: 1, op: func() *opspb.Operation { return metadataOp(2, -1) }, reason: ReasonInvalidBarrier},
		{name: "no metadata", op: func() *opspb.Operation { op := metadataOp(1, -1); op.Metadata = nil; return op }, reason: ReasonInvalidBarrier},
		{name: "document fields", op: func() *opspb.Operation { op := metadataOp(1, -1); op.Index = "logs"; return op }, reason: ReasonInvalidBarrier},
		{name: "key of another barrier", op: func() *opspb.Operation { return metadataOp(1, -1) },
			edit: func(r *kgo.Record) { r.Key = MetadataKey("other") }, reason: ReasonKeyMismatch},
		{name: "metadata under a document schema", op: func() *opspb.Operation { return metadataOp(1, -1) },
			edit: func(r *kgo.Record) { r.Headers[0].Value = []byte(SchemaVersion) }, reason: ReasonInvalidBarrier},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := tt.op()
			value, err := proto.Marshal(op)
			if err != nil {
				t.Fatal(err)
			}
			rec := &kgo.Record{Topic: "ops", Partition: tt.part, Key: MetadataKey(op.GetBarrier().GetId()), Value: value,
				Headers: []kgo.RecordHeader{{Key: HeaderSchema, Value: []byte(SchemaMetadata)}, {Key: HeaderContentType, Value: []byte(ContentType)}}}
			if tt.edit != nil {
				tt.edit(rec)
			} else if _, err := EncodeMetadata("ops", tt.part, op); err == nil {
				t.Error("EncodeMetadata accepted what Decode refuses")
			}
			_, err = Decode(rec)
			var perr *PoisonError
			if !errors.As(err, &perr) || perr.Reason != tt.reason {
				t.Fatalf("Decode error = %v, want reason %s", err, tt.reason)
			}
		})
	}
}
