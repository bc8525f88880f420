package emutest_test

import (
	"context"
	"net/http"
	"testing"

	"go.uber.org/goleak"

	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/testbed/searchemu/emutest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStart(t *testing.T) {
	e := emutest.Start(t, "bed", func(o *searchemu.Options) { o.Flavor = searchemu.Elasticsearch7 })
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil)
	resp, err := e.Client(t).Perform(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("GET / on %s: %d %v", e.URL, resp.StatusCode, resp.Header)
	}
}

func TestWithFlavor(t *testing.T) {
	for _, f := range searchemu.Flavors() {
		e := emutest.Start(t, "bed-"+f.String(), emutest.WithFlavor(f))
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil)
		resp, err := e.Client(t).Perform(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		elastic := f == searchemu.Elasticsearch7 || f == searchemu.Elasticsearch8
		if got := resp.Header.Get("X-Elastic-Product") == "Elasticsearch"; got != elastic {
			t.Errorf("%s: X-Elastic-Product present %v, want %v", f, got, elastic)
		}
	}
}
