package fanoutctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/cluster"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// How a replayed record was resolved.
const (
	// resolvedCurrent: the primary has the document; its current source and version
	// are applied.
	resolvedCurrent = "current"
	// resolvedDeleted: the primary no longer has the document; a delete is applied.
	resolvedDeleted = "deleted"
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
type mgetDoc struct {
	Index       string          `json:"_index"`
	ID          string          `json:"_id"`
	Version     int64           `json:"_version"`
	SeqNo       *int64          `json:"_seq_no"`
	PrimaryTerm *int64          `json:"_primary_term"`
	Found       bool            `json:"found"`
	Source      json.RawMessage `json:"_source"`
	Error       json.RawMessage `json:"error"`
}

// resolve returns one resolution per operation, in order. An error means the primary
// could not be asked; per-document trouble is in the resolutions.
func (r *resolver) resolve(ctx context.Context, ops []*opspb.Operation) ([]resolution, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	type docRef struct {
		Index   string `json:"_index"`
		ID      string `json:"_id"`
		Routing string `json:"routing,omitempty"`
	}
	refs := make([]docRef, len(ops))
	for i, op := range ops {
		refs[i] = docRef{op.GetIndex(), op.GetId(), op.GetRouting()}
	}
	body, err := json.Marshal(map[string]any{"docs": refs})
	if err != nil {
		return nil, err
	}
	var answer []byte
	for attempt := 0; ; attempt++ {
		answer, err = r.mget(ctx, body)
		if err == nil || attempt >= r.retries || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(time.Duration(200<<attempt) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if err != nil {
		return nil, err
	}
	var resp struct {
		Docs []mgetDoc `json:"docs"`
	}
	if err := json.Unmarshal(answer, &resp); err != nil {
		return nil, fmt.Errorf("reading the _mget answer of %s: %w", r.name, err)
	}
	if len(resp.Docs) != len(ops) {
		return nil, fmt.Errorf("the _mget answer of %s has %d documents for %d asked", r.name, len(resp.Docs), len(ops))
	}
	out := make([]resolution, len(ops))
	for i, op := range ops {
		out[i] = resolveOne(op, &resp.Docs[i])
	}
	return out, nil
}

func (r *resolver) mget(ctx context.Context, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// Realtime (the default) reads the latest write of each document, refreshed or not.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/_mget", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.primary.Perform(req)
	if err != nil {
		return nil, fmt.Errorf("looking documents up on the primary %s: %w", r.name, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the _mget answer of %s: %w", r.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("_mget on the primary %s: HTTP %d: %s", r.name, resp.StatusCode, oneLine(string(answer), 300))
	}
	return answer, nil
}

// resolveOne decides what to apply for op given what the primary holds now.
//
// Found: INDEX of the primary's current _source with the replication version of its
// current _seq_no/_primary_term. That version is at least the event's, so the target
// takes it unless it already holds it or something newer (then 409: stale).
//
// Not found (or its index is gone): DELETE. Its version must beat the stale document
// the target may hold, yet never beat a later real write of the document:
//
//   - for a dead-lettered INDEX at version v, the primary deleted the document after
//     it. That delete took a _seq_no above the event's, so the delete's own version
//     is at least v+1, and any write after it (a re-create) at least v+2. v+1 is
//     therefore above everything the target may hold up to the event, and below every
//     later write: a re-created document still wins on the target, whichever arrives
//     first.
//   - for a dead-lettered DELETE at version v, v is the delete's own version: applied
//     as recorded. (v+1 could equal a re-create right after the delete, which the
//     target would then refuse as stale.)
//
// With the _version fallback (a primary without _seq_no) the same holds while the
// primary keeps the document's tombstone; see event.ReplicationVersion for the limits.
func resolveOne(op *opspb.Operation, d *mgetDoc) resolution {
	if len(d.Error) > 0 && string(d.Error) != "null" {
		typ, reason := errorOf(d.Error)
		if typ != "index_not_found_exception" {
			return resolution{errType: "primary_" + typ, err: fmt.Errorf("looking %s/%s up on the primary: %s: %s", op.GetIndex(), op.GetId(), typ, reason)}
		}
		d.Found = false
	}
	out := proto.Clone(op).(*opspb.Operation)
	if !d.Found {
		out.Kind = opspb.Kind_KIND_DELETE
		out.Source = nil
		if op.GetKind() == opspb.Kind_KIND_INDEX {
			if op.GetReplicationVersion() == math.MaxInt64 {
				return resolution{errType: "version_range", err: fmt.Errorf("%s/%s: replication version %d has no successor", op.GetIndex(), op.GetId(), op.GetReplicationVersion())}
			}
			out.ReplicationVersion = op.GetReplicationVersion() + 1
		}
		return resolution{op: out, how: resolvedDeleted}
	}
	if len(d.Source) == 0 || string(d.Source) == "null" {
		return resolution{errType: "source_missing", err: fmt.Errorf("%s/%s: the primary returned no _source (is _source disabled?)", op.GetIndex(), op.GetId())}
	}
	hasSeq := d.SeqNo != nil && d.PrimaryTerm != nil
	var seq, term int64
	if hasSeq {
		seq, term = *d.SeqNo, *d.PrimaryTerm
	}
	v, err := event.ReplicationVersion(seq, term, d.Version, hasSeq)
	if err != nil {
		return resolution{errType: "version_range", err: fmt.Errorf("%s/%s on the primary: %w", op.GetIndex(), op.GetId(), err)}
	}
	out.Kind = opspb.Kind_KIND_INDEX
	out.Source = append([]byte(nil), d.Source...)
	out.ReplicationVersion = v
	out.Version = d.Version
	if hasSeq {
		out.SeqNo, out.PrimaryTerm = &seq, &term
	} else {
		out.SeqNo, out.PrimaryTerm = nil, nil
	}
	return resolution{op: out, how: resolvedCurrent}
}

// errorOf reads an error value: {"type","reason"} or a plain string.
func errorOf(raw json.RawMessage) (typ, reason string) {
	var e struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(raw, &e) == nil && e.Type != "" {
		return e.Type, e.Reason
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return "error", s
	}
	return "error", string(raw)
}
