package proxy

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestIsNodesInfo(t *testing.T) {
	tests := []struct {
		method, target string
		want           bool
	}{
		{"GET", "/_nodes", true},
		{"GET", "/_nodes/", true},
		{"GET", "/_nodes/http", true},
		{"GET", "/_nodes/_all/http", true},
		{"GET", "/_nodes/_local", true},
		{"GET", "/_nodes/_local/http,os,thread_pool", true},
		{"GET", "/_nodes/data:true,ingest:true/http", true},
		{"GET", "/_nodes/node-1/info/http", true},
		{"GET", "/_nodes/_all/http?filter_path=nodes.*.http", true},
		{"HEAD", "/_nodes/http", false}, // no body to rewrite
		{"POST", "/_nodes/http", false},
		{"GET", "/_nodes/stats", false},
		{"GET", "/_nodes/stats/jvm", false},
		{"GET", "/_nodes/_local/stats/jvm,breaker,thread_pool", false},
		{"GET", "/_nodes/usage", false},
		{"GET", "/_nodes/node-1/usage/rest_actions", false},
		{"GET", "/_nodes/hot_threads", false},
		{"GET", "/_nodes/node-1/hotthreads", false},
		{"GET", "/_nodes/node-1/http/more", false}, // not a route of RestNodesInfoAction
		{"GET", "/_cat/nodes", false},
		{"GET", "/_cluster/state/nodes", false},
		{"GET", "/logs/_doc/_nodes", false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			if got := isNodesInfo(httptest.NewRequest(tt.method, tt.target, nil)); got != tt.want {
				t.Errorf("isNodesInfo = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRewriteNodesInfo: in a four-node OpenSearch answer (one node publishing
// hostname/ip:port, one with several bound addresses, one without its http section
// yet), every node's HTTP addresses become the proxy's and nothing else changes: the
// layout of ?pretty stays around the new values, as does every other member, in order.
func TestRewriteNodesInfo(t *testing.T) {
	in, err := os.ReadFile("testdata/nodes/opensearch2_all_http_pretty.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, addr string
		body       []byte
	}{
		{"pretty", "127.0.0.1:19200", in},
		{"compact", "fanout.example:9200", compact(t, in)},
		{"ipv6", "[2001:db8::1]:9200", compact(t, in)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := rewriteNodesInfo(tt.body, tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(tt.body, []byte("\n")) && !bytes.HasPrefix(out, []byte("{\n  \"_nodes\" : {\n    \"total\" : 4,")) {
				t.Errorf("the ?pretty layout is lost:\n%s", out)
			}
			var before, after map[string]any
			mustUnmarshal(t, tt.body, &before)
			mustUnmarshal(t, out, &after)
			nodes := after["nodes"].(map[string]any)
			withHTTP := 0
			for id, n := range nodes {
				h, ok := n.(map[string]any)["http"].(map[string]any)
				if !ok {
					continue
				}
				withHTTP++
				if h["publish_address"] != tt.addr {
					t.Errorf("node %s: publish_address %v, want %s", id, h["publish_address"], tt.addr)
				}
				if !reflect.DeepEqual(h["bound_address"], []any{tt.addr}) {
					t.Errorf("node %s: bound_address %v, want [%s]", id, h["bound_address"], tt.addr)
				}
				delete(h, "publish_address")
				delete(h, "bound_address")
			}
			if withHTTP != 3 || len(nodes) != 4 {
				t.Fatalf("want 4 nodes, 3 with http, got %d, %d", len(nodes), withHTTP)
			}
			for _, n := range before["nodes"].(map[string]any) {
				if h, ok := n.(map[string]any)["http"].(map[string]any); ok {
					delete(h, "publish_address")
					delete(h, "bound_address")
				}
			}
			if !reflect.DeepEqual(before, after) {
				t.Errorf("members other than the HTTP addresses changed:\n%s", out)
			}
			if tt.name == "pretty" {
				// byte for byte what the compact answer becomes, once compacted
				want, err := rewriteNodesInfo(compact(t, in), tt.addr)
				if err != nil {
					t.Fatal(err)
				}
				if got := compact(t, out); !bytes.Equal(got, want) {
					t.Errorf("pretty and compact answers rewritten differently:\n%s\n%s", got, want)
				}
			}
		})
	}
}

func TestRewriteNodesInfoShapes(t *testing.T) {
	const addr = "127.0.0.1:1"
	for _, tt := range []struct {
		name, in, want string
	}{
		{"no nodes member (filter_path=_nodes)", `{"_nodes":{"total":1}}`, `{"_nodes":{"total":1}}`},
		{"no node selected", `{"_nodes":{"total":0,"successful":0,"failed":0},"cluster_name":"c","nodes":{}}`,
			`{"_nodes":{"total":0,"successful":0,"failed":0},"cluster_name":"c","nodes":{}}`},
		{"filter_path kept only the publish address", `{"nodes":{"a":{"http":{"publish_address":"10.0.0.5:9200"}}}}`,
			`{"nodes":{"a":{"http":{"publish_address":"127.0.0.1:1"}}}}`},
		{"publish and bound before other members", `{"nodes":{"a":{"http":{"publish_address":"x:1","bound_address":["y:1","z:1"],"max_content_length_in_bytes":1},"name":"n"}},"cluster_name":"c"}`,
			`{"nodes":{"a":{"http":{"publish_address":"127.0.0.1:1","bound_address":["127.0.0.1:1"],"max_content_length_in_bytes":1},"name":"n"}},"cluster_name":"c"}`},
		{"http and nodes of other types left alone", `{"nodes":{"a":{"http":null},"b":"x","c":[{"http":{"publish_address":"q"}}]}}`,
			`{"nodes":{"a":{"http":null},"b":"x","c":[{"http":{"publish_address":"q"}}]}}`},
		{"publish address elsewhere left alone", `{"http":{"publish_address":"10.0.0.5:9200"},"nodes":{"a":{"transport":{"publish_address":"10.0.0.5:9300"}}}}`,
			`{"http":{"publish_address":"10.0.0.5:9200"},"nodes":{"a":{"transport":{"publish_address":"10.0.0.5:9300"}}}}`},
		{"escaped keys and odd values", `{"nodes":{"a\"b":{"http":{"publish_address":12,"bound_address":{"x":1}}}}}`,
			`{"nodes":{"a\"b":{"http":{"publish_address":"127.0.0.1:1","bound_address":["127.0.0.1:1"]}}}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := rewriteNodesInfo([]byte(tt.in), addr)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("got  %s\nwant %s", out, tt.want)
			}
		})
	}
	for _, bad := range []string{``, `{`, `{"nodes":{"a":{"http":{"publish_address":}}}}`, `{"nodes":{}} {}`, `{"nodes":{"a":{"http":{"publish_address":"x"`} {
		if out, err := rewriteNodesInfo([]byte(bad), addr); err == nil {
			t.Errorf("%q: want an error, got %s", bad, out)
		}
	}
}

// FuzzRewriteNodesInfo: the primary's answer is untrusted bytes: the rewrite never
// panics, and what it makes of valid JSON is valid JSON.
func FuzzRewriteNodesInfo(f *testing.F) {
	in, err := os.ReadFile("testdata/nodes/opensearch2_all_http_pretty.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(in)
	f.Add([]byte(`{"nodes":{"a":{"http":{"publish_address":"x","bound_address":["y"]}}}}`))
	f.Add([]byte(`{"nodes":[1,{"http":2}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := rewriteNodesInfo(body, "[::1]:9200")
		if err != nil {
			return
		}
		if json.Valid(body) && !json.Valid(out) {
			t.Fatalf("valid input made invalid output:\n%s\n%s", body, out)
		}
	})
}

func TestValidateAdvertise(t *testing.T) {
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"", true},
		{"127.0.0.1:9200", true},
		{"search.example.com:443", true},
		{"[2001:db8::1]:9200", true},
		{"search.example.com", false},
		{"http://search.example.com:9200", false},
		{":9200", false},
		{"0.0.0.0:9200", false},
		{"[::]:9200", false},
		{"h:0", false},
		{"h:65536", false},
		{"h:http", false},
		{"a/b:9200", false},
	} {
		err := validateAdvertise(tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("%q: error %v, want ok %v", tt.addr, err, tt.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "advertise_address: ") {
			t.Errorf("%q: the error must name the key: %v", tt.addr, err)
		}
	}
}

func compact(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v:\n%s", err, b)
	}
}
