package replicator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"

	"github.com/fanout-dev/fanout/pkg/bulk"
	"github.com/fanout-dev/fanout/pkg/cluster"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// Outcome is what became of one operation given to an Applier.
type Outcome string

// The outcomes of Apply.
const (
	OutcomeApplied Outcome = "applied" // the target took it
	OutcomeStale   Outcome = "stale"   // the target holds a newer version (409): nothing to do
	OutcomeFailed  Outcome = "failed"  // the target refused it, or kept answering 429/5xx for it
	OutcomeSkipped Outcome = "skipped" // its index is not replicated to this target
)

// ApplyResult is what happened to one operation.
type ApplyResult struct {
	Outcome     Outcome
	TargetIndex string
	Status      int
	ErrorType   string
	Reason      string
}

// Applier applies operations to the configuration's target the way the partition
// workers do — the same bulk actions with external versions, index globs and rename
// template, and the same item-by-item judgement — but gives up after bounded retries,
// because an operator is waiting: it is the apply path of `fanoutctl dlq replay`.
type Applier struct {
	cfg    Config
	target *opensearch.Client
	mapper *indexMapper
	meta   *metaApplier
	// ItemRetries and RequestRetries bound the retries of items answered 429/5xx and
	// of requests that failed as a whole.
	ItemRetries, RequestRetries int
}

// NewApplier returns an Applier for cfg's target; Close releases it.
func NewApplier(cfg Config, log *slog.Logger) (*Applier, error) {
	target, err := cluster.New(cfg.Target)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", cfg.Target.Name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Applier{cfg: cfg, target: target, mapper: newIndexMapper(cfg.Indices), meta: newMetaApplier(cfg, target, log),
		ItemRetries: 5, RequestRetries: 5}, nil
}

// MetadataRefusal is one step of a metadata change the target refused.
type MetadataRefusal struct {
	Step, Object string
	Status       int
	ErrorType    string
	Reason       string
}

// MetadataResult is what applying a metadata change came to: the steps by
// "kind/result" (e.g. "mapping/applied", "settings/static") and the refused ones.
type MetadataResult struct {
	Steps   map[string]int
	Refused []MetadataRefusal
}

// ApplyMetadata makes the target's objects equal to md's states as the partitions do
// (metaapply.go: the same order, policy, renames and settings rules), without the
// barrier: it is how fanoutctl dlq replay applies a dead-lettered metadata change.
// Cluster trouble is retried RequestRetries times; an error means the change must be
// applied again (it is idempotent).
func (a *Applier) ApplyMetadata(ctx context.Context, md *opspb.Metadata) (MetadataResult, error) {
	bo := backoff{initial: a.cfg.Retry.Initial, max: min(a.cfg.Retry.Max, 5*time.Second)}
	for attempt := 0; ; attempt++ {
		res, err := a.meta.apply(ctx, md)
		if err == nil {
			out := MetadataResult{Steps: map[string]int{}}
			for _, s := range res.steps {
				out.Steps[s.kind+"/"+s.result]++
			}
			for _, f := range res.refused {
				out.Refused = append(out.Refused, MetadataRefusal(f))
			}
			return out, nil
		}
		if attempt >= a.RequestRetries || ctx.Err() != nil {
			return MetadataResult{}, err
		}
		t := time.NewTimer(bo.next())
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return MetadataResult{}, err
		}
	}
}

// Close releases the target client.
func (a *Applier) Close() error { return a.target.Close() }

// Apply applies ops in order and returns one result per operation. An error means the
// target could not be asked, RequestRetries times over: nothing of the call counts.
func (a *Applier) Apply(ctx context.Context, ops []*opspb.Operation) ([]ApplyResult, error) {
	res := make([]ApplyResult, len(ops))
	var pending []int
	for i, op := range ops {
		index, ok := a.mapper.Map(op.GetIndex())
		if !ok {
			res[i].Outcome = OutcomeSkipped
			continue
		}
		res[i].TargetIndex = index
		pending = append(pending, i)
	}
	bo := backoff{initial: a.cfg.Retry.Initial, max: min(a.cfg.Retry.Max, 5*time.Second)}
	sleep := func() error {
		t := time.NewTimer(bo.next())
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	requestFailures, round := 0, 0
	var body []byte
	for len(pending) > 0 {
		body = body[:0]
		for _, i := range pending {
			meta := opMeta(res[i].TargetIndex, ops[i])
			body = bulk.AppendItem(body, &meta, ops[i].GetSource())
		}
		answer, err := a.send(ctx, body)
		if err == nil {
			err = judgeAnswer(answer, len(pending), func(k int) string { return ops[pending[k]].GetId() },
				func(k int, r *bulk.ItemResult) {
					res[pending[k]].Status, res[pending[k]].ErrorType, res[pending[k]].Reason = r.Status, r.ErrorType, r.ErrorReason
				})
		}
		if err != nil {
			requestFailures++
			if requestFailures > a.RequestRetries || ctx.Err() != nil {
				return nil, err
			}
			if serr := sleep(); serr != nil {
				return nil, err
			}
			continue
		}
		round++
		next := pending[:0]
		for _, i := range pending {
			r := &res[i]
			switch classify(opMeta("", ops[i]).Action, r.Status) {
			case applied:
				r.Outcome = OutcomeApplied
			case stale:
				r.Outcome = OutcomeStale
			case retry:
				if round > a.ItemRetries {
					r.Outcome = OutcomeFailed
					continue
				}
				next = append(next, i)
			default:
				r.Outcome = OutcomeFailed
			}
		}
		pending = next
		if len(pending) > 0 {
			if err := sleep(); err != nil {
				return nil, err
			}
		}
	}
	for i := range res {
		if res[i].Outcome != OutcomeFailed {
			res[i].ErrorType, res[i].Reason = "", ""
		}
	}
	return res, nil
}

func (a *Applier) send(ctx context.Context, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Limits.BulkTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/_bulk", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building _bulk request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := a.target.Perform(req)
	if err != nil {
		return nil, fmt.Errorf("sending _bulk to %s: %w", a.cfg.Target.Name, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading _bulk answer from %s: %w", a.cfg.Target.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("_bulk on %s: HTTP %d: %s", a.cfg.Target.Name, resp.StatusCode, truncate(answer, 300))
	}
	return answer, nil
}

// opMeta is the bulk action that applies op to index on a target: index or delete,
// with the event's replication version as an external version and its routing. The
// partition workers and the Applier build their requests with it.
func opMeta(index string, op *opspb.Operation) bulk.Meta {
	action := bulk.ActionIndex
	if op.GetKind() == opspb.Kind_KIND_DELETE {
		action = bulk.ActionDelete
	}
	return bulk.Meta{
		Action:      action,
		Index:       index,
		ID:          op.GetId(),
		HasID:       true,
		Routing:     op.GetRouting(),
		Version:     op.GetReplicationVersion(),
		HasVersion:  true,
		VersionType: "external",
	}
}

// judgeAnswer walks the _bulk answer to n operations; id(k) is the _id of the k-th
// one sent, record(k, item) takes its answer. It fails, and nothing of the answer
// counts, unless the answer accounts for every operation, in order.
func judgeAnswer(answer []byte, n int, id func(int) string, record func(int, *bulk.ItemResult)) error {
	seen := 0
	_, err := bulk.ParseResponse(answer, func(k int, r *bulk.ItemResult) error {
		if k >= n {
			return fmt.Errorf("%w: more items than the %d sent", errAnswer, n)
		}
		if r.ID != "" && r.ID != id(k) {
			return fmt.Errorf("%w: item %d is about _id %q, sent %q", errAnswer, k, r.ID, id(k))
		}
		record(k, r)
		seen = k + 1
		return nil
	})
	if err != nil {
		if errors.Is(err, errAnswer) {
			return err
		}
		return fmt.Errorf("%w: %w", errAnswer, err)
	}
	if seen != n {
		return fmt.Errorf("%w: %d items for %d operations", errAnswer, seen, n)
	}
	return nil
}
