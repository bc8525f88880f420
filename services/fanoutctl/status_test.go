package fanoutctl

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// produceEvents writes n INDEX events for index/ids prefix-0..n-1, as the proxy would.
func produceEvents(t *testing.T, k *kafkatest.Cluster, prefix string, n int, seq *int64) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		*seq++
		s, term := *seq, int64(1)
		v, err := event.ReplicationVersion(s, term, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("%s-%d", prefix, i)
		op := &opspb.Operation{Kind: opspb.Kind_KIND_INDEX, Index: "lag", Id: id, Routing: routingOf(id),
			Source: []byte(fmt.Sprintf(`{"n":%d}`, i)), ReplicationVersion: v, Version: 1, SeqNo: &s, PrimaryTerm: &term,
			AcceptedAt: timestamppb.New(time.Now().Add(-2 * time.Second)), SourceCluster: "primary"}
		if recs[i], err = event.Encode(opsTopic, op); err != nil {
			t.Fatal(err)
		}
	}
	k.ProduceSync(t, recs...)
}

// TestStatusLagWhilePaused: status shows the lag growing while the target's
// replicator is paused (and its state), and back to 0 after resume.
func TestStatusLagWhilePaused(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(opsTopic, 3))
	target := startEmulator(t, "b")
	target.createIndex(t, "lag")
	rr := startReplicator(t, replicatorConfig(k, target, "b"))
	brokers := strings.Join(k.Addrs(), ",")
	var seq int64

	status := func() targetStatus {
		t.Helper()
		var out struct {
			Targets []targetStatus `json:"targets"`
		}
		cliJSON(t, 0, &out, deps{}, "status", "--brokers", brokers, "--admin", rr.AdminURL())
		if len(out.Targets) != 1 || out.Targets[0].Cluster != "b" || out.Targets[0].Replicator == nil {
			t.Fatalf("status: %+v, want target b with its replicator", out)
		}
		return out.Targets[0]
	}
	waitLag := func(want int64, state string) targetStatus {
		t.Helper()
		var st targetStatus
		waitFor(t, 20*time.Second, fmt.Sprintf("lag %d and state %s", want, state), func() bool {
			st = status()
			return st.Lag == want && st.Replicator.State == state
		})
		return st
	}

	produceEvents(t, k, "a", 5, &seq)
	st := waitLag(0, "running")
	if st.Group != "fanout-replicator-b" || len(st.Members) != 1 || len(st.Partitions) != 3 || st.OldestUnappliedAt != nil {
		t.Fatalf("caught-up status: %+v", st)
	}

	r := cli(t, context.Background(), deps{}, nil, "pause", "--cluster", "b", "--admin", rr.AdminURL())
	if r.code != 0 || !strings.Contains(r.stdout, "paused") {
		t.Fatalf("pause: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	produceEvents(t, k, "b", 10, &seq)
	st = waitLag(10, "paused")
	if st.OldestUnappliedAt == nil || st.OldestUnappliedSeconds < 1 {
		t.Fatalf("paused status: oldest unapplied %v (%fs), want about 2s ago", st.OldestUnappliedAt, st.OldestUnappliedSeconds)
	}
	produceEvents(t, k, "c", 10, &seq)
	st = waitLag(20, "paused")
	var sum int64
	for _, p := range st.Partitions {
		sum += p.Lag
		if p.Lag > 0 && p.OldestUnappliedAt == nil {
			t.Fatalf("partition %d lags %d without an oldest unapplied time", p.Partition, p.Lag)
		}
	}
	if sum != 20 {
		t.Fatalf("partition lags sum to %d, want 20", sum)
	}
	text := cli(t, context.Background(), deps{}, nil, "status", "--brokers", brokers, "--admin", rr.AdminURL())
	if text.code != 0 || !strings.Contains(text.stdout, "paused") || !strings.Contains(text.stdout, "fanout-replicator-b") {
		t.Fatalf("status text: exit %d\n%s%s", text.code, text.stdout, text.stderr)
	}

	r = cli(t, context.Background(), deps{}, nil, "resume", "--cluster", "b", "--admin", rr.AdminURL())
	if r.code != 0 || !strings.Contains(r.stdout, "running") {
		t.Fatalf("resume: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	st = waitLag(0, "running")
	if st.OldestUnappliedAt != nil {
		t.Fatalf("caught up again, but an oldest unapplied event at %v", st.OldestUnappliedAt)
	}

	// Without --admin, from Kafka alone (group discovery); and an admin that does not
	// answer is a partial failure.
	var out struct {
		Targets []targetStatus `json:"targets"`
	}
	cliJSON(t, 0, &out, deps{}, "status", "--brokers", brokers)
	if len(out.Targets) != 1 || out.Targets[0].Group != "fanout-replicator-b" || out.Targets[0].Replicator != nil {
		t.Fatalf("status from Kafka alone: %+v", out)
	}
	r = cli(t, context.Background(), deps{}, nil, "status", "--brokers", brokers, "--cluster", "b", "--admin", "127.0.0.1:1")
	if r.code != 1 || !strings.Contains(r.stdout, "unreachable") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("status with a dead admin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// a target Kafka never heard of (a typo) is a failure that names the known ones,
	// not a Dead group with the whole topic as lag and exit 0
	r = cli(t, context.Background(), deps{}, nil, "status", "--brokers", brokers, "--cluster", "bb")
	if r.code != 1 || !strings.Contains(r.stderr, "no consumer group fanout-replicator-bb exists") || !strings.Contains(r.stderr, "targets Kafka knows: b") {
		t.Fatalf("status of an unknown target: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestDLQRetention: the replicator creates its dead-letter topic with
// consume.dlq_retention (what topics create plans), and status warns when a DLQ topic
// keeps records for less.
func TestDLQRetention(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(opsTopic, 2))
	target := startEmulator(t, "b")
	rr := startReplicator(t, replicatorConfig(k, target, "b"))
	brokers := strings.Join(k.Addrs(), ",")
	adm := kadm.NewClient(k.Client(t))
	dlq := "fanout.ops.dlq.b"
	retention := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		rcs, err := adm.DescribeTopicConfigs(ctx, dlq)
		if err != nil {
			return ""
		}
		rc, err := rcs.On(dlq, nil)
		if err != nil || rc.Err != nil {
			return ""
		}
		for _, c := range rc.Configs {
			if c.Key == "retention.ms" && c.Value != nil {
				return *c.Value
			}
		}
		return ""
	}
	waitFor(t, 20*time.Second, "the replicator to create "+dlq+" with 30 days of retention", func() bool {
		return retention() == "2592000000"
	})
	if r := cli(t, context.Background(), deps{}, nil, "status", "--brokers", brokers, "--admin", rr.AdminURL()); r.code != 0 || strings.Contains(r.stderr, "dead-letter topic") {
		t.Fatalf("status with the planned retention: exit %d\n%s", r.code, r.stderr)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	hour := "3600000"
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: &hour}}, dlq); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "retention.ms of "+dlq+" to be 1h", func() bool { return retention() == hour })
	r := cli(t, context.Background(), deps{}, nil, "status", "--brokers", brokers, "--admin", rr.AdminURL())
	if r.code != 0 || !strings.Contains(r.stderr, "warning: dead-letter topic "+dlq+" keeps records for 1h0m0s, less than consume.dlq_retention (720h0m0s)") {
		t.Fatalf("status with a 1h DLQ topic: exit %d\nstderr: %s", r.code, r.stderr)
	}
}
