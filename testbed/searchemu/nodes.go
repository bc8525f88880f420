package searchemu

import (
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/fanout-dev/fanout/pkg/glob"
)

// The nodes info API (GET /_nodes…), enough for sniffing clients: opensearch-go's
// DiscoverNodes, opensearch-js's and elasticsearch-py's sniffers read the nodes map, each
// node's roles, attributes and http.publish_address.
//
// Routes and the nodeId/metrics disambiguation follow OpenSearch
// server/src/main/java/org/opensearch/rest/action/admin/cluster/RestNodesInfoAction.java;
// the body follows RestActions.NodesResponseRestListener (the "_nodes" header and
// cluster_name) and NodesInfoResponse.toXContent (the node members and their order).
// Node selection is DiscoveryNodes.resolveNodes. The Elasticsearch flavours follow
// elastic/elasticsearch's NodesInfoResponse of the 8.x line stored for reference (the
// same members plus build_flavor; later 8.x releases add transport_version,
// index_version and component_versions, which are not rendered). Of the info sections the emulator
// renders http, transport and os; the others it has nothing true to say about (settings,
// process, jvm, thread_pool, plugins, ingest, aggregations, indices, search_pipelines)
// are left out even when asked for.

// nodeMetrics is NodesInfoRequest.Metric.allMetrics.
var nodeMetrics = map[string]bool{
	"settings": true, "os": true, "process": true, "jvm": true, "thread_pool": true, "transport": true,
	"http": true, "plugins": true, "ingest": true, "aggregations": true, "indices": true, "search_pipelines": true,
}

// handleNodesInfo serves GET /_nodes, /_nodes/{node_id}, /_nodes/{node_id}/{metric} and
// /_nodes/{node_id}/info/{metric}.
func handleNodesInfo(c *Cluster, rq *request) *response {
	nodeParam, hasNode := rq.path["node_id"]
	metricParam, hasMetric := rq.path["metric"]
	var nodeIDs []string
	metrics := map[string]bool{}
	if hasNode && !hasMetric {
		// /_nodes/http: the segment is metrics when every token is one, else node ids
		toks := splitComma(nodeParam)
		allMetrics := true
		for _, t := range toks {
			if !nodeMetrics[t] {
				allMetrics = false
			}
		}
		if allMetrics {
			nodeIDs = []string{"_all"}
			for _, t := range toks {
				metrics[t] = true
			}
		} else {
			nodeIDs = toks
			metrics["_all"] = true
		}
	} else {
		nodeIDs = splitComma(nodeParam)
		if len(nodeIDs) == 0 {
			nodeIDs = []string{"_all"}
		}
		if !hasMetric {
			metricParam = "_all"
		}
		for _, t := range splitComma(metricParam) {
			metrics[t] = true
		}
	}
	all := len(metrics) == 1 && metrics["_all"]
	want := func(m string) bool { return all || metrics[m] } // unknown metrics are disregarded

	n := c.localNode(rq)
	selected := n.matches(nodeIDs)
	human, _ := rq.paramBool("human", false)

	b := []byte(`{"_nodes":{"total":`)
	count := 0
	if selected {
		count = 1
	}
	b = strconv.AppendInt(b, int64(count), 10)
	b = append(b, `,"successful":`...)
	b = strconv.AppendInt(b, int64(count), 10)
	b = append(b, `,"failed":0},"cluster_name":`...)
	b = appendJSONString(b, c.opts.Name)
	b = append(b, `,"nodes":{`...)
	if selected {
		b = appendJSONString(b, n.id)
		b = append(b, ':')
		b = c.appendNodeInfo(b, n, want, human)
	}
	b = append(b, `}}`...)
	return jsonResp(200, b)
}

// nodeInfo is this cluster's one node as DiscoveryNode describes it.
type nodeInfo struct {
	id, name    string
	host, ip    string
	httpPublish string
	httpBound   []string
	transport   string
	roles       []string
	attrs       [][2]string
	// managerAlias is OpenSearch's "_cluster_manager" (Elasticsearch knows only _master).
	managerAlias string
}

// localNode describes the node. Its HTTP publish address is the address the request
// reached (the Server's listening socket), so a sniffing client that replaces its seed
// with the published address keeps talking to this server.
func (c *Cluster) localNode(rq *request) nodeInfo {
	bound := c.serverAddrs()
	publish := rq.local
	if publish == "" && len(bound) > 0 {
		publish = bound[0]
	}
	if publish == "" {
		publish = "127.0.0.1:9200"
	}
	if len(bound) == 0 {
		bound = []string{publish}
	}
	host, _, err := net.SplitHostPort(publish)
	if err != nil {
		host = publish
	}
	n := nodeInfo{
		id: c.nodeID, name: c.nodeName,
		host: host, ip: host,
		httpPublish: publish, httpBound: bound,
		transport: net.JoinHostPort(host, "9300"),
		roles:     c.nodeRoles(),
		attrs:     c.nodeAttributes(),
	}
	if !c.opts.Flavor.elastic() && c.opts.Flavor != OpenSearch1 {
		n.managerAlias = "_cluster_manager"
	}
	return n
}

// serverAddrs lists the addresses the cluster's servers listen on, sorted.
func (c *Cluster) serverAddrs() []string {
	c.srvMu.Lock()
	defer c.srvMu.Unlock()
	out := make([]string, 0, len(c.servers))
	for s := range c.servers {
		out = append(out, s.addr)
	}
	slices.Sort(out)
	return out
}

// nodeRoles are a default node's roles, sorted by name as DiscoveryNode keeps them:
// OpenSearch 2 and 3 name the manager role cluster_manager (OpenSearch 1 still master),
// Elasticsearch 7.10 and 8 add the data tiers, ml and transform of the default
// distribution.
func (c *Cluster) nodeRoles() []string {
	switch c.opts.Flavor {
	case Elasticsearch7:
		return []string{"data", "data_cold", "data_content", "data_hot", "data_warm", "ingest", "master", "ml", "remote_cluster_client", "transform"}
	case Elasticsearch8:
		return []string{"data", "data_cold", "data_content", "data_frozen", "data_hot", "data_warm", "ingest", "master", "ml", "remote_cluster_client", "transform"}
	case OpenSearch1:
		return []string{"data", "ingest", "master", "remote_cluster_client"}
	}
	return []string{"cluster_manager", "data", "ingest", "remote_cluster_client"}
}

// nodeAttributes are a default node's attributes: OpenSearch sets
// shard_indexing_pressure_enabled, Elasticsearch's default distribution its x-pack and
// machine learning attributes.
func (c *Cluster) nodeAttributes() [][2]string {
	switch c.opts.Flavor {
	case Elasticsearch7:
		return [][2]string{{"ml.machine_memory", "17179869184"}, {"xpack.installed", "true"}, {"transform.node", "true"}, {"ml.max_open_jobs", "20"}}
	case Elasticsearch8:
		return [][2]string{{"ml.machine_memory", "17179869184"}, {"ml.allocated_processors", "8"}, {"xpack.installed", "true"}, {"ml.max_jvm_size", "8589934592"}}
	}
	return [][2]string{{"shard_indexing_pressure_enabled", "true"}}
}

// matches is DiscoveryNodes.resolveNodes for a one-node cluster: _all, _local, the
// manager alias, the id, simple wildcards on the name, host address and host name, and
// role:bool or attribute:value filters, applied in order (a role filter adds or removes
// the nodes having the role and leaves the others alone).
func (n nodeInfo) matches(ids []string) bool {
	hasRole := func(r string) bool {
		if r == "master" || r == "cluster_manager" {
			return slices.Contains(n.roles, "master") || slices.Contains(n.roles, "cluster_manager")
		}
		return slices.Contains(n.roles, r)
	}
	in := false
	for _, id := range ids {
		switch {
		case id == "_local", id == "_master", id == n.managerAlias, id == n.id:
			in = true
			continue
		case id == "_all", glob.Match(id, n.name), glob.Match(id, n.ip), glob.Match(id, n.host):
			in = true
		}
		k, v, ok := strings.Cut(id, ":")
		if !ok || k == "coordinating_only" { // this node has roles: never coordinating-only
			continue
		}
		if hasRole(k) || k == "data" || k == "ingest" || k == "master" || k == "cluster_manager" {
			if hasRole(k) {
				in = v != "false" // Booleans.parseBoolean(value, true)
			}
			continue
		}
		for _, a := range n.attrs {
			if glob.Match(k, a[0]) && glob.Match(v, a[1]) {
				in = true
			}
		}
	}
	return in
}

// appendNodeInfo writes one node of NodesInfoResponse.toXContent.
func (c *Cluster) appendNodeInfo(b []byte, n nodeInfo, want func(string) bool, human bool) []byte {
	p := c.product()
	b = append(b, `{"name":`...)
	b = appendJSONString(b, n.name)
	b = append(b, `,"transport_address":`...)
	b = appendJSONString(b, n.transport)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, n.host)
	b = append(b, `,"ip":`...)
	b = appendJSONString(b, n.ip)
	b = append(b, `,"version":`...)
	b = appendJSONString(b, p.number)
	if p.buildFlavor != "" {
		b = append(b, `,"build_flavor":`...)
		b = appendJSONString(b, p.buildFlavor)
	}
	b = append(b, `,"build_type":`...)
	b = appendJSONString(b, p.buildType)
	b = append(b, `,"build_hash":`...)
	b = appendJSONString(b, p.buildHash)
	b = append(b, `,"roles":[`...)
	for i, r := range n.roles {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, r)
	}
	b = append(b, ']')
	if len(n.attrs) > 0 {
		b = append(b, `,"attributes":{`...)
		for i, a := range n.attrs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, a[0])
			b = append(b, ':')
			b = appendJSONString(b, a[1])
		}
		b = append(b, '}')
	}
	if want("os") {
		// OsInfo.toXContent
		procs := int64(runtime.NumCPU())
		b = append(b, `,"os":{"refresh_interval_in_millis":1000,"name":"Linux","pretty_name":"Linux","arch":`...)
		b = appendJSONString(b, runtime.GOARCH)
		b = append(b, `,"version":"6.0.0","available_processors":`...)
		b = strconv.AppendInt(b, procs, 10)
		b = append(b, `,"allocated_processors":`...)
		b = strconv.AppendInt(b, procs, 10)
		b = append(b, '}')
	}
	if want("transport") {
		// TransportInfo.toXContent; the emulator has no transport layer, the address is
		// the default port on the HTTP host
		b = append(b, `,"transport":{"bound_address":[`...)
		b = appendJSONString(b, n.transport)
		b = append(b, `],"publish_address":`...)
		b = appendJSONString(b, n.transport)
		b = append(b, `,"profiles":{}}`...)
	}
	if want("http") {
		// HttpInfo.toXContent
		b = append(b, `,"http":{"bound_address":[`...)
		for i, a := range n.httpBound {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, a)
		}
		b = append(b, `],"publish_address":`...)
		b = appendJSONString(b, n.httpPublish)
		if human {
			b = append(b, `,"max_content_length":`...)
			b = appendJSONString(b, humanBytes(c.maxBody))
		}
		b = append(b, `,"max_content_length_in_bytes":`...)
		b = strconv.AppendInt(b, c.maxBody, 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// handleNodesUnsupported answers the nodes stats, usage and hot threads APIs
// (RestNodesStatsAction, RestNodesUsageAction, RestNodesHotThreadsAction), which the
// emulator has nothing true to report for.
func handleNodesUnsupported(api string) handlerFunc {
	return func(c *Cluster, rq *request) *response {
		return errResp(errIllegalArg("[searchemu] the nodes " + api + " API is not supported by the emulator"))
	}
}
