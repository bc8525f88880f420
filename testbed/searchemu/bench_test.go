package searchemu

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// bulkBody builds a _bulk body of n index items of about 1 KiB each, ids from first.
func bulkBody(index string, first, n int) []byte {
	var b bytes.Buffer
	pad := strconv.Quote(strings.Repeat("lorem ipsum dolor sit amet ", 30))
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, `{"index":{"_index":%q,"_id":"doc-%d"}}`+"\n", index, i)
		doc := fmt.Sprintf(`{"id":%d,"title":"document number %d","count":%d,"price":%d.25,"active":%t,"created":"2024-01-%02dT10:00:00Z","tags":["a","b","c"],"owner":{"name":"user %d","team":"t%d"},"body":%s}`,
			i, i, i*7, i%1000, i%2 == 0, i%28+1, i%97, i%13, pad)
		if len(doc) < 1024 {
			doc = doc[:len(doc)-1] + `,"fill":"` + strings.Repeat("x", 1024-len(doc)-10) + `"}`
		}
		b.WriteString(doc)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// BenchmarkBulk measures _bulk indexing through the HTTP handler: 1,000 docs of 1 KiB per
// request, reported as docs/s. Ids cycle over 100,000 documents so memory stays bounded.
func BenchmarkBulk(b *testing.B) {
	c := New(Options{})
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
