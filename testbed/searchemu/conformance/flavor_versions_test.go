package conformance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestFlavorRootAnswers covers GET / of every flavour (RestMainAction / MainResponse in
// each product): the version object's members and order, the compatibility versions of
// each major (Version.computeMinCompatVersion) and the product header.
func TestFlavorRootAnswers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		flavor                 searchemu.Flavor
		keys                   []string
		number, lucene         string
		minWire, minIndex, tag string
		elasticHeader          bool
		contentType            string
	}{
		{searchemu.OpenSearch1, osVersionKeys, "1.3.20", "8.10.1", "6.8.0", "6.0.0-beta1", osTagline, false, "application/json; charset=UTF-8"},
		{searchemu.OpenSearch2, osVersionKeys, "2.11.0", "9.7.0", "7.10.0", "7.0.0", osTagline, false, "application/json; charset=UTF-8"},
		{searchemu.OpenSearch3, osVersionKeys, "3.0.0", "10.1.0", "2.19.0", "2.0.0", osTagline, false, "application/json; charset=UTF-8"},
		{searchemu.Elasticsearch7, esVersionKeys, "7.10.2", "8.7.0", "6.8.0", "6.0.0-beta1", esTagline, true, "application/json; charset=UTF-8"},
		{searchemu.Elasticsearch8, esVersionKeys, "8.15.0", "9.11.1", "7.17.0", "7.0.0", esTagline, true, "application/json"},
	}
	for _, tc := range cases {
		t.Run(tc.flavor.String(), func(t *testing.T) {
			t.Parallel()
			e := newEmu(t, searchemu.Options{Flavor: tc.flavor, Name: "c1"})
			r := e.raw(t, http.MethodGet, "/", "")
			if !wantStatus(t, r, 200) {
				return
			}
			wantKeys(t, r.Body, []string{"name", "cluster_name", "cluster_uuid", "version", "tagline"})
			wantKeys(t, r.Body, tc.keys, "version")
			for k, want := range map[string]string{"number": tc.number, "lucene_version": tc.lucene, "minimum_wire_compatibility_version": tc.minWire, "minimum_index_compatibility_version": tc.minIndex} {
				if got := str(t, r.Body, "version", k); got != want {
					t.Errorf("version.%s want %q, got %q", k, want, got)
				}
			}
			if got := str(t, r.Body, "tagline"); got != tc.tag {
				t.Errorf("tagline want %q, got %q", tc.tag, got)
			}
			if tc.keys[0] == "distribution" && str(t, r.Body, "version", "distribution") != "opensearch" {
				t.Errorf("version.distribution want opensearch: %s", r.Body)
			}
			if tc.keys[1] == "build_flavor" && str(t, r.Body, "version", "build_flavor") != "default" {
				t.Errorf("version.build_flavor want default: %s", r.Body)
			}
			_, got := r.Header["X-Elastic-Product"]
			if got != tc.elasticHeader || (got && r.Header.Get("X-Elastic-Product") != "Elasticsearch") {
				t.Errorf("X-Elastic-Product want present=%v (Elasticsearch), got %q", tc.elasticHeader, r.Header.Values("X-Elastic-Product"))
			}
			if got := r.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type want %q, got %q", tc.contentType, got)
			}
		})
	}
}

var (
	osVersionKeys = []string{"distribution", "number", "build_type", "build_hash", "build_date", "build_snapshot", "lucene_version", "minimum_wire_compatibility_version", "minimum_index_compatibility_version"}
	esVersionKeys = []string{"number", "build_flavor", "build_type", "build_hash", "build_date", "build_snapshot", "lucene_version", "minimum_wire_compatibility_version", "minimum_index_compatibility_version"}
)

const (
	osTagline = "The OpenSearch Project: https://opensearch.org/"
	esTagline = "You Know, for Search"
)

func TestParseFlavor(t *testing.T) {
	t.Parallel()
	for _, f := range searchemu.Flavors() {
		got, err := searchemu.ParseFlavor(strings.ToUpper(f.String()))
		if err != nil || got != f {
			t.Errorf("ParseFlavor(%q) = %v, %v; want %v", f.String(), got, err, f)
		}
	}
	if got, err := searchemu.ParseFlavor(""); err != nil || got != searchemu.OpenSearch2 {
		t.Errorf(`ParseFlavor("") = %v, %v; want the default opensearch2`, got, err)
	}
	if _, err := searchemu.ParseFlavor("solr"); err == nil {
		t.Errorf(`ParseFlavor("solr") must fail`)
	}
}

// TestFlavorElasticsearch8 covers Elasticsearch 8's REST API compatibility headers
// (RestRequest, RestCompatibleVersionHelper, AbstractRestChannel.newBuilder), the
// removal of types and the refusal of _id field data (ProvidedIdFieldMapper,
// indices.id_field_data.enabled=false).
func TestFlavorElasticsearch8(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{Flavor: searchemu.Elasticsearch8})
	const vnd8 = "application/vnd.elasticsearch+json;compatible-with=8"
	const vnd7 = "application/vnd.elasticsearch+json;compatible-with=7"

	send := func(t *testing.T, method, path, body, accept, ctype string) *resp {
		t.Helper()
		var hr *http.Request
		if body != "" {
			hr, _ = http.NewRequest(method, path, strings.NewReader(body))
			hr.Header.Set("Content-Type", ctype)
		} else {
			hr, _ = http.NewRequest(method, path, nil)
		}
		if accept != "" {
			hr.Header.Set("Accept", accept)
		}
		return e.send(t, hr)
	}

	t.Run("compatible-with=8 and =7 are accepted and echoed", func(t *testing.T) {
		for i, v := range []string{vnd8, vnd7, "application/vnd.elasticsearch+json; compatible-with=8"} {
			r := send(t, http.MethodPut, "/t8/_doc/"+string(rune('1'+i))+"?refresh=true", `{"a":1}`, v, v)
			if !wantStatus(t, r, 201) {
				continue
			}
			want := strings.ReplaceAll(v, "; ", ";")
			if got := r.Header.Get("Content-Type"); got != want {
				t.Errorf("Accept %q: response Content-Type want %q, got %q", v, want, got)
			}
		}
		r := send(t, http.MethodGet, "/t8/_doc/1", "", vnd8, "")
		if wantStatus(t, r, 200) {
			if got := r.Header.Get("Content-Type"); got != vnd8 {
				t.Errorf("GET response Content-Type want %q, got %q", vnd8, got)
			}
			if has(r.Body, "_type") {
				t.Errorf("ES 8 documents have no _type: %s", r.Body)
			}
		}
	})

	t.Run("vendor x-ndjson bulk body", func(t *testing.T) {
		r := send(t, http.MethodPost, "/_bulk", "{\"index\":{\"_index\":\"t8\",\"_id\":\"b\"}}\n{\"a\":2}\n", vnd8, "application/vnd.elasticsearch+x-ndjson;compatible-with=8")
		if wantStatus(t, r, 200) {
			wantErrorsFlag(t, r, false)
		}
	})

	t.Run("a plain JSON answer is application/json without charset", func(t *testing.T) {
		r := send(t, http.MethodGet, "/t8/_doc/1", "", "", "")
		if got := r.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type want application/json, got %q", got)
		}
	})

	refusals := []struct {
		name, method, path, body, accept, ctype string
		reason, cause, causeReason              string
	}{
		{"compatible-with=6 Accept", http.MethodGet, "/", "", "application/vnd.elasticsearch+json;compatible-with=6", "",
			"Invalid media-type value on headers [Accept, Content-Type]", "status_exception",
			"Accept version must be either version 8 or 7, but found 6. Accept=application/vnd.elasticsearch+json;compatible-with=6"},
		{"compatible-with=9 Content-Type", http.MethodPut, "/t8/_doc/9", `{}`, "application/vnd.elasticsearch+json;compatible-with=8", "application/vnd.elasticsearch+json;compatible-with=9",
			"Invalid media-type value on headers [Accept, Content-Type]", "status_exception",
			"Content-Type version must be either version 8 or 7, but found 9. Content-Type=application/vnd.elasticsearch+json;compatible-with=9"},
		{"versions differ", http.MethodPut, "/t8/_doc/9", `{}`, vnd7, vnd8,
			"Invalid media-type value on headers [Accept, Content-Type]", "status_exception",
			"A compatible version is required on both Content-Type and Accept headers if either one has requested a compatible version and the compatible versions must match. Accept=" + vnd7 + ", Content-Type=" + vnd8},
		{"only Content-Type versioned", http.MethodPut, "/t8/_doc/9", `{}`, "", vnd8,
			"Invalid media-type value on headers [Accept, Content-Type]", "status_exception",
			"A compatible version is required on both Content-Type and Accept headers if either one has requested a compatible version. Accept=null, Content-Type=" + vnd8},
		{"malformed Accept", http.MethodGet, "/", "", "json", "",
			"Invalid media-type value on headers [Accept]", "illegal_argument_exception", "invalid media-type [json]"},
	}
	for _, tc := range refusals {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			r := send(t, tc.method, tc.path, tc.body, tc.accept, tc.ctype)
			wantError(t, r, 400, "media_type_header_exception", tc.reason)
			if got := str(t, r.Body, "error", "root_cause", 0, "type"); got != "media_type_header_exception" {
				t.Errorf("root_cause type want media_type_header_exception, got %q", got)
			}
			if got := str(t, r.Body, "error", "caused_by", "type"); got != tc.cause {
				t.Errorf("caused_by.type want %q, got %q", tc.cause, got)
			}
			if got := str(t, r.Body, "error", "caused_by", "reason"); got != tc.causeReason {
				t.Errorf("caused_by.reason\n want %q\n  got %q", tc.causeReason, got)
			}
		})
	}
	if r := e.get(t, "t8", "9"); r.Status != 404 {
		t.Errorf("refused requests must not write: %s", r)
	}

	t.Run("_type on a bulk action line is an unknown parameter", func(t *testing.T) {
		r := e.bulk(t, "", "{\"index\":{\"_index\":\"t8\",\"_type\":\"_doc\",\"_id\":\"3\"}}\n{}\n", opensearchapi.BulkParams{})
		wantError(t, r, 400, "illegal_argument_exception", "Action/metadata line [1] contains an unknown parameter [_type]")
	})

	t.Run("sorting on _id is refused", func(t *testing.T) {
		r := e.search(t, "t8", `{"sort":[{"_id":"asc"}]}`, opensearchapi.SearchParams{})
		if !wantStatus(t, r, 400) {
			return
		}
		const msg = "Fielddata access on the _id field is disallowed, you can re-enable it by updating the dynamic cluster setting: indices.id_field_data.enabled"
		if got := str(t, r.Body, "error", "type"); got != "search_phase_execution_exception" {
			t.Errorf("type want search_phase_execution_exception, got %q", got)
		}
		if got := str(t, r.Body, "error", "root_cause", 0, "reason"); got != msg {
			t.Errorf("root_cause reason want %q, got %q", msg, got)
		}
		if got := str(t, r.Body, "error", "caused_by", "type"); got != "illegal_argument_exception" {
			t.Errorf("caused_by.type want illegal_argument_exception, got %q", got)
		}
	})

	t.Run("open point in time answers id and _shards", func(t *testing.T) {
		r := e.raw(t, http.MethodPost, "/t8/_pit?keep_alive=1m", "")
		if wantStatus(t, r, 200) {
			wantKeys(t, r.Body, []string{"id", "_shards"})
			wantJSON(t, r.Body, `{"total":1,"successful":1,"skipped":0,"failed":0}`, "_shards")
		}
	})

	t.Run("OpenSearch 2 still sorts on _id, with a deprecation warning", func(t *testing.T) {
		o := newEmu(t, searchemu.Options{})
		o.put(t, "t", "1", `{}`)
		r := o.search(t, "t", `{"sort":[{"_id":"asc"}]}`, opensearchapi.SearchParams{})
		if wantStatus(t, r, 200) && !strings.Contains(r.Header.Get("Warning"), "Loading the fielddata on the _id field is deprecated") {
			t.Errorf("want the _id fielddata deprecation warning, got %q", r.Header.Get("Warning"))
		}
	})
}

// TestVendorMediaTypesRefusedOutsideES8: OpenSearch's XContentType.fromMediaType knows no
// vendor types, so a vendor Content-Type is an unsupported one (406).
func TestVendorMediaTypesRefusedOutsideES8(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	r := e.raw(t, http.MethodPut, "/t/_doc/1", `{}`, "application/vnd.elasticsearch+json;compatible-with=8")
	wantSimpleError(t, r, 406, "Content-Type header [application/vnd.elasticsearch+json;compatible-with=8] is not supported")
}
