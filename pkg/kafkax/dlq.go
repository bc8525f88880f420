package kafkax

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers a dead-letter record carries on top of the original record's headers. The
// record's key and value are the original ones, so replaying it (fanoutctl dlq replay)
// means producing key, value and the original headers back to the source topic.
const (
	// HeaderErrorClass is "poison" (the record could not be decoded) or "rejected"
	// (the target refused the operation).
	HeaderErrorClass = "fanout-error-class"
	// HeaderErrorType is, for a poison record, the stable event.Reason word
	// (undecodable_value, unknown_schema…); for a rejection, the target's exception
	// type (mapper_parsing_exception…).
	HeaderErrorType = "fanout-error-type"
	// HeaderErrorReason is the error in words.
	HeaderErrorReason = "fanout-error-reason"
	// HeaderHTTPStatus is the item's HTTP status; absent for poison records.
	HeaderHTTPStatus = "fanout-http-status"
	// HeaderAttempts is how often the target was asked; 0 for poison records.
	HeaderAttempts = "fanout-attempts"
	// HeaderCluster is the target cluster's name.
	HeaderCluster = "fanout-cluster"
	// HeaderSourceTopic, HeaderSourcePartition and HeaderSourceOffset locate the
	// original record.
	HeaderSourceTopic     = "fanout-source-topic"
	HeaderSourcePartition = "fanout-source-partition"
	HeaderSourceOffset    = "fanout-source-offset"
	// HeaderFirstFailure and HeaderLastFailure are RFC 3339 times (nanoseconds, UTC).
	HeaderFirstFailure = "fanout-first-failure"
	HeaderLastFailure  = "fanout-last-failure"
)

// Error classes of HeaderErrorClass.
const (
	ClassPoison   = "poison"
	ClassRejected = "rejected"
)

// dlqHeaders lists the headers DeadLetter owns, so that a record dead-lettered again
// after a replay does not carry two sets.
var dlqHeaders = map[string]bool{
	HeaderErrorClass: true, HeaderErrorType: true, HeaderErrorReason: true, HeaderHTTPStatus: true,
	HeaderAttempts: true, HeaderCluster: true, HeaderSourceTopic: true, HeaderSourcePartition: true,
	HeaderSourceOffset: true, HeaderFirstFailure: true, HeaderLastFailure: true,
}

// IsDeadLetterHeader reports whether a header key is one a dead-letter record adds;
// a replay strips them.
func IsDeadLetterHeader(key string) bool { return dlqHeaders[key] }

// DeadLetter is why and where a record was dead-lettered.
type DeadLetter struct {
	Class           string
	ErrorType       string
	Reason          string
	HTTPStatus      int // 0: none
	Attempts        int
	Cluster         string
	SourceTopic     string
	SourcePartition int32
	SourceOffset    int64
	FirstFailure    time.Time
	LastFailure     time.Time
}

// maxReasonBytes keeps one header from bloating the record: the target's reasons quote
// documents.
const maxReasonBytes = 4096

// Headers renders d as record headers.
func (d DeadLetter) Headers() []kgo.RecordHeader {
	reason := d.Reason
	if len(reason) > maxReasonBytes {
		reason = strings.ToValidUTF8(reason[:maxReasonBytes], "") + "…"
	}
	hs := []kgo.RecordHeader{
		{Key: HeaderErrorClass, Value: []byte(d.Class)},
		{Key: HeaderErrorType, Value: []byte(d.ErrorType)},
		{Key: HeaderErrorReason, Value: []byte(reason)},
	}
	if d.HTTPStatus != 0 {
		hs = append(hs, kgo.RecordHeader{Key: HeaderHTTPStatus, Value: []byte(strconv.Itoa(d.HTTPStatus))})
	}
	return append(hs,
		kgo.RecordHeader{Key: HeaderAttempts, Value: []byte(strconv.Itoa(d.Attempts))},
		kgo.RecordHeader{Key: HeaderCluster, Value: []byte(d.Cluster)},
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(d.SourceTopic)},
		kgo.RecordHeader{Key: HeaderSourcePartition, Value: []byte(strconv.FormatInt(int64(d.SourcePartition), 10))},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(d.SourceOffset, 10))},
		kgo.RecordHeader{Key: HeaderFirstFailure, Value: []byte(d.FirstFailure.UTC().Format(time.RFC3339Nano))},
		kgo.RecordHeader{Key: HeaderLastFailure, Value: []byte(d.LastFailure.UTC().Format(time.RFC3339Nano))},
	)
}

// NewDeadLetterRecord returns the dead-letter record for src: its key and value, its
// own headers (minus dead-letter headers of an earlier round), then d's.
func NewDeadLetterRecord(topic string, src *kgo.Record, d DeadLetter) *kgo.Record {
	dh := d.Headers()
	hs := make([]kgo.RecordHeader, 0, len(src.Headers)+len(dh))
	for _, h := range src.Headers {
		if !dlqHeaders[h.Key] {
			hs = append(hs, h)
		}
	}
	return &kgo.Record{Topic: topic, Key: src.Key, Value: src.Value, Headers: append(hs, dh...)}
}

// ParseDeadLetter reads the dead-letter headers of a record (fanoutctl dlq list/show).
// It fails when a header is missing or malformed, naming it.
func ParseDeadLetter(hs []kgo.RecordHeader) (DeadLetter, error) {
	get := map[string]string{}
	for _, h := range hs {
		if dlqHeaders[h.Key] {
			if _, dup := get[h.Key]; !dup {
				get[h.Key] = string(h.Value)
			}
		}
	}
	var d DeadLetter
	var err error
	need := func(key string) string {
		v, ok := get[key]
		if !ok && err == nil {
			err = fmt.Errorf("dead-letter header %s is missing", key)
		}
		return v
	}
	num := func(key string, bits int) int64 {
		s := need(key)
		if err != nil {
			return 0
		}
		n, perr := strconv.ParseInt(s, 10, bits)
		if perr != nil {
			err = fmt.Errorf("dead-letter header %s: %q is not a number", key, s)
		}
		return n
	}
	at := func(key string) time.Time {
		s := need(key)
		if err != nil {
			return time.Time{}
		}
		t, perr := time.Parse(time.RFC3339Nano, s)
		if perr != nil {
			err = fmt.Errorf("dead-letter header %s: %q is not an RFC 3339 time", key, s)
		}
		return t
	}
	d.Class = need(HeaderErrorClass)
	d.ErrorType = need(HeaderErrorType)
	d.Reason = need(HeaderErrorReason)
	if _, ok := get[HeaderHTTPStatus]; ok {
		d.HTTPStatus = int(num(HeaderHTTPStatus, 32))
	}
	d.Attempts = int(num(HeaderAttempts, 32))
	d.Cluster = need(HeaderCluster)
	d.SourceTopic = need(HeaderSourceTopic)
	d.SourcePartition = int32(num(HeaderSourcePartition, 32))
	d.SourceOffset = num(HeaderSourceOffset, 64)
	d.FirstFailure = at(HeaderFirstFailure)
	d.LastFailure = at(HeaderLastFailure)
	if err != nil {
		return DeadLetter{}, err
	}
	return d, nil
}
