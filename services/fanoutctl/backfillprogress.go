package fanoutctl

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// backfillProgress is the backfill's progress line on stderr: documents, bytes, rate
// and ETA. On a terminal it is redrawn in place; elsewhere (a log) one line is written
// every progressEvery. With -o json nothing is written.
type backfillProgress struct {
	w     io.Writer
	on    bool
	tty   bool
	now   func() time.Time
	start time.Time

	mu sync.Mutex
	// total: hits of the points in time (known once each slice read its first page);
	// before: documents copied by earlier runs (--resume); docs, bytes: by this run.
	total, before, docs, bytes int64
	drawn                      time.Time
}

const progressEvery = 5 * time.Second

func newBackfillProgress(e *env, on bool) *backfillProgress {
	now := e.now()
	return &backfillProgress{w: e.stderr, on: on, tty: isTerminal(e.stderr), now: e.now, start: now, drawn: now}
}

// resume counts what earlier runs copied.
func (p *backfillProgress) resume(st *backfillState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ip := range st.Indices {
		for _, sp := range ip.Slices {
			p.before += sp.Docs
			p.total += sp.Total
		}
	}
}

func (p *backfillProgress) addTotal(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total += n
}

func (p *backfillProgress) add(docs, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.docs += docs
	p.bytes += bytes
	now := p.now()
	every := progressEvery
	if p.tty {
		every = 200 * time.Millisecond
	}
	if p.on && now.Sub(p.drawn) >= every {
		p.drawn = now
		p.drawLocked(now)
	}
}

// run returns what this run copied.
func (p *backfillProgress) run() (docs, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.docs, p.bytes
}

// finish writes the last line.
func (p *backfillProgress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on {
		p.drawLocked(p.now())
		if p.tty {
			fmt.Fprintln(p.w)
		}
	}
}

func (p *backfillProgress) drawLocked(now time.Time) {
	line := backfillLine(p.before+p.docs, p.total, p.bytes, p.docs, now.Sub(p.start))
	if p.tty {
		fmt.Fprintf(p.w, "\r%-79s", line)
		return
	}
	fmt.Fprintln(p.w, line)
}

// backfillLine renders "backfill 12000/20000 docs 60%  11.7 MiB  3400 docs/s  ETA 2s":
// done and total over every run, bytes and rate of this one.
func backfillLine(done, total, bytes, runDocs int64, elapsed time.Duration) string {
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(runDocs) / s
	}
	of, pct, eta := "", "", "?"
	if total > 0 {
		of = fmt.Sprintf("/%d", total)
		pct = fmt.Sprintf(" %.0f%%", min(float64(done)/float64(total), 1)*100)
		if done >= total {
			eta = "0s"
		} else if rate > 0 {
			eta = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
		}
	}
	return fmt.Sprintf("backfill %d%s docs%s  %.1f MiB  %.0f docs/s  ETA %s", done, of, pct, float64(bytes)/(1<<20), rate, eta)
}
