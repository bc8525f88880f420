package fanoutctl

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/fanout-dev/fanout/pkg/searchemu"
	"github.com/fanout-dev/fanout/services/proxy"
)

// devConfig is the dev stack's command line.
type devConfig struct {
	replicas   int
	partitions int
	topic      string
	basePort   int
	kafkaPort  int
}

// runDev starts the local stack and blocks until ctx is done.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := devConfig{}
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.IntVar(&cfg.replicas, "replicas", 2, "number of replica clusters")
	fs.IntVar(&cfg.partitions, "partitions", 12, "partitions of the ops topic")
	fs.StringVar(&cfg.topic, "topic", "fanout.ops", "the ops topic")
	fs.IntVar(&cfg.basePort, "base-port", 9200, "port of the proxy; the primary and the replicas take the next ones (0: any free ports)")
	fs.IntVar(&cfg.kafkaPort, "kafka-port", 9092, "port of the embedded Kafka broker (0: any free port)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if cfg.replicas < 1 || cfg.replicas > 16 {
		return usagef("dev: --replicas must be between 1 and 16, got %d", cfg.replicas)
	}
	if cfg.partitions < 1 {
		return usagef("dev: --partitions must be at least 1, got %d", cfg.partitions)
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(cfg.kafkaPort),
		kfake.SeedTopics(int32(cfg.partitions), cfg.topic))
	if err != nil {
		return fmt.Errorf("starting embedded Kafka on port %d: %w", cfg.kafkaPort, err)
	}
	defer kafka.Close()

	port := func(i int) int {
		if cfg.basePort == 0 {
			return 0
		}
		return cfg.basePort + i
	}
	primary, err := searchemu.New(searchemu.Options{Name: "primary", Logger: log}).
		Listen(ctx, fmt.Sprintf("127.0.0.1:%d", port(1)))
	if err != nil {
		return fmt.Errorf("starting the primary cluster: %w", err)
	}
	defer primary.Close()
	replicas := make([]*searchemu.Server, cfg.replicas)
	for i := range replicas {
		name := fmt.Sprintf("replica-%d", i+1)
		srv, err := searchemu.New(searchemu.Options{Name: name, Logger: log}).
			Listen(ctx, fmt.Sprintf("127.0.0.1:%d", port(i+2)))
		if err != nil {
			return fmt.Errorf("starting %s: %w", name, err)
		}
		defer srv.Close()
		replicas[i] = srv
	}

	pcfg := proxy.DefaultConfig()
	pcfg.Listen = fmt.Sprintf("127.0.0.1:%d", port(0))
	pcfg.MetricsListen = fmt.Sprintf("127.0.0.1:%d", metricsPort(cfg.basePort, 0))
	pcfg.Primary.Endpoints = []string{primary.URL()}
	pcfg.Kafka.Brokers = kafka.ListenAddrs()
	pcfg.Publish.Topic = cfg.topic
	px, err := proxy.New(pcfg, proxy.Deps{Logger: log})
	if err != nil {
		return fmt.Errorf("starting the proxy: %w", err)
	}
	proxyDone := make(chan error, 1)
	pctx, stopProxy := context.WithCancel(context.WithoutCancel(ctx))
	go func() { proxyDone <- px.Run(pctx) }()
	defer func() { stopProxy(); <-proxyDone }()

	fmt.Fprintf(stdout, "fanout dev stack is up (Ctrl-C stops it)\n\n")
	fmt.Fprintf(stdout, "  proxy      %s  (metrics %s/metrics)\n", px.URL(), px.MetricsURL())
	fmt.Fprintf(stdout, "  primary    %s\n", primary.URL())
	for i, r := range replicas {
		fmt.Fprintf(stdout, "  replica-%d  %s\n", i+1, r.URL())
	}
	fmt.Fprintf(stdout, "  kafka      %s  (topic %s, %d partitions)\n", kafka.ListenAddrs()[0], cfg.topic, cfg.partitions)
	fmt.Fprintf(stdout, "\nWrite through the proxy, see the event in Kafka:\n")
	fmt.Fprintf(stdout, "  curl -s -XPUT '%s/books/_doc/1?refresh=true' -H 'Content-Type: application/json' -d '{\"title\":\"Dune\"}'\n", px.URL())
	fmt.Fprintf(stdout, "  kcat -C -b %s -t %s -e -f '%%k @%%o\\n'\n", kafka.ListenAddrs()[0], cfg.topic)
	fmt.Fprintf(stdout, "Fault injection on a cluster:\n  curl -s -XPUT '%s/_emu/faults' -d '{\"down_for\":\"10s\"}'\n\n", replicas[0].URL())
	fmt.Fprintf(stdout, "Coming next: one replicator per replica, so that writes reach every replica (issue 4).\n")

	<-ctx.Done()
	fmt.Fprintln(stdout, "\nstopping")
	return nil // the deferred calls stop the proxy, the clusters and Kafka
}

// metricsPort is where a service's metrics listen: 9464 and up by default, any free
// port when the stack uses free ports.
func metricsPort(basePort, i int) int {
	if basePort == 0 {
		return 0
	}
	return 9464 + i
}
