package bulk

import (
	"encoding/binary"
	"testing"
)

// TestSpecial8 checks the word-at-a-time test against the byte table for every byte in
// every position.
func TestSpecial8(t *testing.T) {
	var buf [8]byte
	for c := range 256 {
		for pos := range 8 {
			for i := range buf {
				buf[i] = 'a'
			}
			buf[pos] = byte(c)
			if got, want := special8(binary.LittleEndian.Uint64(buf[:])), !strPlain[c]; got != want {
				t.Fatalf("byte %#x at %d: special8 = %v, want %v", c, pos, got, want)
			}
		}
	}
}
