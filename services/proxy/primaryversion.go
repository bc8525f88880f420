package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Which write APIs a request reaches depends on the primary's product and version:
// Elasticsearch 6/7 and OpenSearch 1.x still route the typed document APIs
// (/{index}/{type}/{id}, /{index}/{type}, …/_create, …/_update, /{index}/{type}/_bulk)
// and the typed read and mapping APIs under /{index}/{type}/, which OpenSearch 2 removed
// (its RestIndexAction, RestDeleteAction, RestUpdateAction and RestBulkAction register the
// typeless routes only) and Elasticsearch 8 keeps only for REST API compatibility
// requests. So "POST /logs/_doc/_bulk" is a bulk on Elasticsearch 7 (PathTrie finds
// /{index}/{type}/_bulk first) and the index of a document with id "_bulk" on
// OpenSearch 2. The proxy reads the primary's GET / to know which, and routes a request
// whose meaning depends on it only once it knows (routes.go).

// primaryVersion is what the proxy knows of the primary from its GET / answer.
type primaryVersion struct {
	product string // "elasticsearch" or "opensearch"
	number  string // version.number as reported (7.10.2 for OpenSearch in compatibility mode)
	major   int    // the product's own major version
	// typed: the primary routes the typed document APIs (Elasticsearch ≤ 7, OpenSearch 1).
	typed bool
	// xpack: Elasticsearch's default distribution, whose x-pack plugins add typed routes
	// of their own (/{index}/{type}/_rollup_search).
	xpack bool
	// compat7: Elasticsearch 8, which routes the typed APIs for requests that ask for
	// REST API version 7 (asksV7); Elasticsearch 9 no longer does.
	compat7 bool
}

func (v *primaryVersion) String() string {
	if v.major != 0 && !strings.HasPrefix(v.number, strconv.Itoa(v.major)+".") {
		return fmt.Sprintf("%s %d.x (reports %s)", v.product, v.major, v.number)
	}
	return v.product + " " + v.number
}

// parsePrimaryVersion reads a GET / answer (MainResponse.toXContent).
//
// OpenSearch writes version.distribution "opensearch" and Elasticsearch does not. With
// compatibility.override_main_response_version (OpenSearch 1.x and 2.1–2.x, set for
// Elasticsearch 7 clients and shippers that check the version) OpenSearch reports number
// 7.10.2 without the distribution, but keeps its tagline and its real
// minimum_wire_compatibility_version: 6.8.0 on 1.x, 7.10.0 on 2.x.
func parsePrimaryVersion(body []byte) (*primaryVersion, error) {
	var root struct {
		Version struct {
			Distribution string `json:"distribution"`
			Number       string `json:"number"`
			BuildFlavor  string `json:"build_flavor"`
			MinWire      string `json:"minimum_wire_compatibility_version"`
		} `json:"version"`
		Tagline string `json:"tagline"`
	}
	if err := json.Unmarshal(body, &root); err != nil {
		return nil, fmt.Errorf("reading the primary's GET / answer: %w", err)
	}
	rv := root.Version
	major, err := majorOf(rv.Number)
	if err != nil {
		return nil, fmt.Errorf("reading the primary's version.number: %w", err)
	}
	v := &primaryVersion{number: rv.Number, major: major}
	switch {
	case rv.Distribution == "opensearch":
		v.product = "opensearch"
	case rv.Distribution != "":
		return nil, fmt.Errorf("the primary reports an unknown distribution %q (want OpenSearch or Elasticsearch)", rv.Distribution)
	case strings.Contains(root.Tagline, "OpenSearch"):
		v.product = "opensearch" // compatibility mode: number is 7.10.2
		if wire, err := majorOf(rv.MinWire); err == nil && wire <= 6 {
			v.major = 1
		} else {
			v.major = 2
		}
	default:
		v.product = "elasticsearch"
		v.xpack = rv.BuildFlavor != "oss"
	}
	v.typed = v.product == "elasticsearch" && v.major <= 7 || v.product == "opensearch" && v.major <= 1
	v.compat7 = v.product == "elasticsearch" && v.major == 8
	return v, nil
}

func majorOf(number string) (int, error) {
	head, _, _ := strings.Cut(number, ".")
	n, err := strconv.Atoi(head)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("not a version: %q", number)
	}
	return n, nil
}

// learnedVersion is the primary's version and when it was read.
type learnedVersion struct {
	v  *primaryVersion
	at time.Time
}

// version is the primary's version, nil when not known or not read again for
// versionTTL. The probe reads it every readiness interval when it may; otherwise (a
// secured primary in passthrough mode) a request that needs it reads it again with its
// client's credentials, so that an upgrade of the primary is seen within versionTTL.
func (p *Proxy) version() *primaryVersion {
	l := p.primaryVer.Load()
	if l == nil || time.Since(l.at) > p.versionTTL() {
		return nil
	}
	return l.v
}

func (p *Proxy) versionTTL() time.Duration {
	return max(time.Minute, 3*p.cfg.Limits.ReadinessInterval)
}

// setVersion records the primary's version, logging when it is new or changed (an
// upgrade of the primary).
func (p *Proxy) setVersion(v *primaryVersion) {
	old := p.primaryVer.Swap(&learnedVersion{v: v, at: time.Now()})
	if old == nil || *old.v != *v {
		p.log.Info("primary version", "version", v.String(), "typed_apis", v.typed)
	}
}

// versionError is a failure to learn the primary's version for a request. resp, when
// set, is the primary's own refusal of GET / (401: the client's credentials), which the
// client gets as it came.
type versionError struct {
	err error
	// unreachable: GET / got no answer (the cause names the primary's address, which
	// the client is not told).
	unreachable bool
	resp        *http.Response
	body        []byte
}

func (e *versionError) Error() string { return e.err.Error() }

// learnVersion asks the primary GET / on behalf of r: with the client's credentials, as
// in passthrough mode the proxy has none of its own (the probe's GET / then gets 401
// from a secured primary).
func (p *Proxy) learnVersion(r *http.Request) (*primaryVersion, *versionError) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	if err != nil {
		return nil, &versionError{err: fmt.Errorf("building GET /: %w", err)}
	}
	p.forwardHeaders(req.Header, r)
	for _, h := range []string{"Content-Type", "Content-Length", "Content-Encoding", "Accept-Encoding"} {
		req.Header.Del(h)
	}
	resp, err := p.primary.Perform(req)
	if err != nil {
		return nil, &versionError{err: fmt.Errorf("GET / on the primary: %w", err), unreachable: true}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &versionError{err: fmt.Errorf("reading the primary's GET / answer: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		ve := &versionError{err: fmt.Errorf("the primary answered GET / with HTTP %d", resp.StatusCode)}
		if resp.StatusCode == http.StatusUnauthorized {
			ve.resp, ve.body = resp, body
		}
		return nil, ve
	}
	v, err := parsePrimaryVersion(body)
	if err != nil {
		return nil, &versionError{err: err}
	}
	p.setVersion(v)
	return v, nil
}

// refuseUnversioned answers a request the proxy cannot route without the primary's
// version, which it could not learn. Nothing was sent to the primary.
func (p *Proxy) refuseUnversioned(w http.ResponseWriter, r *http.Request, ve *versionError) {
	if ve.resp != nil {
		// The client's credentials are refused: it gets the primary's own answer, as it
		// would for the request itself.
		copyHeaders(w.Header(), ve.resp.Header)
		writeBody(w, r, ve.resp.StatusCode, ve.body)
		return
	}
	reqID := r.Header.Get("X-Opaque-Id")
	if reqID == "" {
		reqID = newRequestID()
	}
	p.log.Warn("cannot learn the primary's version to route a request; refused", "request_id", reqID,
		"method", r.Method, "path", r.URL.Path, "error", ve.err)
	reason := ve.err.Error()
	if ve.unreachable {
		reason = "the primary could not be reached"
	}
	writeError(w, r, http.StatusServiceUnavailable, errPrimary, fmt.Sprintf(
		"fanout routes [%s %s] by the primary's version (Elasticsearch 7 and OpenSearch 1 have typed APIs, later versions do not) "+
			"and could not learn it: %s; the request was not sent to the primary and nothing was published [request id %s]",
		r.Method, r.URL.Path, reason, reqID))
}

// probeVersion reads the primary's version from the readiness probe's GET / answer.
func (p *Proxy) probeVersion(resp *http.Response) {
	if resp.StatusCode != http.StatusOK {
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return
	}
	v, err := parsePrimaryVersion(body)
	if err != nil {
		if !p.versionUnread.Swap(true) { // once, not on every probe
			p.log.Warn("cannot read the primary's version from GET /", "error", err)
		}
		return
	}
	p.versionUnread.Store(false)
	p.setVersion(v)
}
