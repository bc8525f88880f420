package replicator

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/pkg/cluster"
	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/telemetry"
)

// Config is the replicator's configuration (YAML file, FANOUT_* env, flags). One
// replicator process serves one target cluster.
type Config struct {
	// MetricsListen serves /metrics, /healthz and /readyz; "" turns it off.
	MetricsListen string `koanf:"metrics_listen"`
	// Admin serves the /admin routes on a listener of their own.
	Admin AdminConfig `koanf:"admin"`
	// Target is the cluster the events are applied to. Its name is required: it names
	// the consumer group and the dead-letter topic.
	Target cluster.Config `koanf:"target"`
	// Primary is the cluster the proxies write to, read (realtime _mget) to resolve
	// late INDEX events before they are applied (late.go). Optional but recommended:
	// without endpoints, late events are applied as recorded, counted and warned about.
	Primary    cluster.Config   `koanf:"primary"`
	LateEvents LateEventsConfig `koanf:"late_events"`
	// AntiEntropy compares the target with the primary in the background and repairs
	// what differs (antientropy.go); off by default.
	AntiEntropy AntiEntropyConfig `koanf:"anti_entropy"`
	Indices     IndicesConfig     `koanf:"indices"`
	Kafka       kafkax.Config     `koanf:"kafka"`
	Consume     ConsumeConfig     `koanf:"consume"`
	Batch       BatchConfig       `koanf:"batch"`
	Retry       RetryConfig       `koanf:"retry"`
	Deletes     DeletesConfig     `koanf:"deletes"`
	Limits      Limits            `koanf:"limits"`
	// Metadata says which metadata changes (KIND_METADATA events) reach the target.
	Metadata MetadataConfig      `koanf:"metadata"`
	Log      telemetry.LogConfig `koanf:"log"`
}

// MetadataConfig is the policy for metadata changes (metaapply.go). A kind switched
// off is skipped (and counted as skipped) but still honours the change's barrier, so
// documents stay ordered around it.
type MetadataConfig struct {
	Replicate MetadataReplicate `koanf:"replicate"`
	// IgnoreSettings and CompareSettings choose the index settings copied, as
	// fanoutctl verify's --ignore-setting and --compare-setting choose those compared
	// (pkg/metadata.Settings): never the target-local ones, unless CompareSettings
	// names them.
	IgnoreSettings  []string `koanf:"ignore_settings"`
	CompareSettings []string `koanf:"compare_settings"`
}

// MetadataReplicate switches the kinds of metadata replicated.
type MetadataReplicate struct {
	// Indices: index creates (and deletes, with Deletes), open/close. Off, the
	// mappings, settings and aliases of the indices the target has are still kept
	// equal to the primary's (with their own switches).
	Indices bool `koanf:"indices"`
	// Mappings, Settings, Aliases: of the replicated indices.
	Mappings bool `koanf:"mappings"`
	Settings bool `koanf:"settings"`
	Aliases  bool `koanf:"aliases"`
	// Templates: composable, component and legacy index templates.
	Templates bool `koanf:"templates"`
	// Pipelines: ingest pipelines.
	Pipelines bool `koanf:"pipelines"`
	// DataStreams: data stream creates, rollovers (and deletes, with Deletes).
	DataStreams bool `koanf:"data_streams"`
	// Deletes: false keeps the indices and data streams the primary deleted (a DR
	// target that must outlive a mistaken delete).
	Deletes bool `koanf:"deletes"`
}

// AdminConfig configures the admin listener (/admin/status, /admin/pause,
// /admin/resume).
type AdminConfig struct {
	// Listen is the admin listener's address; "" turns it off. The default is loopback
	// only: pausing replication is for operators on the machine (or behind a proxy of
	// their choosing), not for anyone who can reach the metrics port.
	Listen string `koanf:"listen"`
	// TokenFile, when set, names a file holding a bearer token every admin request
	// must carry (Authorization: Bearer <token>). It is read at start; a missing or
	// empty file is an error.
	TokenFile string `koanf:"token_file"`
}

// IndicesConfig chooses which indices of the primary reach the target, and under
// which names.
type IndicesConfig struct {
	// Include lists patterns of the primary indices to replicate, in the search
	// engine's index pattern syntax (only * is a wildcard: "logs-*"); an event whose
	// index matches none is skipped (and committed).
	Include []string `koanf:"include"`
	// Exclude lists patterns of indices not to replicate; it wins over Include.
	Exclude []string `koanf:"exclude"`
	// Rename is the target index name, with {index} standing for the primary's
	// index name: "{index}" keeps it, "{index}-dr" suffixes it.
	Rename string `koanf:"rename"`
}

// ConsumeConfig configures how events are read from Kafka.
type ConsumeConfig struct {
	// Topics are the event topics (what the proxy's publish.topic names).
	Topics []string `koanf:"topics"`
	// Group is the consumer group; "" means fanout-replicator-<target.name>. Every
	// replicator of one target shares it, so Kafka spreads the partitions.
	Group string `koanf:"group"`
	// DLQTopic is the dead-letter topic; {topic} and {cluster} stand for the source
	// topic and target.name. Default "{topic}.dlq.{cluster}".
	DLQTopic string `koanf:"dlq_topic"`
	// CreateDLQTopic creates missing dead-letter topics at start (with as many
	// partitions as their source topic). A failure is logged, not fatal: the
	// operator may have created them, or the replicator may lack the rights.
	CreateDLQTopic bool `koanf:"create_dlq_topic"`
	// DLQRetention is the retention.ms of the dead-letter topics the replicator
	// creates: how long an operator has to replay them. fanoutctl topics create plans
	// the same, and fanoutctl status warns about a DLQ topic that keeps less.
	DLQRetention time.Duration `koanf:"dlq_retention"`
	// StartFrom is where a new group starts: earliest (replicate the topic's whole
	// retention) or latest.
	StartFrom string `koanf:"start_from"`
	// FetchMaxBytes and FetchMaxPartitionBytes bound one fetch response, in
	// compressed bytes, and so what the Kafka client holds besides MaxBufferedBytes:
	// up to about two responses, decompressed.
	FetchMaxBytes          int32         `koanf:"fetch_max_bytes"`
	FetchMaxPartitionBytes int32         `koanf:"fetch_max_partition_bytes"`
	FetchMaxWait           time.Duration `koanf:"fetch_max_wait"`
	// MaxConcurrentFetches bounds the fetch responses in flight or waiting to be
	// polled, over all brokers (the Kafka client's default is one per broker, which
	// grows the memory with the cluster): the fetch buffers hold at most this many
	// times FetchMaxBytes.
	MaxConcurrentFetches int `koanf:"max_concurrent_fetches"`
	// MaxBufferedBytes caps the fetched records held in memory, over all
	// partitions: waiting to be applied or in the batch being applied, until it is
	// resolved; MaxPartitionBufferedBytes caps them per partition. Past a cap the
	// replicator pauses fetching (never the poll loop) until the partitions drain.
	// They count decompressed keys and values; a cap is checked after each poll,
	// so it can be overshot by one fetch response, decompressed.
	MaxBufferedBytes          int64 `koanf:"max_buffered_bytes"`
	MaxPartitionBufferedBytes int64 `koanf:"max_partition_buffered_bytes"`
	// CommitInterval is how often resolved offsets are committed; they are also
	// committed on revoke and on shutdown.
	CommitInterval time.Duration `koanf:"commit_interval"`
	// SessionTimeout and RebalanceTimeout are the group's; RebalanceTimeout must leave
	// room for limits.shutdown_timeout, which bounds finishing a revoked partition's
	// in-flight bulk.
	SessionTimeout   time.Duration `koanf:"session_timeout"`
	RebalanceTimeout time.Duration `koanf:"rebalance_timeout"`
	// HeartbeatInterval is how often the member heartbeats; below a third of
	// SessionTimeout, so a rebalance is noticed within about a second.
	HeartbeatInterval time.Duration `koanf:"heartbeat_interval"`
	// InstanceID makes the replicator a static group member (KIP-345), e.g. from the
	// pod name: a restart with the same id takes its partitions back without a
	// rebalance. "" is dynamic membership. A static member does not leave the group
	// at shutdown, so its partitions wait at most SessionTimeout for it to return.
	InstanceID string `koanf:"instance_id"`
	// LagInterval is how often the partitions' high watermarks are read for the lag
	// metrics and /admin/status.
	LagInterval time.Duration `koanf:"lag_interval"`
	// ChunkTimeout is how long, in the records' timestamps, a chunk group may stay
	// incomplete: once the partition holds a record stamped more than this after the
	// group's first piece, the group's last pieces will never come (the proxy failed
	// between pieces and answered its client with an error), and its pieces go to the
	// dead-letter topic. Until then the partition's committed offset stays at the
	// group's first piece. It must exceed the proxies' publish.timeout plus the clock
	// skew between proxies and brokers.
	ChunkTimeout time.Duration `koanf:"chunk_timeout"`
}

// BatchConfig shapes the _bulk requests.
type BatchConfig struct {
	// MaxDocs and MaxBytes bound one partition's bulk; MaxBytes counts the records'
	// keys and values (a record larger than it goes alone).
	MaxDocs  int   `koanf:"max_docs"`
	MaxBytes int64 `koanf:"max_bytes"`
	// Linger is how long a partition waits for more records before sending a bulk
	// that is not full.
	Linger time.Duration `koanf:"linger"`
	// MaxInflight bounds the bulks in flight at once, over all partitions (a
	// partition never has more than one).
	MaxInflight int `koanf:"max_inflight"`
	// CombineWindow, when positive, lets the bulks of partitions that are ready
	// within it of one another go as one request, up to MaxDocs and MaxBytes in all
	// (combine.go): fewer, larger requests at moderate rates over many partitions, for
	// up to this much more lag. 0 sends one request per partition's bulk. The default,
	// 2 ms, made the target's bulks six times larger at 5,000 and 20,000 docs/s over 12
	// partitions (8 -> 50 and 20 -> 110 documents) and the replicator's CPU per document
	// at 20,000 a tenth lower, for 3 ms more p50 lag at 5,000 (the lag benchmark).
	CombineWindow time.Duration `koanf:"combine_window"`
}

// RetryConfig configures retries of bulk items and of whole requests.
type RetryConfig struct {
	// Initial and Max bound the exponential backoff (with jitter) between attempts.
	// Cluster trouble is retried forever with it; so are items answered 429 or 5xx.
	Initial time.Duration `koanf:"initial"`
	Max     time.Duration `koanf:"max"`
	// ItemAttempts is how often an item rejected with another 4xx (a mapping
	// conflict, an illegal argument…) is tried before it goes to the dead-letter
	// topic; more than one rides out short races such as an index being created.
	ItemAttempts int `koanf:"item_attempts"`
}

// DeletesConfig sizes the memory of recent deletes that keeps an older INDEX
// published behind a newer DELETE from bringing a deleted document back (deletes.go).
type DeletesConfig struct {
	// Window is how long, in the events' accepted times, a DELETE is remembered. It
	// must exceed the longest time between two proxies' publishes of one document:
	// the proxies' publish.timeout plus twice the clock skew between them.
	Window time.Duration `koanf:"window"`
	// MaxEntries caps the remembered deletes over all partitions.
	MaxEntries int64 `koanf:"max_entries"`
}

// LateEventsConfig says when an INDEX event is too old to apply as recorded (late.go).
type LateEventsConfig struct {
	// Window: an INDEX event whose accepted time is more than this before the moment it
	// is applied is resolved against the primary first. It must stay below the
	// targets' index.gc_deletes (60 s by default) minus the clock skew between the
	// proxies and the replicator; the default is half of it.
	Window time.Duration `koanf:"window"`
}

// AntiEntropyConfig configures the background comparison with the primary.
type AntiEntropyConfig struct {
	// Enabled turns it on; it needs primary.endpoints.
	Enabled bool `koanf:"enabled"`
	// Interval is the time from the start of one pass to the start of the next. A
	// pass stopped at max_diffs is followed by the next at once.
	Interval time.Duration `koanf:"interval"`
	// MaxDocsPerS bounds the documents compared per second, primary and target
	// together: the load a pass puts on both clusters.
	MaxDocsPerS float64 `koanf:"max_docs_per_s"`
	// Mode is fast (ids, routing and versions: no source moves) or full (sources too).
	Mode string `koanf:"mode"`
	// Repair writes the primary's state over what differs; false only reports
	// (metrics and log).
	Repair bool `koanf:"repair"`
	// MaxDiffs is the most differences a pass collects; it stops there, repairs them,
	// and the next pass starts at once.
	MaxDiffs int `koanf:"max_diffs"`
	// SettleTimeout bounds the wait, after a pass, for the group to apply every event
	// published before the pass ended: only a difference that outlives the stream is
	// one (a difference the stream has not applied yet is lag). Past it the pass's
	// differences are left for the next pass.
	SettleTimeout time.Duration `koanf:"settle_timeout"`
}

// Limits bound the replicator's waits.
type Limits struct {
	// ShutdownTimeout bounds finishing in-flight bulks at shutdown and on revoke;
	// what is not resolved by then is re-delivered, never skipped.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	// BulkTimeout bounds one _bulk request, answer included.
	BulkTimeout time.Duration `koanf:"bulk_timeout"`
	// ProbeInterval is how often the target is probed (GET /) for target_up and
	// /readyz; a bulk's outcome also updates them.
	ProbeInterval time.Duration `koanf:"probe_interval"`
	// MaxDocumentBytes is the largest document assembled from a chunk group; a
	// larger group goes to the dead-letter topic piece by piece, never buffered. A
	// group being assembled holds its pieces, then the document, outside the
	// consume.*buffered_bytes caps (which count fetched records; a document bigger
	// than a partition's cap must not pause the fetching its last pieces need).
	MaxDocumentBytes int64 `koanf:"max_document_bytes"`
}

// DefaultConfig returns the defaults every other source overrides.
func DefaultConfig() Config {
	return Config{
		MetricsListen: ":9465",
		Admin:         AdminConfig{Listen: "127.0.0.1:9475"},
		Target:        cluster.Config{Timeout: time.Minute},
		Primary:       cluster.Config{Name: "primary", Timeout: time.Minute},
		LateEvents:    LateEventsConfig{Window: 30 * time.Second},
		AntiEntropy: AntiEntropyConfig{Interval: 6 * time.Hour, MaxDocsPerS: 1000, Mode: "fast", Repair: true,
			MaxDiffs: 10000, SettleTimeout: 10 * time.Minute},
		Indices: IndicesConfig{Include: []string{"*"}, Rename: "{index}"},
		Kafka:   kafkax.Config{Brokers: []string{"127.0.0.1:9092"}, ClientID: "fanout-replicator"},
		Consume: ConsumeConfig{
			Topics:                    []string{"fanout.ops"},
			DLQTopic:                  "{topic}.dlq.{cluster}",
			CreateDLQTopic:            true,
			DLQRetention:              30 * 24 * time.Hour,
			StartFrom:                 "earliest",
			FetchMaxBytes:             4 << 20,
			MaxConcurrentFetches:      4,
			FetchMaxPartitionBytes:    1 << 20,
			FetchMaxWait:              500 * time.Millisecond,
			MaxBufferedBytes:          64 << 20,
			MaxPartitionBufferedBytes: 8 << 20,
			CommitInterval:            2 * time.Second,
			// A supervisor restarts a crashed replicator in seconds: a dead member is
			// dropped after 10 s, and a rebalance waits only for revokes, which
			// limits.shutdown_timeout bounds.
			SessionTimeout:    10 * time.Second,
			RebalanceTimeout:  35 * time.Second,
			HeartbeatInterval: time.Second,
			LagInterval:       5 * time.Second,
			ChunkTimeout:      2 * time.Minute,
		},
		Batch: BatchConfig{
			MaxDocs:       2000,
			MaxBytes:      8 << 20,
			Linger:        5 * time.Millisecond,
			MaxInflight:   8,
			CombineWindow: 2 * time.Millisecond,
		},
		Retry: RetryConfig{
			Initial:      100 * time.Millisecond,
			Max:          30 * time.Second,
			ItemAttempts: 3,
		},
		Deletes: DeletesConfig{
			Window:     5 * time.Minute,
			MaxEntries: 1_000_000,
		},
		Limits: Limits{
			ShutdownTimeout: 30 * time.Second,
			BulkTimeout:     2 * time.Minute,
			ProbeInterval:   2 * time.Second,
			// The primary's http.max_content_length: nothing larger is ever written.
			MaxDocumentBytes: 100 << 20,
		},
		Metadata: MetadataConfig{Replicate: MetadataReplicate{
			Indices: true, Mappings: true, Settings: true, Aliases: true,
			Templates: true, Pipelines: true, DataStreams: true, Deletes: true,
		}},
		Log: telemetry.LogConfig{Level: "info", Format: "json"},
	}
}

// Validate checks the configuration and names the key at fault.
func (c Config) Validate() error {
	if c.Target.Name == "" {
		return fmt.Errorf("target.name: required (it names the consumer group and the dead-letter topic)")
	}
	if strings.ContainsAny(c.Target.Name, " /\\\t\n") {
		return fmt.Errorf("target.name: %q must not contain spaces or slashes", c.Target.Name)
	}
	if err := c.Target.Validate("target"); err != nil {
		return err
	}
	if c.PrimaryEnabled() {
		if err := c.Primary.Validate("primary"); err != nil {
			return err
		}
	} else if c.Primary.HasAuth() || c.Primary.PasswordFile != "" || c.Primary.TLS.Enabled {
		return fmt.Errorf("primary.endpoints: required when other primary.* keys are set (without endpoints the replicator does not read the primary)")
	}
	if c.LateEvents.Window <= 0 {
		return fmt.Errorf("late_events.window: must be positive (below the targets' index.gc_deletes), got %s", c.LateEvents.Window)
	}
	if err := c.AntiEntropy.validate(c.PrimaryEnabled()); err != nil {
		return err
	}
	// Port 0 is a free port each: two listeners, not a conflict.
	if c.Admin.Listen != "" && c.Admin.Listen == c.MetricsListen && !strings.HasSuffix(c.Admin.Listen, ":0") {
		return fmt.Errorf("admin.listen: %q is metrics_listen too; the admin routes need a listener of their own", c.Admin.Listen)
	}
	if c.Admin.TokenFile != "" && strings.TrimSpace(c.Admin.TokenFile) == "" {
		return fmt.Errorf("admin.token_file: %q is not a file name", c.Admin.TokenFile)
	}
	if err := c.Indices.validate(); err != nil {
		return err
	}
	if err := c.Kafka.Validate("kafka"); err != nil {
		return err
	}
	k := c.Consume
	switch {
	case len(k.Topics) == 0:
		return fmt.Errorf("consume.topics: at least one topic is required")
	case k.DLQTopic == "":
		return fmt.Errorf("consume.dlq_topic: required")
	case k.DLQRetention < time.Minute:
		return fmt.Errorf("consume.dlq_retention: must be at least 1m, got %s", k.DLQRetention)
	case k.StartFrom != "earliest" && k.StartFrom != "latest":
		return fmt.Errorf("consume.start_from: must be earliest or latest, got %q", k.StartFrom)
	case k.FetchMaxBytes < 1024:
		return fmt.Errorf("consume.fetch_max_bytes: must be at least 1024, got %d", k.FetchMaxBytes)
	case k.FetchMaxPartitionBytes < 1024 || k.FetchMaxPartitionBytes > k.FetchMaxBytes:
		return fmt.Errorf("consume.fetch_max_partition_bytes: must be between 1024 and consume.fetch_max_bytes, got %d", k.FetchMaxPartitionBytes)
	case k.FetchMaxWait <= 0:
		return fmt.Errorf("consume.fetch_max_wait: must be positive, got %s", k.FetchMaxWait)
	case k.MaxConcurrentFetches < 1:
		return fmt.Errorf("consume.max_concurrent_fetches: must be at least 1, got %d", k.MaxConcurrentFetches)
	case k.MaxPartitionBufferedBytes <= 0:
		return fmt.Errorf("consume.max_partition_buffered_bytes: must be positive, got %d", k.MaxPartitionBufferedBytes)
	case k.MaxBufferedBytes < k.MaxPartitionBufferedBytes:
		return fmt.Errorf("consume.max_buffered_bytes: must be at least consume.max_partition_buffered_bytes (%d), got %d", k.MaxPartitionBufferedBytes, k.MaxBufferedBytes)
	case k.CommitInterval <= 0:
		return fmt.Errorf("consume.commit_interval: must be positive, got %s", k.CommitInterval)
	case k.SessionTimeout <= 0:
		return fmt.Errorf("consume.session_timeout: must be positive, got %s", k.SessionTimeout)
	case k.RebalanceTimeout <= c.Limits.ShutdownTimeout:
		return fmt.Errorf("consume.rebalance_timeout: must exceed limits.shutdown_timeout (%s), got %s", c.Limits.ShutdownTimeout, k.RebalanceTimeout)
	case k.HeartbeatInterval <= 0 || k.HeartbeatInterval >= k.SessionTimeout:
		return fmt.Errorf("consume.heartbeat_interval: must be positive and below consume.session_timeout (%s), got %s", k.SessionTimeout, k.HeartbeatInterval)
	case k.InstanceID != "" && !validInstanceID(k.InstanceID):
		return fmt.Errorf("consume.instance_id: %q must be at most 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'", k.InstanceID)
	case k.LagInterval <= 0:
		return fmt.Errorf("consume.lag_interval: must be positive, got %s", k.LagInterval)
	case k.ChunkTimeout < time.Second:
		return fmt.Errorf("consume.chunk_timeout: must be at least 1s (more than the proxies' publish.timeout), got %s", k.ChunkTimeout)
	}
	for _, t := range k.Topics {
		if t == "" {
			return fmt.Errorf("consume.topics: empty topic name")
		}
		if dlq := c.dlqTopic(t); dlq == t {
			return fmt.Errorf("consume.dlq_topic: %q would dead-letter into the source topic %s", k.DLQTopic, t)
		}
	}
	b := c.Batch
	switch {
	case b.MaxDocs < 1:
		return fmt.Errorf("batch.max_docs: must be at least 1, got %d", b.MaxDocs)
	case b.MaxBytes < 1024:
		return fmt.Errorf("batch.max_bytes: must be at least 1024, got %d", b.MaxBytes)
	case b.Linger < 0:
		return fmt.Errorf("batch.linger: must not be negative, got %s", b.Linger)
	case b.CombineWindow < 0:
		return fmt.Errorf("batch.combine_window: must not be negative, got %s", b.CombineWindow)
	case b.MaxInflight < 1:
		return fmt.Errorf("batch.max_inflight: must be at least 1, got %d", b.MaxInflight)
	}
	r := c.Retry
	switch {
	case r.Initial <= 0:
		return fmt.Errorf("retry.initial: must be positive, got %s", r.Initial)
	case r.Max < r.Initial:
		return fmt.Errorf("retry.max: must be at least retry.initial (%s), got %s", r.Initial, r.Max)
	case r.ItemAttempts < 1:
		return fmt.Errorf("retry.item_attempts: must be at least 1, got %d", r.ItemAttempts)
	}
	switch d := c.Deletes; {
	case d.Window < time.Second:
		return fmt.Errorf("deletes.window: must be at least 1s (the proxies' publish.timeout plus clock skew), got %s", d.Window)
	case d.MaxEntries < 1000:
		return fmt.Errorf("deletes.max_entries: must be at least 1000, got %d", d.MaxEntries)
	}
	l := c.Limits
	switch {
	case l.ShutdownTimeout <= 0:
		return fmt.Errorf("limits.shutdown_timeout: must be positive, got %s", l.ShutdownTimeout)
	case l.BulkTimeout <= 0:
		return fmt.Errorf("limits.bulk_timeout: must be positive, got %s", l.BulkTimeout)
	case l.ProbeInterval <= 0:
		return fmt.Errorf("limits.probe_interval: must be positive, got %s", l.ProbeInterval)
	case l.MaxDocumentBytes < 1024:
		return fmt.Errorf("limits.max_document_bytes: must be at least 1024, got %d", l.MaxDocumentBytes)
	}
	for _, p := range c.Metadata.IgnoreSettings {
		if strings.TrimSpace(p) == "" {
			return fmt.Errorf("metadata.ignore_settings: empty pattern")
		}
	}
	for _, p := range c.Metadata.CompareSettings {
		if strings.TrimSpace(p) == "" {
			return fmt.Errorf("metadata.compare_settings: empty pattern")
		}
	}
	return c.Log.Validate()
}

func (c IndicesConfig) validate() error {
	if len(c.Include) == 0 {
		return fmt.Errorf(`indices.include: at least one pattern is required ("*" for every index)`)
	}
	for _, p := range c.Include {
		if err := CheckIndexPattern(p); err != nil {
			return fmt.Errorf("indices.include: %w", err)
		}
	}
	for _, p := range c.Exclude {
		if err := CheckIndexPattern(p); err != nil {
			return fmt.Errorf("indices.exclude: %w", err)
		}
	}
	if !strings.Contains(c.Rename, "{index}") {
		return fmt.Errorf(`indices.rename: %q must contain {index} (e.g. "{index}" or "{index}-dr"), or documents of different indices would collide`, c.Rename)
	}
	if strings.ContainsAny(c.Rename, "/\\*?\"<>| ,#") {
		return fmt.Errorf("indices.rename: %q contains a character index names cannot have", c.Rename)
	}
	return nil
}

// PrimaryEnabled says whether the replicator reads the primary (primary.endpoints is
// set) to resolve late events.
func (c Config) PrimaryEnabled() bool { return len(c.Primary.Endpoints) > 0 }

// GroupName is the consumer group: consume.group or fanout-replicator-<target.name>.
func (c Config) GroupName() string {
	if c.Consume.Group != "" {
		return c.Consume.Group
	}
	return "fanout-replicator-" + c.Target.Name
}

// dlqTopic is the dead-letter topic for a source topic.
func (c Config) dlqTopic(topic string) string {
	return DLQTopic(c.Consume.DLQTopic, topic, c.Target.Name)
}

// DLQTopic renders a dead-letter topic template ({topic}, {cluster}) for a source topic
// and a target cluster name: DLQTopic("{topic}.dlq.{cluster}", "fanout.ops", "b") is
// "fanout.ops.dlq.b".
func DLQTopic(template, topic, cluster string) string {
	return strings.NewReplacer("{topic}", topic, "{cluster}", cluster).Replace(template)
}

// validInstanceID applies Kafka's rules for group.instance.id.
func validInstanceID(id string) bool {
	if len(id) > 249 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (c AntiEntropyConfig) validate(primary bool) error {
	if !c.Enabled {
		return nil
	}
	if !primary {
		return fmt.Errorf("anti_entropy.enabled: needs primary.endpoints (the target is compared with the primary)")
	}
	if c.Interval < time.Second {
		return fmt.Errorf("anti_entropy.interval: must be at least 1s, got %s", c.Interval)
	}
	if c.MaxDocsPerS <= 0 || math.IsInf(c.MaxDocsPerS, 0) || math.IsNaN(c.MaxDocsPerS) {
		return fmt.Errorf("anti_entropy.max_docs_per_s: must be a positive number (the rate is always bounded), got %v", c.MaxDocsPerS)
	}
	if _, err := converge.ParseMode(c.Mode); err != nil {
		return fmt.Errorf("anti_entropy.mode: %w", err)
	}
	if c.MaxDiffs < 1 {
		return fmt.Errorf("anti_entropy.max_diffs: must be at least 1, got %d", c.MaxDiffs)
	}
	if c.SettleTimeout <= 0 {
		return fmt.Errorf("anti_entropy.settle_timeout: must be positive, got %s", c.SettleTimeout)
	}
	return nil
}
