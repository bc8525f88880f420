package replication_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/testbed/testproc"
)

// bulkClock records, per document id, when a cluster first answered a _bulk that
// held it: on the primary, when the write was accepted; on the target, when it was
// applied (the emulator's writes are visible to a realtime get once answered).
type bulkClock struct {
	next  http.Handler
	mu    sync.Mutex
	at    map[string]time.Time
	bulks int // _bulk requests answered
}

func (c *bulkClock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/_bulk") {
		c.next.ServeHTTP(w, r)
		return
	}
	// The ids are read from the answer, which the emulator writes whole in one Write:
	// copying each request body to read them from it was a sixth of this process's CPU,
	// taken from the services measured.
	ans := &answerCopy{ResponseWriter: w}
	c.next.ServeHTTP(ans, r)
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bulks++
	// Every item of the answer names its document: {"index":{"_index":…,"_id":"…",….
	for rest := ans.body; ; {
		i := bytes.Index(rest, []byte(`"_id":"`))
		if i < 0 {
			break
		}
		rest = rest[i+len(`"_id":"`):]
		j := bytes.IndexByte(rest, '"')
		if j < 0 {
			break
		}
		if _, seen := c.at[string(rest[:j])]; !seen {
			c.at[string(rest[:j])] = now
		}
		rest = rest[j:]
	}
}

// answerCopy keeps what a handler writes as well as writing it, as long as it is one
// JSON answer (a bulk's); it is read once the handler has returned.
type answerCopy struct {
	http.ResponseWriter
	body []byte
}

func (a *answerCopy) Write(p []byte) (int, error) {
	if len(a.body) > 0 || (len(p) > 0 && p[0] == '{') {
		a.body = append(a.body, p...)
	}
	return a.ResponseWriter.Write(p)
}

func (c *bulkClock) get(id string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.at[id]
	return t, ok
}

func (c *bulkClock) requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bulks
}

func (c *bulkClock) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.at)
}

// serveClocked serves an emulator behind a bulkClock on 127.0.0.1 until the benchmark
// ends.
func serveClocked(b *testing.B, name string) (string, *bulkClock) {
	b.Helper()
	// Presized for the 275,000 documents a run writes: the map's growth, rehashing onto
	// fresh pages, showed in the lag at 20k/s.
	clock := &bulkClock{next: searchemu.New(searchemu.Options{Name: name}), at: make(map[string]time.Time, 300_000)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: clock}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), clock
}

// BenchmarkEndToEndLag drives an open-loop load at fixed rates (5k and 20k documents of
// ~1 KiB per second, bulks of 100, through the proxy; 12 partitions; one replicator;
// emulator clusters) and reports the p50, p99 and max of each document's lag: the time
// the target applied it minus the time the primary accepted it. The proxy and the
// replicator are the shipped binaries with their default configuration (addresses
// aside), each its own process, whose CPU per document and peak RSS under the load are
// read from /proc; the emulators, kfake and the load generator run in this process, on
// the same two cores, so the lag includes that contention.
func BenchmarkEndToEndLag(b *testing.B) {
	const (
		partitions = 12
		perBulk    = 100
		duration   = 10 * time.Second
	)
	proxyBin, replicatorBin := buildProxy(b), buildReplicator(b)
	// This process is the harness: two emulators and kfake holding every document
	// (3.5 KiB each in all: 730 MB live by the end of the 20k/s run), and the load. Its
	// collector, at the default GOGC, marked that heap every second or so, taking the
	// two cores from the services measured and showing as their lag (p50 of whole
	// seconds at 50 ms). It runs with GOGC=400 here; the services are separate
	// processes with the defaults.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	k := kafkatest.NewCluster(b, kafkatest.WithTopic(topic, partitions))
	primaryURL, primary := serveClocked(b, "primary")
	targetURL, target := serveClocked(b, "b")
	brokers := strings.Join(k.Addrs(), ",")
	listen, metrics := freeAddr(b), freeAddr(b)
	// FANOUT_BENCH_CPUPROFILE=dir: both services serve /debug/pprof/ on an admin
	// listener, and their CPU profiles over each rate's window are written to dir
	// (lag-<service>-<rate>k.prof).
	profileDir := os.Getenv("FANOUT_BENCH_CPUPROFILE")
	proxyAdmin, replAdmin, token := "", "127.0.0.1:0", ""
	var adminEnv []string
	if profileDir != "" {
		proxyAdmin, replAdmin, token = freeAddr(b), freeAddr(b), "lag-bench-token"
		tokenFile := filepath.Join(b.TempDir(), "admin-token")
		if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
			b.Fatal(err)
		}
		adminEnv = []string{"FANOUT_ADMIN_TOKEN_FILE=" + tokenFile}
	}
	// FANOUT_BENCH_PROXY_ENV and FANOUT_BENCH_REPLICATOR_ENV: settings to try, as
	// space-separated FANOUT_*=value, added to each service's environment.
	proxyProc := newReplicatorProc(b, proxyBin, "proxy", nil)
	proxyProc.env = childEnv(slices.Concat([]string{
		"FANOUT_LISTEN=" + listen,
		"FANOUT_METRICS_LISTEN=" + metrics,
		"FANOUT_ADMIN_LISTEN=" + proxyAdmin,
		"FANOUT_PRIMARY_ENDPOINTS=" + primaryURL,
		"FANOUT_KAFKA_BROKERS=" + brokers,
		"FANOUT_PUBLISH_TOPIC=" + topic,
		"FANOUT_LOG_LEVEL=warn",
	}, adminEnv, strings.Fields(os.Getenv("FANOUT_BENCH_PROXY_ENV")))...)
	replProc := newReplicatorProc(b, replicatorBin, "replicator-b", slices.Concat([]string{
		"FANOUT_TARGET_NAME=b",
		"FANOUT_TARGET_ENDPOINTS=" + targetURL,
		"FANOUT_KAFKA_BROKERS=" + brokers,
		"FANOUT_METRICS_LISTEN=127.0.0.1:0",
		"FANOUT_ADMIN_LISTEN=" + replAdmin,
		"FANOUT_LOG_LEVEL=warn",
	}, adminEnv, strings.Fields(os.Getenv("FANOUT_BENCH_REPLICATOR_ENV"))))
	for _, p := range []*replicatorProc{proxyProc, replProc} {
		if err := p.start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if b.Failed() {
				b.Logf("log of %s:\n%s", p.instance, p.logTail(6000))
			}
			if err := p.terminate(); err != nil {
				b.Errorf("%s: %v", p.instance, err)
			}
		})
	}
	waitReady(b, "http://"+metrics, 30*time.Second)
	proxyURL := "http://" + listen
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.Cleanup(client.CloseIdleConnections)

	// Bodies are built by appending, the document's text quoted once: fmt's %q of it
	// per document was a fifth of this process's CPU.
	text := strconv.Quote(strings.Repeat("lorem ipsum dolor sit amet ", 36)[:900])
	body := func(dst []byte, rate, seq int) []byte {
		index := strconv.Quote(lagIndex(rate))
		for j := 0; j < perBulk; j++ {
			dst = append(dst, `{"index":{"_index":`...)
			dst = append(dst, index...)
			dst = append(dst, `,"_id":`...)
			dst = strconv.AppendQuote(dst, lagID(rate, seq*perBulk+j))
			dst = append(dst, "}}\n{\"n\":"...)
			dst = strconv.AppendInt(dst, int64(j), 10)
			dst = append(dst, `,"text":`...)
			dst = append(dst, text...)
			dst = append(dst, "}\n"...)
		}
		return dst
	}
	for i := 0; i < b.N; i++ {
		for _, rate := range []int{5000, 20000} {
			// Each rate writes an index of its own, created and, once measured, deleted
			// on both clusters directly: this process holds the emulators, and their
			// documents of an earlier rate would only make its collector take more of
			// the cores the services share.
			for _, u := range []string{primaryURL, targetURL} {
				if code, ans := httpDo(b, http.MethodPut, u+"/"+lagIndex(rate), `{"settings":{"number_of_shards":3}}`); code != http.StatusOK {
					b.Fatalf("creating index %s: %d %s", lagIndex(rate), code, ans)
				}
			}
			// A warm-up second at the rate, not measured; the replicator has joined its
			// group and caught up once the target has all of it.
			warm, _ := openLoop(b, client, proxyURL, rate, perBulk, time.Second, -1, body)
			if !poll(time.Minute, 10*time.Millisecond, func() bool { return appliedAll(target, warm) }) {
				b.Fatalf("%d documents on the target a minute after the warm-up at %d/s", target.count(), rate)
			}
			p0, r0, s0, t0, q0 := procUsage(b, proxyProc), procUsage(b, replProc), testproc.SelfUsage(), time.Now(), target.requests()
			var profiles sync.WaitGroup
			if profileDir != "" {
				for name, addr := range map[string]string{"proxy": proxyAdmin, "replicator": replAdmin} {
					profiles.Go(func() {
						saveProfile(b, "http://"+addr, token, duration-time.Second, filepath.Join(profileDir, fmt.Sprintf("lag-%s-%dk.prof", name, rate/1000)))
					})
				}
			}
			ids, behind := openLoop(b, client, proxyURL, rate, perBulk, duration, i, body)
			profiles.Wait()
			if !poll(time.Minute, 10*time.Millisecond, func() bool { return appliedAll(target, ids) }) {
				b.Fatalf("%d of %d documents on the target a minute after the load at %d/s", target.count(), len(ids), rate)
			}
			p1, r1, s1, t1 := procUsage(b, proxyProc), procUsage(b, replProc), testproc.SelfUsage(), time.Now()
			if os.Getenv("FANOUT_BENCH_DEBUG") != "" {
				wall := t1.Sub(t0).Seconds()
				fmt.Fprintf(os.Stderr, "%d/s: cores busy over %.1fs: proxy %.2f, replicator %.2f, harness %.2f; %.1f documents per target _bulk\n", rate, wall,
					(p1.cpu-p0.cpu).Seconds()/wall, (r1.cpu-r0.cpu).Seconds()/wall, (s1.CPU-s0.CPU).Seconds()/wall, float64(len(ids))/float64(target.requests()-q0))
			}
			var lags []float64
			for _, id := range ids {
				a, ok1 := primary.get(id)
				v, ok2 := target.get(id)
				if !ok1 || !ok2 {
					b.Fatalf("document %s: accepted %v, applied %v", id, ok1, ok2)
				}
				lags = append(lags, float64(v.Sub(a).Microseconds())/1000)
			}
			if os.Getenv("FANOUT_BENCH_DEBUG") != "" {
				// Where in the run the tail is: p99 and max of each second's documents.
				per := rate
				for s := 0; s*per < len(lags); s++ {
					part := slices.Clone(lags[s*per : min((s+1)*per, len(lags))])
					slices.Sort(part)
					fmt.Fprintf(os.Stderr, "%d/s, second %d: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", rate, s, part[len(part)/2], part[len(part)*99/100], part[len(part)-1])
				}
			}
			slices.Sort(lags)
			name := fmt.Sprintf("%dk", rate/1000)
			docs := float64(len(ids))
			b.ReportMetric(lags[len(lags)/2], "lag_p50_ms@"+name)
			b.ReportMetric(lags[len(lags)*99/100], "lag_p99_ms@"+name)
			b.ReportMetric(lags[len(lags)-1], "lag_max_ms@"+name)
			b.ReportMetric(docs/duration.Seconds(), "sent_docs/s@"+name)
			b.ReportMetric(float64(behind), "late_bulks@"+name)
			b.ReportMetric(float64((p1.cpu-p0.cpu).Microseconds())/docs, "proxy_cpu_us/doc@"+name)
			b.ReportMetric(float64((r1.cpu-r0.cpu).Microseconds())/docs, "replicator_cpu_us/doc@"+name)
			for _, u := range []string{primaryURL, targetURL} {
				if code, ans := httpDo(b, http.MethodDelete, u+"/"+lagIndex(rate), ""); code != http.StatusOK {
					b.Fatalf("deleting index %s: %d %s", lagIndex(rate), code, ans)
				}
			}
		}
	}
	p, r := procUsage(b, proxyProc), procUsage(b, replProc)
	b.ReportMetric(float64(p.peakRSS)/(1<<20), "proxy_peak_rss_MiB")
	b.ReportMetric(float64(r.peakRSS)/(1<<20), "replicator_peak_rss_MiB")
}

// saveProfile fetches a CPU profile of d from a service's admin listener into file.
func saveProfile(b *testing.B, admin, token string, d time.Duration, file string) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", admin, int(d.Seconds())), nil)
	if err != nil {
		b.Error(err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Errorf("profiling %s: %v", admin, err)
		return
	}
	defer resp.Body.Close()
	prof, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Errorf("profiling %s: %d %v %.200s", admin, resp.StatusCode, err, prof)
		return
	}
	if err := os.WriteFile(file, prof, 0o644); err != nil {
		b.Error(err)
	}
}

// usage is a child process's CPU time so far and its peak resident set size.
type usage struct {
	cpu     time.Duration
	peakRSS int64 // bytes
}

// clockTicks is the unit of /proc/<pid>/stat's CPU times: USER_HZ, 100 on Linux for
// every architecture Go supports (sysconf(_SC_CLK_TCK) needs cgo to ask).
const clockTicks = 100

// procUsage reads p's usage from /proc/<pid>/stat (utime and stime, every thread) and
// /proc/<pid>/status (VmHWM).
func procUsage(b *testing.B, p *replicatorProc) usage {
	b.Helper()
	p.mu.Lock()
	pid := p.cmd.Process.Pid
	p.mu.Unlock()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("%s: %v", p.instance, err)
	}
	// The command name, in parentheses, may hold spaces: the fields count from its end.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		b.Fatalf("%s: short /proc stat %q", p.instance, stat)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14 of stat(5)
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		b.Fatalf("%s: /proc stat %q: %v %v", p.instance, stat, err1, err2)
	}
	u := usage{cpu: time.Duration(utime+stime) * time.Second / clockTicks}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatalf("%s: %v", p.instance, err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("%s: VmHWM %q: %v", p.instance, rest, err)
			}
			u.peakRSS = kib << 10
		}
	}
	return u
}

// lagIndex is the index the benchmark writes at rate.
func lagIndex(rate int) string { return fmt.Sprintf("lag-%dk", rate/1000) }

// lagID is the id of the benchmark's n-th document at rate.
func lagID(rate, n int) string { return fmt.Sprintf("r%d-%d", rate, n) }

// appliedAll says whether the target applied every id.
func appliedAll(target *bulkClock, ids []string) bool {
	for _, id := range slices.Backward(ids) {
		if _, ok := target.get(id); !ok {
			return false
		}
	}
	return true
}

// pooledBody is a request body whose buffer goes back to its pool once both the
// transport has closed it and the sender is done with the answer: the transport may
// close a body from a goroutine of its own, even after the round trip returned.
type pooledBody struct {
	bytes.Reader
	buf   *[]byte
	pool  *sync.Pool
	holds atomic.Int32 // of the two releases, Close and the sender's
}

func (p *pooledBody) Close() error {
	if p.holds.Add(1) == 2 {
		p.pool.Put(p.buf)
	}
	return nil
}

// release is the sender's: it no longer needs the body.
func (p *pooledBody) release() { _ = p.Close() }

// openLoop sends bulks of perBulk documents at rate documents per second for d, each
// on its schedule whatever the previous ones' answers (an open loop: a slow pipeline
// does not slow the load). It returns the ids written and how many bulks left later
// than their schedule because 256 were already in flight. round < 0 marks a warm-up,
// whose ids do not collide with the measured rounds'.
func openLoop(b *testing.B, client *http.Client, url string, rate, perBulk int, d time.Duration, round int, body func(dst []byte, rate, seq int) []byte) ([]string, int) {
	b.Helper()
	bulks := int(d.Seconds() * float64(rate) / float64(perBulk))
	interval := time.Duration(float64(time.Second) * float64(perBulk) / float64(rate))
	base := (round + 2) * 1_000_000 // sequence numbers of this round
	var (
		wg       sync.WaitGroup
		failed   atomic.Value
		late     int
		inflight = make(chan struct{}, 256)
		bodies   sync.Pool // *[]byte
	)
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	start := time.Now()
	for i := range bulks {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		select {
		case inflight <- struct{}{}:
		default:
			late++
			inflight <- struct{}{}
		}
		wg.Add(1)
		go func(seq int) {
			defer wg.Done()
			defer func() { <-inflight }()
			// Built when sent, not all beforehand: a round's bodies would be 220 MB
			// more for this process's collector to mark. Their buffers are reused:
			// fresh ones cost this process a page fault per 4 KiB, on the cores the
			// services measured share.
			buf, _ := bodies.Get().(*[]byte)
			if buf == nil {
				buf = new([]byte)
			}
			*buf = body((*buf)[:0], rate, seq)
			pb := &pooledBody{buf: buf, pool: &bodies}
			pb.Reset(*buf)
			defer pb.release()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/_bulk", pb)
			req.ContentLength = int64(len(*buf))
			req.Header.Set("Content-Type", "application/x-ndjson")
			resp, err := client.Do(req)
			if err != nil {
				failed.CompareAndSwap(nil, err.Error())
				return
			}
			ans, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || bytes.Contains(ans[:min(len(ans), 64)], []byte(`"errors":true`)) {
				failed.CompareAndSwap(nil, fmt.Sprintf("%d %.300s", resp.StatusCode, ans))
			}
		}(base + i)
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		b.Fatalf("a bulk through the proxy failed: %v", f)
	}
	ids := make([]string, 0, bulks*perBulk)
	for i := 0; i < bulks; i++ {
		for j := 0; j < perBulk; j++ {
			ids = append(ids, lagID(rate, (base+i)*perBulk+j))
		}
	}
	return ids, late
}
