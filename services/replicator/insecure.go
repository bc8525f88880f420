package replicator

import "github.com/fanout-dev/fanout/pkg/config"

// Warnings lists the configuration's settings that are insecure (certificate checks
// off, credentials or events in clear) or have no effect (TLS settings an http://
// endpoint or tls.enabled=false ignores). New logs them; --print-config shows them.
func (c Config) Warnings() []config.Warning {
	w := append(c.Target.Warnings("target"), c.Kafka.Warnings("kafka")...)
	if c.PrimaryEnabled() {
		w = append(w, c.Primary.Warnings("primary")...)
	}
	return w
}
