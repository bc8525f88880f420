package searchemu

import (
	"net/http/httptest"
	"sync"
	"testing"
)

// TestRouteTrieOrder checks the PathTrie mode order on overlapping routes.
func TestRouteTrieOrder(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		flavor Flavor
		path   string
		want   []string // patterns in the order they are tried
	}{
		{"typed bulk before the typeless id (ES 7)", Elasticsearch7, "/i/_doc/_bulk", []string{"{index}/{type}/_bulk", "{index}/_doc/{id}"}},
		{"the typeless id on OpenSearch", OpenSearch2, "/i/_doc/_bulk", []string{"{index}/_doc/{id}"}},
		{"explicit root beats the index wildcard", OpenSearch2, "/_bulk", []string{"_bulk"}},
		{"explicit leaf beats the id wildcard", OpenSearch2, "/i/_source/1", []string{"{index}/_source/{id}"}},
		{"an explicit leaf hides the metric wildcard", OpenSearch2, "/_nodes/_local/stats", []string{"_nodes/{node_id}/stats"}},
		{"an empty first segment is a wildcard", OpenSearch2, "//_refresh", []string{"{index}/_refresh"}},
		{"an empty inner segment matches no explicit node", OpenSearch2, "//books/_doc/1", nil},
		{"trailing empty segments are dropped", OpenSearch2, "/books/_doc/1//", []string{"{index}/_doc/{id}"}},
	}
	for _, tc := range cases {
		c := New(Options{Flavor: tc.flavor})
		var got []string
		for _, m := range c.rt.find(pathSegments(tc.path)) {
			s := ""
			for i, seg := range m.r.segs {
				if i > 0 {
					s += "/"
				}
				s += seg
			}
			got = append(got, s)
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: %s tries %v, want %v", tc.name, tc.path, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %s tries %v, want %v", tc.name, tc.path, got, tc.want)
				break
			}
		}
	}
}

// TestRouteTrieConcurrentFirstLookups: the trie is built once even when the first
// requests arrive together (run with -race).
func TestRouteTrieConcurrentFirstLookups(t *testing.T) {
	t.Parallel()
	c := New(Options{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := httptest.NewRecorder()
			c.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
			if w.Code != 200 {
				t.Errorf("GET /: %d", w.Code)
			}
		}()
	}
	wg.Wait()
}

// TestPathSegments checks the PathTrie.retrieve split of request paths.
func TestPathSegments(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		path string
		want []string
	}{
		{"root", "/", []string{}},
		{"only slashes are the root", "///", []string{}},
		{"plain", "/books/_doc/1", []string{"books", "_doc", "1"}},
		{"trailing slashes dropped", "/books/_doc/1//", []string{"books", "_doc", "1"}},
		{"one leading empty segment skipped", "//_refresh", []string{"", "_refresh"}},
		{"inner empty segments kept", "/books//_doc/1", []string{"books", "", "_doc", "1"}},
		{"split before unescaping", "/books/_doc/a%2Fb", []string{"books", "_doc", "a%2Fb"}},
	}
	for _, tc := range cases {
		got := pathSegments(tc.path)
		if len(got) != len(tc.want) {
			t.Errorf("%s: pathSegments(%q) = %q, want %q", tc.name, tc.path, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: pathSegments(%q) = %q, want %q", tc.name, tc.path, got, tc.want)
				break
			}
		}
	}
}
