package replication_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSniffingNodeClientWritesThroughTheProxy: the official OpenSearch Node.js client
// with sniffOnStart asks the proxy for the nodes (GET /_nodes/_all/http) and replaces
// its seed with what it is told. The primary publishes its own address, so a client
// told that would write straight to the primary and nothing it wrote would be
// replicated; through the proxy every node is the proxy, and what the client writes
// after sniffing reaches the target: the target converges to the primary.
// It runs wherever node and npm are installed (npm fetches the client from the npm
// registry once into the user cache), and is skipped with a message elsewhere.
func TestSniffingNodeClientWritesThroughTheProxy(t *testing.T) {
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		t.Skip("node and npm are not installed: skipping the Node.js client test")
	}
	dir := nodeModules(t, npm)

	pl := startPipeline(t, 4)
	target := startTarget(t, "b", "")
	rep := startReplicator(t, testConfig(pl.kafka, target, "b"))

	// What the client would be told without the proxy in between.
	code, direct := httpDo(t, http.MethodGet, pl.primary.url+"/_nodes/_all/http", "")
	if code != 200 || !strings.Contains(string(direct), `"publish_address":"`+strings.TrimPrefix(pl.primary.url, "http://")+`"`) {
		t.Fatalf("the primary must publish its own address: %d %s", code, direct)
	}

	const docs = 1000
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "sniff_client.js"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PROXY_URL="+pl.proxy, "INDEX=orders", "DOCS=1000")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node client: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var got struct {
		Hosts, Pool        []string
		Successful, Failed int
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("node client said: %s", out)
	}
	want := pl.proxy + "/"
	if len(got.Hosts) == 0 || len(got.Pool) == 0 {
		t.Fatalf("the client sniffed no host: %s", out)
	}
	for _, h := range append(got.Hosts, got.Pool...) {
		if h != want {
			// not fatal: the convergence check below shows what it costs
			t.Errorf("after sniffing the client talks to %s, want only the proxy %s: %s", h, want, out)
			break
		}
	}
	if got.Successful != docs || got.Failed != 0 {
		t.Fatalf("bulk helper: %s", out)
	}

	waitCaughtUp(t, pl.kafka, rep.Group(), 2*time.Minute)
	rpt := assertConverged(t, pl.primary, target, nil)
	// docs from the bulk helper, one indexed alone, one deleted
	if rpt.Compared != docs {
		t.Errorf("compared %d documents, want %d", rpt.Compared, docs)
	}
	if n := rep.Ops(t, "applied"); n < docs+3 {
		t.Errorf("the replicator applied %v events, want at least %d (every write the client made)", n, docs+3)
	}
	dlqEmpty(t, pl.kafka, "b")
}

// nodeModules installs the client (pinned in testdata/node/package.json) into a cache
// directory once and returns the directory holding the scripts and node_modules.
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
	dir := filepath.Join(cache, "fanout", "node-client-integration")
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
