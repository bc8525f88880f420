package fanoutctl

import (
	"github.com/fanout-dev/fanout/services/replicator"
)

// verify --repair repairs with the replicator's Repairer (services/replicator/repair.go),
// the one its anti-entropy uses.
type (
	// repairHooks observe and steer verify --repair (tests).
	repairHooks = replicator.RepairHooks
	// repairReport is what verify --repair did, or with --dry-run would do.
	repairReport = replicator.RepairReport
)
