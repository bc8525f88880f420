package searchemu

import (
	"sort"
	"strconv"
	"strings"

	"github.com/fanout-dev/fanout/pkg/glob"
)

// Index templates as OpenSearch keeps them (MetadataIndexTemplateService) and applies
// them when an index is created, by PUT /{index} or by a write
// (MetadataCreateIndexService.applyCreateIndexRequest): composable templates
// (_index_template) built from component templates (_component_template), and legacy
// templates (_template), which apply only when no composable template matches.
//
// A composable template's data_stream section makes the indices it matches data streams
// (datastream.go). Not modelled: index.hidden and
// the exclusion of global templates from hidden indices, the _simulate APIs, and the
// Java HashMap order in which several overlapping templates are named in an error
// (they are sorted here).

// templateBody is the "template" section of composable and component templates, and
// the body of a legacy one. A nil map or object is a section not given.
type templateBody struct {
	settings map[string]string // flattened, "index."-prefixed
	mappings *jsonObj          // a typeless root definition
	aliases  map[string]*aliasMeta
}

type composableTemplate struct {
	patterns []string
	body     *templateBody
	// composedOf is nil when neither composed_of nor a template section was given:
	// addIndexTemplateV2 rebuilds a template with a template section, turning a missing
	// composed_of into [].
	composedOf        []string
	priority, version *int64
	meta              any
	// dataStream is the data_stream section's timestamp field; nil without one.
	dataStream *string
}

func (t *composableTemplate) priorityOrZero() int64 {
	if t.priority == nil {
		return 0
	}
	return *t.priority
}

type componentTemplate struct {
	body    *templateBody
	version *int64
	meta    any
}

type legacyTemplate struct {
	patterns []string
	order    int64
	version  *int64
	body     templateBody
}

// templateStore is the cluster's templates, guarded by Cluster.mu.
type templateStore struct {
	v2        map[string]*composableTemplate
	component map[string]*componentTemplate
	legacy    map[string]*legacyTemplate
}

func (s *templateStore) init() {
	if s.v2 == nil {
		s.v2 = map[string]*composableTemplate{}
		s.component = map[string]*componentTemplate{}
		s.legacy = map[string]*legacyTemplate{}
	}
}

const typeInvalidIndexTemplate = "invalid_index_template_exception"

// errInvalidIndexTemplate is InvalidIndexTemplateException.
func errInvalidIndexTemplate(name, cause string) *esError {
	e := newErr(400, typeInvalidIndexTemplate, "index_template ["+name+"] invalid, cause ["+cause+"]", true)
	return e
}

// javaList renders a list as Java's AbstractCollection.toString does.
func javaList(items []string) string { return "[" + strings.Join(items, ", ") + "]" }

// parseTemplateBody parses a Template (settings, mappings, aliases); parser names the
// object for unknown-field errors as ObjectParser does.
func parseTemplateBody(v any, src []byte, off int) (*templateBody, *esError) {
	o, ok := v.(*jsonObj)
	if !ok {
		return nil, newErr(400, typeXContentParse, "["+locString(src, off)+"] [template] template doesn't support values of type: "+tokenOf(v), false)
	}
	b := &templateBody{}
	for _, m := range o.m {
		switch m.k {
		case "settings":
			so, ok := m.v.(*jsonObj)
			if !ok {
				return nil, newErr(400, typeXContentParse, "["+locString(src, m.voff)+"] [template] failed to parse field [settings]", false)
			}
			b.settings = map[string]string{}
			flattenSettings("", so, b.settings)
		case "mappings":
			mo, ok := m.v.(*jsonObj)
			if !ok {
				return nil, newErr(400, typeXContentParse, "["+locString(src, m.voff)+"] [template] failed to parse field [mappings]", false)
			}
			if isTypedMapping(mo) {
				inner, _ := mo.m[0].v.(*jsonObj)
				if inner == nil {
					inner = &jsonObj{}
				}
				mo = inner
			}
			b.mappings = mo
		case "aliases":
			al, err := parseAliases(m.v)
			if err != nil {
				return nil, err
			}
			b.aliases = al
		default:
			return nil, newErr(400, typeXContentParse, "["+locString(src, m.koff)+"] [template] unknown field ["+m.k+"]", false)
		}
	}
	return b, nil
}

// stringArray reads a field ObjectParser declares as a string array: an array of
// strings, or one string.
func stringArray(v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		return []string{x}, true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// templateNameErrors are MetadataIndexTemplateService.validate's checks of a template's
// name and index patterns.
func templateNameErrors(name string, patterns []string) []string {
	var errs []string
	if strings.Contains(name, " ") {
		errs = append(errs, "name must not contain a space")
	}
	if strings.Contains(name, ",") {
		errs = append(errs, "name must not contain a ','")
	}
	if strings.Contains(name, "#") {
		errs = append(errs, "name must not contain a '#'")
	}
	if strings.Contains(name, "*") {
		errs = append(errs, "name must not contain a '*'")
	}
	if strings.HasPrefix(name, "_") {
		errs = append(errs, "name must not start with '_'")
	}
	if strings.ToLower(name) != name {
		errs = append(errs, "name must be lower cased")
	}
	for _, p := range patterns {
		if strings.Contains(p, " ") {
			errs = append(errs, "index_patterns ["+p+"] must not contain a space")
		}
		if strings.Contains(p, ",") {
			errs = append(errs, "index_pattern ["+p+"] must not contain a ','")
		}
		if strings.Contains(p, "#") {
			errs = append(errs, "index_pattern ["+p+"] must not contain a '#'")
		}
		if strings.Contains(p, ":") {
			errs = append(errs, "index_pattern ["+p+"] must not contain a ':'")
		}
		if strings.HasPrefix(p, "_") {
			errs = append(errs, "index_pattern ["+p+"] must not start with '_'")
		}
		if strings.ContainsAny(p, "\\/?\"<>| ,") {
			errs = append(errs, "index_pattern ["+p+"] must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]")
		}
	}
	return errs
}

// settingsErrors validates template settings as index creation would, returning the
// messages MetadataIndexTemplateService collects.
func settingsErrors(s map[string]string) []string {
	if len(s) == 0 {
		return nil
	}
	var k indexKnobs
	if err := k.apply(s); err != nil {
		return []string{err.reason}
	}
	return nil
}

// validateTemplate runs the name, pattern, settings and alias checks of
// MetadataIndexTemplateService.validate.
func validateTemplate(reg *settingsRegistry, name string, patterns []string, body *templateBody) *esError {
	errs := templateNameErrors(name, patterns)
	if body != nil && len(body.settings) > 0 {
		keys := sortedKeys(body.settings)
		if err := reg.validate(keys, body.settings, false); err != nil {
			errs = append(errs, err.messages()...)
		}
		errs = append(errs, reg.privateErrors(keys)...)
		errs = append(errs, settingsErrors(body.settings)...)
	}
	if len(errs) > 0 {
		return errInvalidIndexTemplate(name, errValidation(errs).reason)
	}
	if body != nil {
		for _, a := range sortedKeys(body.aliases) {
			for _, p := range patterns {
				if p == a {
					return errIllegalArg("alias [" + a + "] cannot be the same as any pattern in [" + strings.Join(patterns, ", ") + "]")
				}
			}
		}
	}
	return nil
}

// patternsOverlap reports whether some index name matches a pattern of a and one of b
// (Regex.simpleMatchToAutomaton intersected, as findConflictingV2Templates does).
func patternsOverlap(a, b []string) bool {
	for _, p := range a {
		for _, q := range b {
			if globsIntersect(p, q) {
				return true
			}
		}
	}
	return false
}

// globsIntersect reports whether two '*'-patterns match a common string: a search over
// pairs of positions, where a '*' may match nothing or swallow the other's next
// character.
func globsIntersect(p, q string) bool {
	type pos struct{ i, j int }
	seen := map[pos]bool{}
	stack := []pos{{0, 0}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[s] {
			continue
		}
		seen[s] = true
		if s.i == len(p) && s.j == len(q) {
			return true
		}
		pStar := s.i < len(p) && p[s.i] == '*'
		qStar := s.j < len(q) && q[s.j] == '*'
		if pStar {
			stack = append(stack, pos{s.i + 1, s.j})
			if s.j < len(q) {
				stack = append(stack, pos{s.i, s.j + 1})
			}
		}
		if qStar {
			stack = append(stack, pos{s.i, s.j + 1})
			if s.i < len(p) {
				stack = append(stack, pos{s.i + 1, s.j})
			}
		}
		if !pStar && !qStar && s.i < len(p) && s.j < len(q) && p[s.i] == q[s.j] {
			stack = append(stack, pos{s.i + 1, s.j + 1})
		}
	}
	return false
}

func matchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if glob.Match(p, name) {
			return true
		}
	}
	return false
}

// v2TemplateFor is findV2Template: the highest-priority composable template matching
// name, "" for none. Two matching templates never share a priority: PUT refuses that.
func (s *templateStore) v2TemplateFor(name string) string {
	best, bestP := "", int64(0)
	for _, n := range sortedKeys(s.v2) {
		t := s.v2[n]
		if !matchesAny(t.patterns, name) {
			continue
		}
		if best == "" || t.priorityOrZero() > bestP {
			best, bestP = n, t.priorityOrZero()
		}
	}
	return best
}

// v1TemplatesFor is findV1Templates: the legacy templates matching name, highest order
// first (ties by name, where the server's order is its map's).
func (s *templateStore) v1TemplatesFor(name string) []*legacyTemplate {
	var out []*legacyTemplate
	for _, n := range sortedKeys(s.legacy) {
		if t := s.legacy[n]; matchesAny(t.patterns, name) {
			out = append(out, t)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].order > out[j].order })
	return out
}

// composition lists the template bodies of a composable template in order of
// precedence, lowest first: its component templates, then its own section.
func (s *templateStore) composition(t *composableTemplate) []*templateBody {
	var out []*templateBody
	for _, ct := range t.composedOf {
		if c := s.component[ct]; c != nil && c.body != nil {
			out = append(out, c.body)
		}
	}
	if t.body != nil {
		out = append(out, t.body)
	}
	return out
}

// applyTemplates returns the creation request for index name with the templates that
// match it applied (applyCreateIndexRequestWithV2Template / WithV1Templates): template
// settings under the request's, template mappings merged under the request's, and
// template aliases after the request's. req may be nil (an index a write creates).
func (c *Cluster) applyTemplatesLocked(name string, req *createIndexReq) (*createIndexReq, *esError) {
	s := &c.templates
	s.init()
	var bodies []*templateBody // lowest precedence first
	lookup := name
	if req != nil && req.dataStream != "" {
		lookup = req.dataStream
	}
	v2 := s.v2TemplateFor(lookup)
	var v1 []*legacyTemplate
	if v2 != "" {
		bodies = s.composition(s.v2[v2])
	} else {
		v1 = s.v1TemplatesFor(name)
		if len(v1) == 0 {
			return req, nil
		}
	}
	out := &createIndexReq{settings: map[string]string{}, aliases: map[string]*aliasMeta{}}
	var requestMapping *jsonObj
	if req != nil {
		requestMapping = req.mappingDef
	}
	var merged *jsonObj
	if v2 != "" {
		merged = &jsonObj{}
		for _, b := range bodies {
			for k, v := range b.settings {
				out.settings[k] = v
			}
			if b.mappings != nil {
				if err := mergeTemplateMapping(merged, b.mappings, ""); err != nil {
					return nil, err
				}
			}
		}
		if requestMapping != nil {
			if err := mergeTemplateMapping(merged, requestMapping, ""); err != nil {
				return nil, err
			}
		}
	} else {
		// resolveSettings(templates): the lowest order first, higher orders override.
		for i := len(v1) - 1; i >= 0; i-- {
			for k, v := range v1[i].body.settings {
				out.settings[k] = v
			}
		}
		// The request's mapping first, each template's merged in as defaults, the
		// highest order first (XContentHelper.mergeDefaults).
		merged = &jsonObj{}
		if requestMapping != nil {
			merged = deepCopy(requestMapping).(*jsonObj)
		}
		for _, t := range v1 {
			if t.body.mappings != nil {
				mergeDefaults(merged, t.body.mappings)
			}
		}
		for _, t := range v1 {
			bodies = append([]*templateBody{&t.body}, bodies...)
		}
	}
	if req != nil {
		for k, v := range req.settings {
			out.settings[k] = v
		}
		for k, v := range req.aliases {
			out.aliases[k] = v
		}
	}
	// Aliases: the request's, then the templates' from the highest precedence down; the
	// first definition of a name wins.
	for i := len(bodies) - 1; i >= 0; i-- {
		if len(bodies[i].aliases) > 0 && req != nil && req.dataStream != "" {
			return nil, errIllegalArg("[searchemu] aliases in the templates of data stream [" + req.dataStream + "] are not supported")
		}
		for k, v := range bodies[i].aliases {
			if _, ok := out.aliases[k]; !ok {
				cp := *v
				out.aliases[k] = &cp
			}
		}
	}
	if len(merged.m) > 0 {
		mp, err := parseMappingDef(merged)
		if err != nil {
			return nil, errMapperParsing("Failed to parse mapping [_doc]: "+err.reason, err)
		}
		out.mapping, out.mappingDef = mp, merged
	}
	return out, nil
}

// isObjectField reports whether a field definition is an object mapper: it has
// properties, or an object or nested type, or no type at all.
func isObjectField(def *jsonObj) bool {
	if _, ok := def.get("properties"); ok {
		return true
	}
	t, ok := def.get("type")
	if !ok {
		return true
	}
	return t == "object" || t == "nested"
}

// mergeTemplateMapping merges src into dst as MapperService.merge with
// MergeReason.INDEX_TEMPLATE does: object fields merge, a leaf field's definition
// replaces an earlier one, and a leaf cannot become an object or the reverse.
func mergeTemplateMapping(dst, src *jsonObj, path string) *esError {
	for _, m := range src.m {
		if m.k != "properties" {
			dst.set(m.k, deepCopy(m.v))
			continue
		}
		sp, ok := m.v.(*jsonObj)
		if !ok {
			dst.set(m.k, deepCopy(m.v))
			continue
		}
		dv, _ := dst.get("properties")
		dp, ok := dv.(*jsonObj)
		if !ok {
			dp = &jsonObj{}
			dst.set("properties", dp)
		}
		for _, f := range sp.m {
			full := f.k
			if path != "" {
				full = path + "." + f.k
			}
			sf, sok := f.v.(*jsonObj)
			cur, exists := dp.get(f.k)
			df, dok := cur.(*jsonObj)
			if !exists || !sok || !dok {
				dp.set(f.k, deepCopy(f.v))
				continue
			}
			switch so, do := isObjectField(sf), isObjectField(df); {
			case so && do:
				if err := mergeTemplateMapping(df, sf, full); err != nil {
					return err
				}
			case so != do:
				return errIllegalArg("can't merge a non object mapping [" + full + "] with an object mapping")
			default:
				dp.set(f.k, deepCopy(f.v))
			}
		}
	}
	return nil
}

// mergeDefaults is XContentHelper.mergeDefaults: what defaults has and content lacks is
// added, objects present in both are merged the same way, and content wins elsewhere.
func mergeDefaults(content, defaults *jsonObj) {
	for _, m := range defaults.m {
		cur, ok := content.get(m.k)
		if !ok {
			content.set(m.k, deepCopy(m.v))
			continue
		}
		co, cok := cur.(*jsonObj)
		do, dok := m.v.(*jsonObj)
		if cok && dok {
			mergeDefaults(co, do)
		}
	}
}

// appendTemplateBody renders a Template: the sections given, mappings without _doc.
func appendTemplateBody(b []byte, t *templateBody, flat bool) []byte {
	b = append(b, '{')
	first := true
	sep := func(k string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, k)
		b = append(b, ':')
	}
	if t.settings != nil {
		sep("settings")
		b = appendSettings(b, t.settings, flat)
	}
	if t.mappings != nil && len(t.mappings.m) > 0 {
		sep("mappings")
		b = appendCanonical(b, t.mappings)
	}
	if t.aliases != nil {
		sep("aliases")
		b = appendAliases(b, t.aliases)
	}
	return append(b, '}')
}

func appendStringList(b []byte, items []string) []byte {
	b = append(b, '[')
	for i, s := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// handlePutIndexTemplate serves PUT|POST /_index_template/{name}
// (RestPutComposableIndexTemplateAction → MetadataIndexTemplateService.putIndexTemplateV2).
func handlePutIndexTemplate(c *Cluster, rq *request) *response {
	name := rq.path["name"]
	create, perr := rq.paramBool("create", false)
	if perr != nil {
		return errResp(perr)
	}
	if len(rq.body) == 0 {
		return errResp(errBodyRequired())
	}
	root, err := parseContentMap(rq.body)
	if err != nil {
		return errResp(err)
	}
	t := &composableTemplate{}
	hasPatterns := false
	for _, m := range root.m {
		bad := func() *response {
			return errResp(newErr(400, typeXContentParse, "["+locString(rq.body, m.voff)+"] [index_template] failed to parse field ["+m.k+"]", false))
		}
		switch m.k {
		case "index_patterns":
			p, ok := stringArray(m.v)
			if !ok {
				return bad()
			}
			t.patterns, hasPatterns = p, true
		case "template":
			body, err := parseTemplateBody(m.v, rq.body, m.voff)
			if err != nil {
				return errResp(err)
			}
			t.body = body
		case "composed_of":
			p, ok := stringArray(m.v)
			if !ok {
				return bad()
			}
			t.composedOf = p
		case "priority", "version":
			n, ok := longValue(m.v)
			if !ok {
				return bad()
			}
			if m.k == "priority" {
				t.priority = &n
			} else {
				t.version = &n
			}
		case "_meta":
			if _, ok := m.v.(*jsonObj); !ok {
				return bad()
			}
			t.meta = m.v
		case "data_stream":
			if c.opts.Flavor.elastic() {
				// Elasticsearch's data streams (hidden, allow_custom_routing, lifecycles…)
				// differ from OpenSearch's, which are the ones modelled
				return errResp(errIllegalArg("[searchemu] data streams are modelled for the OpenSearch flavours only: index template [" + name + "] with [data_stream] is not supported"))
			}
			ts, err := parseDataStreamTemplate(m.v, rq.body, m.voff)
			if err != nil {
				return errResp(err)
			}
			t.dataStream = &ts
		default:
			return errResp(newErr(400, typeXContentParse, "["+locString(rq.body, m.koff)+"] [index_template] unknown field ["+m.k+"]", false))
		}
	}
	if !hasPatterns {
		return errResp(errIllegalArg("Required [index_patterns]"))
	}
	if t.body != nil && t.composedOf == nil {
		t.composedOf = []string{}
	}
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.templates
	s.init()
	// validateV2TemplateRequest, before the cluster state task
	var missing []string
	for _, ct := range t.composedOf {
		if _, ok := s.component[ct]; !ok {
			missing = append(missing, ct)
		}
	}
	if len(missing) > 0 {
		return errResp(errInvalidIndexTemplate(name, "index template ["+name+"] specifies component templates "+javaList(missing)+" that do not exist"))
	}
	// addIndexTemplateV2
	if _, exists := s.v2[name]; create && exists {
		return errResp(errIllegalArg("index template [" + name + "] already exists"))
	}
	var overlaps []string
	for _, n := range sortedKeys(s.v2) {
		o := s.v2[n]
		if n != name && o.priorityOrZero() == t.priorityOrZero() && patternsOverlap(t.patterns, o.patterns) {
			overlaps = append(overlaps, n)
		}
	}
	if len(overlaps) > 0 {
		parts := make([]string, len(overlaps))
		for i, n := range overlaps {
			parts[i] = n + " => " + javaList(s.v2[n].patterns)
		}
		return errResp(errIllegalArg("index template [" + name + "] has index patterns " + javaList(t.patterns) +
			" matching patterns from existing templates [" + strings.Join(overlaps, ",") + "] with patterns (" + strings.Join(parts, ",") +
			") that have the same priority [" + strconv.FormatInt(t.priorityOrZero(), 10) + "], multiple index templates may not match during index creation, please use a different priority"))
	}
	var headers [][2]string
	var v1 []string
	for _, n := range sortedKeys(s.legacy) {
		if patternsOverlap(t.patterns, s.legacy[n].patterns) {
			v1 = append(v1, n)
		}
	}
	if len(v1) > 0 {
		parts := make([]string, len(v1))
		for i, n := range v1 {
			parts[i] = n + " => " + javaList(s.legacy[n].patterns)
		}
		headers = append(headers, [2]string{"Warning", c.warning("index template [" + name + "] has index patterns " + javaList(t.patterns) +
			" matching patterns from existing older templates [" + strings.Join(v1, ",") + "] with patterns (" + strings.Join(parts, ",") +
			"); this template [" + name + "] will take precedence during new index creation")})
	}
	if err := validateTemplate(c.settings, name, t.patterns, t.body); err != nil {
		return errResp(err)
	}
	// validateCompositeTemplate: the composition must make a valid index.
	if err := s.validateComposition(name, t); err != nil {
		return errResp(err)
	}
	s.v2[name] = t
	return &response{status: 200, body: []byte(`{"acknowledged":true}`), headers: headers}
}

// validateComposition checks that a composable template with its component templates
// gives valid settings and mappings (validateCompositeTemplate).
func (s *templateStore) validateComposition(name string, t *composableTemplate) *esError {
	settings := map[string]string{}
	merged := &jsonObj{}
	var mergeErr *esError
	for _, b := range s.composition(t) {
		for k, v := range b.settings {
			settings[k] = v
		}
		if b.mappings != nil && mergeErr == nil {
			mergeErr = mergeTemplateMapping(merged, b.mappings, "")
		}
	}
	wrap := func(cause *esError) *esError {
		with := ""
		if len(t.composedOf) > 0 {
			with = "with component templates " + javaList(t.composedOf) + " "
		}
		e := errIllegalArg("composable template [" + name + "] template after composition " + with + "is invalid")
		e.cause = cause
		return e
	}
	var k indexKnobs
	if err := k.apply(settings); err != nil {
		return wrap(err)
	}
	if mergeErr == nil && len(merged.m) > 0 {
		_, mergeErr = parseMappingDef(merged)
	}
	if mergeErr != nil {
		inner := errIllegalArg("invalid composite mappings for [" + name + "]")
		inner.cause = mergeErr
		return wrap(inner)
	}
	return nil
}

// selectTemplates picks the templates a GET or HEAD of the composable or component
// APIs asks for: all of them, the one named, or those a pattern matches. A plain name
// that names none is a 404 (resource_not_found_exception, "<what> matching [name] not
// found"); a HEAD is answered here, by whether any was found.
func selectTemplates(keys []string, rq *request, what string) ([]string, *response) {
	name, named := rq.path["name"]
	var names []string
	for _, n := range keys {
		if !named || n == name || (strings.Contains(name, "*") && glob.Match(name, n)) {
			names = append(names, n)
		}
	}
	if named && !strings.Contains(name, "*") && len(names) == 0 {
		return nil, errResp(newErr(404, typeResourceNotFound, what+" matching ["+name+"] not found", true))
	}
	if rq.method == "HEAD" {
		if len(names) == 0 {
			return nil, &response{status: 404}
		}
		return nil, &response{status: 200}
	}
	return names, nil
}

// handleGetIndexTemplate serves GET /_index_template[/{name}]
// (TransportGetComposableIndexTemplateAction): a name that is not a pattern and names
// no template is a 404.
func handleGetIndexTemplate(c *Cluster, rq *request) *response {
	flat, _ := rq.paramBool("flat_settings", false)
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := &c.templates
	names, early := selectTemplates(sortedKeys(s.v2), rq, "index template")
	if early != nil {
		return early
	}
	b := []byte(`{"index_templates":[`)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		t := s.v2[n]
		b = append(b, `{"name":`...)
		b = appendJSONString(b, n)
		b = append(b, `,"index_template":{"index_patterns":`...)
		b = appendStringList(b, t.patterns)
		if t.body != nil {
			b = append(b, `,"template":`...)
			b = appendTemplateBody(b, t.body, flat)
		}
		if t.composedOf != nil {
			b = append(b, `,"composed_of":`...)
			b = appendStringList(b, t.composedOf)
		}
		if t.priority != nil {
			b = append(b, `,"priority":`...)
			b = strconv.AppendInt(b, *t.priority, 10)
		}
		if t.version != nil {
			b = append(b, `,"version":`...)
			b = strconv.AppendInt(b, *t.version, 10)
		}
		if t.meta != nil {
			b = append(b, `,"_meta":`...)
			b = appendCanonical(b, t.meta)
		}
		if t.dataStream != nil {
			b = append(b, `,"data_stream":{"timestamp_field":{"name":`...)
			b = appendJSONString(b, *t.dataStream)
			b = append(b, "}}"...)
		}
		b = append(b, "}}"...)
	}
	return jsonResp(200, append(b, "]}"...))
}

// handleDeleteIndexTemplate serves DELETE /_index_template/{name}
// (innerRemoveIndexTemplateV2): a pattern may remove several; none matching is a 404
// unless the name is a match-all pattern.
func handleDeleteIndexTemplate(c *Cluster, rq *request) *response {
	name := rq.path["name"]
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.templates
	s.init()
	var names []string
	for _, n := range sortedKeys(s.v2) {
		if glob.Match(name, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 && name != "*" && name != "_all" {
		return errResp(errTemplateMissing(name))
	}
	if used := c.templatesInUseLocked(names); len(used) > 0 {
		return errResp(errIllegalArg("unable to remove composable templates " + javaList(names) + " as they are in use by a data streams " + javaList(used)))
	}
	for _, n := range names {
		delete(s.v2, n)
	}
	return jsonResp(200, []byte(`{"acknowledged":true}`))
}

// errTemplateMissing is IndexTemplateMissingException.
func errTemplateMissing(name string) *esError {
	return newErr(404, "index_template_missing_exception", "index_template ["+name+"] missing", true)
}

// handlePutComponentTemplate serves PUT|POST /_component_template/{name}
// (ComponentTemplate.PARSER → MetadataIndexTemplateService.addComponentTemplate).
func handlePutComponentTemplate(c *Cluster, rq *request) *response {
	name := rq.path["name"]
	create, perr := rq.paramBool("create", false)
	if perr != nil {
		return errResp(perr)
	}
	if len(rq.body) == 0 {
		return errResp(errBodyRequired())
	}
	root, err := parseContentMap(rq.body)
	if err != nil {
		return errResp(err)
	}
	ct := &componentTemplate{}
	hasTemplate := false
	for _, m := range root.m {
		switch m.k {
		case "template":
			body, err := parseTemplateBody(m.v, rq.body, m.voff)
			if err != nil {
				return errResp(err)
			}
			ct.body, hasTemplate = body, true
		case "version":
			n, ok := longValue(m.v)
			if !ok {
				return errResp(newErr(400, typeXContentParse, "["+locString(rq.body, m.voff)+"] [component_template] failed to parse field [version]", false))
			}
			ct.version = &n
		case "_meta":
			if _, ok := m.v.(*jsonObj); !ok {
				return errResp(newErr(400, typeXContentParse, "["+locString(rq.body, m.voff)+"] [component_template] failed to parse field [_meta]", false))
			}
			ct.meta = m.v
		default:
			return errResp(newErr(400, typeXContentParse, "["+locString(rq.body, m.koff)+"] [component_template] unknown field ["+m.k+"]", false))
		}
	}
	if !hasTemplate {
		return errResp(errIllegalArg("Required [template]"))
	}
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.templates
	s.init()
	if _, exists := s.component[name]; create && exists {
		return errResp(errIllegalArg("component template [" + name + "] already exists"))
	}
	// TransportPutComponentTemplateAction validates the settings before the template
	// service does, so an unknown one is its own error
	if ct.body != nil {
		if err := c.settings.validate(sortedKeys(ct.body.settings), ct.body.settings, false); err != nil {
			return errResp(err)
		}
	}
	if err := validateTemplate(c.settings, name, nil, ct.body); err != nil {
		return errResp(err)
	}
	if ct.body.mappings != nil && len(ct.body.mappings.m) > 0 {
		if _, err := parseMappingDef(ct.body.mappings); err != nil {
			return errResp(errMapperParsing("Failed to parse mapping [_doc]: "+err.reason, err))
		}
	}
	// Every composable template using it must stay valid.
	prev, had := s.component[name]
	s.component[name] = ct
	for _, n := range sortedKeys(s.v2) {
		t := s.v2[n]
		uses := false
		for _, x := range t.composedOf {
			uses = uses || x == name
		}
		if !uses {
			continue
		}
		if err := s.validateComposition(n, t); err != nil {
			if had {
				s.component[name] = prev
			} else {
				delete(s.component, name)
			}
			e := errIllegalArg("updating component template [" + name + "] results in invalid composable template [" + n + "] after templates are merged")
			e.cause = err
			return errResp(e)
		}
	}
	return jsonResp(200, []byte(`{"acknowledged":true}`))
}

// handleGetComponentTemplate serves GET|HEAD /_component_template[/{name}].
func handleGetComponentTemplate(c *Cluster, rq *request) *response {
	flat, _ := rq.paramBool("flat_settings", false)
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := &c.templates
	names, early := selectTemplates(sortedKeys(s.component), rq, "component template")
	if early != nil {
		return early
	}
	b := []byte(`{"component_templates":[`)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		ct := s.component[n]
		b = append(b, `{"name":`...)
		b = appendJSONString(b, n)
		b = append(b, `,"component_template":{"template":`...)
		b = appendTemplateBody(b, ct.body, flat)
		if ct.version != nil {
			b = append(b, `,"version":`...)
			b = strconv.AppendInt(b, *ct.version, 10)
		}
		if ct.meta != nil {
			b = append(b, `,"_meta":`...)
			b = appendCanonical(b, ct.meta)
		}
		b = append(b, "}}"...)
	}
	return jsonResp(200, append(b, "]}"...))
}

// handleDeleteComponentTemplate serves DELETE /_component_template/{name}: one still
// used by a composable template is refused (validateNotInUse).
func handleDeleteComponentTemplate(c *Cluster, rq *request) *response {
	name := rq.path["name"]
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.templates
	s.init()
	matching := map[string]bool{}
	for n := range s.component {
		if glob.Match(name, n) {
			matching[n] = true
		}
	}
	var used, users []string
	for _, n := range sortedKeys(s.v2) {
		hit := false
		for _, ct := range s.v2[n].composedOf {
			if matching[ct] {
				hit = true
				used = append(used, ct)
			}
		}
		if hit {
			users = append(users, n)
		}
	}
	if len(users) > 0 {
		sort.Strings(used)
		return errResp(errIllegalArg("component templates " + javaList(dedup(used)) + " cannot be removed as they are still in use by index templates " + javaList(users)))
	}
	if len(matching) == 0 {
		if name == "*" || name == "_all" {
			return jsonResp(200, []byte(`{"acknowledged":true}`))
		}
		return errResp(errTemplateMissing(name))
	}
	for n := range matching {
		delete(s.component, n)
	}
	return jsonResp(200, []byte(`{"acknowledged":true}`))
}

func dedup(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// handlePutLegacyTemplate serves PUT|POST /_template/{name} (RestPutIndexTemplateAction,
// PutIndexTemplateRequest.source, MetadataIndexTemplateService.putTemplate).
func handlePutLegacyTemplate(c *Cluster, rq *request) *response {
	name := rq.path["name"]
	create, perr := rq.paramBool("create", false)
	if perr != nil {
		return errResp(perr)
	}
	order, _, perr := rq.paramLong("order", 0)
	if perr != nil {
		return errResp(perr)
	}
	if len(rq.body) == 0 {
		return errResp(errBodyRequired())
	}
	root, err := parseContentMap(rq.body)
	if err != nil {
		return errResp(err)
	}
	t := &legacyTemplate{order: order, body: templateBody{settings: map[string]string{}, aliases: map[string]*aliasMeta{}}}
	for _, m := range root.m {
		switch m.k {
		case "template", "index_patterns":
			p, ok := stringArray(m.v)
			if !ok || (m.k == "template" && len(p) != 1) {
				return errResp(errIllegalArg("Malformed [index_patterns] value, should be a string or a list of strings"))
			}
			t.patterns = p
		case "order":
			// XContentMapValues.nodeIntegerValue: a number, or Integer.parseInt of the text
			n, ok := longValue(m.v)
			if !ok {
				return errResp(newErr(400, "number_format_exception", "For input string: \""+javaToString(m.v)+"\"", false))
			}
			t.order = n
		case "version":
			n, ok := m.v.(jsonNum)
			v, isInt := n.int64()
			if !ok || !isInt || v != int64(int32(v)) {
				return errResp(errIllegalArg("Malformed [version] value, should be an integer"))
			}
			t.version = &v
		case "settings":
			so, ok := m.v.(*jsonObj)
			if !ok {
				return errResp(errIllegalArg("Malformed [settings] section, should include an inner object"))
			}
			flattenSettings("", so, t.body.settings)
		case "mappings":
			mo, ok := m.v.(*jsonObj)
			if !ok {
				return errResp(errIllegalArg("Malformed [mappings] section, should include an inner object describing the mapping"))
			}
			if isTypedMapping(mo) {
				return errResp(errIllegalArg("The mapping definition cannot be nested under a type [_doc] unless include_type_name is set to true."))
			}
			t.body.mappings = mo
		case "aliases":
			al, err := parseAliases(m.v)
			if err != nil {
				return errResp(err)
			}
			t.body.aliases = al
		default:
			return errResp(newErr(400, "parse_exception", "unknown key ["+m.k+"] in the template ", true))
		}
	}
	if len(t.patterns) == 0 {
		return errResp(errValidation([]string{"index patterns are missing"}))
	}
	// TransportPutIndexTemplateAction validates the settings before the template service
	// does, so an unknown one is its own error
	if err := c.settings.validate(sortedKeys(t.body.settings), t.body.settings, false); err != nil {
		return errResp(err)
	}
	if err := validateTemplate(c.settings, name, t.patterns, &t.body); err != nil {
		return errResp(err)
	}
	if t.body.mappings != nil && len(t.body.mappings.m) > 0 {
		if _, err := parseMappingDef(t.body.mappings); err != nil {
			return errResp(errMapperParsing("Failed to parse mapping [_doc]: "+err.reason, err))
		}
	}
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.templates
	s.init()
	if _, exists := s.legacy[name]; create && exists {
		return errResp(errIllegalArg("index_template [" + name + "] already exists"))
	}
	var headers [][2]string
	var v2 []string
	for _, n := range sortedKeys(s.v2) {
		if patternsOverlap(t.patterns, s.v2[n].patterns) {
			v2 = append(v2, n)
		}
	}
	if len(v2) > 0 {
		parts := make([]string, len(v2))
		for i, n := range v2 {
			parts[i] = n + " => " + javaList(s.v2[n].patterns)
		}
		headers = append(headers, [2]string{"Warning", c.warning("legacy template [" + name + "] has index patterns " + javaList(t.patterns) +
			" matching patterns from existing composable templates [" + strings.Join(v2, ",") + "] with patterns (" + strings.Join(parts, ",") +
			"); this template [" + name + "] may be ignored in favor of a composable template at index creation time")})
	}
	s.legacy[name] = t
	return &response{status: 200, body: []byte(`{"acknowledged":true}`), headers: headers}
}

// handleGetLegacyTemplate serves GET|HEAD /_template[/{name}] (RestGetIndexTemplateAction):
// names may be a comma list with wildcards; none found for a given name is a 404 with
// an empty object.
func handleGetLegacyTemplate(c *Cluster, rq *request) *response {
	name, named := rq.path["name"]
	flat, _ := rq.paramBool("flat_settings", false)
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := &c.templates
	var names []string
	for _, n := range sortedKeys(s.legacy) {
		if !named {
			names = append(names, n)
			continue
		}
		for _, p := range strings.Split(name, ",") {
			if p == n || glob.Match(p, n) {
				names = append(names, n)
				break
			}
		}
	}
	status := 200
	if named && len(names) == 0 {
		status = 404
	}
	if rq.method == "HEAD" {
		return &response{status: status}
	}
	b := []byte{'{'}
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		t := s.legacy[n]
		b = appendJSONString(b, n)
		b = append(b, `:{"order":`...)
		b = strconv.AppendInt(b, t.order, 10)
		if t.version != nil {
			b = append(b, `,"version":`...)
			b = strconv.AppendInt(b, *t.version, 10)
		}
		b = append(b, `,"index_patterns":`...)
		b = appendStringList(b, t.patterns)
		b = append(b, `,"settings":`...)
		b = appendSettings(b, t.body.settings, flat)
		b = append(b, `,"mappings":`...)
		if t.body.mappings != nil {
			b = appendCanonical(b, t.body.mappings)
		} else {
			b = append(b, "{}"...)
		}
		b = append(b, `,"aliases":`...)
		b = appendAliases(b, t.body.aliases)
		b = append(b, '}')
	}
	return jsonResp(status, append(b, '}'))
}

// handleDeleteLegacyTemplate serves DELETE /_template/{name}
// (MetadataIndexTemplateService.removeTemplates): a pattern may remove several; none
// matching is a 404 unless the name is a match-all pattern.
func handleDeleteLegacyTemplate(c *Cluster, rq *request) *response {
	name := rq.path["name"]
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.templates
	s.init()
	var names []string
	for n := range s.legacy {
		if glob.Match(name, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 && name != "*" {
		return errResp(errTemplateMissing(name))
	}
	for _, n := range names {
		delete(s.legacy, n)
	}
	return jsonResp(200, []byte(`{"acknowledged":true}`))
}

// templateRoutes registers the template APIs.
func templateRoutes(rt *router) {
	cm := []string{"master_timeout", "cluster_manager_timeout"}
	get := withParams(cm, "local", "flat_settings")
	for _, m := range []string{"PUT", "POST"} {
		rt.add(m, "/_index_template/{name}", handlePutIndexTemplate, withParams(cm, "create", "cause")...)
		rt.add(m, "/_component_template/{name}", handlePutComponentTemplate, withParams(cm, "create", "timeout")...)
		rt.add(m, "/_template/{name}", handlePutLegacyTemplate, withParams(cm, "create", "cause", "order", "timeout")...)
	}
	for _, m := range []string{"GET", "HEAD"} {
		rt.add(m, "/_index_template", handleGetIndexTemplate, get...)
		rt.add(m, "/_index_template/{name}", handleGetIndexTemplate, get...)
		rt.add(m, "/_component_template", handleGetComponentTemplate, get...)
		rt.add(m, "/_component_template/{name}", handleGetComponentTemplate, get...)
		rt.add(m, "/_template", handleGetLegacyTemplate, get...)
		rt.add(m, "/_template/{name}", handleGetLegacyTemplate, get...)
	}
	rt.add("DELETE", "/_index_template/{name}", handleDeleteIndexTemplate, cm...)
	rt.add("DELETE", "/_component_template/{name}", handleDeleteComponentTemplate, withParams(cm, "timeout")...)
	rt.add("DELETE", "/_template/{name}", handleDeleteLegacyTemplate, withParams(cm, "timeout")...)
}
