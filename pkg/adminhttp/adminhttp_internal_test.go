package adminhttp

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		origin, host string
		same         bool
	}{
		{"http://127.0.0.1:9475", "127.0.0.1:9475", true},
		{"https://127.0.0.1:9475", "127.0.0.1:9475", true},
		{"http://localhost:9475", "localhost:9475", true},
		{"http://[::1]:9475", "[::1]:9475", true},
		{"http://127.0.0.1:9476", "127.0.0.1:9475", false},
		{"http://evil.example:9475", "evil.example:9475", false}, // a rebindable name
		{"ftp://127.0.0.1:9475", "127.0.0.1:9475", false},
		{"null", "127.0.0.1:9475", false},
	} {
		if got := sameOrigin(tc.origin, tc.host); got != tc.same {
			t.Errorf("sameOrigin(%q, %q) = %v, want %v", tc.origin, tc.host, got, tc.same)
		}
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want, err string
	}{
		{"newline trimmed", "tok\n", "tok", ""},
		{"CRLF trimmed", "tok\r\n", "tok", ""},
		{"empty", "\n", "", "empty"},
		{"inner space", "to k", "", "spaces or control"},
		{"control character", "to\x01k", "", "spaces or control"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(f, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadToken(f)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ReadToken = %q, %v; want an error naming %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ReadToken = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := ReadToken(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("ReadToken of a missing file: no error")
	}
}

func TestGuardOrder(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := NewGuard("s3cret", "test admin", "admin.token_file").Wrap(ok)
	for _, tc := range []struct {
		name                 string
		method, origin, auth string
		ct, header           string
		code                 int
	}{
		{"other origin first, even with the token", "POST", "http://evil.example", "Bearer s3cret", "application/json", "", 403},
		{"no token", "GET", "", "", "", "", 401},
		{"wrong scheme", "GET", "", "Basic s3cret", "", "", 401},
		{"GET with the token", "GET", "", "Bearer s3cret", "", "", 204},
		{"scheme is case-insensitive", "GET", "", "bearer s3cret", "", "", 204},
		{"POST a page could send", "POST", "", "Bearer s3cret", "text/plain", "", 415},
		{"POST with JSON", "POST", "", "Bearer s3cret", "application/json; charset=utf-8", "", 204},
		{"POST with the header", "POST", "", "Bearer s3cret", "", "1", 204},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://127.0.0.1:9475/x", strings.NewReader("{}"))
			for k, v := range map[string]string{"Origin": tc.origin, "Authorization": tc.auth, "Content-Type": tc.ct, Header: tc.header} {
				if v != "" {
					req.Header.Set(k, v)
				}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("HTTP %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if tc.code == 401 && !strings.Contains(rec.Header().Get("WWW-Authenticate"), `realm="test admin"`) {
				t.Errorf("401 without the realm's challenge: %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}
