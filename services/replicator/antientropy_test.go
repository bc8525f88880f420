package replicator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// primaryWrite indexes source as index/id on the primary and returns the event a proxy
// would publish for it.
func primaryWrite(t testing.TB, e *emulator, index, id, source string) *opspb.Operation {
	t.Helper()
	code, b := httpDo(t, http.MethodPut, docURL(e, index, id, ""), source)
	return primaryEvent(t, opspb.Kind_KIND_INDEX, index, id, source, code, b)
}

// primaryDelete deletes index/id on the primary and returns the event.
func primaryDelete(t testing.TB, e *emulator, index, id string) *opspb.Operation {
	t.Helper()
	code, b := httpDo(t, http.MethodDelete, docURL(e, index, id, ""), "")
	return primaryEvent(t, opspb.Kind_KIND_DELETE, index, id, "", code, b)
}

func primaryEvent(t testing.TB, kind opspb.Kind, index, id, source string, code int, b []byte) *opspb.Operation {
	t.Helper()
	var a struct {
		Version     int64 `json:"_version"`
		SeqNo       int64 `json:"_seq_no"`
		PrimaryTerm int64 `json:"_primary_term"`
	}
	if err := json.Unmarshal(b, &a); err != nil || code/100 != 2 {
		t.Fatalf("%v %s/%s on the primary: %d %s", kind, index, id, code, b)
	}
	rv, err := event.ReplicationVersion(a.SeqNo, a.PrimaryTerm, a.Version, true)
	if err != nil {
		t.Fatal(err)
	}
	o := &opspb.Operation{Kind: kind, Index: index, Id: id, ReplicationVersion: rv, Version: a.Version,
		SeqNo: proto.Int64(a.SeqNo), PrimaryTerm: proto.Int64(a.PrimaryTerm), AcceptedAt: timestamppb.Now(),
		RequestId: "test", SourceCluster: "primary"}
	if kind == opspb.Kind_KIND_INDEX {
		o.Source = []byte(source)
	}
	return o
}

func newClient(t testing.TB, e *emulator) *opensearch.Client {
	t.Helper()
	c, err := opensearch.NewClient(opensearch.Config{Addresses: []string{e.url}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// compareClusters is fanoutctl verify's fast comparison of the target with the primary.
func compareClusters(t testing.TB, primary, target *emulator) *converge.Report {
	t.Helper()
	rep, err := converge.Compare(context.Background(), newClient(t, primary), newClient(t, target), converge.Options{
		Indices: []string{"books"}, Mode: converge.Fast, Refresh: true,
		ExpectVersion: func(v converge.DocVersion) int64 {
			rv, _ := event.ReplicationVersion(v.SeqNo, v.PrimaryTerm, v.Version, v.HasSeqNo)
			return rv
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func differences(r *converge.Report) int { return r.Missing + r.Extra + r.Different }

// TestAntiEntropy is issue 14's continuous anti-entropy: a target that the stream left
// different from the primary in every way a bad day can (events never published:
// missing documents, stale versions, deletes that never arrived; a write on the target
// that bypassed replication) is found by the replicator's background passes and
// repaired, at a bounded rate; documents the stream is still bringing (lag) are not
// counted as differences, nor written; the next pass finds nothing; with repair off
// the differences are counted and nothing is written.
func TestAntiEntropy(t *testing.T) {
	for _, repair := range []bool{true, false} {
		t.Run(fmt.Sprintf("repair=%v", repair), func(t *testing.T) { testAntiEntropy(t, repair) })
	}
}

func testAntiEntropy(t *testing.T, repair bool) {
	const (
		docs  = 400
		each  = 5 // differences of each kind
		rate  = 400.0
		books = "books"
	)
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	primary := startEmulator(t, "primary")
	target := startEmulator(t, "b", withGCDeletes(gcDeletes))
	createIndex(t, primary, books)
	// a repair of a copy written outside replication waits for the target to forget a
	// delete, as long as the index's index.gc_deletes says
	if code, b := httpDo(t, http.MethodPut, target.url+"/"+books, fmt.Sprintf(`{"settings":{"number_of_shards":%d,"index.gc_deletes":"1s"}}`, shards)); code != http.StatusOK {
		t.Fatalf("creating %s on the target: %d %s", books, code, b)
	}
	// an index the target does not have: its documents are left alone (metadata
	// replication or a backfill creates it, not a repair)
	createIndex(t, primary, "films")
	primaryWrite(t, primary, "films", "f1", `{"t":1}`)

	var published []*opspb.Operation
	id := func(i int) string { return fmt.Sprintf("d%03d", i) }
	for i := range docs {
		published = append(published, primaryWrite(t, primary, books, id(i), fmt.Sprintf(`{"n":%d}`, i)))
	}
	// missing: written on the primary, the event lost
	for i := range each {
		primaryWrite(t, primary, books, fmt.Sprintf("lost%d", i), `{"lost":true}`)
	}
	// version: updated on the primary, the update's event lost
	for i := range each {
		primaryWrite(t, primary, books, id(i), `{"updated":true}`)
	}
	// extra: deleted on the primary, the delete's event lost
	for i := each; i < 2*each; i++ {
		primaryDelete(t, primary, books, id(i))
	}
	cfg := lateConfig(k, target, primary, 30*time.Second)
	k.ProduceSync(t, encode(t, published...)...)
	// the stream applies what was published before anti-entropy starts
	r0 := startReplicator(t, cfg)
	waitCaughtUp(t, k, r0.Group(), 30*time.Second)
	r0.Stop(t)
	// outside replication: written on the target directly (internal versioning: its
	// _version becomes one above the replication version the primary gave it)
	for i := 2 * each; i < 3*each; i++ {
		if code, b := httpDo(t, http.MethodPut, docURL(target, books, id(i), ""), `{"bypassed":true}`); code != http.StatusOK {
			t.Fatalf("writing on the target: %d %s", code, b)
		}
	}
	// lag: written on the primary now, published while the pass runs
	var lagging []*opspb.Operation
	for i := range 20 {
		lagging = append(lagging, primaryWrite(t, primary, books, fmt.Sprintf("lag%02d", i), `{"lag":true}`))
	}
	if rep := compareClusters(t, primary, target); differences(rep) != 4*each+len(lagging) {
		t.Fatalf("before anti-entropy: %d differences, want %d: %v", differences(rep), 4*each+len(lagging), rep.Diffs)
	}

	// without repairs every pass confirms the differences again: one pass only
	interval := time.Hour
	if repair {
		interval = 2 * time.Second
	}
	cfg.AntiEntropy = replicator.AntiEntropyConfig{Enabled: true, Interval: interval, MaxDocsPerS: rate,
		Mode: "fast", Repair: repair, MaxDiffs: 1000, SettleTimeout: 30 * time.Second}
	r := startReplicator(t, cfg)
	metric := func(name string, labels map[string]string) float64 { return r.Metric(t, name, labels) }
	waitFor(t, 30*time.Second, "a pass running", func() bool { return metric("fanout_replicator_anti_entropy_running", nil) == 1 })
	k.ProduceSync(t, encode(t, lagging...)...)
	waitFor(t, 60*time.Second, "a complete pass", func() bool {
		return metric("fanout_replicator_anti_entropy_last_full_pass_timestamp_seconds", nil) > 0
	})

	kinds := map[converge.Kind]int{converge.Missing: each, converge.Version: 2 * each, converge.Extra: each}
	for kind, want := range kinds {
		if got := metric("fanout_replicator_anti_entropy_differences_total", map[string]string{"kind": string(kind)}); got != float64(want) {
			t.Errorf("differences_total{kind=%s} = %v, want %d", kind, got, want)
		}
		wantRepaired := want
		if !repair {
			wantRepaired = 0
		}
		if got := metric("fanout_replicator_repaired_total", map[string]string{"kind": string(kind)}); got != float64(wantRepaired) {
			t.Errorf("repaired_total{kind=%s} = %v, want %d", kind, got, wantRepaired)
		}
	}
	if got := metric("fanout_replicator_anti_entropy_skipped_total", map[string]string{"reason": "index_missing"}); got != 1 {
		t.Errorf("skipped_total{reason=index_missing} = %v, want 1 (films/f1)", got)
	}
	// the lagging documents the pass saw before the stream brought them were lag
	lag := metric("fanout_replicator_anti_entropy_skipped_total", map[string]string{"reason": "converged"}) +
		metric("fanout_replicator_anti_entropy_skipped_total", map[string]string{"reason": "in_flux"})
	if lag > float64(len(lagging)) {
		t.Errorf("%v differences skipped as lag, more than the %d lagging documents", lag, len(lagging))
	}
	checked := metric("fanout_replicator_anti_entropy_documents_checked_total", nil)
	if seconds := metric("fanout_replicator_anti_entropy_last_full_pass_seconds", nil); checked < docs || seconds < (checked-1000)/rate {
		t.Errorf("a pass compared %v documents in %.2f s: the rate bound is %v/s", checked, seconds, rate)
	}
	if got := metric("fanout_replicator_anti_entropy_repair_failures_total", map[string]string{"kind": "version"}); got != 0 {
		t.Errorf("repair_failures_total{kind=version} = %v", got)
	}

	rep := compareClusters(t, primary, target)
	if !repair {
		if differences(rep) != 4*each {
			t.Fatalf("repair off: %d differences left, want the %d injected ones: %v", differences(rep), 4*each, rep.Diffs)
		}
		return
	}
	if !rep.Converged() {
		t.Fatalf("after a pass: %d differences: %v", differences(rep), rep.Diffs)
	}
	// the next complete pass finds nothing more
	last := metric("fanout_replicator_anti_entropy_last_full_pass_timestamp_seconds", nil)
	waitFor(t, 60*time.Second, "a second complete pass", func() bool {
		return metric("fanout_replicator_anti_entropy_last_full_pass_timestamp_seconds", nil) > last
	})
	total := 0.0
	for _, kind := range []converge.Kind{converge.Missing, converge.Version, converge.Extra, converge.Source, converge.Routing} {
		total += metric("fanout_replicator_anti_entropy_differences_total", map[string]string{"kind": string(kind)})
	}
	if total != 4*each {
		t.Errorf("after the second pass %v differences in all, want still %d", total, 4*each)
	}
	if got := r.Ops(t, "dlq"); got != 0 {
		t.Errorf("%v records dead-lettered", got)
	}
	// a later real write still wins over the repairs
	k.ProduceSync(t, encode(t, primaryWrite(t, primary, books, "lost0", `{"after":1}`), primaryDelete(t, primary, books, id(0)))...)
	waitCaughtUp(t, k, r.Group(), 30*time.Second)
	if d := getDoc(t, target, books, "lost0", ""); !d.Found || !strings.Contains(string(d.Source), "after") {
		t.Errorf("lost0 after a real write: %+v", d)
	}
	if d := getDoc(t, target, books, id(0), ""); d.Found {
		t.Errorf("%s after a real delete: %+v", id(0), d)
	}
}

// TestAntiEntropyConfig: the configuration's refusals name the key.
func TestAntiEntropyConfig(t *testing.T) {
	base := func() replicator.Config {
		cfg := replicator.DefaultConfig()
		cfg.Target.Name, cfg.Target.Endpoints = "b", []string{"http://127.0.0.1:1"}
		cfg.Primary.Endpoints = []string{"http://127.0.0.1:2"}
		cfg.AntiEntropy.Enabled = true
		return cfg
	}
	for _, tc := range []struct {
		name string
		edit func(*replicator.Config)
		want string
	}{
		{"defaults", func(*replicator.Config) {}, ""},
		{"no primary", func(c *replicator.Config) { c.Primary.Endpoints = nil }, "anti_entropy.enabled: needs primary.endpoints"},
		{"off without primary", func(c *replicator.Config) { c.Primary.Endpoints, c.AntiEntropy.Enabled = nil, false }, ""},
		{"unbounded rate", func(c *replicator.Config) { c.AntiEntropy.MaxDocsPerS = 0 }, "anti_entropy.max_docs_per_s"},
		{"interval", func(c *replicator.Config) { c.AntiEntropy.Interval = time.Millisecond }, "anti_entropy.interval"},
		{"mode", func(c *replicator.Config) { c.AntiEntropy.Mode = "quick" }, "anti_entropy.mode"},
		{"max diffs", func(c *replicator.Config) { c.AntiEntropy.MaxDiffs = 0 }, "anti_entropy.max_diffs"},
		{"settle", func(c *replicator.Config) { c.AntiEntropy.SettleTimeout = 0 }, "anti_entropy.settle_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.edit(&cfg)
			err := cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestAntiEntropyOneMember: in a group of two replicators only one runs the passes (the
// owner of partition 0), so that scaling out does not multiply the load on the clusters;
// an operator's pause stops them.
func TestAntiEntropyOneMember(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	primary := startEmulator(t, "primary")
	target := startEmulator(t, "b")
	createIndex(t, primary, "books")
	createIndex(t, target, "books")
	k.ProduceSync(t, encode(t, primaryWrite(t, primary, "books", "1", `{"n":1}`))...)
	cfg := lateConfig(k, target, primary, 30*time.Second)
	cfg.AntiEntropy = replicator.AntiEntropyConfig{Enabled: true, Interval: time.Second, MaxDocsPerS: 1000,
		Mode: "fast", Repair: true, MaxDiffs: 100, SettleTimeout: 10 * time.Second}
	a, b := startReplicator(t, cfg), startReplicator(t, cfg)
	members := []*replicatortest.Running{a, b}
	waitFor(t, 30*time.Second, "one partition each", func() bool {
		return a.Metric(t, "fanout_replicator_assigned_partitions", nil) == 1 && b.Metric(t, "fanout_replicator_assigned_partitions", nil) == 1
	})
	passes := func(r *replicatortest.Running) float64 {
		return r.Metric(t, "fanout_replicator_anti_entropy_passes_total", nil)
	}
	before := []float64{passes(a), passes(b)}
	waitFor(t, 30*time.Second, "three more passes", func() bool { return passes(a)+passes(b) >= before[0]+before[1]+3 })
	ran := 0
	leader := -1
	for i, r := range members {
		if passes(r) > before[i] {
			ran++
			leader = i
		}
	}
	if ran != 1 {
		t.Fatalf("%d members ran passes (before %v, after %v, %v)", ran, before, passes(a), passes(b))
	}
	// paused: no pass starts
	l := members[leader]
	if code, body := httpDo(t, http.MethodPost, l.AdminURL()+"/admin/pause", "{}"); code != http.StatusOK {
		t.Fatalf("pause: %d %s", code, body)
	}
	waitFor(t, 10*time.Second, "the pass to end", func() bool { return l.Metric(t, "fanout_replicator_anti_entropy_running", nil) == 0 })
	paused := passes(l)
	time.Sleep(3 * time.Second)
	if got := passes(l); got > paused+1 {
		t.Errorf("%v passes while paused", got-paused)
	}
}
