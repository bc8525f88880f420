package kafkax_test

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/kafkax"
)

func TestDeadLetterRoundTrip(t *testing.T) {
	first := time.Date(2026, 11, 22, 1, 2, 3, 456789000, time.UTC)
	tests := []struct {
		name string
		dl   kafkax.DeadLetter
	}{
		{name: "rejected", dl: kafkax.DeadLetter{
			Class: kafkax.ClassRejected, ErrorType: "mapper_parsing_exception",
			Reason: "failed to parse field [n] of type [long] in document with id '7'", HTTPStatus: 400, Attempts: 3,
			Cluster: "b", SourceTopic: "fanout.ops", SourcePartition: 11, SourceOffset: 123456789012,
			FirstFailure: first, LastFailure: first.Add(250 * time.Millisecond),
		}},
		{name: "poison has no status", dl: kafkax.DeadLetter{
			Class: kafkax.ClassPoison, ErrorType: "unknown_schema", Reason: "poison record (unknown_schema): fanout-schema \"2\"",
			Cluster: "b", SourceTopic: "fanout.ops", SourceOffset: 0, FirstFailure: first, LastFailure: first,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &kgo.Record{Key: []byte("idx/7"), Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: "fanout-schema", Value: []byte("1")}}}
			rec := kafkax.NewDeadLetterRecord("fanout.ops.dlq.b", src, tt.dl)
			if rec.Topic != "fanout.ops.dlq.b" || string(rec.Key) != "idx/7" || string(rec.Value) != "v" {
				t.Fatalf("record %+v", rec)
			}
			if rec.Headers[0].Key != "fanout-schema" {
				t.Errorf("original headers not first: %v", rec.Headers)
			}
			got, err := kafkax.ParseDeadLetter(rec.Headers)
			if err != nil {
				t.Fatal(err)
			}
			if !got.FirstFailure.Equal(tt.dl.FirstFailure) || !got.LastFailure.Equal(tt.dl.LastFailure) {
				t.Errorf("times %s %s, want %s %s", got.FirstFailure, got.LastFailure, tt.dl.FirstFailure, tt.dl.LastFailure)
			}
			got.FirstFailure, got.LastFailure = tt.dl.FirstFailure, tt.dl.LastFailure
			if got != tt.dl {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tt.dl)
			}
			// Dead-lettered again after a replay: one set of headers, the new one.
			again := tt.dl
			again.Attempts = 9
			rec2 := kafkax.NewDeadLetterRecord("t", rec, again)
			n := 0
			for _, h := range rec2.Headers {
				if h.Key == kafkax.HeaderAttempts {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d attempts headers after a second dead-lettering", n)
			}
			if got2, _ := kafkax.ParseDeadLetter(rec2.Headers); got2.Attempts != 9 {
				t.Errorf("attempts %d, want 9", got2.Attempts)
			}
		})
	}
}

func TestDeadLetterHeaderNames(t *testing.T) {
	dl := kafkax.DeadLetter{Class: "rejected", ErrorType: "t", Reason: "r", HTTPStatus: 400, Attempts: 3,
		Cluster: "b", SourceTopic: "s", SourcePartition: 1, SourceOffset: 2, FirstFailure: time.Unix(0, 0), LastFailure: time.Unix(1, 0)}
	want := map[string]string{
		"fanout-error-class": "rejected", "fanout-error-type": "t", "fanout-error-reason": "r", "fanout-http-status": "400",
		"fanout-attempts": "3", "fanout-cluster": "b", "fanout-source-topic": "s", "fanout-source-partition": "1",
		"fanout-source-offset": "2", "fanout-first-failure": "1970-01-01T00:00:00Z", "fanout-last-failure": "1970-01-01T00:00:01Z",
	}
	got := map[string]string{}
	for _, h := range dl.Headers() {
		got[h.Key] = string(h.Value)
		if !kafkax.IsDeadLetterHeader(h.Key) {
			t.Errorf("IsDeadLetterHeader(%q) = false", h.Key)
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("header %s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("headers %v, want %v", got, want)
	}
}

func TestDeadLetterLongReasonTruncated(t *testing.T) {
	dl := kafkax.DeadLetter{Reason: strings.Repeat("é", 5000)}
	for _, h := range dl.Headers() {
		if h.Key == kafkax.HeaderErrorReason && len(h.Value) > 4100 {
			t.Errorf("reason header is %d bytes", len(h.Value))
		}
	}
}

func TestParseDeadLetterErrors(t *testing.T) {
	full := kafkax.DeadLetter{Class: "rejected", ErrorType: "t", Reason: "r", HTTPStatus: 400, Attempts: 3,
		Cluster: "b", SourceTopic: "s", FirstFailure: time.Unix(0, 0), LastFailure: time.Unix(1, 0)}.Headers()
	without := func(key string) []kgo.RecordHeader {
		var out []kgo.RecordHeader
		for _, h := range full {
			if h.Key != key {
				out = append(out, h)
			}
		}
		return out
	}
	replace := func(key, v string) []kgo.RecordHeader {
		out := append([]kgo.RecordHeader(nil), full...)
		for i := range out {
			if out[i].Key == key {
				out[i].Value = []byte(v)
			}
		}
		return out
	}
	tests := []struct {
		name    string
		headers []kgo.RecordHeader
		want    string
	}{
		{name: "no headers", headers: nil, want: "fanout-error-class is missing"},
		{name: "no offset", headers: without("fanout-source-offset"), want: "fanout-source-offset is missing"},
		{name: "bad offset", headers: replace("fanout-source-offset", "x"), want: "fanout-source-offset"},
		{name: "bad status", headers: replace("fanout-http-status", "4oo"), want: "fanout-http-status"},
		{name: "bad time", headers: replace("fanout-last-failure", "yesterday"), want: "fanout-last-failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kafkax.ParseDeadLetter(tt.headers)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to name %s", err, tt.want)
			}
		})
	}
}

// FuzzParseDeadLetter: headers are untrusted bytes (anyone can write to a topic); the
// parser must never panic, and what it accepts must render back to the same values.
func FuzzParseDeadLetter(f *testing.F) {
	dl := kafkax.DeadLetter{Class: "rejected", ErrorType: "t", Reason: "r", HTTPStatus: 400, Attempts: 3,
		Cluster: "b", SourceTopic: "s", SourcePartition: 1, SourceOffset: 2, FirstFailure: time.Unix(0, 0), LastFailure: time.Unix(1, 5)}
	hs := dl.Headers()
	f.Add(string(hs[3].Value), string(hs[8].Value), string(hs[9].Value), string(hs[10].Value))
	f.Add("", "-1", "2026-01-01T00:00:00Z", "x")
	f.Fuzz(func(t *testing.T, status, offset, first, last string) {
		in := append([]kgo.RecordHeader(nil), hs...)
		in[3].Value, in[8].Value, in[9].Value, in[10].Value = []byte(status), []byte(offset), []byte(first), []byte(last)
		got, err := kafkax.ParseDeadLetter(in)
		if err != nil {
			return
		}
		again, err := kafkax.ParseDeadLetter(got.Headers())
		if err != nil {
			t.Fatalf("re-parsing rendered headers: %v", err)
		}
		if again.SourceOffset != got.SourceOffset || again.HTTPStatus != got.HTTPStatus || !again.FirstFailure.Equal(got.FirstFailure) {
			t.Fatalf("round trip changed %+v into %+v", got, again)
		}
	})
}
