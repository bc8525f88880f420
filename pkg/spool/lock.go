package spool

import (
	"fmt"

	"github.com/fanout-dev/fanout/pkg/dirlock"
)

// ErrLocked is what Open's error wraps when another process (or another Open in this
// one) holds the directory.
var ErrLocked = dirlock.ErrLocked

// LockedError names the directory and, when it wrote it, the holder's pid.
type LockedError = dirlock.LockedError

// lock takes the directory's lock (pkg/dirlock).
func lock(dir string) (*dirlock.Lock, error) {
	l, err := dirlock.Acquire(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w: two proxies must never share one spool directory", err)
	}
	return l, nil
}
