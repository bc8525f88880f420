package replicator

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/fanout-dev/fanout/pkg/config"
	"github.com/fanout-dev/fanout/pkg/telemetry"
)

// Main is the fanout-replicator command: it loads the configuration (defaults <
// --config file < FANOUT_* env < flags), then replicates until ctx is done. It returns
// the exit code: 0 ok, 1 runtime failure, 2 usage or configuration error.
func Main(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fanout-replicator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "YAML configuration file")
	printCfg := fs.Bool("print-config", false, "print the effective configuration (secrets redacted) and exit")
	name := fs.String("target-name", "", "target cluster name (target.name)")
	endpoints := fs.String("target", "", "target endpoints, comma-separated (target.endpoints)")
	brokers := fs.String("kafka-brokers", "", "Kafka seed brokers, comma-separated (kafka.brokers)")
	topics := fs.String("topics", "", "event topics, comma-separated (consume.topics)")
	metrics := fs.String("metrics-listen", "", "metrics and admin listen address (metrics_listen)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fanout-replicator: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	flags := map[string]any{}
	set := func(key, v string, list bool) {
		if v == "" {
			return
		}
		if list {
			flags[key] = strings.Split(v, ",")
			return
		}
		flags[key] = v
	}
	set("target.name", *name, false)
	set("target.endpoints", *endpoints, true)
	set("kafka.brokers", *brokers, true)
	set("consume.topics", *topics, true)
	set("metrics_listen", *metrics, false)

	cfg := DefaultConfig()
	if err := config.Load(&cfg, config.Sources{File: *file, Environ: environ, Flags: flags}); err != nil {
		fmt.Fprintf(stderr, "fanout-replicator: %v\n", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "fanout-replicator: config: %v\n", err)
		return 2
	}
	if *printCfg {
		if err := config.Print(stdout, cfg); err != nil {
			fmt.Fprintf(stderr, "fanout-replicator: %v\n", err)
			return 1
		}
		return 0
	}
	log, err := telemetry.NewLogger(stderr, cfg.Log)
	if err != nil {
		fmt.Fprintf(stderr, "fanout-replicator: config: %v\n", err)
		return 2
	}
	r, err := New(cfg, Deps{Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "fanout-replicator: %v\n", err)
		return 1
	}
	if err := r.Run(ctx); err != nil {
		log.Error("fanout-replicator failed", "error", err)
		return 1
	}
	return 0
}
