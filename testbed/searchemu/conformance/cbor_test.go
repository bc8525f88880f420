package conformance_test

import (
	"strconv"
	"testing"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestCBORBodies: a CBOR document body (XContentType.CBOR, Jackson's CBORParser) is
// stored and read back as JSON the way XContentHelper.writeRawField converts a source of
// another content type (copyCurrentStructure): keys in document order, half and single
// floats as Float.toString, byte strings in base64, definite and indefinite lengths
// alike. The encodings are RFC 8949's Appendix A examples.
func TestCBORBodies(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	for i, tc := range []struct {
		name, cbor, want string
	}{
		{"map and array", "\xa2\x61a\x01\x61b\x82\x02\x03", `{"a":1,"b":[2,3]}`},
		{"indefinite lengths", "\xbf\x61a\x01\x61b\x9f\x02\x03\xff\xff", `{"a":1,"b":[2,3]}`},
		{"key order kept", "\xa2\x61z\x01\x61a\x02", `{"z":1,"a":2}`},
		{"numbers", "\xa5\x61h\xf9\x3e\x00\x61s\xfa\x47\xc3\x50\x00\x61d\xfb\x3f\xf1\x99\x99\x99\x99\x99\x9a\x61n\x39\x03\xe7\x61u\x1b\x00\x00\x00\xe8\xd4\xa5\x10\x00",
			`{"h":1.5,"s":100000.0,"d":1.1,"n":-1000,"u":1000000000000}`},
		{"bytes, text chunks and literals", "\xa5\x61b\x44\x01\x02\x03\x04\x61t\x7f\x65strea\x64ming\xff\x61y\xf5\x61f\xf4\x61z\xf6",
			`{"b":"AQIDBA==","t":"streaming","y":true,"f":false,"z":null}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := strconv.Itoa(i)
			r := e.raw(t, "PUT", "/cbor"+id+"/_doc/1", tc.cbor, "application/cbor")
			if wantStatus(t, r, 201) {
				wantJSON(t, e.source(t, "cbor"+id, "1"), tc.want)
				if got := string(e.source(t, "cbor"+id, "1")); got != tc.want {
					t.Errorf("source bytes %s, want %s", got, tc.want)
				}
			}
		})
	}
	// what the emulator does not model is refused, never guessed
	for _, bad := range []string{"\xc1\x1a\x51\x4b\x67\xb0", "\xa1\x61a", "\xa1\x61a\xf9\x7e\x00"} {
		if r := e.raw(t, "PUT", "/cbor/_doc/bad", bad, "application/cbor"); r.Status != 400 {
			t.Errorf("CBOR % x: want 400, got %s", bad, r)
		}
	}
}
