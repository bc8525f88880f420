package spool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The child process of the crash and lock tests: FANOUT_SPOOL_CHILD says what to do.
func TestMain(m *testing.M) {
	switch os.Getenv("FANOUT_SPOOL_CHILD") {
	case "":
		os.Exit(m.Run())
	case "append":
		childAppend(os.Getenv("FANOUT_SPOOL_DIR"))
	case "open":
		_, err := Open(os.Getenv("FANOUT_SPOOL_DIR"), Options{})
		fmt.Println(err)
		os.Exit(3)
	}
}

// childAppend appends from several goroutines forever, printing each entry once its
// Append returned: what the parent reads was acknowledged.
func childAppend(dir string) {
	s, err := Open(dir, Options{SegmentBytes: 8 << 10})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	out := make(chan string, 1024)
	for w := 0; w < 8; w++ {
		go func() {
			for i := 0; ; i++ {
				p := fmt.Sprintf("w%d-%d", w, i)
				if err := s.Append(context.Background(), []Entry{{Type: TypeKafkaRecord, Payload: []byte(p)}}); err != nil {
					fmt.Println("append:", err)
					os.Exit(2)
				}
				out <- p
			}
		}()
	}
	w := bufio.NewWriter(os.Stdout)
	for p := range out {
		fmt.Fprintln(w, p)
		if len(out) == 0 {
			w.Flush()
		}
	}
}

func child(t *testing.T, what, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FANOUT_SPOOL_CHILD="+what, "FANOUT_SPOOL_DIR="+dir)
	return cmd
}

// A process killed with SIGKILL while appending loses none of the entries it
// acknowledged, and the spool opens again (its torn tail, if any, truncated).
func TestReopenAfterKill(t *testing.T) {
	for round := 0; round < 3; round++ {
		dir := t.TempDir()
		cmd := child(t, "append", dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[string]bool{}
		sc := bufio.NewScanner(stdout)
		deadline := time.Now().Add(300*time.Millisecond + time.Duration(round)*100*time.Millisecond)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, ":") {
				t.Fatalf("child: %s", line)
			}
			acked[line] = true
			if len(acked) > 200 && time.Now().After(deadline) {
				break
			}
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		for sc.Scan() { // lines written before the kill
			acked[sc.Text()] = true
		}

		s, err := Open(dir, Options{SegmentBytes: 8 << 10})
		if err != nil {
			t.Fatalf("round %d: reopening after SIGKILL: %v", round, err)
		}
		got := map[string]bool{}
		for _, e := range readAll(t, s) {
			got[string(e.Payload)] = true
		}
		for p := range acked {
			if !got[p] {
				t.Fatalf("round %d: acknowledged entry %q lost (%d acknowledged, %d in the spool)", round, p, len(acked), len(got))
			}
		}
		if err := s.Append(context.Background(), entries(0, 1)); err != nil {
			t.Fatalf("round %d: append after recovery: %v", round, err)
		}
		s.Close()
	}
}

// Another process cannot open a spool this one holds, and is told who holds it.
func TestLockHeldAgainstAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	out, err := child(t, "open", dir).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("child: %v\n%s", err, out)
	}
	msg := string(out)
	if !strings.Contains(msg, dir) || !strings.Contains(msg, "process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("child's Open said %q: want the directory and pid %d", msg, os.Getpid())
	}
	s.Close()
	out, _ = child(t, "open", dir).CombinedOutput()
	if strings.TrimSpace(string(out)) != "<nil>" {
		t.Fatalf("child's Open after Close: %s", out)
	}
}
