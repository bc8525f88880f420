package replicator

import (
	"context"
	"io"

	"github.com/fanout-dev/fanout/pkg/config"
	"github.com/fanout-dev/fanout/pkg/telemetry"
)

// Main is the fanout-replicator command: it loads the configuration (defaults <
// --config file < FANOUT_* env < flags), then replicates until ctx is done. It returns
// the exit code: 0 ok, 1 runtime failure, 2 usage or configuration error.
func Main(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	return config.Command[Config]{
		Name:     "fanout-replicator",
		Defaults: DefaultConfig,
		Validate: Config.Validate,
		Warnings: Config.Warnings,
		Flags: []config.Flag{
			{Name: "target-name", Key: "target.name", Usage: "target cluster name"},
			{Name: "target", Key: "target.endpoints", Usage: "target endpoints, comma-separated", List: true},
			{Name: "primary", Key: "primary.endpoints", Usage: "primary endpoints, comma-separated: late INDEX events are resolved against it", List: true},
			{Name: "kafka-brokers", Key: "kafka.brokers", Usage: "Kafka seed brokers, comma-separated", List: true},
			{Name: "topics", Key: "consume.topics", Usage: "event topics, comma-separated", List: true},
			{Name: "metrics-listen", Key: "metrics_listen", Usage: "metrics listen address"},
			{Name: "admin-listen", Key: "admin.listen", Usage: "admin listen address"},
		},
		Run: func(ctx context.Context, cfg Config, stderr io.Writer) error {
			log, err := telemetry.NewLogger(stderr, cfg.Log)
			if err != nil {
				return err
			}
			r, err := New(cfg, Deps{Logger: log})
			if err != nil {
				return err
			}
			return r.Run(ctx)
		},
	}.Main(ctx, args, environ, stdout, stderr)
}
