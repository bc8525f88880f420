package searchemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults are injected failures. Set them from Go (SetFaults, SetDownFor) or over HTTP:
// GET/PUT /_emu/faults with the same fields in snake_case (latency and down_for as
// duration strings such as "250ms"; a PUT replaces the whole set).
type Faults struct {
	// Down closes the listeners of every Server (connections are refused); clearing it
	// re-opens them on the same ports. ServeHTTP alone cannot be down.
	Down bool
	// Unavailable answers every request with 503.
	Unavailable bool
	// Latency is added to every request.
	Latency time.Duration
	// BulkItem429Ratio is the fraction of bulk items rejected with 429
	// rejected_execution_exception (nothing is applied for a rejected item).
	BulkItem429Ratio float64
	// Request429Ratio is the fraction of whole requests rejected with 429.
	Request429Ratio float64
	// ReadOnly rejects writes with 403 cluster_block_exception (cluster read-only block).
	ReadOnly bool
}

// SetFaults replaces the active faults (cancelling a pending SetDownFor).
func (c *Cluster) SetFaults(f Faults) {
	c.faultMu.Lock()
	if c.downTimer != nil {
		c.downTimer.Stop()
		c.downTimer = nil
	}
	c.faults.Store(&f)
	c.faultMu.Unlock()
	c.syncServers()
}

// Faults returns the active faults.
func (c *Cluster) Faults() Faults { return *c.faults.Load() }

// SetDownFor takes the servers down now and brings them back after d (other faults are
// kept).
func (c *Cluster) SetDownFor(d time.Duration) {
	c.faultMu.Lock()
	if c.downTimer != nil {
		c.downTimer.Stop()
	}
	f := *c.faults.Load()
	f.Down = true
	c.faults.Store(&f)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		c.faultMu.Lock()
		if c.downTimer != t {
			c.faultMu.Unlock()
			return
		}
		c.downTimer = nil
		f := *c.faults.Load()
		f.Down = false
		c.faults.Store(&f)
		c.faultMu.Unlock()
		c.syncServers()
	})
	c.downTimer = t
	c.faultMu.Unlock()
	c.syncServers()
}

// refuseNewConnections closes every server's listener but keeps its open connections,
// so that the answer to the request taking the cluster down still reaches its client
// while any dial made after that answer is refused; syncServers then closes the rest.
func (c *Cluster) refuseNewConnections() {
	c.srvMu.Lock()
	defer c.srvMu.Unlock()
	for s := range c.servers {
		s.mu.Lock()
		if s.ln != nil {
			_ = s.ln.Close()
		}
		s.mu.Unlock()
	}
}

func (c *Cluster) syncServers() {
	c.srvMu.Lock()
	servers := make([]*Server, 0, len(c.servers))
	for s := range c.servers {
		servers = append(servers, s)
	}
	c.srvMu.Unlock()
	for _, s := range servers {
		s.sync()
	}
}

// Server serves a Cluster on one TCP address.
type Server struct {
	c    *Cluster
	addr string

	mu     sync.Mutex
	srv    *http.Server
	ln     net.Listener // srv's listener, to refuse new connections ahead of srv.Close
	closed bool
	wg     sync.WaitGroup
	stop   chan struct{}
	once   sync.Once
}

// Listen serves the cluster on addr (e.g. "127.0.0.1:0") until ctx is done or Close.
func (c *Cluster) Listen(ctx context.Context, addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("searchemu: listening on %s: %w", addr, err)
	}
	s := &Server{c: c, addr: ln.Addr().String(), stop: make(chan struct{})}
	c.srvMu.Lock()
	c.servers[s] = struct{}{}
	c.srvMu.Unlock()
	s.mu.Lock()
	if c.faults.Load().Down {
		_ = ln.Close()
	} else {
		s.startLocked(ln)
	}
	s.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.stop:
		}
	}()
	return s, nil
}

// URL returns "http://127.0.0.1:PORT".
func (s *Server) URL() string { return "http://" + s.addr }

// Close stops serving and closes every connection.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	var err error
	if srv != nil {
		err = srv.Close()
	}
	s.c.srvMu.Lock()
	delete(s.c.servers, s)
	s.c.srvMu.Unlock()
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("searchemu: closing server %s: %w", s.addr, err)
	}
	return nil
}

func (s *Server) startLocked(ln net.Listener) {
	srv := &http.Server{
		Handler:           s.c,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	s.srv, s.ln = srv, ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.c.log.Warn("searchemu: serve stopped", "addr", s.addr, "err", err)
		}
	}()
}

// sync makes the server's state match the Down fault: closing the listener and every
// connection when down, re-listening on the same address when up.
func (s *Server) sync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	down := s.c.faults.Load().Down
	switch {
	case down && s.srv != nil:
		_ = s.srv.Close()
		s.srv = nil
	case !down && s.srv == nil:
		var ln net.Listener
		var err error
		for i := 0; i < 50; i++ {
			if ln, err = net.Listen("tcp", s.addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			s.c.log.Error("searchemu: re-listening after down", "addr", s.addr, "err", err)
			return
		}
		s.startLocked(ln)
	}
}

// ---- HTTP control endpoints ----

func faultsJSON(f Faults) []byte {
	b := []byte(`{"down":`)
	b = strconv.AppendBool(b, f.Down)
	b = append(b, `,"unavailable":`...)
	b = strconv.AppendBool(b, f.Unavailable)
	b = append(b, `,"latency":`...)
	b = appendJSONString(b, f.Latency.String())
	b = append(b, `,"bulk_item_429_ratio":`...)
	b = strconv.AppendFloat(b, f.BulkItem429Ratio, 'g', -1, 64)
	b = append(b, `,"request_429_ratio":`...)
	b = strconv.AppendFloat(b, f.Request429Ratio, 'g', -1, 64)
	b = append(b, `,"read_only":`...)
	b = strconv.AppendBool(b, f.ReadOnly)
	return append(b, '}')
}

func parseDurationValue(v any, key string) (time.Duration, error) {
	switch x := v.(type) {
	case string:
		d, err := time.ParseDuration(x)
		if err != nil {
			return 0, fmt.Errorf("parsing %s: %w", key, err)
		}
		return d, nil
	case jsonNum:
		return time.Duration(x.float64() * float64(time.Millisecond)), nil
	case nil:
		return 0, nil
	}
	return 0, fmt.Errorf("%s must be a duration string", key)
}

// parseFaults reads a faults body; downFor is the "down_for" duration, 0 if absent.
func parseFaults(body []byte) (Faults, time.Duration, error) {
	var f Faults
	if len(strings.TrimSpace(string(body))) == 0 {
		return f, 0, nil
	}
	v, je := parseJSON(body)
	if je != nil {
		return f, 0, errors.New(je.reason(body))
	}
	o, ok := v.(*jsonObj)
	if !ok {
		return f, 0, errors.New("faults must be a JSON object")
	}
	var downFor time.Duration
	for _, m := range o.m {
		var err error
		switch m.k {
		case "down":
			f.Down, ok = m.v.(bool)
		case "unavailable":
			f.Unavailable, ok = m.v.(bool)
		case "read_only":
			f.ReadOnly, ok = m.v.(bool)
		case "latency":
			f.Latency, err = parseDurationValue(m.v, m.k)
		case "down_for":
			downFor, err = parseDurationValue(m.v, m.k)
		case "bulk_item_429_ratio", "request_429_ratio":
			n, isNum := m.v.(jsonNum)
			ok = isNum
			if isNum {
				r := n.float64()
				if r < 0 || r > 1 {
					err = fmt.Errorf("%s must be within [0, 1]", m.k)
				}
				if m.k == "bulk_item_429_ratio" {
					f.BulkItem429Ratio = r
				} else {
					f.Request429Ratio = r
				}
			}
		default:
			return f, 0, fmt.Errorf("unknown fault [%s]", m.k)
		}
		if err != nil {
			return f, 0, err
		}
		if !ok {
			return f, 0, fmt.Errorf("fault [%s] has the wrong type", m.k)
		}
		ok = true
	}
	return f, downFor, nil
}

// serveEmu serves the emulator's control API under /_emu (never subject to faults).
func (c *Cluster) serveEmu(w http.ResponseWriter, r *http.Request, path string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	segs := splitPath(path)
	switch {
	case len(segs) == 2 && segs[1] == "faults":
		switch r.Method {
		case http.MethodGet:
			writeResponse(w, r, jsonResp(200, faultsJSON(c.Faults())), false)
		case http.MethodPut, http.MethodPost:
			f, downFor, err := parseFaults(body)
			if err != nil {
				writeResponse(w, r, errResp(errIllegalArg(err.Error())), false)
				return
			}
			shown := f
			if downFor > 0 {
				shown.Down = true
			}
			if shown.Down {
				c.refuseNewConnections()
			}
			writeResponse(w, r, jsonResp(200, faultsJSON(shown)), false)
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
			// apply after the answer is on the wire: Down closes this very connection
			c.SetFaults(f)
			if downFor > 0 {
				c.SetDownFor(downFor)
			}
		default:
			resp := simpleErr(405, "Incorrect HTTP method for uri ["+r.RequestURI+"] and method ["+r.Method+"], allowed: [GET, PUT, POST]")
			resp.headers = [][2]string{{"Allow", "GET,PUT,POST"}}
			writeResponse(w, r, resp, false)
		}
	case len(segs) == 3 && segs[1] == "oplog" && r.Method == http.MethodGet:
		name, _ := unescapeSeg(segs[2])
		c.mu.RLock()
		_, ok := c.indices[name]
		c.mu.RUnlock()
		if !ok {
			writeResponse(w, r, errResp(errIndexNotFound(name)), false)
			return
		}
		b := []byte{'['}
		for i, e := range c.OpLog(name) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"op":`...)
			b = appendJSONString(b, e.Op)
			b = append(b, `,"id":`...)
			b = appendJSONString(b, e.ID)
			b = append(b, `,"version":`...)
			b = strconv.AppendInt(b, e.Version, 10)
			b = append(b, `,"seq_no":`...)
			b = strconv.AppendInt(b, e.SeqNo, 10)
			b = append(b, `,"primary_term":`...)
			b = strconv.AppendInt(b, e.PrimaryTerm, 10)
			b = append(b, `,"version_type":`...)
			b = appendJSONString(b, e.VersionType)
			b = append(b, `,"at":`...)
			b = appendJSONString(b, e.At.UTC().Format(time.RFC3339Nano))
			b = append(b, `,"shard":`...)
			b = strconv.AppendInt(b, int64(e.Shard), 10)
			b = append(b, '}')
		}
		writeResponse(w, r, jsonResp(200, append(b, ']')), false)
	default:
		b := append([]byte(`{"error":`), appendJSONString(nil, "no handler found for uri ["+r.RequestURI+"] and method ["+r.Method+"]")...)
		writeResponse(w, r, jsonResp(400, append(b, '}')), false)
	}
}

func unescapeSeg(s string) (string, error) {
	return url.PathUnescape(s)
}
