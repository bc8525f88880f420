package searchemu

import (
	"sort"
	"strings"

	"github.com/fanout-dev/fanout/pkg/glob"
)

// Routing through aliases, as cluster/metadata/Metadata.java resolves it:
// resolveWriteIndexRouting and resolveIndexRouting for operations by id,
// IndexNameExpressionResolver.resolveSearchRouting for searches.

// indexRoutingOf is the alias's index_routing (an alias "routing" sets both).
func (a *aliasMeta) indexRoutingOf() string {
	if a.indexRouting != "" {
		return a.indexRouting
	}
	return a.routing
}

// searchRoutingOf is the alias's search_routing (an alias "routing" sets both).
func (a *aliasMeta) searchRoutingOf() string {
	if a.searchRouting != "" {
		return a.searchRouting
	}
	return a.routing
}

// aliasIndexRouting applies the index routing of the alias an operation by id was
// addressed to (name; the index itself when name is ix.name): a routing alias replaces
// the request's routing and refuses a different one.
func (c *Cluster) aliasIndexRouting(name string, ix *index, routing string, has bool) (string, bool, *esError) {
	if name == ix.name {
		return routing, has, nil
	}
	c.mu.RLock()
	var ir string
	if a := ix.aliases[name]; a != nil {
		ir = a.indexRoutingOf()
	}
	c.mu.RUnlock()
	if ir == "" {
		return routing, has, nil
	}
	if strings.Contains(ir, ",") {
		return "", false, errIllegalArg("index/alias [" + name + "] provided with routing value [" + ir + "] that resolved to several routing values, rejecting operation")
	}
	if has && routing != ir {
		return "", false, errIllegalArg("Alias [" + name + "] has index routing associated with it [" + ir + "], and was provided with routing value [" + routing + "], rejecting operation")
	}
	return ir, true, nil
}

// searchRoutingMap is resolveSearchRouting: the routing values each concrete index is
// searched with, keyed by index name; an index that is absent is searched on every
// shard, and a nil map searches every index on every shard. Indices named directly or
// through an alias without search routing take the routing parameter; a routing alias
// contributes its own values, narrowed to the parameter's (an empty intersection falls
// back to every shard, as the server's does).
func (c *Cluster) searchRoutingMap(expr string, param []string, hasParam bool) map[string][]string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var routings map[string]map[string]bool
	norouting := map[string]bool{}
	plain := func(name string) {
		if norouting[name] {
			return
		}
		norouting[name] = true
		if hasParam {
			if routings == nil {
				routings = map[string]map[string]bool{}
			}
			routings[name] = toSet(param)
		} else if routings != nil {
			delete(routings, name)
		}
	}
	alias := func(name string) {
		var members []*index
		for _, ix := range c.indices {
			if _, ok := ix.aliases[name]; ok {
				members = append(members, ix)
			}
		}
		sort.Slice(members, func(i, j int) bool { return members[i].name < members[j].name })
		for _, ix := range members {
			if norouting[ix.name] {
				continue
			}
			sr := ix.aliases[name].searchRoutingOf()
			if sr == "" {
				plain(ix.name)
				continue
			}
			if routings == nil {
				routings = map[string]map[string]bool{}
			}
			r := routings[ix.name]
			if r == nil {
				r = map[string]bool{}
				routings[ix.name] = r
			}
			for _, v := range parseSearchRouting(sr) {
				r[v] = true
			}
			if hasParam {
				keep := toSet(param)
				for v := range r {
					if !keep[v] {
						delete(r, v)
					}
				}
			}
			if len(r) == 0 {
				delete(routings, ix.name)
			}
		}
	}
	for _, e := range c.resolvedExpressionsLocked(expr) {
		if e.alias {
			alias(e.name)
		} else {
			plain(e.name)
		}
	}
	if len(routings) == 0 {
		return nil
	}
	out := make(map[string][]string, len(routings))
	for name, set := range routings {
		vals := make([]string, 0, len(set))
		for v := range set {
			vals = append(vals, v)
		}
		sort.Strings(vals)
		out[name] = vals
	}
	return out
}

func toSet(vals []string) map[string]bool {
	s := make(map[string]bool, len(vals))
	for _, v := range vals {
		s[v] = true
	}
	return s
}

// resolvedExpression is one name an index expression resolves to, before aliases are
// replaced by their indices.
type resolvedExpression struct {
	name  string
	alias bool
}

// resolvedExpressionsLocked expands an index expression into index and alias names as
// resolveRead does (wildcards match both); exclusions are left out, their indices are
// not searched anyway. c.mu must be held.
func (c *Cluster) resolvedExpressionsLocked(expr string) []resolvedExpression {
	var out []resolvedExpression
	all := func() {
		names := make([]string, 0, len(c.indices))
		for n := range c.indices {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, resolvedExpression{name: n})
		}
	}
	if expr == "" || expr == "_all" || expr == "*" {
		all()
		return out
	}
	for i, part := range strings.Split(expr, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "":
		case i > 0 && strings.HasPrefix(part, "-"):
		case part == "_all":
			all()
		case strings.Contains(part, "*"):
			var names []string
			aliases := map[string]bool{}
			for n, ix := range c.indices {
				if glob.Match(part, n) {
					names = append(names, n)
				}
				for a := range ix.aliases {
					if glob.Match(part, a) && !aliases[a] {
						aliases[a] = true
					}
				}
			}
			sort.Strings(names)
			for _, n := range names {
				out = append(out, resolvedExpression{name: n})
			}
			an := make([]string, 0, len(aliases))
			for a := range aliases {
				an = append(an, a)
			}
			sort.Strings(an)
			for _, a := range an {
				out = append(out, resolvedExpression{name: a, alias: true})
			}
		case c.indices[part] != nil:
			out = append(out, resolvedExpression{name: part})
		default:
			out = append(out, resolvedExpression{name: part, alias: true})
		}
	}
	return out
}
