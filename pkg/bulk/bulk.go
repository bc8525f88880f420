// Package bulk reads and writes the NDJSON bodies of the OpenSearch/Elasticsearch _bulk API
// and parses bulk and single-document write responses.
//
// It sits on the hot path of both the proxy (which frames every client bulk request) and
// the replicator (which builds bulk bodies and judges every answer item by item), so the
// code avoids reflection, maps and per-item allocations: action lines are read by a small
// hand-rolled JSON tokenizer that mirrors the server's Jackson-based parser closely enough
// to reject exactly what the server rejects, with the same error types and reasons
// (see opensearch-api.md §1.2/§1.3), and payload lines are never parsed while framing.
package bulk

import (
	"strconv"
)

// Action is the operation of one bulk item.
type Action uint8

// The four bulk actions. The zero Action is invalid.
const (
	ActionIndex Action = iota + 1
	ActionCreate
	ActionUpdate
	ActionDelete
)

// String returns the action's name as written in bulk bodies ("index", "create", "update",
// "delete"), or "Action(N)" for an invalid value.
func (a Action) String() string {
	switch a {
	case ActionIndex:
		return "index"
	case ActionCreate:
		return "create"
	case ActionUpdate:
		return "update"
	case ActionDelete:
		return "delete"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// ParseAction maps an action name to its Action. It is case-sensitive, like the server.
func ParseAction(s string) (Action, bool) {
	switch s {
	case "index":
		return ActionIndex, true
	case "create":
		return ActionCreate, true
	case "update":
		return ActionUpdate, true
	case "delete":
		return ActionDelete, true
	}
	return 0, false
}

// parseActionBytes is ParseAction for a byte slice without converting it to a string
// (the compiler does not allocate for a switch on string(b)).
func parseActionBytes(b []byte) (Action, bool) {
	switch string(b) {
	case "index":
		return ActionIndex, true
	case "create":
		return ActionCreate, true
	case "update":
		return ActionUpdate, true
	case "delete":
		return ActionDelete, true
	}
	return 0, false
}

// Meta is one parsed action/metadata line. The set of keys is exactly the server's
// accepted set (reference §1.3); null values are ignored (treated as absent).
//
// String values that are JSON numbers or booleans keep their text ("_id":1 gives ID "1"),
// as the server does.
type Meta struct {
	Action           Action // the line's key as written (index with op_type=create stays ActionIndex; see OpType)
	Index            string
	ID               string
	HasID            bool // "_id" key present (ID may be "")
	Routing          string
	Pipeline         string
	OpType           string // raw op_type value, "" if absent
	Version          int64
	HasVersion       bool
	VersionType      string // raw, "" if absent
	IfSeqNo          int64
	HasIfSeqNo       bool
	IfPrimaryTerm    int64
	HasIfPrimaryTerm bool
	RetryOnConflict  int
	RequireAlias     bool
	HasRequireAlias  bool
	Source           []byte // raw JSON value of "_source" (honoured by the server on update lines only), nil if absent

	// Type is the legacy "_type" value. Only lines read WithLegacyTypes can set it; the
	// encoder writes it when non-empty.
	Type string
}

// EffectiveAction is the action the server executes and names in its response: an index
// line with "op_type":"create" is a create.
func (m *Meta) EffectiveAction() Action {
	if m.Action == ActionIndex && m.OpType == "create" {
		return ActionCreate
	}
	return m.Action
}

// Item is one operation of a bulk body. Byte slices alias the scanner's buffer and are
// valid only until the next call to Next.
type Item struct {
	Meta
	Line       int    // 1-based line number of the action line
	ActionLine []byte // raw action line, without the line terminator
	Payload    []byte // raw payload line (index/create/update), without "\n"/"\r"; nil for delete

	// Offset is the byte offset of the action line in the body and End the offset just
	// past the item's last "\n", so body[Offset:End] is the item as sent.
	Offset, End int64
}

// Error is a whole-request error in the server's terms: HTTP status, Elasticsearch
// exception type and reason. Render with (*Error).JSON() into the standard envelope
// {"error":{"root_cause":[{"type","reason"}],"type","reason"},"status":N}.
type Error struct {
	Status int
	Type   string
	Reason string
	Line   int // 1-based line it concerns, 0 if none

	// CausedBy is the nested cause the server reports as "caused_by" (for example the
	// Jackson error under "[UpdateRequest] failed to parse field [doc]"); nil if none.
	CausedBy *Error
}

// Error implements error as "TYPE: REASON".
func (e *Error) Error() string {
	s := e.Type + ": " + e.Reason
	if e.CausedBy != nil {
		s += " (caused by " + e.CausedBy.Error() + ")"
	}
	return s
}

// JSON renders the error in the server's whole-request error envelope. As on the server,
// root_cause holds the outermost exception: none of the types produced here are server
// exceptions that delegate their root cause to a nested one.
func (e *Error) JSON() []byte {
	b := make([]byte, 0, 128+2*len(e.Reason))
	b = append(b, `{"error":{"root_cause":[{"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"reason":`...)
	b = appendString(b, e.Reason)
	b = append(b, `}],`...)
	b = e.appendBody(b)
	b = append(b, `},"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	return append(b, '}')
}

// appendBody appends "type","reason" and the caused_by chain (without braces).
func (e *Error) appendBody(b []byte) []byte {
	b = append(b, `"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"reason":`...)
	b = appendString(b, e.Reason)
	if e.CausedBy != nil {
		b = append(b, `,"caused_by":{`...)
		b = e.CausedBy.appendBody(b)
		b = append(b, '}')
	}
	return b
}

// Exception type names used by the server, derived from its Java class names.
const (
	typeIllegalArgument   = "illegal_argument_exception"
	typeValidation        = "action_request_validation_exception"
	typeJSONParse         = "json_parse_exception"
	typeJSONEOF           = "json_e_o_f_exception"
	typeInputCoercion     = "input_coercion_exception"
	typeStreamConstraints = "stream_constraints_exception"
	typeXContentParse     = "x_content_parse_exception"
	typeParsing           = "parsing_exception"
	typeParse             = "parse_exception"
	typeNumberFormat      = "number_format_exception"
	typeIllegalState      = "illegal_state_exception"
)

func badRequest(typ, reason string) *Error {
	return &Error{Status: 400, Type: typ, Reason: reason}
}
