package proxy_test

import (
	"os"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/config"
	"github.com/fanout-dev/fanout/services/proxy"
)

// TestREADMEDocumentsEveryKey keeps the configuration reference honest: every key the
// proxy accepts is named in the README's table (a group row such as `primary.tls.enabled`,
// `.ca_file` counts for its members).
func TestREADMEDocumentsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(readme)
	i := strings.Index(doc, "### Proxy configuration")
	if i < 0 {
		t.Fatal("README has no proxy configuration section")
	}
	doc = doc[i:]
	for _, key := range config.SortedKeys(proxy.DefaultConfig()) {
		last := key[strings.LastIndex(key, ".")+1:]
		parent := strings.TrimSuffix(key, "."+last)
		switch {
		case strings.Contains(doc, "`"+key+"`"):
		case strings.HasPrefix(key, "fallback.") && strings.Contains(doc, "`fallback.*`"):
		case strings.HasPrefix(key, "kafka.tls.") && strings.Contains(doc, "`kafka.tls.*`"):
		case strings.Contains(doc, "`."+last+"`") && strings.Contains(doc, "`"+parent+"."):
		default:
			t.Errorf("README does not document %s", key)
		}
	}
}
