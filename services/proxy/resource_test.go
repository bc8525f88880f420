package proxy_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/services/proxy"
)

// Bounds of TestHostileClientsStayBounded.
const (
	hostileBudget = 64 << 20 // limits.max_inflight_bytes
	hostileBody   = 16 << 20 // limits.max_body_bytes
	// hostileSlack is what the heap in use may hold beyond the budget and what it held
	// before the hostile clients came: about 600 connections on both sides (the
	// server's request, response and 4 KiB buffers, the clients' readers), eight
	// inflaters, the discard buffers, and garbage the GC has not collected yet (body
	// buffers replaced by bigger ones, refused bodies). Measured: 16 to 32 MiB, with
	// the race detector or without.
	hostileSlack = 64 << 20
	// hostileLiveSlack is the same for the live heap, as the GC last marked it: what
	// the proxy holds, garbage aside. Measured: the live heap never passed the budget.
	hostileLiveSlack = 16 << 20
)

// TestHostileClientsStayBounded throws the hostile clients at one proxy at
// once, while normal clients keep writing and reading:
//   - 40 connections announcing 100 MiB bodies and trickling a byte a second;
//   - 8 gzip bombs of 1 MiB that inflate to 1 GiB;
//   - a bulk of a million tiny items (16 MB);
//   - 512 connections announcing 1 MiB bodies and sending a byte a second.
//
// The proxy's heap stays under its budget plus a stated constant (hostileSlack), every
// normal request is answered 2xx, and every hostile client reads an answer (413, 429
// or 408) rather than a reset.
//
// The heap is Go's (runtime/metrics, sampled every 5 ms): the proxy runs in this
// process, with the emulated primary and Kafka, whose own memory is in the baseline
// taken before the hostile clients start. The GC is given a soft memory limit at the
// bound, as the README advises in production with GOMEMLIMIT: garbage is then
// collected before it piles up, so what is measured is what the proxy keeps.
func TestHostileClientsStayBounded(t *testing.T) {
	e := startEnv(t, 1, func(c *proxy.Config) {
		c.Limits.MaxInflightBytes = hostileBudget
		c.Limits.MaxBodyBytes = hostileBody
		c.Limits.BodyTimeout = 3 * time.Second
		c.Limits.BodyMinRate = 64 << 10
	})
	url := e.url()
	if r := send(t, http.MethodPut, url+"/normal/_doc/warm", `{"n":0}`); r.status != 201 {
		t.Fatalf("warm-up: %d %s", r.status, r.body)
	}

	runtime.GC()
	base := heapSample()
	bound := base.objects + hostileBudget + hostileSlack
	liveBound := base.objects + hostileBudget + hostileLiveSlack
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(bound)))
	peak := watchHeap(t)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		problems []string
		answers  = map[string]map[int]int{} // client kind -> status -> count
	)
	got := func(kind string, a rawAnswer, allowed ...int) {
		mu.Lock()
		defer mu.Unlock()
		if answers[kind] == nil {
			answers[kind] = map[int]int{}
		}
		ok := false
		for _, s := range allowed {
			ok = ok || (a.err == nil && a.status == s)
		}
		if !ok {
			if a.err != nil {
				answers[kind][-1]++
				problems = append(problems, fmt.Sprintf("%s: no answer: %v", kind, a.err))
			} else {
				answers[kind][a.status]++
				problems = append(problems, fmt.Sprintf("%s: %d %.200s", kind, a.status, a.body))
			}
			return
		}
		answers[kind][a.status]++
	}
	stopTrickle := make(chan struct{})

	// Tricklers: they read the answer while they send, as an HTTP client that reads
	// early answers (Go's, curl) does.
	trickler := func(kind string, announced int64, allowed ...int) {
		defer wg.Done()
		c := dialRaw(t, url)
		if err := c.head(http.MethodPost, "/_bulk", announced, "Content-Type: application/x-ndjson"); err != nil {
			got(kind, rawAnswer{err: err}, allowed...)
			return
		}
		answer := c.readAsync()
		go c.trickle(time.Second, stopTrickle)
		got(kind, waitAnswer(t, answer, 60*time.Second), allowed...)
	}
	// Senders write their whole body before they read, as python-requests does.
	sender := func(kind, path string, headers []string, chunk []byte, repeat int) {
		defer wg.Done()
		c := dialRaw(t, url)
		err := c.head(http.MethodPost, path, int64(len(chunk)*repeat), headers...)
		for i := 0; i < repeat && err == nil; i++ {
			_, err = c.conn.Write(chunk)
		}
		if err != nil {
			got(kind, rawAnswer{err: fmt.Errorf("sending: %w", err)}, 413, 429)
			return
		}
		got(kind, c.read(), 413, 429)
	}

	for i := 0; i < 40; i++ {
		wg.Add(1)
		go trickler("announces 100 MiB", 100<<20, 413)
	}
	for i := 0; i < 512; i++ {
		wg.Add(1)
		go trickler("slow body", 1<<20, 408)
	}
	wg.Add(1)
	tiny := bytes.Repeat([]byte("{\"index\":{}}\n{}\n"), 1000) // 1M items: this, a thousand times
	go sender("1M-item bulk", "/tiny/_bulk", []string{"Content-Type: application/x-ndjson"}, tiny, 1000)
	member := gzipMember(t) // 16 MiB of zeros in ~16 KiB
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go sender("gzip bomb", "/_bulk", []string{"Content-Type: application/x-ndjson", "Content-Encoding: gzip"},
			member, (1<<20)/len(member))
	}

	// Normal clients, until the hostile ones are answered.
	hostileDone := make(chan struct{})
	go func() { wg.Wait(); close(hostileDone) }()
	const normalClients = 4
	var normal [normalClients]atomic.Int64
	var nwg sync.WaitGroup
	for c := 0; c < normalClients; c++ {
		nwg.Add(1)
		go func() {
			defer nwg.Done()
			client := &http.Client{Transport: &http.Transport{}, Timeout: 60 * time.Second}
			defer client.CloseIdleConnections()
			for i := 0; ; i++ {
				select {
				case <-hostileDone:
					return
				default:
				}
				var req *http.Request
				switch i % 3 {
				case 0:
					req, _ = http.NewRequest(http.MethodGet, url+"/", nil)
				case 1:
					req, _ = http.NewRequest(http.MethodPut, fmt.Sprintf("%s/normal/_doc/%d-%d", url, c, i), strings.NewReader(`{"n":1}`))
					req.Header.Set("Content-Type", "application/json")
				default:
					var b strings.Builder
					for j := 0; j < 10; j++ {
						fmt.Fprintf(&b, "{\"index\":{\"_index\":\"normal\",\"_id\":\"b%d-%d-%d\"}}\n{\"n\":%d}\n", c, i, j, j)
					}
					req, _ = http.NewRequest(http.MethodPost, url+"/_bulk", strings.NewReader(b.String()))
					req.Header.Set("Content-Type", "application/x-ndjson")
				}
				resp, err := client.Do(req)
				if err != nil {
					got("normal", rawAnswer{err: err}, 200, 201)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got("normal", rawAnswer{status: resp.StatusCode, body: body}, 200, 201)
				if resp.StatusCode/100 == 2 && bytes.Contains(body[:min(len(body), 64)], []byte(`"errors":true`)) {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("normal bulk with item errors: %.300s", body))
					mu.Unlock()
				}
				normal[c].Add(1)
			}
		}()
	}

	select {
	case <-hostileDone:
	case <-time.After(90 * time.Second):
		t.Fatal("the hostile clients were not all answered within 90s")
	}
	close(stopTrickle)
	nwg.Wait()
	top := peak()

	served := make([]int64, normalClients)
	for i := range normal {
		served[i] = normal[i].Load()
	}
	t.Logf("answers: %v; normal requests served per client: %v", answers, served)
	t.Logf("heap: %d MiB before, peak %d MiB in use, %d MiB live; bounds %d and %d MiB (before + budget %d MiB + %d or %d MiB)",
		base.objects>>20, top.objects>>20, top.live>>20, bound>>20, liveBound>>20, hostileBudget>>20, hostileSlack>>20, hostileLiveSlack>>20)
	for _, p := range problems[:min(len(problems), 20)] {
		t.Error(p)
	}
	// Each normal client was served while the hostile ones ran (how often depends on
	// the machine: a dozen requests in all with the race detector on two loaded cores).
	for i, n := range served {
		if n == 0 {
			t.Errorf("normal client %d was never served while the hostile clients ran", i)
		}
	}
	if top.objects > bound {
		t.Errorf("the heap in use reached %d MiB, past the bound of %d MiB", top.objects>>20, bound>>20)
	}
	if top.live > liveBound {
		t.Errorf("the live heap reached %d MiB, past the bound of %d MiB", top.live>>20, liveBound>>20)
	}
	if n := gauge(t, e.proxies[0], "fanout_proxy_inflight_bytes"); n != 0 {
		t.Errorf("%d bytes still counted against the budget once every request is answered", n)
	}
}

type heapStats struct{ objects, live uint64 }

func heapSample() heapStats {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return heapStats{objects: s[0].Value.Uint64(), live: s[1].Value.Uint64()}
}

// watchHeap samples the heap every 5 ms until the returned function is called, which
// returns the highest values seen.
func watchHeap(t *testing.T) func() heapStats {
	stop := make(chan struct{})
	done := make(chan heapStats)
	go func() {
		var top heapStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			h := heapSample()
			top.objects, top.live = max(top.objects, h.objects), max(top.live, h.live)
			select {
			case <-stop:
				done <- top
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	var top heapStats
	finish := func() heapStats {
		once.Do(func() { close(stop); top = <-done })
		return top
	}
	t.Cleanup(func() { finish() })
	return finish
}
