// Package fanoutctl is the operator's CLI as a library, so that tests and the thin main
// run the same code: Main parses the arguments and runs one command.
package fanoutctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// UsageError is a bad command line or configuration; the CLI exits 2 on it.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &UsageError{msg: fmt.Sprintf(format, args...)}
}

const usage = `usage: fanoutctl <command> [flags]

commands:
  dev    run a local stack: embedded Kafka, a primary and replica clusters (in memory)

Run 'fanoutctl <command> -h' for a command's flags.`

// Main runs the command named by args[0].
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return usagef("no command given")
	}
	switch args[0] {
	case "dev":
		return runDev(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return usagef("unknown command %q", args[0])
	}
}

// parseFlags parses a command's flags, turning flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected arguments: %s", fs.Name(), strings.Join(fs.Args(), " "))
	}
	return nil
}
