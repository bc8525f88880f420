package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/testbed/searchemu/emutest"
)

// startFlavorEnv is startEnv with one proxy in front of a primary of the given flavour.
func startFlavorEnv(t *testing.T, flavor searchemu.Flavor, opts ...envOpt) *env {
	t.Helper()
	e := &env{t: t}
	e.kafka = kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 4))
	em := emutest.Start(t, "primary", func(o *searchemu.Options) { o.Flavor = flavor })
	e.primary, e.primarySrv, e.primaryURL = em.Cluster, em.Server, em.URL
	cfg := e.config()
	for _, o := range opts {
		o(&cfg)
	}
	e.proxies = append(e.proxies, startProxy(t, cfg))
	return e
}

// wantEvent is an event a step must publish.
type wantEvent struct {
	kind   opspb.Kind
	index  string
	id     string // "" for the answer's (auto) id
	source string // "" for deletes
}

// typedStep is one request of the typed suites, with what it publishes on each flavour.
type typedStep struct {
	name, method, path, body string
	es7, os2                 []wantEvent
}

func idx(index, id, source string) wantEvent {
	return wantEvent{kind: opspb.Kind_KIND_INDEX, index: index, id: id, source: source}
}
func gone(index, id string) wantEvent {
	return wantEvent{kind: opspb.Kind_KIND_DELETE, index: index, id: id}
}

// typedSteps are every write form of the typed APIs of Elasticsearch 7 (the typed
// routes of RestIndexAction, RestDeleteAction, RestUpdateAction and RestBulkAction,
// "_type" on bulk action lines as Logstash sends it), and the paths where the typed
// routes and the typeless ones meet.
var typedSteps = []typedStep{
	{name: "typed index", method: "PUT", path: "/logs/doc/1?refresh=true", body: `{"msg":"a"}`,
		es7: []wantEvent{idx("logs", "1", `{"msg":"a"}`)}},
	{name: "typed index, POST", method: "POST", path: "/logs/doc/1", body: `{"msg":"a1"}`,
		es7: []wantEvent{idx("logs", "1", `{"msg":"a1"}`)}},
	{name: "typed auto id", method: "POST", path: "/logs/doc", body: `{"msg":"auto"}`,
		es7: []wantEvent{idx("logs", "", `{"msg":"auto"}`)}},
	{name: "typed create", method: "PUT", path: "/logs/doc/2/_create", body: `{"msg":"b"}`,
		es7: []wantEvent{idx("logs", "2", `{"msg":"b"}`)}},
	{name: "typed create conflict", method: "POST", path: "/logs/doc/2/_create", body: `{"msg":"b"}`},
	{name: "create under _doc, the index's type", method: "PUT", path: "/logs/_doc/3/_create", body: `{"msg":"c"}`,
		es7: []wantEvent{idx("logs", "3", `{"msg":"c"}`)}},
	{name: "typed update: the whole document, no get for the client", method: "POST", path: "/logs/doc/1/_update", body: `{"doc":{"n":1}}`,
		es7: []wantEvent{idx("logs", "1", `{"msg":"a1","n":1}`)}},
	{name: "typed update under _doc with _source", method: "POST", path: "/logs/_doc/1/_update?_source=true", body: `{"doc":{"n":2}}`,
		es7: []wantEvent{idx("logs", "1", `{"msg":"a1","n":2}`)}},
	{name: "typed update of a missing document", method: "POST", path: "/logs/doc/nope/_update", body: `{"doc":{"n":1}}`},
	{name: "typed delete", method: "DELETE", path: "/logs/doc/2",
		es7: []wantEvent{gone("logs", "2")}},
	{name: "typed bulk", method: "POST", path: "/logs/doc/_bulk",
		body: "{\"index\":{\"_id\":\"4\"}}\n{\"msg\":\"d\"}\n{\"update\":{\"_id\":\"4\"}}\n{\"doc\":{\"n\":4}}\n{\"delete\":{\"_id\":\"3\"}}\n",
		es7:  []wantEvent{idx("logs", "4", `{"msg":"d"}`), idx("logs", "4", `{"msg":"d","n":4}`), gone("logs", "3")}},
	{name: "bulk under /{index}/_doc/_bulk", method: "PUT", path: "/logs/_doc/_bulk",
		body: "{\"index\":{\"_id\":\"5\"}}\n{\"msg\":\"e\"}\n",
		es7:  []wantEvent{idx("logs", "5", `{"msg":"e"}`)}},
	{name: "Logstash's bulk: _type on the action lines", method: "POST", path: "/_bulk",
		body: "{\"index\":{\"_index\":\"logs2\",\"_type\":\"_doc\"}}\n{\"msg\":\"f\"}\n" +
			"{\"index\":{\"_index\":\"logs\",\"_type\":\"doc\",\"_id\":\"1\"}}\n{\"msg\":\"g\"}\n" +
			"{\"update\":{\"_index\":\"logs\",\"_type\":\"doc\",\"_id\":\"5\"}}\n{\"doc\":{\"n\":5}}\n" +
			"{\"delete\":{\"_index\":\"logs\",\"_type\":\"doc\",\"_id\":\"4\"}}\n",
		es7: []wantEvent{idx("logs2", "", `{"msg":"f"}`), idx("logs", "1", `{"msg":"g"}`), idx("logs", "5", `{"msg":"e","n":5}`), gone("logs", "4")}},
	{name: "an unknown bulk action is skipped by Elasticsearch 7", method: "POST", path: "/_bulk",
		body: "{\"frobnicate\":{\"_index\":\"logs\"}}\n{}\n{\"update\":{\"_index\":\"logs\",\"_id\":\"5\"}}\n{\"doc\":{\"n\":6}}\n",
		es7:  []wantEvent{idx("logs", "5", `{"msg":"e","n":6}`)}},
	{name: "a second type is refused", method: "PUT", path: "/logs/other/9", body: `{"msg":"h"}`},
	{name: "a typed search is no document _search", method: "POST", path: "/logs/_doc/_search", body: `{"msg":"i"}`,
		os2: []wantEvent{idx("logs", "_search", `{"msg":"i"}`)}},
	{name: "a typed mapping update is no document _mapping", method: "PUT", path: "/logs/_doc/_mapping", body: `{"msg":"j"}`,
		os2: []wantEvent{idx("logs", "_mapping", `{"msg":"j"}`)}},
	{name: "the count route has no PUT: the document _count", method: "PUT", path: "/logs/_doc/_count", body: `{"msg":"k"}`,
		es7: []wantEvent{idx("logs", "_count", `{"msg":"k"}`)}, os2: []wantEvent{idx("logs", "_count", `{"msg":"k"}`)}},
	{name: "a JSON document to /{index}/_doc/_bulk", method: "POST", path: "/logs/_doc/_bulk", body: `{"msg":"l"}`,
		os2: []wantEvent{idx("logs", "_bulk", `{"msg":"l"}`)}},
	{name: "typeless writes", method: "PUT", path: "/logs/_doc/6", body: `{"msg":"m"}`,
		es7: []wantEvent{idx("logs", "6", `{"msg":"m"}`)}, os2: []wantEvent{idx("logs", "6", `{"msg":"m"}`)}},
}

// autoID masks generated ids in answers (and Location headers), which differ between
// the primary and its twin.
var autoID = regexp.MustCompile(`"_id":"[A-Za-z0-9_-]{20}"`)

// normaliseAnswer masks what differs between two clusters given the same requests:
// took, index uuids and generated ids.
func normaliseAnswer(b []byte) string {
	s := regexp.MustCompile(`"took":\d+`).ReplaceAllString(string(b), `"took":0`)
	s = indexUUID.ReplaceAllString(s, `"index_uuid":"…"`)
	return autoID.ReplaceAllString(s, `"_id":"…"`)
}

// runTypedSteps sends every step through the proxy and directly to a twin of the
// primary: the client gets the primary's answer (status, body with its _type, Warning
// headers), and the proxy publishes exactly the step's typeless events.
func runTypedSteps(t *testing.T, flavor searchemu.Flavor) {
	e := startFlavorEnv(t, flavor)
	twin := emutest.Start(t, "twin", func(o *searchemu.Options) { o.Flavor = flavor })
	seen := 0
	old := map[string]bool{} // events already matched, by document and replication version
	for _, s := range typedSteps {
		want := s.os2
		if flavor == searchemu.Elasticsearch7 {
			want = s.es7
		}
		direct := send(t, s.method, twin.URL+s.path, s.body)
		proxied := send(t, s.method, e.url()+s.path, s.body)
		if proxied.status != direct.status || normaliseAnswer(proxied.body) != normaliseAnswer(direct.body) {
			t.Fatalf("%s: proxy answered %d %s\nthe primary answers %d %s", s.name, proxied.status, proxied.body, direct.status, direct.body)
		}
		if got, exp := proxied.header.Values("Warning"), direct.header.Values("Warning"); strings.Join(got, "|") != strings.Join(exp, "|") {
			t.Errorf("%s: Warning %q, the primary's %q", s.name, got, exp)
		}
		if flavor == searchemu.Elasticsearch7 && strings.Contains(s.path, "/doc") && proxied.status < 300 && !strings.Contains(string(proxied.body), `"_type":"doc"`) {
			t.Errorf("%s: the answer lacks the request's type: %s", s.name, proxied.body)
		}
		if len(want) == 0 {
			if got := e.published(); len(got) != seen {
				t.Fatalf("%s: want no event, got %v", s.name, got[seen:])
			}
			continue
		}
		ops := e.published()
		if len(ops) != seen+len(want) {
			t.Fatalf("%s: %d events, want %d", s.name, len(ops)-seen, len(want))
		}
		// Partitions interleave: the new events are those not seen before, matched by
		// document, in order per document (one document's events share a partition).
		var fresh []*opspb.Operation
		byDoc := map[string][]*opspb.Operation{}
		for _, op := range ops {
			k := fmt.Sprintf("%s/%s@%d", op.GetIndex(), op.GetId(), op.GetReplicationVersion())
			if old[k] {
				continue
			}
			old[k] = true
			fresh = append(fresh, op)
			byDoc[op.GetIndex()+"/"+op.GetId()] = append(byDoc[op.GetIndex()+"/"+op.GetId()], op)
		}
		for _, w := range want {
			key := w.index + "/" + w.id
			if w.id == "" { // an auto id: the only event of that index with a generated id
				for k := range byDoc {
					if strings.HasPrefix(k, w.index+"/") && len(k)-len(w.index)-1 == 20 {
						key = k
					}
				}
			}
			if len(byDoc[key]) == 0 {
				t.Fatalf("%s: no event for %s in %v", s.name, key, fresh)
			}
			op := byDoc[key][0]
			byDoc[key] = byDoc[key][1:]
			if op.GetKind() != w.kind || compactJSONOrEmpty(t, op.GetSource()) != w.source {
				t.Errorf("%s: event %s %v %s, want %v %s", s.name, key, op.GetKind(), op.GetSource(), w.kind, w.source)
			}
		}
		seen += len(want)
	}
}

// TestTypedAPIsElasticsearch7: against an Elasticsearch 7 primary every typed write form
// is replicated as the typeless event of what the primary applied, with the primary's
// own answer (its _type, its deprecation warnings) for the client.
func TestTypedAPIsElasticsearch7(t *testing.T) { runTypedSteps(t, searchemu.Elasticsearch7) }

// TestTypedAPIsOpenSearch2: the same requests against OpenSearch 2, which has no typed
// routes: what it refuses comes back as it answered, and what its typeless routes make
// of the paths (/logs/_doc/_search indexes the document _search) is replicated.
func TestTypedAPIsOpenSearch2(t *testing.T) { runTypedSteps(t, searchemu.OpenSearch2) }

// TestPrimaryVersionFromClientCredentials: in passthrough mode the proxy has no
// credentials of its own, so its probe's GET / is refused by a secured primary. A
// request that needs the primary's version learns it with the client's credentials;
// credentials the primary refuses get the primary's 401, as the request itself would,
// and nothing reaches the primary's write APIs.
func TestPrimaryVersionFromClientCredentials(t *testing.T) {
	e := startSecured(t, searchemu.Elasticsearch7)
	u := e.url()
	const bulk = "{\"index\":{\"_index\":\"logs\",\"_type\":\"doc\",\"_id\":\"1\"}}\n{\"msg\":\"a\"}\n"
	r := call(t, http.MethodPut, u+"/logs/doc/0", `{"msg":"x"}`, "Authorization", basicAuth("alice", "wrong"))
	if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("wrong credentials: %d %s %v", r.status, r.body, r.header)
	}
	r = call(t, http.MethodPost, u+"/logs/_doc/_bulk", bulk, "Authorization", basicAuth("alice", "alice-pw"))
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"_type":"doc"`) {
		t.Fatalf("typed bulk: %d %s", r.status, r.body)
	}
	r = call(t, http.MethodPut, u+"/logs/doc/2", `{"msg":"b"}`, "Authorization", basicAuth("alice", "alice-pw"))
	if r.status != http.StatusCreated {
		t.Fatalf("typed index: %d %s", r.status, r.body)
	}
	ops := e.published()
	if len(ops) != 2 || !hasDoc(ops, "logs", "1") || !hasDoc(ops, "logs", "2") {
		t.Fatalf("events %v", ops)
	}
	if ix := e.primary.OpLog("logs"); len(ix) != 2 {
		t.Fatalf("the primary applied %d writes, want 2: %v", len(ix), ix)
	}
}

// TestPrimaryVersionUnknown: a request whose meaning depends on the primary's version
// is refused before anything reaches the primary when the version cannot be read (here
// the primary refuses GET / with 403, as a secured cluster does for a user without the
// cluster monitor privilege); the typeless APIs, the same on every primary, go on, bulk
// bodies with "_type" lines included.
func TestPrimaryVersionUnknown(t *testing.T) {
	e := &env{t: t}
	e.kafka = kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 4))
	em := emutest.Start(t, "primary", func(o *searchemu.Options) { o.Flavor = searchemu.Elasticsearch7 })
	e.primary = em.Cluster
	target, _ := url.Parse(em.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"error":{"type":"security_exception","reason":"action [cluster:monitor/main] is unauthorized"},"status":403}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	e.primaryURL = front.URL
	e.proxies = append(e.proxies, startProxy(t, e.config()))
	u := e.url()

	for _, c := range []struct{ method, path, body string }{
		{http.MethodPut, "/logs/doc/1", `{"msg":"a"}`},
		{http.MethodPost, "/logs/_doc/_bulk", "{\"index\":{\"_id\":\"1\"}}\n{\"msg\":\"a\"}\n"},
		{http.MethodPost, "/logs/doc/1/_update", `{"doc":{"n":1}}`},
	} {
		r := send(t, c.method, u+c.path, c.body)
		if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "fanout_primary_exception") ||
			!strings.Contains(string(r.body), "the primary answered GET / with HTTP 403") {
			t.Fatalf("%s %s: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	if ops := e.primary.OpLog("logs"); len(ops) != 0 {
		t.Fatalf("refused requests reached the primary: %v", ops)
	}
	if r := send(t, http.MethodPut, u+"/logs/_doc/2", `{"msg":"b"}`); r.status != http.StatusCreated {
		t.Fatalf("typeless index: %d %s", r.status, r.body)
	}
	bulk := "{\"index\":{\"_index\":\"logs\",\"_type\":\"_doc\",\"_id\":\"3\"}}\n{\"msg\":\"c\"}\n"
	if r := send(t, http.MethodPost, u+"/_bulk", bulk); r.status != http.StatusOK || strings.Contains(string(r.body), `"errors":true`) {
		t.Fatalf("bulk with _type: %d %s", r.status, r.body)
	}
	if ops := e.published(); len(ops) != 2 || !hasDoc(ops, "logs", "2") || !hasDoc(ops, "logs", "3") {
		t.Fatalf("events %v", ops)
	}
}

// TestRoutingMatchesThePrimary: for every combination of the path segments and methods
// where the write routes of either kind of primary meet the other routes, the proxy
// publishes exactly what the primary applied — every write in the primary's operation
// log has its event, and nothing else has one — and never answers that it could not
// replicate what the primary did. The emulator routes requests with the primary's
// PathTrie and RestController rules, over its route table.
func TestRoutingMatchesThePrimary(t *testing.T) {
	for _, flavor := range []searchemu.Flavor{searchemu.Elasticsearch7, searchemu.OpenSearch2} {
		t.Run(flavor.String(), func(t *testing.T) {
			e := startFlavorEnv(t, flavor)
			// One index per type segment: an Elasticsearch 7 index takes the type of its
			// first write and refuses the others.
			types := []string{"_doc", "doc", "_create", "_update", "_mapping", "_foo", ""}
			ids := []string{"1", "_bulk", "_search", "_count", "_mapping", "_mappings", "_create", "_update", "_validate", "_rollup_search", "_update_by_query"}
			var paths, indices []string
			for i, ty := range types {
				ix := fmt.Sprintf("logs%d", i)
				indices = append(indices, ix)
				if ty != "" { // "/logs/" is the index itself
					paths = append(paths, "/"+ix+"/"+ty)
				}
				for _, id := range ids {
					paths = append(paths, "/"+ix+"/"+ty+"/"+id)
					for _, tail := range []string{"_create", "_update", "_source"} {
						paths = append(paths, "/"+ix+"/"+ty+"/"+id+"/"+tail)
					}
				}
			}
			const doc = `{"doc":{"a":2},"doc_as_upsert":true}`
			const bulkBody = "{\"index\":{\"_type\":\"_doc\",\"_id\":\"b\"}}\n{\"a\":1}\n{\"update\":{\"_id\":\"b\"}}\n{\"doc\":{\"a\":3}}\n"
			requests := 0
			for _, p := range paths {
				body := doc
				if strings.HasSuffix(p, "/_bulk") {
					body = bulkBody
				}
				for _, m := range []string{http.MethodPut, http.MethodPost, http.MethodDelete} {
					b := body
					if m == http.MethodDelete {
						b = ""
					}
					r := send(t, m, e.url()+p, b)
					requests++
					if r.status == http.StatusServiceUnavailable || r.status == http.StatusBadGateway || r.status == http.StatusGatewayTimeout {
						t.Fatalf("%s %s: %d %s", m, p, r.status, r.body)
					}
				}
			}
			// The writes that changed a document: a delete of a missing document takes a
			// sequence number too (its tombstone), but changes nothing and publishes
			// nothing.
			type write struct {
				index string
				searchemu.OpLogEntry
			}
			var applied []write
			for _, ix := range indices {
				exists := map[string]bool{}
				for _, w := range e.primary.OpLog(ix) {
					if w.Op == "delete" && !exists[w.ID] {
						continue
					}
					exists[w.ID] = w.Op != "delete"
					applied = append(applied, write{ix, w})
				}
			}
			ops := e.published()
			got := map[string]int{}
			for _, op := range ops {
				got[fmt.Sprintf("%s/%s seq %d", op.GetIndex(), op.GetId(), op.GetSeqNo())]++
			}
			for _, w := range applied {
				k := fmt.Sprintf("%s/%s seq %d", w.index, w.ID, w.SeqNo)
				if got[k] == 0 {
					t.Errorf("the primary applied %s %s (v%d) without an event", w.Op, k, w.Version)
				}
				got[k]--
			}
			for k, n := range got {
				if n > 0 {
					t.Errorf("event for %s, which the primary did not apply", k)
				}
			}
			t.Logf("%d requests, %d writes applied and published", requests, len(applied))
		})
	}
}
