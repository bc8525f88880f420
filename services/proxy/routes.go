package proxy

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

// route is what the proxy makes of a request.
type route struct {
	// name labels metrics: bulk, index, create, update, delete, read, other.
	name string
	// write is set for the replicated write APIs.
	write bool
	// action is the single-document action (index, create, update, delete).
	action bulk.Action
	// index and id come from the path (already unescaped); id is "" for auto ids.
	index, id string
	// read marks calls that may fail over to the fallback cluster.
	read bool
}

// classify maps a request to its route. Only the documented write APIs are replicated;
// everything else passes through.
func classify(r *http.Request) route {
	segs := splitPath(r.URL)
	m := r.Method
	post, put := m == http.MethodPost, m == http.MethodPut
	switch {
	case len(segs) == 1 && segs[0] == "_bulk" && (post || put):
		return route{name: "bulk", write: true}
	case len(segs) == 2 && segs[1] == "_bulk" && isIndex(segs[0]) && (post || put):
		return route{name: "bulk", write: true, index: segs[0]}
	case len(segs) == 2 && segs[1] == "_doc" && isIndex(segs[0]) && post:
		return route{name: "index", write: true, action: bulk.ActionIndex, index: segs[0]}
	case len(segs) == 3 && segs[1] == "_doc" && isIndex(segs[0]) && (post || put):
		return route{name: "index", write: true, action: bulk.ActionIndex, index: segs[0], id: segs[2]}
	case len(segs) == 3 && segs[1] == "_doc" && isIndex(segs[0]) && m == http.MethodDelete:
		return route{name: "delete", write: true, action: bulk.ActionDelete, index: segs[0], id: segs[2]}
	case len(segs) == 3 && segs[1] == "_create" && isIndex(segs[0]) && (post || put):
		return route{name: "create", write: true, action: bulk.ActionCreate, index: segs[0], id: segs[2]}
	case len(segs) == 3 && segs[1] == "_update" && isIndex(segs[0]) && post:
		return route{name: "update", write: true, action: bulk.ActionUpdate, index: segs[0], id: segs[2]}
	}
	if m == http.MethodGet || m == http.MethodHead {
		return route{name: "read", read: true}
	}
	if post && len(segs) > 0 {
		switch segs[len(segs)-1] {
		case "_search", "_msearch", "_count", "_mget":
			return route{name: "read", read: true}
		}
	}
	return route{name: "other"}
}

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
