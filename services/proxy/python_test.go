package proxy_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/pkg/opspb"
	"github.com/fanout-dev/fanout/services/proxy/proxytest"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
	"github.com/fanout-dev/fanout/testbed/searchemu"
	"github.com/fanout-dev/fanout/testbed/searchemu/emutest"
)

// TestPythonElasticsearchClient: Elastic's own Python client (7.17, Debian's
// python3-elasticsearch) refuses any server that does not answer as Elasticsearch. In
// front of an Elasticsearch 7 primary, the proxy must pass that through and replicate
// what the client writes. Skipped, with the reason, where the client is not installed.
func TestPythonElasticsearchClient(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import elasticsearch.helpers").Run(); err != nil {
		t.Skip("Debian's python3-elasticsearch is not installed (apt-get install python3-elasticsearch): skipping the Python client test")
	}
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 4))
	primary := emutest.Start(t, "es7", func(o *searchemu.Options) { o.Flavor = searchemu.Elasticsearch7 })
	cfg := proxytest.Config(primary.URL, k.Addrs(), topic)
	cfg.MetricsListen = ""
	cfg.Publish.Timeout = 30 * time.Second // a loaded machine; see env.config
	p := proxytest.Start(t, cfg, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/python/es_client.py")
	cmd.Env = append(os.Environ(), "PROXY_URL="+p.URL(), "DOCS=2000", "REQUEST_TIMEOUT_S=120")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var summary struct {
		Version           string
		OK, Errors, Count int
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil {
		t.Fatalf("python client said: %s", out)
	}
	if !strings.HasPrefix(summary.Version, "7.") || summary.OK != 2000 || summary.Count != 1999 {
		t.Fatalf("python client: %+v", summary)
	}

	// Every write was answered 2xx, so all its events are in the topic; the script never
	// retries (a retried bulk would publish again), so there is nothing more.
	ops := decodeAll(t, k.ConsumeAll(t, topic, eventWait))
	kinds := map[opspb.Kind]int{}
	for _, op := range ops {
		kinds[op.GetKind()]++
	}
	if len(ops) != 2002 || kinds[opspb.Kind_KIND_INDEX] != 2001 || kinds[opspb.Kind_KIND_DELETE] != 1 {
		t.Fatalf("want 2,000 index + 1 update + 1 delete events, got %d: %v", len(ops), kinds)
	}
}

// TestPythonElasticsearchClientAuthenticates: Elastic's Python client 7.17, with basic
// auth and with an API key, authenticates through the proxy in the default mode as it
// would against the secured Elasticsearch 7 primary itself: its own credentials reach
// the primary, and wrong or missing ones get the primary's 401 (which the client raises
// as AuthenticationException) with nothing published.
func TestPythonElasticsearchClientAuthenticates(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import elasticsearch").Run(); err != nil {
		t.Skip("Debian's python3-elasticsearch is not installed (apt-get install python3-elasticsearch): skipping the Python client test")
	}
	e := startSecured(t, searchemu.Elasticsearch7)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/python/es_auth.py")
	cmd.Env = append(os.Environ(), "PROXY_URL="+e.url(), "CLIENT_AUTH=alice:alice-pw", "CLIENT_API_KEY=k1:alice-key")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var got struct {
		Version, Write, Whoami string
		KeyWrite               string `json:"key_write"`
		KeyWhoami              string `json:"key_whoami"`
		Wrong, Anonymous       []any
		WrongKey               []any `json:"wrong_key"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("python client said: %s", out)
	}
	if got.Write != "created" || got.KeyWrite != "created" || got.Whoami != "alice" || got.KeyWhoami != "api_key" {
		t.Errorf("authenticated calls: %+v", got)
	}
	for name, r := range map[string][]any{"wrong password": got.Wrong, "wrong API key": got.WrongKey, "anonymous": got.Anonymous} {
		if len(r) != 2 || r[0] != 401.0 || r[1] != "security_exception" {
			t.Errorf("%s: want 401 security_exception, got %v", name, r)
		}
	}
	if ops := e.published(); len(ops) != 2 {
		t.Fatalf("want the two authenticated writes published, got %v", ops)
	}
}

// TestPythonElasticsearchClientTypedAPIs: Elastic's Python client 7.17 still has the
// typed APIs (doc_type on index, create, update, delete and bulk; "_type" in bulk
// actions). Through the proxy to an Elasticsearch 7 primary every one of its typed
// writes is published as a typeless event, and the client gets the primary's answers,
// which name the type.
func TestPythonElasticsearchClientTypedAPIs(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import elasticsearch.helpers").Run(); err != nil {
		t.Skip("Debian's python3-elasticsearch is not installed (apt-get install python3-elasticsearch): skipping the Python client test")
	}
	e := startFlavorEnv(t, searchemu.Elasticsearch7)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/python/es_typed.py")
	cmd.Env = append(os.Environ(), "PROXY_URL="+e.url())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var got struct {
		Types      []string
		OK, Errors int
		AutoID     string `json:"auto_id"`
		Doc1       map[string]any
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("python client said: %s", out)
	}
	if strings.Join(got.Types, ",") != "doc,doc,doc,doc,doc,doc,doc" || got.OK != 3 || got.Errors != 0 {
		t.Fatalf("python client: %+v", got)
	}
	ops := e.published()
	want := map[string]opspb.Kind{"1": opspb.Kind_KIND_INDEX, got.AutoID: opspb.Kind_KIND_INDEX, "2": opspb.Kind_KIND_DELETE,
		"3": opspb.Kind_KIND_INDEX, "4": opspb.Kind_KIND_INDEX, "5": opspb.Kind_KIND_INDEX, "6": opspb.Kind_KIND_INDEX, "7": opspb.Kind_KIND_INDEX}
	if len(ops) != 10 {
		t.Fatalf("want 10 events (index, auto id, create, update, delete, 2 typed bulk items, 3 _type bulk items), got %d: %v", len(ops), ops)
	}
	for id, kind := range want {
		if op := newestEvent(ops, "pyt", id); op == nil || op.GetKind() != kind {
			t.Errorf("pyt/%s: newest event %v, want %v", id, op, kind)
		}
	}
	if op := newestEvent(ops, "pyt", "1"); op == nil || compactJSON(t, op.GetSource()) != `{"n":1,"m":1}` {
		t.Errorf("the update's event is not the whole document: %v", op)
	}
}
