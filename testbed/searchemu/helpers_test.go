package searchemu

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// harness drives a Cluster through its HTTP handler.
type harness struct {
	t *testing.T
	c *Cluster
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	return &harness{t: t, c: New(opts)}
}

type result struct {
	status int
	body   string
	header http.Header
}

func (h *harness) do(method, path, body string) result {
	h.t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	var req *http.Request
	if rd != nil {
		req = httptest.NewRequest(method, path, rd)
		ct := "application/json"
		if strings.Contains(path, "_bulk") {
			ct = "application/x-ndjson"
		}
		req.Header.Set("Content-Type", ct)
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	w := httptest.NewRecorder()
	h.c.ServeHTTP(w, req)
	return result{status: w.Code, body: w.Body.String(), header: w.Header()}
}

// must runs a request and fails unless it answers status.
func (h *harness) must(status int, method, path, body string) result {
	h.t.Helper()
	r := h.do(method, path, body)
	if r.status != status {
		h.t.Fatalf("%s %s: want %d, got %d: %s", method, path, status, r.status, r.body)
	}
	return r
}

// field extracts a top-level or dotted JSON field from a body.
func jfield(t *testing.T, body, path string) any {
	t.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %q: %v", body, err)
	}
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i := 0
			for _, c := range p {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return i
		}
		f, _ := n.Float64()
		return f
	}
	return v
}

// fakeClock is a settable clock for tombstone tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}
