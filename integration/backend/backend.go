// Package backend gives end-to-end tests a Kafka and search clusters to run against:
// the embedded backend (kfake + searchemu, in process) everywhere, and the Docker
// backend (real Kafka and OpenSearch images through testcontainers) where a Docker
// engine answers. The same test body runs on both, so the Docker runs also check that
// the emulator behaves like the real thing.
package backend

import (
	"fmt"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/testbed/searchemu/emutest"
)

// Backend is one Kafka cluster and a set of search clusters.
type Backend struct {
	Name       string   // "embedded" or "docker"
	KafkaAddrs []string // seed brokers
	Primary    string   // URL of the primary cluster
	Replicas   []string // URLs of the replica clusters

	// Emulators are the in-memory clusters (primary first), for fault injection and op
	// logs; nil on the Docker backend.
	Emulators []*searchemu.Cluster
}

// Config says what a test needs.
type Config struct {
	Replicas   int
	Topics     []string
	Partitions int32
}

// Run runs fn once per available backend as a subtest.
func Run(t *testing.T, cfg Config, fn func(t *testing.T, b *Backend)) {
	t.Run("embedded", func(t *testing.T) { fn(t, Embedded(t, cfg)) })
	t.Run("docker", func(t *testing.T) { fn(t, Docker(t, cfg)) })
}

// Embedded starts kfake and searchemu clusters; everything stops with the test.
func Embedded(t *testing.T, cfg Config) *Backend {
	t.Helper()
	if cfg.Partitions <= 0 {
		cfg.Partitions = 1
	}
	var opts []kafkatest.Option
	for _, topic := range cfg.Topics {
		opts = append(opts, kafkatest.WithTopic(topic, cfg.Partitions))
	}
	k := kafkatest.NewCluster(t, opts...)
	b := &Backend{Name: "embedded", KafkaAddrs: k.Addrs()}

	for i := 0; i <= cfg.Replicas; i++ {
		name := "primary"
		if i > 0 {
			name = fmt.Sprintf("replica-%d", i)
		}
		e := emutest.Start(t, name)
		b.Emulators = append(b.Emulators, e.Cluster)
		if i == 0 {
			b.Primary = e.URL
		} else {
			b.Replicas = append(b.Replicas, e.URL)
		}
	}
	return b
}

// Client returns a search client for url with the client's own retries off, as fanout
// owns retrying; it is closed with the test (it polls the cluster until closed).
func Client(t testing.TB, url string) *opensearch.Client {
	t.Helper()
	c, err := opensearch.NewClient(opensearch.Config{Addresses: []string{url}, DisableRetry: true})
	if err != nil {
		t.Fatalf("search client for %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// KafkaClient returns a Kafka client for the backend, closed with the test.
func (b *Backend) KafkaClient(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.KafkaAddrs...)}, opts...)...)
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}
