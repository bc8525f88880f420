package proxy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/proxy"
)

// largeDoc is a JSON document of about n bytes.
func largeDoc(n int, tag string) string {
	var b strings.Builder
	b.Grow(n + 64)
	fmt.Fprintf(&b, `{"tag":%q,"blob":"`, tag)
	for i := 0; b.Len() < n-2; i++ {
		b.WriteByte('a' + byte(i%26))
	}
	b.WriteString(`"}`)
	return b.String()
}

// assembled reads the whole topic and returns its events, chunk groups put back
// together per partition, and how many records were pieces.
func assembled(t *testing.T, e *env) (ops []*opspb.Operation, pieces int) {
	t.Helper()
	e.published() // the barrier: every event of earlier requests is in the topic
	asm := map[int32]*event.Assembler{}
	for _, rec := range e.kafka.ConsumeAll(t, topic, eventWait) {
		op, err := event.Decode(rec)
		if err != nil {
			t.Fatalf("record %d/%d: %v", rec.Partition, rec.Offset, err)
		}
		if op.GetIndex() == sentinelIndex {
			continue
		}
		if op.GetChunk() == nil {
			ops = append(ops, op)
			continue
		}
		pieces++
		a := asm[rec.Partition]
		if a == nil {
			a = &event.Assembler{}
			asm[rec.Partition] = a
		}
		out, g, _, err := a.Add(rec, op)
		switch out {
		case event.Complete:
			ops = append(ops, g.Document())
		case event.Buffered:
		default:
			t.Fatalf("piece %d/%d: %v %v", rec.Partition, rec.Offset, out, err)
		}
	}
	for p, a := range asm {
		if a.Len() != 0 {
			t.Fatalf("partition %d has %d incomplete chunk groups", p, a.Len())
		}
	}
	return ops, pieces
}

func TestLargeDocumentsArePublishedInChunks(t *testing.T) {
	t.Parallel()
	e := startEnv(t, 1)
	big := largeDoc(3<<19, "single") // 1.5 MiB
	inBulk := largeDoc(3<<19, "bulk")
	var bulkBody strings.Builder
	fmt.Fprintf(&bulkBody, "{\"index\":{\"_index\":\"orders\",\"_id\":\"s1\"}}\n{\"n\":1}\n")
	fmt.Fprintf(&bulkBody, "{\"index\":{\"_index\":\"orders\",\"_id\":\"big-bulk\"}}\n%s\n", inBulk)
	fmt.Fprintf(&bulkBody, "{\"create\":{\"_index\":\"orders\",\"_id\":\"s2\"}}\n{\"n\":2}\n")

	if r := send(t, http.MethodPut, e.url()+"/orders/_doc/big-single", big); r.status != http.StatusCreated {
		t.Fatalf("PUT of a 1.5 MiB document: %d %.300s", r.status, r.body)
	}
	r := send(t, http.MethodPost, e.url()+"/orders/_doc", big)
	if r.status != http.StatusCreated {
		t.Fatalf("auto-id POST of a 1.5 MiB document: %d %.300s", r.status, r.body)
	}
	autoID, _ := r.json(t)["_id"].(string)
	if r := send(t, http.MethodPost, e.url()+"/_bulk", bulkBody.String()); r.status != http.StatusOK || bytes.Contains(r.body, []byte(`"errors":true`)) {
		t.Fatalf("bulk with a 1.5 MiB document: %d %.300s", r.status, r.body)
	}

	ops, pieces := assembled(t, e)
	if pieces < 6 {
		t.Errorf("%d pieces for three 1.5 MiB documents, want at least 6", pieces)
	}
	want := map[string]string{"big-single": big, autoID: big, "big-bulk": inBulk, "s1": `{"n":1}`, "s2": `{"n":2}`}
	got := map[string]int{}
	for _, op := range ops {
		src, ok := want[op.GetId()]
		if !ok {
			t.Errorf("unexpected event %s/%s", op.GetIndex(), op.GetId())
			continue
		}
		got[op.GetId()]++
		if string(op.GetSource()) != src {
			t.Errorf("event of %s carries %d bytes, want the %d the client sent", op.GetId(), len(op.GetSource()), len(src))
		}
		if op.GetKind() != opspb.Kind_KIND_INDEX || op.GetReplicationVersion() < 1 || op.GetChunk() != nil {
			t.Errorf("event of %s: %v", op.GetId(), op.GetKind())
		}
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("%d events of %s, want 1", got[id], id)
		}
	}
}

// TestUnreplicableDocumentRefusedBeforePrimary: a document the proxy would not
// replicate is refused with 413 before the primary sees the request, alone or in a
// bulk, and nothing is applied or published.
func TestUnreplicableDocumentRefusedBeforePrimary(t *testing.T) {
	t.Parallel()
	e := startEnv(t, 1, func(c *proxy.Config) { c.Publish.MaxDocumentBytes = 64 << 10 })
	// A second proxy of the same primary and topic, whose memory for requests is small.
	cfg := e.config()
	cfg.Limits.MaxBodyBytes = 4 << 20
	cfg.Limits.MaxInflightBytes = 8 << 20
	small := startProxy(t, cfg)
	over := largeDoc(100<<10, "over")
	// Within publish.max_document_bytes of 4 MiB, but its body and its records would
	// pass the memory the proxy gives requests (7 MiB of 8 for large ones).
	tooBigForMemory := largeDoc(38<<20/10, "memory")
	var bulkBody strings.Builder
	fmt.Fprintf(&bulkBody, "{\"index\":{\"_index\":\"orders\",\"_id\":\"small\"}}\n{\"n\":1}\n")
	fmt.Fprintf(&bulkBody, "{\"index\":{\"_index\":\"orders\",\"_id\":\"in-bulk\"}}\n%s\n", over)

	for _, tc := range []struct {
		name, method, path, body string
		via                      *proxy.Proxy
		ids                      []string // must not exist on the primary afterwards
		reason                   string
	}{
		{"single", http.MethodPut, "/orders/_doc/over", over, nil, []string{"over"}, "publish.max_document_bytes"},
		{"auto id", http.MethodPost, "/orders/_doc", over, nil, nil, "publish.max_document_bytes"},
		{"create", http.MethodPut, "/orders/_create/over-create", over, nil, []string{"over-create"}, "publish.max_document_bytes"},
		{"bulk", http.MethodPost, "/_bulk", bulkBody.String(), nil, []string{"small", "in-bulk"}, "publish.max_document_bytes"},
		{"memory", http.MethodPut, "/orders/_doc/memory", tooBigForMemory, small, []string{"memory"}, "limits.max_inflight_bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := e.url()
			if tc.via != nil {
				url = tc.via.URL()
			}
			r := send(t, tc.method, url+tc.path, tc.body)
			if r.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413: %.500s", r.status, r.body)
			}
			var ans struct {
				Error struct {
					Type   string `json:"type"`
					Reason string `json:"reason"`
				} `json:"error"`
				Status int `json:"status"`
			}
			if err := json.Unmarshal(r.body, &ans); err != nil || ans.Status != 413 || ans.Error.Type != "content_too_long_exception" ||
				!strings.Contains(ans.Error.Reason, tc.reason) {
				t.Fatalf("answer %s is not an Elasticsearch 413 naming %s", r.body, tc.reason)
			}
			for _, id := range tc.ids {
				if r := send(t, http.MethodGet, e.primaryURL+"/orders/_doc/"+id, ""); r.status != http.StatusNotFound {
					t.Errorf("the primary has orders/%s: %d %.200s", id, r.status, r.body)
				}
			}
		})
	}
	if r := send(t, http.MethodPost, e.primaryURL+"/orders/_refresh", ""); r.status/100 == 2 {
		if c := send(t, http.MethodGet, e.primaryURL+"/orders/_count", ""); !bytes.Contains(c.body, []byte(`"count":0`)) {
			t.Errorf("the primary holds documents of refused requests: %s", c.body)
		}
	}
	e.noEvents()
}
