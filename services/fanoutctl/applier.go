package fanoutctl

import (
	"context"
	"log/slog"

	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
)

// Outcomes of applying one operation to the target (replicator.Applier's).
const (
	outcomeApplied = replicator.OutcomeApplied
	outcomeStale   = replicator.OutcomeStale
	outcomeFailed  = replicator.OutcomeFailed
	outcomeSkipped = replicator.OutcomeSkipped
)

// applyResult is what happened to one operation.
type applyResult = replicator.ApplyResult

// applier applies operations to one target cluster. Apply returns one result per
// operation, in order; an error means the target could not be asked (nothing of the
// call counts). Tests substitute it to interrupt a replay.
type applier interface {
	Apply(ctx context.Context, ops []*opspb.Operation) ([]applyResult, error)
	// ApplyMetadata applies a metadata change (KIND_METADATA) as recorded, without
	// its barrier; an error means the target could not be asked.
	ApplyMetadata(ctx context.Context, md *opspb.Metadata) (replicator.MetadataResult, error)
	Close() error
}

// newApplier returns the replicator's apply path for the configuration's target, so
// that a replay writes exactly as replication does.
func newApplier(cfg replicator.Config, log *slog.Logger) (applier, error) {
	return replicator.NewApplier(cfg, log)
}
