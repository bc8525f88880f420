package fanoutctl

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkBackfill copies 20,000 documents of 1 KiB from an emulated primary into an
// emulated target (2 slices, pages of 500) and reports backfill_docs/s: the copy's own
// cost (point-in-time pages, bulks with external versions, the reconcile pass), without
// concurrent load.
func BenchmarkBackfill(b *testing.B) {
	const n = 20000
	bed := newBackfillBed(b)
	bed.seed(b, n, 1024)
	var docs int64
	var took time.Duration
	for b.Loop() {
		b.StopTimer()
		target := startEmulator(b, "bench-target")
		b.StartTimer()
		start := time.Now()
		r := cli(b, context.Background(), deps{}, nil, append(bed.args("--target", target.url, "--slices", "2", "--page-size", "500"), "-o", "json")...)
		took += time.Since(start)
		if r.code != 0 {
			b.Fatalf("backfill: exit %d: %s", r.code, r.stderr)
		}
		var rep backfillReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Docs != n {
			b.Fatalf("backfill copied %d documents, want %d (%v)", rep.Docs, n, err)
		}
		docs += rep.Docs
	}
	b.ReportMetric(float64(docs)/took.Seconds(), "backfill_docs/s")
}
