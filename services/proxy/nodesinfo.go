package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Sniffing through the proxy. A client with sniffing on (opensearch-js sniffOnStart,
// elasticsearch-py sniff_on_start, opensearch-go DiscoverNodes) asks GET /_nodes/…/http
// and replaces its seed with every node's http.publish_address: answered by the primary
// as it is, that sends the client's writes straight to the primary, around the proxy, and
// nothing it writes after sniffing is replicated. The proxy therefore answers the nodes
// info API with the primary's answer in which every node's HTTP address is the proxy's
// own.
//
// Every node is kept, each pointing at the proxy, rather than the list collapsed to one
// entry: clients choose among the nodes by their roles (opensearch-js's default filter
// drops cluster-manager-only nodes, elasticsearch-py's drops master-only ones), so a
// collapsed list could leave a client with no node at all, and the node ids, roles and
// attributes stay true. A client then holds one connection (pool) per node, all to the
// proxy, which is harmless: opensearch-js (3.x) and elasticsearch-py (7.17) make one
// connection per node, opensearch-go (4.8) keys its pool by URL and makes one in all. The node's own host, ip and transport addresses are left
// alone: no client connects to them over HTTP, and node filters such as
// /_nodes/10.0.0.5/http keep naming the primary's nodes.

// maxNodesInfoBytes bounds the nodes info answer the proxy reads to rewrite it: about
// 50 KiB a node with every metric, so a thousand nodes; sniffers ask for http only,
// about 1 KiB a node.
const maxNodesInfoBytes = 64 << 20

// nodesInfoOthers are the literal second or third segments of the other nodes APIs
// (RestNodesStatsAction, RestNodesUsageAction, RestNodesHotThreadsAction,
// RestReloadSecureSettingsAction): PathTrie prefers them to RestNodesInfoAction's
// {nodeId} and {metrics} wildcards.
var nodesInfoOthers = map[string]bool{"stats": true, "usage": true, "hot_threads": true, "hotthreads": true, "reload_secure_settings": true}

// isNodesInfo reports whether r is a nodes info request: GET /_nodes, /_nodes/{nodeId},
// /_nodes/{nodeId}/{metrics} or /_nodes/{nodeId}/info/{metrics}, the routes of
// OpenSearch's RestNodesInfoAction (server/.../rest/action/admin/cluster/
// RestNodesInfoAction.java), which /_nodes/http and /_nodes/_all/http match.
func isNodesInfo(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	segs := splitPath(r.URL)
	if len(segs) == 0 || len(segs) > 4 || segs[0] != "_nodes" {
		return false
	}
	if len(segs) == 4 && segs[2] != "info" {
		return false
	}
	for _, s := range segs[1:min(len(segs), 3)] {
		if nodesInfoOthers[s] {
			return false
		}
	}
	return true
}

// serveNodesInfo answers a nodes info request with the primary's (or, for a read the
// primary cannot serve, the fallback's) answer, every node's http.publish_address and
// http.bound_address replaced by the proxy's advertised address.
func (p *Proxy) serveNodesInfo(w http.ResponseWriter, r *http.Request, rt route) {
	// The answer must be read as JSON: the client's Accept-Encoding is not passed on,
	// so that the cluster answers plain or the transport decompresses.
	out := r.Clone(r.Context())
	out.Header.Del("Accept-Encoding")
	resp, ok := p.streamWithFailover(w, out, rt, nil, "a nodes info request")
	if !ok {
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxNodesInfoBytes+1))
	if err != nil {
		p.log.Warn("reading the cluster's nodes info answer", "path", r.URL.Path, "error", err)
		writeError(w, r, http.StatusBadGateway, errPrimary, "the cluster's nodes info answer could not be read: "+err.Error())
		return
	}
	if len(body) > maxNodesInfoBytes {
		// Passed on as it is, it would send sniffing clients around the proxy.
		writeError(w, r, http.StatusBadGateway, errPrimary, fmt.Sprintf(
			"the cluster's nodes info answer is larger than [%d] bytes, which fanout-proxy reads to put its own address in; ask for fewer metrics (/_nodes/http)", maxNodesInfoBytes))
		return
	}
	if resp.StatusCode == http.StatusOK && isJSON(resp.Header.Get("Content-Type")) {
		rewritten, err := rewriteNodesInfo(body, p.advertisedAddr(r))
		if err != nil {
			p.log.Warn("cannot put the proxy's address in the nodes info answer", "path", r.URL.Path, "error", err)
			writeError(w, r, http.StatusBadGateway, errPrimary, "the cluster's nodes info answer is not the JSON fanout-proxy expects: "+err.Error())
			return
		}
		body = rewritten
	}
	// Other formats (format=yaml, cbor, smile) go back as they are: no sniffer asks
	// for them. Error answers carry no node addresses.
	copyHeaders(w.Header(), resp.Header)
	writeBody(w, r, resp.StatusCode, body)
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// advertisedAddr is the host:port the proxy gives clients as every node's HTTP
// address: advertise_address when set (a proxy behind a load balancer or a port
// mapping), else the address the client's connection reached, which is the listener's
// address, or for a listener on every interface the interface the client came in on.
func (p *Proxy) advertisedAddr(r *http.Request) string {
	if p.cfg.AdvertiseAddress != "" {
		return p.cfg.AdvertiseAddress
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && a != nil {
		return a.String()
	}
	return p.ln.Addr().String()
}

// validateAdvertise checks advertise_address: a host and port clients can connect to.
func validateAdvertise(addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("advertise_address: want host:port (e.g. search.example.com:9200 or [2001:db8::1]:9200), got %q: %w", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("advertise_address: port must be 1-65535, got %q", port)
	}
	if host == "" || strings.ContainsAny(host, "/ ") {
		return fmt.Errorf("advertise_address: want a host name or IP address clients can reach, got %q", host)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("advertise_address: %s is not an address clients can connect to; name the proxy's (or its load balancer's) address", host)
	}
	return nil
}

// rewriteNodesInfo puts addr as http.publish_address and the only http.bound_address of
// every node of a NodesInfoResponse ({"_nodes":…,"cluster_name":…,"nodes":{id:{…,"http":
// {"bound_address":[…],"publish_address":…}}}}), changing no other byte: member order and
// the layout of ?pretty answers stay. addr is written as host:port, which every client
// parses (OpenSearch writes hostname/ip:port when its publish host is a name;
// opensearch-js, opensearch-go, elasticsearch-py and the Java sniffer take the part
// before the slash as the host, and a plain host:port as it is). An answer without
// nodes (filter_path) is returned as it is.
func rewriteNodesInfo(body []byte, addr string) ([]byte, error) {
	publish, _ := json.Marshal(addr)
	bound := append(append([]byte{'['}, publish...), ']')
	var edits []edit
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	err := walkObject(d, func(key string) error {
		if key != "nodes" {
			return skipValue(d)
		}
		return walkObject(d, func(string) error { // one member per node id
			return walkObject(d, func(key string) error {
				if key != "http" {
					return skipValue(d)
				}
				return walkObject(d, func(key string) error {
					var with []byte
					switch key {
					case "publish_address":
						with = publish
					case "bound_address":
						with = bound
					default:
						return skipValue(d)
					}
					var raw json.RawMessage
					if err := d.Decode(&raw); err != nil {
						return err
					}
					end := int(d.InputOffset())
					edits = append(edits, edit{start: end - len(raw), end: end, with: with})
					return nil
				})
			})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("parsing the nodes info answer: %w", err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("parsing the nodes info answer: data after the top-level object")
	}
	return applyEdits(body, edits), nil
}

// walkObject reads one JSON object from d, calling member for each key with d
// positioned at the member's value, which member must consume. A value that is not an
// object (null, a string…) is consumed and walked as empty.
func walkObject(d *json.Decoder, member func(key string) error) error {
	tok, err := d.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		if tok == json.Delim('[') {
			return skipRest(d)
		}
		return nil
	}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("object key is %v", tok)
		}
		if err := member(key); err != nil {
			return err
		}
	}
	_, err = d.Token() // '}'
	return err
}

// skipValue consumes one value.
func skipValue(d *json.Decoder) error {
	var raw json.RawMessage
	return d.Decode(&raw)
}

// skipRest consumes what is left of an array whose '[' was read.
func skipRest(d *json.Decoder) error {
	for d.More() {
		if err := skipValue(d); err != nil {
			return err
		}
	}
	_, err := d.Token() // ']'
	return err
}
