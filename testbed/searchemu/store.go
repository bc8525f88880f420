package searchemu

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// index is one index: its shards (documents, tombstones and a sequence-number counter
// each) and the operation log, guarded by mu. The mapping is a copy-on-write snapshot
// readable without the lock.
type index struct {
	name    string
	uuid    string
	created time.Time

	// settings holds the index settings, flattened ("index.number_of_shards" → "1");
	// guarded by the cluster lock.
	settings map[string]string
	// knobs are the settings the emulator acts on, replaced atomically on update.
	knobs atomic.Pointer[indexKnobs]

	mapping atomic.Pointer[mapping]

	// aliases are guarded by the cluster lock.
	aliases map[string]*aliasMeta

	// routing places documents on shards; fixed at creation.
	routing routingTable

	// dsName and dsTimestamp name the data stream a backing index belongs to and its
	// timestamp field ("" for other indices); fixed at creation (datastream.go).
	dsName, dsTimestamp string

	mu        sync.RWMutex
	deleted   bool
	shards    []shard // number_of_shards of them
	lastPrune time.Time
	oplog     opLog
	srcBytes  int64
	// nrt is what searches see and the writes not yet refreshed (refresh.go).
	nrt nrtState

	// versions count the metadata changes (clusterstate.go).
	versions metaVersions
	// allocIDs are the primaries' allocation ids, one per shard (in_sync_allocations).
	allocIDs []string
}

// indexKnobs are the index settings that change the emulator's behaviour.
type indexKnobs struct {
	shards   int
	replicas int
	// gc is index.gc_deletes; hasGC is false when the cluster default applies.
	gc               time.Duration
	hasGC            bool
	maxResultWindow  int
	totalFieldsLimit int
	depthLimit       int
	blockWrite       bool
	blockReadOnly    bool
	// closed is the index state (IndexMetadata.State.CLOSE), set by _close and _open.
	closed bool

	// nestedFieldsLimit and nestedObjectsLimit are index.mapping.nested_fields.limit and
	// index.mapping.nested_objects.limit.
	nestedFieldsLimit  int
	nestedObjectsLimit int
	// refresh settings (refresh.go); unset means the server default.
	refresh         time.Duration
	refreshSet      bool
	idleAfter       time.Duration
	idleAfterSet    bool
	maxListeners    int
	maxListenersSet bool
}

func (ix *index) k() *indexKnobs { return ix.knobs.Load() }

type aliasMeta struct {
	isWriteIndex  *bool
	isHidden      *bool
	filter        any
	routing       string
	indexRouting  string
	searchRouting string
}

// doc is a live document. Docs are immutable once stored: a write replaces the pointer, so
// readers may use a doc after releasing the lock.
type doc struct {
	id          string
	src         []byte
	version     int64
	seqNo       int64
	primaryTerm int64
	routing     string
	hasRouting  bool
	parsed      atomic.Pointer[jsonObj]
}

// source returns the parsed source, parsing it once.
func (d *doc) source() *jsonObj {
	if p := d.parsed.Load(); p != nil {
		return p
	}
	v, err := parseJSON(d.src)
	o, ok := v.(*jsonObj)
	if err != nil || !ok {
		o = &jsonObj{}
	}
	d.parsed.Store(o)
	return o
}

// tombstone remembers a deleted id's version for index.gc_deletes.
type tombstone struct {
	version     int64
	seqNo       int64
	primaryTerm int64
	at          time.Time
}

const primaryTerm = 1

// Version types.
const (
	vtInternal    = "internal"
	vtExternal    = "external"
	vtExternalGTE = "external_gte"
)

const (
	matchAny       = -3 // Versions.MATCH_ANY
	unassignedSeq  = -2 // SequenceNumbers.UNASSIGNED_SEQ_NO
	unassignedTerm = 0
)

// parseVersionType mirrors VersionType.fromString.
func parseVersionType(s string) (string, *esError) {
	switch s {
	case "", "internal":
		return vtInternal, nil
	case "external", "external_gt":
		return vtExternal, nil
	case "external_gte":
		return vtExternalGTE, nil
	}
	return "", errIllegalArg("No version type match [" + s + "]")
}

func versionTypeName(vt string) string {
	switch vt {
	case vtExternal:
		return "EXTERNAL"
	case vtExternalGTE:
		return "EXTERNAL_GTE"
	}
	return "INTERNAL"
}

// writeReq is one engine-level index or delete operation.
type writeReq struct {
	shard       int // the shard the routing placed it on
	id          string
	src         []byte // index: the source to store (owned by the store after success)
	routing     string
	hasRouting  bool
	versionType string
	version     int64 // matchAny when absent
	ifSeqNo     int64 // unassignedSeq when absent
	ifTerm      int64
	create      bool
	parsed      *jsonObj // optional parsed form of src
}

// writeRes is the outcome of an applied write.
type writeRes struct {
	result  string // created, updated, deleted, not_found, noop
	status  int
	version int64
	seqNo   int64
	term    int64
	shards  bool   // false for noop (all-zero _shards)
	loc     uint64 // the write's location on its shard for refresh listeners; 0 when nothing was written
}

// current returns the shard's live doc and the version the engine compares against (a
// live doc's, else an unexpired tombstone's, else -1).
func (sh *shard) current(id string, now time.Time, gc time.Duration) (*doc, int64, bool) {
	if d := sh.docs[id]; d != nil {
		return d, d.version, true
	}
	if t, ok := sh.tombs[id]; ok {
		if now.Sub(t.at) > gc {
			delete(sh.tombs, id)
			return nil, -1, false
		}
		return nil, t.version, true
	}
	return nil, -1, false
}

func (ix *index) gcDeletes(c *Cluster) time.Duration {
	if k := ix.k(); k.hasGC {
		return k.gc
	}
	return c.gc
}

// checkVersion applies the engine's conflict rules for an index or delete.
func (ix *index) checkVersion(r *writeReq, d *doc, cur int64, found bool) *esError {
	if r.ifSeqNo != unassignedSeq {
		if d == nil {
			return errVersionConflict(ix, r.id, "required seqNo ["+itoa(r.ifSeqNo)+"], primary term ["+itoa(r.ifTerm)+"]. but no document was found").onShard(r.shard)
		}
		if d.seqNo != r.ifSeqNo || d.primaryTerm != r.ifTerm {
			return errVersionConflict(ix, r.id, "required seqNo ["+itoa(r.ifSeqNo)+"], primary term ["+itoa(r.ifTerm)+"]. current document has seqNo ["+itoa(d.seqNo)+"] and primary term ["+itoa(d.primaryTerm)+"]").onShard(r.shard)
		}
		return nil
	}
	if r.create {
		if d != nil {
			return errVersionConflict(ix, r.id, "document already exists (current version ["+itoa(d.version)+"])").onShard(r.shard)
		}
		return nil
	}
	if !found {
		return nil
	}
	switch r.versionType {
	case vtExternal:
		if cur >= r.version {
			return errVersionConflict(ix, r.id, "current version ["+itoa(cur)+"] is higher or equal to the one provided ["+itoa(r.version)+"]").onShard(r.shard)
		}
	case vtExternalGTE:
		if cur > r.version {
			return errVersionConflict(ix, r.id, "current version ["+itoa(cur)+"] is higher than the one provided ["+itoa(r.version)+"]").onShard(r.shard)
		}
	}
	return nil
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func nextVersion(r *writeReq, cur int64, found bool) int64 {
	if r.versionType == vtExternal || r.versionType == vtExternalGTE {
		return r.version
	}
	if !found {
		return 1
	}
	return cur + 1
}

// applyIndexLocked applies an index/create on the request's shard; ix.mu must be held.
func (ix *index) applyIndexLocked(c *Cluster, r *writeReq, now time.Time) (writeRes, *esError) {
	ix.maybePrune(c, now)
	sh := &ix.shards[r.shard]
	d, cur, found := sh.current(r.id, now, ix.gcDeletes(c))
	if err := ix.checkVersion(r, d, cur, found); err != nil {
		return writeRes{}, err
	}
	v := nextVersion(r, cur, found)
	seq := sh.nextSeq
	sh.nextSeq++
	nd := &doc{id: r.id, src: r.src, version: v, seqNo: seq, primaryTerm: primaryTerm, routing: r.routing, hasRouting: r.hasRouting}
	if r.parsed != nil {
		nd.parsed.Store(r.parsed)
	}
	res := writeRes{result: "created", status: 201, version: v, seqNo: seq, term: primaryTerm, shards: true}
	if d != nil {
		res.result, res.status = "updated", 200
		ix.srcBytes -= int64(len(d.src))
	}
	sh.docs[r.id] = nd
	ix.srcBytes += int64(len(nd.src))
	delete(sh.tombs, r.id)
	res.loc = ix.recordWriteLocked(r.shard, r.id, nd, now)
	ix.oplog.add(OpLogEntry{Op: "index", ID: r.id, Version: v, SeqNo: seq, PrimaryTerm: primaryTerm, VersionType: r.versionType, At: now, Shard: r.shard})
	return res, nil
}

// applyDeleteLocked applies a delete on the request's shard (writing a tombstone even for
// a missing id).
func (ix *index) applyDeleteLocked(c *Cluster, r *writeReq, now time.Time) (writeRes, *esError) {
	ix.maybePrune(c, now)
	sh := &ix.shards[r.shard]
	d, cur, found := sh.current(r.id, now, ix.gcDeletes(c))
	if err := ix.checkVersion(r, d, cur, found); err != nil {
		return writeRes{}, err
	}
	v := nextVersion(r, cur, found)
	seq := sh.nextSeq
	sh.nextSeq++
	res := writeRes{result: "deleted", status: 200, version: v, seqNo: seq, term: primaryTerm, shards: true}
	if d == nil {
		res.result, res.status = "not_found", 404
	} else {
		ix.srcBytes -= int64(len(d.src))
		delete(sh.docs, r.id)
	}
	res.loc = ix.recordWriteLocked(r.shard, r.id, nil, now)
	if ix.gcDeletes(c) > 0 {
		sh.tombs[r.id] = tombstone{version: v, seqNo: seq, primaryTerm: primaryTerm, at: now}
	}
	ix.oplog.add(OpLogEntry{Op: "delete", ID: r.id, Version: v, SeqNo: seq, PrimaryTerm: primaryTerm, VersionType: r.versionType, At: now, Shard: r.shard})
	return res, nil
}

// maybePrune drops expired tombstones about every quarter of the gc window, as the engine
// does, so memory stays bounded; lookups check expiry exactly.
func (ix *index) maybePrune(c *Cluster, now time.Time) {
	gc := ix.gcDeletes(c)
	if now.Sub(ix.lastPrune) < gc/4 {
		return
	}
	ix.lastPrune = now
	for i := range ix.shards {
		tombs := ix.shards[i].tombs
		for id, t := range tombs {
			if now.Sub(t.at) > gc {
				delete(tombs, id)
			}
		}
	}
}

// liveTombstones counts unexpired tombstones (reported as docs.deleted).
func (ix *index) liveTombstones(c *Cluster, now time.Time) int {
	gc := ix.gcDeletes(c)
	n := 0
	for i := range ix.shards {
		for _, t := range ix.shards[i].tombs {
			if now.Sub(t.at) <= gc {
				n++
			}
		}
	}
	return n
}

// ---- index lifecycle ----

// createIndexReq is a parsed create-index body.
type createIndexReq struct {
	settings map[string]string
	mapping  *mapping
	// mappingDef is the definition mapping was parsed from, for merging with templates.
	mappingDef *jsonObj
	aliases    map[string]*aliasMeta
	// dataStream is the stream a backing index is created for: templates are looked up
	// by its name (CreateIndexClusterStateUpdateRequest.dataStreamName).
	dataStream string
	// explicit marks settings a client gave in the request, which may not hold private
	// settings (MetadataCreateIndexService.validateIndexSettings, forbidPrivateIndexSettings).
	explicit bool
	// mappingErr is the request mapping's parse error, reported once the index name and
	// settings passed.
	mappingErr *esError
}

// errInvalidIndexName mirrors InvalidIndexNameException.
func errInvalidIndexName(name, desc string) *esError {
	e := newErr(400, typeInvalidIndexName, "Invalid index name ["+name+"], "+desc, true)
	e.meta = []metaKV{{k: "index_uuid", v: "_na_"}, {k: "index", v: name}}
	return e
}

// validateIndexName mirrors MetadataCreateIndexService.validateIndexName.
func validateIndexName(name string) *esError {
	if name == "" {
		return errInvalidIndexName(name, "must not be empty")
	}
	if strings.ContainsAny(name, "\\/*?\"<>| ,") {
		return errInvalidIndexName(name, `must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?]`)
	}
	if strings.Contains(name, "#") {
		return errInvalidIndexName(name, "must not contain '#'")
	}
	if strings.Contains(name, ":") {
		return errInvalidIndexName(name, "must not contain ':'")
	}
	if name[0] == '_' || name[0] == '-' || name[0] == '+' {
		return errInvalidIndexName(name, "must not start with '_', '-', or '+'")
	}
	if len(name) > 255 {
		return errInvalidIndexName(name, "index name is too long, ("+strconv.Itoa(len(name))+" > 255)")
	}
	if name == "." || name == ".." {
		return errInvalidIndexName(name, "must not be '.' or '..'")
	}
	if strings.ToLower(name) != name {
		return errInvalidIndexName(name, "must be lowercase")
	}
	return nil
}

// createIndex creates an index; c.mu must be held for writing.
func (c *Cluster) createIndexLocked(name string, req *createIndexReq) (*index, *esError) {
	if err := validateIndexName(name); err != nil {
		return nil, err
	}
	if ix := c.indices[name]; ix != nil {
		e := newErr(400, typeResourceExists, "index ["+name+"/"+ix.uuid+"] already exists", true)
		e.meta = []metaKV{{k: "index_uuid", v: ix.uuid}, {k: "index", v: name}}
		return nil, e
	}
	if c.aliasExistsLocked(name) {
		return nil, errInvalidIndexName(name, "already exists as alias")
	}
	if c.dataStreamLocked(name) != nil {
		return nil, errInvalidIndexName(name, "already exists as data stream")
	}
	if req == nil || req.dataStream == "" {
		// applyCreateIndexRequestWithV2Template: a data stream template makes streams only
		if v2 := c.templates.v2TemplateFor(name); v2 != "" && c.templates.v2[v2].dataStream != nil {
			return nil, errIllegalArg("cannot create index with name [" + name + "], because it matches with template [" + v2 + "] that creates data streams only, use create data stream api instead")
		}
	}
	if req != nil && req.explicit {
		if errs := c.settings.privateErrors(sortedKeys(req.settings)); len(errs) > 0 {
			return nil, errValidationException(errs)
		}
	}
	if req != nil && req.mappingErr != nil {
		return nil, req.mappingErr
	}
	req, terr := c.applyTemplatesLocked(name, req)
	if terr != nil {
		return nil, terr
	}
	ix := &index{
		name:     name,
		uuid:     c.randomUUID(),
		created:  c.now(),
		settings: map[string]string{},
		aliases:  map[string]*aliasMeta{},
	}
	knobs := c.defaultKnobs()
	m := newMapping()
	if req != nil {
		for k, v := range req.settings {
			ix.settings[k] = v
		}
		if req.mapping != nil {
			m = req.mapping
		}
		for a, meta := range req.aliases {
			if a == name {
				e := newErr(400, typeInvalidAliasName, "Invalid alias name ["+a+"]: an index or data stream exists with the same name as the alias", true)
				return nil, e
			}
			if _, exists := c.indices[a]; exists {
				return nil, newErr(400, typeInvalidAliasName, "Invalid alias name ["+a+"]: an index or data stream exists with the same name as the alias", true)
			}
			ix.aliases[a] = meta
		}
	}
	if err := knobs.apply(ix.settings); err != nil {
		return nil, err
	}
	rt, err := newRoutingTable(name, ix.settings, knobs.shards)
	if err != nil {
		return nil, err
	}
	if err := c.checkShardLimitLocked(knobs.shards, knobs.replicas); err != nil {
		return nil, err
	}
	ix.routing = rt
	ix.shards = newShards(knobs.shards)
	ix.versions.init()
	ix.allocIDs = make([]string, knobs.shards)
	for i := range ix.allocIDs {
		ix.allocIDs[i] = c.randomUUID()
	}
	if req != nil && req.mapping != nil {
		if err := ix.checkPartitionedMapping(m); err != nil {
			return nil, err
		}
	}
	ix.knobs.Store(&knobs)
	ix.nrt = newNRT(c.now, ix.created, knobs.shards)
	ix.settings["index.number_of_shards"] = strconv.Itoa(knobs.shards)
	ix.settings["index.number_of_replicas"] = strconv.Itoa(knobs.replicas)
	ix.settings["index.uuid"] = ix.uuid
	ix.settings["index.creation_date"] = strconv.FormatInt(ix.created.UnixMilli(), 10)
	ix.settings["index.provided_name"] = name
	ix.settings["index.version.created"] = "136327827"
	if err := m.checkLimits(ix); err != nil {
		return nil, err
	}
	if err := c.validateNewIndexAliasesLocked(ix); err != nil {
		return nil, err
	}
	ix.mapping.Store(m)
	c.indices[name] = ix
	c.state.changed()
	return ix, nil
}

// defaultKnobs are the knobs of an index without settings.
func (c *Cluster) defaultKnobs() indexKnobs {
	return indexKnobs{shards: 1, replicas: c.replicas, maxResultWindow: 10000, totalFieldsLimit: 1000, depthLimit: 20, nestedFieldsLimit: 50, nestedObjectsLimit: defaultNestedObjectsLimit}
}

// apply validates and applies the settings the emulator acts on.
func (ix *indexKnobs) apply(s map[string]string) *esError {
	if err := checkPipelineSettings(s); err != nil {
		return err
	}
	intSetting := func(key string, min int) (int, bool, *esError) {
		v, ok := s[key]
		if !ok {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, false, errIllegalArgCause("Failed to parse value ["+v+"] for setting ["+key+"]", newErr(400, typeNumberFormat, `For input string: "`+v+`"`, false))
		}
		if n < min {
			return 0, false, errIllegalArg("Failed to parse value [" + v + "] for setting [" + key + "] must be >= " + strconv.Itoa(min))
		}
		return n, true, nil
	}
	if n, ok, err := intSetting("index.number_of_shards", 1); err != nil {
		return err
	} else if ok {
		if n > maxShards {
			return errIllegalArg("Failed to parse value [" + s["index.number_of_shards"] + "] for setting [index.number_of_shards] must be <= " + strconv.Itoa(maxShards))
		}
		ix.shards = n
	}
	for _, is := range []struct {
		key string
		min int
		dst *int
	}{
		{"index.number_of_replicas", 0, &ix.replicas},
		{"index.max_result_window", 1, &ix.maxResultWindow},
		{"index.mapping.total_fields.limit", 0, &ix.totalFieldsLimit},
		{"index.mapping.depth.limit", 1, &ix.depthLimit},
		{"index.mapping.nested_fields.limit", 0, &ix.nestedFieldsLimit},
		{"index.mapping.nested_objects.limit", 0, &ix.nestedObjectsLimit},
	} {
		if n, ok, err := intSetting(is.key, is.min); err != nil {
			return err
		} else if ok {
			*is.dst = n
		}
	}
	if v, ok := s["index.gc_deletes"]; ok {
		d, err := parseTimeValue(v, "index.gc_deletes")
		if err != nil {
			return err
		}
		ix.gc, ix.hasGC = d, true
		if d < 0 {
			ix.gc = 0
		}
	}
	if err := ix.applyRefresh(s); err != nil {
		return err
	}
	for _, k := range []string{"index.blocks.write", "index.blocks.read_only"} {
		if v, ok := s[k]; ok {
			b, err := parseBoolSetting(v, k)
			if err != nil {
				return err
			}
			if k == "index.blocks.write" {
				ix.blockWrite = b
			} else {
				ix.blockReadOnly = b
			}
		}
	}
	return nil
}

func parseBoolSetting(v, key string) (bool, *esError) {
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errIllegalArg("Failed to parse value [" + v + "] as only [true] or [false] are allowed.")
}

// parseTimeValue mirrors TimeValue.parseTimeValue.
func parseTimeValue(v, key string) (time.Duration, *esError) {
	s := strings.ToLower(strings.TrimSpace(v))
	if s == "-1" {
		return -1, nil
	}
	if s == "0" {
		return 0, nil
	}
	units := []struct {
		suffix string
		d      time.Duration
	}{{"nanos", time.Nanosecond}, {"micros", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num := strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			if f, err := strconv.ParseFloat(num, 64); err == nil && num != "" {
				return time.Duration(f * float64(u.d)), nil
			}
			return 0, errIllegalArg("failed to parse setting [" + key + "] with value [" + v + "] as a time value: unit is missing or unrecognized")
		}
	}
	return 0, errIllegalArg("failed to parse setting [" + key + "] with value [" + v + "] as a time value: unit is missing or unrecognized")
}

func (c *Cluster) aliasExistsLocked(name string) bool {
	for _, ix := range c.indices {
		if _, ok := ix.aliases[name]; ok {
			return true
		}
	}
	return false
}

// resolveWrite resolves a write target (index or alias) to a concrete index.
func (c *Cluster) resolveWrite(name string) (*index, *esError) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ix, err := c.resolveWriteLocked(name)
	if err == nil && ix.isClosed() {
		// TransportBulkAction refuses writes to a closed index (IndexClosedException).
		return nil, errIndexClosed(ix)
	}
	return ix, err
}

func (c *Cluster) resolveWriteLocked(name string) (*index, *esError) {
	if ix := c.indices[name]; ix != nil {
		return ix, nil
	}
	if ds := c.dataStreamLocked(name); ds != nil {
		// IndexAbstraction.DataStream.getWriteIndex: the last generation
		if b := c.backingLocked(ds); len(b) > 0 && b[len(b)-1].name == ds.indices[len(ds.indices)-1] {
			return b[len(b)-1], nil
		}
		return nil, errIndexNotFound(name)
	}
	var members []*index
	var write *index
	for _, ix := range c.indices {
		if a, ok := ix.aliases[name]; ok {
			members = append(members, ix)
			if a.isWriteIndex != nil && *a.isWriteIndex {
				write = ix
			}
		}
	}
	if len(members) == 0 {
		return nil, errIndexNotFound(name)
	}
	if write != nil {
		return write, nil
	}
	if len(members) == 1 {
		a := members[0].aliases[name]
		if a.isWriteIndex == nil || *a.isWriteIndex {
			return members[0], nil
		}
	}
	return nil, errIllegalArg("no write index is defined for alias [" + name + "]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index")
}

func (c *Cluster) isAlias(name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.aliasExistsLocked(name)
}

// resolveRead resolves an index expression with strictExpandOpen-like options and the
// given ignore_unavailable / allow_no_indices (see resolve.go).
func (c *Cluster) resolveRead(expr string, ignoreUnavailable, allowNoIndices bool) ([]*index, *esError) {
	return c.resolveExpr(expr, indicesOptions{ignoreUnavailable: ignoreUnavailable, allowNoIndices: allowNoIndices, expandOpen: true})
}

// deleteIndex removes an index; writes in flight against it fail.
func (c *Cluster) deleteIndexLocked(ix *index) {
	delete(c.indices, ix.name)
	if ix.dsName != "" {
		c.forgetBackingLocked(ix)
	}
	c.state.changed()
	ix.mu.Lock()
	ix.deleted = true
	ix.releaseWaitersLocked()
	ix.mu.Unlock()
}

// OpLogEntry is one applied write in an index's operation log.
type OpLogEntry struct {
	Op          string // "index" or "delete" (creates/updates/upserts are "index")
	ID          string
	Version     int64
	SeqNo       int64
	PrimaryTerm int64
	VersionType string
	At          time.Time
	// Shard is the shard the routing placed the write on; SeqNo counts per shard.
	Shard int
}

// OpLog returns a copy of the index's operation log in apply order, or nil when the index
// does not exist.
func (c *Cluster) OpLog(index string) []OpLogEntry {
	c.mu.RLock()
	ix := c.indices[index]
	c.mu.RUnlock()
	if ix == nil {
		return nil
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.oplog.all()
}

// opLog is an index's operation log, kept in blocks of opLogBlock entries: an index of
// a few hundred thousand writes grew one slice by doubling, copying it whole each time
// onto fresh pages, which in the lag benchmark's harness took the cores the services
// it measures share.
type opLog struct {
	blocks [][]OpLogEntry
	n      int
}

const opLogBlock = 1024

func (l *opLog) add(e OpLogEntry) {
	if l.n%opLogBlock == 0 {
		l.blocks = append(l.blocks, make([]OpLogEntry, 0, opLogBlock))
	}
	last := &l.blocks[len(l.blocks)-1]
	*last = append(*last, e)
	l.n++
}

// all returns a copy of the log in apply order, nil when it is empty.
func (l *opLog) all() []OpLogEntry {
	if l.n == 0 {
		return nil
	}
	out := make([]OpLogEntry, 0, l.n)
	for _, b := range l.blocks {
		out = append(out, b...)
	}
	return out
}
