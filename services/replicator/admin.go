package replicator

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"
)

// Pause stops replication on this instance: fetching pauses, and each partition
// stops after the bulk in flight. Offsets resolved so far are still committed. Other
// instances of the group are not affected.
func (r *Replicator) Pause() {
	r.pauseMu.Lock()
	if !r.paused {
		r.paused = true
		r.resumed = make(chan struct{})
		r.m.paused.Set(1)
		r.log.Info("replication paused by operator")
	}
	r.pauseMu.Unlock()
	r.flow.update()
}

// Resume ends Pause.
func (r *Replicator) Resume() {
	r.pauseMu.Lock()
	if r.paused {
		r.paused = false
		close(r.resumed)
		r.resumed = nil
		r.m.paused.Set(0)
		r.log.Info("replication resumed by operator")
	}
	r.pauseMu.Unlock()
	r.flow.update()
}

func (r *Replicator) isPaused() bool {
	r.pauseMu.Lock()
	defer r.pauseMu.Unlock()
	return r.paused
}

// resumedSignal returns a channel closed when an operator pause ends, nil if not
// paused.
func (r *Replicator) resumedSignal() <-chan struct{} {
	r.pauseMu.Lock()
	defer r.pauseMu.Unlock()
	return r.resumed
}

// Status is what GET /admin/status answers.
type Status struct {
	Cluster    string            `json:"cluster"`
	Group      string            `json:"group"`
	Paused     bool              `json:"paused"`
	Draining   bool              `json:"draining"`
	TargetUp   bool              `json:"target_up"`
	TargetErr  string            `json:"target_error,omitempty"`
	Buffered   int64             `json:"buffered_bytes"`
	Partitions []PartitionStatus `json:"partitions"`
}

// PartitionStatus describes one partition this instance owns.
type PartitionStatus struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// CommittedOffset is the last offset this instance committed, or the one it
	// started from; -1 while unknown.
	CommittedOffset int64 `json:"committed_offset"`
	// ResolvedOffset is the offset after the last resolved record (applied, stale,
	// skipped or dead-lettered): what the next commit will say.
	ResolvedOffset int64 `json:"resolved_offset"`
	HighWatermark  int64 `json:"high_watermark"`
	// Lag is HighWatermark - ResolvedOffset: records not resolved yet.
	Lag             int64      `json:"lag"`
	LagSeconds      float64    `json:"lag_seconds"`
	LastApplied     *time.Time `json:"last_applied,omitempty"`
	LastAccepted    *time.Time `json:"last_accepted,omitempty"`
	BufferedRecords int        `json:"buffered_records"`
	BufferedBytes   int64      `json:"buffered_bytes"`
	// InFlight* are the batch being applied: taken from the buffer, not resolved
	// yet. Its bytes count against the caps, as the buffered ones do.
	InFlightRecords int   `json:"inflight_records"`
	InFlightBytes   int64 `json:"inflight_bytes"`
	FetchPaused     bool  `json:"fetch_paused"`
	// State is running, paused (by an operator), blocked (retrying; see
	// LastError) or barrier (at a metadata change, waiting; see Barrier).
	State string `json:"state"`
	// Barrier says what a partition at a metadata change's barrier waits for.
	Barrier     string     `json:"barrier,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

// Status returns the replicator's state, partitions sorted by topic and number.
func (r *Replicator) Status() Status {
	up, why := r.health.state()
	st := Status{
		Cluster: r.cfg.Target.Name, Group: r.group, Paused: r.isPaused(), Draining: r.draining.Load(),
		TargetUp: up, TargetErr: why,
		Partitions: []PartitionStatus{},
	}
	r.flow.mu.Lock()
	st.Buffered = r.flow.total
	r.flow.mu.Unlock()
	now := r.now()
	for _, p := range r.allPartitions() {
		p.mu.Lock()
		// An idle partition notices a pause only when records arrive.
		state := p.state
		if st.Paused && state == stateRunning {
			state = statePaused
		}
		ps := PartitionStatus{
			Topic: p.topic, Partition: p.id,
			CommittedOffset: p.committed, ResolvedOffset: p.resolved, HighWatermark: p.hwm,
			BufferedRecords: len(p.queue) - p.head, BufferedBytes: p.bytes, FetchPaused: p.fetchPaused,
			InFlightRecords: p.inflightN, InFlightBytes: p.inflight,
			State: state, LastError: p.lastErr, Barrier: p.barrier,
			LastApplied: timePtr(p.lastApplied), LastAccepted: timePtr(p.lastAccepted), LastErrorAt: timePtr(p.lastErrAt),
		}
		ps.Lag, ps.LagSeconds = p.lagLocked(now)
		p.mu.Unlock()
		st.Partitions = append(st.Partitions, ps)
	}
	sort.Slice(st.Partitions, func(i, j int) bool {
		a, b := st.Partitions[i], st.Partitions[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	return st
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (r *Replicator) serveStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, r.Status())
}

func (r *Replicator) servePause(w http.ResponseWriter, _ *http.Request) {
	r.Pause()
	writeJSON(w, http.StatusOK, map[string]any{"paused": true})
}

func (r *Replicator) serveResume(w http.ResponseWriter, _ *http.Request) {
	r.Resume()
	writeJSON(w, http.StatusOK, map[string]any{"paused": false})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
