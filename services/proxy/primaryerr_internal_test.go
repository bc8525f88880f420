package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchtransport"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/cluster"
)

func TestNotApplied(t *testing.T) {
	dial := func(err error) error {
		return fmt.Errorf(`"PUT" "http://10.0.0.1:9200/i/_doc/1": %w`, &net.OpError{Op: "dial", Net: "tcp", Err: err})
	}
	refused := dial(os.NewSyscallError("connect", errors.New("connection refused")))
	tests := []struct {
		name   string
		conns  int32
		reused bool
		err    error
		want   notApplied
	}{
		{name: "connection refused", err: refused, want: notAppliedConnect},
		{name: "dial timeout", err: dial(errors.New("i/o timeout")), want: notAppliedConnect},
		{name: "DNS", err: dial(&net.DNSError{Err: "no such host", Name: "search.invalid", IsNotFound: true}), want: notAppliedDNS},
		{name: "bad certificate", err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, want: notAppliedTLS},
		{name: "wrong host name", err: x509.HostnameError{Host: "x"}, want: notAppliedTLS},
		{name: "not a TLS server", err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, want: notAppliedTLS},
		{name: "handshake alert", err: tls.AlertError(40), want: notAppliedTLS},
		{name: "handshake timeout", err: errors.New("net/http: TLS handshake timeout"), want: notAppliedTLS},
		{name: "no live node", err: fmt.Errorf("cannot get connection: %w", opensearchtransport.ErrNoConnections), want: notAppliedNoNode},
		// No connection, but not an error of making one: not trusted.
		{name: "timeout without a connection", err: context.DeadlineExceeded},
		{name: "EOF without a connection", err: io.EOF},
		// A connection was handed out: the request may have been written.
		{name: "refused after a reused connection", conns: 2, reused: true, err: refused},
		{name: "refused after a fresh connection", conns: 2, err: refused},
		{name: "timeout awaiting headers", conns: 1, err: errors.New("net/http: timeout awaiting response headers")},
		{name: "reset", conns: 1, err: os.NewSyscallError("read", errors.New("connection reset by peer"))},
		// The server refusing the client's certificate on a fresh connection
		// (TLS 1.3 tells the client once it reads).
		{name: "certificate required on a fresh connection", conns: 1, err: fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", tls.AlertError(116)), want: notAppliedTLS},
		{name: "certificate required on a reused connection", conns: 1, reused: true, err: tls.AlertError(116)},
		{name: "alert that is not a handshake's", conns: 1, err: tls.AlertError(0)}, // close_notify
		{name: "certificate required after a retry", conns: 2, err: tls.AlertError(116)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &sendTrace{}
			st.conns.Store(tt.conns)
			st.reused.Store(tt.reused)
			if got := st.notApplied(tt.err); got != tt.want {
				t.Fatalf("notApplied = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSendTraceSeesConnections: the trace reaches net/http through opensearch-go, so
// that a request that got a connection is never taken for one that did not. (Without
// it, only the error type would speak.)
func TestSendTraceSeesConnections(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(srv.Close)
	c, err := cluster.New(cluster.Config{Name: "t", Endpoints: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	for i := range 2 { // a fresh connection, then a reused one
		ctx, st := withSendTrace(context.Background())
		// A trace already in the context still sees its events too.
		var outer bool
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { outer = true }})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, "/i/_doc/1", nil)
		resp, err := c.Perform(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if st.conns.Load() != 1 || !outer || st.reused.Load() != (i == 1) {
			t.Fatalf("request %d: conns %d, reused %v, outer trace %v", i, st.conns.Load(), st.reused.Load(), outer)
		}
	}
}

// TestClientFacingReasons: what a client is told of a body it could not send, or of
// events Kafka did not take, names no address.
func TestClientFacingReasons(t *testing.T) {
	local := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 9200}
	remote := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 51000}
	timeout := &net.OpError{Op: "read", Net: "tcp", Source: local, Addr: remote, Err: os.ErrDeadlineExceeded}
	if got := readError(timeout); got != "i/o timeout" {
		t.Errorf("readError = %q", got)
	}
	if got := readError(io.ErrUnexpectedEOF); got != "unexpected EOF" {
		t.Errorf("readError = %q", got)
	}
	dialErr := fmt.Errorf("unable to dial: %w", &net.OpError{Op: "dial", Net: "tcp", Addr: remote, Err: errors.New("connection refused")})
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w within 3s", errNoAck), "no acknowledgement in time"},
		{kgo.ErrRecordTimeout, "no acknowledgement in time"},
		{kerr.MessageTooLarge, "Kafka answered MESSAGE_TOO_LARGE"},
		{dialErr, "the Kafka client failed"},
	} {
		if got := kafkaReason(tt.err); got != tt.want {
			t.Errorf("kafkaReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
