package proxy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/pkg/resolve"
)

// TestCurrentEvent: how recovery reads one document of the _mget answer (through
// pkg/resolve): found → INDEX of the primary's source, with its concrete index, stored
// routing and the replication version of its _seq_no (or _version without one);
// missing and a gone index are told apart (only the first gets a DELETE); an error, or
// a document the primary cannot give, is retried, never published.
func TestCurrentEvent(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	k := docKey{index: "alias", id: "1", routing: "asked"}
	tests := []struct {
		name    string
		doc     resolve.Doc
		outcome string
		wantErr string
		check   func(t *testing.T, ev pendingEvent)
	}{
		{name: "found", outcome: recoveredCurrent,
			doc: resolve.Doc{Index: "books-1", ID: "1", Routing: "stored", Version: 4, SeqNo: i64(6), PrimaryTerm: i64(2), Found: true, Source: json.RawMessage(`{"a":1}`)},
			check: func(t *testing.T, ev pendingEvent) {
				if ev.kind != opspb.Kind_KIND_INDEX || ev.index != "books-1" || ev.id != "1" || ev.routing != "stored" || ev.addressed != "asked" ||
					string(ev.source) != `{"a":1}` || ev.version != 4 || !ev.hasSeqNo || ev.seqNo != 6 || ev.term != 2 || ev.replicationVersion != 2<<40|7 {
					t.Errorf("event %+v", ev)
				}
			}},
		{name: "found without seq_no", outcome: recoveredCurrent,
			doc: resolve.Doc{Index: "books-1", ID: "1", Version: 9, Found: true, Source: json.RawMessage(`{}`)},
			check: func(t *testing.T, ev pendingEvent) {
				if ev.hasSeqNo || ev.replicationVersion != 9 || ev.routing != "" {
					t.Errorf("event %+v", ev)
				}
			}},
		{name: "missing", outcome: "missing", doc: resolve.Doc{Index: "books-1", ID: "1"}},
		{name: "index gone", outcome: recoveredIndexGone,
			doc: resolve.Doc{Index: "alias", ID: "1", Error: json.RawMessage(`{"type":"index_not_found_exception","reason":"no such index"}`)}},
		{name: "error", wantErr: "alias/1 up on the primary: es_rejected_execution_exception: busy",
			doc: resolve.Doc{Index: "books-1", ID: "1", Error: json.RawMessage(`{"type":"es_rejected_execution_exception","reason":"busy"}`)}},
		{name: "no source", wantErr: "no _source", doc: resolve.Doc{Index: "books-1", ID: "1", Version: 1, Found: true}},
		{name: "version out of range", wantErr: "_primary_term 0",
			doc: resolve.Doc{Index: "books-1", ID: "1", Version: 1, SeqNo: i64(1), PrimaryTerm: i64(0), Found: true, Source: json.RawMessage(`{}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, outcome, err := currentEvent(k, &tt.doc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || outcome != tt.outcome {
				t.Fatalf("outcome %q err %v, want %q", outcome, err, tt.outcome)
			}
			if tt.check != nil {
				tt.check(t, ev)
			}
		})
	}
}
