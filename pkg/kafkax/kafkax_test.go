package kafkax_test

import (
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/config"
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

func TestWarnings(t *testing.T) {
	brokers := []string{"k:9092"}
	sasl := func(m string) kafkax.SASL { return kafkax.SASL{Mechanism: m, Username: "u", Password: "p"} }
	tests := []struct {
		name string
		cfg  kafkax.Config
		want []string
	}{
		{name: "plaintext without SASL", cfg: kafkax.Config{Brokers: brokers}},
		{name: "PLAIN over TLS", cfg: kafkax.Config{Brokers: brokers, TLS: config.TLS{Enabled: true}, SASL: sasl("plain")}},
		{name: "SCRAM over TLS", cfg: kafkax.Config{Brokers: brokers, TLS: config.TLS{Enabled: true}, SASL: sasl("scram-sha-512")}},
		{name: "PLAIN without TLS", cfg: kafkax.Config{Brokers: brokers, SASL: sasl("PLAIN")},
			want: []string{"kafka.sasl.mechanism: PLAIN without TLS (kafka.tls.enabled=false) sends the Kafka password in clear"}},
		{name: "SCRAM without TLS", cfg: kafkax.Config{Brokers: brokers, SASL: sasl("scram-sha-256")},
			want: []string{"kafka.sasl.mechanism: scram-sha-256 without TLS (kafka.tls.enabled=false) does not send the password, but the events cross the network in clear"}},
		{name: "skip verify", cfg: kafkax.Config{Brokers: brokers, TLS: config.TLS{Enabled: true, InsecureSkipVerify: true}, SASL: sasl("plain")},
			want: []string{"kafka.tls.insecure_skip_verify: certificate verification is off"}},
		{name: "TLS settings without enabled, PLAIN", cfg: kafkax.Config{Brokers: brokers, TLS: config.TLS{CAFile: "/ca.pem"}, SASL: sasl("plain")},
			want: []string{"kafka.tls.enabled: is false, so ca_file has no effect", "kafka.sasl.mechanism: PLAIN without TLS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.cfg.Warnings("kafka")
			if len(got) != len(tt.want) {
				t.Fatalf("warnings %v, want %v", got, tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i].String(), w) {
					t.Errorf("warning %d = %q, want it to start with %q", i, got[i], w)
				}
			}
		})
	}
}
