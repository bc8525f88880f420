package searchemu

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// errCorruptBody marks a request body whose Content-Encoding could not be decoded.
var errCorruptBody = errors.New("searchemu: corrupt compressed request body")

// bodyDecoder returns a reader of the decoded request body, as Netty's
// HttpContentDecompressor (the "decoder_compress" stage OpenSearch puts in front of the
// HttpObjectAggregator, modules/transport-netty4/.../Netty4HttpServerTransport.java)
// decodes it. Request decompression does not depend on http.compression, which only
// governs response compression: every node accepts compressed requests.
//
//   - gzip and x-gzip are gzip (ZlibWrapper.GZIP); only the first member is read and
//     anything after it is dropped (JdkZlibDecoder without decompressConcatenated);
//   - deflate and x-deflate are zlib-wrapped or raw deflate (ZlibWrapper.ZLIB_OR_NONE);
//   - anything else (identity, unknown codings) passes the bytes through unchanged, so a
//     body in an unsupported coding then fails to parse as its Content-Type. (Netty can
//     also decode br, snappy and zstd where their codecs are present; the emulator does
//     not, which is stricter, never more permissive.)
//
// ok is false when the body is used as it is.
func bodyDecoder(r *http.Request) (rd io.Reader, ok bool, err error) {
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	if enc != "gzip" && enc != "x-gzip" && enc != "deflate" && enc != "x-deflate" {
		return r.Body, false, nil
	}
	// an empty body stays empty: the decoder is never fed (JdkZlibDecoder returns on an
	// unreadable buffer), so a bodiless GET with a coding header is a bodiless GET
	body := bufio.NewReader(r.Body)
	if _, err := body.Peek(1); err != nil {
		return body, false, nil
	}
	switch enc {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, true, fmt.Errorf("%w: gzip header: %w", errCorruptBody, err)
		}
		zr.Multistream(false)
		return zr, true, nil
	default: // deflate, x-deflate
		head, err := body.Peek(2)
		if err == nil && isZlibHeader(head) {
			zr, err := zlib.NewReader(body)
			if err != nil {
				return nil, true, fmt.Errorf("%w: zlib header: %w", errCorruptBody, err)
			}
			return zr, true, nil
		}
		return flate.NewReader(body), true, nil
	}
}

// isZlibHeader is ZlibDecoder's looksLikeZlib: CM 8 (deflate), a window of at most 32K
// and a header checksum that divides by 31.
func isZlibHeader(b []byte) bool {
	cmf, flg := int(b[0]), int(b[1])
	return cmf&0x0f == 8 && cmf>>4 <= 7 && (cmf<<8|flg)%31 == 0
}
