package proxy_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/services/proxy"
)

// TestPprofBehindTheAdminGuard: with admin.listen set, the proxy serves Go's profiles
// there, refused without the token (401) and to other origins (403); the client and
// metrics ports never serve them.
func TestPprofBehindTheAdminGuard(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("pr0f-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startEnv(t, 1, func(c *proxy.Config) {
		c.Admin.Listen = "127.0.0.1:0"
		c.Admin.TokenFile = tokenFile
	})
	p := e.proxies[0]
	get := func(base, path, token, origin string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, tc := range []struct {
		name, base, path, token, origin string
		code                            int
		has                             string
	}{
		{"anonymous", p.AdminURL(), "/debug/pprof/heap", "", "", 401, `"unauthorized"`},
		{"wrong token", p.AdminURL(), "/debug/pprof/heap", "pr0f-tokenX", "", 401, "admin.token_file"},
		{"other origin", p.AdminURL(), "/debug/pprof/goroutine?debug=1", "pr0f-token", "http://evil.example", 403, "cross_origin_refused"},
		{"goroutines with the token", p.AdminURL(), "/debug/pprof/goroutine?debug=1", "pr0f-token", "", 200, "goroutine profile"},
		{"index with the token", p.AdminURL(), "/debug/pprof/", "pr0f-token", "", 200, "heap"},
		{"not on the metrics port", p.MetricsURL(), "/debug/pprof/heap", "pr0f-token", "", 404, ""},
		{"not on the client port", p.URL(), "/debug/pprof/heap", "pr0f-token", "", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(tc.base, tc.path, tc.token, tc.origin)
			if tc.code == 0 {
				// The client port passes unknown paths to the primary, which has no such
				// route: anything but a profile.
				if code == 200 && strings.Contains(string(body), "heap profile") {
					t.Fatalf("the client port served a profile")
				}
				return
			}
			if code != tc.code || !strings.Contains(string(body), tc.has) {
				t.Fatalf("HTTP %d, want %d with %q: %.300s", code, tc.code, tc.has, body)
			}
		})
	}
	code, body := get(p.AdminURL(), "/debug/pprof/profile?seconds=1", "pr0f-token", "")
	if code != 200 || len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Fatalf("CPU profile: %d, %d bytes (want a gzipped profile)", code, len(body))
	}
}

func TestAdminConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*proxy.Config)
		err  string
	}{
		{"same as metrics_listen", func(c *proxy.Config) { c.Admin.Listen = c.MetricsListen }, "admin.listen"},
		{"same as listen", func(c *proxy.Config) { c.Admin.Listen = c.Listen }, "admin.listen"},
		{"blank token file", func(c *proxy.Config) { c.Admin.Listen = "127.0.0.1:9476"; c.Admin.TokenFile = " " }, "admin.token_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := proxy.DefaultConfig()
			tc.set(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tc.err)
			}
		})
	}
	// A token file that cannot be read stops the start, naming the key.
	cfg := proxy.DefaultConfig()
	cfg.Listen, cfg.MetricsListen = "127.0.0.1:0", ""
	cfg.Admin.Listen, cfg.Admin.TokenFile = "127.0.0.1:0", filepath.Join(t.TempDir(), "missing")
	if _, err := proxy.New(cfg, proxy.Deps{}); err == nil || !strings.Contains(err.Error(), "admin.token_file") {
		t.Fatalf("New with a missing token file: %v, want an admin.token_file error", err)
	}
}
