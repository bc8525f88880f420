package proxy_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/services/proxy"
)

// rawConn is a client connection driven by hand, as a careless or hostile client
// drives it: the test says what to write and when, and the answer is read as the
// client would read it, so the test sees what the client sees (an answer, or a reset).
type rawConn struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

// rawAnswer is what a rawConn read: an answer, or the error that stopped it.
type rawAnswer struct {
	status int
	header http.Header
	body   []byte
	close  bool // the server said Connection: close
	err    error
}

func dialRaw(t testing.TB, proxyURL string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(proxyURL, "http://"))
	if err != nil {
		t.Fatalf("dialing the proxy: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawConn{t: t, conn: conn, br: bufio.NewReader(conn)}
}

// head writes a request line and headers; contentLength < 0 sends none.
func (c *rawConn) head(method, path string, contentLength int64, headers ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: proxy\r\n", method, path)
	if contentLength >= 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", contentLength)
	}
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	_, err := io.WriteString(c.conn, b.String())
	return err
}

// read reads one answer, whole.
func (c *rawConn) read() rawAnswer {
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return rawAnswer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return rawAnswer{status: resp.StatusCode, header: resp.Header, body: body, close: resp.Close, err: err}
}

// readAsync reads one answer on its own goroutine.
func (c *rawConn) readAsync() <-chan rawAnswer {
	ch := make(chan rawAnswer, 1)
	go func() { ch <- c.read() }()
	return ch
}

// trickle writes one byte of body every interval until stop closes or a write fails.
func (c *rawConn) trickle(interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if _, err := c.conn.Write([]byte{' '}); err != nil {
				return
			}
		}
	}
}

// errorType checks an answer is the Elasticsearch error envelope with status and
// type, and returns its reason.
func (a rawAnswer) errorOf(t testing.TB, status int, typ string) string {
	t.Helper()
	if a.err != nil {
		t.Fatalf("want %d %s, the client got no answer: %v", status, typ, a.err)
	}
	var env struct {
		Error struct {
			RootCause []struct{ Type, Reason string } `json:"root_cause"`
			Type      string                          `json:"type"`
			Reason    string                          `json:"reason"`
		} `json:"error"`
		Status int `json:"status"`
	}
	if err := json.Unmarshal(a.body, &env); err != nil {
		t.Fatalf("answer %d is not an error envelope: %s", a.status, a.body)
	}
	if a.status != status || env.Status != status || env.Error.Type != typ ||
		len(env.Error.RootCause) != 1 || env.Error.RootCause[0].Type != typ {
		t.Fatalf("want %d %s, got %d %s", status, typ, a.status, a.body)
	}
	return env.Error.Reason
}

func waitAnswer(t testing.TB, ch <-chan rawAnswer, within time.Duration) rawAnswer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(within):
		t.Fatalf("no answer within %s", within)
		return rawAnswer{}
	}
}

// gauge reads one unlabelled gauge from a proxy's /metrics.
func gauge(t *testing.T, p *proxy.Proxy, name string) int {
	t.Helper()
	return counterValue(t, p.MetricsURL(), name)
}

// TestSlowBody: a body that comes slower than limits.body_timeout plus the minimum
// rate allow gets 408 in the Elasticsearch shape, which the client reads.
func TestSlowBody(t *testing.T) {
	e := startEnv(t, 1, func(c *proxy.Config) {
		c.Limits.BodyTimeout = 300 * time.Millisecond
		c.Limits.BodyMinRate = 1000 // a byte every 20 ms would keep up; one every 50 ms does not
	})
	for _, path := range []string{"/_bulk", "/some-index/_search"} {
		t.Run(path, func(t *testing.T) {
			c := dialRaw(t, e.url())
			if err := c.head(http.MethodPost, path, 1000, "Content-Type: application/json"); err != nil {
				t.Fatal(err)
			}
			answer := c.readAsync()
			stop := make(chan struct{})
			defer close(stop)
			go c.trickle(50*time.Millisecond, stop)
			reason := waitAnswer(t, answer, 20*time.Second).errorOf(t, http.StatusRequestTimeout, "fanout_request_timeout_exception")
			if !strings.Contains(reason, "limits.body_timeout") {
				t.Fatalf("reason %q does not name the limit", reason)
			}
		})
	}
	e.noEvents()
}

// TestSlowBodiesHoldNoSlot: clients sending their bodies slowly hold no concurrency
// slot, so with every one of them busy sending, others are served.
func TestSlowBodiesHoldNoSlot(t *testing.T) {
	const slow = 4
	e := startEnv(t, 1, func(c *proxy.Config) {
		c.Limits.MaxConcurrentRequests = 2
		c.Limits.BodyTimeout = time.Minute
	})
	stop := make(chan struct{})
	defer close(stop)
	for i := 0; i < slow; i++ {
		c := dialRaw(t, e.url())
		if err := c.head(http.MethodPost, "/_bulk", 1<<20, "Content-Type: application/x-ndjson"); err != nil {
			t.Fatal(err)
		}
		go c.trickle(10*time.Millisecond, stop)
	}
	// Each slow body holds its first buffer, 4 KiB, once the proxy reads it.
	deadline := time.Now().Add(10 * time.Second)
	for gauge(t, e.proxies[0], "fanout_proxy_inflight_bytes") < slow*4096 {
		if time.Now().After(deadline) {
			t.Fatal("the slow bodies were never being read")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := gauge(t, e.proxies[0], "fanout_proxy_inflight_requests"); n != 0 {
		t.Fatalf("%d slow bodies hold a concurrency slot", n)
	}
	if r := send(t, http.MethodGet, e.url()+"/", ""); r.status != 200 {
		t.Fatalf("GET /: %d %s", r.status, r.body)
	}
	if r := send(t, http.MethodPut, e.url()+"/slots/_doc/1", `{"a":1}`); r.status != 201 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if ops := e.published(); len(ops) != 1 {
		t.Fatalf("want the PUT's event, got %d", len(ops))
	}
}

// gzipMember returns one gzip member of 16 MiB of zeros (about 16 KiB); a gzip
// stream may hold many members, so repeating it makes a bomb of any size that
// inflates about 1,000 times.
func gzipMember(t testing.TB) []byte {
	t.Helper()
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for i := 0; i < 16; i++ {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	return member.Bytes()
}

// TestRefusedWhileSending: a client that sends its whole body before reading, as many
// do, gets the proxy's answer, not a reset, when the proxy refuses the body part-way.
// The bodies are bigger than what the kernel buffers on both sides of a loopback
// connection (tcp_rmem's 32 MiB at most, plus the sender's), so the client is still
// sending when the proxy answers.
func TestRefusedWhileSending(t *testing.T) {
	const limit = 1 << 20
	const sent = 48 << 20
	e := startEnv(t, 1, func(c *proxy.Config) { c.Limits.MaxBodyBytes = limit })
	items := bytes.Repeat([]byte("{\"index\":{\"_index\":\"r\"}}\n{\"a\":1}\n"), (1<<20)/33)
	bomb := gzipMember(t)
	tests := []struct {
		name    string
		chunk   []byte // the body is this, repeated to about 48 MiB
		headers []string
		chunked bool
		status  int
		errType string
	}{
		{name: "gzip bomb", chunk: bomb, headers: []string{"Content-Encoding: gzip"},
			status: 413, errType: "content_too_long_exception"},
		{name: "announced too large", chunk: items, status: 413, errType: "content_too_long_exception"},
		{name: "chunked too large", chunk: items, chunked: true, status: 413, errType: "content_too_long_exception"},
		{name: "unsupported encoding", chunk: items, headers: []string{"Content-Encoding: br"}, chunked: true,
			status: 400, errType: "illegal_argument_exception"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, e.url())
			headers := append([]string{"Content-Type: application/x-ndjson"}, tt.headers...)
			repeat := sent / len(tt.chunk)
			n := int64(repeat * len(tt.chunk))
			if tt.chunked {
				n = -1
				headers = append(headers, "Transfer-Encoding: chunked")
			}
			if err := c.head(http.MethodPost, "/_bulk", n, headers...); err != nil {
				t.Fatal(err)
			}
			// The whole body, then the answer.
			var err error
			for i := 0; i < repeat && err == nil; i++ {
				if tt.chunked {
					_, err = fmt.Fprintf(c.conn, "%x\r\n%s\r\n", len(tt.chunk), tt.chunk)
				} else {
					_, err = c.conn.Write(tt.chunk)
				}
			}
			if err == nil && tt.chunked {
				_, err = io.WriteString(c.conn, "0\r\n\r\n")
			}
			if err != nil {
				t.Fatalf("sending the body: %v", err)
			}
			a := c.read()
			a.errorOf(t, tt.status, tt.errType)
			if !a.close {
				t.Fatalf("the refused body's connection is kept alive: %v", a.header)
			}
		})
	}
	// A client that waits for "100 Continue" before sending gets the 413 instead.
	t.Run("expect 100-continue", func(t *testing.T) {
		c := dialRaw(t, e.url())
		if err := c.head(http.MethodPost, "/_bulk", sent, "Content-Type: application/x-ndjson", "Expect: 100-continue"); err != nil {
			t.Fatal(err)
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		c.read().errorOf(t, 413, "content_too_long_exception")
	})
	e.noEvents()
}

// TestMemoryBudget: a body that finds limits.max_inflight_bytes held by others waits
// limits.inflight_wait, then gets 429 with Retry-After; the request holding the
// memory goes through. A bulk whose items need more than the whole budget gets 413
// before the primary sees it.
func TestMemoryBudget(t *testing.T) {
	const limit = 256 << 10
	e := startEnv(t, 1, func(c *proxy.Config) {
		c.Limits.MaxBodyBytes = limit
		c.Limits.MaxInflightBytes = 2 * limit // 448 KiB for bodies over 64 KiB
		c.Limits.InflightWait = 200 * time.Millisecond
	})
	// A bulk of exactly 256 KiB: 1 KiB items.
	var b bytes.Buffer
	for i := 0; b.Len() < limit-2048; i++ {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":\"mem\",\"_id\":\"%d\"}}\n{\"t\":%q}\n", i, strings.Repeat("x", 960))
	}
	b.WriteString("{\"index\":{\"_index\":\"mem\",\"_id\":\"last\"}}\n{\"t\":\"")
	b.WriteString(strings.Repeat("y", limit-b.Len()-3) + "\"}\n")
	body := b.Bytes()
	if len(body) != limit {
		t.Fatalf("body of %d bytes", len(body))
	}
	items := bytes.Count(body, []byte{'\n'}) / 2
	const part = 200 << 10

	holder := dialRaw(t, e.url())
	if err := holder.head(http.MethodPost, "/_bulk", limit, "Content-Type: application/x-ndjson"); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.conn.Write(body[:part]); err != nil {
		t.Fatal(err)
	}
	// Its buffer reaches 256 KiB once more than 128 KiB are in.
	deadline := time.Now().Add(10 * time.Second)
	for gauge(t, e.proxies[0], "fanout_proxy_inflight_bytes") < limit {
		if time.Now().After(deadline) {
			t.Fatal("the first body never took its memory")
		}
		time.Sleep(5 * time.Millisecond)
	}

	late := dialRaw(t, e.url())
	if err := late.head(http.MethodPost, "/_bulk", limit, "Content-Type: application/x-ndjson"); err != nil {
		t.Fatal(err)
	}
	answer := late.readAsync()
	if _, err := late.conn.Write(body[:part]); err != nil {
		t.Fatal(err)
	}
	a := waitAnswer(t, answer, 20*time.Second)
	reason := a.errorOf(t, http.StatusTooManyRequests, "rejected_execution_exception")
	if a.header.Get("Retry-After") != "1" || !strings.Contains(reason, "limits.max_inflight_bytes") {
		t.Fatalf("429 without Retry-After or the limit's name: %v %q", a.header, reason)
	}

	if _, err := holder.conn.Write(body[part:]); err != nil {
		t.Fatal(err)
	}
	if r := holder.read(); r.err != nil || r.status != 200 || bytes.Contains(r.body[:min(len(r.body), 64)], []byte(`"errors":true`)) {
		t.Fatalf("the request holding the memory: %d %v %.300s", r.status, r.err, r.body)
	}
	if ops := e.published(); len(ops) != items {
		t.Fatalf("want the %d events of the bulk that went through, got %d", items, len(ops))
	}
	if n := gauge(t, e.proxies[0], "fanout_proxy_inflight_bytes"); n != 0 {
		t.Fatalf("%d bytes still counted once every request is answered", n)
	}

	// 16-byte items: 16,384 of them need far more than 512 KiB.
	tiny := bytes.Repeat([]byte("{\"index\":{}}\n{}\n"), limit/16)
	r := send(t, http.MethodPost, e.url()+"/tiny/_bulk", string(tiny))
	reason = rawAnswer{status: r.status, body: r.body}.errorOf(t, http.StatusRequestEntityTooLarge, "content_too_long_exception")
	if !strings.Contains(reason, "limits.max_inflight_bytes") {
		t.Fatalf("reason %q does not name the limit", reason)
	}
	if ops := e.published(); len(ops) != items {
		t.Fatalf("the refused bulk published: %d events", len(ops)-items)
	}
}

// TestConnectionLimits: idle keep-alive connections are closed after
// limits.idle_timeout, and headers past limits.max_header_bytes get 431.
func TestConnectionLimits(t *testing.T) {
	e := startEnv(t, 1, func(c *proxy.Config) {
		c.Limits.IdleTimeout = 200 * time.Millisecond
		c.Limits.MaxHeaderBytes = 4096
	})
	c := dialRaw(t, e.url())
	if err := c.head(http.MethodGet, "/", -1); err != nil {
		t.Fatal(err)
	}
	if a := c.read(); a.err != nil || a.status != 200 {
		t.Fatalf("GET /: %d %v", a.status, a.err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("an idle connection was not closed: read %v, %v", n, err)
	}

	for _, tt := range []struct {
		name   string
		header string
		status int
	}{
		{name: "within", header: "X-Pad: " + strings.Repeat("p", 2000), status: 200},
		// Go's server allows 4 KiB over the limit for the request line.
		{name: "past", header: "X-Pad: " + strings.Repeat("p", 12<<10), status: http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, e.url())
			if err := c.head(http.MethodGet, "/", -1, tt.header); err != nil {
				t.Fatal(err)
			}
			if a := c.read(); a.err != nil || a.status != tt.status {
				t.Fatalf("got %d %v, want %d", a.status, a.err, tt.status)
			}
		})
	}
}
