#!/usr/bin/env bash
# Runs the project's benchmarks and prints one `BENCH <name> <value> <unit>` line per
# figure, after go test's own output (kept in $BENCH_LOG for benchstat).
#
# Each row of the table: package, benchmark name, the metric unit go test reports,
# the BENCH name, and the unit to print.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_TIME=${BENCH_TIME:-2s}
BENCH_LOG=${BENCH_LOG:-$(mktemp -t fanout-bench.XXXXXX)}

table=(
  "./pkg/bulk        BenchmarkScanner        MB/s     bulk_scanner_mb_per_s            MB/s"
  "./pkg/bulk        BenchmarkParseResponse  items/s  bulk_response_items_per_s        items/s"
  "./pkg/glob        BenchmarkMatchPathological  ns/op  glob_match_pathological_ns     ns"
  "./testbed/searchemu BenchmarkBulk         docs/s   searchemu_bulk_docs_per_s        docs/s"
  "./services/proxy  BenchmarkProxyVsDirect  proxy_docs/s      proxy_docs_per_s       docs/s"
  "./services/proxy  BenchmarkProxyVsDirect  direct_docs/s     direct_docs_per_s      docs/s"
  "./services/proxy  BenchmarkProxyVsDirect  proxy/direct      proxy_vs_direct_ratio  ratio"
  "./services/proxy  BenchmarkProxyVsDirect  proxy_cpu_us/doc  proxy_cpu_us_per_doc   us/doc"
  "./services/proxy  BenchmarkProxyVsDirect  reverse_proxy_docs/s      reverse_proxy_docs_per_s      docs/s"
  "./services/proxy  BenchmarkProxyVsDirect  proxy/reverse_proxy       proxy_vs_reverse_proxy_ratio  ratio"
  "./services/proxy  BenchmarkProxyVsDirect  reverse_proxy_cpu_us/doc  reverse_proxy_cpu_us_per_doc  us/doc"
  "./services/proxy  BenchmarkProxyVsDirect  proxy_spool_cpu_us/doc    proxy_spool_cpu_us_per_doc    us/doc"
  "./services/proxy  BenchmarkProxyVsDirect  proxy_allocs/doc          proxy_allocs_per_doc          allocs/doc"
  "./services/proxy  BenchmarkProxyVsDirect  proxy_alloc_bytes/doc     proxy_alloc_bytes_per_doc     bytes/doc"
  "./services/proxy  BenchmarkProxyVsDirect  proxy_peak_rss_MiB        proxy_bulk_peak_rss_mib       MiB"
  "./services/proxy  BenchmarkProxyBytesPerItem  bytes/item    proxy_bytes_per_item   bytes/item"
  "./services/proxy  BenchmarkProxyRecovery  bulk1000_recovery/off  proxy_recovery_bulk1000_ratio  ratio"
  "./services/proxy  BenchmarkProxyRecovery  bulk10_recovery/off    proxy_recovery_bulk10_ratio    ratio"
  "./services/proxy  BenchmarkProxyRecovery  bulk10_recovery_docs/s proxy_recovery_bulk10_docs_per_s docs/s"
  "./services/proxy  BenchmarkProxyVsDirect  proxy_spool_enabled_docs/s  proxy_spool_enabled_docs_per_s  docs/s"
  "./services/proxy  BenchmarkProxySpool     spool_docs/s      proxy_spool_docs_per_s  docs/s"
  "./services/replicator  BenchmarkReplicator      replicator_docs/s       replicator_docs_per_s          docs/s"
  "./services/replicator  BenchmarkReplicatorNull  replicator_null_docs/s  replicator_null_docs_per_s     docs/s"
  "./services/replicator  BenchmarkReplicatorLateNull  replicator_late_null_docs/s  replicator_late_null_docs_per_s  docs/s"
  "./services/replicator  BenchmarkCeiling         replicator_ceiling_docs/s  replicator_ceiling_docs_per_s  docs/s"
  "./services/replicator  BenchmarkReplicatorVsCeiling  null/ceiling           replicator_null_vs_ceiling_ratio  ratio"
  "./services/replicator  BenchmarkReplicatorVsCeiling  replicator_cpu_us/doc  replicator_cpu_us_per_doc         us/doc"
  "./services/replicator  BenchmarkReplicatorVsCeiling  ceiling_cpu_us/doc     replicator_ceiling_cpu_us_per_doc us/doc"
  "./services/replicator  BenchmarkReplicatorScaleOut  docs/s@1x12  replicator_scaleout_1x12_docs_per_s  docs/s"
  "./services/replicator  BenchmarkReplicatorScaleOut  docs/s@2x12  replicator_scaleout_2x12_docs_per_s  docs/s"
  "./services/replicator  BenchmarkReplicatorScaleOut  docs/s@1x48  replicator_scaleout_1x48_docs_per_s  docs/s"
  "./services/replicator  BenchmarkReplicatorScaleOut  docs/s@2x48  replicator_scaleout_2x48_docs_per_s  docs/s"
  "./services/replicator  BenchmarkReplicatorScaleOut  two/one@12   replicator_scaleout_two_vs_one_12    ratio"
  "./services/replicator  BenchmarkReplicatorScaleOut  two/one@48   replicator_scaleout_two_vs_one_48    ratio"
  "./services/replicator  BenchmarkReplicatorRSS   replicator_rss_MiB      replicator_rss_mib             MiB"
  "./services/proxy  BenchmarkProxyLargeDocument  large_MiB/s          proxy_large_doc_mib_per_s      MiB/s"
  "./services/proxy  BenchmarkProxyLargeDocument  large_peak_heap_MiB  proxy_large_doc_peak_heap_mib  MiB"
  "./services/replicator  BenchmarkReplicatorLargeDocument  replicator_large_MiB/s    replicator_large_doc_mib_per_s  MiB/s"
  "./services/replicator  BenchmarkReplicatorLargeDocument  replicator_large_rss_MiB  replicator_large_doc_rss_mib    MiB"
  "./services/fanoutctl  BenchmarkVerifyFast  verify_fast_docs/s  verify_fast_docs_per_s     docs/s"
  "./services/fanoutctl  BenchmarkVerifyFast  bytes/doc           verify_fast_bytes_per_doc  bytes/doc"
  "./services/fanoutctl  BenchmarkBackfill  backfill_docs/s  backfill_docs_per_s  docs/s"
  "./integration/replication  BenchmarkEndToEndLag  lag_p50_ms@5k   e2e_lag_p50_ms_5k   ms"
  "./integration/replication  BenchmarkEndToEndLag  lag_p99_ms@5k   e2e_lag_p99_ms_5k   ms"
  "./integration/replication  BenchmarkEndToEndLag  lag_max_ms@5k   e2e_lag_max_ms_5k   ms"
  "./integration/replication  BenchmarkEndToEndLag  lag_p50_ms@20k  e2e_lag_p50_ms_20k  ms"
  "./integration/replication  BenchmarkEndToEndLag  lag_p99_ms@20k  e2e_lag_p99_ms_20k  ms"
  "./integration/replication  BenchmarkEndToEndLag  lag_max_ms@20k  e2e_lag_max_ms_20k  ms"
  "./integration/replication  BenchmarkEndToEndLag  sent_docs/s@20k e2e_sent_docs_per_s_20k  docs/s"
  "./integration/replication  BenchmarkEndToEndLag  proxy_cpu_us/doc@5k       e2e_proxy_cpu_us_per_doc_5k       us/doc"
  "./integration/replication  BenchmarkEndToEndLag  proxy_cpu_us/doc@20k      e2e_proxy_cpu_us_per_doc_20k      us/doc"
  "./integration/replication  BenchmarkEndToEndLag  replicator_cpu_us/doc@5k  e2e_replicator_cpu_us_per_doc_5k  us/doc"
  "./integration/replication  BenchmarkEndToEndLag  replicator_cpu_us/doc@20k e2e_replicator_cpu_us_per_doc_20k us/doc"
  "./integration/replication  BenchmarkEndToEndLag  proxy_peak_rss_MiB        proxy_rss_mib                     MiB"
  "./integration/replication  BenchmarkEndToEndLag  replicator_peak_rss_MiB   e2e_replicator_rss_mib            MiB"
)

# Benchmarks that run a fixed workload per iteration need one iteration, not BENCH_TIME.
declare -A benchtime=(
  [./pkg/glob]=1s
  [./services/proxy]=1x
  [./services/replicator]=1x
  [./services/fanoutctl]=3x
  [./integration/replication]=1x
)

declare -A benches=()
for row in "${table[@]}"; do
  read -r pkg name _ <<<"$row"
  case "|${benches[$pkg]:-}|" in *"|$name|"*) ;; *) benches[$pkg]+="${benches[$pkg]:+|}${name}" ;; esac
done

: >"$BENCH_LOG"
for pkg in "${!benches[@]}"; do
  go test -timeout 30m -run '^$' -bench "^(${benches[$pkg]})\$" -benchmem -benchtime "${benchtime[$pkg]:-$BENCH_TIME}" "$pkg" | tee -a "$BENCH_LOG"
done

echo
status=0
for row in "${table[@]}"; do
  read -r _ name metric bench unit <<<"$row"
  # A result line: BenchmarkName-2  N  v1 unit1  v2 unit2 ...
  value=$(awk -v n="$name" -v m="$metric" '
    $1 ~ "^"n"(-[0-9]+)?$" { for (i = 3; i < NF; i++) if ($(i+1) == m) v = $i }
    END { if (v != "") print v }' "$BENCH_LOG")
  if [ -z "$value" ]; then
    echo "bench: no $metric figure from $name" >&2
    status=1
    continue
  fi
  printf 'BENCH %s %s %s\n' "$bench" "$value" "$unit"
done
echo "(raw go test output: $BENCH_LOG)"
exit $status
