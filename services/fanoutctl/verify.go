package fanoutctl

import (
	"context"
	"fmt"
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
func runVerify(ctx context.Context, args []string, e *env) error {
	var c common
	fs := newFlagSet("verify", e)
	c.register(fs, flagConfig|flagCluster|flagPrimary|flagTarget|flagOutput)
	var indices listFlag
	fs.Var(&indices, "index", "primary `index` to compare, repeatable (default: every index the primary lists that indices.include/exclude replicate)")
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
	done := func() {}
	if !c.json() {
		opts.Progress, done = verifyProgress(e, s.cfg.Target.Name)
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
	done()
	if err != nil {
		return fmt.Errorf("verify %s against the primary: %w", s.cfg.Target.Name, err)
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
func verifyProgress(e *env, target string) (func(converge.Progress), func()) {
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
