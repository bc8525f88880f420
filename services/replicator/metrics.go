package replicator

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Results of fanout_replicator_ops_total.
const (
	resultApplied = "applied" // the target took it
	resultStale   = "stale"   // the target had a newer version (409)
	resultRetried = "retried" // an item attempt that will be tried again (counted per attempt)
	resultDLQ     = "dlq"     // written to the dead-letter topic (poison or rejected)
	resultSkipped = "skipped" // its index is not replicated to this target
)

// metrics are the replicator's Prometheus series (fanout_replicator_*). Every series
// carries the target's name as label cluster, so that several replicators can share
// a dashboard.
type metrics struct {
	ops            *prometheus.CounterVec // result
	opApplied      prometheus.Counter
	opStale        prometheus.Counter
	opRetried      prometheus.Counter
	opDLQ          prometheus.Counter
	opSkipped      prometheus.Counter
	bulkOK         prometheus.Counter
	bulkFailed     prometheus.Counter
	bulkSeconds    prometheus.Observer
	bulkBytes      prometheus.Observer
	bulkRequests   *prometheus.CounterVec // result: ok, failed
	lagRecords     *prometheus.GaugeVec   // topic, partition
	lagSeconds     *prometheus.GaugeVec   // topic, partition
	targetUp       prometheus.Gauge
	paused         prometheus.Gauge
	inflight       prometheus.Gauge
	bufferedBytes  prometheus.Gauge
	fetchPaused    prometheus.Gauge
	partitions     prometheus.Gauge
	commits        *prometheus.CounterVec // result: ok, failed
	dlqProduceErrs prometheus.Counter
	expired        *prometheus.CounterVec // topic, partition
	dlqReferences  prometheus.Counter
	dlqPermanent   prometheus.Counter
	deletes        deletesMetrics
	// lateEvents counts INDEX events older than late_events.window, by outcome
	// (late*); primaryLookups the _mget requests to the primary, by result.
	lateEvents             *prometheus.CounterVec
	primaryLookups         *prometheus.CounterVec
	lookupOK, lookupFailed prometheus.Counter
	// chunkGroups counts chunk groups resolved, by result (chunkResult*);
	// chunkBuffered is the bytes of pieces held by groups being assembled, over all
	// partitions; chunkOrphans counts pieces of groups resolved before (skipped).
	chunkGroups   *prometheus.CounterVec
	chunkBuffered prometheus.Gauge
	chunkOrphans  prometheus.Counter
	// metaChanges counts metadata changes by result (applied, skipped, dlq), counted
	// once per change by its coordinator; metaSteps their steps by kind and result
	// (metaapply.go); barrierWait the time a copy waited at its barrier, and
	// barriersWaiting the copies waiting now.
	metaChanges     *prometheus.CounterVec
	metaSteps       *prometheus.CounterVec
	barrierWait     prometheus.Observer
	barriersWaiting prometheus.Gauge
	// anti-entropy (antientropy.go)
	aePasses          *prometheus.CounterVec // result
	aeRunning         prometheus.Gauge
	aeLastPass        prometheus.Gauge
	aeLastPassSeconds prometheus.Gauge
	aeChecked         prometheus.Counter
	aeDiffs           *prometheus.CounterVec // kind
	aeSkipped         *prometheus.CounterVec // reason
	aeRepaired        *prometheus.CounterVec // kind
	aeFailed          *prometheus.CounterVec // kind
}

// Results of fanout_replicator_chunk_groups_total.
const (
	chunkAssembled  = "assembled"  // put together and checked; applied as one INDEX
	chunkSuperseded = "superseded" // given up for a newer event of its document (stale)
	chunkIncomplete = "incomplete" // its last pieces never came: dead-lettered
	chunkInvalid    = "invalid"    // gap, mismatch or checksum: dead-lettered
	chunkTooLarge   = "too_large"  // over limits.max_document_bytes: dead-lettered
)

// deletesMetrics count the memory of recent deletes (deletes.go).
type deletesMetrics struct {
	entries, bytes prometheus.Gauge
	evicted, hits  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, cluster string) *metrics {
	f := promauto.With(prometheus.WrapRegistererWith(prometheus.Labels{"cluster": cluster}, reg))
	m := &metrics{
		aePasses: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_replicator_anti_entropy_passes_total",
			Help: "Anti-entropy passes by result: complete, capped (stopped at max_diffs), failed (a cluster could not be asked), stopped (leadership moved, paused, shutdown).",
		}, []string{"result"}),
		aeRunning: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_replicator_anti_entropy_running",
			Help: "1 while this member runs an anti-entropy pass.",
		}),
		aeLastPass: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_replicator_anti_entropy_last_full_pass_timestamp_seconds",
			Help: "When the last complete anti-entropy pass (every replicated index to the end, differences confirmed and repaired) ended, as a Unix time; 0 before the first.",
		}),
		aeLastPassSeconds: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_replicator_anti_entropy_last_full_pass_seconds",
			Help: "How long the last complete anti-entropy pass took.",
		}),
		aeChecked: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_replicator_anti_entropy_documents_checked_total",
			Help: "Documents the anti-entropy compared, primary's and target's together (bounded by anti_entropy.max_docs_per_s).",
		}),
		aeDiffs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_replicator_anti_entropy_differences_total",
			Help: "Differences from the primary the anti-entropy confirmed (they outlived the stream), by kind: missing, extra, version, source, routing.",
		}, []string{"kind"}),
		aeSkipped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_replicator_anti_entropy_skipped_total",
			Help: "Differences seen but not repaired, by reason: in_flux (a side changed: left to the stream), converged (the stream caught up), deferred (the group did not catch up in settle_timeout), index_missing (not on the target), already_newer.",
		}, []string{"reason"}),
		aeRepaired: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_replicator_repaired_total",
			Help: "Documents the anti-entropy repaired on the target (the primary's state written through the apply path), by kind of difference.",
		}, []string{"kind"}),
		aeFailed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_replicator_anti_entropy_repair_failures_total",
			Help: "Confirmed differences the anti-entropy could not repair (the target refused the write), by kind; logged with the cause.",
		}, []string{"kind"}),
		expired: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_replicator_records_expired_total",
			Help: "Records the group had not applied when retention deleted them: a committed offset below the log start resumes there.",
		}, []string{"topic", "partition"}),
		ops: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_replicator_ops_total",
			Help: "Operations by outcome: applied, stale (target had newer), retried (per attempt), dlq, skipped (index not replicated).",
		}, []string{"result"}),
		bulkSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "fanout_replicator_bulk_seconds",
			Help:    "Time for the target to answer a _bulk request.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		bulkBytes: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "fanout_replicator_bulk_bytes",
			Help:    "Size of the _bulk request bodies sent.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 9), // 1 KiB … 64 MiB
		}),
		bulkRequests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_replicator_bulk_requests_total",
			Help: "_bulk requests by result: ok (answered item by item) or failed (no usable answer: cluster trouble).",
		}, []string{"result"}),
		lagRecords: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fanout_replicator_lag_records",
			Help: "Records of the partition not yet resolved (high watermark minus the next offset to resolve).",
		}, []string{"topic", "partition"}),
		lagSeconds: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fanout_replicator_lag_seconds",
			Help: "Now minus the primary's accepted time of the partition's last applied event; 0 when nothing is pending.",
		}, []string{"topic", "partition"}),
		targetUp: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_replicator_target_up",
			Help: "1 when the target cluster answers, 0 while requests fail as a whole.",
		}),
		paused: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_replicator_paused",
			Help: "1 while replication is paused by an operator (POST /admin/pause).",
		}),
		inflight: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_replicator_inflight_bulks",
			Help: "_bulk requests in flight.",
		}),
		bufferedBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_replicator_buffered_bytes",
			Help: "Bytes of fetched records waiting to be applied.",
		}),
		fetchPaused: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_replicator_fetch_paused_partitions",
			Help: "Partitions whose fetching is paused, for backpressure or by an operator.",
		}),
		partitions: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_replicator_assigned_partitions",
			Help: "Partitions this instance owns.",
		}),
		commits: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_replicator_commits_total",
			Help: "Offset commits by result (ok, failed).",
		}, []string{"result"}),
		dlqProduceErrs: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_replicator_dlq_produce_errors_total",
			Help: "Failed attempts to write a dead-letter record; the partition waits and retries.",
		}),
		dlqReferences: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_replicator_dlq_references_total",
			Help: "Dead-letter records written without their value (too large for the dead-letter topic): the source offset locates the event.",
		}),
		dlqPermanent: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_replicator_dlq_permanent_errors_total",
			Help: "Dead-letter writes refused for good (authorization, missing topic, a record that fits in no form): the partition blocks until an operator acts.",
		}),
	}
	m.chunkGroups = f.NewCounterVec(prometheus.CounterOpts{
		Name: "fanout_replicator_chunk_groups_total",
		Help: "Chunk groups (large documents published in pieces) resolved, by result: assembled, superseded, incomplete, invalid, too_large.",
	}, []string{"result"})
	for _, r := range []string{chunkAssembled, chunkSuperseded, chunkIncomplete, chunkInvalid, chunkTooLarge} {
		m.chunkGroups.WithLabelValues(r)
	}
	m.chunkBuffered = f.NewGauge(prometheus.GaugeOpts{
		Name: "fanout_replicator_chunk_buffered_bytes",
		Help: "Bytes of pieces held by chunk groups being assembled, over all partitions (each group at most limits.max_document_bytes).",
	})
	m.chunkOrphans = f.NewCounter(prometheus.CounterOpts{
		Name: "fanout_replicator_chunk_orphans_total",
		Help: "Pieces of chunk groups resolved before (assembled, superseded or dead-lettered, possibly before a restart), skipped.",
	})
	m.deletes = deletesMetrics{
		entries: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_replicator_delete_memory_entries",
			Help: "Recent deletes remembered over all partitions (capped by deletes.max_entries).",
		}),
		bytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "fanout_replicator_delete_memory_bytes",
			Help: "Estimated memory held by the remembered deletes.",
		}),
		evicted: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_replicator_delete_memory_evicted_total",
			Help: "Deletes forgotten before deletes.window passed because deletes.max_entries was reached.",
		}),
		hits: f.NewCounter(prometheus.CounterOpts{
			Name: "fanout_replicator_superseded_by_delete_total",
			Help: "INDEX events resolved as stale because a newer DELETE of the document was seen in the partition.",
		}),
	}
	m.lateEvents = f.NewCounterVec(prometheus.CounterOpts{
		Name: "fanout_replicator_late_events_total",
		Help: "INDEX events older than late_events.window when applied, by outcome: current (the primary's current document applied instead), deleted (gone on the primary: a DELETE applied instead), retried (the primary could not say for the document; per attempt), dlq (the primary could not say, attempts used up), unresolved (no primary configured: applied as recorded, may resurrect a deleted document).",
	}, []string{"outcome"})
	for _, o := range []string{lateCurrent, lateDeleted, lateRetried, lateDLQ, lateUnresolved} {
		m.lateEvents.WithLabelValues(o)
	}
	m.primaryLookups = f.NewCounterVec(prometheus.CounterOpts{
		Name: "fanout_replicator_primary_lookups_total",
		Help: "Realtime _mget requests to the primary for late INDEX events, by result: ok, failed (no usable answer: the partition blocks and retries).",
	}, []string{"result"})
	m.lookupOK = m.primaryLookups.WithLabelValues("ok")
	m.lookupFailed = m.primaryLookups.WithLabelValues("failed")
	m.metaChanges = f.NewCounterVec(prometheus.CounterOpts{
		Name: "fanout_replicator_metadata_changes_total",
		Help: "Metadata changes (index lifecycle, mappings, settings, aliases, templates, pipelines, data streams) by result: applied, skipped (policy or filters), dlq (a step refused by the target).",
	}, []string{"result"})
	for _, r := range []string{resultApplied, resultSkipped, resultDLQ} {
		m.metaChanges.WithLabelValues(r)
	}
	m.metaSteps = f.NewCounterVec(prometheus.CounterOpts{
		Name: "fanout_replicator_metadata_steps_total",
		Help: "Steps of applied metadata changes by kind and result: applied, unchanged, skipped, refused, static (a static setting differs; not sent).",
	}, []string{"kind", "result"})
	m.barrierWait = f.NewHistogram(prometheus.HistogramOpts{
		Name:    "fanout_replicator_barrier_wait_seconds",
		Help:    "Time a partition waited at a metadata change's barrier for the other partitions (or, on partition 0, the time to apply).",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	})
	m.barriersWaiting = f.NewGauge(prometheus.GaugeOpts{
		Name: "fanout_replicator_barriers_waiting",
		Help: "Partitions waiting at a metadata change's barrier now.",
	})
	// Creating every series up front makes rates start at zero, and the hot path
	// skips the label lookup.
	m.opApplied = m.ops.WithLabelValues(resultApplied)
	m.opStale = m.ops.WithLabelValues(resultStale)
	m.opRetried = m.ops.WithLabelValues(resultRetried)
	m.opDLQ = m.ops.WithLabelValues(resultDLQ)
	m.opSkipped = m.ops.WithLabelValues(resultSkipped)
	m.bulkOK = m.bulkRequests.WithLabelValues("ok")
	m.bulkFailed = m.bulkRequests.WithLabelValues("failed")
	for _, r := range []string{"ok", "failed"} {
		m.commits.WithLabelValues(r)
	}
	return m
}
