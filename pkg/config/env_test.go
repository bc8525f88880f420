package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/config"
)

// serviceLinks is what the kubelet puts in a pod's environment for a Service (its
// pkg/kubelet/envvars.FromServices): name, cluster IP, ports (number, protocol, name).
func serviceLinks(name, ip string, ports ...struct {
	port        int
	proto, name string
}) []string {
	prefix := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	host := ip
	if strings.Contains(ip, ":") {
		host = "[" + ip + "]"
	}
	env := []string{prefix + "_SERVICE_HOST=" + ip, fmt.Sprintf("%s_SERVICE_PORT=%d", prefix, ports[0].port)}
	for i, p := range ports {
		if p.name != "" {
			env = append(env, fmt.Sprintf("%s_SERVICE_PORT_%s=%d", prefix, strings.ToUpper(strings.ReplaceAll(p.name, "-", "_")), p.port))
		}
		url := fmt.Sprintf("%s://%s:%d", strings.ToLower(p.proto), host, p.port)
		if i == 0 {
			env = append(env, prefix+"_PORT="+url)
		}
		pp := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.port, p.proto)
		env = append(env, pp+"="+url, pp+"_PROTO="+strings.ToLower(p.proto), fmt.Sprintf("%s_PORT=%d", pp, p.port), pp+"_ADDR="+ip)
	}
	return env
}

type port = struct {
	port        int
	proto, name string
}

// TestServiceLinksAreIgnored: a pod next to Services named fanout, fanout-proxy or
// fanout-replicator-b starts, strict or not, and says nothing about their variables.
func TestServiceLinksAreIgnored(t *testing.T) {
	cases := map[string][]string{
		"fanout":              serviceLinks("fanout", "10.0.0.1", port{9200, "TCP", ""}),
		"fanout-proxy":        serviceLinks("fanout-proxy", "10.96.3.7", port{9200, "TCP", "http"}, port{9464, "TCP", "metrics"}),
		"fanout-replicator-b": serviceLinks("fanout-replicator-b", "10.96.0.12", port{9464, "TCP", "admin-http"}, port{53, "UDP", "dns"}, port{7000, "SCTP", ""}),
		"fanout, IPv6":        serviceLinks("fanout", "fd00:10:96::a", port{9200, "TCP", "http"}),
	}
	for name, env := range cases {
		t.Run(name, func(t *testing.T) {
			for _, strict := range []bool{false, true} {
				cfg := defaults()
				ws, err := config.Load(&cfg, config.Sources{Environ: append(env, "FANOUT_LISTEN=:7"), StrictEnv: strict})
				if err != nil {
					t.Fatalf("strict=%v: %v (environment %q)", strict, err, env)
				}
				if len(ws) != 0 {
					t.Fatalf("strict=%v: warnings %v", strict, ws)
				}
				if cfg.Listen != ":7" {
					t.Fatalf("a known key next to service links was not applied: listen %q", cfg.Listen)
				}
			}
		})
	}
}

// TestServiceLinkShapes: the name and the value must both have a service link's shape;
// a fanout key whose name ends like one is still a typo to report.
func TestServiceLinkShapes(t *testing.T) {
	tests := []struct {
		kv   string
		link bool
	}{
		{"FANOUT_PROXY_SERVICE_HOST=10.0.0.1", true},
		{"FANOUT_PROXY_SERVICE_HOST=proxy.local", false},
		{"FANOUT_PROXY_SERVICE_PORT=9200", true},
		{"FANOUT_PROXY_SERVICE_PORT_HTTP_API=9200", true},
		{"FANOUT_PROXY_SERVICE_PORT=09200", false},
		{"FANOUT_PROXY_SERVICE_PORT=70000", false},
		{"FANOUT_PROXY_PORT=tcp://10.0.0.1:9200", true},
		{"FANOUT_ADMIN_PORT=9200", false},
		{"FANOUT_PROXY_PORT=http://10.0.0.1:9200", false},
		{"FANOUT_PROXY_PORT=tcp://proxy:9200", false},
		{"FANOUT_PROXY_PORT_9200_TCP=tcp://10.0.0.1:9200", true},
		{"FANOUT_PROXY_PORT_9200_TCP=tcp://10.0.0.1:9300", false},
		{"FANOUT_PROXY_PORT_9200_TCP=udp://10.0.0.1:9200", false},
		{"FANOUT_PROXY_PORT_9200_TCP_PROTO=tcp", true},
		{"FANOUT_PROXY_PORT_9200_TCP_PROTO=udp", false},
		{"FANOUT_PROXY_PORT_9200_TCP_PORT=9200", true},
		{"FANOUT_PROXY_PORT_9200_TCP_PORT=9201", false},
		{"FANOUT_PROXY_PORT_9200_TCP_ADDR=10.0.0.1", true},
		{"FANOUT_PROXY_PORT_9200_TCP_ADDR=proxy", false},
		{"FANOUT_PROXY_PORT_53_UDP_ADDR=fd00::1", true},
		{"FANOUT_KAFKA_BROKERS_PORT=tcp://10.0.0.1:9092", true},
	}
	for _, tt := range tests {
		name, value, _ := strings.Cut(tt.kv, "=")
		if got := config.ServiceLink(name, value); got != tt.link {
			t.Errorf("ServiceLink(%s) = %v, want %v", tt.kv, got, tt.link)
		}
	}
}

// TestUnknownEnvWarns: a misspelt variable is ignored with a warning naming the nearest
// key, or refused when strict; a correct one still wins over the file.
func TestUnknownEnvWarns(t *testing.T) {
	file := writeFile(t, "listen: ':1'\nkafka:\n  topic: from-file\n")
	env := []string{"FANOUT_KAFKA_BROKER=x:1", "FANOUT_KAFKA_TOPIC=from-env", "FANOUT_SRC=/src"}

	cfg := defaults()
	ws, err := config.Load(&cfg, config.Sources{File: file, Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.Topic != "from-env" || cfg.Listen != ":1" || strings.Join(cfg.Kafka.Brokers, ",") != "a:9092,b:9092" {
		t.Fatalf("loaded %+v", cfg)
	}
	got := make([]string, len(ws))
	for i, w := range ws {
		got[i] = w.String()
	}
	want := []string{
		"environment FANOUT_KAFKA_BROKER: names no configuration key and is ignored (did you mean FANOUT_KAFKA_BROKERS?); --strict-env makes this an error",
		"environment FANOUT_SRC: names no configuration key and is ignored; --strict-env makes this an error",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("warnings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	for _, src := range []config.Sources{
		{File: file, Environ: env, StrictEnv: true},
		{File: file, Environ: append(env, "FANOUT_STRICT_ENV=1")},
		{File: writeFile(t, "strict_env: true\n"), Environ: env},
	} {
		cfg := defaults()
		if _, err := config.Load(&cfg, src); err == nil || err.Error() != "config: unknown environment variable FANOUT_KAFKA_BROKER (did you mean FANOUT_KAFKA_BROKERS?)" {
			t.Errorf("strict load of %+v: err %v", src, err)
		}
		if s, err := config.Strict(src); !s || err != nil {
			t.Errorf("Strict(%+v) = %v, %v", src, s, err)
		}
	}
	if s, err := config.Strict(config.Sources{File: file, Environ: env}); s || err != nil {
		t.Errorf("Strict of a plain source = %v, %v", s, err)
	}
}
