package proxy

import "testing"

func TestJSONMedia(t *testing.T) {
	for _, tc := range []struct {
		v      string
		accept bool
		want   bool
	}{
		{"", false, true},
		{"application/json", false, true},
		{"application/x-ndjson; charset=UTF-8", false, true},
		{"application/vnd.elasticsearch+json; compatible-with=7", false, true},
		{"application/yaml", false, false},
		{"application/cbor", false, false},
		{"application/smile", false, false},
		{"application/vnd.elasticsearch+yaml; compatible-with=8", false, false},
		{"text/plain", false, true}, // the primary refuses it itself
		{"", true, true},
		{"*/*", true, true},
		{"application/json, text/plain", true, true},
		{"application/yaml", true, false},
		{"application/smile, application/json", true, false},
	} {
		if got := jsonMedia(tc.v, tc.accept); got != tc.want {
			t.Errorf("jsonMedia(%q, accept=%v) = %v, want %v", tc.v, tc.accept, got, tc.want)
		}
	}
}

func TestBulkIngestRan(t *testing.T) {
	for _, tc := range []struct {
		body string
		want bool
	}{
		{`{"took":3,"ingest_took":1,"errors":false,"items":[]}`, true},
		{"{\n  \"took\" : 3,\n  \"ingest_took\" : 0,\n  \"errors\" : false,\n  \"items\" : [ ]\n}", true},
		{`{"took":3,"errors":false,"items":[]}`, false},
		// a document field named ingest_took inside an item is not the answer's
		{`{"took":3,"errors":false,"items":[{"update":{"get":{"_source":{"ingest_took":1}}}}]}`, false},
	} {
		if got := bulkIngestRan([]byte(tc.body)); got != tc.want {
			t.Errorf("bulkIngestRan(%s) = %v, want %v", tc.body, got, tc.want)
		}
	}
}
