package replication_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/services/proxy/proxytest"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// bulkClock records, per document id, when a cluster first answered a _bulk that
// held it: on the primary, when the write was accepted; on the target, when it was
// applied (the emulator's writes are visible to a realtime get once answered).
type bulkClock struct {
	next http.Handler
	mu   sync.Mutex
	at   map[string]time.Time
}

func (c *bulkClock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/_bulk") {
		c.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	c.next.ServeHTTP(w, r)
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	// Only action lines carry "_id" in this benchmark's bulks (the documents do not).
	for line := range bytes.Lines(body) {
		i := bytes.Index(line, []byte(`"_id":"`))
		if i < 0 {
			continue
		}
		id := line[i+len(`"_id":"`):]
		if j := bytes.IndexByte(id, '"'); j >= 0 {
			k := string(id[:j])
			if _, seen := c.at[k]; !seen {
				c.at[k] = now
			}
		}
	}
}

func (c *bulkClock) get(id string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.at[id]
	return t, ok
}

func (c *bulkClock) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.at)
}

// serveClocked serves an emulator behind a bulkClock on 127.0.0.1 until the benchmark
// ends.
func serveClocked(b *testing.B, name string) (string, *bulkClock) {
	b.Helper()
	clock := &bulkClock{next: searchemu.New(searchemu.Options{Name: name}), at: map[string]time.Time{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: clock}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), clock
}

// BenchmarkEndToEndLag drives an open-loop load at fixed rates (5k and 20k documents of
// ~1 KiB per second, bulks of 100, through the proxy; 12 partitions; one replicator;
// emulator clusters) and reports the p50, p99 and max of each document's lag: the time
// the target applied it minus the time the primary accepted it. Everything runs in
// this process on the same cores, so the figures include that contention.
func BenchmarkEndToEndLag(b *testing.B) {
	const (
		partitions = 12
		perBulk    = 100
		duration   = 10 * time.Second
	)
	k := kafkatest.NewCluster(b, kafkatest.WithTopic(topic, partitions))
	primaryURL, primary := serveClocked(b, "primary")
	targetURL, target := serveClocked(b, "b")
	for _, u := range []string{primaryURL, targetURL} {
		if code, ans := httpDo(b, http.MethodPut, u+"/lag", `{"settings":{"number_of_shards":3}}`); code != http.StatusOK {
			b.Fatalf("creating index lag: %d %s", code, ans)
		}
	}
	pcfg := proxytest.Config(primaryURL, k.Addrs(), topic)
	pcfg.MetricsListen = ""
	pcfg.Publish.Compression = "lz4" // production's codec: no race detector here
	p := proxytest.Start(b, pcfg, nil)
	rcfg := replicatortest.Config("b", targetURL, k.Addrs(), topic)
	rcfg.MetricsListen = ""
	replicatortest.Start(b, rcfg, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.Cleanup(client.CloseIdleConnections)

	pad := strings.Repeat("lorem ipsum dolor sit amet ", 36)[:900]
	body := func(rate, seq int) []byte {
		var buf bytes.Buffer
		for j := 0; j < perBulk; j++ {
			fmt.Fprintf(&buf, "{\"index\":{\"_index\":\"lag\",\"_id\":%q}}\n{\"n\":%d,\"text\":%q}\n", lagID(rate, seq*perBulk+j), j, pad)
		}
		return buf.Bytes()
	}
	for i := 0; i < b.N; i++ {
		for _, rate := range []int{5000, 20000} {
			// Warm-up second at the rate, not measured.
			_, _ = openLoop(b, client, p.URL(), rate, perBulk, time.Second, -1, body)
			ids, behind := openLoop(b, client, p.URL(), rate, perBulk, duration, i, body)
			if !poll(time.Minute, 10*time.Millisecond, func() bool { return appliedAll(target, ids) }) {
				b.Fatalf("%d of %d documents on the target a minute after the load at %d/s", target.count(), len(ids), rate)
			}
			var lags []float64
			for _, id := range ids {
				a, ok1 := primary.get(id)
				v, ok2 := target.get(id)
				if !ok1 || !ok2 {
					b.Fatalf("document %s: accepted %v, applied %v", id, ok1, ok2)
				}
				lags = append(lags, float64(v.Sub(a).Microseconds())/1000)
			}
			slices.Sort(lags)
			name := fmt.Sprintf("%dk", rate/1000)
			b.ReportMetric(lags[len(lags)/2], "lag_p50_ms@"+name)
			b.ReportMetric(lags[len(lags)*99/100], "lag_p99_ms@"+name)
			b.ReportMetric(lags[len(lags)-1], "lag_max_ms@"+name)
			b.ReportMetric(float64(len(ids))/duration.Seconds(), "sent_docs/s@"+name)
			b.ReportMetric(float64(behind), "late_bulks@"+name)
		}
	}
}

// lagID is the id of the benchmark's n-th document at rate.
func lagID(rate, n int) string { return fmt.Sprintf("r%d-%d", rate, n) }

// appliedAll says whether the target applied every id.
func appliedAll(target *bulkClock, ids []string) bool {
	for _, id := range slices.Backward(ids) {
		if _, ok := target.get(id); !ok {
			return false
		}
	}
	return true
}

// openLoop sends bulks of perBulk documents at rate documents per second for d, each
// on its schedule whatever the previous ones' answers (an open loop: a slow pipeline
// does not slow the load). It returns the ids written and how many bulks left later
// than their schedule because 256 were already in flight. round < 0 marks a warm-up,
// whose ids do not collide with the measured rounds'.
func openLoop(b *testing.B, client *http.Client, url string, rate, perBulk int, d time.Duration, round int, body func(rate, seq int) []byte) ([]string, int) {
	b.Helper()
	bulks := int(d.Seconds() * float64(rate) / float64(perBulk))
	interval := time.Duration(float64(time.Second) * float64(perBulk) / float64(rate))
	base := (round + 2) * 1_000_000 // sequence numbers of this round
	bodies := make([][]byte, bulks)
	for i := range bodies {
		bodies[i] = body(rate, base+i)
	}
	var (
		wg       sync.WaitGroup
		failed   atomic.Value
		late     int
		inflight = make(chan struct{}, 256)
	)
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	start := time.Now()
	for i := range bodies {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		select {
		case inflight <- struct{}{}:
		default:
			late++
			inflight <- struct{}{}
		}
		wg.Add(1)
		go func(body []byte) {
			defer wg.Done()
			defer func() { <-inflight }()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/_bulk", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/x-ndjson")
			resp, err := client.Do(req)
			if err != nil {
				failed.CompareAndSwap(nil, err.Error())
				return
			}
			ans, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || bytes.Contains(ans[:min(len(ans), 64)], []byte(`"errors":true`)) {
				failed.CompareAndSwap(nil, fmt.Sprintf("%d %.300s", resp.StatusCode, ans))
			}
		}(bodies[i])
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		b.Fatalf("a bulk through the proxy failed: %v", f)
	}
	ids := make([]string, 0, bulks*perBulk)
	for i := 0; i < bulks; i++ {
		for j := 0; j < perBulk; j++ {
			ids = append(ids, lagID(rate, (base+i)*perBulk+j))
		}
	}
	return ids, late
}
