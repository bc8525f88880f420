package proxy_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/services/proxy"
)

// wantNotQueued checks a 503 fanout_replication_exception whose reason has want.
func wantNotQueued(t *testing.T, r response, want string) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "fanout_replication_exception") || !strings.Contains(string(r.body), want) {
		t.Fatalf("want 503 fanout_replication_exception (%s), got %d %s", want, r.status, r.body)
	}
}

// primaryHas reports whether the primary has the index.
func primaryHas(t *testing.T, e *env, index string) bool {
	t.Helper()
	return send(t, http.MethodHead, e.primaryURL+"/"+index, "").status == http.StatusOK
}

// TestMetadataAbortedMidChange: when Kafka refuses the copies after partition 0's was
// written, the transaction is aborted: a read_committed reader sees no copy at all, not
// even partition 0's, and the client is told the change was applied but not queued. The
// next change is published whole (the producer recovers).
func TestMetadataAbortedMidChange(t *testing.T) {
	e := startEnv(t, 1)
	w := watchMeta(e)
	var failing, hit atomic.Bool
	failing.Store(true)
	fake := e.kafka.Fake()
	fake.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		fake.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		if !failing.Load() || req.TransactionID == nil {
			return nil, nil, false
		}
		for _, tp := range req.Topics {
			for _, p := range tp.Partitions {
				if p.Partition == 0 {
					return nil, nil, false
				}
			}
		}
		hit.Store(true)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = tp.Topic
			st.TopicID = tp.TopicID
			for _, p := range tp.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = p.Partition
				sp.ErrorCode = kerr.MessageTooLarge.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})

	wantNotQueued(t, send(t, http.MethodPut, e.url()+"/books", ""), "not committed to Kafka")
	if !hit.Load() || !primaryHas(t, e, "books") {
		t.Fatalf("the fault was not hit (%v) or the primary has no index", hit.Load())
	}
	// Partition 0's copy was written, then aborted: read_committed does not show it.
	w.none()
	if got, _ := metricValue(t, e.proxies[0].MetricsURL(), `fanout_proxy_metadata_failures_total{kind="index",stage="publish"}`); got != 1 {
		t.Errorf("publish failures %d, want 1", got)
	}

	failing.Store(false)
	mustSend(t, http.MethodPut, e.url()+"/books/_mapping", `{"properties":{"n":{"type":"long"}}}`, 200)
	if md := w.one(); md.GetRequest() != "PUT /books/_mapping" {
		t.Fatalf("after the fault: %v", md)
	}
}

// TestMetadataKafkaUnavailable: with the topic missing, or Kafka gone, a change the
// primary applied gets the 503 within publish.timeout, and nothing is published.
func TestMetadataKafkaUnavailable(t *testing.T) {
	t.Run("topic missing", func(t *testing.T) {
		e := startEnv(t, 0)
		cfg := e.config()
		cfg.Publish.Topic = "fanout.missing"
		cfg.Publish.Timeout = 2 * time.Second
		p := startProxy(t, cfg)
		wantNotQueued(t, send(t, http.MethodPut, p.URL()+"/books", ""), "not committed to Kafka")
		if !primaryHas(t, e, "books") {
			t.Fatal("the primary has no index")
		}
		e.proxies = []*proxy.Proxy{p}
		for _, rec := range e.kafka.ConsumeAll(t, topic, eventWait) {
			if event.IsMetadata(rec) {
				t.Fatalf("a copy on %s: %v", topic, rec)
			}
		}
	})
	t.Run("kafka down", func(t *testing.T) {
		e := startEnv(t, 1, func(c *proxy.Config) { c.Publish.Timeout = 2 * time.Second })
		e.kafka.Fake().Close()
		start := time.Now()
		wantNotQueued(t, send(t, http.MethodPut, e.url()+"/books", ""), "not committed to Kafka")
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("the answer took %s", d)
		}
		if !primaryHas(t, e, "books") {
			t.Fatal("the primary has no index")
		}
	})
}

// TestMetadataReadBackFails: when the primary applied a change but its state cannot be
// read back, the client gets the 503 and nothing is published.
func TestMetadataReadBackFails(t *testing.T) {
	e, rec := startRecordedEnv(t)
	w := watchMeta(e)
	rec.setBefore(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && r.URL.Path == "/books" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":"boom","status":500}`))
			return true
		}
		return false
	})
	wantNotQueued(t, send(t, http.MethodPut, e.url()+"/books", ""), "could not read its resulting state")
	if !primaryHas(t, e, "books") {
		t.Fatal("the primary has no index")
	}
	w.none()
	if got, _ := metricValue(t, e.proxies[0].MetricsURL(), `fanout_proxy_metadata_failures_total{kind="index",stage="read_back"}`); got != 1 {
		t.Errorf("read-back failures %d, want 1", got)
	}
}

// TestMetadataOrderedWithDocuments: a document write in flight when a metadata request
// comes is in Kafka ahead of the change's copy on its partition, and one sent while the
// change is in flight is behind it. The primary holds each request until the test lets
// it go, so the three overlap as described.
func TestMetadataOrderedWithDocuments(t *testing.T) {
	e, rec := startRecordedEnv(t)
	w := watchMeta(e)
	u := e.url()
	mustSend(t, http.MethodPut, u+"/books", "", 200)
	w.one()

	arrived := map[string]chan struct{}{"PUT /books/_doc/before": make(chan struct{}), "PUT /books/_mapping": make(chan struct{})}
	release := map[string]chan struct{}{"PUT /books/_doc/before": make(chan struct{}), "PUT /books/_mapping": make(chan struct{})}
	var afterSeen atomic.Bool
	rec.setBefore(func(_ http.ResponseWriter, r *http.Request) bool {
		k := r.Method + " " + r.URL.Path
		if k == "PUT /books/_doc/after" {
			afterSeen.Store(true)
		}
		if ch, ok := arrived[k]; ok {
			close(ch)
			<-release[k]
		}
		return false
	})
	answers := make(chan string, 3)
	async := func(method, path, body string, status int) {
		go func() {
			r := send(t, method, u+path, body)
			if r.status != status {
				t.Errorf("%s %s: %d %s", method, path, r.status, r.body)
			}
			answers <- path
		}()
	}
	wait := func(ch chan struct{}, what string) {
		select {
		case <-ch:
		case <-time.After(eventWait):
			t.Fatalf("the primary never got %s", what)
		}
	}

	async(http.MethodPut, "/books/_doc/before", `{"n":1}`, 201)
	wait(arrived["PUT /books/_doc/before"], "the first document")
	async(http.MethodPut, "/books/_mapping", `{"properties":{"n":{"type":"long"}}}`, 200)
	// The change waits for the document in flight: its request does not reach the
	// primary meanwhile (a window, for the test's power only: the order checked below
	// is the proof).
	time.Sleep(200 * time.Millisecond)
	select {
	case <-arrived["PUT /books/_mapping"]:
		t.Fatal("the metadata request reached the primary while a document write was in flight")
	default:
	}
	close(release["PUT /books/_doc/before"])
	wait(arrived["PUT /books/_mapping"], "the metadata request")
	async(http.MethodPut, "/books/_doc/after", `{"n":2}`, 201)
	time.Sleep(200 * time.Millisecond)
	if afterSeen.Load() {
		t.Fatal("a document write reached the primary while a metadata change was in flight")
	}
	close(release["PUT /books/_mapping"])
	for range 3 {
		select {
		case <-answers:
		case <-time.After(eventWait):
			t.Fatal("a request was not answered")
		}
	}

	var copies map[int32]int64
	docs := map[string]*kgo.Record{}
	for _, r := range e.committed() {
		if event.IsMetadata(r) {
			if op, _ := event.Decode(r); op.GetMetadata().GetRequest() == "PUT /books/_mapping" {
				if copies == nil {
					copies = map[int32]int64{}
				}
				copies[r.Partition] = r.Offset
			}
			continue
		}
		docs[string(r.Key)] = r
	}
	if len(copies) != partitions {
		t.Fatalf("copies of the change: %v", copies)
	}
	b, a := docs["books/before"], docs["books/after"]
	if b == nil || a == nil {
		t.Fatalf("document events: %v", docs)
	}
	if b.Offset > copies[b.Partition] {
		t.Errorf("the document accepted before the change is behind its copy on partition %d (%d > %d)", b.Partition, b.Offset, copies[b.Partition])
	}
	if a.Offset < copies[a.Partition] {
		t.Errorf("the document accepted after the change is ahead of its copy on partition %d (%d < %d)", a.Partition, a.Offset, copies[a.Partition])
	}
}

// TestMetadataBeforeReadRefused: a delete whose indices the primary will not let the
// proxy read first is still sent, so the client gets the primary's own answer; applied
// anyway, it is answered 503 and nothing is published (the deleted uuids are unknown).
func TestMetadataBeforeReadRefused(t *testing.T) {
	e, rec := startRecordedEnv(t)
	w := watchMeta(e)
	mustSend(t, http.MethodPut, e.url()+"/books", "", 200)
	w.one()
	rec.setBefore(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && r.URL.Path == "/books" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":{"type":"security_exception","reason":"no"},"status":403}`))
			return true
		}
		return false
	})
	wantNotQueued(t, send(t, http.MethodDelete, e.url()+"/books", ""), "could not read beforehand")
	if primaryHas(t, e, "books") {
		t.Fatal("the delete did not reach the primary")
	}
	w.none()
}
