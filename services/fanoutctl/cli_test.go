package fanoutctl

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/buildinfo"
	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/services/replicator"
)

// TestExitCodes: usage and configuration errors exit 2 with one line on stderr,
// before anything is done; help exits 0.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknownKey := write("unknown.yaml", "target:\n  name: b\n  endpointz: [http://x:9200]\n")
	badYAML := write("bad.yaml", "target: [\n")
	cases := []struct {
		name    string
		args    []string
		environ []string
		code    int
		stderr  string // in the one line on stderr
	}{
		{name: "no command", args: nil, code: 2, stderr: "no command given"},
		{name: "unknown command", args: []string{"frob"}, code: 2, stderr: `unknown command "frob"`},
		{name: "help", args: []string{"help"}, code: 0},
		{name: "-h", args: []string{"-h"}, code: 0},
		{name: "command -h", args: []string{"status", "-h"}, code: 0},
		{name: "dlq without subcommand", args: []string{"dlq"}, code: 2, stderr: "dlq: which one?"},
		{name: "dlq unknown subcommand", args: []string{"dlq", "purge"}, code: 2, stderr: `unknown command "purge"`},
		{name: "topics without subcommand", args: []string{"topics", "--dry-run"}, code: 2, stderr: "topics: which one?"},
		{name: "unknown flag", args: []string{"status", "--frob"}, code: 2, stderr: "flag provided but not defined: -frob"},
		{name: "stray argument", args: []string{"status", "extra"}, code: 2, stderr: "unexpected arguments: extra"},
		{name: "bad output", args: []string{"status", "-o", "yaml"}, code: 2, stderr: "-o must be table or json"},
		{name: "dev bad flavor", args: []string{"dev", "--flavor", "solr"}, code: 2, stderr: `dev: --flavor "solr": want one of opensearch2, opensearch1`},
		{name: "missing config file", args: []string{"status", "--config", filepath.Join(dir, "nope.yaml")}, code: 2, stderr: "nope.yaml"},
		{name: "unknown config key", args: []string{"status", "--config", unknownKey}, code: 2, stderr: "unknown key target.endpointz"},
		{name: "bad yaml", args: []string{"status", "--config", badYAML}, code: 2, stderr: "bad.yaml"},
		{name: "unknown env var, --strict-env", args: []string{"status", "--strict-env"}, environ: []string{"FANOUT_FROB=1"}, code: 2, stderr: "unknown environment variable FANOUT_FROB"},
		{name: "bad broker", args: []string{"status", "--brokers", "nohost"}, code: 2, stderr: `kafka.brokers: "nohost" is not host:port`},
		{name: "dlq list needs a cluster", args: []string{"dlq", "list"}, code: 2, stderr: "--cluster is required"},
		{name: "bad cluster name", args: []string{"dlq", "list", "--cluster", "a/b"}, code: 2, stderr: "must not contain spaces or slashes"},
		{name: "bad since", args: []string{"dlq", "list", "--cluster", "b", "--since", "yesterday"}, code: 2, stderr: "--since"},
		{name: "until before since", args: []string{"dlq", "show", "--cluster", "b", "--since", "1h", "--until", "2h"}, code: 2, stderr: "--until must be after --since"},
		{name: "bad index glob", args: []string{"dlq", "list", "--cluster", "b", "--index", "[a"}, code: 2, stderr: "only * is a wildcard"},
		{name: "replay needs a target", args: []string{"dlq", "replay", "--cluster", "b"}, code: 2, stderr: "--target is required"},
		{name: "replay bad target", args: []string{"dlq", "replay", "--cluster", "b", "--target", "ftp://x"}, code: 2, stderr: "target.endpoints"},
		{name: "replay bad primary", args: []string{"dlq", "replay", "--cluster", "b", "--target", "http://x:9200", "--primary", "nope"}, code: 2, stderr: "primary.endpoints"},
		{name: "replay bad primary env", args: []string{"dlq", "replay", "--cluster", "b", "--target", "http://x:9200"},
			environ: []string{"FANOUT_PRIMARY_ENDPOINTS=nope"}, code: 2, stderr: "primary.endpoints"},
		{name: "replay unknown primary env, strict by env", args: []string{"dlq", "replay", "--cluster", "b", "--target", "http://x:9200"},
			environ: []string{"FANOUT_PRIMARY_FROB=1", "FANOUT_STRICT_ENV=true"}, code: 2, stderr: "unknown environment variable FANOUT_PRIMARY_FROB"},
		{name: "replay primary service links, strict", args: []string{"dlq", "replay", "--cluster", "b", "--target", "http://x:9200", "--primary", "nope", "--strict-env"},
			environ: []string{"FANOUT_PRIMARY_SERVICE_HOST=10.0.0.1", "FANOUT_PRIMARY_PORT=tcp://10.0.0.1:9200"}, code: 2, stderr: "primary.endpoints"},
		{name: "replay bad batch", args: []string{"dlq", "replay", "--cluster", "b", "--batch", "0"}, code: 2, stderr: "--batch"},
		{name: "replay bad limit", args: []string{"dlq", "replay", "--cluster", "b", "--limit", "-1"}, code: 2, stderr: "--limit"},
		{name: "pause needs a cluster", args: []string{"pause", "--admin", "127.0.0.1:1"}, code: 2, stderr: "--cluster is required"},
		{name: "pause needs an admin", args: []string{"pause", "--cluster", "b"}, code: 2, stderr: "--admin is required"},
		{name: "bad admin", args: []string{"resume", "--cluster", "b", "--admin", "nohost"}, code: 2, stderr: "neither host:port nor a URL"},
		{name: "topics bad partitions", args: []string{"topics", "create", "--partitions", "0"}, code: 2, stderr: "--partitions"},
		{name: "topics bad compression", args: []string{"topics", "create", "--compression", "brotli"}, code: 2, stderr: "--compression"},
		{name: "topics bad retention", args: []string{"topics", "create", "--retention", "1s"}, code: 2, stderr: "--retention"},
		{name: "dev bad replicas", args: []string{"dev", "--replicas", "0"}, code: 2, stderr: "--replicas"},
		{name: "dev bad replica url", args: []string{"dev", "--replica", "nope"}, code: 2, stderr: "not an http(s) URL"},
		{name: "dev bad kafka", args: []string{"dev", "--kafka", "nohost"}, code: 2, stderr: "--kafka"},
		{name: "version with an argument", args: []string{"--version", "extra"}, code: 2, stderr: "--version: unexpected arguments: extra"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(context.Background(), c.args, c.environ, &out, &errb)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out.String(), errb.String())
			}
			if c.stderr == "" {
				return
			}
			last := lastLine(errb.String())
			if !strings.HasPrefix(last, "fanoutctl: ") || !strings.Contains(last, c.stderr) {
				t.Fatalf("last stderr line %q, want it to say %q", last, c.stderr)
			}
		})
	}
}

// TestHelpGoesToStdout: every command's -h and --help print its flags on stdout and
// nothing on stderr, and exit 0 (fanoutctl verify --help | less); a bad flag is one line
// on stderr and no flag list.
func TestHelpGoesToStdout(t *testing.T) {
	commands := [][]string{{"dev"}, {"topics", "create"}, {"status"}, {"pause"}, {"resume"}, {"dlq", "list"},
		{"dlq", "show"}, {"dlq", "replay"}, {"verify"}, {"backfill"}, {"spool", "status"}, {"spool", "drain"}}
	for _, cmd := range commands {
		for _, h := range []string{"-h", "--help"} {
			name := strings.Join(cmd, " ")
			t.Run(name+" "+h, func(t *testing.T) {
				var out, errb bytes.Buffer
				code := Main(context.Background(), append(append([]string{}, cmd...), h), nil, &out, &errb)
				if code != 0 || errb.Len() != 0 {
					t.Fatalf("exit %d, stderr %q; want 0 and nothing", code, errb.String())
				}
				if !strings.HasPrefix(out.String(), "Usage: fanoutctl "+name) || !strings.Contains(out.String(), "\n  -") {
					t.Fatalf("stdout %q: want the usage line and the flags", out.String())
				}
			})
		}
	}
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"verify", "--frob"}, nil, &out, &errb); code != 2 ||
		out.Len() != 0 || strings.Count(errb.String(), "\n") != 1 {
		t.Fatalf("verify --frob: exit %d, stdout %q, stderr %q; want 2, nothing and one line", code, out.String(), errb.String())
	}
}

// TestVersion: --version and the version command print the build line on stdout, exit 0,
// and need no configuration (a broken one in the environment is not read).
func TestVersion(t *testing.T) {
	want := buildinfo.Get().Line("fanoutctl") + "\n"
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		t.Run(args[0], func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(context.Background(), args, []string{"FANOUT_KAFKA_BROKERS=nohost", "FANOUT_FROB=1", "FANOUT_STRICT_ENV=true"}, &out, &errb)
			if code != 0 || out.String() != want || errb.Len() != 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0, %q and nothing", code, out.String(), errb.String(), want)
			}
			if !strings.HasPrefix(want, "fanoutctl ") || !strings.Contains(want, "(revision ") {
				t.Fatalf("build line %q is not `fanoutctl VERSION (revision R, GO)`", want)
			}
		})
	}
	// The services' mains, which their cmd packages call with os.Args[1:], the same way.
	for name, main := range map[string]func(context.Context, []string, []string, io.Writer, io.Writer) int{
		"fanout-proxy": proxy.Main, "fanout-replicator": replicator.Main,
	} {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := main(context.Background(), []string{"--version"}, []string{"FANOUT_FROB=1", "FANOUT_STRICT_ENV=true"}, &out, &errb)
			if want := buildinfo.Get().Line(name) + "\n"; code != 0 || out.String() != want || errb.Len() != 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0, %q and nothing", code, out.String(), errb.String(), want)
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestExitCodeFailures: runtime failures exit 1 with one line naming what failed.
func TestExitCodeFailures(t *testing.T) {
	// The admin that does not answer: one line, exit 1.
	r := cli(t, context.Background(), deps{}, nil, "pause", "--cluster", "b", "--admin", "127.0.0.1:1")
	if r.code != 1 || !strings.Contains(lastLine(r.stderr), "127.0.0.1:1") {
		t.Fatalf("pause against a dead admin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Kafka unreachable: the command gives up with the context and says what it did.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r = cli(t, ctx, deps{}, nil, "status", "--brokers", "127.0.0.1:1")
	if r.code != 1 || !strings.Contains(lastLine(r.stderr), "listing consumer groups") {
		t.Fatalf("status with Kafka down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestConfigPrecedence: defaults < --config file < FANOUT_* environment < flags; the
// primary is the file's primary.*, under FANOUT_PRIMARY_* and --primary.
func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "replicator.yaml")
	if err := os.WriteFile(file, []byte(`
metrics_listen: ":9998"
admin:
  listen: ":9999"
target:
  name: from-file
  endpoints: [http://file:9200]
kafka:
  brokers: [file:9092]
consume:
  topics: [file.ops]
  dlq_topic: "{topic}.dead.{cluster}"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// The replicator's primary.* (late events) is fanoutctl's primary too.
	withPrimary := filepath.Join(t.TempDir(), "with-primary.yaml")
	if err := os.WriteFile(withPrimary, []byte("primary:\n  name: main\n  endpoints: [http://fileprimary:9200]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		flags   common
		environ []string
		check   func(t *testing.T, s settings)
	}{
		{name: "defaults", check: func(t *testing.T, s settings) {
			want := replicator.DefaultConfig()
			if !reflect.DeepEqual(s.cfg.Kafka.Brokers, want.Kafka.Brokers) || !reflect.DeepEqual(s.cfg.Consume.Topics, []string{"fanout.ops"}) ||
				s.cfg.Kafka.ClientID != "fanoutctl" || s.fromFile || s.primary.Endpoints[0] != "http://127.0.0.1:9201" {
				t.Fatalf("defaults: %+v", s)
			}
		}},
		{name: "file", flags: common{file: file}, check: func(t *testing.T, s settings) {
			if s.cfg.Target.Name != "from-file" || s.cfg.Kafka.Brokers[0] != "file:9092" || s.cfg.Consume.Topics[0] != "file.ops" ||
				!s.fromFile || dlqTopics(s)[0] != "file.ops.dead.from-file" {
				t.Fatalf("file: %+v", s.cfg)
			}
		}},
		{name: "env over file", flags: common{file: file},
			environ: []string{"FANOUT_KAFKA_BROKERS=env:9092,env2:9092", "FANOUT_PRIMARY_ENDPOINTS=http://envprimary:9200", "FANOUT_PRIMARY_USERNAME=op", "PATH=/bin"},
			check: func(t *testing.T, s settings) {
				if !reflect.DeepEqual(s.cfg.Kafka.Brokers, []string{"env:9092", "env2:9092"}) || s.cfg.Target.Name != "from-file" ||
					s.primary.Endpoints[0] != "http://envprimary:9200" || s.primary.Username != "op" {
					t.Fatalf("env: %+v / %+v", s.cfg.Kafka, s.primary)
				}
			}},
		{name: "flags over env and file", flags: common{file: file, brokers: "flag:9092", cluster: "flagged", topic: "a,b", target: "http://flag:9200", primary: "http://flagprimary:9200"},
			environ: []string{"FANOUT_KAFKA_BROKERS=env:9092", "FANOUT_PRIMARY_ENDPOINTS=http://envprimary:9200"},
			check: func(t *testing.T, s settings) {
				if s.cfg.Kafka.Brokers[0] != "flag:9092" || s.cfg.Target.Name != "flagged" || !reflect.DeepEqual(s.cfg.Consume.Topics, []string{"a", "b"}) ||
					s.cfg.Target.Endpoints[0] != "http://flag:9200" || s.primary.Endpoints[0] != "http://flagprimary:9200" {
					t.Fatalf("flags: %+v / %+v", s.cfg, s.primary)
				}
			}},
		{name: "primary from the file, env over it", flags: common{file: withPrimary}, environ: []string{"FANOUT_PRIMARY_USERNAME=op"},
			check: func(t *testing.T, s settings) {
				if s.primary.Endpoints[0] != "http://fileprimary:9200" || s.primary.Name != "main" || s.primary.Username != "op" {
					t.Fatalf("primary: %+v", s.primary)
				}
			}},
		{name: "admin from the file's admin.listen", flags: common{file: file}, check: func(t *testing.T, s settings) {
			c := common{}
			got, err := c.adminURLs(s)
			if err != nil || !reflect.DeepEqual(got, []string{"http://127.0.0.1:9999"}) {
				t.Fatalf("admin urls: %v %v", got, err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.flags
			f.name = "test"
			s, err := f.load(&env{environ: c.environ})
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, s)
		})
	}
}

func TestAdminURL(t *testing.T) {
	cases := map[string]string{
		"127.0.0.1:9465":         "http://127.0.0.1:9465",
		":9465":                  "http://127.0.0.1:9465",
		"0.0.0.0:9465":           "http://127.0.0.1:9465",
		"[::]:9465":              "http://127.0.0.1:9465",
		"repl.example:9465":      "http://repl.example:9465",
		"http://10.0.0.1:9465/":  "http://10.0.0.1:9465",
		"https://r.example/base": "https://r.example/base",
	}
	for in, want := range cases {
		if got, err := adminURL(in); err != nil || got != want {
			t.Errorf("adminURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "nohost", "ftp://x", "http://"} {
		if got, err := adminURL(bad); err == nil {
			t.Errorf("adminURL(%q) = %q, want an error", bad, got)
		}
	}
	if _, err := adminURL("ftp://op:hunter2@r:9465"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("adminURL error %v", err)
	}
}

// TestLoadWarnsAboutInsecureSettings: every command warns on stderr, once, about the
// insecure or ineffective settings of what it may connect to, without their secrets.
func TestLoadWarnsAboutInsecureSettings(t *testing.T) {
	var stderr bytes.Buffer
	c := common{name: "test"}
	_, err := c.load(&env{stderr: &stderr, environ: []string{
		"FANOUT_KAFKA_TLS_ENABLED=true", "FANOUT_KAFKA_TLS_INSECURE_SKIP_VERIFY=true",
		"FANOUT_TARGET_ENDPOINTS=https://t:9200", "FANOUT_TARGET_TLS_CA_FILE=/ca.pem",
		"FANOUT_PRIMARY_ENDPOINTS=http://op:hunter2@p:9200",
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	want := []string{
		"fanoutctl: warning: kafka.tls.insecure_skip_verify: certificate verification is off",
		"fanoutctl: warning: target.tls.enabled: is false, so ca_file has no effect",
		"fanoutctl: warning: primary.endpoints: http://REDACTED@p:9200 uses http://, so the credentials",
	}
	if len(got) != len(want) || strings.Contains(stderr.String(), "hunter2") {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("line %d = %q, want it to start with %q", i, got[i], w)
		}
	}
	stderr.Reset()
	if _, err := c.load(&env{stderr: &stderr}); err != nil || stderr.Len() != 0 {
		t.Fatalf("the defaults warn: %v %q", err, stderr.String())
	}
}

func TestFilters(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ff := filterFlags{errorTypes: listFlag{"b_exc", "a_exc"}, indices: listFlag{"logs-*"}, since: "2h", until: "2025-03-01T11:30:00Z"}
	f, err := ff.resolve(now)
	if err != nil {
		t.Fatal(err)
	}
	if !f.since.Equal(now.Add(-2*time.Hour)) || !f.until.Equal(now.Add(-30*time.Minute)) {
		t.Fatalf("since %v until %v", f.since, f.until)
	}
	// The group of a filtered replay depends on the flags as given, not on the clock,
	// so that running the same command again resumes it.
	g1 := replayGroup("b", f)
	f2, _ := (&filterFlags{errorTypes: listFlag{"a_exc", "b_exc"}, indices: listFlag{"logs-*"}, since: "2h", until: "2025-03-01T11:30:00Z"}).resolve(now.Add(time.Hour))
	if g2 := replayGroup("b", f2); g1 != g2 || !strings.HasPrefix(g1, "fanout-dlq-replay-b-") || replayGroup("b", filters{}) != "fanout-dlq-replay-b" {
		t.Fatalf("replay groups %q %q", g1, g2)
	}
	f3, _ := (&filterFlags{errorTypes: listFlag{"a_exc"}}).resolve(now)
	if replayGroup("b", f3) == g1 {
		t.Fatal("different filters share a replay group")
	}
	for _, s := range []string{"2025-03-01", "2025-03-01T10:00:00+01:00", "90m"} {
		if _, err := parseWhen(s, now); err != nil {
			t.Errorf("parseWhen(%q): %v", s, err)
		}
	}
	for _, s := range []string{"yesterday", "-5m", "2025-13-01"} {
		if _, err := parseWhen(s, now); err == nil {
			t.Errorf("parseWhen(%q) accepted", s)
		}
	}
}

func TestProgressLine(t *testing.T) {
	cases := []struct {
		done, total int64
		elapsed     time.Duration
		want        []string
	}{
		{0, 100, 0, []string{"0/100", "0%", "ETA ?"}},
		{50, 100, 10 * time.Second, []string{"50/100", "50%", "5/s", "ETA 10s"}},
		{100, 100, 10 * time.Second, []string{"100/100", "100%", "ETA 0s"}},
		{7, 0, time.Second, []string{"7", "7/s"}},
	}
	for _, c := range cases {
		got := progressLine("replaying", c.done, c.total, c.elapsed)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("progressLine(%d, %d, %s) = %q, want %q in it", c.done, c.total, c.elapsed, got, w)
			}
		}
		if len(got) > 79 {
			t.Errorf("progress line longer than 79 columns: %q", got)
		}
	}
	// Not a terminal: nothing is drawn.
	var b bytes.Buffer
	p := newProgress(&env{stderr: &b}, "x", 10)
	p.add(5)
	p.finish()
	if b.Len() != 0 {
		t.Fatalf("progress drew on a non-terminal: %q", b.String())
	}
}

func TestStateOf(t *testing.T) {
	at := time.Now()
	earlier := at.Add(-time.Minute)
	cases := []struct {
		name      string
		st        replicator.Status
		state     string
		lastError string
	}{
		{"running", replicator.Status{TargetUp: true, Partitions: []replicator.PartitionStatus{{State: "running"}}}, "running", ""},
		{"paused wins", replicator.Status{Paused: true, TargetUp: true, Partitions: []replicator.PartitionStatus{{State: "blocked", LastError: "x"}}}, "paused", ""},
		{"blocked", replicator.Status{TargetUp: true, Partitions: []replicator.PartitionStatus{
			{State: "running", LastError: "old", LastErrorAt: &earlier}, {State: "blocked", LastError: "boom", LastErrorAt: &at}}}, "blocked", "boom"},
		{"target down", replicator.Status{TargetUp: false, TargetErr: "connection refused"}, "blocked", "connection refused"},
		{"draining", replicator.Status{Draining: true, TargetUp: true}, "draining", ""},
		{"recovered keeps the last error", replicator.Status{TargetUp: true, Partitions: []replicator.PartitionStatus{
			{State: "running", LastError: "old", LastErrorAt: &earlier}}}, "running", "old"},
	}
	for _, c := range cases {
		state, lastErr, _ := stateOf(c.st)
		if state != c.state || (c.lastError != "" && lastErr != c.lastError) {
			t.Errorf("%s: got %s %q, want %s %q", c.name, state, lastErr, c.state, c.lastError)
		}
	}
}
