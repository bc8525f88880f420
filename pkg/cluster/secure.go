package cluster

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/fanout-dev/fanout/pkg/config"
)

// Credentials in endpoint URLs ("https://user:pw@host:9200") and the settings that
// make a connection insecure.

// urlUser returns the userinfo of the first endpoint that has one.
func (c Config) urlUser() *url.Userinfo {
	for _, e := range c.Endpoints {
		if u, err := url.Parse(e); err == nil && u.User != nil {
			return u.User
		}
	}
	return nil
}

// validateUserinfo checks that credentials in the endpoints' URLs are one set and do
// not compete with the username, password or API key keys: the transport would pick
// one per request without saying which.
func (c Config) validateUserinfo(prefix string) error {
	var first *url.Userinfo
	for _, e := range c.Endpoints {
		u, err := url.Parse(e)
		if err != nil || u.User == nil {
			continue
		}
		if first == nil {
			first = u.User
		} else if u.User.String() != first.String() {
			return fmt.Errorf("%s.endpoints: the endpoints carry different credentials in their URLs; give one set with %s.username and %s.password", prefix, prefix, prefix)
		}
	}
	if first == nil {
		return nil
	}
	_, hasPassword := first.Password()
	switch {
	case c.Username != "":
		return fmt.Errorf("%s: a user name in an endpoint URL and %s.username are exclusive", prefix, prefix)
	case hasPassword && (c.Password != "" || c.PasswordFile != ""):
		return fmt.Errorf("%s: a password in an endpoint URL and %s.password/password_file are exclusive", prefix, prefix)
	case c.APIKey != "" || c.APIKeyFile != "":
		return fmt.Errorf("%s: credentials in an endpoint URL and api_key are exclusive", prefix)
	}
	return nil
}

// splitUserinfo returns the endpoints without their userinfo, and the credentials to
// use: the username key or the URLs' user, and password (from the password keys) or
// the URLs' password. Validate has checked that they do not compete.
func (c Config) splitUserinfo(password string) (addresses []string, user, pass string) {
	user, pass = c.Username, password
	if u := c.urlUser(); u != nil {
		if user == "" {
			user = u.Username()
		}
		if p, ok := u.Password(); ok && pass == "" {
			pass = p
		}
	}
	addresses = make([]string, len(c.Endpoints))
	for i, e := range c.Endpoints {
		addresses[i] = e
		if stripped, _, err := config.StripUserinfo(e); err == nil {
			addresses[i] = stripped
		}
	}
	return addresses, user, pass
}

// Warnings lists the settings of c (under prefix, e.g. "primary") that are insecure
// or have no effect: TLS settings for http:// endpoints, which never use them;
// credentials sent to http:// endpoints, in clear; certificate verification turned
// off; TLS settings that tls.enabled=false ignores.
func (c Config) Warnings(prefix string) []config.Warning {
	var plain []string
	secure := false
	for _, e := range c.Endpoints {
		if u, err := url.Parse(e); err == nil && strings.EqualFold(u.Scheme, "http") {
			plain = append(plain, config.RedactURL(e))
		} else {
			secure = true
		}
	}
	var ws []config.Warning
	if len(plain) > 0 && c.TLS.Set() {
		ws = append(ws, config.Warning{Key: prefix + ".tls",
			Message: fmt.Sprintf("is set, but %s %s http://, which never uses TLS: that traffic is plaintext; use https://",
				strings.Join(plain, ", "), plural(len(plain), "uses", "use"))})
	}
	if len(plain) > 0 && c.HasAuth() {
		ws = append(ws, config.Warning{Key: prefix + ".endpoints",
			Message: fmt.Sprintf("%s %s http://, so the credentials configured for this cluster cross the network in clear; use https://",
				strings.Join(plain, ", "), plural(len(plain), "uses", "use"))})
	}
	if secure {
		ws = append(ws, c.TLS.Warnings(prefix+".tls")...)
	}
	return ws
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
