// Package fanoutctl is the operator's CLI as a library, so that tests and the thin main
// run the same code: Main parses the arguments, runs one command and returns the exit
// code.
//
// Every command reads the replicator's configuration (--config, the file a
// fanout-replicator runs with, then FANOUT_* environment variables, then flags), needs
// only Kafka and, for some, the search clusters and the replicator's admin address, and
// prints human tables or, with -o json, stable JSON for scripts.
package fanoutctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/buildinfo"
)

// Exit codes of Main.
const (
	// ExitOK: the command did all it was asked.
	ExitOK = 0
	// ExitFailure: the command failed, or did part of its work (some records failed
	// again, a replicator could not be reached). The last line on stderr says why.
	ExitFailure = 1
	// ExitUsage: a bad command line or configuration; nothing was done.
	ExitUsage = 2
)

// UsageError is a bad command line or configuration; the CLI exits 2 on it.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &UsageError{msg: fmt.Sprintf(format, args...)}
}

// PartialError is a command that did only part of its work: what it did is printed, and
// the error says what it could not do. The CLI exits 1 on it, as on any other failure.
type PartialError struct{ msg string }

func (e *PartialError) Error() string { return e.msg }

func partialf(format string, args ...any) error {
	return &PartialError{msg: fmt.Sprintf(format, args...)}
}

const usage = `usage: fanoutctl <command> [flags]

commands:
  dev              run a local stack: embedded Kafka, a primary, replica clusters, the
                   proxy and one replicator per replica
  topics create    create the ops topic and the dead-letter topics (idempotent)
  status           per target: consumer group, members, lag, oldest unapplied event,
                   and the replicator's state
  pause            pause a target's replicators (admin endpoint)
  resume           resume them
  dlq list         dead-letter records grouped by error type and index
  dlq show         dead-letter records with their headers and document
  dlq replay       apply dead-letter records to their target again
  verify           compare a target with the primary, document by document
  backfill         copy the primary into a target while writes and replication go on,
                   and set up the target's replicator group where the copy starts
  spool status     what a proxy's spool directory holds: records, bytes, oldest age,
                   segments, and which process has it open
  spool drain      publish a spool's records to Kafka, in order (refused while a
                   proxy has the directory open)

Run 'fanoutctl <command> -h' for a command's flags, 'fanoutctl --version' for the build. Exit codes: 0 ok, 1 failure or
partial failure, 2 usage or configuration error.`

// Main runs the command named by args[0] and returns the exit code. environ is the
// process environment (FANOUT_* variables configure like the replicator's).
func Main(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	return exitCode(run(ctx, args, &env{stdout: stdout, stderr: stderr, environ: environ}), stderr)
}

// env is what a command gets besides its arguments.
type env struct {
	stdout, stderr io.Writer
	environ        []string
	deps           deps
}

// deps are knobs for tests only, never settable from the command line or a file.
type deps struct {
	// kafkaOpts are added to every Kafka client (tests shorten metadata ages).
	kafkaOpts []kgo.Opt
	// now is the clock; nil means time.Now.
	now func() time.Time
	// replay observes and interrupts dlq replay between its steps.
	replay replayHooks
	// backfill observes and steers fanoutctl backfill.
	backfill backfillHooks
	// repair observes and steers verify --repair.
	repair repairHooks
}

func (e *env) now() time.Time {
	if e.deps.now != nil {
		return e.deps.now()
	}
	return time.Now()
}

func run(ctx context.Context, args []string, e *env) error {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, usage)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	sub := func(name string, subs map[string]func(context.Context, []string, *env) error) error {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			if len(rest) > 0 && isHelp(rest[0]) {
				fmt.Fprintln(e.stdout, usage)
				return nil
			}
			return usagef("%s: which one? %s", name, strings.Join(sortedKeys(subs), ", "))
		}
		f, ok := subs[rest[0]]
		if !ok {
			return usagef("%s: unknown command %q (want %s)", name, rest[0], strings.Join(sortedKeys(subs), ", "))
		}
		return f(ctx, rest[1:], e)
	}
	switch cmd {
	case "dev":
		return runDev(ctx, rest, e)
	case "topics":
		return sub("topics", map[string]func(context.Context, []string, *env) error{"create": runTopicsCreate})
	case "status":
		return runStatus(ctx, rest, e)
	case "pause":
		return runPauseResume(ctx, rest, e, true)
	case "resume":
		return runPauseResume(ctx, rest, e, false)
	case "dlq":
		return sub("dlq", map[string]func(context.Context, []string, *env) error{
			"list": runDLQList, "show": runDLQShow, "replay": runDLQReplay,
		})
	case "verify":
		return runVerify(ctx, rest, e)
	case "backfill":
		return runBackfill(ctx, rest, e)
	case "spool":
		return sub("spool", map[string]func(context.Context, []string, *env) error{
			"status": runSpoolStatus, "drain": runSpoolDrain,
		})
	case "help":
		fmt.Fprintln(e.stdout, usage)
		return nil
	case "--version", "-version", "version":
		if len(rest) > 0 {
			return usagef("%s: unexpected arguments: %s", cmd, strings.Join(rest, " "))
		}
		fmt.Fprintln(e.stdout, buildinfo.Get().Line("fanoutctl"))
		return nil
	default:
		if isHelp(cmd) {
			fmt.Fprintln(e.stdout, usage)
			return nil
		}
		fmt.Fprintln(e.stderr, usage)
		return usagef("unknown command %q", cmd)
	}
}

func isHelp(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

// exitCode prints err as one line on stderr and maps it to the exit code.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, errHelp) {
		return ExitOK
	}
	// One clear line: errors that quote a target's answer may hold line breaks.
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	fmt.Fprintln(stderr, "fanoutctl:", msg)
	var u *UsageError
	if errors.As(err, &u) {
		return ExitUsage
	}
	return ExitFailure
}
