package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/pkg/filterpath"
)

// The by-query APIs (_delete_by_query, _update_by_query, _reindex) are not forwarded:
// the proxy runs them itself (byquery.go), so it reads their parameters as the
// primary's REST handlers do (modules/reindex: AbstractBaseReindexRestHandler,
// AbstractBulkByQueryRestHandler, RestDeleteByQueryAction, RestUpdateByQueryAction,
// RestReindexAction; AbstractBulkByScrollRequest.validate) and refuses, before anything
// is written, what the primary would refuse and what the proxy cannot replicate.

// byQueryKind is one of the three APIs.
type byQueryKind int

const (
	deleteByQuery byQueryKind = iota + 1
	updateByQuery
	reindexAPI
)

func (k byQueryKind) String() string {
	switch k {
	case deleteByQuery:
		return "delete_by_query"
	case updateByQuery:
		return "update_by_query"
	}
	return "reindex"
}

// api is the API's name as a client writes it.
func (k byQueryKind) api() string { return "_" + k.String() }

const (
	defaultScrollSize = 1000 // AbstractBulkByScrollRequest.DEFAULT_SCROLL_SIZE
	defaultScroll     = "5m" // AbstractBulkByScrollRequest.DEFAULT_SCROLL_TIMEOUT
)

// byQueryJob is a by-query request as the proxy runs it.
type byQueryJob struct {
	kind byQueryKind
	// indices is the index expression searched (the path's, or reindex's source.index).
	indices string
	// search is the query string of the search: what the client gave that the search
	// accepts.
	search url.Values
	// searchBody is the search's body (the request body less what the by-query API
	// consumes), with the proxy's own members set.
	searchBody []byte
	maxDocs    int64 // -1: all matches
	abort      bool  // conflicts=abort (the default)
	refresh    bool
	scroll     string
	scrollSize int
	rps        float64 // requests_per_second; +Inf is unthrottled
	// bulk is the query string of every bulk: timeout, wait_for_active_shards.
	bulk url.Values
	// script is update-by-query's script, run by the primary as an update's.
	script   json.RawMessage
	pipeline string // update-by-query's pipeline parameter
	dest     reindexDest
	filter   filterpath.Filter
}

// reindexDest is reindex's dest object.
type reindexDest struct {
	index, opType, pipeline, versionType string
	routing                              string // keep, discard or =value
	requireAlias                         bool
}

// clientErr is a request the proxy refuses before anything is written.
type clientErr struct {
	status int
	typ    string
	reason string
}

func (e *clientErr) Error() string { return e.reason }

func illegalArg(format string, args ...any) *clientErr {
	return &clientErr{status: http.StatusBadRequest, typ: "illegal_argument_exception", reason: fmt.Sprintf(format, args...)}
}

func validationErr(msgs ...string) *clientErr {
	var b strings.Builder
	b.WriteString("Validation Failed: ")
	for i, m := range msgs {
		fmt.Fprintf(&b, "%d: %s;", i+1, m)
	}
	return &clientErr{status: http.StatusBadRequest, typ: "action_request_validation_exception", reason: b.String()}
}

// Parameters the APIs accept (rest-api-spec delete_by_query.json, update_by_query.json,
// reindex.json) besides the ones every API accepts.
var (
	commonParams = []string{"pretty", "human", "error_trace", "filter_path", "source", "source_content_type"}
	// searchPassed go to the search as they came.
	searchPassed = []string{"analyzer", "analyze_wildcard", "default_operator", "df", "lenient", "q", "routing",
		"expand_wildcards", "ignore_unavailable", "allow_no_indices", "preference", "search_type", "request_cache",
		"stats", "terminate_after", "sort", "_source", "_source_excludes", "_source_includes"}
	byQueryOwn = []string{"from", "size", "conflicts", "max_docs", "scroll", "search_timeout", "version", "refresh", "timeout",
		"wait_for_active_shards", "scroll_size", "wait_for_completion", "requests_per_second", "slices"}
	reindexOwn = []string{"refresh", "timeout", "wait_for_active_shards", "wait_for_completion", "requests_per_second",
		"scroll", "slices", "max_docs", "require_alias"}
)

func allowedParams(k byQueryKind) []string {
	out := append([]string(nil), commonParams...)
	switch k {
	case reindexAPI:
		out = append(out, reindexOwn...)
		// RestReindexAction refuses pipeline with a reason of its own (below).
		out = append(out, "pipeline")
	default:
		out = append(append(out, searchPassed...), byQueryOwn...)
		if k == updateByQuery {
			out = append(out, "pipeline", "version_type")
		}
	}
	return out
}

// parseByQuery reads a by-query request: path is the request's path (for messages),
// indices the path's index expression ("" for reindex).
func parseByQuery(r *http.Request, k byQueryKind, indices string, body []byte) (*byQueryJob, *clientErr) {
	q, err := restQuery(r.URL.RawQuery)
	if err != nil {
		return nil, illegalArg("%s", err.Error())
	}
	allowed := allowedParams(k)
	var unknown []string
	for key := range q {
		if !contains(allowed, key) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		word := "parameter"
		if len(unknown) > 1 {
			word = "parameters"
		}
		return nil, illegalArg("request [%s] contains unrecognized %s: [%s]", r.URL.Path, word, strings.Join(unknown, "], ["))
	}
	job := &byQueryJob{kind: k, indices: indices, search: url.Values{}, bulk: url.Values{}, maxDocs: -1, abort: true,
		scroll: defaultScroll, scrollSize: defaultScrollSize, rps: math.Inf(1), filter: filterpath.Parse(q.Get("filter_path"))}
	if len(bytes.TrimSpace(body)) == 0 && q.Has("source") {
		body = []byte(q.Get("source"))
	}
	if ce := job.commonOptions(q); ce != nil {
		return nil, ce
	}
	members, ce := bodyMembers(body)
	if ce != nil {
		return nil, ce
	}
	if k == reindexAPI {
		ce = job.reindexBody(q, members)
	} else {
		ce = job.byQueryBody(q, members)
	}
	if ce != nil {
		return nil, ce
	}
	// setCommonOptions reads max_docs after the body (and the size parameter).
	if q.Has("max_docs") {
		n, ce := paramInt(q, "max_docs")
		if ce != nil {
			return nil, ce
		}
		if ce := job.setMaxDocs(n); ce != nil {
			return nil, ce
		}
	}
	if job.maxDocs == 0 {
		return nil, validationErr("maxDocs should be greater than 0 if the request is limited to some number of documents or -1 if it isn't but it was [0]")
	}
	return job, nil
}

// commonOptions reads what AbstractBaseReindexRestHandler.setCommonOptions reads, and
// refuses what the proxy does not run.
func (j *byQueryJob) commonOptions(q url.Values) *clientErr {
	if q.Has("wait_for_completion") {
		b, ce := paramBool(q, "wait_for_completion")
		if ce != nil {
			return ce
		}
		if !b {
			return illegalArg("fanout runs %s synchronously through the proxy, which replicates every document it changes: "+
				"[wait_for_completion=false] would need a task the proxy does not run; send the request with wait_for_completion=true "+
				"(the default) and a client timeout long enough for it", j.kind.api())
		}
	}
	if q.Has("refresh") {
		b, ce := paramBool(q, "refresh")
		if ce != nil {
			return ce
		}
		j.refresh = b
	}
	if v := q.Get("timeout"); q.Has("timeout") {
		if _, err := parseTimeValue(v); err != nil {
			return illegalArg("failed to parse setting [timeout] with value [%s] as a time value: %s", v, err)
		}
		j.bulk.Set("timeout", v)
	}
	if q.Has("wait_for_active_shards") {
		j.bulk.Set("wait_for_active_shards", q.Get("wait_for_active_shards"))
	}
	if q.Has("slices") {
		s := q.Get("slices")
		if s != "auto" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return illegalArg(`[slices] must be a positive integer or the string "auto", but was [%s]`, s)
			}
			if n > 1 {
				return illegalArg("fanout runs %s as one slice: [slices=%d] is not supported through the proxy; use slices=1 or slices=auto", j.kind.api(), n)
			}
		}
	}
	if q.Has("requests_per_second") {
		s := q.Get("requests_per_second")
		f, err := strconv.ParseFloat(s, 32)
		switch {
		case err != nil:
			return illegalArg("[requests_per_second] must be a float greater than 0. Use -1 to disable throttling.")
		case f == -1:
		case f <= 0:
			return illegalArg("[requests_per_second] must be a float greater than 0. Use -1 to disable throttling.")
		default:
			j.rps = f
		}
	}
	if q.Has("scroll") {
		s := q.Get("scroll")
		if _, err := parseTimeValue(s); err != nil {
			return illegalArg("failed to parse setting [scroll] with value [%s] as a time value: %s", s, err)
		}
		j.scroll = s
	}
	return nil
}

// setMaxDocs is AbstractBaseReindexRestHandler.setMaxDocsValidateIdentical with
// AbstractBulkByScrollRequest.setMaxDocs.
func (j *byQueryJob) setMaxDocs(n int64) *clientErr {
	if j.maxDocs != -1 && j.maxDocs != n {
		return illegalArg("[max_docs] set to two different values [%d] and [%d]", j.maxDocs, n)
	}
	if n < 0 {
		return illegalArg("[max_docs] parameter cannot be negative, found [%d]", n)
	}
	j.maxDocs = n
	return nil
}

// bodyMembers decodes the body's top-level members, in order; an empty body has none.
func bodyMembers(body []byte) ([]member, *clientErr) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	ms, err := objectMembers(body)
	if err != nil {
		return nil, &clientErr{status: http.StatusBadRequest, typ: "parse_exception", reason: "request body is required to be a JSON object: " + err.Error()}
	}
	return ms, nil
}

// member is one member of a JSON object.
type member struct {
	key string
	val json.RawMessage
}

func objectMembers(b []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil {
		return nil, err
	} else if t != json.Delim('{') {
		return nil, fmt.Errorf("expected an object")
	}
	var out []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the object")
	}
	return out, nil
}

// byQueryBody reads a delete- or update-by-query body: a search body with conflicts,
// max_docs (and the deprecated size) and, for update-by-query, script.
func (j *byQueryJob) byQueryBody(q url.Values, members []member) *clientErr {
	var search []member
	var fromSet, storedFields bool
	for _, m := range members {
		switch m.key {
		case "conflicts":
			var s string
			if json.Unmarshal(m.val, &s) != nil {
				return illegalArg("[conflicts] must be a string")
			}
			if ce := j.setConflicts(s); ce != nil {
				return ce
			}
		case "max_docs":
			n, ok := jsonInt(m.val)
			if !ok {
				return illegalArg("[max_docs] must be a number")
			}
			if ce := j.setMaxDocs(n); ce != nil {
				return ce
			}
		case "script":
			if j.kind != updateByQuery {
				search = append(search, m) // the search's own script member: its to refuse
				continue
			}
			if string(m.val) != "null" {
				j.script = m.val
			}
		case "size":
			// The search's own size: the batch size, unless scroll_size says
			// (AbstractBulkByQueryRestHandler.parseInternalRequest).
			n, ok := jsonInt(m.val)
			if !ok {
				return illegalArg("[size] must be a number")
			}
			j.scrollSize = int(n)
		case "from":
			fromSet = true
		case "stored_fields":
			storedFields = true
		case "version", "seq_no_primary_term":
			// The proxy asks for both.
		default:
			search = append(search, m)
		}
	}
	if q.Has("conflicts") {
		if ce := j.setConflicts(q.Get("conflicts")); ce != nil {
			return ce
		}
	}
	if q.Has("from") {
		fromSet = true
	}
	if q.Has("size") {
		// RestSearchAction.parseSearchRequest hands the size parameter (not the body's)
		// to the by-query request as max_docs.
		n, ce := paramInt(q, "size")
		if ce != nil {
			return ce
		}
		if ce := j.setMaxDocs(n); ce != nil {
			return ce
		}
	}
	if q.Has("scroll_size") {
		n, ce := paramInt(q, "scroll_size")
		if ce != nil {
			return ce
		}
		j.scrollSize = int(n)
	}
	var msgs []string
	if fromSet {
		msgs = append(msgs, "from is not supported in this context")
	}
	if storedFields || q.Has("stored_fields") {
		msgs = append(msgs, "stored_fields is not supported in this context")
	}
	if j.scrollSize <= 0 {
		msgs = append(msgs, "[size] must be greater than 0")
	}
	if len(msgs) > 0 {
		return validationErr(msgs...)
	}
	for _, k := range searchPassed {
		if q.Has(k) {
			j.search[k] = q[k]
		}
	}
	if q.Has("search_timeout") {
		j.search.Set("timeout", q.Get("search_timeout"))
	}
	if j.kind == updateByQuery {
		j.pipeline = q.Get("pipeline")
	}
	// Delete-by-query and scripted updates need no document: the primary's write reads
	// its own copy.
	needSource := j.kind == updateByQuery && j.script == nil
	if q.Has("sort") {
		// RestSearchAction sorts by the parameter: no _doc sort of the proxy's.
		search = append(search, member{key: "sort", val: nil})
	}
	j.searchBody = buildSearchBody(search, j.scrollSize, needSource)
	return nil
}

func (j *byQueryJob) setConflicts(s string) *clientErr {
	switch s {
	case "proceed":
		j.abort = false
	case "abort":
		j.abort = true
	default:
		return illegalArg(`conflicts may only be "proceed" or "abort" but was [%s]`, s)
	}
	return nil
}

// reindexBody reads a reindex body (ReindexRequest.fromXContent): source, dest,
// conflicts, max_docs (or size), script.
func (j *byQueryJob) reindexBody(q url.Values, members []member) *clientErr {
	if q.Has("pipeline") {
		return illegalArg("_reindex doesn't support [pipeline] as a query parameter. Specify it in the [dest] object instead.")
	}
	if len(members) == 0 {
		return &clientErr{status: http.StatusBadRequest, typ: "parse_exception", reason: "request body is required"}
	}
	var source, dest []member
	for _, m := range members {
		switch m.key {
		case "source":
			ms, err := objectMembers(m.val)
			if err != nil {
				return &clientErr{status: http.StatusBadRequest, typ: "x_content_parse_exception", reason: "[reindex] failed to parse field [source]: " + err.Error()}
			}
			source = ms
		case "dest":
			ms, err := objectMembers(m.val)
			if err != nil {
				return &clientErr{status: http.StatusBadRequest, typ: "x_content_parse_exception", reason: "[reindex] failed to parse field [dest]: " + err.Error()}
			}
			dest = ms
		case "conflicts":
			var s string
			if json.Unmarshal(m.val, &s) != nil {
				return illegalArg("[conflicts] must be a string")
			}
			if ce := j.setConflicts(s); ce != nil {
				return ce
			}
		case "max_docs", "size":
			n, ok := jsonInt(m.val)
			if !ok {
				return illegalArg("[%s] must be a number", m.key)
			}
			if ce := j.setMaxDocs(n); ce != nil {
				return ce
			}
		case "script":
			if string(m.val) != "null" {
				return illegalArg("fanout does not run reindex scripts: the proxy runs _reindex itself to replicate every document " +
					"it writes, and it has no Painless engine to run the script on each document; reindex without a script, then " +
					"change the documents with _update_by_query and a script, which the primary runs")
			}
		default:
			return &clientErr{status: http.StatusBadRequest, typ: "x_content_parse_exception", reason: fmt.Sprintf("[reindex] unknown field [%s]", m.key)}
		}
	}
	var search []member
	for _, m := range source {
		switch m.key {
		case "index":
			idx, ok := stringOrList(m.val)
			if !ok {
				return illegalArg("[source.index] must be a string or a list of strings")
			}
			j.indices = idx
		case "remote":
			if string(m.val) != "null" {
				return illegalArg("fanout does not run remote reindex: the proxy replicates what its own primary accepts, and " +
					"documents read from another cluster would need that cluster's consistent view; run the remote reindex " +
					"on a cluster outside fanout, or reindex locally on the primary")
			}
		case "size":
			n, ok := jsonInt(m.val)
			if !ok || n <= 0 {
				return validationErr("[size] must be greater than 0")
			}
			j.scrollSize = int(n)
		case "from":
			return validationErr("from is not supported in this context")
		case "stored_fields":
			return validationErr("stored_fields is not supported in this context")
		case "version", "seq_no_primary_term":
		default:
			search = append(search, m) // query, _source, sort, slice…
		}
	}
	j.dest.routing = "keep"
	for _, m := range dest {
		var s string
		if string(m.val) != "null" && json.Unmarshal(m.val, &s) != nil {
			return &clientErr{status: http.StatusBadRequest, typ: "x_content_parse_exception", reason: fmt.Sprintf("[dest] failed to parse field [%s]", m.key)}
		}
		switch m.key {
		case "index":
			j.dest.index = s
		case "op_type":
			if s != "index" && s != "create" {
				return illegalArg("opType must be 'create' or 'index', found: [%s]", s)
			}
			j.dest.opType = s
		case "pipeline":
			j.dest.pipeline = s
		case "routing":
			if s != "keep" && s != "discard" && !strings.HasPrefix(s, "=") {
				return illegalArg("Unsupported routing command [%s]", s)
			}
			j.dest.routing = s
		case "version_type":
			switch s {
			case "internal", "external", "external_gt", "external_gte":
			default:
				return illegalArg("No version type match [%s]", s)
			}
			j.dest.versionType = s
		case "type":
			return &clientErr{status: http.StatusBadRequest, typ: "x_content_parse_exception", reason: "[dest] unknown field [type]"}
		default:
			return &clientErr{status: http.StatusBadRequest, typ: "x_content_parse_exception", reason: fmt.Sprintf("[dest] unknown field [%s]", m.key)}
		}
	}
	if q.Has("require_alias") {
		b, ce := paramBool(q, "require_alias")
		if ce != nil {
			return ce
		}
		j.dest.requireAlias = b
	}
	var msgs []string
	if j.indices == "" {
		msgs = append(msgs, "use _all if you really want to copy from all existing indexes")
	}
	if j.dest.index == "" {
		msgs = append(msgs, "index must be specified")
	}
	if len(msgs) > 0 {
		return validationErr(msgs...)
	}
	// ReindexValidator.validateAgainstAliases: a literal name (aliases and patterns are
	// the primary's; see the README).
	for _, s := range strings.Split(j.indices, ",") {
		if s == j.dest.index {
			return validationErr("reindex cannot write into an index its reading from [" + s + "]")
		}
	}
	j.searchBody = buildSearchBody(search, j.scrollSize, true)
	return nil
}

// buildSearchBody is the search's body: the client's members (query, _source, sort…),
// the batch size, version and seq_no_primary_term; sorted by _doc unless the client
// sorted, with exact total hits unless the client said otherwise. needSource false asks
// for no _source (unless the client asked for some).
func buildSearchBody(members []member, size int, needSource bool) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	hasSort, hasSource, hasTrack := false, false, false
	for _, m := range members {
		switch m.key {
		case "sort":
			hasSort = true
		case "_source":
			hasSource = true
		case "track_total_hits":
			hasTrack = true
		}
		if m.val == nil {
			continue // a marker: the query string has it
		}
		kb, _ := json.Marshal(m.key)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(m.val)
		b.WriteByte(',')
	}
	if !hasSort {
		b.WriteString(`"sort":["_doc"],`)
	}
	if !hasSource && !needSource {
		b.WriteString(`"_source":false,`)
	}
	if !hasTrack {
		// The answer's total counts every match, past the default 10,000.
		b.WriteString(`"track_total_hits":true,`)
	}
	fmt.Fprintf(&b, `"size":%d,"version":true,"seq_no_primary_term":true}`, size)
	return b.Bytes()
}

func jsonInt(v json.RawMessage) (int64, bool) {
	var n json.Number
	if json.Unmarshal(v, &n) != nil {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

func stringOrList(v json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s, s != ""
	}
	var l []string
	if json.Unmarshal(v, &l) == nil && len(l) > 0 {
		return strings.Join(l, ","), true
	}
	return "", false
}

// paramBool is RestRequest.paramAsBoolean: "", "true" and "false" only.
func paramBool(q url.Values, key string) (bool, *clientErr) {
	switch v := q.Get(key); v {
	case "", "true":
		return true, nil
	case "false":
		return false, nil
	default:
		return false, illegalArg("Failed to parse value [%s] as only [true] or [false] are allowed.", v)
	}
}

// paramInt is RestRequest.paramAsInt.
func paramInt(q url.Values, key string) (int64, *clientErr) {
	v := q.Get(key)
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, illegalArg("Failed to parse int parameter [%s] with value [%s]", key, v)
	}
	return n, nil
}

// parseTimeValue accepts OpenSearch's time values (TimeValue.parseTimeValue): a number
// with a unit of d, h, m, s, ms, micros or nanos, or -1 / 0.
func parseTimeValue(s string) (time.Duration, error) {
	if s == "-1" || s == "0" {
		return 0, nil
	}
	units := []struct {
		suffix string
		d      time.Duration
	}{{"nanos", time.Nanosecond}, {"micros", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second},
		{"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}
	ls := strings.ToLower(strings.TrimSpace(s))
	for _, u := range units {
		if num, ok := strings.CutSuffix(ls, u.suffix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || f < 0 {
				break
			}
			return time.Duration(f * float64(u.d)), nil
		}
	}
	return 0, fmt.Errorf("unit is missing or unrecognized")
}
