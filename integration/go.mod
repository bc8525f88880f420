module github.com/fanout-dev/fanout/integration

go 1.26.0

require github.com/fanout-dev/fanout/pkg v0.0.0

// Sibling modules of the workspace, so that `go mod tidy` works without go.work.
replace github.com/fanout-dev/fanout/pkg => ../pkg

// The module proxy refuses the go-ansiterm pseudo-version that testcontainers-go pulls in
// (403 "not available"); pin the newest one it serves. go-ansiterm is Windows-only code.
replace github.com/Azure/go-ansiterm => github.com/Azure/go-ansiterm v0.0.0-20250102033503-faa5f7b0171c
