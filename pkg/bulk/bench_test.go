package bulk

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// benchBody is a realistic bulk body: n index items of about 1 KiB each, with an _id,
// like the log and entity documents the proxy forwards.
func benchBody(n int) []byte {
	var b bytes.Buffer
	msg := strings.Repeat("lorem ipsum dolor sit amet ", 30)
	for i := range n {
		fmt.Fprintf(&b, `{"index":{"_index":"logs-2024.05.01","_id":"doc-%08d-%x"}}`+"\n", i, i*7919)
		fmt.Fprintf(&b, `{"@timestamp":"2024-05-01T12:%02d:%02d.%03dZ","host":{"name":"web-%d","ip":"10.0.%d.%d"},`+
			`"service":"checkout","level":"info","trace_id":"%032x","latency_ms":%d,"tags":["a","b","c"],"message":"%s"}`+"\n",
			i/60%60, i%60, i%1000, i%16, i%256, i%200, i*31, i%500, msg)
	}
	return b.Bytes()
}

// benchResponse is the server's answer to benchBody(n).
func benchResponse(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"took":42,"errors":false,"items":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"index":{"_index":"logs-2024.05.01","_id":"doc-%08d-%x","_version":1,"result":"created",`+
			`"_shards":{"total":2,"successful":1,"failed":0},"_seq_no":%d,"_primary_term":1,"status":201}}`, i, i*7919, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkScanner frames a 1,000-item body read through an io.Reader, as the proxy does.
func BenchmarkScanner(b *testing.B) {
	body := benchBody(1000)
	r := bytes.NewReader(body)
	s := NewScanner(r)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(body)
		s.Reset(r)
		n := 0
		for s.Next() {
			n++
		}
		if s.Err() != nil || n != 1000 {
			b.Fatalf("%d items, %v", n, s.Err())
		}
	}
	b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkBytesScanner frames the same body held in memory.
func BenchmarkBytesScanner(b *testing.B) {
	body := benchBody(1000)
	s := NewBytesScanner(body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		s.ResetBytes(body)
		for s.Next() {
		}
		if s.Err() != nil {
			b.Fatal(s.Err())
		}
	}
	b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkParseResponse walks a 1,000-item bulk response.
func BenchmarkParseResponse(b *testing.B) {
	body := benchResponse(1000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	items := 0
	for b.Loop() {
		sum, err := ParseResponse(body, func(int, *ItemResult) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		items = sum.Items
	}
	b.ReportMetric(float64(items)*float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkAppendItem encodes one item with external versioning, as the replicator does.
func BenchmarkAppendItem(b *testing.B) {
	payload := bytes.Split(benchBody(1), []byte("\n"))[1]
	m := Meta{Action: ActionIndex, Index: "logs-2024.05.01", ID: "doc-00000001-1eef", HasID: true,
		Version: 1714564800123, HasVersion: true, VersionType: "external_gte"}
	buf := make([]byte, 0, 1<<20)
	b.SetBytes(int64(len(AppendItem(nil, &m, payload))))
	b.ReportAllocs()
	for b.Loop() {
		if len(buf) > 1<<20-4096 {
			buf = buf[:0]
		}
		buf = AppendItem(buf, &m, payload)
	}
}

// BenchmarkParseUpdatePayload parses a typical partial-document update.
func BenchmarkParseUpdatePayload(b *testing.B) {
	payload := []byte(`{"doc":{"status":"shipped","updated_at":"2024-05-01T12:00:00Z","items":[{"sku":"a","qty":2}]},"doc_as_upsert":true}`)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseUpdatePayload(payload); err != nil {
			b.Fatal(err)
		}
	}
}
