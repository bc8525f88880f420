package converge_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/testbed/searchemu/emutest"
)

// flavoured starts an emulator answering as f and returns it with a client.
func flavoured(t *testing.T, f searchemu.Flavor) (*emutest.Emulator, *opensearch.Client) {
	t.Helper()
	e := emutest.Start(t, f.String(), emutest.WithFlavor(f))
	return e, e.Client(t)
}

// noContextsLeft fails the test if a scroll or point in time is still open on e.
func noContextsLeft(t *testing.T, name string, e *emutest.Emulator) {
	t.Helper()
	if scrolls, pits := e.OpenContexts(); scrolls != 0 || pits != 0 {
		t.Errorf("the %s has %d scrolls and %d points in time open after the comparison", name, scrolls, pits)
	}
}

// status sends one request and returns the answer's status and body.
func status(t *testing.T, c *opensearch.Client, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Perform(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// divergent is a primary corpus and a replica copy written with the primary's versions
// as external ones, then made to differ in each way a comparison must find:
//
//	doc-00001 missing on the replica
//	extra-1   only on the replica
//	doc-00002 updated on the primary (version 2), the replica still at version 1
//	doc-00003 same version on both, different source (only Full mode sees it)
func divergent(n int) (primary, replica []doc) {
	primary = corpus("books", n)
	for _, d := range primary {
		if d.id == "doc-00001" {
			continue
		}
		d.version = 1
		if d.id == "doc-00003" {
			d.source = `{"n":-3}`
		}
		replica = append(replica, d)
	}
	replica = append(replica, doc{index: "books", id: "extra-1", source: `{}`, version: 1})
	updated := primary[2]
	updated.source = `{"n":2,"updated":true}`
	primary = append(primary, updated) // written twice: _version 2
	return primary, replica
}

func kindsByID(rep *converge.Report) map[string]converge.Kind {
	out := map[string]converge.Kind{}
	for _, d := range rep.Diffs {
		out[d.ID] = d.Kind
	}
	return out
}

// TestCompareEveryFlavour: every emulated release is compared without sorting on _id,
// Elasticsearch 8 (which refuses _id field data, so the _id-sorted paging of before
// failed on it) through a point in time on _shard_doc, the others through a scroll;
// each mode finds what it must, and no scroll or point in time outlives the comparison.
func TestCompareEveryFlavour(t *testing.T) {
	for _, f := range searchemu.Flavors() {
		t.Run(f.String(), func(t *testing.T) {
			pe, p := flavoured(t, f)
			re, r := flavoured(t, f)
			primary, replica := divergent(40)
			load(t, p, primary)
			load(t, r, replica)

			if f == searchemu.Elasticsearch8 {
				// what converge sent before: search_after on an _id sort
				code, body := status(t, p, http.MethodPost, "/books/_search", `{"size":4,"sort":[{"_id":"asc"}],"search_after":["doc-00000"]}`)
				if code != 400 || !strings.Contains(body, "Fielddata access on the _id field is disallowed") {
					t.Fatalf("Elasticsearch 8 must refuse the _id sort: %d %s", code, body)
				}
			}
			wantPaging := converge.PagingScroll
			if f == searchemu.Elasticsearch8 {
				wantPaging = converge.PagingPIT
			}

			for _, tc := range []struct {
				mode converge.Mode
				want map[string]converge.Kind
			}{
				{converge.Full, map[string]converge.Kind{"doc-00001": converge.Missing, "extra-1": converge.Extra,
					"doc-00002": converge.Source, "doc-00003": converge.Source}},
				{converge.Fast, map[string]converge.Kind{"doc-00001": converge.Missing, "extra-1": converge.Extra,
					"doc-00002": converge.Version}},
			} {
				rep := compare(t, p, r, converge.Options{Mode: tc.mode, ExpectVersion: converge.ExactVersions, PageSize: 7})
				if rep.PrimaryPaging != wantPaging || rep.ReplicaPaging != wantPaging {
					t.Errorf("%s: paging %s/%s, want %s", tc.mode, rep.PrimaryPaging, rep.ReplicaPaging, wantPaging)
				}
				if rep.Compared != 40 || rep.Checked != 40 || rep.Mode != tc.mode {
					t.Errorf("%s: compared %d, checked %d, mode %s; want 40, 40, %s", tc.mode, rep.Compared, rep.Checked, rep.Mode, tc.mode)
				}
				if got := kindsByID(rep); fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("%s: differences %v, want %v\n%v", tc.mode, got, tc.want, rep)
				}
				noContextsLeft(t, "primary", pe)
				noContextsLeft(t, "replica", re)
			}
		})
	}
}

// TestCompareFastMovesNoSource: with 1 KiB documents, a fast comparison receives a
// small fraction of the bytes a full one does, and both agree on a converged pair.
func TestCompareFastMovesNoSource(t *testing.T) {
	p, r := emulator(t), emulator(t)
	pad := strings.Repeat("x", 1024)
	docs := make([]doc, 500)
	for i := range docs {
		docs[i] = doc{index: "big", id: fmt.Sprintf("d%04d", i), source: fmt.Sprintf(`{"n":%d,"pad":%q}`, i, pad)}
	}
	load(t, p, docs)
	load(t, r, docs)
	full := compare(t, p, r, converge.Options{Mode: converge.Full})
	fast := compare(t, p, r, converge.Options{Mode: converge.Fast})
	if !full.Converged() || !fast.Converged() || full.Compared != 500 || fast.Compared != 500 {
		t.Fatalf("want both converged over 500 documents:\n%v\n%v", full, fast)
	}
	// full receives every source twice (the page and the lookup): over 1 MiB
	if full.BytesReceived < 2*500*1024 || fast.BytesReceived*5 > full.BytesReceived {
		t.Errorf("bytes received: full %d, fast %d; want fast under a fifth of full", full.BytesReceived, fast.BytesReceived)
	}
	if fast.Seconds <= 0 || fast.DocsPerSecond <= 0 || fast.BytesSent <= 0 {
		t.Errorf("fast report lacks duration, rate or bytes sent: %+v", fast)
	}
}

// TestCompareSample: a sample compares exactly that many documents, shared among the
// indices by their sizes, and in Full mode still finds source differences among them.
func TestCompareSample(t *testing.T) {
	p, r := emulator(t), emulator(t)
	big, small := corpus("big", 700), corpus("small", 300)
	load(t, p, append(append([]doc{}, big...), small...))
	// the replica has the small index only, every source changed
	changed := make([]doc, len(small))
	for i, d := range small {
		d.source = `{"changed":true}`
		changed[i] = d
	}
	load(t, r, changed)

	for _, mode := range []converge.Mode{converge.Full, converge.Fast} {
		rep := compare(t, p, r, converge.Options{Mode: mode, Sample: 100, PageSize: 30})
		if rep.Compared != 100 || rep.Sample != 100 {
			t.Fatalf("%s: compared %d (sample %d), want 100", mode, rep.Compared, rep.Sample)
		}
		perIndex := map[string]map[converge.Kind]int{}
		for _, d := range rep.Diffs {
			if perIndex[d.Index] == nil {
				perIndex[d.Index] = map[converge.Kind]int{}
			}
			perIndex[d.Index][d.Kind]++
		}
		if got := perIndex["big"][converge.Missing]; got != 70 {
			t.Errorf("%s: %d missing in big, want its share of 70", mode, got)
		}
		wantSource := 30
		if mode == converge.Fast {
			wantSource = 0
		}
		if got := perIndex["small"][converge.Source]; got != wantSource {
			t.Errorf("%s: %d source differences in small, want %d", mode, got, wantSource)
		}
	}
}

// TestCompareClosesContexts: a comparison cancelled between two pages, or whose
// lookups on the other side fail (that side answers 503), returns the cancellation or
// the failure and leaves no scroll or point in time open on the side it paged.
func TestCompareClosesContexts(t *testing.T) {
	for _, f := range []searchemu.Flavor{searchemu.OpenSearch2, searchemu.Elasticsearch8} {
		t.Run(f.String(), func(t *testing.T) {
			pe, p := flavoured(t, f)
			re, r := flavoured(t, f)
			docs := corpus("books", 100)
			load(t, p, docs)
			load(t, r, docs)
			for _, pass := range []string{"primary", "replica"} {
				// the side looked up in this pass: the other one pages
				looked := re
				if pass == "replica" {
					looked = pe
				}
				for _, cause := range []string{"cancel", "lookup failure"} {
					ctx, cancel := context.WithCancel(context.Background())
					pages := 0
					_, err := converge.Compare(ctx, p, r, converge.Options{PageSize: 10, Refresh: true,
						Progress: func(pr converge.Progress) {
							if pr.Pass != pass {
								return
							}
							if pages++; pages == 2 {
								if cause == "cancel" {
									cancel()
								} else {
									looked.SetFaults(searchemu.Faults{Unavailable: true})
								}
							}
						}})
					cancel()
					looked.SetFaults(searchemu.Faults{})
					switch {
					case cause == "cancel" && !errors.Is(err, context.Canceled):
						t.Fatalf("cancelled in the %s pass: err %v, want context.Canceled", pass, err)
					case cause != "cancel" && (err == nil || !strings.Contains(err.Error(), "HTTP 503")):
						t.Fatalf("lookups failing in the %s pass: err %v, want the 503", pass, err)
					}
					noContextsLeft(t, "primary", pe)
					noContextsLeft(t, "replica", re)
				}
			}
		})
	}
}
