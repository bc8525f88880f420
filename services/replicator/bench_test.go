package replicator_test

// infraEnv makes the test binary serve the benchmarks' infrastructure instead of
// running tests.
const infraEnv = "FANOUT_REPLICATOR_BENCH_INFRA"

func runInfra() {}
