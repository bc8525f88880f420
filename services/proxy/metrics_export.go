package proxy

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fanout-dev/fanout/pkg/spool"
)

// RegisterMetrics registers on reg every series a proxy registers (New, with spool.dir
// set), without building one: checks of dashboards and alert rules read the metric
// names from here rather than from a list kept by hand. It panics, as promauto does,
// when reg already holds one of them. The go_* and process_* series of
// telemetry.NewRegistry are not among them.
func RegisterMetrics(reg prometheus.Registerer) {
	now := time.Now
	cfg := DefaultConfig()
	newMetrics(reg)
	newUnreplicatedWrites(reg, slog.New(slog.DiscardHandler), now)
	newStoredReader(cfg.Publish, reg, now)
	newAliasRoutes(cfg.Publish, reg, now)
	registerSpoolMetrics(reg, func() spool.Stats { return spool.Stats{} }, now)
}
