// Package emutest serves searchemu clusters in the tests of any module, so that every
// suite starts, reaches and stops its emulated clusters the same way.
package emutest

import (
	"context"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// Emulator is a cluster served on 127.0.0.1 until the test ends.
type Emulator struct {
	*searchemu.Cluster
	Server *searchemu.Server
	URL    string
}

// Start serves a new cluster named name; opts adjust its options.
func Start(t testing.TB, name string, opts ...func(*searchemu.Options)) *Emulator {
	t.Helper()
	o := searchemu.Options{Name: name}
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := searchemu.New(o)
	srv, err := c.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("starting the %s emulator: %v", name, err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &Emulator{Cluster: c, Server: srv, URL: srv.URL()}
}

// WithFlavor makes the cluster answer as flavor f (Start's default is OpenSearch2).
func WithFlavor(f searchemu.Flavor) func(*searchemu.Options) {
	return func(o *searchemu.Options) { o.Flavor = f }
}

// Client returns an opensearch-go client for the emulator with the library's retries
// off (fanout decides what to retry), closed when the test ends: the client polls the
// cluster in the background until closed.
func (e *Emulator) Client(t testing.TB) *opensearch.Client {
	t.Helper()
	c, err := opensearch.NewClient(opensearch.Config{Addresses: []string{e.URL}, DisableRetry: true})
	if err != nil {
		t.Fatalf("client for %s: %v", e.URL, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
