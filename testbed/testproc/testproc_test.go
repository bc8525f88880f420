package testproc_test

import (
	"os"
	"testing"

	"github.com/fanout-dev/fanout/testbed/testproc"
)

const marker = "FANOUT_TESTPROC_CHILD"

func TestMain(m *testing.M) {
	if v := os.Getenv(marker); v != "" {
		testproc.Serve(map[string]string{"echo": v, "pid": "child"})
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
