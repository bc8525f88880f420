package proxy_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// checkEvent asserts that op is exactly what the primary's answer ans says.
func checkEvent(t *testing.T, op *opspb.Operation, ans map[string]any, kind opspb.Kind, routing, source string) {
	t.Helper()
	num := func(k string) int64 {
		v, ok := ans[k].(float64)
		if !ok {
			t.Fatalf("answer has no %s: %v", k, ans)
		}
		return int64(v)
	}
	seqNo, term, version := num("_seq_no"), num("_primary_term"), num("_version")
	want, err := event.ReplicationVersion(seqNo, term, version, true)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case op.GetKind() != kind:
		t.Errorf("kind %v, want %v", op.GetKind(), kind)
	case op.GetIndex() != ans["_index"] || op.GetId() != ans["_id"]:
		t.Errorf("event for %s/%s, answer %v/%v", op.GetIndex(), op.GetId(), ans["_index"], ans["_id"])
	case op.GetVersion() != version || op.GetSeqNo() != seqNo || op.GetPrimaryTerm() != term || op.SeqNo == nil:
		t.Errorf("event versions v%d seq %d term %d, answer v%d seq %d term %d", op.GetVersion(), op.GetSeqNo(), op.GetPrimaryTerm(), version, seqNo, term)
	case op.GetReplicationVersion() != want:
		t.Errorf("replication version %d, want %d", op.GetReplicationVersion(), want)
	case op.GetRouting() != routing:
		t.Errorf("routing %q, want %q", op.GetRouting(), routing)
	case string(op.GetSource()) != source:
		t.Errorf("source %s, want %s", op.GetSource(), source)
	case op.GetSourceCluster() != "primary" || op.GetAcceptedAt() == nil || op.GetRequestId() == "":
		t.Errorf("source cluster %q, accepted %v, request id %q", op.GetSourceCluster(), op.GetAcceptedAt(), op.GetRequestId())
	}
}

// TestSingleDocumentWrites drives every single-document write API and checks that each
// event is built from the primary's answer, and that writes that changed nothing
// publish nothing.
func TestSingleDocumentWrites(t *testing.T) {
	e := startEnv(t, 1)
	u := e.url()
	type step struct {
		name       string
		method     string
		path, body string
		status     int
		kind       opspb.Kind // KIND_UNSPECIFIED: no event
		routing    string
		source     string // event source; "" for deletes
		check      func(t *testing.T, ans map[string]any)
	}
	steps := []step{
		{name: "index with id", method: http.MethodPut, path: "/books/_doc/1", body: `{"title":"Dune","year":1965}`,
			status: 201, kind: opspb.Kind_KIND_INDEX, source: `{"title":"Dune","year":1965}`},
		{name: "index over it (POST)", method: http.MethodPost, path: "/books/_doc/1", body: `{"title":"Dune","year":1966}`,
			status: 200, kind: opspb.Kind_KIND_INDEX, source: `{"title":"Dune","year":1966}`},
		{name: "auto id", method: http.MethodPost, path: "/books/_doc", body: `{"title":"Emma"}`,
			status: 201, kind: opspb.Kind_KIND_INDEX, source: `{"title":"Emma"}`,
			check: func(t *testing.T, ans map[string]any) {
				if id, _ := ans["_id"].(string); len(id) != 20 {
					t.Errorf("auto id %q", id)
				}
			}},
		{name: "create", method: http.MethodPut, path: "/books/_create/2", body: `{"title":"Ubik"}`,
			status: 201, kind: opspb.Kind_KIND_INDEX, source: `{"title":"Ubik"}`},
		{name: "create conflict publishes nothing", method: http.MethodPut, path: "/books/_create/2", body: `{"title":"Ubik"}`, status: 409},
		{name: "routed index", method: http.MethodPut, path: "/books/_doc/r1?routing=user7", body: `{"title":"Solaris"}`,
			status: 201, kind: opspb.Kind_KIND_INDEX, routing: "user7", source: `{"title":"Solaris"}`},
		{name: "update publishes the full document and hides get", method: http.MethodPost, path: "/books/_update/1",
			body: `{"doc":{"rating":5}}`, status: 200, kind: opspb.Kind_KIND_INDEX, source: `{"title":"Dune","year":1966,"rating":5}`,
			check: func(t *testing.T, ans map[string]any) {
				if _, has := ans["get"]; has {
					t.Errorf("client did not ask for _source but got %v", ans["get"])
				}
			}},
		{name: "update with _source=true keeps get", method: http.MethodPost, path: "/books/_update/1?_source=true",
			body: `{"doc":{"rating":4}}`, status: 200, kind: opspb.Kind_KIND_INDEX, source: `{"title":"Dune","year":1966,"rating":4}`,
			check: func(t *testing.T, ans map[string]any) {
				get, _ := ans["get"].(map[string]any)
				if src, _ := get["_source"].(map[string]any); src["title"] != "Dune" || src["rating"] != float64(4) {
					t.Errorf("get block %v", ans["get"])
				}
			}},
		{name: "update with body _source filter gets only that", method: http.MethodPost, path: "/books/_update/1",
			body: `{"doc":{"rating":3},"_source":["rating"]}`, status: 200, kind: opspb.Kind_KIND_INDEX,
			source: `{"title":"Dune","year":1966,"rating":3}`,
			check: func(t *testing.T, ans map[string]any) {
				get, _ := ans["get"].(map[string]any)
				if fmt.Sprint(get["_source"]) != "map[rating:3]" {
					t.Errorf("filtered get block %v", ans["get"])
				}
			}},
		{name: "noop update publishes nothing", method: http.MethodPost, path: "/books/_update/1", body: `{"doc":{"rating":3}}`, status: 200,
			check: func(t *testing.T, ans map[string]any) {
				if ans["result"] != "noop" {
					t.Errorf("result %v, want noop", ans["result"])
				}
			}},
		{name: "upsert publishes the inserted document", method: http.MethodPost, path: "/books/_update/3",
			body: `{"doc":{"title":"Kindred"},"doc_as_upsert":true}`, status: 201, kind: opspb.Kind_KIND_INDEX, source: `{"title":"Kindred"}`},
		{name: "update of a missing document publishes nothing", method: http.MethodPost, path: "/books/_update/nope", body: `{"doc":{"a":1}}`, status: 404},
		{name: "delete", method: http.MethodDelete, path: "/books/_doc/2", status: 200, kind: opspb.Kind_KIND_DELETE},
		{name: "routed delete", method: http.MethodDelete, path: "/books/_doc/r1?routing=user7", status: 200, kind: opspb.Kind_KIND_DELETE, routing: "user7"},
		{name: "delete of a missing document publishes nothing", method: http.MethodDelete, path: "/books/_doc/2", status: 404},
		{name: "mapping conflict publishes nothing", method: http.MethodPut, path: "/books/_doc/9", body: `{"year":"not a year"}`, status: 400},
	}
	seen := 0
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			resp := send(t, s.method, u+s.path, s.body)
			if resp.status != s.status {
				t.Fatalf("status %d, want %d: %s", resp.status, s.status, resp.body)
			}
			ans := resp.json(t)
			if s.check != nil {
				s.check(t, ans)
			}
			if s.kind == opspb.Kind_KIND_UNSPECIFIED {
				e.noNewEvents(seen)
				return
			}
			ops := e.published()
			if len(ops) != seen+1 {
				t.Fatalf("want %d events, got %d: %v", seen+1, len(ops), ops)
			}
			seen++
			var op *opspb.Operation
			for _, o := range ops { // partitions interleave: find the newest of this document
				if o.GetIndex() == ans["_index"] && o.GetId() == ans["_id"] &&
					(op == nil || o.GetReplicationVersion() > op.GetReplicationVersion()) {
					op = o
				}
			}
			if op == nil {
				t.Fatalf("no event for %v/%v", ans["_index"], ans["_id"])
			}
			checkEvent(t, op, ans, s.kind, s.routing, s.source)
		})
	}
}

// TestBulkPublishesOnlySuccesses sends one bulk with successes and failures of every
// kind and compares the proxy's answer with the one a twin cluster gives directly.
func TestBulkPublishesOnlySuccesses(t *testing.T) {
	e := startEnv(t, 1)
	_, _, twin := startEmulator(t, "twin")
	seed := "{\"index\":{\"_index\":\"t\",\"_id\":\"u\"}}\n{\"n\":1,\"tags\":[\"a\"]}\n" +
		"{\"index\":{\"_index\":\"t\",\"_id\":\"d\"}}\n{\"n\":2}\n"
	for _, u := range []string{e.url(), twin} {
		if r := send(t, http.MethodPost, u+"/_bulk?refresh=true", seed); r.status != 200 {
			t.Fatalf("seed: %d %s", r.status, r.body)
		}
	}
	body := strings.Join([]string{
		`{"index":{"_index":"t","_id":"1"}}`, `{"n":10}`, // created
		`{"create":{"_index":"t","_id":"u"}}`, `{"n":11}`, // 409 conflict
		`{"update":{"_index":"t","_id":"u"}}`, `{"doc":{"n":12}}`, // updated, full doc published, no get for the client
		`{"update":{"_index":"t","_id":"missing"}}`, `{"doc":{"n":13}}`, // 404 document missing
		`{"index":{"_index":"t","_id":"bad"}}`, `{"n":"fourteen"}`, // 400 mapping conflict
		`{"delete":{"_index":"t","_id":"d"}}`,                                                     // deleted
		`{"delete":{"_index":"t","_id":"never"}}`,                                                 // 404 not_found, not an error
		`{"update":{"_index":"t","_id":"u","_source":{"includes":["tags"]}}}`, `{"doc":{"n":15}}`, // updated, get filtered for the client
		`{"update":{"_index":"t","_id":"u"}}`, `{"doc":{"n":15}}`, // noop
		`{"index":{"_index":"t","_id":"r","routing":"k"}}`, `{"n":16}`, // created, routed
	}, "\n") + "\n"

	direct := send(t, http.MethodPost, twin+"/_bulk", body)
	proxied := send(t, http.MethodPost, e.url()+"/_bulk", body)
	if proxied.status != 200 || direct.status != 200 {
		t.Fatalf("status: proxy %d, direct %d: %s", proxied.status, direct.status, proxied.body)
	}
	// The client sees what the primary would have said, byte for byte but for "took".
	normalise := func(b []byte) string {
		s := compactJSON(t, b)
		i := strings.Index(s, `"took":`)
		j := strings.Index(s[i:], ",")
		return indexUUID.ReplaceAllString(s[:i]+`"took":0`+s[i+j:], `"index_uuid":"…"`)
	}
	if normalise(proxied.body) != normalise(direct.body) {
		t.Fatalf("proxied answer differs from the direct one:\nproxy  %s\ndirect %s", proxied.body, direct.body)
	}

	ops := e.published()
	if len(ops) != 7 {
		t.Fatalf("want 7 events (2 seed + 5 applied), got %d: %v", len(ops), ops)
	}
	type want struct {
		kind    opspb.Kind
		source  string
		routing string
	}
	wants := map[string][]want{
		"t/1": {{kind: opspb.Kind_KIND_INDEX, source: `{"n":10}`}},
		"t/u": {{kind: opspb.Kind_KIND_INDEX, source: `{"n":1,"tags":["a"]}`},
			{kind: opspb.Kind_KIND_INDEX, source: `{"n":12,"tags":["a"]}`},
			{kind: opspb.Kind_KIND_INDEX, source: `{"n":15,"tags":["a"]}`}},
		"t/d": {{kind: opspb.Kind_KIND_INDEX, source: `{"n":2}`}, {kind: opspb.Kind_KIND_DELETE}},
		"t/r": {{kind: opspb.Kind_KIND_INDEX, source: `{"n":16}`, routing: "k"}},
	}
	got := map[string][]*opspb.Operation{}
	for _, op := range ops {
		k := op.GetIndex() + "/" + op.GetId()
		got[k] = append(got[k], op)
	}
	for k, ws := range wants {
		if len(got[k]) != len(ws) {
			t.Errorf("%s: %d events, want %d", k, len(got[k]), len(ws))
			continue
		}
		for i, w := range ws { // one document's events share a partition, in order
			op := got[k][i]
			if op.GetKind() != w.kind || compactJSONOrEmpty(t, op.GetSource()) != w.source || op.GetRouting() != w.routing {
				t.Errorf("%s event %d: %v %s routing %q, want %v %s routing %q", k, i, op.GetKind(), op.GetSource(), op.GetRouting(), w.kind, w.source, w.routing)
			}
			if i > 0 && op.GetReplicationVersion() <= got[k][i-1].GetReplicationVersion() {
				t.Errorf("%s: replication versions not increasing: %d then %d", k, got[k][i-1].GetReplicationVersion(), op.GetReplicationVersion())
			}
		}
	}
}

// indexUUID matches the index uuid of an error: every cluster draws its own, so the
// twin's answers differ from the primary's there and only there.
var indexUUID = regexp.MustCompile(`"index_uuid":"[^"]*"`)

// sameButUUIDs compares two answers with their index uuids masked.
func sameButUUIDs(a, b []byte) bool {
	mask := func(x []byte) string { return indexUUID.ReplaceAllString(string(x), `"index_uuid":"…"`) }
	return mask(a) == mask(b)
}

func compactJSONOrEmpty(t *testing.T, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return compactJSON(t, b)
}

// TestBadBulkPublishesNothing: requests the primary rejects as a whole come back byte
// for byte and publish nothing.
func TestBadBulkPublishesNothing(t *testing.T) {
	e := startEnv(t, 1)
	_, _, twin := startEmulator(t, "twin")
	bodies := map[string]string{
		"no final newline": "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"n\":1}",
		"malformed action": "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"n\":1}\n[1]\n",
		"unknown key":      "{\"index\":{\"_index\":\"t\",\"_type\":\"doc\"}}\n{\"n\":1}\n",
		"empty":            "\n",
		"garbage":          "\x00\xff{{{\n",
		"update version":   "{\"update\":{\"_index\":\"t\",\"_id\":\"1\",\"version\":2}}\n{\"doc\":{}}\n",
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			direct := send(t, http.MethodPost, twin+"/_bulk", body)
			proxied := send(t, http.MethodPost, e.url()+"/_bulk", body)
			if direct.status != 400 {
				t.Fatalf("the primary should reject this: %d %s", direct.status, direct.body)
			}
			if proxied.status != direct.status || string(proxied.body) != string(direct.body) {
				t.Fatalf("proxy answered %d %s\nprimary answers %d %s", proxied.status, proxied.body, direct.status, direct.body)
			}
		})
	}
	e.noEvents()
}

// TestFilterPathOnWrites: clients such as Beats and Logstash cut bulk answers down with
// filter_path. The proxy still sees every item (it asks the primary for the whole
// answer) and gives the client what the primary would have given.
func TestFilterPathOnWrites(t *testing.T) {
	e := startEnv(t, 1)
	_, _, twin := startEmulator(t, "twin")
	specs := []string{
		"errors,items.*.error,items.*.status",
		"errors,items.*.error",
		"-took,-items.*._shards",
		"items.*._id,items.*.result",
	}
	events := 0
	for i, spec := range specs {
		t.Run(spec, func(t *testing.T) {
			body := fmt.Sprintf("{\"index\":{\"_index\":\"fp\",\"_id\":\"%d\"}}\n{\"n\":%d}\n{\"create\":{\"_index\":\"fp\",\"_id\":\"%d\"}}\n{\"n\":0}\n", i, i, i)
			path := "/_bulk?filter_path=" + spec
			direct := send(t, http.MethodPost, twin+path, body)
			proxied := send(t, http.MethodPost, e.url()+path, body)
			if proxied.status != direct.status || !sameButUUIDs(proxied.body, direct.body) {
				t.Fatalf("proxy %d %s\nprimary %d %s", proxied.status, proxied.body, direct.status, direct.body)
			}
			events++
			if ops := e.published(); len(ops) != events || !hasDoc(ops, "fp", fmt.Sprint(i)) {
				t.Fatalf("want %d events incl. fp/%d, got %v", events, i, ops)
			}
		})
	}
	// Single-document writes too.
	direct := send(t, http.MethodPut, twin+"/fp/_doc/x?filter_path=result,_id", `{"n":1}`)
	proxied := send(t, http.MethodPut, e.url()+"/fp/_doc/x?filter_path=result,_id", `{"n":1}`)
	if string(proxied.body) != string(direct.body) || proxied.status != direct.status {
		t.Fatalf("proxy %d %s\nprimary %d %s", proxied.status, proxied.body, direct.status, direct.body)
	}
	if ops := e.published(); len(ops) != events+1 || !hasDoc(ops, "fp", "x") {
		t.Fatalf("want %d events incl. fp/x, got %v", events+1, ops)
	}
}
