package conformance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// The metadata field cases follow each metadata mapper's field type in OpenSearch:
// IdFieldType and IndexFieldType (exists matches all), SeqNoFieldType (a long point
// field; Long.parseLong of strings), VersionFieldType ("The _version field is not
// searchable"; doc values on every document), RoutingFieldMapper (indexed with a
// _field_names entry only when routed), SourceFieldType ("The _source field is not
// searchable"), FieldNamesFieldType ("Cannot run exists query on _field_names"),
// MappedFieldType.existsQuery/rangeQuery, and QueryShardContext.toQuery ("failed to
// create query: …" around non-shard exceptions); sorting follows the fielddata each has
// (SeqNoFieldType's long doc values; none for _version, MappedFieldType.fielddataBuilder).

func TestMetadataFieldQueries(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "md", "")
	r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "md", DocumentID: "routed", Body: strings.NewReader(`{"k":"a"}`), Params: opensearchapi.IndexParams{Routing: "5", Refresh: "true"}})
	wantStatus(t, r, 201)
	e.put(t, "md", "plain", `{"k":"b"}`)

	matches := []struct {
		name, query string
		ids         []string
	}{
		{"exists _id", `{"exists":{"field":"_id"}}`, []string{"plain", "routed"}},
		{"exists _index", `{"exists":{"field":"_index"}}`, []string{"plain", "routed"}},
		{"exists _seq_no", `{"exists":{"field":"_seq_no"}}`, []string{"plain", "routed"}},
		{"exists _version", `{"exists":{"field":"_version"}}`, []string{"plain", "routed"}},
		{"exists _routing", `{"exists":{"field":"_routing"}}`, []string{"routed"}},
		{"must_not exists _routing", `{"bool":{"must_not":{"exists":{"field":"_routing"}}}}`, []string{"plain"}},
		{"exists _primary_term is unmapped", `{"exists":{"field":"_primary_term"}}`, []string{}},
		{"term _routing", `{"term":{"_routing":"5"}}`, []string{"routed"}},
		{"term _seq_no", `{"term":{"_seq_no":1}}`, []string{"plain"}},
		{"term _seq_no string", `{"term":{"_seq_no":"0"}}`, []string{"routed"}},
		{"terms _seq_no", `{"terms":{"_seq_no":[0,1]}}`, []string{"plain", "routed"}},
		{"range _seq_no", `{"range":{"_seq_no":{"gt":0}}}`, []string{"plain"}},
	}
	for _, tc := range matches {
		t.Run(tc.name, func(t *testing.T) {
			r := e.search(t, "md", `{"query":`+tc.query+`}`, opensearchapi.SearchParams{})
			if wantStatus(t, r, 200) {
				if got := sorted(hitIDs(t, r.Body)); strings.Join(got, ",") != strings.Join(tc.ids, ",") {
					t.Errorf("ids want %v, got %v", tc.ids, got)
				}
			}
		})
	}
	t.Run("count exists _routing", func(t *testing.T) {
		r := e.do(t, http.MethodPost, opensearchapi.IndicesCountReq{Indices: []string{"md"}, Body: strings.NewReader(`{"query":{"exists":{"field":"_routing"}}}`)})
		if wantStatus(t, r, 200) && num(t, r.Body, "count") != 1 {
			t.Errorf("count want 1: %s", r.Body)
		}
	})

	t.Run("sort on _seq_no", func(t *testing.T) {
		r := e.search(t, "md", `{"sort":[{"_seq_no":"desc"}]}`, opensearchapi.SearchParams{})
		wantSearch(t, r, []string{"plain", "routed"}, []string{"[1]", "[0]"})
	})
	t.Run("sort on _version is refused", func(t *testing.T) {
		r := e.search(t, "md", `{"sort":[{"_version":"asc"}]}`, opensearchapi.SearchParams{})
		wantError(t, r, 400, "search_phase_execution_exception", "all shards failed")
		wantCause(t, r.Body, iae, "Fielddata is not supported on field [_version] of type [_version]", "error")
	})

	refusals := []struct {
		name, query, reason string
		causeType, cause    string // the QueryShardException's own cause, if any
	}{
		{"exists _source", `{"exists":{"field":"_source"}}`, "The _source field is not searchable", "", ""},
		{"term _source", `{"term":{"_source":"x"}}`, "The _source field is not searchable", "", ""},
		{"exists _field_names", `{"exists":{"field":"_field_names"}}`, "failed to create query: Cannot run exists query on _field_names", "unsupported_operation_exception", "Cannot run exists query on _field_names"},
		{"term _version", `{"term":{"_version":1}}`, "The _version field is not searchable", "", ""},
		{"range _version", `{"range":{"_version":{"gte":1}}}`, "failed to create query: Field [_version] of type [_version] does not support range queries", iae, "Field [_version] of type [_version] does not support range queries"},
		{"term _seq_no not a number", `{"term":{"_seq_no":"abc"}}`, `failed to create query: For input string: "abc"`, "number_format_exception", `For input string: "abc"`},
		{"term _seq_no with a decimal part", `{"term":{"_seq_no":1.5}}`, "failed to create query: Value [1.5] has a decimal part", iae, "Value [1.5] has a decimal part"},
		{"refusal inside bool", `{"bool":{"filter":[{"term":{"_version":1}}]}}`, "The _version field is not searchable", "", ""},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			r := e.search(t, "md", `{"query":`+tc.query+`}`, opensearchapi.SearchParams{})
			wantError(t, r, 400, "search_phase_execution_exception", "all shards failed")
			if got := str(t, r.Body, "error", "root_cause", 0, "type"); got != "query_shard_exception" {
				t.Errorf("root_cause type want query_shard_exception, got %q", got)
			}
			if got := str(t, r.Body, "error", "root_cause", 0, "reason"); got != tc.reason {
				t.Errorf("root_cause reason\n want %q\n  got %q", tc.reason, got)
			}
			wantMeta(t, r.Body, "index", "md", "error", "root_cause", 0)
			wantCause(t, r.Body, "query_shard_exception", tc.reason, "error")
			if tc.causeType != "" {
				wantCause(t, r.Body, tc.causeType, tc.cause, "error", "caused_by")
			} else if has(r.Body, "error", "caused_by", "caused_by") {
				t.Errorf("a QueryShardException thrown as is has no cause: %s", r.Body)
			}
		})
	}
}
