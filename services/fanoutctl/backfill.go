package fanoutctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fanout-dev/fanout/pkg/cluster"
	"github.com/fanout-dev/fanout/services/replicator"
)

// fanoutctl backfill copies a live primary into a target while writes keep flowing
// through the proxy and the target's replicator keeps applying their events:
//
//  1. Metadata. Each index is created on the target with the primary's mappings,
//     settings and aliases through the replicator's own metadata path (renames,
//     include/exclude, settings that are never copied), before the replicator may
//     apply an event to it, and brought up to date again after step 2.
//  2. Offsets. The ops topics' end offsets are recorded; a replicator group without
//     committed offsets gets them as its committed offsets. Every write the proxy
//     accepts after that is in the stream the replicator applies.
//  3. Copy. The primary's indices are refreshed (a write acknowledged before step 2
//     is then visible), and each is read through a point in time opened after step 2,
//     so every write before step 2 is in the copy. Pages (search_after on _id, in
//     --slices slices) are bulk-applied with version_type=external and the replication
//     version: where the stream was first with a newer version the target answers 409,
//     which is success.
//  4. Reconcile: documents the target holds and the primary does not are deleted. The
//     target is read through as converge reads it (a point in time on _shard_doc, or a
//     scroll): one view of each index, in linear time, without _id field data.
//
// No resurrection. A copied document is the primary's state at the point in time; if
// the primary deletes it afterwards, the replicator applies the delete and the target
// keeps its tombstone for index.gc_deletes (60 s by default). The copy's old version
// arriving after that tombstone expired would bring the document back. So a page is
// applied from the point in time only while the point in time is younger than --window
// (default 30 s, half the default gc_deletes); older pages are looked up again on the
// primary with realtime _mget (pkg/resolve) just before they are applied. The window is
// checked when the bulk is sent: a bulk that takes longer than gc_deletes − window to
// reach the target can still resurrect a document deleted right after its point in
// time or lookup. The reconcile pass removes what such a late bulk (or anything else)
// brought back, once the copy is done.

// backfillFlags are the command line of fanoutctl backfill.
type backfillFlags struct {
	common
	indices    listFlag
	slices     int
	pageSize   int
	window     time.Duration
	keepAlive  time.Duration
	statePath  string
	resume     bool
	maxDocsPS  float64
	maxBytesPS float64
}

// backfillHooks observe and steer a backfill in tests; never settable otherwise.
type backfillHooks struct {
	// afterOffsets runs once the group's offsets are settled (before any point in time).
	afterOffsets func()
	// afterPIT runs once an index's point in time is open.
	afterPIT func(index string)
	// afterPage runs after a slice applied and saved a page.
	afterPage func(index string, slice, docs int)
	// sleep replaces the throttle's wait (tests count instead of waiting).
	sleep func(context.Context, time.Duration) error
	// noReconcile skips the reconcile pass (to show what it is for).
	noReconcile bool
	// afterReconcilePage runs after the reconcile pass handled a page of the target.
	afterReconcilePage func(targetIndex string, docs int)
	// bulkRequests counts the bulk requests sent to the target, if set.
	bulkRequests *atomic.Int64
}

func runBackfill(ctx context.Context, args []string, e *env) error {
	var f backfillFlags
	fs := newFlagSet("backfill", e)
	f.common.register(fs, flagConfig|flagBrokers|flagCluster|flagTopic|flagPrimary|flagTarget|flagOutput)
	fs.Var(&f.indices, "index", "primary index `globs` to copy, comma-separated or repeated (default: every index the replicator replicates)")
	fs.IntVar(&f.slices, "slices", 2, "`n` parallel slices per index (point-in-time slicing)")
	fs.IntVar(&f.pageSize, "page-size", 500, "documents per page and per bulk `n`")
	fs.DurationVar(&f.window, "window", 30*time.Second, "apply a page from its point in time only while the point in time is younger than this `duration`; older pages are looked up again on the primary (keep it well below the target's index.gc_deletes)")
	fs.DurationVar(&f.keepAlive, "keep-alive", 5*time.Minute, "point-in-time keep_alive `duration` between two pages")
	fs.StringVar(&f.statePath, "state", "", "progress `file` (JSON), saved after every page; needed by --resume")
	fs.BoolVar(&f.resume, "resume", false, "continue the backfill whose progress --state holds")
	fs.Float64Var(&f.maxDocsPS, "max-docs-per-s", 0, "copy at most this many documents per second, `n` (0: no limit)")
	fs.Float64Var(&f.maxBytesPS, "max-bytes-per-s", 0, "copy at most this many source bytes per second, `n` (0: no limit)")
	if err := parse(fs, args, &f.common); err != nil {
		return err
	}
	switch {
	case f.slices < 1 || f.slices > 1024:
		return usagef("backfill: --slices must be between 1 and 1024, got %d", f.slices)
	case f.pageSize < 1 || f.pageSize > 10000:
		return usagef("backfill: --page-size must be between 1 and 10000, got %d", f.pageSize)
	case f.window <= 0:
		return usagef("backfill: --window must be positive, got %s", f.window)
	case f.keepAlive < time.Second:
		return usagef("backfill: --keep-alive must be at least 1s, got %s", f.keepAlive)
	case f.maxDocsPS < 0:
		return usagef("backfill: --max-docs-per-s must not be negative, got %g", f.maxDocsPS)
	case f.maxBytesPS < 0:
		return usagef("backfill: --max-bytes-per-s must not be negative, got %g", f.maxBytesPS)
	case f.resume && f.statePath == "":
		return usagef("backfill: --resume needs --state FILE")
	}
	for _, p := range f.indices {
		if err := replicator.CheckIndexPattern(p); err != nil {
			return usagef("backfill: --index: %v", err)
		}
	}
	s, err := f.load(e)
	if err != nil {
		return err
	}
	if err := f.needCluster(s); err != nil {
		return err
	}
	if len(s.cfg.Target.Endpoints) == 0 {
		return usagef("backfill: --target is required (or target.endpoints in --config)")
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	st, found, err := loadState(f.statePath)
	if f.statePath != "" && err != nil {
		return usagef("backfill: --state: %v", err)
	}
	switch {
	case f.resume && !found:
		return usagef("backfill: --resume: state file %s does not exist", f.statePath)
	case !f.resume && found:
		return usagef("backfill: state file %s holds a backfill already: continue it with --resume, or remove the file", f.statePath)
	case f.resume && st.Cluster != s.cfg.Target.Name:
		return usagef("backfill: --resume: state file %s is about target %q, not %q", f.statePath, st.Cluster, s.cfg.Target.Name)
	case f.resume && st.Group != groupOf(s, s.cfg.Target.Name):
		return usagef("backfill: --resume: state file %s set the offsets of group %q, the configuration names %q", f.statePath, st.Group, groupOf(s, s.cfg.Target.Name))
	case f.resume && st.Slices != f.slices && set["slices"]:
		return usagef("backfill: --resume: the backfill runs with --slices %d (its state file's), not %d", st.Slices, f.slices)
	}

	b, err := newBackfill(ctx, &f, s, e)
	if err != nil {
		return err
	}
	defer b.close()
	if found {
		b.state.st = st
		b.slices = st.Slices
	}
	return b.run(ctx)
}

// backfill is one run of the command.
type backfill struct {
	f       *backfillFlags
	s       settings
	e       *env
	log     *slog.Logger
	hooks   backfillHooks
	group   string
	slices  int
	primary *searchClient
	target  *searchClient
	apply   applier
	resolve *resolver
	adm     *kadm.Client
	closeK  func()
	state   *stateFile
	docs    *bucket
	bytes   *bucket
	bar     *backfillProgress
	started time.Time
}

func newBackfill(ctx context.Context, f *backfillFlags, s settings, e *env) (*backfill, error) {
	b := &backfill{f: f, s: s, e: e, hooks: e.deps.backfill, slices: f.slices, group: groupOf(s, s.cfg.Target.Name),
		log: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	b.state = &stateFile{path: f.statePath, st: &backfillState{Version: backfillStateVersion, Cluster: s.cfg.Target.Name,
		Group: b.group, Started: e.now().UTC(), Slices: f.slices}}
	pc, err := cluster.New(s.primary)
	if err != nil {
		return nil, usagef("backfill: primary: %v", err)
	}
	b.primary = &searchClient{c: pc, name: "primary " + s.primary.Name}
	tc, err := cluster.New(s.cfg.Target)
	if err != nil {
		b.close()
		return nil, usagef("backfill: target: %v", err)
	}
	b.target = &searchClient{c: tc, name: "target " + s.cfg.Target.Name}
	if b.apply, err = newApplier(s.cfg, b.log); err != nil {
		b.close()
		return nil, fmt.Errorf("backfill: %w", err)
	}
	if b.resolve, err = newResolver(s.primary, b.log); err != nil {
		b.close()
		return nil, fmt.Errorf("backfill: %w", err)
	}
	if b.adm, b.closeK, err = adminClient(s, e); err != nil {
		b.close()
		return nil, err
	}
	sleep := sleepCtx
	if b.hooks.sleep != nil {
		sleep = b.hooks.sleep
	}
	b.docs = newBucket(f.maxDocsPS, e.now, sleep)
	b.bytes = newBucket(f.maxBytesPS, e.now, sleep)
	return b, nil
}

func (b *backfill) close() {
	if b.primary != nil {
		_ = b.primary.c.Close()
	}
	if b.target != nil {
		_ = b.target.c.Close()
	}
	if b.apply != nil {
		_ = b.apply.Close()
	}
	if b.resolve != nil {
		b.resolve.close()
	}
	if b.closeK != nil {
		b.closeK()
	}
}

// run does steps 1 to 4 and reports.
func (b *backfill) run(ctx context.Context) error {
	b.started = b.e.now()
	flavor, err := b.primary.flavor(ctx)
	if err != nil {
		return err
	}
	resumed := len(b.state.st.Offsets) > 0
	var indices []*indexProgress
	var skipped []skippedIndex
	b.state.read(func(st *backfillState) { indices = st.Indices })
	if len(indices) == 0 {
		if indices, skipped, err = b.selectIndices(ctx); err != nil {
			return err
		}
		if err := b.state.update(func(st *backfillState) { st.Indices = indices }); err != nil {
			return err
		}
	}
	if !resumed {
		if _, err := b.checkGroup(ctx); err != nil {
			return err // before anything is done
		}
	}
	// The indices exist on the target before the replicator may apply an event to them
	// (else it would create them with dynamic mappings), and are brought up to date once
	// more after the offsets: a change between the two reads is not in the stream.
	if err := b.metadata(ctx, indices); err != nil {
		return err
	}
	if !resumed {
		if err := b.settleOffsets(ctx); err != nil {
			return err
		}
		if err := b.metadata(ctx, indices); err != nil {
			return err
		}
	}
	if !b.f.json() {
		var action string
		b.state.read(func(st *backfillState) { action = st.OffsetsAction })
		fmt.Fprintf(b.e.stderr, "backfill: group %s starts at the recorded end offsets (%s): its replicator may run from now on\n", b.group, action)
	}
	if h := b.hooks.afterOffsets; h != nil {
		h()
	}

	b.bar = newBackfillProgress(b.e, !b.f.json())
	b.state.read(func(st *backfillState) { b.bar.resume(st) })
	copyErr := b.copyAll(ctx, flavor, indices)
	b.bar.finish()
	if copyErr == nil && !b.hooks.noReconcile {
		copyErr = b.reconcileAll(ctx, indices)
	}
	if copyErr != nil {
		if ctx.Err() != nil && b.f.statePath != "" {
			return fmt.Errorf("backfill interrupted (%w); its progress is in %s: run it again with --resume", copyErr, b.f.statePath)
		}
		return copyErr
	}
	return b.report(skipped, resumed)
}

// settleOffsets records the ops topics' end offsets and makes them the replicator
// group's committed offsets, unless the group has committed offsets already (it is
// replicating, and what it has not applied yet is in the stream).
func (b *backfill) settleOffsets(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	topics := b.s.cfg.Consume.Topics
	ends, err := b.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("backfill: listing the end offsets of %s: %w", strings.Join(topics, ","), err)
	}
	var offs []partitionOffset
	var listErr error
	commit := kadm.Offsets{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			listErr = errors.Join(listErr, fmt.Errorf("%s[%d]: %w", o.Topic, o.Partition, o.Err))
			return
		}
		offs = append(offs, partitionOffset{Topic: o.Topic, Partition: o.Partition, Offset: o.Offset})
		commit.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
	})
	if listErr != nil {
		return fmt.Errorf("backfill: listing the end offsets of %s (does the topic exist? fanoutctl topics create): %w", strings.Join(topics, ","), listErr)
	}
	if len(offs) == 0 {
		return fmt.Errorf("backfill: the ops topics %s have no partitions (fanoutctl topics create)", strings.Join(topics, ","))
	}
	sort.Slice(offs, func(i, j int) bool {
		if offs[i].Topic != offs[j].Topic {
			return offs[i].Topic < offs[j].Topic
		}
		return offs[i].Partition < offs[j].Partition
	})
	has, err := b.checkGroup(ctx)
	if err != nil {
		return err
	}
	action := "kept"
	if has == 0 {
		// Kafka takes a commit from outside the group only while the group is empty,
		// so a replicator that joined since checkGroup makes this fail, not race.
		if err := b.adm.CommitAllOffsets(ctx, b.group, commit); err != nil {
			return fmt.Errorf("backfill: committing the end offsets to group %s: %w", b.group, err)
		}
		action = "set"
	} else if has < len(offs) {
		b.log.Warn("the replicator group has committed offsets for some partitions only; the others start at consume.start_from", "group", b.group, "committed", has, "partitions", len(offs))
	}
	return b.state.update(func(st *backfillState) { st.Offsets, st.OffsetsAction = offs, action })
}

// checkGroup returns how many partitions of the ops topics the replicator group has
// committed offsets for, and refuses a group with live members and none: its
// replicators started where consume.start_from told them, which may leave a gap.
func (b *backfill) checkGroup(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	committed, err := b.adm.FetchOffsets(ctx, b.group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return 0, fmt.Errorf("backfill: reading the committed offsets of group %s: %w", b.group, err)
	}
	has := 0
	for _, t := range b.s.cfg.Consume.Topics {
		for _, o := range committed[t] {
			if o.Err == nil && o.At >= 0 {
				has++
			}
		}
	}
	if has > 0 {
		return has, nil
	}
	described, err := b.adm.DescribeGroups(ctx, b.group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return 0, fmt.Errorf("backfill: describing group %s: %w", b.group, err)
	}
	if g, ok := described[b.group]; ok && g.Err == nil && len(g.Members) > 0 {
		return 0, fmt.Errorf("backfill: group %s has %d live members and no committed offsets: their replicators chose a start (consume.start_from) that may leave a gap; stop them, run backfill, then start them", b.group, len(g.Members))
	}
	return 0, nil
}

// skippedIndex is a primary index the backfill does not copy, and why.
type skippedIndex struct {
	Index  string `json:"index"`
	Reason string `json:"reason"`
}

// selectIndices lists the primary's indices the backfill copies: those the replicator
// replicates (indices.include/exclude) and, with --index, that match one of its globs.
func (b *backfill) selectIndices(ctx context.Context) ([]*indexProgress, []skippedIndex, error) {
	rows, err := b.primary.catIndices(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []*indexProgress
	var skipped []skippedIndex
	cfg := b.s.cfg.Indices
	for _, r := range rows {
		if len(b.f.indices) > 0 && !replicator.Included(r.Index, b.f.indices, nil) {
			continue
		}
		switch {
		case !replicator.Included(r.Index, cfg.Include, cfg.Exclude):
			if len(b.f.indices) > 0 {
				skipped = append(skipped, skippedIndex{r.Index, "not replicated to this target (indices.include/exclude)"})
			}
			continue
		case strings.HasPrefix(r.Index, ".ds-"):
			skipped = append(skipped, skippedIndex{r.Index, "data stream backing index (not supported by backfill)"})
			continue
		case r.Status == "close":
			skipped = append(skipped, skippedIndex{r.Index, "closed (a point in time cannot read it)"})
			continue
		}
		if strings.HasPrefix(r.Index, ".") && !dotNamed(b.f.indices, r.Index) {
			skipped = append(skipped, skippedIndex{r.Index, "system or hidden index (name it with an --index glob starting with . to copy it)"})
			continue
		}
		ip := &indexProgress{Index: r.Index, TargetIndex: replicator.RenameIndex(cfg.Rename, r.Index)}
		for range b.slices {
			ip.Slices = append(ip.Slices, &sliceProgress{})
		}
		out = append(out, ip)
	}
	if len(out) == 0 {
		what := "the replicator's indices.include/exclude"
		if len(b.f.indices) > 0 {
			what = "--index " + b.f.indices.String()
		}
		return nil, nil, fmt.Errorf("backfill: no index of the primary matches %s", what)
	}
	return out, skipped, nil
}

// dotNamed reports whether a glob starting with "." names index: indices of the
// engine and its plugins (.kibana, .opendistro_security, .tasks…) are copied only when
// asked for by name, not by "*".
func dotNamed(globs []string, index string) bool {
	for _, g := range globs {
		if strings.HasPrefix(g, ".") && replicator.Included(index, []string{g}, nil) {
			return true
		}
	}
	return false
}

// backfillIndexReport is one index of the report.
type backfillIndexReport struct {
	Index            string `json:"index"`
	TargetIndex      string `json:"target_index"`
	Docs             int64  `json:"docs"`
	Bytes            int64  `json:"bytes"`
	Resolved         int64  `json:"resolved"`
	Stale            int64  `json:"stale"`
	Deleted          int64  `json:"deleted"`
	Failed           int64  `json:"failed"`
	ReconcileChecked int64  `json:"reconcile_checked"`
	ReconcileDeleted int64  `json:"reconcile_deleted"`
}

// backfillReport is what -o json prints.
type backfillReport struct {
	Cluster       string                `json:"cluster"`
	Group         string                `json:"group"`
	OffsetsAction string                `json:"offsets_action"`
	Offsets       []partitionOffset     `json:"offsets"`
	Resumed       bool                  `json:"resumed"`
	Indices       []backfillIndexReport `json:"indices"`
	Skipped       []skippedIndex        `json:"skipped_indices,omitempty"`
	// Docs and Bytes: copied by this run (a resumed run does not count the earlier ones).
	Docs     int64   `json:"docs"`
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
	DocsPerS float64 `json:"docs_per_s"`
	Failed   int64   `json:"failed"`
}

func (b *backfill) report(skipped []skippedIndex, resumed bool) error {
	rep := backfillReport{Cluster: b.s.cfg.Target.Name, Group: b.group, Resumed: resumed, Skipped: skipped}
	b.state.read(func(st *backfillState) {
		rep.OffsetsAction, rep.Offsets = st.OffsetsAction, st.Offsets
		for _, ip := range st.Indices {
			r := backfillIndexReport{Index: ip.Index, TargetIndex: ip.TargetIndex, ReconcileChecked: ip.ReconcileChecked, ReconcileDeleted: ip.ReconcileDeleted}
			for _, sp := range ip.Slices {
				r.Docs += sp.Docs
				r.Bytes += sp.Bytes
				r.Resolved += sp.Resolved
				r.Stale += sp.Stale
				r.Deleted += sp.Deleted
				r.Failed += sp.Failed
			}
			rep.Failed += r.Failed
			rep.Indices = append(rep.Indices, r)
		}
	})
	rep.Docs, rep.Bytes = b.bar.run()
	rep.Seconds = b.e.now().Sub(b.started).Seconds()
	if rep.Seconds > 0 {
		rep.DocsPerS = float64(rep.Docs) / rep.Seconds
	}
	if b.f.json() {
		if err := writeJSON(b.e.stdout, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(b.e.stdout, "group %s: offsets %s (%d partitions)\n", rep.Group, rep.OffsetsAction, len(rep.Offsets))
		t := newTable(b.e.stdout, "INDEX", "TARGET", "DOCS", "BYTES", "RESOLVED", "STALE", "DELETED", "FAILED", "RECONCILE DELETED")
		for _, r := range rep.Indices {
			t.row(r.Index, r.TargetIndex, fmt.Sprint(r.Docs), fmt.Sprint(r.Bytes), fmt.Sprint(r.Resolved), fmt.Sprint(r.Stale),
				fmt.Sprint(r.Deleted), fmt.Sprint(r.Failed), fmt.Sprint(r.ReconcileDeleted))
		}
		t.flush()
		for _, sk := range rep.Skipped {
			fmt.Fprintf(b.e.stdout, "skipped %s: %s\n", sk.Index, sk.Reason)
		}
		fmt.Fprintf(b.e.stdout, "%d documents copied in %s (%.0f/s)\n", rep.Docs, duration(time.Duration(rep.Seconds*float64(time.Second))), rep.DocsPerS)
	}
	if b.f.statePath != "" {
		// Done: the file would make the next backfill of this target refuse to start.
		if err := os.Remove(b.f.statePath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("backfill: done, but removing the state file: %w", err)
		}
	}
	if rep.Failed > 0 {
		return partialf("backfill: the target refused %d documents (the warnings above say why); fix the cause and backfill their indices again (--index)", rep.Failed)
	}
	return nil
}
