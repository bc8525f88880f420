package proxy

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

// Main is the fanout-proxy command: it loads the configuration (defaults < --config
// file < FANOUT_* env < flags), then runs the proxy until ctx is done. It returns the
// exit code: 0 ok, 1 runtime failure, 2 usage or configuration error.
func Main(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fanout-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "YAML configuration file")
	printCfg := fs.Bool("print-config", false, "print the effective configuration (secrets redacted) and exit")
	listen := fs.String("listen", "", "client listen address (listen)")
	primary := fs.String("primary", "", "primary endpoints, comma-separated (primary.endpoints)")
	brokers := fs.String("kafka-brokers", "", "Kafka seed brokers, comma-separated (kafka.brokers)")
	topic := fs.String("topic", "", "events topic (publish.topic)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fanout-proxy: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
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
	set("listen", *listen, false)
	set("primary.endpoints", *primary, true)
	set("kafka.brokers", *brokers, true)
	set("publish.topic", *topic, false)

	cfg := DefaultConfig()
	if err := config.Load(&cfg, config.Sources{File: *file, Environ: environ, Flags: flags}); err != nil {
		fmt.Fprintf(stderr, "fanout-proxy: %v\n", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "fanout-proxy: config: %v\n", err)
		return 2
	}
	if *printCfg {
		if err := config.Print(stdout, cfg); err != nil {
			fmt.Fprintf(stderr, "fanout-proxy: %v\n", err)
			return 1
		}
		return 0
	}
	log, err := telemetry.NewLogger(stderr, cfg.Log)
	if err != nil {
		fmt.Fprintf(stderr, "fanout-proxy: config: %v\n", err)
		return 2
	}
	p, err := New(cfg, Deps{Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "fanout-proxy: %v\n", err)
		return 1
	}
	if err := p.Run(ctx); err != nil {
		log.Error("fanout-proxy failed", "error", err)
		return 1
	}
	return 0
}
