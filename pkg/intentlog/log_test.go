package intentlog

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
)

func items(ids ...string) []Item {
	out := make([]Item, len(ids))
	for i, id := range ids {
		out[i] = Item{Index: "idx", ID: id, Routing: "r" + id, Action: "index"}
	}
	return out
}

func mustOpen(t *testing.T, dir string, opt Options) (*Log, []Intent) {
	t.Helper()
	l, open, err := Open(dir, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, open
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReopenKeepsOpenIntents(t *testing.T) {
	dir := t.TempDir()
	l, open := mustOpen(t, dir, Options{})
	if len(open) != 0 {
		t.Fatalf("fresh log has %d open intents", len(open))
	}
	a, err := l.Begin(items("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Begin(items("c"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.End(a); err != nil {
		t.Fatal(err)
	}
	// Not Close: a crash leaves the files as they are (the OPENs are fsync'ed).
	l.release()

	l2, open := mustOpen(t, dir, Options{})
	want := []Intent{{ID: b, Items: items("c")}}
	if !reflect.DeepEqual(open, want) {
		t.Fatalf("open intents after reopen: got %+v, want %+v", open, want)
	}
	c, err := l2.Begin(items("d"))
	if err != nil {
		t.Fatal(err)
	}
	if c == a || c == b {
		t.Fatalf("new intent id %d reuses an earlier one", c)
	}
	if err := l2.End(b); err != nil {
		t.Fatal(err)
	}
	if err := l2.End(c); err != nil {
		t.Fatal(err)
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	_, open = mustOpen(t, dir, Options{})
	if len(open) != 0 {
		t.Fatalf("all ended, yet %d open after reopen: %+v", len(open), open)
	}
}

func TestTornTailIsTruncated(t *testing.T) {
	tests := []struct {
		name string
		tear func(b []byte) []byte // what the crash left of the last record
	}{
		{"cut in the header", func(b []byte) []byte { return b[:len(b)-frameHeader+3] }},
		{"cut in the payload", func(b []byte) []byte { return b[:len(b)-2] }},
		{"flipped byte", func(b []byte) []byte { c := append([]byte(nil), b...); c[len(c)-1] ^= 0xff; return c }},
		{"zeroes appended", func(b []byte) []byte { return append(append([]byte(nil), b...), make([]byte, 100)...) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, _ := mustOpen(t, dir, Options{})
			a, _ := l.Begin(items("a"))
			if _, err := l.Begin(items("b")); err != nil {
				t.Fatal(err)
			}
			l.release()
			seg := segFiles(t, dir)[0]
			b, _ := os.ReadFile(seg)
			if err := os.WriteFile(seg, tc.tear(b), 0o640); err != nil {
				t.Fatal(err)
			}
			l2, open := mustOpen(t, dir, Options{})
			wantIDs := []uint64{a}
			if tc.name == "zeroes appended" {
				wantIDs = append(wantIDs, a+1)
			}
			var got []uint64
			for _, it := range open {
				got = append(got, it.ID)
			}
			if !reflect.DeepEqual(got, wantIDs) {
				t.Fatalf("open after a torn tail: got %v, want %v", got, wantIDs)
			}
			if l2.Stats().TruncatedBytes == 0 {
				t.Fatal("no bytes reported truncated")
			}
			// The torn segment is cut back to its last whole record, so a later
			// reopen finds the same.
			l2.release()
			_, again := mustOpen(t, dir, Options{})
			if len(again) != len(wantIDs) {
				t.Fatalf("second reopen: %d open, want %d", len(again), len(wantIDs))
			}
		})
	}
}

func TestLockExcludesASecondLog(t *testing.T) {
	dir := t.TempDir()
	l, _ := mustOpen(t, dir, Options{})
	if _, _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open of a locked dir: got %v, want ErrLocked", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, _, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	l2.Close()
}

func TestSegmentsDeletedOnceAllClosed(t *testing.T) {
	dir := t.TempDir()
	l, _ := mustOpen(t, dir, Options{SegmentBytes: 200})
	var ids []uint64
	for i := 0; i < 30; i++ {
		id, err := l.Begin(items("doc-with-a-longish-id", "another"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if n := len(segFiles(t, dir)); n < 5 {
		t.Fatalf("30 intents in 200-byte segments made only %d segments", n)
	}
	// One old intent stays open: its segment stays, the others go.
	for _, id := range ids[1:] {
		if err := l.End(id); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segFiles(t, dir)); n != 2 {
		t.Fatalf("segments with one intent open: %d files, want 2 (its own and the current)", n)
	}
	l.release()
	l2, open := mustOpen(t, dir, Options{SegmentBytes: 200})
	if len(open) != 1 || open[0].ID != ids[0] {
		t.Fatalf("open after reopen: %+v, want only %d", open, ids[0])
	}
	if err := l2.End(ids[0]); err != nil {
		t.Fatal(err)
	}
	if n := len(segFiles(t, dir)); n != 1 {
		t.Fatalf("all closed: %d segment files, want only the current one", n)
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(segFiles(t, dir)); n != 0 {
		t.Fatalf("closed with nothing open: %d segment files left", n)
	}
}

func TestConcurrentBeginsShareFsyncs(t *testing.T) {
	dir := t.TempDir()
	l, _ := mustOpen(t, dir, Options{SegmentBytes: 4 << 10})
	const writers, each = 8, 50
	var wg sync.WaitGroup
	got := make(chan uint64, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id, err := l.Begin(items("x"))
				if err != nil {
					t.Error(err)
					return
				}
				got <- id
				if i%2 == 0 {
					_ = l.End(id)
				}
			}
		}()
	}
	wg.Wait()
	close(got)
	seen := map[uint64]bool{}
	for id := range got {
		if seen[id] {
			t.Fatalf("intent id %d given twice", id)
		}
		seen[id] = true
	}
	if l.Pending() != writers*each/2 {
		t.Fatalf("open: %d, want %d", l.Pending(), writers*each/2)
	}
	l.release()
	_, open := mustOpen(t, dir, Options{})
	if len(open) != writers*each/2 {
		t.Fatalf("open after reopen: %d, want %d", len(open), writers*each/2)
	}
}

// BenchmarkBeginParallel measures intents per second with group commit (real fsyncs).
func BenchmarkBeginParallel(b *testing.B) {
	l, _, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id, err := l.Begin(items("a"))
			if err != nil {
				b.Error(err)
				return
			}
			_ = l.End(id)
		}
	})
}
