// Package event is the Kafka record codec of fanout's event: one record per
// write the primary accepted, keyed by index/_id, whose value is a protobuf
// fanout.v1.Operation (package opspb) and whose headers name the schema
// version and content type.
//
// The proxy builds records with Encode; replicators read them with Decode,
// which turns anything they cannot apply safely into a *PoisonError with a
// machine-readable Reason, so that the record goes to the dead-letter topic
// instead of stalling its partition (principle 7).
package event

import (
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// Header names and values written by Encode and required by Decode.
const (
	// HeaderSchema names the envelope schema version. It changes only when
	// a reader of the old version could misapply a record of the new one;
	// added proto fields do not change it.
	HeaderSchema = "fanout-schema"
	// SchemaVersion is the envelope version of an event in one record.
	SchemaVersion = "1"
	// SchemaChunked is the envelope version of a chunk record (an Operation
	// with chunk set): a reader that knows only SchemaVersion must dead-letter
	// it (unknown_schema) rather than apply a piece as the whole document.
	// This package reads and writes both.
	SchemaChunked = "2"
	// SchemaMetadata is the envelope version of a KIND_METADATA record (one
	// copy of a metadata change, metadata.go): a reader that knows only the
	// document schemas dead-letters it rather than misread it.
	SchemaMetadata = "3"
	// HeaderContentType names the encoding of the record value.
	HeaderContentType = "content-type"
	// ContentType is the value of HeaderContentType: a binary protobuf
	// fanout.v1.Operation.
	ContentType = "application/x-protobuf; messageType=fanout.v1.Operation"

	mediaType   = "application/x-protobuf"
	messageType = "fanout.v1.Operation"
)

// Key returns the record key of a document's events, index + "/" + id. All
// events of one document share it and so one partition, which keeps them in
// order. The first "/" separates the two parts unambiguously because index
// names cannot contain "/".
func Key(index, id string) []byte { return appendKey(nil, index, id) }

// appendKey appends Key(index, id) to dst, growing it once.
func appendKey(dst []byte, index, id string) []byte {
	dst = slices.Grow(dst, len(index)+1+len(id))
	return append(append(append(dst, index...), '/'), id...)
}

// keyIs says whether key is Key(index, id), without building it.
func keyIs(key []byte, index, id string) bool {
	return len(key) == len(index)+1+len(id) && string(key[:len(index)]) == index &&
		key[len(index)] == '/' && string(key[len(index)+1:]) == id
}

// Encode builds the record for op on topic (empty to use the producer's
// default topic): key Key(op.Index, op.Id), value the binary protobuf, and the
// schema and content-type headers. It refuses an Operation that Decode would
// reject, with the same *PoisonError wrapped, so that a producer bug shows at
// the producer rather than in every replicator's dead-letter topic.
func Encode(topic string, op *opspb.Operation) (*kgo.Record, error) {
	rec := new(kgo.Record)
	if err := EncodeInto(rec, topic, op); err != nil {
		return nil, err
	}
	return rec, nil
}

// EncodeInto is Encode into rec, a record its producer is done with (or a new one):
// its key, value and headers are written into the memory they already have (grown when
// too small), and every other field is reset. A producer that reuses its records from
// their promises builds a record without allocating: allocating the value, the key,
// the headers and the record was two-thirds of the cost of building a 1 KiB document's
// record (BenchmarkEncode against BenchmarkEncodeInto; issue 16). On an error rec's
// fields are as they were (what its value's memory holds is not).
func EncodeInto(rec *kgo.Record, topic string, op *opspb.Operation) error {
	if op == nil {
		return errors.New("encoding operation: nil operation")
	}
	if op.GetKind() == opspb.Kind_KIND_METADATA {
		return errors.New("encoding operation: a metadata change is encoded with EncodeMetadata")
	}
	if perr := validate(op); perr != nil {
		return fmt.Errorf("encoding operation %q/%q: %w", op.GetIndex(), op.GetId(), perr)
	}
	value, ok := marshalDoc(rec.Value[:0], op)
	if !ok {
		var err error
		if value, err = (proto.MarshalOptions{}).MarshalAppend(rec.Value[:0], op); err != nil {
			return fmt.Errorf("encoding operation %q/%q: marshalling: %w", op.GetIndex(), op.GetId(), err)
		}
	}
	*rec = kgo.Record{
		Topic:   topic,
		Key:     appendKey(rec.Key[:0], op.GetIndex(), op.GetId()),
		Value:   value,
		Headers: headersInto(rec.Headers, op.GetChunk() != nil),
	}
	return nil
}

// headersInto returns the headers of an event record, written into hs's memory (the
// headers of a record being reused) or into new memory: a record's headers belong to
// whoever holds the record, never shared between records.
func headersInto(hs []kgo.RecordHeader, chunked bool) []kgo.RecordHeader {
	schema := schemaOf(chunked)
	if cap(hs) < 2 {
		hs = make([]kgo.RecordHeader, 2)
	}
	hs = hs[:2]
	hs[0] = kgo.RecordHeader{Key: HeaderSchema, Value: append(hs[0].Value[:0], schema...)}
	hs[1] = kgo.RecordHeader{Key: HeaderContentType, Value: append(hs[1].Value[:0], ContentType...)}
	return hs
}

// schemaOf is the schema header's value of a document event's record.
func schemaOf(chunked bool) string {
	if chunked {
		return SchemaChunked
	}
	return SchemaVersion
}

// Decode returns the Operation a record carries. Every failure is a
// *PoisonError: the record can never be applied as it is, and retrying it
// cannot help. Checks run cheapest first: headers, value, then the fields a
// replicator relies on (kind, index, id, key, replication version, source).
//
// When a header occurs more than once, the first occurrence counts. Unknown
// proto fields are kept, so a newer producer's additions survive a DLQ
// round trip through an older replicator. The source of a document event
// aliases r.Value: neither may be written to.
func Decode(r *kgo.Record) (*opspb.Operation, error) {
	if r == nil {
		return nil, poison(ReasonEmptyValue, "nil record", nil)
	}
	schema, ok := header(r.Headers, HeaderSchema)
	if !ok {
		return nil, poison(ReasonMissingHeader, "no "+HeaderSchema+" header", nil)
	}
	if string(schema) != SchemaVersion && string(schema) != SchemaChunked && string(schema) != SchemaMetadata {
		return nil, poison(ReasonUnknownSchema,
			fmt.Sprintf("%s %.64q, this reader knows %q, %q and %q", HeaderSchema, schema, SchemaVersion, SchemaChunked, SchemaMetadata), nil)
	}
	ct, ok := header(r.Headers, HeaderContentType)
	if !ok {
		return nil, poison(ReasonMissingHeader, "no "+HeaderContentType+" header", nil)
	}
	if !contentTypeOK(ct) {
		return nil, poison(ReasonContentType,
			fmt.Sprintf("%s %.128q, want %q", HeaderContentType, ct, ContentType), nil)
	}
	if len(r.Value) == 0 {
		return nil, poison(ReasonEmptyValue, "record has no value", nil)
	}
	op, ok := unmarshalDoc(r.Value)
	if !ok {
		op = new(opspb.Operation)
		if err := proto.Unmarshal(r.Value, op); err != nil {
			return nil, poison(ReasonUndecodable, "value is not a fanout.v1.Operation", err)
		}
	}
	if meta := op.GetKind() == opspb.Kind_KIND_METADATA; meta || string(schema) == SchemaMetadata {
		if meta != (string(schema) == SchemaMetadata) {
			return nil, poison(ReasonInvalidBarrier,
				fmt.Sprintf("%s %q with kind %v: metadata records, and only they, are schema %q", HeaderSchema, schema, op.GetKind(), SchemaMetadata), nil)
		}
		if perr := validateMetadata(op, r.Partition, r.Key); perr != nil {
			return nil, perr
		}
		return op, nil
	}
	if perr := validate(op); perr != nil {
		return nil, perr
	}
	if chunked := op.GetChunk() != nil; chunked != (string(schema) == SchemaChunked) {
		return nil, poison(ReasonInvalidChunk,
			fmt.Sprintf("%s %q with chunk %v: chunk records are schema %q, others %q", HeaderSchema, schema, chunked, SchemaChunked, SchemaVersion), nil)
	}
	if !keyIs(r.Key, op.GetIndex(), op.GetId()) {
		return nil, poison(ReasonKeyMismatch,
			fmt.Sprintf("record key %.256q is not index/id %.256q", r.Key, Key(op.GetIndex(), op.GetId())), nil)
	}
	return op, nil
}

// MaxIDBytes is the longest document id, in bytes of UTF-8, that OpenSearch and
// Elasticsearch accept (IndexRequest.validate, DocWriteRequest.validateDocIdLength).
const MaxIDBytes = 512

// validate checks what Encode and Decode both require of an Operation.
func validate(op *opspb.Operation) *PoisonError {
	switch op.GetKind() {
	case opspb.Kind_KIND_INDEX, opspb.Kind_KIND_DELETE:
	case opspb.Kind_KIND_UNSPECIFIED:
		return poison(ReasonKindUnspecified, "kind is unspecified", nil)
	default:
		// KIND_RAW has no fields yet, and numbers this build does not
		// know come from a newer producer: keep them for a replay after
		// an upgrade rather than guess.
		return poison(ReasonUnsupportedKind, fmt.Sprintf("kind %v is not supported by this reader", op.GetKind()), nil)
	}
	switch {
	case op.GetIndex() == "":
		return poison(ReasonEmptyIndex, "index is empty", nil)
	case strings.IndexByte(op.GetIndex(), '/') >= 0:
		return poison(ReasonInvalidIndex, fmt.Sprintf("index %.256q contains '/'", op.GetIndex()), nil)
	case op.GetId() == "":
		return poison(ReasonEmptyID, "id is empty", nil)
	case len(op.GetId()) > MaxIDBytes:
		return poison(ReasonIDTooLong, fmt.Sprintf("id is too long, must be no longer than %d bytes but was: %d", MaxIDBytes, len(op.GetId())), nil)
	case op.GetReplicationVersion() < 1:
		// Writing with external version 0 or a negative one is either
		// refused by the target or loses the order guarantee.
		return poison(ReasonInvalidVersion, fmt.Sprintf("replication_version %d is below 1", op.GetReplicationVersion()), nil)
	case op.GetKind() == opspb.Kind_KIND_INDEX && len(op.GetSource()) == 0:
		return poison(ReasonEmptySource, "INDEX operation without source", nil)
	}
	if c := op.GetChunk(); c != nil {
		return validateChunk(op, c)
	}
	return nil
}

// header returns the value of the first header named key.
func header(hs []kgo.RecordHeader, key string) ([]byte, bool) {
	for i := range hs {
		if hs[i].Key == key {
			return hs[i].Value, true
		}
	}
	return nil, false
}

// contentTypeOK accepts ContentType itself without parsing (the hot path)
// and otherwise any spelling with the same media type and messageType
// parameter, so that a producer that adds a parameter or changes case or
// spacing is still understood.
func contentTypeOK(ct []byte) bool {
	if string(ct) == ContentType {
		return true
	}
	mt, params, err := mime.ParseMediaType(string(ct))
	return err == nil && mt == mediaType && params["messagetype"] == messageType
}
