package searchemu

import (
	"crypto/rand"
	"encoding/base64"
)

// randomUUID returns a 22-character URL-safe base64 uuid as the server's
// RandomBasedUUIDGenerator.getBase64UUID makes them (OpenSearch
// server/src/main/java/org/opensearch/common/RandomBasedUUIDGenerator.java): 16 random
// bytes with the version 4 and IETF variant bits set, base64url without padding.
//
// The bytes come from crypto/rand, not from the cluster's seeded source: every cluster
// in a process (dev stacks start several) must get its own cluster_uuid and index uuids,
// and uuid draws must not shift the seeded sequence fault draws are reproduced from.
func (c *Cluster) randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return base64.RawURLEncoding.EncodeToString(b[:])
}
