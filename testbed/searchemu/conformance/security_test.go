package conformance_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// The expectations of a secured cluster come from the products' sources, not from the
// reference (which describes clusters without security):
//   - Elasticsearch: x-pack DefaultAuthenticationFailureHandler (the 401 reasons and the
//     WWW-Authenticate challenges, "Basic realm=\"security\" charset=\"UTF-8\"", with a comma
//     before charset from 8.15, elastic/elasticsearch#110906), AuthenticatorChain (8.x: "unable
//     to authenticate with provided credentials and anonymous access is not allowed for this
//     request" with additional_unsuccessful_credentials), ApiKeyService ("unable to find apikey
//     with id", "invalid credentials for API key [id]"), ElasticsearchException.headerToXContent
//     (one header value bare, more as an array), AuthorizationService.denialException (7.x run
//     as) and AuthorizationDenialMessages.runAsDenied (8.x);
//   - OpenSearch security: HTTPBasicAuthenticator.reRequestAuthentication (401, WWW-Authenticate
//     Basic realm="OpenSearch Security", body "" up to 2.x and "Unauthorized" from 3.0, plain
//     text) and BackendRegistry.impersonate (403 security_exception).

func securedEmu(t *testing.T, f searchemu.Flavor) *emu {
	t.Helper()
	return newEmu(t, searchemu.Options{Flavor: f, Security: &searchemu.Security{
		Users: []searchemu.SecurityUser{
			{Name: "alice", Password: "alice-pw", Roles: []string{"writer", "reader"}, RunAs: []string{"bob", "zed"}},
			{Name: "bob", Password: "bob-pw", Roles: []string{"reader"}},
			{Name: "carol", Password: "carol-pw"},
		},
		APIKeys: []searchemu.SecurityAPIKey{{ID: "k1", Key: "secret-key", Name: "ingest", Owner: "alice"}},
	}})
}

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

func apiKey(id, key string) string {
	return "ApiKey " + base64.StdEncoding.EncodeToString([]byte(id+":"+key))
}

// call sends method path with the given headers (pairs of name, value).
func (e *emu) call(t *testing.T, method, path, body string, headers ...string) *resp {
	t.Helper()
	var hr *http.Request
	var err error
	if body != "" {
		hr, err = http.NewRequest(method, path, strings.NewReader(body))
	} else {
		hr, err = http.NewRequest(method, path, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		hr.Header.Set(headers[i], headers[i+1])
	}
	return e.send(t, hr)
}

func wantChallenges(t *testing.T, r *resp, want ...string) {
	t.Helper()
	got := r.Header.Values("WWW-Authenticate")
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%s: WWW-Authenticate want %q, got %q", r.desc, want, got)
	}
}

func TestSecurityElasticsearch7(t *testing.T) {
	t.Parallel()
	e := securedEmu(t, searchemu.Elasticsearch7)
	const challenge = `"Basic realm=\"security\" charset=\"UTF-8\"","ApiKey"`
	authErr := func(reason string) string {
		inner := `"type":"security_exception","reason":"` + reason + `","header":{"WWW-Authenticate":[` + challenge + `]}`
		return `{"error":{"root_cause":[{` + inner + `}],` + inner + `},"status":401}`
	}
	tests := []struct {
		name, method, path string
		headers            []string
		status             int
		body               string
	}{
		{name: "no credentials", method: "GET", path: "/", status: 401,
			body: authErr("missing authentication credentials for REST request [/]")},
		{name: "no credentials on a write names the uri with its query", method: "PUT", path: "/books/_doc/1?refresh=true", status: 401,
			body: authErr("missing authentication credentials for REST request [/books/_doc/1?refresh=true]")},
		{name: "wrong password", method: "GET", path: "/", headers: []string{"Authorization", basic("alice", "nope")}, status: 401,
			body: authErr("unable to authenticate user [alice] for REST request [/]")},
		{name: "unknown user", method: "GET", path: "/_cat/indices", headers: []string{"Authorization", basic("mallory", "x")}, status: 401,
			body: authErr("unable to authenticate user [mallory] for REST request [/_cat/indices]")},
		{name: "a failed API key reads as missing credentials in 7.x", method: "GET", path: "/", headers: []string{"Authorization", apiKey("k1", "wrong")}, status: 401,
			body: authErr("missing authentication credentials for REST request [/]")},
		{name: "an unknown scheme is no credentials", method: "GET", path: "/", headers: []string{"Authorization", "Bearer abc"}, status: 401,
			body: authErr("missing authentication credentials for REST request [/]")},
		{name: "basic header without a colon", method: "GET", path: "/", headers: []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}, status: 401,
			body: authErr("invalid basic authentication header value")},
		{name: "run as without the privilege", method: "GET", path: "/", headers: []string{"Authorization", basic("bob", "bob-pw"), "es-security-runas-user", "alice"}, status: 403,
			body: `{"error":{"root_cause":[{"type":"security_exception","reason":"action [cluster:monitor/main] is unauthorized for user [bob] run as [alice]"}],"type":"security_exception","reason":"action [cluster:monitor/main] is unauthorized for user [bob] run as [alice]"},"status":403}`},
		{name: "run as a user that does not exist", method: "POST", path: "/_bulk", headers: []string{"Authorization", basic("alice", "alice-pw"), "es-security-runas-user", "zed"}, status: 403,
			body: `{"error":{"root_cause":[{"type":"security_exception","reason":"action [indices:data/write/bulk] is unauthorized for user [alice] run as [zed]"}],"type":"security_exception","reason":"action [indices:data/write/bulk] is unauthorized for user [alice] run as [zed]"},"status":403}`},
		{name: "empty run as fails authentication", method: "GET", path: "/", headers: []string{"Authorization", basic("alice", "alice-pw"), "es-security-runas-user", ""}, status: 401,
			body: authErr("unable to authenticate user [alice] for REST request [/]")},
		{name: "authenticate", method: "GET", path: "/_security/_authenticate", headers: []string{"Authorization", basic("alice", "alice-pw")}, status: 200,
			body: `{"username":"alice","roles":["writer","reader"],"full_name":null,"email":null,"metadata":{},"enabled":true,"authentication_realm":{"name":"default_file","type":"file"},"lookup_realm":{"name":"default_file","type":"file"},"authentication_type":"realm"}`},
		{name: "authenticate run as", method: "GET", path: "/_security/_authenticate", headers: []string{"Authorization", basic("alice", "alice-pw"), "es-security-runas-user", "bob"}, status: 200,
			body: `{"username":"bob","roles":["reader"],"full_name":null,"email":null,"metadata":{},"enabled":true,"authentication_realm":{"name":"default_file","type":"file"},"lookup_realm":{"name":"default_file","type":"file"},"authentication_type":"realm"}`},
		{name: "authenticate with an API key", method: "GET", path: "/_security/_authenticate", headers: []string{"Authorization", apiKey("k1", "secret-key")}, status: 200,
			body: `{"username":"alice","roles":[],"full_name":null,"email":null,"metadata":{},"enabled":true,"authentication_realm":{"name":"_es_api_key","type":"_es_api_key"},"lookup_realm":{"name":"_es_api_key","type":"_es_api_key"},"authentication_type":"api_key"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(t, tt.method, e.url+tt.path, "", tt.headers...)
			if wantStatus(t, r, tt.status) {
				wantExactBody(t, r, tt.body)
			}
			if tt.status == 401 {
				wantChallenges(t, r, `Basic realm="security" charset="UTF-8"`, "ApiKey")
			}
			if got := r.Header.Get("X-Elastic-Product"); got != "Elasticsearch" {
				t.Errorf("X-Elastic-Product want Elasticsearch, got %q", got)
			}
		})
	}

	t.Run("authenticated requests are served", func(t *testing.T) {
		r := e.call(t, "PUT", e.url+"/books/_doc/1", `{"a":1}`, "Authorization", basic("alice", "alice-pw"))
		wantStatus(t, r, 201)
		r = e.call(t, "GET", e.url+"/books/_doc/1", "", "Authorization", apiKey("k1", "secret-key"))
		wantStatus(t, r, 200)
	})
	t.Run("a refused write writes nothing", func(t *testing.T) {
		r := e.call(t, "PUT", e.url+"/books/_doc/2", `{"a":1}`, "Authorization", basic("alice", "wrong"))
		wantStatus(t, r, 401)
		r = e.call(t, "GET", e.url+"/books/_doc/2", "", "Authorization", basic("alice", "alice-pw"))
		wantStatus(t, r, 404)
	})
	t.Run("OPTIONS is not authenticated", func(t *testing.T) {
		r := e.call(t, "OPTIONS", e.url+"/", "")
		wantStatus(t, r, 200)
	})
	t.Run("a path without a handler answers before authentication", func(t *testing.T) {
		r := e.call(t, "GET", e.url+"/_nosuch/api/a/b/c", "")
		wantStatus(t, r, 400)
	})
	t.Run("parameters are checked after authentication", func(t *testing.T) {
		r := e.call(t, "GET", e.url+"/?bogus=1", "")
		wantStatus(t, r, 401)
	})
}

func TestSecurityElasticsearch8(t *testing.T) {
	t.Parallel()
	e := securedEmu(t, searchemu.Elasticsearch8)
	const challenge = `"Basic realm=\"security\", charset=\"UTF-8\"","ApiKey"`
	authErr := func(reason, extra string) string {
		inner := `"type":"security_exception","reason":"` + reason + `"` + extra + `,"header":{"WWW-Authenticate":[` + challenge + `]}`
		return `{"error":{"root_cause":[{` + inner + `}],` + inner + `},"status":401}`
	}
	const anon = "unable to authenticate with provided credentials and anonymous access is not allowed for this request"
	tests := []struct {
		name, method, path string
		headers            []string
		status             int
		body               string
	}{
		{name: "no credentials", method: "GET", path: "/", status: 401,
			body: authErr("missing authentication credentials for REST request [/]", "")},
		{name: "wrong password", method: "GET", path: "/", headers: []string{"Authorization", basic("alice", "nope")}, status: 401,
			body: authErr("unable to authenticate user [alice] for REST request [/]", "")},
		{name: "unknown API key", method: "GET", path: "/", headers: []string{"Authorization", apiKey("nokey", "x")}, status: 401,
			body: authErr(anon, `,"additional_unsuccessful_credentials":"API key: unable to find apikey with id nokey"`)},
		{name: "wrong API key secret", method: "GET", path: "/", headers: []string{"Authorization", apiKey("k1", "x")}, status: 401,
			body: authErr(anon, `,"additional_unsuccessful_credentials":"API key: invalid credentials for API key [k1]"`)},
		{name: "malformed API key", method: "GET", path: "/", headers: []string{"Authorization", "ApiKey !!"}, status: 401,
			body: `{"error":{"root_cause":[{"type":"security_exception","reason":"error attempting to authenticate request","header":{"WWW-Authenticate":[` + challenge + `]}}],"type":"security_exception","reason":"error attempting to authenticate request","caused_by":{"type":"illegal_argument_exception","reason":"invalid ApiKey value"},"header":{"WWW-Authenticate":[` + challenge + `]}},"status":401}`},
		{name: "run as without the privilege", method: "GET", path: "/", headers: []string{"Authorization", basic("bob", "bob-pw"), "es-security-runas-user", "alice"}, status: 403,
			body: `{"error":{"root_cause":[{"type":"security_exception","reason":"action [cluster:monitor/main] is unauthorized for user [bob] with effective roles [reader], because user [bob] is unauthorized to run as [alice]"}],"type":"security_exception","reason":"action [cluster:monitor/main] is unauthorized for user [bob] with effective roles [reader], because user [bob] is unauthorized to run as [alice]"},"status":403}`},
		{name: "run as from an API key without the privilege", method: "GET", path: "/", headers: []string{"Authorization", apiKey("k1", "secret-key"), "es-security-runas-user", "carol"}, status: 403,
			body: `{"error":{"root_cause":[{"type":"security_exception","reason":"action [cluster:monitor/main] is unauthorized for API key id [k1] of user [alice], because API key id [k1] of user [alice] is unauthorized to run as [carol]"}],"type":"security_exception","reason":"action [cluster:monitor/main] is unauthorized for API key id [k1] of user [alice], because API key id [k1] of user [alice] is unauthorized to run as [carol]"},"status":403}`},
		{name: "authenticate with an API key", method: "GET", path: "/_security/_authenticate", headers: []string{"Authorization", apiKey("k1", "secret-key")}, status: 200,
			body: `{"username":"alice","roles":[],"full_name":null,"email":null,"metadata":{},"enabled":true,"authentication_realm":{"name":"_es_api_key","type":"_es_api_key"},"lookup_realm":{"name":"_es_api_key","type":"_es_api_key"},"authentication_type":"api_key","api_key":{"id":"k1","name":"ingest"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(t, tt.method, e.url+tt.path, "", tt.headers...)
			if wantStatus(t, r, tt.status) {
				wantExactBody(t, r, tt.body)
			}
			if tt.status == 401 {
				wantChallenges(t, r, `Basic realm="security", charset="UTF-8"`, "ApiKey")
			}
		})
	}
}

func TestSecurityElasticsearch7WithoutAPIKeys(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{Flavor: searchemu.Elasticsearch7, Security: &searchemu.Security{
		Users: []searchemu.SecurityUser{{Name: "alice", Password: "pw"}},
	}})
	r := e.call(t, "GET", e.url+"/", "")
	if wantStatus(t, r, 401) {
		// one challenge: written bare, not as an array
		wantExactBody(t, r, `{"error":{"root_cause":[{"type":"security_exception","reason":"missing authentication credentials for REST request [/]","header":{"WWW-Authenticate":"Basic realm=\"security\" charset=\"UTF-8\""}}],"type":"security_exception","reason":"missing authentication credentials for REST request [/]","header":{"WWW-Authenticate":"Basic realm=\"security\" charset=\"UTF-8\""}},"status":401}`)
		wantChallenges(t, r, `Basic realm="security" charset="UTF-8"`)
	}
}

func TestSecurityOpenSearch(t *testing.T) {
	t.Parallel()
	for _, f := range []searchemu.Flavor{searchemu.OpenSearch1, searchemu.OpenSearch2, searchemu.OpenSearch3} {
		t.Run(f.String(), func(t *testing.T) {
			e := securedEmu(t, f)
			challengeBody := ""
			if f == searchemu.OpenSearch3 {
				challengeBody = "Unauthorized"
			}
			for _, c := range []struct {
				name    string
				headers []string
			}{
				{"no credentials", nil},
				{"wrong password", []string{"Authorization", basic("alice", "nope")}},
				{"unknown user", []string{"Authorization", basic("mallory", "x")}},
				{"API keys are not a scheme of the security plugin", []string{"Authorization", apiKey("k1", "secret-key")}},
				{"undecodable basic credentials", []string{"Authorization", "Basic !!"}},
			} {
				t.Run(c.name, func(t *testing.T) {
					r := e.call(t, "PUT", e.url+"/books/_doc/1", `{"a":1}`, c.headers...)
					if !wantStatus(t, r, 401) {
						return
					}
					if string(r.Body) != challengeBody {
						t.Errorf("body want %q, got %q", challengeBody, r.Body)
					}
					if ct := r.Header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
						t.Errorf("Content-Type want text/plain; charset=UTF-8, got %q", ct)
					}
					wantChallenges(t, r, `Basic realm="OpenSearch Security"`)
				})
			}
			t.Run("nothing was written", func(t *testing.T) {
				r := e.call(t, "GET", e.url+"/books/_doc/1", "", "Authorization", basic("alice", "alice-pw"))
				wantStatus(t, r, 404)
			})
			t.Run("impersonation without the permission", func(t *testing.T) {
				r := e.call(t, "GET", e.url+"/", "", "Authorization", basic("bob", "bob-pw"), "opendistro_security_impersonate_as", "alice")
				wantError(t, r, 403, "security_exception", "'bob' is not allowed to impersonate as 'alice'")
			})
			t.Run("impersonating a user that does not exist", func(t *testing.T) {
				r := e.call(t, "GET", e.url+"/", "", "Authorization", basic("alice", "alice-pw"), "opendistro_security_impersonate_as", "zed")
				wantError(t, r, 403, "security_exception", "No such user:zed")
			})
			t.Run("Elasticsearch's run-as header means nothing", func(t *testing.T) {
				r := e.call(t, "GET", e.url+"/_plugins/_security/authinfo", "", "Authorization", basic("bob", "bob-pw"), "es-security-runas-user", "alice")
				if wantStatus(t, r, 200) && str(t, r.Body, "user_name") != "bob" {
					t.Errorf("user_name want bob: %s", r.Body)
				}
			})
			t.Run("authinfo shows the impersonated user and the tenant", func(t *testing.T) {
				r := e.call(t, "GET", e.url+"/_plugins/_security/authinfo", "", "Authorization", basic("alice", "alice-pw"),
					"opendistro_security_impersonate_as", "bob", "securitytenant", "analysts")
				if !wantStatus(t, r, 200) {
					return
				}
				wantKeys(t, r.Body, []string{"user", "user_name", "user_requested_tenant", "remote_address", "backend_roles",
					"custom_attribute_names", "roles", "tenants", "principal", "peer_certificates", "sso_logout_url"})
				if got := str(t, r.Body, "user_name"); got != "bob" {
					t.Errorf("user_name want bob, got %q", got)
				}
				if got := str(t, r.Body, "user_requested_tenant"); got != "analysts" {
					t.Errorf("user_requested_tenant want analysts, got %q", got)
				}
				if got := str(t, r.Body, "remote_address"); !strings.HasPrefix(got, "127.0.0.1:") {
					t.Errorf("remote_address want the client's address, got %q", got)
				}
			})
			t.Run("authenticated write", func(t *testing.T) {
				r := e.call(t, "PUT", e.url+"/books/_doc/1", `{"a":1}`, "Authorization", basic("carol", "carol-pw"))
				wantStatus(t, r, 201)
			})
		})
	}
}

func TestSecurityOffByDefault(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	r := e.call(t, "GET", e.url+"/", "")
	wantStatus(t, r, 200)
	r = e.call(t, "GET", e.url+"/_plugins/_security/authinfo", "")
	wantStatus(t, r, 400) // no security plugin, no handler
}
