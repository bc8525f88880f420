package fanoutctl

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/config"
	"github.com/fanout-dev/fanout/services/replicator"
)

// readme is the fanoutctl documentation: README-fanoutctl.md until it is merged into the
// repository's README.
func readme(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"README-fanoutctl.md", "../../README.md"} {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte("fanoutctl dlq replay")) {
			return string(b)
		}
	}
	t.Fatal("no fanoutctl documentation found")
	return ""
}

// TestREADMEDocumentsEveryKey keeps the configuration reference honest: every key of the
// shared replicator configuration is named (a group row such as `target.tls.enabled`,
// `.ca_file` counts for its members).
func TestREADMEDocumentsEveryKey(t *testing.T) {
	doc := readme(t)
	i := strings.Index(doc, "## Configuration keys")
	if i < 0 {
		t.Fatal("the README has no configuration section")
	}
	doc = doc[i:]
	for _, key := range config.SortedKeys(replicator.DefaultConfig()) {
		last := key[strings.LastIndex(key, ".")+1:]
		parent := strings.TrimSuffix(key, "."+last)
		switch {
		case strings.Contains(doc, "`"+key+"`"):
		case strings.Contains(doc, "`."+last+"`") && strings.Contains(doc, "`"+parent+"."):
		default:
			t.Errorf("README does not document %s", key)
		}
	}
}

var flagName = regexp.MustCompile(`(?m)^  -(\S+)`)

// TestREADMEDocumentsEveryFlag: every flag of every command appears in the reference.
func TestREADMEDocumentsEveryFlag(t *testing.T) {
	doc := readme(t)
	i := strings.Index(doc, "## Command reference")
	if i < 0 {
		t.Fatal("the README has no command reference")
	}
	doc = doc[i:]
	for _, cmd := range [][]string{{"dev"}, {"topics", "create"}, {"status"}, {"pause"}, {"resume"},
		{"dlq", "list"}, {"dlq", "show"}, {"dlq", "replay"}} {
		if !strings.Contains(doc, "fanoutctl "+strings.Join(cmd, " ")) {
			t.Errorf("README has no section for fanoutctl %s", strings.Join(cmd, " "))
		}
		var out, errb bytes.Buffer
		if code := Main(context.Background(), append(cmd, "-h"), nil, &out, &errb); code != 0 {
			t.Fatalf("%s -h: exit %d", strings.Join(cmd, " "), code)
		}
		flags := flagName.FindAllStringSubmatch(errb.String(), -1)
		if len(flags) == 0 {
			t.Fatalf("%s -h printed no flags:\n%s", strings.Join(cmd, " "), errb.String())
		}
		for _, m := range flags {
			name := "--" + m[1]
			if len(m[1]) == 1 {
				name = "-" + m[1]
			}
			if !strings.Contains(doc, "`"+name) {
				t.Errorf("README does not document %s of fanoutctl %s", name, strings.Join(cmd, " "))
			}
		}
	}
}
