package fanoutctl

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
)

// readme is the repository's README, where fanoutctl is documented. (Its configuration
// keys are the replicator's, checked by the replicator's README test.)
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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
		{"dlq", "list"}, {"dlq", "show"}, {"dlq", "replay"}, {"verify"}, {"backfill"}, {"spool", "status"}, {"spool", "drain"}} {
		if !strings.Contains(doc, "fanoutctl "+strings.Join(cmd, " ")) {
			t.Errorf("README has no section for fanoutctl %s", strings.Join(cmd, " "))
		}
		var out, errb bytes.Buffer
		if code := Main(context.Background(), append(cmd, "-h"), nil, &out, &errb); code != 0 {
			t.Fatalf("%s -h: exit %d", strings.Join(cmd, " "), code)
		}
		flags := flagName.FindAllStringSubmatch(out.String(), -1)
		if len(flags) == 0 {
			t.Fatalf("%s -h printed no flags:\n%s", strings.Join(cmd, " "), out.String())
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
