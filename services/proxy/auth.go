package proxy

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// How clients authenticate (DESIGN.md principle 9: the proxy grants no one more than the
// primary would).
//
// passthrough (the default): the proxy authenticates no one and has no credentials of
// its own on the primary. Each client's Authorization header (basic, ApiKey, Bearer)
// goes to the primary as it came, on the client's request and on the lookups the proxy
// makes for it (the routing _mget of updates), so the primary authorises every client
// exactly as it would directly; its 401 or 403 goes back to the client as it came, and
// nothing is published (only what the primary accepted is).
//
// proxy: the proxy authenticates every client itself, against a users file (bcrypt
// hashes) and an API keys file (SHA-256 of the key), and sends the request on with its
// own primary credentials; anyone else gets 401 in the Elasticsearch error shape before
// anything reaches the primary. Every client that authenticates acts on the primary with
// the proxy's privileges.
const (
	AuthPassthrough = "passthrough"
	AuthProxy       = "proxy"
)

// AuthConfig is the auth block of the configuration.
type AuthConfig struct {
	// Mode is passthrough (default) or proxy.
	Mode string `koanf:"mode"`
	// UsersFile (proxy mode) holds one "name:bcrypt-hash" per line, as `htpasswd -nB`
	// writes them; blank lines and lines starting with # are skipped.
	UsersFile string `koanf:"users_file"`
	// APIKeysFile (proxy mode) holds one "id:sha256-hex-of-the-key" per line; clients
	// send `Authorization: ApiKey base64(id:key)`.
	APIKeysFile string `koanf:"api_keys_file"`
	// PassHeaders lists identity headers (see identityHeaders) forwarded as the client
	// sent them instead of being removed.
	PassHeaders []string `koanf:"pass_headers"`
}

// identityHeaders assert who a request is for or where it comes from, which a cluster
// may believe in place of, or on top of, its credentials: Elasticsearch's run as,
// OpenSearch security's impersonation, its proxy authenticator's user and roles (their
// default names), its tenant selection, and the client address headers its XFF resolver
// trusts from internal proxies. A client's are removed unless auth.pass_headers lists
// them; the proxy sets X-Forwarded-For itself from the connection.
var identityHeaders = []string{
	"Es-Security-Runas-User",
	"Opendistro_security_impersonate_as",
	"X-Proxy-User",
	"X-Proxy-Roles",
	"Securitytenant",
	"Security_tenant",
	"X-Forwarded-For",
	"Forwarded",
	"X-Real-Ip",
}

func (a AuthConfig) validate() error {
	switch a.Mode {
	case AuthPassthrough:
		if a.UsersFile != "" || a.APIKeysFile != "" {
			return fmt.Errorf("auth.users_file, auth.api_keys_file: only used with auth.mode: proxy (auth.mode is passthrough: the primary authenticates each client)")
		}
	case AuthProxy:
		if a.UsersFile == "" && a.APIKeysFile == "" {
			return fmt.Errorf("auth.mode: proxy needs auth.users_file or auth.api_keys_file: the clients the proxy lets in")
		}
	default:
		return fmt.Errorf("auth.mode: must be passthrough or proxy, got %q", a.Mode)
	}
	for _, h := range a.PassHeaders {
		if !containsFold(identityHeaders, h) {
			return fmt.Errorf("auth.pass_headers: %q is not an identity header the proxy removes (%s)", h, strings.ToLower(strings.Join(identityHeaders, ", ")))
		}
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// stripped returns the identity headers to remove from a client's request.
func (a AuthConfig) stripped() []string {
	var out []string
	for _, h := range identityHeaders {
		if !containsFold(a.PassHeaders, h) {
			out = append(out, h)
		}
	}
	return out
}

// authenticator checks clients' credentials in proxy mode.
type authenticator struct {
	log   *slog.Logger
	users *credFile
	keys  *credFile
	// challenges are the WWW-Authenticate values of a 401.
	challenges []string

	// verified remembers, per user, an HMAC (under a key drawn at start) of the password
	// last found to match the user's bcrypt hash, so that a client sending the same
	// credentials on every request pays bcrypt's cost once, not per request. Only
	// successes are kept: one entry per user of the file, never more.
	mu       sync.Mutex
	verified map[string]verifiedPassword
	macKey   [32]byte
	// bcryptSlots bounds concurrent bcrypt comparisons, so that a flood of wrong
	// passwords costs at most the machine's cores.
	bcryptSlots chan struct{}
	// dummyHash is a bcrypt hash of a random password: an unknown user's password is
	// compared with it, so that timing does not tell which users exist.
	dummyHash string
}

type verifiedPassword struct {
	hash string // the bcrypt hash it was verified against
	mac  []byte
}

func newAuthenticator(cfg AuthConfig, log *slog.Logger) (*authenticator, error) {
	a := &authenticator{log: log, verified: map[string]verifiedPassword{},
		bcryptSlots: make(chan struct{}, runtime.GOMAXPROCS(0))}
	if _, err := rand.Read(a.macKey[:]); err != nil {
		return nil, fmt.Errorf("auth: drawing a key: %w", err)
	}
	var err error
	if cfg.UsersFile != "" {
		if a.users, err = loadCredFile("auth.users_file", cfg.UsersFile, checkBcrypt); err != nil {
			return nil, err
		}
		var pw [16]byte
		_, _ = rand.Read(pw[:])
		h, err := bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(pw[:])), bcrypt.DefaultCost)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		a.dummyHash = string(h)
		a.challenges = append(a.challenges, `Basic realm="fanout", charset="UTF-8"`)
	}
	if cfg.APIKeysFile != "" {
		if a.keys, err = loadCredFile("auth.api_keys_file", cfg.APIKeysFile, checkSHA256); err != nil {
			return nil, err
		}
		a.challenges = append(a.challenges, "ApiKey")
	}
	return a, nil
}

// reload re-reads the files that changed; a file that cannot be read or parsed keeps
// its previous content, and the error is logged.
func (a *authenticator) reload(force bool) {
	for _, f := range []*credFile{a.users, a.keys} {
		if f == nil {
			continue
		}
		if changed, err := f.reload(force); err != nil {
			a.log.Error("cannot reload a credentials file; keeping its previous content", "key", f.key, "file", f.path, "error", err)
		} else if changed {
			a.log.Info("credentials file reloaded", "key", f.key, "file", f.path, "entries", f.len())
		}
	}
}

// reloadAll re-reads every file now (SIGHUP).
func (a *authenticator) reloadAll() []error {
	var errs []error
	for _, f := range []*credFile{a.users, a.keys} {
		if f == nil {
			continue
		}
		if _, err := f.reload(true); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// authFailure says why a client was refused: missing (no credentials the proxy knows
// how to check) or invalid.
type authFailure struct {
	reason string // the 401's reason
	kind   string // missing, invalid (metrics label)
}

// check authenticates a request; it returns who the client is ("user alice", "API key
// k1") or why it is refused.
func (a *authenticator) check(r *http.Request) (string, *authFailure) {
	a.reload(false)
	scheme, cred, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	cred = strings.TrimSpace(cred)
	uri := r.URL.RequestURI()
	switch {
	case a.users != nil && strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(cred)
		name, password, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok {
			return "", &authFailure{reason: "invalid basic authentication header value", kind: "invalid"}
		}
		if !a.checkPassword(name, password) {
			return "", &authFailure{reason: "unable to authenticate user [" + name + "] for REST request [" + uri + "]", kind: "invalid"}
		}
		return "user " + name, nil
	case a.keys != nil && strings.EqualFold(scheme, "ApiKey"):
		raw, err := base64.StdEncoding.DecodeString(cred)
		id, key, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok {
			return "", &authFailure{reason: "invalid ApiKey value", kind: "invalid"}
		}
		want, found := a.keys.get(id)
		sum := sha256.Sum256([]byte(key))
		// compare even for an unknown id, so that timing does not tell which ids exist
		if !found {
			want = strings.Repeat("0", 64)
		}
		if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(want)) != 1 || !found {
			return "", &authFailure{reason: "unable to authenticate API key [" + id + "] for REST request [" + uri + "]", kind: "invalid"}
		}
		return "API key " + id, nil
	}
	return "", &authFailure{reason: "missing authentication credentials for REST request [" + uri + "]", kind: "missing"}
}

func (a *authenticator) checkPassword(name, password string) bool {
	hash, ok := a.users.get(name)
	if !ok {
		a.compare(a.dummyHash, password)
		return false
	}
	m := hmac.New(sha256.New, a.macKey[:])
	m.Write([]byte(password))
	mac := m.Sum(nil)
	a.mu.Lock()
	v, seen := a.verified[name]
	a.mu.Unlock()
	if seen && v.hash == hash && hmac.Equal(v.mac, mac) {
		return true
	}
	if !a.compare(hash, password) {
		return false
	}
	a.mu.Lock()
	a.verified[name] = verifiedPassword{hash: hash, mac: mac}
	a.mu.Unlock()
	return true
}

func (a *authenticator) compare(hash, password string) bool {
	a.bcryptSlots <- struct{}{}
	defer func() { <-a.bcryptSlots }()
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// refuse answers 401 in the Elasticsearch security_exception shape, with the challenges
// in the body's header member and as WWW-Authenticate headers, as a secured cluster does.
func (a *authenticator) refuse(w http.ResponseWriter, r *http.Request, f *authFailure) {
	var challenge any = a.challenges
	if len(a.challenges) == 1 {
		challenge = a.challenges[0]
	}
	type cause struct {
		Type   string         `json:"type"`
		Reason string         `json:"reason"`
		Header map[string]any `json:"header"`
	}
	c := cause{Type: "security_exception", Reason: f.reason, Header: map[string]any{"WWW-Authenticate": challenge}}
	body, _ := json.Marshal(struct {
		Error struct {
			RootCause []cause `json:"root_cause"`
			cause
		} `json:"error"`
		Status int `json:"status"`
	}{Error: struct {
		RootCause []cause `json:"root_cause"`
		cause
	}{RootCause: []cause{c}, cause: c}, Status: http.StatusUnauthorized})
	h := w.Header()
	for _, v := range a.challenges {
		h.Add("WWW-Authenticate", v)
	}
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusUnauthorized)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// credFile is a "name:secret-hash" file, re-read when it changes.
type credFile struct {
	key, path string
	check     func(string) error

	mu      sync.RWMutex
	entries map[string]string
	mtime   time.Time
	size    int64
	checked time.Time // last stat
}

// reloadEvery bounds how often a request stats the credentials files.
const reloadEvery = time.Second

func loadCredFile(key, path string, check func(string) error) (*credFile, error) {
	f := &credFile{key: key, path: path, check: check}
	if _, err := f.reload(true); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *credFile) get(name string) (string, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	v, ok := f.entries[name]
	return v, ok
}

func (f *credFile) len() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.entries)
}

// reload re-reads the file when force is set or its modification time or size changed
// (looked at most once per reloadEvery); it reports whether it read it.
func (f *credFile) reload(force bool) (bool, error) {
	now := time.Now()
	f.mu.RLock()
	due := force || now.Sub(f.checked) >= reloadEvery
	f.mu.RUnlock()
	if !due {
		return false, nil
	}
	f.mu.Lock()
	f.checked = now
	f.mu.Unlock()
	st, err := os.Stat(f.path)
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.key, err)
	}
	f.mu.RLock()
	same := f.entries != nil && st.ModTime().Equal(f.mtime) && st.Size() == f.size
	f.mu.RUnlock()
	if same && !force {
		return false, nil
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.key, err)
	}
	entries, err := parseCredFile(data, f.check)
	if err != nil {
		return false, fmt.Errorf("%s: %s: %w", f.key, f.path, err)
	}
	f.mu.Lock()
	f.entries, f.mtime, f.size = entries, st.ModTime(), st.Size()
	f.mu.Unlock()
	return true, nil
}

// parseCredFile reads "name:hash" lines; the name ends at the first colon.
func parseCredFile(data []byte, check func(string) error) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("line %d: want name:hash", n)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("line %d: %q given twice", n, name)
		}
		if err := check(hash); err != nil {
			return nil, fmt.Errorf("line %d (%s): %w", n, name, err)
		}
		out[name] = hash
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// checkBcrypt accepts the bcrypt hashes htpasswd -B and bcrypt libraries write ($2a$,
// $2b$, $2y$). A slow, salted hash, because people choose passwords that a fast hash
// would give away to anyone who reads the file.
func checkBcrypt(h string) error {
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return fmt.Errorf("not a bcrypt hash (make one with `htpasswd -nbB name password`): %w", err)
	}
	return nil
}

// checkSHA256 accepts a lower-case hex SHA-256. API keys are random (at least 128 bits,
// the proxy's documentation says how to draw them), so a fast hash gives nothing away
// and costs nothing per request.
func checkSHA256(h string) error {
	if len(h) != 64 {
		return errors.New("want the 64 hex digits of the key's SHA-256 (printf %s KEY | sha256sum)")
	}
	if _, err := hex.DecodeString(h); err != nil || strings.ToLower(h) != h {
		return errors.New("want the key's SHA-256 in lower-case hex")
	}
	return nil
}
