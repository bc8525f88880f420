package searchemu

import (
	"strings"
	"testing"
	"time"
)

// FuzzResolveDateMath: any index expression resolves or fails with a 400, never panics,
// and a name outside <> comes back unchanged.
func FuzzResolveDateMath(f *testing.F) {
	for _, s := range []string{"<logs-{now/d}>", "<a-{now/M{yyyy.MM|+01:00}}>", `<x\{y\}-{now}>`, "<{now/d{}}>", "<>", "plain", "<{{}}>", "<{now-1d/d{'w'ww|Europe/Paris}}>"} {
		f.Add(s)
	}
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		got, err := resolveDateMath(expr, now)
		if err != nil {
			if err.status != 400 {
				t.Fatalf("%q: status %d", expr, err.status)
			}
			return
		}
		if !(strings.HasPrefix(expr, "<") && strings.HasSuffix(expr, ">") && len(expr) >= 2) && got != expr {
			t.Fatalf("%q is not date math but resolved to %q", expr, got)
		}
	})
}

// FuzzParseMediaType: header values parse or fail with an illegal_argument_exception.
func FuzzParseMediaType(f *testing.F) {
	for _, s := range []string{"application/json", "application/vnd.elasticsearch+json;compatible-with=8", "a/b; c=d ;e=f", "*/*", "x", "a/b;=", "a/b;c =d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		m, err := parseMediaType(v)
		if err != nil && err.typ != typeIllegalArgument {
			t.Fatalf("%q: %s", v, err.typ)
		}
		if m != nil {
			_ = m.base()
			if err := compatibleVersion(m, m, true); err != nil && err.status != 400 {
				t.Fatalf("%q: %d", v, err.status)
			}
		}
	})
}
