package proxy

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/pkg/cluster"
	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/telemetry"
)

// Config is the proxy's configuration (YAML file, FANOUT_* env, flags).
type Config struct {
	// Listen is where clients connect. The default, 127.0.0.1:9200, reaches only local
	// clients; ":9200" or "0.0.0.0:9200" is every interface (logged loudly without TLS).
	Listen string `koanf:"listen"`
	// AdvertiseAddress (host:port) is the HTTP address the proxy gives sniffing
	// clients for every node in nodes info answers; "" means the address each client
	// connected to (nodesinfo.go). Set it behind a load balancer or port mapping.
	AdvertiseAddress string `koanf:"advertise_address"`
	// MetricsListen serves /metrics, /healthz and /readyz; "" turns it off.
	MetricsListen string `koanf:"metrics_listen"`
	// Admin serves Go's profiles (/debug/pprof/) behind a guard, off by default.
	Admin AdminConfig `koanf:"admin"`
	// ClusterName names the primary in every event (source_cluster).
	ClusterName string `koanf:"cluster_name"`
	// Primary is the cluster clients write to through the proxy.
	Primary cluster.Config `koanf:"primary"`
	// Fallback, when it has endpoints, answers read-only calls while the primary is
	// unreachable. Writes never fail over.
	Fallback cluster.Config      `koanf:"fallback"`
	Kafka    kafkax.Config       `koanf:"kafka"`
	Publish  PublishConfig       `koanf:"publish"`
	Limits   Limits              `koanf:"limits"`
	Spool    SpoolConfig         `koanf:"spool"`
	Log      telemetry.LogConfig `koanf:"log"`

	// Auth decides how clients authenticate and whose credentials reach the primary
	// (auth.go).
	Auth AuthConfig `koanf:"auth"`
	// TLS serves the client listener over TLS (listener.go).
	TLS ListenerTLS `koanf:"tls"`
	// Recovery keeps an intent log so that a proxy killed between the primary's answer
	// and Kafka's acknowledgement loses nothing (intent.go, recovery.go).
	Recovery RecoveryConfig `koanf:"recovery"`
}

// RecoveryConfig configures crash recovery.
type RecoveryConfig struct {
	// Dir holds the intent log; "" turns recovery off. One proxy per directory (a lock
	// file enforces it); keep it on a disk that survives the process (a volume of the
	// pod, not its tmpfs), and give a restarted proxy the same one.
	Dir string `koanf:"dir"`
	// Settle is how long a restarted proxy waits before it reads the documents of the
	// intents its predecessor left open. A killed proxy's connections close, but the
	// primary does not cancel a write whose client went away: a bulk sent just before
	// the kill may still be running. Read too early, a document would show its state
	// before that write, which would then never be published. Settle bounds that race;
	// a write still running after it is not covered (README).
	Settle time.Duration `koanf:"settle"`
}

// PublishConfig configures how events reach Kafka.
type PublishConfig struct {
	Topic string `koanf:"topic"`
	// Timeout bounds the wait for Kafka to acknowledge a request's events; past it the
	// client gets a 503 fanout_replication_exception.
	Timeout time.Duration `koanf:"timeout"`
	// Compression of produce batches: lz4 (default: cheapest CPU per byte), zstd,
	// snappy, gzip or none.
	Compression string `koanf:"compression"`
	// Linger delays a produce batch to fill it. The proxy waits for every request's
	// acknowledgement, so linger is latency the client pays; the producer batches
	// anyway while earlier requests are in flight. Default 0 (measured: a 1,000-event
	// request waits 4.9 ms with 0 against 8.1 ms with 2ms, at higher throughput).
	Linger time.Duration `koanf:"linger"`
	// MaxBufferedBytes caps the events waiting for Kafka; a full buffer makes
	// requests wait (up to Timeout), never grows memory.
	MaxBufferedBytes int64 `koanf:"max_buffered_bytes"`
	// MaxRecordBytes is the largest record (and produce batch); keep it within the
	// topic's max.message.bytes. An INDEX event whose record would be larger is
	// published as a chunk group of records that each fit (pkg/event.Split).
	MaxRecordBytes int32 `koanf:"max_record_bytes"`
	// MaxDocumentBytes is the largest document the proxy lets through to be
	// replicated: an index or create whose document is larger is refused with 413
	// before the primary is called, never applied unreplicated. Keep it at or below
	// the replicators' limits.max_document_bytes and the targets'
	// http.max_content_length. 0 means limits.max_body_bytes.
	MaxDocumentBytes int64 `koanf:"max_document_bytes"`
	// ReadBack decides which index and create events carry a document read back from
	// the primary after the write rather than the request's (stored.go): auto (non-JSON
	// bodies and ingest pipelines) or always (every index and create).
	ReadBack string `koanf:"read_back"`
	// PipelineSettingsTTL is how long read_back auto trusts what it read of an index's
	// default and final pipeline settings.
	PipelineSettingsTTL time.Duration `koanf:"pipeline_settings_ttl"`
	// TransactionalID is the Kafka transactional id of the producer of metadata
	// changes (metapublish.go), whose copies on every partition are one transaction.
	// Two live proxies must never share one: the later fences the earlier. "" (the
	// default) makes one per process: "fanout-proxy-" + hostname + "-" + 8 random
	// hex digits. A fixed id per instance (a StatefulSet's pod name) lets a restarted
	// proxy abort at once the change its predecessor left open, instead of readers
	// waiting for the transaction timeout.
	TransactionalID string `koanf:"transactional_id"`
}

// maxDocumentBytes is publish.max_document_bytes with its default.
func (c Config) maxDocumentBytes() int64 {
	if c.Publish.MaxDocumentBytes > 0 {
		return c.Publish.MaxDocumentBytes
	}
	return c.Limits.MaxBodyBytes
}

// Limits protect the proxy and the primary.
type Limits struct {
	MaxBodyBytes          int64         `koanf:"max_body_bytes"`
	MaxConcurrentRequests int           `koanf:"max_concurrent_requests"`
	ReadHeaderTimeout     time.Duration `koanf:"read_header_timeout"`
	// ShutdownTimeout bounds the wait for in-flight requests and the producer flush.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	// ReadinessInterval is how often the primary is probed for /readyz.
	ReadinessInterval time.Duration `koanf:"readiness_interval"`

	// Memory and slow clients.
	//
	// MaxInflightBytes is the memory all requests in flight may hold: their bodies as
	// they arrive (inflated), a bulk's per-item state, the primary's answers. A request
	// that finds no room waits up to InflightWait, then gets 429 with Retry-After; one
	// that needs more than all of it gets 413. An eighth is kept for requests under
	// 64 KiB.
	MaxInflightBytes int64         `koanf:"max_inflight_bytes"`
	InflightWait     time.Duration `koanf:"inflight_wait"`
	// BodyTimeout is the time a client has to send its request body, extended by one
	// second for every BodyMinRate bytes it sent; past it: 408. The concurrency slot is
	// taken only once the body is in, so a slow body holds nobody else up.
	BodyTimeout time.Duration `koanf:"body_timeout"`
	BodyMinRate int64         `koanf:"body_min_rate"`
	// IdleTimeout closes keep-alive connections idle that long.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// MaxHeaderBytes caps the request line and headers (431 past it).
	MaxHeaderBytes int `koanf:"max_header_bytes"`
}

// AdminConfig is the proxy's admin listener: /debug/pprof/ only, refused to other
// origins and, with TokenFile, to callers without the bearer token (as the
// replicator's admin listener).
type AdminConfig struct {
	// Listen is its address; "" (the default) turns it off.
	Listen string `koanf:"listen"`
	// TokenFile names a file holding the bearer token every request must carry.
	TokenFile string `koanf:"token_file"`
}

// DefaultConfig returns the defaults every other source overrides.
func DefaultConfig() Config {
	return Config{
		Listen:        "127.0.0.1:9200",
		MetricsListen: ":9464",
		ClusterName:   "primary",
		Primary: cluster.Config{
			Name:      "primary",
			Endpoints: []string{"http://127.0.0.1:9201"},
			Timeout:   2 * time.Minute,
		},
		Fallback: cluster.Config{Name: "fallback", Timeout: time.Minute},
		Kafka:    kafkax.Config{Brokers: []string{"127.0.0.1:9092"}, ClientID: "fanout-proxy"},
		Publish: PublishConfig{
			Topic:            "fanout.ops",
			Timeout:          10 * time.Second,
			Compression:      "lz4",
			Linger:           0,
			MaxBufferedBytes: 256 << 20,
			MaxRecordBytes:   1 << 20,

			ReadBack:            ReadBackAuto,
			PipelineSettingsTTL: 30 * time.Second,
		},
		Limits: Limits{
			MaxBodyBytes:          100 << 20,
			MaxConcurrentRequests: 512,
			ReadHeaderTimeout:     30 * time.Second,
			ShutdownTimeout:       30 * time.Second,
			ReadinessInterval:     5 * time.Second,

			MaxInflightBytes: 512 << 20,
			InflightWait:     time.Second,
			BodyTimeout:      30 * time.Second,
			BodyMinRate:      16 << 10,
			IdleTimeout:      2 * time.Minute,
			MaxHeaderBytes:   64 << 10,
		},
		Spool: SpoolConfig{MaxBytes: 1 << 30, MaxAge: 24 * time.Hour, KafkaWait: 2 * time.Second, DrainTimeout: 30 * time.Second},
		Log:   telemetry.LogConfig{Level: "info", Format: "json"},

		Auth: AuthConfig{Mode: AuthPassthrough},
		TLS:  ListenerTLS{ClientAuth: "none"},

		Recovery: RecoveryConfig{Settle: 10 * time.Second},
	}
}

// Validate checks the configuration and names the key at fault.
func (c Config) Validate() error {
	if c.Listen == "" {
		return fmt.Errorf("listen: required")
	}
	if err := validateAdvertise(c.AdvertiseAddress); err != nil {
		return err
	}
	// Port 0 is a free port each: two listeners, not a conflict.
	if a := c.Admin.Listen; a != "" && !strings.HasSuffix(a, ":0") && (a == c.Listen || a == c.MetricsListen) {
		return fmt.Errorf("admin.listen: %q is listen or metrics_listen too; the admin routes need a listener of their own", a)
	}
	if c.Admin.TokenFile != "" && strings.TrimSpace(c.Admin.TokenFile) == "" {
		return fmt.Errorf("admin.token_file: %q is not a file name", c.Admin.TokenFile)
	}
	if c.ClusterName == "" {
		return fmt.Errorf("cluster_name: required")
	}
	if err := c.Primary.Validate("primary"); err != nil {
		return err
	}
	if len(c.Fallback.Endpoints) > 0 {
		if err := c.Fallback.Validate("fallback"); err != nil {
			return err
		}
	}
	if err := c.Kafka.Validate("kafka"); err != nil {
		return err
	}
	if err := c.validateAuth(); err != nil {
		return err
	}
	if err := c.TLS.validate(); err != nil {
		return err
	}
	p := c.Publish
	switch {
	case p.Topic == "":
		return fmt.Errorf("publish.topic: required")
	case p.Timeout < time.Second:
		// The Kafka client refuses shorter record delivery timeouts.
		return fmt.Errorf("publish.timeout: must be at least 1s, got %s", p.Timeout)
	case p.Linger < 0:
		return fmt.Errorf("publish.linger: must not be negative")
	case p.MaxBufferedBytes <= 0:
		return fmt.Errorf("publish.max_buffered_bytes: must be positive")
	case p.MaxRecordBytes < 4096:
		// Pieces of a chunked event must leave room beside the event's fields (an id
		// of up to 512 bytes, index, routing…).
		return fmt.Errorf("publish.max_record_bytes: must be at least 4096, got %d", p.MaxRecordBytes)
	case p.MaxDocumentBytes < 0:
		return fmt.Errorf("publish.max_document_bytes: must not be negative (0: limits.max_body_bytes)")
	case p.ReadBack != ReadBackAuto && p.ReadBack != ReadBackAlways:
		return fmt.Errorf("publish.read_back: must be %s or %s, got %q", ReadBackAuto, ReadBackAlways, p.ReadBack)
	case p.PipelineSettingsTTL <= 0:
		return fmt.Errorf("publish.pipeline_settings_ttl: must be positive, got %s", p.PipelineSettingsTTL)
	}
	if _, err := compression(p.Compression); err != nil {
		return err
	}
	l := c.Limits
	switch {
	case l.MaxBodyBytes <= 0:
		return fmt.Errorf("limits.max_body_bytes: must be positive")
	case l.MaxConcurrentRequests <= 0:
		return fmt.Errorf("limits.max_concurrent_requests: must be positive")
	case l.ShutdownTimeout <= 0:
		return fmt.Errorf("limits.shutdown_timeout: must be positive")
	case l.ReadinessInterval <= 0:
		return fmt.Errorf("limits.readiness_interval: must be positive")
	}
	if err := l.validateMemory(); err != nil {
		return err
	}
	if c.Recovery.Settle < 0 {
		return fmt.Errorf("recovery.settle: must not be negative, got %s", c.Recovery.Settle)
	}
	if err := c.Spool.validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

// validateAuth checks the auth block against the clusters' credentials: in passthrough
// mode the proxy has none of its own, so that a client without credentials (or with
// wrong ones) is never let in on the proxy's.
func (c Config) validateAuth() error {
	if err := c.Auth.validate(); err != nil {
		return err
	}
	if c.Auth.Mode != AuthPassthrough {
		return nil
	}
	for _, cl := range []struct {
		key string
		cfg cluster.Config
	}{{"primary", c.Primary}, {"fallback", c.Fallback}} {
		if key := ownCredentials(cl.cfg); key != "" {
			return fmt.Errorf("%s.%s: the proxy's own credentials are used only with auth.mode: proxy; "+
				"with auth.mode: passthrough (the default) each client's own credentials reach the cluster, "+
				"and the proxy would lend its own to clients without any. Remove them, or set auth.mode: proxy "+
				"with auth.users_file or auth.api_keys_file", cl.key, key)
		}
	}
	return nil
}

// ownCredentials names the key that gives a cluster configuration credentials of its
// own, "" if none does; credentials in an endpoint URL count (the client sends them).
func ownCredentials(c cluster.Config) string {
	switch {
	case c.Username != "":
		return "username"
	case c.Password != "":
		return "password"
	case c.PasswordFile != "":
		return "password_file"
	case c.APIKey != "":
		return "api_key"
	case c.APIKeyFile != "":
		return "api_key_file"
	}
	for _, e := range c.Endpoints {
		if u, err := url.Parse(e); err == nil && u.User != nil {
			return "endpoints"
		}
	}
	return ""
}

// validateMemory checks the memory and slow-client limits.
func (l Limits) validateMemory() error {
	switch {
	case l.MaxInflightBytes < 2*l.MaxBodyBytes:
		return fmt.Errorf("limits.max_inflight_bytes: must be at least twice limits.max_body_bytes (%d), got %d", l.MaxBodyBytes, l.MaxInflightBytes)
	case l.InflightWait < 0:
		return fmt.Errorf("limits.inflight_wait: must not be negative")
	case l.BodyTimeout <= 0:
		return fmt.Errorf("limits.body_timeout: must be positive")
	case l.BodyMinRate <= 0:
		return fmt.Errorf("limits.body_min_rate: must be positive (bytes per second)")
	case l.IdleTimeout <= 0:
		return fmt.Errorf("limits.idle_timeout: must be positive")
	case l.MaxHeaderBytes < 4096:
		return fmt.Errorf("limits.max_header_bytes: must be at least 4096")
	}
	return nil
}
