package fanoutctl

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// TestPauseResumeWithAdminToken: against a real replicator whose admin listener needs a
// bearer token, pause without the token or with another one fails (exit 1, HTTP 401)
// and changes nothing; with --admin-token-file, pause and resume work and the records
// produced meanwhile replicate; status reads the token (and the admin address) from the
// replicator's own configuration file.
func TestPauseResumeWithAdminToken(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(opsTopic, 3))
	target := startEmulator(t, "b")
	target.createIndex(t, "lag")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin.token")
	wrongFile := filepath.Join(dir, "wrong.token")
	for f, tok := range map[string]string{tokenFile: "op-token-1\n", wrongFile: "op-token-2\n"} {
		if err := os.WriteFile(f, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := replicatorConfig(k, target, "b")
	cfg.Admin.TokenFile = tokenFile
	rr := startReplicator(t, cfg)
	admin := rr.AdminURL()
	brokers := strings.Join(k.Addrs(), ",")
	var seq int64

	refused := []struct {
		name   string
		args   []string
		stderr string
	}{
		{name: "no token", args: []string{"pause", "--cluster", "b", "--admin", admin}, stderr: "HTTP 401: no admin token given"},
		{name: "wrong token", args: []string{"pause", "--cluster", "b", "--admin", admin, "--admin-token-file", wrongFile}, stderr: "HTTP 401: the admin token was refused"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			r := cli(t, context.Background(), deps{}, nil, c.args...)
			if r.code != 1 || !strings.Contains(lastLine(r.stderr), c.stderr) {
				t.Fatalf("exit %d, want 1 with %q\n%s%s", r.code, c.stderr, r.stdout, r.stderr)
			}
			if rr.Status().Paused {
				t.Fatal("paused by a refused request")
			}
		})
	}
	if r := cli(t, context.Background(), deps{}, nil, "pause", "--cluster", "b", "--admin", admin, "--admin-token-file", filepath.Join(dir, "nope")); r.code != 2 || !strings.Contains(r.stderr, "--admin-token-file") {
		t.Fatalf("missing token file: exit %d, want 2 naming the flag\n%s", r.code, r.stderr)
	}

	r := cli(t, context.Background(), deps{}, nil, "pause", "--cluster", "b", "--admin", admin, "--admin-token-file", tokenFile)
	if r.code != 0 || !strings.Contains(r.stdout, "paused") || !rr.Status().Paused {
		t.Fatalf("pause with the token: exit %d, paused %v\n%s%s", r.code, rr.Status().Paused, r.stdout, r.stderr)
	}
	produceEvents(t, k, "tok", 6, &seq)

	// status as an operator runs it next to the replicator: with its configuration file.
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "replicator.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`
target:
  name: b
kafka:
  brokers: [%s]
consume:
  topics: [%s]
admin:
  listen: %q
  token_file: %q
`, brokers, opsTopic, u.Host, tokenFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	status := func() targetStatus {
		t.Helper()
		var out struct {
			Targets []targetStatus `json:"targets"`
		}
		cliJSON(t, 0, &out, deps{}, "status", "--config", file)
		if len(out.Targets) != 1 || out.Targets[0].Replicator == nil {
			t.Fatalf("status: %+v, want target b with its replicator", out)
		}
		return out.Targets[0]
	}
	waitFor(t, 20*time.Second, "lag 6 while paused", func() bool {
		st := status()
		return st.Lag == 6 && st.Replicator.State == "paused"
	})

	r = cli(t, context.Background(), deps{}, nil, "resume", "--config", file)
	if r.code != 0 || !strings.Contains(r.stdout, "running") || rr.Status().Paused {
		t.Fatalf("resume with the config's token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	waitFor(t, 20*time.Second, "lag 0 after resume", func() bool {
		st := status()
		return st.Lag == 0 && st.Replicator.State == "running"
	})
}
