package integration_test

import (
	"errors"
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

// TestNoMergeConflictMarkers: a merge resolved in a hurry must not leave its markers in
// the tree, where no compiler sees them in Markdown, YAML or scripts.
func TestNoMergeConflictMarkers(t *testing.T) {
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	cmd := exec.Command("git", "grep", "-nE", `^(<<<<<<<|>>>>>>>)( |$)|^=======$`, "--", ".", ":!*.pb.go")
	cmd.Dir = strings.TrimSpace(string(root))
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case err == nil:
		t.Fatalf("merge-conflict markers in tracked files:\n%s", out)
	case errors.As(err, &exit) && exit.ExitCode() == 1: // no match
	default:
		t.Fatalf("git grep: %v", err)
	}
}
