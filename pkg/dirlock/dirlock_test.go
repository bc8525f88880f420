package dirlock

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// A second Acquire is refused naming the holder's pid; Holder sees it; after Release
// the directory can be taken again and Holder says it is free.
func TestAcquireRefusesASecondHolder(t *testing.T) {
	dir := t.TempDir()
	if locked, _, err := Holder(dir); err != nil || locked {
		t.Fatalf("Holder of a directory never locked: %v %v", locked, err)
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() || !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Acquire: %v, want a LockedError naming %s and pid %d", err, dir, os.Getpid())
	}
	if locked, pid, err := Holder(dir); err != nil || !locked || pid != os.Getpid() {
		t.Fatalf("Holder while held: %v %d %v", locked, pid, err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if locked, _, err := Holder(dir); err != nil || locked {
		t.Fatalf("Holder after Release: %v %v", locked, err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	_ = l2.Release()
}
