package bulk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"testing/iotest"
	"unsafe"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/ (real bodies and responses from the
// reference, plus crashers found so far).

// within reports whether sub is a subslice of whole's memory.
func within(sub, whole []byte) bool {
	if len(sub) == 0 {
		return true
	}
	if len(whole) == 0 {
		return false
	}
	s := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	w := uintptr(unsafe.Pointer(unsafe.SliceData(whole)))
	return s >= w && s+uintptr(len(sub)) <= w+uintptr(len(whole))
}

func FuzzScanner(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range [][]ScannerOption{nil, {WithMaxLineBytes(24)}, {WithLegacyParser()}} {
			bs := NewBytesScanner(data, opts...)
			var items []gotItem
			for bs.Next() {
				it := bs.Item()
				for _, s := range [][]byte{it.ActionLine, it.Payload, it.Source} {
					if !within(s, data) {
						t.Fatalf("item slice %q is not within the input", s)
					}
				}
				if !within(it.Source, it.ActionLine) {
					t.Fatalf("Source %q is not within the action line %q", it.Source, it.ActionLine)
				}
				if it.Offset < 0 || it.End > int64(len(data)) || it.Offset >= it.End ||
					!bytes.HasPrefix(data[it.Offset:it.End], it.ActionLine) || data[it.End-1] != '\n' {
					t.Fatalf("bad item bounds [%d,%d)", it.Offset, it.End)
				}
				items = append(items, snapshot(it))
			}
			berr := bs.Err()
			if berr == nil && len(items) == 0 {
				t.Fatal("no items and no error")
			}
			var e *Error
			if berr != nil && (!errors.As(berr, &e) || e.Status != 400 || e.Type == "" || e.Reason == "") {
				t.Fatalf("error %#v is not a 400 *Error", berr)
			}

			ss := NewScanner(iotest.OneByteReader(bytes.NewReader(data)), opts...)
			sitems, serr := scanAll(ss)
			if !reflect.DeepEqual(items, sitems) || fmt.Sprint(berr) != fmt.Sprint(serr) {
				t.Fatalf("bytes and streaming scanners disagree:\n%+v %v\n%+v %v", items, berr, sitems, serr)
			}
			if opts == nil {
				checkReencode(t, items)
			}
		}
	})
}

// checkReencode encodes the scanned items again and checks they scan the same.
func checkReencode(t *testing.T, items []gotItem) {
	if len(items) == 0 {
		return
	}
	var body []byte
	for _, it := range items {
		m := it.Meta
		m.Source = []byte(it.Source)
		if it.Source == "" {
			m.Source = nil
		}
		body = AppendItem(body, &m, []byte(it.Payload))
	}
	again, err := scanAll(NewBytesScanner(body))
	if err != nil {
		t.Fatalf("re-encoded body rejected: %v\n%s", err, body)
	}
	if len(again) != len(items) {
		t.Fatalf("re-encoded body has %d items, want %d", len(again), len(items))
	}
	for i := range items {
		a, b := again[i], items[i]
		if len(b.Payload) > 0 && b.Payload[len(b.Payload)-1] == '\r' || bytes.IndexByte([]byte(b.Payload), '\n') >= 0 {
			a.Payload = b.Payload // AppendItem repairs such payloads on purpose
		}
		a.Line, a.ActionLine, a.Offset, a.End = b.Line, b.ActionLine, b.Offset, b.End
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("item %d changed by re-encoding:\n got %+v\nwant %+v", i, a, b)
		}
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		var results []ItemResult
		sum, err := ParseResponse(data, func(i int, r *ItemResult) error {
			if i != n {
				t.Fatalf("callback index %d, want %d", i, n)
			}
			n++
			results = append(results, *r)
			return nil
		})
		if err != nil {
			var e *Error
			if errors.As(err, &e) { // a whole-request error envelope: the body is valid JSON
				if !json.Valid(data) {
					t.Fatalf("invalid JSON accepted as an error envelope: %v", err)
				}
			}
			return
		}
		if sum.Items != n {
			t.Fatalf("summary says %d items, callback saw %d", sum.Items, n)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(data, &top); err != nil {
			t.Fatalf("accepted a body encoding/json rejects: %v", err)
		}
		var items []json.RawMessage
		if raw, ok := top["items"]; ok {
			if err := json.Unmarshal(raw, &items); err != nil {
				t.Fatalf("accepted items encoding/json rejects: %v", err)
			}
		}
		if len(items) != n {
			t.Fatalf("parsed %d items, encoding/json sees %d", n, len(items))
		}
		// Only now is the whole body known to be valid (items are reported as read).
		for i := range results {
			checkResultSlices(t, data, &results[i])
		}

		var r ItemResult
		if err := ParseWriteResponse(data, 200, ActionIndex, &r); err == nil {
			checkResultSlices(t, data, &r)
		}
	})
}

func checkResultSlices(t *testing.T, data []byte, r *ItemResult) {
	for _, raw := range [][]byte{r.Error, r.GetSource} {
		if raw != nil && (!within(raw, data) || !json.Valid(raw)) {
			t.Fatalf("raw value %q is not valid JSON within the body", raw)
		}
	}
	if r.GetSpan != [2]int{} {
		s := r.GetSpan
		if s[0] < 0 || s[1] > len(data) || s[0] >= s[1] {
			t.Fatalf("bad GetSpan %v", s)
		}
		cut := append(append([]byte(nil), data[:s[0]]...), data[s[1]:]...)
		if !json.Valid(cut) {
			t.Fatalf("cutting GetSpan %v leaves invalid JSON: %s", s, cut)
		}
	}
}

func FuzzParseUpdatePayload(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseUpdatePayload(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 || e.Type == "" || e.Reason == "" || p != nil {
				t.Fatalf("error %#v is not a 400 *Error", err)
			}
			return
		}
		for _, raw := range [][]byte{p.Doc, p.Upsert} {
			if raw != nil && (!json.Valid(raw) || raw[0] != '{') {
				t.Fatalf("raw object %q is not a JSON object", raw)
			}
		}
		for _, raw := range [][]byte{p.Script, p.Source} {
			if raw != nil && !json.Valid(raw) {
				t.Fatalf("raw value %q is not valid JSON", raw)
			}
		}
	})
}
