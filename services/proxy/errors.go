package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Error types the proxy itself answers with. Clients match on "type", so they are
// stable; each is rendered in the standard Elasticsearch error envelope.
const (
	// The primary applied the writes but their events are not safely in Kafka.
	errReplication = "fanout_replication_exception"
	// The primary could not be reached or did not answer in time.
	errPrimary = "fanout_primary_exception"
	// The request body is larger than limits.max_body_bytes.
	errTooLarge = "content_too_long_exception"
	// Too many requests in flight (limits.max_concurrent_requests).
	errRejected = "rejected_execution_exception"
	// The request could not be read (bad gzip, broken connection).
	errBadRequest = "illegal_argument_exception"
	// The proxy is shutting down.
	errShuttingDown = "fanout_shutting_down_exception"
	// The request body came too slowly (limits.body_timeout, limits.body_min_rate).
	errSlowBody = "fanout_request_timeout_exception"
)

type errorCause struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

type errorBody struct {
	RootCause []errorCause `json:"root_cause"`
	Type      string       `json:"type"`
	Reason    string       `json:"reason"`
	// Applied lists the documents the primary applied whose events were not queued
	// (fanout_replication_exception only), as "index/id", bounded.
	Applied []string `json:"fanout.applied,omitempty"`
	// AppliedTotal counts them all when the list is cut.
	AppliedTotal int `json:"fanout.applied_total,omitempty"`
}

// writeError answers with the standard error envelope
// {"error":{"root_cause":[…],"type":…,"reason":…},"status":N}.
func writeError(w http.ResponseWriter, r *http.Request, status int, typ, reason string) {
	writeErrorBody(w, r, status, errorBody{Type: typ, Reason: reason})
}

func writeErrorBody(w http.ResponseWriter, r *http.Request, status int, e errorBody) {
	e.RootCause = []errorCause{{Type: e.Type, Reason: e.Reason}}
	body, _ := json.Marshal(struct {
		Error  errorBody `json:"error"`
		Status int       `json:"status"`
	}{e, status})
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
