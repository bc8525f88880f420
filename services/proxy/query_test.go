package proxy

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestRestQuery: parameters are what OpenSearch's RestUtils.decodeQueryString makes of
// the query string.
func TestRestQuery(t *testing.T) {
	tests := []struct {
		name, raw string
		want      url.Values
		wantErr   bool
	}{
		{name: "empty", raw: "", want: url.Values{}},
		{name: "last value of a repeated key wins", raw: "routing=a&routing=b", want: url.Values{"routing": {"b"}}},
		{name: "semicolons separate", raw: "routing=a;refresh=true", want: url.Values{"routing": {"a"}, "refresh": {"true"}}},
		{name: "plus is a space, escapes decode", raw: "q=a+b%2Bc&r=%41", want: url.Values{"q": {"a b+c"}, "r": {"A"}}},
		{name: "double percent is a percent", raw: "routing=50%%", want: url.Values{"routing": {"50%"}}},
		{name: "key without value", raw: "refresh&pretty=", want: url.Values{"refresh": {""}, "pretty": {""}}},
		{name: "name ends at the first equals", raw: "a=b=c", want: url.Values{"a": {"b=c"}}},
		{name: "a leading equals does not start a name", raw: "=x&=", want: url.Values{"x": {""}}},
		{name: "empty segments are skipped", raw: "&&a=1&;", want: url.Values{"a": {"1"}}},
		{name: "unterminated escape", raw: "routing=a%", wantErr: true},
		{name: "partial escape", raw: "routing=a%4", wantErr: true},
		{name: "invalid escape", raw: "routing=%zz", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := restQuery(tt.raw)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWithoutParams(t *testing.T) {
	tests := []struct {
		name, raw, want string
		drop            []string
	}{
		{name: "nothing dropped: raw as it came", raw: "a=%41&b=1;c", drop: []string{"x"}, want: "a=%41&b=1;c"},
		{name: "dropped wherever it is, separators kept", raw: "filter_path=x&a=1;filter_path=y&b=%41", drop: []string{"filter_path"}, want: "a=1&b=%41"},
		{name: "keys compare decoded", raw: "filter%5Fpath=x&a=1", drop: []string{"filter_path"}, want: "a=1"},
		{name: "all dropped", raw: "_source=false", drop: []string{"_source"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withoutParams(tt.raw, tt.drop...); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzRestQuery: any query string decodes or is refused without panicking, and
// dropping a parameter removes just that parameter.
func FuzzRestQuery(f *testing.F) {
	for _, s := range []string{"", "a=1&a=2", "a;b=%41&c=+", "=", "%%", "a%", "x=%zz", "filter_path=a&b=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := restQuery(raw)
		if err != nil {
			if withoutParams(raw, "a") != raw {
				t.Fatalf("a query that does not decode must go on untouched")
			}
			return
		}
		out := withoutParams(raw, "a")
		q2, err := restQuery(out)
		if err != nil {
			t.Fatalf("%q decodes but %q, without a, does not: %v", raw, out, err)
		}
		q.Del("a")
		if !reflect.DeepEqual(q, q2) {
			t.Fatalf("%q without a is %q: %v, want %v", raw, out, q2, q)
		}
		if _, has := q["a"]; !has && !strings.Contains(raw, "a") && out != raw {
			t.Fatalf("nothing to drop, yet %q became %q", raw, out)
		}
	})
}
