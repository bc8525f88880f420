package cluster_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/cluster"
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
	tests := []struct {
		name string
		cfg  cluster.Config
		want string
	}{
		{name: "basic", cfg: cluster.Config{Username: "elastic", Password: "pw"}, want: "Basic ZWxhc3RpYzpwdw=="},
		{name: "api key from file", cfg: cluster.Config{APIKeyFile: keyFile}, want: "ApiKey c2VjcmV0"},
		{name: "none", cfg: cluster.Config{}, want: ""},
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
			tt.cfg.Endpoints = []string{srv.URL}
			c, err := cluster.New(tt.cfg, nil)
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
