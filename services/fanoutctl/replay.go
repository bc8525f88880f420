package fanoutctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
)

// replayHooks let tests observe and interrupt a replay between its steps.
type replayHooks struct {
	// beforeCommit, when it returns an error, stops the replay as a crash would:
	// the batch (1-based) is applied but its progress is not committed.
	beforeCommit func(batch int) error
	// afterCommit is called once batch's progress is committed.
	afterCommit func(batch int)
}

// replayReport is what dlq replay did (or, with --dry-run, would do).
type replayReport struct {
	Cluster    string   `json:"cluster"`
	Topics     []string `json:"dlq_topics"`
	Group      string   `json:"group"`
	DryRun     bool     `json:"dry_run"`
	AsRecorded bool     `json:"as_recorded"`
	// Read records, of which Filtered did not match the filters and Selected did.
	Read     int64 `json:"read"`
	Filtered int64 `json:"filtered"`
	Selected int64 `json:"selected"`
	// Outcomes of the selected records.
	Applied int64 `json:"applied"`
	Stale   int64 `json:"stale"`
	Skipped int64 `json:"skipped"` // index not replicated to this target
	// Pieces counts pieces of chunked documents, applied (or resolved) with their
	// group; OpenGroups the groups whose last pieces were not in what was read, left
	// in the DLQ uncommitted (--as-recorded, a replay that stopped before the end of
	// its range).
	Pieces     int64 `json:"chunk_pieces"`
	OpenGroups int64 `json:"open_chunk_groups"`
	// IncompleteGroups counts the groups still open once the whole range was read
	// (--as-recorded): their pieces went back to the DLQ as they were, with attempts +
	// 1 and error type chunk_incomplete, and the progress moved past them.
	IncompleteGroups int64 `json:"incomplete_chunk_groups"`
	Failed           int64 `json:"failed"` // re-published to the DLQ with attempts + 1
	// WouldApply counts, in a dry run, the records that would be sent to the target.
	WouldApply int64 `json:"would_apply"`
	// ResolvedDeleted counts records whose document the primary no longer has:
	// replayed as deletes.
	ResolvedDeleted int64 `json:"resolved_deleted"`
	// References counts reference records (value dropped) resolved from their source
	// event; ReferencesNotReplayed those that --as-recorded could not apply (failed).
	References            int64 `json:"references"`
	ReferencesNotReplayed int64 `json:"references_not_replayed"`
	// Remaining records were not reached (--limit, or an interruption); the next
	// replay starts with them.
	Remaining   int64 `json:"remaining"`
	Interrupted bool  `json:"interrupted"`
	// MissingTopics are DLQ topics that do not exist: nothing was dead-lettered there.
	MissingTopics []string        `json:"missing_topics,omitempty"`
	Failures      []replayFailure `json:"failures"`
	Plan          []planRow       `json:"plan,omitempty"`
}

// replayFailure is a record that failed again.
type replayFailure struct {
	Topic      string `json:"topic"`
	Partition  int32  `json:"partition"`
	Offset     int64  `json:"offset"`
	Index      string `json:"index"`
	ID         string `json:"id"`
	ErrorType  string `json:"error_type"`
	Reason     string `json:"reason"`
	HTTPStatus int    `json:"http_status,omitempty"`
	Attempts   int    `json:"attempts"`
}

// planRow is one record of a dry run.
type planRow struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	Index       string `json:"index"`
	ID          string `json:"id"`
	ErrorType   string `json:"error_type"`
	Action      string `json:"action"` // index, delete, skip (not replicated), fail (unreadable or unresolvable)
	Version     int64  `json:"version,omitempty"`
	Resolution  string `json:"resolution,omitempty"`
	TargetIndex string `json:"target_index,omitempty"`
	Note        string `json:"note,omitempty"`
}

// maxListed bounds the failures and plan rows kept for the report; counts stay exact.
const maxListed = 1000

type replayFlags struct {
	common
	filterFlags
	limit      int
	batch      int
	dryRun     bool
	asRecorded bool
	fromStart  bool
}

func runDLQReplay(ctx context.Context, args []string, e *env) error {
	var f replayFlags
	fs := newFlagSet("dlq replay", e)
	f.common.register(fs, flagConfig|flagBrokers|flagCluster|flagTopic|flagPrimary|flagTarget|flagOutput)
	f.filterFlags.register(fs)
	fs.IntVar(&f.limit, "limit", 0, "replay at most this many selected records (0: all); the next replay goes on from there")
	fs.IntVar(&f.batch, "batch", 500, "records per step: looked up, applied and committed together")
	fs.BoolVar(&f.dryRun, "dry-run", false, "show what would be applied; change nothing, commit nothing")
	fs.BoolVar(&f.asRecorded, "as-recorded", false, "apply the recorded events instead of the primary's current documents (can resurrect deleted documents once the target's tombstones expired)")
	fs.BoolVar(&f.fromStart, "from-start", false, "start from the oldest record in the DLQ, not from this replay's progress")
	if err := parse(fs, args, &f.common); err != nil {
		return err
	}
	if f.limit < 0 {
		return usagef("dlq replay: --limit must not be negative")
	}
	if f.batch < 1 || f.batch > 100000 {
		return usagef("dlq replay: --batch must be between 1 and 100000, got %d", f.batch)
	}
	s, err := f.load(e)
	if err != nil {
		return err
	}
	if err := f.needCluster(s); err != nil {
		return err
	}
	if !f.dryRun {
		if len(s.cfg.Target.Endpoints) == 0 {
			return usagef("dlq replay: --target is required (or target.endpoints in --config)")
		}
		if err := s.cfg.Validate(); err != nil {
			return usagef("dlq replay: config: %v", err)
		}
	}
	if !f.asRecorded {
		if err := s.primary.Validate("primary"); err != nil {
			return usagef("dlq replay: %v (--primary)", err)
		}
	}
	flt, err := f.resolve(e.now())
	if err != nil {
		return usagef("dlq replay: %v", err)
	}
	// The cluster clients warn here, e.g. about TLS verification turned off.
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rp := &replayer{e: e, s: s, f: &f, flt: flt, log: log}
	rp.rep = replayReport{Cluster: s.cfg.Target.Name, Topics: dlqTopics(s), Group: replayGroup(s.cfg.Target.Name, flt),
		DryRun: f.dryRun, AsRecorded: f.asRecorded, Failures: []replayFailure{}}
	runErr := rp.run(ctx)
	if perr := rp.print(); perr != nil && runErr == nil {
		runErr = perr
	}
	return runErr
}

// replayer runs one dlq replay.
type replayer struct {
	e   *env
	s   settings
	f   *replayFlags
	flt filters
	log *slog.Logger
	rep replayReport

	adm      *kadm.Client
	reader   *dlqReader
	resolver *resolver
	target   applier
	producer *kgo.Client
	bar      *progress
	// asm puts dead-lettered chunk groups back together for --as-recorded, per DLQ
	// topic partition (replaychunks.go); pending holds the records of the pieces of
	// its open groups, and done the progress past the last batch committed, by
	// partition, before holdOpenGroups held it back.
	asm     map[topicPartition]*event.Assembler
	pending map[pieceGroup][]*dlqEntry
	done    map[topicPartition]int64
}

func (rp *replayer) run(ctx context.Context) error {
	s, f := rp.s, rp.f
	cl, err := kafkaClient(s, rp.e)
	if err != nil {
		return err
	}
	defer cl.Close()
	rp.adm = kadm.NewClient(cl)

	group := rp.rep.Group
	if f.fromStart {
		group = ""
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	rng, err := readRange(octx, rp.adm, rp.rep.Topics, group)
	cancel()
	if err != nil {
		return err
	}
	rp.rep.MissingTopics = rng.missing
	if rp.reader, err = openReader(s, rp.e, rng); err != nil {
		return err
	}
	defer rp.reader.close()
	if !f.asRecorded {
		if rp.resolver, err = newResolver(s.primary, rp.log); err != nil {
			return usagef("dlq replay: %v", err)
		}
		defer rp.resolver.close()
	}
	if !f.dryRun {
		if rp.target, err = newApplier(s.cfg, rp.log); err != nil {
			return usagef("dlq replay: %v", err)
		}
		defer rp.target.Close()
		// Failed records go back to the DLQ before their offsets are committed, so a
		// record is never lost between the two.
		if rp.producer, err = kafkaClient(s, rp.e, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
			kgo.RecordDeliveryTimeout(30*time.Second)); err != nil {
			return err
		}
		defer rp.producer.Close()
	}

	total := rng.total()
	rp.bar = newProgress(rp.e, "replaying", total)
	defer rp.bar.finish()
	var done int64
	reachedEnd := false
	for batch := 1; ; batch++ {
		if ctx.Err() != nil {
			rp.rep.Interrupted = true
			break
		}
		recs, err := rp.reader.read(ctx, f.batch)
		if err != nil {
			if ctx.Err() != nil {
				rp.rep.Interrupted = true
				break
			}
			return fmt.Errorf("reading the DLQ of %s: %w", s.cfg.Target.Name, err)
		}
		if recs == nil {
			reachedEnd = true
			break
		}
		// The batch runs to its end even when interrupted (Ctrl-C): what it applied
		// is then committed, and the replay stops after it.
		work := context.WithoutCancel(ctx)
		processed, limited, err := rp.process(work, recs)
		if err != nil {
			return err
		}
		done += int64(processed)
		rp.bar.add(processed)
		if !f.dryRun && processed > 0 {
			if h := rp.e.deps.replay.beforeCommit; h != nil {
				if err := h(batch); err != nil {
					return err
				}
			}
			if err := rp.commit(work, recs[:processed]); err != nil {
				return err
			}
			if h := rp.e.deps.replay.afterCommit; h != nil {
				h(batch)
			}
		}
		if limited {
			break
		}
	}
	if reachedEnd && !f.dryRun {
		// Every record of the range was read: a group still open cannot be completed
		// by this replay, nor by the next (its pieces would hold the progress forever).
		if err := rp.failOpenGroups(context.WithoutCancel(ctx)); err != nil {
			return err
		}
	}
	rp.rep.Remaining = max(total-done, 0)
	for _, a := range rp.asm {
		rp.rep.OpenGroups += int64(a.Len())
	}
	if rp.rep.Interrupted {
		return fmt.Errorf("interrupted: %d records replayed, progress committed; run the same command again to resume", done)
	}
	if rp.rep.Failed > 0 && !f.dryRun {
		return partialf("%d of %d selected records failed again and stay in the DLQ (re-published with attempts + 1)", rp.rep.Failed, rp.rep.Selected)
	}
	return nil
}

// step is one selected record on its way through a batch.
type step struct {
	en  *dlqEntry
	op  *opspb.Operation // to apply; nil once decided
	how string
	res applyResult
	// failType/failReason: why it fails again (before or at the target).
	failClass, failType, failReason string
	failStatus                      int
	// piece: the record is a piece of a chunked event; group is its group id when
	// op is the group's document (replaychunks.go).
	piece bool
	group []byte
	// meta: the record is a metadata change, applied as recorded on its own.
	meta bool
}

// process resolves, applies and, for failures, re-publishes one batch. It returns how
// many records of recs it dealt with (all of them, unless --limit stopped it) and
// whether the limit was reached.
func (rp *replayer) process(ctx context.Context, recs []*kgo.Record) (int, bool, error) {
	f := rp.f
	var steps []*step
	processed, limited := len(recs), false
	for i, rec := range recs {
		en := parseEntry(rec)
		rp.rep.Read++
		if !rp.flt.match(en) {
			rp.rep.Filtered++
			continue
		}
		rp.rep.Selected++
		st := &step{en: en}
		steps = append(steps, st)
		switch {
		case en.isRef && f.asRecorded:
			// The recorded event is not in the record: it cannot be applied as recorded.
			rp.rep.ReferencesNotReplayed++
			st.failClass, st.failType = en.dl.Class, en.errorType()
			st.failReason = fmt.Sprintf("reference record (value dropped, %d bytes): cannot be replayed --as-recorded; replay without it to resolve it from the primary (%s)", en.ref.Bytes, en.dl.Reason)
		case en.isRef && !replicator.Included(en.index, rp.s.cfg.Indices.Include, rp.s.cfg.Indices.Exclude):
			st.res.Outcome = outcomeSkipped
		case en.isRef:
			// Resolved against the primary like any record, from the source event
			// (its routing and version) while the source topic still holds it.
			op, err := sourceEvent(ctx, rp.s, rp.e, en)
			if err != nil {
				st.failClass, st.failType = en.dl.Class, en.errorType()
				st.failReason = fmt.Sprintf("reference record (value dropped): %v (%s)", err, en.dl.Reason)
				break
			}
			rp.rep.References++
			st.op, st.how = op, resolvedAsRecorded
		case en.opErr != nil:
			// A poison record stays poison: back to the DLQ, counted as a failure.
			st.failClass, st.failType, st.failReason = kafkax.ClassPoison, poisonType(en.opErr), en.opErr.Error()
		case en.op.GetKind() == opspb.Kind_KIND_METADATA:
			// Applied as recorded: the states the primary had when the change was
			// made (the replicator's apply decides per object what that means for
			// this target: filters, renames, policy).
			st.meta = true
		case !replicator.Included(en.index, rp.s.cfg.Indices.Include, rp.s.cfg.Indices.Exclude):
			st.res.Outcome = outcomeSkipped
		case en.op.GetChunk() != nil:
			rp.takePiece(st)
		default:
			st.op, st.how = en.op, resolvedAsRecorded
		}
		if f.limit > 0 && rp.rep.Selected >= int64(f.limit) {
			processed, limited = i+1, true
			break
		}
	}

	// Resolve against the primary.
	var toResolve []*step
	for _, st := range steps {
		if st.op != nil {
			toResolve = append(toResolve, st)
		}
	}
	if rp.resolver != nil && len(toResolve) > 0 {
		ops := make([]*opspb.Operation, len(toResolve))
		for i, st := range toResolve {
			ops[i] = st.op
		}
		res, err := rp.resolver.resolve(ctx, ops)
		if err != nil {
			return 0, false, fmt.Errorf("resolving %d records against the primary (nothing of this batch was applied or committed): %w", len(ops), err)
		}
		for i, st := range toResolve {
			r := res[i]
			if r.err != nil {
				st.op = nil
				st.failClass, st.failType, st.failReason = kafkax.ClassRejected, r.errType, r.err.Error()
				continue
			}
			st.op, st.how = r.op, r.how
			if r.how == resolvedDeleted {
				rp.rep.ResolvedDeleted++
			}
		}
	}

	if f.dryRun {
		for _, st := range steps {
			rp.plan(st)
		}
		return processed, limited, nil
	}

	// Metadata changes first: the documents of the batch may need them.
	for _, st := range steps {
		if !st.meta {
			continue
		}
		res, err := rp.target.ApplyMetadata(ctx, st.en.op.GetMetadata())
		if err != nil {
			return 0, false, fmt.Errorf("applying metadata change %s to %s (nothing of this batch was committed): %w",
				st.en.op.GetMetadata().GetRequest(), rp.s.cfg.Target.Name, err)
		}
		if len(res.Refused) == 0 {
			st.res.Outcome = outcomeApplied
			continue
		}
		reasons := make([]string, len(res.Refused))
		for i, f := range res.Refused {
			reasons[i] = fmt.Sprintf("%s %s: %s: %s", f.Step, f.Object, f.ErrorType, f.Reason)
		}
		st.failClass, st.failType, st.failStatus = replicator.ClassMetadata, res.Refused[0].ErrorType, res.Refused[0].Status
		st.failReason = strings.Join(reasons, "; ")
	}

	// Apply.
	var toApply []*step
	for _, st := range steps {
		if st.op != nil {
			toApply = append(toApply, st)
		}
	}
	if len(toApply) > 0 {
		ops := make([]*opspb.Operation, len(toApply))
		for i, st := range toApply {
			ops[i] = st.op
		}
		res, err := rp.target.Apply(ctx, ops)
		if err != nil {
			return 0, false, fmt.Errorf("applying %d records to %s (nothing of this batch was committed): %w", len(ops), rp.s.cfg.Target.Name, err)
		}
		for i, st := range toApply {
			st.res = res[i]
			if res[i].Outcome == outcomeFailed {
				st.failClass, st.failType, st.failReason, st.failStatus = kafkax.ClassRejected, res[i].ErrorType, res[i].Reason, res[i].Status
				if st.failType == "" {
					st.failType = "http_" + strconv.Itoa(res[i].Status)
				}
			}
		}
	}

	// Back to the DLQ with what failed, before committing past it.
	var failed []*step
	for _, st := range steps {
		switch {
		case st.failType != "" || st.failClass != "":
			failed = append(failed, st)
		case st.res.Outcome == outcomeApplied:
			rp.rep.Applied++
		case st.res.Outcome == outcomeStale:
			rp.rep.Stale++
		case st.res.Outcome == outcomeSkipped:
			rp.rep.Skipped++
		case st.piece && st.op == nil:
			rp.rep.Pieces++
		}
	}
	if len(failed) > 0 {
		if err := rp.republish(ctx, failed); err != nil {
			return 0, false, err
		}
	}
	return processed, limited, nil
}

func poisonType(err error) string {
	var pe *event.PoisonError
	if errors.As(err, &pe) {
		return string(pe.Reason)
	}
	return string(event.ReasonUndecodable)
}

// plan records what a dry run would do with a step.
func (rp *replayer) plan(st *step) {
	row := planRow{Topic: st.en.rec.Topic, Partition: st.en.rec.Partition, Offset: st.en.rec.Offset,
		Index: st.en.index, ID: st.en.id, ErrorType: st.en.errorType()}
	switch {
	case st.failType != "":
		row.Action, row.Note = "fail", st.failReason
		rp.rep.Failed++
	case st.op == nil && st.piece:
		row.Action, row.Note = "piece", "a piece of a chunked document, applied with its group"
		rp.rep.Pieces++
	case st.meta:
		row.Action, row.Note = "metadata", st.en.op.GetMetadata().GetRequest()
		rp.rep.WouldApply++
	case st.op == nil:
		row.Action, row.Note = "skip", "index not replicated to this target"
		rp.rep.Skipped++
	default:
		row.Action = "index"
		if st.op.GetKind() == opspb.Kind_KIND_DELETE {
			row.Action = "delete"
		}
		row.Version, row.Resolution = st.op.GetReplicationVersion(), st.how
		row.TargetIndex = replicator.RenameIndex(rp.s.cfg.Indices.Rename, st.en.index)
		rp.rep.WouldApply++
	}
	if len(rp.rep.Plan) < maxListed {
		rp.rep.Plan = append(rp.rep.Plan, row)
	}
}

// republish writes failed records back to their DLQ topic with attempts + 1 and waits
// for Kafka to acknowledge them all.
func (rp *replayer) republish(ctx context.Context, failed []*step) error {
	now := rp.e.now()
	recs := make([]*kgo.Record, len(failed))
	for i, st := range failed {
		en := st.en
		dl := en.dl
		if en.dlErr != nil {
			// Not a complete dead-letter record: say at least where it is now.
			dl = kafkax.DeadLetter{SourceTopic: en.rec.Topic, SourcePartition: en.rec.Partition, SourceOffset: en.rec.Offset}
		}
		dl.Class, dl.ErrorType, dl.Reason, dl.HTTPStatus = st.failClass, st.failType, st.failReason, st.failStatus
		dl.Attempts++
		dl.Cluster = rp.s.cfg.Target.Name
		if dl.FirstFailure.IsZero() {
			dl.FirstFailure = now
		}
		dl.LastFailure = now
		// The same size rule as the replicator's: a copy over the producer's batch
		// limit goes back as a reference record.
		limit := int(rp.producer.OptValue(kgo.ProducerBatchMaxBytes).(int32))
		switch {
		case en.isRef:
			recs[i] = kafkax.NewReferenceRecord(en.rec.Topic, en.rec, dl, en.ref)
		case st.group != nil && st.op != nil:
			// A document put together from its pieces goes back as pieces again.
			pieces, err := chunkRecords(en.rec.Topic, st.op, st.group, dl, limit)
			if err != nil {
				return fmt.Errorf("re-publishing %s/%s to the DLQ: %w", en.index, en.id, err)
			}
			recs[i] = pieces[0]
			recs = append(recs, pieces[1:]...)
		default:
			recs[i], _ = kafkax.FitDeadLetter(en.rec.Topic, en.rec, dl, limit)
		}
		rp.rep.Failed++
		if len(rp.rep.Failures) < maxListed {
			rp.rep.Failures = append(rp.rep.Failures, replayFailure{
				Topic: en.rec.Topic, Partition: en.rec.Partition, Offset: en.rec.Offset, Index: en.index, ID: en.id,
				ErrorType: dl.ErrorType, Reason: dl.Reason, HTTPStatus: dl.HTTPStatus, Attempts: dl.Attempts,
			})
		}
	}
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := rp.producer.ProduceSync(pctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("re-publishing %d failed records to the DLQ (this batch is not committed; the next replay retries it): %w", len(recs), err)
	}
	return nil
}

// commit records the replay's progress past recs.
func (rp *replayer) commit(ctx context.Context, recs []*kgo.Record) error {
	offs := kadm.Offsets{}
	for _, r := range recs {
		if o, ok := offs.Lookup(r.Topic, r.Partition); ok && o.At > r.Offset {
			continue
		}
		offs.Add(kadm.Offset{Topic: r.Topic, Partition: r.Partition, At: r.Offset + 1, LeaderEpoch: -1})
	}
	if rp.asm != nil {
		if rp.done == nil {
			rp.done = map[topicPartition]int64{}
		}
		offs.Each(func(o kadm.Offset) {
			k := topicPartition{o.Topic, o.Partition}
			rp.done[k] = max(rp.done[k], o.At)
		})
	}
	rp.holdOpenGroups(offs)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := rp.adm.CommitAllOffsets(cctx, rp.rep.Group, offs); err != nil {
		return fmt.Errorf("committing the replay's progress to %s (the last batch will be replayed again, harmlessly): %w", rp.rep.Group, err)
	}
	return nil
}

func (rp *replayer) print() error {
	rep, e := &rp.rep, rp.e
	if rp.f.json() {
		return writeJSON(e.stdout, rep)
	}
	for _, m := range rep.MissingTopics {
		fmt.Fprintf(e.stdout, "DLQ topic %s does not exist (nothing was dead-lettered yet)\n", m)
	}
	if rep.DryRun {
		if len(rep.Plan) > 0 {
			t := newTable(e.stdout, "PARTITION/OFFSET", "INDEX", "ID", "ERROR TYPE", "ACTION", "VERSION", "RESOLUTION", "NOTE")
			for i, p := range rep.Plan {
				if i == 50 {
					fmt.Fprintf(e.stdout, "… %d more (-o json lists up to %d)\n", len(rep.Plan)-i, maxListed)
					break
				}
				v := ""
				if p.Version != 0 {
					v = strconv.FormatInt(p.Version, 10)
				}
				t.row(fmt.Sprintf("%d/%d", p.Partition, p.Offset), p.Index, p.ID, p.ErrorType, p.Action, v, p.Resolution, oneLine(p.Note, 80))
			}
			t.flush()
		}
		fmt.Fprintf(e.stdout, "dry run: %d records selected of %d read; %d would be applied (%d as deletes: gone on the primary), %d skipped, %d would fail; nothing changed, nothing committed\n",
			rep.Selected, rep.Read, rep.WouldApply, rep.ResolvedDeleted, rep.Skipped, rep.Failed)
		return nil
	}
	if len(rep.Failures) > 0 {
		t := newTable(e.stdout, "PARTITION/OFFSET", "INDEX", "ID", "ERROR TYPE", "ATTEMPTS", "REASON")
		for i, fl := range rep.Failures {
			if i == 50 {
				fmt.Fprintf(e.stdout, "… %d more (-o json lists up to %d)\n", len(rep.Failures)-i, maxListed)
				break
			}
			t.row(fmt.Sprintf("%d/%d", fl.Partition, fl.Offset), fl.Index, fl.ID, fl.ErrorType, strconv.Itoa(fl.Attempts), oneLine(fl.Reason, 100))
		}
		t.flush()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "replayed %d records to %s: %d applied, %d stale, %d failed", rep.Selected, rep.Cluster, rep.Applied, rep.Stale, rep.Failed)
	if rep.Skipped > 0 {
		fmt.Fprintf(&b, ", %d skipped (index not replicated)", rep.Skipped)
	}
	if rep.ResolvedDeleted > 0 {
		fmt.Fprintf(&b, "; %d replayed as deletes (gone on the primary)", rep.ResolvedDeleted)
	}
	if rep.References > 0 {
		fmt.Fprintf(&b, "; %d reference records (value dropped) resolved from the primary", rep.References)
	}
	if rep.ReferencesNotReplayed > 0 {
		fmt.Fprintf(&b, "; %d reference records (value dropped) cannot be replayed --as-recorded (counted as failed)", rep.ReferencesNotReplayed)
	}
	if rep.Filtered > 0 {
		fmt.Fprintf(&b, "; %d records did not match the filters", rep.Filtered)
	}
	if rep.IncompleteGroups > 0 {
		fmt.Fprintf(&b, "; %d incomplete chunk groups (last pieces never dead-lettered) back in the DLQ as they were: replay without --as-recorded to apply the primary's documents", rep.IncompleteGroups)
	}
	if rep.Remaining > 0 {
		fmt.Fprintf(&b, "; %d records left for the next replay", rep.Remaining)
	}
	fmt.Fprintln(e.stdout, b.String())
	return nil
}
