package replication_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestElasticsearch7TypedAPIs: Elasticsearch 7 clients and shippers write through the
// proxy to an Elasticsearch 7 primary with every typed write form — /{index}/{type}/{id}
// (PUT, POST, DELETE), /{index}/{type} (auto id), …/{id}/_create, …/{id}/_update,
// /{index}/{type}/_bulk, /{index}/_doc/_bulk — and with "_type" on the action lines of
// /_bulk as Logstash sends them, routed or not; an Elasticsearch 7 target and an
// OpenSearch 2 target, which has no types, converge to the primary, versions included.
func TestElasticsearch7TypedAPIs(t *testing.T) {
	es7 := func(o *searchemu.Options) { o.Flavor = searchemu.Elasticsearch7 }
	pl := startPipeline(t, 4, es7)
	pl.primary.createIndices(t, typedIndices...)
	targets := map[string]*emulator{
		"es7": startTarget(t, "es7", "", es7),
		"os2": startTarget(t, "os2", ""),
	}
	groups := map[string]string{}
	for name, target := range targets {
		target.createIndices(t, typedIndices...)
		groups[name] = startReplicator(t, testConfig(pl.kafka, target, name)).Group()
	}

	const clients, perClient = 2, 500
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(7, uint64(c)))
			for i := 0; i < perClient; i++ {
				if err := typedWrite(pl.proxy, rng); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	for name, target := range targets {
		waitCaughtUp(t, pl.kafka, groups[name], time.Minute)
		rep := assertConverged(t, pl.primary, target, nil)
		t.Logf("target %s: %d documents converged", name, rep.Compared)
		dlqEmpty(t, pl.kafka, name)
	}
	for _, ix := range typedIndices {
		if n := len(pl.primary.OpLog(ix)); n < 100 {
			t.Errorf("only %d writes applied to %s: the workload did not run", n, ix)
		}
	}
}

// typedIndices: "logs" is written with the type "doc" (the typed APIs), "beats" with
// "_type":"_doc" bulk lines (what Logstash 7 and Beats send) and the typeless APIs.
var typedIndices = []string{"logs", "beats"}

// typedWrite sends one random typed write through the proxy. The answers the primary
// gives to writes that change nothing (a create of an existing document, an update or
// delete of a missing one) are expected; anything else is an error.
func typedWrite(proxy string, rng *rand.Rand) error {
	n := rng.IntN(60)
	id := fmt.Sprintf("d%d", n)
	q := ""
	routing := ""
	if n%4 == 0 {
		routing = fmt.Sprintf("r%d", n%3)
		q = "?routing=" + routing
	}
	doc := fmt.Sprintf(`{"n":%d,"msg":"event %d","tags":["t%d"]}`, rng.IntN(1000), n, n%5)
	meta := func(action, index, typ string) string {
		m := fmt.Sprintf(`"_index":%q,"_type":%q,"_id":%q`, index, typ, id)
		if routing != "" {
			m += fmt.Sprintf(`,"routing":%q`, routing)
		}
		return fmt.Sprintf(`{%q:{%s}}`, action, m)
	}
	type req struct{ method, path, body string }
	var r req
	switch rng.IntN(12) {
	case 0:
		r = req{"PUT", "/logs/doc/" + id + q, doc}
	case 1:
		r = req{"POST", "/logs/doc/" + id + q, doc}
	case 2:
		r = req{"POST", "/logs/doc" + q, doc} // auto id
	case 3:
		r = req{"PUT", "/logs/doc/" + id + "/_create" + q, doc}
	case 4:
		r = req{"POST", "/logs/_doc/" + id + "/_create" + q, doc}
	case 5:
		r = req{"POST", "/logs/doc/" + id + "/_update" + q, fmt.Sprintf(`{"doc":{"n":%d,"updated":true},"doc_as_upsert":true}`, rng.IntN(1000))}
	case 6:
		r = req{"POST", "/logs/_doc/" + id + "/_update" + q, `{"doc":{"touched":true}}`}
	case 7:
		r = req{"DELETE", "/logs/doc/" + id + q, ""}
	case 8:
		// the URL's index and type are the items' defaults
		line := fmt.Sprintf(`{"index":{"_id":%q%s}}`, id, routingMember(routing))
		r = req{"POST", "/logs/doc/_bulk", line + "\n" + doc + "\n" + fmt.Sprintf(`{"update":{"_id":%q%s}}`, id, routingMember(routing)) + "\n" + `{"doc":{"bulk":1}}` + "\n"}
	case 9:
		line := fmt.Sprintf(`{"delete":{"_id":%q%s}}`, id, routingMember(routing))
		r = req{"PUT", "/beats/_doc/_bulk", line + "\n"}
	default:
		// Logstash: /_bulk with _type on every action line, and an auto-id event
		r = req{"POST", "/_bulk", strings.Join([]string{
			meta("index", "logs", "doc"), doc,
			meta("index", "beats", "_doc"), doc,
			`{"index":{"_index":"beats","_type":"_doc"}}`, doc,
			meta("update", "beats", "_doc"), `{"doc":{"seen":true}}`,
		}, "\n") + "\n"}
	}
	code, body := httpDoNoFatal(r.method, proxy+r.path, r.body)
	switch {
	case code == 0:
		return fmt.Errorf("%s %s: %s", r.method, r.path, body)
	case strings.HasSuffix(r.path, "_bulk") && code == http.StatusOK:
		if err := bulkItemsOK(body); err != nil {
			return fmt.Errorf("%s %s: %w", r.method, r.path, err)
		}
	case code < 300, code == http.StatusNotFound, code == http.StatusConflict:
	default:
		return fmt.Errorf("%s %s: HTTP %d %.500s", r.method, r.path, code, body)
	}
	return nil
}

func routingMember(r string) string {
	if r == "" {
		return ""
	}
	return fmt.Sprintf(`,"routing":%q`, r)
}

// httpDoNoFatal is httpDo for client goroutines: a failure is a status 0 and its text.
func httpDoNoFatal(method, u, body string) (int, []byte) {
	ct := ""
	if body != "" {
		ct = "application/json"
		if strings.Contains(u, "_bulk") {
			ct = "application/x-ndjson"
		}
	}
	return sendTyped(method, u, ct, body)
}

// bulkItemsOK accepts a bulk answer whose items succeeded, or found no document to
// update or delete (another client deleted it).
func bulkItemsOK(body []byte) error {
	var parsed struct {
		Items []map[string]struct {
			Status int `json:"status"`
			Error  struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"error"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &parsed); err != nil {
		return fmt.Errorf("bulk answer: %w", err)
	}
	for _, it := range parsed.Items {
		for act, r := range it {
			if r.Status >= 300 && !(act != "index" && r.Status == http.StatusNotFound) {
				return fmt.Errorf("bulk item %s: HTTP %d %s %s", act, r.Status, r.Error.Type, r.Error.Reason)
			}
		}
	}
	return nil
}
