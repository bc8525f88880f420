package searchemu

import (
	"strconv"
	"time"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

// docOp is one document write, from a bulk item or a single-document request.
type docOp struct {
	action          bulk.Action // ActionCreate for index with op_type=create
	index           string      // target as given
	id              string
	hasID           bool
	routing         string
	hasRouting      bool
	pipeline        string
	versionType     string
	version         int64
	ifSeqNo         int64
	ifTerm          int64
	requireAlias    bool
	retryOnConflict int
	payload         []byte // index/create: the source; update: the raw payload
	upd             *bulk.UpdatePayload
	fetch           *fetchSource // update: source to return under "get"
	// update: the partial doc carries the request's routing. RestUpdateAction copies
	// ?routing onto the doc; BulkRequestParser never sets the doc's routing.
	docRouting bool
	// indexGiven: index is an expression, possibly empty (a path's {index} matched by an
	// empty segment, "//_doc/1"), not Java's null (a bulk item with neither _index nor a
	// URL index). ReplicationRequest.validate only refuses null; an empty name fails later,
	// at auto-create (invalid_index_name_exception) or resolution (index_not_found_exception).
	indexGiven bool
}

func newDocOp(a bulk.Action) docOp {
	return docOp{action: a, versionType: vtInternal, version: matchAny, ifSeqNo: unassignedSeq, ifTerm: unassignedTerm}
}

// opResult is the outcome of one write, rendered as a bulk item or a write response.
type opResult struct {
	key    string // response key: index, create, update, delete
	index  string
	id     string
	idNull bool
	ix     *index
	res    writeRes
	err    *esError
	get    []byte // rendered "get" object content, nil if none
	forced bool
	// docType is the Elasticsearch 7 "_type" the request named ("" is _doc).
	docType string
	// reached reports that the op got to its shard (a shard-level write ran, whatever
	// its outcome), and shard which one: the refresh policy applies there (refresh.go).
	reached bool
	shard   int
}

func (c *Cluster) errRejected(kind string, bytes int) *esError {
	reason := "rejected execution of " + kind + " operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, " + kind + "_operation_bytes=" + strconv.Itoa(bytes) + ", max_coordinating_and_primary_bytes=107374182]"
	return newErr(429, c.rejectedType(), reason, false)
}

// ensureIndex auto-creates a missing write target (TransportBulkAction's auto-create).
func (c *Cluster) ensureIndex(name string) *esError {
	c.mu.RLock()
	_, _, ok := c.abstractionLocked(name)
	c.mu.RUnlock()
	if ok {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, _, ok := c.abstractionLocked(name); ok {
		return nil
	}
	if c.opts.NoAutoCreate {
		return errIndexNotFoundMsg(name, "[action.auto_create_index] is [false]")
	}
	if err := validateIndexName(name); err != nil {
		return err
	}
	// AutoCreateAction: a matching data stream template creates a data stream
	if v2 := c.templates.v2TemplateFor(name); v2 != "" && c.templates.v2[v2].dataStream != nil {
		return c.createDataStreamLocked(name)
	}
	_, err := c.createIndexLocked(name, nil)
	return err
}

// createsIndex reports whether an op may auto-create its index (deletes only with
// external versioning; require_alias never).
func (op *docOp) createsIndex() bool {
	if op.requireAlias {
		return false
	}
	if op.action == bulk.ActionDelete {
		return op.versionType == vtExternal || op.versionType == vtExternalGTE
	}
	return true
}

// execute runs one op against its resolved index. The caller has done validation,
// pipeline and auto-create handling.
func (c *Cluster) execute(ix *index, op *docOp) opResult {
	r := opResult{key: op.action.String(), index: ix.name, id: op.id, ix: ix}
	if ix.dsName == op.index && ix.dsName != "" {
		// written through the stream's name (TransportBulkAction's data stream checks)
		if err := dataStreamWriteErr(op.index, op); err != nil {
			r.err = err
			return r
		}
	}
	op.normaliseRouting()
	// TransportBulkAction resolves and checks the routing before the shard (and its
	// blocks) is reached.
	routing, hasRouting, err := c.aliasIndexRouting(op.index, ix, op.routing, op.hasRouting)
	if err != nil {
		r.err = err
		return r
	}
	op.routing, op.hasRouting = routing, hasRouting
	if !op.hasRouting && ix.mapping.Load().routingRequired() {
		r.err = c.errRoutingMissing(ix, op.id)
		return r
	}
	if ix.k().blockWrite {
		r.err = errIndexBlockWrite(ix.name)
		return r
	}
	if ix.k().blockReadOnly {
		r.err = errIndexBlockReadOnly(ix.name)
		return r
	}
	now := c.now()
	switch op.action {
	case bulk.ActionIndex, bulk.ActionCreate:
		if op.hasID && op.id == "" {
			r.err = errIllegalArg("if _id is specified it must not be empty")
			return r
		}
		if !op.hasID {
			op.id = c.autoID()
			op.hasID = true
			r.id = op.id
		}
		src := make([]byte, len(op.payload))
		copy(src, op.payload)
		wr := writeReq{shard: ix.shardFor(op.id, op.routing, op.hasRouting), id: op.id, src: src, routing: op.routing, hasRouting: op.hasRouting, versionType: op.versionType, version: op.version, ifSeqNo: op.ifSeqNo, ifTerm: op.ifTerm, create: op.action == bulk.ActionCreate}
		r.reached, r.shard = true, wr.shard
		r.res, r.err = c.indexDoc(ix, &wr, now)
	case bulk.ActionDelete:
		wr := writeReq{shard: ix.shardFor(op.id, op.routing, op.hasRouting), id: op.id, routing: op.routing, hasRouting: op.hasRouting, versionType: op.versionType, version: op.version, ifSeqNo: op.ifSeqNo, ifTerm: op.ifTerm}
		r.reached, r.shard = true, wr.shard
		ix.mu.Lock()
		if ix.deleted {
			ix.mu.Unlock()
			r.err = errIndexNotFound(ix.name)
			return r
		}
		r.res, r.err = ix.applyDeleteLocked(c, &wr, now)
		ix.mu.Unlock()
	case bulk.ActionUpdate:
		r.reached, r.shard = true, ix.shardFor(op.id, op.routing, op.hasRouting)
		r.res, r.get, r.err = c.update(ix, op, now)
	}
	return r
}

// indexDoc checks the source against the mapping (outside the index lock, against a
// snapshot), publishes any dynamic mapping update, then applies the write.
func (c *Cluster) indexDoc(ix *index, wr *writeReq, now time.Time) (writeRes, *esError) {
	for {
		base := ix.mapping.Load()
		dyn, err := ix.walkSource(base, wr.src, wr.id)
		if err != nil {
			return writeRes{}, err
		}
		var updated *mapping
		if len(dyn) > 0 {
			updated, err = base.applyDynamic(dyn)
			if err != nil {
				return writeRes{}, err
			}
			if err := updated.checkLimits(ix); err != nil {
				return writeRes{}, err
			}
			if err := ix.checkPartitionedMapping(updated); err != nil {
				return writeRes{}, err
			}
		}
		if ix.dsTimestamp != "" {
			final := base
			if updated != nil {
				final = updated
			}
			if err := checkTimestamp(final, wr.src, ix.dsTimestamp); err != nil {
				return writeRes{}, err
			}
		}
		ix.mu.Lock()
		if ix.deleted {
			ix.mu.Unlock()
			return writeRes{}, errIndexNotFound(ix.name)
		}
		if updated != nil {
			if ix.mapping.Load() != base {
				// the mapping moved on while we walked: check again against the new one
				ix.mu.Unlock()
				continue
			}
			ix.mapping.Store(updated)
			ix.versions.bump(&ix.versions.mapping)
		}
		res, verr := ix.applyIndexLocked(c, wr, now)
		ix.mu.Unlock()
		return res, verr
	}
}

// checkAndPublishLocked walks src against the current mapping and publishes dynamic
// fields; ix.mu must be held.
func (ix *index) checkAndPublishLocked(src []byte, id string) *esError {
	base := ix.mapping.Load()
	dyn, err := ix.walkSource(base, src, id)
	if err != nil {
		return err
	}
	if len(dyn) == 0 {
		if ix.dsTimestamp != "" {
			return checkTimestamp(base, src, ix.dsTimestamp)
		}
		return nil
	}
	updated, err := base.applyDynamic(dyn)
	if err != nil {
		return err
	}
	if err := updated.checkLimits(ix); err != nil {
		return err
	}
	if err := ix.checkPartitionedMapping(updated); err != nil {
		return err
	}
	if ix.dsTimestamp != "" {
		if err := checkTimestamp(updated, src, ix.dsTimestamp); err != nil {
			return err
		}
	}
	ix.mapping.Store(updated)
	ix.versions.bump(&ix.versions.mapping)
	return nil
}

// appendDocType writes the "_type" member of Elasticsearch 7 responses.
func (c *Cluster) appendDocType(b []byte) []byte { return c.appendDocTypeOf(b, "") }

// appendDocTypeOf writes the "_type" member of Elasticsearch 7 responses for a request
// (or index) of type t; "" is _doc.
func (c *Cluster) appendDocTypeOf(b []byte, t string) []byte {
	if c.opts.Flavor == Elasticsearch7 {
		if t == "" {
			t = "_doc"
		}
		b = append(b, `,"_type":`...)
		b = appendJSONString(b, t)
	}
	return b
}

// appendWriteBody renders a write response's members (no braces): _index, _id, _version,
// result, [forced_refresh], _shards, [_seq_no, _primary_term], [get].
func (c *Cluster) appendWriteBody(b []byte, r *opResult) []byte {
	b = append(b, `"_index":`...)
	b = appendJSONString(b, r.index)
	b = c.appendDocTypeOf(b, r.docType)
	b = append(b, `,"_id":`...)
	b = appendJSONString(b, r.id)
	b = append(b, `,"_version":`...)
	b = strconv.AppendInt(b, r.res.version, 10)
	b = append(b, `,"result":"`...)
	b = append(b, r.res.result...)
	b = append(b, '"')
	if r.forced {
		b = append(b, `,"forced_refresh":true`...)
	}
	if r.res.shards {
		total := 1 + r.ix.k().replicas
		b = append(b, `,"_shards":{"total":`...)
		b = strconv.AppendInt(b, int64(total), 10)
		b = append(b, `,"successful":1,"failed":0}`...)
	} else {
		b = append(b, `,"_shards":{"total":0,"successful":0,"failed":0}`...)
	}
	if r.res.seqNo >= 0 {
		b = append(b, `,"_seq_no":`...)
		b = strconv.AppendInt(b, r.res.seqNo, 10)
		b = append(b, `,"_primary_term":`...)
		b = strconv.AppendInt(b, r.res.term, 10)
	}
	if r.get != nil {
		b = append(b, `,"get":`...)
		b = append(b, r.get...)
	}
	return b
}

// appendFailureItem renders a failed bulk item's members: _index, _id, status, error.
func (c *Cluster) appendFailureItem(b []byte, r *opResult) []byte {
	b = append(b, `"_index":`...)
	b = appendJSONString(b, r.index)
	b = c.appendDocTypeOf(b, r.docType)
	b = append(b, `,"_id":`...)
	if r.idNull {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, r.id)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.err.status), 10)
	b = append(b, `,"error":`...)
	return r.err.appendObject(b)
}

// location is DocWriteResponse.getLocation: /{index}/_doc/{id}[?routing=r], URL-encoded
// with java.net.URLEncoder.
func location(index, id, routing string, hasRouting bool) string {
	s := "/" + javaURLEncode(index) + "/_doc/" + javaURLEncode(id)
	if hasRouting {
		s += "?routing=" + javaURLEncode(routing)
	}
	return s
}

func javaURLEncode(s string) string {
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '*' || ch == '_':
			out = append(out, ch)
		case ch == ' ':
			out = append(out, '+')
		default:
			out = append(out, '%', hex[ch>>4], hex[ch&15])
		}
	}
	return string(out)
}
