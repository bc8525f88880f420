package conformance_test

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestUUIDsUniqueAcrossClusters: every real cluster draws its cluster_uuid and index uuids
// from UUIDs.randomBase64UUID (RandomBasedUUIDGenerator), so two clusters never share
// them, even with the same name and seed.
func TestUUIDsUniqueAcrossClusters(t *testing.T) {
	t.Parallel()
	shape := regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)
	seen := map[string]string{}
	for _, name := range []string{"a", "b"} {
		e := newEmu(t, searchemu.Options{Name: "same", Seed: 7})
		r := e.raw(t, http.MethodGet, "/", "")
		if !wantStatus(t, r, 200) {
			return
		}
		e.createIndex(t, "logs", "")
		s := e.raw(t, http.MethodGet, "/logs/_settings?flat_settings=true", "")
		for kind, u := range map[string]string{
			"cluster_uuid": str(t, r.Body, "cluster_uuid"),
			"index uuid":   str(t, s.Body, "logs", "settings", "index.uuid"),
		} {
			if !shape.MatchString(u) {
				t.Errorf("cluster %s: %s %q is not a 22-character base64url uuid", name, kind, u)
			}
			if prev, dup := seen[u]; dup {
				t.Errorf("cluster %s: %s %q already used as %s", name, kind, u, prev)
			}
			seen[u] = name + " " + kind
		}
	}
}
