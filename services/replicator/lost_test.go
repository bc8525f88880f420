package replicator_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// TestLostPartitionsAreNotCommitted: when the group coordinator fences the member (a
// heartbeat answered UNKNOWN_MEMBER_ID), its partitions are lost. Another member may own
// them already, so the replicator must drop them without committing. With commits only
// on revoke and shutdown, everything applied before the loss is therefore delivered
// again after the rejoin, and found stale.
func TestLostPartitionsAreNotCommitted(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 4))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	cfg := testConfig(k, target, "b")
	cfg.Consume.CommitInterval = time.Hour // only revoke and shutdown would commit
	var ids []string
	for i := 0; i < 400; i++ {
		ids = append(ids, strconv.Itoa(i))
	}
	k.ProduceSync(t, encode(t, routedOpsFor("docs", ids)...)...)
	r := startReplicator(t, cfg)
	waitFor(t, 20*time.Second, "all applied", func() bool { return r.Ops(t, "applied") == 400 })

	var fenced atomic.Int32
	k.Fake().ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.SetVersion(req.GetVersion())
		resp.ErrorCode = kerr.UnknownMemberID.Code
		fenced.Add(1)
		return resp, nil, true
	})
	waitFor(t, 30*time.Second, "the member fenced and every record delivered again", func() bool {
		return fenced.Load() > 0 && r.Ops(t, "stale") == 400
	})
	if got := r.Ops(t, "applied"); got != 400 {
		t.Errorf("applied %v, want 400: re-deliveries must be stale, not applied again", got)
	}
	// A graceful stop commits what is resolved, the re-deliveries included.
	r.Stop(t)
	waitCaughtUp(t, k, r.Group(), 10*time.Second)
}
