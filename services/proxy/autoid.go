package proxy

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"sync"
	"time"
)

// idGenerator makes document ids in the primary's own format for writes that leave
// the id to the primary (POST /{index}/_doc, bulk index/create lines without _id), when
// recovery is on: an intent must name every document before the primary is called, and
// an auto-generated id is only known from the answer.
//
// The format is OpenSearch's TimeBasedUUIDGenerator (and Elasticsearch's before 8.x's
// change of layout): 15 bytes, base64url without padding (20 characters) — the low and
// high bytes of a 24-bit sequence, bytes 2–5 of a millisecond timestamp that never goes
// back, a 6-byte node part, then the timestamp's byte 1, the sequence's byte 1 and the
// timestamp's byte 0. The primary uses a munged MAC address as the node part; the proxy
// uses 6 random bytes per process (what the primary does without a usable MAC), so its
// ids do not collide with the primary's or another proxy's, and the sequence starts at
// a random value as the primary's does.
//
// Trade-off: the primary treats a write with an id it generated as append-only and
// skips the version lookup (InternalEngine's optimisation for auto-generated ids); with
// the proxy's ids every such write is an ordinary write with an id, looked up first.
// OpenSearch measured that optimisation at some percent of indexing throughput on
// append-only loads; it is the price of knowing, before the write, which documents a
// crash could leave unreplicated. Without recovery.dir the proxy leaves ids to the
// primary, as before.
type idGenerator struct {
	mu   sync.Mutex
	seq  uint32
	last int64
	node [6]byte
	now  func() time.Time
}

func newIDGenerator(now func() time.Time) *idGenerator {
	g := &idGenerator{now: now}
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	copy(g.node[:], b[:6])
	g.seq = binary.LittleEndian.Uint32(b[6:])
	return g
}

func (g *idGenerator) next() string {
	g.mu.Lock()
	g.seq++
	seq := g.seq & 0xffffff
	ts := max(g.last, g.now().UnixMilli())
	if seq == 0 {
		ts++ // as the primary: a wrapped sequence always moves the clock on
	}
	g.last = ts
	g.mu.Unlock()
	var u [15]byte
	u[0] = byte(seq)
	u[1] = byte(seq >> 16)
	u[2] = byte(ts >> 16)
	u[3] = byte(ts >> 24)
	u[4] = byte(ts >> 32)
	u[5] = byte(ts >> 40)
	copy(u[6:12], g.node[:])
	u[12] = byte(ts >> 8)
	u[13] = byte(seq >> 8)
	u[14] = byte(ts)
	return base64.RawURLEncoding.EncodeToString(u[:])
}
