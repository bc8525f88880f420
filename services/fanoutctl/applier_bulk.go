package fanoutctl

// This file holds fanoutctl's stand-in for the replicator's apply path, which the
// replicator does not export yet. It does what the replicator's partition workers do
// with one batch (index globs, rename template, external versions, an answer judged
// item by item), minus the retry-forever: an operator is waiting. Once the replicator
// exports it, as
//
//	func NewApplier(cfg Config, log *slog.Logger) (*Applier, error)
//	func (a *Applier) Apply(ctx context.Context, ops []*opspb.Operation) ([]ApplyResult, error)
//	func (a *Applier) Close() error
//	type ApplyResult struct {
//		Outcome     Outcome // OutcomeApplied, OutcomeStale, OutcomeRejected, OutcomeSkipped
//		TargetIndex string
//		Status      int
//		ErrorType   string
//		Reason      string
//	}
//
// newApplier wraps it and this file goes.

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
	"github.com/fanout-dev/fanout/services/replicator"
)

// Outcomes of applying one operation to the target.
const (
	// outcomeApplied: the target took it.
	outcomeApplied = "applied"
	// outcomeStale: the target holds a newer version of the document (409): nothing
	// to do, and not an error (DESIGN.md principle 2).
	outcomeStale = "stale"
	// outcomeFailed: the target refused it (or kept answering 429/5xx for it).
	outcomeFailed = "failed"
	// outcomeSkipped: the index is not replicated to this target (indices.include /
	// indices.exclude of the configuration).
	outcomeSkipped = "skipped"
)

// applyResult is what happened to one operation.
type applyResult struct {
	Outcome     string
	TargetIndex string
	Status      int
	ErrorType   string
	Reason      string
}

// applier applies operations to one target cluster the way the replicator does:
// external versions, the configuration's index globs and rename template, and an
// answer judged item by item. Apply returns one result per operation, in order; an
// error means the target could not be asked (nothing of the call counts).
type applier interface {
	Apply(ctx context.Context, ops []*opspb.Operation) ([]applyResult, error)
	Close() error
}

// newApplier returns the apply path for the configuration's target.
func newApplier(cfg replicator.Config, log *slog.Logger) (applier, error) {
	return newBulkApplier(cfg, log)
}

// bulkApplier implements applier with _bulk requests, as the replicator's partition
// workers do.
type bulkApplier struct {
	cfg    replicator.Config
	target *opensearch.Client
	// Transient trouble (a 429 or 5xx item, a failed request) is retried this often
	// before the item fails, or the call: an operator is waiting, unlike in the
	// replicator, which retries forever.
	itemRetries, requestRetries int
}

func newBulkApplier(cfg replicator.Config, log *slog.Logger) (*bulkApplier, error) {
	target, err := cluster.New(cfg.Target, log)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", cfg.Target.Name, err)
	}
	return &bulkApplier{cfg: cfg, target: target, itemRetries: 5, requestRetries: 5}, nil
}

func (a *bulkApplier) Close() error { return a.target.Close() }

func (a *bulkApplier) Apply(ctx context.Context, ops []*opspb.Operation) ([]applyResult, error) {
	res := make([]applyResult, len(ops))
	var pending []int
	for i, op := range ops {
		if !replicator.Included(op.GetIndex(), a.cfg.Indices.Include, a.cfg.Indices.Exclude) {
			res[i].Outcome = outcomeSkipped
			continue
		}
		res[i].TargetIndex = replicator.RenameIndex(a.cfg.Indices.Rename, op.GetIndex())
		pending = append(pending, i)
	}
	wait := a.cfg.Retry.Initial
	maxWait := min(a.cfg.Retry.Max, 5*time.Second)
	backoff := func() error {
		t := time.NewTimer(wait)
		defer t.Stop()
		wait = min(wait*2, maxWait)
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
			op := ops[i]
			act := bulk.ActionIndex
			if op.GetKind() == opspb.Kind_KIND_DELETE {
				act = bulk.ActionDelete
			}
			meta := bulk.Meta{Action: act, Index: res[i].TargetIndex, ID: op.GetId(), HasID: true, Routing: op.GetRouting(),
				Version: op.GetReplicationVersion(), HasVersion: true, VersionType: "external"}
			body = bulk.AppendItem(body, &meta, op.GetSource())
		}
		answer, err := a.send(ctx, body)
		if err == nil {
			err = judge(answer, pending, ops, res)
		}
		if err != nil {
			requestFailures++
			if requestFailures > a.requestRetries || ctx.Err() != nil {
				return nil, err
			}
			if berr := backoff(); berr != nil {
				return nil, err
			}
			continue
		}
		round++
		next := pending[:0]
		for _, i := range pending {
			r := &res[i]
			del := ops[i].GetKind() == opspb.Kind_KIND_DELETE
			switch st := r.Status; {
			case st >= 200 && st < 300, st == http.StatusNotFound && del:
				// A delete of a document the target does not have leaves it as the
				// primary has it: absent.
				r.Outcome = outcomeApplied
			case st == http.StatusConflict:
				r.Outcome = outcomeStale
			case st == http.StatusTooManyRequests || st >= 500 || st < 200:
				if round > a.itemRetries {
					r.Outcome = outcomeFailed
					continue
				}
				next = append(next, i)
			default:
				r.Outcome = outcomeFailed
			}
		}
		pending = next
		if len(pending) > 0 {
			if err := backoff(); err != nil {
				return nil, err
			}
		}
	}
	for i := range res {
		if res[i].Outcome != outcomeFailed {
			res[i].ErrorType, res[i].Reason = "", ""
		}
	}
	return res, nil
}

func (a *bulkApplier) send(ctx context.Context, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Limits.BulkTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/_bulk", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := a.target.Perform(req)
	if err != nil {
		return nil, fmt.Errorf("sending _bulk to %s: %w", a.cfg.Target.Name, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the _bulk answer of %s: %w", a.cfg.Target.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("_bulk on %s: HTTP %d: %s", a.cfg.Target.Name, resp.StatusCode, oneLine(string(answer), 300))
	}
	return answer, nil
}

var errAnswer = errors.New("unusable _bulk answer")

// judge records each pending item's status; it fails, and nothing of the answer
// counts, unless the answer accounts for every item in order.
func judge(answer []byte, pending []int, ops []*opspb.Operation, res []applyResult) error {
	n := 0
	_, err := bulk.ParseResponse(answer, func(i int, r *bulk.ItemResult) error {
		if i >= len(pending) {
			return fmt.Errorf("%w: more items than the %d sent", errAnswer, len(pending))
		}
		k := pending[i]
		if r.ID != "" && r.ID != ops[k].GetId() {
			return fmt.Errorf("%w: item %d is about _id %q, sent %q", errAnswer, i, r.ID, ops[k].GetId())
		}
		res[k].Status, res[k].ErrorType, res[k].Reason = r.Status, r.ErrorType, r.ErrorReason
		n = i + 1
		return nil
	})
	if err != nil {
		return fmt.Errorf("judging the _bulk answer: %w", err)
	}
	if n != len(pending) {
		return fmt.Errorf("judging the _bulk answer: %w: %d items for %d operations", errAnswer, n, len(pending))
	}
	return nil
}
