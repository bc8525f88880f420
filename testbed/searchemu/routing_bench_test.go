package searchemu

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkBulkFiveShards is BenchmarkBulk into an index of five shards, so every item
// pays for the routing hash.
func BenchmarkBulkFiveShards(b *testing.B) {
	c := New(Options{})
	req := httptest.NewRequest(http.MethodPut, "/bench", strings.NewReader(`{"settings":{"index.number_of_shards":5}}`))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	c.ServeHTTP(w, req)
	if w.Code != 200 {
		b.Fatalf("creating the index: %d %s", w.Code, w.Body.String())
	}
	const perReq = 1000
	const distinct = 100
	bodies := make([][]byte, distinct)
	for i := range bodies {
		bodies[i] = bulkBody("bench", i*perReq, perReq)
	}
	b.SetBytes(int64(len(bodies[0])))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/_bulk", bytes.NewReader(bodies[i%distinct]))
		req.Header.Set("Content-Type", "application/x-ndjson")
		w := httptest.NewRecorder()
		c.ServeHTTP(w, req)
		if w.Code != 200 || bytes.Contains(w.Body.Bytes()[:40], []byte(`"errors":true`)) {
			b.Fatalf("bulk failed: %d %.300s", w.Code, w.Body.String())
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*perReq)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkShardOf measures placing one id on an index of five shards.
func BenchmarkShardOf(b *testing.B) {
	rt, err := newRoutingTable("bench", map[string]string{}, 5)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = "doc-" + strconv.Itoa(i*7919)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		n += rt.shardOf(ids[i&1023], "", false)
	}
	if n < 0 {
		b.Fatal("unreachable")
	}
}
