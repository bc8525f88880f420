package proxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu/emutest"
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
	insecure := write("insecure.yaml", `primary:
  endpoints: [https://fanout:hunter2@10.0.0.1:9200]
  tls: {enabled: true, insecure_skip_verify: true}
kafka:
  brokers: [k1:9092]
  sasl: {mechanism: plain, username: fanout, password: hunter3}
auth: {mode: proxy, users_file: /etc/fanout/users}
`)
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
		{name: "print config redacts endpoint credentials and shows insecure settings", args: []string{"--config", insecure, "--print-config"}, code: 0,
			stdout: []string{
				"# WARNING primary.tls.insecure_skip_verify: certificate verification is off",
				"# WARNING kafka.sasl.mechanism: PLAIN without TLS",
				"- https://REDACTED@10.0.0.1:9200",
			}, noStdout: []string{"hunter2", "hunter3", "fanout:"}},
		{name: "env beats file, flag beats env", args: []string{"--config", good, "--print-config", "--topic", "from-flag"},
			env: []string{"FANOUT_PUBLISH_TOPIC=from-env", "FANOUT_LISTEN=:9999"}, code: 0,
			stdout: []string{"topic: from-flag", "listen: :9999"}},
		{name: "unknown key names it", args: []string{"--config", write("bad.yaml", "kafka:\n  brokerz: [x:1]\n")}, code: 2, stderr: "unknown key kafka.brokerz"},
		{name: "unknown env is warned about", args: []string{"--print-config"}, env: []string{"FANOUT_PUBLSH_TOPIC=x"}, code: 0,
			stderr: "warning: environment FANOUT_PUBLSH_TOPIC: names no configuration key and is ignored (did you mean FANOUT_PUBLISH_TOPIC?)"},
		{name: "unknown env with --strict-env names it", args: []string{"--print-config", "--strict-env"}, env: []string{"FANOUT_PUBLSH_TOPIC=x"}, code: 2, stderr: "FANOUT_PUBLSH_TOPIC"},
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

// TestStartupLogRedactsAndWarns: the proxy's start-up log names its primary without
// the credentials written in its URL, and warns about each insecure setting.
func TestStartupLogRedactsAndWarns(t *testing.T) {
	file := filepath.Join(t.TempDir(), "proxy.yaml")
	// Credentials of the proxy's own are for auth.mode proxy only.
	users, _ := proxyModeFiles(t, map[string]string{"alice": "a"}, nil)
	body := "listen: 127.0.0.1:0\nmetrics_listen: \"\"\nprimary:\n  endpoints: [http://fanout:hunter2@127.0.0.1:1]\n  tls: {ca_file: /nowhere.pem}\n" +
		"kafka:\n  brokers: [127.0.0.1:1]\n  tls: {enabled: true, insecure_skip_verify: true}\n" +
		"auth: {mode: proxy, users_file: " + users + "}\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // start, log, stop
	var out, errb bytes.Buffer
	if code := proxy.Main(ctx, []string{"--config", file}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	logs := errb.String()
	if strings.Contains(logs, "hunter2") || !strings.Contains(logs, `"primary":["http://REDACTED@127.0.0.1:1"]`) {
		t.Errorf("start-up log:\n%s", logs)
	}
	for _, key := range []string{`"key":"primary.tls"`, `"key":"primary.endpoints"`, `"key":"kafka.tls.insecure_skip_verify"`} {
		if !strings.Contains(logs, key) || !strings.Contains(logs, `"level":"WARN"`) {
			t.Errorf("no warning with %s:\n%s", key, logs)
		}
	}
}

// TestMainReloadsOnSIGHUP: the command re-reads the listener's certificate on SIGHUP,
// even when the files look unchanged (same size and modification time), as after a
// rotation that kept them.
func TestMainReloadsOnSIGHUP(t *testing.T) {
	ca := newTestCA(t, "fanout test CA")
	dir := t.TempDir()
	files := tlsFiles(t, dir, ca, 1000)
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	primary := emutest.Start(t, "primary")
	cfgFile := filepath.Join(dir, "proxy.yaml")
	writeFile(t, cfgFile, []byte("listen: 127.0.0.1:0\nmetrics_listen: \"\"\nprimary:\n  endpoints: ["+primary.URL+"]\n"+
		"kafka:\n  brokers: ["+strings.Join(k.Addrs(), ",")+"]\ntls:\n  cert_file: "+files.CertFile+"\n  key_file: "+files.KeyFile+"\n"))

	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- proxy.Main(ctx, []string{"--config", cfgFile}, nil, io.Discard, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("exit %d: %s", code, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("the command did not stop")
		}
	})
	var addr string
	waitFor(t, "the command to serve", func() bool {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var l struct{ Msg, Listen string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "fanout-proxy serving" {
				addr = strings.TrimPrefix(l.Listen, "https://")
				return true
			}
		}
		return false
	})
	if got := servedSerial(t, addr, ca); got != 1000 {
		t.Fatalf("serial %d, want 1000", got)
	}
	stamp := func(p string) (time.Time, int64) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.ModTime(), st.Size()
	}
	certTime, certSize := stamp(files.CertFile)
	keyTime, keySize := stamp(files.KeyFile)
	c, key := ca.issue(t, 2000, false)
	if int64(len(c)) != certSize || int64(len(key)) != keySize {
		t.Fatal("the renewed files must have the sizes of the old ones (Ed25519), or the file watcher would reload them")
	}
	writeFile(t, files.CertFile, c)
	writeFile(t, files.KeyFile, key)
	if err := os.Chtimes(files.CertFile, certTime, certTime); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(files.KeyFile, keyTime, keyTime); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, addr, ca); got != 1000 {
		t.Fatalf("unchanged-looking files must not be re-read before SIGHUP; serial %d", got)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the certificate re-read on SIGHUP", func() bool { return servedSerial(t, addr, ca) == 2000 })
}
