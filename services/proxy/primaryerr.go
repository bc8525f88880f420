package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http/httptrace"
	"reflect"
	"strings"
	"sync/atomic"

	"github.com/opensearch-project/opensearch-go/v4/opensearchtransport"
)

// A write whose primary call failed is answered 502 "not applied" only when the proxy
// is certain that the primary never took the request in; otherwise 504 "may or may not
// have been applied", because a client told "not applied" retries, and a retried
// non-idempotent write (an auto-id index, a scripted update) applies twice.
//
// Certainty comes from two signals that must agree:
//
//   - The transport never handed the request a connection (httptrace GotConn did not
//     fire). net/http calls GotConn before it writes a byte of a request, on HTTP/1
//     and HTTP/2 alike, and on every attempt of its own internal retries; so no
//     GotConn means no byte of the request left the proxy. That holds even when the
//     transport first wrote the request on a reused connection, failed, and then
//     failed to dial a new one: the first attempt fired GotConn.
//   - The error is one of establishing a connection: DNS, dial (refused,
//     unreachable, dial timeout), a TLS handshake failure, or opensearch-go having
//     no live node to try. This guards against a trace that did not reach the
//     transport: a timeout or a reset is never taken for "not sent".
//
// One more case is certain although bytes were sent: the server's TLS stack refusing
// the handshake after the client finished its half. Under TLS 1.3 a client that sends
// no or a wrong certificate learns so only when it reads, after writing its request;
// a handshake-failure alert on a connection's first use means the server's handshake
// failed, so its HTTP layer never saw a request.

// notApplied names, for the not-applied metric and the client, why the primary could
// not be reached.
type notApplied string

const (
	notAppliedDNS     notApplied = "dns"
	notAppliedConnect notApplied = "connect"
	notAppliedTLS     notApplied = "tls"
	notAppliedNoNode  notApplied = "no_connection"
)

// describe is the client's reason, naming no address.
func (n notApplied) describe() string {
	switch n {
	case notAppliedDNS:
		return "its host name does not resolve"
	case notAppliedConnect:
		return "the connection failed"
	case notAppliedTLS:
		return "the TLS handshake failed"
	default:
		return "no node of it is reachable"
	}
}

// sendTrace observes the connections the transport gives one request.
type sendTrace struct {
	conns  atomic.Int32
	reused atomic.Bool
}

// withSendTrace returns ctx with a trace that st records; it composes with any trace
// already in ctx.
func withSendTrace(ctx context.Context) (context.Context, *sendTrace) {
	st := &sendTrace{}
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			st.conns.Add(1)
			if info.Reused {
				st.reused.Store(true)
			}
		},
	}), st
}

// notApplied returns why the request that failed with err certainly did not reach the
// primary's request handling, or "" when it may have.
func (st *sendTrace) notApplied(err error) notApplied {
	switch st.conns.Load() {
	case 0:
		return connectFailure(err)
	case 1:
		if !st.reused.Load() && isHandshakeAlert(err) {
			return notAppliedTLS
		}
	}
	return ""
}

// connectFailure classifies an error of establishing a connection; "" for any other.
func connectFailure(err error) notApplied {
	var (
		dnsErr   *net.DNSError
		opErr    *net.OpError
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, opensearchtransport.ErrNoConnections):
		return notAppliedNoNode
	case errors.As(err, &dnsErr):
		return notAppliedDNS
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return notAppliedConnect
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid),
		errors.As(err, &record):
		return notAppliedTLS
	case isRemoteAlert(err):
		// Any alert while connecting: the handshake failed.
		return notAppliedTLS
	case strings.Contains(err.Error(), "net/http: TLS handshake timeout"), strings.Contains(err.Error(), "tls: "):
		// Untyped handshake errors (net/http's handshake timeout, crypto/tls's
		// "tls: server selected unsupported protocol version"…). Only trusted
		// with no connection handed out: then they cannot come from a request's
		// own traffic.
		return notAppliedTLS
	}
	return ""
}

// handshakeAlerts are the TLS alerts a peer sends only when it fails a handshake
// (RFC 8446 §6.2; RFC 5246 §7.2.2).
var handshakeAlerts = map[tls.AlertError]bool{
	40:  true, // handshake_failure
	42:  true, // bad_certificate
	43:  true, // unsupported_certificate
	44:  true, // certificate_revoked
	45:  true, // certificate_expired
	46:  true, // certificate_unknown
	48:  true, // unknown_ca
	49:  true, // access_denied
	70:  true, // protocol_version
	71:  true, // insufficient_security
	116: true, // certificate_required
}

func isRemoteAlert(err error) bool {
	_, ok := remoteAlert(err)
	return ok
}

func isHandshakeAlert(err error) bool {
	alert, ok := remoteAlert(err)
	return ok && handshakeAlerts[alert]
}

// remoteAlert returns the TLS alert the peer sent, if err is one. crypto/tls reports a
// received alert as a *net.OpError "remote error" around its unexported alert type, a
// uint8 holding the alert's code (AlertError is what it returns over QUIC).
func remoteAlert(err error) (tls.AlertError, bool) {
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return alert, true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		if v := reflect.ValueOf(op.Err); v.Kind() == reflect.Uint8 {
			return tls.AlertError(v.Uint()), true
		}
	}
	return 0, false
}
