package bulk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// gotItem is a comparable snapshot of an Item (whose slices die at the next Next).
type gotItem struct {
	Meta
	Source     string
	Line       int
	ActionLine string
	Payload    string
	NilPayload bool
	Offset     int64
	End        int64
}

func snapshot(it *Item) gotItem {
	g := gotItem{Meta: it.Meta, Source: string(it.Meta.Source), Line: it.Line,
		ActionLine: string(it.ActionLine), Payload: string(it.Payload), NilPayload: it.Payload == nil,
		Offset: it.Offset, End: it.End}
	g.Meta.Source = nil
	return g
}

func scanAll(s *Scanner) ([]gotItem, error) {
	var items []gotItem
	for s.Next() {
		items = append(items, snapshot(s.Item()))
	}
	if s.Next() { // stays done
		panic("Next after false returned true")
	}
	return items, s.Err()
}

// scanBoth scans body with the bytes scanner and with streaming scanners fed one byte at
// a time and in odd chunks, and fails the test unless all agree.
func scanBoth(t *testing.T, body []byte, opts ...ScannerOption) ([]gotItem, error) {
	t.Helper()
	items, err := scanAll(NewBytesScanner(body, opts...))
	readers := map[string]io.Reader{
		"one-byte":  iotest.OneByteReader(bytes.NewReader(body)),
		"half":      iotest.HalfReader(bytes.NewReader(body)),
		"data-err":  iotest.DataErrReader(bytes.NewReader(body)),
		"plain":     bytes.NewReader(body),
		"timeout-0": &zeroReader{r: bytes.NewReader(body)},
	}
	for name, r := range readers {
		sitems, serr := scanAll(NewScanner(r, opts...))
		if !reflect.DeepEqual(items, sitems) {
			t.Fatalf("%s streaming scanner items differ:\nbytes: %+v\nstream: %+v", name, items, sitems)
		}
		if fmt.Sprint(err) != fmt.Sprint(serr) {
			t.Fatalf("%s streaming scanner error differs:\nbytes: %v\nstream: %v", name, err, serr)
		}
	}
	return items, err
}

// zeroReader returns (0, nil) every other call, which readers may do.
type zeroReader struct {
	r    io.Reader
	flip bool
}

func (z *zeroReader) Read(p []byte) (int, error) {
	z.flip = !z.flip
	if z.flip {
		return 0, nil
	}
	return z.r.Read(p)
}

func TestScannerFraming(t *testing.T) {
	tests := []struct {
		name string
		body string
		opts []ScannerOption
		want []gotItem
	}{
		{
			name: "index create update delete",
			body: `{"index":{"_index":"t","_id":"1"}}` + "\n" + `{"a":1}` + "\n" +
				`{"create":{"_index":"t","_id":"2","pipeline":"p","routing":"r"}}` + "\n" + `{"b":2}` + "\n" +
				`{"update":{"_index":"t","_id":"3","retry_on_conflict":3,"if_seq_no":5,"if_primary_term":1,"require_alias":true}}` + "\n" + `{"doc":{"c":3}}` + "\n" +
				`{"delete":{"_index":"t","_id":"4","version":7,"version_type":"external_gte"}}` + "\n",
			want: []gotItem{
				{Meta: Meta{Action: ActionIndex, Index: "t", ID: "1", HasID: true}, Line: 1,
					ActionLine: `{"index":{"_index":"t","_id":"1"}}`, Payload: `{"a":1}`},
				{Meta: Meta{Action: ActionCreate, Index: "t", ID: "2", HasID: true, Pipeline: "p", Routing: "r"}, Line: 3,
					ActionLine: `{"create":{"_index":"t","_id":"2","pipeline":"p","routing":"r"}}`, Payload: `{"b":2}`},
				{Meta: Meta{Action: ActionUpdate, Index: "t", ID: "3", HasID: true, RetryOnConflict: 3, IfSeqNo: 5, HasIfSeqNo: true,
					IfPrimaryTerm: 1, HasIfPrimaryTerm: true, RequireAlias: true, HasRequireAlias: true}, Line: 5,
					ActionLine: `{"update":{"_index":"t","_id":"3","retry_on_conflict":3,"if_seq_no":5,"if_primary_term":1,"require_alias":true}}`,
					Payload:    `{"doc":{"c":3}}`},
				{Meta: Meta{Action: ActionDelete, Index: "t", ID: "4", HasID: true, Version: 7, HasVersion: true, VersionType: "external_gte"}, Line: 7,
					ActionLine: `{"delete":{"_index":"t","_id":"4","version":7,"version_type":"external_gte"}}`, NilPayload: true},
			},
		},
		{
			name: "empty metadata and auto id",
			body: "{\"index\":{}}\n{}\n{\"create\":{}}\n\n",
			want: []gotItem{
				{Meta: Meta{Action: ActionIndex}, Line: 1, ActionLine: `{"index":{}}`, Payload: `{}`},
				{Meta: Meta{Action: ActionCreate}, Line: 3, ActionLine: `{"create":{}}`, Payload: ``},
			},
		},
		{
			name: "CRLF line endings",
			body: "{\"index\":{\"_id\":\"1\"}}\r\n{\"a\":1}\r\n\r\n{\"delete\":{\"_id\":\"2\"}}\r\n",
			want: []gotItem{
				{Meta: Meta{Action: ActionIndex, ID: "1", HasID: true}, Line: 1, ActionLine: `{"index":{"_id":"1"}}`, Payload: `{"a":1}`},
				{Meta: Meta{Action: ActionDelete, ID: "2", HasID: true}, Line: 4, ActionLine: `{"delete":{"_id":"2"}}`, NilPayload: true},
			},
		},
		{
			name: "blank and whitespace lines between items",
			body: "\n   \n\t\n{\"delete\":{\"_id\":\"1\"}}\n\n \n{\"delete\":{\"_id\":\"2\"}}\n",
			want: []gotItem{
				{Meta: Meta{Action: ActionDelete, ID: "1", HasID: true}, Line: 4, ActionLine: `{"delete":{"_id":"1"}}`, NilPayload: true},
				{Meta: Meta{Action: ActionDelete, ID: "2", HasID: true}, Line: 7, ActionLine: `{"delete":{"_id":"2"}}`, NilPayload: true},
			},
		},
		{
			name: "payload line is taken as is, even blank or not JSON",
			body: "{\"index\":{}}\n\n{\"index\":{}}\nnot json\n",
			want: []gotItem{
				{Meta: Meta{Action: ActionIndex}, Line: 1, ActionLine: `{"index":{}}`, Payload: ``},
				{Meta: Meta{Action: ActionIndex}, Line: 3, ActionLine: `{"index":{}}`, Payload: `not json`},
			},
		},
		{
			name: "action line at the very end without payload is dropped",
			body: "{\"delete\":{\"_id\":\"1\"}}\n{\"index\":{\"_id\":\"2\"}}\n",
			want: []gotItem{
				{Meta: Meta{Action: ActionDelete, ID: "1", HasID: true}, Line: 1, ActionLine: `{"delete":{"_id":"1"}}`, NilPayload: true},
			},
		},
		{
			name: "escapes in names and values",
			body: `{"ind\u0065x":{"_i\u0064":"a\"b\\c\/\u00e9\ud83d\ude00\n","_index":"\u0074"}}` + "\n{}\n",
			want: []gotItem{
				{Meta: Meta{Action: ActionIndex, ID: "a\"b\\c/é😀\n", HasID: true, Index: "t"}, Line: 1,
					ActionLine: `{"ind\u0065x":{"_i\u0064":"a\"b\\c\/\u00e9\ud83d\ude00\n","_index":"\u0074"}}`, Payload: `{}`},
			},
		},
		{
			name: "lone surrogate becomes U+FFFD",
			body: `{"delete":{"_id":"\ud800x"}}` + "\n",
			want: []gotItem{
				{Meta: Meta{Action: ActionDelete, ID: "\uFFFDx", HasID: true}, Line: 1, ActionLine: `{"delete":{"_id":"\ud800x"}}`, NilPayload: true},
			},
		},
		{
			name: "scalar values keep their text",
			body: `{"delete":{"_id":1.50,"_index":true,"routing":-0}}` + "\n",
			want: []gotItem{
				{Meta: Meta{Action: ActionDelete, ID: "1.50", HasID: true, Index: "true", Routing: "-0"}, Line: 1,
					ActionLine: `{"delete":{"_id":1.50,"_index":true,"routing":-0}}`, NilPayload: true},
			},
		},
		{
			name: "null values are ignored, even for unknown keys",
			body: `{"delete":{"_id":null,"foo":null,"version":null,"_source":null}}` + "\n",
			want: []gotItem{
				{Meta: Meta{Action: ActionDelete}, Line: 1, ActionLine: `{"delete":{"_id":null,"foo":null,"version":null,"_source":null}}`, NilPayload: true},
			},
		},
		{
			name: "coercions like the server",
			body: `{"index":{"version":"1e3","if_seq_no":1.9,"if_primary_term":"-2.7","retry_on_conflict":"4.5","require_alias":"","op_type":"create"}}` + "\n{}\n",
			want: []gotItem{
				{Meta: Meta{Action: ActionIndex, Version: 1000, HasVersion: true, IfSeqNo: 1, HasIfSeqNo: true, IfPrimaryTerm: -2, HasIfPrimaryTerm: true,
					RetryOnConflict: 4, HasRequireAlias: true, OpType: "create"}, Line: 1,
					ActionLine: `{"index":{"version":"1e3","if_seq_no":1.9,"if_primary_term":"-2.7","retry_on_conflict":"4.5","require_alias":"","op_type":"create"}}`,
					Payload:    `{}`},
			},
		},
		{
			name: "update may carry version -3 and internal version_type",
			body: `{"update":{"version":-3,"version_type":"internal","_source":{"includes":["a","b"],"exclude":"c"}}}` + "\n{\"doc\":{}}\n",
			want: []gotItem{
				{Meta: Meta{Action: ActionUpdate, Version: -3, HasVersion: true, VersionType: "internal"}, Source: `{"includes":["a","b"],"exclude":"c"}`, Line: 1,
					ActionLine: `{"update":{"version":-3,"version_type":"internal","_source":{"includes":["a","b"],"exclude":"c"}}}`, Payload: `{"doc":{}}`},
			},
		},
		{
			name: "_source scalar forms",
			body: `{"update":{"_source":false}}` + "\n{}\n" + `{"update":{"_source":"a,b"}}` + "\n{}\n",
			want: []gotItem{
				{Meta: Meta{Action: ActionUpdate}, Source: `false`, Line: 1, ActionLine: `{"update":{"_source":false}}`, Payload: `{}`},
				{Meta: Meta{Action: ActionUpdate}, Source: `"a,b"`, Line: 3, ActionLine: `{"update":{"_source":"a,b"}}`, Payload: `{}`},
			},
		},
		{
			name: "nothing after the metadata object is read, as by the server",
			body: "{\"delete\":{\"_id\":\"1\"},\"index\":{}} trailing junk [\n{\"delete\":{}\n",
			want: []gotItem{
				{Meta: Meta{Action: ActionDelete, ID: "1", HasID: true}, Line: 1, ActionLine: "{\"delete\":{\"_id\":\"1\"},\"index\":{}} trailing junk [", NilPayload: true},
				{Meta: Meta{Action: ActionDelete}, Line: 2, ActionLine: `{"delete":{}`, NilPayload: true},
			},
		},
		{
			name: "comments and byte order mark",
			body: "\xEF\xBB\xBF/* c */{\"delete\":{/**/\"_id\":\"1\"}} // x\n// only a comment\n",
			want: []gotItem{
				{Meta: Meta{Action: ActionDelete, ID: "1", HasID: true}, Line: 1, ActionLine: "\xEF\xBB\xBF/* c */{\"delete\":{/**/\"_id\":\"1\"}} // x", NilPayload: true},
			},
		},
		{
			name: "legacy parser accepts _type and skips unknown actions",
			body: `{"index":{"_type":"_doc","_id":"1"}}` + "\n{}\n" + `{"foo":{"_id":"2"}}` + "\n{}\n" + `{"delete":{"_type":"doc"}}` + "\n",
			opts: []ScannerOption{WithLegacyParser()},
			want: []gotItem{
				{Meta: Meta{Action: ActionIndex, Type: "_doc", ID: "1", HasID: true}, Line: 1, ActionLine: `{"index":{"_type":"_doc","_id":"1"}}`, Payload: `{}`},
				{Meta: Meta{Action: ActionDelete, Type: "doc"}, Line: 5, ActionLine: `{"delete":{"_type":"doc"}}`, NilPayload: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			got, err := scanBoth(t, body, tt.opts...)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			for i := range got {
				// body[Offset:End] is the item as sent: its lines and their terminators.
				it := &got[i]
				raw := strings.ReplaceAll(string(body[it.Offset:it.End]), "\r\n", "\n")
				want := it.ActionLine + "\n"
				if !it.NilPayload {
					want += it.Payload + "\n"
				}
				if raw != want {
					t.Errorf("body[Offset:End] = %q, want %q", raw, want)
				}
				it.Offset, it.End = 0, 0
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("items differ:\n got: %+v\nwant: %+v", got, tt.want)
			}
		})
	}
}

func TestScannerErrors(t *testing.T) {
	const jsonLoc = "\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, column: "
	tests := []struct {
		name   string
		body   string
		opts   []ScannerOption
		typ    string
		reason string // exact, or a prefix when it ends with "…"
		line   int
		items  int // items returned before the error
	}{
		{"not an object", "[1]\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected START_OBJECT but found [START_ARRAY]", 1, 0},
		{"string line", "\"x\"\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected START_OBJECT but found [VALUE_STRING]", 1, 0},
		{"number line", "12\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected START_OBJECT but found [VALUE_NUMBER]", 1, 0},
		{"null line", "null\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected START_OBJECT but found [VALUE_NULL]", 1, 0},
		{"bool line", "true\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected START_OBJECT but found [VALUE_BOOLEAN]", 1, 0},
		{"empty object", "{}\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected FIELD_NAME but found [END_OBJECT]", 1, 0},
		{"unknown action", "{\"foo\":{}}\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected one of [create, delete, index, update] but found [foo]", 1, 0},
		{"action is case sensitive", "{\"Index\":{}}\n{}\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected one of [create, delete, index, update] but found [Index]", 1, 0},
		{"action value string", "{\"index\":\"x\"}\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]", 1, 0},
		{"action value number", "{\"index\":1}\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected START_OBJECT or END_OBJECT but found [VALUE_NUMBER]", 1, 0},
		{"action value bool", "{\"index\":false}\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected START_OBJECT or END_OBJECT but found [VALUE_BOOLEAN]", 1, 0},
		{"action value null", "{\"index\":null}\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected START_OBJECT or END_OBJECT but found [VALUE_NULL]", 1, 0},
		{"action value array", "{\"index\":[]}\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected START_OBJECT or END_OBJECT but found [START_ARRAY]", 1, 0},
		{"_type in 2.x", "{\"index\":{\"_type\":\"_doc\"}}\n{}\n", nil, typeIllegalArgument, "Action/metadata line [1] contains an unknown parameter [_type]", 1, 0},
		{"_version", "{\"delete\":{\"_version\":1}}\n", nil, typeIllegalArgument, "Action/metadata line [1] contains an unknown parameter [_version]", 1, 0},
		{"_routing", "{\"delete\":{\"_routing\":\"r\"}}\n", nil, typeIllegalArgument, "Action/metadata line [1] contains an unknown parameter [_routing]", 1, 0},
		{"_require_alias", "{\"delete\":{\"_require_alias\":true}}\n", nil, typeIllegalArgument, "Action/metadata line [1] contains an unknown parameter [_require_alias]", 1, 0},
		{"unknown key on a later line", "{\"delete\":{}}\n\n{\"delete\":{\"foo\":1}}\n", nil, typeIllegalArgument, "Action/metadata line [3] contains an unknown parameter [foo]", 3, 1},
		{"array value", "{\"index\":{\"_id\":[1]}}\n{}\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected a simple value for field [_id] but found [START_ARRAY]", 1, 0},
		{"array _source", "{\"update\":{\"_source\":[\"a\"]}}\n{}\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected a simple value for field [_source] but found [START_ARRAY]", 1, 0},
		{"array for unknown key", "{\"delete\":{\"foo\":[]}}\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected a simple value for field [foo] but found [START_ARRAY]", 1, 0},
		{"object value", "{\"index\":{\"routing\":{}}}\n{}\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected a simple value for field [routing] but found [START_OBJECT]", 1, 0},
		{"update with version", "{\"update\":{\"_id\":\"1\",\"version\":2}}\n{\"doc\":{}}\n", nil, typeIllegalArgument, "Update requests do not support versioning. Please use `if_seq_no` and `if_primary_term` instead", 1, 0},
		{"update with version_type", "{\"delete\":{}}\n{\"update\":{\"version_type\":\"external\"}}\n{}\n", nil, typeIllegalArgument, "Update requests do not support versioning. Please use `if_seq_no` and `if_primary_term` instead", 2, 1},
		{"bad version_type", "{\"index\":{\"version_type\":\"force\"}}\n{}\n", nil, typeIllegalArgument, "No version type match [force]", 1, 0},
		{"version not a number", "{\"index\":{\"version\":\"abc\"}}\n{}\n", nil, typeIllegalArgument, "For input string: \"abc\"", 1, 0},
		{"version string out of range", "{\"index\":{\"version\":\"9223372036854775808\"}}\n{}\n", nil, typeIllegalArgument, "Value [9223372036854775808] is out of range for a long", 1, 0},
		{"version number out of range", "{\"index\":{\"version\":9223372036854775808}}\n{}\n", nil, typeInputCoercion, "Numeric value (9223372036854775808) out of range of long (-9223372036854775808 - 9223372036854775807)" + jsonLoc + "…", 1, 0},
		{"version float out of range", "{\"index\":{\"version\":1e30}}\n{}\n", nil, typeInputCoercion, "Numeric value (1e30) out of range of long…", 1, 0},
		{"version boolean", "{\"index\":{\"version\":true}}\n{}\n", nil, typeJSONParse, "Current token (VALUE_TRUE) not numeric, can not use numeric value accessors" + jsonLoc + "…", 1, 0},
		{"if_seq_no decimal string", "{\"index\":{\"if_seq_no\":\"1x\"}}\n{}\n", nil, typeIllegalArgument, "For input string: \"1x\"", 1, 0},
		{"retry_on_conflict not a number", "{\"update\":{\"retry_on_conflict\":\"x\"}}\n{}\n", nil, typeNumberFormat, "For input string: \"x\"", 1, 0},
		{"retry_on_conflict empty", "{\"update\":{\"retry_on_conflict\":\"\"}}\n{}\n", nil, typeNumberFormat, "empty String", 1, 0},
		{"retry_on_conflict out of int range", "{\"update\":{\"retry_on_conflict\":3000000000}}\n{}\n", nil, typeInputCoercion, "Numeric value (3000000000) out of range of int (-2147483648 - 2147483647)…", 1, 0},
		{"retry_on_conflict string out of range", "{\"update\":{\"retry_on_conflict\":\"3e9\"}}\n{}\n", nil, typeIllegalArgument, "Value [3e9] is out of range for an integer", 1, 0},
		{"require_alias bad string", "{\"index\":{\"require_alias\":\"yes\"}}\n{}\n", nil, typeIllegalArgument, "Failed to parse value [yes] as only [true] or [false] are allowed.", 1, 0},
		{"require_alias number", "{\"index\":{\"require_alias\":1}}\n{}\n", nil, typeJSONParse, "Current token (VALUE_NUMBER_INT) not of boolean type…", 1, 0},
		{"_source number", "{\"update\":{\"_source\":1}}\n{}\n", nil, typeParsing, "Expected one of [VALUE_BOOLEAN, VALUE_STRING, START_ARRAY, START_OBJECT] but found [VALUE_NUMBER]", 1, 0},
		{"_source unknown key", "{\"update\":{\"_source\":{\"foo\":\"a\"}}}\n{}\n", nil, typeParsing, "Unknown key for a VALUE_STRING in [foo].", 1, 0},
		{"_source bad include", "{\"update\":{\"_source\":{\"includes\":[\"a\",1]}}}\n{}\n", nil, typeParsing, "Unknown key for a VALUE_NUMBER in [includes].", 1, 0},
		{"_source null include", "{\"update\":{\"_source\":{\"includes\":null}}}\n{}\n", nil, typeParsing, "Unknown key for a VALUE_NULL in [includes].", 1, 0},
		{"_source object include", "{\"update\":{\"_source\":{\"excludes\":{}}}}\n{}\n", nil, typeParsing, "Unknown key for a START_OBJECT in [excludes].", 1, 0},
		{"duplicate key", "{\"index\":{\"_id\":\"1\",\"_id\":\"2\"}}\n{}\n", nil, typeJSONParse, "Duplicate field '_id'" + jsonLoc + "…", 1, 0},
		{"duplicate escaped key", "{\"index\":{\"_id\":\"1\",\"\\u005fid\":[]}}\n{}\n", nil, typeJSONParse, "Duplicate field '_id'…", 1, 0},
		{"duplicate null keys", "{\"index\":{\"x\":null,\"x\":null}}\n{}\n", nil, typeJSONParse, "Duplicate field 'x'…", 1, 0},
		{"truncated object", "{\"index\":{\"_id\":\"1\"\n{}\n", nil, typeJSONEOF, "Unexpected end-of-input: expected close marker for Object (start marker at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, column: 10])…", 1, 0},
		{"truncated string", "{\"index\":{\"_id\":\"1\n{}\n", nil, typeJSONEOF, "Unexpected end-of-input: was expecting closing quote for a string value…", 1, 0},
		{"truncated name", "{\"index\":{\"_i\n{}\n", nil, typeJSONEOF, "Unexpected end-of-input: was expecting closing '\"' for name…", 1, 0},
		{"truncated after name", "{\"index\"\n", nil, typeJSONEOF, "Unexpected end-of-input within/between Object entries…", 1, 0},
		{"missing colon", "{\"index\" {}}\n{}\n", nil, typeJSONParse, "Unexpected character ('{' (code 123)): was expecting a colon to separate field name and value…", 1, 0},
		{"unquoted name", "{index:{}}\n{}\n", nil, typeJSONParse, "Unexpected character ('i' (code 105)): was expecting double-quote to start field name" + jsonLoc + "3]", 1, 0},
		{"missing comma", "{\"index\":{\"_id\":\"1\" \"routing\":\"r\"}}\n{}\n", nil, typeJSONParse, "Unexpected character ('\"' (code 34)): was expecting comma to separate Object entries…", 1, 0},
		{"trailing comma", "{\"index\":{\"_id\":\"1\",}}\n{}\n", nil, typeJSONParse, "Unexpected character ('}' (code 125)): was expecting double-quote to start field name…", 1, 0},
		{"unrecognized token", "{\"index\":{\"_id\":abc}}\n{}\n", nil, typeJSONParse, "Unrecognized token 'abc': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')…", 1, 0},
		{"missing value", "{\"index\":{\"_id\":}}\n{}\n", nil, typeJSONParse, "Unexpected character ('}' (code 125)): expected a value…", 1, 0},
		{"missing array value", "{\"index\":{\"_source\":{\"includes\":[\"a\",]}}}\n{}\n", nil, typeJSONParse, "Unexpected character (']' (code 93)): expected a value…", 1, 0},
		{"close bracket as value", "{\"index\":{\"_id\":]}}\n{}\n", nil, typeJSONParse, "Unexpected character (']' (code 93)): expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')…", 1, 0},
		{"single quotes", "{'index':{}}\n{}\n", nil, typeJSONParse, "Unexpected character (''' (code 39)): was expecting double-quote to start field name…", 1, 0},
		{"bad escape", "{\"index\":{\"_id\":\"\\q\"}}\n{}\n", nil, typeJSONParse, "Unrecognized character escape 'q' (code 113)…", 1, 0},
		{"bad unicode escape", "{\"index\":{\"_id\":\"\\u12g4\"}}\n{}\n", nil, typeJSONParse, "Unexpected character ('g' (code 103)): expected a hex-digit for character escape sequence…", 1, 0},
		{"control character in string", "{\"index\":{\"_id\":\"a\tb\"}}\n{}\n", nil, typeJSONParse, "Illegal unquoted character ((CTRL-CHAR, code 9)): has to be escaped using backslash to be included in string value…", 1, 0},
		{"control character between tokens", "{\"index\":\x01{}}\n{}\n", nil, typeJSONParse, "Illegal character ((CTRL-CHAR, code 1)): only regular white space (\\r, \\n, \\t) is allowed between tokens…", 1, 0},
		{"invalid UTF-8", "{\"index\":{\"_id\":\"\xff\"}}\n{}\n", nil, typeJSONParse, "Invalid UTF-8 start byte 0xff…", 1, 0},
		{"leading zero", "{\"index\":{\"version\":01}}\n{}\n", nil, typeJSONParse, "Invalid numeric value: Leading zeroes not allowed…", 1, 0},
		{"plus sign", "{\"index\":{\"version\":+1}}\n{}\n", nil, typeJSONParse, "Unexpected character ('+' (code 43)) in numeric value: JSON spec does not allow numbers to have plus signs…", 1, 0},
		{"mismatched close", "{\"index\":{\"_source\":{\"includes\":[\"a\"}}}\n{}\n", nil, typeJSONParse, "Unexpected close marker '}': expected ']' (for Array starting at…", 1, 0},
		{"unterminated comment", "/* x\n", nil, typeJSONEOF, "Unexpected end-of-input in a comment…", 1, 0},
		{"bad comment", "/x\n", nil, typeJSONParse, "Unexpected character ('x' (code 120)): was expecting either '*' or '/' for a comment…", 1, 0},
		{"unknown action checked before its value", "{\"foo\":\"\\q\"}\n", nil, typeIllegalArgument, "Malformed action/metadata line [1], expected one of [create, delete, index, update] but found [foo]", 1, 0},
		{"number read with the field name", "{\"foo\":01}\n", nil, typeJSONParse, "Invalid numeric value: Leading zeroes not allowed…", 1, 0},
		{"unknown parameter checked before its string", "{\"delete\":{\"foo\":\"\\q\"}}\n", nil, typeIllegalArgument, "Action/metadata line [1] contains an unknown parameter [foo]", 1, 0},
		{"not terminated by newline", "{\"index\":{}}\n{}", nil, typeIllegalArgument, "The bulk request must be terminated by a newline [\\n]", 2, 0},
		{"not terminated after items", "{\"delete\":{}}\n{\"delete\":{}}", nil, typeIllegalArgument, "The bulk request must be terminated by a newline [\\n]", 2, 1},
		{"whitespace after last newline", "{\"delete\":{}}\n  ", nil, typeIllegalArgument, "The bulk request must be terminated by a newline [\\n]", 2, 1},
		{"newline error wins over update versioning", "{\"update\":{\"version\":1}}\n{}", nil, typeIllegalArgument, "The bulk request must be terminated by a newline [\\n]", 2, 0},
		{"update with version and no payload is dropped", "{\"update\":{\"version\":1}}\n", nil, typeValidation, "Validation Failed: 1: no requests added;", 0, 0},
		{"no requests", "\n\n \n", nil, typeValidation, "Validation Failed: 1: no requests added;", 0, 0},
		{"only a dropped action line", "{\"index\":{}}\n", nil, typeValidation, "Validation Failed: 1: no requests added;", 0, 0},
		{"empty body", "", nil, typeParse, "request body is required", 0, 0},
		{"line too long", "{\"delete\":{}}\n{\"index\":{}}\n" + strings.Repeat("x", 65) + "\n", []ScannerOption{WithMaxLineBytes(64)}, typeIllegalArgument, "Line [3] of the bulk request is longer than the maximum of [64] bytes", 3, 1},
		{"unterminated line too long", "{\"delete\":{}}\n" + strings.Repeat("x", 65), []ScannerOption{WithMaxLineBytes(64)}, typeIllegalArgument, "Line [2] of the bulk request is longer than the maximum of [64] bytes", 2, 1},
		{"legacy parser still checks keys", "{\"foo\":{\"bar\":1}}\n{}\n", []ScannerOption{WithLegacyParser()}, typeIllegalArgument, "Action/metadata line [1] contains an unknown parameter [bar]", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := scanBoth(t, []byte(tt.body), tt.opts...)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got error %v (items %d), want *Error", err, len(items))
			}
			if e.Status != 400 || e.Type != tt.typ || e.Line != tt.line {
				t.Errorf("got status %d type %q line %d, want 400 %q %d", e.Status, e.Type, e.Line, tt.typ, tt.line)
			}
			if prefix, ok := strings.CutSuffix(tt.reason, "…"); ok {
				if !strings.HasPrefix(e.Reason, prefix) {
					t.Errorf("reason %q\nwant prefix %q", e.Reason, prefix)
				}
			} else if e.Reason != tt.reason {
				t.Errorf("reason %q\n    want %q", e.Reason, tt.reason)
			}
			if len(items) != tt.items {
				t.Errorf("got %d items before the error, want %d", len(items), tt.items)
			}
		})
	}
}

func TestScannerHugeLines(t *testing.T) {
	big := `{"v":"` + strings.Repeat("x", 300<<10) + `"}`
	body := []byte("{\"index\":{\"_id\":\"1\"}}\n" + big + "\n{\"delete\":{\"_id\":\"2\"}}\n")

	t.Run("within the limit", func(t *testing.T) {
		s := NewScanner(bytes.NewReader(body))
		items, err := scanAll(s)
		if err != nil || len(items) != 2 || items[0].Payload != big {
			t.Fatalf("got %d items, err %v", len(items), err)
		}
		if c := cap(s.buf); c > 2*len(big)+2*initialBuffer {
			t.Errorf("buffer grew to %d bytes for %d-byte lines", c, len(big))
		}
	})
	t.Run("over the limit", func(t *testing.T) {
		const limit = 100 << 10
		s := NewScanner(iotest.HalfReader(bytes.NewReader(body)), WithMaxLineBytes(limit))
		_, err := scanAll(s)
		var e *Error
		if !errors.As(err, &e) || e.Line != 2 || !strings.Contains(e.Reason, "longer than the maximum") {
			t.Fatalf("got %v", err)
		}
		if c := cap(s.buf); c > 2*limit+2 {
			t.Errorf("buffer grew to %d bytes past the %d bound", c, 2*limit+2)
		}
	})
	t.Run("endless line from an endless reader", func(t *testing.T) {
		s := NewScanner(endless('x'), WithMaxLineBytes(1<<20))
		if s.Next() {
			t.Fatal("Next returned true")
		}
		var e *Error
		if !errors.As(s.Err(), &e) || e.Line != 1 {
			t.Fatalf("got %v", s.Err())
		}
	})
}

type endless byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e)
	}
	return len(p), nil
}

func TestScannerReadErrors(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("{\"delete\":{}}\n{\"delete\":"), iotest.ErrReader(boom))
	s := NewScanner(r)
	items, err := scanAll(s)
	if len(items) != 1 || !errors.Is(err, boom) {
		t.Fatalf("got %d items, err %v; want 1 item and boom", len(items), err)
	}

	s = NewScanner(stuck{})
	if _, err := scanAll(s); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("got %v, want io.ErrNoProgress", err)
	}
}

type stuck struct{}

func (stuck) Read([]byte) (int, error) { return 0, nil }

func TestScannerReset(t *testing.T) {
	s := NewScanner(strings.NewReader("{\"delete\":{\"_index\":\"a\"}}\n"))
	if items, err := scanAll(s); err != nil || len(items) != 1 {
		t.Fatalf("first scan: %d items, %v", len(items), err)
	}
	s.Reset(strings.NewReader("{\"delete\":{\"_index\":\"b\"}}\n{\"delete\":{\"_index\":\"a\"}}\n"))
	items, err := scanAll(s)
	if err != nil || len(items) != 2 || items[0].Index != "b" || items[1].Index != "a" || items[1].Line != 2 {
		t.Fatalf("after Reset: %+v, %v", items, err)
	}
	s.ResetBytes([]byte("{\"delete\":{}}\n"))
	if items, err := scanAll(s); err != nil || len(items) != 1 {
		t.Fatalf("after ResetBytes: %d items, %v", len(items), err)
	}
	s.Reset(strings.NewReader(""))
	if _, err := scanAll(s); err == nil || !strings.Contains(err.Error(), "request body is required") {
		t.Fatalf("after Reset to empty: %v", err)
	}
}

// TestScannerAllocations pins the zero-allocation steady state: no allocation per item
// when the strings repeat, one per item when each has its own _id.
func TestScannerAllocations(t *testing.T) {
	var noID, withID bytes.Buffer
	for i := range 100 {
		fmt.Fprintf(&noID, "{\"index\":{\"_index\":\"logs\",\"routing\":\"r\",\"version\":%d,\"version_type\":\"external\"}}\n{\"n\":%d}\n", i, i)
		fmt.Fprintf(&withID, "{\"index\":{\"_index\":\"logs\",\"_id\":\"id-%d\"}}\n{\"n\":%d}\n", i, i)
	}
	tests := []struct {
		name    string
		body    []byte
		perItem float64
	}{
		{"repeating strings", noID.Bytes(), 0},
		{"distinct ids", withID.Bytes(), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewBytesScanner(tt.body)
			r := bytes.NewReader(tt.body)
			st := NewScanner(r)
			allocs := testing.AllocsPerRun(20, func() {
				s.ResetBytes(tt.body)
				for s.Next() {
				}
				r.Reset(tt.body)
				st.Reset(r)
				for st.Next() {
				}
			})
			if want := 2 * 100 * tt.perItem; allocs > want {
				t.Errorf("%.0f allocations for 2x100 items, want at most %.0f", allocs, want)
			}
		})
	}
}

func TestErrorJSON(t *testing.T) {
	e := &Error{Status: 400, Type: typeIllegalArgument, Reason: "The bulk request must be terminated by a newline [\\n]", Line: 2}
	want := `{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"The bulk request must be terminated by a newline [\\n]"}],` +
		`"type":"illegal_argument_exception","reason":"The bulk request must be terminated by a newline [\\n]"},"status":400}`
	if got := string(e.JSON()); got != want {
		t.Errorf("JSON() =\n%s\nwant\n%s", got, want)
	}
	e = &Error{Status: 400, Type: typeXContentParse, Reason: "[1:8] [UpdateRequest] failed to parse field [doc]",
		CausedBy: &Error{Type: typeJSONParse, Reason: "Duplicate field 'a'\n at x"}}
	want = `{"error":{"root_cause":[{"type":"x_content_parse_exception","reason":"[1:8] [UpdateRequest] failed to parse field [doc]"}],` +
		`"type":"x_content_parse_exception","reason":"[1:8] [UpdateRequest] failed to parse field [doc]",` +
		`"caused_by":{"type":"json_parse_exception","reason":"Duplicate field 'a'\n at x"}},"status":400}`
	if got := string(e.JSON()); got != want {
		t.Errorf("JSON() =\n%s\nwant\n%s", got, want)
	}
	if got := e.Error(); !strings.HasPrefix(got, "x_content_parse_exception: [1:8]") {
		t.Errorf("Error() = %q", got)
	}
}

func TestActionNames(t *testing.T) {
	for _, a := range []Action{ActionIndex, ActionCreate, ActionUpdate, ActionDelete} {
		got, ok := ParseAction(a.String())
		if !ok || got != a {
			t.Errorf("ParseAction(%q) = %v, %v", a.String(), got, ok)
		}
	}
	if _, ok := ParseAction("Index"); ok {
		t.Error("ParseAction is case-insensitive")
	}
	if s := Action(0).String(); s != "Action(0)" {
		t.Errorf("Action(0).String() = %q", s)
	}
	m := Meta{Action: ActionIndex, OpType: "create"}
	if m.EffectiveAction() != ActionCreate {
		t.Error("index with op_type=create is not a create")
	}
}
