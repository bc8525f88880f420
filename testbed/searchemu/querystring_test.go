package searchemu

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestDecodeQueryString follows RestUtils.decodeQueryString case by case.
func TestDecodeQueryString(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		uri  string
		want map[string]string
		err  string
	}{
		{name: "no query", uri: "/i/_search", want: map[string]string{}},
		{name: "empty query", uri: "/i/_search?", want: map[string]string{}},
		{name: "ampersands", uri: "/?a=1&b=2", want: map[string]string{"a": "1", "b": "2"}},
		{name: "semicolons separate too", uri: "/?a=1;b=2", want: map[string]string{"a": "1", "b": "2"}},
		{name: "the last repeated value wins", uri: "/?a=1&a=2;a=3", want: map[string]string{"a": "3"}},
		{name: "a name alone has the empty value", uri: "/?pretty&a", want: map[string]string{"pretty": "", "a": ""}},
		{name: "a name with = has the empty value", uri: "/?a=", want: map[string]string{"a": ""}},
		{name: "later = belong to the value", uri: "/?q=a=b", want: map[string]string{"q": "a=b"}},
		{name: "no name makes the value a name", uri: "/?=v&b=1", want: map[string]string{"v": "", "b": "1"}},
		{name: "empty pieces skipped", uri: "/?&&a=1;;", want: map[string]string{"a": "1"}},
		{name: "a fragment ends the query", uri: "/?a=1#b=2", want: map[string]string{"a": "1"}},
		{name: "a fragment before the query leaves none", uri: "/x#y?a=1", want: map[string]string{}},
		{name: "plus is a space", uri: "/?q=a+b", want: map[string]string{"q": "a b"}},
		{name: "escapes", uri: "/?q=a%26b%3Bc&k%3D=v", want: map[string]string{"q": "a&b;c", "k=": "v"}},
		{name: "double percent is a percent", uri: "/?q=100%%", want: map[string]string{"q": "100%"}},
		{name: "malformed UTF-8 is replaced", uri: "/?q=%FF", want: map[string]string{"q": "\uFFFD"}},
		{name: "unterminated escape", uri: "/?q=%", err: "unterminated escape sequence at end of string: %"},
		{name: "partial escape", uri: "/?q=a%4", err: "partial escape sequence at end of string: a%4"},
		{name: "invalid escape", uri: "/?q=a%zzb", err: "invalid escape sequence `%zz' at index 1 of: a%zzb"},
		{name: "an error in a name", uri: "/?a%g0=1", err: "invalid escape sequence `%g0' at index 1 of: a%g0"},
	}
	for _, tc := range cases {
		got, err := decodeQueryString(tc.uri)
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: decodeQueryString(%q) error %v, want %q", tc.name, tc.uri, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: decodeQueryString(%q): %v", tc.name, tc.uri, err)
		case !reflect.DeepEqual(got, tc.want):
			t.Errorf("%s: decodeQueryString(%q) = %q, want %q", tc.name, tc.uri, got, tc.want)
		}
	}
}

// FuzzDecodeQueryString: any URI decodes without panicking, to valid UTF-8 parameters when
// the URI is valid UTF-8, or fails with one of the decoder's messages.
func FuzzDecodeQueryString(f *testing.F) {
	for _, s := range []string{"/?a=1;b=2", "/?=&=", "/?q=%", "/?q=%4", "/?%%=%zz", "/?a#b", "/#?a", "/?a=b=c&&;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		params, err := decodeQueryString(uri)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "unterminated escape sequence") && !strings.HasPrefix(msg, "partial escape sequence") && !strings.HasPrefix(msg, "invalid escape sequence") {
				t.Fatalf("unexpected error %q", msg)
			}
			return
		}
		// a malformed byte can only come from an escape, and escapes are replaced
		if !utf8.ValidString(uri) {
			return
		}
		for k, v := range params {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				t.Fatalf("parameter %q=%q is not valid UTF-8", k, v)
			}
		}
	})
}
