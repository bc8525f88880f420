package conformance_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchtransport"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestNodesInfoDiscovery sniffs the emulator with opensearch-go's own DiscoverNodes: it
// reads GET /_nodes/http and replaces its seed with each node's http.publish_address, so
// the seed is given as "localhost" and must come back as the address the server listens
// on.
func TestNodesInfoDiscovery(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	u, _ := url.Parse(e.url)
	seed := "http://localhost:" + u.Port()
	cli, err := opensearch.NewClient(opensearch.Config{Addresses: []string{seed}, DisableRetry: true, EnableMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cli.DiscoverNodes(ctx); err != nil {
		t.Fatalf("DiscoverNodes: %v", err)
	}
	m, err := cli.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	var meta []opensearchtransport.ConnectionMetric
	for _, c := range m.Connections {
		switch cm := c.(type) {
		case opensearchtransport.ConnectionMetric:
			meta = append(meta, cm)
		case *opensearchtransport.ConnectionMetric:
			meta = append(meta, *cm)
		}
	}
	for _, cm := range meta {
		urls = append(urls, cm.URL)
	}
	if len(meta) != 1 || meta[0].URL != e.url {
		t.Fatalf("after discovery want one connection to %s, got %v", e.url, urls)
	}
	root := e.raw(t, http.MethodGet, "/_nodes/_local", "")
	var id string
	for _, k := range keys(t, rawAt(t, root.Body, "nodes")) {
		id = k
	}
	if meta[0].Meta.ID != id || meta[0].Meta.Name != "node-1" {
		t.Errorf("discovered node want id %q name node-1, got %+v", id, meta[0].Meta)
	}
	if want := []string{"cluster_manager", "data", "ingest", "remote_cluster_client"}; !slices.Equal(meta[0].Meta.Roles, want) {
		t.Errorf("roles want %v, got %v", want, meta[0].Meta.Roles)
	}
}

// TestNodesInfoAPI follows RestNodesInfoAction (routes, nodeId vs metrics), the
// NodesResponseRestListener envelope and NodesInfoResponse / HttpInfo.toXContent.
func TestNodesInfoAPI(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{Name: "nodes", MaxBodyBytes: 1 << 20})
	addr := strings.TrimPrefix(e.url, "http://")
	host := strings.Split(addr, ":")[0]
	r := e.raw(t, http.MethodGet, "/_nodes/http", "")
	if !wantStatus(t, r, 200) {
		return
	}
	wantKeys(t, r.Body, []string{"_nodes", "cluster_name", "nodes"})
	wantJSON(t, r.Body, `{"total":1,"successful":1,"failed":0}`, "_nodes")
	if got := str(t, r.Body, "cluster_name"); got != "nodes" {
		t.Errorf("cluster_name want nodes, got %q", got)
	}
	ids := keys(t, rawAt(t, r.Body, "nodes"))
	if len(ids) != 1 {
		t.Fatalf("want one node, got %v", ids)
	}
	id := ids[0]
	node := rawAt(t, r.Body, "nodes", id)
	wantKeys(t, node, []string{"name", "transport_address", "host", "ip", "version", "build_type", "build_hash", "roles", "attributes", "http"})
	wantJSON(t, node, `{"bound_address":["`+addr+`"],"publish_address":"`+addr+`","max_content_length_in_bytes":1048576}`, "http")
	wantJSON(t, node, `["cluster_manager","data","ingest","remote_cluster_client"]`, "roles")
	wantJSON(t, node, `{"shard_indexing_pressure_enabled":"true"}`, "attributes")
	for k, want := range map[string]string{"name": "node-1", "host": host, "ip": host, "version": "2.11.0", "build_type": "tar"} {
		if got := str(t, node, k); got != want {
			t.Errorf("%s want %q, got %q", k, want, got)
		}
	}
	hr := e.raw(t, http.MethodGet, "/_nodes/http?human", "")
	if got := str(t, hr.Body, "nodes", id, "http", "max_content_length"); got != "1mb" {
		t.Errorf("?human max_content_length want 1mb, got %q", got)
	}

	cases := []struct {
		name, path string
		selected   bool
		sections   []string // info sections the node carries
	}{
		{"all nodes, all metrics", "/_nodes", true, []string{"os", "transport", "http"}},
		{"_all http", "/_nodes/_all/http", true, []string{"http"}},
		{"_local", "/_nodes/_local", true, []string{"os", "transport", "http"}},
		{"by id and metric", "/_nodes/" + id + "/http", true, []string{"http"}},
		{"by id", "/_nodes/" + id, true, []string{"os", "transport", "http"}},
		{"by name wildcard", "/_nodes/node-*/http,os", true, []string{"os", "http"}},
		{"by ip", "/_nodes/" + host + "/http", true, []string{"http"}},
		{"cluster manager alias", "/_nodes/_cluster_manager/http", true, []string{"http"}},
		{"info form", "/_nodes/_local/info/http", true, []string{"http"}},
		{"metric list as node segment", "/_nodes/http,transport", true, []string{"transport", "http"}},
		{"unknown metric disregarded", "/_nodes/_all/bogus", true, nil},
		{"attribute filter", "/_nodes/shard_indexing_pressure_enabled:true/http", true, []string{"http"}},
		{"role filter removes", "/_nodes/_all,data:false/http", false, nil},
		{"unknown node", "/_nodes/nosuch/http", false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.raw(t, http.MethodGet, tc.path, "")
			if !wantStatus(t, r, 200) {
				return
			}
			n := 0
			if tc.selected {
				n = 1
			}
			wantJSON(t, r.Body, `{"total":`+string(rune('0'+n))+`,"successful":`+string(rune('0'+n))+`,"failed":0}`, "_nodes")
			if !tc.selected {
				wantJSON(t, r.Body, `{}`, "nodes")
				return
			}
			want := append([]string{"name", "transport_address", "host", "ip", "version", "build_type", "build_hash", "roles", "attributes"}, tc.sections...)
			wantKeys(t, r.Body, want, "nodes", id)
			if slices.Contains(tc.sections, "http") {
				if got := str(t, r.Body, "nodes", id, "http", "publish_address"); got != addr {
					t.Errorf("publish_address want %q, got %q", addr, got)
				}
			}
		})
	}

	t.Run("nodes stats is its own API", func(t *testing.T) {
		for _, p := range []string{"/_nodes/stats", "/_nodes/_local/stats/jvm", "/_nodes/usage", "/_nodes/hot_threads"} {
			r := e.raw(t, http.MethodGet, p, "")
			if r.Status == 200 && has(r.Body, "nodes") && !has(r.Body, "nodes", id) {
				t.Errorf("%s must not read as nodes info of an unknown node: %s", p, r)
			}
		}
	})

	t.Run("unknown parameter", func(t *testing.T) {
		r := e.raw(t, http.MethodGet, "/_nodes/http?bogus=1", "")
		wantError(t, r, 400, "illegal_argument_exception", "request [/_nodes/http] contains unrecognized parameter: [bogus]")
	})
}

// TestNodesInfoElasticsearchShape: Elasticsearch's NodesInfoResponse carries build_flavor
// and the default distribution's roles; it knows no _cluster_manager alias.
func TestNodesInfoElasticsearchShape(t *testing.T) {
	t.Parallel()
	for _, f := range []searchemu.Flavor{searchemu.Elasticsearch7, searchemu.Elasticsearch8} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			e := newEmu(t, searchemu.Options{Flavor: f})
			r := e.raw(t, http.MethodGet, "/_nodes/_all/http", "")
			if !wantStatus(t, r, 200) {
				return
			}
			ids := keys(t, rawAt(t, r.Body, "nodes"))
			if len(ids) != 1 {
				t.Fatalf("want one node: %s", r.Body)
			}
			node := rawAt(t, r.Body, "nodes", ids[0])
			wantKeys(t, node, []string{"name", "transport_address", "host", "ip", "version", "build_flavor", "build_type", "build_hash", "roles", "attributes", "http"})
			var roles []string
			for _, k := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10} {
				if has(node, "roles", k) {
					roles = append(roles, str(t, node, "roles", k))
				}
			}
			if !slices.Contains(roles, "master") || slices.Contains(roles, "cluster_manager") {
				t.Errorf("roles want master and no cluster_manager, got %v", roles)
			}
			if got := str(t, node, "http", "publish_address"); got != strings.TrimPrefix(e.url, "http://") {
				t.Errorf("publish_address want the listening address, got %q", got)
			}
			m := e.raw(t, http.MethodGet, "/_nodes/_cluster_manager/http", "")
			wantJSON(t, m.Body, `{}`, "nodes")
		})
	}
}
