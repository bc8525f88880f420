package replicator

import (
	"net/http"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// Steps 4 and 10 of applying a metadata change (metaapply.go): data streams.

// --- 4: data stream creates -----------------------------------------------------------

type dataStreamsAnswer struct {
	DataStreams []struct {
		Name       string `json:"name"`
		Generation int64  `json:"generation"`
	} `json:"data_streams"`
}

// streamGeneration is the target's generation of a data stream, 0 if it has none.
func (m *metaRun) streamGeneration(name string) (int64, error) {
	var ans dataStreamsAnswer
	found, err := m.get("/_data_stream/"+esc(name), &ans)
	if err != nil || !found {
		return 0, err
	}
	for _, ds := range ans.DataStreams {
		if ds.Name == name {
			return max(ds.Generation, 1), nil
		}
	}
	return 0, nil
}

func (m *metaRun) streamCreates(md *opspb.Metadata) error {
	for _, ds := range md.GetDataStreams() {
		if !ds.GetExists() {
			continue
		}
		if !m.a.policy.DataStreams || !m.a.streamIncluded(ds.GetName()) {
			m.step(stepStreamCreate, stepSkipped)
			continue
		}
		gen, err := m.streamGeneration(ds.GetName())
		if err != nil {
			return err
		}
		if gen > 0 {
			m.step(stepStreamCreate, stepUnchanged)
			continue
		}
		if _, err := m.put(stepStreamCreate, ds.GetName(), http.MethodPut, "/_data_stream/"+esc(ds.GetName()), nil); err != nil {
			return err
		}
	}
	return nil
}

// --- 10: data stream deletes and rollovers ----------------------------------------------

func (m *metaRun) streamDeletesAndRollovers(md *opspb.Metadata) error {
	a := m.a
	for _, ds := range md.GetDataStreams() {
		if !a.policy.DataStreams || !a.streamIncluded(ds.GetName()) {
			m.step(stepRollover, stepSkipped)
			continue
		}
		if !ds.GetExists() {
			if !a.policy.Deletes {
				m.step(stepStreamDelete, stepSkipped)
				continue
			}
			if err := m.del(stepStreamDelete, ds.GetName(), "/_data_stream/"+esc(ds.GetName())); err != nil {
				return err
			}
			continue
		}
		gen, err := m.streamGeneration(ds.GetName())
		if err != nil {
			return err
		}
		if gen == 0 {
			continue // its create was refused
		}
		if gen >= ds.GetGeneration() {
			m.step(stepRollover, stepUnchanged)
			continue
		}
		// One rollover per generation missing; each is idempotent only together with
		// the generation check, which the next apply repeats.
		for ; gen < ds.GetGeneration(); gen++ {
			ok, err := m.put(stepRollover, ds.GetName(), http.MethodPost, "/"+esc(ds.GetName())+"/_rollover", nil)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
		}
	}
	// A backing index deleted on its own (not the write index: the engine refuses that).
	for _, ix := range md.GetIndices() {
		if ix.GetExists() || ix.GetDataStream() == "" {
			continue
		}
		name, ok := a.indexTarget(ix)
		if !ok || !a.policy.DataStreams || !a.policy.Deletes {
			m.step(stepIndexDelete, stepSkipped)
			continue
		}
		if err := m.del(stepIndexDelete, name, "/"+esc(name)); err != nil {
			return err
		}
	}
	return nil
}
