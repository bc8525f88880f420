package proxy

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// A write through an alias that has index_routing, without a routing of its own, is
// routed by the primary with the alias's routing (IndexNameExpressionResolver
// resolveWriteIndexRouting), and its answer does not say so. Its event must carry that
// routing, or replicas with more than one shard put the document on another shard and
// a later delete or GET through the alias misses it. aliasRoutes looks the alias up
// once per alias and concrete index, with the client's credentials, and keeps it as
// the pipeline settings are kept (stored.go): for publish.pipeline_settings_ttl, and
// forgotten whenever the proxy passes a request that may change aliases.
type aliasRoutes struct {
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cache map[aliasKey]aliasRoute
	gen   uint64 // as storedReader.gen

	lookups *prometheus.CounterVec // outcome: ok, failed
}

type aliasKey struct{ name, index string }

type aliasRoute struct {
	routing string // the alias's index_routing for the index, "" for none
	at      time.Time
}

func newAliasRoutes(cfg PublishConfig, reg prometheus.Registerer, now func() time.Time) *aliasRoutes {
	return &aliasRoutes{ttl: cfg.PipelineSettingsTTL, now: now, cache: map[aliasKey]aliasRoute{},
		lookups: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_proxy_alias_routing_lookups_total",
			Help: "Reads of the index_routing of an alias a write went through without a routing of its own, by outcome (ok, failed).",
		}, []string{"outcome"}),
	}
}

// forget drops what is known (a request that may change aliases passed).
func (a *aliasRoutes) forget() {
	a.mu.Lock()
	clear(a.cache)
	a.gen++
	a.mu.Unlock()
}

// apply gives the events of writes through an alias the alias's index_routing. It
// returns the events whose routing could not be learnt (the lookup failed): their
// writes are applied, but what to replicate is not known, so they are not published.
// Events whose routing is resolved later anyway (updates, resolveRouting) only get
// the address their lookup must use.
func (a *aliasRoutes) apply(p *Proxy, r *http.Request, evs []pendingEvent, log *slog.Logger) (unknown []int) {
	for i := range evs {
		e := &evs[i]
		if e.via == "" {
			continue
		}
		routing, ok := a.routing(p, r, e.via, e.index, log)
		switch {
		case !ok && !e.unknown:
			unknown = append(unknown, i)
		case routing == "":
		case e.unknown:
			e.addressed = routing
		default:
			e.routing, e.addressed = routing, routing
		}
	}
	return unknown
}

// routing is the index_routing alias name has on index, from the cache or the primary;
// ok is false when the primary could not say.
func (a *aliasRoutes) routing(p *Proxy, r *http.Request, name, index string, log *slog.Logger) (string, bool) {
	k := aliasKey{name, index}
	now := a.now()
	a.mu.Lock()
	e, hit := a.cache[k]
	gen := a.gen
	a.mu.Unlock()
	if hit && now.Sub(e.at) < a.ttl {
		return e.routing, true
	}
	ans, code, err := p.getOnBehalf(r, "/"+url.PathEscape(index)+"/_alias/"+url.PathEscape(name))
	var got map[string]struct {
		Aliases map[string]struct {
			IndexRouting string `json:"index_routing"`
		} `json:"aliases"`
	}
	switch {
	case err == nil && code == http.StatusNotFound:
		// Not an alias of the index (date math, or the alias went away since): no routing.
	case err != nil || code != http.StatusOK || json.Unmarshal(ans, &got) != nil:
		a.lookups.WithLabelValues("failed").Inc()
		log.Error("cannot read the routing of the alias a write went through; not replicated",
			"alias", name, "index", index, "status", code, "error", err)
		return "", false
	}
	a.lookups.WithLabelValues("ok").Inc()
	e = aliasRoute{routing: got[index].Aliases[name].IndexRouting, at: now}
	a.mu.Lock()
	if a.gen == gen {
		if len(a.cache) >= maxPipelineCache {
			clear(a.cache)
		}
		a.cache[k] = e
	}
	a.mu.Unlock()
	return e.routing, true
}
