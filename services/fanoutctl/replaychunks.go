package fanoutctl

import (
	"errors"
	"fmt"

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
// first piece of a group still open, so that an interrupted replay reads it again.

type topicPartition struct {
	topic     string
	partition int32
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
