package spool

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/fanout-dev/fanout/pkg/dirlock"
)

// Info is what Inspect finds in a spool directory.
type Info struct {
	Dir string `json:"dir"`
	Stats
	// TornBytes are the bytes of a torn tail the next Open truncates.
	TornBytes int64 `json:"torn_bytes,omitempty"`
	// Locked says a process has the spool open; PID is the one it wrote, 0 if unknown.
	Locked bool `json:"locked"`
	PID    int  `json:"pid,omitempty"`
}

// Inspect reads a spool directory without opening it: it takes no lock (a running
// proxy may be appending; the figures are a moment's) and changes nothing.
func Inspect(dir string) (Info, error) {
	info := Info{Dir: dir}
	st, err := os.Stat(dir)
	if err != nil {
		return info, fmt.Errorf("spool %s: %w", dir, err)
	}
	if !st.IsDir() {
		return info, fmt.Errorf("spool %s: not a directory", dir)
	}
	if info.Locked, info.PID, err = dirlock.Holder(dir); err != nil {
		return info, fmt.Errorf("spool %s: %w", dir, err)
	}
	mark, _, err := readMark(dir)
	if err != nil {
		return info, err
	}
	seqs, err := listSegments(dir)
	if err != nil {
		return info, fmt.Errorf("spool %s: %w", dir, err)
	}
	for len(seqs) > 0 && seqs[0] < mark.Segment {
		seqs = seqs[1:] // drained, not deleted yet
	}
	if mark.Segment == 0 && len(seqs) > 0 {
		mark = Pos{Segment: seqs[0]}
	}
	info.Drained, info.Segments = mark, len(seqs)
	var oldest time.Time
	for i, seq := range seqs {
		from := int64(0)
		if seq == mark.Segment {
			from = mark.Offset
		}
		// A live proxy's last segment may end in a write not complete yet: a torn tail
		// is counted, never an error.
		res, err := scanSegment(dir, seq, from, i == len(seqs)-1)
		if errors.Is(err, os.ErrNotExist) {
			continue // drained and deleted while we read
		}
		if err != nil {
			return info, err
		}
		if oldest.IsZero() && res.records > 0 {
			oldest = res.oldest
		}
		info.Records += res.records
		info.Bytes += res.end - from
		if res.torn {
			info.TornBytes = res.size - res.end
		}
	}
	info.Oldest = oldest
	return info, nil
}
