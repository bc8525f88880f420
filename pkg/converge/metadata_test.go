package converge

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestDiffMapping: mappings compare field by field, whatever their key order, and an
// Elasticsearch 7 type wrapper does not count.
func TestDiffMapping(t *testing.T) {
	base := `{"dynamic":"strict","properties":{"title":{"type":"text","fields":{"raw":{"type":"keyword"}}},"who":{"properties":{"name":{"type":"keyword"}}}}}`
	for _, c := range []struct {
		name, replica string
		want          []string
	}{
		{"same, other key order", `{"properties":{"who":{"properties":{"name":{"type":"keyword"}}},"title":{"fields":{"raw":{"type":"keyword"}},"type":"text"}},"dynamic":"strict"}`, nil},
		{"typed (elasticsearch 7)", `{"_doc":` + base + `}`, nil},
		{"object field missing", `{"dynamic":"strict","properties":{"title":{"type":"text","fields":{"raw":{"type":"keyword"}}}}}`, []string{"who"}},
		{"nested field type", `{"dynamic":"strict","properties":{"title":{"type":"text","fields":{"raw":{"type":"keyword"}}},"who":{"properties":{"name":{"type":"text"}}}}}`, []string{"who.name type"}},
		{"multi-field extra and a root parameter", `{"dynamic":true,"properties":{"title":{"type":"text","fields":{"raw":{"type":"keyword"},"en":{"type":"text"}}},"who":{"properties":{"name":{"type":"keyword"}}}}}`, []string{"dynamic", "title.en"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var a, b map[string]any
			if err := decodeInto([]byte(base), &a); err != nil {
				t.Fatal(err)
			}
			if err := decodeInto([]byte(c.replica), &b); err != nil {
				t.Fatal(err)
			}
			var out []mappingPath
			diffMapping("", untyped(a), untyped(b), &out)
			var got []string
			for _, p := range out {
				got = append(got, p.path)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("paths %v, want %v", got, c.want)
			}
		})
	}
	// a mapping with one root parameter is not a type wrapper
	m := map[string]any{"properties": map[string]any{}}
	if got, _ := json.Marshal(untyped(m)); string(got) != `{"properties":{}}` {
		t.Errorf("untyped(%v) = %s", m, got)
	}
}
