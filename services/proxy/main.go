package proxy

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/fanout-dev/fanout/pkg/config"
	"github.com/fanout-dev/fanout/pkg/telemetry"
)

// Main is the fanout-proxy command: it loads the configuration (defaults < --config
// file < FANOUT_* env < flags), then runs the proxy until ctx is done. It returns the
// exit code: 0 ok, 1 runtime failure, 2 usage or configuration error.
func Main(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	return config.Command[Config]{
		Name:     "fanout-proxy",
		Defaults: DefaultConfig,
		Validate: Config.Validate,
		Warnings: Config.Warnings,
		Flags: []config.Flag{
			{Name: "listen", Key: "listen", Usage: "client listen address"},
			{Name: "primary", Key: "primary.endpoints", Usage: "primary endpoints, comma-separated", List: true},
			{Name: "kafka-brokers", Key: "kafka.brokers", Usage: "Kafka seed brokers, comma-separated", List: true},
			{Name: "topic", Key: "publish.topic", Usage: "events topic"},
		},
		Run: func(ctx context.Context, cfg Config, stderr io.Writer) error {
			log, err := telemetry.NewLogger(stderr, cfg.Log)
			if err != nil {
				return err
			}
			p, err := New(cfg, Deps{Logger: log})
			if err != nil {
				return err
			}
			// SIGHUP re-reads the certificate and credentials files (they are also
			// picked up by themselves when they change).
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						if err := p.Reload(); err != nil {
							log.Error("reload on SIGHUP: kept what could not be loaded", "error", err)
						} else {
							log.Info("reloaded the TLS and credentials files on SIGHUP")
						}
					}
				}
			}()
			return p.Run(ctx)
		},
	}.Main(ctx, args, environ, stdout, stderr)
}
