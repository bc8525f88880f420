package searchemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestRouter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	cases := []struct {
		name, method, path, body string
		status                   int
		want                     string
		allow                    string
	}{
		{"wrong verb", "PUT", "/t/_doc", `{}`, 405, `{"error":"Incorrect HTTP method for uri [/t/_doc] and method [PUT], allowed: [POST]","status":405}`, "POST"},
		// PathTrie finds the explicit /_bulk node in every matching mode, never /{index}:
		// a GET there is a wrong verb, not a get-index of "_bulk"
		{"GET /_bulk is a wrong verb", "GET", "/_bulk", "", 405, `{"error":"Incorrect HTTP method for uri [/_bulk] and method [GET], allowed: [POST, PUT]","status":405}`, "POST,PUT"},
		{"unknown path", "GET", "/a/b/c/d", "", 400, `{"error":"no handler found for uri [/a/b/c/d] and method [GET]"}`, ""},
		{"unknown parameter", "GET", "/_cluster/health?levle=indices", "", 400, "", ""},
		{"head has no body", "HEAD", "/missing", "", 404, "", ""},
		{"options lists methods", "OPTIONS", "/_search/scroll", "", 200, "", "GET,POST,DELETE"},
	}
	for _, tc := range cases {
		r := h.do(tc.method, tc.path, tc.body)
		if r.status != tc.status {
			t.Errorf("%s: want %d, got %d: %s", tc.name, tc.status, r.status, r.body)
			continue
		}
		if tc.want != "" && r.body != tc.want {
			t.Errorf("%s:\n want %s\n  got %s", tc.name, tc.want, r.body)
		}
		if tc.allow != "" && r.header.Get("Allow") != tc.allow {
			t.Errorf("%s: Allow want %q, got %q", tc.name, tc.allow, r.header.Get("Allow"))
		}
		if tc.method == "HEAD" && r.body != "" {
			t.Errorf("%s: HEAD must not have a body", tc.name)
		}
		if tc.method != "HEAD" && tc.method != "OPTIONS" && r.header.Get("Content-Type") != "application/json; charset=UTF-8" {
			t.Errorf("%s: content type %q", tc.name, r.header.Get("Content-Type"))
		}
	}
	r := h.do("GET", "/_cluster/health?levle=indices", "")
	if jfield(t, r.body, "error.reason") != "request [/_cluster/health] contains unrecognized parameter: [levle] -> did you mean [level]?" {
		t.Fatalf("unrecognized: %s", r.body)
	}

	// Content-Type checks (406, simple envelope)
	send := func(ct, body string) (int, string) {
		req := httptest.NewRequest("PUT", "/t/_doc/1", strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		w := httptest.NewRecorder()
		h.c.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	if code, body := send("", `{}`); code != 406 || body != `{"error":"Content-Type header is missing","status":406}` {
		t.Errorf("missing content type: %d %s", code, body)
	}
	if code, body := send("text/plain", `{}`); code != 406 || body != `{"error":"Content-Type header [text/plain] is not supported","status":406}` {
		t.Errorf("text/plain: %d %s", code, body)
	}
	if code, _ := send("application/json; charset=UTF-8", `{}`); code != 201 {
		t.Errorf("json with charset: %d", code)
	}
	if code, _ := send("application/x-ndjson", `{}`); code != 200 {
		t.Errorf("ndjson: %d", code)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	c := New(Options{MaxBodyBytes: 1024})
	req := httptest.NewRequest("POST", "/_bulk", strings.NewReader(strings.Repeat("x", 2048)))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	c.ServeHTTP(w, req)
	if w.Code != 413 {
		t.Fatalf("oversized body: want 413, got %d", w.Code)
	}
	// unknown length (chunked)
	req = httptest.NewRequest("POST", "/_bulk", io.MultiReader(strings.NewReader(strings.Repeat("x", 2048))))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	w = httptest.NewRecorder()
	c.ServeHTTP(w, req)
	if w.Code != 413 {
		t.Fatalf("oversized chunked body: want 413, got %d", w.Code)
	}
}

func TestElasticsearch7Flavor(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Flavor: Elasticsearch7})
	r := h.must(201, "PUT", "/t/_doc/1", `{"a":1}`)
	if r.header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatal("ES 7 flavor must send X-Elastic-Product")
	}
	if !strings.HasPrefix(r.body, `{"_index":"t","_type":"_doc","_id":"1",`) {
		t.Fatalf("write response: %s", r.body)
	}
	r = h.must(200, "GET", "/t/_doc/1", "")
	if !strings.HasPrefix(r.body, `{"_index":"t","_type":"_doc","_id":"1","_version":1`) {
		t.Fatalf("get: %s", r.body)
	}
	r = h.must(404, "POST", "/t/_update/2", `{"doc":{}}`)
	if jfield(t, r.body, "error.reason") != "[_doc][2]: document missing" {
		t.Fatalf("document missing: %s", r.body)
	}
	r = h.must(200, "POST", "/_bulk", `{"index":{"_index":"t","_type":"_doc","_id":"3"}}`+"\n{}\n")
	if !strings.Contains(r.body, `{"index":{"_index":"t","_type":"_doc","_id":"3"`) {
		t.Fatalf("bulk with _type: %s", r.body)
	}
	r = h.must(200, "GET", "/", "")
	if jfield(t, r.body, "version.number") != "7.10.2" || jfield(t, r.body, "version.build_flavor") != "default" || jfield(t, r.body, "tagline") != "You Know, for Search" {
		t.Fatalf("root: %s", r.body)
	}
	h.c.SetFaults(Faults{BulkItem429Ratio: 1})
	r = h.must(200, "POST", "/_bulk", `{"index":{"_index":"t","_id":"4"}}`+"\n{}\n")
	if jfield(t, r.body, "items.0.index.error.type") != "es_rejected_execution_exception" {
		t.Fatalf("rejection type: %s", r.body)
	}
	r = h.must(404, "GET", "/nope", "")
	if r.header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatal("every response carries X-Elastic-Product")
	}
}

func TestFaultsOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	r := h.must(200, "PUT", "/_emu/faults", `{"unavailable":true,"latency":"1ms"}`)
	if r.body != `{"down":false,"unavailable":true,"latency":"1ms","bulk_item_429_ratio":0,"request_429_ratio":0,"read_only":false}` {
		t.Fatalf("faults echo: %s", r.body)
	}
	r = h.must(503, "GET", "/", "")
	if jfield(t, r.body, "status") != int64(503) {
		t.Fatalf("unavailable: %s", r.body)
	}
	h.must(200, "GET", "/_emu/faults", "") // control API is never faulted
	h.must(200, "PUT", "/_emu/faults", `{"request_429_ratio":1}`)
	r = h.must(429, "GET", "/", "")
	if jfield(t, r.body, "error.type") != "rejected_execution_exception" {
		t.Fatalf("429: %s", r.body)
	}
	h.must(200, "PUT", "/_emu/faults", `{"read_only":true}`)
	r = h.must(403, "POST", "/_bulk", `{"index":{"_index":"t","_id":"1"}}`+"\n{}\n")
	if jfield(t, r.body, "error.reason") != "blocked by: [FORBIDDEN/6/cluster read-only (api)];" {
		t.Fatalf("read only: %s", r.body)
	}
	h.must(403, "PUT", "/t/_doc/1", `{}`)
	h.must(404, "GET", "/t/_doc/1", "") // reads still work
	h.must(400, "PUT", "/_emu/faults", `{"nope":true}`)
	h.must(200, "PUT", "/_emu/faults", `{}`)
	h.must(201, "PUT", "/t/_doc/1", `{}`)
	if f := h.c.Faults(); f != (Faults{}) {
		t.Fatalf("PUT {} clears faults: %+v", f)
	}
}

func dialRefused(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func TestDownRefusesConnectionsAndComesBack(t *testing.T) {
	t.Parallel()
	c := New(Options{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv, err := c.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	addr := strings.TrimPrefix(srv.URL(), "http://")
	client := &http.Client{Timeout: 5 * time.Second}
	get := func() (int, error) {
		resp, err := client.Get(srv.URL() + "/")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if code, err := get(); err != nil || code != 200 {
		t.Fatalf("up: %d %v", code, err)
	}
	c.SetFaults(Faults{Down: true})
	if !dialRefused(addr) {
		t.Fatal("down: connections must be refused")
	}
	if _, err := get(); err == nil {
		t.Fatal("down: requests must fail")
	}
	c.SetFaults(Faults{})
	if code, err := get(); err != nil || code != 200 {
		t.Fatalf("back up on the same port: %d %v", code, err)
	}

	// down_for over HTTP answers, goes down, and comes back by itself. The window is long
	// enough that a loaded machine still checks the refusal inside it.
	req, _ := http.NewRequest("PUT", srv.URL()+"/_emu/faults", strings.NewReader(`{"down_for":"2s"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("setting down_for: %v", err)
	}
	resp.Body.Close()
	if !dialRefused(addr) {
		t.Fatal("down_for: connections must be refused")
	}
	deadline := time.Now().Add(15 * time.Second)
	for dialRefused(addr) {
		if time.Now().After(deadline) {
			t.Fatal("down_for: server did not come back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, err := get(); err != nil || code != 200 {
		t.Fatalf("after down_for: %d %v", code, err)
	}
	if c.Faults().Down {
		t.Fatal("down_for must clear Down")
	}

	// SetDownFor from Go, then Close while down
	c.SetDownFor(time.Hour)
	if !dialRefused(addr) {
		t.Fatal("SetDownFor: connections must be refused")
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	c.SetFaults(Faults{}) // a closed server stays closed
	if !dialRefused(addr) {
		t.Fatal("closed server must not come back")
	}
}

func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	errs := make(chan string, workers*perWorker)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			idx := []string{"shared", fmt.Sprintf("own%d", w)}
			for i := 0; i < perWorker; i++ {
				var b strings.Builder
				for _, ix := range idx {
					fmt.Fprintf(&b, "{\"index\":{\"_index\":%q,\"_id\":\"%d-%d\"}}\n{\"w\":%d,\"i\":%d,\"f%d\":\"x\"}\n", ix, w, i, w, i, i%5)
					fmt.Fprintf(&b, "{\"update\":{\"_index\":%q,\"_id\":\"counter\"}}\n{\"doc\":{\"last\":\"%d-%d\"},\"doc_as_upsert\":true}\n", ix, w, i)
				}
				req := httptest.NewRequest("POST", "/_bulk", strings.NewReader(b.String()))
				req.Header.Set("Content-Type", "application/x-ndjson")
				rec := httptest.NewRecorder()
				h.c.ServeHTTP(rec, req)
				if rec.Code != 200 || strings.Contains(rec.Body.String(), `"errors":true`) {
					errs <- rec.Body.String()
				}
				sr := httptest.NewRequest("POST", "/shared/_search", strings.NewReader(`{"query":{"term":{"w":1}},"size":1}`))
				sr.Header.Set("Content-Type", "application/json")
				srec := httptest.NewRecorder()
				h.c.ServeHTTP(srec, sr)
				if srec.Code != 200 {
					errs <- srec.Body.String()
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("concurrent request failed: %s", e)
	}
	ops := h.c.OpLog("shared")
	if len(ops) != workers*perWorker*2 {
		t.Fatalf("shared oplog: want %d entries, got %d", workers*perWorker*2, len(ops))
	}
	for i, op := range ops {
		if op.SeqNo != int64(i) {
			t.Fatalf("seq_no must be dense and in apply order: entry %d has %d", i, op.SeqNo)
		}
	}
	h.must(200, "POST", "/shared/_refresh", "")
	r := h.must(200, "GET", "/shared/_count", "")
	if jfield(t, r.body, "count") != int64(workers*perWorker+1) {
		t.Fatalf("count: %s", r.body)
	}
	r = h.must(200, "GET", "/shared/_doc/counter", "")
	if jfield(t, r.body, "_version") != int64(workers*perWorker) {
		t.Fatalf("every upsert/update applied once: %s", r.body)
	}
}

func TestResponseParams(t *testing.T) {
	t.Parallel()
	h := searchFixture(t)
	cases := []struct{ path, want string }{
		{"/s/_search?filter_path=hits.hits._id&size=2", `{"hits":{"hits":[{"_id":"1"},{"_id":"2"}]}}`},
		{"/s/_search?filter_path=-hits,-took,-_shards", `{"timed_out":false}`},
		{"/s/_search?filter_path=**._index&size=1", `{"hits":{"hits":[{"_index":"s"}]}}`},
		// like the server's FilterPath, a dotted name is a path: "docs.count" does not match the
		// cat column named "docs.count"
		{"/_cat/indices?format=json&filter_path=index,docs.count", `[{"index":"s"}]`},
		{"/s/_count?filter_path=nothing", `{}`},
	}
	for _, tc := range cases {
		if got := h.must(200, "GET", tc.path, "").body; got != tc.want {
			t.Errorf("%s:\n want %s\n  got %s", tc.path, tc.want, got)
		}
	}
	req := httptest.NewRequest("GET", "/s/_search?sort=_id&size=1", nil)
	req.Header.Set("X-Opaque-Id", "abc")
	w := httptest.NewRecorder()
	h.c.ServeHTTP(w, req)
	if w.Header().Get("X-Opaque-Id") != "abc" {
		t.Error("X-Opaque-Id must be echoed")
	}
	if !strings.HasPrefix(w.Header().Get("Warning"), `299 OpenSearch-2.11.0-`) {
		t.Errorf("sorting on _id warns: %q", w.Header().Get("Warning"))
	}
}

func TestYAMLBodies(t *testing.T) {
	t.Parallel()
	c := New(Options{})
	send := func(method, path, ct, body string) (int, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		c.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	code, body := send("PUT", "/y/_doc/1", "application/yaml", "# doc\na: 1\nb:\n  c: 'x'\n  d: [one, two, \"3\"]\nlist:\n  - k: v\n    n: 2.5\n  -\n    k: w\nnothing: ~\n")
	if code != 201 {
		t.Fatalf("yaml index: %d %s", code, body)
	}
	_, src := send("GET", "/y/_source/1", "application/json", "")
	if src != `{"a":1,"b":{"c":"x","d":["one","two","3"]},"list":[{"k":"v","n":2.5},{"k":"w"}],"nothing":null}` {
		t.Fatalf("yaml converted to: %s", src)
	}
	for i, tt := range []struct {
		name, body, want string
		code             int
	}{
		{"block scalars are strings", "lit: |\n  two\n  lines\nfold: >\n  one\n  line\n", `{"lit":"two\nlines\n","fold":"one line\n"}`, 201},
		{"jackson booleans, not yaml 1.1 ones", "a: yes\nb: TRUE\nc: 0x1f\nd: -7\ne: 1e3\n", `{"a":"yes","b":true,"c":"0x1f","d":-7,"e":1000.0}`, 201},
		{"quoted scalars stay strings", "a: 'true'\nb: \"1\"\n", `{"a":"true","b":"1"}`, 201},
		{"aliases are refused", "a: &x 1\nb: *x\n", "", 400},
		{"two documents are refused", "a: 1\n---\nb: 2\n", "", 400},
		{"broken yaml is a parse error", "a: [1, 2\n", "", 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ix := "/yaml-" + strconv.Itoa(i) // a fresh mapping per case
			code, body := send("PUT", ix+"/_doc/t", "application/yaml", tt.body)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, body)
			}
			if tt.code != 201 {
				if !strings.Contains(body, `"type":"parse_exception"`) {
					t.Fatalf("refusal is not a parse_exception: %s", body)
				}
				return
			}
			if _, src := send("GET", ix+"/_source/t", "application/json", ""); src != tt.want {
				t.Fatalf("converted to %s, want %s", src, tt.want)
			}
		})
	}
	if code, _ := send("POST", "/_bulk", "application/yaml", "a: 1\n"); code != 406 {
		t.Fatalf("yaml bulk must be 406, got %d", code)
	}
	if code, _ := send("PUT", "/y/_doc/2", "application/cbor", "\xa1"); code != 400 {
		t.Fatalf("cbor must be accepted as a type but refused by the emulator, got %d", code)
	}
}
