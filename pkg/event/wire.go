package event

import (
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
