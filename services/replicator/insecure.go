package replicator

import (
	"fmt"
	"time"

	"github.com/fanout-dev/fanout/pkg/config"
)

// defaultGCDeletes is the search engines' default index.gc_deletes: how long a target
// remembers a delete.
const defaultGCDeletes = 60 * time.Second

// Warnings lists the configuration's settings that are insecure (certificate checks
// off, credentials or events in clear) or have no effect (TLS settings an http://
// endpoint or tls.enabled=false ignores). New logs them; --print-config shows them.
func (c Config) Warnings() []config.Warning {
	w := append(c.Target.Warnings("target"), c.Kafka.Warnings("kafka")...)
	if c.PrimaryEnabled() {
		w = append(w, c.Primary.Warnings("primary")...)
	}
	if c.LateEvents.Window >= defaultGCDeletes {
		w = append(w, config.Warning{Key: "late_events.window", Message: fmt.Sprintf(
			"%s is not below the targets' default index.gc_deletes (%s): an INDEX applied as recorded after a target forgot a later delete brings the document back; keep it below every target's gc_deletes minus the clock skew",
			c.LateEvents.Window, defaultGCDeletes)})
	}
	return w
}
