package kafkax_test

import (
	"strings"
	"testing"

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
