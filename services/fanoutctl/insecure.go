package fanoutctl

import (
	"fmt"
	"io"

	"github.com/fanout-dev/fanout/pkg/config"
)

// warnInsecure prints, on stderr, a warning for each setting of the loaded
// configuration that is insecure or has no effect: the Kafka connection's, the
// target's and the primary's (the replicator's and the proxy's start-up logs warn
// about the same settings).
func warnInsecure(e *env, s settings, envWarnings []config.Warning) {
	ws := append(envWarnings, s.cfg.Kafka.Warnings("kafka")...)
	if len(s.cfg.Target.Endpoints) > 0 {
		ws = append(ws, s.cfg.Target.Warnings("target")...)
	}
	ws = append(ws, s.primary.Warnings("primary")...)
	w := e.stderr
	if w == nil {
		w = io.Discard
	}
	for _, wr := range ws {
		fmt.Fprintf(w, "fanoutctl: warning: %s\n", wr)
	}
}
