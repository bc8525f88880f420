// Package adminhttp holds what the services' admin listeners share: the guard that
// refuses anonymous and cross-origin callers (bearer token, Origin check, preflight-only
// state changes), the JSON error envelope, the listener's lifecycle, and the profiling
// routes.
package adminhttp

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"
)

// Header is the custom header that, like a JSON content type, marks a
// state-changing admin request as not sendable by a web page without a CORS
// preflight (which the admin listener never answers).
const Header = "X-Fanout-Admin"

// ReadToken reads a bearer token file: its trailing newline is trimmed, and an
// empty token, or one with spaces or control characters, is an error.
func ReadToken(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading the token file: %w", err)
	}
	tok := strings.TrimRight(string(b), "\r\n")
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", file)
	}
	if strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return "", fmt.Errorf("token file %s: the token contains spaces or control characters", file)
	}
	return tok, nil
}

// Guard protects admin routes against anonymous and cross-origin callers.
type Guard struct {
	tokenSum [sha256.Size]byte // of the bearer token; unused without one
	hasToken bool
	realm    string // of the WWW-Authenticate challenge
	tokenKey string // the configuration key that names the token file, for errors
}

// NewGuard guards with token ("" admits any caller of the same origin); realm names the
// service in a 401's challenge, tokenKey the configuration key of the token file.
func NewGuard(token, realm, tokenKey string) Guard {
	g := Guard{realm: realm, tokenKey: tokenKey}
	if token != "" {
		g.tokenSum, g.hasToken = sha256.Sum256([]byte(token)), true
	}
	return g
}

// Wrap refuses, in this order: a request from another origin (403), one without the
// token (401), and a state-changing one that a browser could send cross-origin
// without a preflight (415).
func (g Guard) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if o := req.Header.Get("Origin"); o != "" && !sameOrigin(o, req.Host) {
			WriteError(w, http.StatusForbidden, "cross_origin_refused",
				fmt.Sprintf("requests from origin %q are refused: the admin endpoints serve operators, not web pages", o))
			return
		}
		if g.hasToken && !g.authorized(req) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+g.realm+`"`)
			WriteError(w, http.StatusUnauthorized, "unauthorized",
				"a valid bearer token is required (Authorization: Bearer <the token of "+g.tokenKey+">)")
			return
		}
		if req.Method != http.MethodGet && req.Method != http.MethodHead && !preflighted(req) {
			WriteError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
				"state-changing admin requests need Content-Type: application/json or the header "+Header+": 1")
			return
		}
		h.ServeHTTP(w, req)
	})
}

func (g Guard) authorized(req *http.Request) bool {
	auth := req.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	// Comparing digests in constant time hides the token's length as well.
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], g.tokenSum[:]) == 1
}

// preflighted says whether a browser would have had to ask a CORS preflight before
// sending req: a JSON content type or the custom header. The forms a page can post
// freely (text/plain, form encodings) have neither.
func preflighted(req *http.Request) bool {
	if req.Header.Get(Header) == "1" {
		return true
	}
	mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// sameOrigin says whether origin is the admin address itself, as the request reached
// it: http(s)://host:port equal to the Host header, with host an IP address or
// localhost. A DNS name is refused even when it matches, because a page of that name
// may have been re-pointed at this address (DNS rebinding).
func sameOrigin(origin, host string) bool {
	rest, ok := strings.CutPrefix(origin, "http://")
	if !ok {
		if rest, ok = strings.CutPrefix(origin, "https://"); !ok {
			return false
		}
	}
	if !strings.EqualFold(rest, host) {
		return false
	}
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	return strings.EqualFold(h, "localhost") || net.ParseIP(strings.Trim(h, "[]")) != nil
}

// WriteError answers an admin request that is refused, in the envelope the proxy and
// the clusters use: {"error":{"type":…,"reason":…},"status":N}.
func WriteError(w http.ResponseWriter, code int, typ, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]any{
		"error":  map[string]string{"type": typ, "reason": reason},
		"status": code,
	})
}

// Serve serves h on ln until ctx is done, then shuts down within a few seconds.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("admin server: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("admin server shutdown: %w", err)
	}
	<-errc
	return nil
}

// HandlePprof adds Go's profiles under /debug/pprof/ to mux (GET only). A CPU profile
// or trace costs the process while it runs and a goroutine dump shows what it holds:
// serve mux behind a Guard, never on an unauthenticated port.
func HandlePprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
