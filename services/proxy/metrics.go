package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the proxy's Prometheus series (fanout_proxy_*).
type metrics struct {
	requests       *prometheus.CounterVec   // route, code
	requestSeconds *prometheus.HistogramVec // route
	primarySeconds *prometheus.HistogramVec // route
	bodyBytes      *prometheus.CounterVec   // route
	inflight       prometheus.Gauge
	inflightBytes  prometheus.Gauge       // counted against limits.max_inflight_bytes
	rejected       *prometheus.CounterVec // reason
	events         prometheus.Counter
	// records counts the Kafka records acknowledged (one per event, or a chunked
	// event's pieces); chunkedEvents the events published as chunk groups.
	records         prometheus.Counter
	chunkedEvents   prometheus.Counter
	publishSeconds  prometheus.Histogram
	publishFailures prometheus.Counter // events Kafka did not take in time
	replicationErrs prometheus.Counter // requests answered with fanout_replication_exception
	unknownOutcome  prometheus.Counter // writes whose primary answer never came
	failovers       prometheus.Counter
	primaryUp       prometheus.Gauge
	// routingLookups counts _mget requests for the routing updates applied, by outcome
	// (ok, failed); unconfirmedRouting counts events withheld because that routing
	// could not be read; supersededUpdates counts events of updates not published
	// because later writes of their documents had overwritten them.
	routingLookups     *prometheus.CounterVec
	unconfirmedRouting prometheus.Counter
	supersededUpdates  prometheus.Counter
	// notApplied counts writes answered 502 because the primary certainly did not
	// take them in, by reason (dns, connect, tls, no_connection): see primaryerr.go.
	notApplied *prometheus.CounterVec
	// authRejected counts requests refused in auth.mode proxy, by reason (missing,
	// invalid).
	authRejected *prometheus.CounterVec
	// metadataChanges counts the metadata changes published, by kind (index,
	// template, pipeline, data_stream); metadataFailures the applied ones not
	// published, by kind and stage (resolve, read_back, publish).
	metadataChanges  *prometheus.CounterVec
	metadataFailures *prometheus.CounterVec
	// Crash recovery (intent.go, recovery.go): intents recorded; on start-up the open
	// intents found, the documents resolved by outcome, the events published for them.
	intents          prometheus.Counter
	recoveryIntents  prometheus.Counter
	recoveredDocs    *prometheus.CounterVec
	recoveredEvents  prometheus.Counter
	recoveryComplete prometheus.Gauge
	orphans          prometheus.Gauge
	orphansDeferred  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	buckets := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	return &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_proxy_requests_total", Help: "Requests answered, by route and HTTP status code.",
		}, []string{"route", "code"}),
		requestSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fanout_proxy_request_seconds", Help: "Time to answer a request, by route.", Buckets: buckets,
		}, []string{"route"}),
		primarySeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fanout_proxy_primary_seconds", Help: "Time the primary took to answer, by route.", Buckets: buckets,
		}, []string{"route"}),
		bodyBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_proxy_request_body_bytes_total", Help: "Request body bytes read for replicated writes, by route.",
		}, []string{"route"}),
		inflight: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_proxy_inflight_requests", Help: "Requests being served.",
		}),
		inflightBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_proxy_inflight_bytes", Help: "Memory held by requests in flight (bodies, bulk items, answers), as counted against limits.max_inflight_bytes.",
		}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_proxy_rejected_requests_total", Help: "Requests refused by the proxy's limits, by reason.",
		}, []string{"reason"}),
		events: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_proxy_events_published_total", Help: "Events Kafka acknowledged.",
		}),
		records: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_proxy_records_published_total", Help: "Kafka records acknowledged: one per event, or one per piece of a chunked event.",
		}),
		chunkedEvents: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_proxy_chunked_events_total", Help: "Events whose document was too large for one record (publish.max_record_bytes), published as chunk groups.",
		}),
		publishSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name: "fanout_proxy_publish_seconds", Help: "Time for Kafka to acknowledge all events of a request.", Buckets: buckets,
		}),
		publishFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_proxy_publish_failures_total", Help: "Events of writes the primary applied that Kafka did not acknowledge in time.",
		}),
		replicationErrs: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_proxy_replication_errors_total", Help: "Requests answered with fanout_replication_exception: applied on the primary, not queued for replication.",
		}),
		unknownOutcome: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_proxy_primary_unknown_outcome_total", Help: "Writes sent to the primary whose answer never came (timeout, reset) and that it may have taken in: they may have been applied without an event.",
		}),
		notApplied: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_proxy_primary_not_applied_total", Help: "Writes answered 502 because the primary could not be reached before it took them in (not applied, nothing published), by reason: dns, connect, tls, no_connection.",
		}, []string{"reason"}),
		failovers: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_proxy_read_failovers_total", Help: "Read-only calls answered by the fallback cluster because the primary was unreachable.",
		}),
		primaryUp: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_proxy_primary_up", Help: "1 when the last probe of the primary succeeded.",
		}),
		routingLookups: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_proxy_routing_lookups_total", Help: "Realtime _mget requests to the primary for the routing updates applied, by outcome (ok, failed).",
		}, []string{"outcome"}),
		unconfirmedRouting: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_proxy_unconfirmed_routing_total", Help: "Events of applied updates not published because the routing the primary applied could not be read from it.",
		}),
		authRejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_proxy_auth_rejected_total", Help: "Requests refused with 401 by the proxy's own authentication (auth.mode proxy), by reason (missing, invalid).",
		}, []string{"reason"}),
		metadataChanges: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_proxy_metadata_changes_total", Help: "Metadata changes the primary applied whose resulting state Kafka committed (one copy per partition, in one transaction), by kind: index, template, pipeline, data_stream.",
		}, []string{"kind"}),
		metadataFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_proxy_metadata_failures_total", Help: "Metadata requests answered with an error by fanout, by kind and stage: resolve (what the request names could not be read before it; not sent), read_back (applied, state not read) or publish (applied, not committed to Kafka).",
		}, []string{"kind", "stage"}),
		intents: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_proxy_intents_total", Help: "Write intents recorded durably in recovery.dir before the primary was called.",
		}),
		recoveryIntents: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_proxy_recovery_intents_total", Help: "Open intents found in recovery.dir at start-up (left by a proxy that died, or by writes whose outcome or events were not settled).",
		}),
		recoveredDocs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_proxy_recovery_documents_total", Help: "Documents of open intents resolved against the primary (at start-up, or unsettled writes of this proxy), by outcome: current (INDEX of its current state), deleted (DELETE), index_gone (nothing to publish), unverified (missing, but no safe delete version could be read: nothing published, logged).",
		}, []string{"outcome"}),
		recoveredEvents: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_proxy_recovered_events_total", Help: "Events published by recovery (start-up or unsettled writes) and acknowledged by Kafka.",
		}),
		recoveryComplete: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_proxy_recovery_complete", Help: "1 once the open intents found at start-up are resolved (or recovery is off); /readyz fails until then.",
		}),
		orphans: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_proxy_recovery_orphaned_documents", Help: "Documents of this proxy's writes whose outcome or events were not settled (no answer from the primary, a 503), waiting recovery.settle to be resolved against the primary.",
		}),
		orphansDeferred: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_proxy_recovery_orphans_deferred_total", Help: "Unsettled writes left to the next start's recovery because too many documents were already waiting to be resolved in memory.",
		}),
		supersededUpdates: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_proxy_superseded_updates_total", Help: "Events of applied updates not published because a later write of the same document had already overwritten them on the primary.",
		}),
	}
}
