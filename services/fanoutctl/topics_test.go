package fanoutctl

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// TestTopicsCreate: the dry run creates nothing; the run creates the ops and DLQ
// topics with their settings; running again is a no-op; a topic that differs from the
// plan is reported, not changed.
func TestTopicsCreate(t *testing.T) {
	k := kafkatest.NewCluster(t)
	brokers := strings.Join(k.Addrs(), ",")
	adm := kadm.NewClient(k.Client(t))
	args := []string{"topics", "create", "--brokers", brokers, "--cluster", "b,c", "--partitions", "3",
		"--retention", "48h", "--compression", "zstd"}
	type plans struct {
		DryRun bool        `json:"dry_run"`
		Topics []topicPlan `json:"topics"`
	}
	actions := func(p plans) string {
		var s []string
		for _, tp := range p.Topics {
			s = append(s, tp.Topic+"="+tp.Action)
		}
		return strings.Join(s, " ")
	}
	exists := func(topic string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d, err := adm.ListTopics(ctx, topic)
		return err == nil && d[topic].Err == nil && len(d[topic].Partitions) > 0
	}

	var p plans
	cliJSON(t, 0, &p, deps{}, append(args, "--dry-run")...)
	if got, want := actions(p), "fanout.ops=create fanout.ops.dlq.b=create fanout.ops.dlq.c=create"; !p.DryRun || got != want {
		t.Fatalf("dry run: %s, want %s", got, want)
	}
	if exists("fanout.ops") {
		t.Fatal("the dry run created a topic")
	}
	if p.Topics[0].ReplicationFactor != 1 || p.Topics[0].Configs["min.insync.replicas"] != "1" || p.Topics[1].Partitions != 3 {
		t.Fatalf("plan for one broker: %+v", p.Topics)
	}

	cliJSON(t, 0, &p, deps{}, args...)
	if got, want := actions(p), "fanout.ops=created fanout.ops.dlq.b=created fanout.ops.dlq.c=created"; got != want {
		t.Fatalf("create: %s, want %s", got, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rcs, err := adm.DescribeTopicConfigs(ctx, "fanout.ops", "fanout.ops.dlq.b")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"fanout.ops":       {"retention.ms": "172800000", "compression.type": "zstd", "min.insync.replicas": "1"},
		"fanout.ops.dlq.b": {"retention.ms": "2592000000", "compression.type": "zstd"},
	}
	for _, rc := range rcs {
		for k, v := range want[rc.Name] {
			found := false
			for _, c := range rc.Configs {
				if c.Key == k {
					found = true
					if c.MaybeValue() != v {
						t.Errorf("%s %s = %s, want %s", rc.Name, k, c.MaybeValue(), v)
					}
				}
			}
			if !found {
				t.Errorf("%s has no %s", rc.Name, k)
			}
		}
	}

	r := cliJSON(t, 0, &p, deps{}, args...)
	if got, want := actions(p), "fanout.ops=exists fanout.ops.dlq.b=exists fanout.ops.dlq.c=exists"; got != want || r.stderr != "" {
		t.Fatalf("again: %s (stderr %q), want %s and no warning", got, r.stderr, want)
	}

	// Different settings: a warning per difference, nothing changed, exit 0.
	r = cli(t, context.Background(), deps{}, nil, "topics", "create", "--brokers", brokers, "--cluster", "b", "--partitions", "6", "--retention", "24h")
	if r.code != 0 || !strings.Contains(r.stderr, "3 partitions, plan 6") || !strings.Contains(r.stderr, "retention.ms=172800000, plan 86400000") ||
		!strings.Contains(r.stdout, "exists (differs)") {
		t.Fatalf("differing topics: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A plan the cluster cannot hold is a usage error.
	r = cli(t, context.Background(), deps{}, nil, "topics", "create", "--brokers", brokers, "--replication-factor", "3")
	if r.code != 2 || !strings.Contains(r.stderr, "exceeds the 1 broker") {
		t.Fatalf("replication factor 3 on one broker: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
