// Package testproc runs part of a benchmark's set-up (a search emulator, kfake) in a
// child process of the test binary, so that its CPU and memory are not counted as the
// measured code's. The child is the same test binary, started with a marker variable
// that its TestMain checks before running tests.
package testproc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/metrics"
	"syscall"
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

// Usage is what a process has used so far: CPU time (user and system, every
// thread) and its peak resident set size.
type Usage struct {
	CPU       time.Duration `json:"cpu_ns"`
	MaxRSSKiB int64         `json:"maxrss_kib"`
	// Heap allocations so far, objects and bytes, and the collector's cycles: unlike
	// CPU time, they do not depend on what else the machine runs.
	Allocs     uint64 `json:"allocs"`
	AllocBytes uint64 `json:"alloc_bytes"`
	GCCycles   uint64 `json:"gc_cycles"`
}

// SelfUsage is this process's Usage, from getrusage(2).
func SelfUsage() Usage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	samples := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(samples) // no stop-the-world, unlike runtime.ReadMemStats
	return Usage{CPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), MaxRSSKiB: ru.Maxrss,
		Allocs: samples[0].Value.Uint64(), AllocBytes: samples[1].Value.Uint64(), GCCycles: samples[2].Value.Uint64()}
}

// ServeUsage answers GET / with the child's SelfUsage as JSON on a loopback listener
// of its own, so that a parent measuring the child reads the child's own rusage
// (precise to the microsecond; /proc's ticks are 10 ms), and returns its URL. The
// listener lives as long as the child.
func ServeUsage() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("usage listener: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(SelfUsage())
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// ReadUsage asks a child's ServeUsage listener for its Usage.
func ReadUsage(tb testing.TB, url string) Usage {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatalf("reading a child's usage: %v", err)
	}
	defer resp.Body.Close()
	var u Usage
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil {
		tb.Fatalf("decoding a child's usage: %v", err)
	}
	return u
}
