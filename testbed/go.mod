module github.com/fanout-dev/fanout/testbed

go 1.26.0

// Sibling modules of the workspace, so that `go mod tidy` works without go.work.
replace github.com/fanout-dev/fanout/pkg => ../pkg

require (
	github.com/fanout-dev/fanout/pkg v0.0.0
	github.com/opensearch-project/opensearch-go/v4 v4.8.1
	github.com/twmb/franz-go v1.22.3
	github.com/twmb/franz-go/pkg/kadm v1.19.0
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c
	github.com/twmb/franz-go/pkg/kmsg v1.15.1
	go.uber.org/goleak v1.3.0
	go.yaml.in/yaml/v3 v3.0.5
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	golang.org/x/sync v0.24.0 // indirect
)
