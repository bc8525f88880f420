package replication_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/services/proxy/proxytest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// TestLateIndexThroughProxies is issue 13's late-event case end to end: a client writes
// a document through proxy A, whose publish.linger holds the INDEX back for seconds (as
// a spool drained after a Kafka outage would), and deletes it through proxy B. The
// DELETE is applied, the target's tombstone expires (index.gc_deletes of 1 s) and the
// partition's memory of deletes moves past it before the INDEX arrives. With the
// primary configured the replicator resolves the late INDEX there and the document
// stays deleted; without, it comes back — the failure the rule prevents.
func TestLateIndexThroughProxies(t *testing.T) {
	const linger = 5 * time.Second
	tests := []struct {
		name      string
		primary   bool
		wantFound bool
	}{
		{name: "primary configured", primary: true},
		{name: "no primary: resurrected", wantFound: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
			primary := startEmulator(t, "primary")
			primary.createIndices(t, "books")
			slowCfg := proxytest.Config(primary.url, k.Addrs(), topic)
			slowCfg.MetricsListen = ""
			slowCfg.Publish.Linger = linger
			slow := proxytest.Start(t, slowCfg, testLogger())
			fastCfg := proxytest.Config(primary.url, k.Addrs(), topic)
			fastCfg.MetricsListen = ""
			fast := proxytest.Start(t, fastCfg, testLogger())

			target := startEmulator(t, "b")
			body := fmt.Sprintf(`{"settings":{"number_of_shards":%d,"index.gc_deletes":"1s"}}`, shards)
			if code, ans := httpDo(t, http.MethodPut, target.url+"/books", body); code != http.StatusOK {
				t.Fatalf("creating books on the target: %d %s", code, ans)
			}
			cfg := testConfig(k, target, "b")
			cfg.LateEvents.Window = 500 * time.Millisecond
			if tc.primary {
				cfg = withPrimary(cfg, primary, 500*time.Millisecond)
			}
			// The memory of deletes forgets the DELETE after 1 s of accepted time: the
			// late INDEX is left to the late-event rule.
			cfg.Deletes.Window = time.Second
			r := startReplicator(t, cfg)

			indexed := make(chan error, 1)
			go func() { indexed <- put(slow.URL()+"/books/_doc/1", `{"title":"Dune"}`) }()
			waitPrimaryHas(t, primary, "/books/_doc/1")
			if code, ans := httpDo(t, http.MethodDelete, fast.URL()+"/books/_doc/1", ""); code != http.StatusOK {
				t.Fatalf("DELETE through proxy B: %d %s", code, ans)
			}
			waitCaughtUp(t, k, r.Group(), 10*time.Second)
			// The target's tombstone expires; a later write moves the partition's
			// accepted time past deletes.window after the DELETE.
			time.Sleep(1500 * time.Millisecond)
			if err := put(fast.URL()+"/books/_doc/2", `{"title":"Emma"}`); err != nil {
				t.Fatalf("INDEX books/2 through proxy B: %v", err)
			}
			if err := <-indexed; err != nil {
				t.Fatalf("INDEX through proxy A: %v", err)
			}
			waitCaughtUp(t, k, r.Group(), 20*time.Second)

			code, ans := httpDo(t, http.MethodGet, target.url+"/books/_doc/1", "")
			if found := code == http.StatusOK; found != tc.wantFound {
				t.Fatalf("books/1 on the target after the late INDEX: %d %s, want found %v", code, ans, tc.wantFound)
			}
			if got := r.Metric(t, "fanout_replicator_superseded_by_delete_total", nil); got != 0 {
				t.Errorf("superseded_by_delete_total = %v: the memory of deletes decided, not the late-event rule", got)
			}
			if tc.primary {
				if got := r.Metric(t, "fanout_replicator_late_events_total", map[string]string{"outcome": "deleted"}); got < 1 {
					t.Errorf("late_events_total{outcome=deleted} = %v, want at least 1", got)
				}
				assertConverged(t, primary, target, nil)
			}
		})
	}
}

// waitPrimaryHas waits until the primary answers 200 for path.
func waitPrimaryHas(t *testing.T, primary *emulator, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if code, _ := httpDo(t, http.MethodGet, primary.url+path, ""); code == http.StatusOK {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the primary does not hold %s", path)
}
