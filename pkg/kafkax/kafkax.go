// Package kafkax builds franz-go client options from configuration (brokers, TLS, SASL)
// so that the proxy, the replicator and fanoutctl connect to Kafka the same way.
package kafkax

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/fanout-dev/fanout/pkg/config"
)

// Config configures the connection to Kafka.
type Config struct {
	Brokers  []string   `koanf:"brokers"`
	ClientID string     `koanf:"client_id"`
	TLS      config.TLS `koanf:"tls"`
	SASL     SASL       `koanf:"sasl"`
}

// SASL configures SASL authentication; Mechanism "" means none.
type SASL struct {
	Mechanism    string `koanf:"mechanism"` // plain, scram-sha-256, scram-sha-512
	Username     string `koanf:"username"`
	Password     string `koanf:"password" secret:"true"`
	PasswordFile string `koanf:"password_file"`
}

// Validate checks the configuration; keys are named under prefix ("kafka").
func (c Config) Validate(prefix string) error {
	if len(c.Brokers) == 0 {
		return fmt.Errorf("%s.brokers: at least one broker is required", prefix)
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("%s.brokers: %q is not host:port", prefix, b)
		}
	}
	switch strings.ToLower(c.SASL.Mechanism) {
	case "":
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.SASL.Username == "" {
			return fmt.Errorf("%s.sasl.username: required with mechanism %s", prefix, c.SASL.Mechanism)
		}
	default:
		return fmt.Errorf("%s.sasl.mechanism: must be plain, scram-sha-256 or scram-sha-512, got %q", prefix, c.SASL.Mechanism)
	}
	return nil
}

// Opts returns the connection options: seed brokers, client id, TLS and SASL.
func (c Config) Opts() ([]kgo.Opt, error) {
	if err := c.Validate("kafka"); err != nil {
		return nil, err
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	if c.ClientID != "" {
		opts = append(opts, kgo.ClientID(c.ClientID))
	}
	tlsCfg, err := c.TLS.Build()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if tlsCfg != nil {
		opts = append(opts, kgo.Dialer(tlsDialer(tlsCfg)))
	}
	if m := strings.ToLower(c.SASL.Mechanism); m != "" {
		password, err := config.SecretValue(c.SASL.Password, c.SASL.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl.password: %w", err)
		}
		switch m {
		case "plain":
			opts = append(opts, kgo.SASL(plain.Auth{User: c.SASL.Username, Pass: password}.AsMechanism()))
		case "scram-sha-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.Username, Pass: password}.AsSha256Mechanism()))
		case "scram-sha-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.Username, Pass: password}.AsSha512Mechanism()))
		}
	}
	return opts, nil
}

func tlsDialer(cfg *tls.Config) func(ctx context.Context, network, host string) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
	return d.DialContext
}
