package searchemu

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/fanout-dev/fanout/pkg/glob"
)

// catColumn is one header cell of a _cat table (Table.addCell with its attributes).
type catColumn struct {
	name    string
	aliases []string
	desc    string
	right   bool // text-align:right
	hidden  bool // default:false
	sibling string
	attrs   string // the attribute string as declared, for help
}

// parseCatColumn reads a header declaration ("alias:a,b;default:false;desc:…").
func parseCatColumn(name, attrs string) catColumn {
	col := catColumn{name: name, attrs: attrs}
	for _, kv := range strings.Split(attrs, ";") {
		k, v, _ := strings.Cut(kv, ":")
		switch k {
		case "alias":
			col.aliases = splitComma(v)
		case "desc":
			col.desc = v
		case "text-align":
			col.right = v == "right"
		case "default":
			col.hidden = v == "false"
		case "sibling":
			col.sibling = v
		}
	}
	return col
}

// aliasAttr is the alias attribute as declared (help prints it verbatim).
func (col *catColumn) aliasAttr() string { return strings.Join(col.aliases, ",") }

// catValue is a typed cell value: the REST table sorts by the Java type of the cell
// (strings, integers, byte sizes) and renders byte sizes by ?bytes.
type catValue struct {
	null  bool
	str   string
	num   int64
	isNum bool
	bytes bool // a ByteSizeValue (num holds the byte count)
}

func catStr(s string) catValue  { return catValue{str: s} }
func catNum(n int64) catValue   { return catValue{num: n, isNum: true} }
func catBytes(n int64) catValue { return catValue{num: n, isNum: true, bytes: true} }

var catNull = catValue{null: true}

// render is RestTable.renderValue; ok is false for a null cell.
func (v catValue) render(rq *request) (string, bool) {
	switch {
	case v.null:
		return "", false
	case v.bytes:
		div := map[string]int64{"b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "p": 1 << 50, "pb": 1 << 50}
		if d, ok := div[rq.query["bytes"]]; ok {
			return strconv.FormatInt(v.num/d, 10), true
		}
		return humanBytes(v.num), true
	case v.isNum:
		return strconv.FormatInt(v.num, 10), true
	}
	return v.str, true
}

// compare is TableIndexComparator.compareCell: nulls first, same-typed values by their
// natural order, others by their string forms.
func (v catValue) compare(o catValue) int {
	switch {
	case v.null && o.null:
		return 0
	case v.null:
		return -1
	case o.null:
		return 1
	case v.isNum && o.isNum && v.bytes == o.bytes:
		switch {
		case v.num < o.num:
			return -1
		case v.num > o.num:
			return 1
		}
		return 0
	case !v.isNum && !o.isNum:
		return compareUTF16(v.str, o.str)
	}
	a, _ := v.render(&request{})
	b, _ := o.render(&request{})
	return compareUTF16(a, b)
}

// compareUTF16 is String.compareTo (UTF-16 code unit order).
func compareUTF16(a, b string) int {
	x, y := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(x) && i < len(y); i++ {
		if x[i] != y[i] {
			return int(x[i]) - int(y[i])
		}
	}
	return len(x) - len(y)
}

// catTable is a _cat table: its columns and rows of cells keyed by column name.
type catTable struct {
	cols []catColumn
	rows []map[string]catValue
}

func (t *catTable) column(name string) *catColumn {
	for i := range t.cols {
		if t.cols[i].name == name {
			return &t.cols[i]
		}
	}
	return nil
}

// displayHeader is a column shown under a display name (the alias the request used).
type displayHeader struct{ name, display string }

// displayHeaders is RestTable.buildDisplayHeaders: ?h picks columns by name, alias or
// wildcard (unknown names are skipped, as the server skips them), with the pri.*
// sibling after each column when ?pri is set; without ?h the default columns.
func (t *catTable) displayHeaders(rq *request) ([]displayHeader, *esError) {
	var out []displayHeader
	h, ok := rq.query["h"]
	if !ok {
		for _, col := range t.cols {
			if !col.hidden {
				out = append(out, displayHeader{col.name, col.name})
			}
		}
		return out, nil
	}
	pri, err := rq.paramBool("pri", false)
	if err != nil {
		return nil, err
	}
	var wanted []string
	seen := map[string]bool{}
	addWanted := func(s string) {
		if !seen[s] {
			seen[s] = true
			wanted = append(wanted, s)
		}
	}
	for _, p := range splitComma(h) {
		if !strings.Contains(p, "*") {
			addWanted(p)
			continue
		}
		for _, col := range t.cols {
			if glob.Match(p, col.name) {
				addWanted(col.name)
				continue
			}
			for _, a := range col.aliases {
				if glob.Match(p, a) {
					addWanted(col.name)
					break
				}
			}
		}
	}
	for _, p := range wanted {
		var dh *displayHeader
		if t.column(p) != nil {
			dh = &displayHeader{p, p}
		} else {
			// Every column is scanned, so a later column sharing an alias wins.
			for _, col := range t.cols {
				for _, a := range col.aliases {
					if a == p {
						dh = &displayHeader{col.name, a}
						break
					}
				}
			}
		}
		if dh == nil {
			continue
		}
		out = append(out, *dh)
		if col := t.column(dh.name); col.sibling != "" && pri {
			if sib := t.column(col.sibling + "." + dh.name); sib != nil {
				out = append(out, displayHeader{sib.name, col.sibling + "." + dh.display})
			}
		}
	}
	return out, nil
}

// sortRows is RestTable.getRowOrder: ?s names columns (or aliases), each optionally
// suffixed :asc or :desc; an unknown key fails the request.
func (t *catTable) sortRows(rq *request) *esError {
	s, ok := rq.query["s"]
	if !ok {
		return nil
	}
	aliasMap := map[string]string{}
	for _, col := range t.cols {
		for _, a := range col.aliases {
			aliasMap[a] = col.name
		}
		aliasMap[col.name] = col.name
	}
	type order struct {
		col     string
		reverse bool
	}
	var ordering []order
	for _, key := range splitComma(s) {
		rev := false
		if strings.HasSuffix(key, ":desc") {
			key, rev = strings.TrimSuffix(key, ":desc"), true
		} else if strings.HasSuffix(key, ":asc") {
			key = strings.TrimSuffix(key, ":asc")
		}
		name, ok := aliasMap[key]
		if !ok {
			// UnsupportedOperationException, which ExceptionsHelper.status maps to 500.
			return newErr(500, "unsupported_operation_exception", "Unable to sort by unknown sort key `"+key+"`", false)
		}
		ordering = append(ordering, order{name, rev})
	}
	sort.SliceStable(t.rows, func(i, j int) bool {
		for _, o := range ordering {
			c := t.rows[i][o.col].compare(t.rows[j][o.col])
			if c != 0 {
				if o.reverse {
					return c > 0
				}
				return c < 0
			}
		}
		return false
	})
	return nil
}

// catFormat picks the output as RestTable.buildResponse does: ?format, else the Accept
// header; anything unrecognised is the text table.
func catFormat(rq *request) string {
	if f, ok := rq.query["format"]; ok {
		switch strings.ToLower(f) {
		case "json", "yaml", "smile", "cbor":
			return strings.ToLower(f)
		}
		return "text"
	}
	mt := strings.ToLower(strings.TrimSpace(strings.Split(rq.accept, ";")[0]))
	switch mt {
	case "application/json":
		return "json"
	case "application/yaml":
		return "yaml"
	case "application/smile":
		return "smile"
	case "application/cbor":
		return "cbor"
	}
	return "text"
}

// respond renders the table (RestTable.buildResponse) or, with ?help, the column list
// (AbstractCatAction).
func (t *catTable) respond(rq *request) *response {
	help, err := rq.paramBool("help", false)
	if err != nil {
		return errResp(err)
	}
	if help {
		return t.help()
	}
	headers, herr := t.displayHeaders(rq)
	if herr != nil {
		return errResp(herr)
	}
	if err := t.sortRows(rq); err != nil {
		return errResp(err)
	}
	switch catFormat(rq) {
	case "json":
		b := []byte{'['}
		for i, row := range t.rows {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			for j, h := range headers {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, h.display)
				b = append(b, ':')
				if v, ok := row[h.name].render(rq); ok {
					b = appendJSONString(b, v)
				} else {
					b = append(b, "null"...)
				}
			}
			b = append(b, '}')
		}
		return jsonResp(200, append(b, ']'))
	case "yaml":
		return &response{status: 200, body: t.yaml(rq, headers), ctype: "application/yaml"}
	case "smile", "cbor":
		return errResp(errIllegalArg("[searchemu] " + catFormat(rq) + " output is not supported"))
	}
	return t.text(rq, headers)
}

// yaml renders the rows as Jackson's YAML generator does for the table's XContent: a
// document start marker, one sequence entry per row, double-quoted strings.
func (t *catTable) yaml(rq *request, headers []displayHeader) []byte {
	if len(t.rows) == 0 {
		return []byte("--- []\n")
	}
	b := []byte("---\n")
	for _, row := range t.rows {
		for j, h := range headers {
			if j == 0 {
				b = append(b, "- "...)
			} else {
				b = append(b, "  "...)
			}
			b = append(b, h.display...)
			b = append(b, ": "...)
			if v, ok := row[h.name].render(rq); ok {
				b = appendJSONString(b, v)
			} else {
				b = append(b, "null"...)
			}
			b = append(b, '\n')
		}
		if len(headers) == 0 {
			b = append(b, "- {}\n"...)
		}
	}
	return b
}

// text is RestTable.buildTextPlainResponse: columns padded to their widest cell (and
// header with ?v), right-aligned columns padded on the left, the last left-aligned
// column not padded.
func (t *catTable) text(rq *request, headers []displayHeader) *response {
	verbose, err := rq.paramBool("v", false)
	if err != nil {
		return errResp(err)
	}
	widths := make([]int, len(headers))
	for i, h := range headers {
		if verbose {
			widths[i] = len(utf16.Encode([]rune(h.display)))
		}
		for _, row := range t.rows {
			v, _ := row[h.name].render(rq)
			widths[i] = max(widths[i], len(utf16.Encode([]rune(v))))
		}
	}
	var sb strings.Builder
	line := func(cell func(i int) (string, bool)) {
		for i, h := range headers {
			v, _ := cell(i)
			pad(&sb, v, widths[i], t.column(h.name).right, i == len(headers)-1)
			if i < len(headers)-1 {
				sb.WriteByte(' ')
			}
		}
		sb.WriteByte('\n')
	}
	if verbose {
		line(func(i int) (string, bool) { return headers[i].display, true })
	}
	for _, row := range t.rows {
		line(func(i int) (string, bool) { return row[headers[i].name].render(rq) })
	}
	return &response{status: 200, body: []byte(sb.String()), ctype: "text/plain; charset=UTF-8"}
}

// pad is RestTable.pad.
func pad(sb *strings.Builder, v string, width int, right, last bool) {
	left := width - len(utf16.Encode([]rune(v)))
	if left > 0 && right {
		sb.WriteString(strings.Repeat(" ", left))
		sb.WriteString(v)
		return
	}
	sb.WriteString(v)
	if !last && left > 0 {
		sb.WriteString(strings.Repeat(" ", left))
	}
}

// help is AbstractCatAction's ?help answer: every column with its aliases and
// description, each part padded to its widest entry.
func (t *catTable) help() *response {
	var w [3]int
	desc := func(col catColumn) string {
		if col.desc == "" {
			return "not available"
		}
		return col.desc
	}
	for _, col := range t.cols {
		w[0] = max(w[0], len(col.name))
		w[1] = max(w[1], len(col.aliasAttr()))
		w[2] = max(w[2], len(desc(col)))
	}
	var sb strings.Builder
	for _, col := range t.cols {
		pad(&sb, col.name, w[0], false, false)
		sb.WriteString(" | ")
		pad(&sb, col.aliasAttr(), w[1], false, false)
		sb.WriteString(" | ")
		pad(&sb, desc(col), w[2], false, false)
		sb.WriteByte('\n')
	}
	return &response{status: 200, body: []byte(sb.String()), ctype: "text/plain; charset=UTF-8"}
}
