package proxy

import (
	"fmt"
	"strings"
	"testing"
)

// TestChunkExprs: names are escaped for a path segment, wildcards and commas kept, and
// a long list is cut into segments that each fit the primary's request line.
func TestChunkExprs(t *testing.T) {
	if got := chunkExprs([]string{"logs-*", "a,b", "<logs-{now/d}>", "é"}); len(got) != 1 || got[0] != "logs-*,a,b,%3Clogs-%7Bnow%2Fd%7D%3E,%C3%A9" {
		t.Fatalf("escaped: %q", got)
	}
	var names []string
	for i := range 500 {
		names = append(names, fmt.Sprintf("index-%04d", i))
	}
	segs := chunkExprs(names)
	if len(segs) < 2 {
		t.Fatalf("%d segments for 500 names", len(segs))
	}
	n := 0
	for _, s := range segs {
		if len(s) > maxExprPath {
			t.Errorf("segment of %d bytes", len(s))
		}
		n += len(strings.Split(s, ","))
	}
	if n != len(names) {
		t.Errorf("%d names in the segments, want %d", n, len(names))
	}
	if got := chunkExprs(nil); len(got) != 0 {
		t.Errorf("no names: %q", got)
	}
}
