package searchemu

import (
	"strconv"
	"strings"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

var (
	indexParams  = []string{"routing", "pipeline", "timeout", "refresh", "version", "version_type", "op_type", "if_seq_no", "if_primary_term", "wait_for_active_shards", "require_alias"}
	deleteParams = []string{"routing", "timeout", "refresh", "version", "version_type", "if_seq_no", "if_primary_term", "wait_for_active_shards"}
	updateParams = []string{"routing", "timeout", "refresh", "retry_on_conflict", "_source", "_source_includes", "_source_excludes", "if_seq_no", "if_primary_term", "wait_for_active_shards", "require_alias", "lang", "version", "version_type"}
	getParams    = []string{"routing", "preference", "realtime", "refresh", "stored_fields", "_source", "_source_includes", "_source_excludes", "version", "version_type", "fields"}
	mgetParams   = []string{"routing", "preference", "realtime", "refresh", "stored_fields", "_source", "_source_includes", "_source_excludes"}
)

// writeParams reads the parameters shared by single-document writes into op.
func writeParams(rq *request, op *docOp) *esError {
	if v, ok := rq.query["routing"]; ok {
		op.routing, op.hasRouting = v, true
	}
	if v, ok := rq.query["pipeline"]; ok {
		op.pipeline = v
	}
	if v, ok, err := rq.paramLong("version", matchAny); err != nil {
		return err
	} else if ok {
		op.version = v
	}
	if v, ok := rq.query["version_type"]; ok {
		vt, err := parseVersionType(v)
		if err != nil {
			return err
		}
		op.versionType = vt
	}
	if v, ok, err := rq.paramLong("if_seq_no", unassignedSeq); err != nil {
		return err
	} else if ok {
		if v < 0 && v != unassignedSeq {
			return errIllegalArg("sequence numbers must be non negative. got [" + itoa(v) + "].")
		}
		op.ifSeqNo = v
	}
	if v, ok, err := rq.paramLong("if_primary_term", unassignedTerm); err != nil {
		return err
	} else if ok {
		if v < 0 {
			return errIllegalArg("primary term must be non negative. got [" + itoa(v) + "]")
		}
		op.ifTerm = v
	}
	if _, ok := rq.query["require_alias"]; ok {
		b, err := rq.paramBool("require_alias", false)
		if err != nil {
			return err
		}
		op.requireAlias = b
	}
	return nil
}

func (c *Cluster) readOnlyErr() *esError {
	if c.faults.Load().ReadOnly {
		return errClusterBlockReadOnly()
	}
	return nil
}

// handleIndex serves PUT/POST /{index}/_doc/{id}.
func handleIndex(c *Cluster, rq *request) *response {
	op := newDocOp(bulk.ActionIndex)
	op.index, op.id, op.hasID = rq.path["index"], rq.path["id"], true
	if v, ok := rq.query["op_type"]; ok {
		switch strings.ToLower(v) {
		case "create":
			op.action = bulk.ActionCreate
		case "index":
		default:
			return errResp(errIllegalArg("opType must be 'create' or 'index', found: [" + v + "]"))
		}
	}
	return c.singleWrite(rq, &op)
}

// handleCreate serves PUT/POST /{index}/_create/{id}.
func handleCreate(c *Cluster, rq *request) *response {
	if v, ok := rq.query["op_type"]; ok && strings.ToLower(v) != "create" {
		return errResp(errIllegalArg("opType must be 'create', found: [" + v + "]"))
	}
	op := newDocOp(bulk.ActionCreate)
	op.index, op.id, op.hasID = rq.path["index"], rq.path["id"], true
	return c.singleWrite(rq, &op)
}

// handleAutoID serves POST /{index}/_doc (op_type defaults to create).
func handleAutoID(c *Cluster, rq *request) *response {
	op := newDocOp(bulk.ActionCreate)
	op.index = rq.path["index"]
	if v, ok := rq.query["op_type"]; ok {
		switch strings.ToLower(v) {
		case "create":
		case "index":
			op.action = bulk.ActionIndex
		default:
			return errResp(errIllegalArg("opType must be 'create' or 'index', found: [" + v + "]"))
		}
	}
	return c.singleWrite(rq, &op)
}

// handleDelete serves DELETE /{index}/_doc/{id}.
func handleDelete(c *Cluster, rq *request) *response {
	op := newDocOp(bulk.ActionDelete)
	op.index, op.id, op.hasID = rq.path["index"], rq.path["id"], true
	return c.singleWrite(rq, &op)
}

// handleUpdate serves POST /{index}/_update/{id}.
func handleUpdate(c *Cluster, rq *request) *response {
	if _, ok := rq.query["version"]; ok {
		return errResp(errValidation([]string{"internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead"}))
	}
	if _, ok := rq.query["version_type"]; ok {
		return errResp(errValidation([]string{"internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead"}))
	}
	op := newDocOp(bulk.ActionUpdate)
	op.index, op.id, op.hasID = rq.path["index"], rq.path["id"], true
	op.docRouting = true
	op.fetch = fetchFromParams(rq)
	if n, err := rq.paramInt("retry_on_conflict", 0); err != nil {
		return errResp(err)
	} else {
		op.retryOnConflict = n
	}
	if len(rq.body) > 0 {
		u, err := bulk.ParseUpdatePayload(rq.body)
		if err != nil {
			return errResp(fromBulkError(err))
		}
		op.upd = u
		if u.Source != nil {
			v, je := parseJSON(u.Source)
			if je == nil {
				f, ferr := fetchFromJSON(v)
				if ferr != nil {
					return errResp(ferr)
				}
				op.fetch = f
			}
		}
	} else {
		op.upd = &bulk.UpdatePayload{DetectNoop: true}
	}
	return c.singleWrite(rq, &op)
}

// fromBulkError converts a framing/parse error of pkg/bulk to the server's exception.
func fromBulkError(err error) *esError {
	be, ok := err.(*bulk.Error)
	if !ok {
		return newErr(400, typeParse, err.Error(), true)
	}
	return convertBulkError(be)
}

func convertBulkError(be *bulk.Error) *esError {
	server := false
	switch be.Type {
	case typeValidation, typeParsing, typeParse:
		server = true
	}
	e := newErr(be.Status, be.Type, be.Reason, server)
	if be.CausedBy != nil {
		e.cause = convertBulkError(be.CausedBy)
	}
	return e
}

// singleWrite runs one document write request end to end.
func (c *Cluster) singleWrite(rq *request, op *docOp) *response {
	// the index comes from the path, so it is never null; it may be empty ("//_doc/1")
	op.indexGiven = true
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	pol, err := parseWriteRefresh(rq)
	if err != nil {
		return errResp(err)
	}
	if err := writeParams(rq, op); err != nil {
		return errResp(err)
	}
	if op.action == bulk.ActionIndex || op.action == bulk.ActionCreate {
		if len(rq.body) == 0 {
			return errResp(errBodyRequired())
		}
		op.payload = rq.body
	}
	if op.upd != nil {
		if op.upd.HasIfSeqNo {
			op.ifSeqNo = op.upd.IfSeqNo
		}
		if op.upd.HasIfPrimaryTerm {
			op.ifTerm = op.upd.IfPrimaryTerm
		}
	}
	if msgs := validateOp(op, nil); len(msgs) > 0 {
		return errResp(errValidation(msgs))
	}
	if pipes := c.pipelinesFor(op); len(pipes) > 0 {
		switch out, ierr := c.runIngest(op, pipes); out {
		case ingestFailed:
			return errResp(ierr)
		case ingestDropped:
			// TransportSingleItemBulkWriteAction answers with the dropped item's
			// UpdateResponse: result noop, status 200.
			r := droppedResult(op)
			b := append(make([]byte, 0, 256), '{')
			b = c.appendWriteBody(b, &r)
			return jsonResp(200, append(b, '}'))
		}
	}
	if op.requireAlias && !c.isAlias(op.index) {
		return errResp(errIndexNotFoundMsg(op.index, "[require_alias] request flag is [true] and ["+op.index+"] is not an alias"))
	}
	if op.createsIndex() {
		if err := c.ensureIndex(op.index); err != nil {
			return errResp(err)
		}
	}
	ix, rerr := c.resolveWrite(op.index)
	if rerr != nil {
		return errResp(rerr)
	}
	if err := c.wholeRequestRoutingError(ix, op); err != nil {
		return errResp(err)
	}
	r := c.execute(ix, op)
	forced := c.afterWrite(rq.ctx, pol, singleReach(op, &r))
	if r.err != nil {
		return errResp(r.err)
	}
	r.forced = forced[r.ref()]
	b := append(make([]byte, 0, 256), '{')
	b = c.appendWriteBody(b, &r)
	b = append(b, '}')
	resp := jsonResp(r.res.status, b)
	if r.res.status == 201 {
		resp.headers = append(resp.headers, [2]string{"Location", location(r.index, r.id, op.routing, op.hasRouting)})
	}
	return resp
}

// resolveSingle resolves a read target that must be one index, as
// concreteSingleIndex does with GetRequest's strictSingleIndexNoExpandForbidClosed options:
// no wildcards, an alias must point to one index, a closed index is refused.
//
// The name is one expression, never split on commas: concreteSingleIndex hands
// concreteIndices the request's index as is, so an empty name ("//_doc/1") is the index
// "", not all indices, and is not found (IndexNameExpressionResolver.concreteIndices).
func (c *Cluster) resolveSingle(name string) (*index, *esError) {
	c.mu.RLock()
	ixs, err := c.concreteIndicesLocked([]string{name}, optSingleIndex)
	c.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if len(ixs) != 1 {
		return nil, errIllegalArg("unable to return a single index as the index and options provided got resolved to multiple indices")
	}
	return ixs[0], nil
}

// handleGet serves GET and HEAD /{index}/_doc/{id} (RestGetAction, GetRequest.validate,
// ShardGetService).
func handleGet(c *Cluster, rq *request) *response {
	g, gerr := getSpecFromParams(rq, true)
	if gerr != nil {
		return errResp(gerr)
	}
	ix, err := c.resolveSingle(rq.path["index"])
	if err != nil {
		return errResp(err)
	}
	id := rq.path["id"]
	shard, err := c.getShard(rq, ix, id)
	if err != nil {
		return errResp(err)
	}
	gm, merr := parseGetMode(rq)
	if merr != nil {
		return errResp(merr)
	}
	d := c.readDoc(ix, shard, id, gm)
	if d != nil {
		if err := g.checkStoredFields(ix); err != nil {
			return errResp(err)
		}
	}
	if err := g.checkVersion(ix, id, d); err != nil {
		return errResp(err)
	}
	status := 200
	if d == nil {
		status = 404
	}
	if rq.method == "HEAD" {
		return &response{status: status}
	}
	return jsonResp(status, c.appendGetBody(nil, ix, id, d, g))
}

// handleGetSource serves GET and HEAD /{index}/_source/{id}.
func handleGetSource(c *Cluster, rq *request) *response {
	g, gerr := getSpecFromParams(rq, true)
	if gerr != nil {
		return errResp(gerr)
	}
	ix, err := c.resolveSingle(rq.path["index"])
	if err != nil {
		return errResp(err)
	}
	id := rq.path["id"]
	shard, err := c.getShard(rq, ix, id)
	if err != nil {
		return errResp(err)
	}
	gm, merr := parseGetMode(rq)
	if merr != nil {
		return errResp(merr)
	}
	d := c.readDoc(ix, shard, id, gm)
	if err := g.checkVersion(ix, id, d); err != nil {
		return errResp(err)
	}
	if d == nil {
		if rq.method == "HEAD" {
			return &response{status: 404}
		}
		return errResp(newErr(404, typeResourceNotFound, "Document not found ["+ix.name+"]/["+id+"]", true))
	}
	sd, stored := ix.storedSource(d)
	if !stored {
		// RestGetSourceAction.checkResource: found, but no source stored
		if rq.method == "HEAD" {
			return &response{status: 404}
		}
		where := "[" + ix.name + "]/[" + id + "]"
		if c.opts.Flavor == Elasticsearch7 {
			where = "[" + ix.name + "]/[_doc]/[" + id + "]" // 7.x names the type
		}
		return errResp(newErr(404, typeResourceNotFound, "Source not found "+where, true))
	}
	if rq.method == "HEAD" {
		return &response{status: 200}
	}
	return jsonResp(200, append([]byte(nil), renderSource(sd, fetchFromParams(rq))...))
}

// mgetItem is one requested document (MultiGetRequest.Item).
type mgetItem struct {
	index, id  string
	hasIndex   bool
	hasID      bool
	routing    string
	hasRouting bool
	get        getSpec
}

// parseMgetDoc reads one element of "docs" as MultiGetRequest.parseDocuments does. Value
// members: _index, _id, routing, stored_fields, version, version_type, _source; "fields"
// is a parsing_exception; any other value member fails the request. The 2.x parser has no
// _routing, _version or _type. It does not skip an unknown object member: reading on, it
// takes that object's end for the document's and then meets a token that is not an
// object, so the request fails; an unknown array fails on its first value.
func parseMgetDoc(body []byte, o *jsonObj, def mgetItem) (mgetItem, *esError) {
	it := def
	it.get.storedFields = append([]string(nil), def.get.storedFields...)
	// doc is the item's own _source context; until a _source member sets it the request's
	// default applies (FetchSourceContext.FETCH_SOURCE as a sentinel).
	var doc *fetchSource
	base := func() fetchSource {
		if doc != nil {
			return *doc
		}
		return fetchSource{fetch: true}
	}
	unknown := func(k string) *esError {
		return errParse("failed to parse multi get request. unknown field [" + k + "]")
	}
	for _, dm := range o.m {
		switch v := dm.v.(type) {
		case *jsonObj:
			if dm.k != "_source" {
				return it, errIllegalArg("docs array element should include an object")
			}
			f, err := fetchFromJSON(v)
			if err != nil {
				return it, err
			}
			f.fetch = base().fetch
			doc = f
			continue
		case []any:
			switch dm.k {
			case "fields":
				return it, errParsing("Unsupported field [fields] used, expected [stored_fields] instead", body, dm.voff)
			case "stored_fields":
				it.get.storedFields, it.get.hasStored = nil, true
				for _, e := range v {
					s, _ := scalarString(e)
					it.get.storedFields = append(it.get.storedFields, s)
				}
			case "_source":
				f, err := fetchFromJSON(v)
				if err != nil {
					return it, err
				}
				cur := base()
				f.fetch, f.excludes = cur.fetch, cur.excludes
				doc = f
			default:
				if len(v) > 0 {
					switch v[0].(type) {
					case *jsonObj, []any:
					default:
						return it, unknown(dm.k)
					}
				}
			}
			continue
		}
		s, _ := scalarString(dm.v)
		switch dm.k {
		case "_index":
			it.index, it.hasIndex = s, true
		case "_id":
			it.id, it.hasID = s, true
		case "routing":
			it.routing, it.hasRouting = s, true
		case "fields":
			return it, errParsing("Unsupported field [fields] used, expected [stored_fields] instead", body, dm.voff)
		case "stored_fields":
			it.get.storedFields, it.get.hasStored = []string{s}, true
		case "version":
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return it, errIllegalArgCause("For input string: \""+s+"\"", newErr(400, typeNumberFormat, `For input string: "`+s+`"`, false))
			}
			it.get.version = n
		case "version_type":
			vt, err := parseVersionType(s)
			if err != nil {
				return it, err
			}
			it.get.versionType = vt
		case "_source":
			switch x := dm.v.(type) {
			case bool:
				cur := base()
				doc = &fetchSource{fetch: x, includes: cur.includes, excludes: cur.excludes}
			case string:
				cur := base()
				doc = &fetchSource{fetch: cur.fetch, includes: []string{x}, excludes: cur.excludes}
			default:
				return it, errParse("illegal type for _source: [" + tokenOf(dm.v) + "]")
			}
		default:
			return it, unknown(dm.k)
		}
	}
	if doc != nil {
		it.get.fetch = doc
	}
	return it, nil
}

// handleMget serves GET/POST /_mget and /{index}/_mget (RestMultiGetAction,
// MultiGetRequest, TransportMultiGetAction): items fail one by one (missing or closed
// index, version conflict) inside a 200 answer.
func handleMget(c *Cluster, rq *request) *response {
	// a path's {index} may be empty ("//_mget"): the items' index is then "", which
	// MultiGetRequest.validate lets through (it refuses only a null index) and
	// resolution fails item by item
	defIndex, hasDefIndex := rq.path["index"]
	g, gerr := getSpecFromParams(rq, false)
	if gerr != nil {
		return errResp(gerr)
	}
	def := mgetItem{index: defIndex, hasIndex: hasDefIndex, get: getSpec{storedFields: g.storedFields, hasStored: g.hasStored, fetch: g.fetch, version: matchAny, versionType: vtInternal}}
	if v, ok := rq.query["routing"]; ok {
		def.routing, def.hasRouting = v, true
	}
	gm, merr := parseGetMode(rq)
	if merr != nil {
		return errResp(merr)
	}
	var items []mgetItem
	if len(rq.body) > 0 {
		v, je := parseJSON(rq.body)
		if je != nil {
			return errResp(errFromJSON(rq.body, je))
		}
		body, ok := v.(*jsonObj)
		if !ok {
			return errResp(errParsing("unexpected token ["+tokenOf(v)+"], expected [FIELD_NAME] or [START_ARRAY]", rq.body, 0))
		}
		for _, m := range body.m {
			arr, isArr := m.v.([]any)
			if !isArr {
				return errResp(errParsing("unexpected token ["+tokenOf(m.v)+"], expected [FIELD_NAME] or [START_ARRAY]", rq.body, m.voff))
			}
			switch m.k {
			case "docs":
				for _, e := range arr {
					o, ok := e.(*jsonObj)
					if !ok {
						return errResp(errIllegalArg("docs array element should include an object"))
					}
					it, err := parseMgetDoc(rq.body, o, def)
					if err != nil {
						return errResp(err)
					}
					items = append(items, it)
				}
			case "ids":
				for _, e := range arr {
					it := def
					switch e.(type) {
					case *jsonObj, []any:
						return errResp(errIllegalArg("ids array element should only contain ids"))
					}
					if s, ok := scalarString(e); ok {
						it.id, it.hasID = s, true
					}
					items = append(items, it)
				}
			default:
				return errResp(errParsing("unknown key ["+m.k+"] for a START_ARRAY, expected [docs] or [ids]", rq.body, m.voff))
			}
		}
	}
	var msgs []string
	if len(items) == 0 {
		msgs = append(msgs, "no documents to get")
	}
	for i, it := range items {
		if !it.hasIndex {
			msgs = append(msgs, "index is missing for doc "+strconv.Itoa(i))
		}
		if !it.hasID {
			msgs = append(msgs, "id is missing for doc "+strconv.Itoa(i))
		}
	}
	if len(msgs) > 0 {
		return errResp(errValidation(msgs))
	}
	b := []byte(`{"docs":[`)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = c.appendMgetItem(b, &it, gm)
	}
	b = append(b, `]}`...)
	return jsonResp(200, b)
}

// appendMgetItem renders one _mget answer: a GET body, or the item's failure.
func (c *Cluster) appendMgetItem(b []byte, it *mgetItem, gm getMode) []byte {
	failIn := func(index string, err *esError) []byte {
		b = append(b, `{"_index":`...)
		b = appendJSONString(b, index)
		b = c.appendDocType(b)
		b = append(b, `,"_id":`...)
		b = appendJSONString(b, it.id)
		b = append(b, `,"error":`...)
		b = err.appendFailure(b)
		return append(b, '}')
	}
	fail := func(err *esError) []byte { return failIn(it.index, err) }
	ix, err := c.resolveSingle(it.index)
	if err != nil {
		return fail(err)
	}
	// TransportMultiGetAction: the alias's routing applies, and a bad or missing required
	// routing fails the item only (an alias refusal names the index as given, a missing
	// routing the concrete index)
	routing, hasRouting, aerr := c.aliasIndexRouting(it.index, ix, it.routing, it.hasRouting)
	if aerr != nil {
		return fail(aerr)
	}
	if !hasRouting && ix.mapping.Load().routingRequired() {
		return failIn(ix.name, c.errRoutingMissing(ix, it.id))
	}
	d := c.readDoc(ix, ix.shardFor(it.id, routing, hasRouting), it.id, gm)
	if d != nil {
		if err := it.get.checkStoredFields(ix); err != nil {
			return fail(err)
		}
	}
	if err := it.get.checkVersion(ix, it.id, d); err != nil {
		return fail(err)
	}
	return c.appendGetBody(b, ix, it.id, d, &it.get)
}
