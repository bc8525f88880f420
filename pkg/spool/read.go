package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Drained is the position of the first entry not drained.
func (s *Spool) Drained() Pos {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mark
}

// Read returns the committed entries from position from on, at most maxRecords of them
// and about maxBytes (always at least one, when there is one), in order; none when from
// is the end. Payloads are the caller's.
func (s *Spool) Read(from Pos, maxRecords int, maxBytes int) ([]Entry, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	segs := append([]segInfo(nil), s.segs...)
	s.mu.Unlock()
	i := 0
	for i < len(segs) && segs[i].seq < from.Segment {
		i++
	}
	if i == len(segs) || segs[i].seq != from.Segment || from.Offset > segs[i].size {
		return nil, fmt.Errorf("spool %s: reading from %s, which is not in the log", s.dir, from)
	}
	// The end of a segment is the start of the next.
	for from.Offset == segs[i].size && i+1 < len(segs) {
		i++
		from = Pos{Segment: segs[i].seq}
	}
	sg := segs[i]
	if from.Offset == sg.size {
		return nil, nil
	}
	f, err := os.Open(filepath.Join(s.dir, segmentName(sg.seq)))
	if err != nil {
		return nil, fmt.Errorf("spool %s: opening segment: %w", s.dir, err)
	}
	defer f.Close()
	n := min(int64(max(maxBytes, headerBytes+timeBytes)), sg.size-from.Offset)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, from.Offset); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("spool %s: reading segment %s: %w", s.dir, segmentName(sg.seq), err)
	}
	var out []Entry
	off := 0
	for len(out) < max(maxRecords, 1) {
		e, size, err := decodeFrame(buf[off:])
		if errors.Is(err, errShort) {
			if len(out) > 0 {
				break
			}
			// One entry larger than maxBytes: read it whole.
			bodyLen, herr := frameHeader(buf[off:])
			if herr != nil || from.Offset+int64(headerBytes+bodyLen) > sg.size {
				return nil, &CorruptError{Dir: s.dir, At: from, Err: errBadFrame}
			}
			buf = make([]byte, headerBytes+bodyLen)
			if _, err := f.ReadAt(buf, from.Offset); err != nil {
				return nil, fmt.Errorf("spool %s: reading segment %s: %w", s.dir, segmentName(sg.seq), err)
			}
			continue
		}
		at := Pos{Segment: sg.seq, Offset: from.Offset + int64(off)}
		if err != nil {
			return nil, &CorruptError{Dir: s.dir, At: at, Err: err}
		}
		off += size
		e.Pos, e.Next = at, Pos{Segment: sg.seq, Offset: from.Offset + int64(off)}
		out = append(out, e)
		if off == len(buf) {
			break
		}
	}
	return out, nil
}

// MarkDrained records that entries, read from the drained mark on and in order, are
// drained: the mark moves past the last of them (atomically, on disk), and segments
// wholly before it are deleted.
func (s *Spool) MarkDrained(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	s.markMu.Lock()
	defer s.markMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	mark, segs := s.mark, append([]segInfo(nil), s.segs...)
	s.mu.Unlock()
	first := entries[0].Pos
	if first != mark && !(first.Offset == 0 && mark.Offset == sizeOf(segs, mark.Segment) && first.Segment > mark.Segment) {
		return fmt.Errorf("spool %s: entries from %s marked drained, but the mark is at %s", s.dir, first, mark)
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].Pos != entries[i-1].Next && entries[i].Pos.Offset != 0 {
			return fmt.Errorf("spool %s: entries marked drained are not contiguous at %s", s.dir, entries[i].Pos)
		}
	}
	next := entries[len(entries)-1].Next
	// A mark at the end of a segment that has a successor moves to the successor's start,
	// so that the segment can go.
	for i, sg := range segs {
		if sg.seq == next.Segment && next.Offset == sg.size && i+1 < len(segs) {
			next = Pos{Segment: segs[i+1].seq}
		}
	}
	if err := writeMark(s.dir, next); err != nil {
		return fmt.Errorf("spool %s: %w", s.dir, err)
	}
	var oldest time.Time
	s.mu.Lock()
	s.mark = next
	s.records -= int64(len(entries))
	var gone []uint64
	for len(s.segs) > 1 && s.segs[0].seq < next.Segment {
		gone = append(gone, s.segs[0].seq)
		s.segs = s.segs[1:]
	}
	remaining := s.records
	s.mu.Unlock()
	for _, seq := range gone {
		if err := os.Remove(filepath.Join(s.dir, segmentName(seq))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool %s: deleting a drained segment: %w", s.dir, err)
		}
	}
	if remaining > 0 {
		es, err := s.Read(next, 1, headerBytes+timeBytes)
		if err != nil {
			return err
		}
		if len(es) > 0 {
			oldest = es[0].Time
		}
		s.mu.Lock()
		if s.mark == next {
			s.oldest = oldest
		}
		s.mu.Unlock()
	}
	return nil
}

func sizeOf(segs []segInfo, seq uint64) int64 {
	for _, sg := range segs {
		if sg.seq == seq {
			return sg.size
		}
	}
	return -1
}
