package proxy

import "github.com/fanout-dev/fanout/pkg/config"

// Warnings lists the configuration's settings that are insecure (certificate checks
// off, credentials or events in clear) or have no effect (TLS settings an http://
// endpoint or tls.enabled=false ignores). New logs them; --print-config shows them.
func (c Config) Warnings() []config.Warning {
	ws := c.Primary.Warnings("primary")
	if len(c.Fallback.Endpoints) > 0 {
		ws = append(ws, c.Fallback.Warnings("fallback")...)
	}
	return append(ws, c.Kafka.Warnings("kafka")...)
}
