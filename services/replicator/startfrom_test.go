package replicator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// TestStartFromAndExpiredOffsets: consume.start_from decides only where a group with no
// committed offset starts; a committed offset that retention has passed resumes at the
// log start (not at the end, whatever start_from says) and the records lost are counted.
func TestStartFromAndExpiredOffsets(t *testing.T) {
	docs := func(from, to int) []*opspb.Operation {
		var ops []*opspb.Operation
		for i := from; i < to; i++ {
			ops = append(ops, op(opspb.Kind_KIND_INDEX, "logs", fmt.Sprint(i), "", 1, fmt.Sprintf(`{"n":%d}`, i)))
		}
		return ops
	}
	found := func(e *emulator, from, to int) (n int) {
		for i := from; i < to; i++ {
			if getDoc(t, e, "logs", fmt.Sprint(i), "").Found {
				n++
			}
		}
		return n
	}

	t.Run("committed offset below the log start with start_from latest", func(t *testing.T) {
		k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
		target := startEmulator(t, "b")
		cfg := testConfig(k, target, "b")
		cfg.Consume.StartFrom = "latest"
		k.ProduceSync(t, encode(t, docs(0, 10)...)...)
		adm := kadm.NewClient(k.Client(t))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		// The group applied offsets 0-1 and went away; retention then deleted 0-5.
		commit := kadm.Offsets{}
		commit.Add(kadm.Offset{Topic: topic, Partition: 0, At: 2, LeaderEpoch: -1})
		if _, err := adm.CommitOffsets(ctx, cfg.GroupName(), commit); err != nil {
			t.Fatal(err)
		}
		trim := kadm.Offsets{}
		trim.Add(kadm.Offset{Topic: topic, Partition: 0, At: 6, LeaderEpoch: -1})
		if res, err := adm.DeleteRecords(ctx, trim); err != nil || res.Error() != nil {
			t.Fatalf("delete records: %v %v", err, res.Error())
		}
		r := startReplicator(t, cfg)
		waitCaughtUp(t, k, r.Group(), 20*time.Second)
		if n := found(target, 6, 10); n != 4 {
			t.Errorf("%d of the 4 records past the log start applied, want all: the surviving backlog was skipped", n)
		}
		if n := found(target, 0, 6); n != 0 {
			t.Errorf("%d deleted records applied", n)
		}
		if got := r.Metric(t, "fanout_replicator_records_expired_total", map[string]string{"partition": "0"}); got != 4 {
			t.Errorf("records_expired_total = %v, want 4 (offsets 2-5)", got)
		}
	})

	for _, tt := range []struct {
		from      string
		wantEarly int // of the 5 records produced before the group existed
	}{{"earliest", 5}, {"latest", 0}} {
		t.Run("new group with start_from "+tt.from, func(t *testing.T) {
			k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
			target := startEmulator(t, "b")
			cfg := testConfig(k, target, "b")
			cfg.Consume.StartFrom = tt.from
			k.ProduceSync(t, encode(t, docs(0, 5)...)...)
			r := startReplicator(t, cfg)
			// A record produced once the group consumes is applied. When the end offset
			// is looked up after the partition is assigned is kgo's business, so probes
			// are produced until one is applied.
			probe := 100
			waitFor(t, 20*time.Second, "a record produced after the start to be applied", func() bool {
				probe++
				k.ProduceSync(t, encode(t, docs(probe, probe+1)...)...)
				deadline := time.Now().Add(time.Second)
				for time.Now().Before(deadline) {
					if found(target, probe, probe+1) == 1 {
						return true
					}
					time.Sleep(20 * time.Millisecond)
				}
				return false
			})
			waitCaughtUp(t, k, r.Group(), 20*time.Second)
			if n := found(target, 0, 5); n != tt.wantEarly {
				t.Errorf("%d of the 5 earlier records applied, want %d", n, tt.wantEarly)
			}
			if got := r.Metric(t, "fanout_replicator_records_expired_total", map[string]string{"partition": "0"}); got != 0 {
				t.Errorf("records_expired_total = %v for a new group", got)
			}
		})
	}
}
