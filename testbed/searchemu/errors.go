package searchemu

import (
	"strconv"
	"strings"
)

// esError is a server exception as the REST layer renders it.
type esError struct {
	status int
	typ    string
	reason string
	meta   []metaKV
	cause  *esError
	// server marks OpenSearchException subclasses: the root_cause of an error looks through
	// causes only while they are server exceptions (OpenSearchException.guessRootCauses).
	server bool
	// rootCauses overrides the computed root causes (search phase failures).
	rootCauses []*esError
	// extra holds pre-rendered members appended after the metadata ("phase":…).
	extra []byte
	// header is the pre-rendered "header" member (ElasticsearchException's headers, such
	// as a security exception's WWW-Authenticate), written after caused_by, in root
	// causes too.
	header []byte
	// suppressed are the exceptions Throwable.addSuppressed attached (settings validation
	// throws the first failure with the others suppressed), rendered after the header
	// and never in root causes.
	suppressed []*esError
}

// metaKV is one metadata member; numbers (ParsingException line/col) are rendered raw.
type metaKV struct {
	k, v string
	num  bool
}

func (e *esError) Error() string { return e.typ + ": " + e.reason }

// Exception type names (derived by the server from Java class names).
const (
	typeIllegalArgument     = "illegal_argument_exception"
	typeIllegalState        = "illegal_state_exception"
	typeValidation          = "action_request_validation_exception"
	typeIndexNotFound       = "index_not_found_exception"
	typeVersionConflict     = "version_conflict_engine_exception"
	typeDocumentMissing     = "document_missing_exception"
	typeMapperParsing       = "mapper_parsing_exception"
	typeStrictDynamic       = "strict_dynamic_mapping_exception"
	typeParsing             = "parsing_exception"
	typeParse               = "parse_exception"
	typeResourceExists      = "resource_already_exists_exception"
	typeResourceNotFound    = "resource_not_found_exception"
	typeInvalidIndexName    = "invalid_index_name_exception"
	typeInvalidAliasName    = "invalid_alias_name_exception"
	typeClusterBlock        = "cluster_block_exception"
	typeNumberFormat        = "number_format_exception"
	typeSearchPhase         = "search_phase_execution_exception"
	typeQueryShard          = "query_shard_exception"
	typeDateTimeParse       = "date_time_parse_exception"
	typeScript              = "script_exception"
	typeXContentParse       = "x_content_parse_exception"
	typeNamedObjectNotFound = "named_object_not_found_exception"
)

// appendBody writes "type","reason", metadata, extra and caused_by (no braces).
func (e *esError) appendBody(b []byte, withCause bool) []byte {
	b = append(b, `"type":`...)
	b = appendJSONString(b, e.typ)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, e.reason)
	for _, m := range e.meta {
		b = append(b, ',')
		b = appendJSONString(b, m.k)
		b = append(b, ':')
		if m.num {
			b = append(b, m.v...)
		} else {
			b = appendJSONString(b, m.v)
		}
	}
	if len(e.extra) > 0 {
		b = append(b, ',')
		b = append(b, e.extra...)
	}
	if withCause && e.cause != nil {
		b = append(b, `,"caused_by":{`...)
		b = e.cause.appendBody(b, true)
		b = append(b, '}')
	}
	if len(e.header) > 0 {
		b = append(b, ',')
		b = append(b, e.header...)
	}
	if withCause && len(e.suppressed) > 0 {
		b = append(b, `,"suppressed":[`...)
		for i, s := range e.suppressed {
			if i > 0 {
				b = append(b, ',')
			}
			b = s.appendObject(b)
		}
		b = append(b, ']')
	}
	return b
}

// appendObject writes the error as a bulk item / shard failure object: {"type",...}.
func (e *esError) appendObject(b []byte) []byte {
	b = append(b, '{')
	b = e.appendBody(b, true)
	return append(b, '}')
}

func (e *esError) roots() []*esError {
	if e.rootCauses != nil {
		return e.rootCauses
	}
	r := e
	for r.server && r.cause != nil && r.cause.server {
		r = r.cause
	}
	return []*esError{r}
}

// appendFailure writes the "error" member content of the whole-request envelope:
// {"root_cause":[…],"type",…}.
func (e *esError) appendFailure(b []byte) []byte {
	b = append(b, `{"root_cause":[`...)
	for i, r := range e.roots() {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = r.appendBody(b, false)
		b = append(b, '}')
	}
	b = append(b, `],`...)
	b = e.appendBody(b, true)
	return append(b, '}')
}

// envelope renders the standard whole-request error body.
func (e *esError) envelope() []byte {
	b := make([]byte, 0, 256+2*len(e.reason))
	b = append(b, `{"error":`...)
	b = e.appendFailure(b)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	return append(b, '}')
}

func newErr(status int, typ, reason string, server bool) *esError {
	return &esError{status: status, typ: typ, reason: reason, server: server}
}

func errIllegalArg(reason string) *esError {
	return newErr(400, typeIllegalArgument, reason, false)
}

func errIllegalArgCause(reason string, cause *esError) *esError {
	e := newErr(400, typeIllegalArgument, reason, false)
	e.cause = cause
	return e
}

func errParse(reason string) *esError { return newErr(400, typeParse, reason, true) }

func errParsing(reason string, src []byte, off int) *esError {
	e := newErr(400, typeParsing, reason, true)
	if src != nil && off >= 0 {
		l, c := lineCol(src, off)
		e.meta = append(e.meta, metaKV{k: "line", v: strconv.Itoa(l), num: true}, metaKV{k: "col", v: strconv.Itoa(c), num: true})
	}
	return e
}

// errValidation renders ActionRequestValidationException: "Validation Failed: 1: a;2: b;".
func errValidation(msgs []string) *esError {
	var sb strings.Builder
	sb.WriteString("Validation Failed: ")
	for i, m := range msgs {
		sb.WriteString(strconv.Itoa(i + 1))
		sb.WriteString(": ")
		sb.WriteString(m)
		sb.WriteByte(';')
	}
	return newErr(400, typeValidation, sb.String(), true)
}

// errIndexNotFound is IndexNotFoundException as raised by index name resolution.
func errIndexNotFound(name string) *esError {
	e := newErr(404, typeIndexNotFound, "no such index ["+name+"]", true)
	e.meta = []metaKV{{k: "resource.type", v: "index_or_alias"}, {k: "resource.id", v: name}, {k: "index_uuid", v: "_na_"}, {k: "index", v: name}}
	return e
}

// errIndexNotFoundMsg is IndexNotFoundException(message, index): "no such index [X] and MSG".
func errIndexNotFoundMsg(name, msg string) *esError {
	e := newErr(404, typeIndexNotFound, "no such index ["+name+"] and "+msg, true)
	e.meta = []metaKV{{k: "index_uuid", v: "_na_"}, {k: "index", v: name}}
	return e
}

// shardMeta is the metadata of an engine (shard-level) exception.
func shardMeta(ix *index) []metaKV {
	return []metaKV{{k: "index", v: ix.name}, {k: "shard", v: "0"}, {k: "index_uuid", v: ix.uuid}}
}

func errVersionConflict(ix *index, id, explanation string) *esError {
	e := newErr(409, typeVersionConflict, "["+id+"]: version conflict, "+explanation, true)
	e.meta = shardMeta(ix)
	return e
}

func (c *Cluster) errDocumentMissing(ix *index, id string) *esError {
	reason := "[" + id + "]: document missing"
	if c.opts.Flavor == Elasticsearch7 {
		reason = "[_doc][" + id + "]: document missing"
	}
	e := newErr(404, typeDocumentMissing, reason, true)
	e.meta = shardMeta(ix)
	return e
}

func (c *Cluster) rejectedType() string {
	if c.opts.Flavor.elastic() {
		return "es_rejected_execution_exception"
	}
	return "rejected_execution_exception"
}

func errMapperParsing(reason string, cause *esError) *esError {
	e := newErr(400, typeMapperParsing, reason, true)
	e.cause = cause
	return e
}

// errFromJSON wraps a Jackson syntax error as the server's exception.
func errFromJSON(src []byte, je *jsonErr) *esError {
	typ := je.typ
	if typ == "" {
		typ = typeJSONParse
	}
	return newErr(400, typ, je.reason(src), false)
}

func errClusterBlockReadOnly() *esError {
	return newErr(403, typeClusterBlock, "blocked by: [FORBIDDEN/6/cluster read-only (api)];", true)
}

func errIndexBlockWrite(ix string) *esError {
	return newErr(403, typeClusterBlock, "index ["+ix+"] blocked by: [FORBIDDEN/8/index write (api)];", true)
}

func errIndexBlockReadOnly(ix string) *esError {
	return newErr(403, typeClusterBlock, "index ["+ix+"] blocked by: [FORBIDDEN/5/index read-only (api)];", true)
}

// errBodyRequired is what RestRequest.requiredContent throws.
func errBodyRequired() *esError { return errParse("request body is required") }
