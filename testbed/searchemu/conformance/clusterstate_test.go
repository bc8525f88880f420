package conformance_test

import (
	"net/http"
	"testing"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestClusterStateMetadata follows RestClusterStateAction and TransportClusterStateAction
// for GET /_cluster/state/metadata/{index}: a fresh Metadata with the cluster uuid and
// coordination metadata (cluster_uuid_committed false), the named indices
// (ClusterStateRequest: lenientExpandOpen, so a closed index named explicitly is
// included and a missing one is skipped) rendered by IndexMetadata.toXContent in the API
// context — state "open" or "close", settings, mappings under "_doc", alias names — and
// the empty index graveyard.
func TestClusterStateMetadata(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{Name: "csm"})
	e.createIndex(t, "cs", `{"settings":{"number_of_shards":2,"number_of_replicas":0},"aliases":{"cs-a":{}}}`)

	r := e.rawOK(t, http.MethodGet, "/_cluster/state/metadata/cs", "")
	wantKeys(t, r.Body, []string{"cluster_name", "cluster_uuid", "metadata"})
	wantJSON(t, r.Body, `"csm"`, "cluster_name")
	wantKeys(t, r.Body, []string{"cluster_uuid", "cluster_uuid_committed", "cluster_coordination", "templates", "indices", "index-graveyard"}, "metadata")
	wantJSON(t, r.Body, string(rawAt(t, r.Body, "cluster_uuid")), "metadata", "cluster_uuid")
	wantJSON(t, r.Body, `false`, "metadata", "cluster_uuid_committed")
	wantJSON(t, r.Body, `{}`, "metadata", "templates")
	wantJSON(t, r.Body, `{"tombstones":[]}`, "metadata", "index-graveyard")
	wantKeys(t, r.Body, []string{"version", "mapping_version", "settings_version", "aliases_version", "routing_num_shards", "state", "settings", "mappings", "aliases", "primary_terms", "in_sync_allocations", "rollover_info", "system"}, "metadata", "indices", "cs")
	wantJSON(t, r.Body, `"open"`, "metadata", "indices", "cs", "state")
	wantJSON(t, r.Body, `{}`, "metadata", "indices", "cs", "mappings")
	wantJSON(t, r.Body, `["cs-a"]`, "metadata", "indices", "cs", "aliases")
	wantJSON(t, r.Body, `{"0":1,"1":1}`, "metadata", "indices", "cs", "primary_terms")
	wantJSON(t, r.Body, `"2"`, "metadata", "indices", "cs", "settings", "index", "number_of_shards")
	wantJSON(t, r.Body, `false`, "metadata", "indices", "cs", "system")
	settingsVersion := num(t, r.Body, "metadata", "indices", "cs", "settings_version")
	mappingVersion := num(t, r.Body, "metadata", "indices", "cs", "mapping_version")

	e.put(t, "cs", "1", `{"x":1}`)
	e.rawOK(t, http.MethodPost, "/cs/_close", "")
	r = e.rawOK(t, http.MethodGet, "/_cluster/state/metadata/cs,nope?flat_settings=true", "")
	wantKeys(t, r.Body, []string{"cs"}, "metadata", "indices")
	wantJSON(t, r.Body, `"close"`, "metadata", "indices", "cs", "state")
	wantJSON(t, r.Body, `"true"`, "metadata", "indices", "cs", "settings", "index.verified_before_close")
	wantJSON(t, r.Body, `{"_doc":{"properties":{"x":{"type":"long"}}}}`, "metadata", "indices", "cs", "mappings")
	if got := num(t, r.Body, "metadata", "indices", "cs", "settings_version"); got <= settingsVersion {
		t.Errorf("closing adds index.verified_before_close and moves settings_version: %d, was %d", got, settingsVersion)
	}
	if got := num(t, r.Body, "metadata", "indices", "cs", "mapping_version"); got <= mappingVersion {
		t.Errorf("a dynamic mapping update moves mapping_version: %d, was %d", got, mappingVersion)
	}

	r = e.rawOK(t, http.MethodGet, "/_cluster/state/metadata/nope*", "")
	wantJSON(t, r.Body, `{}`, "metadata", "indices")
}
