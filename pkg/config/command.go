package config

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/fanout-dev/fanout/pkg/buildinfo"
)

// Flag is a command-line shortcut for one configuration key.
type Flag struct {
	Name  string // flag name, e.g. "kafka-brokers"
	Key   string // configuration key, e.g. "kafka.brokers"
	Usage string
	List  bool // comma-separated list
}

// Command is a service's command line: --config FILE, --print-config, --version and shortcut
// flags over the configuration C, then Run. Every fanout service uses it, so they all
// load, validate, print and exit the same way.
type Command[C any] struct {
	Name     string // program name, prefixes every error
	Defaults func() C
	Validate func(C) error
	// Warnings lists the configuration's insecure or ineffective settings, which
	// --print-config shows as comments; nil for none. (The service logs them itself
	// when it starts, so that every caller of its engine sees them.)
	Warnings func(C) []Warning
	Flags    []Flag
	// Run runs the service until ctx is done; an error exits 1.
	Run func(ctx context.Context, cfg C, stderr io.Writer) error
}

// Main parses args, loads the configuration (defaults < --config file < FANOUT_* env
// < flags) and runs the command. It returns the exit code: 0 ok, 1 runtime failure,
// 2 usage or configuration error; every error is one line on stderr.
func (c Command[C]) Main(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "YAML configuration file")
	printCfg := fs.Bool("print-config", false, "print the effective configuration (secrets redacted) and exit")
	showVersion := fs.Bool("version", false, "print the version, commit and Go version and exit")
	strictEnv := fs.Bool("strict-env", false, "refuse to start when a FANOUT_* environment variable names no configuration key (also FANOUT_STRICT_ENV=true, or strict_env: true in the file)")
	values := make([]*string, len(c.Flags))
	for i, f := range c.Flags {
		values[i] = fs.String(f.Name, "", fmt.Sprintf("%s (%s)", f.Usage, f.Key))
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments: %s\n", c.Name, strings.Join(fs.Args(), " "))
		return 2
	}
	// Before the configuration is loaded: the version must print wherever the binary
	// is, configured or not.
	if *showVersion {
		fmt.Fprintln(stdout, buildinfo.Get().Line(c.Name))
		return 0
	}
	flags := map[string]any{}
	for i, f := range c.Flags {
		v := *values[i]
		switch {
		case v == "":
		case f.List:
			flags[f.Key] = strings.Split(v, ",")
		default:
			flags[f.Key] = v
		}
	}

	cfg := c.Defaults()
	envWarnings, err := Load(&cfg, Sources{File: *file, Environ: environ, Flags: flags, StrictEnv: *strictEnv})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", c.Name, err)
		return 2
	}
	if err := c.Validate(cfg); err != nil {
		fmt.Fprintf(stderr, "%s: config: %v\n", c.Name, err)
		return 2
	}
	// Before the service's own logging starts: these are about how it was started.
	for _, w := range envWarnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", c.Name, w)
	}
	if *printCfg {
		ws := envWarnings
		if c.Warnings != nil {
			ws = append(ws, c.Warnings(cfg)...)
		}
		if err := Print(stdout, cfg, ws...); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", c.Name, err)
			return 1
		}
		return 0
	}
	if err := c.Run(ctx, cfg, stderr); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", c.Name, err)
		return 1
	}
	return 0
}
