// Command fanoutctl is fanout's operator tool: the local dev stack, topic creation,
// status and lag, pause and resume, and the dead-letter topics (list, show, replay).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/fanout-dev/fanout/services/fanoutctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first Ctrl-C asks the command to stop cleanly; from then on the
		// default handling is back, so a second one ends the process at once.
		<-ctx.Done()
		stop()
	}()
	code := fanoutctl.Main(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
