package event

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// MetadataKeyPrefix starts the record key of every copy of a metadata change; the
// barrier id follows. Index names cannot start with '_', so no document key has it.
const MetadataKeyPrefix = "_fanout/metadata/"

// MaxBarrierIDBytes bounds a barrier id (the proxy's are 32 hex digits).
const MaxBarrierIDBytes = 64

// MetadataKey is the record key of the copies of barrier id.
func MetadataKey(id string) []byte { return []byte(MetadataKeyPrefix + id) }

// EncodeMetadata builds the record of one copy of a metadata change for partition
// (which the producer must honour: kgo.ManualPartitioner), with the schema header
// SchemaMetadata. It refuses what Decode would, so a producer bug shows at the
// producer.
func EncodeMetadata(topic string, partition int32, op *opspb.Operation) (*kgo.Record, error) {
	if op == nil {
		return nil, errors.New("encoding metadata change: nil operation")
	}
	key := MetadataKey(op.GetBarrier().GetId())
	if perr := validateMetadata(op, partition, key); perr != nil {
		return nil, fmt.Errorf("encoding metadata change %q: %w", op.GetBarrier().GetId(), perr)
	}
	value, err := proto.Marshal(op)
	if err != nil {
		return nil, fmt.Errorf("encoding metadata change %q: marshalling: %w", op.GetBarrier().GetId(), err)
	}
	return &kgo.Record{
		Topic:     topic,
		Partition: partition,
		Key:       key,
		Value:     value,
		Headers: []kgo.RecordHeader{
			{Key: HeaderSchema, Value: []byte(SchemaMetadata)},
			{Key: HeaderContentType, Value: []byte(ContentType)},
		},
	}, nil
}

// IsMetadata reports, from its headers alone, whether a record is a copy of a
// metadata change: the replicator cuts its batches there without decoding.
func IsMetadata(r *kgo.Record) bool {
	s, ok := header(r.Headers, HeaderSchema)
	return ok && string(s) == SchemaMetadata
}

// validateMetadata checks a KIND_METADATA operation read from (or going to) partition
// with record key key.
func validateMetadata(op *opspb.Operation, partition int32, key []byte) *PoisonError {
	b := op.GetBarrier()
	bad := func(format string, args ...any) *PoisonError {
		return poison(ReasonInvalidBarrier, fmt.Sprintf(format, args...), nil)
	}
	switch {
	case op.GetKind() != opspb.Kind_KIND_METADATA:
		return bad("kind %v is not KIND_METADATA", op.GetKind())
	case b == nil:
		return bad("metadata change without barrier")
	case b.GetId() == "" || len(b.GetId()) > MaxBarrierIDBytes:
		return bad("barrier id must be 1 to %d bytes, got %d", MaxBarrierIDBytes, len(b.GetId()))
	case b.GetPartitions() < 1:
		return bad("barrier partitions %d is below 1", b.GetPartitions())
	case partition < 0 || partition >= b.GetPartitions():
		return bad("copy on partition %d of a barrier over %d partitions", partition, b.GetPartitions())
	case partition == 0 && b.GetCoordinatorOffset() != -1:
		return bad("partition 0's copy has coordinator_offset %d, want -1", b.GetCoordinatorOffset())
	case partition != 0 && b.GetCoordinatorOffset() < 0:
		return bad("copy on partition %d has coordinator_offset %d, want the offset of partition 0's copy", partition, b.GetCoordinatorOffset())
	case op.GetMetadata() == nil:
		return bad("metadata change without metadata")
	case op.GetIndex() != "" || op.GetId() != "" || op.GetChunk() != nil || len(op.GetSource()) != 0:
		return bad("metadata change with document fields")
	case string(key) != MetadataKeyPrefix+b.GetId():
		return poison(ReasonKeyMismatch, fmt.Sprintf("record key %.256q is not %q+barrier id %.64q", key, MetadataKeyPrefix, b.GetId()), nil)
	}
	return nil
}
