package event

import (
	"errors"
	"fmt"
)

// Limits of the replication version layout (primary_term << 40) | (seq_no + 1).
const (
	// SeqNoBits is the number of low bits that hold seq_no + 1.
	SeqNoBits = 40
	// MaxSeqNo is the largest _seq_no that fits: seq_no + 1 must stay
	// below 2^40 or it would carry into the term bits.
	MaxSeqNo int64 = 1<<SeqNoBits - 2
	// MaxPrimaryTerm is the largest _primary_term that fits while the
	// result stays a positive int64 (Elasticsearch and OpenSearch take
	// external versions in [0, 2^63-1]).
	MaxPrimaryTerm int64 = 1<<(63-SeqNoBits) - 1
)

// ErrVersionRange is wrapped by ReplicationVersion's errors: the primary's
// numbers do not fit the layout, so the write has no safe replication
// version.
var ErrVersionRange = errors.New("replication version out of range")

// ReplicationVersion returns the external version replicas write a
// document's event with (principle 2 of the design): a number that is
// strictly greater for each later write of the same document, so applying
// an older event after a newer one is answered with a version conflict
// (stale) instead of rolling the replica back.
//
// With the primary's _seq_no (hasSeqNo) it is
//
//	(primaryTerm << 40) | (seqNo + 1)
//
// A document always lives in one shard, and within a shard (primary_term,
// seq_no) orders every write: seq_no grows by one per operation, and a
// failover raises the term, so even a seq_no the new primary hands out again
// (after an unacknowledged write of the old one) compares greater. Unlike
// _version, seq_no keeps growing across a delete and re-create, also after
// the delete's tombstone expired (index.gc_deletes) and _version restarted
// at 1. The +1 keeps the low 40 bits non-zero even for a shard's first write
// (seq_no 0); it costs one seq_no of range.
//
// Without _seq_no it falls back to version, the primary's _version, which is
// monotonic only while the document or its tombstone exists.
//
// Limits, returned as an error wrapping ErrVersionRange rather than clamped,
// because a clamped value could compare equal to or below a later write's
// and make replicas drop that write as stale without anyone noticing:
//   - 0 <= seqNo <= MaxSeqNo (2^40 - 2, about 1.1e12 operations per shard)
//   - 1 <= primaryTerm <= MaxPrimaryTerm (2^23 - 1 failovers)
//   - without seq_no, version >= 1
//
// The caller must not invent a version on error; the proxy reports the write
// as not replicated and counts it.
//
// Limits of the scheme itself: the order holds within one incarnation of an
// index. When the primary's index is deleted and re-created, or rebuilt
// (reindex, restore) under the same name, seq_no and the term start again
// and the new index's writes compare below the old ones, so replicas would
// treat them as stale: the replica index must be re-created with it. And the
// two forms must not be mixed within one index; a seq_no form value is always
// above 2^40, so moving from the _version fallback to seq_no (a primary that
// starts reporting it) still moves forward, but never the other way.
func ReplicationVersion(seqNo, primaryTerm, version int64, hasSeqNo bool) (int64, error) {
	if !hasSeqNo {
		if version < 1 {
			return 0, fmt.Errorf("%w: _version %d without _seq_no, want >= 1", ErrVersionRange, version)
		}
		return version, nil
	}
	if seqNo < 0 || seqNo > MaxSeqNo {
		return 0, fmt.Errorf("%w: _seq_no %d outside [0, %d]", ErrVersionRange, seqNo, MaxSeqNo)
	}
	if primaryTerm < 1 || primaryTerm > MaxPrimaryTerm {
		return 0, fmt.Errorf("%w: _primary_term %d outside [1, %d]", ErrVersionRange, primaryTerm, MaxPrimaryTerm)
	}
	return primaryTerm<<SeqNoBits | (seqNo + 1), nil
}
