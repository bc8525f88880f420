// Package resolve looks events up on the primary and says what to apply instead of
// them: the document's current state (INDEX with the replication version of its current
// _seq_no/_primary_term), or a DELETE when the primary no longer has it. fanoutctl dlq
// replay resolves every replayed event so; the replicator resolves INDEX events older
// than late_events.window before it applies them.
//
// Why: an event applied long after the primary accepted it is safe while the target
// remembers the later writes of its document (external versions answer 409), but a
// delete's tombstone lives only index.gc_deletes (60 s by default). Past that, an old
// INDEX would bring back a document the primary deleted (DESIGN.md principle 8); the
// primary's current state cannot.
package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/bulk"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// How an event was resolved.
const (
	// Current: the primary has the document; its current source and version apply.
	Current = "current"
	// Deleted: the primary no longer has the document (or its index); a DELETE applies.
	Deleted = "deleted"
)

// Error types of documents the primary cannot resolve for good.
const (
	ErrSourceMissing = "source_missing" // the primary returned no _source
	ErrVersionRange  = "version_range"  // no replication version fits
)

// Doc is one document of an _mget answer.
type Doc struct {
	Index       string          `json:"_index"`
	ID          string          `json:"_id"`
	Routing     string          `json:"_routing"` // the routing stored with the document
	Version     int64           `json:"_version"`
	SeqNo       *int64          `json:"_seq_no"`
	PrimaryTerm *int64          `json:"_primary_term"`
	Found       bool            `json:"found"`
	Source      json.RawMessage `json:"_source"`
	Error       json.RawMessage `json:"error"`
}

// Result is what to apply for one event.
type Result struct {
	Op  *opspb.Operation // nil when Err is set
	How string           // Current or Deleted
	// ErrType and Err: the primary could not say for this document. ErrType is
	// ErrSourceMissing, ErrVersionRange or "primary_" + the primary's error type.
	ErrType string
	Err     error
}

// Lookup reads the documents of ops from the primary in one realtime _mget, each with
// its index, id and routing, and returns them in order. An error means the primary
// could not be asked, or its answer is unusable: nothing of it counts. name names the
// primary in errors.
func Lookup(ctx context.Context, primary *opensearch.Client, name string, ops []*opspb.Operation) ([]Doc, error) {
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
		return nil, fmt.Errorf("building the _mget request: %w", err)
	}
	// Realtime (the default) reads the latest write of each document, refreshed or not.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/_mget", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building the _mget request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	// Stream: the body is read once, here (Perform would buffer it, then copy).
	resp, err := primary.Stream(req)
	if err != nil {
		if resp != nil && resp.Body != nil { // Stream may return an answer with its error
			resp.Body.Close()
		}
		return nil, fmt.Errorf("looking documents up on the primary %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, &StatusError{Primary: name, Status: resp.StatusCode, Answer: oneLine(answer, 300)}
	}
	// An answer holds whole documents (MBs for a batch): read once into a buffer of
	// its size, and parsed without decoding the sources (bulk.ParseMget), which the
	// docs then alias.
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, fmt.Errorf("reading the _mget answer of %s: %w", name, err)
	}
	docs := make([]Doc, 0, len(ops))
	_, err = bulk.ParseMget(buf.Bytes(), func(i int, m *bulk.MgetDoc) error {
		if i >= len(ops) {
			return fmt.Errorf("more documents than the %d asked", len(ops))
		}
		// An answer about another document would apply its state to this one.
		if m.ID != "" && m.ID != ops[i].GetId() {
			return fmt.Errorf("document %d is %q, asked %q", i, m.ID, ops[i].GetId())
		}
		d := Doc{Index: m.Index, ID: m.ID, Routing: m.Routing, Version: m.Version, Found: m.Found, Source: m.Source, Error: m.Error}
		if m.HasSeqNo {
			seq, term := m.SeqNo, m.PrimaryTerm
			d.SeqNo, d.PrimaryTerm = &seq, &term
		}
		docs = append(docs, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the _mget answer of %s: %w", name, err)
	}
	if len(docs) != len(ops) {
		return nil, fmt.Errorf("the _mget answer of %s has %d documents for %d asked", name, len(docs), len(ops))
	}
	return docs, nil
}

// StatusError is an _mget the primary answered with another status than 200: callers
// tell a refusal of their credentials (401, 403) from a cluster in trouble by it.
type StatusError struct {
	Primary string // the primary's name
	Status  int
	Answer  string // the start of the answer, on one line
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("_mget on the primary %s: HTTP %d: %s", e.Primary, e.Status, e.Answer)
}

// Resolve decides what to apply for op given what the primary holds now (d). It never
// changes op; the result's source is d's (not copied).
//
// Found: INDEX of the primary's current _source with the replication version of its
// current _seq_no/_primary_term. That version is at least the event's, so the target
// takes it unless it already holds it or something newer (then 409: stale); a later real
// write of the document has a higher version still, and wins.
//
// Not found (or its index is gone): DELETE. Its version must beat the stale document
// the target may hold, yet never beat a later real write of the document:
//
//   - for an INDEX at version v, the primary deleted the document after it. That delete
//     took a _seq_no above the event's, so the delete's own version is at least v+1,
//     and any write after it (a re-create) at least v+2. v+1 is therefore above
//     everything the target may hold up to the event, and below every later write: a
//     re-created document still wins on the target, whichever arrives first.
//   - for a DELETE at version v, v is the delete's own version: applied as recorded.
//     (v+1 could equal a re-create right after the delete, which the target would then
//     refuse as stale.)
//
// With the _version fallback (a primary without _seq_no) the same holds while the
// primary keeps the document's tombstone; see event.ReplicationVersion for the limits.
func Resolve(op *opspb.Operation, d *Doc) Result {
	found := d.Found
	if len(d.Error) > 0 && string(d.Error) != "null" {
		typ, reason := ErrorOf(d.Error)
		if typ != "index_not_found_exception" {
			return Result{ErrType: "primary_" + typ, Err: fmt.Errorf("looking %s/%s up on the primary: %s: %s", op.GetIndex(), op.GetId(), typ, reason)}
		}
		found = false
	}
	out := proto.Clone(op).(*opspb.Operation)
	out.Chunk = nil // the resolved event is one whole document, or none
	if !found {
		out.Kind = opspb.Kind_KIND_DELETE
		out.Source = nil
		if op.GetKind() == opspb.Kind_KIND_INDEX {
			if op.GetReplicationVersion() == math.MaxInt64 {
				return Result{ErrType: ErrVersionRange, Err: fmt.Errorf("%s/%s: replication version %d has no successor", op.GetIndex(), op.GetId(), op.GetReplicationVersion())}
			}
			out.ReplicationVersion = op.GetReplicationVersion() + 1
		}
		return Result{Op: out, How: Deleted}
	}
	if len(d.Source) == 0 || string(d.Source) == "null" {
		return Result{ErrType: ErrSourceMissing, Err: fmt.Errorf("%s/%s: the primary returned no _source (is _source disabled?)", op.GetIndex(), op.GetId())}
	}
	hasSeq := d.SeqNo != nil && d.PrimaryTerm != nil
	var seq, term int64
	if hasSeq {
		seq, term = *d.SeqNo, *d.PrimaryTerm
	}
	v, err := event.ReplicationVersion(seq, term, d.Version, hasSeq)
	if err != nil {
		return Result{ErrType: ErrVersionRange, Err: fmt.Errorf("%s/%s on the primary: %w", op.GetIndex(), op.GetId(), err)}
	}
	out.Kind = opspb.Kind_KIND_INDEX
	out.Source = d.Source
	out.ReplicationVersion = v
	out.Version = d.Version
	if hasSeq {
		out.SeqNo, out.PrimaryTerm = &seq, &term
	} else {
		out.SeqNo, out.PrimaryTerm = nil, nil
	}
	return Result{Op: out, How: Current}
}

// ErrorOf reads an error value: {"type","reason"} or a plain string.
func ErrorOf(raw json.RawMessage) (typ, reason string) {
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

func oneLine(b []byte, n int) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// All looks ops up on the primary and resolves each (Resolve), in order. A lookup
// that fails is tried again up to retries times, with a backoff from 200 ms, each
// attempt bounded to a minute: an operator's command or a background repair rides out
// a primary's blip, but not an outage. An error means the primary could not be asked;
// per-document trouble is in the results.
func All(ctx context.Context, primary *opensearch.Client, name string, ops []*opspb.Operation, retries int) ([]Result, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	var docs []Doc
	var err error
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, time.Minute)
		docs, err = Lookup(actx, primary, name, ops)
		cancel()
		if err == nil || attempt >= retries || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(time.Duration(200<<min(attempt, 8)) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if err != nil {
		return nil, err
	}
	out := make([]Result, len(ops))
	for i, op := range ops {
		out[i] = Resolve(op, &docs[i])
	}
	return out, nil
}
