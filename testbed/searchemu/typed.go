package searchemu

import (
	"bytes"
	"strconv"
	"strings"
)

// Elasticsearch 7.10's typed document endpoints (/{index}/{type}/{id} and friends), for
// the Elasticsearch7 flavour only: OpenSearch 2 removed every typed route (its
// RestIndexAction, RestGetAction, RestDeleteAction, RestUpdateAction and RestBulkAction
// register only the typeless ones) and Elasticsearch 8 keeps them only for
// compatible-with=7 requests, which the emulator does not model.
//
// Followed: elastic/elasticsearch 7.10 server/src/main/java/org/elasticsearch/rest/action/
// document/RestIndexAction.java (warning only for a type other than _doc), RestGetAction,
// RestDeleteAction, RestUpdateAction (warning whenever a type is given), RestBulkAction
// and BulkRequestParser (warning for a typed URL or a _type on an action line); the
// single-type rule of MapperService (7.x indices have one mapping type: the first typed
// write or any typeless write fixes it; a write of another type is a rejected mapping
// update, a read of another type finds nothing, resolveDocumentType lets _doc stand for
// whatever the type is); MapperService.validateTypeName for new type names. Responses
// name the type the request gave ("_type" is the request's type, search hits the index's).

const (
	typesIndexWarning  = "[types removal] Specifying types in document index requests is deprecated, use the typeless endpoints instead (/{index}/_doc/{id}, /{index}/_doc, or /{index}/_create/{id})."
	typesGetWarning    = "[types removal] Specifying types in document get requests is deprecated, use the /{index}/_doc/{id} endpoint instead."
	typesUpdateWarning = "[types removal] Specifying types in document update requests is deprecated, use the endpoint /{index}/_update/{id} instead."
	typesDeleteWarning = "[types removal] Specifying types in document index requests is deprecated, use the /{index}/_doc/{id} endpoint instead."
	typesBulkWarning   = "[types removal] Specifying types in bulk requests is deprecated."
)

type typedKind int

const (
	typedIndex typedKind = iota // index, create, auto id
	typedUpdate
	typedDelete
	typedGet // get and exists
)

// typedRoutes registers the Elasticsearch 7.10 typed document routes.
func (c *Cluster) typedRoutes(rt *router) {
	rt.add("PUT", "/{index}/{type}/{id}", typed(handleIndex, typedIndex), indexParams...)
	rt.add("POST", "/{index}/{type}/{id}", typed(handleIndex, typedIndex), indexParams...)
	rt.add("POST", "/{index}/{type}", typed(handleAutoID, typedIndex), indexParams...)
	rt.add("PUT", "/{index}/{type}/{id}/_create", typed(handleCreate, typedIndex), indexParams...)
	rt.add("POST", "/{index}/{type}/{id}/_create", typed(handleCreate, typedIndex), indexParams...)
	rt.add("POST", "/{index}/{type}/{id}/_update", typed(handleUpdate, typedUpdate), updateParams...)
	rt.add("DELETE", "/{index}/{type}/{id}", typed(handleDelete, typedDelete), deleteParams...)
	rt.add("GET", "/{index}/{type}/{id}", typed(handleGet, typedGet), getParams...)
	rt.add("HEAD", "/{index}/{type}/{id}", typed(handleGet, typedGet), getParams...)
	rt.add("POST", "/{index}/{type}/_bulk", handleBulk, bulkParams...)
	rt.add("PUT", "/{index}/{type}/_bulk", handleBulk, bulkParams...)
	for _, api := range typedUnsupported {
		for _, m := range api.methods {
			rt.add(m, "/{index}/{type}/"+api.name, handleTypedUnsupported(api.name))
		}
	}
}

// typedUnsupported are the typed read and mapping routes of Elasticsearch 7 with the
// shape of /{index}/{type}/{id} (the typed three-segment paths of the 7.17 REST API
// specification: RestSearchAction, RestCountAction, RestMultiGetAction,
// RestMultiSearchAction, RestTermVectorsAction, RestMultiTermVectorsAction,
// RestUpdateByQueryAction, RestDeleteByQueryAction, RestGetMappingAction and
// RestPutMappingAction; x-pack's RestRollupSearchAction in the default distribution).
// The emulator does not serve them, but registers them so that PathTrie finds them
// before the document routes, as the server's does: "POST /i/_doc/_search" is a search,
// never the index of a document "_search"; "PUT /i/_doc/_count" indexes the document
// "_count" (the count route has no PUT, so RestController goes on to /{index}/_doc/{id});
// "PUT /i/doc/_count" is a 405.
var typedUnsupported = []struct {
	name    string
	methods []string
}{
	{"_search", []string{"GET", "POST"}},
	{"_count", []string{"GET", "POST"}},
	{"_mget", []string{"GET", "POST"}},
	{"_msearch", []string{"GET", "POST"}},
	{"_termvectors", []string{"GET", "POST"}},
	{"_mtermvectors", []string{"GET", "POST"}},
	{"_update_by_query", []string{"POST"}},
	{"_delete_by_query", []string{"POST"}},
	{"_mapping", []string{"GET", "PUT", "POST"}},
	{"_mappings", []string{"PUT", "POST"}},
	{"_rollup_search", []string{"GET", "POST"}},
}

// handleTypedUnsupported refuses a typed API the emulator does not model.
func handleTypedUnsupported(api string) handlerFunc {
	return func(c *Cluster, rq *request) *response {
		return errResp(errIllegalArg("[searchemu] the typed API /{index}/{type}/" + api + " is not supported by the emulator"))
	}
}

// typelessES7 wraps a typeless document handler of the Elasticsearch7 flavour: its
// writes fix the index's type as _doc.
func typelessES7(fn handlerFunc) handlerFunc {
	return func(c *Cluster, rq *request) *response {
		resp := fn(c, rq)
		if resp.status < 300 || resp.status == 404 {
			c.fixDocType(rq.path["index"], "_doc")
		}
		return resp
	}
}

// typelessMappingES7 wraps index creation and put mapping of the Elasticsearch7
// flavour: a mapping given without a type is the _doc type's.
func typelessMappingES7(fn handlerFunc) handlerFunc {
	return func(c *Cluster, rq *request) *response {
		resp := fn(c, rq)
		if resp.status != 200 {
			return resp
		}
		hasMapping := strings.HasSuffix(rq.rawPath, "/_mapping")
		if !hasMapping {
			if v, err := parseJSON(rq.body); err == nil {
				if o, ok := v.(*jsonObj); ok {
					for _, m := range o.m {
						hasMapping = hasMapping || m.k == "mappings"
					}
				}
			}
		}
		if hasMapping {
			for _, name := range splitComma(rq.path["index"]) {
				c.fixDocType(name, "_doc")
			}
		}
		return resp
	}
}

// typed wraps a typeless handler for a typed route.
func typed(fn handlerFunc, kind typedKind) handlerFunc {
	return func(c *Cluster, rq *request) *response {
		t := rq.path["type"]
		var warn string
		switch kind {
		case typedIndex:
			if t != "_doc" {
				warn = typesIndexWarning
			}
		case typedUpdate:
			warn = typesUpdateWarning
		case typedDelete:
			warn = typesDeleteWarning
		case typedGet:
			warn = typesGetWarning
		}
		resp := c.typedCheck(rq, kind, t)
		if resp == nil {
			resp = fn(c, rq)
			if kind != typedGet && (resp.status < 300 || resp.status == 404) {
				c.fixDocType(rq.path["index"], t)
			}
		}
		retype(resp, t)
		if warn != "" {
			resp.headers = append(resp.headers, [2]string{"Warning", c.warning(warn)})
		}
		return resp
	}
}

// typedCheck answers a typed request whose type the index does not have, or nil.
func (c *Cluster) typedCheck(rq *request, kind typedKind, t string) *response {
	if t == "_doc" {
		return nil
	}
	if t == "" && kind != typedIndex {
		// An empty type segment ("/i//1"): DeleteRequest.validate (7.x) refuses an empty
		// type before anything runs, as the get and update requests do; an index request
		// reaches the mapper, which refuses the type name (validateTypeName).
		return errResp(errValidation([]string{"type is missing"}))
	}
	if kind == typedIndex || kind == typedDelete {
		if err := validateTypeName(t); err != nil {
			return errResp(err)
		}
	}
	var ix *index
	var err *esError
	if kind == typedGet {
		ix, err = c.resolveSingle(rq.path["index"])
	} else {
		ix, err = c.resolveWrite(rq.path["index"])
	}
	if err != nil {
		return nil // the handler reports the missing index
	}
	have := c.docTypeFixed(ix)
	if have == "" || have == t {
		return nil
	}
	id := rq.path["id"]
	switch kind {
	case typedGet:
		if rq.method == "HEAD" {
			return &response{status: 404}
		}
		b := append([]byte(`{"_index":`), appendJSONString(nil, ix.name)...)
		b = c.appendDocTypeOf(b, t)
		b = append(b, `,"_id":`...)
		b = appendJSONString(b, id)
		return jsonResp(404, append(b, `,"found":false}`...))
	case typedUpdate:
		e := newErr(404, typeDocumentMissing, "["+t+"]["+id+"]: document missing", true)
		e.meta = shardMeta(ix)
		return errResp(e)
	}
	return errResp(errIllegalArg("Rejecting mapping update to [" + ix.name + "] as the final mapping would have more than 1 type: [" + have + ", " + t + "]"))
}

// retype renders a typeless handler's answer for type t: the "_type" member, the
// Location header and the typed document-missing reason name t.
func retype(resp *response, t string) {
	if t == "_doc" {
		return
	}
	tj := appendJSONString(nil, t)
	resp.body = bytes.Replace(resp.body, []byte(`,"_type":"_doc"`), append([]byte(`,"_type":`), tj...), 1)
	resp.body = bytes.ReplaceAll(resp.body, []byte(`"[_doc][`), []byte(`"[`+string(tj[1:len(tj)-1])+"]["))
	for i, h := range resp.headers {
		if h[0] == "Location" {
			if idx, rest, ok := strings.Cut(strings.TrimPrefix(h[1], "/"), "/_doc/"); ok {
				resp.headers[i][1] = "/" + idx + "/" + javaURLEncode(t) + "/" + rest
			}
		}
	}
}

// validateTypeName is MapperService.validateTypeName (7.10).
func validateTypeName(t string) *esError {
	switch {
	case t == "":
		return newErr(400, "invalid_type_name_exception", "mapping type name is empty", true)
	case len(t) > 255:
		return newErr(400, "invalid_type_name_exception", "mapping type name ["+t+"] is too long; limit is length 255 but was ["+strconv.Itoa(len(t))+"]", true)
	case t[0] == '_' && t != "_doc":
		return newErr(400, "invalid_type_name_exception", "mapping type name ["+t+"] can't start with '_' unless it is called [_doc]", true)
	case strings.Contains(t, "#"):
		return newErr(400, "invalid_type_name_exception", "mapping type name ["+t+"] should not include '#' in it", true)
	case strings.Contains(t, ","):
		return newErr(400, "invalid_type_name_exception", "mapping type name ["+t+"] should not include ',' in it", true)
	case t[0] == '.':
		return newErr(400, "invalid_type_name_exception", "mapping type name ["+t+"] must not start with a '.'", true)
	}
	return nil
}

// docTypeFixed is the index's mapping type once a write fixed it, "" before.
func (c *Cluster) docTypeFixed(ix *index) string {
	if v, ok := c.docTypes.Load(ix.uuid); ok {
		return v.(string)
	}
	return ""
}

// indexDocType is the type search hits carry: the fixed type, _doc when none is.
func (c *Cluster) indexDocType(ix *index) string {
	if t := c.docTypeFixed(ix); t != "" {
		return t
	}
	return "_doc"
}

// fixDocType records t as the type of the index (or alias write target) name when the
// flavour has types and no type is fixed yet.
func (c *Cluster) fixDocType(name, t string) {
	if c.opts.Flavor != Elasticsearch7 || t == "" {
		return
	}
	ix, err := c.resolveWrite(name)
	if err != nil {
		return
	}
	c.docTypes.LoadOrStore(ix.uuid, t)
}

// checkBulkType is typedCheck for a bulk item of type t against index ix.
func (c *Cluster) checkBulkType(ix *index, action string, id, t string) *esError {
	if t == "" || t == "_doc" {
		return nil
	}
	if action != "update" {
		if err := validateTypeName(t); err != nil {
			return err
		}
	}
	have := c.docTypeFixed(ix)
	if have == "" || have == t {
		return nil
	}
	if action == "update" {
		e := newErr(404, typeDocumentMissing, "["+t+"]["+id+"]: document missing", true)
		e.meta = shardMeta(ix)
		return e
	}
	return errIllegalArg("Rejecting mapping update to [" + ix.name + "] as the final mapping would have more than 1 type: [" + have + ", " + t + "]")
}
