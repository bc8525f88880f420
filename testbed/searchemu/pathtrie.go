package searchemu

import "strings"

// The route lookup order of the server's PathTrie (OpenSearch
// libs/common/src/main/java/org/opensearch/common/path/PathTrie.java, the same in
// Elasticsearch): RestController asks the trie once per matching mode, in the order
// EXPLICIT_NODES_ONLY, WILDCARD_ROOT_NODES_ALLOWED, WILDCARD_LEAF_NODES_ALLOWED,
// WILDCARD_NODES_ALLOWED, and dispatches to the first answer that has a handler for the
// method. Within a mode the trie prefers an explicit child and backtracks to the wildcard
// child. The order matters where routes overlap: with the typed Elasticsearch 7 routes,
// POST /i/_doc/_bulk finds /{index}/{type}/_bulk (root wildcard mode) before
// /{index}/_doc/{id} (any-wildcard mode), so it is a bulk; on OpenSearch 2, which has no
// typed routes, the same request indexes a document with id _bulk.

type trieMode int

const (
	explicitNodesOnly trieMode = iota
	wildcardRootNodesAllowed
	wildcardLeafNodesAllowed
	wildcardNodesAllowed
)

type trieNode struct {
	children map[string]*trieNode // "*" is the wildcard child
	value    *route
}

func (n *trieNode) insert(segs []string, r *route) {
	cur := n
	for _, s := range segs {
		key := s
		if strings.HasPrefix(s, "{") {
			key = "*"
		}
		if cur.children == nil {
			cur.children = map[string]*trieNode{}
		}
		next := cur.children[key]
		if next == nil {
			next = &trieNode{}
			cur.children[key] = next
		}
		cur = next
	}
	cur.value = r
}

// retrieve is TrieNode.retrieve; path[0] is the first segment, which PathTrie numbers 1
// (its root holds the empty segment before the leading '/').
func (n *trieNode) retrieve(path []string, i int, mode trieMode) *route {
	if i >= len(path) {
		return nil
	}
	token := path[i]
	node := n.children[token]
	usedWildcard := false
	if node == nil {
		switch {
		case mode == wildcardNodesAllowed,
			mode == wildcardRootNodesAllowed && i == 0,
			mode == wildcardLeafNodesAllowed && i+1 == len(path):
			node = n.children["*"]
			if node == nil {
				return nil
			}
			usedWildcard = true
		default:
			return nil
		}
	} else {
		switch {
		case i+1 == len(path) && node.value == nil && n.children["*"] != nil && mode != explicitNodesOnly && mode != wildcardRootNodesAllowed:
			node = n.children["*"]
			usedWildcard = true
		case i == 0 && node.value == nil && n.children["*"] != nil && mode == wildcardRootNodesAllowed:
			node = n.children["*"]
			usedWildcard = true
		}
	}
	if i == len(path)-1 {
		return node.value
	}
	v := node.retrieve(path, i+1, mode)
	if v == nil && !usedWildcard && mode != explicitNodesOnly {
		if w := n.children["*"]; w != nil {
			v = w.retrieve(path, i+1, mode)
		}
	}
	return v
}

// params binds the route's named wildcards to the path's segments.
func (r *route) params(segs []string) map[string]string {
	var p map[string]string
	for i, s := range r.segs {
		if strings.HasPrefix(s, "{") {
			if p == nil {
				p = map[string]string{}
			}
			p[s[1:len(s)-1]] = segs[i]
		}
	}
	return p
}

// pathSegments splits a request's escaped path the way PathTrie.retrieve does
// (server/src/main/java/org/opensearch/common/path/PathTrie.java): Java's String.split on
// '/', which drops trailing empty strings, then one leading empty string (the initial
// '/') is skipped and every other empty segment is kept. So "/books/_doc/1/" is three
// segments, "//" and "/" are the root, and "//_refresh" is two, the first empty, which
// only a {param} wildcard can match (here /{index}/_refresh with index ""). Segments are
// split before they are unescaped, as RestController hands PathTrie the raw path.
func pathSegments(rawPath string) []string {
	segs := strings.Split(rawPath, "/")
	for len(segs) > 0 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	if len(segs) > 0 && segs[0] == "" {
		segs = segs[1:]
	}
	return segs
}
