package fanoutctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// devConfig is the dev stack's command line.
type devConfig struct {
	replicas    int
	partitions  int
	topic       string
	basePort    int
	kafkaPort   int
	kafka       string
	primary     string
	replicaURLs listFlag
	verbose     bool
	flavor      searchemu.Flavor
}

// devStack is what runDev started, for printing.
type devStack struct {
	cfg         devConfig
	brokers     []string
	proxyURL    string
	proxyAdmin  string
	proxyDir    string // the proxy's spool and intent log
	primaryURL  string
	replicaURLs []string
	names       []string
	groups      []string
	admins      []string // the replicators' admin listeners
	metrics     []string // the replicators' metrics listeners
	embedded    struct{ kafka, primary, replicas bool }
}

// runDev starts the local stack and blocks until ctx is done: embedded Kafka, a primary
// and replica clusters (or real ones), the proxy in front of the primary and one
// replicator per replica.
func runDev(ctx context.Context, args []string, e *env) error {
	cfg := devConfig{}
	fs := newFlagSet("dev", e)
	fs.IntVar(&cfg.replicas, "replicas", 2, "number of embedded replica clusters (ignored with --replica)")
	fs.IntVar(&cfg.partitions, "partitions", 12, "partitions of the ops topic")
	fs.StringVar(&cfg.topic, "topic", "fanout.ops", "the ops topic")
	fs.IntVar(&cfg.basePort, "base-port", 9200, "port of the proxy; the primary and the replicas take the next ones, metrics base+264 and up, replicator admin base+275 and up (0: any free ports)")
	fs.IntVar(&cfg.kafkaPort, "kafka-port", 9092, "port of the embedded Kafka broker (0: any free port)")
	fs.StringVar(&cfg.kafka, "kafka", "", "use this Kafka (seed `brokers`, comma-separated) instead of the embedded one")
	fs.StringVar(&cfg.primary, "primary", "", "use this primary cluster (`URL`) instead of an embedded one")
	fs.Var(&cfg.replicaURLs, "replica", "use this replica cluster (`URL`) instead of embedded ones; repeat for several")
	fs.BoolVar(&cfg.verbose, "v", false, "log at info level (default: warnings only)")
	flavor := fs.String("flavor", searchemu.OpenSearch2.String(), "product the embedded clusters answer as (`name`: "+flavorNames()+")")
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	f, ferr := searchemu.ParseFlavor(*flavor)
	if ferr != nil {
		return usagef("dev: --flavor %q: want one of %s", *flavor, flavorNames())
	}
	cfg.flavor = f
	if len(cfg.replicaURLs) > 0 {
		cfg.replicas = len(cfg.replicaURLs)
	}
	switch {
	case cfg.replicas < 1 || cfg.replicas > 16:
		return usagef("dev: --replicas must be between 1 and 16, got %d", cfg.replicas)
	case cfg.partitions < 1:
		return usagef("dev: --partitions must be at least 1, got %d", cfg.partitions)
	case cfg.topic == "":
		return usagef("dev: --topic must not be empty")
	case cfg.basePort < 0 || highestPort(cfg.basePort, cfg.replicas) > 65535:
		return usagef("dev: --base-port %d out of range: the stack takes ports up to %d (at most 65535)",
			cfg.basePort, highestPort(cfg.basePort, cfg.replicas))
	}
	for _, u := range append([]string{cfg.primary}, cfg.replicaURLs...) {
		if u == "" {
			continue
		}
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return usagef("dev: %q is not an http(s) URL", u)
		}
	}
	var brokers []string
	if cfg.kafka != "" {
		for _, b := range strings.Split(cfg.kafka, ",") {
			if _, _, err := net.SplitHostPort(strings.TrimSpace(b)); err != nil {
				return usagef("dev: --kafka: %q is not host:port", b)
			}
			brokers = append(brokers, strings.TrimSpace(b))
		}
	}

	level := slog.LevelWarn
	if cfg.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	st := &devStack{cfg: cfg}

	// Kafka.
	if len(brokers) == 0 {
		kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(cfg.kafkaPort),
			kfake.SeedTopics(int32(cfg.partitions), cfg.topic))
		if err != nil {
			return fmt.Errorf("starting embedded Kafka on port %d: %w", cfg.kafkaPort, err)
		}
		defer kafka.Close()
		brokers = kafka.ListenAddrs()
		st.embedded.kafka = true
	} else if err := ensureTopic(ctx, brokers, cfg.topic, cfg.partitions); err != nil {
		return err
	}
	st.brokers = brokers

	port := func(i int) int {
		if cfg.basePort == 0 {
			return 0
		}
		return cfg.basePort + i
	}
	// Clusters. They outlive ctx: the replicators still write to them while draining;
	// the deferred Close calls stop them last.
	clusterCtx := context.WithoutCancel(ctx)
	st.primaryURL = cfg.primary
	if st.primaryURL == "" {
		primary, err := searchemu.New(searchemu.Options{Name: "primary", Logger: log, Flavor: cfg.flavor}).
			Listen(clusterCtx, fmt.Sprintf("127.0.0.1:%d", port(1)))
		if err != nil {
			return fmt.Errorf("starting the primary cluster: %w", err)
		}
		defer primary.Close()
		st.primaryURL = primary.URL()
		st.embedded.primary = true
	}
	for i := 0; i < cfg.replicas; i++ {
		name := fmt.Sprintf("replica-%d", i+1)
		st.names = append(st.names, name)
		if len(cfg.replicaURLs) > 0 {
			st.replicaURLs = append(st.replicaURLs, cfg.replicaURLs[i])
			continue
		}
		srv, err := searchemu.New(searchemu.Options{Name: name, Logger: log, Flavor: cfg.flavor}).
			Listen(clusterCtx, fmt.Sprintf("127.0.0.1:%d", port(i+2)))
		if err != nil {
			return fmt.Errorf("starting %s: %w", name, err)
		}
		defer srv.Close()
		st.replicaURLs = append(st.replicaURLs, srv.URL())
		st.embedded.replicas = true
	}

	// The proxy runs as in production: a spool (a 2xx while Kafka is down) and an
	// intent log (nothing lost if it dies), in a directory of this stack's own.
	dir, err := os.MkdirTemp("", "fanout-dev-proxy-")
	if err != nil {
		return fmt.Errorf("the proxy's directory: %w", err)
	}
	st.proxyDir = dir
	defer os.RemoveAll(dir) // after stopAll (deferred below) stopped the proxy

	// The engines run until stop; one that fails stops the stack.
	engineCtx, stopEngines := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngines()
	failed := make(chan error, 1+cfg.replicas)
	type running struct {
		name string
		done chan error
	}
	var engines []running
	start := func(name string, run func(context.Context) error) {
		r := running{name: name, done: make(chan error, 1)}
		go func() {
			err := run(engineCtx)
			r.done <- err
			if err != nil {
				failed <- fmt.Errorf("%s: %w", name, err)
			}
		}()
		engines = append(engines, r)
	}
	// Stopped in reverse: replicators first would leave the proxy publishing to no
	// one, which is harmless; the proxy first stops intake, then replicators drain.
	stopAll := func() {
		stopEngines()
		deadline := time.After(15 * time.Second)
		for _, r := range engines {
			select {
			case err := <-r.done:
				if err != nil && !errors.Is(err, context.Canceled) {
					fmt.Fprintf(e.stderr, "fanoutctl: %s stopped with: %v\n", r.name, err)
				}
			case <-deadline:
				fmt.Fprintf(e.stderr, "fanoutctl: %s did not stop in time\n", r.name)
			}
		}
	}
	defer stopAll()

	pcfg := proxy.DefaultConfig()
	pcfg.Listen = fmt.Sprintf("127.0.0.1:%d", port(0))
	pcfg.MetricsListen = fmt.Sprintf("127.0.0.1:%d", metricsPort(cfg.basePort, 0))
	pcfg.Primary.Endpoints = []string{st.primaryURL}
	pcfg.Kafka.Brokers = brokers
	pcfg.Publish.Topic = cfg.topic
	pcfg.Limits.ShutdownTimeout = 5 * time.Second
	pcfg.Limits.ReadinessInterval = time.Second
	pcfg.Spool.Dir = filepath.Join(st.proxyDir, "spool")
	pcfg.Recovery.Dir = filepath.Join(st.proxyDir, "intents")
	px, err := proxy.New(pcfg, proxy.Deps{Logger: log.With("component", "proxy")})
	if err != nil {
		return fmt.Errorf("starting the proxy: %w", err)
	}
	st.proxyURL, st.proxyAdmin = px.URL(), px.MetricsURL()
	start("proxy", px.Run)

	for i, name := range st.names {
		rcfg := devReplicatorConfig(name, st.replicaURLs[i], st.primaryURL, brokers, cfg.topic,
			fmt.Sprintf("127.0.0.1:%d", metricsPort(cfg.basePort, i+1)),
			fmt.Sprintf("127.0.0.1:%d", adminPort(cfg.basePort, len(st.names), i+1)))
		r, err := replicator.New(rcfg, replicator.Deps{Logger: log.With("component", "replicator")})
		if err != nil {
			return fmt.Errorf("starting the replicator of %s: %w", name, err)
		}
		st.groups = append(st.groups, r.Group())
		st.admins = append(st.admins, r.AdminURL())
		st.metrics = append(st.metrics, r.MetricsURL())
		start("replicator "+name, r.Run)
	}

	st.print(e.stdout)

	select {
	case <-ctx.Done():
		fmt.Fprintln(e.stdout, "\nstopping: the proxy and the replicators drain, then the clusters stop")
		return nil // the deferred calls stop everything
	case err := <-failed:
		return fmt.Errorf("dev stack stopped: %w", err)
	}
}

// devReplicatorConfig is the configuration of the dev stack's replicator for one
// replica: quick commits and lag readings, short drains, the admin routes on loopback
// without a token, and the primary to resolve late events against (late_events.window).
func devReplicatorConfig(name, target, primary string, brokers []string, topic, metrics, admin string) replicator.Config {
	c := replicator.DefaultConfig()
	c.MetricsListen = metrics
	c.Admin.Listen = admin
	c.Target.Name = name
	c.Target.Endpoints = []string{target}
	c.Target.Timeout = 30 * time.Second
	c.Primary.Endpoints = []string{primary}
	c.Primary.Timeout = 30 * time.Second
	c.Kafka.Brokers = brokers
	c.Kafka.ClientID = "fanout-replicator-" + name
	c.Consume.Topics = []string{topic}
	c.Consume.CommitInterval = time.Second
	c.Consume.LagInterval = time.Second
	c.Consume.FetchMaxWait = 200 * time.Millisecond
	c.Consume.SessionTimeout = 10 * time.Second
	c.Consume.RebalanceTimeout = 15 * time.Second
	c.Retry.Max = 5 * time.Second
	c.Limits.ShutdownTimeout = 5 * time.Second
	c.Limits.ProbeInterval = time.Second
	return c
}

// ensureTopic creates the ops topic on a real Kafka if it is missing.
func ensureTopic(ctx context.Context, brokers []string, topic string, partitions int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("fanoutctl"))
	if err != nil {
		return fmt.Errorf("connecting to Kafka %s: %w", strings.Join(brokers, ","), err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, int32(partitions), -1, nil, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s on %s: %w", topic, strings.Join(brokers, ","), err)
	}
	return nil
}

func (st *devStack) print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	kind := func(embedded bool) string {
		if embedded {
			return "in memory"
		}
		return "yours"
	}
	p("fanout dev stack is up (Ctrl-C stops it)\n\n")
	p("  proxy      %s  (metrics %s/metrics; spool and intent log in %s)\n", st.proxyURL, st.proxyAdmin, st.proxyDir)
	p("  primary    %s  (%s)\n", st.primaryURL, kind(st.embedded.primary))
	for i, name := range st.names {
		p("  %-9s  %s  (%s; replicator admin %s/admin/status, metrics %s/metrics, group %s)\n",
			name, st.replicaURLs[i], kind(st.embedded.replicas), st.admins[i], st.metrics[i], st.groups[i])
	}
	p("  kafka      %s  (%s; topic %s, %d partitions)\n", strings.Join(st.brokers, ","), kind(st.embedded.kafka), st.cfg.topic, st.cfg.partitions)

	first := st.replicaURLs[0]
	p("\nWrite through the proxy, read from %s:\n", st.names[0])
	p("  curl -s -XPUT '%s/books/_doc/1?refresh=true' -H 'Content-Type: application/json' -d '{\"title\":\"Dune\"}'\n", st.proxyURL)
	p("  curl -s '%s/books/_doc/1'\n", first)

	brokers := ""
	if b := strings.Join(st.brokers, ","); b != "127.0.0.1:9092" {
		brokers = " --brokers " + b
	}
	admins := ""
	for _, a := range st.admins {
		admins += " --admin " + a
	}
	p("\nOperate it (fanoutctl = go run ./services/fanoutctl/cmd/fanoutctl):\n")
	p("  fanoutctl status%s%s\n", brokers, admins)
	p("  fanoutctl pause --cluster %s --admin %s\n", st.names[0], st.admins[0])
	p("  fanoutctl dlq list --cluster %s%s\n", st.names[0], brokers)
	p("  fanoutctl dlq replay --cluster %s%s --target %s --primary %s\n", st.names[0], brokers, first, st.primaryURL)
	p("  fanoutctl spool status %s\n", filepath.Join(st.proxyDir, "spool"))
	if st.embedded.replicas {
		p("Fault injection on a cluster:\n  curl -s -XPUT '%s/_emu/faults' -d '{\"down_for\":\"10s\"}'\n", first)
	}
	p("\n")
}

// The dev stack's ports, from --base-port B (9200 by default): the proxy on B, the
// primary on B+1, the replicas on B+2 and up; metrics on B+264 (the proxy) and up (one
// per replicator), and the replicators' admin routes above the metrics block, from B+275.
// At the default base these are the services' own defaults (proxy metrics 9464,
// replicator metrics 9465, admin 9475), and a second stack at another base (say 10200)
// binds none of the first one's ports. Base 0 takes any free ports for all of them.
const (
	metricsOffset = 264
	// adminBlock is where the admin block starts above metricsOffset: after the
	// metrics of ten replicators, or of all of them when there are more.
	adminBlock = 10
)

// metricsPort is where service i listens for metrics (0: the proxy, i ≥ 1: the i-th
// replicator).
func metricsPort(basePort, i int) int {
	if basePort == 0 {
		return 0
	}
	return basePort + metricsOffset + i
}

// adminPort is where the i-th replicator's admin routes listen (i from 1) in a stack of
// replicas replicators.
func adminPort(basePort, replicas, i int) int {
	if basePort == 0 {
		return 0
	}
	return basePort + metricsOffset + max(adminBlock, replicas) + i
}

// highestPort is the highest port a stack at basePort takes.
func highestPort(basePort, replicas int) int { return adminPort(basePort, replicas, replicas) }

// flavorNames lists the emulator's flavours for --flavor.
func flavorNames() string {
	var names []string
	for _, f := range searchemu.Flavors() {
		names = append(names, f.String())
	}
	return strings.Join(names, ", ")
}
