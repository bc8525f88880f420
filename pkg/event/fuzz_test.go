package event

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// fuzzHeaders turns raw fuzz bytes into record headers: lines of key=value
// (a line without "=" is a key with a nil value), so the fuzzer reaches
// missing, duplicate, reordered and odd headers.
func fuzzHeaders(raw []byte) []kgo.RecordHeader {
	var hs []kgo.RecordHeader
	for line := range bytes.SplitSeq(raw, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		k, v, found := bytes.Cut(line, []byte("="))
		h := kgo.RecordHeader{Key: string(k)}
		if found {
			h.Value = v
		}
		hs = append(hs, h)
	}
	return hs
}

func FuzzDecode(f *testing.F) {
	good := []byte(HeaderSchema + "=" + SchemaVersion + "\n" + HeaderContentType + "=" + ContentType)
	for _, op := range []*opspb.Operation{
		indexOp(),
		with(func(op *opspb.Operation) { op.Kind, op.Source = opspb.Kind_KIND_DELETE, nil }),
		with(func(op *opspb.Operation) { op.SeqNo, op.PrimaryTerm = nil, nil }),
	} {
		rec, err := Encode("t", op)
		if err != nil {
			f.Fatalf("Encode seed: %v", err)
		}
		f.Add(rec.Key, rec.Value, good)
		f.Add(rec.Key, rec.Value, []byte(HeaderSchema+"=2\n"+HeaderContentType+"=application/json"))
		f.Add([]byte("wrong/key"), rec.Value, good)
		f.Add(rec.Key, rec.Value[:len(rec.Value)/2], good)
	}
	f.Add([]byte(nil), []byte(nil), []byte(nil))
	f.Add([]byte("/"), []byte{0x08, 0x01}, good)
	f.Add([]byte("i/1"), []byte{0xff, 0xff, 0xff}, []byte(HeaderContentType+"\n"+HeaderSchema+"=1=1"))

	f.Fuzz(func(t *testing.T, key, value, rawHeaders []byte) {
		rec := &kgo.Record{Key: key, Value: value, Headers: fuzzHeaders(rawHeaders)}
		op, err := Decode(rec)
		if err != nil {
			var perr *PoisonError
			if !errors.As(err, &perr) {
				t.Fatalf("Decode error %v (%T) is not a *PoisonError", err, err)
			}
			if perr.Reason == "" {
				t.Fatalf("poison error without a reason: %v", err)
			}
			if op != nil {
				t.Fatalf("Decode returned %v with error %v", op, err)
			}
			return
		}
		// Whatever Decode accepts, Encode accepts and reproduces.
		again, err := Encode("t", op)
		if err != nil {
			t.Fatalf("Encode refused what Decode accepted (%v): %v", op, err)
		}
		if !bytes.Equal(again.Key, key) {
			t.Fatalf("re-encoded key %q, record had %q", again.Key, key)
		}
		back, err := Decode(again)
		if err != nil {
			t.Fatalf("Decode of the re-encoded record: %v", err)
		}
		if !proto.Equal(back, op) {
			t.Fatalf("re-encode changed the operation:\n got %v\nwant %v", back, op)
		}
	})
}
