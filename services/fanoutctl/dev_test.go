package fanoutctl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// buildBinary builds the real fanoutctl binary into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "fanoutctl")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", bin, "./cmd/fanoutctl")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var endpointLine = regexp.MustCompile(`^  (proxy|primary|replica-\d+|kafka)\s+(\S+)`)

var replicatorListeners = regexp.MustCompile(`replicator admin (\S+)/admin/status, metrics (\S+)/metrics`)

// TestDevStackSubprocess runs `fanoutctl dev` as a user would: a bulk through the
// proxy is readable on both replicas within 5s, and SIGINT stops it, exit 0, within
// 10s.
func TestDevStackSubprocess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	cmd := exec.Command(bin, "dev", "--base-port", "0", "--kafka-port", "0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var printed syncBuffer
	endpoints := map[string]string{}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		announced := false
		for sc.Scan() {
			line := sc.Text()
			printed.WriteString(line + "\n")
			if m := endpointLine.FindStringSubmatch(line); m != nil && !announced {
				endpoints[m[1]] = m[2]
				if m[1] == "kafka" {
					announced = true
					close(ready)
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	start := time.Now()
	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("fanoutctl dev exited early: %v\n%s%s", err, printed.String(), stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("fanoutctl dev printed no endpoints within 30s:\n%s%s", printed.String(), stderr.String())
	}
	t.Logf("dev stack up in %s", time.Since(start).Round(time.Millisecond))
	for _, name := range []string{"proxy", "primary", "replica-1", "replica-2"} {
		if !strings.HasPrefix(endpoints[name], "http://127.0.0.1:") {
			t.Fatalf("endpoint %s = %q in:\n%s", name, endpoints[name], printed.String())
		}
	}

	// The stack's clusters are in memory: create the index with several shards on each
	// before the first write, as an operator would.
	for _, name := range []string{"primary", "replica-1", "replica-2"} {
		(&emulator{url: endpoints[name]}).createIndex(t, "books")
	}
	var ids []string
	for i := 0; i < 20; i++ {
		ids = append(ids, fmt.Sprint(i))
	}
	body := bulkBody("books", ids, func(id string) string { return fmt.Sprintf(`{"title":"book %s"}`, id) })
	code, answer := httpDo(t, http.MethodPost, endpoints["proxy"]+"/_bulk?refresh=true", body)
	if code != http.StatusOK || strings.Contains(answer, `"errors":true`) {
		t.Fatalf("bulk through the proxy: %d %s", code, answer)
	}
	written := time.Now()
	for _, replica := range []string{"replica-1", "replica-2"} {
		waitFor(t, time.Until(written.Add(5*time.Second)), replica+" to hold the 20 documents 5s after the write", func() bool {
			c, b := httpDo(t, http.MethodGet, endpoints[replica]+"/books/_count", "")
			return c == http.StatusOK && strings.Contains(b, `"count":20`)
		})
	}
	t.Logf("both replicas have the bulk %s after the write", time.Since(written).Round(time.Millisecond))

	// The printed admin and metrics addresses are the replicators' own listeners: the
	// admin one answers /admin/status (loopback, no token in dev), the metrics one
	// /metrics and not the admin routes.
	listeners := replicatorListeners.FindAllStringSubmatch(printed.String(), -1)
	if len(listeners) != 2 {
		t.Fatalf("want the admin and metrics addresses of 2 replicators in:\n%s", printed.String())
	}
	for _, m := range listeners {
		admin, metrics := m[1], m[2]
		if !strings.HasPrefix(admin, "http://127.0.0.1:") || admin == metrics {
			t.Fatalf("replicator admin %s, metrics %s: want a loopback admin listener of its own", admin, metrics)
		}
		if c, b := httpDo(t, http.MethodGet, admin+"/admin/status", ""); c != http.StatusOK || !strings.Contains(b, `"cluster"`) {
			t.Errorf("GET %s/admin/status: %d %s", admin, c, b)
		}
		if c, _ := httpDo(t, http.MethodGet, metrics+"/metrics", ""); c != http.StatusOK {
			t.Errorf("GET %s/metrics: %d", metrics, c)
		}
		if c, _ := httpDo(t, http.MethodGet, metrics+"/admin/status", ""); c != http.StatusNotFound {
			t.Errorf("GET %s/admin/status on the metrics listener: %d, want 404", metrics, c)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	stopAt := time.Now()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if err != nil && errors.As(err, &ee) {
			t.Fatalf("fanoutctl dev exited with %d after SIGINT\nstderr: %s", ee.ExitCode(), stderr.String())
		} else if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("fanoutctl dev did not exit within 10s of SIGINT\nstderr: %s", stderr.String())
	}
	t.Logf("stopped %s after SIGINT", time.Since(stopAt).Round(time.Millisecond))
	if !strings.Contains(printed.String(), "curl -s -XPUT '"+endpoints["proxy"]) || !strings.Contains(printed.String(), "curl -s '"+endpoints["replica-1"]) {
		t.Fatalf("the curl example does not write through the proxy and read from replica-1:\n%s", printed.String())
	}
}

// syncBuffer is a strings.Builder safe for one writer and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) WriteString(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDevWithExternalClusters: --kafka, --primary and --replica point the stack at
// clusters it did not start; writes through its proxy reach those replicas.
func TestDevWithExternalClusters(t *testing.T) {
	k := kafkatest.NewCluster(t)
	primary := startEmulator(t, "ext-primary")
	r1, r2 := startEmulator(t, "ext-1"), startEmulator(t, "ext-2")
	for _, e := range []*emulator{primary, r1, r2} {
		e.createIndex(t, "books")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--base-port", "0", "--kafka", strings.Join(k.Addrs(), ","), "--partitions", "3",
			"--primary", primary.url, "--replica", r1.url, "--replica", r2.url}, &env{stdout: &out, stderr: &errb})
	}()
	waitFor(t, 20*time.Second, "the dev stack's endpoints", func() bool { return strings.Contains(out.String(), "  kafka ") })
	endpoints := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if m := endpointLine.FindStringSubmatch(line); m != nil {
			endpoints[m[1]] = m[2]
		}
	}
	if endpoints["primary"] != primary.url || endpoints["replica-1"] != r1.url || endpoints["replica-2"] != r2.url ||
		endpoints["kafka"] != strings.Join(k.Addrs(), ",") || strings.Contains(out.String(), "in memory") {
		t.Fatalf("endpoints %v in:\n%s", endpoints, out.String())
	}
	code, answer := httpDo(t, http.MethodPut, endpoints["proxy"]+"/books/_doc/1?routing=k1&refresh=true", `{"title":"Dune"}`)
	if code != http.StatusCreated {
		t.Fatalf("write through the proxy: %d %s", code, answer)
	}
	for _, r := range []*emulator{r1, r2} {
		waitFor(t, 10*time.Second, "the document on "+r.url, func() bool {
			_, _, ok := r.doc(t, "books", "1", "k1")
			return ok
		})
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev: %v\n%s", err, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("dev did not stop within 15s")
	}
}

// TestDevReplicatorsResolveLateEvents: the dev stack's replicators are given the
// primary, so late INDEX events are resolved there, as recommended in production.
func TestDevReplicatorsResolveLateEvents(t *testing.T) {
	c := devReplicatorConfig("replica-1", "http://127.0.0.1:9202", "http://127.0.0.1:9201", []string{"127.0.0.1:9092"},
		"fanout.ops", "127.0.0.1:9465", "127.0.0.1:9475")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.PrimaryEnabled() || c.Primary.Endpoints[0] != "http://127.0.0.1:9201" {
		t.Fatalf("primary of the dev replicator: %+v", c.Primary)
	}
}
