// Package telemetry holds what every fanout service exposes to operators: JSON slog
// logs, a Prometheus registry, and an HTTP server for /metrics, /healthz and /readyz
// (plus service-specific admin routes).
package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fanout-dev/fanout/pkg/buildinfo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// LogConfig configures logging.
type LogConfig struct {
	Level  string `koanf:"level"`  // debug, info, warn, error
	Format string `koanf:"format"` // json or text
}

// Validate checks the level and format.
func (c LogConfig) Validate() error {
	if _, err := parseLevel(c.Level); err != nil {
		return err
	}
	switch c.Format {
	case "json", "text":
		return nil
	}
	return fmt.Errorf("log.format: must be json or text, got %q", c.Format)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log.level: must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// NewLogger returns a logger writing to w as the config says.
func NewLogger(w io.Writer, c LogConfig) (*slog.Logger, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	level, _ := parseLevel(c.Level)
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

// NewRegistry returns a registry with the Go runtime and process collectors and
// fanout_build_info: every service builds its registry here, so every one says which
// build it is.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		BuildInfoGauge(buildinfo.Get()))
	return reg
}

// BuildInfoGauge is fanout_build_info{version,revision,goversion} 1, the usual info
// metric: join on it to label other series by build, or count builds in a fleet. The
// revision is the full commit hash, with "-dirty" for a tree with uncommitted changes.
func BuildInfoGauge(in buildinfo.Info) prometheus.Collector {
	rev := in.Revision
	if in.Modified {
		rev += "-dirty"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "fanout_build_info",
		Help:        "The running build: version, commit and Go version as labels; always 1.",
		ConstLabels: prometheus.Labels{"version": in.Version, "revision": rev, "goversion": in.GoVersion},
	})
	g.Set(1)
	return g
}

// Check reports whether one dependency is ready; nil means ready.
type Check func(ctx context.Context) error

// Server serves /metrics, /healthz, /readyz and any routes added with Handle.
type Server struct {
	mux    *http.ServeMux
	log    *slog.Logger
	mu     sync.Mutex
	checks map[string]Check
	names  []string
}

// NewServer returns a server exposing reg.
func NewServer(reg prometheus.Gatherer, log *slog.Logger) *Server {
	s := &Server{mux: http.NewServeMux(), log: log, checks: map[string]Check{}}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	return s
}

// AddCheck adds a readiness check under name.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.checks[name]; !dup {
		s.names = append(s.names, name)
	}
	s.checks[name] = c
}

// Handle adds a route, e.g. "POST /admin/pause".
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP makes the server usable with httptest.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Ready runs the checks and returns the failures by name.
func (s *Server) Ready(ctx context.Context) map[string]string {
	s.mu.Lock()
	names := append([]string(nil), s.names...)
	checks := make([]Check, len(names))
	for i, n := range names {
		checks[i] = s.checks[n]
	}
	s.mu.Unlock()
	failed := map[string]string{}
	for i, c := range checks {
		if err := c(ctx); err != nil {
			failed[names[i]] = err.Error()
		}
	}
	return failed
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	failed := s.Ready(ctx)
	w.Header().Set("Content-Type", "application/json")
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": false, "failed": failed})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ready": true})
}

// Run serves on addr until ctx is done, then shuts down within a few seconds. ln, when
// not nil, is used instead of listening on addr (tests pass a 127.0.0.1:0 listener).
func (s *Server) Run(ctx context.Context, addr string, ln net.Listener) error {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("metrics listener on %s: %w", addr, err)
		}
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics server: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("metrics server shutdown: %w", err)
	}
	<-errc
	return nil
}

// Addr formats a listener address as a URL for logs and banners.
func Addr(ln net.Listener) string {
	a := ln.Addr().String()
	if strings.HasPrefix(a, "[::]") {
		a = "127.0.0.1" + strings.TrimPrefix(a, "[::]")
	}
	return "http://" + a
}
