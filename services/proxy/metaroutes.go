package proxy

import (
	"net/http"
	"strings"
)

// metaOp is a metadata API the proxy replicates as the primary's resulting state
// (metadata.go): index lifecycle, mappings, settings, aliases, templates, ingest
// pipelines and data streams. 0 is none.
type metaOp int

const (
	metaNone metaOp = iota
	metaCreateIndex
	metaDeleteIndex
	metaOpenIndex
	metaCloseIndex
	metaPutMapping
	metaPutSettings
	metaUpdateAliases // POST /_aliases
	metaPutAlias
	metaDeleteAlias
	metaRollover
	metaPutIndexTemplate
	metaDeleteIndexTemplate
	metaPutComponentTemplate
	metaDeleteComponentTemplate
	metaPutLegacyTemplate
	metaDeleteLegacyTemplate
	metaPutPipeline
	metaDeletePipeline
	metaCreateDataStream
	metaDeleteDataStream
)

// name is the route name of the API (the route label of the request metrics).
func (o metaOp) name() string {
	return [...]string{"", "create_index", "delete_index", "open_index", "close_index", "put_mapping",
		"put_settings", "update_aliases", "put_alias", "delete_alias", "rollover",
		"put_index_template", "delete_index_template", "put_component_template", "delete_component_template",
		"put_template", "delete_template", "put_pipeline", "delete_pipeline",
		"create_data_stream", "delete_data_stream"}[o]
}

// kind is the class of objects the API changes: the kind label of
// fanout_proxy_metadata_changes_total.
func (o metaOp) kind() string {
	switch o {
	case metaPutIndexTemplate, metaDeleteIndexTemplate, metaPutComponentTemplate, metaDeleteComponentTemplate,
		metaPutLegacyTemplate, metaDeleteLegacyTemplate:
		return "template"
	case metaPutPipeline, metaDeletePipeline:
		return "pipeline"
	case metaCreateDataStream, metaDeleteDataStream:
		return "data_stream"
	}
	return "index"
}

// metaRoute finds the metadata API a request reaches, as the primary's RestController
// routes it (OpenSearch's handlers under rest/action/admin/indices and
// rest/action/ingest): the explicit API segments of these paths win over the {index}
// wildcard of another route, and the document routes (writeRoute) are matched first.
// The route's index is the path's index expression ("" for none: every index) and its
// id the path's name (alias, template, pipeline, data stream, rollover target).
//
//   - RestCreateIndexAction PUT /{index}; RestDeleteIndexAction DELETE / and /{index}.
//   - RestOpenIndexAction, RestCloseIndexAction POST /_open, /{index}/_open (_close).
//   - RestPutMappingAction PUT|POST /{index}/_mapping and /_mappings; on a typed primary
//     (Elasticsearch 7, OpenSearch 1) also /{index}/{type}/_mapping(s),
//     /{index}/_mapping(s)/{type} and /_mapping(s)/{type}.
//   - RestUpdateSettingsAction PUT /_settings, /{index}/_settings.
//   - RestIndicesAliasesAction POST /_aliases; RestIndexPutAliasAction PUT|POST
//     /{index}/_alias(es)/{name} and /_alias(es)/{name}, PUT /{index}/_alias(es) and
//     /_alias; RestIndexDeleteAliasesAction DELETE /{index}/_alias(es)/{name}.
//   - RestRolloverIndexAction POST /{index}/_rollover and /{index}/_rollover/{new_index}.
//   - RestPutComposableIndexTemplateAction, RestPutComponentTemplateAction,
//     RestPutIndexTemplateAction PUT|POST /_index_template/{name},
//     /_component_template/{name}, /_template/{name}, and their DELETE actions. Names
//     starting with '_' are other APIs (POST /_index_template/_simulate).
//   - RestPutPipelineAction, RestDeletePipelineAction PUT|DELETE /_ingest/pipeline/{id}.
//   - RestCreateDataStreamAction, RestDeleteDataStreamAction PUT|DELETE
//     /_data_stream/{name}.
func metaRoute(segs []string, m string, d dialect) (route, bool) {
	put, post, del := m == http.MethodPut, m == http.MethodPost, m == http.MethodDelete
	mk := func(op metaOp, index, id string) (route, bool) {
		return route{name: op.name(), meta: op, index: index, id: id}, true
	}
	mapping := func(s string) bool { return s == "_mapping" || s == "_mappings" }
	alias := func(s string) bool { return s == "_alias" || s == "_aliases" }
	named := func(s string) bool { return s != "" && !strings.HasPrefix(s, "_") }
	switch n := len(segs); n {
	case 0:
		if del {
			return mk(metaDeleteIndex, "", "")
		}
	case 1:
		s := segs[0]
		switch {
		case put && s == "_settings":
			return mk(metaPutSettings, "", "")
		case post && s == "_aliases":
			return mk(metaUpdateAliases, "", "")
		case put && s == "_alias":
			return mk(metaPutAlias, "", "")
		case post && s == "_open":
			return mk(metaOpenIndex, "", "")
		case post && s == "_close":
			return mk(metaCloseIndex, "", "")
		case put && isIndex(s):
			return mk(metaCreateIndex, s, "")
		case del && (isIndex(s) || s == "_all"):
			return mk(metaDeleteIndex, s, "")
		}
	case 2:
		a, b := segs[0], segs[1]
		switch {
		case (put || post) && a == "_index_template" && named(b):
			return mk(metaPutIndexTemplate, "", b)
		case del && a == "_index_template" && named(b):
			return mk(metaDeleteIndexTemplate, "", b)
		case (put || post) && a == "_component_template" && named(b):
			return mk(metaPutComponentTemplate, "", b)
		case del && a == "_component_template" && named(b):
			return mk(metaDeleteComponentTemplate, "", b)
		case (put || post) && a == "_template" && named(b):
			return mk(metaPutLegacyTemplate, "", b)
		case del && a == "_template" && named(b):
			return mk(metaDeleteLegacyTemplate, "", b)
		case put && a == "_data_stream" && named(b):
			return mk(metaCreateDataStream, "", b)
		case del && a == "_data_stream" && named(b):
			return mk(metaDeleteDataStream, "", b)
		case (put || post) && alias(a):
			return mk(metaPutAlias, "", b)
		case d.typed && (put || post) && mapping(a):
			return mk(metaPutMapping, "", "")
		case post && b == "_open":
			return mk(metaOpenIndex, a, "")
		case post && b == "_close":
			return mk(metaCloseIndex, a, "")
		case (put || post) && mapping(b):
			return mk(metaPutMapping, a, "")
		case put && b == "_settings":
			return mk(metaPutSettings, a, "")
		case put && alias(b):
			return mk(metaPutAlias, a, "")
		case post && b == "_rollover":
			return mk(metaRollover, a, "")
		}
	case 3:
		a, b, c := segs[0], segs[1], segs[2]
		switch {
		case put && a == "_ingest" && b == "pipeline":
			return mk(metaPutPipeline, "", c)
		case del && a == "_ingest" && b == "pipeline":
			return mk(metaDeletePipeline, "", c)
		case strings.HasPrefix(a, "_") && a != "_all":
			// Another API (/_cluster/…, /_nodes/…): no index route here.
		case (put || post) && alias(b):
			return mk(metaPutAlias, a, c)
		case del && alias(b):
			return mk(metaDeleteAlias, a, c)
		case post && b == "_rollover":
			return mk(metaRollover, a, c)
		case d.typed && (put || post) && (mapping(c) || mapping(b)):
			return mk(metaPutMapping, a, "")
		}
	}
	return route{}, false
}
