package searchemu

import (
	"encoding/base64"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// Security makes a cluster a secured one: every REST request must authenticate, as with
// Elasticsearch security (x-pack) or the OpenSearch security plugin. The flavour decides
// what a refusal looks like and which schemes exist:
//
//   - Elasticsearch 7 and 8: HTTP basic (users) and API keys (`Authorization: ApiKey
//     base64(id:key)`), run as another user with `es-security-runas-user`, 401 and 403
//     `security_exception` bodies with the `header` member and the WWW-Authenticate
//     response header (x-pack DefaultAuthenticationFailureHandler, AuthenticationService,
//     AuthorizationDenialMessages);
//   - OpenSearch 1, 2 and 3: HTTP basic against the internal users only (the security
//     plugin has no `ApiKey` scheme: such a header counts as no credentials), impersonation
//     with `opendistro_security_impersonate_as`, the tenant from `securitytenant`, and the
//     plugin's challenge, a 401 with `WWW-Authenticate: Basic realm="OpenSearch Security"`
//     and a plain-text body ("" up to 2.x, "Unauthorized" from 3.0; security
//     src/main/java/org/opensearch/security/http/HTTPBasicAuthenticator.java and
//     auth/BackendRegistry.java).
//
// Authorization is not modelled beyond run as: an authenticated user may do everything
// (as a superuser or all_access user would). Authentication runs once a request's route
// and its body's media type are known, before its parameters are checked, as the security
// filter wraps the REST handlers; OPTIONS requests are not authenticated (CORS preflight),
// nor are /_emu/ requests, which no real cluster has.
type Security struct {
	Users   []SecurityUser
	APIKeys []SecurityAPIKey
}

// SecurityUser is a user of the cluster's own realm (the file realm of Elasticsearch, the
// internal users of OpenSearch).
type SecurityUser struct {
	Name, Password string
	// Roles are reported by the authenticate/authinfo APIs; they grant nothing.
	Roles []string
	// RunAs names the users this one may run as (Elasticsearch's run_as privilege,
	// OpenSearch's rest_impersonation_user); "*" is any user.
	RunAs []string
}

// SecurityAPIKey is an Elasticsearch API key (ignored by the OpenSearch flavours).
type SecurityAPIKey struct {
	ID, Key, Name string
	// Owner is the user the key was created by (one of Security.Users).
	Owner string
}

// principal is who a request authenticated as.
type principal struct {
	authUser *SecurityUser   // who authenticated (the owner for an API key)
	apiKey   *SecurityAPIKey // set when an API key authenticated
	user     *SecurityUser   // the effective user: authUser, or the one run as
	tenant   string          // OpenSearch's requested tenant, "" for none
}

const (
	headerRunAs       = "es-security-runas-user"
	headerImpersonate = "opendistro_security_impersonate_as"
)

func (s *Security) user(name string) *SecurityUser {
	for i := range s.Users {
		if s.Users[i].Name == name {
			return &s.Users[i]
		}
	}
	return nil
}

func (u *SecurityUser) mayRunAs(name string) bool {
	return slices.Contains(u.RunAs, "*") || slices.Contains(u.RunAs, name)
}

// authenticate authenticates the request to the route found for it: the principal, or
// the refusal to send instead of the handler's answer.
func (c *Cluster) authenticate(r *http.Request, rq *request, rt *route) (*principal, *response) {
	s := c.opts.Security
	if s == nil || r.Method == http.MethodOptions {
		return nil, nil
	}
	if c.opts.Flavor.elastic() {
		return c.authenticateES(r, rq, rt)
	}
	return c.authenticateOS(r)
}

// authenticateES follows x-pack's AuthenticationService: an API key first (when the
// header says ApiKey), then the realms' tokens (basic), else no credentials; then the
// run-as lookup.
func (c *Cluster) authenticateES(r *http.Request, rq *request, rt *route) (*principal, *response) {
	s := c.opts.Security
	auth := r.Header.Get("Authorization")
	var p *principal
	var unsuccessful string // ES 8's es.additional_unsuccessful_credentials
	// Elasticsearch 7 enables API keys only where xpack.security.authc.api_key.enabled says
	// so (by default only with TLS on HTTP); the emulator enables them when it has keys.
	apiKeys := c.opts.Flavor == Elasticsearch8 || len(s.APIKeys) > 0
	switch scheme, cred := splitAuth(auth); {
	case apiKeys && strings.EqualFold(scheme, "ApiKey"):
		// ApiKeyService.getCredentialsFromHeader
		raw, err := base64.StdEncoding.DecodeString(cred)
		id, key, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok {
			return nil, c.esAuthError(rq, "error attempting to authenticate request", "",
				newErr(400, typeIllegalArgument, "invalid ApiKey value", false))
		}
		var k *SecurityAPIKey
		for i := range s.APIKeys {
			if s.APIKeys[i].ID == id {
				k = &s.APIKeys[i]
			}
		}
		switch {
		case k == nil:
			unsuccessful = "API key: unable to find apikey with id " + id
		case k.Key != key:
			unsuccessful = "API key: invalid credentials for API key [" + id + "]"
		default:
			owner := s.user(k.Owner)
			if owner == nil {
				owner = &SecurityUser{Name: k.Owner}
			}
			// an API key's user carries no roles of its own (its privileges are the key's)
			u := &SecurityUser{Name: owner.Name, RunAs: owner.RunAs}
			p = &principal{authUser: u, apiKey: k, user: u}
		}
	case strings.EqualFold(scheme, "Basic"):
		// UsernamePasswordToken.extractToken; the cause's reason is Go's, not Java's
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return nil, c.esAuthError(rq, "invalid basic authentication header encoding", "",
				newErr(400, typeIllegalArgument, err.Error(), false))
		}
		name, password, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, c.esAuthError(rq, "invalid basic authentication header value", "", nil)
		}
		u := s.user(name)
		if u == nil || u.Password != password {
			return nil, c.esAuthError(rq, "unable to authenticate user ["+name+"] for REST request ["+rq.uri+"]", "", nil)
		}
		p = &principal{authUser: u, user: u}
	}
	if p == nil {
		// No credentials the realms understand. Elasticsearch 7 then reports missing
		// credentials even when an API key failed; 8 says which credentials failed
		// (AuthenticatorChain.handleNullToken).
		if unsuccessful != "" && c.opts.Flavor == Elasticsearch8 {
			return nil, c.esAuthError(rq, "unable to authenticate with provided credentials and anonymous access is not allowed for this request", unsuccessful, nil)
		}
		return nil, c.esAuthError(rq, "missing authentication credentials for REST request ["+rq.uri+"]", "", nil)
	}
	vals, asked := r.Header[http.CanonicalHeaderKey(headerRunAs)]
	if !asked {
		return p, nil
	}
	target := ""
	if len(vals) > 0 {
		target = vals[0]
	}
	if target == "" {
		// AuthenticatorChain.maybeLookupRunAsUser: an empty run-as name fails authentication
		return nil, c.esAuthError(rq, "unable to authenticate user ["+p.authUser.Name+"] for REST request ["+rq.uri+"]", "", nil)
	}
	runAs := s.user(target)
	if runAs == nil || !p.authUser.mayRunAs(target) {
		return nil, errResp(newErr(403, "security_exception", c.runAsDenied(p, target, esAction(rq.method, rt)), true))
	}
	p.user = runAs
	return p, nil
}

// runAsDenied is the 403 reason of a refused run as: AuthorizationService.denialException
// in Elasticsearch 7, AuthorizationDenialMessages.runAsDenied in 8.
func (c *Cluster) runAsDenied(p *principal, target, action string) string {
	if c.opts.Flavor == Elasticsearch7 {
		return "action [" + action + "] is unauthorized for user [" + p.authUser.Name + "] run as [" + target + "]"
	}
	who := "user [" + p.authUser.Name + "]"
	roles := ""
	if p.apiKey != nil {
		who = "API key id [" + p.apiKey.ID + "] of " + who
	} else {
		rs := slices.Clone(p.authUser.Roles)
		sort.Strings(rs)
		roles = " with effective roles [" + strings.Join(rs, ",") + "]"
	}
	return "action [" + action + "] is unauthorized for " + who + roles + ", because " + who + " is unauthorized to run as [" + target + "]"
}

// esAuthError is a 401 from DefaultAuthenticationFailureHandler.createAuthenticationError:
// a security_exception carrying the realms' WWW-Authenticate challenges, in the body's
// "header" member and as response headers.
func (c *Cluster) esAuthError(rq *request, reason, unsuccessful string, cause *esError) *response {
	challenges := c.esChallenges()
	e := newErr(401, "security_exception", reason, true)
	e.cause = cause
	if unsuccessful != "" {
		e.meta = []metaKV{{k: "additional_unsuccessful_credentials", v: unsuccessful}}
	}
	h := []byte(`"header":{"WWW-Authenticate":`)
	if len(challenges) == 1 {
		// ElasticsearchException.headerToXContent writes one value bare, more as an array
		h = appendJSONString(h, challenges[0])
	} else {
		h = append(h, '[')
		for i, v := range challenges {
			if i > 0 {
				h = append(h, ',')
			}
			h = appendJSONString(h, v)
		}
		h = append(h, ']')
	}
	e.header = append(h, '}')
	resp := errResp(e)
	for _, v := range challenges {
		resp.headers = append(resp.headers, [2]string{"WWW-Authenticate", v})
	}
	return resp
}

// esChallenges are the failure headers x-pack's Security.getFailureHandler collects: the
// basic realms' (8.15 put a comma before charset, elastic/elasticsearch#110906), then
// ApiKey when API keys are enabled. The token service's Bearer challenge needs TLS on
// HTTP, which the emulator does not serve.
func (c *Cluster) esChallenges() []string {
	if c.opts.Flavor == Elasticsearch8 {
		return []string{`Basic realm="security", charset="UTF-8"`, "ApiKey"}
	}
	if len(c.opts.Security.APIKeys) > 0 {
		return []string{`Basic realm="security" charset="UTF-8"`, "ApiKey"}
	}
	return []string{`Basic realm="security" charset="UTF-8"`}
}

// authenticateOS follows the security plugin's BackendRegistry.authenticate with the
// default configuration (one basic auth domain on the internal users, challenge on, no
// anonymous access): any failure to authenticate is the basic challenge; impersonation is
// checked after authentication.
func (c *Cluster) authenticateOS(r *http.Request) (*principal, *response) {
	s := c.opts.Security
	// HTTPHelper.extractCredentials: "basic " (any case), the first colon splits
	u := (*SecurityUser)(nil)
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(strings.ToLower(strings.TrimSpace(auth)), "basic ") {
		fields := strings.Split(strings.TrimSpace(auth), " ")
		if raw, err := base64.StdEncoding.DecodeString(fields[1]); err == nil {
			if name, password, ok := strings.Cut(string(raw), ":"); ok && name != "" {
				if cand := s.user(name); cand != nil && cand.Password == password {
					u = cand
				}
			}
		}
	}
	if u == nil {
		body := ""
		if c.opts.Flavor == OpenSearch3 {
			body = "Unauthorized" // "Ensure that challenge response contains body" (security#4233), 3.0 on
		}
		return nil, &response{status: 401, body: []byte(body), ctype: "text/plain; charset=UTF-8",
			headers: [][2]string{{"WWW-Authenticate", `Basic realm="OpenSearch Security"`}}}
	}
	p := &principal{authUser: u, user: u}
	p.tenant = r.Header.Get("securitytenant")
	if p.tenant == "" {
		p.tenant = r.Header.Get("security_tenant")
	}
	// BackendRegistry.impersonate
	if target := r.Header.Get(headerImpersonate); target != "" {
		if !u.mayRunAs(target) {
			return nil, errResp(newErr(403, "security_exception", "'"+u.Name+"' is not allowed to impersonate as '"+target+"'", true))
		}
		imp := s.user(target)
		if imp == nil {
			return nil, errResp(newErr(403, "security_exception", "No such user:"+target, true))
		}
		p.user = imp
	}
	return p, nil
}

// splitAuth splits an Authorization header into its scheme and credentials.
func splitAuth(h string) (scheme, cred string) {
	scheme, cred, _ = strings.Cut(strings.TrimSpace(h), " ")
	return scheme, strings.TrimSpace(cred)
}

// esActions names the transport action a route's handler runs first, which a refused
// run as names (the run-as check is made when that action is authorized). Routes not
// listed are named by their pattern, marked as the emulator's.
var esActions = map[string]string{
	"GET /":                        "cluster:monitor/main",
	"HEAD /":                       "cluster:monitor/main",
	"POST /_bulk":                  "indices:data/write/bulk",
	"PUT /_bulk":                   "indices:data/write/bulk",
	"POST /{index}/_bulk":          "indices:data/write/bulk",
	"PUT /{index}/_bulk":           "indices:data/write/bulk",
	"PUT /{index}/_doc/{id}":       "indices:data/write/index",
	"POST /{index}/_doc/{id}":      "indices:data/write/index",
	"POST /{index}/_doc":           "indices:data/write/index",
	"PUT /{index}/_create/{id}":    "indices:data/write/index",
	"POST /{index}/_create/{id}":   "indices:data/write/index",
	"DELETE /{index}/_doc/{id}":    "indices:data/write/delete",
	"POST /{index}/_update/{id}":   "indices:data/write/update",
	"GET /{index}/_doc/{id}":       "indices:data/read/get",
	"HEAD /{index}/_doc/{id}":      "indices:data/read/get",
	"GET /{index}/_source/{id}":    "indices:data/read/get",
	"HEAD /{index}/_source/{id}":   "indices:data/read/get",
	"GET /_mget":                   "indices:data/read/mget",
	"POST /_mget":                  "indices:data/read/mget",
	"GET /{index}/_mget":           "indices:data/read/mget",
	"POST /{index}/_mget":          "indices:data/read/mget",
	"GET /_search":                 "indices:data/read/search",
	"POST /_search":                "indices:data/read/search",
	"GET /{index}/_search":         "indices:data/read/search",
	"POST /{index}/_search":        "indices:data/read/search",
	"GET /_count":                  "indices:data/read/search",
	"POST /_count":                 "indices:data/read/search",
	"GET /{index}/_count":          "indices:data/read/search",
	"POST /{index}/_count":         "indices:data/read/search",
	"PUT /{index}":                 "indices:admin/create",
	"DELETE /{index}":              "indices:admin/delete",
	"POST /_refresh":               "indices:admin/refresh",
	"GET /_refresh":                "indices:admin/refresh",
	"POST /{index}/_refresh":       "indices:admin/refresh",
	"GET /{index}/_refresh":        "indices:admin/refresh",
	"GET /_cluster/health":         "cluster:monitor/health",
	"GET /_cluster/health/{index}": "cluster:monitor/health",
	"GET /_security/_authenticate": "cluster:admin/xpack/security/user/authenticate",
}

func esAction(method string, rt *route) string {
	key := method + " /" + strings.Join(rt.segs, "/")
	if a := esActions[key]; a != "" {
		return a
	}
	return "[searchemu] " + key
}

// handleAuthenticate serves Elasticsearch's GET /_security/_authenticate
// (RestAuthenticateAction: the effective user, then the realms that authenticated and
// looked it up, and how; ES 8 adds the API key).
func handleAuthenticate(c *Cluster, rq *request) *response {
	p := rq.principal
	b := []byte(`{"username":`)
	b = appendJSONString(b, p.user.Name)
	b = append(b, `,"roles":[`...)
	roles := p.user.Roles
	if p.apiKey != nil && p.user == p.authUser {
		roles = nil
	}
	for i, r := range roles {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, r)
	}
	b = append(b, `],"full_name":null,"email":null,"metadata":{},"enabled":true`...)
	realm := func(key string, api bool) {
		b = append(b, `,"`+key+`":`...)
		if api {
			b = append(b, `{"name":"_es_api_key","type":"_es_api_key"}`...)
		} else {
			b = append(b, `{"name":"default_file","type":"file"}`...)
		}
	}
	realm("authentication_realm", p.apiKey != nil)
	realm("lookup_realm", p.apiKey != nil && p.user == p.authUser)
	if p.apiKey != nil {
		b = append(b, `,"authentication_type":"api_key"`...)
		if c.opts.Flavor == Elasticsearch8 {
			b = append(b, `,"api_key":{"id":`...)
			b = appendJSONString(b, p.apiKey.ID)
			if p.apiKey.Name != "" {
				b = append(b, `,"name":`...)
				b = appendJSONString(b, p.apiKey.Name)
			}
			b = append(b, '}')
		}
	} else {
		b = append(b, `,"authentication_type":"realm"`...)
	}
	return jsonResp(200, append(b, '}'))
}

// handleAuthinfo serves the OpenSearch security plugin's authinfo API
// (SecurityInfoAction): the effective user, the requested tenant and the address the
// request came from. The emulator's users have their roles as backend roles and as
// security roles, and every user has the global and private tenants.
func handleAuthinfo(c *Cluster, rq *request) *response {
	p := rq.principal
	u := p.user
	tenant := []byte("null")
	if p.tenant != "" {
		tenant = appendJSONString(nil, p.tenant)
	}
	list := func(b []byte, vs []string) []byte {
		b = append(b, '[')
		for i, v := range vs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, v)
		}
		return append(b, ']')
	}
	b := []byte(`{"user":`)
	b = appendJSONString(b, "User [name="+u.Name+", backend_roles=["+strings.Join(u.Roles, ", ")+"], requestedTenant="+string(tenantOrNull(p.tenant))+"]")
	b = append(b, `,"user_name":`...)
	b = appendJSONString(b, u.Name)
	b = append(b, `,"user_requested_tenant":`...)
	b = append(b, tenant...)
	b = append(b, `,"remote_address":`...)
	b = appendJSONString(b, rq.remote)
	b = append(b, `,"backend_roles":`...)
	b = list(b, u.Roles)
	b = append(b, `,"custom_attribute_names":[],"roles":`...)
	b = list(b, u.Roles)
	b = append(b, `,"tenants":{"global_tenant":true,`...)
	b = appendJSONString(b, u.Name)
	b = append(b, `:true},"principal":null,"peer_certificates":"0","sso_logout_url":null}`...)
	return jsonResp(200, b)
}

func tenantOrNull(t string) string {
	if t == "" {
		return "null"
	}
	return t
}

// securityRoutes adds the APIs that say who a request authenticated as, for the flavour.
func (c *Cluster) securityRoutes(rt *router) {
	if c.opts.Security == nil {
		return
	}
	if c.opts.Flavor.elastic() {
		rt.add("GET", "/_security/_authenticate", handleAuthenticate)
		return
	}
	for _, prefix := range []string{"/_plugins/_security", "/_opendistro/_security"} {
		rt.add("GET", prefix+"/authinfo", handleAuthinfo)
		rt.add("POST", prefix+"/authinfo", handleAuthinfo)
	}
}
