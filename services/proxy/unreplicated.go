package proxy

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Writes the proxy does not replicate. Only the document write APIs publish events
// (routes.go), the by-query APIs the proxy runs itself (byquery.go) and the metadata
// APIs it replicates as state (metaroutes.go); every other request passes through. A request among those that changes the primary (index
// management, an API the proxy has never heard of…) changes the primary only, and the
// targets drift without anyone being told. So each one is counted by route and logged, at most once a minute per
// route, so that an operator learns which writes fanout does not understand.

const (
	// unreplicatedLogEvery is the least time between two log lines of one route.
	unreplicatedLogEvery = time.Minute
	// maxUnreplicatedRoutes bounds the route label's values (and the log state); later
	// routes are counted under unreplicatedOverflow.
	maxUnreplicatedRoutes = 200
	unreplicatedOverflow  = "other"
	// maxRouteSegments is the most path segments a route label shows.
	maxRouteSegments = 6
)

// unreplicatedWrites counts and logs the passed-through requests that look like writes.
type unreplicatedWrites struct {
	count *prometheus.CounterVec // route
	log   *slog.Logger
	now   func() time.Time

	mu     sync.Mutex
	routes map[string]*routeLogState
}

type routeLogState struct {
	last       time.Time // of the last log line
	suppressed int       // requests not logged since
}

func newUnreplicatedWrites(reg prometheus.Registerer, log *slog.Logger, now func() time.Time) *unreplicatedWrites {
	return &unreplicatedWrites{
		count: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_proxy_unreplicated_writes_total",
			Help: "Requests that look like writes (POST, PUT, DELETE or PATCH outside the read APIs) that the proxy passed to the primary without publishing anything, whatever the primary answered, by route (a pattern such as \"POST /{index}/_shrink/{name}\"): what they changed is on the primary only.",
		}, []string{"route"}),
		log:    log,
		now:    now,
		routes: map[string]*routeLogState{},
	}
}

// observe accounts for a request the proxy passed through, answered with status.
func (u *unreplicatedWrites) observe(r *http.Request, status int) {
	route, ok := unreplicatedRoute(r)
	if !ok {
		return
	}
	now := u.now()
	u.mu.Lock()
	st := u.routes[route]
	if st == nil {
		if len(u.routes) >= maxUnreplicatedRoutes {
			route = unreplicatedOverflow
			st = u.routes[route]
		}
		if st == nil {
			st = &routeLogState{}
			u.routes[route] = st
		}
	}
	due := st.last.IsZero() || now.Sub(st.last) >= unreplicatedLogEvery
	suppressed := st.suppressed
	if due {
		st.last, st.suppressed = now, 0
	} else {
		st.suppressed++
	}
	u.mu.Unlock()

	u.count.WithLabelValues(route).Inc()
	if due {
		path := r.URL.Path
		if len(path) > 256 {
			path = path[:256] + "…"
		}
		u.log.Warn("passed a write through to the primary without replicating it: fanout replicates only the document write APIs and the index, alias, template, pipeline and data stream APIs it knows, so the targets do not get what this request changed",
			"route", route, "method", r.Method, "path", path, "status", status,
			"suppressed", suppressed, "log_interval", unreplicatedLogEvery.String())
	}
}

// unreplicatedRoute reports whether a passed-through request looks like a write and its
// route label: the method and a path pattern in which indices, ids and names are
// placeholders, so that the label has few values.
func unreplicatedRoute(r *http.Request) (string, bool) {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch:
	default:
		// GET, HEAD, OPTIONS and TRACE are safe methods (RFC 9110 §9.2.1); the
		// primary answers any other method 405.
		return "", false
	}
	segs := splitPath(r.URL)
	if changesNothing(segs) {
		return "", false
	}
	return r.Method + " " + routePattern(segs), true
}

// readSegments are the API path segments of OpenSearch's (and Elasticsearch's) read
// and search APIs that accept POST or DELETE, wherever they stand in the path, and of
// the maintenance APIs that change no document, mapping or setting (refresh, flush,
// force merge, cache clear): RestSearchAction, RestMultiSearchAction,
// RestSearchTemplateAction (_search/template), RestMultiSearchTemplateAction,
// RestRenderSearchTemplateAction (_render/template), RestCountAction,
// RestMultiGetAction, RestFieldCapabilitiesAction, RestValidateQueryAction
// (_validate/query), RestExplainAction, RestSearchScrollAction and
// RestClearScrollAction (_search/scroll), RestCreatePitAction and RestDeletePitAction
// (_search/point_in_time), RestAnalyzeAction, RestTermVectorsAction,
// RestMultiTermVectorsAction, RestRankEvalAction, RestClusterSearchShardsAction,
// RestSimulatePipelineAction (_simulate), RestSimulateIndexTemplateAction
// (_simulate_index), RestSimulateTemplateAction, RestRefreshAction, RestFlushAction,
// RestForceMergeAction, RestClearIndicesCacheAction (_cache/clear); the SQL, PPL and
// asynchronous search plugins; Elasticsearch's point in time (_pit), async search,
// SQL, EQL, ES|QL (_query), knn search, terms enum and graph explore.
var readSegments = map[string]bool{
	"_search": true, "_msearch": true, "_render": true, "_count": true, "_mget": true,
	"_field_caps": true, "_validate": true, "_explain": true, "_analyze": true,
	"_termvectors": true, "_mtermvectors": true, "_rank_eval": true, "_search_shards": true,
	"_simulate": true, "_simulate_index": true,
	"_refresh": true, "_flush": true, "_forcemerge": true, "_cache": true,
	"_sql": true, "_ppl": true, "_asynchronous_search": true,
	"_pit": true, "_async_search": true, "_eql": true, "_query": true,
	"_knn_search": true, "_terms_enum": true, "_graph": true,
}

// readPrefixes are read APIs named by their leading segments ("*" is any segment):
// PainlessExecuteAction, RestClusterAllocationExplainAction and RestCancelTasksAction
// (cancelling a task changes no data).
var readPrefixes = [][]string{
	{"_scripts", "painless", "_execute"},
	{"_cluster", "allocation", "explain"},
	{"_tasks", "_cancel"},
	{"_tasks", "*", "_cancel"},
}

// writePrefixes are write APIs under a read segment: OpenSearch's search pipelines
// (RestPutSearchPipelineAction, RestDeleteSearchPipelineAction: PUT and DELETE
// /_search/pipeline/{id}).
var writePrefixes = [][]string{{"_search", "pipeline"}}

// changesNothing reports whether a path is one of the read or maintenance APIs.
func changesNothing(segs []string) bool {
	if hasPrefix(segs, writePrefixes) {
		return false
	}
	for _, s := range segs {
		if readSegments[s] {
			return true
		}
	}
	return hasPrefix(segs, readPrefixes)
}

// hasPrefix reports whether segs starts with one of prefixes ("*" is any segment).
func hasPrefix(segs []string, prefixes [][]string) bool {
next:
	for _, pre := range prefixes {
		if len(segs) < len(pre) {
			continue
		}
		for i, s := range pre {
			if s != "*" && s != segs[i] {
				continue next
			}
		}
		return true
	}
	return false
}

// idAfter are the API segments followed by a document id.
var idAfter = map[string]bool{"_doc": true, "_create": true, "_update": true, "_source": true, "_explain": true, "_termvectors": true}

// pathWords are the plain words of API paths (after the first segment) that a route
// label keeps: _cluster/settings, _ingest/pipeline/{id}, _nodes/reload_secure_settings,
// {index}/_block/write, the security plugins' users and roles, ISM policies….
var pathWords = map[string]bool{
	"settings": true, "reroute": true, "voting_config_exclusions": true, "decommission": true,
	"awareness": true, "routing": true, "weights": true, "pipeline": true, "reload_secure_settings": true,
	"write": true, "read": true, "read_only": true, "read_only_allow_delete": true, "metadata": true,
	"user": true, "role": true, "role_mapping": true, "api_key": true, "privilege": true,
	"api": true, "internalusers": true, "roles": true, "rolesmapping": true, "actiongroups": true,
	"tenants": true, "securityconfig": true, "account": true, "nodesdn": true, "allowlist": true, "audit": true,
	"policies": true, "policy": true, "add": true, "remove": true, "change_policy": true, "retry": true,
	"monitors": true, "destinations": true, "detectors": true, "models": true, "painless": true,
}

// routePattern renders path segments as a label: API names (segments starting with
// '_') stay, the first segment otherwise is {index}, the segment after a document API
// is {id}, known API words stay and anything else is {name}; past maxRouteSegments
// the rest is "…".
func routePattern(segs []string) string {
	if len(segs) == 0 {
		return "/"
	}
	var b strings.Builder
	for i, s := range segs {
		if i == maxRouteSegments {
			b.WriteString("/…")
			break
		}
		b.WriteByte('/')
		switch {
		case i > 0 && idAfter[segs[i-1]]:
			b.WriteString("{id}")
		case isAPIName(s):
			b.WriteString(s)
		case i == 0:
			b.WriteString("{index}")
		case pathWords[s]:
			b.WriteString(s)
		default:
			b.WriteString("{name}")
		}
	}
	return b.String()
}

// isAPIName reports whether s looks like an API path segment: '_' and up to 40
// lower-case letters, digits and underscores (so that a label is valid UTF-8 and short).
func isAPIName(s string) bool {
	if len(s) < 2 || len(s) > 41 || s[0] != '_' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
