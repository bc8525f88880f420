package bulk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// DefaultMaxLineBytes is the default line limit, the server's default
// http.max_content_length (100mb), so that the limit only bites where the server would
// refuse the whole body anyway.
const DefaultMaxLineBytes = 100 << 20

// maxLineLimit keeps 2*max+2 (the largest buffer a scanner may need) far from overflowing.
const maxLineLimit = 1 << 40

// initialBuffer is the streaming scanner's first buffer size; it grows (up to twice the
// line limit) only when one item does not fit.
const initialBuffer = 64 << 10

// ScannerOption configures a Scanner.
type ScannerOption func(*scannerOptions)

type scannerOptions struct {
	maxLine int
	legacy  bool
}

// WithMaxLineBytes bounds the length of one line (terminator excluded); a longer line is a
// 400 illegal_argument_exception. It bounds the streaming scanner's memory to about twice
// the limit. n <= 0 selects DefaultMaxLineBytes.
func WithMaxLineBytes(n int) ScannerOption {
	return func(o *scannerOptions) {
		switch {
		case n <= 0:
			o.maxLine = DefaultMaxLineBytes
		case n > maxLineLimit:
			o.maxLine = maxLineLimit
		default:
			o.maxLine = n
		}
	}
}

// WithLegacyParser frames bodies the way Elasticsearch 7.x and OpenSearch 1.x do: the
// "_type" key is accepted (into Meta.Type), and a line whose action is not one of the four
// is skipped together with its payload line instead of failing the request.
func WithLegacyParser() ScannerOption {
	return func(o *scannerOptions) { o.legacy = true }
}

// Scanner frames a bulk body into items, mirroring the server's BulkRequestParser: the
// same lines are accepted, blank lines skipped, and the same whole-request errors
// reported, with the same types, reasons and line numbers.
//
// Like the server, a framing error anywhere fails the whole request, but a Scanner finds
// it only when it gets there: items before it have already been returned. A caller that
// must not act on a body the server would reject consumes the scanner to the end first.
//
// Index and create payloads are not parsed at all, and update payloads are not
// validated; see ParseUpdatePayload. The streaming scanner reads through one reused
// buffer, so a steady state of items costs no allocations except for Meta strings that
// differ from the previous item's (typically only the _id). A Scanner is not safe for
// concurrent use.
type Scanner struct {
	opts scannerOptions

	r     io.Reader // nil for a bytes scanner
	buf   []byte    // the body (bytes scanner) or the read buffer
	start int       // first unconsumed byte in buf
	end   int       // end of valid data in buf
	seen  int       // bytes from start up to here hold no '\n'
	keep  int       // start of data that must survive compaction (the current item), or -1
	base  int64     // body offset of buf[0]
	eof   bool
	rerr  error // read error to report once the buffer is drained
	empty int   // consecutive empty reads

	line  int // lines consumed
	items int // items returned
	total int64
	err   error
	done  bool
	item  Item

	lex lexer

	// Strings of the current line are collected here and converted with one allocation;
	// a value equal to the previous item's value of the same field is reused instead.
	strBuf []byte
	pend   [numSlots]pendingString
	npend  int
	prev   [numSlots]string

	srcOff, srcLen int // Meta.Source within the action line, srcOff < 0 if none
}

type strSlot uint8

const (
	slotIndex strSlot = iota
	slotID
	slotRouting
	slotPipeline
	slotOpType
	slotVersionType
	slotType
	numSlots
)

type pendingString struct {
	dst    *string
	slot   strSlot
	off, n int
}

// NewScanner returns a scanner reading the body from r through a bounded buffer that it
// reuses for every item.
func NewScanner(r io.Reader, opts ...ScannerOption) *Scanner {
	s := &Scanner{}
	s.configure(opts)
	s.Reset(r)
	return s
}

// NewBytesScanner returns a scanner over body that copies nothing: items alias body.
func NewBytesScanner(body []byte, opts ...ScannerOption) *Scanner {
	s := &Scanner{}
	s.configure(opts)
	s.ResetBytes(body)
	return s
}

func (s *Scanner) configure(opts []ScannerOption) {
	s.opts = scannerOptions{maxLine: DefaultMaxLineBytes}
	for _, o := range opts {
		o(&s.opts)
	}
}

// Reset makes s read a new body from r, keeping its buffer and options, so that
// scanners can be pooled. A nil r reads an empty body.
func (s *Scanner) Reset(r io.Reader) {
	if r == nil {
		s.ResetBytes(nil)
		return
	}
	buf := s.buf
	if s.r == nil { // the buffer was a caller's body (or there was none)
		buf = nil
	}
	s.resetState()
	s.r = r
	if buf == nil {
		buf = make([]byte, min(initialBuffer, s.maxBuffer()))
	}
	s.buf = buf[:cap(buf)]
}

// ResetBytes makes s scan body, keeping its options.
func (s *Scanner) ResetBytes(body []byte) {
	s.resetState()
	s.buf = body
	s.end = len(body)
	s.total = int64(len(body))
	s.eof = true
}

func (s *Scanner) resetState() {
	// The lexer's stacks, the string buffer and the previous values (immutable strings)
	// carry over, so that a pooled scanner reaches its steady state at once.
	*s = Scanner{opts: s.opts, lex: s.lex, strBuf: s.strBuf[:0], prev: s.prev, keep: -1}
}

// maxBuffer is the most a streaming scanner ever holds: a whole action line, and one more
// byte than the limit of the payload line to tell that it is too long.
func (s *Scanner) maxBuffer() int { return 2*s.opts.maxLine + 2 }

// Item returns the current item. It and the slices it holds are valid until the next
// call to Next.
func (s *Scanner) Item() *Item { return &s.item }

// Err returns the error that stopped the scanner: an *Error for a body the server would
// reject (including "no requests added" when it holds no item, and "request body is
// required" when it is empty), a wrapped read error, or nil.
func (s *Scanner) Err() error { return s.err }

// Items returns the number of items returned so far.
func (s *Scanner) Items() int { return s.items }

// Next advances to the next item and reports whether there is one.
func (s *Scanner) Next() bool {
	if s.done {
		return false
	}
	for {
		s.keep = -1
		ls, le, ok := s.nextLine()
		if !ok {
			return s.finish()
		}
		s.line++
		lineNo := s.line
		al := trimCR(s.buf[ls:le])
		act, blank, perr := s.parseAction(al, lineNo)
		if perr != nil {
			return s.fail(perr)
		}
		if blank {
			continue
		}
		m := &s.item.Meta
		if act == ActionDelete {
			s.emit(ls, len(al), -1, 0, le+1, lineNo)
			return true
		}
		// The payload line: the action line must survive any buffer compaction meanwhile.
		s.keep = ls
		ps, pe, ok := s.nextLine()
		if !ok {
			// An action line without its payload line at the very end is silently
			// dropped, as by the server.
			return s.finish()
		}
		s.line++
		if act == ActionUpdate && ((m.HasVersion && m.Version != versionsMatchAny) ||
			(m.VersionType != "" && m.VersionType != "internal")) {
			return s.fail(&Error{Status: 400, Type: typeIllegalArgument, Line: lineNo,
				Reason: "Update requests do not support versioning. Please use `if_seq_no` and `if_primary_term` instead"})
		}
		if act == 0 { // legacy parser, unknown action: skipped with its payload
			continue
		}
		// s.keep moved with any compaction; the action line starts there.
		s.emit(s.keep, len(al), ps, len(trimCR(s.buf[ps:pe])), pe+1, lineNo)
		return true
	}
}

// versionsMatchAny is the server's Versions.MATCH_ANY: "version":-3 is no version.
const versionsMatchAny = -3

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// emit publishes the current item from buffer offsets (payload offset ps < 0 for none).
func (s *Scanner) emit(as, alen, ps, plen, next, lineNo int) {
	it := &s.item
	it.Line = lineNo
	it.ActionLine = s.buf[as : as+alen : as+alen]
	if ps >= 0 {
		it.Payload = s.buf[ps : ps+plen : ps+plen]
	} else {
		it.Payload = nil
	}
	if s.srcOff >= 0 {
		it.Source = it.ActionLine[s.srcOff : s.srcOff+s.srcLen : s.srcOff+s.srcLen]
	}
	it.Offset = s.base + int64(as)
	it.End = s.base + int64(next)
	s.items++
}

func (s *Scanner) fail(e *Error) bool {
	s.err = e
	s.done = true
	s.item = Item{}
	return false
}

// finish ends the scan at the end of input or on an error from nextLine.
func (s *Scanner) finish() bool {
	s.done = true
	s.item = Item{}
	if s.err == nil && s.items == 0 {
		if s.total == 0 {
			// RestRequest.requiredContent() refuses an empty body before any parsing.
			s.err = badRequest(typeParse, "request body is required")
		} else {
			s.err = badRequest(typeValidation, "Validation Failed: 1: no requests added;")
		}
	}
	return false
}

// nextLine returns the next line as buf[ls:le], buf[le] being its '\n', and consumes it.
// At the end of input or on an error (s.err set) ok is false.
func (s *Scanner) nextLine() (ls, le int, ok bool) {
	for {
		if i := bytes.IndexByte(s.buf[s.seen:s.end], '\n'); i >= 0 {
			nl := s.seen + i
			ls = s.start
			if nl-ls > s.opts.maxLine {
				s.tooLong()
				return 0, 0, false
			}
			s.start, s.seen = nl+1, nl+1
			return ls, nl, true
		}
		s.seen = s.end
		if s.end-s.start > s.opts.maxLine {
			s.tooLong()
			return 0, 0, false
		}
		if s.eof {
			if s.end > s.start {
				s.err = &Error{Status: 400, Type: typeIllegalArgument, Line: s.line + 1,
					Reason: "The bulk request must be terminated by a newline [\\n]"}
			}
			return 0, 0, false
		}
		if s.rerr != nil {
			s.err = s.rerr
			return 0, 0, false
		}
		s.fill()
	}
}

func (s *Scanner) tooLong() {
	s.err = &Error{Status: 400, Type: typeIllegalArgument, Line: s.line + 1,
		Reason: "Line [" + strconv.Itoa(s.line+1) + "] of the bulk request is longer than the maximum of [" +
			strconv.Itoa(s.opts.maxLine) + "] bytes"}
}

// fill reads more data. When the buffer is full it first drops the consumed bytes
// (everything before the current item), and grows (up to maxBuffer) when the item takes
// more than half of it, so that moving the item around stays amortised O(1) per byte.
func (s *Scanner) fill() {
	if s.end == len(s.buf) {
		from := s.start
		if s.keep >= 0 && s.keep < from {
			from = s.keep
		}
		live := s.end - from
		size := len(s.buf)
		if live > size/2 {
			size = min(max(2*size, initialBuffer), s.maxBuffer())
		}
		switch {
		case size > len(s.buf):
			nb := make([]byte, size)
			copy(nb, s.buf[from:s.end])
			s.buf = nb
		case from > 0:
			copy(s.buf, s.buf[from:s.end])
		default:
			// Unreachable: nextLine fails before the data can outgrow maxBuffer.
			s.rerr = errors.New("bulk: scanner buffer exhausted")
			return
		}
		s.base += int64(from)
		s.start -= from
		s.seen -= from
		if s.keep >= 0 {
			s.keep -= from
		}
		s.end = live
	}
	n, err := s.r.Read(s.buf[s.end:])
	if n < 0 || n > len(s.buf)-s.end {
		s.rerr = fmt.Errorf("reading bulk body: %w", errors.New("invalid read count"))
		return
	}
	s.end += n
	s.total += int64(n)
	switch {
	case err == io.EOF:
		s.eof = true
	case err != nil:
		s.rerr = fmt.Errorf("reading bulk body: %w", err)
	case n == 0:
		if s.empty++; s.empty >= 100 {
			s.rerr = fmt.Errorf("reading bulk body: %w", io.ErrNoProgress)
		}
		return
	}
	s.empty = 0
}
