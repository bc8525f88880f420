package filterpath_test

import (
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/filterpath"
)

const bulkAnswer = `{"took":3,"errors":true,"items":[` +
	`{"index":{"_index":"t","_id":"1","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},` +
	`{"create":{"_index":"t","_id":"2","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[2]: version conflict"}}}]}`

func TestApply(t *testing.T) {
	tests := []struct {
		name, spec, body, want string
	}{
		{name: "empty keeps all", spec: "", body: bulkAnswer, want: bulkAnswer},
		{name: "beats style", spec: "errors,items.*.error,items.*.status", body: bulkAnswer,
			want: `{"errors":true,"items":[{"index":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"[2]: version conflict"}}}]}`},
		{name: "errors only drops empty items", spec: "errors,items.*.error", body: bulkAnswer,
			want: `{"errors":true,"items":[{"create":{"error":{"type":"version_conflict_engine_exception","reason":"[2]: version conflict"}}}]}`},
		{name: "double star", spec: "**.reason", body: bulkAnswer,
			want: `{"items":[{"create":{"error":{"reason":"[2]: version conflict"}}}]}`},
		{name: "wildcard in a name", spec: "items.*.*_id", body: bulkAnswer,
			want: `{"items":[{"index":{"_id":"1"}},{"create":{"_id":"2"}}]}`},
		{name: "exclude", spec: "-items,-took", body: bulkAnswer, want: `{"errors":true}`},
		{name: "exclude nested", spec: "-items.*._shards,-items.*.error", body: bulkAnswer,
			want: `{"took":3,"errors":true,"items":[{"index":{"_index":"t","_id":"1","_version":1,"result":"created","_seq_no":0,"_primary_term":1,"status":201}},{"create":{"_index":"t","_id":"2","status":409}}]}`},
		{name: "no match", spec: "nope", body: bulkAnswer, want: `{}`},
		{name: "many stars in a segment", spec: "*a*a*a*a*a*a*a*a*b,*a*a*a*a*a*a*a*a*c", body: `{"` + strings.Repeat("a", 40) + `":1,"` + strings.Repeat("a", 39) + `c":2}`,
			want: `{"` + strings.Repeat("a", 39) + `c":2}`},
		{name: "keeps bytes and order", spec: "b,a", body: `{"a": 1.50, "b" : "x\u00e9"}`, want: `{"a":1.50,"b":"x\u00e9"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := filterpath.Parse(tt.spec).Apply([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestApplyBadJSON(t *testing.T) {
	if _, err := filterpath.Parse("a").Apply([]byte(`{"a":`)); err == nil {
		t.Fatal("want an error")
	}
}

func FuzzApply(f *testing.F) {
	f.Add("errors,items.*.error", []byte(bulkAnswer))
	f.Add("-**.b", []byte(`{"a":{"b":[1,{"b":2}]}}`))
	f.Fuzz(func(t *testing.T, spec string, body []byte) {
		_, _ = filterpath.Parse(spec).Apply(body) // never panics
	})
}
