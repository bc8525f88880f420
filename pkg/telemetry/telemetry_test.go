package telemetry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/fanout-dev/fanout/pkg/buildinfo"
	"github.com/fanout-dev/fanout/pkg/telemetry"
)

// TestMain fails the package when its tests leave goroutines behind (servers not shut
// down). pkg keeps goleak out of its go.mod, so this is the small check goleak would make:
// wait a little for goroutines to wind down, then compare with the count at start.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			os.Stderr.Write(buf[:runtime.Stack(buf, true)])
			os.Stderr.WriteString("telemetry tests leaked goroutines (see stacks above)\n")
			code = 1
		}
	}
	os.Exit(code)
}

func TestLogger(t *testing.T) {
	tests := []struct {
		name    string
		cfg     telemetry.LogConfig
		wantErr string
		want    string
	}{
		{name: "json", cfg: telemetry.LogConfig{Level: "info", Format: "json"}, want: `"msg":"hello"`},
		{name: "text", cfg: telemetry.LogConfig{Level: "debug", Format: "text"}, want: "msg=hello"},
		{name: "bad level", cfg: telemetry.LogConfig{Level: "loud", Format: "json"}, wantErr: "log.level"},
		{name: "bad format", cfg: telemetry.LogConfig{Level: "info", Format: "xml"}, wantErr: "log.format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			log, err := telemetry.NewLogger(&b, tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			log.Info("hello")
			if !strings.Contains(b.String(), tt.want) {
				t.Fatalf("log %q lacks %q", b.String(), tt.want)
			}
		})
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestServerRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	promauto.With(reg).NewCounter(prometheus.CounterOpts{Name: "fanout_test_things_total", Help: "Things."}).Add(3)
	s := telemetry.NewServer(reg, nil)
	healthy := true
	s.AddCheck("primary", func(context.Context) error {
		if healthy {
			return nil
		}
		return errors.New("connection refused")
	})
	s.Handle("GET /admin/status", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "{}") }))

	if code, body := get(t, s, "/metrics"); code != 200 || !strings.Contains(body, "fanout_test_things_total 3") {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	if code, _ := get(t, s, "/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	if code, body := get(t, s, "/readyz"); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	healthy = false
	if code, body := get(t, s, "/readyz"); code != 503 || !strings.Contains(body, "connection refused") {
		t.Fatalf("/readyz unready: %d %s", code, body)
	}
	if code, _ := get(t, s, "/admin/status"); code != 200 {
		t.Fatalf("/admin/status: %d", code)
	}
}

func TestServerRunStops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := telemetry.NewServer(prometheus.NewRegistry(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, "", ln) }()
	resp, err := http.Get(telemetry.Addr(ln) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestBuildInfo: every registry the services build carries fanout_build_info with the
// running build's labels, and a dirty tree shows in the revision.
func TestBuildInfo(t *testing.T) {
	in := buildinfo.Get()
	rev := in.Revision
	if in.Modified {
		rev += "-dirty"
	}
	tests := []struct {
		name string
		reg  func() prometheus.Gatherer
		want map[string]string
	}{
		{
			name: "NewRegistry registers the running build",
			reg:  func() prometheus.Gatherer { return telemetry.NewRegistry() },
			want: map[string]string{"version": in.Version, "revision": rev, "goversion": runtime.Version()},
		},
		{
			name: "a modified tree is revision-dirty",
			reg: func() prometheus.Gatherer {
				reg := prometheus.NewRegistry()
				reg.MustRegister(telemetry.BuildInfoGauge(buildinfo.Info{Version: "0.4.0", Revision: "abc", Modified: true, GoVersion: "go1.26.8"}))
				return reg
			},
			want: map[string]string{"version": "0.4.0", "revision": "abc-dirty", "goversion": "go1.26.8"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mfs, err := tt.reg().Gather()
			if err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, mf := range mfs {
				if mf.GetName() != "fanout_build_info" {
					continue
				}
				found = true
				if len(mf.GetMetric()) != 1 {
					t.Fatalf("fanout_build_info has %d series, want 1", len(mf.GetMetric()))
				}
				m := mf.GetMetric()[0]
				if v := m.GetGauge().GetValue(); v != 1 {
					t.Errorf("fanout_build_info = %v, want 1", v)
				}
				got := map[string]string{}
				for _, l := range m.GetLabel() {
					got[l.GetName()] = l.GetValue()
				}
				if len(got) != len(tt.want) {
					t.Errorf("labels %v, want %v", got, tt.want)
				}
				for k, v := range tt.want {
					if got[k] != v {
						t.Errorf("label %s = %q, want %q", k, got[k], v)
					}
				}
			}
			if !found {
				t.Fatal("no fanout_build_info in the registry")
			}
		})
	}
}
