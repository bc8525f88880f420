package backend

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Images of the Docker backend.
const (
	KafkaImage      = "apache/kafka:3.9.1"
	OpenSearchImage = "opensearchproject/opensearch:2.19.2"
)

// Docker starts a real single-node Kafka and one OpenSearch container per cluster. The
// test is skipped, with the reason, when no Docker engine answers.
func Docker(t *testing.T, cfg Config) *Backend {
	t.Helper()
	testcontainers.SkipIfProviderIsNotHealthy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	b := &Backend{Name: "docker"}
	b.KafkaAddrs = []string{startKafka(ctx, t)}
	for i := 0; i <= cfg.Replicas; i++ {
		url := startOpenSearch(ctx, t)
		if i == 0 {
			b.Primary = url
		} else {
			b.Replicas = append(b.Replicas, url)
		}
	}
	if len(cfg.Topics) > 0 {
		createTopics(ctx, t, b.KafkaAddrs, cfg)
	}
	return b
}

// startKafka runs a KRaft broker. Its advertised listener must name the host port that
// Docker maps, which is known only after the container starts, so the container waits
// for a start script that a post-start hook writes.
func startKafka(ctx context.Context, t *testing.T) string {
	t.Helper()
	const script = "/tmp/fanout-start.sh"
	req := testcontainers.ContainerRequest{
		Image:        KafkaImage,
		ExposedPorts: []string{"9093/tcp"},
		Env: map[string]string{
			"KAFKA_NODE_ID":                                  "1",
			"KAFKA_PROCESS_ROLES":                            "broker,controller",
			"KAFKA_LISTENERS":                                "PLAINTEXT://0.0.0.0:9093,BROKER://0.0.0.0:9092,CONTROLLER://0.0.0.0:9094",
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
			"KAFKA_INTER_BROKER_LISTENER_NAME":               "BROKER",
			"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
			"KAFKA_CONTROLLER_QUORUM_VOTERS":                 "1@localhost:9094",
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
			"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
		},
		Entrypoint: []string{"sh", "-c", "while [ ! -f " + script + " ]; do sleep 0.1; done; . " + script},
		LifecycleHooks: []testcontainers.ContainerLifecycleHooks{{
			PostStarts: []testcontainers.ContainerHook{func(ctx context.Context, c testcontainers.Container) error {
				endpoint, err := c.PortEndpoint(ctx, "9093/tcp", "")
				if err != nil {
					return fmt.Errorf("kafka mapped port: %w", err)
				}
				body := "export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://" + endpoint + ",BROKER://localhost:9092\n" +
					"exec /etc/kafka/docker/run\n"
				return c.CopyToContainer(ctx, []byte(body), script, 0o755)
			}},
		}},
		WaitingFor: wait.ForLog("Kafka Server started").WithStartupTimeout(3 * time.Minute),
	}
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("starting %s: %v", KafkaImage, err)
	}
	endpoint, err := c.PortEndpoint(ctx, "9093/tcp", "")
	if err != nil {
		t.Fatalf("kafka endpoint: %v", err)
	}
	return endpoint
}

func startOpenSearch(ctx context.Context, t *testing.T) string {
	t.Helper()
	req := testcontainers.ContainerRequest{
		Image:        OpenSearchImage,
		ExposedPorts: []string{"9200/tcp"},
		Env: map[string]string{
			"discovery.type":              "single-node",
			"DISABLE_SECURITY_PLUGIN":     "true",
			"DISABLE_INSTALL_DEMO_CONFIG": "true",
			"OPENSEARCH_JAVA_OPTS":        "-Xms512m -Xmx512m",
		},
		WaitingFor: wait.ForHTTP("/_cluster/health").WithPort("9200/tcp").WithStartupTimeout(3 * time.Minute),
	}
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("starting %s: %v", OpenSearchImage, err)
	}
	endpoint, err := c.PortEndpoint(ctx, "9200/tcp", "http")
	if err != nil {
		t.Fatalf("opensearch endpoint: %v", err)
	}
	return endpoint
}

func createTopics(ctx context.Context, t *testing.T, addrs []string, cfg Config) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	defer cl.Close()
	partitions := cfg.Partitions
	if partitions <= 0 {
		partitions = 1
	}
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, cfg.Topics...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil && !strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS") {
		t.Fatalf("creating topics %v: %v", cfg.Topics, err)
	}
}
