package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
	"time"
)

// TestFill reads bodies of every size around firstBodyBuffer, bodyBlock and the limit,
// with and without a length, in whole and in dribbled reads, through one pool of
// blocks: the body comes back whole and exact, the reservation counts the body and
// nothing else, and reused blocks carry nothing of an earlier body.
func TestFill(t *testing.T) {
	const limit = 3*bodyBlock + 100
	rng := rand.New(rand.NewPCG(1, 2))
	blocks := newBodyBlocks()
	sizes := []int{0, 1, firstBodyBuffer - 1, firstBodyBuffer, firstBodyBuffer + 1,
		bodyBlock - 1, bodyBlock, bodyBlock + 1, 2*bodyBlock + 7, limit - 1, limit}
	for _, size := range sizes {
		for _, known := range []bool{true, false} {
			for _, dribble := range []bool{false, true} {
				body := make([]byte, size)
				for i := range body {
					body[i] = byte('a' + rng.IntN(26))
				}
				var src io.Reader = bytes.NewReader(body)
				if dribble {
					src = iotest.HalfReader(iotest.OneByteReader(src))
					if size > 2*bodyBlock {
						src = iotest.HalfReader(bytes.NewReader(body)) // one byte at a time is too slow under -race
					}
				}
				hint := int64(-1)
				if known {
					hint = int64(size)
				}
				b := testBudget(1<<30, time.Millisecond)
				res := reservation{b: b}
				got, err := fill(context.Background(), src, hint, limit, &res, blocks)
				if err != nil {
					t.Fatalf("size %d known %v dribble %v: %v", size, known, dribble, err)
				}
				if !bytes.Equal(got, body) {
					t.Fatalf("size %d known %v dribble %v: got %d bytes, not the body", size, known, dribble, len(got))
				}
				if res.used != int64(cap(got)) || res.held < res.used {
					t.Fatalf("size %d known %v dribble %v: reservation counts %d, the body's buffer is %d", size, known, dribble, res.used, cap(got))
				}
				if known && size > bodyBlock && cap(got) != size {
					t.Fatalf("size %d: a body of a known length over a block has capacity %d, want exactly its length", size, cap(got))
				}
				// Clobber what came back: a block still shared with it would show in the next body.
				for i := range got {
					got[i] = 0
				}
			}
		}
	}
}

// TestFillRefuses: a body past the limit without a length is refused once one byte
// more has arrived, a read error comes through (with a length, it gives its blocks
// back), and a body past the in-flight budget is refused with the budget's error.
func TestFillRefuses(t *testing.T) {
	const limit = 2*bodyBlock + 10
	blocks := newBodyBlocks()
	for _, size := range []int{limit + 1, 5 * bodyBlock} {
		b := testBudget(1<<30, time.Millisecond)
		res := reservation{b: b}
		_, err := fill(context.Background(), bytes.NewReader(make([]byte, size)), -1, limit, &res, blocks)
		if !errors.Is(err, errBodyTooLarge) {
			t.Fatalf("size %d over the limit %d: %v", size, limit, err)
		}
	}
	boom := errors.New("connection reset")
	for _, size := range []int{10, bodyBlock + 10, 2*bodyBlock + 5} {
		b := testBudget(1<<30, time.Millisecond)
		res := reservation{b: b}
		for _, hint := range []int64{-1, int64(size) + 100} {
			src := io.MultiReader(bytes.NewReader(make([]byte, size)), iotest.ErrReader(boom))
			if _, err := fill(context.Background(), src, hint, limit, &res, blocks); !errors.Is(err, boom) {
				t.Fatalf("size %d (length %d) then a read error: %v", size, hint, err)
			}
			if hint > bodyBlock && res.used > max(hint, bodyBlock) {
				t.Fatalf("size %d (length %d): a failed body counts %d bytes: more than its buffer", size, hint, res.used)
			}
			res.release()
		}
	}
	// Over the in-flight budget while the body arrives: refused with the budget's error.
	b := testBudget(bodyBlock, time.Millisecond)
	res := reservation{b: b}
	for _, hint := range []int64{-1, 3 * bodyBlock} {
		if _, err := fill(context.Background(), bytes.NewReader(make([]byte, 3*bodyBlock)), hint, 4*bodyBlock, &res, blocks); !errors.Is(err, errOverBudget) {
			t.Fatalf("a body (length %d) over the budget: %v", hint, err)
		}
		res.release()
	}
	// A body shorter than its length ends where its reader does, as the server's body
	// reader reports it (it says io.ErrUnexpectedEOF on its own).
	for _, size := range []int{10, bodyBlock + 10, 3 * bodyBlock} {
		res := reservation{b: testBudget(1<<30, time.Millisecond)}
		got, err := fill(context.Background(), bytes.NewReader(make([]byte, size)), int64(size)*2, 8*bodyBlock, &res, blocks)
		if err != nil || len(got) != size {
			t.Fatalf("size %d with a length of twice that: %d bytes, %v", size, len(got), err)
		}
	}
}
