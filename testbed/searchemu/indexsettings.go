package searchemu

import (
	"sort"
	"strings"
)

// IndexSetting is an index-scoped setting a cluster has registered, as a plugin registers
// one with Plugin.getSettings (a Setting with Property.IndexScope in IndexScopedSettings).
// Options.PluginIndexSettings takes them.
type IndexSetting struct {
	// Key is the full key ("index.knn"), or the prefix of a group setting ending in "."
	// ("index.knn.algo_param."), which registers every key under it.
	Key string
	// Dynamic settings may be changed on an open index (Property.Dynamic); the others
	// only on a closed one.
	Dynamic bool
	// Final settings can never be changed once the index exists (Property.Final).
	Final bool
}

// settingProp holds a registered setting's Setting.Property flags.
type settingProp uint8

const (
	propDynamic settingProp = 1 << iota
	propFinal
	// propPrivate is Property.PrivateIndex: set by the server only.
	propPrivate
	// propInternal is Property.InternalIndex: set through a dedicated API only.
	propInternal
	// propBool marks a Setting.boolSetting, whose value must be true or false.
	propBool
)

// builtinIndexSettings lists IndexScopedSettings.BUILT_IN_INDEX_SETTINGS of OpenSearch 2.x
// (server/src/main/java/org/opensearch/common/settings/IndexScopedSettings.java) as
// "key flags": d dynamic, f final, p private, i internal, b boolean, o OpenSearch only, e
// Elasticsearch only (x-pack settings of the default distribution). A key ending in "."
// is a group setting. The OpenSearch 3.x additions (ingestion source, star tree, search
// replicas, derived source…) are not registered, so every flavour refuses them; settings
// the emulator's list lacks are refused as unknown, which never makes it more permissive
// than the server.
const builtinIndexSettings = `
index.allocation.max_retries d
index.merge.scheduler.auto_throttle db
index.merge.scheduler.max_merge_count d
index.merge.scheduler.max_thread_count d
index.version.created p
index.creation_date p
index.uuid p
index.history.uuid p
index.routing.allocation.exclude. d
index.routing.allocation.include. d
index.routing.allocation.require. d
index.auto_expand_replicas d
index.number_of_replicas d
index.number_of_shards f
index.routing_partition_size f
index.number_of_routing_shards f
index.blocks.read_only db
index.blocks.read db
index.blocks.write db
index.blocks.metadata db
index.blocks.read_only_allow_delete db
index.priority d
index.data_path f
index.format f
index.hidden db
index.replication.type fo
index.search.slowlog.threshold.fetch.debug d
index.search.slowlog.threshold.fetch.warn d
index.search.slowlog.threshold.fetch.info d
index.search.slowlog.threshold.fetch.trace d
index.search.slowlog.threshold.query.warn d
index.search.slowlog.threshold.query.debug d
index.search.slowlog.threshold.query.info d
index.search.slowlog.threshold.query.trace d
index.search.slowlog.level d
index.indexing.slowlog.threshold.index.warn d
index.indexing.slowlog.threshold.index.debug d
index.indexing.slowlog.threshold.index.info d
index.indexing.slowlog.threshold.index.trace d
index.indexing.slowlog.level d
index.indexing.slowlog.reformat db
index.indexing.slowlog.source d
index.compound_format d
index.merge.policy.deletes_pct_allowed d
index.merge.policy.expunge_deletes_allowed d
index.merge.policy.floor_segment d
index.merge.policy.max_merge_at_once d
index.merge.policy.max_merged_segment d
index.merge.policy.segments_per_tier d
index.merge.policy.reclaim_deletes_weight d
index.sort.field f
index.sort.order f
index.sort.missing f
index.sort.mode f
index.translog.durability d
index.warmer.enabled db
index.refresh_interval d
index.max_result_window d
index.max_inner_result_window d
index.analyze.max_token_count d
index.max_docvalue_fields_search d
index.max_script_fields d
index.max_ngram_diff d
index.max_shingle_diff d
index.max_rescore_window d
index.max_adjacency_matrix_filters d
index.highlight.max_analyzed_offset d
index.max_terms_count d
index.translog.sync_interval -
index.publish_referenced_segments_interval do
index.query.default_field d
index.query_string.lenient db
index.query.parse.allow_unmapped_fields db
index.shard.check_on_startup -
index.max_refresh_listeners d
index.max_slices_per_scroll d
index.max_slices_per_pit do
index.max_regex_length d
index.routing.allocation.total_shards_per_node d
index.gc_deletes d
index.soft_deletes.enabled fb
index.soft_deletes.retention.operations d
index.soft_deletes.retention_lease.period d
index.requests.cache.enable db
index.unassigned.node_left.delayed_timeout d
index.routing.rebalance.enable d
index.routing.allocation.enable d
index.flush_after_merge d
index.translog.flush_threshold_size d
index.translog.generation_threshold_size d
index.translog.retention.age d
index.translog.retention.size d
index.search.idle.after d
index.search.throttled dpb
index.fielddata.cache -
index.mapping.ignore_malformed b
index.mapping.coerce b
index.store.stats_refresh_interval -
index.mapper.dynamic db
index.mapping.nested_fields.limit d
index.mapping.nested_objects.limit d
index.mapping.total_fields.limit d
index.mapping.depth.limit d
index.mapping.field_name_length.limit d
index.load_fixed_bitset_filters_eagerly b
index.store.type -
index.store.preload -
index.store.hybrid.mmap.extensions -
index.recovery.type p
index.queries.cache.enabled b
index.store.fs.fs_lock -
index.codec -
index.codec.compression_level o
index.write.wait_for_active_shards d
index.default_pipeline d
index.final_pipeline d
index.verified_before_close pb
index.allocation.existing_shards_allocator p
index.merge_on_flush.enabled dob
index.merge_on_flush.max_full_flush_merge_wait_time do
index.merge_on_flush.policy do
index.merge.policy o
index.check_pending_flush.enabled dob
index.merge.log_byte_size_policy.merge_factor do
index.merge.log_byte_size_policy.min_merge do
index.merge.log_byte_size_policy.max_merge_segment do
index.merge.log_byte_size_policy.max_merge_segment_forced_merge do
index.merge.log_byte_size_policy.max_merged_docs do
index.merge.log_byte_size_policy.no_cfs_ratio do
index.search.default_pipeline do
index.searchable_snapshot.repository io
index.searchable_snapshot.index.id io
index.searchable_snapshot.snapshot_id.name io
index.searchable_snapshot.snapshot_id.uuid io
index.remote_store.translog.buffer_interval do
index.remote_store.translog.keep_extra_gen do
index.remote_store.enabled pob
index.remote_store.segment.repository po
index.remote_store.translog.repository po
index.optimize_doc_id_lookup.fuzzy_set.enabled dob
index.optimize_doc_id_lookup.fuzzy_set.false_positive_probability do
index.search.concurrent_segment_search.enabled dob
index.search.concurrent_segment_search.mode do
index.search.concurrent_segment_search.max_slice_count do
index.query.derived_field.enabled dob
index.lifecycle.name de
index.lifecycle.rollover_alias de
index.lifecycle.indexing_complete deb
index.lifecycle.origination_date de
index.lifecycle.parse_origination_date deb
index.similarity. -
index.analysis. -
`

// settingsRegistry is a cluster's IndexScopedSettings: the keys it knows and their flags.
type settingsRegistry struct {
	keys map[string]settingProp
	// groups are the group settings' prefixes (complex matchers), longest first.
	groups []string
	gprops map[string]settingProp
	// product names the server in the private-setting message.
	product string
}

// newSettingsRegistry builds the registry of a cluster of flavour f with the given
// plugin settings.
func newSettingsRegistry(f Flavor, plugins []IndexSetting) *settingsRegistry {
	r := &settingsRegistry{keys: map[string]settingProp{}, gprops: map[string]settingProp{}, product: "OpenSearch"}
	if f.elastic() {
		r.product = "Elasticsearch"
	}
	add := func(key string, p settingProp) {
		if strings.HasSuffix(key, ".") {
			if _, ok := r.gprops[key]; !ok {
				r.groups = append(r.groups, key)
			}
			r.gprops[key] = p
			return
		}
		r.keys[key] = p
	}
	for _, line := range strings.Split(builtinIndexSettings, "\n") {
		key, flags, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if (strings.Contains(flags, "o") && f.elastic()) || (strings.Contains(flags, "e") && !f.elastic()) {
			continue
		}
		var p settingProp
		for _, fl := range flags {
			switch fl {
			case 'd':
				p |= propDynamic
			case 'f':
				p |= propFinal
			case 'p':
				p |= propPrivate
			case 'i':
				p |= propInternal
			case 'b':
				p |= propBool
			}
		}
		add(key, p)
	}
	for _, s := range plugins {
		var p settingProp
		if s.Dynamic {
			p |= propDynamic
		}
		if s.Final {
			p |= propFinal
		}
		add(s.Key, p)
	}
	sort.Slice(r.groups, func(i, j int) bool { return len(r.groups[i]) > len(r.groups[j]) })
	return r
}

// lookup returns the flags of key and whether it is registered (AbstractScopedSettings.get:
// a key setting, else the first complex matcher).
func (r *settingsRegistry) lookup(key string) (settingProp, bool) {
	if p, ok := r.keys[key]; ok {
		return p, true
	}
	for _, g := range r.groups {
		if strings.HasPrefix(key, g) && len(key) > len(g) {
			return r.gprops[g], true
		}
	}
	return 0, false
}

// errUnknownSetting is AbstractScopedSettings.validate's answer for a key nothing
// registered: the keys more than 70% alike (Lucene's LevenshteinDistance) are suggested,
// best first. The server breaks ties in its HashMap's order, the emulator by key.
func (r *settingsRegistry) errUnknownSetting(key string) *esError {
	type scored struct {
		d float32
		k string
	}
	var cands []scored
	for k := range r.keys {
		if d := luceneDistance(key, k); d > 0.7 {
			cands = append(cands, scored{d, k})
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].d != cands[j].d {
			return cands[i].d > cands[j].d
		}
		return cands[i].k < cands[j].k
	})
	msg := "unknown setting [" + key + "]"
	switch len(cands) {
	case 0:
		msg += " please check that any required plugins are installed, or check the breaking changes documentation for removed settings"
	case 1:
		msg += " did you mean [" + cands[0].k + "]?"
	default:
		names := make([]string, len(cands))
		for i, c := range cands {
			names[i] = c.k
		}
		msg += " did you mean any of " + javaList(names) + "?"
	}
	return errIllegalArg(msg)
}

// validate mirrors AbstractScopedSettings.validate over keys (sorted, as Settings iterate)
// with their values (absent for a null): every failing key raises an exception, the
// first is thrown with the others suppressed. Values are parsed here for boolean
// settings; the other values the emulator acts on are parsed by indexKnobs.apply. forUpdate adds the private and internal checks of the update settings API;
// keys holding a wildcard are left out, as MetadataUpdateSettingsService does.
func (r *settingsRegistry) validate(keys []string, vals map[string]string, forUpdate bool) *esError {
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	var errs []*esError
	for _, k := range sorted {
		if forUpdate && strings.Contains(k, "*") {
			continue
		}
		p, ok := r.lookup(k)
		v, hasVal := vals[k]
		switch {
		case !ok:
			errs = append(errs, r.errUnknownSetting(k))
		case forUpdate && p&propInternal != 0:
			errs = append(errs, errIllegalArg("can not update internal setting ["+k+"]; this setting is managed via a dedicated API"))
		case forUpdate && p&propPrivate != 0:
			errs = append(errs, errIllegalArg("can not update private setting ["+k+"]; this setting is managed by "+r.product))
		case p&propBool != 0 && hasVal && v != "true" && v != "false":
			// Setting.get: Booleans.parseBoolean's exception as it is
			errs = append(errs, errIllegalArg("Failed to parse value ["+v+"] as only [true] or [false] are allowed."))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	e := errs[0]
	e.suppressed = errs[1:]
	return e
}

// messages flattens an error and its suppressed ones into their reasons, as
// MetadataIndexTemplateService.validate collects them.
func (e *esError) messages() []string {
	out := []string{e.reason}
	for _, s := range e.suppressed {
		out = append(out, s.reason)
	}
	return out
}

// privateErrors is MetadataCreateIndexService.validatePrivateSettingsNotExplicitlySet:
// a private setting may not be given at index creation or in a template.
func (r *settingsRegistry) privateErrors(keys []string) []string {
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	var out []string
	for _, k := range sorted {
		if p, ok := r.lookup(k); ok && p&propPrivate != 0 {
			out = append(out, "private index setting ["+k+"] can not be set explicitly")
		}
	}
	return out
}

// errValidationException is org.opensearch.common.ValidationException (an
// IllegalArgumentException, so 400): "Validation Failed: 1: a;2: b;".
func errValidationException(msgs []string) *esError {
	e := errValidation(msgs)
	e.typ = "validation_exception"
	e.server = false
	return e
}

// luceneDistance is Lucene's LevenshteinDistance.getDistance: 1 minus the edit distance
// over the longer length, on UTF-16 code units as Java strings are, in float arithmetic
// (3 edits in 10 is exactly 0.7f, not more, where float64 would say more).
func luceneDistance(target, other string) float32 {
	sa, oa := utf16Units(target), utf16Units(other)
	n, m := len(sa), len(oa)
	if n == 0 || m == 0 {
		if n == m {
			return 1
		}
		return 0
	}
	p := make([]int, n+1)
	d := make([]int, n+1)
	for i := range p {
		p[i] = i
	}
	for j := 1; j <= m; j++ {
		tj := oa[j-1]
		d[0] = j
		for i := 1; i <= n; i++ {
			cost := 1
			if sa[i-1] == tj {
				cost = 0
			}
			d[i] = min(d[i-1]+1, p[i]+1, p[i-1]+cost)
		}
		p, d = d, p
	}
	longer := max(n, m)
	return 1 - float32(p[n])/float32(longer)
}

func utf16Units(s string) []uint16 {
	out := make([]uint16, 0, len(s))
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)))
			continue
		}
		out = append(out, uint16(r))
	}
	return out
}

// javaHashSetOrder returns items (with their hashCodes, in insertion order) in the order
// a java.util.HashSet iterates them: by bucket of the spread hash at the table size the
// set grew to, insertion order within a bucket (a resize keeps it). Messages that print
// a HashSet (Can't update non dynamic settings…) list their items this way.
func javaHashSetOrder(items []string, hashes []int32) []string {
	capacity := 16
	for float64(len(items)) > 0.75*float64(capacity) {
		capacity *= 2
	}
	type entry struct {
		s      string
		bucket int
		pos    int
	}
	es := make([]entry, len(items))
	for i, s := range items {
		h := uint32(hashes[i])
		h ^= h >> 16
		es[i] = entry{s, int(h & uint32(capacity-1)), i}
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].bucket < es[j].bucket })
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.s
	}
	return out
}

// indexHash is org.opensearch.core.index.Index.hashCode (31 * name.hashCode + uuid.hashCode).
func indexHash(ix *index) int32 {
	return 31*javaStringHash(ix.name) + javaStringHash(ix.uuid)
}
