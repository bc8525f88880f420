package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/opensearch-project/opensearch-go/v4"
)

// passthrough forwards a request that is not a replicated write, with its body (read
// already, nil if none), streams the answer back and publishes nothing. Read-only calls
// fail over to the fallback cluster when the primary cannot be reached or answers
// 502/503/504.
func (p *Proxy) passthrough(w http.ResponseWriter, r *http.Request, rt route, body []byte) {
	resp, ok := p.streamWithFailover(w, r, rt, body, "a pass-through request")
	if !ok {
		return
	}
	defer resp.Body.Close()

	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = vs
	}
	for _, hh := range hopByHop {
		h.Del(hh)
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		return
	}
	if err := copyFlushing(w, resp); err != nil {
		p.log.Debug("client or cluster went away while streaming", "path", r.URL.Path, "error", err)
	}
}

// stream sends the client's request, with body, to one cluster. The body was read
// before the request took its concurrency slot (a slow client holds nobody up) and
// can be sent again to the fallback.
func (p *Proxy) stream(c *opensearch.Client, r *http.Request, body []byte) (*http.Response, error) {
	var rd io.Reader = http.NoBody
	length := int64(0)
	if body != nil {
		rd, length = bytes.NewReader(body), int64(len(body))
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "/", rd)
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	out.URL = clientPath(r, r.URL.RawQuery)
	p.forwardHeaders(out.Header, r)
	out.ContentLength = length
	resp, err := c.Stream(out)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func isUnavailable(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// copyFlushing copies the body, flushing after each chunk when the cluster streams
// (no Content-Length), so that chunked answers reach the client as they come.
func copyFlushing(w http.ResponseWriter, resp *http.Response) error {
	if resp.ContentLength >= 0 {
		_, err := io.Copy(w, resp.Body)
		return err
	}
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if ferr := rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// streamWithFailover sends r to the primary and, for a read the primary cannot serve
// (no answer, or 502/503/504), to the fallback cluster. When neither answers it
// answers the client 502 itself and returns false; what names the request in the log.
func (p *Proxy) streamWithFailover(w http.ResponseWriter, r *http.Request, rt route, body []byte, what string) (*http.Response, bool) {
	failover := rt.read && p.fallback != nil
	resp, err := p.stream(p.primary, r, body)
	if failover && (err != nil || isUnavailable(resp.StatusCode)) {
		reason := "error"
		if err == nil {
			reason = resp.Status
			drain(resp)
		}
		p.m.failovers.Inc()
		p.log.Warn("primary unreachable, read answered by the fallback cluster", "path", r.URL.Path, "primary", reason, "error", err)
		resp, err = p.stream(p.fallback, r, body)
	}
	if err != nil {
		// The cause names the cluster's address: it goes to the log, under the
		// request id the client is given.
		reqID := r.Header.Get("X-Opaque-Id")
		if reqID == "" {
			reqID = newRequestID()
		}
		p.log.Warn("no answer from the cluster for "+what, "request_id", reqID, "path", r.URL.Path, "error", err)
		writeError(w, r, http.StatusBadGateway, errPrimary, "the cluster is unreachable or did not answer [request id "+reqID+"]")
		return nil, false
	}
	return resp, true
}
