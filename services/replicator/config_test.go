package replicator_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/services/replicator"
)

func validConfig() replicator.Config {
	cfg := replicator.DefaultConfig()
	cfg.Target.Name = "b"
	cfg.Target.Endpoints = []string{"http://127.0.0.1:9202"}
	return cfg
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*replicator.Config)
		want   string // "" means valid
	}{
		{name: "defaults with a target", mutate: func(*replicator.Config) {}},
		{name: "no target name", mutate: func(c *replicator.Config) { c.Target.Name = "" }, want: "target.name"},
		{name: "target name with a slash", mutate: func(c *replicator.Config) { c.Target.Name = "a/b" }, want: "target.name"},
		{name: "no endpoints", mutate: func(c *replicator.Config) { c.Target.Endpoints = nil }, want: "target.endpoints"},
		{name: "bad endpoint", mutate: func(c *replicator.Config) { c.Target.Endpoints = []string{"ftp://x"} }, want: "target.endpoints"},
		{name: "primary", mutate: func(c *replicator.Config) {
			c.Primary.Endpoints = []string{"https://primary:9200"}
			c.Primary.Username = "u"
		}},
		{name: "bad primary endpoint", mutate: func(c *replicator.Config) { c.Primary.Endpoints = []string{"primary:9200"} }, want: "primary.endpoints"},
		{name: "primary credentials without endpoints", mutate: func(c *replicator.Config) { c.Primary.APIKeyFile = "/key" }, want: "primary.endpoints: required"},
		{name: "zero late window", mutate: func(c *replicator.Config) { c.LateEvents.Window = 0 }, want: "late_events.window"},
		{name: "no include", mutate: func(c *replicator.Config) { c.Indices.Include = nil }, want: "indices.include"},
		{name: "bad include glob", mutate: func(c *replicator.Config) { c.Indices.Include = []string{"logs-["} }, want: "indices.include"},
		{name: "bad exclude glob", mutate: func(c *replicator.Config) { c.Indices.Exclude = []string{"["} }, want: "indices.exclude"},
		{name: "question mark in include", mutate: func(c *replicator.Config) { c.Indices.Include = []string{"metr?cs"} }, want: "indices.include: \"metr?cs\": only * is a wildcard"},
		{name: "empty exclude", mutate: func(c *replicator.Config) { c.Indices.Exclude = []string{""} }, want: "indices.exclude"},
		{name: "empty ignored setting", mutate: func(c *replicator.Config) { c.Metadata.IgnoreSettings = []string{" "} }, want: "metadata.ignore_settings"},
		{name: "empty compared setting", mutate: func(c *replicator.Config) { c.Metadata.CompareSettings = []string{""} }, want: "metadata.compare_settings"},
		{name: "rename without placeholder", mutate: func(c *replicator.Config) { c.Indices.Rename = "all" }, want: "indices.rename"},
		{name: "rename with a bad character", mutate: func(c *replicator.Config) { c.Indices.Rename = "{index}*" }, want: "indices.rename"},
		{name: "rename suffix", mutate: func(c *replicator.Config) { c.Indices.Rename = "{index}-dr" }},
		{name: "no brokers", mutate: func(c *replicator.Config) { c.Kafka.Brokers = nil }, want: "kafka.brokers"},
		{name: "no topics", mutate: func(c *replicator.Config) { c.Consume.Topics = nil }, want: "consume.topics"},
		{name: "dlq into the source", mutate: func(c *replicator.Config) { c.Consume.DLQTopic = "{topic}" }, want: "consume.dlq_topic"},
		{name: "start from middle", mutate: func(c *replicator.Config) { c.Consume.StartFrom = "middle" }, want: "consume.start_from"},
		{name: "partition cap above total", mutate: func(c *replicator.Config) { c.Consume.MaxBufferedBytes = 1 << 20 }, want: "consume.max_buffered_bytes"},
		{name: "no partition cap", mutate: func(c *replicator.Config) { c.Consume.MaxPartitionBufferedBytes = 0 }, want: "consume.max_partition_buffered_bytes"},
		{name: "fetch partition above fetch", mutate: func(c *replicator.Config) { c.Consume.FetchMaxPartitionBytes = c.Consume.FetchMaxBytes + 1 }, want: "consume.fetch_max_partition_bytes"},
		{name: "no concurrent fetches", mutate: func(c *replicator.Config) { c.Consume.MaxConcurrentFetches = 0 }, want: "consume.max_concurrent_fetches"},
		{name: "rebalance shorter than shutdown", mutate: func(c *replicator.Config) { c.Consume.RebalanceTimeout = time.Second }, want: "consume.rebalance_timeout"},
		{name: "heartbeat not below session", mutate: func(c *replicator.Config) { c.Consume.HeartbeatInterval = c.Consume.SessionTimeout }, want: "consume.heartbeat_interval"},
		{name: "instance id with a slash", mutate: func(c *replicator.Config) { c.Consume.InstanceID = "pod/0" }, want: "consume.instance_id"},
		{name: "instance id from a pod name", mutate: func(c *replicator.Config) { c.Consume.InstanceID = "fanout-replicator-b-0" }},
		{name: "zero commit interval", mutate: func(c *replicator.Config) { c.Consume.CommitInterval = 0 }, want: "consume.commit_interval"},
		{name: "zero max docs", mutate: func(c *replicator.Config) { c.Batch.MaxDocs = 0 }, want: "batch.max_docs"},
		{name: "tiny max bytes", mutate: func(c *replicator.Config) { c.Batch.MaxBytes = 10 }, want: "batch.max_bytes"},
		{name: "negative linger", mutate: func(c *replicator.Config) { c.Batch.Linger = -time.Second }, want: "batch.linger"},
		{name: "negative combine window", mutate: func(c *replicator.Config) { c.Batch.CombineWindow = -time.Millisecond }, want: "batch.combine_window"},
		{name: "zero inflight", mutate: func(c *replicator.Config) { c.Batch.MaxInflight = 0 }, want: "batch.max_inflight"},
		{name: "zero retry initial", mutate: func(c *replicator.Config) { c.Retry.Initial = 0 }, want: "retry.initial"},
		{name: "retry max below initial", mutate: func(c *replicator.Config) { c.Retry.Max = time.Millisecond }, want: "retry.max"},
		{name: "zero item attempts", mutate: func(c *replicator.Config) { c.Retry.ItemAttempts = 0 }, want: "retry.item_attempts"},
		{name: "delete window too short", mutate: func(c *replicator.Config) { c.Deletes.Window = time.Millisecond }, want: "deletes.window"},
		{name: "delete memory too small", mutate: func(c *replicator.Config) { c.Deletes.MaxEntries = 10 }, want: "deletes.max_entries"},
		{name: "zero shutdown timeout", mutate: func(c *replicator.Config) { c.Limits.ShutdownTimeout = 0 }, want: "limits.shutdown_timeout"},
		{name: "bad log level", mutate: func(c *replicator.Config) { c.Log.Level = "loud" }, want: "log.level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestGroupName(t *testing.T) {
	cfg := validConfig()
	if got := cfg.GroupName(); got != "fanout-replicator-b" {
		t.Errorf("GroupName = %q", got)
	}
	cfg.Consume.Group = "custom"
	if got := cfg.GroupName(); got != "custom" {
		t.Errorf("GroupName = %q", got)
	}
}

func TestMainExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", `target:
  name: dr-eu
  endpoints: [http://10.0.0.2:9200]
  username: fanout
  password: hunter2
kafka:
  brokers: [k1:9092]
indices:
  include: ["logs-*"]
  rename: "{index}-dr"
`)
	insecure := write("insecure.yaml", `target:
  name: dr-eu
  endpoints: [https://fanout:hunter2@10.0.0.2:9200]
  tls: {enabled: true, insecure_skip_verify: true}
kafka:
  brokers: [k1:9092]
  sasl: {mechanism: scram-sha-512, username: fanout, password: hunter3}
`)
	tests := []struct {
		name     string
		args     []string
		env      []string
		code     int
		stdout   []string
		noStdout []string
		stderr   string
	}{
		{name: "print config redacts secrets", args: []string{"--config", good, "--print-config"}, code: 0,
			stdout: []string{"name: dr-eu", "- http://10.0.0.2:9200", "password: REDACTED", "rename: '{index}-dr'", "dlq_topic: '{topic}.dlq.{cluster}'", "item_attempts: 3",
				"# WARNING target.endpoints: http://10.0.0.2:9200 uses http://, so the credentials configured for this cluster cross the network in clear"},
			noStdout: []string{"hunter2"}},
		{name: "print config redacts endpoint credentials and shows insecure settings", args: []string{"--config", insecure, "--print-config"}, code: 0,
			stdout: []string{
				"# WARNING target.tls.insecure_skip_verify: certificate verification is off",
				"# WARNING kafka.sasl.mechanism: scram-sha-512 without TLS",
				"- https://REDACTED@10.0.0.2:9200",
			}, noStdout: []string{"hunter2", "hunter3", "fanout:"}},
		{name: "env beats file, flag beats env", args: []string{"--config", good, "--print-config", "--target-name", "from-flag"},
			env: []string{"FANOUT_TARGET_NAME=from-env", "FANOUT_BATCH_MAX_DOCS=77"}, code: 0,
			stdout: []string{"name: from-flag", "max_docs: 77"}},
		{name: "metadata policy from env and file", args: []string{"--config", write("meta.yaml", "target:\n  name: m\n  endpoints: [http://h:9200]\nmetadata:\n  ignore_settings: [index.refresh_interval]\n"), "--print-config"},
			env: []string{"FANOUT_METADATA_REPLICATE_DELETES=false"}, code: 0,
			stdout: []string{"deletes: false", "data_streams: true", "- index.refresh_interval"}},
		{name: "primary from the flag, window from env", args: []string{"--print-config", "--target-name", "c", "--target", "http://h:9200", "--primary", "http://p1:9200,http://p2:9200"},
			env: []string{"FANOUT_LATE_EVENTS_WINDOW=20s"}, code: 0,
			stdout: []string{"- http://p1:9200", "- http://p2:9200", "window: 20s"}},
		{name: "late window past gc_deletes is warned about", args: []string{"--print-config", "--target-name", "c", "--target", "http://h:9200"},
			env: []string{"FANOUT_LATE_EVENTS_WINDOW=2m"}, code: 0, stdout: []string{"late_events.window: 2m0s is not below"}},
		{name: "flags alone", args: []string{"--print-config", "--target-name", "c", "--target", "http://h:9200", "--topics", "a,b"}, code: 0,
			stdout: []string{"- http://h:9200", "- a", "- b"}},
		{name: "unknown key names it", args: []string{"--config", write("bad.yaml", "batch:\n  max_dox: 1\n")}, code: 2, stderr: "unknown key batch.max_dox"},
		{name: "unknown env is warned about", args: []string{"--config", good, "--print-config"}, env: []string{"FANOUT_BATCH_MAXDOCS=1"}, code: 0,
			stderr: "warning: environment FANOUT_BATCH_MAXDOCS: names no configuration key and is ignored (did you mean FANOUT_BATCH_MAX_DOCS?)"},
		{name: "unknown env with --strict-env names it", args: []string{"--print-config", "--strict-env"}, env: []string{"FANOUT_BATCH_MAXDOCS=1"}, code: 2, stderr: "FANOUT_BATCH_MAXDOCS"},
		{name: "missing target name", args: []string{"--print-config"}, code: 2, stderr: "target.name"},
		{name: "invalid value names the key", args: []string{"--config", good, "--print-config"}, env: []string{"FANOUT_RETRY_ITEM_ATTEMPTS=0"}, code: 2, stderr: "retry.item_attempts"},
		{name: "bad duration", args: []string{"--config", good}, env: []string{"FANOUT_BATCH_LINGER=soon"}, code: 2, stderr: "linger"},
		{name: "bad flag", args: []string{"--nope"}, code: 2, stderr: "flag provided but not defined"},
		{name: "stray argument", args: []string{"--config", good, "extra"}, code: 2, stderr: "unexpected arguments"},
		{name: "missing file", args: []string{"--config", filepath.Join(dir, "absent.yaml")}, code: 2, stderr: "absent.yaml"},
		{name: "help", args: []string{"--help"}, code: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := replicator.Main(context.Background(), tt.args, tt.env, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, errb.String())
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tt.noStdout {
				if strings.Contains(out.String(), s) {
					t.Errorf("stdout shows %q", s)
				}
			}
			if tt.stderr != "" && !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.stderr)
			}
		})
	}
}

// TestMainRunsAndStops: a valid configuration runs until the context ends and exits 0.
func TestMainRunsAndStops(t *testing.T) {
	k := kafkatestCluster(t)
	target := startEmulator(t, "b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var out, errb lockedBuffer
	go func() {
		done <- replicator.Main(ctx, []string{"--target-name", "b", "--target", target.url,
			"--kafka-brokers", strings.Join(k.Addrs(), ","), "--metrics-listen", "127.0.0.1:0"},
			[]string{"FANOUT_LIMITS_SHUTDOWN_TIMEOUT=2s", "FANOUT_CONSUME_REBALANCE_TIMEOUT=5s"}, &out, &errb)
	}()
	waitFor(t, 20*time.Second, "the start line on stderr", func() bool {
		return strings.Contains(errb.String(), "fanout-replicator running")
	})
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; stderr: %s", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Main did not return after cancel")
	}
}

// lockedBuffer is a bytes.Buffer that a running Main writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStartupLogRedactsAndWarns: the replicator's start-up log names its target without
// the credentials written in its URL, and warns about each insecure setting.
func TestStartupLogRedactsAndWarns(t *testing.T) {
	file := filepath.Join(t.TempDir(), "replicator.yaml")
	body := "metrics_listen: \"\"\nadmin: {listen: \"\"}\n" +
		"target:\n  name: dr\n  endpoints: [http://fanout:hunter2@127.0.0.1:1]\n  tls: {enabled: true}\n" +
		"kafka:\n  brokers: [127.0.0.1:1]\n  sasl: {mechanism: plain, username: u, password: hunter3}\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // start, log, stop
	var out, errb bytes.Buffer
	replicator.Main(ctx, []string{"--config", file}, nil, &out, &errb)
	logs := errb.String()
	if strings.Contains(logs, "hunter2") || strings.Contains(logs, "hunter3") {
		t.Errorf("the log shows a secret:\n%s", logs)
	}
	for _, key := range []string{`"key":"target.tls"`, `"key":"target.endpoints"`, `"key":"kafka.sasl.mechanism"`} {
		if !strings.Contains(logs, key) {
			t.Errorf("no warning with %s:\n%s", key, logs)
		}
	}
	if !strings.Contains(logs, `"target":["http://REDACTED@127.0.0.1:1"]`) {
		t.Errorf("start-up line:\n%s", logs)
	}
}
