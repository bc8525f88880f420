package fanoutctl

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/pkg/cluster"
	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/metadata"
	"github.com/fanout-dev/fanout/services/replicator"
)

// runVerify compares a target with the primary document by document (pkg/converge):
// missing, extra and differing documents, and _version against the replication
// version of the primary's _seq_no and _primary_term, and with --metadata the indices'
// mappings, settings and aliases (and templates and pipelines, as asked). It exits 1 when
// they differ.
//
// The default mode is fast: no source crosses the wire, and a document that differs
// shows as a _version other than its replication version, which is what a replicator
// writes. --mode full also compares sources, for targets written some other way or
// with --no-versions.
//
// --repair makes the target match: every difference, as the comparison hands it over
// (all of them, not only the listed ones), is looked up on the primary at repair time
// and the primary's state applied through the replicator's apply path (repair.go).
// --dry-run says what it would write and writes nothing.
func runVerify(ctx context.Context, args []string, e *env) error {
	var c common
	fs := newFlagSet("verify", e)
	c.register(fs, flagConfig|flagCluster|flagPrimary|flagTarget|flagOutput)
	var indices listFlag
	fs.Var(&indices, "index", "primary `index` or index pattern (logs-*) to compare, repeatable (default: every index the primary lists that indices.include/exclude replicate)")
	maxDiffs := fs.Int("max-diffs", 20, "how many differences to list (counts are always complete)")
	refresh := fs.Bool("refresh", true, "refresh the compared indices on both clusters first, so that search sees every acknowledged write")
	noVersions := fs.Bool("no-versions", false, "compare documents only, not _version against the replication version")
	modeName := fs.String("mode", string(converge.Fast), "`fast` compares ids, routing and versions and moves no source; full also compares sources")
	sample := fs.Int("sample", 0, "compare only about `N` documents, shared among the indices by size and spread over each (0: every document)")
	var meta metadataFlag
	fs.Var(&meta, "metadata", "also compare metadata: `KINDS` is a comma list of indices (mappings, settings, aliases), templates, pipelines, or all; the bare flag means indices")
	var ignoreSettings, compareSettings listFlag
	fs.Var(&ignoreSettings, "ignore-setting", "with --metadata, also skip index settings matching `PATTERN` (flat name, * wildcard), repeatable")
	fs.Var(&compareSettings, "compare-setting", "with --metadata, compare index settings matching `PATTERN` even if target-local (e.g. index.blocks.*), repeatable")
	repair := fs.Bool("repair", false, "repair every difference found: write the primary's current document (or delete the target's), through the replicator's apply path; exits 0 when all were repaired")
	dryRun := fs.Bool("dry-run", false, "with --repair, look every difference up on the primary and say what would be written, writing nothing")
	repairBatch := fs.Int("repair-batch", 500, "with --repair, differences looked up and applied per batch")
	if err := parse(fs, args, &c); err != nil {
		return err
	}
	s, err := c.load(e)
	if err != nil {
		return err
	}
	if len(s.cfg.Target.Endpoints) == 0 {
		return usagef("verify: --target is required (or target.endpoints in --config)")
	}
	if *maxDiffs < 1 {
		return usagef("verify: --max-diffs must be at least 1")
	}
	mode, err := converge.ParseMode(*modeName)
	if err != nil {
		return usagef("verify: --mode: %v", err)
	}
	if *sample < 0 {
		return usagef("verify: --sample must not be negative")
	}
	if *dryRun && !*repair {
		return usagef("verify: --dry-run goes with --repair")
	}
	if *repair && meta.any() {
		return usagef("verify: --repair repairs documents, not metadata: compare --metadata in a run of its own")
	}
	if *repairBatch < 1 || *repairBatch > 10000 {
		return usagef("verify: --repair-batch must be between 1 and 10000")
	}
	if s.cfg.Target.Name == "" {
		s.cfg.Target.Name = "target"
	}
	primary, err := cluster.New(s.primary)
	if err != nil {
		return usagef("verify: primary: %v", err)
	}
	defer primary.Close()
	target, err := cluster.New(s.cfg.Target)
	if err != nil {
		return usagef("verify: target: %v", err)
	}
	defer target.Close()

	in := s.cfg.Indices
	opts := converge.Options{
		Indices:      indices,
		Include:      func(ix string) bool { return replicator.Included(ix, in.Include, in.Exclude) },
		ReplicaIndex: func(ix string) string { return replicator.RenameIndex(in.Rename, ix) },
		Mode:         mode,
		Sample:       *sample,
		Refresh:      *refresh,
		MaxDiffs:     *maxDiffs,
	}
	var rp *replicator.Repairer
	if *repair {
		log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		rc := replicator.RepairConfig{Primary: primary, PrimaryName: s.primary.Name, LookupRetries: 3,
			Target: replicator.ClusterTombstones(target), Batch: *repairBatch, Hooks: e.deps.repair,
			Note: func(msg string) { fmt.Fprintf(e.stderr, "verify %s: %s\n", s.cfg.Target.Name, msg) }}
		if !*dryRun {
			ap, err := newApplier(s.cfg, log)
			if err != nil {
				return usagef("verify: target: %v", err)
			}
			defer ap.Close()
			rc.Apply = ap
		}
		rp = replicator.NewRepairer(rc)
		opts.OnDiff = func(d converge.Diff) error { return rp.Add(ctx, d) }
	}
	done := func() {}
	if !c.json() {
		opts.Progress, done = verifyProgress(e, s.cfg.Target.Name, rp)
	}
	if *noVersions && mode == converge.Fast {
		fmt.Fprintln(e.stderr, "verify: --no-versions in fast mode compares only which documents exist and their routing; --mode full also compares sources")
	}
	if !*noVersions {
		opts.ExpectVersion = func(v converge.DocVersion) int64 {
			rv, err := event.ReplicationVersion(v.SeqNo, v.PrimaryTerm, v.Version, v.HasSeqNo)
			if err != nil {
				return -1 // no valid replication version: reported as a difference
			}
			return rv
		}
	}
	rep, err := converge.Compare(ctx, primary, target, opts)
	if err == nil && rp != nil {
		err = rp.Finish(ctx)
	}
	done()
	if err != nil {
		if rp != nil {
			// what was done before the failure, honestly counted: a batch that failed
			// is neither repaired nor failed
			writeRepair(e, &c, s.cfg.Target.Name, nil, rp.Report())
			return fmt.Errorf("verify --repair of %s stopped: %w", s.cfg.Target.Name, err)
		}
		return fmt.Errorf("verify %s against the primary: %w", s.cfg.Target.Name, err)
	}
	if rp != nil {
		return finishRepair(e, &c, s.cfg.Target.Name, rep, rp.Report())
	}
	if meta.any() {
		mrep, err := converge.CompareMetadata(ctx, primary, target, converge.MetaOptions{
			Indices:      indices,
			Include:      opts.Include,
			ReplicaIndex: opts.ReplicaIndex,
			Settings:     metadata.Settings{Ignore: ignoreSettings, Compare: compareSettings},
			Templates:    meta.templates,
			Pipelines:    meta.pipelines,
			MaxDiffs:     *maxDiffs,
		})
		if err != nil {
			return fmt.Errorf("verify the metadata of %s against the primary: %w", s.cfg.Target.Name, err)
		}
		rep.Metadata = mrep
	}
	if c.json() {
		if err := writeJSON(e.stdout, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "%s: %s\n", s.cfg.Target.Name, rep)
	}
	if !rep.Converged() {
		msg := fmt.Sprintf("%d missing, %d extra, %d different", rep.Missing, rep.Extra, rep.Different)
		if rep.Metadata != nil {
			msg += fmt.Sprintf("; %d metadata differences", rep.Metadata.Different)
		}
		return partialf("verify: %s is not in step with the primary: %s", s.cfg.Target.Name, msg)
	}
	return nil
}

// metadataFlag is --metadata: a boolean flag (bare, it compares index metadata) that
// also takes the kinds to compare (--metadata=indices,templates,pipelines).
type metadataFlag struct {
	indices, templates, pipelines bool
}

func (m *metadataFlag) IsBoolFlag() bool { return true }

func (m *metadataFlag) any() bool { return m.indices || m.templates || m.pipelines }

func (m *metadataFlag) String() string {
	if m == nil {
		return ""
	}
	var kinds []string
	for _, k := range []struct {
		on   bool
		name string
	}{{m.indices, "indices"}, {m.templates, "templates"}, {m.pipelines, "pipelines"}} {
		if k.on {
			kinds = append(kinds, k.name)
		}
	}
	return strings.Join(kinds, ",")
}

func (m *metadataFlag) Set(v string) error {
	*m = metadataFlag{}
	for _, k := range strings.Split(v, ",") {
		switch strings.TrimSpace(k) {
		case "true", "indices":
			m.indices = true
		case "false", "none", "":
		case "templates":
			m.templates = true
		case "pipelines":
			m.pipelines = true
		case "all":
			*m = metadataFlag{indices: true, templates: true, pipelines: true}
		default:
			return fmt.Errorf("%q is not a metadata kind: indices, templates, pipelines, all or none", k)
		}
	}
	return nil
}

// verifyProgress shows how far a comparison has come on stderr: on a terminal a line
// redrawn in place (cleared by the returned done), elsewhere (a log) the first page's
// line at once and then one every ten seconds.
func verifyProgress(e *env, target string, rp *replicator.Repairer) (func(converge.Progress), func()) {
	term := isTerminal(e.stderr)
	every := 10 * time.Second
	if term {
		every = 100 * time.Millisecond
	}
	var last time.Time
	drawn := false
	show := func(p converge.Progress) {
		now := e.now()
		if !last.IsZero() && now.Sub(last) < every {
			return
		}
		last = now
		line := fmt.Sprintf("verify %s: %d compared, %d checked for extras, %.0f docs/s, %s",
			target, p.Compared, p.Checked, p.Rate(), p.Index)
		if rp != nil {
			verb := "repaired"
			if rp.Report().DryRun {
				verb = "would repair"
			}
			line += fmt.Sprintf(", %d found, %d %s, %d failed", replicator.KindTotal(rp.Report().Found), replicator.KindTotal(rp.Report().Repaired)+replicator.KindTotal(rp.Report().AlreadyNewer), verb, replicator.KindTotal(rp.Report().Failed))
		}
		if term {
			if len(line) > 79 {
				line = line[:79]
			}
			fmt.Fprintf(e.stderr, "\r%-79s", line)
			drawn = true
			return
		}
		fmt.Fprintln(e.stderr, line)
	}
	done := func() {
		if drawn {
			fmt.Fprintf(e.stderr, "\r%s\r", strings.Repeat(" ", 79))
		}
	}
	return show, done
}

// verifyRepairOutput is verify --repair -o json: the comparison's report with the
// repair's beside it.
type verifyRepairOutput struct {
	*converge.Report
	Repair *repairReport `json:"repair"`
}

func writeRepair(e *env, c *common, target string, rep *converge.Report, rr *repairReport) {
	if c.json() {
		_ = writeJSON(e.stdout, verifyRepairOutput{Report: rep, Repair: rr})
		return
	}
	if rep != nil {
		fmt.Fprintf(e.stdout, "%s: %s\n", target, rep)
	}
	fmt.Fprintf(e.stdout, "%s: %s\n", target, rr)
}

// finishRepair prints the comparison and the repair and says how it ended: 0 when every
// difference was repaired (or the target already held something newer), 1 when one
// could not be, or, with --dry-run, when there is something to repair.
func finishRepair(e *env, c *common, target string, rep *converge.Report, rr *repairReport) error {
	writeRepair(e, c, target, rep, rr)
	found, failed := replicator.KindTotal(rr.Found), replicator.KindTotal(rr.Failed)
	switch {
	case failed > 0:
		cause := ""
		if len(rr.Failures) > 0 {
			f := rr.Failures[0]
			cause = fmt.Sprintf(" (first: %s %s/%s: %s)", f.Kind, f.Index, f.ID, f.Reason)
		}
		return partialf("verify --repair: %d of %d differences of %s could not be repaired%s", failed, found, target, cause)
	case rr.DryRun && found > 0:
		return partialf("verify --repair --dry-run: %s is not in step with the primary: %d differences would be repaired, nothing was written", target, found)
	}
	return nil
}
