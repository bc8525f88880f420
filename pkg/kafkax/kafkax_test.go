package kafkax_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/kafkax"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     kafkax.Config
		wantErr string
	}{
		{name: "ok", cfg: kafkax.Config{Brokers: []string{"127.0.0.1:9092"}}},
		{name: "no brokers", wantErr: "kafka.brokers: at least one"},
		{name: "no port", cfg: kafkax.Config{Brokers: []string{"kafka"}}, wantErr: `"kafka" is not host:port`},
		{name: "bad mechanism", cfg: kafkax.Config{Brokers: []string{"a:1"}, SASL: kafkax.SASL{Mechanism: "gssapi"}}, wantErr: "kafka.sasl.mechanism"},
		{name: "no user", cfg: kafkax.Config{Brokers: []string{"a:1"}, SASL: kafkax.SASL{Mechanism: "plain"}}, wantErr: "kafka.sasl.username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate("kafka")
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

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
