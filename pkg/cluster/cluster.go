// Package cluster builds clients for search clusters (OpenSearch 1.x/2.x, Elasticsearch
// 7.x/8.x) from configuration: endpoints, basic auth or API key, TLS. The clients use
// opensearch-go's transport and node pool with the library's retries off, because fanout
// decides itself what to retry and for how long.
package cluster

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"

	"github.com/fanout-dev/fanout/pkg/config"
)

// Config configures one search cluster.
type Config struct {
	Name         string        `koanf:"name"`
	Endpoints    []string      `koanf:"endpoints"`
	Username     string        `koanf:"username"`
	Password     string        `koanf:"password" secret:"true"`
	PasswordFile string        `koanf:"password_file"`
	APIKey       string        `koanf:"api_key" secret:"true"`
	APIKeyFile   string        `koanf:"api_key_file"`
	TLS          config.TLS    `koanf:"tls"`
	Timeout      time.Duration `koanf:"timeout"` // response header timeout per request
}

// Validate checks the configuration; prefix names it in errors ("primary", "target").
func (c Config) Validate(prefix string) error {
	if len(c.Endpoints) == 0 {
		return fmt.Errorf("%s.endpoints: at least one endpoint is required", prefix)
	}
	for _, e := range c.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s.endpoints: %q is not an http(s) URL", prefix, config.RedactURL(e))
		}
	}
	if (c.Username != "" || c.Password != "" || c.PasswordFile != "") && (c.APIKey != "" || c.APIKeyFile != "") {
		return fmt.Errorf("%s: basic auth and api_key are exclusive", prefix)
	}
	if err := c.validateUserinfo(prefix); err != nil {
		return err
	}
	if c.Timeout < 0 {
		return fmt.Errorf("%s.timeout: must not be negative", prefix)
	}
	return nil
}

// HasAuth reports whether the configuration carries credentials of its own, in its
// keys or in the userinfo of its endpoints.
func (c Config) HasAuth() bool {
	return c.Username != "" || c.APIKey != "" || c.APIKeyFile != "" || c.urlUser() != nil
}

// New returns a client for the cluster. It logs nothing: the services log their
// configuration's Warnings (skip-verify among them) once at start-up.
func New(c Config) (*opensearch.Client, error) {
	if err := c.Validate("cluster"); err != nil {
		return nil, err
	}
	password, err := config.SecretValue(c.Password, c.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("cluster %s password: %w", c.Name, err)
	}
	// Credentials in the endpoints' userinfo are taken out of the URLs the client
	// keeps, so that no error or log line of the transport can show them.
	addresses, username, password := c.splitUserinfo(password)
	apiKey, err := config.SecretValue(c.APIKey, c.APIKeyFile)
	if err != nil {
		return nil, fmt.Errorf("cluster %s api key: %w", c.Name, err)
	}
	tlsCfg, err := c.TLS.Build()
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	tr := newTransport(tlsCfg, c.Timeout)

	cfg := opensearch.Config{
		Addresses:    addresses,
		Username:     username,
		Password:     password,
		Transport:    tr,
		DisableRetry: true,
	}
	if apiKey != "" {
		cfg.Header = http.Header{"Authorization": {"ApiKey " + apiKey}}
	}
	client, err := opensearch.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %s client: %w", c.Name, err)
	}
	return client, nil
}

// newTransport is the HTTP transport of a cluster's client.
func newTransport(tlsCfg *tls.Config, responseTimeout time.Duration) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.MaxIdleConnsPerHost = 64
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = responseTimeout
	// net/http buffers 4 KiB each way by default: a _bulk of a few documents went out
	// as two writes (the headers with the body's first 4 KiB, then the rest) and its
	// answer came in 4 KiB at a time. With 64 KiB each way (128 KiB per connection), a
	// bulk up to that size is one write: a round trip of a 9 KiB bulk takes about a
	// fifth less CPU (BenchmarkRoundTrip), and the replicator's bulks of a few
	// documents spent a fifth of its CPU in those writes. (In the lag benchmark the
	// effect is inside its noise: two runs of one build differed more than runs of the
	// two settings.)
	tr.WriteBufferSize = 64 << 10
	tr.ReadBufferSize = 64 << 10
	return tr
}
