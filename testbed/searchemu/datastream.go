package searchemu

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/fanout-dev/fanout/pkg/bulk"
	"github.com/fanout-dev/fanout/pkg/glob"
)

// Data streams as OpenSearch 2.x keeps them (cluster/metadata/DataStream,
// MetadataCreateDataStreamService, action/admin/indices/datastream/*): a name, a
// timestamp field, and backing indices .ds-<name>-<generation> created from the matching
// composable template that has a data_stream section. The last backing index is the
// write index. A write to a missing name whose template has data_stream creates the
// stream (AutoCreateAction); writes through the stream must be op_type=create, carry no
// custom routing and a single-valued timestamp (DataStreamFieldMapper); searches, counts,
// refreshes, PITs, get index and get mapping (the requests whose includeDataStreams() is
// true) resolve the stream to its backing indices; _rollover adds a generation. The other APIs exclude a stream name as IndexNameExpressionResolver does
// without includeDataStreams: a missing index (with excluded_ds in the error when the
// name was dropped after wildcard resolution).
//
// Only the OpenSearch flavours have them: the Elasticsearch flavours refuse a template
// with data_stream. Not modelled, refused with a [searchemu] reason: aliases in a data
// stream's templates, _data_stream/_stats. The backing index's mapping lacks the _data_stream_timestamp
// meta field the server adds (GET _mapping does not show it); the timestamp rule it
// enforces is checked by the emulator directly.

// dataStream is one data stream; guarded by Cluster.mu.
type dataStream struct {
	name       string
	tsField    string
	indices    []string // backing index names, oldest first; the last is the write index
	generation int64
}

// backingIndexName is DataStream.getDefaultBackingIndexName.
func backingIndexName(ds string, gen int64) string {
	return fmt.Sprintf(".ds-%s-%06d", ds, gen)
}

// dataStreamLocked returns the named stream or nil.
func (c *Cluster) dataStreamLocked(name string) *dataStream {
	if c.dataStreams == nil {
		return nil
	}
	return c.dataStreams[name]
}

// backingLocked returns a stream's backing indices, oldest first.
func (c *Cluster) backingLocked(ds *dataStream) []*index {
	out := make([]*index, 0, len(ds.indices))
	for _, n := range ds.indices {
		if ix := c.indices[n]; ix != nil {
			out = append(out, ix)
		}
	}
	return out
}

// parseDataStreamTemplate reads a composable template's data_stream section
// (ComposableIndexTemplate.DataStreamTemplate: a lenient parser whose one field is
// timestamp_field {name}); the timestamp field defaults to @timestamp.
func parseDataStreamTemplate(v any, src []byte, off int) (string, *esError) {
	o, ok := v.(*jsonObj)
	if !ok {
		return "", newErr(400, typeXContentParse, "["+locString(src, off)+"] [index_template] failed to parse field [data_stream]", false)
	}
	ts := "@timestamp"
	if tv, ok := o.get("timestamp_field"); ok {
		to, ok := tv.(*jsonObj)
		name, _ := func() (any, bool) {
			if to == nil {
				return nil, false
			}
			return to.get("name")
		}()
		s, isStr := name.(string)
		if !ok || len(to.m) != 1 || !isStr || s == "" {
			return "", errIllegalArg("[searchemu] data_stream.timestamp_field must be an object with a non-empty string [name] and nothing else")
		}
		ts = s
	}
	return ts, nil
}

// dataStreamTemplateLocked is lookupTemplateForDataStream: the composable template a
// data stream name uses and its timestamp field.
func (c *Cluster) dataStreamTemplateLocked(name string) (string, *composableTemplate, *esError) {
	s := &c.templates
	s.init()
	v2 := s.v2TemplateFor(name)
	if v2 == "" {
		return "", nil, errIllegalArg("no matching index template found for data stream [" + name + "]")
	}
	t := s.v2[v2]
	if t.dataStream == nil {
		return "", nil, errIllegalArg("matching index template [" + v2 + "] for data stream [" + name + "] has no data stream template")
	}
	return v2, t, nil
}

// validateDataStreamName is MetadataCreateDataStreamService's name checks:
// validateIndexOrAliasName, then lowercase, then no leading '.'.
func validateDataStreamName(name string) *esError {
	bad := func(desc string) *esError { return errIllegalArg("data_stream [" + name + "] " + desc) }
	switch {
	case strings.ContainsAny(name, "\\/*?\"<>| ,"):
		return bad(`must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?]`)
	case strings.Contains(name, "#"):
		return bad("must not contain '#'")
	case strings.Contains(name, ":"):
		return bad("must not contain ':'")
	case name == "":
		return bad("must not be empty")
	case name[0] == '_' || name[0] == '-' || name[0] == '+':
		return bad("must not start with '_', '-', or '+'")
	case len(name) > 255:
		return bad("index name is too long, (" + strconv.Itoa(len(name)) + " > 255)")
	case name == "." || name == "..":
		return bad("must not be '.' or '..'")
	case strings.ToLower(name) != name:
		return bad("must be lowercase")
	case name[0] == '.':
		return bad("must not start with '.'")
	}
	return nil
}

// createDataStreamLocked is MetadataCreateDataStreamService.createDataStream: the stream
// and its first backing index, hidden, from the stream's template.
func (c *Cluster) createDataStreamLocked(name string) *esError {
	if c.dataStreamLocked(name) != nil {
		return newErr(400, typeResourceExists, "data_stream ["+name+"] already exists", true)
	}
	if err := validateDataStreamName(name); err != nil {
		return err
	}
	_, t, err := c.dataStreamTemplateLocked(name)
	if err != nil {
		return err
	}
	if _, _, taken := c.abstractionLocked(name); taken {
		return errIllegalArg("[searchemu] data stream [" + name + "] would share its name with an existing index or alias, which is not modelled")
	}
	first := backingIndexName(name, 1)
	if _, err := c.createBackingIndexLocked(name, *t.dataStream, first); err != nil {
		return err
	}
	if c.dataStreams == nil {
		c.dataStreams = map[string]*dataStream{}
	}
	c.dataStreams[name] = &dataStream{name: name, tsField: *t.dataStream, indices: []string{first}, generation: 1}
	c.state.changed()
	return nil
}

// createBackingIndexLocked creates one backing index of stream ds from its template.
func (c *Cluster) createBackingIndexLocked(ds, tsField, name string) (*index, *esError) {
	if ix := c.indices[name]; ix != nil {
		e := newErr(400, "status_exception", "data stream could not be created because backing index ["+name+"] already exists", false)
		inner := newErr(400, typeResourceExists, "index ["+name+"/"+ix.uuid+"] already exists", true)
		inner.meta = []metaKV{{k: "index_uuid", v: ix.uuid}, {k: "index", v: name}}
		e.cause = inner
		return nil, e
	}
	req := &createIndexReq{settings: map[string]string{"index.hidden": "true"}, dataStream: ds}
	ix, err := c.createIndexLocked(name, req)
	if err != nil {
		return nil, err
	}
	ix.dsName, ix.dsTimestamp = ds, tsField
	return ix, nil
}

// dataStreamWriteErr checks a write addressed to data stream ds (TransportBulkAction:
// op_type create only, no custom routing).
func dataStreamWriteErr(ds string, op *docOp) *esError {
	if op.action != bulk.ActionCreate {
		return errIllegalArg("only write ops with an op_type of create are allowed in data streams")
	}
	if op.hasRouting {
		return errIllegalArg("index request targeting data stream [" + ds + "] specifies a custom routing. target the backing indices directly or remove the custom routing.")
	}
	return nil
}

// checkTimestamp is DataStreamFieldMapper.postParse: a document in a backing index must
// have exactly one value of its timestamp field, indexed with numeric doc values (a
// date, or any other field type the mapping gives SORTED_NUMERIC doc values).
func checkTimestamp(m *mapping, src []byte, field string) *esError {
	refuse := func() *esError {
		return errMapperParsing("failed to parse", errIllegalArg("documents must contain a single-valued timestamp field '"+field+"' of date type"))
	}
	root, err := parseContentMap(src)
	if err != nil {
		return nil // the mapping walk reports a malformed source
	}
	n := countValues(root, field)
	if n != 1 {
		return refuse()
	}
	f := m.lookup(field)
	if f == nil {
		return refuse()
	}
	switch f.typ {
	case "date", "date_nanos", "long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long", "boolean":
		return nil
	}
	return refuse()
}

// countValues counts the leaf values at a dotted path of a source, through objects
// and dotted keys alike, as the document parser would index them.
func countValues(o *jsonObj, path string) int {
	n := 0
	for _, m := range o.m {
		switch {
		case m.k == path:
			n += leafCount(m.v)
		case strings.HasPrefix(path, m.k+"."):
			rest := path[len(m.k)+1:]
			switch v := m.v.(type) {
			case *jsonObj:
				n += countValues(v, rest)
			case []any:
				for _, e := range v {
					if eo, ok := e.(*jsonObj); ok {
						n += countValues(eo, rest)
					}
				}
			}
		}
	}
	return n
}

func leafCount(v any) int {
	switch v := v.(type) {
	case nil:
		return 0
	case *jsonObj:
		return 0
	case []any:
		n := 0
		for _, e := range v {
			n += leafCount(e)
		}
		return n
	}
	return 1
}

// handlePutDataStream serves PUT /_data_stream/{name} (RestCreateDataStreamAction →
// MetadataCreateDataStreamService.createDataStream).
func handlePutDataStream(c *Cluster, rq *request) *response {
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.createDataStreamLocked(rq.path["name"]); err != nil {
		return errResp(err)
	}
	return jsonResp(200, []byte(`{"acknowledged":true}`))
}

// dataStreamNamesLocked is IndexNameExpressionResolver.dataStreamNames with
// GetDataStreamAction's options: wildcards match stream names, a plain name that names
// nothing is a 404, a plain name of an index or alias is dropped.
func (c *Cluster) dataStreamNamesLocked(expr string) ([]string, *esError) {
	exprs := splitExpr(expr)
	if len(exprs) == 0 || (len(exprs) == 1 && (exprs[0] == "*" || exprs[0] == "_all")) {
		return sortedKeys(c.dataStreams), nil
	}
	set := map[string]bool{}
	for _, e := range exprs {
		if strings.Contains(e, "*") {
			for n := range c.dataStreams {
				if glob.Match(e, n) {
					set[n] = true
				}
			}
			continue
		}
		if c.dataStreamLocked(e) != nil {
			set[e] = true
			continue
		}
		if _, _, ok := c.abstractionLocked(e); !ok {
			return nil, errIndexNotFoundRes(e, false, "index_or_alias", []string{e})
		}
	}
	return sortedKeys(set), nil
}

// handleGetDataStream serves GET /_data_stream[/{name}] (GetDataStreamAction: streams
// sorted by name, each with its template and health).
func handleGetDataStream(c *Cluster, rq *request) *response {
	c.mu.RLock()
	defer c.mu.RUnlock()
	names, err := c.dataStreamNamesLocked(rq.path["name"])
	if err != nil {
		return errResp(err)
	}
	b := []byte(`{"data_streams":[`)
	for i, n := range names {
		ds := c.dataStreams[n]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, n)
		b = append(b, `,"timestamp_field":{"name":`...)
		b = appendJSONString(b, ds.tsField)
		b = append(b, `},"indices":[`...)
		status := "GREEN"
		for j, ix := range c.backingLocked(ds) {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"index_name":`...)
			b = appendJSONString(b, ix.name)
			b = append(b, `,"index_uuid":`...)
			b = appendJSONString(b, ix.uuid)
			b = append(b, '}')
			// one node: replicas are never assigned (health.go)
			if ix.k().replicas > 0 {
				status = "YELLOW"
			}
		}
		b = append(b, `],"generation":`...)
		b = strconv.AppendInt(b, ds.generation, 10)
		b = append(b, `,"status":`...)
		b = appendJSONString(b, status)
		if t := c.templates.v2TemplateFor(n); t != "" {
			b = append(b, `,"template":`...)
			b = appendJSONString(b, t)
		}
		b = append(b, '}')
	}
	return jsonResp(200, append(b, "]}"...))
}

// handleDeleteDataStream serves DELETE /_data_stream/{name} (DeleteDataStreamAction
// .removeDataStream): every stream a name or pattern matches goes with its backing
// indices. OpenSearch 2.x answers acknowledged when nothing matches.
func handleDeleteDataStream(c *Cluster, rq *request) *response {
	if err := c.readOnlyErr(); err != nil {
		return errResp(err)
	}
	names := splitExpr(rq.path["name"])
	if len(names) == 0 {
		return errResp(errValidation([]string{"no data stream(s) specified"}))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var doomed []string
	for _, n := range sortedKeys(c.dataStreams) {
		for _, p := range names {
			if n == p || glob.Match(p, n) {
				doomed = append(doomed, n)
				break
			}
		}
	}
	for _, n := range doomed {
		ds := c.dataStreams[n]
		delete(c.dataStreams, n)
		for _, ix := range c.backingLocked(ds) {
			c.deleteIndexLocked(ix)
		}
	}
	return jsonResp(200, []byte(`{"acknowledged":true}`))
}

// handleDataStreamStats serves GET /_data_stream/_stats: refused, not modelled.
func handleDataStreamStats(_ *Cluster, _ *request) *response {
	return errResp(errIllegalArg("[searchemu] the data stream stats API is not supported"))
}

// checkDeleteBackingLocked is MetadataDeleteIndexService.deleteIndices' rule: a write
// index of a data stream cannot be deleted; another backing index leaves its stream.
func (c *Cluster) checkDeleteBackingLocked(ixs []*index) *esError {
	for _, ix := range ixs {
		if ix.dsName == "" {
			continue
		}
		if ds := c.dataStreamLocked(ix.dsName); ds != nil && ds.indices[len(ds.indices)-1] == ix.name {
			return errIllegalArg("index [" + ix.name + "] is the write index for data stream [" + ds.name + "] and cannot be deleted")
		}
	}
	return nil
}

// forgetBackingLocked removes a deleted backing index from its stream
// (DataStream.removeBackingIndex: the generation stays).
func (c *Cluster) forgetBackingLocked(ix *index) {
	ds := c.dataStreamLocked(ix.dsName)
	if ds == nil {
		return
	}
	for i, n := range ds.indices {
		if n == ix.name {
			ds.indices = append(ds.indices[:i:i], ds.indices[i+1:]...)
			return
		}
	}
}

// templatesInUseLocked is dataStreamsExclusivelyUsingTemplates: the streams whose name
// the given templates match and no remaining template does.
func (c *Cluster) templatesInUseLocked(removed []string) []string {
	gone := map[string]bool{}
	for _, n := range removed {
		gone[n] = true
	}
	var out []string
	for _, ds := range sortedKeys(c.dataStreams) {
		usedByRemoved, usedByOther := false, false
		for n, t := range c.templates.v2 {
			if !matchesAny(t.patterns, ds) {
				continue
			}
			if gone[n] {
				usedByRemoved = true
			} else {
				usedByOther = true
			}
		}
		if usedByRemoved && !usedByOther {
			out = append(out, ds)
		}
	}
	sort.Strings(out)
	return out
}

// rolloverDataStreamLocked is MetadataRolloverService.rolloverDataStream after
// validate: a new backing index of the next generation becomes the write index.
func (c *Cluster) rolloverDataStreamLocked(ds *dataStream) (string, *esError) {
	_, t, err := c.dataStreamTemplateLocked(ds.name)
	if err != nil {
		return "", err
	}
	name := backingIndexName(ds.name, ds.generation+1)
	if _, err := c.createBackingIndexLocked(ds.name, *t.dataStream, name); err != nil {
		return "", err
	}
	ds.indices = append(ds.indices, name)
	ds.generation++
	c.state.changed()
	return name, nil
}

// dataStreamRoutes registers the data stream APIs.
func dataStreamRoutes(rt *router) {
	cm := []string{"master_timeout", "cluster_manager_timeout", "timeout"}
	rt.add("PUT", "/_data_stream/{name}", handlePutDataStream, cm...)
	rt.add("GET", "/_data_stream", handleGetDataStream, cm...)
	rt.add("GET", "/_data_stream/_stats", handleDataStreamStats)
	rt.add("GET", "/_data_stream/{name}/_stats", handleDataStreamStats)
	rt.add("GET", "/_data_stream/{name}", handleGetDataStream, cm...)
	rt.add("DELETE", "/_data_stream/{name}", handleDeleteDataStream, cm...)
}
