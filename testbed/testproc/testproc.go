// Package testproc runs part of a benchmark's set-up (a search emulator, kfake) in a
// child process of the test binary, so that its CPU and memory are not counted as the
// measured code's. The child is the same test binary, started with a marker variable
// that its TestMain checks before running tests.
package testproc

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Start re-executes the test binary, running no tests, with key=value in its
// environment, and decodes the first line the child prints into out. The child is told
// to stop (its stdin closes) when the test ends, and killed if it has not within 10 s.
func Start(tb testing.TB, key, value string, out any) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), key+"="+value)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting the child process: %v", err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		tb.Fatalf("child process: %v", err)
	}
	if err := json.Unmarshal(line, out); err != nil {
		tb.Fatalf("child process said %q: %v", line, err)
	}
}

// Serve is the child's side: it prints v as one JSON line for the parent, then blocks
// until the parent closes the child's stdin.
func Serve(v any) {
	_ = json.NewEncoder(os.Stdout).Encode(v)
	_, _ = io.Copy(io.Discard, os.Stdin)
}
