// Command fanoutctl is fanout's operator tool. Today it runs the local dev stack; DLQ
// replay, status and topic management follow.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/fanout-dev/fanout/services/fanoutctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := fanoutctl.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var usage *fanoutctl.UsageError
	switch {
	case err == nil:
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "fanoutctl:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "fanoutctl:", err)
		os.Exit(1)
	}
}
