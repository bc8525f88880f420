package config

import (
	"net/url"
	"strings"
)

// RedactURL returns s with the userinfo of a URL ("https://user:pw@host") replaced by
// Redacted ("https://REDACTED@host"), for printed configuration, logs and error
// messages. The user name goes too: some services take a token as the user name.
//
// s need not parse: an endpoint that failed validation is quoted in its error, and a
// password with a raw '/' or '#' is what makes it fail. Then everything between the
// scheme (or the start) and the last '@' goes, which may hide more than the userinfo
// but never less ("http://user:12/x@host" parses as host "user:12" with a path, so an
// '@' outside a parsed userinfo is not trusted to be harmless). A string without '@'
// is returned as it is.
func RedactURL(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	if u, err := url.Parse(s); err == nil && u.User != nil && u.Host != "" {
		u.User = nil
		scheme := u.Scheme + "://"
		if rest := strings.TrimPrefix(u.String(), scheme); !strings.Contains(rest, "@") {
			return scheme + Redacted + "@" + rest
		}
	}
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + len("://")
	}
	at := strings.LastIndex(s, "@")
	if at < start {
		return s
	}
	return s[:start] + Redacted + s[at:]
}

// RedactURLs applies RedactURL to each of urls, for a log attribute.
func RedactURLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = RedactURL(u)
	}
	return out
}

// StripUserinfo returns the URL s without its userinfo, and the userinfo (nil when
// there is none). s must parse.
func StripUserinfo(s string) (string, *url.Userinfo, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", nil, err
	}
	user := u.User
	if user == nil {
		return s, nil, nil
	}
	u.User = nil
	return u.String(), user, nil
}
