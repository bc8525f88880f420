package fanoutctl

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/event"
)

// TestVerify: verify exits 0 when a target holds exactly the primary's documents at
// their replication versions, and 1, naming the documents, when it does not.
func TestVerify(t *testing.T) {
	primary, target := startEmulator(t, "primary"), startEmulator(t, "dr")
	primary.createIndex(t, "books")
	target.createIndex(t, "books-dr")
	// The primary's writes, copied to the target as a replicator would: renamed index,
	// external version = the replication version of the primary's answer, same routing.
	for i := 0; i < 30; i++ {
		path, routing := fmt.Sprintf("/books/_doc/%d", i), ""
		if r := routingOf(fmt.Sprint(i)); r != "" {
			path, routing = path+"?routing="+r, "&routing="+r
		}
		status, body := primary.do(t, http.MethodPut, path, fmt.Sprintf(`{"n":%d}`, i))
		if status != 201 {
			t.Fatalf("primary: %d %s", status, body)
		}
		var ans struct {
			SeqNo int64 `json:"_seq_no"`
			Term  int64 `json:"_primary_term"`
		}
		_ = json.Unmarshal([]byte(body), &ans)
		v, err := event.ReplicationVersion(ans.SeqNo, ans.Term, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		if status, body := target.do(t, http.MethodPut, fmt.Sprintf("/books-dr/_doc/%d?version=%d&version_type=external%s", i, v, routing), fmt.Sprintf(`{"n":%d}`, i)); status != 201 {
			t.Fatalf("target: %d %s", status, body)
		}
	}
	// An index the target does not replicate (indices.exclude) is not compared.
	primary.do(t, http.MethodPut, "/private/_doc/1", `{"secret":true}`)

	env := []string{"FANOUT_INDICES_RENAME={index}-dr", "FANOUT_INDICES_EXCLUDE=private*"}
	args := []string{"verify", "--cluster", "dr", "--primary", primary.url, "--target", target.url}

	var rep converge.Report
	r := cli(t, t.Context(), deps{}, env, append(args, "-o", "json")...)
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil || !rep.Converged() || rep.Compared != 30 {
		t.Fatalf("in step: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A changed (routed) document, a delete that never arrived, and a write that never
	// arrived.
	target.do(t, http.MethodPut, "/books-dr/_doc/3?routing="+routingOf("3")+"&version=99999999999999&version_type=external", `{"n":-3}`)
	primary.do(t, http.MethodDelete, "/books/_doc/4", "")
	primary.do(t, http.MethodPut, "/books/_doc/new", `{"n":99}`)
	r = cli(t, t.Context(), deps{}, env, args...)
	if r.code != 1 {
		t.Fatalf("diverged: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"1 missing, 1 extra, 1 different", "missing books/new", "extra books/4", "books/3 (replica books-dr): fields differ: n"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("output lacks %q:\n%s%s", want, r.stdout, r.stderr)
		}
	}

	if r := cli(t, t.Context(), deps{}, nil, "verify", "--cluster", "dr"); r.code != 2 || !strings.Contains(r.stderr, "--target is required") {
		t.Errorf("without a target: exit %d %s", r.code, r.stderr)
	}
}
