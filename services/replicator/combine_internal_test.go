package replicator

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// combineReplicator is a Replicator with a combiner (no Kafka connection is made), its
// target at url and limits.bulk_timeout longer than any test waits.
func combineReplicator(t *testing.T, url string, window time.Duration) *Replicator {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Target.Name = "t"
	cfg.Target.Endpoints = []string{url}
	cfg.Kafka.Brokers = []string{"127.0.0.1:1"}
	cfg.Consume.Topics = []string{"ops"}
	cfg.MetricsListen, cfg.Admin.Listen = "", ""
	cfg.Batch.CombineWindow = window
	cfg.Limits.BulkTimeout = 10 * time.Minute
	r, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // what Run closes at its end
		r.producer.Close()
		r.consumer.Close()
		_ = r.target.Close()
		r.closePrimary()
	})
	return r
}

// combinePartition is partition id with docs documents to send.
func combinePartition(r *Replicator, id int32, docs int) *partition {
	p := newPartition(r, "ops", id)
	for i := 0; i < docs; i++ {
		op := &opspb.Operation{Kind: opspb.Kind_KIND_INDEX, Index: "i", Id: fmt.Sprintf("p%d-d%d", id, i), Source: []byte(`{}`), ReplicationVersion: 1}
		p.items = append(p.items, item{op: op, index: "i"})
	}
	return p
}

// heldTarget is a target whose _bulk requests wait until release closes (or the
// request is cancelled), then answer 201 for every item.
type heldTarget struct {
	arrived   chan struct{} // one per _bulk received
	release   chan struct{}
	cancelled chan struct{} // one per _bulk whose client gave up
}

func newHeldTarget(t *testing.T) (*heldTarget, string) {
	h := &heldTarget{arrived: make(chan struct{}, 16), release: make(chan struct{}), cancelled: make(chan struct{}, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/_bulk" {
			return
		}
		b, _ := io.ReadAll(req.Body)
		h.arrived <- struct{}{}
		select {
		case <-h.release:
		case <-req.Context().Done():
			h.cancelled <- struct{}{}
			return
		}
		items := make([]string, strings.Count(string(b), "\n")/2)
		for k := range items {
			items[k] = `{"index":{"_index":"i","status":201,"result":"created"}}`
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"took":1,"errors":false,"items":[`+strings.Join(items, ",")+`]}`)
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL
}

// TestCombinedLeaderHardStop: the leader of a combined request that is stopped hard (a
// revoke past its deadline, lost partitions) returns at once, not when the request it
// sent for other partitions too is answered; the request goes on for them, and its
// bulk slot is given back only once it is done.
func TestCombinedLeaderHardStop(t *testing.T) {
	h, url := newHeldTarget(t)
	r := combineReplicator(t, url, time.Hour) // sent once full (max_docs 4), not by the clock
	r.comb.maxDocs = 4
	leader, follower := combinePartition(r, 0, 2), combinePartition(r, 1, 2)
	lres, fres := make(chan attemptResult, 1), make(chan attemptResult, 1)
	go func() { lres <- leader.attempt([]int{0, 1}) }()
	for r.comb.openRequest() == nil {
		time.Sleep(time.Millisecond) // the leader opens the request first
	}
	go func() { fres <- follower.attempt([]int{0, 1}) }()
	<-h.arrived // full with both parts: sent
	leader.stopHard()
	if res := <-lres; res.err != errStopped {
		t.Fatalf("hard-stopped leader's attempt: %+v", res)
	}
	select {
	case <-h.cancelled:
		t.Fatal("the leader's hard stop cancelled the request the follower rides on")
	default:
	}
	// The leader's slot stays taken, by the request now; the follower's by its wait.
	if n := len(r.sem); n != 2 {
		t.Fatalf("%d bulk slots taken while the combined request is in flight, want 2", n)
	}
	close(h.release)
	res := <-fres
	if res.err != nil || follower.items[0].status != 201 || follower.items[1].status != 201 {
		t.Fatalf("follower: %+v, items %d %d", res, follower.items[0].status, follower.items[1].status)
	}
	for len(r.sem) != 0 {
		time.Sleep(time.Millisecond) // the request's goroutine gives the slot back as it ends
	}
	if ok := testutil.ToFloat64(r.m.bulkOK); ok != 1 {
		t.Fatalf("bulk_requests_total{result=ok} = %v for one combined request", ok)
	}
	follower.stopHard()
}

// TestCombinedHardStopOfAll: once every partition in a combined request is stopped
// hard, the request is cancelled.
func TestCombinedHardStopOfAll(t *testing.T) {
	h, url := newHeldTarget(t)
	r := combineReplicator(t, url, time.Hour)
	r.comb.maxDocs = 4
	leader, follower := combinePartition(r, 0, 2), combinePartition(r, 1, 2)
	var wg sync.WaitGroup
	wg.Go(func() { leader.attempt([]int{0, 1}) })
	for r.comb.openRequest() == nil {
		time.Sleep(time.Millisecond)
	}
	wg.Go(func() { follower.attempt([]int{0, 1}) })
	<-h.arrived
	leader.stopHard()
	follower.stopHard()
	<-h.cancelled
	wg.Wait()
	for len(r.sem) != 0 {
		time.Sleep(time.Millisecond)
	}
}

// TestCombinedSoftStop: a soft stop (a drain, a revoke) lets a part's request in flight
// finish and count, as a solo attempt's does, leader or follower.
func TestCombinedSoftStop(t *testing.T) {
	for _, stopLeader := range []bool{false, true} {
		t.Run(fmt.Sprintf("leader=%v", stopLeader), func(t *testing.T) {
			h, url := newHeldTarget(t)
			r := combineReplicator(t, url, time.Hour)
			r.comb.maxDocs = 4
			leader, follower := combinePartition(r, 0, 2), combinePartition(r, 1, 2)
			lres, fres := make(chan attemptResult, 1), make(chan attemptResult, 1)
			go func() { lres <- leader.attempt([]int{0, 1}) }()
			for r.comb.openRequest() == nil {
				time.Sleep(time.Millisecond)
			}
			go func() { fres <- follower.attempt([]int{0, 1}) }()
			<-h.arrived
			stopped := follower
			if stopLeader {
				stopped = leader
			}
			stopped.stopSoft()
			close(h.release)
			for name, res := range map[string]attemptResult{"leader": <-lres, "follower": <-fres} {
				if res.err != nil {
					t.Fatalf("%s: %v although the target applied its items", name, res.err)
				}
			}
			if stopped.items[0].status != 201 || stopped.items[1].status != 201 {
				t.Fatalf("soft-stopped partition's items: %d %d", stopped.items[0].status, stopped.items[1].status)
			}
			leader.stopHard()
			follower.stopHard()
		})
	}
}

// TestCombinedPartReused: a partition's next combined attempt reuses its part, and each
// attempt's items get their own answers, whatever the previous attempt held: here the
// parts swap sizes (3+1, then 1+3) and the failing items move.
func TestCombinedPartReused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var items []string
		for k, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if k%2 == 1 {
				continue // the document
			}
			id := line[strings.Index(line, `"_id":"`)+len(`"_id":"`):]
			id = id[:strings.IndexByte(id, '"')]
			if strings.HasSuffix(id, "-bad") {
				items = append(items, `{"index":{"_index":"i","_id":"`+id+`","status":400,"error":{"type":"mapper_parsing_exception","reason":"bad `+id+`"}}}`)
				continue
			}
			items = append(items, `{"index":{"_index":"i","_id":"`+id+`","status":201,"result":"created"}}`)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"took":1,"errors":true,"items":[`+strings.Join(items, ",")+`]}`)
	}))
	t.Cleanup(srv.Close)
	r := combineReplicator(t, srv.URL, time.Hour) // sent once full, not by the clock
	r.comb.maxDocs = 4
	p0, p1 := combinePartition(r, 0, 4), combinePartition(r, 1, 4)
	p0.items[1].op.Id += "-bad"
	p1.items[3].op.Id += "-bad"

	round := func(s0, s1 []int) {
		t.Helper()
		for _, p := range []*partition{p0, p1} {
			for i := range p.items {
				p.items[i].status, p.items[i].errType, p.items[i].errMsg = 0, "", ""
			}
		}
		res := make(chan attemptResult, 2)
		go func() { res <- p0.attempt(s0) }()
		for r.comb.openRequest() == nil {
			time.Sleep(time.Millisecond) // p0 leads
		}
		go func() { res <- p1.attempt(s1) }()
		for range 2 {
			if a := <-res; a.err != nil || !a.combined {
				t.Fatalf("attempt: %+v", a)
			}
		}
		for _, c := range []struct {
			p    *partition
			sent []int
		}{{p0, s0}, {p1, s1}} {
			for i := range c.p.items {
				it := &c.p.items[i]
				want, wantType := 0, ""
				if slices.Contains(c.sent, i) {
					want = 201
					if strings.HasSuffix(it.op.Id, "-bad") {
						want, wantType = 400, "mapper_parsing_exception"
					}
				}
				if it.status != want || it.errType != wantType || (wantType != "" && it.errMsg != "bad "+it.op.Id) {
					t.Fatalf("%s: status %d %q %q, want %d %q", it.op.Id, it.status, it.errType, it.errMsg, want, wantType)
				}
			}
		}
	}
	round([]int{0, 1, 2}, []int{3})
	part := p0.part
	if part == nil || p1.part == nil {
		t.Fatal("a finished combined attempt did not keep its part for the next")
	}
	round([]int{3}, []int{0, 2, 3})
	if p0.part != part || len(p0.part.results) != 1 || len(p1.part.results) != 3 {
		t.Fatalf("part not reused or not resized: %p %p, results %d %d", part, p0.part, len(p0.part.results), len(p1.part.results))
	}
}
