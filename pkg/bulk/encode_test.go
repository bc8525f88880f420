package bulk

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestAppendMeta(t *testing.T) {
	tests := []struct {
		name string
		meta Meta
		want string
	}{
		{"bare index", Meta{Action: ActionIndex}, `{"index":{}}`},
		{"empty id is still written", Meta{Action: ActionCreate, HasID: true}, `{"create":{"_id":""}}`},
		{
			name: "every key in canonical order",
			meta: Meta{Action: ActionUpdate, Index: "i", Type: "_doc", ID: "1", HasID: true, Routing: "r", OpType: "index",
				Version: 3, HasVersion: true, VersionType: "external", IfSeqNo: 4, HasIfSeqNo: true, IfPrimaryTerm: 5,
				HasIfPrimaryTerm: true, RetryOnConflict: 6, Pipeline: "p", RequireAlias: false, HasRequireAlias: true,
				Source: []byte(`{"includes":["a"]}`)},
			want: `{"update":{"_index":"i","_type":"_doc","_id":"1","routing":"r","op_type":"index","version":3,"version_type":"external",` +
				`"if_seq_no":4,"if_primary_term":5,"retry_on_conflict":6,"pipeline":"p","require_alias":false,"_source":{"includes":["a"]}}}`,
		},
		{"negative numbers", Meta{Action: ActionDelete, Version: -3, HasVersion: true, IfSeqNo: -2, HasIfSeqNo: true}, `{"delete":{"version":-3,"if_seq_no":-2}}`},
		{
			name: "escaping",
			meta: Meta{Action: ActionIndex, ID: "a\"b\\c\n\r\t\b\f\x01\x7f</é😀", HasID: true, Index: "bad\xffutf8"},
			want: `{"index":{"_index":"bad\ufffdutf8","_id":"a\"b\\c\n\r\t\b\f\u0001` + "\x7f" + `</é😀"}}`,
		},
		{"pretty _source is compacted", Meta{Action: ActionUpdate, Source: []byte("{\n  \"includes\" : [ \"a\" ]\n}")}, `{"update":{"_source":{"includes":["a"]}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendMeta([]byte("prefix"), &tt.meta))
			if want := "prefix" + tt.want + "\n"; got != want {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
			if !json.Valid([]byte(strings.TrimPrefix(got, "prefix"))) {
				t.Fatalf("not valid JSON: %s", got)
			}
		})
	}
}

func TestAppendItemPayloads(t *testing.T) {
	tests := []struct {
		name    string
		meta    Meta
		payload string
		want    string
	}{
		{"index", Meta{Action: ActionIndex}, `{"a":1}`, "{\"index\":{}}\n{\"a\":1}\n"},
		{"delete ignores the payload", Meta{Action: ActionDelete}, `{"a":1}`, "{\"delete\":{}}\n"},
		{"multi-line payload is compacted", Meta{Action: ActionIndex}, "{\n \"a\" : 1\n}\n", "{\"index\":{}}\n{\"a\":1}\n"},
		{"invalid multi-line payload keeps its framing", Meta{Action: ActionIndex}, "{\n\"a\r\n", "{\"index\":{}}\n{ \"a  \n"},
		{"trailing CR is not left for the server to strip", Meta{Action: ActionCreate}, "{}\r", "{\"create\":{}}\n{}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendItem(nil, &tt.meta, []byte(tt.payload))); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEncodeRoundTrip checks that scanning AppendItem's output gives back the same Meta
// and payload, for random metadata.
func TestEncodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "a", "logs-2024.01.01", "with space", "quote\"back\\slash", "ctl\x00\x1f\n", "é😀", "\u2028", "1"}
	pick := func() string { return strs[rng.IntN(len(strs))] }
	sources := []string{`true`, `false`, `"a,b"`, `{"includes":["a","b"],"excludes":"c"}`, `{}`, `{"include":"x"}`}
	var body []byte
	var want []gotItem
	for i := range 500 {
		m := Meta{Action: Action(1 + rng.IntN(4)), Index: pick(), ID: pick(), HasID: rng.IntN(2) == 0,
			Routing: pick(), Pipeline: pick()}
		if !m.HasID {
			m.ID = ""
		}
		if rng.IntN(3) == 0 {
			m.OpType = []string{"create", "index"}[rng.IntN(2)]
		}
		if m.Action != ActionUpdate && rng.IntN(3) == 0 {
			m.Version, m.HasVersion = rng.Int64()-rng.Int64(), true
			m.VersionType = []string{"", "internal", "external", "external_gt", "external_gte"}[rng.IntN(5)]
		}
		if rng.IntN(3) == 0 {
			m.IfSeqNo, m.HasIfSeqNo = rng.Int64N(1<<40), true
			m.IfPrimaryTerm, m.HasIfPrimaryTerm = rng.Int64N(100), true
		}
		if rng.IntN(3) == 0 {
			m.RetryOnConflict = rng.IntN(10)
		}
		if rng.IntN(3) == 0 {
			m.RequireAlias, m.HasRequireAlias = rng.IntN(2) == 0, true
		}
		if rng.IntN(3) == 0 {
			m.Source = []byte(sources[rng.IntN(len(sources))])
		}
		payload := `{"n":` + string(rune('0'+i%10)) + `}`
		body = AppendItem(body, &m, []byte(payload))
		g := gotItem{Meta: m, Source: string(m.Source), Payload: payload}
		g.Meta.Source = nil
		if m.Action == ActionDelete {
			g.Payload, g.NilPayload = "", true
		}
		want = append(want, g)
	}
	got, err := scanAll(NewBytesScanner(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("scanned %d items, encoded %d", len(got), len(want))
	}
	for i := range got {
		g := got[i]
		g.Line, g.ActionLine, g.Offset, g.End = 0, "", 0, 0
		if !reflect.DeepEqual(g, want[i]) {
			t.Fatalf("item %d:\n got %+v\nwant %+v\nline %s", i, g, want[i], got[i].ActionLine)
		}
	}
}
