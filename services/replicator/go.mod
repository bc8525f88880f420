module github.com/fanout-dev/fanout/services/replicator

go 1.26.0

require github.com/fanout-dev/fanout/pkg v0.0.0

// Sibling modules of the workspace, so that `go mod tidy` works without go.work.
replace github.com/fanout-dev/fanout/pkg => ../../pkg
