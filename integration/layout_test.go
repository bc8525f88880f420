package integration_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestServicesDoNotLinkTestbed holds the module boundary DESIGN.md draws: the emulator,
// kfake helpers and test-process helpers live in the testbed module, which only tests
// and `fanoutctl dev` may use. The proxy and replicator binaries must not link it.
func TestServicesDoNotLinkTestbed(t *testing.T) {
	for _, pkg := range []string{
		"github.com/fanout-dev/fanout/services/proxy/cmd/fanout-proxy",
		"github.com/fanout-dev/fanout/services/replicator/cmd/fanout-replicator",
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/fanout-dev/fanout/testbed") || strings.Contains(dep, "kfake") {
				t.Errorf("%s links %s", pkg, dep)
			}
		}
	}
}
