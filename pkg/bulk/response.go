package bulk

import (
	"strconv"
)

// ItemResult is one item of a bulk response, or a single-document write response.
type ItemResult struct {
	Action      Action
	Index, ID   string // ID "" when null
	Status      int
	Result      string // created, updated, deleted, not_found, noop; "" on failure
	Version     int64
	SeqNo       int64
	PrimaryTerm int64
	HasSeqNo    bool
	ErrorType   string // the top-level "type" of "error" ("" if none)
	ErrorReason string // the top-level "reason" of "error" (or "error" itself when it is a string)
	Error       []byte // raw "error" value, nil if none
	GetFound    bool
	GetSource   []byte // raw get._source, nil if absent
	// GetSourceSpan is where GetSource lies in the parsed body, [start,end); {0,0} if
	// absent. A proxy replaces it to filter the document it shows a client.
	GetSourceSpan [2]int
	GetSpan       [2]int // byte offsets [start,end) in the parsed body of the "get" member plus one
	// adjacent comma, so that removing it leaves valid JSON; {0,0} if absent
}

// ResponseSummary is the top level of a bulk response.
type ResponseSummary struct {
	Took   int64
	Errors bool
	Items  int
}

// ParseResponse walks a _bulk response body, calling fn once per item in order without
// decoding sources into maps; r is reused between calls and its byte slices alias body.
//
// The whole body is validated as JSON, but items are reported as they are read: when the
// body turns out to be truncated or invalid after some items, fn has seen them and the
// error is returned. An error from fn stops the walk and is returned as is. Unknown keys
// are skipped wherever they are, so Elasticsearch 7 / OpenSearch 1 bodies (with "_type")
// parse too. A whole-request error envelope ({"error":{...},"status":N}) is returned as an
// *Error.
//
// Strings are allocated only when they differ from the previous item's (_index) or are
// not one of the usual values (result, error type): typically only the _id costs one.
func ParseResponse(body []byte, fn func(i int, r *ItemResult) error) (ResponseSummary, error) {
	var sum ResponseSummary
	p := rparser{b: body, what: "bulk response"}
	var r ItemResult
	var envelope *Error
	status := int64(0)
	seenItems := false
	err := p.object(func(key []byte, _, _ int) error {
		var err error
		switch string(key) {
		case "took":
			sum.Took, _, err = p.intValue()
		case "errors":
			sum.Errors, err = p.boolValue()
		case "items":
			if seenItems {
				return p.errorf("duplicate \"items\"")
			}
			seenItems = true
			err = p.items(&sum, &r, fn)
		case "error":
			envelope = &Error{}
			var e ItemResult
			err = p.errorValue(&e)
			envelope.Type, envelope.Reason = e.ErrorType, e.ErrorReason
		case "status":
			status, _, err = p.intValue()
		default:
			err = p.skipValue()
		}
		return err
	})
	if err == nil {
		err = p.end()
	}
	if fe, ok := err.(fnError); ok {
		return sum, fe.err
	}
	if err != nil {
		return sum, err
	}
	if envelope != nil {
		envelope.Status = int(status)
		return sum, envelope
	}
	return sum, nil
}

// ParseWriteResponse parses a single-document write response (index/create/update/delete),
// the same fields as a bulk item without "status" (the caller passes the HTTP status).
// An error envelope ({"error":{...},"status":N}, or the simple {"error":"...",...}) fills
// ErrorType, ErrorReason and Error. r is reset first; its byte slices alias body.
func ParseWriteResponse(body []byte, status int, op Action, r *ItemResult) error {
	*r = ItemResult{}
	p := rparser{b: body, what: "write response"}
	if err := p.docFields(r, false); err != nil {
		return err
	}
	if err := p.end(); err != nil {
		return err
	}
	r.Action, r.Status = op, status
	return nil
}

// rparser is a strict recursive-descent JSON reader over a response body. Unlike the
// request lexer it need not imitate Jackson, only accept exactly valid JSON.
type rparser struct {
	b         []byte
	i         int
	what      string
	prevIndex string
	scratch   []byte
}

// fnError marks an error returned by the caller's callback so it is passed through as is.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

type responseError struct {
	what, msg string
	off       int
}

func (e *responseError) Error() string {
	return "parsing " + e.what + ": " + e.msg + " at offset " + strconv.Itoa(e.off)
}

func (p *rparser) errorf(msg string) error {
	return &responseError{what: p.what, msg: msg, off: p.i}
}

func (p *rparser) unexpected() error {
	if p.i >= len(p.b) {
		return p.errorf("unexpected end of input")
	}
	return p.errorf("unexpected " + strconv.QuoteRuneToASCII(rune(p.b[p.i])))
}

func (p *rparser) ws() {
	// Every byte that is not whitespace sorts above ' ' except control characters, so
	// the common case costs one comparison.
	for p.i < len(p.b) && p.b[p.i] <= ' ' {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (p *rparser) peek() byte {
	p.ws()
	if p.i >= len(p.b) {
		return 0
	}
	return p.b[p.i]
}

func (p *rparser) end() error {
	if p.peek() != 0 || p.i < len(p.b) {
		return p.errorf("data after the top-level value")
	}
	return nil
}

// object reads an object, calling member with each key (decoded; valid during the call),
// the offset of the key's opening quote and the offset of the comma before the member (-1
// for the first), the reader positioned on the value; member must consume the value.
func (p *rparser) object(member func(key []byte, keyStart, comma int) error) error {
	if p.peek() != '{' {
		return p.unexpected()
	}
	p.i++
	if p.peek() == '}' {
		p.i++
		return nil
	}
	comma := -1
	for {
		keyStart := p.i
		key, err := p.key()
		if err != nil {
			return err
		}
		if err := member(key, keyStart, comma); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			comma = p.i
			p.i++
			p.ws()
		case '}':
			p.i++
			return nil
		default:
			return p.unexpected()
		}
	}
}

// key reads `"name" :` and leaves the reader on the value.
func (p *rparser) key() ([]byte, error) {
	if p.peek() != '"' {
		return nil, p.unexpected()
	}
	raw, err := p.stringRaw()
	if err != nil {
		return nil, err
	}
	if p.peek() != ':' {
		return nil, p.unexpected()
	}
	p.i++
	p.ws()
	return raw, nil
}

// stringRaw reads a string and returns its decoded content (aliasing the body when it has
// no escapes, else the scratch buffer).
func (p *rparser) stringRaw() ([]byte, error) {
	end, esc, code, at := scanString(p.b, p.i)
	if code != seNone {
		p.i = at
		if code == seEOF {
			return nil, p.errorf("unexpected end of input in a string")
		}
		return nil, p.errorf("invalid string")
	}
	raw := p.b[p.i+1 : end-1]
	p.i = end
	if esc {
		p.scratch = decodeString(p.scratch[:0], raw)
		return p.scratch, nil
	}
	return raw, nil
}

// isNull consumes a null literal if one is next.
func (p *rparser) isNull() bool {
	if p.peek() == 'n' && len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
		p.i += 4
		return true
	}
	return false
}

// stringValue reads a string or null (as ""); prev is returned instead of a new string
// when equal.
func (p *rparser) stringValue(prev string) (string, error) {
	if p.isNull() {
		return "", nil
	}
	if p.peek() != '"' {
		return "", p.unexpected()
	}
	b, err := p.stringRaw()
	if err != nil {
		return "", err
	}
	if string(b) == prev {
		return prev, nil
	}
	return string(b), nil
}

// intValue reads an integer or null (present false).
func (p *rparser) intValue() (int64, bool, error) {
	if p.isNull() {
		return 0, false, nil
	}
	if c := p.peek(); c != '-' && !isDigit(c) {
		return 0, false, p.unexpected()
	}
	end, float, code, at := scanNumber(p.b, p.i)
	if code != seNone {
		p.i = at
		return 0, false, p.errorf("invalid number")
	}
	if float {
		return 0, false, p.errorf("expected an integer")
	}
	v, ok := parseJSONInt(p.b[p.i:end])
	if !ok {
		return 0, false, p.errorf("integer out of range")
	}
	p.i = end
	return v, true, nil
}

func (p *rparser) boolValue() (bool, error) {
	switch {
	case p.literal("true"):
		return true, nil
	case p.literal("false"), p.isNull():
		return false, nil
	}
	return false, p.unexpected()
}

func (p *rparser) literal(w string) bool {
	if p.peek() == w[0] && len(p.b)-p.i >= len(w) && string(p.b[p.i:p.i+len(w)]) == w {
		p.i += len(w)
		return true
	}
	return false
}

// skipValue reads and validates any value without recursion.
func (p *rparser) skipValue() error {
	var stack [maxNestingDepth/64 + 1]uint64 // bit set: object, clear: array
	depth := 0
	for {
		complete := true
		switch c := p.peek(); {
		case c == '{' || c == '[':
			if depth >= maxNestingDepth {
				return p.errorf("nesting too deep")
			}
			if c == '{' {
				stack[depth/64] |= 1 << (depth % 64)
			} else {
				stack[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			p.i++
			switch p.peek() {
			case c + 2: // '}' is '{'+2, ']' is '['+2
				p.i++
				depth--
			default:
				complete = false
				if c == '{' {
					if _, err := p.key(); err != nil {
						return err
					}
				}
			}
		case c == '"':
			if _, err := p.stringRaw(); err != nil {
				return err
			}
		case c == '-' || isDigit(c):
			end, _, code, at := scanNumber(p.b, p.i)
			if code != seNone {
				p.i = at
				return p.errorf("invalid number")
			}
			p.i = end
		case p.literal("true"), p.literal("false"), p.isNull():
		default:
			return p.unexpected()
		}
		if !complete {
			continue
		}
		// After a complete value: close finished containers, then move to the next value.
	next:
		for {
			if depth == 0 {
				return nil
			}
			obj := stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			switch c := p.peek(); {
			case c == ',':
				p.i++
				if obj {
					if _, err := p.key(); err != nil {
						return err
					}
				}
				break next
			case obj && c == '}', !obj && c == ']':
				p.i++
				depth--
			default:
				return p.unexpected()
			}
		}
	}
}

// rawValue skips a value and returns its bytes.
func (p *rparser) rawValue() ([]byte, error) {
	p.ws()
	start := p.i
	if err := p.skipValue(); err != nil {
		return nil, err
	}
	return p.b[start:p.i], nil
}

func (p *rparser) items(sum *ResponseSummary, r *ItemResult, fn func(int, *ItemResult) error) error {
	if p.isNull() {
		return nil
	}
	if p.peek() != '[' {
		return p.unexpected()
	}
	p.i++
	if p.peek() == ']' {
		p.i++
		return nil
	}
	for n := 0; ; n++ {
		*r = ItemResult{}
		if err := p.item(r); err != nil {
			return err
		}
		if err := fn(n, r); err != nil {
			return fnError{err}
		}
		sum.Items = n + 1
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return nil
		default:
			return p.unexpected()
		}
	}
}

// item reads {"<action>": {...}}, tolerating (skipping) other keys.
func (p *rparser) item(r *ItemResult) error {
	err := p.object(func(key []byte, _, _ int) error {
		act, ok := parseActionBytes(key)
		if !ok {
			return p.skipValue()
		}
		if r.Action != 0 {
			return p.errorf("item with more than one action")
		}
		r.Action = act
		return p.docFields(r, true)
	})
	if err == nil && r.Action == 0 {
		// Items answer request items by position; one we cannot name breaks that.
		return p.errorf("item without an action")
	}
	return err
}

// docFields reads the fields of a bulk item or write response.
func (p *rparser) docFields(r *ItemResult, bulk bool) error {
	return p.object(func(key []byte, keyStart, commaBefore int) error {
		var err error
		switch string(key) {
		case "_index":
			r.Index, err = p.stringValue(p.prevIndex)
			p.prevIndex = r.Index
		case "_id":
			r.ID, err = p.stringValue("")
		case "_version":
			r.Version, _, err = p.intValue()
		case "result":
			r.Result, err = p.internedString(knownResults)
		case "_seq_no":
			r.SeqNo, r.HasSeqNo, err = p.intValue()
		case "_primary_term":
			r.PrimaryTerm, _, err = p.intValue()
		case "status":
			if !bulk {
				return p.skipValue() // the caller passes the HTTP status
			}
			var v int64
			v, _, err = p.intValue()
			r.Status = int(v)
		case "error":
			err = p.errorValue(r)
		case "get":
			if err = p.getValue(r); err != nil {
				return err
			}
			// The span takes the following comma if there is one, else the preceding one.
			valueEnd := p.i
			switch {
			case p.peek() == ',':
				r.GetSpan = [2]int{keyStart, p.i + 1}
			case commaBefore >= 0:
				r.GetSpan = [2]int{commaBefore, valueEnd}
			default:
				r.GetSpan = [2]int{keyStart, valueEnd}
			}
		default:
			err = p.skipValue()
		}
		return err
	})
}

var knownResults = []string{"created", "updated", "deleted", "not_found", "noop"}

var knownErrorTypes = []string{
	"version_conflict_engine_exception", "document_missing_exception", "mapper_parsing_exception",
	"rejected_execution_exception", "es_rejected_execution_exception", "illegal_argument_exception",
	"index_not_found_exception", "strict_dynamic_mapping_exception", "cluster_block_exception",
	"document_parsing_exception", "action_request_validation_exception",
}

// internedString reads a string or null, returning one of known without allocating when
// it matches.
func (p *rparser) internedString(known []string) (string, error) {
	if p.isNull() {
		return "", nil
	}
	if p.peek() != '"' {
		return "", p.unexpected()
	}
	b, err := p.stringRaw()
	if err != nil {
		return "", err
	}
	for _, k := range known {
		if string(b) == k {
			return k, nil
		}
	}
	return string(b), nil
}

// errorValue reads an "error" value: an object (its top-level type and reason are
// taken), a plain string (the simple envelope) or null.
func (p *rparser) errorValue(r *ItemResult) error {
	switch p.peek() {
	case 'n':
		if p.isNull() {
			return nil
		}
		return p.unexpected()
	case '"':
		start := p.i
		s, err := p.stringValue("")
		r.ErrorReason, r.Error = s, p.b[start:p.i]
		return err
	}
	start := p.i
	err := p.object(func(key []byte, _, _ int) error {
		var err error
		switch string(key) {
		case "type":
			r.ErrorType, err = p.internedString(knownErrorTypes)
		case "reason":
			r.ErrorReason, err = p.stringValue("")
		default:
			err = p.skipValue()
		}
		return err
	})
	if err != nil {
		return err
	}
	r.Error = p.b[start:p.i]
	return nil
}

// getValue reads the "get" object of an update response: found and raw _source.
func (p *rparser) getValue(r *ItemResult) error {
	if p.isNull() {
		return nil
	}
	return p.object(func(key []byte, _, _ int) error {
		var err error
		switch string(key) {
		case "found":
			r.GetFound, err = p.boolValue()
		case "_source":
			p.ws()
			start := p.i
			if r.GetSource, err = p.rawValue(); err == nil {
				r.GetSourceSpan = [2]int{start, start + len(r.GetSource)}
			}
		default:
			err = p.skipValue()
		}
		return err
	})
}
