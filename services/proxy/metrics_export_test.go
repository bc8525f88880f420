package proxy_test

import (
	"errors"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
)

// collectors records what is registered on it, registering nothing.
type collectors []prometheus.Collector

func (c *collectors) Register(x prometheus.Collector) error   { *c = append(*c, x); return nil }
func (c *collectors) MustRegister(xs ...prometheus.Collector) { *c = append(*c, xs...) }
func (c *collectors) Unregister(prometheus.Collector) bool    { return false }

// fqName reads a descriptor's name: Desc has no getter, its String starts with it.
var fqName = regexp.MustCompile(`^Desc\{fqName: "([^"]+)"`)

// TestRegisterMetricsIsWhatNewRegisters: the deployments' checks of dashboards and alert
// rules trust RegisterMetrics to name the series of a running proxy (spool and recovery
// on). Each collector it registers is one New registered already (registering it again
// on the running proxy's registry says so), and every family the running proxy exposes
// is one of them.
func TestRegisterMetricsIsWhatNewRegisters(t *testing.T) {
	e := startEnv(t, 0)
	cfg := e.config()
	cfg.Spool.Dir = t.TempDir()
	cfg.Recovery.Dir = t.TempDir()
	reg := prometheus.NewRegistry()
	p, err := proxy.New(cfg, proxy.Deps{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	proxytest.Run(t, p)

	var exported collectors
	proxy.RegisterMetrics(&exported)
	if len(exported) == 0 {
		t.Fatal("RegisterMetrics registered nothing")
	}
	names := map[string]bool{}
	for _, c := range exported {
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			names[m[1]] = true
		}
		var already prometheus.AlreadyRegisteredError
		if err := reg.Register(c); !errors.As(err, &already) {
			t.Errorf("a collector of RegisterMetrics is not one New registers (Register: %v)", err)
			if err == nil {
				reg.Unregister(c)
			}
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if !names[f.GetName()] {
			t.Errorf("the running proxy exposes %s, which RegisterMetrics does not register", f.GetName())
		}
	}
}
