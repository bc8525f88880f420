package testproc_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/testbed/testproc"
)

const (
	marker      = "FANOUT_TESTPROC_CHILD"
	usageMarker = "FANOUT_TESTPROC_USAGE"
)

func TestMain(m *testing.M) {
	if v := os.Getenv(marker); v != "" {
		testproc.Serve(map[string]string{"echo": v, "pid": "child"})
		return
	}
	if os.Getenv(usageMarker) != "" {
		// Burn some CPU and touch 64 MiB, then serve the usage.
		for testproc.SelfUsage().CPU < 60*time.Millisecond {
		}
		mem := make([]byte, 64<<20)
		for i := range mem {
			mem[i] = 1
		}
		url, err := testproc.ServeUsage()
		if err != nil {
			panic(err)
		}
		testproc.Serve(map[string]string{"usage": url, "touched": fmt.Sprint(mem[len(mem)-1])})
		return
	}
	os.Exit(m.Run())
}

func TestStart(t *testing.T) {
	var got map[string]string
	testproc.Start(t, marker, "hello", &got)
	if got["echo"] != "hello" || got["pid"] != "child" {
		t.Fatalf("child said %v", got)
	}
}

// TestUsage reads a child's usage through its listener: CPU it spent burning shows,
// and the peak RSS is the child's, not this process's.
func TestUsage(t *testing.T) {
	var got map[string]string
	testproc.Start(t, usageMarker, "1", &got)
	u := testproc.ReadUsage(t, got["usage"])
	if u.CPU < 50*time.Millisecond {
		t.Fatalf("child used %v of CPU, it burnt at least 50ms", u.CPU)
	}
	if u.MaxRSSKiB < 64<<10 {
		t.Fatalf("child's peak RSS %d KiB, it touched 64 MiB", u.MaxRSSKiB)
	}
	if self := testproc.SelfUsage(); self.MaxRSSKiB >= 64<<10 && u.MaxRSSKiB == self.MaxRSSKiB {
		t.Fatalf("child's usage %+v is this process's %+v", u, self)
	}
}
