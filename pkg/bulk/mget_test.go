package bulk_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

func TestParseMget(t *testing.T) {
	body := `{"docs":[
{"_index":"books","_id":"1","_version":3,"_seq_no":7,"_primary_term":2,"found":true,"_routing":"r","_source":{"t":"a \"q\" \u00e9","n":[1,{"x":null}]}},
{"_index":"books","_id":"2","found":false},
{"_index":"gone","_id":"3","error":{"root_cause":[],"type":"index_not_found_exception","reason":"no such index [gone]","index":"gone"}},
{"_index":"books","_id":"4","error":"plain"},
{"_index":"books","_id":"5","_version":1,"found":true,"_source":null}
]}`
	var got []bulk.MgetDoc
	n, err := bulk.ParseMget([]byte(body), func(i int, d *bulk.MgetDoc) error {
		if i != len(got) {
			t.Fatalf("document %d reported as %d", len(got), i)
		}
		got = append(got, *d)
		return nil
	})
	if err != nil || n != 5 {
		t.Fatalf("n %d err %v", n, err)
	}
	if d := got[0]; !d.Found || d.ID != "1" || d.Index != "books" || d.Routing != "r" || d.Version != 3 || d.SeqNo != 7 || d.PrimaryTerm != 2 || !d.HasSeqNo ||
		string(d.Source) != `{"t":"a \"q\" \u00e9","n":[1,{"x":null}]}` || d.Error != nil {
		t.Errorf("found: %+v", d)
	}
	if d := got[1]; d.Found || d.HasSeqNo || d.Source != nil || d.ID != "2" || d.Routing != "" {
		t.Errorf("missing: %+v", d)
	}
	if d := got[2]; d.ErrorType != "index_not_found_exception" || d.ErrorReason != "no such index [gone]" || !json.Valid(d.Error) {
		t.Errorf("error object: %+v", d)
	}
	if d := got[3]; d.ErrorType != "error" || d.ErrorReason != "plain" || string(d.Error) != `"plain"` {
		t.Errorf("error string: %+v", d)
	}
	if d := got[4]; !d.Found || d.Source != nil || d.HasSeqNo {
		t.Errorf("null source: %+v", d)
	}
}

func TestParseMgetRefuses(t *testing.T) {
	tests := map[string]string{
		"truncated":            `{"docs":[{"_id":"1","found":tr`,
		"trailing data":        `{"docs":[]} x`,
		"docs twice":           `{"docs":[],"docs":[]}`,
		"not an array":         `{"docs":{}}`,
		"bad source":           `{"docs":[{"_id":"1","_source":{"a":}}]}`,
		"float version":        `{"docs":[{"_id":"1","_version":1.5}]}`,
		"routing not a string": `{"docs":[{"_id":"1","_routing":1}]}`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := bulk.ParseMget([]byte(body), func(int, *bulk.MgetDoc) error { return nil }); err == nil {
				t.Fatalf("%s: no error", body)
			}
		})
	}
	stop := errors.New("stop")
	n, err := bulk.ParseMget([]byte(`{"docs":[{"_id":"1"},{"_id":"2"}]}`), func(i int, _ *bulk.MgetDoc) error {
		if i == 1 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("callback error: n %d err %v", n, err)
	}
	if n, err := bulk.ParseMget([]byte(`{"took":1}`), func(int, *bulk.MgetDoc) error { return nil }); err != nil || n != 0 {
		t.Fatalf("no docs: n %d err %v", n, err)
	}
}

// FuzzParseMget: what ParseMget accepts is valid JSON, and every source it reports is a
// valid JSON value.
func FuzzParseMget(f *testing.F) {
	f.Add([]byte(`{"docs":[{"_index":"b","_id":"1","found":true,"_seq_no":1,"_primary_term":1,"_source":{"a":[1,"x"]}},{"_id":"2","error":"e"}]}`))
	f.Add([]byte(`{"docs":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := bulk.ParseMget(body, func(_ int, d *bulk.MgetDoc) error {
			if d.Source != nil && !json.Valid(d.Source) {
				t.Fatalf("source %q is not JSON", d.Source)
			}
			return nil
		})
		if err == nil && !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
	})
}
