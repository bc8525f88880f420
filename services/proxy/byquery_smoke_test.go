package proxy_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestByQuerySmoke(t *testing.T) {
	e := startEnv(t, 1)
	u := e.url()
	var b strings.Builder
	for i := 0; i < 7; i++ {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":\"books\",\"_id\":\"%d\"}}\n{\"n\":%d,\"k\":\"%s\"}\n", i, i, []string{"a", "b"}[i%2])
	}
	if r := send(t, http.MethodPost, u+"/_bulk?refresh=true", b.String()); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	for _, c := range []struct{ m, p, b string }{
		{"POST", "/books/_update_by_query?scroll_size=2&refresh", `{"query":{"term":{"k":"a"}}}`},
		{"POST", "/books/_update_by_query?scroll_size=2", `{"query":{"term":{"k":"a"}},"script":{"source":"ctx._source.n++"}}`},
		{"POST", "/_reindex?refresh", `{"source":{"index":"books","size":3},"dest":{"index":"copy"}}`},
		{"POST", "/books/_delete_by_query?q=k:b&refresh", ``},
		{"POST", "/books/_delete_by_query?wait_for_completion=false", ``},
		{"POST", "/books/_delete_by_query?slices=3", ``},
	} {
		r := send(t, c.m, u+c.p, c.b)
		t.Logf("%s %s -> %d %s", c.m, c.p, r.status, r.body)
	}
	for _, op := range e.published() {
		t.Logf("%v %s/%s v%d %s", op.GetKind(), op.GetIndex(), op.GetId(), op.GetVersion(), op.GetSource())
	}
}
