package resolve_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4"

	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/pkg/resolve"
)

// TestLookup: one _mget with each document's index, id and routing; an answer that does
// not account for every document asked, in order, counts for nothing.
func TestLookup(t *testing.T) {
	ops := []*opspb.Operation{
		{Kind: opspb.Kind_KIND_INDEX, Index: "books", Id: "1", Routing: "r1"},
		{Kind: opspb.Kind_KIND_INDEX, Index: "books", Id: "2"},
	}
	tests := []struct {
		name    string
		status  int
		answer  string
		wantErr string
	}{
		{name: "ok", status: 200, answer: `{"docs":[{"_index":"books","_id":"1","_routing":"r1","found":true,"_version":1,"_seq_no":0,"_primary_term":1,"_source":{}},{"_index":"books","_id":"2","found":false}]}`},
		{name: "HTTP error", status: 503, answer: `{"error":"unavailable"}`, wantErr: "HTTP 503"},
		{name: "refused credentials", status: 403, answer: `{"error":{"type":"security_exception"}}`, wantErr: "HTTP 403"},
		{name: "too few documents", status: 200, answer: `{"docs":[{"_index":"books","_id":"1","found":false}]}`, wantErr: "1 documents for 2 asked"},
		{name: "another document", status: 200, answer: `{"docs":[{"_index":"books","_id":"2","found":false},{"_index":"books","_id":"1","found":false}]}`, wantErr: `is "2", asked "1"`},
		{name: "not JSON", status: 200, answer: `<html>`, wantErr: "reading the _mget answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				Docs []map[string]string `json:"docs"`
			}
			var path string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path = r.Method + " " + r.URL.Path
				b, _ := io.ReadAll(r.Body)
				_ = json.Unmarshal(b, &got)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.answer)
			}))
			t.Cleanup(srv.Close)
			cl, err := opensearch.NewClient(opensearch.Config{Addresses: []string{srv.URL}, DisableRetry: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cl.Close() })
			docs, err := resolve.Lookup(context.Background(), cl, "primary", ops)
			if path != "POST /_mget" || len(got.Docs) != 2 || got.Docs[0]["routing"] != "r1" || got.Docs[0]["_id"] != "1" ||
				got.Docs[1]["_index"] != "books" || got.Docs[1]["routing"] != "" {
				t.Fatalf("request %s %+v", path, got)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				// A status the primary answered is told apart from a failed call.
				var se *resolve.StatusError
				if isStatus := errors.As(err, &se); isStatus != (tt.status != 200) || isStatus && se.Status != tt.status {
					t.Fatalf("err = %#v: a *StatusError of %d wanted for an HTTP %d", err, tt.status, tt.status)
				}
				return
			}
			if err != nil || len(docs) != 2 || !docs[0].Found || docs[1].Found || docs[0].Routing != "r1" || docs[1].Routing != "" {
				t.Fatalf("docs %+v, err %v", docs, err)
			}
		})
	}
}

// TestResolve: found → INDEX of the primary's document at its replication version;
// missing → DELETE at v+1 for an INDEX, at v for a DELETE; per-document errors named.
func TestResolve(t *testing.T) {
	seq, term := int64(9), int64(2)
	const v = 1<<40 | 3
	tests := []struct {
		name     string
		kind     opspb.Kind
		doc      resolve.Doc
		wantKind opspb.Kind
		wantV    int64
		wantHow  string
		wantErr  string
	}{
		{name: "found", kind: opspb.Kind_KIND_INDEX, doc: resolve.Doc{Found: true, Version: 4, SeqNo: &seq, PrimaryTerm: &term, Source: json.RawMessage(`{"a":1}`)},
			wantKind: opspb.Kind_KIND_INDEX, wantV: 2<<40 | 10, wantHow: resolve.Current},
		{name: "missing INDEX", kind: opspb.Kind_KIND_INDEX, wantKind: opspb.Kind_KIND_DELETE, wantV: v + 1, wantHow: resolve.Deleted},
		{name: "missing DELETE", kind: opspb.Kind_KIND_DELETE, wantKind: opspb.Kind_KIND_DELETE, wantV: v, wantHow: resolve.Deleted},
		{name: "index gone", kind: opspb.Kind_KIND_INDEX, doc: resolve.Doc{Error: json.RawMessage(`{"type":"index_not_found_exception","reason":"no such index"}`)},
			wantKind: opspb.Kind_KIND_DELETE, wantV: v + 1, wantHow: resolve.Deleted},
		{name: "shard trouble", kind: opspb.Kind_KIND_INDEX, doc: resolve.Doc{Error: json.RawMessage(`{"type":"no_shard_available_action_exception","reason":"x"}`)},
			wantErr: "primary_no_shard_available_action_exception"},
		{name: "no source", kind: opspb.Kind_KIND_INDEX, doc: resolve.Doc{Found: true, Version: 1, SeqNo: &seq, PrimaryTerm: &term}, wantErr: resolve.ErrSourceMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := &opspb.Operation{Kind: tt.kind, Index: "books", Id: "1", Routing: "r", ReplicationVersion: v, Source: []byte(`{"old":1}`),
				Chunk: &opspb.Chunk{Index: 2, Count: 3}}
			got := resolve.Resolve(op, &tt.doc)
			if tt.wantErr != "" {
				if got.Err == nil || got.ErrType != tt.wantErr || got.Op != nil {
					t.Fatalf("got %+v, want error type %s", got, tt.wantErr)
				}
				return
			}
			if got.Err != nil || got.How != tt.wantHow || got.Op.GetKind() != tt.wantKind || got.Op.GetReplicationVersion() != tt.wantV ||
				got.Op.GetRouting() != "r" || got.Op.GetChunk() != nil {
				t.Fatalf("got %+v (%v)", got, got.Op)
			}
			if op.GetReplicationVersion() != v || op.GetChunk() == nil {
				t.Fatal("Resolve changed the event")
			}
		})
	}
	op := &opspb.Operation{Kind: opspb.Kind_KIND_INDEX, Index: "books", Id: "1", ReplicationVersion: math.MaxInt64}
	if got := resolve.Resolve(op, &resolve.Doc{}); got.ErrType != resolve.ErrVersionRange {
		t.Fatalf("no successor: %+v", got)
	}
}
