package proxy

import (
	"net/http/httptest"
	"testing"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		method, target string
		want           route
	}{
		{"POST", "/_bulk", route{name: "bulk", write: true}},
		{"PUT", "/logs/_bulk?refresh=true", route{name: "bulk", write: true, index: "logs"}},
		{"POST", "/logs/_doc", route{name: "index", write: true, action: bulk.ActionIndex, index: "logs"}},
		{"PUT", "/logs/_doc/1", route{name: "index", write: true, action: bulk.ActionIndex, index: "logs", id: "1"}},
		{"POST", "/logs/_doc/a%2Fb", route{name: "index", write: true, action: bulk.ActionIndex, index: "logs", id: "a/b"}},
		{"DELETE", "/logs/_doc/1", route{name: "delete", write: true, action: bulk.ActionDelete, index: "logs", id: "1"}},
		{"PUT", "/logs/_create/1", route{name: "create", write: true, action: bulk.ActionCreate, index: "logs", id: "1"}},
		{"POST", "/logs/_update/1", route{name: "update", write: true, action: bulk.ActionUpdate, index: "logs", id: "1"}},
		{"GET", "/logs/_doc/1", route{name: "read", read: true}},
		{"HEAD", "/logs", route{name: "read", read: true}},
		{"POST", "/logs/_search", route{name: "read", read: true}},
		{"POST", "/_msearch", route{name: "read", read: true}},
		{"POST", "/logs/_count", route{name: "read", read: true}},
		{"POST", "/_mget", route{name: "read", read: true}},
		{"PUT", "/logs", route{name: "other"}},
		{"DELETE", "/logs", route{name: "other"}},
		{"POST", "/logs/_delete_by_query", route{name: "other"}},
		{"PUT", "/logs/_doc", route{name: "other"}},        // the primary answers 405
		{"GET", "/_bulk", route{name: "read", read: true}}, // ditto
		{"POST", "/_bulk/_doc/1", route{name: "other"}},
		// Paths split as PathTrie splits them: trailing empty segments go, a leading
		// "//" is an empty first segment, which the primary's {index} wildcard matches.
		{"PUT", "/logs/_doc/1/", route{name: "index", write: true, action: bulk.ActionIndex, index: "logs", id: "1"}},
		{"PUT", "/logs/_doc/1//", route{name: "index", write: true, action: bulk.ActionIndex, index: "logs", id: "1"}},
		{"PUT", "//logs/_doc/1", route{name: "other"}},
		{"PUT", "/logs//_doc/1", route{name: "other"}},
		{"POST", "//_bulk", route{name: "bulk", write: true}},
		{"PUT", "//_doc/1", route{name: "index", write: true, action: bulk.ActionIndex, id: "1"}},
		{"POST", "//_refresh", route{name: "other"}},
		{"GET", "//logs//_doc/1", route{name: "read", read: true}},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.target, nil)
		if got := classify(r); got != tt.want {
			t.Errorf("%s %s: %+v, want %+v", tt.method, tt.target, got, tt.want)
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
			pl, _ := planBulk(httptest.NewRequest("POST", "/_bulk?routing=r", nil), []byte(tt.body), nil)
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
	pl, _ := planBulk(httptest.NewRequest("POST", "/_bulk", nil), body, nil)
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
