package event

import "strings"

// Reason says in a stable, machine-readable word why a record is poison. It
// goes into the dead-letter record's headers and into metric labels, so the
// values never change meaning; new ones may be added.
type Reason string

// The reasons Decode (and Encode) report.
const (
	// ReasonMissingHeader: the schema or content-type header is absent.
	ReasonMissingHeader Reason = "missing_header"
	// ReasonUnknownSchema: the schema header names a version this reader
	// does not know, typically a newer producer. Replay after an upgrade.
	ReasonUnknownSchema Reason = "unknown_schema"
	// ReasonContentType: the content-type header is not a protobuf
	// fanout.v1.Operation.
	ReasonContentType Reason = "unsupported_content_type"
	// ReasonEmptyValue: the record has no value (a tombstone or a nil
	// record).
	ReasonEmptyValue Reason = "empty_value"
	// ReasonUndecodable: the value is not a valid protobuf Operation.
	ReasonUndecodable Reason = "undecodable_value"
	// ReasonKindUnspecified: the Operation's kind is KIND_UNSPECIFIED.
	ReasonKindUnspecified Reason = "kind_unspecified"
	// ReasonUnsupportedKind: KIND_RAW, or a kind number this reader does
	// not know.
	ReasonUnsupportedKind Reason = "unsupported_kind"
	// ReasonEmptyIndex: the Operation has no index.
	ReasonEmptyIndex Reason = "empty_index"
	// ReasonInvalidIndex: the index contains "/", which no valid index name
	// does and which would make the record key ambiguous.
	ReasonInvalidIndex Reason = "invalid_index"
	// ReasonEmptyID: the Operation has no id.
	ReasonEmptyID Reason = "empty_id"
	// ReasonIDTooLong: the id is over 512 bytes of UTF-8, which every target
	// refuses (IndexRequest/DocWriteRequest validation), and for the whole _bulk
	// request, not the item alone: sent, it would block its partition.
	ReasonIDTooLong Reason = "id_too_long"
	// ReasonKeyMismatch: the record key is not Key(index, id), so the
	// record may have been partitioned apart from its document's other
	// events and its order is unknown.
	ReasonKeyMismatch Reason = "key_mismatch"
	// ReasonInvalidVersion: replication_version is below 1, so it cannot be
	// written as an external version that keeps the document's order.
	ReasonInvalidVersion Reason = "invalid_version"
	// ReasonEmptySource: an INDEX Operation without a document.
	ReasonEmptySource Reason = "empty_source"
	// ReasonInvalidChunk: a chunk record whose chunk description cannot be
	// right (a DELETE chunk, count below 2, index past count, a piece larger
	// than the document…), or a schema header that does not match whether the
	// record is a chunk.
	ReasonInvalidChunk Reason = "invalid_chunk"
	// ReasonInvalidBarrier: a KIND_METADATA record whose barrier, key or
	// partition does not fit together, or that carries no metadata.
	ReasonInvalidBarrier Reason = "invalid_barrier"
)

// PoisonError reports a record that can never be applied as it is. A
// replicator sends the record to its dead-letter topic with Reason and the
// error text, commits past it, and goes on with the partition.
type PoisonError struct {
	Reason Reason
	// Detail says what was wrong in words, for logs and the DLQ header.
	Detail string
	// Err is the underlying error, such as the protobuf decoding error;
	// nil if none.
	Err error
}

func poison(reason Reason, detail string, err error) *PoisonError {
	return &PoisonError{Reason: reason, Detail: detail, Err: err}
}

// Error returns "poison record (<reason>): <detail>[: <err>]".
func (e *PoisonError) Error() string {
	var b strings.Builder
	b.WriteString("poison record (")
	b.WriteString(string(e.Reason))
	b.WriteString(")")
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *PoisonError) Unwrap() error { return e.Err }
