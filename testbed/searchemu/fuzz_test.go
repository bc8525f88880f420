package searchemu

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestJavaNumberFormatting(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   float64
		want string
	}{
		{1, "1.0"}, {1.5, "1.5"}, {100, "100.0"}, {0.001, "0.001"}, {0.0001, "1.0E-4"},
		{1e7, "1.0E7"}, {1234567, "1234567.0"}, {1.25e21, "1.25E21"}, {-2.5, "-2.5"}, {0, "0.0"},
		{math.Inf(1), "Infinity"},
	}
	for _, tc := range cases {
		if got := javaDouble(tc.in); got != tc.want {
			t.Errorf("javaDouble(%v): want %s, got %s", tc.in, tc.want, got)
		}
	}
	if got := javaFloat(0.1); got != "0.1" {
		t.Errorf("javaFloat(0.1) = %s", got)
	}
	canon := []struct{ in, want string }{
		{`{"a":1.50,"b":-0,"c":1e2,"d":"\u0041\/"}`, `{"a":1.5,"b":0,"c":100.0,"d":"A/"}`},
		{`["\u0001\t"]`, `["\u0001\t"]`},
	}
	for _, tc := range canon {
		v, err := parseJSON([]byte(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err.msg)
		}
		if got := string(appendCanonical(nil, v)); got != tc.want {
			t.Errorf("canonical %s: want %s, got %s", tc.in, tc.want, got)
		}
	}
}

// FuzzWalkSource checks that any document either passes the mapping walk or fails with a
// server-shaped error, never panics, and agrees with a JSON parser about validity.
func FuzzWalkSource(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":{"b":[1,"x",{"c":null}]}}`, `{"a":1,"a":2}`, `[1]`, `{"a":`, `{"a.b":1,"_id":2}`, `{"n":1e400}`, "{\"s\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	m := newMapping()
	mp, _ := parseMappingDef(mustObj(`{"properties":{"n":{"type":"long"},"d":{"type":"date"},"o":{"properties":{"k":{"type":"keyword"}}},"b":{"type":"boolean"},"f":{"type":"float"}}}`))
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, base := range []*mapping{m, mp} {
			dyn, err := walkSource(base, src, "1")
			if err != nil {
				if err.status != 400 || err.typ == "" || err.reason == "" {
					t.Fatalf("bad error %+v", err)
				}
				_ = err.envelope()
				continue
			}
			if !json.Valid(src) {
				t.Fatalf("accepted invalid JSON %q", src)
			}
			if upd, err := base.applyDynamic(dyn); err == nil {
				_ = upd.appendJSON(nil)
			}
		}
	})
}

// FuzzBulkHandler throws arbitrary bodies at the _bulk handler: it must always answer
// with valid JSON and a known status.
func FuzzBulkHandler(f *testing.F) {
	for _, s := range []string{
		"{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"a\":1}\n",
		"{\"update\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"doc\":{\"a\":1},\"doc_as_upsert\":true}\n",
		"{\"delete\":{\"_index\":\"t\",\"_id\":\"1\",\"version\":3,\"version_type\":\"external\"}}\n",
		"{\"create\":{}}\n[]\n", "\n\n", "{\"index\":\n",
	} {
		f.Add(s)
	}
	c := New(Options{})
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/t/_bulk", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		w := httptest.NewRecorder()
		c.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 403, 406:
		default:
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body.String())
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("invalid JSON answer for %q: %s", body, w.Body.String())
		}
	})
}

func mustObj(s string) *jsonObj {
	v, err := parseJSON([]byte(s))
	if err != nil {
		panic(err.msg)
	}
	return v.(*jsonObj)
}
