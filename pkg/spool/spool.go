package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fanout-dev/fanout/pkg/dirlock"
)

// DefaultSegmentBytes is the size past which a new segment is started.
const DefaultSegmentBytes = 64 << 20

// emptyRollBytes: see commit.
const emptyRollBytes = 1 << 20

// ErrClosed is returned by calls on a closed spool.
var ErrClosed = errors.New("spool closed")

// Options tune a spool; the zero value is the defaults.
type Options struct {
	// SegmentBytes starts a new segment once the current one is that large (a segment
	// passes it by at most one group commit). 0 means DefaultSegmentBytes.
	SegmentBytes int64
	// Now stamps appended entries; nil means time.Now.
	Now func() time.Time
}

// Spool is an open spool directory. Its methods are safe for concurrent use.
type Spool struct {
	dir      string
	segBytes int64
	now      func() time.Time
	lockf    *dirlock.Lock

	mu      sync.Mutex
	segs    []segInfo // in order; the last is the one appended to
	f       *os.File  // the last segment, for appending
	mark    Pos
	records int64     // entries from the mark on
	oldest  time.Time // append time of the entry at the mark
	queue   *batch    // entries waiting for the next group commit
	closed  bool
	err     error         // a failed write or fsync: the spool takes no more appends
	changed chan struct{} // closed (and replaced) at every group commit

	wake       chan struct{}
	stop       chan struct{}
	writerDone chan struct{}
	markMu     sync.Mutex // one MarkDrained at a time
}

type segInfo struct {
	seq  uint64
	size int64 // bytes written and fsync'ed
}

// batch is one group commit: the frames of every Append that came while the previous
// one was being written.
type batch struct {
	buf   []byte
	n     int64
	first time.Time
	done  chan struct{}
	err   error
}

// Open opens (creating it if need be) the spool in dir and takes its lock: a directory
// another process holds is refused with a *LockedError. A torn tail is truncated;
// corruption anywhere else fails with a *CorruptError.
func Open(dir string, opts Options) (*Spool, error) {
	if dir == "" {
		return nil, errors.New("spool: no directory")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the spool directory: %w", err)
	}
	lf, err := lock(dir)
	if err != nil {
		return nil, err
	}
	s := &Spool{dir: dir, segBytes: opts.SegmentBytes, now: opts.Now, lockf: lf,
		changed: make(chan struct{}), wake: make(chan struct{}, 1), stop: make(chan struct{}), writerDone: make(chan struct{})}
	if s.segBytes <= 0 {
		s.segBytes = DefaultSegmentBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("opening spool %s: %w", dir, err)
	}
	go s.writer()
	return s, nil
}

// recover reads the directory: the mark, the segments after it (truncating a torn
// tail), and opens the last segment for appending.
func (s *Spool) recover() error {
	mark, _, err := readMark(s.dir)
	if err != nil {
		return err
	}
	seqs, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	// Segments wholly before the mark are drained: a crash after the mark was written
	// and before they were deleted leaves them.
	for len(seqs) > 0 && seqs[0] < mark.Segment {
		if err := os.Remove(filepath.Join(s.dir, segmentName(seqs[0]))); err != nil {
			return fmt.Errorf("deleting a drained segment: %w", err)
		}
		seqs = seqs[1:]
	}
	if mark.Segment == 0 {
		mark = Pos{Segment: 1}
		if len(seqs) > 0 {
			mark.Segment = seqs[0]
		}
	}
	if len(seqs) > 0 && seqs[0] != mark.Segment {
		return &CorruptError{Dir: s.dir, At: mark, Err: fmt.Errorf("the drained mark's segment is missing (the first is %s)", segmentName(seqs[0]))}
	}
	s.mark = mark
	for i, seq := range seqs {
		from := int64(0)
		if seq == mark.Segment {
			from = mark.Offset
		}
		last := i == len(seqs)-1
		res, err := scanSegment(s.dir, seq, from, last)
		if err != nil {
			return err
		}
		if res.torn {
			if err := truncate(filepath.Join(s.dir, segmentName(seq)), res.end); err != nil {
				return err
			}
		}
		if s.records == 0 && res.records > 0 {
			s.oldest = res.oldest
		}
		s.records += res.records
		s.segs = append(s.segs, segInfo{seq: seq, size: res.end})
	}
	if len(s.segs) == 0 {
		return s.newSegment(mark.Segment)
	}
	last := s.segs[len(s.segs)-1]
	f, err := os.OpenFile(filepath.Join(s.dir, segmentName(last.seq)), os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening the last segment: %w", err)
	}
	s.f = f
	return nil
}

func truncate(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("truncating the torn tail: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("truncating the torn tail: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing the truncated segment: %w", err)
	}
	return nil
}

// newSegment creates segment seq and makes it the one appended to.
func (s *Spool) newSegment(seq uint64) error {
	f, err := os.OpenFile(filepath.Join(s.dir, segmentName(seq)), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("creating a segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	if s.f != nil {
		_ = s.f.Close()
	}
	s.f = f
	s.mu.Lock()
	s.segs = append(s.segs, segInfo{seq: seq})
	s.mu.Unlock()
	return nil
}

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// Append writes the entries, in order and after every entry of an Append that
// returned before this one was called, and returns once they are fsync'ed. An entry's
// zero Time is set to now. When ctx ends first, Append returns its error, and the
// entries may or may not be written.
func (s *Spool) Append(ctx context.Context, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	for i := range entries {
		if entries[i].Type == 0 {
			return errors.New("spool: entry type 0 is reserved")
		}
		if len(entries[i].Payload) > MaxPayloadBytes {
			return fmt.Errorf("spool: an entry of %d bytes is over the %d limit", len(entries[i].Payload), MaxPayloadBytes)
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return err
	}
	if s.queue == nil {
		s.queue = &batch{done: make(chan struct{})}
	}
	b := s.queue
	now := s.now()
	size := 0
	for i := range entries {
		size += frameSize(len(entries[i].Payload))
	}
	b.buf = slices.Grow(b.buf, size)
	for i := range entries {
		t := entries[i].Time
		if t.IsZero() {
			t = now
		}
		if b.n == 0 {
			b.first = t
		}
		b.buf = appendFrame(b.buf, entries[i].Type, t, entries[i].Payload)
		b.n++
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return fmt.Errorf("waiting for the spool's fsync: %w", ctx.Err())
	}
}

// writer is the one goroutine that writes to the segments: each round takes every
// entry queued meanwhile and commits it with one write and one fsync.
func (s *Spool) writer() {
	defer close(s.writerDone)
	for {
		stopping := false
		select {
		case <-s.wake:
		case <-s.stop:
			stopping = true
		}
		for {
			s.mu.Lock()
			b := s.queue
			s.queue = nil
			s.mu.Unlock()
			if b == nil {
				break
			}
			b.err = s.commit(b)
			close(b.done)
		}
		if stopping {
			return
		}
	}
}

func (s *Spool) commit(b *batch) error {
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return err
	}
	last := s.segs[len(s.segs)-1]
	// A drained spool starts a new segment once its last one holds a MiB of drained
	// entries, so that the old one can go: an idle spool takes little disk.
	drainedTail := s.records == 0 && s.mark == Pos{Segment: last.seq, Offset: last.size} && last.size >= emptyRollBytes
	s.mu.Unlock()
	if last.size >= s.segBytes || drainedTail {
		if err := s.f.Sync(); err != nil {
			return s.fail(fmt.Errorf("syncing segment %s: %w", segmentName(last.seq), err))
		}
		if err := s.newSegment(last.seq + 1); err != nil {
			return fmt.Errorf("spool %s: %w", s.dir, err)
		}
		last = segInfo{seq: last.seq + 1}
	}
	if _, err := s.f.Write(b.buf); err != nil {
		// Take the partial write back so that the segment ends on a whole frame.
		if terr := s.f.Truncate(last.size); terr != nil {
			return s.fail(fmt.Errorf("writing segment %s: %w (and truncating it back: %v)", segmentName(last.seq), err, terr))
		}
		return fmt.Errorf("spool %s: writing segment %s: %w", s.dir, segmentName(last.seq), err)
	}
	// After a failed fsync what reached the disk is unknown (the kernel may have
	// dropped the dirty pages): the spool stops taking appends rather than guess.
	if err := unix.Fdatasync(int(s.f.Fd())); err != nil {
		return s.fail(fmt.Errorf("fsync of segment %s: %w", segmentName(last.seq), err))
	}
	s.mu.Lock()
	s.segs[len(s.segs)-1].size += int64(len(b.buf))
	if s.records == 0 {
		s.oldest = b.first
	}
	s.records += b.n
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

// Err is the error that made the spool stop taking entries (a failed write or fsync),
// or nil. Entries appended before it can still be read and drained.
func (s *Spool) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Spool) fail(err error) error {
	err = fmt.Errorf("spool %s: %w; it takes no more entries until reopened", s.dir, err)
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	return err
}

// Changed returns a channel closed at the next group commit.
func (s *Spool) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Stats are a spool's figures, from the drained mark on.
type Stats struct {
	// Records and Bytes are the entries not drained yet and the bytes they take on disk.
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	// Oldest is the append time of the oldest entry not drained; zero when empty.
	Oldest   time.Time `json:"oldest,omitzero"`
	Segments int       `json:"segments"`
	Drained  Pos       `json:"drained"`
}

// Stats returns the spool's current figures.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Records: s.records, Segments: len(s.segs), Drained: s.mark}
	for _, sg := range s.segs {
		st.Bytes += sg.size
	}
	st.Bytes -= s.mark.Offset
	if s.records > 0 {
		st.Oldest = s.oldest
	}
	return st
}

// Close waits for the appends queued, then releases the directory.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.writerDone
	return s.closeFiles()
}

func (s *Spool) closeFiles() error {
	var err error
	if s.f != nil {
		err = s.f.Close()
	}
	// Closing the lock's file description releases the flock.
	if lerr := s.lockf.Release(); err == nil {
		err = lerr
	}
	return err
}
