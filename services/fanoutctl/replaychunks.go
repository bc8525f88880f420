package fanoutctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/kafkax"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// Chunked documents in the DLQ. A replicator dead-letters a chunked document as chunk
// records (a rejected document split again to fit the DLQ topic; the pieces received of
// an invalid or incomplete group as they came). A replay that resolves against the
// primary needs only the first piece, which carries every field of the event: it is
// looked up and applied as the primary has the document now, and the other pieces are
// done with it. --as-recorded puts each group back together, across batches, and
// applies it whole with its last piece; the replay's committed progress stays at the
// first piece of a group still open, so that an interrupted replay reads it again. A
// group still open once the whole range is read can never be completed: its pieces go
// back to the DLQ as they were and the progress moves past them (failOpenGroups).

type topicPartition struct {
	topic     string
	partition int32
}

// pieceGroup names a chunk group being put together in one DLQ partition.
type pieceGroup struct {
	tp    topicPartition
	group string
}

// takePiece decides what to do with a chunk record.
func (rp *replayer) takePiece(st *step) {
	en := st.en
	st.piece = true
	c := en.op.GetChunk()
	if !rp.f.asRecorded {
		if c.GetIndex() == 0 {
			op := proto.Clone(en.op).(*opspb.Operation)
			op.Chunk = nil // the source is the primary's, once resolved
			st.op, st.how, st.group = op, resolvedAsRecorded, c.GetGroup()
		}
		return
	}
	if rp.asm == nil {
		rp.asm = map[topicPartition]*event.Assembler{}
	}
	k := topicPartition{en.rec.Topic, en.rec.Partition}
	a := rp.asm[k]
	if a == nil {
		a = &event.Assembler{}
		rp.asm[k] = a
	}
	out, g, _, err := a.Add(en.rec, en.op)
	pg := pieceGroup{k, string(c.GetGroup())}
	switch out {
	case event.Buffered:
		if rp.pending == nil {
			rp.pending = map[pieceGroup][]*dlqEntry{}
		}
		rp.pending[pg] = append(rp.pending[pg], en)
		return
	case event.Complete, event.Invalid:
		delete(rp.pending, pg)
	}
	switch out {
	case event.Complete:
		st.op, st.how, st.group = g.Document(), resolvedAsRecorded, g.ID
	case event.Invalid:
		st.failClass, st.failType = kafkax.ClassPoison, string(event.ReasonChunkMismatch)
		var pe *event.PoisonError
		if errors.As(err, &pe) {
			st.failType = string(pe.Reason)
		}
		st.failReason = err.Error()
	case event.Orphan:
		st.failClass, st.failType = kafkax.ClassPoison, string(event.ReasonChunkIncomplete)
		st.failReason = fmt.Sprintf("piece %d of chunk group %x without its first piece in what this replay read (replay without --as-recorded to resolve the document from the primary)",
			c.GetIndex(), c.GetGroup())
	}
}

// holdOpenGroups keeps the replay's progress at the first piece of every group still
// being put together.
func (rp *replayer) holdOpenGroups(offs kadm.Offsets) {
	for k, a := range rp.asm {
		first, ok := a.FirstOffset()
		if !ok {
			continue
		}
		if o, have := offs.Lookup(k.topic, k.partition); have && o.At > first {
			o.At = first
			offs.Add(o)
		}
	}
}

// failOpenGroups ends a replay that read its whole range with chunk groups still open:
// their last pieces are not in the DLQ (the replicator dead-letters a group it gave up
// on as incomplete with the pieces it had), so no replay --as-recorded can complete
// them. Their pieces go back to the DLQ as they were, with attempts + 1 and error type
// chunk_incomplete, and the progress moves past them. A replay without --as-recorded
// resolves such a document from the primary.
func (rp *replayer) failOpenGroups(ctx context.Context) error {
	var failed []*step
	var parts []topicPartition
	for k, a := range rp.asm {
		open := a.Open()
		for _, g := range open {
			pieces := rp.pending[pieceGroup{k, string(g.ID)}]
			reason := fmt.Sprintf("chunk group %x of %s incomplete: pieces 0 to %d of %d are in the DLQ, the rest never reached it; "+
				"replay without --as-recorded to apply the primary's document", g.ID, g.Key, len(g.Offsets)-1, g.Count)
			for _, en := range pieces {
				failed = append(failed, &step{en: en, piece: true, failClass: kafkax.ClassPoison,
					failType: string(event.ReasonChunkIncomplete), failReason: reason})
			}
			delete(rp.pending, pieceGroup{k, string(g.ID)})
			a.Remove(g)
			rp.rep.IncompleteGroups++
		}
		if len(open) > 0 {
			parts = append(parts, k)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	if err := rp.republish(ctx, failed); err != nil {
		return err
	}
	offs := kadm.Offsets{}
	for _, k := range parts {
		if at, ok := rp.done[k]; ok {
			offs.Add(kadm.Offset{Topic: k.topic, Partition: k.partition, At: at, LeaderEpoch: -1})
		}
	}
	rp.holdOpenGroups(offs)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := rp.adm.CommitAllOffsets(cctx, rp.rep.Group, offs); err != nil {
		return fmt.Errorf("committing the replay's progress past %d incomplete chunk groups (the next replay re-publishes them again): %w",
			rp.rep.IncompleteGroups, err)
	}
	return nil
}

// chunkRecords builds the dead-letter records of a document that goes back to the DLQ:
// one record, or chunk records of the group id group, each fitting limit with the
// dead-letter headers.
func chunkRecords(topic string, op *opspb.Operation, group []byte, dl kafkax.DeadLetter, limit int) ([]*kgo.Record, error) {
	const slack = 8 << 10 // the dead-letter headers; the reason is capped at 4 KiB
	rs, err := event.Split(topic, op, limit-slack, func() []byte { return group })
	if err != nil {
		return nil, err
	}
	out := make([]*kgo.Record, 0, rs.Len())
	for k := 0; k < rs.Len(); k++ {
		rec, err := rs.Record(k)
		if err != nil {
			return nil, err
		}
		out = append(out, kafkax.NewDeadLetterRecord(topic, rec, dl))
	}
	return out, nil
}
