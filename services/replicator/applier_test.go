package replicator_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestApplier: the apply path fanoutctl replays with judges items as replication does.
func TestApplier(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := searchemu.New(searchemu.Options{Name: "target"}).Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// A strict mapping makes one document a permanent rejection.
	if code, body := httpDo(t, http.MethodPut, srv.URL()+"/logs-dr", fmt.Sprintf(`{"settings":{"number_of_shards":%d},"mappings":{"dynamic":"strict","properties":{"n":{"type":"long"}}}}`, shards)); code != http.StatusOK {
		t.Fatalf("creating logs-dr: %d %s", code, body)
	}

	cfg := replicator.DefaultConfig()
	cfg.Target.Name, cfg.Target.Endpoints = "dr", []string{srv.URL()}
	cfg.Indices.Rename, cfg.Indices.Exclude = "{index}-dr", []string{"secret*"}
	a, err := replicator.NewApplier(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	seq := int64(0)
	op := func(kind opspb.Kind, index, id, src string, version int64) *opspb.Operation {
		return &opspb.Operation{Kind: kind, Index: index, Id: id, Source: []byte(src), ReplicationVersion: version, SeqNo: &seq}
	}
	ops := []*opspb.Operation{
		op(opspb.Kind_KIND_INDEX, "logs", "1", `{"n":1}`, 10),
		op(opspb.Kind_KIND_INDEX, "logs", "1", `{"n":0}`, 5), // older than what is there
		op(opspb.Kind_KIND_INDEX, "logs", "2", `{"x":"not in the mapping"}`, 10),
		op(opspb.Kind_KIND_DELETE, "logs", "3", ``, 10), // nothing to delete
		op(opspb.Kind_KIND_INDEX, "secret-1", "1", `{"n":1}`, 10),
	}
	res, err := a.Apply(ctx, ops)
	if err != nil {
		t.Fatal(err)
	}
	want := []replicator.Outcome{replicator.OutcomeApplied, replicator.OutcomeStale, replicator.OutcomeFailed,
		replicator.OutcomeApplied, replicator.OutcomeSkipped}
	for i, w := range want {
		if res[i].Outcome != w {
			t.Errorf("op %d: %+v, want %s", i, res[i], w)
		}
	}
	if res[0].TargetIndex != "logs-dr" || res[2].ErrorType != "strict_dynamic_mapping_exception" || res[2].Status != 400 {
		t.Errorf("results %+v", res)
	}
	_, body := httpDo(t, http.MethodGet, srv.URL()+"/logs-dr/_doc/1", "")
	if !strings.Contains(string(body), `"_version":10`) || !strings.Contains(string(body), `{"n":1}`) {
		t.Errorf("target holds %s", body)
	}

	srv.Close() // the target goes away: the call fails as a whole after bounded retries
	a.RequestRetries = 1
	if _, err := a.Apply(ctx, ops[:1]); err == nil {
		t.Error("want an error from an unreachable target")
	}
}
