package replicator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fanout-dev/fanout/pkg/bulk"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/testbed/testproc"
)

// The benchmarks run their infrastructure (kfake holding the backlog, the searchemu
// target, the null target) in a child process, the test binary started with infraEnv,
// so that this process is the replicator alone: its RSS is the replicator's, and the
// backlog is produced before the clock starts. Both processes share the machine's
// cores, as they would on one host.
//
// Sizes: FANOUT_BENCH_OPS (default 1,000,000) and FANOUT_BENCH_BACKLOG (default
// 2,000,000) override the operation counts; FANOUT_BENCH_DEBUG=1 logs memory and
// buffer figures every second while a backlog drains.
const (
	infraEnv       = "FANOUT_REPLICATOR_BENCH_INFRA"
	benchPartition = 12
	// rssPartitions is the RSS benchmark's partition count: memory must be bounded by
	// the caps, not by how many partitions hold a batch at once.
	rssPartitions = 48
	benchDocBytes = 1024
	benchIDs      = 100_000 // documents: a long stream rewrites them, with growing versions
)

// infraSpec is what the child process sets up, passed as infraEnv's JSON value.
type infraSpec struct {
	Partitions int32 `json:"partitions"`
	Ops        int   `json:"ops"`
	Searchemu  bool  `json:"searchemu"`
	// LargeDocBytes, when set, makes every event a document of that size, published
	// as the proxy publishes it: a chunk group of 1 MiB records.
	LargeDocBytes int `json:"large_doc_bytes"`
	// Late stamps every event accepted an hour ago: each INDEX is resolved against the
	// primary (the null target answers _mget too).
	Late bool `json:"late"`
}

// infraAddrs is what the child process answers once the backlog is in Kafka.
type infraAddrs struct {
	Kafka      []string `json:"kafka"`
	Searchemu  string   `json:"searchemu"`
	Null       string   `json:"null"`
	ProduceSec float64  `json:"produce_seconds"`
	Records    int      `json:"records"` // produced: Ops, or more when documents are chunked
	Err        string   `json:"error,omitempty"`
}

// runInfra serves kfake with a preloaded backlog, a null target and optionally a
// searchemu target until stdin closes.
func runInfra() {
	var spec infraSpec
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) {
		_ = out.Encode(infraAddrs{Err: err.Error()})
		os.Exit(1)
	}
	if err := json.Unmarshal([]byte(os.Getenv(infraEnv)), &spec); err != nil {
		fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(spec.Partitions, topic), kfake.AllowAutoTopicCreation())
	if err != nil {
		fail(err)
	}
	defer k.Close()
	addrs := infraAddrs{Kafka: k.ListenAddrs()}
	if spec.Searchemu {
		srv, err := searchemu.New(searchemu.Options{Name: "bench-target", NumberOfReplicas: -1}).Listen(ctx, "127.0.0.1:0")
		if err != nil {
			fail(err)
		}
		defer srv.Close()
		addrs.Searchemu = srv.URL()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	nullSrv := &http.Server{Handler: nullTarget{}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = nullSrv.Serve(ln) }()
	defer nullSrv.Close()
	addrs.Null = "http://" + ln.Addr().String()

	start := time.Now()
	if spec.LargeDocBytes > 0 {
		addrs.Records, err = preloadLarge(ctx, k.ListenAddrs(), spec.Ops, spec.LargeDocBytes)
	} else {
		addrs.Records, err = spec.Ops, preload(ctx, k.ListenAddrs(), spec.Ops, spec.Late)
	}
	if err != nil {
		fail(err)
	}
	addrs.ProduceSec = time.Since(start).Seconds()
	testproc.Serve(addrs)
}

// preload produces ops INDEX events of ~1 KiB documents, lz4-compressed like the
// proxy's, with versions growing per document.
func preload(ctx context.Context, brokers []string, ops int, late bool) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.MaxBufferedRecords(100_000), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	var firstErr atomic.Value
	accepted := timestamppb.Now()
	if late {
		accepted = timestamppb.New(time.Now().Add(-time.Hour))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike " +
		"november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu order user " +
		"status shipped pending paid refunded cart item price quantity warehouse region eu us apac")
	var text []byte
	for i := 0; i < ops; i++ {
		id := strconv.Itoa(i % benchIDs)
		// Words and numbers drawn at random compress about as well as real JSON
		// documents do (3-4x with lz4), unlike repeated filler.
		text = text[:0]
		for len(text) < benchDocBytes {
			text = append(text, words[rng.IntN(len(words))]...)
			text = append(text, ' ')
			text = strconv.AppendInt(text, rng.Int64N(1_000_000), 10)
			text = append(text, ' ')
		}
		src := fmt.Sprintf(`{"id":%q,"seq":%d,"text":%q}`, id, i, text)
		src = src[:benchDocBytes-2] + `"}`
		o := &opspb.Operation{
			Kind: opspb.Kind_KIND_INDEX, Index: "bench", Id: id, Source: []byte(src),
			ReplicationVersion: 1<<event.SeqNoBits | int64(i+1),
			Version:            int64(i/benchIDs + 1), SeqNo: proto.Int64(int64(i)), PrimaryTerm: proto.Int64(1),
			AcceptedAt: accepted, SourceCluster: "primary",
		}
		rec, err := event.Encode(topic, o)
		if err != nil {
			return err
		}
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return nil
}

// nullTarget parses _bulk bodies and answers every item with success, like a cluster
// that costs nothing.
type nullTarget struct{}

func (nullTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_mget" {
		nullMget(w, r)
		return
	}
	if r.URL.Path != "/_bulk" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"name":"null","cluster_name":"null","version":{"number":"2.17.0","distribution":"opensearch"},"tagline":"The OpenSearch Project: https://opensearch.org/"}`)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out := make([]byte, 0, len(body)/8+64)
	out = append(out, `{"took":1,"errors":false,"items":[`...)
	sc := bulk.NewBytesScanner(body)
	n := 0
	for sc.Next() {
		it := sc.Item()
		if n > 0 {
			out = append(out, ',')
		}
		n++
		status, result := 201, "created"
		if it.Action == bulk.ActionDelete {
			status, result = 200, "deleted"
		}
		out = append(out, `{"`...)
		out = append(out, it.Action.String()...)
		out = append(out, `":{"_index":`...)
		out = strconv.AppendQuote(out, it.Index)
		out = append(out, `,"_id":`...)
		out = strconv.AppendQuote(out, it.ID)
		out = append(out, `,"_version":`...)
		out = strconv.AppendInt(out, it.Version, 10)
		out = append(out, `,"result":"`...)
		out = append(out, result...)
		out = append(out, `","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":`...)
		out = strconv.AppendInt(out, int64(status), 10)
		out = append(out, `}}`...)
	}
	if err := sc.Err(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out = append(out, `]}`...)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// nullMget answers an _mget as a primary holding every document asked, with a 1 KiB
// source and a _seq_no above the backlog's.
func nullMget(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Docs []struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		} `json:"docs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	src := `{"text":"` + strings.Repeat("x", benchDocBytes-11) + `"}`
	out := make([]byte, 0, len(req.Docs)*(benchDocBytes+128)+16)
	out = append(out, `{"docs":[`...)
	for i, d := range req.Docs {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"_index":`...)
		out = strconv.AppendQuote(out, d.Index)
		out = append(out, `,"_id":`...)
		out = strconv.AppendQuote(out, d.ID)
		out = append(out, `,"_version":1,"_seq_no":100000000,"_primary_term":1,"found":true,"_source":`...)
		out = append(out, src...)
		out = append(out, '}')
	}
	out = append(out, `]}`...)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

func benchOps(b *testing.B, env string, def int) int {
	if v := os.Getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive number", env, v)
		}
		return n
	}
	return def
}

// startInfra starts the child process and waits for its backlog to be produced.
func startInfra(b *testing.B, spec infraSpec) infraAddrs {
	b.Helper()
	js, _ := json.Marshal(spec)
	var in infraAddrs
	testproc.Start(b, infraEnv, string(js), &in)
	if in.Err != "" {
		b.Fatalf("infra process: %s", in.Err)
	}
	b.Logf("backlog of %d records produced in %.1fs", spec.Ops, in.ProduceSec)
	return in
}

// benchConfig is the production default configuration pointed at the infrastructure.
func benchConfig(in infraAddrs, target string) replicator.Config {
	cfg := replicator.DefaultConfig()
	cfg.MetricsListen = ""
	cfg.Admin.Listen = "" // the benchmark needs no admin routes, and a fixed port could be taken
	cfg.Target.Name = "bench"
	cfg.Target.Endpoints = []string{target}
	cfg.Kafka.Brokers = in.Kafka
	cfg.Consume.Topics = []string{topic}
	cfg.Log.Level = "error"
	return cfg
}

// drain runs a replicator until it has resolved every record of the backlog and
// returns the time that took, and the peak RSS seen meanwhile.
func drain(b *testing.B, cfg replicator.Config, partitions, ops int) (time.Duration, int64) {
	b.Helper()
	return drainRecords(b, cfg, partitions, ops, ops)
}

// drainRecords is drain for a backlog of records that hold ops events (chunk groups
// are several records per event).
func drainRecords(b *testing.B, cfg replicator.Config, partitions, records, ops int) (time.Duration, int64) {
	b.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	reg := prometheus.NewRegistry()
	r, err := replicator.New(cfg, replicator.Deps{Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- r.Run(ctx) }()
	var peak int64
	deadline := time.Now().Add(30 * time.Minute)
	lastLog := time.Now()
	for {
		peak = max(peak, rss())
		if os.Getenv("FANOUT_BENCH_DEBUG") != "" && time.Since(lastLog) > time.Second {
			lastLog = time.Now()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			st := r.Status()
			fetchPaused := 0
			for _, p := range st.Partitions {
				if p.FetchPaused {
					fetchPaused++
				}
			}
			var done int64
			for _, p := range st.Partitions {
				done += max(p.ResolvedOffset, 0)
			}
			b.Logf("%5.1fs: %d resolved; rss %d MiB, heap %d MiB; buffered %d MiB, fetch paused %d",
				time.Since(start).Seconds(), done, rss()>>20, ms.HeapAlloc>>20, st.Buffered>>20, fetchPaused)
		}
		var resolved int64
		st := r.Status()
		for _, p := range st.Partitions {
			if p.ResolvedOffset > 0 {
				resolved += p.ResolvedOffset
			}
		}
		if len(st.Partitions) == partitions && resolved >= int64(records) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not drained after 30 minutes: %d of %d resolved", resolved, ops)
		}
		// The polling (and RSS sampling) interval of this wait on a condition: short,
		// as it bounds the error of the measured drain time.
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	// Every record must have been applied (or found stale): a fast replicator that
	// drops documents proves nothing.
	applied := replicatortest.Metric(b, reg, "fanout_replicator_ops_total", map[string]string{"result": "applied"})
	stale := replicatortest.Metric(b, reg, "fanout_replicator_ops_total", map[string]string{"result": "stale"})
	if dlq := replicatortest.Metric(b, reg, "fanout_replicator_ops_total", map[string]string{"result": "dlq"}); dlq != 0 || applied+stale < float64(ops) {
		b.Fatalf("%v applied, %v stale, %v dead-lettered of %d", applied, stale, dlq, ops)
	}
	return elapsed, peak
}

// rss reads the process's resident set size in bytes.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// BenchmarkReplicator applies a backlog of 1 KiB INDEX events on 12 partitions to a
// searchemu target with the default configuration, ordered and versioned, and
// reports docs/s from start to the last record resolved (group join included).
func BenchmarkReplicator(b *testing.B) {
	ops := benchOps(b, "FANOUT_BENCH_OPS", 1_000_000)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		in := startInfra(b, infraSpec{Partitions: benchPartition, Ops: ops, Searchemu: true})
		b.StartTimer()
		elapsed, _ := drain(b, benchConfig(in, in.Searchemu), benchPartition, ops)
		b.ReportMetric(float64(ops)/elapsed.Seconds(), "replicator_docs/s")
	}
}

// BenchmarkReplicatorNull is BenchmarkReplicator against a target that only parses
// _bulk and answers success: the replicator's own ceiling.
func BenchmarkReplicatorNull(b *testing.B) {
	ops := benchOps(b, "FANOUT_BENCH_OPS", 1_000_000)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		in := startInfra(b, infraSpec{Partitions: benchPartition, Ops: ops})
		b.StartTimer()
		elapsed, _ := drain(b, benchConfig(in, in.Null), benchPartition, ops)
		b.ReportMetric(float64(ops)/elapsed.Seconds(), "replicator_null_docs/s")
	}
}

// BenchmarkReplicatorLateNull is BenchmarkReplicatorNull with every event accepted an
// hour ago and the primary configured: each batch's INDEX events are resolved with one
// _mget (answered by the null server as a primary holding every document) before the
// bulk. It is the cost of catching up from further behind than late_events.window.
func BenchmarkReplicatorLateNull(b *testing.B) {
	ops := benchOps(b, "FANOUT_BENCH_OPS", 1_000_000)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		in := startInfra(b, infraSpec{Partitions: benchPartition, Ops: ops, Late: true})
		b.StartTimer()
		cfg := benchConfig(in, in.Null)
		cfg.Primary.Endpoints = []string{in.Null}
		elapsed, _ := drain(b, cfg, benchPartition, ops)
		b.ReportMetric(float64(ops)/elapsed.Seconds(), "replicator_late_null_docs/s")
	}
}

// BenchmarkCeiling consumes the same backlog from kfake and posts it to the null
// target in bulks of the same size, with none of the replicator's logic: no decoding,
// no ordering, no versions, no commits. The replicator cannot beat it on this machine.
func BenchmarkCeiling(b *testing.B) {
	ops := benchOps(b, "FANOUT_BENCH_OPS", 1_000_000)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		in := startInfra(b, infraSpec{Partitions: benchPartition, Ops: ops})
		b.StartTimer()
		elapsed := ceiling(b, in, ops)
		b.ReportMetric(float64(ops)/elapsed.Seconds(), "replicator_ceiling_docs/s")
	}
}

// BenchmarkReplicatorVsCeiling alternates BenchmarkReplicatorNull's drain and
// BenchmarkCeiling's over fresh backlogs in one run (three rounds, medians), and
// reports their ratio and the CPU each spends per document: this process runs only the
// replicator (or the ceiling's loop); Kafka and the null target are the child's.
func BenchmarkReplicatorVsCeiling(b *testing.B) {
	ops := benchOps(b, "FANOUT_BENCH_OPS", 1_000_000)
	const rounds = 3
	var ratios, repCPU, ceilCPU []float64
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			b.StopTimer()
			in := startInfra(b, infraSpec{Partitions: benchPartition, Ops: ops})
			b.StartTimer()
			c0 := processCPU()
			repT, _ := drain(b, benchConfig(in, in.Null), benchPartition, ops)
			c1 := processCPU()
			b.StopTimer()
			in = startInfra(b, infraSpec{Partitions: benchPartition, Ops: ops})
			b.StartTimer()
			c2 := processCPU()
			ceilT := ceiling(b, in, ops)
			c3 := processCPU()
			ratios = append(ratios, ceilT.Seconds()/repT.Seconds())
			repCPU = append(repCPU, float64((c1-c0).Microseconds())/float64(ops))
			ceilCPU = append(ceilCPU, float64((c3-c2).Microseconds())/float64(ops))
		}
	}
	b.ReportMetric(median(ratios), "null/ceiling")
	b.ReportMetric(median(repCPU), "replicator_cpu_us/doc")
	b.ReportMetric(median(ceilCPU), "ceiling_cpu_us/doc")
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func ceiling(b *testing.B, in infraAddrs, ops int) time.Duration {
	b.Helper()
	def := replicator.DefaultConfig()
	cl, err := kgo.NewClient(kgo.SeedBrokers(in.Kafka...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(def.Consume.FetchMaxBytes), kgo.FetchMaxPartitionBytes(def.Consume.FetchMaxPartitionBytes))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	// One prebuilt body, of which each request sends the first n documents.
	doc := bulk.AppendItem(nil, &bulk.Meta{Action: bulk.ActionIndex, Index: "bench", ID: "1", HasID: true,
		Version: 1, HasVersion: true, VersionType: "external"}, bytes.Repeat([]byte("x"), benchDocBytes))
	const perBulk = 2000
	body := bytes.Repeat(doc, perBulk)
	bodies := make(chan int, def.Batch.MaxInflight)
	var wg sync.WaitGroup
	for w := 0; w < def.Batch.MaxInflight; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range bodies {
				resp, err := client.Post(in.Null+"/_bulk", "application/x-ndjson", bytes.NewReader(body[:n*len(doc)]))
				if err != nil {
					b.Error(err)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	start := time.Now()
	got := 0
	for got < ops {
		n := cl.PollRecords(context.Background(), perBulk).NumRecords()
		got += n
		if n > 0 {
			bodies <- n
		}
	}
	close(bodies)
	wg.Wait()
	return time.Since(start)
}

// BenchmarkReplicatorRSS drains a backlog of 2M records over 48 partitions into the
// null target with the default configuration and reports the replicator process's
// peak RSS: the buffer caps, not the backlog or the partitions, bound it.
func BenchmarkReplicatorRSS(b *testing.B) {
	ops := benchOps(b, "FANOUT_BENCH_BACKLOG", 2_000_000)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		in := startInfra(b, infraSpec{Partitions: rssPartitions, Ops: ops})
		b.StartTimer()
		elapsed, peak := drain(b, benchConfig(in, in.Null), rssPartitions, ops)
		b.ReportMetric(float64(peak)/(1<<20), "replicator_rss_MiB")
		b.ReportMetric(float64(ops)/elapsed.Seconds(), "docs/s")
	}
}

// preloadLarge produces docs INDEX events of documents of size bytes, each split into
// a chunk group as the proxy splits it (publish.max_record_bytes 1 MiB), and returns
// the records produced.
func preloadLarge(ctx context.Context, brokers []string, docs, size int) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	// Random words and numbers, which compress about as real documents do (3-4x with
	// lz4): a repeated filler compresses a hundredfold, and the fetches, which are
	// bounded in compressed bytes, would then hold hundreds of MiB decompressed.
	rng := rand.New(rand.NewPCG(3, 4))
	words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike order user status")
	text := make([]byte, 0, size)
	for len(text) < size-32 {
		text = append(text, words[rng.IntN(len(words))]...)
		text = append(text, ' ')
		text = strconv.AppendInt(text, rng.Int64N(1_000_000), 10)
		text = append(text, ' ')
	}
	src := []byte(`{"blob":"` + string(text) + `"}`)
	records := 0
	for i := 0; i < docs; i++ {
		o := &opspb.Operation{
			Kind: opspb.Kind_KIND_INDEX, Index: "bench", Id: strconv.Itoa(i), Source: src,
			ReplicationVersion: 1<<event.SeqNoBits | int64(i+1), Version: 1,
			SeqNo: proto.Int64(int64(i)), PrimaryTerm: proto.Int64(1), AcceptedAt: timestamppb.Now(), SourceCluster: "primary",
		}
		rs, err := event.Split(topic, o, 1<<20, func() []byte { return []byte("bench-" + strconv.Itoa(i)) })
		if err != nil {
			return 0, err
		}
		for k := 0; k < rs.Len(); k++ {
			rec, err := rs.Record(k)
			if err != nil {
				return 0, err
			}
			if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
				return 0, err
			}
			records++
		}
	}
	return records, nil
}

// BenchmarkReplicatorLargeDocument drains a backlog of 10 MiB documents, each a chunk
// group of 1 MiB records, on 4 partitions into a searchemu target with the default
// configuration, and reports MiB of documents per second and the replicator process's
// peak RSS: each partition holds at most one document being assembled, outside the
// fetch buffer caps.
func BenchmarkReplicatorLargeDocument(b *testing.B) {
	const size, partitions = 10 << 20, 4
	docs := benchOps(b, "FANOUT_BENCH_LARGE_DOCS", 24)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		in := startInfra(b, infraSpec{Partitions: partitions, Ops: docs, Searchemu: true, LargeDocBytes: size})
		b.StartTimer()
		cfg := benchConfig(in, in.Searchemu)
		elapsed, peak := drainRecords(b, cfg, partitions, in.Records, docs)
		b.ReportMetric(float64(docs)*size/(1<<20)/elapsed.Seconds(), "replicator_large_MiB/s")
		b.ReportMetric(float64(peak)/(1<<20), "replicator_large_rss_MiB")
	}
}

// BenchmarkReplicatorScaleOut drains a backlog of 1 KiB events into the null target
// with one and with two replicator instances in one group, over 12 and over 48
// partitions, and reports each rate: adding members scales until the partitions or the
// machine's cores run out (both instances run in this process, on the same cores).
func BenchmarkReplicatorScaleOut(b *testing.B) {
	ops := benchOps(b, "FANOUT_BENCH_OPS", 1_000_000)
	for i := 0; i < b.N; i++ {
		rates := map[string]float64{}
		for _, partitions := range []int{benchPartition, rssPartitions} {
			for _, members := range []int{1, 2} {
				b.StopTimer()
				in := startInfra(b, infraSpec{Partitions: int32(partitions), Ops: ops})
				b.StartTimer()
				elapsed := drainGroup(b, benchConfig(in, in.Null), members, partitions, ops)
				name := fmt.Sprintf("%dx%d", members, partitions)
				rates[name] = float64(ops) / elapsed.Seconds()
				b.ReportMetric(rates[name], "docs/s@"+name)
			}
		}
		b.ReportMetric(rates["2x12"]/rates["1x12"], "two/one@12")
		b.ReportMetric(rates["2x48"]/rates["1x48"], "two/one@48")
	}
}

// drainGroup runs members replicators of one group until, together, they have
// resolved every record of the backlog, and returns the time that took (the group's
// joins and rebalances included).
func drainGroup(b *testing.B, cfg replicator.Config, members, partitions, ops int) time.Duration {
	b.Helper()
	runtime.GC()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		reps []*replicator.Replicator
		regs []*prometheus.Registry
		done = make(chan error, members)
	)
	start := time.Now()
	for m := 0; m < members; m++ {
		reg := prometheus.NewRegistry()
		r, err := replicator.New(cfg, replicator.Deps{Registry: reg})
		if err != nil {
			b.Fatal(err)
		}
		reps, regs = append(reps, r), append(regs, reg)
		go func() { done <- r.Run(ctx) }()
	}
	deadline := time.Now().Add(30 * time.Minute)
	for {
		// A partition's progress is the furthest any member has resolved it: after a
		// rebalance, its former owner's status may still list it.
		resolved := map[int32]int64{}
		for _, r := range reps {
			for _, p := range r.Status().Partitions {
				resolved[p.Partition] = max(resolved[p.Partition], p.ResolvedOffset)
			}
		}
		var sum int64
		for _, v := range resolved {
			sum += v
		}
		if len(resolved) == partitions && sum >= int64(ops) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not drained after 30 minutes: %d of %d resolved", sum, ops)
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cancel()
	for range members {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	var applied, stale float64
	for _, reg := range regs {
		applied += replicatortest.Metric(b, reg, "fanout_replicator_ops_total", map[string]string{"result": "applied"})
		stale += replicatortest.Metric(b, reg, "fanout_replicator_ops_total", map[string]string{"result": "stale"})
	}
	if applied+stale < float64(ops) {
		b.Fatalf("%v applied, %v stale of %d", applied, stale, ops)
	}
	if members > 1 {
		for m, reg := range regs {
			if n := replicatortest.Metric(b, reg, "fanout_replicator_ops_total", map[string]string{"result": "applied"}); n == 0 {
				b.Fatalf("member %d applied nothing: the group did not spread the partitions", m)
			}
		}
	}
	return elapsed
}
