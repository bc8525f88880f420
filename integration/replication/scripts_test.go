package replication_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestScriptedUpdatesConverge: scripted updates are not idempotent — a replicator that
// re-ran `ctx._source.n += params.by` would count every redelivery — so fanout publishes
// the document the primary's script produced. Through proxy → Kafka → two replicators →
// two targets (the emulator runs the Painless subset, testbed/searchemu/painless):
//
//   - 4 clients × 250 `_update` calls with `retry_on_conflict`, as a real client sends them,
//     on one counter: the primary and both targets end at n = 1000, versions equal;
//   - ctx.op = 'noop' publishes nothing; ctx.op = 'delete' replicates a delete;
//   - scripted_upsert creates the document the script built;
//   - one bulk mixing scripted updates, a scripted upsert, a script noop, a script delete
//     and a failing script (whose item fails and publishes nothing).
func TestScriptedUpdatesConverge(t *testing.T) {
	pl := startPipeline(t, 4)
	targets := map[string]*emulator{"a": startTarget(t, "a", ""), "b": startTarget(t, "b", "")}
	groups := map[string]string{}
	for name, target := range targets {
		groups[name] = startReplicator(t, testConfig(pl.kafka, target, name)).Group()
	}
	cl := &http.Client{Timeout: time.Minute}
	t.Cleanup(cl.CloseIdleConnections)
	must := func(method, path, body string, want int) []byte {
		t.Helper()
		code, ans, err := send(cl, method, pl.proxy+path, body)
		if err != nil || code != want {
			t.Fatalf("%s %s: want %d, got %d %s %v", method, path, want, code, ans, err)
		}
		return ans
	}
	for _, id := range []string{"counter", "quiet", "gone", "b1", "b2", "b3", "b4"} {
		must(http.MethodPut, "/orders/_doc/"+id, `{"n":0,"tags":["a"]}`, http.StatusCreated)
	}

	const clients, perClient = 4, 250
	inc := `{"script":{"source":"ctx._source.n += params.by","lang":"painless","params":{"by":1}}}`
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perClient; i++ {
				code, ans, err := send(cl, http.MethodPost, pl.proxy+"/orders/_update/counter?retry_on_conflict=5", inc)
				if err != nil || code != http.StatusOK || !bytes.Contains(ans, []byte(`"result":"updated"`)) {
					errs <- fmt.Errorf("client %d, update %d: %d %s %v", c, i, code, ans, err)
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

	ans := must(http.MethodPost, "/orders/_update/quiet", `{"script":"ctx._source.n = 99; ctx.op = 'noop'"}`, http.StatusOK)
	if !bytes.Contains(ans, []byte(`"result":"noop"`)) {
		t.Fatalf("noop: %s", ans)
	}
	if ans := must(http.MethodPost, "/orders/_update/gone", `{"script":"if (ctx._source.n == 0) { ctx.op = 'delete' }"}`, http.StatusOK); !bytes.Contains(ans, []byte(`"result":"deleted"`)) {
		t.Fatalf("delete: %s", ans)
	}
	must(http.MethodPost, "/orders/_update/fresh", `{"script":{"source":"ctx._source.n = params.start; ctx._source.made = ctx.op","params":{"start":7}},"upsert":{},"scripted_upsert":true}`, http.StatusCreated)

	bulk := strings.Join([]string{
		`{"update":{"_index":"orders","_id":"b1","retry_on_conflict":3}}`,
		`{"script":{"source":"ctx._source.n += params.by; ctx._source.tags.add(params.t)","params":{"by":5,"t":"b"}}}`,
		`{"update":{"_index":"orders","_id":"b2"}}`,
		`{"script":"ctx.op = 'none'"}`,
		`{"update":{"_index":"orders","_id":"b3"}}`,
		`{"script":"ctx.op = 'delete'"}`,
		`{"update":{"_index":"orders","_id":"b4"}}`,
		`{"script":"ctx._source.missing += 1"}`,
		`{"update":{"_index":"orders","_id":"b5"}}`,
		`{"script":"ctx._source.n = 1","upsert":{"n":0},"scripted_upsert":true}`,
		`{"update":{"_index":"orders","_id":"b1"}}`,
		`{"script":"ctx._source.n *= 2"}`,
	}, "\n") + "\n"
	ans = must(http.MethodPost, "/_bulk", bulk, http.StatusOK)
	var br struct {
		Items []map[string]struct {
			Status int    `json:"status"`
			Result string `json:"result"`
		} `json:"items"`
	}
	if err := json.Unmarshal(ans, &br); err != nil {
		t.Fatal(err)
	}
	want := []string{"updated", "noop", "deleted", "", "created", "updated"}
	for i, w := range want {
		it := br.Items[i]["update"]
		if it.Result != w || (w == "" && it.Status != http.StatusBadRequest) {
			t.Errorf("bulk item %d: want %q, got %d %q: %s", i, w, it.Status, it.Result, ans)
		}
	}

	for name, target := range targets {
		waitCaughtUp(t, pl.kafka, groups[name], time.Minute)
		rep := assertConverged(t, pl.primary, target, nil)
		t.Logf("target %s: %d documents converged", name, rep.Compared)
		dlqEmpty(t, pl.kafka, name)
	}
	for name, e := range map[string]*emulator{"primary": pl.primary, "a": targets["a"], "b": targets["b"]} {
		for id, want := range map[string]string{"counter": `{"n":1000,"tags":["a"]}`, "quiet": `{"n":0,"tags":["a"]}`, "fresh": `{"n":7,"made":"create"}`, "b1": `{"n":10,"tags":["a","b"]}`, "b4": `{"n":0,"tags":["a"]}`, "b5": `{"n":1}`} {
			code, got, err := send(cl, http.MethodGet, e.url+"/orders/_source/"+id, "")
			if err != nil || code != http.StatusOK || string(got) != want {
				t.Errorf("%s: orders/%s want %s, got %d %s %v", name, id, want, code, got, err)
			}
		}
		for _, id := range []string{"gone", "b3"} {
			if code, _, _ := send(cl, http.MethodGet, e.url+"/orders/_doc/"+id, ""); code != http.StatusNotFound {
				t.Errorf("%s: orders/%s must be deleted, got %d", name, id, code)
			}
		}
	}
	// the noop and the failed item published nothing: quiet, b2 and b4 have their index
	// event only
	counts := map[string]int{}
	for _, r := range pl.kafka.ConsumeAll(t, topic, 30*time.Second) {
		counts[string(r.Key)]++
	}
	for _, key := range []string{"orders/quiet", "orders/b2", "orders/b4"} {
		if counts[key] != 1 {
			t.Errorf("%s: want 1 event (its index), got %d", key, counts[key])
		}
	}
	// Concurrent updates of one document may be superseded (the proxy cannot learn the
	// routing an update applied when writes of the document land on both sides of it; the
	// later write's event carries the document on), so the counter has at most one event
	// per write; the targets reached n = 1000 above all the same.
	if n := counts["orders/counter"]; n < 2 || n > 1+clients*perClient {
		t.Errorf("orders/counter: %d events", n)
	}
	t.Logf("orders/counter: %d events for %d scripted updates", counts["orders/counter"]-1, clients*perClient)
}

// send is one request whose error is returned, so that client goroutines can report it.
func send(cl *http.Client, method, u, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		if strings.HasSuffix(u, "/_bulk") {
			req.Header.Set("Content-Type", "application/x-ndjson")
		}
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
