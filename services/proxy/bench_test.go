package proxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/testbed/testproc"
)

// infraEnv makes the test binary run the benchmark's infrastructure (a primary
// emulator and kfake) instead of tests, so that its CPU is not counted as the proxy's.
const infraEnv = "FANOUT_PROXY_BENCH_INFRA"

// runInfra serves a primary and Kafka until stdin closes, after printing their
// addresses as one JSON line.
func runInfra() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	primary, err := searchemu.New(searchemu.Options{Name: "primary"}).Listen(ctx, "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(8, topic))
	if err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
	defer kafka.Close()
	testproc.Serve(map[string]any{"primary": primary.URL(), "kafka": kafka.ListenAddrs()})
}

type infra struct {
	Primary string
	Kafka   []string
}

func startInfra(b *testing.B) infra {
	b.Helper()
	var in infra
	testproc.Start(b, infraEnv, "1", &in)
	return in
}

// bulkBodies returns n bulk bodies of perBulk index actions with ~1 KiB documents.
func bulkBodies(n, perBulk int) [][]byte {
	filler := strings.Repeat("lorem ipsum dolor sit amet ", 36)[:900]
	out := make([][]byte, n)
	for i := range out {
		var buf bytes.Buffer
		for j := 0; j < perBulk; j++ {
			id := i*perBulk + j
			fmt.Fprintf(&buf, "{\"index\":{\"_index\":\"bench\",\"_id\":\"%d\"}}\n", id)
			fmt.Fprintf(&buf, "{\"id\":%d,\"user\":\"user-%d\",\"score\":%d.5,\"tags\":[\"a\",\"b\"],\"text\":%q}\n", id, id%977, id%100, filler)
		}
		out[i] = buf.Bytes()
	}
	return out
}

// drive sends bodies to url/_bulk from `workers` goroutines and returns the elapsed time.
func drive(b *testing.B, client *http.Client, url string, bodies [][]byte, workers int) time.Duration {
	b.Helper()
	next := make(chan []byte)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range next {
				resp, err := client.Post(url+"/_bulk", "application/x-ndjson", bytes.NewReader(body))
				if err == nil {
					ans, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || bytes.Contains(ans[:min(len(ans), 64)], []byte(`"errors":true`)) {
						err = fmt.Errorf("bulk: %d %.300s", resp.StatusCode, ans)
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, body := range bodies {
		next <- body
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return time.Since(start)
}

// startBenchProxy runs a proxy in this process in front of in's primary and Kafka until
// the benchmark ends; tune, if not nil, adjusts its configuration.
func startBenchProxy(b *testing.B, in infra, tune func(*proxy.Config)) *proxy.Proxy {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	cfg := benchProxyConfig(ln, in)
	if tune != nil {
		tune(&cfg)
	}
	p, err := proxy.New(cfg, proxy.Deps{Logger: slog.New(slog.DiscardHandler), Listener: ln})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	return p
}

// benchProxyConfig is the production default configuration on ln, pointed at in.
func benchProxyConfig(ln net.Listener, in infra) proxy.Config {
	cfg := proxy.DefaultConfig()
	cfg.Listen, cfg.MetricsListen = ln.Addr().String(), ""
	cfg.Primary.Endpoints = []string{in.Primary}
	cfg.Kafka.Brokers = in.Kafka
	cfg.Publish.Topic = topic
	return cfg
}

// BenchmarkProxyVsDirect indexes 1 KiB documents, 1,000 per bulk, from 8 concurrent
// clients, straight into the primary, through the proxy, through the proxy with a spool
// and through a plain httputil.ReverseProxy (same client, same primary, same run), and
// reports the rates, the proxy's against each, and the CPU per document of the proxy and
// of the reverse proxy. The proxies each run in a child process of their own (the
// primary and Kafka in another), so that a proxy's CPU is read from its own rusage and
// no proxy's heap or collector is another's: this process only generates the load.
//
// FANOUT_BENCH_CPUPROFILE=dir writes each proxy child's CPU profile to dir.
func BenchmarkProxyVsDirect(b *testing.B) {
	in := startInfra(b)
	type candidate struct {
		name  string
		url   string
		usage string // the child's usage URL; "" for the primary itself
	}
	direct := &candidate{name: "direct", url: in.Primary}
	child := func(name string, spec proxyChildSpec) *candidate {
		spec.Primary, spec.Kafka, spec.Name = in.Primary, in.Kafka, name
		c := startProxyChild(b, spec)
		return &candidate{name: name, url: c.URL, usage: c.Usage}
	}
	plain := child("proxy", proxyChildSpec{})
	// The same proxy with a spool (spool.dir): Kafka is up, so it publishes directly and
	// spools nothing; what it costs is the check before the primary and the wait bound.
	spooled := child("proxy-spool", proxyChildSpec{Spool: true})
	// What a gateway that only forwards costs, for comparison: net/http/httputil's
	// ReverseProxy, no parsing, no Kafka.
	reverse := child("reverse-proxy", proxyChildSpec{Reverse: true})
	all := []*candidate{direct, plain, spooled, reverse}

	const (
		workers = 8
		perBulk = 1000
		bulks   = 100
	)
	bodies := bulkBodies(bulks, perBulk)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers * 2}}
	defer client.CloseIdleConnections()

	// Warm every path (connections, the index's mapping, Kafka metadata).
	for _, c := range all {
		drive(b, client, c.url, bodies[:workers], workers)
	}

	// Each round runs every candidate once, starting one further along the list than
	// the round before, so that none always runs in the same place (the first run after
	// another's load measured slower, whichever it was); medians over rounds resist a
	// noisy neighbour.
	const rounds = 4
	rate := map[*candidate][]float64{}
	cpu := map[*candidate][]float64{}
	allocs, allocBytes := map[*candidate][]float64{}, map[*candidate][]float64{}
	var ratios, rpRatios, spoolRatios []float64
	docs := float64(bulks * perBulk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			round := map[*candidate]float64{}
			for j := range all {
				c := all[(j+r)%len(all)]
				var u0 testproc.Usage
				if c.usage != "" {
					u0 = testproc.ReadUsage(b, c.usage)
				}
				elapsed := drive(b, client, c.url, bodies, workers)
				if c.usage != "" {
					u1 := testproc.ReadUsage(b, c.usage)
					cpu[c] = append(cpu[c], float64((u1.CPU-u0.CPU).Microseconds())/docs)
					allocs[c] = append(allocs[c], float64(u1.Allocs-u0.Allocs)/docs)
					allocBytes[c] = append(allocBytes[c], float64(u1.AllocBytes-u0.AllocBytes)/docs)
				}
				round[c] = docs / elapsed.Seconds()
				rate[c] = append(rate[c], round[c])
			}
			ratios = append(ratios, round[plain]/round[direct])
			rpRatios = append(rpRatios, round[plain]/round[reverse])
			spoolRatios = append(spoolRatios, round[spooled]/round[plain])
		}
	}
	b.StopTimer()
	b.ReportMetric(median(rate[plain]), "proxy_docs/s")
	b.ReportMetric(median(rate[direct]), "direct_docs/s")
	b.ReportMetric(median(ratios), "proxy/direct")
	b.ReportMetric(median(cpu[plain]), "proxy_cpu_us/doc")
	// What the proxy allocates per document: not CPU, but it does not depend on what
	// else the machine runs, so it shows a change that the CPU's noise hides.
	b.ReportMetric(median(allocs[plain]), "proxy_allocs/doc")
	b.ReportMetric(median(allocBytes[plain]), "proxy_alloc_bytes/doc")
	b.ReportMetric(median(allocs[reverse]), "reverse_proxy_allocs/doc")
	b.ReportMetric(median(rate[spooled]), "proxy_spool_enabled_docs/s")
	b.ReportMetric(median(spoolRatios), "spool_enabled/spool_off")
	b.ReportMetric(median(cpu[spooled]), "proxy_spool_cpu_us/doc")
	b.ReportMetric(median(rate[reverse]), "reverse_proxy_docs/s")
	b.ReportMetric(median(rpRatios), "proxy/reverse_proxy")
	b.ReportMetric(median(cpu[reverse]), "reverse_proxy_cpu_us/doc")
	u := testproc.ReadUsage(b, plain.usage)
	b.ReportMetric(float64(u.MaxRSSKiB)/1024, "proxy_peak_rss_MiB")
}

// proxyChildEnv makes the test binary run one proxy of BenchmarkProxyVsDirect, whose
// proxyChildSpec is the variable's value, instead of tests.
const proxyChildEnv = "FANOUT_PROXY_BENCH_PROXY"

// proxyChildSpec says which proxy a child runs.
type proxyChildSpec struct {
	Name    string
	Primary string
	Kafka   []string
	Spool   bool // with a spool directory (Kafka is up: nothing is spooled)
	Reverse bool // httputil.ReverseProxy to the primary instead of fanout-proxy
	Profile string
}

// proxyChild is what a proxy child tells the parent: where it listens, and where it
// answers its usage.
type proxyChild struct {
	URL, Usage, Err string
}

// startProxyChild starts a proxy child process and waits for it to listen.
func startProxyChild(b *testing.B, spec proxyChildSpec) proxyChild {
	b.Helper()
	if dir := os.Getenv("FANOUT_BENCH_CPUPROFILE"); dir != "" {
		spec.Profile = filepath.Join(dir, spec.Name+".prof")
	}
	js, err := json.Marshal(spec)
	if err != nil {
		b.Fatal(err)
	}
	var c proxyChild
	testproc.Start(b, proxyChildEnv, string(js), &c)
	if c.Err != "" {
		b.Fatalf("%s child: %s", spec.Name, c.Err)
	}
	return c
}

// runProxyChild is a proxy child: it serves the proxy its spec names until its stdin
// closes.
func runProxyChild(js string) {
	fail := func(err error) {
		_ = json.NewEncoder(os.Stdout).Encode(proxyChild{Err: err.Error()})
		os.Exit(1)
	}
	var spec proxyChildSpec
	if err := json.Unmarshal([]byte(js), &spec); err != nil {
		fail(err)
	}
	usage, err := testproc.ServeUsage()
	if err != nil {
		fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if spec.Reverse {
		u, err := url.Parse(spec.Primary)
		if err != nil {
			fail(err)
		}
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
		srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		go func() { <-ctx.Done(); done <- srv.Close() }()
	} else {
		cfg := benchProxyConfig(ln, infra{Primary: spec.Primary, Kafka: spec.Kafka})
		if spec.Spool {
			dir, err := os.MkdirTemp("", "fanout-bench-spool-")
			if err != nil {
				fail(err)
			}
			defer os.RemoveAll(dir)
			cfg.Spool.Dir = dir
		}
		p, err := proxy.New(cfg, proxy.Deps{Logger: slog.New(slog.DiscardHandler), Listener: ln})
		if err != nil {
			fail(err)
		}
		go func() { done <- p.Run(ctx) }()
	}
	if spec.Profile != "" {
		f, err := os.Create(spec.Profile)
		if err != nil {
			fail(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	testproc.Serve(proxyChild{URL: "http://" + ln.Addr().String(), Usage: usage})
	cancel()
	<-done
}

// BenchmarkProxySpool indexes the documents of BenchmarkProxyVsDirect through a proxy
// whose Kafka is down (its broker address refuses connections), so that every event is
// appended to the spool (fsync'ed, group-committed) instead of published.
func BenchmarkProxySpool(b *testing.B) {
	in := startInfra(b)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	down := dead.Addr().String()
	dead.Close() // nothing listens there now
	dir := b.TempDir()
	p := startBenchProxy(b, in, func(c *proxy.Config) {
		c.Kafka.Brokers = []string{down}
		c.Spool.Dir = dir
		c.Spool.MaxBytes = 64 << 30 // the benchmark measures appends, not the bound
	})

	const (
		workers = 8
		perBulk = 1000
		bulks   = 40
	)
	bodies := bulkBodies(bulks, perBulk)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers * 2}}
	defer client.CloseIdleConnections()
	// The first request waits spool.kafka_wait for Kafka, then spools; from then on
	// every event goes to the spool at once.
	drive(b, client, p.URL(), bodies[:1], 1)

	const rounds = 3
	var rates []float64
	docs := float64(bulks * perBulk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			rates = append(rates, docs/drive(b, client, p.URL(), bodies, workers).Seconds())
		}
	}
	b.StopTimer()
	b.ReportMetric(median(rates), "spool_docs/s")
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// BenchmarkProxyBytesPerItem sends one bulk of 250,000 tiny index items (33 bytes each, as
// in the report) through the proxy and reports the proxy's peak heap per
// item: the most the heap in use grew above what it was before the request, sampled
// while the request ran, divided by the items. The primary and Kafka run in a child
// process; the client's body is allocated before the baseline is taken.
func BenchmarkProxyBytesPerItem(b *testing.B) {
	in := startInfra(b)
	p := startBenchProxy(b, in, nil)

	const items = 250_000
	item := []byte("{\"index\":{\"_index\":\"t\"}}\n{\"a\":1}\n")
	body := bytes.Repeat(item, items)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	post := func(body []byte) {
		resp, err := client.Post(p.URL()+"/_bulk", "application/x-ndjson", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		head := make([]byte, 400)
		n, _ := io.ReadFull(resp.Body, head)
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 || bytes.Contains(head[:n], []byte(`"errors":true`)) {
			b.Fatalf("bulk: %d %s", resp.StatusCode, head[:n])
		}
	}
	post(body[:len(item)*1000]) // warm: connections, mapping, Kafka metadata

	var perItem []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		grown := heapGrowth()
		post(body)
		perItem = append(perItem, float64(grown())/items)
	}
	b.StopTimer()
	b.ReportMetric(median(perItem), "bytes/item")
}

// heapGrowth starts sampling the heap after a GC; the function it returns stops and
// gives the peak's growth over the start, in bytes.
func heapGrowth() func() uint64 {
	runtime.GC()
	base := heapInUse()
	stop := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var top uint64
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			if h := heapInUse(); h > top {
				top = h
			}
			select {
			case <-stop:
				peak <- top
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		top := <-peak
		return top - min(top, base)
	}
}

// heapInUse reads the bytes of heap spans in use (live objects and garbage not yet
// swept), what the process's resident heap follows.
func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}
