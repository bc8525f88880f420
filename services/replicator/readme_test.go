package replicator_test

import (
	"os"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/config"
	"github.com/fanout-dev/fanout/services/replicator"
)

// TestREADMEDocumentsEveryKey keeps the configuration reference honest: every key the
// replicator accepts is named in the README (a group such as `target.tls.*` counts).
func TestREADMEDocumentsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(readme)
	i := strings.Index(doc, "### Replicator configuration")
	if i < 0 {
		t.Fatal("README has no replicator configuration section")
	}
	doc = doc[i:]
	for _, key := range config.SortedKeys(replicator.DefaultConfig()) {
		documented := strings.Contains(doc, "`"+key+"`")
		for p := key; !documented && strings.Contains(p, "."); {
			p = p[:strings.LastIndex(p, ".")]
			documented = strings.Contains(doc, "`"+p+".*`")
		}
		if !documented {
			t.Errorf("README does not document %s", key)
		}
	}
}
