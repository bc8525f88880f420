// Package searchemu is an in-memory, OpenSearch 2.x–compatible HTTP server used as the
// primary and the replica clusters in fanout's tests and dev stack.
//
// Fidelity is the point: the behaviour follows the project's reference
// (opensearch-api.md) to the letter — statuses, exception types, reason strings, response
// key order, versioning, sequence numbers, tombstones, dynamic mapping conflicts — so that
// tests green against the emulator mean something against a real cluster. Bulk bodies are
// framed by pkg/bulk, the project's one parser of the format. Where the emulator
// deliberately differs it says so:
//
//   - refresh is modelled (refresh.go): search, count, scroll, PIT and realtime=false GETs
//     see only refreshed writes; refreshes run every index.refresh_interval (1s, -1 off)
//     on the cluster clock (Options.Now), with search-idle skipping, and on _refresh,
//     refresh=true and realtime=false&refresh=true GETs; refresh=wait_for waits for one;
//     GET, mget and _source are realtime by default. A search on a search-idle shard
//     refreshes at once where OpenSearch waits (up to one interval) for the next tick;
//   - an index has number_of_shards primary shards and documents are placed on them by
//     OpenSearch's own routing function (murmur3 of the routing or the id,
//     routing_num_shards, routing_partition_size); _seq_no counts per shard, every
//     lookup and write by id goes to the shard its routing names, and searches reach the
//     shards their routing and preference=_shards name. There is one node and no replica
//     copies, so the primary term is always 1 and the other preferences change nothing;
//   - scoring is not BM25: match_all and leaf queries score 1.0 (times boost), match
//     scores the fraction of query terms found, bool sums its must/should scores, filter
//     and must_not contribute nothing; ties break in index order;
//   - scripts are a Painless subset (package painless, script.go): scripted updates
//     (_update and bulk update with script, params, ctx.op, upsert, scripted_upsert,
//     ctx._now/_index/_id/_version/_routing) run as UpdateHelper runs them, and a script
//     outside the subset answers a compile error saying so, never something else; stored
//     scripts and other languages answer 400 as a cluster without them would;
//   - ingest pipelines have the set, remove, rename, lowercase, uppercase, append and
//     drop processors (ingest.go), and anything else a pipeline could hold (other
//     processors, conditions, templates, on_failure, metadata fields) is refused when it
//     is stored; pipelines do not run on update upserts, and index templates' pipeline
//     settings do not apply (there are no templates);
//   - data streams (datastream.go) are OpenSearch's: the Elasticsearch flavours refuse a
//     template with data_stream; a stream name is resolved by searches, counts, refreshes,
//     PITs, get index, get mapping and writes, and excluded (a missing index) by the other APIs, as the server's
//     requests without includeDataStreams do; the backing indices' mapping lacks the
//     _data_stream_timestamp meta field, whose rule the emulator checks itself;
//   - index settings are validated against a registry of OpenSearch 2.x's built-in index
//     settings and Options.PluginIndexSettings (indexsettings.go): unknown, private and
//     (on open indices) static settings are refused as the server refuses them. The
//     registry approximates the server's: settings of OpenSearch 3.x features and of the
//     default distribution's plugins are unknown unless a test registers them, values are
//     checked for the settings the emulator acts on only, and among equally close "did you
//     mean" suggestions the emulator orders by key where the server has its HashMap order;
//   - the cluster state API answers the metadata of named indices only
//     (/_cluster/state/metadata/{index}); its version counters count the emulator's
//     metadata changes, and the other metrics answer 400;
//   - aggregations, highlighting and other search features the
//     emulator lacks answer 400 with a "[searchemu] … not supported" reason instead of
//     being silently ignored;
//   - updates hold the index lock from read to write, so they never conflict with a
//     concurrent write (retry_on_conflict has nothing to retry); explicit
//     if_seq_no/if_primary_term mismatches still answer 409;
//   - YAML bodies are parsed with yaml.v3 and typed as Jackson types plain scalars;
//     anchors, aliases, tags and a second document answer 400. CBOR bodies are converted
//     to JSON as Jackson's copy would (cbor.go; tags, undefined, NaN answer 400). SMILE
//     bodies are an accepted media type but answer 400;
//   - one node: replicas are never assigned, so health is yellow with replicas and a wait
//     for all shard copies (wait_for_active_shards=all) runs into its timeout;
//   - _close does not wait for writes already past index resolution; _cat/indices renders
//     the statistics columns it does not model (caches, merges, segments, timings…) empty;
//   - stored_fields values are read from the source, not re-typed by the field mapper
//     (a stored date comes back as written, not in the field's format);
//   - request bodies in gzip or deflate are decoded as Netty's decompressor does (other
//     codings pass through undecoded, where Netty can also decode br, snappy and zstd);
//   - the nodes info API (_nodes) describes the one node with its http, transport and os
//     sections only; the node's HTTP publish address is the address the request reached;
//   - security (Options.Security, security.go) models authentication only: basic auth,
//     Elasticsearch API keys, run as / impersonation and the products' 401 and 403
//     answers; an authenticated user may do everything else, as a superuser may;
//   - the Elasticsearch7 flavour routes the typed read and mapping APIs
//     (/{index}/{type}/_search, _count, _mget, _mapping… typed.go) as the server does but
//     answers them 400 "[searchemu] … not supported";
//   - the OpenSearch1 and OpenSearch3 flavours differ from OpenSearch2 in GET / and the
//     deprecation warning agent only (OpenSearch 1.x's typed APIs and "_type" in
//     answers are not modelled); the Elasticsearch8 flavour accepts compatible-with=7
//     but answers as 8.x (no REST API v7 compatibility behaviour is modelled).
//
// Randomness (fault draws, generated ids) comes from a per-cluster source seeded by
// Options.Seed; cluster, node and index uuids do not: they are drawn from crypto/rand, so
// that two clusters in one process never share a cluster_uuid or an index uuid.
//
// Faults (down, unavailable, latency, 429s, read-only) can be injected from Go and over
// HTTP (/_emu/faults); an operation log per index (OpLog, /_emu/oplog/{index}) records
// every applied write.
package searchemu

import (
	"encoding/base64"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Flavor selects which product the emulator answers as.
type Flavor int

const (
	// OpenSearch2 answers as OpenSearch 2.11.
	OpenSearch2 Flavor = iota
	// Elasticsearch7 answers as Elasticsearch 7.10: "_type" in document responses, the
	// typed document endpoints (/{index}/{type}/{id}) with their deprecation warnings,
	// es_rejected_execution_exception, typed document-missing reasons, the ES root info and
	// the X-Elastic-Product header.
	Elasticsearch7
	// Elasticsearch8 answers as Elasticsearch 8.15: no "_type", the X-Elastic-Product
	// header, REST API compatibility media types (compatible-with=8 and =7), sorting and
	// aggregating on _id refused (indices.id_field_data.enabled is false), the ES 8 root
	// info.
	Elasticsearch8
	// OpenSearch1 is OpenSearch2 answering GET / (and the deprecation warning agent) as
	// OpenSearch 1.3; no other 1.x difference is modelled.
	OpenSearch1
	// OpenSearch3 is OpenSearch2 answering GET / (and the deprecation warning agent) as
	// OpenSearch 3.0; no other 3.x difference is modelled.
	OpenSearch3
)

// Options configures a Cluster. The zero value is a default OpenSearch 2.x node.
type Options struct {
	// Name is the cluster_name; default "emulator".
	Name string
	// Flavor selects the product the cluster answers as.
	Flavor Flavor
	// GCDeletes is the default index.gc_deletes (how long delete tombstones are kept);
	// 0 means the server default of 60s, a negative value means no retention. The index
	// setting index.gc_deletes overrides it.
	GCDeletes time.Duration
	// NoAutoCreate is action.auto_create_index=false.
	NoAutoCreate bool
	// NumberOfReplicas is the default index.number_of_replicas; 0 means the server default
	// of 1, a negative value means 0 replicas. It affects _shards.total and health colour.
	NumberOfReplicas int
	// Now is the clock used for tombstone expiry, the operation log and the refresh
	// schedule; default time.Now. A test clock may jump: refresh=wait_for requests look
	// at it again every few milliseconds.
	Now func() time.Time
	// Logger receives the emulator's own diagnostics; optional.
	Logger *slog.Logger
	// Seed seeds the cluster's random source (fault draws, generated ids), so that runs
	// are reproducible; 0 uses a fixed default seed. Uuids do not come from it.
	Seed uint64
	// MaxBodyBytes caps request bodies (http.max_content_length); default 100 MiB.
	MaxBodyBytes int64
	// Security, when set, makes the cluster a secured one: every REST request must
	// authenticate (security.go). Nil is a cluster without security.
	Security *Security
	// Observe, when set, is called with every request before it is served, so that a
	// test can see what reached the cluster (the headers a proxy forwarded). It must not
	// read the body.
	Observe func(*http.Request)
	// PluginIndexSettings registers index settings of plugins the cluster has installed,
	// on top of its flavour's built-in ones (indexsettings.go). Index creation, the update
	// settings API and templates refuse a setting nothing registered, as a server refuses
	// the setting of a plugin it lacks:
	//
	//	400 illegal_argument_exception "unknown setting [index.knn] please check that any
	//	required plugins are installed, or check the breaking changes documentation for
	//	removed settings"
	//
	// so two clusters given different lists model targets with different plugins (or
	// versions): the one without {Key: "index.knn"} refuses what the other accepts.
	PluginIndexSettings []IndexSetting
}

const (
	defaultMaxBody   = 100 << 20
	defaultGCDeletes = 60 * time.Second
)

// Cluster is one emulated single-node cluster. It is an http.Handler; Listen serves it on
// a TCP address with support for the Down fault. All methods are safe for concurrent use.
type Cluster struct {
	opts     Options
	uuid     string
	nodeName string
	nodeID   string
	log      *slog.Logger
	maxBody  int64
	replicas int
	gc       time.Duration

	mu        sync.RWMutex
	indices   map[string]*index
	templates templateStore
	// dataStreams are the data streams by name (datastream.go); nil until the first.
	dataStreams map[string]*dataStream

	rngMu sync.Mutex
	rng   *rand.Rand

	// bulkItems holds the item slices of answered bulks (*[]bulkItem) for the next:
	// made afresh per request they were a tenth of the lag benchmark harness's
	// allocations, on the cores the services it measures share.
	bulkItems sync.Pool

	faults    atomic.Pointer[Faults]
	faultMu   sync.Mutex
	downTimer *time.Timer

	srvMu   sync.Mutex
	servers map[*Server]struct{}

	idMu     sync.Mutex
	idSeqN   uint32
	idLastTS int64
	idMAC    [6]byte
	rt       *router

	ctxOnce sync.Once
	ctxs    *searchContexts

	// state wakes requests waiting for index metadata to change (health, active shards).
	state stateNotifier

	// docTypes maps an index uuid to its Elasticsearch 7 mapping type (typed.go).
	docTypes sync.Map

	// ingest holds the ingest pipelines (ingest.go).
	ingest ingestStore

	// scripts is the update context's script cache and compilation limit (script.go).
	scripts scriptCache

	// settings are the index settings the cluster knows (indexsettings.go).
	settings *settingsRegistry
}

// New creates an empty cluster.
func New(opts Options) *Cluster {
	if opts.Name == "" {
		opts.Name = "emulator"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	seed := opts.Seed
	if seed == 0 {
		seed = 0x5eed_f00d
	}
	c := &Cluster{
		opts:    opts,
		log:     opts.Logger,
		indices: map[string]*index{},
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		servers: map[*Server]struct{}{},
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.maxBody = opts.MaxBodyBytes
	if c.maxBody <= 0 {
		c.maxBody = defaultMaxBody
	}
	switch {
	case opts.NumberOfReplicas == 0:
		c.replicas = 1
	case opts.NumberOfReplicas < 0:
		c.replicas = 0
	default:
		c.replicas = opts.NumberOfReplicas
	}
	switch {
	case opts.GCDeletes == 0:
		c.gc = defaultGCDeletes
	case opts.GCDeletes < 0:
		c.gc = 0
	default:
		c.gc = opts.GCDeletes
	}
	c.uuid = c.randomUUID()
	c.nodeID = c.randomUUID()
	c.nodeName = "node-1"
	copy(c.idMAC[:], c.randBytes(6))
	c.idSeqN = uint32(c.rng.Uint32()) & 0xffffff
	c.faults.Store(&Faults{})
	c.settings = newSettingsRegistry(opts.Flavor, opts.PluginIndexSettings)
	c.rt = c.routes()
	return c
}

func (c *Cluster) now() time.Time { return c.opts.Now() }

// randFloat draws from the cluster's seeded source.
func (c *Cluster) randFloat() float64 {
	c.rngMu.Lock()
	defer c.rngMu.Unlock()
	return c.rng.Float64()
}

func (c *Cluster) randBytes(n int) []byte {
	c.rngMu.Lock()
	defer c.rngMu.Unlock()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(c.rng.Uint32())
	}
	return b
}

// autoID returns a 20-character URL-safe base64 id laid out like the server's
// TimeBasedUUIDGenerator: sequence and timestamp bytes around a per-cluster node id, so ids
// are unique within the cluster and share prefixes the way real ones do.
func (c *Cluster) autoID() string {
	c.idMu.Lock()
	c.idSeqN = (c.idSeqN + 1) & 0xffffff
	seq := c.idSeqN
	ts := c.now().UnixMilli()
	if ts < c.idLastTS {
		ts = c.idLastTS
	}
	if seq == 0 {
		ts++
	}
	c.idLastTS = ts
	c.idMu.Unlock()
	var raw [15]byte
	raw[0] = byte(seq)
	raw[1] = byte(seq >> 16)
	raw[2] = byte(ts >> 16)
	raw[3] = byte(ts >> 24)
	raw[4] = byte(ts >> 32)
	raw[5] = byte(ts >> 40)
	copy(raw[6:12], c.idMAC[:])
	raw[12] = byte(ts >> 8)
	raw[13] = byte(seq >> 8)
	raw[14] = byte(ts)
	return base64.RawURLEncoding.EncodeToString(raw[:])
}
