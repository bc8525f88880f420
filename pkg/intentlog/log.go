// Package intentlog is a small write-ahead log of intents: what a process is about to
// write to a cluster, made durable before the write, and closed once whatever must
// follow the write (its events) is durable too. A process killed in between finds the
// open intents on its next start and resolves them.
//
// On disk: a directory with a LOCK file (flock'ed: two processes never share a log)
// and numbered segment files of CRC-framed records, appended only. An OPEN is
// fsync'ed before Begin returns, with group commit: concurrent callers share one
// fsync. A CLOSE is written but not waited for: losing one only makes the next start
// resolve an intent again, which the resolver must take anyway. A segment is deleted
// once every intent it opened is closed; a torn tail (the record a crash cut short) is
// truncated on open.
package intentlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/fanout-dev/fanout/pkg/dirlock"
)

// Options tune a log; the zero value is usable.
type Options struct {
	// SegmentBytes is the size past which a new segment is started (default 4 MiB).
	// Smaller segments are deleted sooner; each costs a file.
	SegmentBytes int64
}

// ErrLocked is what Open's error wraps when another process (or another Log in this
// one) holds the directory.
var ErrLocked = dirlock.ErrLocked

// ErrClosed is returned by Begin after Close.
var ErrClosed = errors.New("intent log closed")

const segSuffix = ".intents"

// Log is an open intent log. Its methods are safe for concurrent use.
type Log struct {
	dir      string
	lock     *dirlock.Lock
	segBytes int64

	mu     sync.Mutex
	synced *sync.Cond // signalled when syncedTo advances or a sync fails
	closed bool
	seg    *os.File // the segment being appended to
	segNo  uint64
	size   int64  // bytes in seg
	nextID uint64 // next intent id (segNo<<32 | counter)
	buf    []byte
	// written and syncedTo count bytes appended in this process (all segments): a
	// Begin waits until syncedTo passes its record's end. syncing is set while one
	// caller runs the fsync for everyone.
	written, syncedTo int64
	syncing           bool
	syncErr           error // sticky: after a failed fsync nothing is trusted
	// open maps an open intent to the segment holding its OPEN; pending counts each
	// segment's open intents.
	open    map[uint64]uint64
	pending map[uint64]int
	stats   Stats
}

// Stats say what Open found and did.
type Stats struct {
	Segments       int   // segment files found
	TruncatedBytes int64 // bytes of torn tails cut off
	Deleted        int   // segments deleted since open
}

// Open locks dir (creating it), reads every segment, truncates torn tails, and returns
// the log with the intents still open, oldest first. New records go to a new segment.
func Open(dir string, opt Options) (*Log, []Intent, error) {
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = 4 << 20
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("creating the intent log directory: %w", err)
	}
	lock, err := dirlock.Acquire(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("intent log: %w: two proxies must never share one intent log", err)
	}
	l := &Log{dir: dir, lock: lock, segBytes: opt.SegmentBytes, open: map[uint64]uint64{}, pending: map[uint64]int{}}
	l.synced = sync.NewCond(&l.mu)
	intents, err := l.load()
	if err == nil {
		err = l.rotateLocked()
	}
	if err != nil {
		l.release()
		return nil, nil, err
	}
	return l, intents, nil
}

// segments lists the segment numbers in dir, ascending.
func segments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing the intent log: %w", err)
	}
	var nos []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		nos = append(nos, n)
	}
	slices.Sort(nos)
	return nos, nil
}

func (l *Log) segPath(n uint64) string {
	return filepath.Join(l.dir, fmt.Sprintf("%020d%s", n, segSuffix))
}

// load replays the segments: OPENs not followed by their CLOSE are the open intents.
func (l *Log) load() ([]Intent, error) {
	nos, err := segments(l.dir)
	if err != nil {
		return nil, err
	}
	l.stats.Segments = len(nos)
	byID := map[uint64]Intent{}
	var order []uint64
	for _, n := range nos {
		b, err := os.ReadFile(l.segPath(n))
		if err != nil {
			return nil, fmt.Errorf("reading intent segment %d: %w", n, err)
		}
		off := 0
		for off < len(b) {
			rec, size, err := decodeFrame(b[off:])
			if err != nil {
				break
			}
			off += size
			switch rec.kind {
			case kindOpen:
				if _, dup := byID[rec.id]; !dup {
					order = append(order, rec.id)
				}
				byID[rec.id] = Intent{ID: rec.id, Items: rec.items}
				l.open[rec.id] = n
			case kindClose:
				delete(l.open, rec.id)
				delete(byID, rec.id)
			}
		}
		if off < len(b) {
			if err := os.Truncate(l.segPath(n), int64(off)); err != nil {
				return nil, fmt.Errorf("truncating the torn tail of intent segment %d: %w", n, err)
			}
			l.stats.TruncatedBytes += int64(len(b) - off)
		}
		l.segNo = n
	}
	out := make([]Intent, 0, len(byID))
	for _, id := range order {
		if it, ok := byID[id]; ok {
			out = append(out, it)
			l.pending[l.open[id]]++
		}
	}
	// Segments with nothing open are done with.
	for _, n := range nos {
		if l.pending[n] == 0 {
			if err := os.Remove(l.segPath(n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("deleting resolved intent segment %d: %w", n, err)
			}
			l.stats.Deleted++
		}
	}
	return out, nil
}

// rotateLocked syncs and closes the current segment (deleting it when nothing in it is
// open) and starts the next. l.mu is held, or the log is not shared yet.
func (l *Log) rotateLocked() error {
	if l.seg != nil {
		if err := l.seg.Sync(); err != nil {
			l.syncErr = fmt.Errorf("syncing intent segment %d: %w", l.segNo, err)
			return l.syncErr
		}
		l.syncedTo = l.written
		l.synced.Broadcast()
		if err := l.seg.Close(); err != nil {
			return fmt.Errorf("closing intent segment %d: %w", l.segNo, err)
		}
		l.seg = nil
		l.dropIfDoneLocked(l.segNo)
	}
	n := l.segNo + 1
	f, err := os.OpenFile(l.segPath(n), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("creating intent segment %d: %w", n, err)
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return err
	}
	l.seg, l.segNo, l.size, l.nextID = f, n, 0, n<<32
	return nil
}

// dropIfDoneLocked deletes segment n when no open intent is in it and it is not the
// one being written.
func (l *Log) dropIfDoneLocked(n uint64) {
	if l.pending[n] > 0 || (l.seg != nil && n == l.segNo) {
		return
	}
	delete(l.pending, n)
	if err := os.Remove(l.segPath(n)); err == nil {
		l.stats.Deleted++
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening the intent log directory to sync it: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing the intent log directory: %w", err)
	}
	return nil
}

// Begin records an intent for items and returns once it is on disk (fsync'ed, shared
// with the other callers waiting at the time). The caller must End the returned id once
// the intent's outcome is durable elsewhere.
func (l *Log) Begin(items []Item) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	if l.syncErr != nil {
		return 0, l.syncErr
	}
	if l.size >= l.segBytes || l.nextID&(1<<32-1) == 1<<32-1 {
		if err := l.rotateLocked(); err != nil {
			return 0, err
		}
	}
	id := l.nextID
	l.nextID++
	l.buf = appendOpen(l.buf[:0], id, items)
	if len(l.buf)-frameHeader > maxPayload {
		l.shrinkBuf()
		return 0, fmt.Errorf("an intent of %d items takes %d bytes, more than a record holds (%d)", len(items), len(l.buf), maxPayload)
	}
	err := l.writeLocked(l.buf)
	l.shrinkBuf()
	if err != nil {
		return 0, err
	}
	l.open[id] = l.segNo
	l.pending[l.segNo]++
	if err := l.waitSyncedLocked(l.written); err != nil {
		return 0, err
	}
	return id, nil
}

// shrinkBuf lets go of the record buffer after a big intent: it would otherwise stay
// as large as the largest one for the life of the log.
func (l *Log) shrinkBuf() {
	if cap(l.buf) > 1<<20 {
		l.buf = nil
	}
}

func (l *Log) writeLocked(b []byte) error {
	n, err := l.seg.Write(b)
	l.size += int64(n)
	l.written += int64(n)
	if err != nil {
		// A partial frame is a torn tail for the next open; nothing after it can be
		// trusted to be read back, so the log stops taking intents.
		l.syncErr = fmt.Errorf("writing intent segment %d: %w", l.segNo, err)
		return l.syncErr
	}
	return nil
}

// waitSyncedLocked returns once everything up to end is fsync'ed. The first waiter
// finding no fsync running runs one for all bytes written so far; the others wait for
// it (group commit).
func (l *Log) waitSyncedLocked(end int64) error {
	for l.syncedTo < end {
		if l.syncErr != nil {
			return l.syncErr
		}
		if l.syncing {
			l.synced.Wait()
			continue
		}
		l.syncing = true
		target, f, segNo := l.written, l.seg, l.segNo
		l.mu.Unlock()
		err := f.Sync()
		l.mu.Lock()
		l.syncing = false
		if err != nil && l.seg == f {
			l.syncErr = fmt.Errorf("syncing intent segment %d: %w", segNo, err)
		} else if err == nil && target > l.syncedTo {
			l.syncedTo = target
		}
		// A rotation while unlocked synced the old segment itself and advanced
		// syncedTo; an error on a file already closed by it changes nothing.
		l.synced.Broadcast()
	}
	return nil
}

// End closes intent id: its outcome is durable elsewhere. The CLOSE is not waited for
// (see the package comment). Ending an unknown or already ended id does nothing. End is
// the hook for every path that makes an intent's events durable.
func (l *Log) End(id uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	seg, ok := l.open[id]
	if !ok {
		return nil
	}
	delete(l.open, id)
	l.pending[seg]--
	if l.closed || l.syncErr != nil {
		return l.syncErr
	}
	l.buf = appendClose(l.buf[:0], id)
	if err := l.writeLocked(l.buf); err != nil {
		return err
	}
	l.dropIfDoneLocked(seg)
	return nil
}

// Pending reports how many intents are open.
func (l *Log) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.open)
}

// Stats returns what Open found and what has been deleted since.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Close syncs the current segment and releases the directory. Open intents stay on
// disk for the next Open.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	for l.syncing {
		l.synced.Wait()
	}
	var err error
	if l.seg != nil {
		err = l.seg.Sync()
		if cerr := l.seg.Close(); err == nil {
			err = cerr
		}
		l.seg = nil
		l.dropIfDoneLocked(l.segNo)
	}
	l.synced.Broadcast()
	l.release()
	if err != nil {
		return fmt.Errorf("closing the intent log: %w", err)
	}
	return nil
}

func (l *Log) release() {
	if l.seg != nil {
		l.seg.Close()
	}
	_ = l.lock.Release()
}
