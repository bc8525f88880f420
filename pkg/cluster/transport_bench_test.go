package cluster

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRoundTrip sends _bulk-sized bodies to a loopback server through the
// clusters' transport and through net/http's default one, and reports the CPU of the
// whole process (client and server) per round trip: the server's share is the same for
// both, so the difference is the transport's.
//
//	cd pkg && go test -run '^$' -bench '^BenchmarkRoundTrip$' ./cluster/
func BenchmarkRoundTrip(b *testing.B) {
	// The answer to a bulk of 100 documents, about 15 KiB.
	answer := bytes.Repeat([]byte(`{"index":{"_index":"logs-2026.12","_id":"d-000000012345","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":1234,"_primary_term":1,"status":201}},`), 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	b.Cleanup(srv.Close)
	transports := []struct {
		name string
		new  func() *http.Transport
	}{
		{"default", func() *http.Transport { return http.DefaultTransport.(*http.Transport).Clone() }},
		{"cluster", func() *http.Transport { return newTransport(nil, time.Minute) }},
	}
	for _, size := range []int{9 << 10, 40 << 10, 110 << 10} {
		body := bytes.Repeat([]byte("x"), size)
		for _, tt := range transports {
			b.Run(fmt.Sprintf("body=%dKiB/%s", size>>10, tt.name), func(b *testing.B) {
				tr := tt.new()
				b.Cleanup(tr.CloseIdleConnections)
				cl := &http.Client{Transport: tr}
				c0 := processCPU()
				for b.Loop() {
					resp, err := cl.Post(srv.URL+"/_bulk", "application/x-ndjson", bytes.NewReader(body))
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, resp.Body); err != nil {
						b.Fatal(err)
					}
					resp.Body.Close()
				}
				b.ReportMetric(float64((processCPU()-c0).Microseconds())/float64(b.N), "cpu_us/op")
			})
		}
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
