package fanoutctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/event"
)

// BenchmarkVerifyFast is verify's default comparison of 20,000 1 KiB documents between
// two emulators in step, versions checked: documents compared per second and the bytes
// moved (sent and received, both sides) per document. Sources never cross the wire, so
// bytes/doc stays far below the document size.
func BenchmarkVerifyFast(b *testing.B) {
	const n = 20000
	primary, target := startEmulator(b, "primary"), startEmulator(b, "dr")
	pad := strings.Repeat("x", 1000)
	for start := 0; start < n; start += 1000 {
		var pb, tb strings.Builder
		for i := start; i < start+1000; i++ {
			fmt.Fprintf(&pb, "{\"index\":{\"_index\":\"docs\",\"_id\":\"d%05d\"}}\n{\"n\":%d,\"pad\":%q}\n", i, i, pad)
		}
		status, body := primary.do(b, http.MethodPost, "/_bulk", pb.String())
		var ans struct {
			Errors bool `json:"errors"`
			Items  []map[string]struct {
				ID    string `json:"_id"`
				SeqNo int64  `json:"_seq_no"`
				Term  int64  `json:"_primary_term"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(body), &ans); err != nil || status != 200 || ans.Errors {
			b.Fatalf("primary bulk: %d %.300s", status, body)
		}
		for k, it := range ans.Items {
			a := it["index"]
			v, err := event.ReplicationVersion(a.SeqNo, a.Term, 1, true)
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(&tb, "{\"index\":{\"_index\":\"docs\",\"_id\":%q,\"version\":%d,\"version_type\":\"external\"}}\n{\"n\":%d,\"pad\":%q}\n", a.ID, v, start+k, pad)
		}
		if status, body := target.do(b, http.MethodPost, "/_bulk", tb.String()); status != 200 || bytes.Contains([]byte(body), []byte(`"errors":true`)) {
			b.Fatalf("target bulk: %d %.300s", status, body)
		}
	}
	opts := converge.Options{Mode: converge.Fast, Refresh: true, ExpectVersion: func(v converge.DocVersion) int64 {
		rv, err := event.ReplicationVersion(v.SeqNo, v.PrimaryTerm, v.Version, v.HasSeqNo)
		if err != nil {
			return -1
		}
		return rv
	}}
	var docs, moved int64
	var secs float64
	for b.Loop() {
		rep, err := converge.Compare(context.Background(), primary.client, target.client, opts)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.Converged() || rep.Compared != n {
			b.Fatalf("want %d documents in step, got %v", n, rep)
		}
		docs += int64(rep.Compared)
		moved += rep.BytesSent + rep.BytesReceived
		secs += rep.Seconds
	}
	b.ReportMetric(float64(docs)/secs, "verify_fast_docs/s")
	b.ReportMetric(float64(moved)/float64(docs), "bytes/doc")
}
