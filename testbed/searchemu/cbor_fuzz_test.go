package searchemu

import (
	"encoding/json"
	"testing"
)

// FuzzCBORToJSON: any body converts to valid JSON or fails with an error, never panics.
func FuzzCBORToJSON(f *testing.F) {
	for _, s := range []string{"\xa2\x61a\x01\x61b\x82\x02\x03", "\xbf\x61a\x01\xff", "\x7f\x61a\xff", "\xf9\x3e\x00", "\x3b\xff\xff\xff\xff\xff\xff\xff\xff", "\xa1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := cborToJSON(b)
		if err == nil && !json.Valid(out) {
			t.Fatalf("% x converted to invalid JSON %s", b, out)
		}
	})
}
