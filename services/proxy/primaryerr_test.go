package proxy_test

import (
	"bufio"
	"crypto/tls"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// TestPrimaryFailureOutcome: a write whose primary call fails before the primary took
// it in (refused, DNS, the primary's certificate not trusted, the client's refused) is
// a 502 "not applied", counted by reason; one the primary may have taken in (it
// accepted the request and never answered) stays a 504 "may or may not have been
// applied", counted as an unknown outcome. Neither answer names an internal address;
// the proxy's log has the cause, under the request id the client is given.
func TestPrimaryFailureOutcome(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))

	quiet := log.New(io.Discard, "", 0) // the servers' handshake errors are expected
	badCert := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("a request reached the server whose certificate is not trusted")
	}))
	badCert.Config.ErrorLog = quiet
	badCert.StartTLS()
	t.Cleanup(badCert.Close)

	// A server that trusts no client certificate, with a CA file the proxy trusts.
	mtls := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("a request reached the server that refuses the proxy's certificate")
	}))
	mtls.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS13}
	mtls.Config.ErrorLog = quiet
	mtls.StartTLS()
	t.Cleanup(mtls.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: mtls.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	hang := hangingServer(t)

	tests := []struct {
		name     string
		endpoint string
		tweak    func(*proxy.Config)
		status   int
		reason   string // fanout_proxy_primary_not_applied_total's label; "" for unknown
		says     string
	}{
		{name: "connection refused", endpoint: "http://" + closedPort(t), status: 502, reason: "connect", says: "the connection failed"},
		{name: "host does not resolve", endpoint: "http://fanout-test.invalid:9200", status: 502, reason: "dns", says: "its host name does not resolve"},
		{name: "primary's certificate not trusted", endpoint: badCert.URL, status: 502, reason: "tls", says: "the TLS handshake failed"},
		{name: "proxy's certificate refused", endpoint: mtls.URL, status: 502, reason: "tls", says: "the TLS handshake failed",
			tweak: func(c *proxy.Config) { c.Primary.TLS.Enabled, c.Primary.TLS.CAFile = true, caFile }},
		{name: "accepted, never answered", endpoint: hang, status: 504, says: "may or may not have been applied",
			tweak: func(c *proxy.Config) { c.Primary.Timeout = 500 * time.Millisecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := proxytest.Config(tt.endpoint, k.Addrs(), topic)
			cfg.Primary.Timeout = 10 * time.Second
			if tt.tweak != nil {
				tt.tweak(&cfg)
			}
			var logs syncBuffer
			p := proxytest.Start(t, cfg, slog.New(slog.NewJSONHandler(&logs, nil)))

			req, _ := http.NewRequest(http.MethodPost, p.URL()+"/i/_doc", strings.NewReader(`{"a":1}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Opaque-Id", "req-42")
			r := do(t, req)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s\n%s", r.status, tt.status, r.body, logs.String())
			}
			ans := r.json(t)
			errObj, _ := ans["error"].(map[string]any)
			reason, _ := errObj["reason"].(string)
			if errObj["type"] != "fanout_primary_exception" || !strings.Contains(reason, tt.says) || !strings.Contains(reason, "[request id req-42]") {
				t.Fatalf("error body %s", r.body)
			}
			host := strings.TrimPrefix(strings.TrimPrefix(tt.endpoint, "http://"), "https://")
			hostname, port, _ := net.SplitHostPort(host)
			for _, leak := range []string{host, hostname, ":" + port, "127.0.0.1", "dial", "tcp"} {
				if strings.Contains(string(r.body), leak) {
					t.Errorf("the answer names %q: %s", leak, r.body)
				}
			}
			if !strings.Contains(logs.String(), `"request_id":"req-42"`) || !strings.Contains(logs.String(), hostname) {
				t.Errorf("the log lacks the request id or the cause:\n%s", logs.String())
			}

			unknown := counterValue(t, p.MetricsURL(), "fanout_proxy_primary_unknown_outcome_total")
			notApplied, counted := metricValue(t, p.MetricsURL(), `fanout_proxy_primary_not_applied_total{reason="`+tt.reason+`"}`)
			if tt.reason == "" {
				if unknown != 1 {
					t.Errorf("unknown outcomes %d, want 1", unknown)
				}
			} else if unknown != 0 || !counted || notApplied != 1 {
				t.Errorf("unknown outcomes %d, not applied (%s) %d, want 0 and 1", unknown, tt.reason, notApplied)
			}
		})
	}
}

// TestPassThroughErrorNamesNoAddress: a read that gets no answer is a 502 that names no
// address either.
func TestPassThroughErrorNamesNoAddress(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	addr := closedPort(t)
	cfg := proxytest.Config("http://"+addr, k.Addrs(), topic)
	p := proxytest.Start(t, cfg, nil)
	r := send(t, http.MethodGet, p.URL()+"/i/_doc/1", "")
	if r.status != 502 || !strings.Contains(string(r.body), "fanout_primary_exception") || !strings.Contains(string(r.body), "[request id ") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	_, port, _ := net.SplitHostPort(addr)
	if strings.Contains(string(r.body), "127.0.0.1") || strings.Contains(string(r.body), port) {
		t.Fatalf("the answer names the primary: %s", r.body)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(freePort(t))
}

// hangingServer accepts connections, reads what comes and never answers, until the
// test ends. It returns its URL.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(io.Discard, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// metricValue reads one series from /metrics; ok is false when it is absent.
func metricValue(t *testing.T, metricsURL, series string) (int, bool) {
	t.Helper()
	r := send(t, http.MethodGet, metricsURL+"/metrics", "")
	for _, line := range strings.Split(string(r.body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return int(f), true
		}
	}
	return 0, false
}
