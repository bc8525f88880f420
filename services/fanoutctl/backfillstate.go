package fanoutctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The progress of a backfill lives in a small JSON file (--state), rewritten whole
// (temporary file, fsync, rename) after every page a slice applied.
//
// Why a file and not a compacted Kafka topic: one operator runs one backfill from one
// place; a file needs no topic, no ACLs and no reader to be written, and can be read
// and removed with the tools everyone has. What losing it costs is bounded: a backfill
// run again from the start is as correct (external versions make every copy
// idempotent), only slower. A topic would survive the loss of the machine the backfill
// ran on, which matters little for that reason.

// backfillStateVersion is the file's format; a file of another is refused.
const backfillStateVersion = 1

// backfillState is the file's content.
type backfillState struct {
	Version int       `json:"version"`
	Cluster string    `json:"cluster"`
	Group   string    `json:"group"`
	Started time.Time `json:"started"`
	// Offsets are the ops topic's end offsets recorded before the first point in time;
	// OffsetsAction says what was done with them ("set" or "kept").
	Offsets       []partitionOffset `json:"offsets"`
	OffsetsAction string            `json:"offsets_action"`
	Slices        int               `json:"slices"`
	// Indices by primary name, in the order they are copied.
	Indices []*indexProgress `json:"indices"`
}

type partitionOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// indexProgress is one index's copy.
type indexProgress struct {
	Index       string           `json:"index"`
	TargetIndex string           `json:"target_index"`
	Slices      []*sliceProgress `json:"slices"`
	Reconciled  bool             `json:"reconciled"`
	// ReconcileChecked and ReconcileDeleted count the reconcile pass's work.
	ReconcileChecked int64 `json:"reconcile_checked"`
	ReconcileDeleted int64 `json:"reconcile_deleted"`
}

func (ip *indexProgress) copied() bool {
	for _, sp := range ip.Slices {
		if !sp.Done {
			return false
		}
	}
	return true
}

// sliceProgress is one slice of one index: where its next page starts (the last hit's
// _id, the sort key) and what it copied so far.
type sliceProgress struct {
	After []any `json:"after,omitempty"`
	Done  bool  `json:"done"`
	// Total is the slice's hit count in the first point in time (for the ETA).
	Total    int64 `json:"total"`
	Docs     int64 `json:"docs"`
	Bytes    int64 `json:"bytes"`
	Resolved int64 `json:"resolved"`
	Stale    int64 `json:"stale"`
	Deleted  int64 `json:"deleted"`
	Failed   int64 `json:"failed"`
}

// stateFile holds a backfill's progress and saves it to path ("" saves nothing: no
// --state). Its lock guards the state: the slices change it only through update.
type stateFile struct {
	path string
	mu   sync.Mutex
	st   *backfillState
}

// update changes the state under the lock and saves it.
func (f *stateFile) update(fn func(*backfillState)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.st)
	return f.saveLocked()
}

// read calls fn with the state under the lock.
func (f *stateFile) read(fn func(*backfillState)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.st)
}

// loadState reads path; found false when it does not exist.
func loadState(path string) (*backfillState, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the state file: %w", err)
	}
	var st backfillState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, false, fmt.Errorf("state file %s: %w", path, err)
	}
	if st.Version != backfillStateVersion {
		return nil, false, fmt.Errorf("state file %s has format %d, want %d", path, st.Version, backfillStateVersion)
	}
	return &st, true, nil
}

// saveLocked writes the state whole, atomically.
func (f *stateFile) saveLocked() error {
	if f.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(f.st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the backfill state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), filepath.Base(f.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("saving the backfill state: %w", err)
	}
	defer os.Remove(tmp.Name()) // gone after the rename; removes a failed attempt's
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("saving the backfill state to %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("saving the backfill state to %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving the backfill state to %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("saving the backfill state: %w", err)
	}
	return nil
}
