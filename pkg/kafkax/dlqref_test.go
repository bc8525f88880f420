package kafkax_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/kafkax"
)

func TestFitDeadLetter(t *testing.T) {
	dl := kafkax.DeadLetter{Class: kafkax.ClassRejected, ErrorType: "strict_dynamic_mapping_exception", Reason: "r",
		HTTPStatus: 400, Attempts: 1, Cluster: "b", SourceTopic: "fanout.ops", SourcePartition: 3, SourceOffset: 77,
		FirstFailure: time.Unix(0, 0), LastFailure: time.Unix(0, 0)}
	src := func(n int) *kgo.Record {
		return &kgo.Record{Key: []byte("idx/7"), Value: bytes.Repeat([]byte("x"), n),
			Headers: []kgo.RecordHeader{{Key: "fanout-schema", Value: []byte("1")}}}
	}
	tests := []struct {
		name    string
		value   int
		limit   int
		dropped bool
	}{
		{name: "small fits", value: 100, limit: 1000012},
		{name: "no limit keeps the value", value: 2 << 20, limit: 0},
		{name: "the issue's 1,010,028-byte document", value: 1010028, limit: 1000012, dropped: true},
		{name: "a value just under the limit still loses to its headers", value: 1000000, limit: 1000012, dropped: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, dropped := kafkax.FitDeadLetter("fanout.ops.dlq.b", src(tt.value), dl, tt.limit)
			if dropped != tt.dropped {
				t.Fatalf("dropped %v, want %v", dropped, tt.dropped)
			}
			if tt.limit > 0 && kafkax.BatchBytes(rec) > tt.limit {
				t.Errorf("record of %d bytes over the %d limit", kafkax.BatchBytes(rec), tt.limit)
			}
			got, err := kafkax.ParseDeadLetter(rec.Headers)
			if err != nil {
				t.Fatal(err)
			}
			if got.SourceTopic != "fanout.ops" || got.SourcePartition != 3 || got.SourceOffset != 77 || string(rec.Key) != "idx/7" {
				t.Errorf("reference lost its source: %+v key %q", got, rec.Key)
			}
			dr, isRef, err := kafkax.ParseDropped(rec.Headers)
			if err != nil || isRef != tt.dropped {
				t.Fatalf("ParseDropped: %v %v", isRef, err)
			}
			if !tt.dropped {
				if len(rec.Value) != tt.value {
					t.Errorf("value of %d bytes, want %d", len(rec.Value), tt.value)
				}
				return
			}
			if len(rec.Value) != 0 || dr.Reason != kafkax.DroppedTooLarge || dr.Bytes != tt.value || dr.Limit != tt.limit {
				t.Errorf("reference %+v value %d bytes", dr, len(rec.Value))
			}
			// Dead-lettered again (a replay): one set of reference headers.
			again := kafkax.NewReferenceRecord("t", rec, dl, dr)
			n := 0
			for _, h := range again.Headers {
				if h.Key == kafkax.HeaderValueDropped {
					n++
				}
			}
			if n != 1 || !kafkax.IsDeadLetterHeader(kafkax.HeaderValueBytes) {
				t.Errorf("%d %s headers after a second dead-lettering", n, kafkax.HeaderValueDropped)
			}
		})
	}
}

// TestBatchBytesBounds: the estimate stays within its widest-varint margin (the
// replicator test produces a record at the limit through kfake).
func TestBatchBytesBounds(t *testing.T) {
	r := &kgo.Record{Key: []byte("k"), Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}}
	// A v2 batch of one such record is 61 bytes of batch header plus about 20.
	if n := kafkax.BatchBytes(r); n < 4+61+20 || n > 4+61+60 {
		t.Errorf("BatchBytes %d", n)
	}
}

// FuzzParseDropped: reference headers are untrusted bytes; never panic, and what is
// accepted renders back the same.
func FuzzParseDropped(f *testing.F) {
	f.Add("too_large", "1010028", "1000012")
	f.Add("", "-1", "x")
	f.Fuzz(func(t *testing.T, reason, size, limit string) {
		hs := []kgo.RecordHeader{{Key: kafkax.HeaderValueDropped, Value: []byte(reason)},
			{Key: kafkax.HeaderValueBytes, Value: []byte(size)}, {Key: kafkax.HeaderValueLimit, Value: []byte(limit)}}
		d, ok, err := kafkax.ParseDropped(hs)
		if !ok {
			t.Fatal("reference headers not seen")
		}
		if err != nil {
			return
		}
		rec := kafkax.NewReferenceRecord("t", &kgo.Record{}, kafkax.DeadLetter{}, d)
		again, _, err := kafkax.ParseDropped(rec.Headers)
		if err != nil || again != d {
			t.Fatalf("round trip %+v -> %+v (%v)", d, again, err)
		}
	})
}
