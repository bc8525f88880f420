package event

import (
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// Field numbers of fanout.v1.Operation (proto/fanout/v1/operation.proto) and of
// google.protobuf.Timestamp that unmarshalDoc reads.
const (
	fieldKind               protowire.Number = 1
	fieldIndex              protowire.Number = 2
	fieldID                 protowire.Number = 3
	fieldRouting            protowire.Number = 4
	fieldSource             protowire.Number = 5
	fieldReplicationVersion protowire.Number = 6
	fieldVersion            protowire.Number = 7
	fieldSeqNo              protowire.Number = 8
	fieldPrimaryTerm        protowire.Number = 9
	fieldAcceptedAt         protowire.Number = 10
	fieldRequestID          protowire.Number = 11
	fieldSourceCluster      protowire.Number = 12

	fieldSeconds protowire.Number = 1
	fieldNanos   protowire.Number = 2
)

// unmarshalDoc decodes a one-record document event, the replicator's hot path,
// without protobuf's generic table-driven decoder, and with source aliasing b
// instead of a copy of it (a record's value is never written to, and the event
// lives no longer than its record). The CPU profile of a replicator draining a
// backlog had proto.Unmarshal at 14 % of the process, half of it the copy of
// source (issue 16).
//
// The Operation and what its pointer fields point to are one allocation (docEvent).
//
// It reports false for anything it does not
// decode exactly as proto.Unmarshal would: a chunk, a metadata change or a
// barrier, a field this build does not know (which proto.Unmarshal keeps as
// unknown bytes for a dead-letter round trip), a known field with another wire
// type, accepted_at twice (a merge), invalid UTF-8 in a string or a malformed
// encoding. The caller then decodes b with proto.Unmarshal, which gives the
// right value or error; FuzzUnmarshalDoc holds the two to the same result.
func unmarshalDoc(b []byte) (*opspb.Operation, bool) {
	d := new(docEvent)
	op := &d.op
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
			switch num {
			case fieldKind:
				op.Kind = opspb.Kind(int32(v))
			case fieldReplicationVersion:
				op.ReplicationVersion = int64(v)
			case fieldVersion:
				op.Version = int64(v)
			case fieldSeqNo:
				d.seqNo = int64(v)
				op.SeqNo = &d.seqNo
			case fieldPrimaryTerm:
				d.primaryTerm = int64(v)
				op.PrimaryTerm = &d.primaryTerm
			default:
				return nil, false
			}
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
			switch num {
			case fieldSource:
				if len(v) == 0 {
					v = nil // as proto.Unmarshal leaves an empty proto3 bytes field
				}
				op.Source = v[:len(v):len(v)] // an append to source must not write into the record
			case fieldAcceptedAt:
				if op.AcceptedAt != nil || !unmarshalTimestamp(v, &d.acceptedAt) {
					return nil, false
				}
				op.AcceptedAt = &d.acceptedAt
			case fieldIndex, fieldID, fieldRouting, fieldRequestID, fieldSourceCluster:
				if !utf8.Valid(v) {
					return nil, false
				}
				s := string(v)
				switch num {
				case fieldIndex:
					op.Index = s
				case fieldID:
					op.Id = s
				case fieldRouting:
					op.Routing = s
				case fieldRequestID:
					op.RequestId = s
				default:
					op.SourceCluster = s
				}
			default:
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return op, true
}

// docEvent holds a decoded document event and the values its pointer fields point to,
// so that decoding one allocates the Operation once rather than four times.
type docEvent struct {
	op                 opspb.Operation
	acceptedAt         timestamppb.Timestamp
	seqNo, primaryTerm int64
}

// unmarshalTimestamp is unmarshalDoc for the accepted_at message.
func unmarshalTimestamp(b []byte, ts *timestamppb.Timestamp) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.VarintType {
			return false
		}
		b = b[n:]
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch num {
		case fieldSeconds:
			ts.Seconds = int64(v)
		case fieldNanos:
			ts.Nanos = int32(v)
		default:
			return false
		}
	}
	return true
}

// marshalDoc appends op's encoding to dst exactly as proto.MarshalOptions{}.MarshalAppend
// would, byte for byte (fields in number order, proto3's zero values left out), for the
// proxy's hot path: proto.Marshal walks the message twice through its generic tables,
// once to size it and once to write it, which was three-quarters of the cost of building
// a 1 KiB document's record once its buffer was reused (BenchmarkMarshal: 220 -> 135 ns; issue 16).
//
// It reports false, and the caller marshals with proto, for anything else: a chunk, a
// metadata change or a barrier, unknown fields (kept from a dead-letter record), or a
// string that is not valid UTF-8 (which proto.Marshal refuses, with its error).
// FuzzMarshalDoc holds the two to the same bytes.
func marshalDoc(dst []byte, op *opspb.Operation) ([]byte, bool) {
	if !docShaped(op) {
		return dst, false
	}
	ts := op.AcceptedAt
	strs := [...]struct {
		num protowire.Number
		s   string
	}{{fieldIndex, op.Index}, {fieldID, op.Id}, {fieldRouting, op.Routing}, {fieldRequestID, op.RequestId}, {fieldSourceCluster, op.SourceCluster}}
	for _, f := range strs {
		if !utf8.ValidString(f.s) {
			return dst, false
		}
	}
	dst = slices.Grow(dst, docSize(op))
	if op.Kind != 0 {
		dst = protowire.AppendTag(dst, fieldKind, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(int64(op.Kind)))
	}
	appendString := func(num protowire.Number, s string) {
		if s != "" {
			dst = protowire.AppendTag(dst, num, protowire.BytesType)
			dst = protowire.AppendString(dst, s)
		}
	}
	appendInt := func(num protowire.Number, v int64) {
		dst = protowire.AppendTag(dst, num, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(v))
	}
	for _, f := range strs[:3] { // index, id, routing: fields 2 to 4
		appendString(f.num, f.s)
	}
	if len(op.Source) > 0 {
		dst = protowire.AppendTag(dst, fieldSource, protowire.BytesType)
		dst = protowire.AppendBytes(dst, op.Source)
	}
	if op.ReplicationVersion != 0 {
		appendInt(fieldReplicationVersion, op.ReplicationVersion)
	}
	if op.Version != 0 {
		appendInt(fieldVersion, op.Version)
	}
	if op.SeqNo != nil { // explicit presence: written even when 0
		appendInt(fieldSeqNo, *op.SeqNo)
	}
	if op.PrimaryTerm != nil {
		appendInt(fieldPrimaryTerm, *op.PrimaryTerm)
	}
	if ts != nil {
		dst = protowire.AppendTag(dst, fieldAcceptedAt, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(timestampSize(ts)))
		if ts.Seconds != 0 {
			appendInt(fieldSeconds, ts.Seconds)
		}
		if ts.Nanos != 0 {
			appendInt(fieldNanos, int64(ts.Nanos))
		}
	}
	for _, f := range strs[3:] { // request_id, source_cluster: fields 11 and 12
		appendString(f.num, f.s)
	}
	return dst, true
}

// sizeDoc is proto.Size(op) for what marshalDoc encodes, and false for the rest.
// (It does not check UTF-8: proto.Size does not either.)
func sizeDoc(op *opspb.Operation) (int, bool) {
	if !docShaped(op) {
		return 0, false
	}
	return docSize(op), true
}

// docShaped reports whether op has only the fields marshalDoc and docSize know: no
// chunk, metadata change or barrier, and no unknown fields in it or its timestamp.
func docShaped(op *opspb.Operation) bool {
	if op.Chunk != nil || op.Metadata != nil || op.Barrier != nil || len(op.ProtoReflect().GetUnknown()) > 0 {
		return false
	}
	ts := op.AcceptedAt
	return ts == nil || len(ts.ProtoReflect().GetUnknown()) == 0
}

// docSize is sizeDoc once the message is known to be a document event.
func docSize(op *opspb.Operation) int {
	n := 0
	for _, s := range [...]string{op.Index, op.Id, op.Routing, op.RequestId, op.SourceCluster} {
		if s != "" {
			n += 1 + protowire.SizeBytes(len(s))
		}
	}
	if len(op.Source) > 0 {
		n += 1 + protowire.SizeBytes(len(op.Source))
	}
	for _, v := range [...]int64{int64(op.Kind), op.ReplicationVersion, op.Version} {
		if v != 0 {
			n += 1 + protowire.SizeVarint(uint64(v))
		}
	}
	for _, v := range [...]*int64{op.SeqNo, op.PrimaryTerm} {
		if v != nil {
			n += 1 + protowire.SizeVarint(uint64(*v))
		}
	}
	if ts := op.AcceptedAt; ts != nil {
		n += 1 + protowire.SizeBytes(timestampSize(ts))
	}
	return n
}

// timestampSize is the encoded size of accepted_at's fields.
func timestampSize(ts *timestamppb.Timestamp) int {
	n := 0
	if ts.Seconds != 0 {
		n += 1 + protowire.SizeVarint(uint64(ts.Seconds))
	}
	if ts.Nanos != 0 {
		n += 1 + protowire.SizeVarint(uint64(int64(ts.Nanos)))
	}
	return n
}
