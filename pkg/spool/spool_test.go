package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func open(t *testing.T, dir string, opts Options) *Spool {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func entries(from, n int) []Entry {
	es := make([]Entry, n)
	for i := range es {
		es[i] = Entry{Type: TypeKafkaRecord, Payload: fmt.Appendf(nil, "entry-%06d", from+i)}
	}
	return es
}

// readAll reads every entry from the mark on.
func readAll(t *testing.T, s *Spool) []Entry {
	t.Helper()
	var out []Entry
	pos := s.Drained()
	for {
		es, err := s.Read(pos, 7, 200)
		if err != nil {
			t.Fatalf("Read(%s): %v", pos, err)
		}
		if len(es) == 0 {
			return out
		}
		out = append(out, es...)
		pos = es[len(es)-1].Next
	}
}

func payloads(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e.Payload)
	}
	return out
}

func wantPayloads(t *testing.T, got []Entry, from, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d entries, want %d: %q", len(got), n, payloads(got))
	}
	for i, e := range got {
		if want := fmt.Sprintf("entry-%06d", from+i); string(e.Payload) != want {
			t.Fatalf("entry %d is %q, want %q", i, e.Payload, want)
		}
	}
}

func TestAppendReadAcrossSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	clock := time.Unix(1_700_000_000, 0)
	s := open(t, dir, Options{SegmentBytes: 100, Now: func() time.Time { return clock }})
	ctx := context.Background()
	for i := 0; i < 50; i += 5 {
		if err := s.Append(ctx, entries(i, 5)); err != nil {
			t.Fatal(err)
		}
	}
	wantPayloads(t, readAll(t, s), 0, 50)
	st := s.Stats()
	if st.Records != 50 || st.Segments < 3 || !st.Oldest.Equal(clock) {
		t.Fatalf("stats %+v: want 50 records over several segments, oldest %s", st, clock)
	}
	if want := int64(50 * frameSize(len("entry-000000"))); st.Bytes != want {
		t.Fatalf("bytes %d, want %d", st.Bytes, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, entries(0, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	s2 := open(t, dir, Options{SegmentBytes: 100})
	wantPayloads(t, readAll(t, s2), 0, 50)
	if st2 := s2.Stats(); st2.Records != st.Records || st2.Bytes != st.Bytes || !st2.Oldest.Equal(clock) {
		t.Fatalf("after reopen stats %+v, want %+v", st2, st)
	}
}

func TestDrainedMark(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 64})
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		if err := s.Append(ctx, entries(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	segsBefore := s.Stats().Segments
	all := readAll(t, s)
	if err := s.MarkDrained(all[:12]); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Records != 8 || st.Segments >= segsBefore {
		t.Fatalf("after draining 12 of 20: %+v (segments before %d): want 8 records and fewer segments", st, segsBefore)
	}
	if st.Oldest.IsZero() {
		t.Fatal("oldest unset with entries left")
	}
	// Marking out of order is refused.
	if err := s.MarkDrained(all[14:15]); err == nil {
		t.Fatal("MarkDrained past entries not drained: no error")
	}
	s.Close()
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(names) != st.Segments {
		t.Fatalf("%d segment files, stats say %d", len(names), st.Segments)
	}

	s2 := open(t, dir, Options{SegmentBytes: 64})
	rest := readAll(t, s2)
	wantPayloads(t, rest, 12, 8)
	if err := s2.MarkDrained(rest); err != nil {
		t.Fatal(err)
	}
	if st := s2.Stats(); st.Records != 0 || st.Bytes != 0 || !st.Oldest.IsZero() || st.Segments != 1 {
		t.Fatalf("drained spool: %+v, want empty with one segment", st)
	}
	if err := s2.Append(ctx, entries(100, 2)); err != nil {
		t.Fatal(err)
	}
	wantPayloads(t, readAll(t, s2), 100, 2)
}

// appendRaw adds bytes to the end of the last segment, as a crash mid-write leaves them.
func appendRaw(t *testing.T, dir string, b []byte) {
	t.Helper()
	seqs, err := listSegments(dir)
	if err != nil || len(seqs) == 0 {
		t.Fatalf("segments: %v %v", seqs, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, segmentName(seqs[len(seqs)-1])), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestTornTailIsTruncated(t *testing.T) {
	frame := appendFrame(nil, TypeKafkaRecord, time.Unix(1, 0), []byte("the torn one, never acknowledged"))
	badCRC := append([]byte(nil), frame...)
	badCRC[len(badCRC)-1] ^= 0xff
	tests := []struct {
		name string
		tail []byte
	}{
		{"half a header", frame[:5]},
		{"header only", frame[:headerBytes]},
		{"half a body", frame[:len(frame)-3]},
		{"whole frame, bad crc", badCRC},
		{"zeros", make([]byte, 4096)},
		{"frame then zeros", append(append([]byte(nil), frame[:len(frame)-4]...), make([]byte, 100)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, Options{})
			if err := s.Append(context.Background(), entries(0, 3)); err != nil {
				t.Fatal(err)
			}
			size := s.Stats().Bytes
			s.Close()
			appendRaw(t, dir, tt.tail)

			info, err := Inspect(dir)
			if err != nil || info.Records != 3 || info.TornBytes != int64(len(tt.tail)) {
				t.Fatalf("Inspect: %+v, %v: want 3 records and a torn tail of %d", info, err, len(tt.tail))
			}
			s2 := open(t, dir, Options{})
			if st := s2.Stats(); st.Records != 3 || st.Bytes != size {
				t.Fatalf("after Open: %+v, want 3 records, %d bytes", st, size)
			}
			if err := s2.Append(context.Background(), entries(3, 1)); err != nil {
				t.Fatal(err)
			}
			wantPayloads(t, readAll(t, s2), 0, 4)
		})
	}
}

func TestCorruptionInTheMiddleIsReported(t *testing.T) {
	tests := []struct {
		name    string
		segment int // which segment file (0-based) to damage
		offset  int // byte of it to flip
	}{
		{"crc of the second entry of the last segment", -1, frameSize(len("entry-000000")) + 5},
		{"body of an entry of the first segment", 0, 20},
		{"length of the first entry of the first segment", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, Options{SegmentBytes: 100})
			for i := 0; i < 12; i += 3 {
				if err := s.Append(context.Background(), entries(i, 3)); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			seqs, _ := listSegments(dir)
			seq := seqs[0]
			if tt.segment < 0 {
				seq = seqs[len(seqs)-1]
			}
			path := filepath.Join(dir, segmentName(seq))
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[tt.offset] ^= 0x40
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Open(dir, Options{})
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.At.Segment != seq || !strings.Contains(err.Error(), dir) {
				t.Fatalf("Open: %v, want a CorruptError in %s naming the directory", err, segmentName(seq))
			}
			if _, err := Inspect(dir); !errors.As(err, &ce) {
				t.Fatalf("Inspect: %v, want a CorruptError", err)
			}
			// Nothing was truncated: the damage is still there to look at.
			if after, _ := os.ReadFile(path); len(after) != len(b) {
				t.Fatalf("segment was %d bytes, now %d", len(b), len(after))
			}
		})
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	// A second open file description in the same process: flock refuses it too.
	_, err := Open(dir, Options{})
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() || !strings.Contains(err.Error(), dir) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want a LockedError naming %s and pid %d", err, dir, os.Getpid())
	}
	info, err := Inspect(dir)
	if err != nil || !info.Locked || info.PID != os.Getpid() {
		t.Fatalf("Inspect of a locked spool: %+v, %v", info, err)
	}
	s.Close()
	if info, _ := Inspect(dir); info.Locked {
		t.Fatal("Inspect after Close: still locked")
	}
	s2 := open(t, dir, Options{})
	s2.Close()
}

func TestGroupCommitKeepsEveryAppend(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 4096})
	const writers, each = 32, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := s.Append(context.Background(), entries(w*each+i, 1)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := readAll(t, s)
	if len(got) != writers*each {
		t.Fatalf("%d entries, want %d", len(got), writers*each)
	}
	// Each writer's entries are in its own order.
	last := map[int]int{}
	for _, e := range got {
		var n int
		fmt.Sscanf(string(e.Payload), "entry-%d", &n)
		w := n / each
		if prev, ok := last[w]; ok && n <= prev {
			t.Fatalf("writer %d: %d after %d", w, n, prev)
		}
		last[w] = n
	}
}

// A drained spool does not keep appending to a segment of drained entries: the next
// append past emptyRollBytes starts a new segment and the old one is deleted.
func TestDrainedSpoolRollsItsSegment(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	big := make([]byte, emptyRollBytes)
	ctx := context.Background()
	if err := s.Append(ctx, []Entry{{Type: TypeKafkaRecord, Payload: big}}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDrained(readAll(t, s)); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, entries(0, 1)); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, s)
	wantPayloads(t, got, 0, 1)
	if got[0].Pos.Segment != 2 {
		t.Fatalf("entry after a drained MiB is at %s, want a new segment", got[0].Pos)
	}
	if err := s.MarkDrained(got); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(names) != 1 || filepath.Base(names[0]) != segmentName(2) {
		t.Fatalf("segments %v, want only %s", names, segmentName(2))
	}
	s.Close()
	s2 := open(t, dir, Options{})
	if st := s2.Stats(); st.Records != 0 || st.Bytes != 0 {
		t.Fatalf("reopened: %+v", st)
	}
}

// A write that fails (here: the segment's file descriptor closed under the spool, as
// a disk gone read-only would fail it) stops the spool taking entries, Err says why,
// and what was appended before can still be read.
func TestFailedWriteStopsAppends(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	ctx := context.Background()
	if err := s.Append(ctx, entries(0, 3)); err != nil {
		t.Fatal(err)
	}
	if err := s.Err(); err != nil {
		t.Fatalf("Err of a healthy spool: %v", err)
	}
	s.mu.Lock()
	_ = s.f.Close()
	s.mu.Unlock()
	if err := s.Append(ctx, entries(3, 1)); err == nil {
		t.Fatal("Append to a segment whose file is closed succeeded")
	}
	first := s.Err()
	if first == nil {
		t.Fatal("Err is nil after a failed write")
	}
	if err := s.Append(ctx, entries(4, 1)); err == nil || !strings.Contains(err.Error(), "no more entries") {
		t.Fatalf("Append after the failure: %v, want the spool's refusal", err)
	}
	if s.Err() != first {
		t.Errorf("Err changed to %v, want the first failure %v", s.Err(), first)
	}
	wantPayloads(t, readAll(t, s), 0, 3)
}
