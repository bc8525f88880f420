package proxy_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/proxy"
)

// TestPublishCodecs: every publish.compression the proxy accepts produces records a
// consumer decodes into the events written (the other tests publish with snappy).
func TestPublishCodecs(t *testing.T) {
	for _, codec := range []string{"lz4", "zstd", "snappy", "gzip", "none"} {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			e := startEnv(t, 1, func(c *proxy.Config) { c.Publish.Compression = codec })
			if r := send(t, http.MethodPut, e.url()+"/books/_doc/1", `{"codec":"`+codec+`"}`); r.status != http.StatusCreated {
				t.Fatalf("PUT: %d %s", r.status, r.body)
			}
			var bulk strings.Builder
			for i := 0; i < 50; i++ {
				fmt.Fprintf(&bulk, "{\"index\":{\"_index\":\"books\",\"_id\":\"b%d\"}}\n{\"n\":%d,\"pad\":%q}\n", i, i, strings.Repeat(codec, 40))
			}
			if r := sendCT(t, http.MethodPost, e.url()+"/_bulk", "application/x-ndjson", bulk.String()); r.status != http.StatusOK || strings.Contains(string(r.body), `"errors":true`) {
				t.Fatalf("_bulk: %d %.300s", r.status, r.body)
			}
			// The batches say which codec compressed them (Kafka's attribute numbers);
			// the producer sends a batch that would not shrink uncompressed (0).
			want := map[string]uint8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}[codec]
			got := map[string]string{}
			compressed := 0
			for _, rec := range e.committed() {
				switch c := rec.Attrs.CompressionType(); {
				case c == want:
					compressed++
				case c != 0:
					t.Fatalf("a record of a batch compressed with codec %d, want %d (%s)", c, want, codec)
				}
				op, err := event.Decode(rec)
				if err != nil {
					t.Fatal(err)
				}
				if op.GetKind() != opspb.Kind_KIND_METADATA {
					got[op.GetId()] = string(op.GetSource())
				}
			}
			if compressed == 0 {
				t.Errorf("no record of a batch compressed with %s (codec %d)", codec, want)
			}
			if len(got) != 51 || got["1"] != `{"codec":"`+codec+`"}` || !strings.Contains(got["b49"], `"n":49`) {
				t.Fatalf("read back %d events (want 51); 1: %s, b49: %.80s", len(got), got["1"], got["b49"])
			}
		})
	}
}
