package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu/emutest"
)

// seenRequest is a request as the primary received it.
type seenRequest struct {
	method, path, rawQuery string // path in its escaped form, as sent
}

// recordedPrimary serves an emulator through a handler that records every request it
// receives, so that tests can see exactly what the proxy sent to the primary and how
// often. before, when set, runs before the emulator serves a request and may answer it
// itself (returning true).
type recordedPrimary struct {
	mu     sync.Mutex
	seen   []seenRequest
	before func(w http.ResponseWriter, r *http.Request) bool
}

func (p *recordedPrimary) requests(method, path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.seen {
		if s.method == method && s.path == path {
			n++
		}
	}
	return n
}

// lastTo returns the newest request the primary received for path, and whether any.
func (p *recordedPrimary) lastTo(path string) (seenRequest, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.seen) - 1; i >= 0; i-- {
		if p.seen[i].path == path {
			return p.seen[i], true
		}
	}
	return seenRequest{}, false
}

func (p *recordedPrimary) setBefore(f func(w http.ResponseWriter, r *http.Request) bool) {
	p.mu.Lock()
	p.before = f
	p.mu.Unlock()
}

// startRecordedEnv is startEnv with one proxy whose primary is recorded.
func startRecordedEnv(t *testing.T, opts ...envOpt) (*env, *recordedPrimary) {
	t.Helper()
	e := &env{t: t}
	e.kafka = kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 4))
	em := emutest.Start(t, "primary")
	e.primary = em.Cluster
	rec := &recordedPrimary{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, seenRequest{method: r.Method, path: r.URL.EscapedPath(), rawQuery: r.URL.RawQuery})
		before := rec.before
		rec.mu.Unlock()
		if before != nil && before(w, r) {
			return
		}
		em.Cluster.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.primaryURL = srv.URL
	cfg := e.config()
	for _, o := range opts {
		o(&cfg)
	}
	e.proxies = append(e.proxies, startProxy(t, cfg))
	return e, rec
}
