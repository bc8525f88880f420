package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/config"
)

type kafkaConfig struct {
	Brokers        []string      `koanf:"brokers"`
	Topic          string        `koanf:"topic"`
	PublishTimeout time.Duration `koanf:"publish_timeout"`
	Password       string        `koanf:"password" secret:"true"`
}

type testConfig struct {
	Listen       string      `koanf:"listen"`
	MaxBodyBytes int64       `koanf:"max_body_bytes"`
	Debug        bool        `koanf:"debug"`
	Kafka        kafkaConfig `koanf:"kafka"`
}

func defaults() testConfig {
	return testConfig{
		Listen:       ":9200",
		MaxBodyBytes: 100 << 20,
		Kafka:        kafkaConfig{Brokers: []string{"a:9092", "b:9092"}, Topic: "fanout.ops", PublishTimeout: 10 * time.Second},
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fanout.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  []string
		flag map[string]any
		want func(*testConfig)
	}{
		{name: "defaults only", want: func(*testConfig) {}},
		{
			name: "file overrides defaults; a shorter list replaces the default list",
			file: "listen: 127.0.0.1:1\nkafka:\n  brokers: [c:9092]\n  publish_timeout: 3s\n",
			want: func(c *testConfig) {
				c.Listen = "127.0.0.1:1"
				c.Kafka.Brokers = []string{"c:9092"}
				c.Kafka.PublishTimeout = 3 * time.Second
			},
		},
		{
			name: "env overrides file",
			file: "listen: 127.0.0.1:1\n",
			env:  []string{"FANOUT_LISTEN=127.0.0.1:2", "FANOUT_KAFKA_BROKERS=x:1, y:2", "FANOUT_MAX_BODY_BYTES=42", "FANOUT_DEBUG=true", "HOME=/root"},
			want: func(c *testConfig) {
				c.Listen = "127.0.0.1:2"
				c.Kafka.Brokers = []string{"x:1", "y:2"}
				c.MaxBodyBytes = 42
				c.Debug = true
			},
		},
		{
			name: "flags override env",
			env:  []string{"FANOUT_LISTEN=127.0.0.1:2"},
			flag: map[string]any{"listen": "127.0.0.1:3", "kafka.publish_timeout": "250ms"},
			want: func(c *testConfig) {
				c.Listen = "127.0.0.1:3"
				c.Kafka.PublishTimeout = 250 * time.Millisecond
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Sources{Environ: tt.env, Flags: tt.flag}
			if tt.file != "" {
				src.File = writeFile(t, tt.file)
			}
			got := defaults()
			if _, err := config.Load(&got, src); err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := defaults()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		env     []string
		flag    map[string]any
		strict  bool
		wantErr string
	}{
		{name: "unknown top-level key", file: "listn: x\n", wantErr: "unknown key listn"},
		{name: "unknown nested key", file: "kafka:\n  brokerz: [a]\n", wantErr: "unknown key kafka.brokerz"},
		{name: "unknown env, strict", env: []string{"FANOUT_KAFKA_BROKERZ=a"}, strict: true,
			wantErr: "unknown environment variable FANOUT_KAFKA_BROKERZ (did you mean FANOUT_KAFKA_BROKERS?)"},
		{name: "unknown env, strict by env", env: []string{"FANOUT_KAFKA_BROKERZ=a", "FANOUT_STRICT_ENV=true"},
			wantErr: "unknown environment variable FANOUT_KAFKA_BROKERZ"},
		{name: "unknown env, strict by file", file: "strict_env: true\n", env: []string{"FANOUT_KAFKA_BROKERZ=a"},
			wantErr: "unknown environment variable FANOUT_KAFKA_BROKERZ"},
		{name: "bad strict_env", file: "strict_env: maybe\n", wantErr: "strict_env"},
		{name: "bad FANOUT_STRICT_ENV", env: []string{"FANOUT_STRICT_ENV=sometimes"}, wantErr: "FANOUT_STRICT_ENV"},
		{name: "unknown flag key", flag: map[string]any{"nope": 1}, wantErr: `unknown flag key "nope"`},
		{name: "bad duration", file: "kafka:\n  publish_timeout: soon\n", wantErr: "publish_timeout"},
		{name: "bad number", env: []string{"FANOUT_MAX_BODY_BYTES=lots"}, wantErr: "max_body_bytes"},
		{name: "bad yaml", file: "listen: [\n", wantErr: "fanout.yaml"},
		{name: "missing file", file: "-", wantErr: "reading"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Sources{Environ: tt.env, Flags: tt.flag, StrictEnv: tt.strict}
			switch tt.file {
			case "":
			case "-":
				src.File = filepath.Join(t.TempDir(), "absent.yaml")
			default:
				src.File = writeFile(t, tt.file)
			}
			cfg := defaults()
			_, err := config.Load(&cfg, src)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestPrintRedactsSecrets(t *testing.T) {
	cfg := defaults()
	cfg.Kafka.Password = "hunter2"
	var b bytes.Buffer
	if err := config.Print(&b, cfg); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "hunter2") || !strings.Contains(out, "password: "+config.Redacted) {
		t.Fatalf("secret not redacted:\n%s", out)
	}
	if !strings.Contains(out, "publish_timeout: 10s") || !strings.Contains(out, "- a:9092") {
		t.Fatalf("unexpected rendering:\n%s", out)
	}
}

func TestEnvName(t *testing.T) {
	if got := config.EnvName("kafka.publish_timeout"); got != "FANOUT_KAFKA_PUBLISH_TIMEOUT" {
		t.Fatalf("EnvName = %s", got)
	}
}

func TestSecretValue(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(p, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ value, file, want string }{
		{"inline", p, "inline"},
		{"", p, "s3cret"},
		{"", "", ""},
	} {
		got, err := config.SecretValue(tt.value, tt.file)
		if err != nil || got != tt.want {
			t.Errorf("SecretValue(%q, %q) = %q, %v; want %q", tt.value, tt.file, got, err, tt.want)
		}
	}
	if _, err := config.SecretValue("", filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("want an error for a missing secret file")
	}
}
