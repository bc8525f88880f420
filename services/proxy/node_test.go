package proxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestNodeClientBulkHelper: the official OpenSearch Node.js client's bulk helper
// indexes 10,000 documents through the proxy, and each document's event reaches Kafka
// exactly once. It runs wherever node and npm are installed (npm fetches the client from
// the npm registry once into the user cache), and is skipped with a message elsewhere.
//
// The client would retry a request that timed out or got a 502/503/504, and a retried
// bulk is applied and published again; that is the at-least-once a 503 announces (its
// first events may still land), but it would hide here what happened. So the script
// never retries (a 503 fails it, with the proxy's reason) and waits longer for an
// answer than the proxy can take (its primary and publish timeouts), and the test
// counts every event, not just the first 10,000.
func TestNodeClientBulkHelper(t *testing.T) {
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		t.Skip("node and npm are not installed: skipping the Node.js client test")
	}
	dir := nodeModules(t, npm)

	e := startEnv(t, 1)
	const docs = 10000
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "bulk_helper.js"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PROXY_URL="+e.url(), "DOCS=10000", "REQUEST_TIMEOUT_MS=120000")
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

	ops := e.published()
	byDoc := map[string][]*opspb.Operation{}
	for _, op := range ops {
		k := op.GetIndex() + "/" + op.GetId()
		byDoc[k] = append(byDoc[k], op)
	}
	var twice []string
	for k, evs := range byDoc {
		if len(evs) > 1 && len(twice) < 5 {
			reqs := make([]string, len(evs))
			for i, ev := range evs {
				reqs[i] = ev.GetRequestId()
			}
			twice = append(twice, fmt.Sprintf("%s by requests %v", k, reqs))
		}
	}
	if len(ops) != docs || len(byDoc) != docs {
		t.Fatalf("want %d events for %d documents, got %d events for %d documents; published more than once: %v",
			docs, docs, len(ops), len(byDoc), twice)
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
