package searchemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// scanDocs is how many documents the scan benchmarks page through.
const scanDocs = 100_000

// scanPage is the page size of the scan benchmarks, the backfill's default.
const scanPage = 1000

// benchServe runs one request through the handler and returns the body, failing unless it
// answers 200.
func benchServe(b *testing.B, c *Cluster, method, path string, body []byte) []byte {
	b.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	ct := "application/json"
	if bytes.Contains([]byte(path), []byte("_bulk")) {
		ct = "application/x-ndjson"
	}
	req.Header.Set("Content-Type", ct)
	w := httptest.NewRecorder()
	c.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("%s %s: %d %.300s", method, path, w.Code, w.Body.String())
	}
	return w.Body.Bytes()
}

// scanCluster is a cluster holding scanDocs small documents in index "scan", refreshed.
func scanCluster(b *testing.B) *Cluster {
	b.Helper()
	c := New(Options{})
	const batch = 5000
	for first := 0; first < scanDocs; first += batch {
		var body bytes.Buffer
		for i := first; i < first+batch; i++ {
			fmt.Fprintf(&body, `{"index":{"_index":"scan","_id":"d-%06d"}}`+"\n"+`{"n":%d,"k":"v%d"}`+"\n", i, i, i%100)
		}
		benchServe(b, c, http.MethodPost, "/_bulk", body.Bytes())
	}
	benchServe(b, c, http.MethodPost, "/scan/_refresh", nil)
	return c
}

type scanPageResp struct {
	ScrollID string `json:"_scroll_id"`
	Hits     struct {
		Hits []struct {
			Sort []any `json:"sort"`
		} `json:"hits"`
	} `json:"hits"`
}

func decodeScanPage(b *testing.B, body []byte) scanPageResp {
	b.Helper()
	var p scanPageResp
	if err := json.Unmarshal(body, &p); err != nil {
		b.Fatalf("decoding page: %v", err)
	}
	return p
}

// BenchmarkScrollScan pages through every document with a scroll sorted on _doc, as
// fanoutctl verify does; docs/s is documents read per second of the whole scan.
func BenchmarkScrollScan(b *testing.B) {
	c := scanCluster(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body := benchServe(b, c, http.MethodPost, "/scan/_search?scroll=1m",
			[]byte(fmt.Sprintf(`{"size":%d,"sort":["_doc"]}`, scanPage)))
		p := decodeScanPage(b, body)
		seen := len(p.Hits.Hits)
		for len(p.Hits.Hits) > 0 {
			body = benchServe(b, c, http.MethodPost, "/_search/scroll",
				[]byte(fmt.Sprintf(`{"scroll":"1m","scroll_id":%q}`, p.ScrollID)))
			p = decodeScanPage(b, body)
			seen += len(p.Hits.Hits)
		}
		if seen != scanDocs {
			b.Fatalf("scroll saw %d documents, want %d", seen, scanDocs)
		}
		benchServe(b, c, http.MethodDelete, "/_search/scroll/_all", nil)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*scanDocs)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkPITScan pages through every document with a point in time sorted on _id and
// search_after, as fanoutctl backfill does (one slice of one); docs/s as above.
func BenchmarkPITScan(b *testing.B) {
	c := scanCluster(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var open struct {
			PitID string `json:"pit_id"`
		}
		if err := json.Unmarshal(benchServe(b, c, http.MethodPost, "/scan/_search/point_in_time?keep_alive=1m", nil), &open); err != nil {
			b.Fatal(err)
		}
		seen := 0
		var after []byte
		for {
			req := fmt.Sprintf(`{"size":%d,"sort":[{"_id":"asc"}],"pit":{"id":%q,"keep_alive":"1m"}`, scanPage, open.PitID)
			if after != nil {
				req += `,"search_after":` + string(after)
			}
			p := decodeScanPage(b, benchServe(b, c, http.MethodPost, "/_search", []byte(req+"}")))
			if len(p.Hits.Hits) == 0 {
				break
			}
			seen += len(p.Hits.Hits)
			var err error
			if after, err = json.Marshal(p.Hits.Hits[len(p.Hits.Hits)-1].Sort); err != nil {
				b.Fatal(err)
			}
		}
		if seen != scanDocs {
			b.Fatalf("point in time saw %d documents, want %d", seen, scanDocs)
		}
		benchServe(b, c, http.MethodDelete, "/_search/point_in_time/_all", nil)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*scanDocs)/b.Elapsed().Seconds(), "docs/s")
}
