package proxy

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

// route is what the proxy makes of a request.
type route struct {
	// name labels metrics: bulk, index, create, update, delete, read, other, unresolved,
	// the by-query APIs and the metadata APIs (metaOp.name).
	name string
	// write is set for the replicated write APIs.
	write bool
	// action is the single-document action (index, create, update, delete).
	action bulk.Action
	// index and id come from the path (already unescaped); id is "" for auto ids. The
	// type of a typed path is not kept: events are typeless.
	index, id string
	// read marks calls that may fail over to the fallback cluster.
	read bool
	// unresolved: the request may be a write or not depending on the primary's
	// version, which the proxy does not know yet (serveHTTP learns it and classifies
	// the request again).
	unresolved bool
	// byQuery is set for _delete_by_query, _update_by_query and _reindex, which the
	// proxy runs itself (byquery.go); index is the path's index expression, and id the
	// type of a typed path, which the proxy refuses.
	byQuery byQueryKind
	// meta is set for the metadata APIs the proxy replicates as the primary's
	// resulting state (metaroutes.go, metadata.go); index is the path's index
	// expression and id the path's name.
	meta metaOp
}

// classify maps a request to its route on a primary of version v (nil: not known yet).
// Only the documented write APIs are replicated; everything else passes through.
func classify(r *http.Request, v *primaryVersion) route {
	segs := splitPath(r.URL)
	if v != nil {
		return classifyAs(segs, r.Method, dialect{typed: v.typed || v.compat7 && asksV7(r), xpack: v.xpack})
	}
	// Not known yet: the request's route is settled when every kind of primary gives
	// the same, or when none makes it a write (a read or pass-through call goes to
	// the primary as it is, whatever it is).
	rt := classifyAs(segs, r.Method, dialect{})
	same, write, read := true, rt.write || rt.byQuery != 0 || rt.meta != metaNone, rt.read
	for _, d := range []dialect{{typed: true}, {typed: true, xpack: true}} {
		alt := classifyAs(segs, r.Method, d)
		same = same && alt == rt
		write = write || alt.write || alt.byQuery != 0 || alt.meta != metaNone
		read = read || alt.read
	}
	switch {
	case same:
		return rt
	case write:
		return route{name: "unresolved", unresolved: true}
	case read:
		return route{name: "read", read: true}
	}
	return route{name: "other"}
}

// dialect is what decides a request's route on a primary: whether it routes the typed
// APIs, and Elasticsearch's x-pack typed routes.
type dialect struct{ typed, xpack bool }

// asksV7 reports whether a request asks for Elasticsearch's REST API version 7, with
// which Elasticsearch 8 routes the typed APIs again (its RestIndexAction,
// RestDeleteAction, RestUpdateAction, RestBulkAction… keep the typed routes for
// RestApiVersion.V_7, and RestCompatibleVersionHelper takes the version from the
// compatible-with parameter of a vendor media type, application/vnd.elasticsearch+json;
// compatible-with=7, in Accept or Content-Type). Headers that disagree are the primary's
// to refuse.
func asksV7(r *http.Request) bool {
	for _, h := range []string{"Accept", "Content-Type"} {
		for _, v := range r.Header.Values(h) {
			typ, params, _ := strings.Cut(strings.ToLower(v), ";")
			if !strings.HasPrefix(strings.TrimSpace(typ), "application/vnd.elasticsearch+") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				if k, val, ok := strings.Cut(p, "="); ok && strings.TrimSpace(k) == "compatible-with" && strings.TrimSpace(val) == "7" {
					return true
				}
			}
		}
	}
	return false
}

func classifyAs(segs []string, m string, d dialect) route {
	if rt, ok := byQueryRoute(segs, m, d); ok {
		return rt
	}
	if rt, ok := writeRoute(segs, m, d); ok {
		return rt
	}
	if rt, ok := metaRoute(segs, m, d); ok {
		return rt
	}
	if m == http.MethodGet || m == http.MethodHead {
		return route{name: "read", read: true}
	}
	if m == http.MethodPost && len(segs) > 0 {
		switch segs[len(segs)-1] {
		case "_search", "_msearch", "_count", "_mget":
			return route{name: "read", read: true}
		}
	}
	return route{name: "other"}
}

// writeRoute finds the write API a request reaches, as the primary's RestController does
// (PathTrie's matching modes in order, the first route with a handler for the method;
// see testbed/searchemu/pathtrie.go). Every route a write path can also match is
// considered:
//
//   - typeless (OpenSearch 2.x/3.x, Elasticsearch 8): /_bulk, /{index}/_bulk,
//     /{index}/_doc, /{index}/_doc/{id}, /{index}/_create/{id}, /{index}/_update/{id};
//     no other route shares their shape, and an index name starting with '_' is refused.
//   - typed (Elasticsearch 6/7, OpenSearch 1.x) adds (RestIndexAction, RestDeleteAction,
//     RestUpdateAction, RestBulkAction of Elasticsearch 7.x): /{index}/{type} (auto id),
//     /{index}/{type}/{id}, /{index}/{type}/{id}/_create, /{index}/{type}/{id}/_update and
//     /{index}/{type}/_bulk. A type never starts with '_' but for _doc
//     (MapperService.validateTypeName), so a typed write with such a type is refused by
//     the primary, except the bulk, whose items may name their own _type. The typed read
//     and mapping routes /{index}/{type}/_search and the like (typedAPIs) share the shape
//     of /{index}/{type}/{id}: PathTrie prefers them, so "PUT /logs/doc/_mapping" is a
//     mapping update and "POST /logs/_doc/_search" a search. When such a route lacks the
//     request's method, RestController goes on to the next mode's route: the document
//     route under an explicit _doc, _create or _update ("PUT /logs/_doc/_count" indexes
//     the document "_count"); under any other type segment there is none (405).
func writeRoute(segs []string, m string, d dialect) (route, bool) {
	post, put, del := m == http.MethodPost, m == http.MethodPut, m == http.MethodDelete
	bulkRoute := func(index string) (route, bool) { return route{name: "bulk", write: true, index: index}, true }
	doc := func(a bulk.Action, index, id string) (route, bool) {
		return route{name: a.String(), write: true, action: a, index: index, id: id}, true
	}
	n := len(segs)
	if n == 1 && segs[0] == "_bulk" && (post || put) {
		return bulkRoute("")
	}
	if n < 2 || n > 4 || !isIndex(segs[0]) {
		return route{}, false
	}
	index := segs[0]
	switch n {
	case 2:
		switch t := segs[1]; {
		case t == "_bulk" && (post || put):
			return bulkRoute(index)
		case post && (t == "_doc" || d.typed && isTypeName(t)):
			return doc(bulk.ActionIndex, index, "")
		}
	case 3:
		t, id := segs[1], segs[2]
		if d.typed {
			if methods, ok := typedAPI(id, d.xpack); ok {
				has := slices.Contains(strings.Fields(methods), m)
				switch {
				case has && id == "_bulk":
					return bulkRoute(index) // /{index}/{type}/_bulk, whatever the type
				case has:
					return route{}, false
				case t != "_doc" && t != "_create" && t != "_update":
					return route{}, false // 405
				}
			}
		}
		switch {
		case t == "_doc" && (post || put), d.typed && isTypeName(t) && (post || put):
			return doc(bulk.ActionIndex, index, id)
		case t == "_doc" && del, d.typed && isTypeName(t) && del:
			return doc(bulk.ActionDelete, index, id)
		case t == "_create" && (post || put):
			return doc(bulk.ActionCreate, index, id)
		case t == "_update" && post:
			return doc(bulk.ActionUpdate, index, id)
		}
	case 4:
		// /{index}/{type}/{id}/_create and /_update; no other route ends so. A type the
		// primary refuses makes it refuse the write.
		switch {
		case !d.typed:
		case segs[3] == "_create" && (post || put):
			return doc(bulk.ActionCreate, index, segs[2])
		case segs[3] == "_update" && post:
			return doc(bulk.ActionUpdate, index, segs[2])
		}
	}
	return route{}, false
}

// typedAPI gives the methods of the typed route /{index}/{type}/{name} of Elasticsearch
// 7.x and OpenSearch 1.x other than the document routes (the typed paths of the 7.17
// REST API specification that have three segments: RestSearchAction, RestCountAction,
// RestMultiGetAction, RestMultiSearchAction, RestTermVectorsAction,
// RestMultiTermVectorsAction, RestUpdateByQueryAction, RestDeleteByQueryAction,
// RestPutMappingAction and RestGetMappingAction, RestBulkAction; x-pack's
// RestRollupSearchAction on Elasticsearch's default distribution).
func typedAPI(name string, xpack bool) (methods string, ok bool) {
	switch name {
	case "_bulk":
		return "POST PUT", true
	case "_search", "_count", "_mget", "_msearch", "_termvectors", "_mtermvectors":
		return "GET POST", true
	case "_update_by_query", "_delete_by_query":
		return "POST", true
	case "_mapping":
		return "GET PUT POST", true
	case "_mappings":
		return "PUT POST", true
	case "_rollup_search":
		return "GET POST", xpack
	}
	return "", false
}

// isTypeName: a type segment a typed write can succeed with. An empty type is
// refused ("type is missing"), and one starting with '_' other than _doc too
// (MapperService.validateTypeName); _doc is matched explicitly.
func isTypeName(s string) bool { return s != "" && !strings.HasPrefix(s, "_") }

// isIndex rejects API names in the index position ("/_bulk/_doc" is not a document
// write); the primary answers such paths itself. An empty segment is an index: PathTrie
// matches it with the {index} wildcard, so "//_bulk" is the primary's /{index}/_bulk
// with index "" (items naming their _index are applied) and must be replicated.
func isIndex(s string) bool { return !strings.HasPrefix(s, "_") }

// splitPath returns the unescaped path segments as the primary's PathTrie
// (server/.../common/path/PathTrie.java) sees them, so that the proxy routes a request
// the way the primary does: the escaped path is split on '/' as Java's String.split
// does (trailing empty segments dropped), one leading empty segment (the initial '/')
// is skipped and the others are kept: "//books/_doc/1" is four segments, the first
// empty, which the primary matches against its {index} wildcards, not "/books/_doc/1".
// Segments are split before unescaping, so an id with an escaped slash ("a%2Fb") stays
// one segment.
func splitPath(u *url.URL) []string {
	segs := strings.Split(u.EscapedPath(), "/")
	for len(segs) > 0 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	if len(segs) > 0 && segs[0] == "" {
		segs = segs[1:]
	}
	for i, s := range segs {
		if v, err := url.PathUnescape(s); err == nil {
			segs[i] = v
		}
	}
	return segs
}

// clientPath is the URL of the request to a cluster for the client's request r: the
// client's path exactly as it was sent, escaped form kept, and the given raw query.
// Parsing r.URL.RequestURI() as a URL instead would make "//_refresh" a request for "/"
// on host "_refresh".
func clientPath(r *http.Request, rawQuery string) *url.URL {
	return &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: rawQuery}
}

// byQueryRoute finds the by-query APIs the proxy runs itself: POST /_reindex
// (RestReindexAction), POST /{index}/_delete_by_query and /{index}/_update_by_query
// (RestDeleteByQueryAction, RestUpdateByQueryAction) and, on a typed primary, their
// typed forms /{index}/{type}/_…_by_query, which the proxy refuses (serveByQuery).
func byQueryRoute(segs []string, m string, d dialect) (route, bool) {
	if m != http.MethodPost {
		return route{}, false
	}
	kind := func(s string) byQueryKind {
		switch s {
		case "_delete_by_query":
			return deleteByQuery
		case "_update_by_query":
			return updateByQuery
		}
		return 0
	}
	switch n := len(segs); {
	case n == 1 && segs[0] == "_reindex":
		return route{name: "reindex", byQuery: reindexAPI}, true
	case n == 2 && kind(segs[1]) != 0:
		k := kind(segs[1])
		return route{name: k.String(), byQuery: k, index: segs[0]}, true
	case n == 3 && d.typed && kind(segs[2]) != 0:
		k := kind(segs[2])
		return route{name: k.String(), byQuery: k, index: segs[0], id: segs[1]}, true
	}
	return route{}, false
}
