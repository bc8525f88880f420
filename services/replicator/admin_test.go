package replicator_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// adminRequest sends one request to a replicator's admin listener over real HTTP.
type adminRequest struct {
	method, path string
	contentType  string
	body         string
	token        string // "" sends no Authorization header
	origin       string
	header       string // AdminHeader value; "" sends none
}

func (a adminRequest) do(t *testing.T, base string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(a.method, base+a.path, strings.NewReader(a.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true
	if a.contentType != "" {
		req.Header.Set("Content-Type", a.contentType)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	if a.origin != "" {
		req.Header.Set("Origin", a.origin)
	}
	if a.header != "" {
		req.Header.Set(replicator.AdminHeader, a.header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func writeTokenFile(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestAdminRefusesAnonymousAndCrossOrigin: with admin.token_file set, the admin
// listener refuses a request without the token or with another one (401), one from
// another origin (403) and a pause a web page could send without a preflight (415);
// the token (read without its trailing newline) with JSON or the custom header pauses
// and resumes, and reads the status. No refused request changes anything.
func TestAdminRefusesAnonymousAndCrossOrigin(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	target := startEmulator(t, "b")
	cfg := testConfig(k, target, "b")
	cfg.Admin.TokenFile = writeTokenFile(t, "s3cret-token\n")
	r := startReplicator(t, cfg)
	base := r.AdminURL()
	self := base // the admin address itself, as a page served by it would send

	const tok = "s3cret-token"
	cases := []struct {
		name   string
		req    adminRequest
		code   int
		errTyp string
		paused bool // the state after the request
	}{
		{name: "anonymous JSON pause", code: 401, errTyp: "unauthorized",
			req: adminRequest{method: "POST", path: "/admin/pause", contentType: "application/json", body: "{}"}},
		{name: "wrong token", code: 401, errTyp: "unauthorized",
			req: adminRequest{method: "POST", path: "/admin/pause", contentType: "application/json", body: "{}", token: "s3cret-tokeN"}},
		{name: "token with the newline", code: 401, errTyp: "unauthorized",
			req: adminRequest{method: "POST", path: "/admin/pause", contentType: "application/json", body: "{}", token: tok + "x"}},
		{name: "anonymous status", code: 401, errTyp: "unauthorized",
			req: adminRequest{method: "GET", path: "/admin/status"}},
		{name: "cross-origin text/plain pause, as a web page sends it", code: 403, errTyp: "cross_origin_refused",
			req: adminRequest{method: "POST", path: "/admin/pause", contentType: "text/plain", body: "x", origin: "http://evil.example"}},
		{name: "cross-origin JSON pause with the token", code: 403, errTyp: "cross_origin_refused",
			req: adminRequest{method: "POST", path: "/admin/pause", contentType: "application/json", body: "{}", token: tok, origin: "http://evil.example"}},
		{name: "rebound DNS name as origin", code: 403, errTyp: "cross_origin_refused",
			req: adminRequest{method: "POST", path: "/admin/pause", contentType: "application/json", body: "{}", token: tok, origin: "http://evil.example" + strings.TrimPrefix(base, "http://127.0.0.1")}},
		{name: "text/plain pause with the token", code: 415, errTyp: "unsupported_media_type",
			req: adminRequest{method: "POST", path: "/admin/pause", contentType: "text/plain;charset=UTF-8", body: "{}", token: tok}},
		{name: "form pause with the token", code: 415, errTyp: "unsupported_media_type",
			req: adminRequest{method: "POST", path: "/admin/pause", contentType: "application/x-www-form-urlencoded", body: "a=1", token: tok}},
		{name: "status with the token", code: 200,
			req: adminRequest{method: "GET", path: "/admin/status", token: tok}},
		{name: "anonymous profile", code: 401, errTyp: "unauthorized",
			req: adminRequest{method: "GET", path: "/debug/pprof/heap"}},
		{name: "cross-origin goroutine dump", code: 403, errTyp: "cross_origin_refused",
			req: adminRequest{method: "GET", path: "/debug/pprof/goroutine?debug=1", token: tok, origin: "http://evil.example"}},
		{name: "goroutine dump with the token", code: 200,
			req: adminRequest{method: "GET", path: "/debug/pprof/goroutine?debug=1", token: tok}},
		{name: "JSON pause with the token", code: 200, paused: true,
			req: adminRequest{method: "POST", path: "/admin/pause", contentType: "application/json; charset=utf-8", body: "{}", token: tok}},
		{name: "anonymous resume", code: 401, errTyp: "unauthorized", paused: true,
			req: adminRequest{method: "POST", path: "/admin/resume", header: "1"}},
		{name: "resume with the custom header, from the admin's own origin", code: 200,
			req: adminRequest{method: "POST", path: "/admin/resume", header: "1", token: tok, origin: self}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := c.req.do(t, base)
			if code != c.code {
				t.Fatalf("HTTP %d, want %d: %s", code, c.code, body)
			}
			if c.errTyp != "" {
				var e struct {
					Error struct {
						Type   string `json:"type"`
						Reason string `json:"reason"`
					} `json:"error"`
					Status int `json:"status"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Type != c.errTyp || e.Status != c.code || e.Error.Reason == "" {
					t.Fatalf("error body %s (%v), want type %s and status %d", body, err, c.errTyp, c.code)
				}
			}
			if got := r.Status().Paused; got != c.paused {
				t.Fatalf("paused = %v after the request, want %v", got, c.paused)
			}
		})
	}

	// A CPU profile, as `go tool pprof -H 'Authorization: Bearer …' …/debug/pprof/profile`
	// fetches it: a gzipped profile.proto.
	code, body := adminRequest{method: "GET", path: "/debug/pprof/profile?seconds=1", token: tok}.do(t, base)
	if code != 200 || len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Fatalf("CPU profile with the token: %d, %d bytes (want a gzipped profile)", code, len(body))
	}
	if code, _ := (adminRequest{method: "GET", path: "/debug/pprof/heap"}).do(t, r.MetricsURL()); code != http.StatusNotFound {
		t.Errorf("the unauthenticated metrics port serves /debug/pprof/heap: %d", code)
	}

	code, body = adminRequest{method: "GET", path: "/admin/status", token: tok}.do(t, base)
	var st replicator.Status
	if code != 200 || json.Unmarshal(body, &st) != nil || st.Cluster != "b" || st.Group != "fanout-replicator-b" {
		t.Fatalf("status with the token: %d %s", code, body)
	}
}

// TestAdminListenerOfItsOwn: the admin routes are not on the metrics port, and the
// default admin address is loopback only: nothing on another interface of the machine
// reaches it.
func TestAdminListenerOfItsOwn(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b")
	cfg := testConfig(k, target, "b")
	host, _, err := net.SplitHostPort(replicator.DefaultConfig().Admin.Listen)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Fatalf("default admin.listen %q is not a loopback address", replicator.DefaultConfig().Admin.Listen)
	}
	cfg.Admin.Listen = net.JoinHostPort(host, "0") // the default host, a free port
	r := startReplicator(t, cfg)

	u, err := url.Parse(r.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		t.Fatalf("admin listens on %s, want loopback", u.Host)
	}
	if code, _ := httpDo(t, "POST", r.MetricsURL()+"/admin/pause", "{}"); code != http.StatusNotFound {
		t.Errorf("POST /admin/pause on the metrics port: HTTP %d, want 404", code)
	}
	if code, _ := httpDo(t, "GET", r.AdminURL()+"/metrics", ""); code != http.StatusNotFound {
		t.Errorf("GET /metrics on the admin port: HTTP %d, want 404", code)
	}
	if r.Status().Paused {
		t.Fatal("paused through the metrics port")
	}

	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		tried++
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ipn.IP.String(), u.Port()), 2*time.Second)
		if err == nil {
			c.Close()
			t.Errorf("admin port %s reachable on %s", u.Port(), ipn.IP)
		}
	}
	t.Logf("checked the admin port is closed on %d non-loopback addresses", tried)
}

// TestAdminConfigErrors: a missing or empty token file, and an admin address shared
// with the metrics, are configuration errors naming the key.
func TestAdminConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(t *testing.T, c *replicator.Config)
		want string
	}{
		{name: "missing token file", want: "admin.token_file", edit: func(t *testing.T, c *replicator.Config) {
			c.Admin.TokenFile = filepath.Join(t.TempDir(), "nope")
		}},
		{name: "empty token file", want: "admin.token_file", edit: func(t *testing.T, c *replicator.Config) {
			c.Admin.TokenFile = writeTokenFile(t, "\n")
		}},
		{name: "token with a space", want: "admin.token_file", edit: func(t *testing.T, c *replicator.Config) {
			c.Admin.TokenFile = writeTokenFile(t, "two words\n")
		}},
		{name: "admin on the metrics address", want: "admin.listen", edit: func(t *testing.T, c *replicator.Config) {
			c.MetricsListen, c.Admin.Listen = "127.0.0.1:9999", "127.0.0.1:9999"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := replicatortest.Config("b", "http://127.0.0.1:1", []string{"127.0.0.1:1"}, topic)
			c.edit(t, &cfg)
			r, err := replicator.New(cfg, replicator.Deps{})
			if err == nil {
				t.Fatalf("New accepted the configuration (admin %s)", r.AdminURL())
			}
			if !strings.HasPrefix(err.Error(), c.want+":") {
				t.Fatalf("error %q does not name %s", err, c.want)
			}
		})
	}
}
