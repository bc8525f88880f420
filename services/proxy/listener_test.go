package proxy_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
)

// testCA issues Ed25519 certificates: fixed-size signatures and keys, so that two
// certificates that differ only in their serial number have files of the same size
// (which the SIGHUP test relies on).
type testCA struct {
	cert *x509.Certificate
	key  ed25519.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns PEM certificate and key for a server (127.0.0.1) or a client.
func (ca *testCA) issue(t *testing.T, serial int64, client bool) (certPEM, keyPEM []byte) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "fanout-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsFiles writes a server certificate of ca with serial, its key and ca's certificate.
func tlsFiles(t *testing.T, dir string, ca *testCA, serial int64) proxy.ListenerTLS {
	t.Helper()
	c, k := ca.issue(t, serial, false)
	cfg := proxy.ListenerTLS{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"),
		ClientCAFile: filepath.Join(dir, "ca.pem")}
	writeFile(t, cfg.CertFile, c)
	writeFile(t, cfg.KeyFile, k)
	writeFile(t, cfg.ClientCAFile, ca.pem)
	return cfg
}

// tlsClient trusts ca and presents the given client certificate, if any.
func tlsClient(t *testing.T, ca *testCA, cert *tls.Certificate) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		// sent whatever CAs the server asks for (a client picking from Certificates sends
		// none that the server's CAs did not issue)
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: eventWait}
}

// servedSerial connects and returns the serial number of the certificate served.
func servedSerial(t *testing.T, addr string, ca *testCA) int64 {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

func TestTLSListener(t *testing.T) {
	ca := newTestCA(t, "fanout test CA")
	other := newTestCA(t, "someone else's CA")
	good := func() *tls.Certificate {
		c, k := ca.issue(t, 50, true)
		pair, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return &pair
	}()
	foreign := func() *tls.Certificate {
		c, k := other.issue(t, 51, true)
		pair, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return &pair
	}()

	for _, tt := range []struct {
		clientAuth string
		// ok: the request is served with no client certificate, a good one, a foreign one
		none, withGood, withForeign bool
	}{
		{"none", true, true, true},
		{"request", true, true, false},
		{"require", false, true, false},
	} {
		t.Run(tt.clientAuth, func(t *testing.T) {
			files := tlsFiles(t, t.TempDir(), ca, 1000)
			if tt.clientAuth == "none" {
				files.ClientCAFile = ""
			}
			files.ClientAuth = tt.clientAuth
			e := startEnv(t, 1, func(c *proxy.Config) { c.TLS = files })
			if !strings.HasPrefix(e.url(), "https://") {
				t.Fatalf("URL %q, want https", e.url())
			}
			for _, c := range []struct {
				name string
				cert *tls.Certificate
				ok   bool
			}{{"no client certificate", nil, tt.none}, {"a client certificate of the CA", good, tt.withGood}, {"a foreign client certificate", foreign, tt.withForeign}} {
				resp, err := tlsClient(t, ca, c.cert).Get(e.url() + "/")
				if err == nil {
					resp.Body.Close()
				}
				if got := err == nil && resp.StatusCode == 200; got != c.ok {
					t.Errorf("%s: served %v, want %v (err %v)", c.name, got, c.ok, err)
				}
			}
			// plain HTTP is not served
			if resp, err := http.Get("http://" + strings.TrimPrefix(e.url(), "https://") + "/"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					t.Error("plain HTTP must not be served on a TLS listener")
				}
			}
		})
	}
}

// TestTLSReloadOnFileChange: a renewed certificate is served without a restart or a
// signal; files that cannot be loaded keep the previous certificate.
func TestTLSReloadOnFileChange(t *testing.T) {
	ca := newTestCA(t, "fanout test CA")
	dir := t.TempDir()
	files := tlsFiles(t, dir, ca, 1000)
	files.ClientCAFile = ""
	e := startEnv(t, 1, func(c *proxy.Config) { c.TLS = files })
	addr := strings.TrimPrefix(e.url(), "https://")
	if got := servedSerial(t, addr, ca); got != 1000 {
		t.Fatalf("serial %d, want 1000", got)
	}
	c, k := ca.issue(t, 2000, false)
	writeFile(t, files.KeyFile, k)
	writeFile(t, files.CertFile, c)
	waitFor(t, "the renewed certificate", func() bool { return servedSerial(t, addr, ca) == 2000 })

	// a key that does not match the certificate (a rotation half done)
	_, wrongKey := ca.issue(t, 3000, false)
	writeFile(t, files.KeyFile, wrongKey)
	if err := e.proxies[0].Reload(); err == nil || !strings.Contains(err.Error(), "tls.cert_file") {
		t.Fatalf("Reload with a mismatched key: want an error naming tls.cert_file, got %v", err)
	}
	if got := servedSerial(t, addr, ca); got != 2000 {
		t.Fatalf("a broken rotation must keep the previous certificate, got serial %d", got)
	}
	resp, err := tlsClient(t, ca, nil).Get(e.url() + "/")
	if err != nil {
		t.Fatalf("still served: %v", err)
	}
	resp.Body.Close()
}

// fakeAddrListener reports an address other than the one it listens on, so that the
// warning about binding every interface is tested on a loopback socket.
type fakeAddrListener struct {
	net.Listener
	addr net.Addr
}

func (l fakeAddrListener) Addr() net.Addr { return l.addr }

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWarnsOnEveryInterfaceWithoutTLS: a listener bound to every interface without TLS
// is logged as a warning that says so; one on loopback, or with TLS, is not.
func TestWarnsOnEveryInterfaceWithoutTLS(t *testing.T) {
	ca := newTestCA(t, "fanout test CA")
	const warning = "accepts connections on EVERY network interface WITHOUT TLS"
	for _, tt := range []struct {
		name string
		addr net.Addr
		tls  bool
		warn bool
	}{
		{"0.0.0.0", &net.TCPAddr{IP: net.IPv4zero, Port: 9200}, false, true},
		{"::", &net.TCPAddr{IP: net.IPv6unspecified, Port: 9200}, false, true},
		{"a port alone", &net.TCPAddr{Port: 9200}, false, true},
		{"loopback", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9200}, false, false},
		{"every interface with TLS", &net.TCPAddr{IP: net.IPv4zero, Port: 9200}, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := startEnv(t, 0)
			cfg := e.config()
			cfg.MetricsListen = ""
			if tt.tls {
				cfg.TLS = tlsFiles(t, t.TempDir(), ca, 1000)
				cfg.TLS.ClientCAFile = ""
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			p, err := proxy.New(cfg, proxy.Deps{Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
				Listener: fakeAddrListener{Listener: ln, addr: tt.addr}})
			if err != nil {
				t.Fatal(err)
			}
			runUntilServing(t, p, &logs)
			if got := strings.Contains(logs.String(), warning); got != tt.warn {
				t.Errorf("warning logged %v, want %v:\n%s", got, tt.warn, logs.String())
			}
			if tt.warn && !strings.Contains(logs.String(), `"level":"WARN"`) {
				t.Errorf("the warning must be at WARN level:\n%s", logs.String())
			}
		})
	}
}

// runUntilServing runs p until the test ends and returns once it logged that it serves.
func runUntilServing(t *testing.T, p *proxy.Proxy, logs *syncBuffer) {
	t.Helper()
	proxytest.Run(t, p)
	waitFor(t, "the proxy to serve", func() bool { return strings.Contains(logs.String(), "fanout-proxy serving") })
}
