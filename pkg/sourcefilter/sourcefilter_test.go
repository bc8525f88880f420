package sourcefilter_test

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/sourcefilter"
)

const doc = `{"title":"Dune","meta":{"author":"Herbert","year":1965,"tags":["sf","classic"]},"reviews":[{"by":"a","stars":5},{"by":"b","stars":4,"text":"ok"}],"empty":{},"n":[1,2]}`

func TestFilter(t *testing.T) {
	long := strings.Repeat("a", 40)
	tests := []struct {
		name string
		src  string // doc when empty
		want sourcefilter.Want
		out  string
	}{
		{name: "whole", want: sourcefilter.Want{Fetch: true}, out: doc},
		{name: "one field", want: sourcefilter.Want{Fetch: true, Includes: []string{"title"}}, out: `{"title":"Dune"}`},
		{name: "object comes whole", want: sourcefilter.Want{Fetch: true, Includes: []string{"meta"}},
			out: `{"meta":{"author":"Herbert","year":1965,"tags":["sf","classic"]}}`},
		{name: "nested path", want: sourcefilter.Want{Fetch: true, Includes: []string{"meta.year"}}, out: `{"meta":{"year":1965}}`},
		{name: "wildcard", want: sourcefilter.Want{Fetch: true, Includes: []string{"m*.a*"}}, out: `{"meta":{"author":"Herbert"}}`},
		{name: "objects in arrays", want: sourcefilter.Want{Fetch: true, Includes: []string{"reviews.stars"}},
			out: `{"reviews":[{"stars":5},{"stars":4}]}`},
		{name: "array objects emptied are dropped", want: sourcefilter.Want{Fetch: true, Includes: []string{"reviews.text"}},
			out: `{"reviews":[{"text":"ok"}]}`},
		{name: "exclude wins", want: sourcefilter.Want{Fetch: true, Includes: []string{"meta"}, Excludes: []string{"meta.tags"}},
			out: `{"meta":{"author":"Herbert","year":1965}}`},
		{name: "excludes only keep order", want: sourcefilter.Want{Fetch: true, Excludes: []string{"reviews", "meta.year"}},
			out: `{"title":"Dune","meta":{"author":"Herbert","tags":["sf","classic"]},"empty":{},"n":[1,2]}`},
		{name: "no match", want: sourcefilter.Want{Fetch: true, Includes: []string{"nope"}}, out: `{}`},
		{name: "included empty object stays", want: sourcefilter.Want{Fetch: true, Includes: []string{"empty"}}, out: `{"empty":{}}`},
		// 947 million steps of the backtracking matcher per field; one pass now.
		{name: "many stars", src: `{"` + long + `":1,"x":{"` + long + `b":2}}`,
			want: sourcefilter.Want{Fetch: true, Includes: []string{"*a*a*a*a*a*a*a*a*b"}, Excludes: []string{"*a*a*a*a*a*a*a*a*c"}},
			out:  `{"x":{"` + long + `b":2}}`},
		{name: "star", want: sourcefilter.Want{Fetch: true, Includes: []string{"*"}, Excludes: []string{"*.by"}},
			out: `{"title":"Dune","meta":{"author":"Herbert","year":1965,"tags":["sf","classic"]},"reviews":[{"stars":5},{"stars":4,"text":"ok"}],"empty":{},"n":[1,2]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := doc
			if tt.src != "" {
				src = tt.src
			}
			got, err := tt.want.Filter([]byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.out {
				t.Fatalf("got  %s\nwant %s", got, tt.out)
			}
		})
	}
}

func TestFilterRejectsNonObjects(t *testing.T) {
	for _, src := range []string{`[1]`, `"x"`, `{"a":`, ``} {
		if _, err := (sourcefilter.Want{Fetch: true, Includes: []string{"a"}}).Filter([]byte(src)); err == nil {
			t.Errorf("Filter(%q): want an error", src)
		}
	}
}

func TestFromQuery(t *testing.T) {
	tests := []struct {
		query string
		want  sourcefilter.Want
		ok    bool
	}{
		{query: "", ok: false},
		{query: "refresh=true", ok: false},
		{query: "_source=true", want: sourcefilter.Want{Fetch: true}, ok: true},
		{query: "_source", want: sourcefilter.Want{Fetch: true}, ok: true},
		{query: "_source=false", want: sourcefilter.Want{}, ok: true},
		{query: "_source=a,b", want: sourcefilter.Want{Fetch: true, Includes: []string{"a", "b"}}, ok: true},
		{query: "_source_includes=a&_source_excludes=a.b", want: sourcefilter.Want{Fetch: true, Includes: []string{"a"}, Excludes: []string{"a.b"}}, ok: true},
		{query: "_source=false&_source_includes=a", want: sourcefilter.Want{Includes: []string{"a"}}, ok: true},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		got, ok := sourcefilter.FromQuery(q)
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("FromQuery(%q) = %+v, %v; want %+v, %v", tt.query, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFromJSON(t *testing.T) {
	tests := []struct {
		raw  string
		want sourcefilter.Want
	}{
		{raw: `true`, want: sourcefilter.Want{Fetch: true}},
		{raw: `false`, want: sourcefilter.Want{}},
		{raw: `"title"`, want: sourcefilter.Want{Fetch: true, Includes: []string{"title"}}},
		{raw: `["a","b"]`, want: sourcefilter.Want{Fetch: true, Includes: []string{"a", "b"}}},
		{raw: `{"includes":"a","excludes":["a.b"]}`, want: sourcefilter.Want{Fetch: true, Includes: []string{"a"}, Excludes: []string{"a.b"}}},
		{raw: `{"include":["a"]}`, want: sourcefilter.Want{Fetch: true, Includes: []string{"a"}}},
		{raw: `nonsense`, want: sourcefilter.Want{Fetch: true}},
	}
	for _, tt := range tests {
		if got := sourcefilter.FromJSON([]byte(tt.raw)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("FromJSON(%s) = %+v, want %+v", tt.raw, got, tt.want)
		}
	}
}

func FuzzFilter(f *testing.F) {
	f.Add([]byte(doc), "meta.*", "meta.tags")
	f.Add([]byte(`{"a":[[{"b":1}],2]}`), "a.b", "")
	f.Fuzz(func(t *testing.T, src []byte, include, exclude string) {
		w := sourcefilter.Want{Fetch: true, Includes: []string{include}}
		if exclude != "" {
			w.Excludes = []string{exclude}
		}
		_, _ = w.Filter(src) // must not panic or hang
	})
}
