package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// ListenerTLS serves the client listener over TLS. The certificate, key and client CA
// files are read again when they change (looked at, at most once a second, when a client
// connects) and on SIGHUP, so that a renewed certificate is served without a restart.
type ListenerTLS struct {
	// CertFile and KeyFile are PEM files (the certificate may carry its chain); setting
	// them turns TLS on.
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
	// ClientCAFile holds the CAs client certificates are verified against.
	ClientCAFile string `koanf:"client_ca_file"`
	// ClientAuth: none (default), request (a certificate, if sent, must verify) or
	// require (every client must present one that verifies).
	ClientAuth string `koanf:"client_auth"`
}

// Enabled reports whether the listener serves TLS.
func (t ListenerTLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

func (t ListenerTLS) validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("tls.cert_file, tls.key_file: give both or neither")
	}
	switch t.ClientAuth {
	case "", "none":
		if t.ClientCAFile != "" {
			return errors.New("tls.client_ca_file: set tls.client_auth to request or require to verify client certificates")
		}
	case "request", "require":
		if !t.Enabled() {
			return fmt.Errorf("tls.client_auth: %s needs tls.cert_file and tls.key_file", t.ClientAuth)
		}
		if t.ClientCAFile == "" {
			return fmt.Errorf("tls.client_auth: %s needs tls.client_ca_file", t.ClientAuth)
		}
	default:
		return fmt.Errorf("tls.client_auth: must be none, request or require, got %q", t.ClientAuth)
	}
	if t.ClientCAFile != "" && !t.Enabled() {
		return errors.New("tls.client_ca_file: needs tls.cert_file and tls.key_file")
	}
	return nil
}

// tlsReloader holds the listener's TLS configuration, rebuilt from the files when they
// change. A file that cannot be read or parsed (half-written during a rotation, say)
// keeps the previous configuration, and the error is logged; the next connection tries
// again.
type tlsReloader struct {
	cfg ListenerTLS
	log *slog.Logger

	mu      sync.Mutex
	current *tls.Config
	stamps  []fileStamp // of cert, key and CA files at the last successful load
	checked time.Time
}

type fileStamp struct {
	mtime time.Time
	size  int64
}

func newTLSReloader(cfg ListenerTLS, log *slog.Logger) (*tlsReloader, error) {
	r := &tlsReloader{cfg: cfg, log: log}
	if _, err := r.reload(true); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *tlsReloader) files() []string {
	fs := []string{r.cfg.CertFile, r.cfg.KeyFile}
	if r.cfg.ClientCAFile != "" {
		fs = append(fs, r.cfg.ClientCAFile)
	}
	return fs
}

// reload rebuilds the configuration when force is set or a file changed; it reports
// whether it did.
func (r *tlsReloader) reload(force bool) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if !force && now.Sub(r.checked) < reloadEvery {
		return false, nil
	}
	r.checked = now
	stamps := make([]fileStamp, 0, 3)
	for _, f := range r.files() {
		st, err := os.Stat(f)
		if err != nil {
			return false, fmt.Errorf("tls: %w", err)
		}
		stamps = append(stamps, fileStamp{st.ModTime(), st.Size()})
	}
	if !force && equalStamps(stamps, r.stamps) {
		return false, nil
	}
	cfg, err := r.build()
	if err != nil {
		return false, err
	}
	r.current, r.stamps = cfg, stamps
	return true, nil
}

func equalStamps(a, b []fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].mtime.Equal(b[i].mtime) || a[i].size != b[i].size {
			return false
		}
	}
	return true
}

func (r *tlsReloader) build() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(r.cfg.CertFile, r.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls.cert_file, tls.key_file: %w", err)
	}
	// HTTP/1.1 only, as the clusters serve.
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		NextProtos: []string{"http/1.1"}}
	switch r.cfg.ClientAuth {
	case "request":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "require":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if r.cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(r.cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.client_ca_file: no certificate in %s", r.cfg.ClientCAFile)
		}
		cfg.ClientCAs = pool
	}
	return cfg, nil
}

// Reload re-reads the files now (SIGHUP); on error the previous configuration stays.
func (r *tlsReloader) Reload() error {
	_, err := r.reload(true)
	return err
}

// config is the tls.Config's GetConfigForClient: the current configuration, rebuilt
// first if a file changed.
func (r *tlsReloader) config(*tls.ClientHelloInfo) (*tls.Config, error) {
	if changed, err := r.reload(false); err != nil {
		r.log.Error("cannot reload the listener's TLS files; serving the previous certificate", "error", err)
	} else if changed {
		r.log.Info("listener TLS certificate reloaded", "cert_file", r.cfg.CertFile)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current, nil
}

// listenerConfig is what tls.NewListener gets: everything comes from config.
func (r *tlsReloader) listenerConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: r.config}
}

// allInterfaces reports whether a bound address accepts connections on every interface
// (0.0.0.0, ::, or a port alone).
func allInterfaces(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && (tcp.IP == nil || tcp.IP.IsUnspecified())
}
