package integration_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/integration/backend"
	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
	"github.com/fanout-dev/fanout/services/replicator"
)

// TestPipeline runs the whole of fanout on every backend: clients write through the
// proxy (index, update, delete on overlapping ids), one replicator per replica applies
// the events, and every replica converges to the primary, document by document, with
// the replication versions. One replica renames its indices. On the Docker backend this
// is real Kafka and real OpenSearch.
func TestPipeline(t *testing.T) {
	backend.Run(t, backend.Config{Replicas: 2, Topics: []string{opsTopic}, Partitions: 6}, func(t *testing.T, b *backend.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		px := proxytest.Start(t, proxytest.Config(b.Primary, b.KafkaAddrs, opsTopic), nil)

		renames := []string{"{index}", "{index}-dr"}
		for i, url := range b.Replicas {
			cfg := replicator.DefaultConfig()
			cfg.MetricsListen = ""
			cfg.Target.Name = fmt.Sprintf("replica-%d", i+1)
			cfg.Target.Endpoints = []string{url}
			cfg.Kafka.Brokers = b.KafkaAddrs
			cfg.Consume.Topics = []string{opsTopic}
			cfg.Consume.CommitInterval = 200 * time.Millisecond
			cfg.Consume.FetchMaxWait = 100 * time.Millisecond
			cfg.Indices.Rename = renames[i]
			cfg.Log.Level = "warn"
			r, err := replicator.New(cfg, replicator.Deps{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			rctx, stop := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(rctx) }()
			t.Cleanup(func() {
				stop()
				if err := <-done; err != nil {
					t.Errorf("replicator %d: %v", i+1, err)
				}
			})
		}

		// A workload with every kind of write on overlapping ids, in bulks and singly.
		rng := rand.New(rand.NewPCG(7, 11))
		for round := 0; round < 30; round++ {
			var body strings.Builder
			for i := 0; i < 50; i++ {
				id := rng.IntN(300)
				switch rng.IntN(10) {
				case 0, 1:
					fmt.Fprintf(&body, "{\"delete\":{\"_index\":\"pipe\",\"_id\":\"%d\"}}\n", id)
				case 2, 3, 4:
					fmt.Fprintf(&body, "{\"update\":{\"_index\":\"pipe\",\"_id\":\"%d\"}}\n{\"doc\":{\"n\":%d,\"round\":%d},\"doc_as_upsert\":true}\n", id, rng.IntN(1000), round)
				default:
					fmt.Fprintf(&body, "{\"index\":{\"_index\":\"pipe\",\"_id\":\"%d\"}}\n{\"n\":%d,\"name\":\"doc %d\",\"round\":%d}\n", id, rng.IntN(1000), id, round)
				}
			}
			post(t, ctx, px.URL()+"/_bulk", body.String())
			post(t, ctx, fmt.Sprintf("%s/pipe/_doc/single-%d", px.URL(), round%5), fmt.Sprintf(`{"n":%d,"round":%d}`, round, round))
		}
		post(t, ctx, b.Primary+"/_refresh", "")

		primary := backend.Client(t, b.Primary)
		version := func(v converge.DocVersion) int64 {
			rv, _ := event.ReplicationVersion(v.SeqNo, v.PrimaryTerm, v.Version, v.HasSeqNo)
			return rv
		}
		for i, url := range b.Replicas {
			replica := backend.Client(t, url)
			opts := converge.Options{Indices: []string{"pipe"}, Refresh: true, ExpectVersion: version,
				ReplicaIndex: func(ix string) string { return replicator.RenameIndex(renames[i], ix) }}
			var rep *converge.Report
			for {
				var err error
				if rep, err = converge.Compare(ctx, primary, replica, opts); err != nil {
					t.Fatal(err)
				}
				if rep.Converged() || ctx.Err() != nil {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if !rep.Converged() || rep.Compared == 0 {
				t.Fatalf("replica-%d did not converge: %v", i+1, rep)
			}
			t.Logf("replica-%d (%s) converged: %d documents", i+1, renames[i], rep.Compared)
		}
	})
}
