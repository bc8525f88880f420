// Package metadata holds the rules that say which parts of an index's metadata belong to
// the index (and so must be the same on every cluster that holds a copy of it) and which
// belong to the cluster that holds it. fanoutctl verify compares metadata with these
// rules, and the replicator copies metadata with the same ones, so that what verify
// calls a difference is exactly what replication would have copied.
package metadata

import (
	"slices"
	"strings"

	"github.com/fanout-dev/fanout/pkg/glob"
)

// targetLocal lists, as flat setting names with * wildcards, the index settings that
// describe a cluster's copy of an index rather than the index: its identity and
// provenance on that cluster, how many copies the cluster keeps and where, its write
// blocks, and cluster features a target may or may not run. A target chooses these
// for itself (a DR target with 0 replicas, other allocation rules), so they are never
// copied and never compared. Settings that describe the data and how it is indexed,
// searched and routed — number_of_shards and number_of_routing_shards above all, since
// the shard a document lives on is computed from them — are not in the list.
var targetLocal = [...]string{
	// identity and provenance: given by the cluster that created the copy
	"index.uuid",
	"index.creation_date",
	"index.creation_date_string",
	"index.provided_name",
	"index.version.*",
	"index.verified_before_close",
	"index.history.uuid",
	"index.recovery.type",
	"index.allocation.existing_shards_allocator",
	"index.searchable_snapshot.*",
	"index.search.throttled",
	"index.resize.source.*",
	"index.shrink.source.*",
	// redundancy and placement
	"index.number_of_replicas",
	"index.auto_expand_replicas",
	"index.routing.allocation.*",
	"index.routing.rebalance.*",
	"index.unassigned.node_left.delayed_timeout",
	"index.priority",
	"index.write.wait_for_active_shards",
	// blocks: an operator's state of the copy (a read-only DR target), not of the data
	"index.blocks.*",
	// ingest pipelines: a replica receives documents the primary's pipelines already
	// made, and must not run them again (a final pipeline cannot be skipped per request).
	// The pipelines themselves replicate; a replica promoted to primary needs these set.
	"index.default_pipeline",
	"index.final_pipeline",
	// cluster features and per-cluster policies
	"index.replication.type",
	"index.remote_store.*",
	"index.plugins.replication.*",
	"index.plugins.index_state_management.*",
	"opendistro.index_state_management.*",
	"index.lifecycle.*",
}

// TargetLocal returns the patterns of the target-local settings (a copy: the list is the
// same for every caller).
func TargetLocal() []string { return slices.Clone(targetLocal[:]) }

// Settings decides which settings to compare or copy: those neither target-local nor
// in Ignore, plus those in Compare, which overrides both (e.g. "index.blocks.*" to
// compare blocks too). Patterns are flat setting names with * wildcards; a pattern
// without the "index." prefix is read with it, as the search engine reads setting names.
type Settings struct {
	Ignore  []string
	Compare []string
}

// Compared reports whether setting (a flat name, e.g. "index.refresh_interval")
// describes the index and so must be the same on primary and target.
func (s Settings) Compared(setting string) bool {
	if matchAny(s.Compare, setting) {
		return true
	}
	return !IsTargetLocal(setting) && !matchAny(s.Ignore, setting)
}

// IsTargetLocal reports whether a flat setting name is target-local (TargetLocal).
func IsTargetLocal(setting string) bool { return matchAny(targetLocal[:], setting) }

func matchAny(patterns []string, setting string) bool {
	for _, p := range patterns {
		if glob.Match(Canonical(p), setting) {
			return true
		}
	}
	return false
}

// Canonical returns a setting name (or pattern) with the "index." prefix the search
// engine adds to index settings given without it ("number_of_shards"). Names of
// plugin settings outside that namespace are kept.
func Canonical(name string) string {
	if strings.HasPrefix(name, "index.") || strings.HasPrefix(name, "opendistro.") || name == "*" {
		return name
	}
	return "index." + name
}

// Flatten turns settings in their nested form ({"index":{"number_of_shards":"1"}}) into
// flat names ("index.number_of_shards"), as GET with flat_settings=true shows them, with
// the "index." prefix added where it was left out. Arrays and scalars are leaves.
func Flatten(settings map[string]any) map[string]any {
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			out[Canonical(prefix)] = v
			return
		}
		for k, x := range m {
			if prefix != "" {
				k = prefix + "." + k
			}
			walk(k, x)
		}
	}
	for k, v := range settings {
		walk(k, v)
	}
	return out
}

// vendorSpecific lists, as flat setting names with * wildcards, index settings that only
// one vendor's engine (or plugins its distribution ships) knows: OpenSearch's k-NN,
// plugins and engine features, and Elasticsearch's index modes, slow log user fields and
// snapshot-backed stores. Replicating across vendors, a target that refuses one of these
// as unknown gets the rest of the change without it (the replicator warns and counts);
// any other setting a target refuses dead-letters the change, since it means the target
// cannot hold the index as the primary has it.
var vendorSpecific = [...]string{
	// OpenSearch
	"index.knn",
	"index.knn.*",
	"index.plugins.*",
	"index.opendistro.*",
	"index.search.default_pipeline",
	"index.codec.compression_level",
	"index.merge.policy",
	"index.merge.policy.*",
	"index.optimize_doc_id_lookup.*",
	"index.doc_id_fuzzy_set.*",
	"index.append_only.*",
	"index.composite_index",
	"index.composite_index.*",
	"index.context.*",
	"index.derived_source.*",
	// Elasticsearch
	"index.mode",
	"index.time_series.*",
	"index.routing_path",
	"index.look_ahead_time",
	"index.look_back_time",
	"index.mapping.total_fields.ignore_dynamic_beyond_limit",
	"index.mapping.synthetic_source_keep",
	"index.mapping.source.mode",
	"index.indexing.slowlog.include.user",
	"index.search.slowlog.include.user",
	"index.store.snapshot.*",
	"index.frozen",
	"index.dense_vector.*",
}

// IsVendorSpecific reports whether a flat setting name is one only some vendors' engines
// know (vendorSpecific).
func IsVendorSpecific(setting string) bool { return matchAny(vendorSpecific[:], setting) }
