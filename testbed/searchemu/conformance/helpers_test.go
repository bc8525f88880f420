// Package conformance_test proves testbed/searchemu faithful to the OpenSearch 2.x behaviour
// described in /work/shared/opensearch-api.md. Every expectation here is taken from that
// reference, never from the emulator's code: when the two disagree the test fails and the
// failure message names the reference section, the expected value and what came back.
//
// All traffic goes through the real opensearch-go v4 client. Typed request structs build
// the requests; they are sent through the client's transport (Perform) so that assertions
// see the raw status, headers and body bytes (key order included).
package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// emu is one emulator cluster served on 127.0.0.1 plus a client pointed at it.
type emu struct {
	cluster *searchemu.Cluster
	srv     *searchemu.Server
	api     *opensearchapi.Client
	url     string
}

// newEmu starts a cluster with opts and registers its shutdown with t.Cleanup.
func newEmu(t testing.TB, opts searchemu.Options) *emu {
	t.Helper()
	c := searchemu.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := c.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatalf("starting emulator: %v", err)
	}
	e := &emu{cluster: c, srv: srv, url: srv.URL()}
	e.api = newClient(t, e.url)
	t.Cleanup(func() {
		_ = e.api.Close()
		_ = srv.Close()
		cancel()
	})
	return e
}

// newClient builds an opensearch-go client for url with retries and health checks off, so
// that every request the test makes is exactly one HTTP exchange.
func newClient(t testing.TB, url string) *opensearchapi.Client {
	t.Helper()
	cli, err := opensearchapi.NewClient(opensearchapi.Config{Client: opensearch.Config{
		Addresses:             []string{url},
		DisableRetry:          true,
		HealthCheckMaxRetries: -1,
		RequestTimeout:        20 * time.Second,
	}})
	if err != nil {
		t.Fatalf("creating opensearch client: %v", err)
	}
	return cli
}

// resp is a raw HTTP answer.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
	desc   string // "METHOD /path?query" for failure messages
}

func (r *resp) String() string {
	return fmt.Sprintf("%s -> %d %s", r.desc, r.Status, truncate(r.Body, 600))
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// do builds req with the client's typed request struct and sends it through the client's
// transport, returning the raw response.
func (e *emu) do(t testing.TB, method string, req opensearch.Request) *resp {
	t.Helper()
	hr, err := req.GetRequest(method)
	if err != nil {
		t.Fatalf("building %s request: %v", method, err)
	}
	return e.send(t, hr)
}

// send performs an already built request through the client's transport.
func (e *emu) send(t testing.TB, hr *http.Request) *resp {
	t.Helper()
	desc := hr.Method + " " + hr.URL.RequestURI()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hr = hr.WithContext(ctx)
	res, err := e.api.Client.Perform(hr)
	if err != nil {
		t.Fatalf("%s: transport error: %v", desc, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s: reading body: %v", desc, err)
	}
	return &resp{Status: res.StatusCode, Header: res.Header, Body: body, desc: desc}
}

// raw sends method path with body. A non-empty body gets Content-Type application/json
// unless contentType is given ("-" sends no Content-Type at all).
func (e *emu) raw(t testing.TB, method, path, body string, contentType ...string) *resp {
	t.Helper()
	var rdr io.Reader
	if body != "" {
		rdr = strings.NewReader(body)
	}
	hr, err := http.NewRequest(method, path, rdr)
	if err != nil {
		t.Fatalf("building %s %s: %v", method, path, err)
	}
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	if len(contentType) > 0 {
		ct = contentType[0]
	}
	if ct != "" && ct != "-" {
		hr.Header.Set("Content-Type", ct)
	}
	return e.send(t, hr)
}

// rawOK is raw for a request that must be answered 200; the test stops otherwise.
func (e *emu) rawOK(t testing.TB, method, path, body string) *resp {
	t.Helper()
	r := e.raw(t, method, path, body)
	if !wantStatus(t, r, 200) {
		t.FailNow()
	}
	return r
}

// ndjson is the header set bulk requests carry.
func ndjson() http.Header {
	return http.Header{"Content-Type": []string{"application/x-ndjson"}}
}

// bulk sends body to /_bulk (or /{index}/_bulk) with the client's BulkReq.
func (e *emu) bulk(t testing.TB, index, body string, params opensearchapi.BulkParams) *resp {
	t.Helper()
	return e.do(t, http.MethodPost, opensearchapi.BulkReq{Index: index, Body: strings.NewReader(body), Header: ndjson(), Params: params})
}

// bulkOK sends a bulk body that must be answered 200 and returns the response.
func (e *emu) bulkOK(t testing.TB, body string) *resp {
	t.Helper()
	r := e.bulk(t, "", body, opensearchapi.BulkParams{})
	if r.Status != http.StatusOK {
		t.Fatalf("bulk setup: %s", r)
	}
	return r
}

// put indexes doc under index/id (refresh=true so searches see it) and requires success.
func (e *emu) put(t testing.TB, index, id, doc string) *resp {
	t.Helper()
	r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: index, DocumentID: id, Body: strings.NewReader(doc), Params: opensearchapi.IndexParams{Refresh: "true"}})
	if r.Status != http.StatusOK && r.Status != http.StatusCreated {
		t.Fatalf("indexing %s/%s: %s", index, id, r)
	}
	return r
}

// createIndex creates index with body and requires 200.
func (e *emu) createIndex(t testing.TB, index, body string) {
	t.Helper()
	var rdr io.Reader
	if body != "" {
		rdr = strings.NewReader(body)
	}
	r := e.do(t, http.MethodPut, opensearchapi.IndicesCreateReq{Index: index, Body: rdr})
	if r.Status != http.StatusOK {
		t.Fatalf("creating index %s: %s", index, r)
	}
}

// get fetches index/id.
func (e *emu) get(t testing.TB, index, id string) *resp {
	t.Helper()
	return e.do(t, http.MethodGet, opensearchapi.DocumentGetReq{Index: index, DocumentID: id})
}

// source returns the _source of index/id, failing the test if it is not found.
func (e *emu) source(t testing.TB, index, id string) json.RawMessage {
	t.Helper()
	r := e.get(t, index, id)
	if r.Status != http.StatusOK {
		t.Fatalf("getting %s/%s: %s", index, id, r)
	}
	return rawAt(t, r.Body, "_source")
}

// ---- JSON inspection -------------------------------------------------------------------

// rawAt walks body along path (string keys, int indexes) and returns the raw JSON there,
// failing the test when the path does not exist.
func rawAt(t testing.TB, body []byte, path ...any) json.RawMessage {
	t.Helper()
	v, ok := lookup(body, path...)
	if !ok {
		t.Fatalf("JSON path %v missing in %s", path, truncate(body, 800))
	}
	return v
}

// lookup is rawAt without failing.
func lookup(body []byte, path ...any) (json.RawMessage, bool) {
	cur := json.RawMessage(body)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			var m map[string]json.RawMessage
			if json.Unmarshal(cur, &m) != nil {
				return nil, false
			}
			v, ok := m[k]
			if !ok {
				return nil, false
			}
			cur = v
		case int:
			var a []json.RawMessage
			if json.Unmarshal(cur, &a) != nil || k < 0 || k >= len(a) {
				return nil, false
			}
			cur = a[k]
		default:
			panic(fmt.Sprintf("bad path element %T", p))
		}
	}
	return cur, true
}

// has reports whether path exists in body.
func has(body []byte, path ...any) bool {
	_, ok := lookup(body, path...)
	return ok
}

// str returns the string at path ("" plus a failure when absent or not a string).
func str(t testing.TB, body []byte, path ...any) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(rawAt(t, body, path...), &s); err != nil {
		t.Errorf("JSON path %v is not a string in %s", path, truncate(body, 600))
	}
	return s
}

// num returns the integer at path.
func num(t testing.TB, body []byte, path ...any) int64 {
	t.Helper()
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(rawAt(t, body, path...)))
	d.UseNumber()
	if err := d.Decode(&n); err != nil {
		t.Errorf("JSON path %v is not a number in %s", path, truncate(body, 600))
		return 0
	}
	i, err := n.Int64()
	if err != nil {
		t.Errorf("JSON path %v = %s is not an integer", path, n)
	}
	return i
}

// keys returns the member names of the JSON object raw, in document order.
func keys(t testing.TB, raw []byte) []string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	tok, err := d.Token()
	if err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", truncate(raw, 400))
	}
	var out []string
	for d.More() {
		k, err := d.Token()
		if err != nil {
			t.Fatalf("reading key: %v in %s", err, truncate(raw, 400))
		}
		out = append(out, k.(string))
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			t.Fatalf("reading value: %v in %s", err, truncate(raw, 400))
		}
	}
	return out
}

// wantKeys asserts the exact member names and order of the object at path.
func wantKeys(t testing.TB, body []byte, want []string, path ...any) {
	t.Helper()
	got := keys(t, rawAt(t, body, path...))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("keys at %v: want %v, got %v (body %s)", path, want, got, truncate(body, 600))
	}
}

// canon decodes JSON for semantic comparison (numbers as float64).
func canon(t testing.TB, raw []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("invalid JSON %q: %v", truncate(raw, 400), err)
	}
	return v
}

// jsonEq reports whether two JSON texts are semantically equal.
func jsonEq(t testing.TB, a, b []byte) bool {
	t.Helper()
	return reflect.DeepEqual(canon(t, a), canon(t, b))
}

// wantJSON asserts the JSON at path equals want semantically.
func wantJSON(t testing.TB, body []byte, want string, path ...any) {
	t.Helper()
	got := rawAt(t, body, path...)
	if !jsonEq(t, got, []byte(want)) {
		t.Errorf("JSON at %v: want %s, got %s", path, want, truncate(got, 800))
	}
}

// wantExactBody asserts body equals want byte for byte after compacting both, which pins
// key order and values while ignoring insignificant whitespace.
func wantExactBody(t testing.TB, r *resp, want string) {
	t.Helper()
	var g, w bytes.Buffer
	if err := json.Compact(&g, r.Body); err != nil {
		t.Fatalf("%s: body is not JSON: %v", r.desc, err)
	}
	if err := json.Compact(&w, []byte(want)); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if g.String() != w.String() {
		t.Errorf("%s: body\n want %s\n  got %s", r.desc, w.String(), g.String())
	}
}

// wantStatus asserts the HTTP status.
func wantStatus(t testing.TB, r *resp, want int) bool {
	t.Helper()
	if r.Status != want {
		t.Errorf("%s: want status %d, got %d (body %s)", r.desc, want, r.Status, truncate(r.Body, 600))
		return false
	}
	return true
}

// wantError asserts the §0 standard error envelope: status, error.type, error.reason,
// "status" key, root_cause entries without caused_by, and — when the error has no nested
// cause — root_cause[0] carrying the same type and reason.
func wantError(t testing.TB, r *resp, status int, typ, reason string) {
	t.Helper()
	if !wantStatus(t, r, status) {
		return
	}
	checkEnvelope(t, r, status)
	if !has(r.Body, "error", "type") {
		return
	}
	if got := str(t, r.Body, "error", "type"); got != typ {
		t.Errorf("%s: error.type want %q, got %q", r.desc, typ, got)
	}
	if got := str(t, r.Body, "error", "reason"); got != reason {
		t.Errorf("%s: error.reason\n want %q\n  got %q", r.desc, reason, got)
	}
	if !has(r.Body, "error", "caused_by") && has(r.Body, "error", "root_cause", 0) {
		if got := str(t, r.Body, "error", "root_cause", 0, "type"); got != typ {
			t.Errorf("%s: root_cause[0].type want %q, got %q", r.desc, typ, got)
		}
		if got := str(t, r.Body, "error", "root_cause", 0, "reason"); got != reason {
			t.Errorf("%s: root_cause[0].reason want %q, got %q", r.desc, reason, got)
		}
	}
}

// checkEnvelope asserts the structural part of the standard error envelope.
func checkEnvelope(t testing.TB, r *resp, status int) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &top); err != nil {
		t.Errorf("%s: error body is not a JSON object: %s", r.desc, truncate(r.Body, 400))
		return
	}
	if got := keys(t, r.Body); !reflect.DeepEqual(got, []string{"error", "status"}) {
		t.Errorf("%s: envelope keys want [error status], got %v", r.desc, got)
	}
	if has(r.Body, "status") && num(t, r.Body, "status") != int64(status) {
		t.Errorf("%s: envelope status want %d, got %s", r.desc, status, rawAt(t, r.Body, "status"))
	}
	var e map[string]json.RawMessage
	if err := json.Unmarshal(top["error"], &e); err != nil {
		t.Errorf("%s: \"error\" is not an object (simple envelope where the standard one was expected): %s", r.desc, top["error"])
		return
	}
	rc, ok := e["root_cause"]
	if !ok {
		t.Errorf("%s: error.root_cause missing", r.desc)
		return
	}
	var causes []map[string]json.RawMessage
	if err := json.Unmarshal(rc, &causes); err != nil || len(causes) == 0 {
		t.Errorf("%s: error.root_cause must be a non-empty array, got %s", r.desc, rc)
		return
	}
	for i, c := range causes {
		if _, ok := c["caused_by"]; ok {
			t.Errorf("%s: root_cause[%d] must not carry caused_by", r.desc, i)
		}
		if _, ok := c["type"]; !ok {
			t.Errorf("%s: root_cause[%d] lacks type", r.desc, i)
		}
	}
}

// wantSimpleError asserts the router-level {"error":"<string>","status":N} envelope.
func wantSimpleError(t testing.TB, r *resp, status int, msg string) {
	t.Helper()
	if !wantStatus(t, r, status) {
		return
	}
	wantExactBody(t, r, fmt.Sprintf(`{"error":%q,"status":%d}`, msg, status))
}

// wantMeta asserts that the error object at path carries metadata key k with value v
// (v == "*" only requires a non-empty string).
func wantMeta(t testing.TB, body []byte, k, v string, path ...any) {
	t.Helper()
	p := append(append([]any{}, path...), k)
	raw, ok := lookup(body, p...)
	if !ok {
		t.Errorf("error metadata %q missing at %v in %s", k, path, truncate(body, 600))
		return
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Errorf("error metadata %q at %v must be a string, got %s", k, path, raw)
		return
	}
	if v == "*" {
		if s == "" {
			t.Errorf("error metadata %q at %v is empty", k, path)
		}
		return
	}
	if s != v {
		t.Errorf("error metadata %q at %v: want %q, got %q", k, path, v, s)
	}
}

// item returns the raw bulk item i (the object under its action key) and the action key.
func item(t testing.TB, body []byte, i int) (string, json.RawMessage) {
	t.Helper()
	it := rawAt(t, body, "items", i)
	ks := keys(t, it)
	if len(ks) != 1 {
		t.Fatalf("bulk item %d must have exactly one key, got %v", i, ks)
	}
	return ks[0], rawAt(t, it, ks[0])
}

// successKeys is the §1.4 success item key order for the given options.
func successKeys(forcedRefresh, get, status bool) []string {
	k := []string{"_index", "_id", "_version", "result"}
	if forcedRefresh {
		k = append(k, "forced_refresh")
	}
	k = append(k, "_shards", "_seq_no", "_primary_term")
	if get {
		k = append(k, "get")
	}
	if status {
		k = append(k, "status")
	}
	return k
}

// wantItem checks bulk item i: action key, status, result (success) and success key order.
func wantItem(t testing.TB, r *resp, i int, action string, status int, result string) json.RawMessage {
	t.Helper()
	act, it := item(t, r.Body, i)
	if act != action {
		t.Errorf("%s: item %d action key want %q, got %q", r.desc, i, action, act)
	}
	if got := num(t, it, "status"); got != int64(status) {
		t.Errorf("%s: item %d status want %d, got %d (%s)", r.desc, i, status, got, truncate(it, 600))
	}
	if result != "" {
		if !has(it, "result") {
			t.Errorf("%s: item %d has no result: %s", r.desc, i, truncate(it, 600))
		} else if got := str(t, it, "result"); got != result {
			t.Errorf("%s: item %d result want %q, got %q", r.desc, i, result, got)
		}
		want := successKeys(has(it, "forced_refresh"), has(it, "get"), true)
		if got := keys(t, it); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: item %d key order want %v, got %v", r.desc, i, want, got)
		}
	}
	return it
}

// wantItemError checks a failed bulk item: exactly _index,_id,status,error, the status,
// error.type and error.reason (reason "" skips the reason check).
func wantItemError(t testing.TB, r *resp, i int, action string, status int, typ, reason string) json.RawMessage {
	t.Helper()
	act, it := item(t, r.Body, i)
	if act != action {
		t.Errorf("%s: item %d action key want %q, got %q", r.desc, i, action, act)
	}
	if got := keys(t, it); !reflect.DeepEqual(got, []string{"_index", "_id", "status", "error"}) {
		t.Errorf("%s: failed item %d keys want [_index _id status error], got %v", r.desc, i, got)
	}
	if got := num(t, it, "status"); got != int64(status) {
		t.Errorf("%s: item %d status want %d, got %d (%s)", r.desc, i, status, got, truncate(it, 600))
	}
	if !has(it, "error", "type") {
		t.Errorf("%s: item %d has no error.type: %s", r.desc, i, truncate(it, 600))
		return it
	}
	if got := str(t, it, "error", "type"); got != typ {
		t.Errorf("%s: item %d error.type want %q, got %q", r.desc, i, typ, got)
	}
	if reason != "" {
		if got := str(t, it, "error", "reason"); got != reason {
			t.Errorf("%s: item %d error.reason\n want %q\n  got %q", r.desc, i, reason, got)
		}
	}
	return it
}

// wantErrorsFlag asserts the bulk "errors" flag.
func wantErrorsFlag(t testing.TB, r *resp, want bool) {
	t.Helper()
	var got bool
	if err := json.Unmarshal(rawAt(t, r.Body, "errors"), &got); err != nil {
		t.Errorf("%s: errors is not a bool", r.desc)
	}
	if got != want {
		t.Errorf("%s: errors flag want %v, got %v", r.desc, want, got)
	}
}

// shards2 is the _shards block of an applied write with the default single replica.
const shards2 = `{"total":2,"successful":1,"failed":0}`

// ptr returns a pointer to v (request params take *int, *bool).
func ptr[V any](v V) *V { return &v }

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// tryRaw is raw without failing on transport errors (connection refused while Down).
func (e *emu) tryRaw(method, path, body string) (*resp, error) {
	var rdr io.Reader
	if body != "" {
		rdr = strings.NewReader(body)
	}
	hr, err := http.NewRequest(method, path, rdr)
	if err != nil {
		return nil, err
	}
	if body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := e.api.Client.Perform(hr.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &resp{Status: res.StatusCode, Header: res.Header, Body: b, desc: method + " " + path}, nil
}
