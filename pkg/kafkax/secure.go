package kafkax

import (
	"strings"

	"github.com/fanout-dev/fanout/pkg/config"
)

// Warnings lists the settings of c (under prefix, e.g. "kafka") that are insecure or
// have no effect.
//
// SASL PLAIN sends the password itself, so without TLS anyone on the path reads it.
// SCRAM never sends the password, but without TLS the events (whole documents) cross
// the network in clear, the connection can be taken over once authenticated (Kafka's
// SCRAM has no channel binding), and a captured exchange allows offline guessing of
// the password: warned too, in those words. No SASL and no TLS is a plain internal
// network by choice, not a setting that leaks a secret: not warned.
func (c Config) Warnings(prefix string) []config.Warning {
	ws := c.TLS.Warnings(prefix + ".tls")
	if c.TLS.Enabled {
		return ws
	}
	switch m := strings.ToLower(c.SASL.Mechanism); m {
	case "plain":
		ws = append(ws, config.Warning{Key: prefix + ".sasl.mechanism",
			Message: "PLAIN without TLS (" + prefix + ".tls.enabled=false) sends the Kafka password in clear to the brokers; enable TLS or use SCRAM over TLS"})
	case "scram-sha-256", "scram-sha-512":
		ws = append(ws, config.Warning{Key: prefix + ".sasl.mechanism",
			Message: m + " without TLS (" + prefix + ".tls.enabled=false) does not send the password, but the events cross the network in clear and an authenticated connection can be taken over; enable TLS"})
	}
	return ws
}
