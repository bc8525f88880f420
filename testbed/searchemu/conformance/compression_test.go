package conformance_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

func gzipped(t testing.TB, parts ...string) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, p := range parts {
		zw := gzip.NewWriter(&out)
		if _, err := zw.Write([]byte(p)); err != nil {
			t.Fatalf("gzip: %v", err)
		}
		if err := zw.Close(); err != nil {
			t.Fatalf("gzip: %v", err)
		}
	}
	return out.Bytes()
}

func zlibbed(t testing.TB, s string) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := zlib.NewWriter(&out)
	_, _ = zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatalf("zlib: %v", err)
	}
	return out.Bytes()
}

func deflated(t testing.TB, s string) []byte {
	t.Helper()
	var out bytes.Buffer
	zw, _ := flate.NewWriter(&out, flate.DefaultCompression)
	_, _ = zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatalf("deflate: %v", err)
	}
	return out.Bytes()
}

// sendEncoded sends body with the given Content-Encoding through the client's transport.
func (e *emu) sendEncoded(t testing.TB, method, path, ctype, encoding string, body []byte) *resp {
	t.Helper()
	hr, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("building request: %v", err)
	}
	hr.Header.Set("Content-Type", ctype)
	hr.Header.Set("Content-Encoding", encoding)
	return e.send(t, hr)
}

// TestCompressedRequestBodies follows Netty4HttpServerTransport's pipeline: an
// HttpContentDecompressor ("decoder_compress") decodes gzip/deflate request bodies on
// every node, before the HttpObjectAggregator enforces http.max_content_length.
func TestCompressedRequestBodies(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{MaxBodyBytes: 4096})

	t.Run("opensearch-go CompressRequestBody bulk is accepted", func(t *testing.T) {
		cli, err := opensearchapi.NewClient(opensearchapi.Config{Client: opensearch.Config{
			Addresses: []string{e.url}, DisableRetry: true, HealthCheckMaxRetries: -1, CompressRequestBody: true,
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res, err := cli.Bulk(ctx, opensearchapi.BulkReq{Body: strings.NewReader("{\"index\":{\"_index\":\"gz\",\"_id\":\"1\"}}\n{\"a\":1}\n")})
		if err != nil {
			t.Fatalf("compressed bulk: %v", err)
		}
		if res.Errors || len(res.Items) != 1 || res.Items[0]["index"].Status != 201 {
			t.Errorf("compressed bulk want one created item, got %+v", res.Items)
		}
		if got := string(e.source(t, "gz", "1")); got != `{"a":1}` {
			t.Errorf("_source want {\"a\":1}, got %s", got)
		}
	})

	cases := []struct {
		name, encoding string
		body           []byte
		id, want       string
	}{
		{"gzip", "gzip", gzipped(t, `{"k":"gzip"}`), "g", "gzip"},
		{"x-gzip, mixed case", " X-GZip ", gzipped(t, `{"k":"x-gzip"}`), "xg", "x-gzip"},
		{"deflate with zlib wrapper", "deflate", zlibbed(t, `{"k":"zlib"}`), "z", "zlib"},
		{"raw deflate", "x-deflate", deflated(t, `{"k":"raw"}`), "d", "raw"},
		{"identity", "identity", []byte(`{"k":"identity"}`), "i", "identity"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.sendEncoded(t, http.MethodPut, "/enc/_doc/"+tc.id+"?refresh=true", "application/json", tc.encoding, tc.body)
			if !wantStatus(t, r, 201) {
				return
			}
			if got := str(t, e.source(t, "enc", tc.id), "k"); got != tc.want {
				t.Errorf("_source.k want %q, got %q", tc.want, got)
			}
		})
	}

	t.Run("an empty body with a coding header is an empty body", func(t *testing.T) {
		r := e.sendEncoded(t, http.MethodGet, "/", "application/json", "gzip", nil)
		wantStatus(t, r, 200)
	})

	t.Run("only the first gzip member is read", func(t *testing.T) {
		r := e.sendEncoded(t, http.MethodPut, "/enc/_doc/multi", "application/json", "gzip", gzipped(t, `{"first":1}`, `garbage that is never read`))
		if wantStatus(t, r, 201) {
			if got := string(e.source(t, "enc", "multi")); got != `{"first":1}` {
				t.Errorf("_source want {\"first\":1}, got %s", got)
			}
		}
	})

	t.Run("an unknown coding is passed through and fails to parse", func(t *testing.T) {
		r := e.sendEncoded(t, http.MethodPut, "/enc/_doc/br", "application/json", "compress", gzipped(t, `{"a":1}`))
		if r.Status != 400 {
			t.Errorf("want 400 for an undecoded body, got %s", r)
		}
	})

	t.Run("max content length applies to the decoded body", func(t *testing.T) {
		// 5000 bytes decoded, a few dozen on the wire: over the 4096 limit.
		big := `{"f":"` + strings.Repeat("x", 5000) + `"}`
		z := gzipped(t, big)
		if len(z) >= 4096 {
			t.Fatalf("test body compresses to %d bytes", len(z))
		}
		r := e.sendEncoded(t, http.MethodPut, "/enc/_doc/big", "application/json", "gzip", z)
		wantStatus(t, r, 413)
	})

	t.Run("wire bytes over the limit are fine when the decoded body is under it", func(t *testing.T) {
		// a stored (level 0) gzip stream of 4088 bytes is over the 4096 limit on the wire
		// once framed, yet under it once decoded
		raw := make([]byte, 2040)
		_, _ = rand.Read(raw)
		doc := `{"h":"` + hex.EncodeToString(raw) + `"}`
		var pad bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&pad, gzip.NoCompression)
		_, _ = zw.Write([]byte(doc))
		_ = zw.Close()
		if len(doc) > 4096 || pad.Len() <= 4096 {
			t.Fatalf("decoded %d, wire %d bytes: the case needs decoded <= 4096 < wire", len(doc), pad.Len())
		}
		r := e.sendEncoded(t, http.MethodPut, "/enc/_doc/wire?refresh=true", "application/json", "gzip", pad.Bytes())
		wantStatus(t, r, 201)
	})

	t.Run("a corrupt gzip body closes the connection without an answer", func(t *testing.T) {
		for name, body := range map[string][]byte{
			"not gzip at all":  []byte(`{"a":1}`),
			"truncated stream": gzipped(t, `{"a":"`+strings.Repeat("y", 300)+`"}`)[:20],
		} {
			hr, _ := http.NewRequest(http.MethodPut, e.url+"/enc/_doc/bad", bytes.NewReader(body))
			hr.Header.Set("Content-Type", "application/json")
			hr.Header.Set("Content-Encoding", "gzip")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			res, err := (&http.Client{Transport: &http.Transport{}}).Do(hr.WithContext(ctx))
			cancel()
			if err == nil {
				res.Body.Close()
				t.Errorf("%s: want the connection closed without a response, got %d", name, res.StatusCode)
			}
		}
		if r := e.get(t, "enc", "bad"); r.Status != 404 {
			t.Errorf("nothing may be indexed from a corrupt body: %s", r)
		}
	})
}
