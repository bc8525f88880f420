package replicator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/pkg/resolve"
)

// RepairHooks observe and steer verify --repair (tests).
type RepairHooks struct {
	// BeforeResolve is called before each batch is looked up on the primary: a test
	// changes the primary there, after the comparison saw the documents.
	BeforeResolve func(ctx context.Context, diffs []converge.Diff)
	// BeforeApply is called with each batch's resolved operations just before they are
	// applied: a test writes to the primary and the target there, as the stream would
	// between the repair's lookup and its write.
	BeforeApply func(ctx context.Context, ops []*opspb.Operation)
}

// RepairReport is what verify --repair did (or, with --dry-run, would do), per kind of
// difference.
type RepairReport struct {
	DryRun bool `json:"dry_run,omitempty"`
	// Found: the differences the comparison handed over, every one (not only the listed).
	Found map[converge.Kind]int `json:"found"`
	// Repaired: the target now holds the primary's state (dry run: would be written).
	Repaired map[converge.Kind]int `json:"repaired"`
	// AlreadyNewer: the target answered 409, it holds a newer version than the one the
	// repair read from the primary: the stream got there first. Counted as done.
	AlreadyNewer map[converge.Kind]int `json:"already_newer"`
	// Failed: could not be repaired; Failures lists the first few.
	Failed   map[converge.Kind]int `json:"failed"`
	Failures []RepairFailure       `json:"failures,omitempty"`
	// Indexed and Deleted count the operations (applied or already newer); a routing
	// repair is one of each. With --dry-run, what would be sent.
	Indexed int `json:"indexed"`
	Deleted int `json:"deleted"`
}

// RepairFailure is one difference that could not be repaired.
type RepairFailure struct {
	Kind   converge.Kind `json:"kind"`
	Index  string        `json:"index"`
	ID     string        `json:"id"`
	Reason string        `json:"reason"`
}

const maxRepairFailures = 10

func NewRepairReport(dryRun bool) *RepairReport {
	return &RepairReport{DryRun: dryRun, Found: map[converge.Kind]int{}, Repaired: map[converge.Kind]int{},
		AlreadyNewer: map[converge.Kind]int{}, Failed: map[converge.Kind]int{}}
}

// KindTotal sums a report's counts over the kinds.
func KindTotal(m map[converge.Kind]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func (r *RepairReport) fail(d converge.Diff, reason string) {
	r.Failed[d.Kind]++
	if len(r.Failures) < maxRepairFailures {
		r.Failures = append(r.Failures, RepairFailure{Kind: d.Kind, Index: d.Index, ID: d.ID, Reason: reason})
	}
}

// String is the text report: one line of counts per kind, then the first failures.
func (r *RepairReport) String() string {
	var b strings.Builder
	verb, newer := "repaired", "already newer on the target"
	if r.DryRun {
		verb = "would repair"
	}
	kinds := make([]converge.Kind, 0, len(r.Found))
	for k := range r.Found {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
	fmt.Fprintf(&b, "repair%s: %d differences: %d %s, %d %s, %d failed (%d indexed, %d deleted)",
		map[bool]string{true: " (dry run, nothing written)", false: ""}[r.DryRun],
		KindTotal(r.Found), KindTotal(r.Repaired), verb, KindTotal(r.AlreadyNewer), newer, KindTotal(r.Failed), r.Indexed, r.Deleted)
	for _, k := range kinds {
		fmt.Fprintf(&b, "\n  %-8s found %d, %s %d, %s %d, failed %d", k, r.Found[k], verb, r.Repaired[k], newer, r.AlreadyNewer[k], r.Failed[k])
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "\n  failed %s %s/%s: %s", f.Kind, f.Index, f.ID, f.Reason)
	}
	if n := KindTotal(r.Failed) - len(r.Failures); n > 0 {
		fmt.Fprintf(&b, "\n  … %d more failed", n)
	}
	return b.String()
}

// RepairApplier applies operations to the target: the replicator's apply path
// (Applier, or the running replicator's own). An error means the target could not be
// asked (nothing of the call counts).
type RepairApplier interface {
	Apply(ctx context.Context, ops []*opspb.Operation) ([]ApplyResult, error)
}

// Tombstones is what a repair asks the target about the deletes it remembers.
type Tombstones interface {
	// GCDeletes is how long index keeps a delete's tombstone (index.gc_deletes).
	GCDeletes(ctx context.Context, index string) (time.Duration, error)
	// Refresh makes index prune tombstones older than that.
	Refresh(ctx context.Context, index string) error
}

// RepairConfig configures a Repairer.
type RepairConfig struct {
	// Primary is where each difference is looked up at repair time; PrimaryName names
	// it in errors; LookupRetries bounds the retries of a failed lookup.
	Primary       *opensearch.Client
	PrimaryName   string
	LookupRetries int
	// Apply writes the repairs; nil is a dry run (everything is looked up, nothing
	// written, the report says what would be).
	Apply RepairApplier
	// Target answers about the target's tombstones (ClusterTombstones).
	Target Tombstones
	// Batch is the differences looked up and applied together; default 500.
	Batch int
	Hooks RepairHooks
	// Note is told what the repair waits for (a progress line, a log).
	Note func(string)
}

// Repairer repairs the differences converge hands over (Options.OnDiff), batch by
// batch, in constant memory: each batch is looked up on the primary at repair time —
// the clusters are live, what the comparison saw may be gone — and applied through the
// replicator's apply path, with external versions that never beat a later real write.
// fanoutctl verify --repair and the replicator's anti-entropy both repair with it.
type Repairer struct {
	cfg     RepairConfig
	pending []converge.Diff
	rep     *RepairReport
	// overwritten are the differences whose target copy was written outside
	// replication, under a _version above the primary's: its copy is deleted at once
	// and the primary's document written once the target has forgotten the delete
	// (overwrite), at most maxOverwrites of them.
	overwritten []converge.Diff
	// overwriting: the copies of overwritten are deleted and forgotten; their
	// documents are written as missing ones
	overwriting bool
}

// NewRepairer returns a Repairer with an empty report.
func NewRepairer(cfg RepairConfig) *Repairer {
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.PrimaryName == "" {
		cfg.PrimaryName = "primary"
	}
	return &Repairer{cfg: cfg, rep: NewRepairReport(cfg.Apply == nil)}
}

// Report is what the repair has done so far; it is updated in place.
func (r *Repairer) Report() *RepairReport { return r.rep }

// Finish repairs what is pending, then writes the documents whose copies had to be
// deleted first (waiting for the target to forget those deletes). Call it once the
// comparison is over.
func (r *Repairer) Finish(ctx context.Context) error {
	if err := r.flush(ctx); err != nil {
		return err
	}
	return r.overwrite(ctx)
}

// maxOverwrites bounds the differences kept for overwrite (a few hundred bytes each);
// more fail, for a later run.
const maxOverwrites = 100000

// maxTombstoneWait is the longest a repair waits for the target to forget deletes.
const maxTombstoneWait = 10 * time.Minute

// add takes one difference; a full batch is repaired at once. An error means the
// primary or the target could not be asked: the batch is not counted, and the
// comparison stops.
func (r *Repairer) Add(ctx context.Context, d converge.Diff) error {
	r.rep.Found[d.Kind]++
	r.pending = append(r.pending, d)
	if len(r.pending) >= r.cfg.Batch {
		return r.flush(ctx)
	}
	return nil
}

// lookupOp is the operation a difference is resolved from: the document under the
// routing the repair must reach, as an INDEX at the target's version, so that a
// document the primary no longer has resolves to a DELETE at the target's version + 1
// (resolve.Resolve): above the copy the target holds, below any later real write.
func lookupOp(d converge.Diff) *opspb.Operation {
	op := &opspb.Operation{Kind: opspb.Kind_KIND_INDEX, Index: d.Index, Id: d.ID, Routing: d.Routing, ReplicationVersion: d.ReplicaVersion}
	if d.Kind == converge.Extra {
		op.Routing = d.ReplicaRouting
	}
	return op
}

// wrongCopy deletes the target's copy of a routing difference: under its own routing,
// at its version + 1, so that a later real write still wins.
func wrongCopy(d converge.Diff) (*opspb.Operation, error) {
	if d.ReplicaVersion == math.MaxInt64 {
		return nil, fmt.Errorf("the target's _version %d has no successor", d.ReplicaVersion)
	}
	return &opspb.Operation{Kind: opspb.Kind_KIND_DELETE, Index: d.Index, Id: d.ID, Routing: d.ReplicaRouting, ReplicationVersion: d.ReplicaVersion + 1}, nil
}

// flush repairs the pending batch.
func (r *Repairer) flush(ctx context.Context) error {
	diffs := r.pending
	if len(diffs) == 0 {
		return nil
	}
	lookups := make([]*opspb.Operation, len(diffs))
	for i, d := range diffs {
		lookups[i] = lookupOp(d)
	}
	if r.cfg.Hooks.BeforeResolve != nil {
		r.cfg.Hooks.BeforeResolve(ctx, diffs)
	}
	res, err := resolve.All(ctx, r.cfg.Primary, r.cfg.PrimaryName, lookups, r.cfg.LookupRetries)
	if err != nil {
		return fmt.Errorf("repairing %d differences: %w", len(diffs), err)
	}
	// ops to apply and, for each, the difference it repairs; a routing difference
	// indexes the right document before it deletes the wrong copy: should both routings
	// reach the same shard, the delete then meets the newer document and is refused,
	// where the other order would leave a tombstone that refuses the document
	var ops []*opspb.Operation
	var owner []int
	failed := make([]bool, len(diffs))
	overwrite := make([]bool, len(diffs))
	for i, d := range diffs {
		if res[i].Err != nil {
			r.rep.fail(d, res[i].Err.Error())
			failed[i] = true
			continue
		}
		if !r.overwriting && outsideReplication(d, res[i].Op) {
			// the target's _version is above every version the primary gave the
			// document: written on the target directly (a write that bypassed the
			// proxy), and it refuses the primary's document, as it refuses the stream's
			// writes of it. Its copy is deleted above its version now; the target then
			// remembers that delete for index.gc_deletes, and refuses the primary's
			// version until it forgets it (overwrite).
			del, err := wrongCopy(d)
			if err != nil {
				r.rep.fail(d, err.Error())
				failed[i] = true
				continue
			}
			if r.cfg.Apply == nil {
				// dry run: the delete now, the document after the wait
				ops, owner = append(ops, del, res[i].Op), append(owner, i, i)
				continue
			}
			ops, owner = append(ops, del), append(owner, i)
			overwrite[i] = true
			continue
		}
		ops, owner = append(ops, res[i].Op), append(owner, i)
		if d.Kind == converge.Routing && d.ReplicaRouting != res[i].Op.GetRouting() {
			del, err := wrongCopy(d)
			if err != nil {
				r.rep.fail(d, err.Error())
				failed[i] = true
				ops, owner = ops[:len(ops)-1], owner[:len(owner)-1]
				continue
			}
			ops, owner = append(ops, del), append(owner, i)
		}
	}
	countOp := func(op *opspb.Operation) {
		if op.GetKind() == opspb.Kind_KIND_DELETE {
			r.rep.Deleted++
		} else {
			r.rep.Indexed++
		}
	}
	if r.cfg.Apply == nil { // dry run
		for k, op := range ops {
			countOp(op)
			if k == 0 || owner[k] != owner[k-1] {
				r.rep.Repaired[diffs[owner[k]].Kind]++
			}
		}
		r.pending = r.pending[:0]
		return nil
	}
	if r.cfg.Hooks.BeforeApply != nil {
		r.cfg.Hooks.BeforeApply(ctx, ops)
	}
	var results []ApplyResult
	if len(ops) > 0 {
		if results, err = r.cfg.Apply.Apply(ctx, ops); err != nil {
			// nothing of the call counts: the resolution failures stay counted, the rest
			// of the batch is neither repaired nor failed
			return fmt.Errorf("repairing %d differences on the target: %w", len(diffs), err)
		}
		if len(results) != len(ops) {
			return fmt.Errorf("repairing %d differences on the target: %d results for %d operations", len(diffs), len(results), len(ops))
		}
	}
	// one verdict per difference: failed if any of its operations failed, already
	// newer if its first (the primary's state) was refused as stale
	stale := make([]bool, len(diffs))
	first := make([]bool, len(diffs))
	for k, res := range results {
		i := owner[k]
		isFirst := !first[i]
		first[i] = true
		switch res.Outcome {
		case OutcomeApplied, OutcomeStale:
			countOp(ops[k])
			if res.Outcome == OutcomeStale && isFirst {
				stale[i] = true
			}
		case OutcomeSkipped:
			if !failed[i] {
				r.rep.fail(diffs[i], fmt.Sprintf("index %s is not replicated to this target (indices.include/exclude)", ops[k].GetIndex()))
				failed[i] = true
			}
		default:
			if !failed[i] {
				reason := fmt.Sprintf("HTTP %d", res.Status)
				if res.ErrorType != "" {
					reason += " " + res.ErrorType
				}
				if res.Reason != "" {
					reason += ": " + res.Reason
				}
				r.rep.fail(diffs[i], reason)
				failed[i] = true
			}
		}
	}
	for i, d := range diffs {
		switch {
		case failed[i]:
		case overwrite[i]:
			// its copy is deleted (or the target already holds something newer still);
			// repaired or not once the primary's document is written
			if len(r.overwritten) >= maxOverwrites {
				r.rep.fail(d, fmt.Sprintf("its copy, written outside replication, is deleted; more than %d such documents: run --repair again after index.gc_deletes has passed", maxOverwrites))
				continue
			}
			r.overwritten = append(r.overwritten, d)
		case stale[i]:
			r.rep.AlreadyNewer[d.Kind]++
		default:
			r.rep.Repaired[d.Kind]++
		}
	}
	r.pending = r.pending[:0]
	return nil
}

// outsideReplication reports whether the target's copy of d (as the comparison saw it)
// was written outside replication, given the primary's current state op: a _version
// above the replication version the primary gives the document now cannot have come
// from the stream, whose versions only grow up to it; nor can the same version with
// another source.
func outsideReplication(d converge.Diff, op *opspb.Operation) bool {
	if op.GetKind() != opspb.Kind_KIND_INDEX || (d.Kind != converge.Version && d.Kind != converge.Source) {
		return false
	}
	rv := op.GetReplicationVersion()
	return d.ReplicaVersion > rv || d.Kind == converge.Source && d.ReplicaVersion == rv
}

// overwrite writes the primary's documents over the copies flush deleted because they
// were written outside replication: once the target has forgotten those deletes
// (index.gc_deletes, read from the target; then a refresh prunes the tombstones),
// each document is looked up on the primary again and applied as any other repair.
func (r *Repairer) overwrite(ctx context.Context) error {
	if len(r.overwritten) == 0 {
		return nil
	}
	indices := map[string]bool{}
	var wait time.Duration
	for _, d := range r.overwritten {
		if indices[d.ReplicaIndex] {
			continue
		}
		indices[d.ReplicaIndex] = true
		gc, err := r.cfg.Target.GCDeletes(ctx, d.ReplicaIndex)
		if err != nil {
			return fmt.Errorf("reading how long %s keeps deletes: %w", d.ReplicaIndex, err)
		}
		wait = max(wait, gc)
	}
	if wait > maxTombstoneWait {
		for _, d := range r.overwritten {
			r.rep.fail(d, fmt.Sprintf("its copy, written outside replication, is deleted; the target refuses the primary's document while it remembers the delete (index.gc_deletes %v): run --repair again after that", wait))
		}
		r.overwritten = nil
		return nil
	}
	// a margin over the setting: the target's clock starts at its delete, after ours
	wait += wait/10 + 100*time.Millisecond
	if r.cfg.Note != nil {
		r.cfg.Note(fmt.Sprintf("waiting %v for the target to forget the deletes of %d copies written outside replication (index.gc_deletes) before writing the primary's documents", wait.Round(time.Millisecond), len(r.overwritten)))
	}
	t := time.NewTimer(wait)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
	for ix := range indices {
		if err := r.cfg.Target.Refresh(ctx, ix); err != nil {
			return fmt.Errorf("refreshing %s: %w", ix, err)
		}
	}
	// the copies are gone: the documents are missing now, looked up at the version of
	// their delete (a document the primary deleted meanwhile resolves to a delete above it)
	diffs := r.overwritten
	r.overwritten = nil
	r.overwriting = true
	defer func() { r.overwriting = false }()
	for start := 0; start < len(diffs); start += r.cfg.Batch {
		batch := diffs[start:min(start+r.cfg.Batch, len(diffs))]
		for _, d := range batch {
			d.ReplicaVersion++
			r.pending = append(r.pending, d)
		}
		if err := r.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// ClusterTombstones asks a target cluster through its client.
func ClusterTombstones(c *opensearch.Client) Tombstones { return clusterTombstones{c} }

type clusterTombstones struct{ c *opensearch.Client }

func (t clusterTombstones) GCDeletes(ctx context.Context, index string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/"+url.PathEscape(index)+"/_settings?include_defaults=true&flat_settings=true", nil)
	if err != nil {
		return 0, err
	}
	resp, err := t.c.Perform(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, body)
	}
	var ans map[string]struct {
		Settings map[string]any `json:"settings"`
		Defaults map[string]any `json:"defaults"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return 0, fmt.Errorf("decoding the settings of %s: %w", index, err)
	}
	for _, ix := range ans {
		for _, m := range []map[string]any{ix.Settings, ix.Defaults} {
			if v, ok := m["index.gc_deletes"].(string); ok {
				return parseTimeValue(v)
			}
		}
	}
	return defaultGCDeletes, nil
}

func (t clusterTombstones) Refresh(ctx context.Context, index string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/"+url.PathEscape(index)+"/_refresh", nil)
	if err != nil {
		return err
	}
	resp, err := t.c.Perform(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// parseTimeValue reads a search engine's time value: 60s, 500ms, 1m, 2h, 1d (-1: 0).
func parseTimeValue(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "-1" || s == "0" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a time value", s)
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	s = strings.NewReplacer("nanos", "ns", "micros", "us").Replace(s)
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time value", s)
	}
	return d, nil
}
