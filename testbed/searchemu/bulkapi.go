package searchemu

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

var bulkParams = []string{"refresh", "routing", "pipeline", "timeout", "wait_for_active_shards", "_source", "_source_includes", "_source_excludes", "require_alias"}

// checkActiveShards validates wait_for_active_shards (ActiveShardCount.parseString).
func checkActiveShards(rq *request) *esError {
	v, ok := rq.query["wait_for_active_shards"]
	if !ok || v == "all" || v == "" {
		return nil
	}
	if n, err := strconv.Atoi(v); err != nil || n < 0 {
		return errIllegalArg("cannot parse ActiveShardCount[" + v + "]")
	}
	return nil
}

func checkTimeout(rq *request) *esError {
	if v, ok := rq.query["timeout"]; ok {
		if _, err := parseTimeValue(v, "timeout"); err != nil {
			return err
		}
	}
	return nil
}

// bulkItem is one parsed item awaiting execution.
type bulkItem struct {
	op     docOp
	result opResult
	done   bool
	// nameErr is the failure to resolve the item's date math index name.
	nameErr *esError
	// docType is the Elasticsearch 7 type of the item ("" is _doc).
	docType string
}

// handleBulk serves POST|PUT /_bulk and /{index}/_bulk. Like the server it frames the
// whole body first (any framing error fails the request), then validates every item (any
// failure fails the request with the numbered list), then executes the items in order.
func handleBulk(c *Cluster, rq *request) *response {
	// a path's {index} may be empty ("//_bulk"): then it is the items' index "", not none
	// (RestBulkAction passes request.param("index") to BulkRequestParser as is)
	defIndex, hasDefIndex := rq.path["index"]
	defRouting, hasDefRouting := rq.query["routing"]
	defPipeline := rq.query["pipeline"]
	defFetch := fetchFromParams(rq)
	if err := checkActiveShards(rq); err != nil {
		return errResp(err)
	}
	var defRequireAlias *bool
	if _, ok := rq.query["require_alias"]; ok {
		b, err := rq.paramBool("require_alias", false)
		if err != nil {
			return errResp(err)
		}
		defRequireAlias = &b
	}
	if err := checkTimeout(rq); err != nil {
		return errResp(err)
	}
	pol, err := parseWriteRefresh(rq)
	if err != nil {
		return errResp(err)
	}
	if len(rq.body) == 0 {
		return errResp(errBodyRequired())
	}

	// 1. frame the whole body
	var opts []bulk.ScannerOption
	if c.opts.Flavor == Elasticsearch7 {
		opts = append(opts, bulk.WithLegacyParser())
	}
	sc := bulk.NewBytesScanner(rq.body, opts...)
	typesUsed := false // a typed URL or a _type on an action line (Elasticsearch 7)
	items := c.getBulkItems(bytes.Count(rq.body, []byte{'\n'})/2 + 1)
	defer func() { c.putBulkItems(items) }()
	for sc.Next() {
		it := sc.Item()
		op := newDocOp(it.EffectiveAction())
		op.index, op.indexGiven = it.Index, it.Index != ""
		if op.index == "" {
			op.index, op.indexGiven = defIndex, hasDefIndex
		}
		var nameErr *esError
		if strings.HasPrefix(op.index, "<") {
			if name, derr := resolveDateMath(op.index, c.now()); derr != nil {
				nameErr = derr
			} else {
				op.index = name
			}
		}
		op.id, op.hasID = it.ID, it.HasID
		switch {
		case it.Routing != "":
			op.routing, op.hasRouting = it.Routing, true
		case hasDefRouting:
			op.routing, op.hasRouting = defRouting, true
		}
		op.pipeline = it.Pipeline
		if op.pipeline == "" {
			op.pipeline = defPipeline
		}
		if it.HasRequireAlias {
			op.requireAlias = it.RequireAlias
		} else if defRequireAlias != nil {
			op.requireAlias = *defRequireAlias
		}
		if it.HasVersion {
			op.version = it.Version
		}
		if it.VersionType != "" {
			vt, verr := parseVersionType(it.VersionType)
			if verr != nil {
				return errResp(verr)
			}
			op.versionType = vt
		}
		if it.HasIfSeqNo {
			if it.IfSeqNo < 0 && it.IfSeqNo != unassignedSeq {
				return errResp(errIllegalArg("sequence numbers must be non negative. got [" + itoa(it.IfSeqNo) + "]."))
			}
			op.ifSeqNo = it.IfSeqNo
		}
		if it.HasIfPrimaryTerm {
			if it.IfPrimaryTerm < 0 {
				return errResp(errIllegalArg("primary term must be non negative. got [" + itoa(it.IfPrimaryTerm) + "]"))
			}
			op.ifTerm = it.IfPrimaryTerm
		}
		op.retryOnConflict = it.RetryOnConflict
		op.payload = it.Payload
		if op.action == bulk.ActionUpdate {
			u, perr := bulk.ParseUpdatePayload(it.Payload)
			if perr != nil {
				return errResp(fromBulkError(perr))
			}
			op.upd = u
			if u.HasIfSeqNo {
				op.ifSeqNo = u.IfSeqNo
			}
			if u.HasIfPrimaryTerm {
				op.ifTerm = u.IfPrimaryTerm
			}
			// precedence: action line, then the request default, then the payload
			switch {
			case it.Source != nil:
				v, je := parseJSON(it.Source)
				if je == nil {
					f, ferr := fetchFromJSON(v)
					if ferr != nil {
						return errResp(ferr)
					}
					op.fetch = f
				}
			case defFetch != nil:
				op.fetch = defFetch
			case u.Source != nil:
				v, je := parseJSON(u.Source)
				if je == nil {
					f, ferr := fetchFromJSON(v)
					if ferr != nil {
						return errResp(ferr)
					}
					op.fetch = f
				}
			}
		}
		docType := it.Type
		if docType == "" {
			docType = rq.path["type"]
		}
		if docType != "" {
			typesUsed = true
		}
		items = append(items, bulkItem{op: op, nameErr: nameErr, docType: docType})
	}
	if serr := sc.Err(); serr != nil {
		return errResp(fromBulkError(serr))
	}

	// 2. validate every item
	var msgs []string
	for i := range items {
		msgs = validateOp(&items[i].op, msgs)
	}
	if len(msgs) > 0 {
		return errResp(errValidation(msgs))
	}
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}

	// 3. ingest, require_alias, then auto-create the targets
	createErrs := map[string]*esError{}
	toCreate := map[string]bool{}
	ingestRanAny := false
	ingestStart := time.Now()
	for i := range items {
		it := &items[i]
		op := &it.op
		if it.nameErr != nil {
			it.fail(it.nameErr, op.index)
			continue
		}
		if pipes := c.pipelinesFor(op); len(pipes) > 0 {
			ingestRanAny = true
			switch out, ierr := c.runIngest(op, pipes); out {
			case ingestFailed:
				it.fail(ierr, op.index)
				continue
			case ingestDropped:
				it.result, it.done = droppedResult(op), true
				continue
			}
		}
		if op.requireAlias && !c.isAlias(op.index) {
			it.fail(errIndexNotFoundMsg(op.index, "[require_alias] request flag is [true] and ["+op.index+"] is not an alias"), op.index)
			continue
		}
		if op.createsIndex() {
			toCreate[op.index] = true
		}
	}
	for name := range toCreate {
		if err := c.ensureIndex(name); err != nil {
			createErrs[name] = err
		}
	}

	// 4. the routing checks TransportBulkAction makes on every item before any runs
	for i := range items {
		it := &items[i]
		if it.done || createErrs[it.op.index] != nil {
			continue
		}
		if ix, rerr := c.resolveWrite(it.op.index); rerr == nil {
			if err := c.wholeRequestRoutingError(ix, &it.op); err != nil {
				return errResp(err)
			}
		}
	}

	// 5. execute in order
	f := c.faults.Load()
	resolved := map[string]*index{}
	resolveErrs := map[string]*esError{}
	for i := range items {
		it := &items[i]
		if it.done {
			continue
		}
		op := &it.op
		if e := createErrs[op.index]; e != nil {
			it.fail(e, op.index)
			continue
		}
		ix, ok := resolved[op.index]
		if !ok {
			var rerr *esError
			if rerr, ok = resolveErrs[op.index]; !ok {
				ix, rerr = c.resolveWrite(op.index)
				if rerr != nil {
					resolveErrs[op.index] = rerr
				} else {
					resolved[op.index] = ix
				}
			}
			if rerr != nil {
				it.fail(rerr, op.index)
				continue
			}
		}
		if c.opts.Flavor == Elasticsearch7 {
			if terr := c.checkBulkType(ix, op.action.String(), op.id, it.docType); terr != nil {
				it.fail(terr, ix.name)
				continue
			}
		}
		if f.BulkItem429Ratio > 0 && c.randFloat() < f.BulkItem429Ratio {
			it.fail(c.errRejected("primary", len(op.payload)), ix.name)
			continue
		}
		it.result = c.execute(ix, op)
		it.result.idNull = !op.hasID
		it.done = true
		if c.opts.Flavor == Elasticsearch7 && (it.result.err == nil || it.result.err.status == 404) {
			t := it.docType
			if t == "" {
				t = "_doc"
			}
			c.docTypes.LoadOrStore(ix.uuid, t)
		}
	}

	// 5. the refresh policy, per shard a shard-level write reached
	forced := c.afterWrite(rq.ctx, pol, bulkReach(items))

	// 6. render
	anyErr := false
	for i := range items {
		if items[i].result.err != nil {
			anyErr = true
		}
	}
	b := make([]byte, 0, 64+len(items)*200)
	b = append(b, `{"took":`...)
	b = strconv.AppendInt(b, rq.tookMillis(), 10)
	if ingestRanAny { // BulkResponse writes ingest_took only when pipelines ran
		b = append(b, `,"ingest_took":`...)
		b = strconv.AppendInt(b, time.Since(ingestStart).Milliseconds(), 10)
	}
	b = append(b, `,"errors":`...)
	b = strconv.AppendBool(b, anyErr)
	b = append(b, `,"items":[`...)
	for i := range items {
		r := &items[i].result
		r.docType = items[i].docType
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"`...)
		b = append(b, r.key...)
		b = append(b, `":{`...)
		if r.err != nil {
			b = c.appendFailureItem(b, r)
		} else {
			r.forced = forced[r.ref()]
			b = c.appendWriteBody(b, r)
			b = append(b, `,"status":`...)
			b = strconv.AppendInt(b, int64(r.res.status), 10)
		}
		b = append(b, `}}`...)
	}
	b = append(b, `]}`...)
	resp := jsonResp(200, b)
	if typesUsed && c.opts.Flavor == Elasticsearch7 {
		resp.headers = append(resp.headers, [2]string{"Warning", c.warning(typesBulkWarning)})
	}
	return resp
}

// getBulkItems returns an empty items slice with room for n, reused when one is free.
func (c *Cluster) getBulkItems(n int) []bulkItem {
	if p, ok := c.bulkItems.Get().(*[]bulkItem); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]bulkItem, 0, n)
}

// putBulkItems keeps items for a later bulk, cleared so that it holds on to no
// request's documents or answers; very large ones are left to the collector.
func (c *Cluster) putBulkItems(items []bulkItem) {
	if cap(items) > 10_000 {
		return
	}
	clear(items[:cap(items)])
	items = items[:0]
	c.bulkItems.Put(&items)
}

// fail records a failure decided before execution.
func (it *bulkItem) fail(e *esError, index string) {
	it.result = opResult{key: it.op.action.String(), index: index, id: it.op.id, idNull: !it.op.hasID, err: e}
	it.done = true
}
