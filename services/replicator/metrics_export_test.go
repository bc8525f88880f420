package replicator_test

import (
	"errors"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fanout-dev/fanout/services/replicator"
)

// collectors records what is registered on it, registering nothing.
type collectors []prometheus.Collector

func (c *collectors) Register(x prometheus.Collector) error   { *c = append(*c, x); return nil }
func (c *collectors) MustRegister(xs ...prometheus.Collector) { *c = append(*c, xs...) }
func (c *collectors) Unregister(prometheus.Collector) bool    { return false }

// fqName reads a descriptor's name: Desc has no getter, its String starts with it.
var fqName = regexp.MustCompile(`^Desc\{fqName: "([^"]+)"`)

// TestRegisterMetricsIsWhatNewRegisters: the deployments' checks of dashboards and alert
// rules trust RegisterMetrics to name the series of a running replicator. Each
// collector it registers is one New registered already (registering it again on the
// running replicator's registry says so), and every family the running replicator
// exposes is one of them.
func TestRegisterMetricsIsWhatNewRegisters(t *testing.T) {
	k := kafkatestCluster(t)
	target := startEmulator(t, "target")
	rr := startReplicator(t, testConfig(k, target, "target"))

	var exported collectors
	replicator.RegisterMetrics(&exported, "target")
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
		if err := rr.Registry.Register(c); !errors.As(err, &already) {
			t.Errorf("a collector of RegisterMetrics is not one New registers (Register: %v)", err)
			if err == nil {
				rr.Registry.Unregister(c)
			}
		}
	}
	fams, err := rr.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if !names[f.GetName()] {
			t.Errorf("the running replicator exposes %s, which RegisterMetrics does not register", f.GetName())
		}
	}
}
