package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const lockName = "LOCK"

// ErrLocked is returned by Open when another process (or another Open in this one)
// holds the directory.
var ErrLocked = errors.New("spool directory is in use")

// LockedError names the directory and, when it wrote it, the holder's pid.
type LockedError struct {
	Dir string
	PID int // 0 when unknown
}

func (e *LockedError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("spool directory %s is in use by %s (%s is locked): two proxies must never share one spool directory",
		e.Dir, holder, filepath.Join(e.Dir, lockName))
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// lock takes the directory's lock, exclusive and without waiting, and writes this
// process's pid into it. flock locks belong to the open file description: a second
// Open, even in the same process, is refused too.
func lock(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the spool lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		pid := readPID(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil {
		return 0
	}
	return pid
}

// lockHolder says whether the directory is locked, and by which pid if it said. It
// takes a shared lock for an instant when nobody holds it: an Open at that very
// instant fails, and can be retried.
func lockHolder(dir string) (locked bool, pid int, err error) {
	f, err := os.Open(filepath.Join(dir, lockName))
	if errors.Is(err, os.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("opening the spool lock: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return true, readPID(f), nil
		}
		return false, 0, fmt.Errorf("testing the lock %s: %w", f.Name(), err)
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false, 0, nil
}
