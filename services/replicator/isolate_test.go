package replicator_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// TestWholeRequest400IsolatedToItsItem: a target that refuses a whole _bulk with 400
// action_request_validation_exception for what one of its 500 items holds (as bulk
// validation does, e.g. for an id or version it will not take) costs only that item: the
// replicator splits the request in order until the item stands alone, dead-letters it
// with the target's error, applies the 499 others and the partition's later records,
// and its lag returns to 0. The target is the emulator behind a front that refuses, as
// OpenSearch's validation would, every _bulk body holding the marked item.
func TestWholeRequest400IsolatedToItsItem(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	target := startEmulator(t, "b")
	createIndex(t, target, "docs")
	u, err := url.Parse(target.url)
	if err != nil {
		t.Fatal(err)
	}
	pass := httputil.NewSingleHostReverseProxy(u)
	var refused atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_bulk" {
			body, _ := io.ReadAll(r.Body)
			if bytes.Contains(body, []byte(`"_id":"bad-250"`)) {
				refused.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"error":{"root_cause":[{"type":"action_request_validation_exception","reason":"Validation Failed: 1: refused item;"}],"type":"action_request_validation_exception","reason":"Validation Failed: 1: refused item;"},"status":400}`)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		pass.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	cfg := testConfig(k, &emulator{Cluster: target.Cluster, url: front.URL}, "b")
	cfg.Batch.MaxDocs = 500

	var ops []*opspb.Operation
	for i := 0; i < 500; i++ {
		id := fmt.Sprintf("doc-%d", i)
		if i == 250 {
			id = "bad-250"
		}
		ops = append(ops, op(opspb.Kind_KIND_INDEX, "docs", id, "", 1, fmt.Sprintf(`{"n":%d}`, i)))
	}
	// A document with two events on both sides of the bad one keeps its order.
	ops = append([]*opspb.Operation{op(opspb.Kind_KIND_INDEX, "docs", "twice", "", 1, `{"v":1}`)}, ops...)
	ops = append(ops, op(opspb.Kind_KIND_INDEX, "docs", "twice", "", 2, `{"v":2}`))
	k.ProduceSync(t, encode(t, ops...)...)
	r := startReplicator(t, cfg)
	waitCaughtUp(t, k, r.Group(), 60*time.Second)
	// Records after the batch are applied too.
	k.ProduceSync(t, encode(t, op(opspb.Kind_KIND_INDEX, "docs", "later", "", 1, `{"late":true}`))...)
	waitCaughtUp(t, k, r.Group(), 20*time.Second)

	for i := 0; i < 500; i++ {
		if i == 250 {
			continue
		}
		if d := getDoc(t, target, "docs", fmt.Sprintf("doc-%d", i), ""); !d.Found {
			t.Fatalf("docs/doc-%d not applied", i)
		}
	}
	if d := getDoc(t, target, "docs", "bad-250", ""); d.Found {
		t.Errorf("the refused item reached the target: %+v", d)
	}
	if d := getDoc(t, target, "docs", "twice", ""); !d.Found || !strings.Contains(string(d.Source), `"v":2`) {
		t.Errorf("docs/twice = %+v, want its second version", d)
	}
	if d := getDoc(t, target, "docs", "later", ""); !d.Found {
		t.Error("the record after the batch was not applied")
	}
	dlq := dlqRecords(t, k, "b", 2, 5*time.Second)
	if len(dlq) != 1 {
		t.Fatalf("dead-letter records: %d, want the refused item alone", len(dlq))
	}
	dl, err := kafkax.ParseDeadLetter(dlq[0].Headers)
	if err != nil {
		t.Fatal(err)
	}
	if string(dlq[0].Key) != "docs/bad-250" || dl.HTTPStatus != 400 || dl.ErrorType != "action_request_validation_exception" || !strings.Contains(dl.Reason, "refused item") {
		t.Errorf("dead letter of %s: %+v", dlq[0].Key, dl)
	}
	if refused.Load() == 0 {
		t.Fatal("the front refused nothing: the test checked nothing")
	}
	t.Logf("the target refused %d requests on the way", refused.Load())
}
