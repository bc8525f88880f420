package fanoutctl

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// writeJSON writes v as indented JSON: what -o json prints. Field names are part of
// the CLI's interface; change them only by adding.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table is a text table with aligned columns; cells "" print as "-".
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		} else {
			cells[i] = printable(c)
		}
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

// printable returns s as it is when it holds no control character and is valid UTF-8,
// else quoted with Go escapes ("a\x1b[2Jb"). Ids and index names come from clients:
// printed raw, an escape sequence in one would drive the operator's terminal and a tab
// or newline would break the table's columns. JSON output (-o json) escapes by itself.
func printable(s string) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return strconv.Quote(s)
	}
	return s
}

func (t *table) flush() { _ = t.tw.Flush() }

// isTerminal reports whether w is a terminal (a character device), where a progress
// bar helps; in pipes and files it would only add noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress draws a progress bar with rate and ETA on stderr, only when stderr is a
// terminal; otherwise it does nothing.
type progress struct {
	w     io.Writer
	label string
	on    bool

	mu    sync.Mutex
	total int64
	done  int64
	start time.Time
	drawn time.Time
}

func newProgress(e *env, label string, total int64) *progress {
	return &progress{w: e.stderr, label: label, total: total, start: time.Now(), on: isTerminal(e.stderr)}
}

// add counts n more items done.
func (p *progress) add(n int) {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += int64(n)
	if now := time.Now(); now.Sub(p.drawn) >= 100*time.Millisecond {
		p.drawn = now
		p.drawLocked(now)
	}
}

// finish clears the bar's line.
func (p *progress) finish() {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 79))
}

func (p *progress) drawLocked(now time.Time) {
	fmt.Fprintf(p.w, "\r%s", progressLine(p.label, p.done, p.total, now.Sub(p.start)))
}

// progressLine renders "label [=====>    ] 120/500  24%  35/s  ETA 11s" in at most 79
// columns.
func progressLine(label string, done, total int64, elapsed time.Duration) string {
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	const width = 24
	if total <= 0 {
		return fmt.Sprintf("%-12s %d  %.0f/s", label, done, rate)
	}
	frac := min(float64(done)/float64(total), 1)
	n := int(frac * width)
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
		if done >= total {
			eta = "0s"
		}
	}
	line := fmt.Sprintf("%-12s [%s] %d/%d %3.0f%%  %.0f/s  ETA %s", label, bar, done, total, frac*100, rate, eta)
	if len(line) > 79 {
		line = line[:79]
	}
	return line
}

// ago renders how long ago t was, coarsely: "3s", "5m", "2h10m", "3d".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return duration(now.Sub(t))
}

func duration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func timeCell(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// jsonTime is a time for JSON output: RFC 3339 UTC, null when unknown.
func jsonTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
