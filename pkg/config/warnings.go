package config

import (
	"log/slog"
	"strings"
)

// Warning is a setting that is valid but insecure, or that has no effect: the service
// runs with it, and says so at start-up (LogWarnings) and in --print-config (Print).
type Warning struct {
	// Key is the configuration key at fault, e.g. "kafka.tls.insecure_skip_verify".
	Key string
	// Message says what it means and what to do, in one sentence.
	Message string
}

func (w Warning) String() string { return w.Key + ": " + w.Message }

// LogWarnings logs each warning at warn level, naming its key.
func LogWarnings(log *slog.Logger, ws []Warning) {
	for _, w := range ws {
		log.Warn("insecure or ineffective setting: "+w.String(), "key", w.Key)
	}
}

// TLS warnings, shared by every connection that has a TLS block.

// Warnings lists the TLS settings of c (under prefix, e.g. "primary.tls") that are
// insecure or have no effect, for a connection that uses TLS.
func (c TLS) Warnings(prefix string) []Warning {
	var ws []Warning
	switch {
	case c.Enabled && c.InsecureSkipVerify:
		ws = append(ws, Warning{Key: prefix + ".insecure_skip_verify",
			Message: "certificate verification is off: anyone on the network path can read and change this traffic, credentials included"})
	case !c.Enabled && c.configured():
		keys := c.setKeys()
		verb := "have no effect; set it to true to use them"
		if len(keys) == 1 {
			verb = "has no effect; set it to true to use it"
		}
		ws = append(ws, Warning{Key: prefix + ".enabled", Message: "is false, so " + strings.Join(keys, ", ") + " " + verb})
	}
	return ws
}

// Set reports whether any TLS setting is given, enabled or not.
func (c TLS) Set() bool { return c.Enabled || c.configured() }

// configured reports whether a setting besides Enabled is given.
func (c TLS) configured() bool { return len(c.setKeys()) > 0 }

func (c TLS) setKeys() []string {
	var keys []string
	for _, kv := range []struct {
		key string
		set bool
	}{
		{"ca_file", c.CAFile != ""},
		{"cert_file", c.CertFile != ""},
		{"key_file", c.KeyFile != ""},
		{"server_name", c.ServerName != ""},
		{"insecure_skip_verify", c.InsecureSkipVerify},
	} {
		if kv.set {
			keys = append(keys, kv.key)
		}
	}
	return keys
}
