package integration_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/integration/backend"
	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
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
		createIndex(t, ctx, b.Primary, "pipe")
		for i, url := range b.Replicas {
			createIndex(t, ctx, url, replicator.RenameIndex(renames[i], "pipe"))
			cfg := replicatortest.Config(fmt.Sprintf("replica-%d", i+1), url, b.KafkaAddrs, opsTopic)
			cfg.Consume.CommitInterval = 200 * time.Millisecond
			cfg.Indices.Rename = renames[i]
			replicatortest.Start(t, cfg, nil)
		}

		// A workload with every kind of write on overlapping ids, in bulks and singly;
		// every third document routed, its updates and deletes with the same routing.
		rng := rand.New(rand.NewPCG(7, 11))
		for round := 0; round < 30; round++ {
			var body strings.Builder
			for i := 0; i < 50; i++ {
				id := rng.IntN(300)
				meta := fmt.Sprintf(`"_index":"pipe","_id":"%d"`, id)
				if id%3 == 0 {
					meta += fmt.Sprintf(`,"routing":"r%d"`, id%5)
				}
				switch rng.IntN(10) {
				case 0, 1:
					fmt.Fprintf(&body, "{\"delete\":{%s}}\n", meta)
				case 2, 3, 4:
					fmt.Fprintf(&body, "{\"update\":{%s}}\n{\"doc\":{\"n\":%d,\"round\":%d},\"doc_as_upsert\":true}\n", meta, rng.IntN(1000), round)
				default:
					fmt.Fprintf(&body, "{\"index\":{%s}}\n{\"n\":%d,\"name\":\"doc %d\",\"round\":%d}\n", meta, rng.IntN(1000), id, round)
				}
			}
			post(t, ctx, px.URL()+"/_bulk", body.String())
			single := fmt.Sprintf("%s/pipe/_doc/single-%d", px.URL(), round%5)
			if round%5 < 2 {
				single += fmt.Sprintf("?routing=s%d", round%5)
			}
			post(t, ctx, single, fmt.Sprintf(`{"n":%d,"round":%d}`, round, round))
		}
		post(t, ctx, b.Primary+"/_refresh", "")

		primary := backend.Client(t, b.Primary)
		version := func(v converge.DocVersion) int64 {
			rv, _ := event.ReplicationVersion(v.SeqNo, v.PrimaryTerm, v.Version, v.HasSeqNo)
			return rv
		}
		for i, url := range b.Replicas {
			replica := backend.Client(t, url)
			opts := converge.Options{Mode: converge.Full, Indices: []string{"pipe"}, Refresh: true, ExpectVersion: version,
				ReplicaIndex: func(ix string) string { return replicator.RenameIndex(renames[i], ix) }}
			var rep *converge.Report
			deadline, _ := ctx.Deadline()
			replicatortest.WaitFor(t, time.Until(deadline), fmt.Sprintf("replica-%d to converge", i+1), func() bool {
				var err error
				if rep, err = converge.Compare(ctx, primary, replica, opts); err != nil {
					t.Fatal(err)
				}
				return rep.Converged() && rep.Compared > 0
			})
			t.Logf("replica-%d (%s) converged: %d documents", i+1, renames[i], rep.Compared)
		}
	})
}
