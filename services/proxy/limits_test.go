package proxy_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/services/proxy"
)

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestBodiesAndLimits: oversized, compressed and undecodable bodies get clear
// Elasticsearch-shaped answers, and only applied writes publish.
func TestBodiesAndLimits(t *testing.T) {
	e := startEnv(t, 1, func(c *proxy.Config) { c.Limits.MaxBodyBytes = 4096 })
	bulkOf := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString("{\"index\":{\"_index\":\"lim\"}}\n{\"text\":\"" + strings.Repeat("x", 100) + "\"}\n")
		}
		return b.String()
	}
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		_, _ = w.Write([]byte(s))
		_ = w.Close()
		return b.Bytes()
	}
	tests := []struct {
		name     string
		body     []byte
		encoding string
		chunked  bool
		status   int
		errType  string
	}{
		{name: "over the limit", body: []byte(bulkOf(50)), status: 413, errType: "content_too_long_exception"},
		{name: "over the limit, chunked", body: []byte(bulkOf(50)), chunked: true, status: 413, errType: "content_too_long_exception"},
		{name: "gzip over the limit once inflated", body: gz(bulkOf(50)), encoding: "gzip", status: 413, errType: "content_too_long_exception"},
		{name: "gzip within the limit", body: gz(bulkOf(3)), encoding: "gzip", status: 200},
		{name: "corrupt gzip", body: []byte("not gzip at all"), encoding: "gzip", status: 400, errType: "illegal_argument_exception"},
		{name: "unknown encoding", body: []byte(bulkOf(1)), encoding: "br", status: 400, errType: "illegal_argument_exception"},
	}
	published := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rd io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				rd = io.MultiReader(rd) // hides the length: sent chunked
			}
			req, _ := http.NewRequest(http.MethodPost, e.url()+"/_bulk", rd)
			req.Header.Set("Content-Type", "application/x-ndjson")
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			r := do(t, req)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.errType != "" {
				ans := r.json(t)
				errObj, _ := ans["error"].(map[string]any)
				if errObj["type"] != tt.errType || ans["status"] != float64(tt.status) {
					t.Fatalf("error body %s", r.body)
				}
				return
			}
			published += 3
		})
	}
	if ops := e.published(); len(ops) != published {
		t.Fatalf("want %d events (the gzip bulk only), got %d: %v", published, len(ops), ops)
	}
}

// TestConcurrencyLimit: past limits.max_concurrent_requests the proxy answers 429
// rejected_execution_exception at once, which clients retry.
func TestConcurrencyLimit(t *testing.T) {
	e, rec := startRecordedEnv(t, func(c *proxy.Config) { c.Limits.MaxConcurrentRequests = 1 })
	// The primary holds the first request until the second has been answered, however
	// slow the machine: the first keeps the one slot all that time.
	const held = "/held/_doc/1"
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the primary's server closes, which waits for its handlers
	rec.setBefore(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == held {
			select {
			case <-release:
			case <-time.After(eventWait):
			}
		}
		return false
	})
	var (
		wg       sync.WaitGroup
		first    int
		firstErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, err := http.Get(e.url() + held)
		if err != nil {
			firstErr = err
			return
		}
		resp.Body.Close()
		first = resp.StatusCode
	}()
	waitFor(t, "the first request to take the concurrency slot", func() bool {
		return counterValue(t, e.proxies[0].MetricsURL(), "fanout_proxy_inflight_requests") == 1
	})
	r := send(t, http.MethodPut, e.url()+"/c/_doc/1", `{"a":1}`)
	unblock()
	wg.Wait()
	if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), "rejected_execution_exception") ||
		r.header.Get("Retry-After") != "1" {
		t.Fatalf("second request: %d %v %s", r.status, r.header, r.body)
	}
	if firstErr != nil || first != http.StatusNotFound {
		t.Errorf("the held request, once let through: %d %v", first, firstErr)
	}
	e.noEvents()
}
