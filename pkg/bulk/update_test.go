package bulk

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseUpdatePayload(t *testing.T) {
	tests := []struct {
		name string
		body string
		want UpdatePayload
	}{
		{"doc", `{"doc":{"a":1,"b":{"c":[1,"x",null]}}}`, UpdatePayload{Doc: []byte(`{"a":1,"b":{"c":[1,"x",null]}}`), DetectNoop: true}},
		{"doc as upsert", `{"doc":{"a":1},"doc_as_upsert":true,"detect_noop":false}`,
			UpdatePayload{Doc: []byte(`{"a":1}`), DocAsUpsert: true}},
		{"upsert and script object", `{"script":{"source":"ctx._source.n += params.k","lang":"painless","params":{"k":1}},"upsert":{"n":0},"scripted_upsert":"true"}`,
			UpdatePayload{Script: []byte(`{"source":"ctx._source.n += params.k","lang":"painless","params":{"k":1}}`),
				Upsert: []byte(`{"n":0}`), ScriptedUpsert: true, DetectNoop: true}},
		{"script string", `{"script":"ctx._source.n++"}`, UpdatePayload{Script: []byte(`"ctx._source.n++"`), DetectNoop: true}},
		{"stored script", `{"script":{"id":"s1","params":{}}}`, UpdatePayload{Script: []byte(`{"id":"s1","params":{}}`), DetectNoop: true}},
		{"seq no and coercion", `{"doc":{},"if_seq_no":"12","if_primary_term":1.7}`,
			UpdatePayload{Doc: []byte(`{}`), IfSeqNo: 12, HasIfSeqNo: true, IfPrimaryTerm: 1, HasIfPrimaryTerm: true, DetectNoop: true}},
		{"_source forms", `{"doc":{},"_source":["a",1,true]}`, UpdatePayload{Doc: []byte(`{}`), Source: []byte(`["a",1,true]`), DetectNoop: true}},
		{"_source object", `{"doc":{},"_source":{"includes":"a","excludes":["b"]}}`,
			UpdatePayload{Doc: []byte(`{}`), Source: []byte(`{"includes":"a","excludes":["b"]}`), DetectNoop: true}},
		{"_source bool", `{"doc":{},"_source":false}`, UpdatePayload{Doc: []byte(`{}`), Source: []byte(`false`), DetectNoop: true}},
		{"pretty printed with comments", "{\n  // c\n  \"doc\" : { \"a\" : 1 }\n}\n", UpdatePayload{Doc: []byte(`{ "a" : 1 }`), DetectNoop: true}},
		{"comments inside values are dropped", `{"doc":{/*c*/"a":[1,//x` + "\n" + `2]}}`, UpdatePayload{Doc: []byte(`{ "a":[1,` + "\n" + `2]}`), DetectNoop: true}},
		{"bytes after the object are ignored", `{"doc":{}} garbage`, UpdatePayload{Doc: []byte(`{}`), DetectNoop: true}},
		{"empty object", `{}`, UpdatePayload{DetectNoop: true}},
		{"empty string booleans are false", `{"detect_noop":""}`, UpdatePayload{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUpdatePayload([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("got  %s\nwant %s", describe(got), describe(&tt.want))
			}
		})
	}
}

func describe(p *UpdatePayload) string {
	var b strings.Builder
	for _, f := range []struct {
		n string
		v []byte
	}{{"doc", p.Doc}, {"upsert", p.Upsert}, {"script", p.Script}, {"source", p.Source}} {
		if f.v != nil {
			b.WriteString(f.n + "=" + string(f.v) + " ")
		}
	}
	b.WriteString(strings.TrimPrefix(strings.ReplaceAll(
		strings.Join([]string{"", boolStr("doc_as_upsert", p.DocAsUpsert), boolStr("scripted_upsert", p.ScriptedUpsert), boolStr("detect_noop", p.DetectNoop)}, " "), "  ", " "), " "))
	return b.String()
}

func boolStr(n string, v bool) string {
	if v {
		return n
	}
	return ""
}

func TestParseUpdatePayloadErrors(t *testing.T) {
	const loc = "\n at [Source: REDACTED"
	tests := []struct {
		name   string
		body   string
		typ    string
		reason string // exact, or a prefix when it ends with "…"
		cause  string // type of CausedBy, "" for none
	}{
		{"unknown field with suggestion", `{"dac":{}}`, typeXContentParse, "[1:2] [UpdateRequest] unknown field [dac] did you mean [doc]?", ""},
		{"unknown field with suggestions", `{"doc":{},"upsrt":{}}`, typeXContentParse, "[1:11] [UpdateRequest] unknown field [upsrt] did you mean [upsert]?", ""},
		{"unknown field without suggestion", `{"zzzzzz":1}`, typeXContentParse, "[1:2] [UpdateRequest] unknown field [zzzzzz]", ""},
		{"several suggestions", `{"doc_as_upsertx":true}`, typeXContentParse, "[1:2] [UpdateRequest] unknown field [doc_as_upsertx] did you mean [doc_as_upsert]?", ""},
		{"unknown field on a later line", "{\n  \"doc\": {},\n  \"fields\": [\"a\"]\n}", typeXContentParse, "[3:3] [UpdateRequest] unknown field [fields]", ""},
		{"not an object", `[1]`, typeXContentParse, "[1:1] [UpdateRequest] Expected START_OBJECT but was: START_ARRAY", ""},
		{"empty payload", ``, typeXContentParse, "[1:1] [UpdateRequest] Expected START_OBJECT but was: null", ""},
		{"doc is a string", `{"doc":"x"}`, typeXContentParse, "[1:8] [UpdateRequest] doc doesn't support values of type: VALUE_STRING", ""},
		{"doc is null", `{"doc":null}`, typeXContentParse, "[1:8] [UpdateRequest] doc doesn't support values of type: VALUE_NULL", ""},
		{"boolean is a number", `{"doc_as_upsert":1}`, typeXContentParse, "[1:18] [UpdateRequest] doc_as_upsert doesn't support values of type: VALUE_NUMBER", ""},
		{"boolean is a bad string", `{"detect_noop":"yes"}`, typeXContentParse, "[1:16] [UpdateRequest] failed to parse field [detect_noop]", typeIllegalArgument},
		{"long is a bad string", `{"if_seq_no":"abc"}`, typeXContentParse, "[1:14] [UpdateRequest] failed to parse field [if_seq_no]", typeIllegalArgument},
		{"long overflows", `{"if_primary_term":1e40}`, typeXContentParse, "[1:20] [UpdateRequest] failed to parse field [if_primary_term]", typeInputCoercion},
		{"bad JSON inside doc", `{"doc":{"a":1,}}`, typeXContentParse, "[1:13] [UpdateRequest] failed to parse field [doc]", typeJSONParse},
		{"duplicate key inside doc", `{"doc":{"a":1,"b":{"c":1,"c":2}}}`, typeXContentParse, "[1:24] [UpdateRequest] failed to parse field [doc]", typeJSONParse},
		{"truncated doc", `{"doc":{"a":[1,2`, typeXContentParse, "[1:16] [UpdateRequest] failed to parse field [doc]", typeJSONEOF},
		{"bad string in _source", `{"_source":"\q"}`, typeXContentParse, "[1:12] [UpdateRequest] failed to parse field [_source]", typeJSONParse},
		{"object in _source list", `{"_source":["a",{}]}`, typeXContentParse, "[1:17] [UpdateRequest] failed to parse field [_source]", typeIllegalState},
		{"bad _source object", `{"_source":{"foo":"a"}}`, typeXContentParse, "[1:19] [UpdateRequest] failed to parse field [_source]", typeParsing},
		{"script without source or id", `{"script":{"lang":"painless"}}`, typeXContentParse, "[1:29] [UpdateRequest] failed to parse field [script]", typeIllegalArgument},
		{"script unknown field", `{"script":{"sauce":"x"}}`, typeXContentParse, "[1:20] [UpdateRequest] failed to parse field [script]", typeXContentParse},
		// Script.Builder.build
		{"stored script with lang", `{"script":{"id":"s","lang":"painless"}}`, typeXContentParse, "[1:38] [UpdateRequest] failed to parse field [script]", typeIllegalArgument},
		{"stored script with options", `{"script":{"id":"s","options":{}}}`, typeXContentParse, "[1:33] [UpdateRequest] failed to parse field [script]", typeIllegalArgument},
		{"inline script with compiler options", `{"script":{"source":"x","options":{"content_type":"application/json","b":"1","a":"2"}}}`, typeXContentParse, "[1:86] [UpdateRequest] failed to parse field [script]", typeIllegalArgument},
		{"duplicate top-level field", `{"doc":{},"doc":{}}`, typeJSONParse, "Duplicate field 'doc'" + loc + "…", ""},
		{"bad JSON between fields", `{"doc":{} "upsert":{}}`, typeJSONParse, "Unexpected character ('\"' (code 34)): was expecting comma to separate Object entries" + loc + "…", ""},
		{"truncated between fields", `{"doc":{},`, typeJSONEOF, "Unexpected end-of-input within/between Object entries" + loc + "…", ""},
		{"unknown field checked before its value is read", `{"dac":"\q"}`, typeXContentParse, "[1:2] [UpdateRequest] unknown field [dac] did you mean [doc]?", ""},
		{"nesting too deep", `{"doc":{"a":` + strings.Repeat("[", 999) + strings.Repeat("]", 999) + `}}`, typeXContentParse, "[1:1011] [UpdateRequest] failed to parse field [doc]", typeStreamConstraints},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseUpdatePayload([]byte(tt.body))
			var e *Error
			if !errors.As(err, &e) || p != nil {
				t.Fatalf("got %v, %v; want an *Error", p, err)
			}
			if e.Status != 400 || e.Type != tt.typ {
				t.Errorf("got %d %s, want 400 %s", e.Status, e.Type, tt.typ)
			}
			if prefix, ok := strings.CutSuffix(tt.reason, "…"); ok {
				if !strings.HasPrefix(e.Reason, prefix) {
					t.Errorf("reason %q\nwant prefix %q", e.Reason, prefix)
				}
			} else if e.Reason != tt.reason {
				t.Errorf("reason %q\n    want %q", e.Reason, tt.reason)
			}
			switch {
			case tt.cause == "" && e.CausedBy != nil:
				t.Errorf("unexpected cause %v", e.CausedBy)
			case tt.cause != "" && (e.CausedBy == nil || e.CausedBy.Type != tt.cause):
				t.Errorf("cause %v, want type %s", e.CausedBy, tt.cause)
			}
		})
	}
}

func TestScriptBuildErrors(t *testing.T) {
	for body, want := range map[string]string{
		`{"script":{"id":"s","lang":"painless"}}`:                                                 "illegally specified <lang> for a stored script",
		`{"script":{"id":"s","options":{}}}`:                                                      "field [options] cannot be specified using a stored script",
		`{"script":{"source":"x","options":{"content_type":"application/json","b":"1","a":"2"}}}`: "illegal compiler options [{a=2, b=1}] specified",
	} {
		_, err := ParseUpdatePayload([]byte(body))
		var e *Error
		if !errors.As(err, &e) || e.CausedBy == nil || e.CausedBy.Reason != want {
			t.Errorf("%s: want cause %q, got %v", body, want, err)
		}
	}
	if _, err := ParseUpdatePayload([]byte(`{"script":{"source":"x","options":{"content_type":"application/json"}}}`)); err != nil {
		t.Errorf("content_type is the one legal option: %v", err)
	}
}

func TestDidYouMean(t *testing.T) {
	tests := []struct{ field, want string }{
		{"dac", " did you mean [doc]?"},
		{"scrip", " did you mean [script]?"},
		{"_sourc", " did you mean [_source]?"},
		{"if_seq", " did you mean [if_seq_no]?"},
		{"xyz", ""},
		{"upsert_doc", " did you mean [upsert]?"},
		{"dco", ""},
	}
	for _, tt := range tests {
		if got := didYouMean(tt.field, updateFieldNames); got != tt.want {
			t.Errorf("didYouMean(%q) = %q, want %q", tt.field, got, tt.want)
		}
	}
	if got := didYouMean("script_upsert", updateFieldNames); !strings.HasPrefix(got, " did you mean any of [scripted_upsert") {
		t.Errorf("didYouMean(script_upsert) = %q", got)
	}
}
