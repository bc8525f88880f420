package proxy

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

// Large documents. An event whose record would pass publish.max_record_bytes is
// published as a chunk group (pkg/event.Split): the pieces of the document in records
// that each fit, in order on the document's key, through the same idempotent producer;
// the write is answered 2xx only once every piece is acknowledged. A document the proxy
// would not replicate is refused before the primary is called (DESIGN.md principle 5).

// chunkRoom is what a piece's record holds besides its piece, at most: the event's
// fields (an id of up to 512 bytes, index, routing, request id, cluster name), the
// chunk description, headers and record overhead. A document within chunkRoom of the
// record limit may be chunked, and its records are charged as such.
const chunkRoom = 2 << 10

// docTooLargeError is a document over publish.max_document_bytes.
type docTooLargeError struct {
	index, id string // as the request addressed it; id "" for an auto-id write
	size, max int64
}

func (e *docTooLargeError) Error() string {
	doc := "[" + e.index + "]"
	if e.id != "" {
		doc = "[" + e.index + "/" + e.id + "]"
	}
	return fmt.Sprintf("the document %s is [%d] bytes, more than the [%d] bytes fanout replicates (publish.max_document_bytes); the request was not sent to the primary, nothing was applied",
		doc, e.size, e.max)
}

// reserveRecords checks, before the primary is called, that every document the
// request writes can be replicated, and charges the request's budget for the records
// of the documents that will be published as chunk groups: each piece is copied once
// into its record, and the records of one document may all be in the producer's
// buffer at once. It returns the bytes charged, which the encoder counts its records
// against. A document's size is only known here for index and create; an update's
// resulting document is charged when its records are built (the write is applied by
// then, so that charge cannot refuse it).
func (p *Proxy) reserveRecords(pl *plan, ch charge) (int64, error) {
	if pl.scanErr != nil {
		return 0, nil
	}
	most := p.cfg.maxDocumentBytes()
	threshold := int64(p.cfg.Publish.MaxRecordBytes) - chunkRoom
	var prepaid int64
	for i := range pl.items {
		q := &pl.items[i]
		if q.action != bulk.ActionIndex && q.action != bulk.ActionCreate {
			continue
		}
		n := int64(len(q.payload))
		if n > most {
			return 0, &docTooLargeError{index: q.index, id: q.id, size: n, max: most}
		}
		if n > threshold {
			prepaid += n + (n/max(threshold, 1)+1)*chunkRoom
		}
	}
	if prepaid == 0 {
		return 0, nil
	}
	if err := ch.add(prepaid); err != nil {
		return 0, err
	}
	return prepaid, nil
}

// refuseUnreplicable answers a request reserveRecords refused.
func (p *Proxy) refuseUnreplicable(w http.ResponseWriter, r *http.Request, err error) {
	var tl *docTooLargeError
	if errors.As(err, &tl) {
		p.m.rejected.WithLabelValues("document_too_large").Inc()
		writeError(w, r, http.StatusRequestEntityTooLarge, errTooLarge, tl.Error())
		return
	}
	p.overBudget(w, r, err)
}

// recordCharge counts a request's records against what reserveRecords charged, and
// charges past it (force: the write is applied) what it did not foresee.
type recordCharge struct {
	prepaid int64
	res     *reservation
}

func (c *recordCharge) add(n int64) {
	if c == nil || c.res == nil {
		return
	}
	if n <= c.prepaid {
		c.prepaid -= n
		return
	}
	c.res.force(n - c.prepaid)
	c.prepaid = 0
}

// newGroupID returns a chunk group id: 16 random bytes, unique per event, so that
// the groups of concurrent writers of one document never mix.
func newGroupID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}
