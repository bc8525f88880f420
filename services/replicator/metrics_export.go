package replicator

import "github.com/prometheus/client_golang/prometheus"

// RegisterMetrics registers on reg every series a replicator of target cluster
// registers (New), without building one: checks of dashboards and alert rules read the
// metric names from here rather than from a list kept by hand. It panics, as promauto
// does, when reg already holds one of them. The go_* and process_* series of
// telemetry.NewRegistry are not among them.
func RegisterMetrics(reg prometheus.Registerer, cluster string) {
	newMetrics(reg, cluster)
}
