package intentlog

import (
	"reflect"
	"testing"
)

// FuzzDecodeFrame: any bytes decode to a record or errTorn, never a panic, and a
// record re-encodes to the same frame.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(appendOpen(nil, 1<<32, []Item{{Index: "i", ID: "a", Routing: "r", Action: "index"}}))
	f.Add(appendClose(nil, 7))
	f.Add(appendOpen(nil, 3, nil))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, n, err := decodeFrame(b)
		if err != nil {
			return
		}
		if n > len(b) {
			t.Fatalf("frame length %d beyond the input %d", n, len(b))
		}
		var again []byte
		switch rec.kind {
		case kindOpen:
			again = appendOpen(nil, rec.id, rec.items)
		case kindClose:
			again = appendClose(nil, rec.id)
		default:
			t.Fatalf("decoded unknown kind %d", rec.kind)
		}
		rec2, _, err := decodeFrame(again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if rec2.kind != rec.kind || rec2.id != rec.id || len(rec2.items) != len(rec.items) ||
			(len(rec.items) > 0 && !reflect.DeepEqual(rec2.items, rec.items)) {
			t.Fatalf("round trip: %+v became %+v", rec, rec2)
		}
	})
}
