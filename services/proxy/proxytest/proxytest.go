// Package proxytest runs fanout-proxy engines in the tests of any module (the proxy's
// own, the replicator's end-to-end suites, fanoutctl's), so that they all drive the
// real proxy the same way.
package proxytest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/services/proxy"
)

// Config returns a proxy configuration for tests: listeners on free loopback ports,
// the given primary and Kafka, and short timeouts. It compresses with snappy: lz4 (the
// default) takes a 4 MiB buffer per batch from a sync.Pool, which the race detector
// mostly empties, and that alone makes -race runs several times slower.
func Config(primaryURL string, brokers []string, topic string) proxy.Config {
	cfg := proxy.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.MetricsListen = "127.0.0.1:0"
	cfg.Primary.Endpoints = []string{primaryURL}
	cfg.Primary.Timeout = 30 * time.Second
	cfg.Kafka.Brokers = brokers
	cfg.Publish.Topic = topic
	cfg.Publish.Compression = "snappy"
	cfg.Publish.Timeout = 10 * time.Second
	cfg.Limits.ShutdownTimeout = 5 * time.Second
	cfg.Limits.ReadinessInterval = 100 * time.Millisecond
	return cfg
}

// Start runs a proxy with cfg until the test ends; log may be nil.
func Start(t testing.TB, cfg proxy.Config, log *slog.Logger) *proxy.Proxy {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := proxy.New(cfg, proxy.Deps{Logger: log})
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	Run(t, p)
	return p
}

// Run runs a proxy made by the caller until the test ends.
func Run(t testing.TB, p *proxy.Proxy) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("proxy Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("proxy did not stop within 15s")
		}
	})
}
