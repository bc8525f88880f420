// Command fanout-proxy is the ingest proxy: point OpenSearch / Elasticsearch clients at
// it instead of the primary. Configuration: --config FILE, FANOUT_* env, flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/fanout-dev/fanout/services/proxy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(proxy.Main(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}
