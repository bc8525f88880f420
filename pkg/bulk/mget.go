package bulk

// MgetDoc is one document of an _mget answer. Its byte slices alias the parsed body.
type MgetDoc struct {
	Index, ID   string
	Routing     string // the document's stored _routing ("" if none)
	Found       bool
	Version     int64
	SeqNo       int64
	PrimaryTerm int64
	HasSeqNo    bool   // _seq_no and _primary_term were given
	Source      []byte // raw _source, nil if absent
	ErrorType   string // the top-level "type" of "error" ("" if none)
	ErrorReason string
	Error       []byte // raw "error" value, nil if none
}

// ParseMget walks an _mget answer ({"docs":[...]}), calling fn once per document in
// order; d is reused between calls. It reads the answer as ParseResponse reads a _bulk
// one: strictly valid JSON, sources kept raw (never decoded into maps), unknown keys
// skipped. An error from fn stops the walk and is returned as is. It exists because an
// answer holds whole documents: encoding/json scans and copies each source twice.
func ParseMget(body []byte, fn func(i int, d *MgetDoc) error) (int, error) {
	p := rparser{b: body, what: "_mget answer"}
	n := 0
	var d MgetDoc
	seen := false
	err := p.object(func(key []byte, _, _ int) error {
		if string(key) != "docs" {
			return p.skipValue()
		}
		if seen {
			return p.errorf(`duplicate "docs"`)
		}
		seen = true
		if p.peek() != '[' {
			return p.unexpected()
		}
		p.i++
		if p.peek() == ']' {
			p.i++
			return nil
		}
		for {
			d = MgetDoc{}
			if err := p.mgetDoc(&d); err != nil {
				return err
			}
			if err := fn(n, &d); err != nil {
				return fnError{err}
			}
			n++
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
	})
	if err == nil {
		err = p.end()
	}
	if fe, ok := err.(fnError); ok {
		return n, fe.err
	}
	return n, err
}

func (p *rparser) mgetDoc(d *MgetDoc) error {
	var seq, term bool
	err := p.object(func(key []byte, _, _ int) error {
		var err error
		switch string(key) {
		case "_index":
			d.Index, err = p.stringValue(p.prevIndex)
			p.prevIndex = d.Index
		case "_id":
			d.ID, err = p.stringValue("")
		case "_routing":
			d.Routing, err = p.stringValue("")
		case "found":
			d.Found, err = p.boolValue()
		case "_version":
			d.Version, _, err = p.intValue()
		case "_seq_no":
			d.SeqNo, seq, err = p.intValue()
		case "_primary_term":
			d.PrimaryTerm, term, err = p.intValue()
		case "_source":
			if p.isNull() {
				return nil
			}
			d.Source, err = p.rawValue()
		case "error":
			var r ItemResult
			err = p.errorValue(&r)
			d.ErrorType, d.ErrorReason, d.Error = r.ErrorType, r.ErrorReason, r.Error
			if d.Error != nil && d.ErrorType == "" {
				d.ErrorType = "error" // a plain string
			}
		default:
			err = p.skipValue()
		}
		return err
	})
	d.HasSeqNo = seq && term
	return err
}
