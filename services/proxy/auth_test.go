package proxy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"golang.org/x/crypto/bcrypt"

	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/testbed/searchemu/emutest"
)

func basicAuth(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

func apiKeyAuth(id, key string) string {
	return "ApiKey " + base64.StdEncoding.EncodeToString([]byte(id+":"+key))
}

// seen records the headers of the requests that reached the primary, but its readiness
// probes (GET /) and the cluster client's background health checks.
type seen struct {
	mu   sync.Mutex
	reqs []seenReq
}

type seenReq struct {
	method, path string
	header       http.Header
}

func (s *seen) observe(r *http.Request) {
	if r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/_cluster/health") || strings.HasPrefix(r.URL.Path, "/_nodes") {
		return
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, seenReq{r.Method, r.URL.Path, r.Header.Clone()})
	s.mu.Unlock()
}

func (s *seen) take() []seenReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.reqs
	s.reqs = nil
	return out
}

// securedEnv is a secured primary (users alice, bob, fanout; alice may run as bob,
// fanout as anyone; an API key of alice's), an embedded Kafka and one proxy.
type securedEnv struct {
	*env
	seen *seen
}

func startSecured(t *testing.T, flavor searchemu.Flavor, opts ...envOpt) *securedEnv {
	t.Helper()
	s := &seen{}
	e := &env{t: t}
	e.kafka = kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 4))
	emu := emutest.Start(t, "primary", func(o *searchemu.Options) {
		o.Flavor = flavor
		o.Observe = s.observe
		o.Security = &searchemu.Security{
			Users: []searchemu.SecurityUser{
				{Name: "alice", Password: "alice-pw", Roles: []string{"writer"}, RunAs: []string{"bob"}},
				{Name: "bob", Password: "bob-pw", Roles: []string{"reader"}},
				{Name: "fanout", Password: "fanout-pw", Roles: []string{"superuser"}, RunAs: []string{"*"}},
			},
			APIKeys: []searchemu.SecurityAPIKey{{ID: "k1", Key: "alice-key", Name: "ingest", Owner: "alice"}},
		}
	})
	e.primary, e.primarySrv, e.primaryURL = emu.Cluster, emu.Server, emu.URL
	cfg := e.config()
	for _, o := range opts {
		o(&cfg)
	}
	e.proxies = append(e.proxies, startProxy(t, cfg))
	e.sentinelHeaders = []string{"Authorization", basicAuth("alice", "alice-pw")}
	return &securedEnv{env: e, seen: s}
}

// call sends a request with headers (name, value pairs) to base+path.
func call(t *testing.T, method, url, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		ct := "application/json"
		if strings.Contains(url, "_bulk") {
			ct = "application/x-ndjson"
		}
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, req)
}

// refusedRequests are writes, reads and an index delete, each of which a client
// without valid credentials must be refused.
var refusedRequests = []struct{ method, path, body string }{
	{"PUT", "/books/_doc/1", `{"title":"mine"}`},
	{"POST", "/books/_doc", `{"title":"auto"}`},
	{"POST", "/_bulk", "{\"index\":{\"_index\":\"books\",\"_id\":\"2\"}}\n{\"title\":\"b\"}\n{\"delete\":{\"_index\":\"books\",\"_id\":\"0\"}}\n"},
	{"POST", "/books/_update/0", `{"doc":{"title":"changed"}}`},
	{"DELETE", "/books/_doc/0", ""},
	{"GET", "/_cat/indices", ""},
	{"GET", "/books/_doc/0", ""},
	{"DELETE", "/books", ""},
}

// TestPassthroughRefusesWhatThePrimaryRefuses: in the default mode the proxy lends no
// credentials: a client without any, or with wrong ones, gets exactly the primary's 401
// (or 403) for every call, nothing is applied and nothing is published.
func TestPassthroughRefusesWhatThePrimaryRefuses(t *testing.T) {
	for _, flavor := range []searchemu.Flavor{searchemu.Elasticsearch7, searchemu.Elasticsearch8, searchemu.OpenSearch2} {
		t.Run(flavor.String(), func(t *testing.T) {
			e := startSecured(t, flavor)
			// One document, written by a client with credentials.
			if r := call(t, "PUT", e.url()+"/books/_doc/0?refresh=true", `{"title":"kept"}`, "Authorization", basicAuth("alice", "alice-pw")); r.status != 201 {
				t.Fatalf("authorised write: %d %s", r.status, r.body)
			}
			if ops := e.published(); len(ops) != 1 {
				t.Fatalf("want the authorised write's event, got %v", ops)
			}

			clients := []struct {
				name    string
				headers []string
				status  int
			}{
				{"anonymous", nil, 401},
				{"wrong password", []string{"Authorization", basicAuth("alice", "guess")}, 401},
				{"unknown user", []string{"Authorization", basicAuth("mallory", "x")}, 401},
				{"wrong API key", []string{"Authorization", apiKeyAuth("k1", "guess")}, 401},
			}
			for _, c := range clients {
				for _, rq := range refusedRequests {
					got := call(t, rq.method, e.url()+rq.path, rq.body, c.headers...)
					direct := call(t, rq.method, e.primaryURL+rq.path, rq.body, c.headers...)
					if got.status != c.status || direct.status != c.status {
						t.Errorf("%s %s %s: proxy %d, primary %d, want %d: %s", c.name, rq.method, rq.path, got.status, direct.status, c.status, got.body)
						continue
					}
					// An update's reason names the URI the primary got, which carries the
					// proxy's _source=true (write.go planDoc).
					if !bytes.Equal(got.body, direct.body) && !strings.Contains(rq.path, "_update") {
						t.Errorf("%s %s %s: the proxy's answer differs from the primary's:\n proxy   %s\n primary %s", c.name, rq.method, rq.path, got.body, direct.body)
					}
					if g, d := got.header.Values("WWW-Authenticate"), direct.header.Values("WWW-Authenticate"); strings.Join(g, "|") != strings.Join(d, "|") {
						t.Errorf("%s %s %s: WWW-Authenticate %q, the primary's %q", c.name, rq.method, rq.path, g, d)
					}
				}
			}
			if ops := e.published(); len(ops) != 1 {
				t.Fatalf("want only the authorised write's event, got %d: %v", len(ops), ops)
			}
			r := call(t, "GET", e.url()+"/books/_doc/0", "", "Authorization", basicAuth("alice", "alice-pw"))
			if r.status != 200 || !strings.Contains(string(r.body), `"kept"`) {
				t.Fatalf("the document must be untouched: %d %s", r.status, r.body)
			}
		})
	}
}

// TestPassthroughPrimaryRefusalPublishesNothing: a 403 from the primary (a run as the
// user may not do, let through with auth.pass_headers) publishes nothing either.
func TestPassthroughPrimaryRefusalPublishesNothing(t *testing.T) {
	e := startSecured(t, searchemu.Elasticsearch8, func(c *proxy.Config) { c.Auth.PassHeaders = []string{"es-security-runas-user"} })
	for _, rq := range refusedRequests {
		r := call(t, rq.method, e.url()+rq.path, rq.body, "Authorization", basicAuth("bob", "bob-pw"), "es-security-runas-user", "alice")
		if r.status != 403 || !strings.Contains(string(r.body), "is unauthorized to run as [alice]") {
			t.Errorf("%s %s: want the primary's 403, got %d %s", rq.method, rq.path, r.status, r.body)
		}
	}
	e.noEvents()
}

// TestPassthroughClientCredentialsReachThePrimary: the primary sees each client's own
// credentials, basic or API key, on the client's requests and on the routing lookups the
// proxy makes for its updates; events are published for what it accepted.
func TestPassthroughClientCredentialsReachThePrimary(t *testing.T) {
	e := startSecured(t, searchemu.Elasticsearch8)
	for _, c := range []struct {
		name, auth, user, authType string
	}{
		{"basic", basicAuth("alice", "alice-pw"), "alice", "realm"},
		{"API key", apiKeyAuth("k1", "alice-key"), "alice", "api_key"},
		{"another user", basicAuth("bob", "bob-pw"), "bob", "realm"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, "GET", e.url()+"/_security/_authenticate", "", "Authorization", c.auth)
			if r.status != 200 {
				t.Fatalf("authenticate: %d %s", r.status, r.body)
			}
			var who struct{ Username, AuthenticationType string }
			_ = json.Unmarshal(r.body, &who)
			if who.Username != c.user {
				t.Fatalf("the primary saw user %q, want %q: %s", who.Username, c.user, r.body)
			}
			e.seen.take()
			if r := call(t, "PUT", e.url()+"/books/_doc/"+c.user, `{"n":1}`, "Authorization", c.auth); r.status/100 != 2 {
				t.Fatalf("write: %d %s", r.status, r.body)
			}
			// an update whose routing the proxy looks up (_mget) before and after
			if r := call(t, "POST", e.url()+"/books/_update/"+c.user, `{"doc":{"n":2}}`, "Authorization", c.auth); r.status != 200 {
				t.Fatalf("update: %d %s", r.status, r.body)
			}
			reqs := e.seen.take()
			var lookups int
			for _, rq := range reqs {
				if got := rq.header.Get("Authorization"); got != c.auth {
					t.Errorf("%s %s reached the primary with Authorization %q, want the client's %q", rq.method, rq.path, got, c.auth)
				}
				if rq.path == "/_mget" {
					lookups++
				}
			}
			if lookups == 0 {
				t.Errorf("want the update's routing lookup among %v", reqs)
			}
		})
	}
	if ops := e.published(); len(ops) != 6 {
		t.Fatalf("want 6 events (3 writes, 3 updates), got %d: %v", len(ops), ops)
	}
}

// TestIdentityHeadersStripped: headers that assert an identity or an address never
// reach the primary from a client, unless auth.pass_headers names them; X-Forwarded-For
// is the proxy's own, from the connection.
func TestIdentityHeadersStripped(t *testing.T) {
	spoof := []string{
		"es-security-runas-user", "bob",
		"opendistro_security_impersonate_as", "bob",
		"x-proxy-user", "admin",
		"x-proxy-roles", "all_access",
		"securitytenant", "global_tenant",
		"X-Forwarded-For", "10.9.8.7",
		"Forwarded", "for=10.9.8.7",
		"X-Real-IP", "10.9.8.7",
	}
	t.Run("elasticsearch run as", func(t *testing.T) {
		e := startSecured(t, searchemu.Elasticsearch7)
		r := call(t, "GET", e.url()+"/_security/_authenticate", "", append([]string{"Authorization", basicAuth("alice", "alice-pw")}, spoof...)...)
		if r.status != 200 || !strings.Contains(string(r.body), `"username":"alice"`) {
			t.Fatalf("the primary must see alice, not whom she asked to run as: %d %s", r.status, r.body)
		}
		reqs := e.seen.take()
		if len(reqs) != 1 {
			t.Fatalf("want one request at the primary, got %v", reqs)
		}
		h := reqs[0].header
		for i := 0; i < len(spoof); i += 2 {
			name := spoof[i]
			if name == "X-Forwarded-For" {
				if got := h.Values(name); len(got) != 1 || got[0] != "127.0.0.1" {
					t.Errorf("X-Forwarded-For want the connection's 127.0.0.1 only, got %q", got)
				}
				continue
			}
			if got := h.Values(name); len(got) > 0 {
				t.Errorf("%s reached the primary: %q", name, got)
			}
		}
	})
	t.Run("opensearch impersonation and tenant", func(t *testing.T) {
		e := startSecured(t, searchemu.OpenSearch2)
		r := call(t, "GET", e.url()+"/_plugins/_security/authinfo", "", append([]string{"Authorization", basicAuth("alice", "alice-pw")}, spoof...)...)
		var info struct {
			UserName      string  `json:"user_name"`
			Tenant        *string `json:"user_requested_tenant"`
			RemoteAddress string  `json:"remote_address"`
		}
		_ = json.Unmarshal(r.body, &info)
		if r.status != 200 || info.UserName != "alice" || info.Tenant != nil {
			t.Fatalf("want alice with no requested tenant: %d %s", r.status, r.body)
		}
	})
	t.Run("pass_headers lets named ones through", func(t *testing.T) {
		e := startSecured(t, searchemu.Elasticsearch7, func(c *proxy.Config) {
			c.Auth.PassHeaders = []string{"Es-Security-Runas-User", "x-forwarded-for"}
		})
		r := call(t, "GET", e.url()+"/_security/_authenticate", "", append([]string{"Authorization", basicAuth("alice", "alice-pw")}, spoof...)...)
		if r.status != 200 || !strings.Contains(string(r.body), `"username":"bob"`) {
			t.Fatalf("with es-security-runas-user passed, alice runs as bob: %d %s", r.status, r.body)
		}
		h := e.seen.take()[0].header
		if got := h.Get("X-Forwarded-For"); got != "10.9.8.7, 127.0.0.1" {
			t.Errorf("X-Forwarded-For want the client's then the connection's, got %q", got)
		}
		if got := h.Get("X-Proxy-User"); got != "" {
			t.Errorf("x-proxy-user is not passed: %q", got)
		}
	})
}

// proxyModeFiles writes a users file (bcrypt) and an API keys file (SHA-256) and
// returns their paths.
func proxyModeFiles(t *testing.T, users map[string]string, keys map[string]string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	var u, k strings.Builder
	u.WriteString("# fanout-proxy users\n\n")
	for name, pw := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		u.WriteString(name + ":" + string(h) + "\n")
	}
	for id, key := range keys {
		sum := sha256.Sum256([]byte(key))
		k.WriteString(id + ":" + hex.EncodeToString(sum[:]) + "\n")
	}
	up, kp := filepath.Join(dir, "users"), filepath.Join(dir, "api_keys")
	if err := os.WriteFile(up, []byte(u.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kp, []byte(k.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return up, kp
}

// TestProxyMode: the proxy authenticates clients itself against its files and sends
// their requests on with its own credentials; anyone else gets an Elasticsearch-shaped
// 401, nothing reaches the primary and nothing is published.
func TestProxyMode(t *testing.T) {
	usersFile, keysFile := proxyModeFiles(t, map[string]string{"carl": "carl-pw"}, map[string]string{"ingest-1": "0123456789abcdef0123456789abcdef"})
	e := startSecured(t, searchemu.Elasticsearch8, func(c *proxy.Config) {
		c.Auth = proxy.AuthConfig{Mode: proxy.AuthProxy, UsersFile: usersFile, APIKeysFile: keysFile}
		c.Primary.Username, c.Primary.Password = "fanout", "fanout-pw"
	})
	e.sentinelHeaders = []string{"Authorization", basicAuth("carl", "carl-pw")}
	const challenges = `["Basic realm=\"fanout\", charset=\"UTF-8\"","ApiKey"]`
	refused := func(reason string) string {
		inner := `"type":"security_exception","reason":"` + reason + `","header":{"WWW-Authenticate":` + challenges + `}`
		return `{"error":{"root_cause":[{` + inner + `}],` + inner + `},"status":401}`
	}
	for _, c := range []struct {
		name    string
		headers []string
		reason  func(path string) string
	}{
		{"anonymous", nil, func(p string) string { return "missing authentication credentials for REST request [" + p + "]" }},
		{"wrong password", []string{"Authorization", basicAuth("carl", "guess")}, func(p string) string {
			return "unable to authenticate user [carl] for REST request [" + p + "]"
		}},
		{"unknown user", []string{"Authorization", basicAuth("alice", "alice-pw")}, func(p string) string {
			return "unable to authenticate user [alice] for REST request [" + p + "]"
		}},
		{"the proxy's own primary credentials", []string{"Authorization", basicAuth("fanout", "fanout-pw")}, func(p string) string {
			return "unable to authenticate user [fanout] for REST request [" + p + "]"
		}},
		{"wrong API key", []string{"Authorization", apiKeyAuth("ingest-1", "guess")}, func(p string) string {
			return "unable to authenticate API key [ingest-1] for REST request [" + p + "]"
		}},
		{"a primary API key", []string{"Authorization", apiKeyAuth("k1", "alice-key")}, func(p string) string {
			return "unable to authenticate API key [k1] for REST request [" + p + "]"
		}},
		{"bearer token", []string{"Authorization", "Bearer abc"}, func(p string) string { return "missing authentication credentials for REST request [" + p + "]" }},
	} {
		for _, rq := range refusedRequests {
			r := call(t, rq.method, e.url()+rq.path, rq.body, c.headers...)
			if r.status != 401 {
				t.Errorf("%s %s %s: want 401, got %d %s", c.name, rq.method, rq.path, r.status, r.body)
				continue
			}
			if got, want := compactJSON(t, r.body), refused(c.reason(rq.path)); got != want {
				t.Errorf("%s %s %s:\n got  %s\n want %s", c.name, rq.method, rq.path, got, want)
			}
			if got := r.header.Values("WWW-Authenticate"); len(got) != 2 {
				t.Errorf("%s: WWW-Authenticate %q", c.name, got)
			}
		}
	}
	if reqs := e.seen.take(); len(reqs) > 0 {
		t.Errorf("refused requests reached the primary: %v", reqs)
	}
	e.noEvents()

	// Clients the proxy knows act with its credentials; run as is stripped.
	for _, auth := range []string{basicAuth("carl", "carl-pw"), apiKeyAuth("ingest-1", "0123456789abcdef0123456789abcdef")} {
		r := call(t, "PUT", e.url()+"/books/_doc/1", `{"n":1}`, "Authorization", auth, "es-security-runas-user", "bob")
		if r.status/100 != 2 {
			t.Fatalf("write: %d %s", r.status, r.body)
		}
		r = call(t, "GET", e.url()+"/_security/_authenticate", "", "Authorization", auth, "es-security-runas-user", "bob")
		if r.status != 200 || !strings.Contains(string(r.body), `"username":"fanout"`) {
			t.Fatalf("the primary must see the proxy's user: %d %s", r.status, r.body)
		}
	}
	for _, rq := range e.seen.take() {
		if got := rq.header.Get("Authorization"); got != basicAuth("fanout", "fanout-pw") {
			t.Errorf("%s %s reached the primary with %q, want the proxy's credentials", rq.method, rq.path, got)
		}
	}
	if ops := e.published(); len(ops) != 2 {
		t.Fatalf("want 2 events, got %d: %v", len(ops), ops)
	}
}

// TestProxyModeReloadsUsers: a changed users file is picked up without a restart; a
// broken one keeps the previous users.
func TestProxyModeReloadsUsers(t *testing.T) {
	usersFile, _ := proxyModeFiles(t, map[string]string{"carl": "carl-pw"}, nil)
	e := startSecured(t, searchemu.OpenSearch2, func(c *proxy.Config) {
		c.Auth = proxy.AuthConfig{Mode: proxy.AuthProxy, UsersFile: usersFile}
		c.Primary.Username, c.Primary.Password = "fanout", "fanout-pw"
	})
	get := func(user, pw string) int {
		return call(t, "GET", e.url()+"/", "", "Authorization", basicAuth(user, pw)).status
	}
	if get("carl", "carl-pw") != 200 || get("dora", "dora-pw") != 401 {
		t.Fatal("carl is in the file, dora not yet")
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("dora-pw"), bcrypt.MinCost)
	if err := os.WriteFile(usersFile, []byte("dora:"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "dora to be let in", func() bool { return get("dora", "dora-pw") == 200 })
	if get("carl", "carl-pw") != 401 {
		t.Error("carl was removed from the file")
	}
	// a broken file keeps dora
	if err := os.WriteFile(usersFile, []byte("dora:not-a-hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.proxies[0].Reload(); err == nil || !strings.Contains(err.Error(), "auth.users_file") {
		t.Fatalf("Reload of a broken file: want an error naming auth.users_file, got %v", err)
	}
	if get("dora", "dora-pw") != 200 {
		t.Error("a broken file must keep the previous users")
	}
}

// waitFor polls cond until it holds, for at most eventWait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAuthConfigValidation(t *testing.T) {
	base := func() proxy.Config {
		return proxytest.Config("http://127.0.0.1:9201", []string{"127.0.0.1:9092"}, topic)
	}
	for _, tt := range []struct {
		name string
		mod  func(*proxy.Config)
		want string // "" for valid
	}{
		{"default is passthrough without credentials", func(*proxy.Config) {}, ""},
		{"passthrough refuses primary credentials", func(c *proxy.Config) { c.Primary.Username, c.Primary.Password = "u", "p" }, "primary.username: the proxy's own credentials are used only with auth.mode: proxy"},
		{"passthrough refuses a primary password file", func(c *proxy.Config) { c.Primary.PasswordFile = "/x" }, "primary.password_file"},
		{"passthrough refuses a primary API key", func(c *proxy.Config) { c.Primary.APIKeyFile = "/x" }, "primary.api_key_file"},
		{"passthrough refuses credentials in an endpoint", func(c *proxy.Config) { c.Primary.Endpoints = []string{"http://u:p@127.0.0.1:9201"} }, "primary.endpoints"},
		{"passthrough refuses fallback credentials", func(c *proxy.Config) {
			c.Fallback.Endpoints = []string{"http://127.0.0.1:9202"}
			c.Fallback.APIKey = "k"
		}, "fallback.api_key"},
		{"passthrough refuses users files", func(c *proxy.Config) { c.Auth.UsersFile = "/x" }, "only used with auth.mode: proxy"},
		{"proxy mode needs a file", func(c *proxy.Config) { c.Auth.Mode = proxy.AuthProxy }, "auth.mode: proxy needs auth.users_file or auth.api_keys_file"},
		{"proxy mode with credentials", func(c *proxy.Config) {
			c.Auth = proxy.AuthConfig{Mode: proxy.AuthProxy, UsersFile: "/x"}
			c.Primary.Username, c.Primary.Password = "u", "p"
		}, ""},
		{"unknown mode", func(c *proxy.Config) { c.Auth.Mode = "trust" }, "auth.mode: must be passthrough or proxy"},
		{"pass_headers names identity headers only", func(c *proxy.Config) { c.Auth.PassHeaders = []string{"Authorization"} }, "auth.pass_headers"},
		{"pass_headers any case", func(c *proxy.Config) { c.Auth.PassHeaders = []string{"SECURITYTENANT"} }, ""},
		{"cert without key", func(c *proxy.Config) { c.TLS.CertFile = "/c" }, "tls.cert_file, tls.key_file"},
		{"client auth needs a CA", func(c *proxy.Config) { c.TLS = proxy.ListenerTLS{CertFile: "/c", KeyFile: "/k", ClientAuth: "require"} }, "tls.client_auth: require needs tls.client_ca_file"},
		{"client CA needs client auth", func(c *proxy.Config) {
			c.TLS = proxy.ListenerTLS{CertFile: "/c", KeyFile: "/k", ClientCAFile: "/ca", ClientAuth: "none"}
		}, "tls.client_ca_file"},
		{"client auth needs TLS", func(c *proxy.Config) { c.TLS = proxy.ListenerTLS{ClientCAFile: "/ca", ClientAuth: "request"} }, "tls.client_auth: request needs tls.cert_file"},
		{"unknown client auth", func(c *proxy.Config) { c.TLS = proxy.ListenerTLS{CertFile: "/c", KeyFile: "/k", ClientAuth: "maybe"} }, "tls.client_auth: must be none, request or require"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.mod(&cfg)
			err := cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("want an error containing %q, got %v", tt.want, err)
			}
		})
	}
	if got := proxy.DefaultConfig().Listen; got != "127.0.0.1:9200" {
		t.Errorf("default listen %q, want 127.0.0.1:9200", got)
	}
}

// TestProxyModeBadFilesRefuseToStart: a users file that is not what it should be stops
// New with an error naming the key.
func TestProxyModeBadFilesRefuseToStart(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name string
		auth proxy.AuthConfig
		want string
	}{
		{"plain password", proxy.AuthConfig{UsersFile: write("u1", "carl:carl-pw\n")}, "auth.users_file"},
		{"no colon", proxy.AuthConfig{UsersFile: write("u2", "carl\n")}, "line 1: want name:hash"},
		{"twice", proxy.AuthConfig{APIKeysFile: write("k1", strings.Repeat("a:"+strings.Repeat("0", 64)+"\n", 2))}, "given twice"},
		{"key not hashed", proxy.AuthConfig{APIKeysFile: write("k2", "a:secret\n")}, "auth.api_keys_file"},
		{"missing file", proxy.AuthConfig{UsersFile: filepath.Join(dir, "absent")}, "auth.users_file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := proxytest.Config("http://127.0.0.1:9201", []string{"127.0.0.1:9092"}, topic)
			tt.auth.Mode = proxy.AuthProxy
			cfg.Auth = tt.auth
			p, err := proxy.New(cfg, proxy.Deps{})
			if err == nil {
				_ = p
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %q in %v", tt.want, err)
			}
		})
	}
}

// TestOpenSearchGoClientAuthenticatesThroughTheProxy: opensearch-go v4 with basic auth,
// in the default mode: its own credentials are checked by the primary; a wrong password
// is refused with the primary's 401 and publishes nothing.
func TestOpenSearchGoClientAuthenticatesThroughTheProxy(t *testing.T) {
	e := startSecured(t, searchemu.OpenSearch3)
	client := func(pw string) *opensearchapi.Client {
		c, err := opensearchapi.NewClient(opensearchapi.Config{Client: opensearch.Config{
			Addresses: []string{e.url()}, Username: "alice", Password: pw, DisableRetry: true,
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	ctx := context.Background()
	good := client("alice-pw")
	res, err := good.Index(ctx, opensearchapi.IndexReq{Index: "go-auth", DocumentID: "1", Body: strings.NewReader(`{"by":"go"}`)})
	if err != nil || res.Result != "created" {
		t.Fatalf("authorised write: %v %+v", err, res)
	}
	if _, err := good.Document.Get(ctx, opensearchapi.DocumentGetReq{Index: "go-auth", DocumentID: "1"}); err != nil {
		t.Fatalf("authorised read: %v", err)
	}
	_, err = client("guess").Index(ctx, opensearchapi.IndexReq{Index: "go-auth", DocumentID: "2", Body: strings.NewReader(`{"by":"guess"}`)})
	// The security plugin's challenge is plain text ("Unauthorized"), which the client
	// reports as a body it cannot parse, with the status.
	if !errors.Is(err, opensearch.ErrJSONUnmarshalBody) || !strings.Contains(err.Error(), "status: 401") {
		t.Fatalf("wrong password: want the primary's 401, got %v", err)
	}
	if ops := e.published(); len(ops) != 1 || ops[0].GetId() != "1" {
		t.Fatalf("want only the authorised write published, got %v", ops)
	}
}
