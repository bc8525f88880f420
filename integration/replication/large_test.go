package replication_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// largeDoc is a JSON document of about n bytes, different for each tag.
func largeDoc(n int, tag string) []byte {
	b := make([]byte, 0, n+64)
	b = fmt.Appendf(b, `{"tag":%q,"parts":["`, tag)
	for i := 0; len(b) < n-4; i++ {
		if i%1000 == 999 {
			b = append(b, `","`...)
			continue
		}
		b = append(b, 'a'+byte((i+len(tag))%26))
	}
	return append(b, `"]}`...)
}

// startLargePipeline is startPipeline with the waits a 50 MiB document needs under
// the race detector: the publish of its 50 pieces and its bulk on the targets take
// seconds, which the shared test configuration's short timeouts do not allow.
func startLargePipeline(t *testing.T, partitions int32, change ...func(*proxy.Config)) *pipeline {
	t.Helper()
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, partitions))
	primary := startEmulator(t, "primary")
	primary.createIndices(t, workloadIndices...)
	cfg := proxytest.Config(primary.url, k.Addrs(), topic)
	cfg.MetricsListen = ""
	cfg.Publish.Timeout = 2 * time.Minute
	cfg.Primary.Timeout = 2 * time.Minute
	for _, c := range change {
		c(&cfg)
	}
	p := proxytest.Start(t, cfg, testLogger())
	return &pipeline{kafka: k, primary: primary, proxy: p.URL()}
}

func largeReplicatorConfig(k *kafkatest.Cluster, target *emulator, name string) replicator.Config {
	cfg := testConfig(k, target, name)
	cfg.Limits.BulkTimeout = 2 * time.Minute
	return cfg
}

// write sends one write through the proxy and fails the test unless it is applied.
func write(t *testing.T, method, url string, body []byte) []byte {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return nil
	}
	ct := "application/json"
	if strings.Contains(url, "_bulk") {
		ct = "application/x-ndjson"
	}
	req.Header.Set("Content-Type", ct)
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return nil
	}
	defer resp.Body.Close()
	var ans bytes.Buffer
	_, _ = ans.ReadFrom(resp.Body)
	if resp.StatusCode/100 != 2 || bytes.Contains(ans.Bytes(), []byte(`"errors":true`)) {
		t.Errorf("%s %s (%d bytes): %d %.500s", method, url, len(body), resp.StatusCode, ans.Bytes())
	}
	return ans.Bytes()
}

// bulkAround is a _bulk body with small documents around one large document.
func bulkAround(id string, doc []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\"index\":{\"_index\":\"users\",\"_id\":\"%s-before\"}}\n{\"n\":1}\n", id)
	fmt.Fprintf(&b, "{\"index\":{\"_index\":\"orders\",\"_id\":%q}}\n", id)
	b.Write(doc)
	b.WriteByte('\n')
	fmt.Fprintf(&b, "{\"create\":{\"_index\":\"users\",\"_id\":\"%s-after\"}}\n{\"n\":2}\n", id)
	fmt.Fprintf(&b, "{\"delete\":{\"_index\":\"users\",\"_id\":\"%s-before\"}}\n", id)
	return b.Bytes()
}

// TestLargeDocumentsConverge: documents over publish.max_record_bytes (1.5 MiB and
// 50 MiB, each alone and inside a _bulk of small documents), updated, and written
// concurrently by several clients, reach a target through chunk groups; it
// converges to the primary, versions included, and nothing is dead-lettered.
func TestLargeDocumentsConverge(t *testing.T) {
	pl := startLargePipeline(t, 3)
	// One target: a second one read the same groups again and doubled the test's cost
	// (each 50 MiB document costs tens of CPU-seconds per copy under the race
	// detector) without adding a case; TestThreeTargetsConverge covers several targets.
	target := startTarget(t, "b", "")
	rep := startReplicator(t, largeReplicatorConfig(pl.kafka, target, "b")).Group()

	start := time.Now()
	write(t, http.MethodPut, pl.proxy+"/orders/_doc/mid-single", largeDoc(3<<19, "mid-single"))
	write(t, http.MethodPost, pl.proxy+"/_bulk", bulkAround("mid-bulk", largeDoc(3<<19, "mid-bulk")))
	write(t, http.MethodPost, pl.proxy+"/orders/_update/mid-single", []byte(`{"doc":{"updated":true}}`))
	write(t, http.MethodPost, pl.proxy+"/orders/_doc", largeDoc(3<<19, "auto-id"))
	// 50 MiB documents, one written alone and one inside a _bulk of small ones: under
	// the race detector each costs this test tens of seconds and gigabytes, so there
	// are only these two.
	write(t, http.MethodPut, pl.proxy+"/orders/_doc/big-single", largeDoc(50<<20, "big-single"))
	write(t, http.MethodPost, pl.proxy+"/_bulk", bulkAround("big-bulk", largeDoc(50<<20, "big-bulk")))

	// Concurrent writers of one document: their groups interleave on its partition,
	// and the primary's last version wins on the target.
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3; i++ {
				write(t, http.MethodPut, pl.proxy+"/orders/_doc/shared", largeDoc(3<<19+c*1000+i, fmt.Sprintf("writer-%d-%d", c, i)))
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	waitCaughtUp(t, pl.kafka, rep, 3*time.Minute)
	got := assertConverged(t, pl.primary, target, nil)
	t.Logf("%d documents converged after %s", got.Compared, time.Since(start).Round(time.Millisecond))
	dlqEmpty(t, pl.kafka, "b")
	// The documents travelled in pieces: the topic holds chunk records.
	pieces := 0
	for _, rec := range pl.kafka.ConsumeAll(t, topic, time.Minute) {
		if op, err := event.Decode(rec); err == nil && op.GetChunk() != nil {
			pieces++
		}
	}
	if pieces < 100 {
		t.Errorf("%d chunk records on the topic, want more than 100 (two 50 MiB documents)", pieces)
	}
}
