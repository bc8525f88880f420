package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// TestReadBackThroughRoutingAlias: a write through an alias with index_routing into an
// index with a default pipeline is read back, and its event carries the routing the
// primary stored (the alias's), not the request's empty one.
func TestReadBackThroughRoutingAlias(t *testing.T) {
	e := startEnv(t, 1)
	putPipelines(t, e.primaryURL)
	for _, q := range []struct{ m, p, b string }{
		{http.MethodPut, "/ra", `{"settings":{"number_of_shards":1,"index.default_pipeline":"tag"}}`},
		{http.MethodPost, "/_aliases", `{"actions":[{"add":{"index":"ra","alias":"wa","index_routing":"x"}}]}`},
	} {
		if r := send(t, q.m, e.primaryURL+q.p, q.b); r.status != 200 {
			t.Fatalf("%s %s: %d %s", q.m, q.p, r.status, r.body)
		}
	}
	if r := send(t, http.MethodPut, e.url()+"/wa/_doc/1", `{"name":"A"}`); r.status != 201 {
		t.Fatalf("write through the alias: %d %s", r.status, r.body)
	}
	g := send(t, http.MethodGet, e.primaryURL+"/ra/_doc/1?routing=x", "")
	if g.status != 200 || !strings.Contains(string(g.body), `"_routing":"x"`) {
		t.Fatalf("primary: %d %s", g.status, g.body)
	}
	ops := e.published()
	if len(ops) != 1 {
		t.Fatalf("%d events, want 1", len(ops))
	}
	op := ops[0]
	if op.GetKind() != opspb.Kind_KIND_INDEX || op.GetIndex() != "ra" || op.GetRouting() != "x" || !strings.Contains(string(op.GetSource()), `"tagged":true`) {
		t.Fatalf("event %v %s/%s routing %q source %s", op.GetKind(), op.GetIndex(), op.GetId(), op.GetRouting(), op.GetSource())
	}
}
