// Command fanout-replicator applies the ingest proxy's events to one target cluster.
// Run as many copies per target as needed; Kafka spreads the partitions among them.
// Configuration: --config FILE, FANOUT_* env, flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/fanout-dev/fanout/services/replicator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(replicator.Main(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}
