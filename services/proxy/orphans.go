package proxy

import (
	"context"
	"sync"
	"time"

	"github.com/fanout-dev/fanout/pkg/intentlog"
)

// orphans are intents of this process's requests that ended without closing them: the
// primary's outcome is unknown (no answer) or some events were not queued (a 503
// fanout_replication_exception). The proxy resolves them itself, as it resolves its
// predecessor's at start-up, once recovery.settle has passed since the request gave up
// (the write may still be running on the primary). So a write answered 503 because
// Kafka was away reaches the targets once Kafka is back, without the client's retry
// and without a restart.
//
// They are held in memory up to maxOrphanItems documents; past that an orphan is only
// in the intent log, resolved at the next start, and counted.
type orphans struct {
	mu    sync.Mutex
	list  []orphan
	items int
	m     *metrics
}

type orphan struct {
	in intentlog.Intent
	at time.Time
}

const maxOrphanItems = 1 << 17

func (o *orphans) add(in intentlog.Intent, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.items+len(in.Items) > maxOrphanItems {
		o.m.orphansDeferred.Inc()
		return
	}
	o.list = append(o.list, orphan{in: in, at: at})
	o.items += len(in.Items)
	o.m.orphans.Set(float64(o.items))
}

// due takes the orphans given up on before cutoff, oldest first.
func (o *orphans) due(cutoff time.Time) []intentlog.Intent {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for n < len(o.list) && !o.list[n].at.After(cutoff) {
		n++
	}
	out := make([]intentlog.Intent, n)
	for i := range out {
		out[i] = o.list[i].in
		o.items -= len(out[i].Items)
	}
	o.list = append(o.list[:0], o.list[n:]...)
	o.m.orphans.Set(float64(o.items))
	return out
}

// putBack returns orphans whose resolution failed, to be tried again.
func (o *orphans) putBack(ins []intentlog.Intent, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	back := make([]orphan, 0, len(ins)+len(o.list))
	for _, in := range ins {
		back = append(back, orphan{in: in, at: at})
		o.items += len(in.Items)
	}
	o.list = append(back, o.list...)
	o.m.orphans.Set(float64(o.items))
}

// resolveOrphans resolves due orphans every recovery.settle (at least a second) until
// ctx ends.
func (p *Proxy) resolveOrphans(ctx context.Context) {
	settle := p.cfg.Recovery.Settle
	t := time.NewTicker(max(settle, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		due := p.orphans.due(p.now().Add(-settle))
		if len(due) == 0 {
			continue
		}
		if left, err := p.recoverIntents(ctx, due); err != nil {
			p.log.Error("resolving writes left unconfirmed; will retry", "intents", len(left), "error", err)
			p.orphans.putBack(left, time.Time{}) // not those closed already
		}
	}
}
