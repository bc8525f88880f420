package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// TestWritesThroughRoutingAlias: writes through an alias with index_routing, without a
// routing of their own, are routed by the primary with the alias's routing; their
// events carry it, or replicas would put the documents on other shards.
func TestWritesThroughRoutingAlias(t *testing.T) {
	e := startEnv(t, 1)
	for _, q := range []struct{ m, p, b string }{
		{http.MethodPut, "/ar", `{"settings":{"number_of_shards":3}}`},
		{http.MethodPost, "/_aliases", `{"actions":[{"add":{"index":"ar","alias":"war","index_routing":"x"}},{"add":{"index":"ar","alias":"plain"}}]}`},
	} {
		if r := send(t, q.m, e.primaryURL+q.p, q.b); r.status != 200 {
			t.Fatalf("%s %s: %d %s", q.m, q.p, r.status, r.body)
		}
	}
	for _, q := range []struct{ m, p, b string }{
		{http.MethodPut, "/war/_doc/1", `{"n":1}`},
		{http.MethodPost, "/_bulk", "{\"index\":{\"_index\":\"war\",\"_id\":\"2\"}}\n{\"n\":2}\n{\"index\":{\"_index\":\"plain\",\"_id\":\"3\"}}\n{\"n\":3}\n{\"index\":{\"_index\":\"ar\",\"_id\":\"4\"}}\n{\"n\":4}\n"},
		{http.MethodDelete, "/war/_doc/1", ""},
	} {
		if r := send(t, q.m, e.url()+q.p, q.b); r.status/100 != 2 || strings.Contains(string(r.body), `"errors":true`) {
			t.Fatalf("%s %s: %d %s", q.m, q.p, r.status, r.body)
		}
	}
	if g := send(t, http.MethodGet, e.primaryURL+"/ar/_doc/2?routing=x", ""); g.status != 200 {
		t.Fatalf("the primary did not route through the alias: %d %s", g.status, g.body)
	}
	want := []struct {
		kind        opspb.Kind
		id, routing string
	}{
		{opspb.Kind_KIND_INDEX, "1", "x"},
		{opspb.Kind_KIND_INDEX, "2", "x"},
		{opspb.Kind_KIND_INDEX, "3", ""},
		{opspb.Kind_KIND_INDEX, "4", ""},
		{opspb.Kind_KIND_DELETE, "1", "x"},
	}
	// Events of different documents may sit on different partitions: compared as a set.
	got := map[string]string{}
	for _, op := range e.published() {
		if op.GetIndex() != "ar" {
			t.Errorf("event of %s/%s", op.GetIndex(), op.GetId())
		}
		got[op.GetKind().String()+" "+op.GetId()] = op.GetRouting()
	}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %d", got, len(want))
	}
	for _, w := range want {
		if r, ok := got[w.kind.String()+" "+w.id]; !ok || r != w.routing {
			t.Errorf("%v %s: routing %q (published %v), want %q", w.kind, w.id, r, ok, w.routing)
		}
	}
}
