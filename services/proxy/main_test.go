package proxy_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/services/proxy"
)

func TestMainConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "primary:\n  endpoints: [http://10.0.0.1:9200]\n  username: fanout\n  password: hunter2\nauth:\n  mode: proxy\n  users_file: /etc/fanout/users\nkafka:\n  brokers: [k1:9092]\n")
	tests := []struct {
		name     string
		args     []string
		env      []string
		code     int
		stdout   []string
		stderr   string
		noStdout []string
	}{
		{name: "print config redacts secrets", args: []string{"--config", good, "--print-config"}, code: 0,
			stdout: []string{"- http://10.0.0.1:9200", "password: REDACTED", "- k1:9092", "timeout: 10s"}, noStdout: []string{"hunter2"}},
		{name: "env beats file, flag beats env", args: []string{"--config", good, "--print-config", "--topic", "from-flag"},
			env: []string{"FANOUT_PUBLISH_TOPIC=from-env", "FANOUT_LISTEN=:9999"}, code: 0,
			stdout: []string{"topic: from-flag", "listen: :9999"}},
		{name: "unknown key names it", args: []string{"--config", write("bad.yaml", "kafka:\n  brokerz: [x:1]\n")}, code: 2, stderr: "unknown key kafka.brokerz"},
		{name: "unknown env names it", args: []string{"--print-config"}, env: []string{"FANOUT_PUBLSH_TOPIC=x"}, code: 2, stderr: "FANOUT_PUBLSH_TOPIC"},
		{name: "invalid value", args: []string{"--print-config"}, env: []string{"FANOUT_PUBLISH_COMPRESSION=brotli"}, code: 2, stderr: "publish.compression"},
		{name: "bad flag", args: []string{"--nope"}, code: 2, stderr: "flag provided but not defined"},
		{name: "missing file", args: []string{"--config", filepath.Join(dir, "absent.yaml")}, code: 2, stderr: "absent.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := proxy.Main(context.Background(), tt.args, tt.env, &out, &errb)
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
