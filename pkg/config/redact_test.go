package config_test

import (
	"bytes"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/config"
)

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://user:pw@search:9200", "https://REDACTED@search:9200"},
		{"https://user:pw@search:9200/base?x=1", "https://REDACTED@search:9200/base?x=1"},
		{"http://token@search", "http://REDACTED@search"},
		{"http://u:p@ss@search:9200", "http://REDACTED@search:9200"},     // raw '@' in the password
		{"http://user:pa/ss@search:9200", "http://REDACTED@search:9200"}, // does not parse
		{"http://user:12/x@search", "http://REDACTED@search"},            // parses, as host user:12
		{"user:pw@search:9200", "REDACTED@search:9200"},                  // no scheme
		{"http://search:9200", "http://search:9200"},
		{"search:9200", "search:9200"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := config.RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := config.RedactURLs([]string{"http://a:b@h1", "http://h2"}); strings.Join(got, ",") != "http://REDACTED@h1,http://h2" {
		t.Errorf("RedactURLs = %v", got)
	}
}

// FuzzRedactURL: whatever the user name and password, written raw or URL-escaped, the
// output is the scheme, REDACTED, and what followed the last '@' (re-encoded maybe):
// nothing of the userinfo is left.
func FuzzRedactURL(f *testing.F) {
	f.Add("user", "pw", "search:9200", "/base")
	f.Add("u", "p@ss/w#rd", "10.0.0.1", "")
	f.Add("tok", "", "[::1]:9200", "?q=1")
	f.Fuzz(func(t *testing.T, user, pass, host, tail string) {
		if strings.Contains(host, "@") || strings.Contains(tail, "@") {
			t.Skip() // '@' after the userinfo: over-redacted, tested above
		}
		escaped := url.UserPassword(user, pass).String()
		for _, s := range []string{
			"https://" + user + ":" + pass + "@" + host + tail,
			"https://" + escaped + "@" + host + tail,
		} {
			out := config.RedactURL(s)
			rest, ok := strings.CutPrefix(out, "https://"+config.Redacted+"@")
			if !ok || strings.Contains(rest, "@") {
				t.Fatalf("RedactURL(%q) = %q", s, out)
			}
		}
	})
}

func TestStripUserinfo(t *testing.T) {
	got, user, err := config.StripUserinfo("https://fanout:s3cret@search:9200/base")
	if err != nil || got != "https://search:9200/base" || user.Username() != "fanout" {
		t.Fatalf("StripUserinfo = %q, %v, %v", got, user, err)
	}
	if pw, _ := user.Password(); pw != "s3cret" {
		t.Fatalf("password %q", pw)
	}
	got, user, err = config.StripUserinfo("http://search:9200")
	if err != nil || got != "http://search:9200" || user != nil {
		t.Fatalf("without userinfo: %q, %v, %v", got, user, err)
	}
}

type endpointsConfig struct {
	Endpoints []string `koanf:"endpoints"`
	Fallback  string   `koanf:"fallback"`
	Rename    string   `koanf:"rename"`
	Password  string   `koanf:"password" secret:"true"`
}

// TestPrintRedactsURLsAndShowsWarnings: --print-config hides URL userinfo wherever it
// is, leaves other '@' alone, and puts the warnings first as comments, so that what it
// prints still loads.
func TestPrintRedactsURLsAndShowsWarnings(t *testing.T) {
	cfg := endpointsConfig{
		Endpoints: []string{"https://fanout:hunter2@search-1:9200", "https://search-2:9200"},
		Fallback:  "http://ro:hunter3@fallback:9200",
		Rename:    "{index}@dr",
		Password:  "hunter4",
	}
	var b bytes.Buffer
	ws := []config.Warning{{Key: "a.tls.insecure_skip_verify", Message: "certificate verification is off"}}
	if err := config.Print(&b, cfg, ws...); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, secret := range []string{"hunter2", "hunter3", "hunter4", "fanout:", "ro:"} {
		if strings.Contains(out, secret) {
			t.Errorf("printed config shows %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{
		"# WARNING a.tls.insecure_skip_verify: certificate verification is off\n",
		"- https://REDACTED@search-1:9200", "- https://search-2:9200",
		"fallback: http://REDACTED@fallback:9200", "rename: '{index}@dr'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("printed config lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasPrefix(out, "# WARNING") {
		t.Errorf("warnings do not come first:\n%s", out)
	}
	var back endpointsConfig
	if _, err := config.Load(&back, config.Sources{File: writeFile(t, out)}); err != nil {
		t.Fatalf("the printed configuration does not load: %v", err)
	}
	if back.Rename != "{index}@dr" || len(back.Endpoints) != 2 {
		t.Fatalf("loaded back %+v", back)
	}
}

func TestTLSWarnings(t *testing.T) {
	tests := []struct {
		name string
		tls  config.TLS
		want []string
	}{
		{name: "off", tls: config.TLS{}},
		{name: "verified", tls: config.TLS{Enabled: true, CAFile: "/ca.pem"}},
		{name: "skip verify", tls: config.TLS{Enabled: true, InsecureSkipVerify: true},
			want: []string{"x.tls.insecure_skip_verify: certificate verification is off"}},
		{name: "settings without enabled", tls: config.TLS{CAFile: "/ca.pem", InsecureSkipVerify: true},
			want: []string{"x.tls.enabled: is false, so ca_file, insecure_skip_verify have no effect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkWarnings(t, tt.tls.Warnings("x.tls"), tt.want)
		})
	}
}

// checkWarnings checks that got has one warning per want, each starting with it.
func checkWarnings(t *testing.T, got []config.Warning, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("warnings %v, want %d: %v", got, len(want), want)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i].String(), w) {
			t.Errorf("warning %d = %q, want it to start with %q", i, got[i], w)
		}
	}
}

func TestLogWarnings(t *testing.T) {
	var b bytes.Buffer
	config.LogWarnings(slog.New(slog.NewJSONHandler(&b, nil)), []config.Warning{{Key: "kafka.sasl.mechanism", Message: "PLAIN without TLS"}})
	if out := b.String(); !strings.Contains(out, `"level":"WARN"`) || !strings.Contains(out, `"key":"kafka.sasl.mechanism"`) ||
		!strings.Contains(out, "kafka.sasl.mechanism: PLAIN without TLS") {
		t.Fatalf("log: %s", out)
	}
}
