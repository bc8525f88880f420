package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/services/fanoutctl"
	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// kubeServiceLinks is what the kubelet puts in every pod's environment for a Service
// with enableServiceLinks on (pkg/kubelet/envvars.FromServices): a named port, an
// unnamed one, and the docker-style link variables of each.
func kubeServiceLinks(service, ip string) []string {
	p := strings.ToUpper(strings.ReplaceAll(service, "-", "_"))
	env := []string{
		p + "_SERVICE_HOST=" + ip,
		p + "_SERVICE_PORT=9200",
		p + "_SERVICE_PORT_HTTP=9200",
		p + "_PORT=tcp://" + ip + ":9200",
	}
	for _, port := range []string{"9200", "9464"} {
		pp := p + "_PORT_" + port + "_TCP"
		env = append(env, pp+"=tcp://"+ip+":"+port, pp+"_PROTO=tcp", pp+"_PORT="+port, pp+"_ADDR="+ip)
	}
	return env
}

// TestBinariesStartNextToKubernetesServices: the three programs, run as their mains
// run them, start with the service links of Services named fanout, fanout-proxy and
// fanout-replicator-b in their environment, strict or not; warn about a misspelt key
// with a suggestion and refuse it with --strict-env; and still let a correct key win
// over the file.
func TestBinariesStartNextToKubernetesServices(t *testing.T) {
	kafka := kafkatest.NewCluster(t)
	var links []string
	for _, s := range []string{"fanout", "fanout-proxy", "fanout-replicator-b"} {
		links = append(links, kubeServiceLinks(s, "10.96.0.17")...)
	}
	type program struct {
		name string
		main func(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int
		// args run a quick command that loads the whole configuration and exits 0
		args []string
		// key is a variable the program knows, typo one misspelling of it, and shows
		// what the result must print when key wins over the file
		key, typo, near, shows string
	}
	programs := []program{
		{name: "fanout-proxy", main: proxy.Main, args: []string{"--print-config"},
			key: "FANOUT_PUBLISH_TOPIC=from-env", typo: "FANOUT_PUBLISH_TOPC=x", near: "FANOUT_PUBLISH_TOPIC", shows: "topic: from-env"},
		{name: "fanout-replicator", main: replicator.Main, args: []string{"--print-config"},
			key: "FANOUT_TARGET_NAME=from-env", typo: "FANOUT_TARGET_NAM=x", near: "FANOUT_TARGET_NAME", shows: "name: from-env"},
		{name: "fanoutctl", main: fanoutctl.Main, args: []string{"topics", "create", "--dry-run", "--brokers", strings.Join(kafka.Addrs(), ","), "-o", "json"},
			key: "FANOUT_CONSUME_TOPICS=from-env", typo: "FANOUT_CONSUME_TOPIX=x", near: "FANOUT_CONSUME_TOPICS", shows: "from-env"},
	}
	file := writeYAML(t, "consume:\n  topics: [from-file]\ntarget:\n  name: from-file\n  endpoints: [http://127.0.0.1:1]\n")
	proxyFile := writeYAML(t, "publish:\n  topic: from-file\n")
	for _, p := range programs {
		t.Run(p.name, func(t *testing.T) {
			cfgFile := file
			if p.name == "fanout-proxy" {
				cfgFile = proxyFile
			}
			run := func(extra []string, env ...string) (int, string, string) {
				var out, errb bytes.Buffer
				args := append(append([]string(nil), p.args...), "--config", cfgFile)
				args = append(args, extra...)
				code := p.main(context.Background(), args, env, &out, &errb)
				return code, out.String(), errb.String()
			}
			for _, strict := range [][]string{nil, {"--strict-env"}} {
				code, out, errs := run(strict, append(links, p.key)...)
				if code != 0 || strings.Contains(errs, "warning: environment") {
					t.Fatalf("%v with service links: exit %d\nstderr: %s", strict, code, errs)
				}
				if !strings.Contains(out, p.shows) {
					t.Fatalf("the environment did not win over the file: stdout lacks %q:\n%s", p.shows, out)
				}
			}
			code, out, errs := run(nil, append(links, p.typo)...)
			name, _, _ := strings.Cut(p.typo, "=")
			warning := fmt.Sprintf("warning: environment %s: names no configuration key and is ignored (did you mean %s?)", name, p.near)
			if code != 0 || !strings.Contains(errs, warning) {
				t.Fatalf("a misspelt key: exit %d, stderr %q; want exit 0 and %q", code, errs, warning)
			}
			if p.name != "fanoutctl" && !strings.Contains(out, "# WARNING environment "+name) {
				t.Errorf("--print-config does not show the ignored variable:\n%s", out)
			}
			for _, strict := range [][]string{{"--strict-env"}, nil} {
				env := append(links, p.typo)
				if strict == nil {
					env = append(env, "FANOUT_STRICT_ENV=true")
				}
				code, _, errs = run(strict, env...)
				refusal := fmt.Sprintf("unknown environment variable %s (did you mean %s?)", name, p.near)
				if code != 2 || !strings.Contains(errs, refusal) {
					t.Fatalf("strict (%v): exit %d, stderr %q; want exit 2 and %q", strict, code, errs, refusal)
				}
			}
		})
	}
}

func writeYAML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fanout.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
