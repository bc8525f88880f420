// Package kafkax_test checks pkg/kafkax against a real Kafka protocol implementation
// (kfake). It lives here, not in pkg, so that pkg's go.mod does not require kfake.
package kafkax_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/kafkax"
)

// TestSASL authenticates against kfake for real, and fails with a wrong password.
func TestSASL(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "fanout", "s3cret"), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for _, tt := range []struct {
		name, password string
		ok             bool
	}{{"right password", "s3cret", true}, {"wrong password", "nope", false}} {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := kafkax.Config{Brokers: c.ListenAddrs(), SASL: kafkax.SASL{Mechanism: "scram-sha-256", Username: "fanout", Password: tt.password}}.Opts()
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("x")}).FirstErr()
			if (err == nil) != tt.ok {
				t.Fatalf("produce err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
