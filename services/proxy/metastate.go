package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// Reading the primary's metadata, for a client's metadata request (metadata.go): with
// the client's credentials in passthrough mode (requestOnBehalf), JSON, each object's
// whole state as the primary's GET APIs answer it.

// maxExprPath bounds the joined names of one read: OpenSearch refuses request lines
// over http.max_initial_line_length (4 KiB by default), so a long list of names is read
// in several requests.
const maxExprPath = 2048

// escapeExpr escapes one index, alias or template expression for a path segment,
// keeping the '*' and ',' the primary reads as wildcards and separators.
func escapeExpr(s string) string {
	e := url.PathEscape(s)
	return strings.NewReplacer("%2A", "*", "%2C", ",").Replace(e)
}

// chunkExprs joins expressions into comma-separated path segments of at most
// maxExprPath bytes each (one expression longer than that goes alone).
func chunkExprs(exprs []string) []string {
	var out []string
	var b strings.Builder
	for _, x := range exprs {
		e := escapeExpr(x)
		if b.Len() > 0 && b.Len()+1+len(e) > maxExprPath {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// metaReadError is a read of the primary's state that did not succeed.
type metaReadError struct {
	path   string
	status int
	body   []byte
}

func (e *metaReadError) Error() string {
	return fmt.Sprintf("GET %s answered %d: %.300s", e.path, e.status, e.body)
}

// getState GETs path on the client's behalf; a 404 is reported as found false (the
// answer is returned: some APIs list what they found beside what they did not).
func (p *Proxy) getState(r *http.Request, path string) (body []byte, found bool, err error) {
	ans, code, err := p.getOnBehalf(r, path)
	switch {
	case err != nil:
		return nil, false, fmt.Errorf("reading %s from the primary: %w", path, err)
	case code == http.StatusNotFound:
		return ans, false, nil
	case code != http.StatusOK:
		return nil, false, &metaReadError{path: path, status: code, body: ans}
	}
	return ans, true, nil
}

// indexStates reads the state of every concrete index the expressions name (names,
// wildcards, aliases, data streams; open, closed and hidden), by name.
func (p *Proxy) indexStates(r *http.Request, exprs []string) (map[string]*opspb.IndexState, error) {
	out := map[string]*opspb.IndexState{}
	if slices.Contains(exprs, "_all") {
		// _all means every index only on its own; in a list it is a name.
		exprs = []string{"_all"}
	}
	for _, seg := range chunkExprs(exprs) {
		body, found, err := p.getState(r, "/"+seg+"?flat_settings=true&expand_wildcards=all&ignore_unavailable=true&allow_no_indices=true")
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		var got map[string]struct {
			Aliases  json.RawMessage `json:"aliases"`
			Mappings json.RawMessage `json:"mappings"`
			Settings json.RawMessage `json:"settings"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			return nil, fmt.Errorf("parsing the primary's indices %s: %w", seg, err)
		}
		for name, ix := range got {
			var flat map[string]json.RawMessage
			if err := json.Unmarshal(ix.Settings, &flat); err != nil {
				return nil, fmt.Errorf("parsing the settings of %s: %w", name, err)
			}
			var uuid string
			if raw, ok := flat["index.uuid"]; ok {
				_ = json.Unmarshal(raw, &uuid)
			}
			if uuid == "" {
				return nil, fmt.Errorf("the primary's settings of %s have no index.uuid", name)
			}
			out[name] = &opspb.IndexState{Name: name, Exists: true, Uuid: uuid,
				Settings: orEmpty(ix.Settings), Mappings: orEmpty(ix.Mappings), Aliases: orEmpty(ix.Aliases)}
		}
	}
	if len(out) == 0 {
		return out, nil
	}
	if err := p.markClosed(r, out); err != nil {
		return nil, err
	}
	if err := p.markDataStreams(r, out); err != nil {
		return nil, err
	}
	return out, nil
}

func orEmpty(b json.RawMessage) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

// markClosed sets closed on the indices the primary's _cat/indices reports closed: the
// index metadata alone does not say it (index.verified_before_close is set only by
// closes of 7.2 and later).
func (p *Proxy) markClosed(r *http.Request, states map[string]*opspb.IndexState) error {
	for _, seg := range chunkExprs(sortedKeys(states)) {
		body, found, err := p.getState(r, "/_cat/indices/"+seg+"?format=json&h=index,status,uuid&expand_wildcards=all&ignore_unavailable=true")
		if err != nil {
			return err
		}
		if !found {
			continue
		}
		var rows []struct{ Index, Status, UUID string }
		if err := json.Unmarshal(body, &rows); err != nil {
			return fmt.Errorf("parsing the primary's _cat/indices: %w", err)
		}
		for _, row := range rows {
			if st := states[row.Index]; st != nil && row.Status == "close" && (row.UUID == "" || row.UUID == st.Uuid) {
				st.Closed = true
			}
		}
	}
	return nil
}

// markDataStreams sets the data stream of backing indices. Backing indices are named
// ".ds-" + stream + "-" + generation, so the data streams are read only when such a
// name is among the states.
func (p *Proxy) markDataStreams(r *http.Request, states map[string]*opspb.IndexState) error {
	some := false
	for name := range states {
		some = some || strings.HasPrefix(name, ".ds-")
	}
	if !some {
		return nil
	}
	streams, err := p.dataStreams(r, "")
	if err != nil {
		return err
	}
	for _, ds := range streams {
		for _, ix := range ds.backing {
			if st := states[ix.name]; st != nil {
				st.DataStream = ds.name
			}
		}
	}
	return nil
}

// streamInfo is a data stream as GET /_data_stream answers it.
type streamInfo struct {
	name       string
	template   string
	generation int64
	backing    []backingIndex
}

type backingIndex struct{ name, uuid string }

// dataStreams reads the data streams expr names ("" for all); none for a 404.
func (p *Proxy) dataStreams(r *http.Request, expr string) ([]streamInfo, error) {
	path := "/_data_stream"
	if expr != "" {
		path += "/" + escapeExpr(expr)
	}
	body, found, err := p.getState(r, path)
	if err != nil || !found {
		return nil, err
	}
	var got struct {
		DataStreams []struct {
			Name    string `json:"name"`
			Indices []struct {
				Name string `json:"index_name"`
				UUID string `json:"index_uuid"`
			} `json:"indices"`
			Generation int64  `json:"generation"`
			Template   string `json:"template"`
		} `json:"data_streams"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		return nil, fmt.Errorf("parsing the primary's data streams: %w", err)
	}
	out := make([]streamInfo, 0, len(got.DataStreams))
	for _, ds := range got.DataStreams {
		si := streamInfo{name: ds.Name, template: ds.Template, generation: ds.Generation}
		for _, ix := range ds.Indices {
			si.backing = append(si.backing, backingIndex{ix.Name, ix.UUID})
		}
		out = append(out, si)
	}
	return out, nil
}

// aliasHolders lists the indices that hold an alias the expressions name.
func (p *Proxy) aliasHolders(r *http.Request, aliases []string) ([]string, error) {
	var out []string
	for _, seg := range chunkExprs(aliases) {
		body, _, err := p.getState(r, "/_alias/"+seg+"?expand_wildcards=all")
		if err != nil {
			return nil, err
		}
		// A 404 still lists the aliases found beside "error" and "status".
		var got map[string]json.RawMessage
		if err := json.Unmarshal(body, &got); err != nil {
			return nil, fmt.Errorf("parsing the primary's aliases %s: %w", seg, err)
		}
		for name, v := range got {
			if name == "error" || name == "status" || len(v) == 0 || v[0] != '{' {
				continue
			}
			out = append(out, name)
		}
	}
	return out, nil
}

// templateAPI is the path of a template kind's API.
func templateAPI(k opspb.TemplateKind) string {
	switch k {
	case opspb.TemplateKind_TEMPLATE_KIND_INDEX:
		return "/_index_template/"
	case opspb.TemplateKind_TEMPLATE_KIND_COMPONENT:
		return "/_component_template/"
	}
	return "/_template/"
}

// templates reads the templates of kind that expr (a name, a wildcard, or a comma
// list of them) names, by name, each as the object its PUT takes.
func (p *Proxy) templates(r *http.Request, k opspb.TemplateKind, expr string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, x := range strings.Split(expr, ",") {
		if x == "" {
			continue
		}
		body, found, err := p.getState(r, templateAPI(k)+escapeExpr(x))
		if err != nil {
			return nil, err
		}
		if !found && k != opspb.TemplateKind_TEMPLATE_KIND_LEGACY {
			continue
		}
		switch k {
		case opspb.TemplateKind_TEMPLATE_KIND_INDEX, opspb.TemplateKind_TEMPLATE_KIND_COMPONENT:
			var got struct {
				Index []struct {
					Name string          `json:"name"`
					Body json.RawMessage `json:"index_template"`
				} `json:"index_templates"`
				Component []struct {
					Name string          `json:"name"`
					Body json.RawMessage `json:"component_template"`
				} `json:"component_templates"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				return nil, fmt.Errorf("parsing the primary's template %s: %w", x, err)
			}
			for _, t := range got.Index {
				out[t.Name] = t.Body
			}
			for _, t := range got.Component {
				out[t.Name] = t.Body
			}
		default:
			// GET /_template/{name} answers {name: template}, {} with a 404 for none.
			var got map[string]json.RawMessage
			if err := json.Unmarshal(body, &got); err != nil {
				return nil, fmt.Errorf("parsing the primary's template %s: %w", x, err)
			}
			for name, t := range got {
				if name == "error" || name == "status" || len(t) == 0 || t[0] != '{' {
					continue
				}
				out[name] = t
			}
		}
	}
	return out, nil
}

// pipelines reads the ingest pipelines expr names, by id: GET /_ingest/pipeline/{id}
// answers {id: definition}, {} with a 404 for none.
func (p *Proxy) pipelines(r *http.Request, expr string) (map[string][]byte, error) {
	body, found, err := p.getState(r, "/_ingest/pipeline/"+escapeExpr(expr))
	if err != nil || !found {
		return map[string][]byte{}, err
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(body, &got); err != nil {
		return nil, fmt.Errorf("parsing the primary's pipelines %s: %w", expr, err)
	}
	out := map[string][]byte{}
	for id, b := range got {
		if len(b) > 0 && b[0] == '{' {
			out[id] = b
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
