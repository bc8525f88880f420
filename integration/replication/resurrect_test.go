package replication_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestDeleteNeverComesBack is issue 9's resurrection case with the real ordering: a
// client writes a document through proxy A, whose publish.linger is long, then deletes
// it through proxy B. The primary took INDEX before DELETE, but Kafka holds DELETE
// before INDEX. Between the two the target is down for longer than its
// index.gc_deletes (1 s here), so its tombstone has expired when the late INDEX could
// land. The document stays deleted on the target — with the same replicator, and with
// one restarted in between, which knows of the DELETE only from Kafka.
func TestDeleteNeverComesBack(t *testing.T) {
	const linger = 5 * time.Second // proxy A's: the late INDEX comes this much after the DELETE
	tests := []struct {
		name    string
		restart bool
	}{
		{name: "same replicator"},
		{name: "replicator restarted in between", restart: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
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
			r := startReplicator(t, cfg)

			indexed := make(chan error, 1)
			go func() { indexed <- put(slow.URL()+"/books/_doc/1", `{"title":"Dune"}`) }()
			replicatortest.WaitFor(t, 10*time.Second, "the primary to hold books/1", func() bool {
				code, _ := httpDo(t, http.MethodGet, primary.url+"/books/_doc/1", "")
				return code == http.StatusOK
			})
			if code, ans := httpDo(t, http.MethodDelete, fast.URL()+"/books/_doc/1", ""); code != http.StatusOK {
				t.Fatalf("DELETE through proxy B: %d %s", code, ans)
			}
			// The DELETE is applied and committed while the INDEX lingers in proxy A.
			waitCaughtUp(t, k, r.Group(), 10*time.Second)
			if tc.restart {
				r.Stop(t)
			}
			target.SetFaults(searchemu.Faults{Down: true})
			if err := <-indexed; err != nil {
				t.Fatalf("INDEX through proxy A: %v", err)
			}
			// The outage is the fault under test: it outlasts the target's tombstone.
			time.Sleep(1500 * time.Millisecond)
			if tc.restart {
				r = startReplicator(t, cfg)
			}
			target.SetFaults(searchemu.Faults{})
			waitCaughtUp(t, k, r.Group(), 20*time.Second)

			// Kafka holds the DELETE before the older INDEX: the ordering under test.
			var kinds []opspb.Kind
			var versions []int64
			for _, rec := range k.ConsumeAll(t, topic, 10*time.Second) {
				op, err := event.Decode(rec)
				if err != nil {
					t.Fatal(err)
				}
				kinds = append(kinds, op.GetKind())
				versions = append(versions, op.GetReplicationVersion())
			}
			if len(kinds) != 2 || kinds[0] != opspb.Kind_KIND_DELETE || kinds[1] != opspb.Kind_KIND_INDEX || versions[0] <= versions[1] {
				t.Fatalf("topic holds %v versions %v, want DELETE then an older INDEX", kinds, versions)
			}
			if code, _ := httpDo(t, http.MethodGet, primary.url+"/books/_doc/1", ""); code != http.StatusNotFound {
				t.Fatalf("primary holds books/1: %d", code)
			}
			if code, ans := httpDo(t, http.MethodGet, target.url+"/books/_doc/1", ""); code != http.StatusNotFound {
				t.Fatalf("books/1 came back on the target: %d %s", code, ans)
			}
			if got := r.Metric(t, "fanout_replicator_superseded_by_delete_total", nil); got != 1 {
				t.Errorf("superseded_by_delete_total = %v, want 1", got)
			}
		})
	}
}

// put sends a PUT with a JSON body and fails unless it is answered 2xx.
func put(u, body string) error {
	req, err := http.NewRequest(http.MethodPut, u, bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Close = true
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	ans, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, ans)
	}
	return nil
}
