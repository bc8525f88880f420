package searchemu

import (
	"strconv"
	"strings"
)

// healthRank orders ClusterHealthStatus values.
var healthRank = map[string]int{"green": 0, "yellow": 1, "red": 2}

// shardStatus is ClusterShardHealth.getShardHealth on one node: the primary is always
// active and replicas never are, so a shard is green only without replicas.
func shardStatus(ix *index) string {
	if ix.k().replicas > 0 {
		return "yellow"
	}
	return "green"
}

// indexHealth is ClusterIndexHealth's status: the worst of its shards (all alike here).
// Closed indices are replicated (since 7.2) and count like open ones.
func indexHealth(ix *index) string { return shardStatus(ix) }

// healthReq is a parsed ClusterHealthRequest (RestClusterHealthAction.fromRequest).
type healthReq struct {
	indices       []string
	opts          indicesOptions
	waitStatus    string
	waitActive    activeShardCount
	hasWaitActive bool
	waitNodes     string
}

func (c *Cluster) parseHealthReq(rq *request) (*healthReq, *esError) {
	h := &healthReq{indices: splitExpr(rq.path["index"])}
	o, err := rq.indicesOpts(optLenientExpandHidden)
	if err != nil {
		return nil, err
	}
	h.opts = o
	if v, ok := rq.query["wait_for_status"]; ok {
		// ClusterHealthStatus.valueOf(upper case)
		switch up := strings.ToUpper(v); up {
		case "GREEN", "YELLOW", "RED":
			h.waitStatus = strings.ToLower(up)
		default:
			return nil, errIllegalArg("No enum constant " + c.javaPackage() + ".cluster.health.ClusterHealthStatus." + up)
		}
	}
	for _, k := range []string{"wait_for_no_relocating_shards", "wait_for_no_initializing_shards"} {
		if _, err := rq.paramBool(k, false); err != nil {
			return nil, err
		}
	}
	if v, ok := rq.query["wait_for_active_shards"]; ok {
		w, err := parseActiveShardCount(v)
		if err != nil {
			return nil, err
		}
		// ClusterHealthRequest turns DEFAULT into NONE; "0" is NONE too.
		h.waitActive, h.hasWaitActive = w, w != 0
	}
	if v, ok := rq.query["wait_for_events"]; ok {
		switch strings.ToUpper(v) {
		case "IMMEDIATE", "URGENT", "HIGH", "NORMAL", "LOW", "LANGUID":
		default:
			return nil, errIllegalArg("No enum constant " + c.javaPackage() + ".common.Priority." + strings.ToUpper(v))
		}
	}
	h.waitNodes = rq.query["wait_for_nodes"]
	return h, nil
}

// javaPackage is the product's root Java package, which enum errors name.
func (c *Cluster) javaPackage() string {
	if c.opts.Flavor.elastic() {
		return "org.elasticsearch"
	}
	return "org.opensearch"
}

// health is one evaluation of ClusterHealthResponse for the emulator's state.
type health struct {
	ixs                           []*index
	status                        string
	primaries, active, unassigned int
	pct                           float64
	ready, waitCount              int
}

// evaluate computes the response and counts the satisfied wait conditions as
// TransportClusterHealthAction.prepareResponse does.
func (c *Cluster) evaluateHealth(h *healthReq) (*health, *esError) {
	out := &health{status: "green"}
	c.mu.RLock()
	defer c.mu.RUnlock()
	ixs, err := c.concreteIndicesLocked(h.indices, h.opts)
	missing := false
	if err != nil {
		if err.typ != typeIndexNotFound {
			return nil, err
		}
		// One of the named indices is missing: the response covers none, status red.
		missing, ixs = true, nil
	}
	out.ixs = ixs
	for _, ix := range ixs {
		k := ix.k()
		out.primaries += k.shards
		out.active += k.shards
		out.unassigned += k.shards * k.replicas
		if healthRank[indexHealth(ix)] > healthRank[out.status] {
			out.status = indexHealth(ix)
		}
	}
	// ClusterStateHealth: 100 when green, else the active share of every shard copy in the
	// routing table (all indices, not only the requested ones).
	out.pct = 100
	if out.status != "green" {
		all, act := 0, 0
		for _, ix := range c.indices {
			k := ix.k()
			all += k.shards * (1 + k.replicas)
			act += k.shards
		}
		if all > 0 {
			out.pct = float64(act) / float64(all) * 100
		}
	}
	if missing {
		out.status = "red"
	}
	if h.waitStatus != "" {
		out.waitCount++
		if healthRank[out.status] <= healthRank[h.waitStatus] {
			out.ready++
		}
	}
	if h.hasWaitActive {
		out.waitCount++
		if h.waitActive == activeAll {
			if out.unassigned == 0 {
				out.ready++
			}
		} else if out.active >= int(h.waitActive) {
			out.ready++
		}
	}
	if len(h.indices) > 0 {
		out.waitCount++
		if _, err := c.concreteIndicesLocked(h.indices, optStrictExpand); err == nil {
			out.ready++
		} else {
			out.status = "red"
		}
	}
	if h.waitNodes != "" {
		out.waitCount++
		if ok, err := nodesMatch(h.waitNodes, 1); err != nil {
			return nil, err
		} else if ok {
			out.ready++
		}
	}
	return out, nil
}

// nodesMatch evaluates wait_for_nodes (">=N", "ge(N)", "<=N", "le(N)", ">N", "gt(N)",
// "<N", "lt(N)" or "N") against n nodes.
func nodesMatch(expr string, n int) (bool, *esError) {
	forms := []struct {
		prefix, suffix string
		ok             func(e int) bool
	}{
		{">=", "", func(e int) bool { return n >= e }}, {"ge(", ")", func(e int) bool { return n >= e }},
		{"<=", "", func(e int) bool { return n <= e }}, {"le(", ")", func(e int) bool { return n <= e }},
		{">", "", func(e int) bool { return n > e }}, {"gt(", ")", func(e int) bool { return n > e }},
		{"<", "", func(e int) bool { return n < e }}, {"lt(", ")", func(e int) bool { return n < e }},
		{"", "", func(e int) bool { return n == e }},
	}
	for _, f := range forms {
		if !strings.HasPrefix(expr, f.prefix) {
			continue
		}
		num := strings.TrimSuffix(strings.TrimPrefix(expr, f.prefix), f.suffix)
		e, err := strconv.Atoi(num)
		if err != nil {
			return false, newErr(400, typeNumberFormat, `For input string: "`+num+`"`, false)
		}
		return f.ok(e), nil
	}
	return false, nil
}

// handleHealth serves GET /_cluster/health[/{index}] (RestClusterHealthAction,
// TransportClusterHealthAction, ClusterHealthResponse.toXContent): the wait_for_*
// conditions are re-evaluated on every index change until they hold or the timeout
// (default 30s) passes; a timed-out answer is 408 with "timed_out":true.
func handleHealth(c *Cluster, rq *request) *response {
	h, err := c.parseHealthReq(rq)
	if err != nil {
		return errResp(err)
	}
	timeout, terr := rq.timeoutParam()
	if terr != nil {
		return errResp(terr)
	}
	var res *health
	var everr *esError
	c.waitFor(rq.ctx, timeout, func() bool {
		res, everr = c.evaluateHealth(h)
		return everr != nil || res.ready == res.waitCount
	})
	if everr != nil {
		return errResp(everr)
	}
	timedOut := res.ready != res.waitCount
	b := []byte(`{"cluster_name":`)
	b = appendJSONString(b, c.opts.Name)
	b = append(b, `,"status":"`...)
	b = append(b, res.status...)
	b = append(b, `","timed_out":`...)
	b = strconv.AppendBool(b, timedOut)
	b = append(b, `,"number_of_nodes":1,"number_of_data_nodes":1`...)
	if !c.opts.Flavor.elastic() {
		b = append(b, `,"discovered_master":true,"discovered_cluster_manager":true`...)
	}
	b = append(b, `,"active_primary_shards":`...)
	b = strconv.AppendInt(b, int64(res.primaries), 10)
	b = append(b, `,"active_shards":`...)
	b = strconv.AppendInt(b, int64(res.active), 10)
	b = append(b, `,"relocating_shards":0,"initializing_shards":0,"unassigned_shards":`...)
	b = strconv.AppendInt(b, int64(res.unassigned), 10)
	b = append(b, `,"delayed_unassigned_shards":0,"number_of_pending_tasks":0,"number_of_in_flight_fetch":0,"task_max_waiting_in_queue_millis":0,"active_shards_percent_as_number":`...)
	b = append(b, javaDouble(res.pct)...)
	// "level" is a response parameter: anything but indices or shards means cluster.
	if lvl := rq.query["level"]; lvl == "indices" || lvl == "shards" {
		b = append(b, `,"indices":{`...)
		for i, ix := range res.ixs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendIndexHealth(b, ix, lvl == "shards")
		}
		b = append(b, '}')
	}
	b = append(b, '}')
	code := 200
	if timedOut {
		code = 408
	}
	return jsonResp(code, b)
}

// appendIndexHealth renders ClusterIndexHealth (and, at level=shards, its
// ClusterShardHealth entries, one per shard of the index's number_of_shards).
func appendIndexHealth(b []byte, ix *index, shards bool) []byte {
	k := ix.k()
	b = appendJSONString(b, ix.name)
	b = append(b, `:{"status":"`...)
	b = append(b, indexHealth(ix)...)
	b = append(b, `","number_of_shards":`...)
	b = strconv.AppendInt(b, int64(k.shards), 10)
	b = append(b, `,"number_of_replicas":`...)
	b = strconv.AppendInt(b, int64(k.replicas), 10)
	b = append(b, `,"active_primary_shards":`...)
	b = strconv.AppendInt(b, int64(k.shards), 10)
	b = append(b, `,"active_shards":`...)
	b = strconv.AppendInt(b, int64(k.shards), 10)
	b = append(b, `,"relocating_shards":0,"initializing_shards":0,"unassigned_shards":`...)
	b = strconv.AppendInt(b, int64(k.shards*k.replicas), 10)
	if shards {
		b = append(b, `,"shards":{`...)
		for s := 0; s < k.shards; s++ {
			if s > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = strconv.AppendInt(b, int64(s), 10)
			b = append(b, `":{"status":"`...)
			b = append(b, shardStatus(ix)...)
			b = append(b, `","primary_active":true,"active_shards":1,"relocating_shards":0,"initializing_shards":0,"unassigned_shards":`...)
			b = strconv.AppendInt(b, int64(k.replicas), 10)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}
