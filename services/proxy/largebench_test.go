package proxy_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/services/proxy"
)

// BenchmarkProxyLargeDocument writes 10 MiB documents one at a time through a proxy
// whose primary and Kafka run in another process (startInfra), so that this process's
// heap is the proxy's: each document is published as a chunk group of about ten 1 MiB
// records. It reports the throughput the client sees (primary write, pieces, acks) and
// the proxy's peak heap per document in flight, over its idle heap.
func BenchmarkProxyLargeDocument(b *testing.B) {
	in := startInfra(b)
	p := startBenchProxy(b, in, func(c *proxy.Config) { c.Publish.Timeout = time.Minute })

	const size, docs = 10 << 20, 8
	doc := []byte(largeDoc(size, "bench"))
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	put := func(id int) {
		req, _ := http.NewRequest(http.MethodPut, p.URL()+"/large/_doc/"+strconv.Itoa(id), bytes.NewReader(doc))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		ans, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			b.Fatalf("PUT of a 10 MiB document: %d %.300s", resp.StatusCode, ans)
		}
	}
	put(-1) // warm: connections, index, Kafka metadata

	var rates, peaks []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		grown := heapGrowth()
		start := time.Now()
		for d := 0; d < docs; d++ {
			put(d)
		}
		elapsed := time.Since(start)
		rates = append(rates, float64(docs*size)/(1<<20)/elapsed.Seconds())
		peaks = append(peaks, float64(grown())/(1<<20))
	}
	b.StopTimer()
	b.ReportMetric(median(rates), "large_MiB/s")
	b.ReportMetric(median(peaks), "large_peak_heap_MiB")
}
