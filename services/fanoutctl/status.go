package fanoutctl

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/services/replicator"
)

// targetStatus is one target in status: what Kafka says about its consumer group, and
// what its replicators say about themselves.
type targetStatus struct {
	Cluster    string         `json:"cluster"`
	Group      string         `json:"group"`
	GroupState string         `json:"group_state"` // Kafka's: Stable, Empty, PreparingRebalance…; Dead: no such group
	Members    []memberStatus `json:"members"`
	// Lag is the records not applied yet over all partitions.
	Lag int64 `json:"lag"`
	// OldestUnappliedAt is when the primary accepted the oldest event not applied yet;
	// OldestUnappliedSeconds is its age (0 without lag).
	OldestUnappliedAt      *time.Time      `json:"oldest_unapplied_at"`
	OldestUnappliedSeconds float64         `json:"oldest_unapplied_seconds"`
	Partitions             []partitionLag  `json:"partitions"`
	Replicator             *replicatorView `json:"replicator,omitempty"`
	Errors                 []string        `json:"errors,omitempty"`
}

type memberStatus struct {
	ID         string `json:"id"`
	ClientID   string `json:"client_id"`
	Host       string `json:"host"`
	Partitions int    `json:"partitions"`
}

type partitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Member    string `json:"member,omitempty"`
	// Committed is the group's committed offset, -1 if none.
	Committed int64 `json:"committed"`
	Start     int64 `json:"start"`
	End       int64 `json:"end"`
	Lag       int64 `json:"lag"`
	// Expired counts records that left the topic's retention before the group
	// applied them: that target misses them.
	Expired           int64      `json:"expired,omitempty"`
	OldestUnappliedAt *time.Time `json:"oldest_unapplied_at,omitempty"`

	position int64 // the first record not applied
}

// replicatorView is what the replicator instances' admin endpoints say.
type replicatorView struct {
	Admin     []string `json:"admin"`
	State     string   `json:"state"` // running, paused, blocked, draining, unreachable
	Instances int      `json:"instances"`
	TargetUp  bool     `json:"target_up"`
	// LastError is the most recent error a partition reported, LastErrorAt when; it
	// may be over (see State).
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

func runStatus(ctx context.Context, args []string, e *env) error {
	var f common
	var allParts bool
	fs := newFlagSet("status", e)
	f.register(fs, flagConfig|flagBrokers|flagCluster|flagTopic|flagAdmin|flagOutput)
	fs.BoolVar(&allParts, "partitions", false, "list every partition in the table (default: those with lag; -o json lists all)")
	if err := parse(fs, args, &f); err != nil {
		return err
	}
	s, err := f.load(e)
	if err != nil {
		return err
	}
	admins, err := f.adminURLs(s)
	if err != nil {
		return err
	}
	token, err := f.adminToken(s)
	if err != nil {
		return err
	}
	cl, err := kafkaClient(s, e)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	// The targets: the named one, or every replicator group Kafka knows.
	var clusters []string
	if s.cfg.Target.Name != "" {
		clusters = []string{s.cfg.Target.Name}
	} else {
		groups, err := adm.ListGroups(ctx)
		if err != nil {
			return fmt.Errorf("listing consumer groups: %w", err)
		}
		for _, g := range groups.Groups() {
			if c, ok := strings.CutPrefix(g, replicatorGroupPrefix); ok && c != "" {
				clusters = append(clusters, c)
			}
		}
	}

	// The admin endpoints say which target they serve; add targets Kafka does not
	// know yet (a replicator that has not joined).
	type adminAnswer struct {
		url string
		st  replicator.Status
		err error
	}
	var answers []adminAnswer
	var problems []string
	for _, a := range admins {
		st, err := adminStatus(ctx, a, token)
		answers = append(answers, adminAnswer{a, st, err})
		if err != nil {
			problems = append(problems, fmt.Sprintf("replicator admin %s: %v", a, err))
			continue
		}
		if s.cfg.Target.Name != "" && st.Cluster != s.cfg.Target.Name {
			fmt.Fprintf(e.stderr, "fanoutctl: warning: admin %s serves cluster %q, not %q: ignored\n", a, st.Cluster, s.cfg.Target.Name)
			continue
		}
		found := false
		for _, c := range clusters {
			found = found || c == st.Cluster
		}
		if !found {
			clusters = append(clusters, st.Cluster)
		}
	}
	sort.Strings(clusters)

	targets := make([]*targetStatus, 0, len(clusters))
	for _, c := range clusters {
		targets = append(targets, &targetStatus{Cluster: c, Group: groupOf(s, c), Members: []memberStatus{}, Partitions: []partitionLag{}})
	}
	if len(targets) > 0 {
		if err := kafkaStatus(ctx, adm, s, e, targets); err != nil {
			return err
		}
	}
	for _, t := range targets {
		for _, a := range answers {
			if a.err == nil && a.st.Cluster != t.Cluster {
				continue
			}
			if a.err != nil && len(targets) > 1 {
				continue // not known which target it serves; reported below
			}
			if t.Replicator == nil {
				t.Replicator = &replicatorView{TargetUp: true}
			}
			rv := t.Replicator
			rv.Admin = append(rv.Admin, a.url)
			if a.err != nil {
				rv.State, rv.LastError = "unreachable", a.err.Error()
				continue
			}
			rv.Instances++
			state, lastErr, lastErrAt := stateOf(a.st)
			rv.TargetUp = rv.TargetUp && a.st.TargetUp
			// The worst state of the instances is the target's.
			if stateRank(state) > stateRank(rv.State) {
				rv.State = state
			}
			if lastErr != "" && (rv.LastErrorAt == nil || lastErrAt.After(*rv.LastErrorAt)) {
				rv.LastError, rv.LastErrorAt = lastErr, jsonTime(lastErrAt)
			}
		}
		for _, p := range t.Errors {
			problems = append(problems, fmt.Sprintf("%s: %s", t.Cluster, p))
		}
	}

	// A target named on the command line that Kafka has never heard of is most often a
	// typo: its "lag" would be the whole topic. Said, with the targets Kafka knows.
	if s.cfg.Target.Name != "" {
		for _, t := range targets {
			if neverJoined(t) {
				problems = append(problems, fmt.Sprintf("no consumer group %s exists: no replicator of target %q has joined or committed%s",
					t.Group, t.Cluster, knownTargets(ctx, adm)))
			}
		}
	}

	warnShortDLQRetention(ctx, adm, s, e, clusters)

	if f.json() {
		if err := writeJSON(e.stdout, struct {
			Targets []*targetStatus `json:"targets"`
		}{targets}); err != nil {
			return err
		}
	} else {
		printStatus(e, targets, allParts)
	}
	if len(problems) > 0 {
		return partialf("status incomplete: %s", strings.Join(problems, "; "))
	}
	return nil
}

// neverJoined says whether t's group does not exist for Kafka (no members, no
// committed offset) and no replicator admin answered for it.
func neverJoined(t *targetStatus) bool {
	if t.GroupState != "Dead" || len(t.Members) > 0 || t.Replicator != nil {
		return false
	}
	for _, p := range t.Partitions {
		if p.Committed >= 0 {
			return false
		}
	}
	return true
}

// knownTargets lists the targets of the replicator groups Kafka knows, for an error.
func knownTargets(ctx context.Context, adm *kadm.Client) string {
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return ""
	}
	var known []string
	for _, g := range groups.Groups() {
		if c, ok := strings.CutPrefix(g, replicatorGroupPrefix); ok && c != "" {
			known = append(known, c)
		}
	}
	if len(known) == 0 {
		return " (Kafka knows no replicator group)"
	}
	sort.Strings(known)
	return " (targets Kafka knows: " + strings.Join(known, ", ") + ")"
}

func stateRank(s string) int {
	switch s {
	case "running":
		return 1
	case "paused":
		return 2
	case "draining":
		return 3
	case "blocked":
		return 4
	case "unreachable":
		return 5
	}
	return 0
}

// kafkaStatus fills the targets from Kafka alone: group state and members, committed
// offsets against the partitions' ends, and the age of the first unapplied record.
func kafkaStatus(ctx context.Context, adm *kadm.Client, s settings, e *env, targets []*targetStatus) error {
	topics := s.cfg.Consume.Topics
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("reading the end offsets of %s: %w", strings.Join(topics, ","), err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("reading the start offsets of %s: %w", strings.Join(topics, ","), err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("reading the end offsets of %s: %w", strings.Join(topics, ","), err)
	}
	groups := make([]string, len(targets))
	for i, t := range targets {
		groups[i] = t.Group
	}
	described, err := adm.DescribeGroups(ctx, groups...)
	if err != nil && len(described) == 0 {
		return fmt.Errorf("describing consumer groups %s: %w", strings.Join(groups, ", "), err)
	}
	now := e.now()
	for _, t := range targets {
		owner := map[string]map[int32]string{}
		if d, ok := described[t.Group]; ok {
			t.GroupState = d.State
			switch {
			case errors.Is(d.Err, kerr.GroupIDNotFound):
				t.GroupState = "Dead" // what Kafka calls a group that does not exist
			case d.Err != nil:
				t.Errors = append(t.Errors, fmt.Sprintf("describing group %s: %v", t.Group, d.Err))
			}
			for _, m := range d.Members {
				ms := memberStatus{ID: m.MemberID, ClientID: m.ClientID, Host: strings.TrimPrefix(m.ClientHost, "/")}
				if c, ok := m.Assigned.AsConsumer(); ok {
					for _, at := range c.Topics {
						for _, p := range at.Partitions {
							if owner[at.Topic] == nil {
								owner[at.Topic] = map[int32]string{}
							}
							owner[at.Topic][p] = ms.ClientID + "@" + ms.Host
							ms.Partitions++
						}
					}
				}
				t.Members = append(t.Members, ms)
			}
		} else {
			t.GroupState = "Dead"
		}
		committed, err := adm.FetchOffsets(ctx, t.Group)
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			t.Errors = append(t.Errors, fmt.Sprintf("fetching the offsets of group %s: %v", t.Group, err))
			continue
		}
		ends.Each(func(o kadm.ListedOffset) {
			pl := partitionLag{Topic: o.Topic, Partition: o.Partition, Member: owner[o.Topic][o.Partition],
				Committed: -1, End: o.Offset}
			if so, ok := starts.Lookup(o.Topic, o.Partition); ok && so.Err == nil {
				pl.Start = so.Offset
			}
			pl.position = pl.Start
			if s.cfg.Consume.StartFrom == "latest" {
				pl.position = pl.End
			}
			if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At >= 0 {
				pl.Committed = c.At
				pl.position = c.At
				if c.At < pl.Start {
					pl.Expired = pl.Start - c.At
					pl.position = pl.Start
				}
			}
			pl.Lag = max(pl.End-pl.position, 0)
			t.Lag += pl.Lag
			t.Partitions = append(t.Partitions, pl)
		})
		sort.Slice(t.Partitions, func(i, j int) bool {
			a, b := t.Partitions[i], t.Partitions[j]
			if a.Topic != b.Topic {
				return a.Topic < b.Topic
			}
			return a.Partition < b.Partition
		})
		if t.Lag > 0 {
			if err := oldestUnapplied(ctx, s, e, t, now); err != nil {
				t.Errors = append(t.Errors, err.Error())
			}
		}
	}
	return nil
}

// oldestUnapplied reads the first unapplied record of each lagging partition: its
// event's accepted time (or, for a record that is not a valid event, its timestamp) is
// how far behind the target is.
func oldestUnapplied(ctx context.Context, s settings, e *env, t *targetStatus, now time.Time) error {
	want := map[string]map[int32]kgo.Offset{}
	n := 0
	for _, p := range t.Partitions {
		if p.Lag == 0 {
			continue
		}
		if want[p.Topic] == nil {
			want[p.Topic] = map[int32]kgo.Offset{}
		}
		want[p.Topic][p.Partition] = kgo.NewOffset().At(p.position)
		n++
	}
	cl, err := kafkaClient(s, e, kgo.ConsumePartitions(want), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	first := map[string]map[int32]time.Time{}
	got := 0
	for got < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			if first[r.Topic] == nil {
				first[r.Topic] = map[int32]time.Time{}
			}
			if _, seen := first[r.Topic][r.Partition]; seen {
				return
			}
			at := r.Timestamp
			if op, err := event.Decode(r); err == nil && op.GetAcceptedAt() != nil {
				at = op.GetAcceptedAt().AsTime()
			}
			first[r.Topic][r.Partition] = at
			got++
			cl.PauseFetchPartitions(map[string][]int32{r.Topic: {r.Partition}})
		})
	}
	var oldest time.Time
	for i := range t.Partitions {
		p := &t.Partitions[i]
		at, ok := first[p.Topic][p.Partition]
		if !ok {
			continue
		}
		p.OldestUnappliedAt = jsonTime(at)
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	if !oldest.IsZero() {
		t.OldestUnappliedAt = jsonTime(oldest)
		t.OldestUnappliedSeconds = max(now.Sub(oldest).Seconds(), 0)
	}
	if got < n {
		return fmt.Errorf("read the first unapplied record of %d of %d lagging partitions in 5s", got, n)
	}
	return nil
}

func printStatus(e *env, targets []*targetStatus, allParts bool) {
	if len(targets) == 0 {
		fmt.Fprintf(e.stdout, "no replicator consumer group (%s*) found\n", replicatorGroupPrefix)
		return
	}
	now := e.now()
	t := newTable(e.stdout, "TARGET", "GROUP", "GROUP STATE", "MEMBERS", "LAG", "OLDEST UNAPPLIED", "REPLICATOR", "LAST ERROR")
	for _, ts := range targets {
		oldest := ""
		if ts.OldestUnappliedAt != nil {
			oldest = ago(now, *ts.OldestUnappliedAt)
		}
		state, lastErr := "", ""
		if ts.Replicator != nil {
			state, lastErr = ts.Replicator.State, oneLine(ts.Replicator.LastError, 80)
			if ts.Replicator.Instances > 1 {
				state = fmt.Sprintf("%s (%d instances)", state, ts.Replicator.Instances)
			}
			if at := ts.Replicator.LastErrorAt; at != nil && lastErr != "" {
				lastErr = ago(now, *at) + " ago: " + lastErr
			}
		}
		t.row(ts.Cluster, ts.Group, ts.GroupState, strconv.Itoa(len(ts.Members)), strconv.FormatInt(ts.Lag, 10), oldest, state, lastErr)
	}
	t.flush()
	hidden, shown := 0, 0
	for _, ts := range targets {
		for _, p := range ts.Partitions {
			if allParts || p.Lag > 0 || p.Expired > 0 {
				shown++
			} else {
				hidden++
			}
		}
	}
	if shown == 0 {
		fmt.Fprintf(e.stdout, "\nno lag on any of the %d partitions (--partitions lists them)\n", hidden)
		return
	}
	fmt.Fprintln(e.stdout)
	t = newTable(e.stdout, "TARGET", "TOPIC", "PARTITION", "MEMBER", "COMMITTED", "END", "LAG", "OLDEST UNAPPLIED")
	defer func() {
		if hidden > 0 {
			fmt.Fprintf(e.stdout, "(%d partitions without lag not shown; --partitions lists them)\n", hidden)
		}
	}()
	for _, ts := range targets {
		for _, p := range ts.Partitions {
			if !allParts && p.Lag == 0 && p.Expired == 0 {
				continue
			}
			committed, oldest := "", ""
			if p.Committed >= 0 {
				committed = strconv.FormatInt(p.Committed, 10)
			}
			if p.OldestUnappliedAt != nil {
				oldest = ago(now, *p.OldestUnappliedAt)
			}
			lag := strconv.FormatInt(p.Lag, 10)
			if p.Expired > 0 {
				lag += fmt.Sprintf(" (%d expired unapplied)", p.Expired)
			}
			t.row(ts.Cluster, p.Topic, strconv.Itoa(int(p.Partition)), p.Member, committed, strconv.FormatInt(p.End, 10), lag, oldest)
		}
	}
	t.flush()
}

// warnShortDLQRetention warns, on stderr, about every existing dead-letter topic of the
// targets that keeps records for less than consume.dlq_retention (what the replicator
// and topics create give them): dead letters would expire before an operator replays
// them. A topic whose configuration cannot be read is not warned about; status has
// other work to do.
func warnShortDLQRetention(ctx context.Context, adm *kadm.Client, s settings, e *env, clusters []string) {
	want := s.cfg.Consume.DLQRetention
	var dlqs []string
	for _, c := range clusters {
		for _, topic := range s.cfg.Consume.Topics {
			dlqs = append(dlqs, replicator.DLQTopic(s.cfg.Consume.DLQTopic, topic, c))
		}
	}
	if len(dlqs) == 0 {
		return
	}
	configs, err := adm.DescribeTopicConfigs(ctx, dlqs...)
	if err != nil {
		return
	}
	for _, rc := range configs {
		if rc.Err != nil {
			continue // e.g. the topic does not exist yet
		}
		for _, c := range rc.Configs {
			if c.Key != "retention.ms" || c.Value == nil {
				continue
			}
			ms, err := strconv.ParseInt(*c.Value, 10, 64)
			if err != nil || ms < 0 { // -1 keeps records for ever
				continue
			}
			if got := time.Duration(ms) * time.Millisecond; got < want {
				fmt.Fprintf(e.stderr, "fanoutctl: warning: dead-letter topic %s keeps records for %s, less than consume.dlq_retention (%s): dead letters may expire before they are replayed\n",
					rc.Name, got, want)
			}
		}
	}
}
