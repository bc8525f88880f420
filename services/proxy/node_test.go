package proxy_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestNodeClientBulkHelper: the official OpenSearch Node.js client's bulk helper
// indexes 10,000 documents through the proxy, and all 10,000 events reach Kafka.
// It runs wherever node and npm are installed (npm fetches the client from the npm
// registry once into the user cache), and is skipped with a message elsewhere.
func TestNodeClientBulkHelper(t *testing.T) {
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		t.Skip("node and npm are not installed: skipping the Node.js client test")
	}
	dir := nodeModules(t, npm)

	e := startEnv(t, 1)
	const docs = 10000
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "bulk_helper.js"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PROXY_URL="+e.url(), "DOCS=10000")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node client: %v\n%s", err, out)
	}
	var summary struct{ Total, Successful, Failed, Count int }
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil {
		t.Fatalf("node client output: %s", out)
	}
	if summary.Successful != docs || summary.Count != docs {
		t.Fatalf("node client: %+v", summary)
	}

	ops := decodeAll(t, e.kafka.Consume(t, topic, docs, 30*time.Second))
	ids := map[string]bool{}
	for _, op := range ops {
		ids[op.GetIndex()+"/"+op.GetId()] = true
	}
	if len(ops) != docs || len(ids) != docs {
		t.Fatalf("want %d events for %d documents, got %d events for %d documents", docs, docs, len(ops), len(ids))
	}
}

// nodeModules installs the client (pinned in testdata/node/package.json) into a cache
// directory once and returns the directory holding the script and node_modules.
func nodeModules(t *testing.T, npm string) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	src, err := os.ReadFile(filepath.Join("testdata", "node", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "fanout", "node-client-test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	scripts, err := filepath.Glob(filepath.Join("testdata", "node", "*.js"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scripts {
		script, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(s)), script, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := os.ReadFile(filepath.Join(dir, "package.json"))
	if string(old) == string(src) {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "@opensearch-project", "opensearch")); err == nil {
			return dir
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install of the OpenSearch client: %v\n%s", err, out)
	}
	return dir
}

// TestNodeClientAuthenticatesThroughTheProxy: in the default mode the official
// OpenSearch Node.js client's own basic credentials are what the secured primary
// checks: the right password writes (and the write is published), a wrong one and none
// get the primary's 401, and nothing of theirs is published.
func TestNodeClientAuthenticatesThroughTheProxy(t *testing.T) {
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		t.Skip("node and npm are not installed: skipping the Node.js client test")
	}
	dir := nodeModules(t, npm)
	e := startSecured(t, searchemu.OpenSearch2)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "auth_client.js"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PROXY_URL="+e.url(), "CLIENT_AUTH=alice:alice-pw")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node client: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("node client output: %s", out)
	}
	want := map[string]any{"good_write": 201.0, "good_read": 200.0, "good_whoami": "alice",
		"wrong_write": 401.0, "wrong_delete_index": 401.0, "anonymous_write": 401.0, "anonymous_cat": 401.0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v (%s)", k, got[k], v, out)
		}
	}
	if ops := e.published(); len(ops) != 1 || ops[0].GetId() != "1" {
		t.Fatalf("want only alice's write published, got %v", ops)
	}
}
