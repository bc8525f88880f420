package searchemu

import (
	"strconv"
	"time"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

// update runs UpdateHelper's algorithm under the index lock: read the live document,
// merge or upsert, detect no-ops, and write conditionally on what was read. Holding the
// lock for the whole read-modify-write means concurrent updates never conflict spuriously,
// so retry_on_conflict never has anything to retry; explicit if_seq_no/if_primary_term
// mismatches still answer 409.
//
// The update runs on the shard its routing (or, without one, its id) names, as
// TransportUpdateAction does; which routing the updated document keeps is
// UpdateHelper.calculateRouting's (below). An upsert creates the document with the
// request's routing (UpdateHelper.prepareUpsert).
func (c *Cluster) update(ix *index, op *docOp, now time.Time) (writeRes, []byte, *esError) {
	u := op.upd
	shard := ix.shardFor(op.id, op.routing, op.hasRouting)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.deleted {
		return writeRes{}, nil, errIndexNotFound(ix.name)
	}
	d := ix.shards[shard].docs[op.id]
	if op.ifSeqNo != unassignedSeq {
		if d == nil {
			return writeRes{}, nil, c.errDocumentMissing(ix, op.id).onShard(shard)
		}
		if d.seqNo != op.ifSeqNo || d.primaryTerm != op.ifTerm {
			return writeRes{}, nil, errVersionConflict(ix, op.id, "required seqNo ["+itoa(op.ifSeqNo)+"], primary term ["+itoa(op.ifTerm)+"]. current document has seqNo ["+itoa(d.seqNo)+"] and primary term ["+itoa(d.primaryTerm)+"]").onShard(shard)
		}
	}
	if d == nil {
		if u.Upsert == nil && !u.DocAsUpsert {
			return writeRes{}, nil, c.errDocumentMissing(ix, op.id).onShard(shard)
		}
		if u.ScriptedUpsert && u.Script != nil {
			return c.scriptedUpsert(ix, op, shard, now)
		}
		raw := u.Upsert
		if u.DocAsUpsert {
			raw = u.Doc
		}
		v, je := parseJSON(raw)
		if je != nil {
			return writeRes{}, nil, wrapParse(errFromJSON(raw, je))
		}
		src := appendCanonical(nil, v)
		if err := ix.checkAndPublishLocked(src, op.id); err != nil {
			return writeRes{}, nil, err
		}
		wr := writeReq{shard: shard, id: op.id, src: src, routing: op.routing, hasRouting: op.hasRouting, versionType: vtInternal, version: matchAny, ifSeqNo: unassignedSeq, create: true}
		if o, ok := v.(*jsonObj); ok {
			wr.parsed = o
		}
		res, err := ix.applyIndexLocked(c, &wr, now)
		if err != nil {
			return writeRes{}, nil, err
		}
		return res, updateGet(op.fetch, res, src, wr.parsed), nil
	}
	if u.Script != nil {
		return c.scriptUpdate(ix, op, d, shard, now)
	}
	dv, je := parseJSON(u.Doc)
	if je != nil {
		return writeRes{}, nil, wrapParse(errFromJSON(u.Doc, je))
	}
	changes, ok := dv.(*jsonObj)
	if !ok {
		return writeRes{}, nil, errMapperParsing("failed to parse", errIllegalArg("doc must be an object"))
	}
	// the update merges into the source as stored (UpdateHelper reads it back)
	sd, stored := ix.storedSource(d)
	if !stored {
		return writeRes{}, nil, c.errSourceMissing(ix, op.id)
	}
	merged := deepCopy(sd.source()).(*jsonObj)
	modified := mergeSource(merged, changes, u.DetectNoop)
	if !modified && u.DetectNoop {
		res := writeRes{result: "noop", status: 200, version: d.version, seqNo: d.seqNo, term: d.primaryTerm}
		return res, updateGet(op.fetch, res, sd.src, sd.source()), nil
	}
	src := appendCanonical(nil, merged)
	if err := ix.checkAndPublishLocked(src, op.id); err != nil {
		return writeRes{}, nil, err
	}
	// UpdateHelper.calculateRouting (server/src/main/java/org/opensearch/action/update/
	// UpdateHelper.java): the partial doc's routing if it has one, else the stored
	// _routing. Only the single-document API gives the doc a routing (see docOp.docRouting);
	// a bulk item's routing only chooses the shard, so a document found there under another
	// routing keeps it. The write stays on the shard the update runs on, whichever routing
	// the document ends up with, as TransportShardBulkAction applies it there.
	routing, hasRouting := d.routing, d.hasRouting
	if op.docRouting && op.hasRouting {
		routing, hasRouting = op.routing, true
	}
	wr := writeReq{shard: shard, id: op.id, src: src, routing: routing, hasRouting: hasRouting, versionType: vtInternal, version: matchAny, ifSeqNo: d.seqNo, ifTerm: d.primaryTerm, parsed: merged}
	res, err := ix.applyIndexLocked(c, &wr, now)
	if err != nil {
		return writeRes{}, nil, err
	}
	return res, updateGet(op.fetch, res, src, merged), nil
}

// mergeSource is XContentHelper.update: deep merge of objects, everything else replaced;
// it reports whether anything changed.
func mergeSource(source, changes *jsonObj, checkUnequal bool) bool {
	modified := false
	for _, ch := range changes.m {
		old := source.member(ch.k)
		if old == nil {
			source.m = append(source.m, jsonMember{k: ch.k, v: deepCopy(ch.v)})
			modified = true
			continue
		}
		oo, ok1 := old.v.(*jsonObj)
		co, ok2 := ch.v.(*jsonObj)
		if ok1 && ok2 {
			if mergeSource(oo, co, checkUnequal && !modified) {
				modified = true
			}
			continue
		}
		prev := old.v
		old.v = deepCopy(ch.v)
		if modified {
			continue
		}
		if !checkUnequal {
			modified = true
			continue
		}
		modified = !jsonEqual(prev, ch.v)
	}
	return modified
}

// updateGet renders the "get" object of an update response when _source was requested.
func updateGet(f *fetchSource, res writeRes, src []byte, parsed *jsonObj) []byte {
	if f == nil || !f.fetch {
		return nil
	}
	b := []byte(`{"_seq_no":`)
	b = strconv.AppendInt(b, res.seqNo, 10)
	b = append(b, `,"_primary_term":`...)
	b = strconv.AppendInt(b, res.term, 10)
	b = append(b, `,"found":true,"_source":`...)
	if f.filters() {
		if parsed == nil {
			v, _ := parseJSON(src)
			parsed, _ = v.(*jsonObj)
			if parsed == nil {
				parsed = &jsonObj{}
			}
		}
		b = appendCanonical(b, filterSource(parsed, f))
	} else {
		b = append(b, src...)
	}
	return append(b, '}')
}

// scriptError is what the emulator answers for a stored script (none exist) and for a
// language other than Painless (a cluster without that module).
func scriptError(script []byte) *esError {
	lang := "painless"
	v, _ := parseJSON(script)
	if o, ok := v.(*jsonObj); ok {
		if l, ok := o.get("lang"); ok {
			if s, ok := l.(string); ok {
				lang = s
			}
		}
		if id, ok := o.get("id"); ok {
			if s, ok := id.(string); ok {
				return errIllegalArgCause("failed to execute script", newErr(404, typeResourceNotFound, "unable to find script ["+s+"] in cluster state", true))
			}
		}
	}
	return errIllegalArgCause("failed to execute script", errIllegalArg("script_lang not supported ["+lang+"]"))
}

// validateUpdate mirrors UpdateRequest.validate (after the index check).
func validateUpdate(op *docOp, msgs []string) []string {
	u := op.upd
	if op.version != matchAny && u.Upsert != nil {
		msgs = append(msgs, "can't provide both upsert request and a version")
	}
	if !op.hasID || op.id == "" {
		msgs = append(msgs, "id is missing")
	}
	msgs = validateCAS(op, msgs)
	if op.ifSeqNo != unassignedSeq {
		if op.retryOnConflict > 0 {
			msgs = append(msgs, "compare and write operations can not be retried")
		}
		if u.DocAsUpsert {
			msgs = append(msgs, "compare and write operations can not be used with upsert")
		}
		if u.Upsert != nil {
			msgs = append(msgs, "upsert requests don't support `if_seq_no` and `if_primary_term`")
		}
	}
	if u.Script == nil && u.Doc == nil {
		msgs = append(msgs, "script or doc is missing")
	}
	if u.Script != nil && u.Doc != nil {
		msgs = append(msgs, "can't provide both script and doc")
	}
	if u.Doc == nil && u.DocAsUpsert {
		msgs = append(msgs, "doc must be specified if doc_as_upsert is enabled")
	}
	return msgs
}

// validateCAS mirrors DocWriteRequest.validateSeqNoBasedCASParams.
func validateCAS(op *docOp, msgs []string) []string {
	valid := true
	switch op.versionType {
	case vtInternal:
		valid = op.version > 0 || op.version == matchAny
	default:
		valid = op.version >= 0
	}
	if !valid {
		msgs = append(msgs, "illegal version value ["+itoa(op.version)+"] for version type ["+versionTypeName(op.versionType)+"]")
	}
	if op.versionType == vtInternal && op.version != matchAny && op.version != -4 {
		msgs = append(msgs, "internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead")
	}
	if op.ifSeqNo != unassignedSeq && (op.versionType != vtInternal || op.version != matchAny) {
		msgs = append(msgs, "compare and write operations can not use versioning")
	}
	if op.ifTerm == unassignedTerm && op.ifSeqNo != unassignedSeq {
		msgs = append(msgs, "ifSeqNo is set, but primary term is [0]")
	}
	if op.ifTerm != unassignedTerm && op.ifSeqNo == unassignedSeq {
		msgs = append(msgs, "ifSeqNo is unassigned, but primary term is ["+itoa(op.ifTerm)+"]")
	}
	return msgs
}

// validateOp validates one write request (IndexRequest/DeleteRequest/UpdateRequest.validate)
// and appends its messages.
func validateOp(op *docOp, msgs []string) []string {
	if op.index == "" && !op.indexGiven {
		msgs = append(msgs, "index is missing")
	}
	switch op.action {
	case bulk.ActionIndex, bulk.ActionCreate:
		if op.action == bulk.ActionCreate {
			if op.versionType != vtInternal {
				return append(msgs, "create operations only support internal versioning. use index instead")
			}
			if op.version != matchAny {
				return append(msgs, "create operations do not support explicit versions. use index instead")
			}
			if op.ifSeqNo != unassignedSeq || op.ifTerm != unassignedTerm {
				return append(msgs, "create operations do not support compare and set. use index instead")
			}
		}
		if !op.hasID && (op.versionType != vtInternal || op.version != matchAny) {
			msgs = append(msgs, "an id must be provided if version type or value are set")
		}
		msgs = validateCAS(op, msgs)
		if op.hasID && len(op.id) > 512 {
			msgs = append(msgs, "id ["+op.id+"] is too long, must be no longer than 512 bytes but was: "+strconv.Itoa(len(op.id)))
		}
		if op.pipeline == "" && op.pipelineSet() {
			msgs = append(msgs, "pipeline cannot be an empty string")
		}
	case bulk.ActionDelete:
		if op.id == "" {
			msgs = append(msgs, "id is missing")
		}
		msgs = validateCAS(op, msgs)
	case bulk.ActionUpdate:
		msgs = validateUpdate(op, msgs)
	}
	return msgs
}

// pipelineSet is a hook for an explicitly empty pipeline; the bulk meta cannot tell an
// empty pipeline from an absent one, so it is never reported.
func (op *docOp) pipelineSet() bool { return false }
