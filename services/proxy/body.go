package proxy

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A request body is read whole before the request takes a concurrency slot, into a
// buffer that grows as bytes arrive and is counted against the in-flight budget as it
// grows: a client's announced Content-Length only caps the buffer, never sizes it.
// The client must keep sending (limits.body_timeout, limits.body_min_rate). A request
// refused while its body is still coming gets its answer before the connection
// closes: the proxy reads on and discards the rest (bounded), because many clients
// send the whole body before they read anything and would otherwise see a reset.

// firstBodyBuffer is the most a body buffer starts with; it doubles from there as the
// body arrives.
const firstBodyBuffer = 4 << 10

// bodyBlock is the size of the blocks a body longer than it is read into (fill).
const bodyBlock = 64 << 10

// inflaterBytes is what a gzip reader holds (window, tables, read buffer), counted
// against the budget with the inflated bytes.
const inflaterBytes = 48 << 10

// errBodyTooLarge: the body, inflated, passed limits.max_body_bytes.
var errBodyTooLarge = errors.New("request body too large")

// bodyReader reads the raw body under a read deadline that moves as bytes arrive: the
// proxy waits for a client's body at most limits.body_timeout plus one second per
// limits.body_min_rate bytes received. Only the time spent waiting for the client
// counts, not the time the proxy spends between reads (inflating, waiting for room in
// the budget, or short of CPU): a 408 must be the client's doing.
type bodyReader struct {
	body    io.Reader
	rc      *http.ResponseController
	timeout time.Duration
	rate    int64
	n       int64         // raw bytes received
	waited  time.Duration // time spent waiting in reads
	eof     bool
	// res is the request's share of the budget, given back before a refused body is
	// discarded: a discarded body costs no memory.
	res *reservation
}

func (p *Proxy) newBodyReader(w http.ResponseWriter, r *http.Request, res *reservation) *bodyReader {
	b := &bodyReader{body: r.Body, rc: http.NewResponseController(w),
		timeout: p.cfg.Limits.BodyTimeout, rate: p.cfg.Limits.BodyMinRate, res: res}
	// The body may still be read once an answer is written: see discardRest. This and
	// SetReadDeadline fail only without a connection (Handler in tests).
	_ = b.rc.EnableFullDuplex()
	return b
}

// allowance is how much longer the client may take.
func (b *bodyReader) allowance() time.Duration {
	return b.timeout + time.Duration(float64(b.n)/float64(b.rate)*float64(time.Second)) - b.waited
}

func (b *bodyReader) Read(p []byte) (int, error) {
	return b.readBefore(p, time.Time{})
}

// readBefore reads under the body's deadline, or stop if that comes first.
func (b *bodyReader) readBefore(p []byte, stop time.Time) (int, error) {
	start := time.Now()
	d := start.Add(b.allowance())
	if !stop.IsZero() && stop.Before(d) {
		d = stop
	}
	_ = b.rc.SetReadDeadline(d)
	n, err := b.body.Read(p)
	b.waited += time.Since(start)
	b.n += int64(n)
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

// done clears the deadline: the server's background read, which notices a client
// going away while the request is served, must not time out.
func (b *bodyReader) done() { _ = b.rc.SetReadDeadline(time.Time{}) }

// hasBody reports whether r comes with a body to read.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// readBody reads the request's body within limits.max_body_bytes, counting it against
// the budget. A replicated write's (or metadata request's) gzip body is inflated (the limit and the budget
// apply to the inflated bytes); any other body is kept as sent, for the cluster to
// decode. It answers the client itself when it fails.
func (p *Proxy) readBody(w http.ResponseWriter, r *http.Request, rt route, res *reservation) ([]byte, bool) {
	if !hasBody(r) {
		return nil, true
	}
	limit := p.cfg.Limits.MaxBodyBytes
	br := p.newBodyReader(w, r, res)
	defer br.done()
	if r.ContentLength > limit {
		p.bodyFailed(w, r, br, errBodyTooLarge)
		return nil, false
	}
	var src io.Reader = br
	hint := r.ContentLength // -1 when chunked
	if rt.write || rt.byQuery != 0 || rt.meta != metaNone {
		switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
		case "", "identity":
		case "gzip":
			if err := res.grow(r.Context(), inflaterBytes); err != nil {
				p.bodyFailed(w, r, br, err)
				return nil, false
			}
			zr, err := gzip.NewReader(br)
			if err != nil {
				p.bodyFailed(w, r, br, badGzip{err})
				return nil, false
			}
			defer zr.Close()
			src, hint = zr, -1
		default:
			p.refuse(w, r, br, http.StatusBadRequest, errBadRequest, "unsupported Content-Encoding ["+enc+"]; use gzip or none", true)
			return nil, false
		}
	}
	body, err := fill(r.Context(), src, hint, limit, res, p.bodyBlocks)
	if err != nil {
		p.bodyFailed(w, r, br, err)
		return nil, false
	}
	if rt.write {
		p.m.bodyBytes.WithLabelValues(rt.name).Add(float64(len(body)))
	}
	return body, true
}

// fill reads src to its end and returns it, reading up to hint bytes when the length
// is known and never past limit. Memory follows the bytes that arrived, never the
// length a client announced: a body starts in a buffer of firstBodyBuffer that doubles
// as bytes arrive. Every buffer is counted against res before it is allocated; the one
// it replaces stops counting once copied.
//
// A body of a known length over bodyBlock goes on, once its first bodyBlock is in, into
// blocks of bodyBlock from blocks (reused across requests) until half of it is in, and
// then into one buffer of exactly its length, into which the blocks are copied: the
// peak is the one that doubling reaches (1.5 times the body), for a third of the
// copying and allocation. Doubling all the way, a 1 MiB bulk took ten buffers (3 MiB,
// zeroed) and 2 MiB of copying, a fifth of the proxy's CPU under bulk load (issue 16).
func fill(ctx context.Context, src io.Reader, hint, limit int64, res *reservation, blocks *sync.Pool) ([]byte, error) {
	most := limit
	if hint >= 0 {
		most = hint // the server's body reader stops there
	}
	size := min(most, firstBodyBuffer)
	if err := res.grow(ctx, size); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if int64(cap(buf)) == most {
				if hint >= 0 {
					return buf, nil
				}
				// At the limit: one more byte says "too large", the end says "just".
				var probe [1]byte
				n, err := io.ReadFull(src, probe[:])
				switch {
				case n > 0:
					return nil, errBodyTooLarge
				case errors.Is(err, io.EOF):
					return buf, nil
				default:
					return nil, err
				}
			}
			if hint > bodyBlock && cap(buf) == bodyBlock {
				return fillBlocks(ctx, src, buf, hint, res, blocks)
			}
			next := min(2*int64(cap(buf)), most)
			if err := res.grow(ctx, next); err != nil {
				return nil, err
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			res.shrink(int64(cap(buf)))
			buf = grown
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// fillBlocks is fill for a body of hint bytes whose first bodyBlock, first, is in.
func fillBlocks(ctx context.Context, src io.Reader, first []byte, hint int64, res *reservation, blocks *sync.Pool) ([]byte, error) {
	held := [][]byte{first}
	var pooled []*[]byte
	defer func() {
		for _, b := range pooled {
			blocks.Put(b)
		}
		res.shrink(int64(len(pooled)) * bodyBlock)
	}()
	got := int64(len(first))
	for got < hint/2 {
		if err := res.grow(ctx, bodyBlock); err != nil {
			return nil, err
		}
		b := blocks.Get().(*[]byte)
		pooled = append(pooled, b)
		n, err := readFull(src, (*b)[:min(bodyBlock, hint-got)])
		held = append(held, (*b)[:n])
		got += int64(n)
		if errors.Is(err, io.EOF) {
			if err := res.grow(ctx, got); err != nil {
				return nil, err
			}
			res.shrink(int64(cap(first)))
			return join(held, got), nil
		}
		if err != nil {
			return nil, err
		}
	}
	if err := res.grow(ctx, hint); err != nil {
		return nil, err
	}
	body := join(held, hint)
	res.shrink(int64(cap(first)))
	n, err := readFull(src, body[got:hint])
	body = body[:got+int64(n)]
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return body, nil
}

// join copies blocks into one new buffer of capacity size.
func join(blocks [][]byte, size int64) []byte {
	out := make([]byte, 0, size)
	for _, b := range blocks {
		out = append(out, b...)
	}
	return out
}

// readFull reads into b until it is full or src ends (io.EOF) or fails.
func readFull(src io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := src.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// newBodyBlocks is the pool of fill's blocks.
func newBodyBlocks() *sync.Pool {
	return &sync.Pool{New: func() any {
		b := make([]byte, bodyBlock)
		return &b
	}}
}

// bodyFailed answers a request whose body could not be taken in.
func (p *Proxy) bodyFailed(w http.ResponseWriter, r *http.Request, br *bodyReader, err error) {
	l := p.cfg.Limits
	switch {
	case errors.Is(err, errBodyTooLarge):
		p.m.rejected.WithLabelValues("too_large").Inc()
		got := br.n
		if r.ContentLength > l.MaxBodyBytes {
			got = r.ContentLength
		}
		p.refuse(w, r, br, http.StatusRequestEntityTooLarge, errTooLarge, fmt.Sprintf(
			"request body is too large: more than [%d] bytes (limits.max_body_bytes, counted after gzip inflation), got at least [%d]",
			l.MaxBodyBytes, max(got, l.MaxBodyBytes+1)), true)
	case isBudgetErr(err):
		if !br.eof {
			w.Header().Set("Connection", "close")
		}
		p.overBudget(w, r, err)
		p.discardRest(br, r)
	case isTimeout(err):
		p.m.rejected.WithLabelValues("slow_body").Inc()
		p.refuse(w, r, br, http.StatusRequestTimeout, errSlowBody, fmt.Sprintf(
			"the request body did not arrive in time: [%d] bytes in %s of waiting for them; the proxy waits %s plus one second per [%d] bytes (limits.body_timeout, limits.body_min_rate)",
			br.n, br.waited.Round(time.Millisecond), l.BodyTimeout, l.BodyMinRate), false)
	default:
		// Bad gzip, or a broken connection: read on, so that a client still sending
		// sees the answer.
		reason := "cannot read the request body: " + readError(err)
		var bg badGzip
		if errors.As(err, &bg) {
			reason = "cannot read the gzip request body: " + readError(bg.err)
		}
		p.refuse(w, r, br, http.StatusBadRequest, errBadRequest, reason, true)
	}
}

// badGzip is a gzip body whose header cannot be read.
type badGzip struct{ err error }

func (e badGzip) Error() string { return "cannot read the gzip request body: " + e.err.Error() }
func (e badGzip) Unwrap() error { return e.err }

// refuse answers a request whose body was not taken in, closing the connection when
// some of the body is still unread, and reads on (discard) when that may let the
// client see the answer.
func (p *Proxy) refuse(w http.ResponseWriter, r *http.Request, br *bodyReader, status int, typ, reason string, discard bool) {
	if !br.eof {
		w.Header().Set("Connection", "close")
	}
	writeError(w, r, status, typ, reason)
	if discard {
		p.discardRest(br, r)
	}
}

// isBudgetErr reports a failure to take memory from the budget.
func isBudgetErr(err error) bool {
	return errors.Is(err, errOverBudget) || errors.Is(err, errBudgetBusy)
}

// overBudget answers a request refused for memory: 413 when it needs more than the
// whole budget, 429 with Retry-After when the budget stayed full for
// limits.inflight_wait (or the client left while it waited).
func (p *Proxy) overBudget(w http.ResponseWriter, r *http.Request, err error) {
	l := p.cfg.Limits
	p.m.rejected.WithLabelValues("memory").Inc()
	if errors.Is(err, errOverBudget) {
		writeError(w, r, http.StatusRequestEntityTooLarge, errTooLarge, fmt.Sprintf(
			"the request needs more than the [%d] bytes of memory the proxy gives requests in flight (limits.max_inflight_bytes): its body and bulk items; send smaller requests",
			l.MaxInflightBytes))
		return
	}
	retryLater(w, l.InflightWait)
	writeError(w, r, http.StatusTooManyRequests, errRejected, fmt.Sprintf(
		"fanout-proxy is holding its maximum of [%d] bytes of requests in flight (limits.max_inflight_bytes) and none was given back within %s; retry later",
		l.MaxInflightBytes, l.InflightWait))
}

// retryLater tells a client refused for a passing overload when to come back.
func retryLater(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
}

// discardRest makes sure a client refused while sending its body gets the answer:
// the answer is flushed, then the rest of the body is read and thrown away, and the
// connection is closed. Without this Go's server would close the connection with the
// client's bytes unread, and the kernel answers those with a reset that destroys the
// answer before a client that sends its whole body first has read it. Like nginx's
// lingering close it is bounded in time, not bytes: the body's own deadline, and at
// most limits.body_timeout from now.
func (p *Proxy) discardRest(br *bodyReader, r *http.Request) {
	if br.eof {
		return
	}
	// A client waiting for "100 Continue" has sent nothing and will not: refusing
	// without it is the protocol's way.
	if br.n == 0 && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return
	}
	// The answer is written already, with Connection: close, and full duplex lets the
	// body be read after it.
	_ = br.rc.Flush()
	br.res.release()
	stop := time.Now().Add(p.cfg.Limits.BodyTimeout)
	buf := make([]byte, 8<<10) // the server reads through a 4 KiB buffer anyway
	for {
		if _, err := br.readBefore(buf, stop); err != nil {
			return
		}
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
