package searchemu

import (
	"strconv"
	"strings"
	"sync/atomic"
)

// metaVersions are an index's metadata counters (IndexMetadata version, mapping_version,
// settings_version, aliases_version): each starts at 1 and moves with every change of its
// part, version with every change at all. They count the emulator's changes; the server
// also moves version for allocation changes the emulator does not have.
type metaVersions struct {
	version, mapping, settings, aliases atomic.Int64
}

func (v *metaVersions) init() {
	v.version.Store(1)
	v.mapping.Store(1)
	v.settings.Store(1)
	v.aliases.Store(1)
}

// bump moves part (nil for a state change only) and version.
func (v *metaVersions) bump(part *atomic.Int64) {
	if part != nil {
		part.Add(1)
	}
	v.version.Add(1)
}

// clusterStateParams are RestClusterStateAction's parameters.
var clusterStateParams = withParams(indicesOptParams, "local", "master_timeout", "cluster_manager_timeout", "flat_settings", "wait_for_metadata_version", "wait_for_timeout", "ignore_throttled")

// handleClusterState serves GET /_cluster/state/{metric}/{index} for the metadata metric
// of named indices (RestClusterStateAction, TransportClusterStateAction,
// Metadata.toXContent and IndexMetadata.toXContent in the API context): how a client
// reads an index's state ("open" or "close"), its settings, mapping and alias names
// (in name order, where the server's map has its own). The
// rest of the cluster state (routing table, nodes, blocks, the whole metadata with its
// templates and customs) is not modelled and answers 400 saying so.
func handleClusterState(c *Cluster, rq *request) *response {
	metric, expr := rq.path["metric"], rq.path["index"]
	if metric != "metadata" || expr == "" {
		return errResp(errIllegalArg("[searchemu] the cluster state API is supported for the metadata of named indices only (/_cluster/state/metadata/{index})"))
	}
	// ClusterStateRequest: IndicesOptions.lenientExpandOpen
	ixs, rerr := c.resolveIndices(rq, indicesOptions{ignoreUnavailable: true, allowNoIndices: true, expandOpen: true, includeDataStreams: true})
	if rerr != nil {
		return errResp(rerr)
	}
	flat, _ := rq.paramBool("flat_settings", false)
	c.mu.RLock()
	defer c.mu.RUnlock()
	b := []byte(`{"cluster_name":`)
	b = appendJSONString(b, c.opts.Name)
	b = append(b, `,"cluster_uuid":`...)
	b = appendJSONString(b, c.uuid)
	b = append(b, `,"metadata":{"cluster_uuid":`...)
	b = appendJSONString(b, c.uuid)
	// TransportClusterStateAction builds the filtered metadata afresh: the cluster uuid
	// and coordination metadata are copied, the committed flag is not
	b = append(b, `,"cluster_uuid_committed":false,"cluster_coordination":{"term":1,"last_committed_config":[`...)
	b = appendJSONString(b, c.nodeID)
	b = append(b, `],"last_accepted_config":[`...)
	b = appendJSONString(b, c.nodeID)
	b = append(b, `],"voting_config_exclusions":[]},"templates":{},"indices":{`...)
	for i, ix := range ixs {
		if i > 0 {
			b = append(b, ',')
		}
		b = ix.appendMetadata(b, flat)
	}
	return jsonResp(200, append(b, `},"index-graveyard":{"tombstones":[]}}}`...))
}

// appendMetadata renders IndexMetadata in the API context; c.mu must be held.
func (ix *index) appendMetadata(b []byte, flat bool) []byte {
	b = appendJSONString(b, ix.name)
	v := &ix.versions
	for _, f := range []struct {
		k string
		n int64
	}{{"version", v.version.Load()}, {"mapping_version", v.mapping.Load()}, {"settings_version", v.settings.Load()}, {"aliases_version", v.aliases.Load()}, {"routing_num_shards", int64(ix.routing.routingShards)}} {
		if f.k == "version" {
			b = append(b, `:{`...)
		} else {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.k)
		b = append(b, ':')
		b = strconv.AppendInt(b, f.n, 10)
	}
	state := "open"
	if ix.isClosed() {
		state = "close"
	}
	b = append(b, `,"state":"`+state+`","settings":`...)
	b = appendSettings(b, ix.settings, flat)
	// the mapping under its type, or nothing for an index without one
	b = append(b, `,"mappings":{`...)
	if m := ix.mapping.Load(); !m.empty() {
		b = append(b, `"_doc":`...)
		b = m.appendJSON(b)
	}
	b = append(b, `},"aliases":[`...)
	for i, a := range sortedKeys(ix.aliases) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, a)
	}
	b = append(b, `],"primary_terms":{`...)
	for i := range ix.allocIDs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `"`+strconv.Itoa(i)+`":1`...)
	}
	b = append(b, `},"in_sync_allocations":{`...)
	for i, id := range ix.allocIDs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `"`+strconv.Itoa(i)+`":[`...)
		b = appendJSONString(b, id)
		b = append(b, ']')
	}
	b = append(b, `},"rollover_info":{},"system":false}`...)
	return b
}

// empty reports whether the mapping has nothing to render ({} from GET _mapping).
func (m *mapping) empty() bool {
	return strings.TrimSpace(string(m.appendJSON(nil))) == "{}"
}
