package fanoutctl

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/opensearch-project/opensearch-go/v4"

	"github.com/fanout-dev/fanout/pkg/cluster"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/pkg/resolve"
)

// How a replayed record was resolved.
const (
	// resolvedCurrent: the primary has the document; its current source and version
	// are applied.
	resolvedCurrent = resolve.Current
	// resolvedDeleted: the primary no longer has the document; a delete is applied.
	resolvedDeleted = resolve.Deleted
	// resolvedAsRecorded: --as-recorded, the recorded event is applied as it is.
	resolvedAsRecorded = "as-recorded"
)

// resolution is what to apply for one dead-lettered event.
type resolution struct {
	op  *opspb.Operation
	how string
	// errType and err: the primary could not say (the record fails again).
	errType string
	err     error
}

// resolver looks dead-lettered events up on the primary, so that a replay applies the
// document's current state, never the old one the event carried.
//
// Why: the target may have applied later events of the document while the rejected
// one sat in the DLQ. Replaying the recorded event is still safe while the target
// remembers those later writes (external versions answer 409), but a delete's
// tombstone lives only index.gc_deletes (60s by default): after that, the recorded
// INDEX would resurrect a document the primary deleted. Asking the primary makes the
// replay converge whatever the target forgot.
type resolver struct {
	primary *opensearch.Client
	name    string
	retries int
}

func newResolver(c cluster.Config, log *slog.Logger) (*resolver, error) {
	cl, err := cluster.New(c)
	if err != nil {
		return nil, fmt.Errorf("primary: %w", err)
	}
	return &resolver{primary: cl, name: c.Name, retries: 3}, nil
}

func (r *resolver) close() { _ = r.primary.Close() }

// mgetDoc is one document of an _mget answer.
type mgetDoc = resolve.Doc

// resolve returns one resolution per operation, in order. An error means the primary
// could not be asked; per-document trouble is in the resolutions.
func (r *resolver) resolve(ctx context.Context, ops []*opspb.Operation) ([]resolution, error) {
	res, err := resolve.All(ctx, r.primary, r.name, ops, r.retries)
	if err != nil {
		return nil, err
	}
	out := make([]resolution, len(res))
	for i, x := range res {
		out[i] = resolution{op: x.Op, how: x.How, errType: x.ErrType, err: x.Err}
	}
	return out, nil
}

// resolveOne decides what to apply for op given what the primary holds now: the
// primary's current document, or a DELETE with a version that cannot beat a later
// real write (resolve.Resolve says why).
func resolveOne(op *opspb.Operation, d *mgetDoc) resolution {
	res := resolve.Resolve(op, d)
	return resolution{op: res.Op, how: res.How, errType: res.ErrType, err: res.Err}
}
