package cluster_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/cluster"
	"github.com/fanout-dev/fanout/pkg/config"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     cluster.Config
		wantErr string
	}{
		{name: "ok", cfg: cluster.Config{Endpoints: []string{"http://127.0.0.1:9200"}}},
		{name: "no endpoints", cfg: cluster.Config{}, wantErr: "target.endpoints: at least one"},
		{name: "not a URL", cfg: cluster.Config{Endpoints: []string{"127.0.0.1:9200"}}, wantErr: `"127.0.0.1:9200" is not an http(s) URL`},
		{name: "two auths", cfg: cluster.Config{Endpoints: []string{"http://a:1"}, Username: "u", APIKey: "k"}, wantErr: "exclusive"},
		{name: "userinfo", cfg: cluster.Config{Endpoints: []string{"https://u:p@a:1", "https://u:p@b:1", "https://c:1"}}},
		{name: "user in URL, password from key", cfg: cluster.Config{Endpoints: []string{"https://u@a:1"}, PasswordFile: "/pw"}},
		{name: "userinfo differs", cfg: cluster.Config{Endpoints: []string{"https://u:p@a:1", "https://u:q@b:1"}}, wantErr: "different credentials"},
		{name: "userinfo and username", cfg: cluster.Config{Endpoints: []string{"https://u:p@a:1"}, Username: "v"}, wantErr: "target.username are exclusive"},
		{name: "userinfo and password", cfg: cluster.Config{Endpoints: []string{"https://u:p@a:1"}, Password: "q"}, wantErr: "password_file are exclusive"},
		{name: "userinfo and api key", cfg: cluster.Config{Endpoints: []string{"https://u:p@a:1"}, APIKey: "k"}, wantErr: "api_key are exclusive"},
		{name: "bad URL is quoted redacted", cfg: cluster.Config{Endpoints: []string{"https//u:hunter2@a:1"}}, wantErr: `"REDACTED@a:1" is not an http(s) URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate("target")
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestClientSendsCredentials(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("c2VjcmV0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  cluster.Config
		want string
	}{
		{name: "basic", cfg: cluster.Config{Username: "elastic", Password: "pw"}, want: "Basic ZWxhc3RpYzpwdw=="},
		{name: "api key from file", cfg: cluster.Config{APIKeyFile: keyFile}, want: "ApiKey c2VjcmV0"},
		{name: "none", cfg: cluster.Config{}, want: ""},
		{name: "userinfo in the endpoint", cfg: cluster.Config{Endpoints: []string{"http://elastic:pw@"}}, want: "Basic ZWxhc3RpYzpwdw=="},
		{name: "user in the endpoint, password from file", cfg: cluster.Config{Endpoints: []string{"http://elastic@"}, PasswordFile: pwFile}, want: "Basic ZWxhc3RpYzpwdw=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got <- r.Header.Get("Authorization")
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{}`))
			}))
			t.Cleanup(srv.Close)
			// An endpoint written "http://user:pw@" gets the server's host.
			if len(tt.cfg.Endpoints) == 1 {
				tt.cfg.Endpoints[0] += strings.TrimPrefix(srv.URL, "http://")
			} else {
				tt.cfg.Endpoints = []string{srv.URL}
			}
			c, err := cluster.New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil)
			resp, err := c.Perform(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if h := <-got; h != tt.want {
				t.Fatalf("Authorization = %q, want %q", h, tt.want)
			}
		})
	}
}

// TestErrorsNameNoCredentials: a transport error names the endpoint it failed on, but
// never the userinfo it was written with: the client never holds it.
func TestErrorsNameNoCredentials(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a closed port: connection refused
	c, err := cluster.New(cluster.Config{Name: "t", Endpoints: []string{"http://fanout:hunter2@" + addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil)
	resp, err := c.Perform(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("want an error from a closed port")
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "fanout:") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("error %q", err)
	}
}

func TestWarnings(t *testing.T) {
	on := config.TLS{Enabled: true}
	tests := []struct {
		name string
		cfg  cluster.Config
		want []string
	}{
		{name: "plain, no credentials", cfg: cluster.Config{Endpoints: []string{"http://a:1"}}},
		{name: "https with credentials", cfg: cluster.Config{Endpoints: []string{"https://a:1"}, Username: "u", Password: "p", TLS: on}},
		{name: "skip verify", cfg: cluster.Config{Endpoints: []string{"https://a:1"}, TLS: config.TLS{Enabled: true, InsecureSkipVerify: true}},
			want: []string{"p.tls.insecure_skip_verify: certificate verification is off"}},
		{name: "TLS settings ignored without enabled", cfg: cluster.Config{Endpoints: []string{"https://a:1"}, TLS: config.TLS{CAFile: "/ca.pem"}},
			want: []string{"p.tls.enabled: is false, so ca_file has no effect"}},
		{name: "TLS with http endpoints", cfg: cluster.Config{Endpoints: []string{"http://a:1", "https://b:1"}, TLS: on},
			want: []string{"p.tls: is set, but http://a:1 uses http://, which never uses TLS"}},
		{name: "skip verify with http endpoints only", cfg: cluster.Config{Endpoints: []string{"http://a:1", "http://b:1"}, TLS: config.TLS{Enabled: true, InsecureSkipVerify: true}},
			want: []string{"p.tls: is set, but http://a:1, http://b:1 use http://"}},
		{name: "basic auth over http", cfg: cluster.Config{Endpoints: []string{"http://a:1"}, Username: "u", Password: "p"},
			want: []string{"p.endpoints: http://a:1 uses http://, so the credentials configured for this cluster cross the network in clear"}},
		{name: "api key over http", cfg: cluster.Config{Endpoints: []string{"http://a:1"}, APIKeyFile: "/k"},
			want: []string{"p.endpoints: http://a:1 uses http://, so the credentials"}},
		{name: "userinfo over http, redacted", cfg: cluster.Config{Endpoints: []string{"http://u:hunter2@a:1"}},
			want: []string{"p.endpoints: http://REDACTED@a:1 uses http://"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.cfg.Warnings("p")
			if len(got) != len(tt.want) {
				t.Fatalf("warnings %v, want %v", got, tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i].String(), w) || strings.Contains(got[i].String(), "hunter2") {
					t.Errorf("warning %d = %q, want it to start with %q", i, got[i], w)
				}
			}
		})
	}
}
