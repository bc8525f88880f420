package fanoutctl

import (
	"bytes"
	"strings"
	"testing"
)

// TestPrintableCells: ids with control characters or invalid UTF-8 print escaped, so a
// client's id can neither drive the terminal nor break the table's columns.
func TestPrintableCells(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain-id", "plain-id"},
		{"ünïcode/ok", "ünïcode/ok"},
		{"a\x1b[2Jb", `"a\x1b[2Jb"`},
		{"tab\there", `"tab\there"`},
		{"new\nline", `"new\nline"`},
		{"bad\xffutf8", `"bad\xffutf8"`},
		{"del\x7f", `"del\x7f"`},
	}
	for _, tt := range tests {
		if got := printable(tt.in); got != tt.want {
			t.Errorf("printable(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	var b bytes.Buffer
	tb := newTable(&b, "INDEX", "ID")
	tb.row("books", "x\x1b]0;owned\x07y")
	tb.flush()
	if strings.ContainsAny(b.String(), "\x1b\x07") || !strings.Contains(b.String(), `"x\x1b]0;owned\ay"`) {
		t.Fatalf("table printed %q", b.String())
	}
}
