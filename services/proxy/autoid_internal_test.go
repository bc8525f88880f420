package proxy

import (
	"encoding/base64"
	"testing"
	"time"
)

// TestIDGeneratorFormat: ids are 20 base64url characters of 15 bytes laid out as
// OpenSearch's TimeBasedUUIDGenerator lays them out, one node part per generator, a
// sequence that moves by one, and a clock that does not go back.
func TestIDGeneratorFormat(t *testing.T) {
	at := time.UnixMilli(0x0102030405)
	g := newIDGenerator(func() time.Time { return at })
	g.seq = 0x00aabbcc - 1
	seen := map[string]bool{}
	var prev []byte
	for i := 0; i < 1000; i++ {
		id := g.next()
		if len(id) != 20 || seen[id] {
			t.Fatalf("id %q: want 20 characters, unique", id)
		}
		seen[id] = true
		u, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(u) != 15 {
			t.Fatalf("id %q is not 15 bytes of base64url: %v", id, err)
		}
		if prev != nil && string(u[6:12]) != string(prev[6:12]) {
			t.Fatal("the node part changed between ids of one generator")
		}
		prev = u
		if i == 0 {
			seq := int(u[0]) | int(u[13])<<8 | int(u[1])<<16
			ts := int64(u[14]) | int64(u[12])<<8 | int64(u[2])<<16 | int64(u[3])<<24 | int64(u[4])<<32 | int64(u[5])<<40
			if seq != 0xaabbcc || ts != 0x0102030405 {
				t.Fatalf("first id: sequence %#x timestamp %#x, want 0xaabbcc 0x102030405", seq, ts)
			}
		}
	}
	at = at.Add(-time.Hour) // the clock going back does not take ids back
	u, _ := base64.RawURLEncoding.DecodeString(g.next())
	if ts := int64(u[14]) | int64(u[12])<<8 | int64(u[2])<<16 | int64(u[3])<<24 | int64(u[4])<<32 | int64(u[5])<<40; ts < 0x0102030405 {
		t.Fatalf("timestamp went back to %#x", ts)
	}
}
