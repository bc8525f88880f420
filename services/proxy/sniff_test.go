package proxy_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchtransport"

	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/testbed/searchemu/emutest"
)

// hostPort is a URL's host:port.
func hostPort(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Host
}

// withoutHTTPAddresses drops every node's http.publish_address and http.bound_address
// from a nodes info answer, and returns them.
func withoutHTTPAddresses(t *testing.T, body []byte) (map[string]any, []string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("nodes info answer is not JSON: %s", body)
	}
	var addrs []string
	nodes, _ := m["nodes"].(map[string]any)
	for _, n := range nodes {
		h, ok := n.(map[string]any)["http"].(map[string]any)
		if !ok {
			continue
		}
		addrs = append(addrs, h["publish_address"].(string))
		for _, b := range h["bound_address"].([]any) {
			addrs = append(addrs, b.(string))
		}
		delete(h, "publish_address")
		delete(h, "bound_address")
	}
	return m, addrs
}

// TestNodesInfoAdvertisesTheProxy: every form of the nodes info API a sniffing client
// uses answers, through the proxy, with the primary's answer in which the HTTP addresses
// are the proxy's; everything else is as the primary says. The other nodes APIs pass
// through untouched.
func TestNodesInfoAdvertisesTheProxy(t *testing.T) {
	e := startEnv(t, 1)
	proxyAddr := hostPort(t, e.url())
	primaryAddr := hostPort(t, e.primaryURL)
	for _, path := range []string{
		"/_nodes", "/_nodes/http", "/_nodes/_all/http", "/_nodes/_local/http,os",
		"/_nodes/node-*/http?pretty", "/_nodes/_local/info/http", "/_nodes/data:true/http?human",
	} {
		t.Run(path, func(t *testing.T) {
			via := send(t, http.MethodGet, e.url()+path, "")
			direct := send(t, http.MethodGet, e.primaryURL+path, "")
			if via.status != 200 || direct.status != 200 {
				t.Fatalf("through the proxy %d, direct %d: %s", via.status, direct.status, via.body)
			}
			gotRest, got := withoutHTTPAddresses(t, via.body)
			wantRest, want := withoutHTTPAddresses(t, direct.body)
			if len(want) == 0 || want[0] != primaryAddr {
				t.Fatalf("the primary publishes %v, want its own address %s", want, primaryAddr)
			}
			if len(got) != 2 { // the publish address and the one bound address
				t.Errorf("addresses through the proxy %v", got)
			}
			for _, a := range got {
				if a != proxyAddr {
					t.Errorf("through the proxy the node's HTTP address is %s, want the proxy's %s: %s", a, proxyAddr, via.body)
				}
			}
			if !reflect.DeepEqual(gotRest, wantRest) {
				t.Errorf("the rest of the answer differs from the primary's:\n%s\n%s", via.body, direct.body)
			}
			if strings.Contains(path, "pretty") && !strings.Contains(string(via.body), "\n  \"cluster_name\" : ") {
				t.Errorf("?pretty layout lost: %s", via.body)
			}
		})
	}

	t.Run("a client asking for gzip gets the rewritten answer", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, e.url()+"/_nodes/_all/http", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		r := do(t, req)
		if r.status != 200 || r.header.Get("Content-Encoding") != "" {
			t.Fatalf("%d %v", r.status, r.header)
		}
		if _, addrs := withoutHTTPAddresses(t, r.body); len(addrs) != 2 || addrs[0] != proxyAddr {
			t.Errorf("addresses %v, want the proxy's", addrs)
		}
	})

	t.Run("other nodes APIs and errors pass through", func(t *testing.T) {
		for _, path := range []string{"/_nodes/stats", "/_nodes/_local/stats/jvm", "/_nodes/http?bogus=1"} {
			via := send(t, http.MethodGet, e.url()+path, "")
			direct := send(t, http.MethodGet, e.primaryURL+path, "")
			if via.status != direct.status || string(via.body) != string(direct.body) {
				t.Errorf("%s: through the proxy %d %s, direct %d %s", path, via.status, via.body, direct.status, direct.body)
			}
		}
	})

	t.Run("opensearch-go discovers the proxy", func(t *testing.T) {
		cli, err := opensearch.NewClient(opensearch.Config{Addresses: []string{e.url()}, DisableRetry: true, EnableMetrics: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := cli.DiscoverNodes(ctx); err != nil {
			t.Fatalf("DiscoverNodes through the proxy: %v", err)
		}
		m, err := cli.Metrics()
		if err != nil {
			t.Fatal(err)
		}
		var urls []string
		for _, c := range m.Connections {
			switch cm := c.(type) {
			case opensearchtransport.ConnectionMetric:
				urls = append(urls, cm.URL)
			case *opensearchtransport.ConnectionMetric:
				urls = append(urls, cm.URL)
			}
		}
		if len(urls) != 1 || urls[0] != e.url() {
			t.Fatalf("after discovery want one connection to the proxy %s, got %v", e.url(), urls)
		}
	})
}

// TestNodesInfoAdvertiseAddress: a proxy behind a load balancer advertises the address
// it is told to, and a proxy listening on every interface advertises the address the
// client's connection reached, not the wildcard.
func TestNodesInfoAdvertiseAddress(t *testing.T) {
	t.Run("configured", func(t *testing.T) {
		e := startEnv(t, 1, func(c *proxy.Config) { c.AdvertiseAddress = "search.example.com:443" })
		r := send(t, http.MethodGet, e.url()+"/_nodes/_all/http", "")
		if _, addrs := withoutHTTPAddresses(t, r.body); len(addrs) != 2 || addrs[0] != "search.example.com:443" || addrs[1] != addrs[0] {
			t.Errorf("addresses %v, want search.example.com:443: %s", addrs, r.body)
		}
	})
	t.Run("listener on every interface", func(t *testing.T) {
		e := startEnv(t, 0)
		cfg := e.config()
		cfg.MetricsListen = ""
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		var logs syncBuffer
		p, err := proxy.New(cfg, proxy.Deps{Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
			Listener: fakeAddrListener{Listener: ln, addr: &net.TCPAddr{IP: net.IPv4zero, Port: port}}})
		if err != nil {
			t.Fatal(err)
		}
		runUntilServing(t, p, &logs)
		r := send(t, http.MethodGet, "http://"+ln.Addr().String()+"/_nodes/http", "")
		if _, addrs := withoutHTTPAddresses(t, r.body); len(addrs) != 2 || addrs[0] != ln.Addr().String() {
			t.Errorf("addresses %v, want the connection's %s", addrs, ln.Addr())
		}
	})
	t.Run("invalid", func(t *testing.T) {
		cfg := proxy.DefaultConfig()
		cfg.AdvertiseAddress = "0.0.0.0:9200"
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), "advertise_address: ") {
			t.Errorf("want an advertise_address error, got %v", err)
		}
	})
}

// TestNodesInfoFromTheFallback: with the primary down, the fallback's nodes info answer
// is given, pointing at the proxy too.
func TestNodesInfoFromTheFallback(t *testing.T) {
	_, _, fallbackURL := startEmulator(t, "fallback")
	e := startEnv(t, 1, func(c *proxy.Config) { c.Fallback.Endpoints = []string{fallbackURL} })
	e.primary.SetFaults(searchemu.Faults{Down: true})
	r := send(t, http.MethodGet, e.url()+"/_nodes/_all/http", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"cluster_name":"fallback"`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if _, addrs := withoutHTTPAddresses(t, r.body); len(addrs) != 2 || addrs[0] != hostPort(t, e.url()) {
		t.Errorf("addresses %v, want the proxy's", addrs)
	}
	e.primary.SetFaults(searchemu.Faults{})

	// Without a fallback, no answer is a 502 of the proxy's, naming no address.
	e2 := startEnv(t, 1)
	e2.primary.SetFaults(searchemu.Faults{Down: true})
	r = send(t, http.MethodGet, e2.url()+"/_nodes/http", "")
	if r.status != 502 || !strings.Contains(string(r.body), "fanout_primary_exception") || strings.Contains(string(r.body), hostPort(t, e2.primaryURL)) {
		t.Errorf("%d %s", r.status, r.body)
	}
}

// TestPythonElasticsearchClientSniffs: Elastic's Python client 7.17 with sniff_on_start
// (it reads /_nodes/_all/http) in front of an Elasticsearch 7 primary keeps talking to
// the proxy, so what it writes after sniffing is published.
func TestPythonElasticsearchClientSniffs(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import elasticsearch.helpers").Run(); err != nil {
		t.Skip("Debian's python3-elasticsearch is not installed (apt-get install python3-elasticsearch): skipping the Python client test")
	}
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 4))
	primary := emutest.Start(t, "es7", func(o *searchemu.Options) { o.Flavor = searchemu.Elasticsearch7 })
	cfg := proxytest.Config(primary.URL, k.Addrs(), topic)
	cfg.MetricsListen = ""
	p := proxytest.Start(t, cfg, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/python/es_sniff.py")
	cmd.Env = append(os.Environ(), "PROXY_URL="+p.URL(), "DOCS=200")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var got struct {
		Hosts  []string
		OK     int
		Errors int
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("python client said: %s", out)
	}
	if want := []string{hostPort(t, p.URL())}; !reflect.DeepEqual(got.Hosts, want) || got.OK != 200 {
		t.Fatalf("after sniffing the client's hosts are %v (want %v), %d written: %s", got.Hosts, want, got.OK, out)
	}
	if ops := decodeAll(t, k.Consume(t, topic, 200, 20*time.Second)); len(ops) != 200 {
		t.Fatalf("want 200 events of the writes made after sniffing, got %d", len(ops))
	}
}

// TestNodesInfoCompressedPrimary: a primary that compresses answers for clients that
// accept gzip (OpenSearch's http.compression, on by default) still has its nodes info
// rewritten for a client that asks for gzip; other answers pass through compressed.
func TestNodesInfoCompressedPrimary(t *testing.T) {
	e, rec := startRecordedEnv(t)
	rec.setBefore(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			return false
		}
		ans := httptest.NewRecorder()
		e.primary.ServeHTTP(ans, r)
		for k, vs := range ans.Header() {
			w.Header()[k] = vs
		}
		w.Header().Del("Content-Length")
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(ans.Code)
		zw := gzip.NewWriter(w)
		_, _ = zw.Write(ans.Body.Bytes())
		_ = zw.Close()
		return true
	})
	get := func(path string) response {
		req, _ := http.NewRequest(http.MethodGet, e.url()+path, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		return do(t, req)
	}
	if r := get("/_cluster/health"); r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("the primary must compress pass-through answers: %v", r.header)
	}
	r := get("/_nodes/_all/http")
	if r.status != 200 || r.header.Get("Content-Encoding") != "" {
		t.Fatalf("%d %v %q", r.status, r.header, r.body)
	}
	if _, addrs := withoutHTTPAddresses(t, r.body); len(addrs) != 2 || addrs[0] != hostPort(t, e.url()) {
		t.Errorf("addresses %v, want the proxy's", addrs)
	}
}

// TestNodesInfoManyNodes: in front of a three-node cluster (its nodes info answer in
// testdata: one node publishing hostname/ip:port, one cluster-manager-only node), every
// node's address is the proxy's, and opensearch-go, which keys its pool by URL,
// discovers one connection: to the proxy.
func TestNodesInfoManyNodes(t *testing.T) {
	all, err := os.ReadFile("testdata/nodes/opensearch2_all_http_pretty.json")
	if err != nil {
		t.Fatal(err)
	}
	// The fourth node has no http section yet (a node joining): opensearch-go makes an
	// unusable "http://:" connection of it, with or without the proxy.
	var doc map[string]any
	if err := json.Unmarshal(all, &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc["nodes"].(map[string]any), "Zm9vYmFyYmF6cXV4cXV1eA")
	answer, _ := json.Marshal(doc)
	e, rec := startRecordedEnv(t)
	rec.setBefore(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/_nodes/") || strings.Contains(r.URL.Path, "stats") {
			return false
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write(answer)
		return true
	})
	r := send(t, http.MethodGet, e.url()+"/_nodes/http", "")
	_, addrs := withoutHTTPAddresses(t, r.body)
	if len(addrs) != 6 { // three nodes with http: a publish and one bound address each
		t.Fatalf("addresses %v: %s", addrs, r.body)
	}
	for _, a := range addrs {
		if a != hostPort(t, e.url()) {
			t.Fatalf("address %s, want the proxy's: %s", a, r.body)
		}
	}

	cli, err := opensearch.NewClient(opensearch.Config{Addresses: []string{e.url()}, DisableRetry: true, EnableMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cli.DiscoverNodes(ctx); err != nil {
		t.Fatalf("DiscoverNodes through the proxy: %v", err)
	}
	m, err := cli.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, c := range m.Connections {
		switch cm := c.(type) {
		case opensearchtransport.ConnectionMetric:
			urls = append(urls, cm.URL)
		case *opensearchtransport.ConnectionMetric:
			urls = append(urls, cm.URL)
		}
	}
	if len(urls) != 1 || urls[0] != e.url() {
		t.Errorf("connections after discovery %v, want one to the proxy %s", urls, e.url())
	}
}
