package replication_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// storedIndices are the indices of TestStoredDocumentsConverge: "ingested" has a default
// and a final pipeline on the primary, "plain" none. The pipelines and the index reach
// the targets as metadata, but never the index's pipeline settings (a replica must not
// run the pipelines again), so what the targets hold is only what the events carried.
// "ubq" is rewritten by an update-by-query through a pipeline.
var storedIndices = []string{"ingested", "plain", "ubq"}

// TestStoredDocumentsConverge: documents the primary stores otherwise than the request
// sent them — YAML and CBOR bodies, a default pipeline that adds a field, a final
// pipeline, an explicit pipeline on a bulk item — reach two targets as the primary
// stored them (JSON, pipelines applied), with the primary's versions, also while four
// clients write the same documents at once through the pipelines.
func TestStoredDocumentsConverge(t *testing.T) {
	pl := startPipeline(t, 4)
	p := pl.proxy
	for id, body := range map[string]string{
		"enrich":   `{"processors":[{"set":{"field":"enriched","value":true}},{"lowercase":{"field":"name","ignore_missing":true}}]}`,
		"final":    `{"processors":[{"set":{"field":"final","value":"yes"}},{"remove":{"field":"secret","ignore_missing":true}}]}`,
		"explicit": `{"processors":[{"uppercase":{"field":"name","ignore_missing":true}},{"append":{"field":"seen","value":"explicit"}}]}`,
	} {
		if code, ans := httpDo(t, http.MethodPut, p+"/_ingest/pipeline/"+id, body); code != http.StatusOK {
			t.Fatalf("pipeline %s: %d %s", id, code, ans)
		}
	}
	settings := fmt.Sprintf(`{"settings":{"number_of_shards":%d,"index.default_pipeline":"enrich","index.final_pipeline":"final"}}`, shards)
	if code, ans := httpDo(t, http.MethodPut, p+"/ingested", settings); code != http.StatusOK {
		t.Fatalf("creating ingested: %d %s", code, ans)
	}
	pl.primary.createIndices(t, "plain", "ubq")
	targets := map[string]*emulator{"b": startTarget(t, "b", ""), "c": startTarget(t, "c", "")}
	groups := map[string]string{}
	for name, target := range targets {
		target.createIndices(t, storedIndices...)
		groups[name] = startReplicator(t, testConfig(pl.kafka, target, name)).Group()
	}

	// One of each kind, checked on the primary below.
	cborDoc, err := cbor.Marshal(map[string]any{"name": "Cbor", "n": 1.5, "tags": []string{"x", "y"}})
	if err != nil {
		t.Fatal(err)
	}
	writes := []struct{ method, path, ct, body string }{
		{http.MethodPut, "/plain/_doc/yaml", "application/yaml", "name: Yaml\nlist: [1, 2]\nnested:\n  k: v\n"},
		{http.MethodPut, "/plain/_doc/cbor", "application/cbor", string(cborDoc)},
		{http.MethodPut, "/ingested/_doc/yaml", "application/yaml", "name: YAML Too\nsecret: s\n"},
		{http.MethodPost, "/ingested/_doc/single", "application/json", `{"name":"Single","secret":1}`},
		{http.MethodPost, "/_bulk", "application/x-ndjson",
			"{\"index\":{\"_index\":\"ingested\",\"_id\":\"bulk\"}}\n{\"name\":\"Bulk\"}\n" +
				"{\"create\":{\"_index\":\"plain\",\"_id\":\"explicit\",\"pipeline\":\"explicit\"}}\n{\"name\":\"shout\"}\n" +
				"{\"index\":{\"_index\":\"plain\",\"_id\":\"none\"}}\n{\"name\":\"As Sent\"}\n" +
				"{\"index\":{\"_index\":\"ingested\",\"_id\":\"nodefault\",\"pipeline\":\"_none\"}}\n{\"name\":\"Final Only\",\"secret\":2}\n"},
	}
	for _, w := range writes {
		code, ans := sendTyped(w.method, p+w.path, w.ct, w.body)
		if code/100 != 2 || bytes.Contains(ans, []byte(`"errors":true`)) {
			t.Fatalf("%s %s: %d %s", w.method, w.path, code, ans)
		}
	}

	// Concurrent writers on the same documents of "ingested", through its pipelines:
	// single writes, bulks with and without an explicit pipeline, updates and deletes.
	const clients, perClient = 4, 150
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(11, uint64(c)))
			for i := 0; i < perClient; i++ {
				if err := pipelineWrite(p, rng, c, i); err != nil {
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

	// update-by-query through a pipeline: the proxy's own guarded bulks name it, and
	// their events carry what the pipeline made.
	seed := ""
	for i := 0; i < 5; i++ {
		seed += fmt.Sprintf("{\"index\":{\"_index\":\"ubq\",\"_id\":\"u%d\"}}\n{\"name\":\"U%d\",\"secret\":%d}\n", i, i, i)
	}
	if code, ans := sendTyped(http.MethodPost, p+"/_bulk?refresh=true", "application/x-ndjson", seed); code != http.StatusOK || bytes.Contains(ans, []byte(`"errors":true`)) {
		t.Fatalf("seeding ubq: %d %s", code, ans)
	}
	if code, ans := sendTyped(http.MethodPost, p+"/ubq/_update_by_query?pipeline=final&refresh=true", "", ""); code != http.StatusOK || !bytes.Contains(ans, []byte(`"updated":5`)) {
		t.Fatalf("update-by-query through a pipeline: %d %s", code, ans)
	}

	for name, target := range targets {
		waitCaughtUp(t, pl.kafka, groups[name], time.Minute)
		rep := assertConverged(t, pl.primary, target, nil)
		t.Logf("target %s: %d documents converged", name, rep.Compared)
		dlqEmpty(t, pl.kafka, name)
	}
	// The primary stored what the pipelines made of the documents (and so, converged,
	// do the targets, which run none).
	for _, want := range []struct{ index, id, source string }{
		{"plain", "yaml", `{"name":"Yaml","list":[1,2],"nested":{"k":"v"}}`},
		{"ingested", "yaml", `{"name":"yaml too","enriched":true,"final":"yes"}`},
		{"ingested", "single", `{"name":"single","enriched":true,"final":"yes"}`},
		{"ingested", "bulk", `{"name":"bulk","enriched":true,"final":"yes"}`},
		{"ingested", "nodefault", `{"name":"Final Only","final":"yes"}`},
		{"plain", "explicit", `{"name":"SHOUT","seen":["explicit"]}`},
		{"plain", "none", `{"name":"As Sent"}`},
		{"ubq", "u3", `{"name":"U3","final":"yes"}`},
	} {
		for name, target := range targets {
			if got := sourceOf(t, target, want.index, want.id); !jsonSame(got, want.source) {
				t.Errorf("target %s: %s/%s is %s, want %s", name, want.index, want.id, got, want.source)
			}
		}
	}
	for name, target := range targets {
		var doc map[string]any
		if err := json.Unmarshal(sourceOf(t, target, "plain", "cbor"), &doc); err != nil || doc["name"] != "Cbor" || doc["n"] != 1.5 {
			t.Errorf("target %s: the CBOR document is %v (%v)", name, doc, err)
		}
	}
	if n := len(pl.primary.OpLog("ingested")); n < clients*perClient/2 {
		t.Errorf("only %d writes applied to ingested: the concurrent writers did not run", n)
	}
}

// pipelineWrite sends one random write of the concurrent phase. A 503 whose reason says
// a document was not found when read back is expected: another client deleted it between
// the write and its read-back, and the delete's own event carries the state on.
func pipelineWrite(p string, rng *rand.Rand, c, i int) error {
	id := fmt.Sprintf("c%d", rng.IntN(12))
	var code int
	var ans []byte
	switch n := rng.IntN(10); {
	case n < 3:
		code, ans = sendTyped(http.MethodPut, p+"/ingested/_doc/"+id, "application/json", fmt.Sprintf(`{"name":"Client%d","i":%d,"secret":1}`, c, i))
	case n < 4:
		code, ans = sendTyped(http.MethodPut, p+"/ingested/_doc/"+id, "application/yaml", fmt.Sprintf("name: Yaml%d\ni: %d\n", c, i))
	case n < 7:
		pipe := ""
		if rng.IntN(2) == 0 {
			pipe = `,"pipeline":"explicit"`
		}
		other := fmt.Sprintf("c%d", rng.IntN(12))
		body := fmt.Sprintf("{\"index\":{\"_index\":\"ingested\",\"_id\":%q%s}}\n{\"name\":\"Bulk%d\",\"i\":%d}\n", id, pipe, c, i) +
			fmt.Sprintf("{\"update\":{\"_index\":\"ingested\",\"_id\":%q}}\n{\"doc\":{\"u\":%d}}\n", other, i)
		code, ans = sendTyped(http.MethodPost, p+"/_bulk", "application/x-ndjson", body)
		if code == http.StatusOK {
			if err := bulkItemsOK(ans); err != nil {
				return err
			}
		}
	case n < 9:
		code, ans = sendTyped(http.MethodPost, p+"/ingested/_update/"+id, "application/json", fmt.Sprintf(`{"doc":{"u":%d}}`, i))
		if code == http.StatusNotFound {
			return nil
		}
	default:
		code, ans = sendTyped(http.MethodDelete, p+"/ingested/_doc/"+id, "", "")
		if code == http.StatusNotFound {
			return nil
		}
	}
	switch {
	case code/100 == 2:
		return nil
	case code == http.StatusServiceUnavailable && bytes.Contains(ans, []byte("not found: deleted since")):
		return nil
	}
	return fmt.Errorf("client %d write %d: %d %s", c, i, code, ans)
}

// sendTyped is httpDoNoFatal with a Content-Type of the caller's.
func sendTyped(method, u, ct, body string) (int, []byte) {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return 0, []byte(err.Error())
	}
	req.Close = true
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, []byte(err.Error())
	}
	return resp.StatusCode, b
}

// sourceOf returns the _source of index/id on e.
func sourceOf(t *testing.T, e *emulator, index, id string) json.RawMessage {
	t.Helper()
	code, ans := httpDo(t, http.MethodGet, e.url+"/"+index+"/_doc/"+id, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s/%s on %s: %d %s", index, id, e.url, code, ans)
	}
	var doc struct {
		Source json.RawMessage `json:"_source"`
	}
	if err := json.Unmarshal(ans, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Source
}
