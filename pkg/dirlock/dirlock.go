// Package dirlock keeps two processes off one directory: a LOCK file in it, flock'ed
// exclusively by the holder, who writes its pid into it. The proxy's spool and its
// intent log each take one; a second proxy given the same directory is refused.
//
// flock locks belong to the open file description, so a second Acquire in the same
// process is refused too, and a process that dies (kill -9 included) loses its lock
// with its file descriptors: no stale lock to clean up.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Name is the lock file's name in the directory.
const Name = "LOCK"

// ErrLocked is what a *LockedError wraps: another process (or another Acquire in
// this one) holds the directory.
var ErrLocked = errors.New("directory is in use")

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
	return fmt.Sprintf("directory %s is in use by %s (%s is locked)", e.Dir, holder, filepath.Join(e.Dir, Name))
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock is a held directory lock.
type Lock struct{ f *os.File }

// Acquire takes dir's lock, exclusive and without waiting, and writes this process's
// pid into it. A directory another holder has is refused with a *LockedError.
func Acquire(dir string) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(dir, Name), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the lock of %s: %w", dir, err)
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
	return &Lock{f: f}, nil
}

// Release gives the lock up.
func (l *Lock) Release() error {
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	return l.f.Close()
}

// Holder says whether dir is locked, and by which pid if the holder wrote it. It takes
// a shared lock for an instant when nobody holds it: an Acquire at that very instant
// fails, and can be retried.
func Holder(dir string) (locked bool, pid int, err error) {
	f, err := os.Open(filepath.Join(dir, Name))
	if errors.Is(err, os.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("opening the lock of %s: %w", dir, err)
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

func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil {
		return 0
	}
	return pid
}
