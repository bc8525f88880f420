package deployments

import (
	"context"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/fanout-dev/fanout/pkg/config"
	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/services/replicator"
)

const (
	composeFile = "compose/compose.yaml"
	// The images of the fanout services are built from one Dockerfile, one target per
	// binary, with the repository as context.
	composeDockerfile = "deployments/docker/Dockerfile"
)

// buildTargets is the Dockerfile target each built service runs.
var buildTargets = map[string]string{
	"topics":       "fanoutctl",
	"proxy":        "fanout-proxy",
	"replicator-1": "fanout-replicator",
	"replicator-2": "fanout-replicator",
}

// loadCompose loads compose.yaml as docker compose would (schema, interpolation with an
// empty environment, paths made absolute).
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	abs, err := filepath.Abs(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []types.ConfigFile{{Filename: abs}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.ResolvePaths = true })
	if err != nil {
		t.Fatalf("loading %s: %v", composeFile, err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return s
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	want := []string{"grafana", "kafka", "kafka-exporter", "primary", "prometheus", "proxy", "proxy-state-init",
		"replica-1", "replica-2", "replicator-1", "replicator-2", "topics"}
	got := p.ServiceNames()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	images := map[string]string{
		"kafka":     "apache/kafka:",
		"primary":   "opensearchproject/opensearch:2.",
		"replica-1": "opensearchproject/opensearch:2.",
		"replica-2": "docker.elastic.co/elasticsearch/elasticsearch:7.",
	}
	for name, prefix := range images {
		if img := service(t, p, name).Image; !strings.HasPrefix(img, prefix) {
			t.Errorf("%s: image %q, want %s…", name, img, prefix)
		}
	}
	// Nothing answers beyond the machine: security is off on the engines, the
	// replicators' admin routes take no token.
	published := map[string]string{}
	for _, s := range p.Services {
		for _, pc := range s.Ports {
			if pc.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %s published on %q, want 127.0.0.1", s.Name, pc.Published, pc.HostIP)
			}
			if other, dup := published[pc.Published]; dup {
				t.Errorf("%s and %s both publish port %s", s.Name, other, pc.Published)
			}
			published[pc.Published] = s.Name
		}
	}
	for _, s := range p.Services {
		if s.Build == nil && (s.Image == "" || !strings.Contains(s.Image, ":") || strings.HasSuffix(s.Image, ":latest")) {
			t.Errorf("%s: image %q is not pinned to a version", s.Name, s.Image)
		}
	}
}

// TestComposeHealthchecks: Kafka and the engines say when they take requests, which the
// services' depends_on wait for.
func TestComposeHealthchecks(t *testing.T) {
	p := loadCompose(t)
	for _, name := range []string{"kafka", "primary", "replica-1", "replica-2", "prometheus"} {
		hc := service(t, p, name).HealthCheck
		switch {
		case hc == nil, hc.Disable, len(hc.Test) < 2:
			t.Errorf("%s: no healthcheck", name)
		case hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL":
			t.Errorf("%s: healthcheck test %v is neither CMD nor CMD-SHELL", name, hc.Test)
		case hc.Interval == nil || hc.Retries == nil || *hc.Retries == 0:
			t.Errorf("%s: healthcheck without interval or retries", name)
		}
	}
}

func TestComposeDependsOn(t *testing.T) {
	p := loadCompose(t)
	const (
		healthy   = types.ServiceConditionHealthy
		completed = types.ServiceConditionCompletedSuccessfully
	)
	want := map[string]map[string]string{
		"topics":           {"kafka": healthy},
		"proxy-state-init": {},
		"proxy":            {"kafka": healthy, "primary": healthy, "topics": completed, "proxy-state-init": completed},
		"replicator-1":     {"kafka": healthy, "primary": healthy, "replica-1": healthy, "topics": completed},
		"replicator-2":     {"kafka": healthy, "primary": healthy, "replica-2": healthy, "topics": completed},
		"kafka-exporter":   {"kafka": healthy},
		"grafana":          {"prometheus": healthy},
	}
	for name, deps := range want {
		got := map[string]string{}
		for dep, d := range service(t, p, name).DependsOn {
			got[dep] = d.Condition
		}
		if len(got) != len(deps) {
			t.Errorf("%s depends on %v, want %v", name, got, deps)
		}
		for dep, cond := range deps {
			if got[dep] != cond {
				t.Errorf("%s depends on %s with condition %q, want %q", name, dep, got[dep], cond)
			}
		}
	}
	// Whatever depends on what: a healthy condition needs a healthcheck to become
	// true, a completed one a job that ends (no restart policy that runs it again).
	for _, s := range p.Services {
		for dep, d := range s.DependsOn {
			ds, err := p.GetService(dep)
			if err != nil {
				t.Errorf("%s depends on %s: %v", s.Name, dep, err)
				continue
			}
			switch d.Condition {
			case healthy:
				if ds.HealthCheck == nil || ds.HealthCheck.Disable {
					t.Errorf("%s waits for %s to be healthy, which has no healthcheck", s.Name, dep)
				}
			case completed:
				if ds.Restart != "" && ds.Restart != types.RestartPolicyNo {
					t.Errorf("%s waits for %s to complete, which restarts (%s)", s.Name, dep, ds.Restart)
				}
			}
		}
	}
}

// TestComposeMounts: every file or directory bound into a container exists, every named
// volume is declared, and every configuration file of compose/config is mounted by
// some service (none is left behind, edited for nothing).
func TestComposeMounts(t *testing.T) {
	p := loadCompose(t)
	configDir, err := filepath.Abs("compose/config")
	if err != nil {
		t.Fatal(err)
	}
	var bound []string
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			switch v.Type {
			case types.VolumeTypeBind:
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s mounts %s at %s: %v", s.Name, v.Source, v.Target, err)
				}
				if !v.ReadOnly {
					t.Errorf("%s mounts %s writable; configuration is mounted read-only", s.Name, v.Source)
				}
				bound = append(bound, v.Source)
			case types.VolumeTypeVolume:
				if _, ok := p.Volumes[v.Source]; !ok {
					t.Errorf("%s mounts volume %q, which compose.yaml does not declare", s.Name, v.Source)
				}
			default:
				t.Errorf("%s: mount of type %s", s.Name, v.Type)
			}
		}
	}
	err = filepath.WalkDir(configDir, func(file string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, b := range bound {
			if file == b || strings.HasPrefix(file, b+string(filepath.Separator)) {
				return nil
			}
		}
		t.Errorf("%s is mounted by no service", file)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestComposeBuilds: the fanout services are built from the one Dockerfile, with the
// repository as context and the target of their binary; nothing else is built.
func TestComposeBuilds(t *testing.T) {
	p := loadCompose(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Services {
		target, want := buildTargets[s.Name]
		switch {
		case s.Build == nil && want:
			t.Errorf("%s: not built (want target %s of %s)", s.Name, target, composeDockerfile)
		case s.Build == nil:
		case !want:
			t.Errorf("%s: built, but is not a fanout service", s.Name)
		case s.Build.Context != root:
			t.Errorf("%s: build context %s, want the repository root %s", s.Name, s.Build.Context, root)
		case s.Build.Dockerfile != composeDockerfile:
			t.Errorf("%s: dockerfile %s, want %s", s.Name, s.Build.Dockerfile, composeDockerfile)
		case s.Build.Target != target:
			t.Errorf("%s: build target %q, want %q", s.Name, s.Build.Target, target)
		}
	}
}

// TestComposeBuildTargetsExist: the Dockerfile compose.yaml builds from exists and has
// a stage of each target's name (parsed as BuildKit parses it).
// imagesDockerfile parses the Dockerfile the compose stack and the Kubernetes manifests
// take their images from.
func imagesDockerfile(t tb) *dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", composeDockerfile))
	if err != nil {
		t.Fatalf("the images are built from %s: %v", composeDockerfile, err)
	}
	d, err := parseDockerfile(composeDockerfile, b)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return d
}

func TestComposeBuildTargetsExist(t *testing.T) {
	d := imagesDockerfile(t)
	for svc, target := range buildTargets {
		if d.stage(target) == nil {
			t.Errorf("%s builds target %s, which %s has no stage of", svc, target, composeDockerfile)
		}
	}
}

// TestComposeServiceConfigs loads the configuration files the fanout services mount
// with the services' own loaders and validation (an unknown key is an error there),
// and checks them against the stack: the hosts they name are its services, the ports
// they listen on are the ones published, and Prometheus scrapes their metrics ports.
func TestComposeServiceConfigs(t *testing.T) {
	p := loadCompose(t)
	mounted := func(svc, target string) string {
		for _, v := range service(t, p, svc).Volumes {
			if v.Target == target {
				return v.Source
			}
		}
		t.Fatalf("%s mounts nothing at %s", svc, target)
		return ""
	}
	scraped := prometheusTargets(t, mounted("prometheus", "/etc/prometheus/prometheus.yml"))

	pcfg := proxy.DefaultConfig()
	load(t, &pcfg, mounted("proxy", "/etc/fanout/proxy.yaml"))
	if err := pcfg.Validate(); err != nil {
		t.Errorf("proxy.yaml: %v", err)
	}
	checkCommand(t, p, "proxy", "/etc/fanout/proxy.yaml")
	checkListen(t, p, "proxy", "listen", pcfg.Listen, scraped, false)
	checkListen(t, p, "proxy", "metrics_listen", pcfg.MetricsListen, scraped, true)
	checkEndpoints(t, p, "proxy", "primary.endpoints", pcfg.Primary.Endpoints)
	checkBrokers(t, p, "proxy", pcfg.Kafka.Brokers)
	if pcfg.Spool.Dir == "" || pcfg.Recovery.Dir == "" {
		t.Errorf("proxy.yaml: spool.dir %q, recovery.dir %q: make dev runs with both", pcfg.Spool.Dir, pcfg.Recovery.Dir)
	}
	checkGrace(t, p, "proxy", pcfg.Limits.ShutdownTimeout+pcfg.Spool.DrainTimeout)
	for _, dir := range []string{pcfg.Spool.Dir, pcfg.Recovery.Dir} {
		if !onVolume(service(t, p, "proxy"), dir) {
			t.Errorf("proxy: %s is on no volume: a restarted proxy would lose it", dir)
		}
	}

	var targets []string
	for _, svc := range []string{"replicator-1", "replicator-2"} {
		rcfg := replicator.DefaultConfig()
		load(t, &rcfg, mounted(svc, "/etc/fanout/replicator.yaml"))
		if err := rcfg.Validate(); err != nil {
			t.Errorf("%s: %v", svc, err)
		}
		checkCommand(t, p, svc, "/etc/fanout/replicator.yaml")
		checkGrace(t, p, svc, rcfg.Limits.ShutdownTimeout)
		checkListen(t, p, svc, "metrics_listen", rcfg.MetricsListen, scraped, true)
		checkListen(t, p, svc, "admin.listen", rcfg.Admin.Listen, scraped, false)
		checkEndpoints(t, p, svc, "target.endpoints", rcfg.Target.Endpoints)
		checkEndpoints(t, p, svc, "primary.endpoints", rcfg.Primary.Endpoints)
		checkBrokers(t, p, svc, rcfg.Kafka.Brokers)
		if !slices.Equal(rcfg.Consume.Topics, []string{pcfg.Publish.Topic}) {
			t.Errorf("%s consumes %v; the proxy publishes to %s", svc, rcfg.Consume.Topics, pcfg.Publish.Topic)
		}
		// replicator-N replicates to replica-N: the names the quick start uses.
		if want := strings.Replace(svc, "replicator", "replica", 1); rcfg.Target.Name != want {
			t.Errorf("%s: target.name %q, want %q", svc, rcfg.Target.Name, want)
		}
		targets = append(targets, rcfg.Target.Name)
	}

	// The topics job creates the DLQ topic of every target, on the brokers the
	// services use.
	cmd := service(t, p, "topics").Command
	if len(cmd) < 2 || cmd[0] != "topics" || cmd[1] != "create" {
		t.Fatalf("topics runs %v, want fanoutctl topics create …", cmd)
	}
	if got := flagValue(cmd, "--cluster"); got != strings.Join(targets, ",") {
		t.Errorf("topics creates the DLQ topics of %q, want %q", got, strings.Join(targets, ","))
	}
	checkBrokers(t, p, "topics", strings.Split(flagValue(cmd, "--brokers"), ","))
}

func load(t tb, dst any, file string) {
	t.Helper()
	if _, err := config.Load(dst, config.Sources{File: file}); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func flagValue(cmd []string, name string) string {
	if i := slices.Index(cmd, name); i >= 0 && i+1 < len(cmd) {
		return cmd[i+1]
	}
	return ""
}

// checkGrace: docker compose stop waits for the service's own shutdown bound before it
// kills it, so that a stop drains as a SIGTERM should.
func checkGrace(t *testing.T, p *types.Project, svc string, drain time.Duration) {
	t.Helper()
	g := service(t, p, svc).StopGracePeriod
	if g == nil || time.Duration(*g) <= drain {
		t.Errorf("%s: stop_grace_period %v, want over its shutdown bound %s", svc, g, drain)
	}
}

func checkCommand(t *testing.T, p *types.Project, svc, file string) {
	t.Helper()
	if got := flagValue(service(t, p, svc).Command, "--config"); got != file {
		t.Errorf("%s runs with --config %q, want the file mounted at %s", svc, got, file)
	}
}

// checkListen: a listener on every interface of the container, on a port published on
// the host's loopback with the same number (as make dev's), scraped by Prometheus when
// it serves metrics.
func checkListen(t *testing.T, p *types.Project, svc, key, addr string, scraped map[string]bool, metrics bool) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil || (host != "" && host != "0.0.0.0") {
		t.Errorf("%s: %s %q: want :PORT, every interface of the container", svc, key, addr)
		return
	}
	n, _ := strconv.Atoi(port)
	published := false
	for _, pc := range service(t, p, svc).Ports {
		if int(pc.Target) == n {
			published = pc.Published == port && pc.HostIP == "127.0.0.1"
		}
	}
	if !published {
		t.Errorf("%s: %s %s is not published as 127.0.0.1:%s", svc, key, addr, port)
	}
	if metrics && !scraped[net.JoinHostPort(svc, port)] {
		t.Errorf("%s: Prometheus does not scrape %s:%s (its %s)", svc, svc, port, key)
	}
}

func checkEndpoints(t *testing.T, p *types.Project, svc, key string, endpoints []string) {
	t.Helper()
	if len(endpoints) == 0 {
		t.Errorf("%s: %s is empty", svc, key)
	}
	for _, e := range endpoints {
		u, err := url.Parse(e)
		if err != nil {
			t.Errorf("%s: %s %q: %v", svc, key, e, err)
			continue
		}
		if _, err := p.GetService(u.Hostname()); err != nil {
			t.Errorf("%s: %s %q names no service of the stack", svc, key, e)
		}
		if u.Port() != "9200" {
			t.Errorf("%s: %s %q: the engines listen on 9200 in the stack", svc, key, e)
		}
	}
}

// checkBrokers: the brokers are Kafka's listener for the containers, as Kafka advertises it.
func checkBrokers(t *testing.T, p *types.Project, svc string, brokers []string) {
	t.Helper()
	env := service(t, p, "kafka").Environment["KAFKA_ADVERTISED_LISTENERS"]
	if env == nil {
		t.Fatal("kafka: no KAFKA_ADVERTISED_LISTENERS")
	}
	want := ""
	for _, l := range strings.Split(*env, ",") {
		if name, addr, ok := strings.Cut(l, "://"); ok && name == "INTERNAL" {
			want = addr
		}
	}
	if len(brokers) != 1 || brokers[0] != want {
		t.Errorf("%s: kafka brokers %v, want [%s] (Kafka's INTERNAL listener)", svc, brokers, want)
	}
}

func onVolume(s types.ServiceConfig, dir string) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && (dir == v.Target || strings.HasPrefix(dir, v.Target+"/")) {
			return true
		}
	}
	return false
}

// prometheusTargets reads the static scrape targets of a Prometheus configuration.
func prometheusTargets(t *testing.T, file string) map[string]bool {
	t.Helper()
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	targets := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				targets[tg] = true
			}
		}
	}
	if len(cfg.RuleFiles) == 0 {
		t.Errorf("%s: no rule_files", file)
	}
	// The alert rules of deployments/alerts are mounted where rule_files finds them.
	p := loadCompose(t)
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range service(t, p, "prometheus").Volumes {
		if v.Source != rules {
			continue
		}
		for _, pat := range cfg.RuleFiles {
			if ok, _ := path.Match(pat, v.Target); ok {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("Prometheus does not load %s: not mounted where rule_files %v finds it", rulesFile, cfg.RuleFiles)
	}
	return targets
}

// TestComposeGrafana: Grafana is provisioned with the dashboard and the datasource the
// dashboard names.
func TestComposeGrafana(t *testing.T) {
	p := loadCompose(t)
	g := service(t, p, "grafana")
	dash, err := filepath.Abs(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{}
	for _, v := range g.Volumes {
		mounts[v.Target] = v.Source
	}
	if mounts["/var/lib/grafana/dashboards"] != filepath.Dir(dash) {
		t.Errorf("grafana does not mount %s at /var/lib/grafana/dashboards", filepath.Dir(dash))
	}
	var provider struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(mounts["/etc/grafana/provisioning/dashboards"], "fanout.yaml"), &provider)
	if len(provider.Providers) != 1 || provider.Providers[0].Type != "file" || provider.Providers[0].Options.Path != "/var/lib/grafana/dashboards" {
		t.Errorf("dashboard provider %+v does not load /var/lib/grafana/dashboards", provider.Providers)
	}
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(mounts["/etc/grafana/provisioning/datasources"], "prometheus.yaml"), &ds)
	d := readDashboard(t)
	want := ""
	for _, v := range d.Templating.List {
		if v.Name == "datasource" {
			want, _ = v.Current.Value.(string)
		}
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].UID != want {
		t.Errorf("datasources %+v; the dashboard's datasource variable defaults to uid %q", ds.Datasources, want)
	} else if u, err := url.Parse(ds.Datasources[0].URL); err != nil || u.Port() != "9090" {
		t.Errorf("datasource URL %q", ds.Datasources[0].URL)
	} else if _, err := p.GetService(u.Hostname()); err != nil {
		t.Errorf("datasource URL %q names no service", ds.Datasources[0].URL)
	}
}

func readYAML(t *testing.T, file string, dst any) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(false)
	if err := dec.Decode(dst); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}
