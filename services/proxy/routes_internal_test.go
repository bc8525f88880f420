package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

// The primaries the classification tables are written for.
var (
	os2 = &primaryVersion{product: "opensearch", number: "2.11.0", major: 2}
	es7 = &primaryVersion{product: "elasticsearch", number: "7.17.6", major: 7, typed: true, xpack: true}
	os1 = &primaryVersion{product: "opensearch", number: "1.3.20", major: 1, typed: true}
	es8 = &primaryVersion{product: "elasticsearch", number: "8.15.0", major: 8, xpack: true, compat7: true}
)

func index(i, id string) route {
	return route{name: "index", write: true, action: bulk.ActionIndex, index: i, id: id}
}
func create(i, id string) route {
	return route{name: "create", write: true, action: bulk.ActionCreate, index: i, id: id}
}
func update(i, id string) route {
	return route{name: "update", write: true, action: bulk.ActionUpdate, index: i, id: id}
}
func del(i, id string) route {
	return route{name: "delete", write: true, action: bulk.ActionDelete, index: i, id: id}
}

// byQuery is a by-query API's route; typ is the type of a typed path.
func byQuery(k byQueryKind, i, typ string) route {
	return route{name: k.String(), byQuery: k, index: i, id: typ}
}

// meta is a metadata API's route.
func meta(op metaOp, i, id string) route { return route{name: op.name(), meta: op, index: i, id: id} }

func putMapping(i string) route { return meta(metaPutMapping, i, "") }

func bulkTo(i string) route { return route{name: "bulk", write: true, index: i} }

var (
	read  = route{name: "read", read: true}
	other = route{name: "other"}
)

// TestClassify: the typeless routes, the same on every primary.
func TestClassify(t *testing.T) {
	tests := []struct {
		method, target string
		want           route
	}{
		{"POST", "/_bulk", bulkTo("")},
		{"PUT", "/logs/_bulk?refresh=true", bulkTo("logs")},
		{"POST", "/logs/_doc", index("logs", "")},
		{"PUT", "/logs/_doc/1", index("logs", "1")},
		{"POST", "/logs/_doc/a%2Fb", index("logs", "a/b")},
		{"DELETE", "/logs/_doc/1", del("logs", "1")},
		{"PUT", "/logs/_create/1", create("logs", "1")},
		{"POST", "/logs/_create/1", create("logs", "1")},
		{"POST", "/logs/_update/1", update("logs", "1")},
		{"PUT", "/logs/_update/1", other}, // 405
		{"GET", "/logs/_doc/1", read},
		{"HEAD", "/logs", read},
		{"POST", "/logs/_search", read},
		{"POST", "/_msearch", read},
		{"POST", "/logs/_count", read},
		{"POST", "/_mget", read},
		{"PUT", "/logs", meta(metaCreateIndex, "logs", "")},
		{"DELETE", "/logs", meta(metaDeleteIndex, "logs", "")},
		{"POST", "/logs/_delete_by_query", byQuery(deleteByQuery, "logs", "")},
		{"POST", "/logs-*,other/_update_by_query", byQuery(updateByQuery, "logs-*,other", "")},
		{"POST", "/_all/_delete_by_query", byQuery(deleteByQuery, "_all", "")},
		{"POST", "/_reindex", byQuery(reindexAPI, "", "")},
		{"PUT", "/_reindex", other},
		{"GET", "/logs/_update_by_query", read},
		{"POST", "/_delete_by_query/task:1/_rethrottle", other},
		{"PUT", "/logs/_doc", other}, // the primary answers 405
		{"GET", "/_bulk", read},      // ditto
		{"POST", "/_bulk/_doc/1", other},
		// Paths split as PathTrie splits them: trailing empty segments go, a leading
		// "//" is an empty first segment, which the primary's {index} wildcard matches.
		{"PUT", "/logs/_doc/1/", index("logs", "1")},
		{"PUT", "/logs/_doc/1//", index("logs", "1")},
		{"PUT", "//logs/_doc/1", other},
		{"PUT", "/logs//_doc/1", other},
		{"POST", "//_bulk", bulkTo("")},
		{"PUT", "//_doc/1", index("", "1")},
		{"POST", "//_refresh", other},
		{"GET", "//logs//_doc/1", read},
	}
	for _, v := range []*primaryVersion{os2, es7, os1, nil} {
		for _, tt := range tests {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			if got := classify(r, v); got != tt.want {
				t.Errorf("%v: %s %s: %+v, want %+v", v, tt.method, tt.target, got, tt.want)
			}
		}
	}
}

// TestClassifyMetadata: the metadata APIs the proxy replicates, as OpenSearch's
// RestController routes them, the same on every primary; their neighbours that are
// other APIs pass through.
func TestClassifyMetadata(t *testing.T) {
	tests := []struct {
		method, target string
		want           route
	}{
		{"PUT", "/logs-2024", meta(metaCreateIndex, "logs-2024", "")},
		{"PUT", "/%3Clogs-%7Bnow%2Fd%7D%3E", meta(metaCreateIndex, "<logs-{now/d}>", "")},
		{"PUT", "/_bogus", other},
		{"POST", "/logs", other},
		{"DELETE", "/", meta(metaDeleteIndex, "", "")},
		{"DELETE", "/logs-*,other", meta(metaDeleteIndex, "logs-*,other", "")},
		{"DELETE", "/_all", meta(metaDeleteIndex, "_all", "")},
		{"DELETE", "/_pit", other},
		{"POST", "/logs/_open", meta(metaOpenIndex, "logs", "")},
		{"POST", "/_open", meta(metaOpenIndex, "", "")},
		{"POST", "/logs-*/_close", meta(metaCloseIndex, "logs-*", "")},
		{"POST", "/_close", meta(metaCloseIndex, "", "")},
		{"GET", "/logs/_open", read},
		{"PUT", "/logs/_mapping", putMapping("logs")},
		{"POST", "/logs,other/_mappings", putMapping("logs,other")},
		{"GET", "/logs/_mapping", read},
		{"PUT", "/_settings", meta(metaPutSettings, "", "")},
		{"PUT", "/logs/_settings", meta(metaPutSettings, "logs", "")},
		{"POST", "/logs/_settings", other},
		{"PUT", "/_cluster/settings", other},
		{"POST", "/_aliases", meta(metaUpdateAliases, "", "")},
		{"PUT", "/_aliases", other},
		{"PUT", "/logs/_alias/current", meta(metaPutAlias, "logs", "current")},
		{"POST", "/logs/_aliases/current", meta(metaPutAlias, "logs", "current")},
		{"PUT", "/_alias/current", meta(metaPutAlias, "", "current")},
		{"POST", "/_aliases/current", meta(metaPutAlias, "", "current")},
		{"PUT", "/logs/_alias", meta(metaPutAlias, "logs", "")},
		{"PUT", "/_alias", meta(metaPutAlias, "", "")},
		{"DELETE", "/logs/_alias/current", meta(metaDeleteAlias, "logs", "current")},
		{"DELETE", "/logs/_aliases/cur*", meta(metaDeleteAlias, "logs", "cur*")},
		{"GET", "/logs/_alias/current", read},
		{"POST", "/logs/_rollover", meta(metaRollover, "logs", "")},
		{"POST", "/logs/_rollover/logs-000009", meta(metaRollover, "logs", "logs-000009")},
		{"PUT", "/_index_template/t", meta(metaPutIndexTemplate, "", "t")},
		{"POST", "/_index_template/t", meta(metaPutIndexTemplate, "", "t")},
		{"DELETE", "/_index_template/t*", meta(metaDeleteIndexTemplate, "", "t*")},
		{"POST", "/_index_template/_simulate", other},
		{"POST", "/_index_template/_simulate_index/logs", other},
		{"PUT", "/_component_template/c", meta(metaPutComponentTemplate, "", "c")},
		{"DELETE", "/_component_template/c", meta(metaDeleteComponentTemplate, "", "c")},
		{"PUT", "/_template/old", meta(metaPutLegacyTemplate, "", "old")},
		{"POST", "/_template/old", meta(metaPutLegacyTemplate, "", "old")},
		{"DELETE", "/_template/old", meta(metaDeleteLegacyTemplate, "", "old")},
		{"PUT", "/_ingest/pipeline/p1", meta(metaPutPipeline, "", "p1")},
		{"DELETE", "/_ingest/pipeline/p*", meta(metaDeletePipeline, "", "p*")},
		{"POST", "/_ingest/pipeline/p1/_simulate", other},
		{"POST", "/_ingest/pipeline/_simulate", other},
		{"PUT", "/_data_stream/logs-app", meta(metaCreateDataStream, "", "logs-app")},
		{"DELETE", "/_data_stream/logs-*", meta(metaDeleteDataStream, "", "logs-*")},
		{"GET", "/_data_stream/logs-app", read},
		{"PUT", "/_search/pipeline/p1", other},
		{"POST", "/logs/_shrink/small", other},
		{"PUT", "/_cluster/x/_alias", other},
	}
	for _, v := range []*primaryVersion{os2, es7, os1, nil} {
		for _, tt := range tests {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			if got := classify(r, v); got != tt.want {
				t.Errorf("%v: %s %s: %+v, want %+v", v, tt.method, tt.target, got, tt.want)
			}
		}
	}
}

// TestClassifyTyped: every write form of the typed APIs of Elasticsearch 7 and
// OpenSearch 1, which OpenSearch 2 answers otherwise (no handler, or the typeless route
// that PathTrie finds instead); until the primary's version is known such a request is
// unresolved.
func TestClassifyTyped(t *testing.T) {
	unresolved := route{name: "unresolved", unresolved: true}
	tests := []struct {
		method, target string
		os2, es7, os1  route
	}{
		// /{index}/{type}/{id}
		{"PUT", "/logs/doc/1", other, index("logs", "1"), index("logs", "1")},
		{"POST", "/logs/doc/1?op_type=create", other, index("logs", "1"), index("logs", "1")},
		{"DELETE", "/logs/doc/1", other, del("logs", "1"), del("logs", "1")},
		{"GET", "/logs/doc/1", read, read, read},
		{"PUT", "/logs/doc/a%2Fb", other, index("logs", "a/b"), index("logs", "a/b")},
		// /{index}/{type}: auto id
		{"POST", "/logs/doc", other, index("logs", ""), index("logs", "")},
		{"PUT", "/logs/doc", other, other, other},
		// /{index}/{type}/{id}/_create and _update, _doc included
		{"PUT", "/logs/doc/1/_create", other, create("logs", "1"), create("logs", "1")},
		{"POST", "/logs/doc/1/_create", other, create("logs", "1"), create("logs", "1")},
		{"PUT", "/logs/_doc/1/_create", other, create("logs", "1"), create("logs", "1")},
		{"POST", "/logs/doc/1/_update", other, update("logs", "1"), update("logs", "1")},
		{"POST", "/logs/_doc/1/_update", other, update("logs", "1"), update("logs", "1")},
		{"PUT", "/logs/doc/1/_update", other, other, other},
		{"POST", "/logs/doc/_search/_update", other, update("logs", "_search"), update("logs", "_search")},
		// /{index}/{type}/_bulk, whatever the type; on OpenSearch 2 /{index}/_doc/_bulk
		// is the document _bulk
		{"POST", "/logs/doc/_bulk", other, bulkTo("logs"), bulkTo("logs")},
		{"PUT", "/logs/doc/_bulk", other, bulkTo("logs"), bulkTo("logs")},
		{"POST", "/logs/_doc/_bulk", index("logs", "_bulk"), bulkTo("logs"), bulkTo("logs")},
		{"PUT", "/logs/_doc/_bulk", index("logs", "_bulk"), bulkTo("logs"), bulkTo("logs")},
		{"POST", "/logs/_create/_bulk", create("logs", "_bulk"), bulkTo("logs"), bulkTo("logs")},
		{"POST", "/logs/_update/_bulk", update("logs", "_bulk"), bulkTo("logs"), bulkTo("logs")},
		{"POST", "/logs/_mapping/_bulk", other, bulkTo("logs"), bulkTo("logs")},
		{"DELETE", "/logs/_doc/_bulk", del("logs", "_bulk"), del("logs", "_bulk"), del("logs", "_bulk")},
		{"DELETE", "/logs/doc/_bulk", other, other, other}, // 405
		// the typed read and mapping routes win over the document routes…
		{"POST", "/logs/_doc/_search", index("logs", "_search"), read, read},
		{"POST", "/logs/doc/_search", read, read, read},
		{"POST", "/logs/_doc/_count", index("logs", "_count"), read, read},
		{"POST", "/logs/_doc/_mget", index("logs", "_mget"), read, read},
		{"PUT", "/logs/_doc/_mapping", index("logs", "_mapping"), putMapping("logs"), putMapping("logs")},
		{"PUT", "/logs/doc/_mapping", other, putMapping("logs"), putMapping("logs")},
		{"POST", "/logs/_doc/_mappings", index("logs", "_mappings"), putMapping("logs"), putMapping("logs")},
		{"POST", "/logs/_doc/_update_by_query", index("logs", "_update_by_query"), byQuery(updateByQuery, "logs", "_doc"), byQuery(updateByQuery, "logs", "_doc")},
		{"POST", "/logs/doc/_delete_by_query", other, byQuery(deleteByQuery, "logs", "doc"), byQuery(deleteByQuery, "logs", "doc")},
		{"POST", "/logs/_create/_search", create("logs", "_search"), read, read},
		{"POST", "/logs/_update/_delete_by_query", update("logs", "_delete_by_query"), byQuery(deleteByQuery, "logs", "_update"), byQuery(deleteByQuery, "logs", "_update")},
		// … but for their methods: then the document route under _doc, _create or
		// _update, none under another type (405)
		{"PUT", "/logs/_doc/_count", index("logs", "_count"), index("logs", "_count"), index("logs", "_count")},
		{"PUT", "/logs/_create/_search", create("logs", "_search"), create("logs", "_search"), create("logs", "_search")},
		{"DELETE", "/logs/_doc/_search", del("logs", "_search"), del("logs", "_search"), del("logs", "_search")},
		{"PUT", "/logs/doc/_count", other, other, other},
		{"DELETE", "/logs/doc/_search", other, other, other},
		// x-pack's typed rollup search is Elasticsearch's only
		{"POST", "/logs/_doc/_rollup_search", index("logs", "_rollup_search"), other, index("logs", "_rollup_search")},
		{"POST", "/logs/doc/_rollup_search", other, other, index("logs", "_rollup_search")},
		// ids that are no API name, under a type
		{"PUT", "/logs/doc/_create", other, index("logs", "_create"), index("logs", "_create")},
		{"PUT", "/logs/doc/_validate", other, index("logs", "_validate"), index("logs", "_validate")},
		// types the primary refuses: not a write (it answers 400 or 405)
		{"PUT", "/logs/_foo/1", other, other, other},
		{"PUT", "/logs//1", other, other, other},
		{"PUT", "/logs/_mapping/doc", other, putMapping("logs"), putMapping("logs")},
		{"PUT", "/_mapping/doc", other, putMapping(""), putMapping("")},
		{"POST", "/logs/_refresh", other, other, other},
		{"POST", "/_all/doc/1", other, other, other},
		// more segments than any write route
		{"POST", "/logs/doc/1/_update/x", other, other, other},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.target, nil)
		for _, c := range []struct {
			v    *primaryVersion
			want route
		}{{os2, tt.os2}, {es7, tt.es7}, {os1, tt.os1}} {
			if got := classify(r, c.v); got != c.want {
				t.Errorf("%v: %s %s: %+v, want %+v", c.v, tt.method, tt.target, got, c.want)
			}
		}
		want := tt.os2
		if tt.os2 != tt.es7 || tt.os2 != tt.os1 {
			switch {
			case tt.os2.write || tt.es7.write || tt.os1.write, tt.os2.byQuery != 0 || tt.es7.byQuery != 0 || tt.os1.byQuery != 0,
				tt.os2.meta != metaNone || tt.es7.meta != metaNone || tt.os1.meta != metaNone:
				want = unresolved
			case tt.os2.read || tt.es7.read || tt.os1.read:
				want = read
			}
		}
		if got := classify(r, nil); got != want {
			t.Errorf("version unknown: %s %s: %+v, want %+v", tt.method, tt.target, got, want)
		}
	}
}

func TestPlanBulkRewritesOnlyUpdates(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{name: "no update: body untouched",
			body: "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"a\":1}\n{\"delete\":{\"_index\":\"t\",\"_id\":\"2\"}}\n",
			want: "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"a\":1}\n{\"delete\":{\"_index\":\"t\",\"_id\":\"2\"}}\n"},
		{name: "update asks for the document",
			body: "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"a\":1}\n{\"update\":{\"_index\":\"t\",\"_id\":\"1\",\"_source\":false}}\n{\"doc\":{\"b\":2}}\n{ \"delete\" : {\"_index\":\"t\",\"_id\":\"2\"}}\n",
			want: "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"a\":1}\n{\"update\":{\"_index\":\"t\",\"_id\":\"1\",\"_source\":true}}\n{\"doc\":{\"b\":2}}\n{ \"delete\" : {\"_index\":\"t\",\"_id\":\"2\"}}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, _ := planBulk(httptest.NewRequest("POST", "/_bulk?routing=r", nil), bulkTo(""), []byte(tt.body), nil)
			if pl.scanErr != nil {
				t.Fatal(pl.scanErr)
			}
			if string(pl.body) != tt.want {
				t.Fatalf("body\n%s\nwant\n%s", pl.body, tt.want)
			}
			for _, it := range pl.items {
				if it.routing != "r" {
					t.Errorf("default routing not applied: %+v", it)
				}
			}
		})
	}
}

func TestPlanBulkFramingError(t *testing.T) {
	body := []byte("{\"index\":{}}\n{}\n[1]\n")
	pl, _ := planBulk(httptest.NewRequest("POST", "/_bulk", nil), bulkTo(""), body, nil)
	if pl.scanErr == nil || string(pl.body) != string(body) {
		t.Fatalf("a body the scanner rejects must go to the primary untouched: %+v", pl)
	}
}

func TestApplyEdits(t *testing.T) {
	body := []byte(`{"a":1,"get":{"x":1},"b":{"_source":{"k":1,"j":2}}}`)
	got := applyEdits(body, []edit{{start: 36, end: 49, with: []byte(`{"k":1}`)}, {start: 7, end: 21}})
	if string(got) != `{"a":1,"b":{"_source":{"k":1}}}` {
		t.Fatalf("%s", got)
	}
}

// TestClassifyElasticsearch8CompatibleWith7: Elasticsearch 8 routes the typed APIs
// for requests that ask for REST API version 7 and not for others.
func TestClassifyElasticsearch8CompatibleWith7(t *testing.T) {
	tests := []struct {
		accept, contentType string
		want                route
	}{
		{"", "", other},
		{"application/json", "application/json", other},
		{"application/vnd.elasticsearch+json;compatible-with=7", "", index("logs", "1")},
		{"", "application/vnd.elasticsearch+json; compatible-with=7", index("logs", "1")},
		{"application/vnd.elasticsearch+json;compatible-with=8", "application/vnd.elasticsearch+json;compatible-with=8", other},
		{"application/json;compatible-with=7", "", other}, // not a vendor type
	}
	for _, tt := range tests {
		r := httptest.NewRequest("PUT", "/logs/doc/1", nil)
		if tt.accept != "" {
			r.Header.Set("Accept", tt.accept)
		}
		if tt.contentType != "" {
			r.Header.Set("Content-Type", tt.contentType)
		}
		if got := classify(r, es8); got != tt.want {
			t.Errorf("Accept %q, Content-Type %q: %+v, want %+v", tt.accept, tt.contentType, got, tt.want)
		}
		if got := classify(r, os2); got != other {
			t.Errorf("OpenSearch 2, Accept %q: %+v", tt.accept, got)
		}
	}
	r := httptest.NewRequest("POST", "/logs/_doc/_bulk", nil)
	r.Header.Set("Content-Type", "application/vnd.elasticsearch+x-ndjson;compatible-with=7")
	if got := classify(r, es8); got != bulkTo("logs") {
		t.Errorf("compatible-with=7 bulk: %+v", got)
	}
	r.Header.Del("Content-Type")
	if got := classify(r, es8); got != index("logs", "_bulk") {
		t.Errorf("Elasticsearch 8 bulk: %+v", got)
	}
}

// TestPlanBulkLegacyLines: the body is framed as Elasticsearch 7 frames it: "_type" on
// action lines is read, an unknown action is skipped with its payload; a rewritten body
// keeps every byte around the rewritten update lines, skipped items and blank lines
// included, so that a primary with the later parser refuses it as it would the client's.
func TestPlanBulkLegacyLines(t *testing.T) {
	body := "{\"index\":{\"_index\":\"logs\",\"_type\":\"_doc\"}}\n{\"a\":1}\n" +
		"\n" +
		"{\"index\":{\"_index\":\"logs\",\"_type\":\"doc\",\"_id\":\"1\"}}\n{\"a\":2}\n" +
		"{\"update\":{\"_index\":\"logs\",\"_type\":\"doc\",\"_id\":\"1\"}}\n{\"doc\":{\"b\":1}}\n" +
		"{\"frobnicate\":{}}\n{}\n" +
		"{\"delete\":{\"_index\":\"logs\",\"_type\":\"doc\",\"_id\":\"2\"}}\n" +
		"{\"index\":{}}\n"
	pl, _ := planBulk(httptest.NewRequest("POST", "/x/doc/_bulk", nil), bulkTo("x"), []byte(body), nil)
	if pl.scanErr != nil {
		t.Fatal(pl.scanErr)
	}
	want := strings.Replace(body, `{"update":{"_index":"logs","_type":"doc","_id":"1"}}`,
		`{"update":{"_index":"logs","_type":"doc","_id":"1","_source":true}}`, 1)
	if string(pl.body) != want {
		t.Fatalf("body\n%s\nwant\n%s", pl.body, want)
	}
	var got []string
	for _, it := range pl.items {
		got = append(got, it.action.String()+" "+it.index+"/"+it.id)
	}
	if strings.Join(got, ",") != "index logs/,index logs/1,update logs/1,delete logs/2" {
		t.Fatalf("items %v", got)
	}
}

// TestParsePrimaryVersion reads GET / answers as each product writes them
// (MainResponse.toXContent of Elasticsearch and OpenSearch; OpenSearch's
// compatibility.override_main_response_version answer per opensearch-api.md §7).
func TestParsePrimaryVersion(t *testing.T) {
	ver := func(v string) string {
		return `{"name":"n","cluster_name":"c","cluster_uuid":"u","version":{` + v + `,"build_type":"tar","build_hash":"h","build_date":"d","build_snapshot":false}`
	}
	const esTag, osTag = `,"tagline":"You Know, for Search"}`, `,"tagline":"The OpenSearch Project: https://opensearch.org/"}`
	tests := []struct {
		name, body string
		want       primaryVersion
		err        string
	}{
		{"es 7.17", ver(`"number":"7.17.6","build_flavor":"default","lucene_version":"8.11.1","minimum_wire_compatibility_version":"6.8.0"`) + esTag,
			primaryVersion{product: "elasticsearch", number: "7.17.6", major: 7, typed: true, xpack: true}, ""},
		{"es 7.10 oss", ver(`"number":"7.10.2","build_flavor":"oss","minimum_wire_compatibility_version":"6.8.0"`) + esTag,
			primaryVersion{product: "elasticsearch", number: "7.10.2", major: 7, typed: true}, ""},
		{"es 6.8", ver(`"number":"6.8.23","build_flavor":"default","minimum_wire_compatibility_version":"5.6.0"`) + esTag,
			primaryVersion{product: "elasticsearch", number: "6.8.23", major: 6, typed: true, xpack: true}, ""},
		{"es 8", ver(`"number":"8.15.0","build_flavor":"default","minimum_wire_compatibility_version":"7.17.0"`) + esTag,
			primaryVersion{product: "elasticsearch", number: "8.15.0", major: 8, xpack: true, compat7: true}, ""},
		{"es 9", ver(`"number":"9.0.0","build_flavor":"default","minimum_wire_compatibility_version":"8.18.0"`) + esTag,
			primaryVersion{product: "elasticsearch", number: "9.0.0", major: 9, xpack: true}, ""},
		{"opensearch 1.3", ver(`"distribution":"opensearch","number":"1.3.20","minimum_wire_compatibility_version":"6.8.0"`) + osTag,
			primaryVersion{product: "opensearch", number: "1.3.20", major: 1, typed: true}, ""},
		{"opensearch 2.11", ver(`"distribution":"opensearch","number":"2.11.0","minimum_wire_compatibility_version":"7.10.0"`) + osTag,
			primaryVersion{product: "opensearch", number: "2.11.0", major: 2}, ""},
		{"opensearch 3.0", ver(`"distribution":"opensearch","number":"3.0.0","minimum_wire_compatibility_version":"2.19.0"`) + osTag,
			primaryVersion{product: "opensearch", number: "3.0.0", major: 3}, ""},
		{"opensearch 1.x reporting 7.10.2", ver(`"number":"7.10.2","minimum_wire_compatibility_version":"6.8.0"`) + osTag,
			primaryVersion{product: "opensearch", number: "7.10.2", major: 1, typed: true}, ""},
		{"opensearch 2.x reporting 7.10.2", ver(`"number":"7.10.2","minimum_wire_compatibility_version":"7.10.0"`) + osTag,
			primaryVersion{product: "opensearch", number: "7.10.2", major: 2}, ""},
		{"not JSON", `<html>`, primaryVersion{}, "reading the primary's GET / answer"},
		{"no number", `{"version":{}}`, primaryVersion{}, `not a version: ""`},
		{"other distribution", ver(`"distribution":"acme","number":"1.0.0"`) + `}`, primaryVersion{}, `unknown distribution "acme"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := parsePrimaryVersion([]byte(tt.body))
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
			case err != nil:
				t.Fatal(err)
			case *v != tt.want:
				t.Fatalf("%+v, want %+v", *v, tt.want)
			}
		})
	}
}

// FuzzClassify: for any request, a route settled without the primary's version is the
// route on every primary whenever one of them makes it a write, and a write route names
// an index the primary would take (never an API name).
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"/logs/doc/1", "/logs/_doc/_bulk", "//_bulk", "/logs/_doc/_count", "/a/b/c/_update", "/_bulk", "/logs/%2F/x"} {
		for _, m := range []string{"PUT", "POST", "DELETE", "GET"} {
			f.Add(m, s)
		}
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		r, err := http.NewRequest(method, "http://x"+path, nil)
		if err != nil || r.URL.Path == "" || r.URL.Host != "x" {
			return
		}
		unknown := classify(r, nil)
		for _, v := range []*primaryVersion{os2, es7, os1, es8} {
			rt := classify(r, v)
			if rt.unresolved {
				t.Fatalf("%v: %s %s unresolved with the version known", v, method, path)
			}
			if rt.write && (!isIndex(rt.index) && rt.index != "" || rt.name != "bulk" && rt.action.String() != rt.name) {
				t.Fatalf("%v: %s %s: %+v", v, method, path, rt)
			}
			if !unknown.unresolved && (rt.write || unknown.write) && rt != unknown {
				t.Fatalf("%s %s: %+v without the version, %+v on %v", method, path, unknown, rt, v)
			}
		}
	})
}

// FuzzParsePrimaryVersion: any GET / answer is read or refused, never half-read.
func FuzzParsePrimaryVersion(f *testing.F) {
	f.Add([]byte(`{"version":{"number":"7.17.6","build_flavor":"default"},"tagline":"You Know, for Search"}`))
	f.Add([]byte(`{"version":{"distribution":"opensearch","number":"2.11.0"}}`))
	f.Add([]byte(`{"version":{"number":"7.10.2","minimum_wire_compatibility_version":"6.8.0"},"tagline":"The OpenSearch Project"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := parsePrimaryVersion(body)
		if err != nil {
			return
		}
		if v.major <= 0 || v.product != "opensearch" && v.product != "elasticsearch" || v.typed && v.compat7 {
			t.Fatalf("%s: %+v", body, *v)
		}
	})
}
