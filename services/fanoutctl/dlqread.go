package fanoutctl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/glob"
	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
)

// tp names a topic partition.
type tp struct {
	topic     string
	partition int32
}

// dlqTopics are the dead-letter topics of a target: one per ops topic.
func dlqTopics(s settings) []string {
	out := make([]string, 0, len(s.cfg.Consume.Topics))
	for _, t := range s.cfg.Consume.Topics {
		out = append(out, replicator.DLQTopic(s.cfg.Consume.DLQTopic, t, s.cfg.Target.Name))
	}
	return out
}

// dlqRange is what is to be read of the DLQ topics: per partition, from an offset up to
// the end the topic had when the command started. Records added later (re-published by
// this very replay, or new failures) wait for the next run.
type dlqRange struct {
	from, end map[tp]int64
	missing   []string // DLQ topics that do not exist
}

func (r dlqRange) total() int64 {
	var n int64
	for k, end := range r.end {
		n += max(end-r.from[k], 0)
	}
	return n
}

// readRange lists the DLQ topics' offsets. With group set, reading starts at the
// group's committed offsets (the progress of a replay); else at the topics' start.
func readRange(ctx context.Context, adm *kadm.Client, topics []string, group string) (dlqRange, error) {
	r := dlqRange{from: map[tp]int64{}, end: map[tp]int64{}}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return r, fmt.Errorf("reading the end offsets of %s: %w", strings.Join(topics, ","), err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return r, fmt.Errorf("reading the start offsets of %s: %w", strings.Join(topics, ","), err)
	}
	var committed kadm.OffsetResponses
	if group != "" {
		committed, err = adm.FetchOffsets(ctx, group)
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return r, fmt.Errorf("reading the progress of %s: %w", group, err)
		}
	}
	var errs []error
	missing := map[string]bool{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			if errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
				missing[o.Topic] = true
				return
			}
			errs = append(errs, fmt.Errorf("%s[%d]: %w", o.Topic, o.Partition, o.Err))
			return
		}
		k := tp{o.Topic, o.Partition}
		r.end[k] = o.Offset
		from := int64(0)
		if so, ok := starts.Lookup(o.Topic, o.Partition); ok && so.Err == nil {
			from = so.Offset
		}
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At > from {
			from = c.At
		}
		r.from[k] = from
	})
	for _, t := range topics {
		if _, listed := ends[t]; !listed {
			missing[t] = true
		}
	}
	r.missing = sortedKeys(missing)
	if len(errs) > 0 {
		return r, fmt.Errorf("reading the offsets of %s: %w", strings.Join(topics, ","), errors.Join(errs...))
	}
	return r, nil
}

// dlqReader reads a dlqRange in offset order per partition.
type dlqReader struct {
	cl      *kgo.Client
	rng     dlqRange
	next    map[tp]int64
	pending []*kgo.Record
}

// idleLimit is how long reading waits for records it knows exist before it gives up:
// a partition whose last offsets hold no record (transaction markers, compaction) ends
// there.
const idleLimit = 10 * time.Second

func openReader(s settings, e *env, rng dlqRange) (*dlqReader, error) {
	want := map[string]map[int32]kgo.Offset{}
	next := map[tp]int64{}
	for k, end := range rng.end {
		from := rng.from[k]
		if from >= end {
			continue
		}
		if want[k.topic] == nil {
			want[k.topic] = map[int32]kgo.Offset{}
		}
		want[k.topic][k.partition] = kgo.NewOffset().At(from)
		next[k] = from
	}
	r := &dlqReader{rng: rng, next: next}
	if len(want) == 0 {
		return r, nil
	}
	cl, err := kafkaClient(s, e, kgo.ConsumePartitions(want), kgo.FetchMaxWait(250*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	r.cl = cl
	return r, nil
}

func (r *dlqReader) close() {
	if r.cl != nil {
		r.cl.Close()
	}
}

// read returns up to max records (fewer only at the end), nil when everything is
// read.
func (r *dlqReader) read(ctx context.Context, max int) ([]*kgo.Record, error) {
	idleSince := time.Now()
	for len(r.pending) < max && !r.doneReading() {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := r.cl.PollRecords(pctx, max-len(r.pending))
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || kerr.IsRetriable(err) {
				return // the client retries
			}
			if ferr == nil {
				ferr = fmt.Errorf("reading %s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil {
			return nil, ferr
		}
		n := 0
		var pause map[string][]int32
		fs.EachRecord(func(rec *kgo.Record) {
			k := tp{rec.Topic, rec.Partition}
			end, ok := r.rng.end[k]
			if !ok || rec.Offset >= end || rec.Offset < r.next[k] {
				return
			}
			r.pending = append(r.pending, rec)
			r.next[k] = rec.Offset + 1
			n++
			if r.next[k] >= end {
				if pause == nil {
					pause = map[string][]int32{}
				}
				pause[k.topic] = append(pause[k.topic], k.partition)
			}
		})
		if pause != nil {
			r.cl.PauseFetchPartitions(pause)
		}
		if n > 0 {
			idleSince = time.Now()
			continue
		}
		if time.Since(idleSince) > idleLimit {
			// Offsets remain but no record comes: the partitions end in transaction
			// markers or compacted-away records. What was read is all there is.
			for k, next := range r.next {
				if next < r.rng.end[k] {
					r.next[k] = r.rng.end[k]
				}
			}
		}
	}
	out := r.pending
	if len(out) > max {
		out, r.pending = out[:max:max], out[max:]
	} else {
		r.pending = nil
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func (r *dlqReader) doneReading() bool {
	for k, n := range r.next {
		if n < r.rng.end[k] {
			return false
		}
	}
	return true
}

// dlqEntry is one dead-letter record, decoded as far as it goes.
type dlqEntry struct {
	rec   *kgo.Record
	dl    kafkax.DeadLetter
	dlErr error // the dead-letter headers are missing or malformed
	op    *opspb.Operation
	opErr error // the value is not a valid event (a poison record)
	// ref: the value was dropped (a reference record); refErr: its headers are malformed.
	ref    kafkax.Dropped
	isRef  bool
	refErr error
	index  string
	id     string
}

func parseEntry(rec *kgo.Record) *dlqEntry {
	en := &dlqEntry{rec: rec}
	en.dl, en.dlErr = kafkax.ParseDeadLetter(rec.Headers)
	en.ref, en.isRef, en.refErr = kafkax.ParseDropped(rec.Headers)
	if !en.isRef {
		dec := rec
		if event.IsMetadata(rec) && en.dlErr == nil {
			// A metadata copy is checked against the partition it was read from
			// (partition 0's copy is the coordinator's): that is the source partition,
			// not the dead-letter topic's.
			c := *rec
			c.Partition = en.dl.SourcePartition
			dec = &c
		}
		en.op, en.opErr = event.Decode(dec)
	}
	if en.op != nil {
		en.index, en.id = en.op.GetIndex(), en.op.GetId()
	} else {
		// The key is index/id even when the value cannot be read.
		en.index, en.id, _ = strings.Cut(string(rec.Key), "/")
	}
	return en
}

// errorType is the entry's error type, "unknown" without dead-letter headers.
func (en *dlqEntry) errorType() string {
	if en.dlErr != nil || en.dl.ErrorType == "" {
		return "unknown"
	}
	return en.dl.ErrorType
}

// filterFlags select dead-letter records.
type filterFlags struct {
	errorTypes listFlag
	indices    listFlag
	since      string
	until      string
}

func (f *filterFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.errorTypes, "error-type", "only records with this error `type` (e.g. mapper_parsing_exception); repeat or comma-separate")
	fs.Var(&f.indices, "index", "only records of indices matching this `pattern` (primary index names, * is the wildcard); repeat or comma-separate")
	fs.StringVar(&f.since, "since", "", "only records dead-lettered at or after this `time`: RFC 3339, a date (2006-01-02) or a duration ago (90m)")
	fs.StringVar(&f.until, "until", "", "only records dead-lettered before this `time` (same forms as --since)")
}

// filters is filterFlags resolved against the clock.
type filters struct {
	errorTypes   map[string]bool
	indices      []string
	since, until time.Time
	// key is the flags as given, canonical: it names a filtered replay's progress.
	key string
}

func (f *filterFlags) resolve(now time.Time) (filters, error) {
	out := filters{}
	var key []string
	if len(f.errorTypes) > 0 {
		out.errorTypes = map[string]bool{}
		ts := append([]string(nil), f.errorTypes...)
		sort.Strings(ts)
		for _, t := range ts {
			out.errorTypes[t] = true
		}
		key = append(key, "error-type="+strings.Join(ts, ","))
	}
	if len(f.indices) > 0 {
		out.indices = append([]string(nil), f.indices...)
		sort.Strings(out.indices)
		for _, p := range out.indices {
			if err := replicator.CheckIndexPattern(p); err != nil {
				return out, usagef("--index: %v", err)
			}
		}
		key = append(key, "index="+strings.Join(out.indices, ","))
	}
	var err error
	if f.since != "" {
		if out.since, err = parseWhen(f.since, now); err != nil {
			return out, usagef("--since: %v", err)
		}
		key = append(key, "since="+f.since)
	}
	if f.until != "" {
		if out.until, err = parseWhen(f.until, now); err != nil {
			return out, usagef("--until: %v", err)
		}
		key = append(key, "until="+f.until)
	}
	if !out.since.IsZero() && !out.until.IsZero() && !out.until.After(out.since) {
		return out, usagef("--until must be after --since")
	}
	out.key = strings.Join(key, " ")
	return out, nil
}

// parseWhen reads an RFC 3339 time, a date, or a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time, a date (2006-01-02) nor a duration (90m)", s)
}

func (f filters) match(en *dlqEntry) bool {
	if f.errorTypes != nil && !f.errorTypes[en.errorType()] {
		return false
	}
	if len(f.indices) > 0 {
		ok := false
		for _, p := range f.indices {
			if glob.Match(p, en.index) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	ts := en.rec.Timestamp
	if !f.since.IsZero() && ts.Before(f.since) {
		return false
	}
	if !f.until.IsZero() && !ts.Before(f.until) {
		return false
	}
	return true
}

// replayGroupPrefix starts the consumer groups that hold replay progress.
const replayGroupPrefix = "fanout-dlq-replay-"

// replayGroup is where a replay of cluster's DLQ keeps its progress. A filtered replay
// gets a group of its own, named after its filters: committing past records it did not
// select would hide them from a later replay without filters. Running the same filtered
// replay again resumes it.
func replayGroup(cluster string, f filters) string {
	g := replayGroupPrefix + cluster
	if f.key != "" {
		sum := sha256.Sum256([]byte(f.key))
		g += "-" + hex.EncodeToString(sum[:4])
	}
	return g
}
