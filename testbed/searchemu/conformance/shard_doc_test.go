package conformance_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestShardDocSort covers Elasticsearch's _shard_doc sort, the order of a point in time
// that needs no field data (elastic/elasticsearch
// server/src/main/java/org/elasticsearch/search/sort/ShardDocSortField.java: a long, the
// shard's index in the search request << 32 | the Lucene doc id; SearchRequest.validate:
// "[_shard_doc] sort field cannot be used without [point in time]"). It exists from
// Elasticsearch 7.12 and OpenSearch 3.3 (opensearch-project/OpenSearch
// server/src/main/java/org/opensearch/search/sort/ShardDocSortBuilder.java, PR #18924),
// so of the emulated releases only Elasticsearch 8.15 has it; the others read it as an
// unmapped field.
func TestShardDocSort(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{Flavor: searchemu.Elasticsearch8})
	e.createIndex(t, "sd", `{"settings":{"number_of_shards":3}}`)
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":\"sd\",\"_id\":\"d%02d\"}}\n{\"n\":%d}\n", i, i)
	}
	e.bulk(t, "", b.String(), opensearchapi.BulkParams{Refresh: "true"})

	t.Run("pages a point in time, each document once, in increasing order", func(t *testing.T) {
		r := e.raw(t, http.MethodPost, "/sd/_pit?keep_alive=1m", "")
		if !wantStatus(t, r, 200) {
			return
		}
		pit := str(t, r.Body, "id")
		seen := map[string]bool{}
		var last int64 = -1
		after := ""
		for range 20 {
			body := `{"size":3,"pit":{"id":` + strconv.Quote(pit) + `,"keep_alive":"1m"},"sort":[{"_shard_doc":"asc"}]` + after + `}`
			sr := e.search(t, "", body, opensearchapi.SearchParams{})
			if !wantStatus(t, sr, 200) {
				return
			}
			var res struct {
				Hits struct {
					Hits []struct {
						ID   string            `json:"_id"`
						Sort []json.RawMessage `json:"sort"`
					} `json:"hits"`
				} `json:"hits"`
			}
			if err := json.Unmarshal(sr.Body, &res); err != nil {
				t.Fatalf("decoding %s: %v", sr.Body, err)
			}
			hits := res.Hits.Hits
			if len(hits) == 0 {
				break
			}
			for _, h := range hits {
				if len(h.Sort) != 1 {
					t.Fatalf("hit %s: want one sort value, got %s", h.ID, h.Sort)
				}
				v, err := strconv.ParseInt(string(h.Sort[0]), 10, 64)
				if err != nil {
					t.Fatalf("hit %s: _shard_doc value %s is not a long", h.ID, h.Sort[0])
				}
				if v <= last {
					t.Errorf("hit %s: _shard_doc %d not above the previous %d", h.ID, v, last)
				}
				last = v
				if seen[h.ID] {
					t.Errorf("hit %s returned twice", h.ID)
				}
				seen[h.ID] = true
			}
			after = `,"search_after":[` + string(hits[len(hits)-1].Sort[0]) + `]`
		}
		if len(seen) != 20 {
			t.Errorf("want all 20 documents over the pages, got %d", len(seen))
		}
		// three shards: values of the later shards carry their index in the high bits
		if last>>32 != 2 {
			t.Errorf("last _shard_doc %d: want shard request index 2 in the high 32 bits", last)
		}
	})

	t.Run("refused without a point in time", func(t *testing.T) {
		r := e.search(t, "sd", `{"sort":[{"_shard_doc":"asc"}]}`, opensearchapi.SearchParams{})
		wantError(t, r, 400, "action_request_validation_exception", "Validation Failed: 1: [_shard_doc] sort field cannot be used without [point in time];")
	})

	t.Run("refused in a scroll, after the scroll's own checks", func(t *testing.T) {
		r := e.raw(t, http.MethodPost, "/sd/_search?scroll=1m", `{"size":0,"sort":["_shard_doc"]}`)
		wantError(t, r, 400, "action_request_validation_exception", "Validation Failed: 1: [size] cannot be [0] in a scroll context;2: [_shard_doc] sort field cannot be used without [point in time];")
	})

	for _, f := range []searchemu.Flavor{searchemu.OpenSearch2, searchemu.OpenSearch3, searchemu.Elasticsearch7} {
		t.Run(f.String()+" has no _shard_doc: an unmapped field", func(t *testing.T) {
			o := newEmu(t, searchemu.Options{Flavor: f})
			o.put(t, "sd", "1", `{}`)
			r := o.search(t, "sd", `{"sort":[{"_shard_doc":"asc"}]}`, opensearchapi.SearchParams{})
			if !wantStatus(t, r, 400) {
				return
			}
			if got := str(t, r.Body, "error", "root_cause", 0, "reason"); got != "No mapping found for [_shard_doc] in order to sort on" {
				t.Errorf("root_cause reason %q, want the unmapped-field refusal", got)
			}
		})
	}
}
