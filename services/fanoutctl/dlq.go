package fanoutctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// dlqFlags are the command line of dlq list and dlq show.
type dlqFlags struct {
	common
	filterFlags
	all bool
}

// openDLQ loads the configuration of dlq list and dlq show and finds what to read: the
// records not replayed yet (past the progress of a replay without filters), or with
// --all every record the topics still hold.
func openDLQ(ctx context.Context, f *dlqFlags, e *env) (settings, filters, dlqRange, error) {
	var rng dlqRange
	s, err := f.load(e)
	if err != nil {
		return s, filters{}, rng, err
	}
	if err := f.needCluster(s); err != nil {
		return s, filters{}, rng, err
	}
	flt, err := f.resolve(e.now())
	if err != nil {
		return s, flt, rng, usagef("%s: %v", f.name, err)
	}
	adm, closeAdm, err := adminClient(s, e)
	if err != nil {
		return s, flt, rng, err
	}
	defer closeAdm()
	group := replayGroup(s.cfg.Target.Name, filters{})
	if f.all {
		group = ""
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rng, err = readRange(octx, adm, dlqTopics(s), group)
	return s, flt, rng, err
}

// dlqGroup is one row of dlq list: records of one error type and index.
type dlqGroup struct {
	Class     string     `json:"class"`
	ErrorType string     `json:"error_type"`
	Index     string     `json:"index"`
	Count     int64      `json:"count"`
	Oldest    *time.Time `json:"oldest"`
	Newest    *time.Time `json:"newest"`
}

func runDLQList(ctx context.Context, args []string, e *env) error {
	var f dlqFlags
	fs := newFlagSet("dlq list", e)
	f.common.register(fs, flagConfig|flagBrokers|flagCluster|flagTopic|flagOutput)
	f.filterFlags.register(fs)
	fs.BoolVar(&f.all, "all", false, "count every record the DLQ topics hold, also those already replayed")
	if err := parse(fs, args, &f.common); err != nil {
		return err
	}
	s, flt, rng, err := openDLQ(ctx, &f, e)
	if err != nil {
		return err
	}

	groups := map[[3]string]*dlqGroup{}
	var total, matched int64
	if len(rng.end) > 0 {
		r, err := openReader(s, e, rng)
		if err != nil {
			return err
		}
		defer r.close()
		bar := newProgress(e, "reading", rng.total())
		for {
			recs, err := r.read(ctx, 1000)
			if err != nil {
				bar.finish()
				return fmt.Errorf("reading the DLQ of %s: %w", s.cfg.Target.Name, err)
			}
			if recs == nil {
				break
			}
			bar.add(len(recs))
			for _, rec := range recs {
				total++
				en := parseEntry(rec)
				if !flt.match(en) {
					continue
				}
				matched++
				k := [3]string{en.dl.Class, en.errorType(), en.index}
				g := groups[k]
				if g == nil {
					g = &dlqGroup{Class: k[0], ErrorType: k[1], Index: k[2]}
					groups[k] = g
				}
				g.Count++
				ts := rec.Timestamp.UTC()
				if g.Oldest == nil || ts.Before(*g.Oldest) {
					g.Oldest = &ts
				}
				if g.Newest == nil || ts.After(*g.Newest) {
					g.Newest = &ts
				}
			}
		}
		bar.finish()
	}
	rows := make([]*dlqGroup, 0, len(groups))
	for _, g := range groups {
		rows = append(rows, g)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.ErrorType != b.ErrorType {
			return a.ErrorType < b.ErrorType
		}
		return a.Index < b.Index
	})
	scope := "pending (not replayed yet)"
	if f.all {
		scope = "all in retention"
	}
	if f.json() {
		return writeJSON(e.stdout, struct {
			Cluster string      `json:"cluster"`
			Topics  []string    `json:"topics"`
			Missing []string    `json:"missing_topics,omitempty"`
			All     bool        `json:"all"`
			Total   int64       `json:"total"`
			Matched int64       `json:"matched"`
			Groups  []*dlqGroup `json:"groups"`
		}{s.cfg.Target.Name, dlqTopics(s), rng.missing, f.all, total, matched, rows})
	}
	for _, m := range rng.missing {
		fmt.Fprintf(e.stdout, "DLQ topic %s does not exist (nothing was dead-lettered yet)\n", m)
	}
	now := e.now()
	if len(rows) > 0 {
		t := newTable(e.stdout, "ERROR TYPE", "CLASS", "INDEX", "COUNT", "OLDEST", "NEWEST")
		for _, g := range rows {
			t.row(g.ErrorType, g.Class, g.Index, strconv.FormatInt(g.Count, 10),
				timeCell(*g.Oldest)+" ("+ago(now, *g.Oldest)+" ago)", timeCell(*g.Newest)+" ("+ago(now, *g.Newest)+" ago)")
		}
		t.flush()
	}
	fmt.Fprintf(e.stdout, "%d records %s in %s", matched, scope, strings.Join(dlqTopics(s), ", "))
	if matched != total {
		fmt.Fprintf(e.stdout, " matching the filters (of %d)", total)
	}
	fmt.Fprintln(e.stdout)
	return nil
}

// dlqRecord is one record of dlq show.
type dlqRecord struct {
	Topic           string            `json:"topic"`
	Partition       int32             `json:"partition"`
	Offset          int64             `json:"offset"`
	Timestamp       time.Time         `json:"timestamp"`
	Key             string            `json:"key"`
	Class           string            `json:"class"`
	ErrorType       string            `json:"error_type"`
	Reason          string            `json:"reason"`
	HTTPStatus      int               `json:"http_status,omitempty"`
	Attempts        int               `json:"attempts"`
	SourceTopic     string            `json:"source_topic"`
	SourcePartition int32             `json:"source_partition"`
	SourceOffset    int64             `json:"source_offset"`
	FirstFailure    *time.Time        `json:"first_failure"`
	LastFailure     *time.Time        `json:"last_failure"`
	HeaderError     string            `json:"header_error,omitempty"`
	Headers         map[string]string `json:"headers"`
	Event           *eventView        `json:"event,omitempty"`
	EventError      string            `json:"event_error,omitempty"`
	// ValueDropped: a reference record, dead-lettered without its value.
	ValueDropped *valueDropped `json:"value_dropped,omitempty"`
	// Document is the event's document (INDEX), as JSON when it is JSON.
	Document json.RawMessage `json:"document,omitempty"`
}

// valueDropped says why a reference record has no value.
type valueDropped struct {
	Reason string `json:"reason"`
	Bytes  int    `json:"bytes"`
	Limit  int    `json:"limit,omitempty"`
	Error  string `json:"error,omitempty"`
}

// eventView is the readable part of an event.
type eventView struct {
	Kind               string     `json:"kind"`
	Index              string     `json:"index"`
	ID                 string     `json:"id"`
	Routing            string     `json:"routing,omitempty"`
	ReplicationVersion int64      `json:"replication_version"`
	Version            int64      `json:"version"`
	SeqNo              *int64     `json:"seq_no,omitempty"`
	PrimaryTerm        *int64     `json:"primary_term,omitempty"`
	AcceptedAt         *time.Time `json:"accepted_at,omitempty"`
	RequestID          string     `json:"request_id,omitempty"`
	SourceCluster      string     `json:"source_cluster,omitempty"`
}

func viewEvent(op *opspb.Operation) *eventView {
	v := &eventView{
		Kind: strings.TrimPrefix(op.GetKind().String(), "KIND_"), Index: op.GetIndex(), ID: op.GetId(), Routing: op.GetRouting(),
		ReplicationVersion: op.GetReplicationVersion(), Version: op.GetVersion(),
		SeqNo: op.SeqNo, PrimaryTerm: op.PrimaryTerm, RequestID: op.GetRequestId(), SourceCluster: op.GetSourceCluster(),
	}
	if ts := op.GetAcceptedAt(); ts != nil {
		v.AcceptedAt = jsonTime(ts.AsTime())
	}
	return v
}

func toRecord(en *dlqEntry) dlqRecord {
	rec := en.rec
	d := dlqRecord{
		Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp.UTC(), Key: string(rec.Key),
		Class: en.dl.Class, ErrorType: en.errorType(), Reason: en.dl.Reason, HTTPStatus: en.dl.HTTPStatus, Attempts: en.dl.Attempts,
		SourceTopic: en.dl.SourceTopic, SourcePartition: en.dl.SourcePartition, SourceOffset: en.dl.SourceOffset,
		FirstFailure: jsonTime(en.dl.FirstFailure), LastFailure: jsonTime(en.dl.LastFailure),
		Headers: map[string]string{},
	}
	if en.dlErr != nil {
		d.HeaderError = en.dlErr.Error()
	}
	for _, h := range rec.Headers {
		if _, dup := d.Headers[h.Key]; !dup {
			d.Headers[h.Key] = string(h.Value)
		}
	}
	if en.opErr != nil {
		d.EventError = en.opErr.Error()
	}
	if en.isRef {
		d.ValueDropped = &valueDropped{Reason: en.ref.Reason, Bytes: en.ref.Bytes, Limit: en.ref.Limit}
		if en.refErr != nil {
			d.ValueDropped.Error = en.refErr.Error()
		}
	}
	if en.op != nil {
		d.Event = viewEvent(en.op)
		if src := en.op.GetSource(); len(src) > 0 {
			if json.Valid(src) {
				var b bytes.Buffer
				if json.Compact(&b, src) == nil {
					d.Document = b.Bytes()
				}
			} else {
				d.Document, _ = json.Marshal(string(src))
			}
		}
	}
	return d
}

func runDLQShow(ctx context.Context, args []string, e *env) error {
	var f dlqFlags
	var limit, preview int
	fs := newFlagSet("dlq show", e)
	f.common.register(fs, flagConfig|flagBrokers|flagCluster|flagTopic|flagOutput)
	f.filterFlags.register(fs)
	fs.BoolVar(&f.all, "all", false, "show also records already replayed")
	fs.IntVar(&limit, "limit", 20, "show at most this many records (0: all)")
	fs.IntVar(&preview, "preview", 300, "characters of each document to show in tables (0: the whole document)")
	if err := parse(fs, args, &f.common); err != nil {
		return err
	}
	if limit < 0 || preview < 0 {
		return usagef("dlq show: --limit and --preview must not be negative")
	}
	s, flt, rng, err := openDLQ(ctx, &f, e)
	if err != nil {
		return err
	}
	var out []dlqRecord
	if len(rng.end) > 0 {
		r, err := openReader(s, e, rng)
		if err != nil {
			return err
		}
		defer r.close()
	reading:
		for {
			recs, err := r.read(ctx, 500)
			if err != nil {
				return fmt.Errorf("reading the DLQ of %s: %w", s.cfg.Target.Name, err)
			}
			if recs == nil {
				break
			}
			for _, rec := range recs {
				en := parseEntry(rec)
				if !flt.match(en) {
					continue
				}
				out = append(out, toRecord(en))
				if limit > 0 && len(out) >= limit {
					break reading
				}
			}
		}
	}
	if f.json() {
		if out == nil {
			out = []dlqRecord{}
		}
		return writeJSON(e.stdout, out)
	}
	for _, m := range rng.missing {
		fmt.Fprintf(e.stdout, "DLQ topic %s does not exist (nothing was dead-lettered yet)\n", m)
	}
	now := e.now()
	for i := range out {
		printRecord(e.stdout, &out[i], preview, now)
	}
	fmt.Fprintf(e.stdout, "%d records shown\n", len(out))
	return nil
}

func printRecord(w io.Writer, d *dlqRecord, preview int, now time.Time) {
	fmt.Fprintf(w, "%s %d/%d  dead-lettered %s (%s ago)\n", d.Topic, d.Partition, d.Offset, timeCell(d.Timestamp), ago(now, d.Timestamp))
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-10s %s\n", k, v)
		}
	}
	if d.HeaderError != "" {
		line("headers", "not a complete dead-letter record: "+d.HeaderError)
	} else {
		errLine := d.Class + " " + d.ErrorType
		if d.HTTPStatus != 0 {
			errLine += fmt.Sprintf(" (HTTP %d)", d.HTTPStatus)
		}
		errLine += fmt.Sprintf(", %d attempts", d.Attempts)
		line("error", errLine)
		line("reason", oneLine(d.Reason, 400))
		src := fmt.Sprintf("%s %d/%d", d.SourceTopic, d.SourcePartition, d.SourceOffset)
		if d.FirstFailure != nil && d.LastFailure != nil {
			src += fmt.Sprintf(", failed first %s, last %s", timeCell(*d.FirstFailure), timeCell(*d.LastFailure))
		}
		line("source", src)
	}
	if v := d.Event; v != nil {
		ev := fmt.Sprintf("%s %s/%s", v.Kind, printable(v.Index), printable(v.ID))
		if v.Routing != "" {
			ev += " routing=" + printable(v.Routing)
		}
		ev += fmt.Sprintf(" replication_version=%d _version=%d", v.ReplicationVersion, v.Version)
		if v.SeqNo != nil && v.PrimaryTerm != nil {
			ev += fmt.Sprintf(" _seq_no=%d _primary_term=%d", *v.SeqNo, *v.PrimaryTerm)
		}
		line("event", ev)
		acc := ""
		if v.AcceptedAt != nil {
			acc = "accepted " + timeCell(*v.AcceptedAt)
		}
		if v.SourceCluster != "" {
			acc += " by " + v.SourceCluster
		}
		if v.RequestID != "" {
			acc += ", request " + v.RequestID
		}
		line("", strings.TrimSpace(acc))
	} else if v := d.ValueDropped; v != nil {
		line("key", d.Key)
		note := fmt.Sprintf("value dropped (%s): the event was %d bytes", v.Reason, v.Bytes)
		if v.Limit > 0 {
			note += fmt.Sprintf(", over the dead-letter topic's %d-byte limit", v.Limit)
		}
		if v.Error != "" {
			note += "; " + v.Error
		}
		line("event", note+"; it is still at the source offset above while retained, and dlq replay resolves it from the primary")
	} else {
		line("key", d.Key)
		line("event", "unreadable: "+d.EventError)
	}
	var hs []string
	for _, k := range sortedKeys(d.Headers) {
		if !kafkax.IsDeadLetterHeader(k) {
			hs = append(hs, k+"="+d.Headers[k])
		}
	}
	line("headers", strings.Join(hs, " "))
	if len(d.Document) > 0 {
		doc := string(d.Document)
		if preview > 0 {
			doc = oneLine(doc, preview)
		}
		line("document", doc)
	}
	fmt.Fprintln(w)
}

// oneLine flattens s to one line of at most n characters (n 0: no limit).
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if n > 0 && utf8.RuneCountInString(s) > n {
		r := []rune(s)
		s = string(r[:n]) + "…"
	}
	return s
}
