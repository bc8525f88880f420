package conformance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestUpdateRoutingOfFoundDocument covers the routing an update leaves on a document it
// finds, followed from OpenSearch's server/src/main/java/org/opensearch/action/update/
// UpdateHelper.java (calculateRouting: the partial doc's routing if it has one, else the
// stored _routing; prepareUpsert: the request's routing), action/bulk/BulkRequestParser.java
// (a bulk item's routing goes on the UpdateRequest, never on its doc) and
// rest/action/document/RestUpdateAction.java (?routing is copied onto the doc and the
// upsert). A one-shard index puts every routing on the same shard, so an update sent with
// one routing finds a document stored under another.
func TestUpdateRoutingOfFoundDocument(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.createIndex(t, "one", `{"settings":{"index.number_of_shards":1}}`)

	// store puts id under routing (none when empty).
	store := func(t *testing.T, id, routing string) {
		t.Helper()
		r := e.do(t, http.MethodPut, opensearchapi.IndexReq{Index: "one", DocumentID: id, Body: strings.NewReader(`{"a":1}`), Params: opensearchapi.IndexParams{Routing: routing}})
		if r.Status != http.StatusCreated {
			t.Fatalf("storing %s: %s", id, r)
		}
	}
	bulkUpdate := func(t *testing.T, id, itemRouting, payload string, p opensearchapi.BulkParams) *resp {
		t.Helper()
		meta := `{"update":{"_index":"one","_id":"` + id + `"`
		if itemRouting != "" {
			meta += `,"routing":"` + itemRouting + `"`
		}
		return e.bulk(t, "", meta+"}}\n"+payload+"\n", p)
	}

	cases := []struct {
		name    string
		stored  string // routing the document is stored with; "-" for no document
		send    func(t *testing.T, id string) (r *resp, status int, result string)
		routing string // _routing afterwards; "" for none
		source  string
	}{
		{
			name: "bulk item routing keeps the stored routing", stored: "a", routing: "a", source: `{"a":2}`,
			send: func(t *testing.T, id string) (*resp, int, string) {
				return bulkUpdate(t, id, "b", `{"doc":{"a":2}}`, opensearchapi.BulkParams{}), 200, "updated"
			},
		},
		{
			name: "bulk URL routing keeps the stored routing", stored: "a", routing: "a", source: `{"a":2}`,
			send: func(t *testing.T, id string) (*resp, int, string) {
				return bulkUpdate(t, id, "", `{"doc":{"a":2}}`, opensearchapi.BulkParams{Routing: "b"}), 200, "updated"
			},
		},
		{
			name: "bulk item routing leaves a document without routing without one", stored: "", routing: "", source: `{"a":2}`,
			send: func(t *testing.T, id string) (*resp, int, string) {
				return bulkUpdate(t, id, "b", `{"doc":{"a":2}}`, opensearchapi.BulkParams{}), 200, "updated"
			},
		},
		{
			name: "bulk doc_as_upsert on a found document keeps the stored routing", stored: "a", routing: "a", source: `{"a":2}`,
			send: func(t *testing.T, id string) (*resp, int, string) {
				return bulkUpdate(t, id, "b", `{"doc":{"a":2},"doc_as_upsert":true}`, opensearchapi.BulkParams{}), 200, "updated"
			},
		},
		{
			name: "bulk upsert creates with the item routing", stored: "-", routing: "b", source: `{"u":1}`,
			send: func(t *testing.T, id string) (*resp, int, string) {
				return bulkUpdate(t, id, "b", `{"doc":{"a":2},"upsert":{"u":1}}`, opensearchapi.BulkParams{}), 201, "created"
			},
		},
		{
			name: "bulk doc_as_upsert creates with the URL routing", stored: "-", routing: "b", source: `{"a":2}`,
			send: func(t *testing.T, id string) (*resp, int, string) {
				return bulkUpdate(t, id, "", `{"doc":{"a":2},"doc_as_upsert":true}`, opensearchapi.BulkParams{Routing: "b"}), 201, "created"
			},
		},
		{
			name: "update API routing replaces the stored routing", stored: "a", routing: "b", source: `{"a":2}`,
			send: func(t *testing.T, id string) (*resp, int, string) {
				return e.update(t, "one", id, `{"doc":{"a":2}}`, opensearchapi.UpdateParams{Routing: "b"}), 200, "updated"
			},
		},
		{
			name: "update API routing gives a document without routing one", stored: "", routing: "b", source: `{"a":2}`,
			send: func(t *testing.T, id string) (*resp, int, string) {
				return e.update(t, "one", id, `{"doc":{"a":2}}`, opensearchapi.UpdateParams{Routing: "b"}), 200, "updated"
			},
		},
		{
			name: "update API without routing keeps the stored routing", stored: "a", routing: "a", source: `{"a":2}`,
			send: func(t *testing.T, id string) (*resp, int, string) {
				return e.update(t, "one", id, `{"doc":{"a":2}}`, opensearchapi.UpdateParams{}), 200, "updated"
			},
		},
		{
			name: "update API doc_as_upsert on a found document takes the request routing", stored: "a", routing: "b", source: `{"a":2}`,
			send: func(t *testing.T, id string) (*resp, int, string) {
				return e.update(t, "one", id, `{"doc":{"a":2},"doc_as_upsert":true}`, opensearchapi.UpdateParams{Routing: "b"}), 200, "updated"
			},
		},
		{
			name: "update API upsert creates with the request routing", stored: "-", routing: "b", source: `{"u":1}`,
			send: func(t *testing.T, id string) (*resp, int, string) {
				return e.update(t, "one", id, `{"doc":{"a":2},"upsert":{"u":1}}`, opensearchapi.UpdateParams{Routing: "b"}), 201, "created"
			},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := "d" + string(rune('a'+i))
			if tc.stored != "-" {
				store(t, id, tc.stored)
			}
			r, status, result := tc.send(t, id)
			if strings.HasPrefix(r.desc, "POST /_bulk") {
				if !wantStatus(t, r, 200) {
					return
				}
				wantItem(t, r, 0, "update", status, result)
			} else {
				if !wantStatus(t, r, status) {
					return
				}
				if got := str(t, r.Body, "result"); got != result {
					t.Errorf("result want %q, got %q: %s", result, got, r)
				}
			}
			// one shard: a GET finds the document whatever routing it is sent with
			g := e.get(t, "one", id)
			if !wantStatus(t, g, 200) {
				return
			}
			if tc.routing == "" {
				if has(g.Body, "_routing") {
					t.Errorf("want no _routing: %s", g)
				}
			} else {
				wantJSON(t, g.Body, `"`+tc.routing+`"`, "_routing")
			}
			wantJSON(t, g.Body, tc.source, "_source")
		})
	}
}
