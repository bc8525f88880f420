package proxy_test

import (
	"net/http"
	"testing"

	"github.com/fanout-dev/fanout/services/proxy"
)

// BenchmarkProxyRecovery indexes 1 KiB documents through two proxies in front of the
// same primary and Kafka, one without and one with recovery.dir (an fsync'ed intent per
// request, shared by concurrent requests), in alternating rounds, for big bulks (1,000
// documents) and small ones (10), and reports both rates and their ratio.
func BenchmarkProxyRecovery(b *testing.B) {
	in := startInfra(b)
	off := startBenchProxy(b, in, nil)
	on := startBenchProxy(b, in, func(c *proxy.Config) { c.Recovery.Dir = b.TempDir() })
	const workers = 8
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers * 2}}
	defer client.CloseIdleConnections()
	for _, size := range []struct {
		name           string
		perBulk, bulks int
	}{{"bulk1000", 1000, 40}, {"bulk10", 10, 2000}} {
		bodies := bulkBodies(size.bulks, size.perBulk)
		drive(b, client, off.URL(), bodies[:workers], workers)
		drive(b, client, on.URL(), bodies[:workers], workers)
		docs := float64(size.bulks * size.perBulk)
		var offRates, onRates, ratios []float64
		for i := 0; i < b.N; i++ {
			for r := 0; r < 3; r++ {
				a := docs / drive(b, client, off.URL(), bodies, workers).Seconds()
				c := docs / drive(b, client, on.URL(), bodies, workers).Seconds()
				offRates, onRates, ratios = append(offRates, a), append(onRates, c), append(ratios, c/a)
			}
		}
		b.ReportMetric(median(offRates), size.name+"_off_docs/s")
		b.ReportMetric(median(onRates), size.name+"_recovery_docs/s")
		b.ReportMetric(median(ratios), size.name+"_recovery/off")
	}
}
