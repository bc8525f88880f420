package conformance_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// waitUp polls GET / until it answers 200 or the deadline passes, returning how long it
// took.
func waitUp(t testing.TB, e *emu, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if r, err := e.tryRaw(http.MethodGet, "/", ""); err == nil && r.Status == 200 {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("emulator did not come back on %s within %v", e.url, within)
	return 0
}

// wantRefused asserts that a fresh TCP dial and a client request both fail.
func wantRefused(t testing.TB, e *emu) {
	t.Helper()
	u, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		_ = c.Close()
		t.Errorf("Down: a fresh TCP connection to %s was accepted", u.Host)
	}
	if r, err := e.tryRaw(http.MethodGet, "/", ""); err == nil {
		t.Errorf("Down: request over the client's pooled connection was answered: %s", r)
	}
}

// TestFaultDown covers Faults.Down, SetDownFor and down_for over HTTP: connections are
// refused, then served again on the same URL.
func TestFaultDown(t *testing.T) {
	t.Parallel()

	t.Run("SetFaults Down then clear", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		e.put(t, "t", "1", `{"a":1}`)
		e.cluster.SetFaults(searchemu.Faults{Down: true})
		if !e.cluster.Faults().Down {
			t.Errorf("Faults().Down want true after SetFaults")
		}
		wantRefused(t, e)
		e.cluster.SetFaults(searchemu.Faults{})
		waitUp(t, e, 3*time.Second)
		if e.srv.URL() != e.url {
			t.Errorf("URL changed across Down: %s -> %s", e.url, e.srv.URL())
		}
		// State survives the outage.
		if g := e.get(t, "t", "1"); g.Status != 200 {
			t.Errorf("doc lost across Down: %s", g)
		}
	})

	t.Run("SetDownFor reopens by itself", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		e.raw(t, http.MethodGet, "/", "") // warm a pooled connection
		start := time.Now()
		// Windows of 2s: long enough that a loaded machine still sees the refusal inside
		// them; only the lower bound on the outage is asserted.
		e.cluster.SetDownFor(2 * time.Second)
		wantRefused(t, e)
		waitUp(t, e, 15*time.Second)
		if el := time.Since(start); el < 2*time.Second {
			t.Errorf("SetDownFor(2s) recovered after only %v", el)
		}
		if e.cluster.Faults().Down {
			t.Errorf("Faults().Down must be cleared after down_for elapsed")
		}
	})

	t.Run("down_for over HTTP", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		start := time.Now()
		r := e.raw(t, http.MethodPut, "/_emu/faults", `{"down_for":"2s"}`)
		if !wantStatus(t, r, 200) {
			return
		}
		wantRefused(t, e)
		waitUp(t, e, 15*time.Second)
		if el := time.Since(start); el < 2*time.Second {
			t.Errorf("down_for 2s recovered after only %v", el)
		}
	})
}

// TestFaultResponses covers Unavailable, ReadOnly, Request429Ratio, BulkItem429Ratio and
// Latency set from Go.
func TestFaultResponses(t *testing.T) {
	t.Parallel()

	t.Run("Unavailable is 503 everywhere", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		e.put(t, "t", "1", `{}`)
		e.cluster.SetFaults(searchemu.Faults{Unavailable: true})
		for _, r := range []*resp{
			e.raw(t, http.MethodGet, "/", ""),
			e.get(t, "t", "1"),
			e.bulk(t, "", "{\"index\":{\"_index\":\"t\",\"_id\":\"2\"}}\n{}\n", opensearchapi.BulkParams{}),
			e.search(t, "t", "", opensearchapi.SearchParams{}),
		} {
			if wantStatus(t, r, 503) {
				checkEnvelope(t, r, 503)
			}
		}
		e.cluster.SetFaults(searchemu.Faults{})
		if g := e.get(t, "t", "2"); g.Status != 404 {
			t.Errorf("write during Unavailable must not apply: %s", g)
		}
		if r := e.raw(t, http.MethodGet, "/", ""); r.Status != 200 {
			t.Errorf("after clearing Unavailable: %s", r)
		}
	})

	t.Run("ReadOnly blocks writes with 403", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		e.put(t, "t", "1", `{"a":1}`)
		e.cluster.SetFaults(searchemu.Faults{ReadOnly: true})
		t.Cleanup(func() { e.cluster.SetFaults(searchemu.Faults{}) })
		writes := []*resp{
			e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", DocumentID: "2", Body: strings.NewReader(`{}`)}),
			e.do(t, http.MethodPost, opensearchapi.IndexReq{Index: "t", Body: strings.NewReader(`{}`)}),
			e.update(t, "t", "1", `{"doc":{"a":2}}`, opensearchapi.UpdateParams{}),
			e.do(t, http.MethodDelete, opensearchapi.DocumentDeleteReq{Index: "t", DocumentID: "1"}),
			e.bulk(t, "", "{\"index\":{\"_index\":\"t\",\"_id\":\"3\"}}\n{}\n", opensearchapi.BulkParams{}),
			e.do(t, http.MethodPut, opensearchapi.IndicesCreateReq{Index: "newidx"}),
		}
		for _, r := range writes {
			if wantStatus(t, r, 403) {
				checkEnvelope(t, r, 403)
				if got := str(t, r.Body, "error", "type"); got != "cluster_block_exception" {
					t.Errorf("%s: type want cluster_block_exception, got %q", r.desc, got)
				}
			}
		}
		if g := e.get(t, "t", "1"); g.Status != 200 || !jsonEq(t, rawAt(t, g.Body, "_source"), []byte(`{"a":1}`)) {
			t.Errorf("reads must work and writes must not apply under ReadOnly: %s", g)
		}
		if s := e.search(t, "t", "", opensearchapi.SearchParams{}); s.Status != 200 {
			t.Errorf("search must work under ReadOnly: %s", s)
		}
		e.cluster.SetFaults(searchemu.Faults{})
		if r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", DocumentID: "2", Body: strings.NewReader(`{}`)}); r.Status != 201 {
			t.Errorf("after clearing ReadOnly: %s", r)
		}
	})

	t.Run("Request429Ratio 1 rejects whole requests", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		e.cluster.SetFaults(searchemu.Faults{Request429Ratio: 1})
		t.Cleanup(func() { e.cluster.SetFaults(searchemu.Faults{}) })
		for _, r := range []*resp{
			e.bulk(t, "", "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{}\n", opensearchapi.BulkParams{}),
			e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", DocumentID: "2", Body: strings.NewReader(`{}`)}),
		} {
			if wantStatus(t, r, 429) {
				checkEnvelope(t, r, 429)
				if got := str(t, r.Body, "error", "type"); got != "rejected_execution_exception" {
					t.Errorf("%s: type want rejected_execution_exception, got %q", r.desc, got)
				}
			}
		}
		e.cluster.SetFaults(searchemu.Faults{})
		if h := e.raw(t, http.MethodHead, "/t", ""); h.Status != 404 {
			t.Errorf("rejected requests must apply nothing: HEAD /t -> %d", h.Status)
		}
	})

	t.Run("Request429Ratio half rejects about half", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		e.cluster.SetFaults(searchemu.Faults{Request429Ratio: 0.5})
		t.Cleanup(func() { e.cluster.SetFaults(searchemu.Faults{}) })
		rejected := 0
		const n = 200
		for range n {
			r := e.raw(t, http.MethodGet, "/", "")
			switch r.Status {
			case 429:
				rejected++
			case 200:
			default:
				t.Fatalf("unexpected %s", r)
			}
		}
		if rejected < n/4 || rejected > 3*n/4 {
			t.Errorf("Request429Ratio 0.5 rejected %d of %d", rejected, n)
		}
	})

	t.Run("BulkItem429Ratio 1 rejects every item", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		e.put(t, "t", "1", `{"a":1}`)
		before := len(e.cluster.OpLog("t"))
		e.cluster.SetFaults(searchemu.Faults{BulkItem429Ratio: 1})
		t.Cleanup(func() { e.cluster.SetFaults(searchemu.Faults{}) })
		body := "{\"index\":{\"_index\":\"t\",\"_id\":\"2\"}}\n{}\n{\"update\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"doc\":{\"a\":2}}\n{\"delete\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"create\":{\"_index\":\"t\",\"_id\":\"3\"}}\n{}\n"
		r := e.bulk(t, "", body, opensearchapi.BulkParams{})
		e.cluster.SetFaults(searchemu.Faults{})
		if !wantStatus(t, r, 200) {
			return
		}
		wantErrorsFlag(t, r, true)
		for i, act := range []string{"index", "update", "delete", "create"} {
			wantItemError(t, r, i, act, 429, "rejected_execution_exception", "")
		}
		if src := e.source(t, "t", "1"); !jsonEq(t, src, []byte(`{"a":1}`)) {
			t.Errorf("rejected update/delete must not apply: %s", src)
		}
		for _, id := range []string{"2", "3"} {
			if g := e.get(t, "t", id); g.Status != 404 {
				t.Errorf("rejected item %s must not apply: %s", id, g)
			}
		}
		if after := len(e.cluster.OpLog("t")); after != before {
			t.Errorf("OpLog grew from %d to %d although every item was rejected", before, after)
		}
	})

	t.Run("BulkItem429Ratio half is per item and consistent", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		e.cluster.SetFaults(searchemu.Faults{BulkItem429Ratio: 0.5})
		t.Cleanup(func() { e.cluster.SetFaults(searchemu.Faults{}) })
		var b strings.Builder
		const n = 400
		for i := range n {
			fmt.Fprintf(&b, "{\"index\":{\"_index\":\"h\",\"_id\":\"%d\"}}\n{}\n", i)
		}
		r := e.bulk(t, "", b.String(), opensearchapi.BulkParams{})
		e.cluster.SetFaults(searchemu.Faults{})
		if !wantStatus(t, r, 200) {
			return
		}
		var parsed struct {
			Items []map[string]struct {
				ID     string `json:"_id"`
				Status int    `json:"status"`
			} `json:"items"`
		}
		if err := json.Unmarshal(r.Body, &parsed); err != nil || len(parsed.Items) != n {
			t.Fatalf("want %d items: %v", n, err)
		}
		rejected := 0
		for i, it := range parsed.Items {
			x := it["index"]
			g := e.get(t, "h", x.ID)
			switch x.Status {
			case 429:
				rejected++
				if g.Status != 404 {
					t.Errorf("item %d rejected but applied", i)
				}
			case 201:
				if g.Status != 200 {
					t.Errorf("item %d created but not readable", i)
				}
			default:
				t.Errorf("item %d unexpected status %d", i, x.Status)
			}
		}
		if rejected < n/4 || rejected > 3*n/4 {
			t.Errorf("BulkItem429Ratio 0.5 rejected %d of %d", rejected, n)
		}
		if got := len(e.cluster.OpLog("h")); got != n-rejected {
			t.Errorf("OpLog has %d entries, want %d applied items", got, n-rejected)
		}
	})

	t.Run("Latency delays every request", func(t *testing.T) {
		e := newEmu(t, searchemu.Options{})
		// 500ms keeps "delayed" and "not delayed" apart on a loaded machine under -race.
		e.cluster.SetFaults(searchemu.Faults{Latency: 500 * time.Millisecond})
		t.Cleanup(func() { e.cluster.SetFaults(searchemu.Faults{}) })
		if got := e.cluster.Faults().Latency; got != 500*time.Millisecond {
			t.Errorf("Faults().Latency want 500ms, got %v", got)
		}
		for _, f := range []func() *resp{
			func() *resp { return e.raw(t, http.MethodGet, "/", "") },
			func() *resp {
				return e.bulk(t, "", "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{}\n", opensearchapi.BulkParams{})
			},
		} {
			start := time.Now()
			r := f()
			if el := time.Since(start); el < 490*time.Millisecond {
				t.Errorf("%s took %v, want >= 500ms", r.desc, el)
			}
			if r.Status != 200 {
				t.Errorf("Latency must not change the answer: %s", r)
			}
		}
		e.cluster.SetFaults(searchemu.Faults{})
		start := time.Now()
		e.raw(t, http.MethodGet, "/", "")
		if el := time.Since(start); el > 400*time.Millisecond {
			t.Errorf("after clearing Latency a request took %v", el)
		}
	})
}

// TestFaultsHTTPEndpoint covers GET/PUT /_emu/faults.
func TestFaultsHTTPEndpoint(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	t.Cleanup(func() { e.cluster.SetFaults(searchemu.Faults{}) })

	r := e.raw(t, http.MethodGet, "/_emu/faults", "")
	if wantStatus(t, r, 200) {
		for _, k := range []string{"down", "unavailable", "read_only"} {
			if !has(r.Body, k) {
				t.Errorf("GET /_emu/faults must show %q (snake_case field names): %s", k, r.Body)
			}
		}
	}

	t.Run("read_only", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/_emu/faults", `{"read_only":true}`)
		if !wantStatus(t, r, 200) {
			return
		}
		if !waitFaults(e, func(f searchemu.Faults) bool { return f.ReadOnly }) {
			t.Errorf("PUT read_only:true must set Faults().ReadOnly")
		}
		g := e.raw(t, http.MethodGet, "/_emu/faults", "")
		if wantStatus(t, g, 200) && string(rawAt(t, g.Body, "read_only")) != "true" {
			t.Errorf("GET must reflect read_only: %s", g.Body)
		}
		w := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", DocumentID: "1", Body: strings.NewReader(`{}`)})
		wantStatus(t, w, 403)
		r = e.raw(t, http.MethodPut, "/_emu/faults", `{"read_only":false}`)
		wantStatus(t, r, 200)
		w = e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "t", DocumentID: "1", Body: strings.NewReader(`{}`)})
		wantStatus(t, w, 201)
	})

	t.Run("unavailable set and cleared over HTTP", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/_emu/faults", `{"unavailable":true}`)
		if !wantStatus(t, r, 200) {
			return
		}
		if !waitFaults(e, func(f searchemu.Faults) bool { return f.Unavailable }) {
			t.Errorf("PUT unavailable:true must set Faults().Unavailable")
		}
		wantStatus(t, e.raw(t, http.MethodGet, "/", ""), 503)
		// The control endpoint itself must stay reachable, or the fault could not be cleared.
		r = e.raw(t, http.MethodPut, "/_emu/faults", `{"unavailable":false}`)
		wantStatus(t, r, 200)
		wantStatus(t, e.raw(t, http.MethodGet, "/", ""), 200)
	})

	t.Run("latency as a duration string", func(t *testing.T) {
		r := e.raw(t, http.MethodPut, "/_emu/faults", `{"latency":"200ms"}`)
		if !wantStatus(t, r, 200) {
			return
		}
		if !waitFaults(e, func(f searchemu.Faults) bool { return f.Latency == 200*time.Millisecond }) {
			t.Errorf("PUT latency \"200ms\" must set Faults().Latency to 200ms, got %v", e.cluster.Faults().Latency)
		}
		start := time.Now()
		e.raw(t, http.MethodGet, "/", "")
		if el := time.Since(start); el < 190*time.Millisecond {
			t.Errorf("request under 200ms latency took %v", el)
		}
		e.cluster.SetFaults(searchemu.Faults{})
	})

	t.Run("Go-set faults are visible over HTTP", func(t *testing.T) {
		e.cluster.SetFaults(searchemu.Faults{ReadOnly: true})
		g := e.raw(t, http.MethodGet, "/_emu/faults", "")
		e.cluster.SetFaults(searchemu.Faults{})
		if wantStatus(t, g, 200) && string(rawAt(t, g.Body, "read_only")) != "true" {
			t.Errorf("GET must show Go-set read_only: %s", g.Body)
		}
	})
}

// waitFaults waits until the cluster's faults satisfy ok: /_emu/faults applies a change
// only after its answer is on the wire (so that Down can close that very connection), so
// the client may read the answer before the change lands.
func waitFaults(e *emu, ok func(searchemu.Faults) bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	for !ok(e.cluster.Faults()) {
		if time.Now().After(deadline) {
			return false
		}
		runtime.Gosched()
	}
	return true
}
