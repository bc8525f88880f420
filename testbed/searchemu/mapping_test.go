package searchemu

import (
	"strings"
	"testing"
)

func TestDynamicMappingInference(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, doc, mapping string
	}{
		{"string is text with keyword", `{"s":"hello"}`, `{"properties":{"s":{"type":"text","fields":{"keyword":{"type":"keyword","ignore_above":256}}}}}`},
		{"integer is long", `{"n":42}`, `{"properties":{"n":{"type":"long"}}}`},
		{"fraction is float", `{"f":4.2}`, `{"properties":{"f":{"type":"float"}}}`},
		{"exponent is float", `{"f":1e3}`, `{"properties":{"f":{"type":"float"}}}`},
		{"boolean", `{"b":false}`, `{"properties":{"b":{"type":"boolean"}}}`},
		{"iso date", `{"d":"2024-05-06T07:08:09.123Z"}`, `{"properties":{"d":{"type":"date"}}}`},
		{"date only", `{"d":"2024-05-06"}`, `{"properties":{"d":{"type":"date"}}}`},
		{"slash date", `{"d":"2024/05/06"}`, `{"properties":{"d":{"type":"date","format":"yyyy/MM/dd HH:mm:ss||yyyy/MM/dd"}}}`},
		{"numeric strings stay text", `{"s":"2024"}`, `{"properties":{"s":{"type":"text","fields":{"keyword":{"type":"keyword","ignore_above":256}}}}}`},
		{"objects recurse, sorted", `{"o":{"z":1,"a":{"b":true}}}`, `{"properties":{"o":{"properties":{"a":{"properties":{"b":{"type":"boolean"}}},"z":{"type":"long"}}}}}`},
		{"dotted names expand", `{"a.b":1}`, `{"properties":{"a":{"properties":{"b":{"type":"long"}}}}}`},
		{"arrays take the element type", `{"a":[1,2],"o":[{"x":"y"}]}`, `{"properties":{"a":{"type":"long"},"o":{"properties":{"x":{"type":"text","fields":{"keyword":{"type":"keyword","ignore_above":256}}}}}}}`},
		{"null and empty arrays add nothing", `{"n":null,"e":[],"o":{}}`, `{"properties":{"o":{"type":"object"}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{})
			h.must(201, "PUT", "/m/_doc/1", tc.doc)
			got := h.must(200, "GET", "/m/_mapping", "").body
			want := `{"m":{"mappings":` + tc.mapping + `}}`
			if got != want {
				t.Fatalf("mapping\n want %s\n  got %s", want, got)
			}
		})
	}
}

func TestMappingConflicts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.must(201, "PUT", "/m/_doc/1", `{"n":1,"s":"x","d":"2024-01-01","b":true,"o":{"x":1},"f":1.5}`)
	cases := []struct {
		name, doc       string
		status          int
		typ, reason     string
		causeTyp, cause string
	}{
		{"string into long", `{"n":"abc"}`, 400, typeMapperParsing, "failed to parse field [n] of type [long] in document with id '2'. Preview of field's value: 'abc'", typeIllegalArgument, `For input string: "abc"`},
		{"numeric string into long is coerced", `{"n":"12"}`, 201, "", "", "", ""},
		{"fraction into long is coerced", `{"n":1.7}`, 201, "", "", "", ""},
		{"boolean into long", `{"n":true}`, 400, typeMapperParsing, "failed to parse field [n] of type [long] in document with id '2'. Preview of field's value: 'true'", typeJSONParse, ""},
		{"object into text", `{"s":{"a":1}}`, 400, typeMapperParsing, "failed to parse field [s] of type [text] in document with id '2'. Preview of field's value: '{a=1}'", typeIllegalState, "Can't get text on a START_OBJECT at 1:6"},
		{"bad date", `{"d":"yesterday"}`, 400, typeMapperParsing, "failed to parse field [d] of type [date] in document with id '2'. Preview of field's value: 'yesterday'", typeIllegalArgument, "failed to parse date field [yesterday] with format [strict_date_optional_time||epoch_millis]"},
		{"epoch millis into date", `{"d":1700000000000}`, 201, "", "", "", ""},
		{"bad boolean", `{"b":"yes"}`, 400, typeMapperParsing, "failed to parse field [b] of type [boolean] in document with id '2'. Preview of field's value: 'yes'", typeIllegalArgument, "Failed to parse value [yes] as only [true] or [false] are allowed."},
		{"scalar into object", `{"o":5}`, 400, typeMapperParsing, "object mapping for [o] tried to parse field [o] as object, but found a concrete value", "", ""},
		{"string into float", `{"f":"x"}`, 400, typeMapperParsing, "failed to parse field [f] of type [float] in document with id '2'. Preview of field's value: 'x'", typeNumberFormat, `For input string: "x"`},
		{"mixed array in one doc", `{"z":[1,"x"]}`, 400, typeIllegalArgument, "mapper [z] cannot be changed from type [long] to [text]", "", ""},
		{"metadata field", `{"_id":"x"}`, 400, typeMapperParsing, "Field [_id] is a metadata field and cannot be added inside a document. Use the index API request parameters.", "", ""},
		{"not json", `{"a":}`, 400, typeMapperParsing, "failed to parse", typeJSONParse, ""},
		{"not an object", `[1,2]`, 400, typeMapperParsing, "Malformed content, must start with an object", "", ""},
		{"trailing object", `{"a":1}{"b":2}`, 400, typeMapperParsing, "failed to parse", typeIllegalArgument, "Malformed content, found extra data after parsing: START_OBJECT"},
		{"duplicate key", `{"q":1,"q":2}`, 400, typeMapperParsing, "failed to parse", typeJSONParse, ""},
		{"dot-only name", `{"a..b":1}`, 400, typeMapperParsing, "failed to parse", typeIllegalArgument, "object field starting or ending with a [.] makes object resolution ambiguous: [a..b]"},
		{"dotted path through a leaf", `{"n.x":1}`, 400, typeMapperParsing, "Could not dynamically add mapping for field [n.x]. Existing mapping for [n] must be of type object but found [long].", "", ""},
	}
	for _, tc := range cases {
		r := h.do("PUT", "/m/_doc/2", tc.doc)
		if r.status == 200 {
			r.status = 201
		}
		if r.status != tc.status {
			t.Errorf("%s: want %d, got %d: %s", tc.name, tc.status, r.status, r.body)
			continue
		}
		if tc.typ == "" {
			h.must(200, "DELETE", "/m/_doc/2", "")
			continue
		}
		if got := jfield(t, r.body, "error.type"); got != tc.typ {
			t.Errorf("%s: type want %s, got %v (%s)", tc.name, tc.typ, got, r.body)
		}
		if got := jfield(t, r.body, "error.reason"); got != tc.reason {
			t.Errorf("%s: reason\n want %q\n  got %q", tc.name, tc.reason, got)
		}
		if got, _ := jfield(t, r.body, "error.caused_by.type").(string); got != tc.causeTyp {
			t.Errorf("%s: caused_by.type want %q, got %q (%s)", tc.name, tc.causeTyp, got, r.body)
		}
		if tc.cause != "" {
			if got := jfield(t, r.body, "error.caused_by.reason"); got != tc.cause {
				t.Errorf("%s: caused_by.reason\n want %q\n  got %q", tc.name, tc.cause, got)
			}
		}
	}
	// failures consume no sequence number: only the three accepted writes and their
	// deletes took 1..6
	r := h.must(201, "PUT", "/m/_doc/3", `{"n":3}`)
	if seq := jfield(t, r.body, "_seq_no"); seq != int64(7) {
		t.Errorf("after failures the next seq_no must be 7, got %v", seq)
	}
}

func TestStrictAndFalseDynamic(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.must(200, "PUT", "/s", `{"mappings":{"dynamic":"strict","properties":{"k":{"type":"keyword"},"o":{"type":"object","dynamic":"false","properties":{"a":{"type":"long"}}}}}}`)
	r := h.must(400, "PUT", "/s/_doc/1", `{"k":"v","x":1}`)
	if jfield(t, r.body, "error.type") != typeStrictDynamic || jfield(t, r.body, "error.reason") != "mapping set to strict, dynamic introduction of [x] within [_doc] is not allowed" {
		t.Fatalf("strict: %s", r.body)
	}
	h.must(201, "PUT", "/s/_doc/1", `{"k":"v","o":{"a":1,"free":{"deep":[1,"x"]}}}`)
	got := h.must(200, "GET", "/s/_mapping", "").body
	want := `{"s":{"mappings":{"dynamic":"strict","properties":{"k":{"type":"keyword"},"o":{"dynamic":"false","properties":{"a":{"type":"long"}}}}}}}`
	if got != want {
		t.Fatalf("dynamic false must not map new fields\n want %s\n  got %s", want, got)
	}
	if src := h.must(200, "GET", "/s/_source/1", "").body; src != `{"k":"v","o":{"a":1,"free":{"deep":[1,"x"]}}}` {
		t.Fatalf("source must be stored as given: %s", src)
	}
}

func TestIndexAPIs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	r := h.must(200, "PUT", "/idx", `{"settings":{"number_of_shards":1,"number_of_replicas":0},"mappings":{"properties":{"f":{"type":"keyword"}}},"aliases":{"a":{},"w":{"is_write_index":true}}}`)
	if r.body != `{"acknowledged":true,"shards_acknowledged":true,"index":"idx"}` {
		t.Fatalf("create: %s", r.body)
	}
	r = h.must(400, "PUT", "/idx", ``)
	if jfield(t, r.body, "error.type") != typeResourceExists || !strings.HasPrefix(jfield(t, r.body, "error.reason").(string), "index [idx/") {
		t.Fatalf("exists: %s", r.body)
	}
	runSteps(t, h, []step{
		{"PUT", "/Bad", ``, 400, "", "Invalid index name [Bad], must be lowercase"},
		{"PUT", "/_bad", ``, 400, "", "Invalid index name [_bad], must not start with '_', '-', or '+'"},
		{"PUT", "/typed", `{"mappings":{"_doc":{"properties":{}}}}`, 400, "", "The mapping definition cannot be nested under a type [_doc] unless include_type_name is set to true."},
		{"PUT", "/bad-type", `{"mappings":{"properties":{"f":{"type":"nope"}}}}`, 400, "", "Failed to parse mapping [_doc]: No handler for type [nope] declared on field [f]"},
		{"PUT", "/idx/_mapping", `{"properties":{"f":{"type":"long"}}}`, 400, "", "mapper [f] cannot be changed from type [keyword] to [long]"},
		{"PUT", "/idx/_mapping", `{"_doc":{"properties":{}}}`, 400, "", "Types cannot be provided in put mapping requests"},
		{"PUT", "/idx/_mapping", `{"properties":{"g":{"type":"long"}}}`, 200, `{"acknowledged":true}`, ""},
		{"GET", "/idx/_mapping", ``, 200, `{"idx":{"mappings":{"properties":{"f":{"type":"keyword"},"g":{"type":"long"}}}}}`, ""},
		{"GET", "/missing/_mapping", ``, 404, "", "no such index [missing]"},
		{"PUT", "/w/_doc/1", `{"f":"x"}`, 201, `{"_index":"idx","_id":"1","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1}`, ""},
		{"POST", "/idx/_refresh", ``, 200, `{"_shards":{"total":1,"successful":1,"failed":0}}`, ""},
		{"GET", "/idx/_count", `{"query":{"term":{"f":"x"}}}`, 200, `{"count":1,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0}}`, ""},
		{"GET", "/_cat/indices?format=json", ``, 200, "", ""},
		{"DELETE", "/a", ``, 400, "", "The provided expression [a] matches an alias, specify the corresponding concrete indices instead."},
		{"DELETE", "/idx", ``, 200, `{"acknowledged":true}`, ""},
		{"DELETE", "/idx", ``, 404, "", "no such index [idx]"},
		{"GET", "/_cat/indices?format=json", ``, 200, `[]`, ""},
	})
	h.must(200, "PUT", "/two", `{"settings":{"index":{"number_of_replicas":2}}}`)
	r = h.must(200, "GET", "/_cat/indices?format=json", "")
	want := `[{"health":"yellow","status":"open","index":"two","uuid":"` + h.c.indices["two"].uuid + `","pri":"1","rep":"2","docs.count":"0","docs.deleted":"0","store.size":"208b","pri.store.size":"208b"}]`
	if r.body != want {
		t.Fatalf("cat indices\n want %s\n  got %s", want, r.body)
	}
}

func TestHealthAndRoot(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Name: "c1"})
	r := h.must(200, "GET", "/_cluster/health?wait_for_status=yellow", "")
	if r.body != `{"cluster_name":"c1","status":"green","timed_out":false,"number_of_nodes":1,"number_of_data_nodes":1,"discovered_master":true,"discovered_cluster_manager":true,"active_primary_shards":0,"active_shards":0,"relocating_shards":0,"initializing_shards":0,"unassigned_shards":0,"delayed_unassigned_shards":0,"number_of_pending_tasks":0,"number_of_in_flight_fetch":0,"task_max_waiting_in_queue_millis":0,"active_shards_percent_as_number":100.0}` {
		t.Fatalf("empty health: %s", r.body)
	}
	h.must(201, "PUT", "/t/_doc/1", `{}`)
	r = h.must(200, "GET", "/_cluster/health", "")
	if jfield(t, r.body, "status") != "yellow" || jfield(t, r.body, "unassigned_shards") != int64(1) || jfield(t, r.body, "active_shards_percent_as_number") != 50.0 {
		t.Fatalf("yellow health: %s", r.body)
	}
	h.must(408, "GET", "/_cluster/health?wait_for_status=green&timeout=1s", "")
	green := newHarness(t, Options{NumberOfReplicas: -1})
	green.must(201, "PUT", "/t/_doc/1", `{}`)
	if r := green.must(200, "GET", "/_cluster/health", ""); jfield(t, r.body, "status") != "green" {
		t.Fatalf("0 replicas must be green: %s", r.body)
	}
	r = h.must(200, "GET", "/", "")
	if jfield(t, r.body, "version.number") != "2.11.0" || jfield(t, r.body, "version.distribution") != "opensearch" || jfield(t, r.body, "cluster_name") != "c1" {
		t.Fatalf("root: %s", r.body)
	}
	if r.header.Get("X-Elastic-Product") != "" {
		t.Fatal("OpenSearch flavor must not send X-Elastic-Product")
	}
}

func TestAliasesAndSettings(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.must(200, "PUT", "/t", `{"aliases":{"a":{"is_write_index":true}}}`)
	runSteps(t, h, []step{
		{"POST", "/_aliases", `{"actions":[{"add":{"index":"t","alias":"b"}},{"remove":{"index":"t","alias":"a"}}]}`, 200, `{"acknowledged":true}`, ""},
		{"GET", "/_alias", "", 200, `{"t":{"aliases":{"b":{}}}}`, ""},
		{"GET", "/_alias/zz", "", 404, `{"error":"alias [zz] missing","status":404}`, ""},
		{"PUT", "/b/_doc/1", `{}`, 201, "", ""},
		{"GET", "/b/_doc/1", "", 200, "", ""},
		{"PUT", "/t/_settings", `{"index":{"number_of_shards":2}}`, 400, "", "Can't update non dynamic settings [[index.number_of_shards]] for open indices [[t/" + h.c.indices["t"].uuid + "]]"},
		{"PUT", "/t/_settings", `{"index":{"blocks.write":true}}`, 200, `{"acknowledged":true}`, ""},
		{"PUT", "/t/_doc/2", `{}`, 403, "", "index [t] blocked by: [FORBIDDEN/8/index write (api)];"},
		{"GET", "/t/_settings/index.blocks.*?flat_settings=true", "", 200, `{"t":{"settings":{"index.blocks.write":"true"}}}`, ""},
	})
}

func TestElasticsearch7PointInTime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Flavor: Elasticsearch7})
	h.must(201, "PUT", "/t/_doc/1", `{}`)
	r := h.must(200, "POST", "/t/_pit?keep_alive=1m", "")
	id := jfield(t, r.body, "id").(string)
	r = h.must(200, "POST", "/_search", `{"pit":{"id":"`+id+`"}}`)
	if !strings.HasPrefix(r.body, `{"pit_id":`) {
		t.Fatalf("pit search: %s", r.body)
	}
	runSteps(t, h, []step{
		{"DELETE", "/_pit", `{"id":"` + id + `"}`, 200, `{"succeeded":true,"num_freed":1}`, ""},
		// no OpenSearch PIT route: the path falls to the typed POST /{index}/{type}/{id}
		// (index type _search, id point_in_time), which knows no keep_alive
		{"POST", "/t/_search/point_in_time?keep_alive=1m", "", 400, "", "request [/t/_search/point_in_time] contains unrecognized parameter: [keep_alive]"},
	})
}
