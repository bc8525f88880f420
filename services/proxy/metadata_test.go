package proxy_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// metaChange is one published metadata change: its copies by partition.
type metaChange struct {
	id     string
	md     *opspb.Metadata
	copies map[int32]*kgo.Record
}

// metaWatch reads the metadata changes an env's proxies publish, each once.
type metaWatch struct {
	e    *env
	seen map[string]bool
}

func watchMeta(e *env) *metaWatch { return &metaWatch{e: e, seen: map[string]bool{}} }

// changes returns the changes committed since the last call, in the order of their
// partition 0 copies, each checked: one copy on every partition of the topic, partition
// p's on partition p, the same metadata, partition 0's coordinator offset -1 and the
// others' the offset of partition 0's copy.
func (w *metaWatch) changes() []metaChange {
	t := w.e.t
	t.Helper()
	byID := map[string]*metaChange{}
	var order []string
	for _, rec := range w.e.committed() {
		if !event.IsMetadata(rec) {
			continue
		}
		op, err := event.Decode(rec)
		if err != nil {
			t.Fatalf("metadata copy %d/%d: %v", rec.Partition, rec.Offset, err)
		}
		id := op.GetBarrier().GetId()
		if w.seen[id] {
			continue
		}
		c := byID[id]
		if c == nil {
			c = &metaChange{id: id, md: op.GetMetadata(), copies: map[int32]*kgo.Record{}}
			byID[id] = c
		}
		if _, dup := c.copies[rec.Partition]; dup {
			t.Fatalf("change %s has two copies on partition %d", id, rec.Partition)
		}
		if !proto.Equal(op.GetMetadata(), c.md) {
			t.Fatalf("change %s: copy on partition %d has other metadata", id, rec.Partition)
		}
		if op.GetBarrier().GetPartitions() != partitions {
			t.Fatalf("change %s: barrier over %d partitions, want %d", id, op.GetBarrier().GetPartitions(), partitions)
		}
		c.copies[rec.Partition] = rec
		if rec.Partition == 0 {
			order = append(order, id)
		}
	}
	var out []metaChange
	for _, id := range order {
		c := byID[id]
		w.seen[id] = true
		if len(c.copies) != partitions {
			t.Fatalf("change %s (%s) has %d copies, want %d", id, c.md.GetRequest(), len(c.copies), partitions)
		}
		o0 := c.copies[0].Offset
		for p, rec := range c.copies {
			op, _ := event.Decode(rec)
			want := o0
			if p == 0 {
				want = -1
			}
			if got := op.GetBarrier().GetCoordinatorOffset(); got != want {
				t.Fatalf("change %s: copy on partition %d has coordinator offset %d, want %d", id, p, got, want)
			}
		}
		out = append(out, *c)
	}
	if len(out) != len(byID) {
		t.Fatalf("%d changes without a copy on partition 0", len(byID)-len(out))
	}
	return out
}

// one returns the single change committed since the last call.
func (w *metaWatch) one() *opspb.Metadata {
	w.e.t.Helper()
	cs := w.changes()
	if len(cs) != 1 {
		var reqs []string
		for _, c := range cs {
			reqs = append(reqs, c.md.GetRequest())
		}
		w.e.t.Fatalf("want one metadata change, got %d: %v", len(cs), reqs)
	}
	return cs[0].md
}

// none checks that nothing was committed since the last call.
func (w *metaWatch) none() {
	w.e.t.Helper()
	if cs := w.changes(); len(cs) != 0 {
		w.e.t.Fatalf("want no metadata change, got %d, the first %s", len(cs), cs[0].md.GetRequest())
	}
}

func indexNamed(md *opspb.Metadata, name string) *opspb.IndexState {
	for _, ix := range md.GetIndices() {
		if ix.GetName() == name {
			return ix
		}
	}
	return nil
}

func indexNames(md *opspb.Metadata) []string {
	var out []string
	for _, ix := range md.GetIndices() {
		out = append(out, ix.GetName())
	}
	return out
}

// jsonAt decodes b and walks the keys down; nil if a key is missing.
func jsonAt(t *testing.T, b []byte, keys ...string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// primaryUUID is the index's uuid on the primary.
func primaryUUID(t *testing.T, e *env, index string) string {
	t.Helper()
	r := send(t, http.MethodGet, e.primaryURL+"/"+index+"/_settings?flat_settings=true", "")
	u, _ := jsonAt(t, r.body, index, "settings", "index.uuid").(string)
	if r.status != 200 || u == "" {
		t.Fatalf("uuid of %s: %d %s", index, r.status, r.body)
	}
	return u
}

func mustSend(t *testing.T, method, url, body string, status int) response {
	t.Helper()
	r := send(t, method, url, body)
	if r.status != status {
		t.Fatalf("%s %s: %d %s, want %d", method, url, r.status, r.body, status)
	}
	return r
}

// TestMetadataIndexLifecycle: each index API the primary applies publishes one change
// with a copy on every partition, holding the primary's resulting state of every index
// it touched, not the request: a mapping update's state has the fields of the creation,
// of dynamic mapping and of the update; a wildcard delete lists each deleted index with
// exists false and the uuid it had.
func TestMetadataIndexLifecycle(t *testing.T) {
	e := startEnv(t, 1)
	w := watchMeta(e)
	u := e.url()

	mustSend(t, http.MethodPut, u+"/books", `{"settings":{"number_of_shards":2},"mappings":{"properties":{"title":{"type":"text"}}}}`, 200)
	md := w.one()
	books := indexNamed(md, "books")
	if md.GetRequest() != "PUT /books" || len(md.GetIndices()) != 1 || books == nil || !books.GetExists() || books.GetClosed() {
		t.Fatalf("create: %v", md)
	}
	uuid := primaryUUID(t, e, "books")
	if books.GetUuid() != uuid || jsonAt(t, books.GetSettings(), "index.uuid") != uuid || jsonAt(t, books.GetSettings(), "index.number_of_shards") != "2" {
		t.Fatalf("create: uuid %s (primary %s), settings %s", books.GetUuid(), uuid, books.GetSettings())
	}
	if jsonAt(t, books.GetMappings(), "properties", "title", "type") != "text" || string(books.GetAliases()) != "{}" {
		t.Fatalf("create: mappings %s aliases %s", books.GetMappings(), books.GetAliases())
	}

	// A document with a new field maps it dynamically; that is no metadata request.
	mustSend(t, http.MethodPut, u+"/books/_doc/1", `{"title":"t","pages":10}`, 201)
	w.none()
	mustSend(t, http.MethodPut, u+"/books/_mapping", `{"properties":{"isbn":{"type":"keyword"}}}`, 200)
	md = w.one()
	books = indexNamed(md, "books")
	for _, f := range []string{"title", "pages", "isbn"} {
		if jsonAt(t, books.GetMappings(), "properties", f) == nil {
			t.Errorf("mapping update: the state has no %s: %s", f, books.GetMappings())
		}
	}
	if md.GetRequest() != "PUT /books/_mapping" {
		t.Errorf("request %q", md.GetRequest())
	}

	mustSend(t, http.MethodPut, u+"/books/_settings", `{"index":{"refresh_interval":"5s"}}`, 200)
	md = w.one()
	if got := jsonAt(t, indexNamed(md, "books").GetSettings(), "index.refresh_interval"); got != "5s" {
		t.Errorf("settings update: refresh_interval %v", got)
	}

	mustSend(t, http.MethodPost, u+"/books/_close", "", 200)
	if md = w.one(); !indexNamed(md, "books").GetClosed() || !indexNamed(md, "books").GetExists() {
		t.Errorf("close: %v", md)
	}
	mustSend(t, http.MethodPost, u+"/books/_open", "", 200)
	if md = w.one(); indexNamed(md, "books").GetClosed() {
		t.Errorf("open: %v", md)
	}

	mustSend(t, http.MethodPut, u+"/books/_alias/current", `{"is_write_index":true}`, 200)
	md = w.one()
	if jsonAt(t, indexNamed(md, "books").GetAliases(), "current", "is_write_index") != true {
		t.Errorf("put alias: aliases %s", indexNamed(md, "books").GetAliases())
	}
	mustSend(t, http.MethodDelete, u+"/books/_alias/current", "", 200)
	if md = w.one(); string(indexNamed(md, "books").GetAliases()) != "{}" {
		t.Errorf("delete alias: aliases %s", indexNamed(md, "books").GetAliases())
	}

	mustSend(t, http.MethodPut, u+"/books-2", "", 200)
	w.one()
	uuid2 := primaryUUID(t, e, "books-2")
	mustSend(t, http.MethodPut, u+"/other", "", 200)
	w.one()
	mustSend(t, http.MethodDelete, u+"/books*", "", 200)
	md = w.one()
	if got := indexNames(md); !slices.Equal(got, []string{"books", "books-2"}) {
		t.Fatalf("wildcard delete lists %v", got)
	}
	for name, want := range map[string]string{"books": uuid, "books-2": uuid2} {
		if ix := indexNamed(md, name); ix.GetExists() || ix.GetUuid() != want {
			t.Errorf("deleted %s: exists %v uuid %s, want %s", name, ix.GetExists(), ix.GetUuid(), want)
		}
	}
	if md.GetRequest() != "DELETE /books%2A" && md.GetRequest() != "DELETE /books*" {
		t.Errorf("request %q", md.GetRequest())
	}
	// The document events are all there, and none of the changes is counted as an
	// unreplicated write.
	if ops := e.published(); len(ops) != 1 || ops[0].GetId() != "1" {
		t.Fatalf("document events: %v", ops)
	}
	if _, ok := metricValue(t, e.proxies[0].MetricsURL(), `fanout_proxy_unreplicated_writes_total{route="PUT /{index}"}`); ok {
		t.Error("index creation counted as unreplicated")
	}
	if got, _ := metricValue(t, e.proxies[0].MetricsURL(), `fanout_proxy_metadata_changes_total{kind="index"}`); got != 10 {
		t.Errorf("fanout_proxy_metadata_changes_total{kind=index} = %d, want 10", got)
	}
}

// TestMetadataAliasesAndRollover: POST /_aliases lists every index whose aliases it
// changed (and a removed index as gone); a rollover lists the old index, whose alias
// is no longer the write one, and the new one.
func TestMetadataAliasesAndRollover(t *testing.T) {
	e := startEnv(t, 1)
	w := watchMeta(e)
	u := e.url()
	for _, ix := range []string{"logs-000001", "a", "b", "doomed"} {
		mustSend(t, http.MethodPut, u+"/"+ix, "", 200)
		w.one()
	}
	doomed := primaryUUID(t, e, "doomed")
	mustSend(t, http.MethodPut, u+"/a/_alias/moving", "", 200)
	w.one()

	mustSend(t, http.MethodPost, u+"/_aliases", `{"actions":[
		{"add":{"index":"logs-000001","alias":"logs","is_write_index":true}},
		{"remove":{"index":"a","alias":"moving"}},
		{"add":{"index":"b","alias":"moving"}},
		{"remove_index":{"index":"doomed"}}]}`, 200)
	md := w.one()
	if got := indexNames(md); !slices.Equal(got, []string{"a", "b", "logs-000001", "doomed"}) {
		t.Fatalf("_aliases lists %v", got)
	}
	if string(indexNamed(md, "a").GetAliases()) != "{}" || jsonAt(t, indexNamed(md, "b").GetAliases(), "moving") == nil {
		t.Errorf("moved alias: a %s, b %s", indexNamed(md, "a").GetAliases(), indexNamed(md, "b").GetAliases())
	}
	if d := indexNamed(md, "doomed"); d.GetExists() || d.GetUuid() != doomed {
		t.Errorf("removed index: %v", d)
	}

	mustSend(t, http.MethodPost, u+"/logs/_rollover", "", 200)
	md = w.one()
	if got := indexNames(md); !slices.Equal(got, []string{"logs-000001", "logs-000002"}) {
		t.Fatalf("rollover lists %v", got)
	}
	if v := jsonAt(t, indexNamed(md, "logs-000001").GetAliases(), "logs", "is_write_index"); v != false {
		t.Errorf("old index: aliases %s", indexNamed(md, "logs-000001").GetAliases())
	}
	if v := jsonAt(t, indexNamed(md, "logs-000002").GetAliases(), "logs", "is_write_index"); v != true {
		t.Errorf("new index: aliases %s", indexNamed(md, "logs-000002").GetAliases())
	}
	// A dry run changes nothing and publishes nothing.
	mustSend(t, http.MethodPost, u+"/logs/_rollover?dry_run=true", "", 200)
	w.none()

	// A gzip body is read inflated (and sent so to the primary).
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write([]byte(`{"actions":[{"add":{"index":"a","alias":"zipped"}}]}`))
	_ = zw.Close()
	if r := call(t, http.MethodPost, u+"/_aliases", zipped.String(), "Content-Encoding", "gzip"); r.status != 200 {
		t.Fatalf("gzip _aliases: %d %s", r.status, r.body)
	}
	if md := w.one(); !slices.Equal(indexNames(md), []string{"a"}) || jsonAt(t, indexNamed(md, "a").GetAliases(), "zipped") == nil {
		t.Fatalf("gzip _aliases: %v", md)
	}
}

// TestMetadataTemplatesPipelinesDataStreams: templates, pipelines and data streams are
// published with the primary's bodies, in the shape their PUT takes, and exists false
// once deleted; a data stream comes with its backing indices.
func TestMetadataTemplatesPipelinesDataStreams(t *testing.T) {
	e := startEnv(t, 1)
	w := watchMeta(e)
	u := e.url()
	template := func(md *opspb.Metadata, kind opspb.TemplateKind, name string) *opspb.TemplateState {
		t.Helper()
		if len(md.GetTemplates()) != 1 || md.GetTemplates()[0].GetKind() != kind || md.GetTemplates()[0].GetName() != name {
			t.Fatalf("templates: %v", md.GetTemplates())
		}
		return md.GetTemplates()[0]
	}

	mustSend(t, http.MethodPut, u+"/_component_template/shards", `{"template":{"settings":{"number_of_shards":1}}}`, 200)
	ct := template(w.one(), opspb.TemplateKind_TEMPLATE_KIND_COMPONENT, "shards")
	if !ct.GetExists() || jsonAt(t, ct.GetBody(), "template", "settings", "index", "number_of_shards") != "1" {
		t.Errorf("component template: %s", ct.GetBody())
	}
	mustSend(t, http.MethodPut, u+"/_index_template/logs", `{"index_patterns":["logs-*"],"data_stream":{},"composed_of":["shards"],"priority":5}`, 200)
	it := template(w.one(), opspb.TemplateKind_TEMPLATE_KIND_INDEX, "logs")
	if !it.GetExists() || jsonAt(t, it.GetBody(), "priority") != 5.0 || jsonAt(t, it.GetBody(), "data_stream") == nil {
		t.Errorf("index template: %s", it.GetBody())
	}
	mustSend(t, http.MethodPut, u+"/_template/old", `{"index_patterns":["old-*"],"order":2,"mappings":{"properties":{"n":{"type":"long"}}}}`, 200)
	lt := template(w.one(), opspb.TemplateKind_TEMPLATE_KIND_LEGACY, "old")
	if !lt.GetExists() || jsonAt(t, lt.GetBody(), "order") != 2.0 || jsonAt(t, lt.GetBody(), "mappings", "properties", "n", "type") != "long" {
		t.Errorf("legacy template: %s", lt.GetBody())
	}

	mustSend(t, http.MethodPut, u+"/_data_stream/logs-app", "", 200)
	md := w.one()
	if len(md.GetDataStreams()) != 1 {
		t.Fatalf("data streams: %v", md.GetDataStreams())
	}
	ds := md.GetDataStreams()[0]
	if ds.GetName() != "logs-app" || !ds.GetExists() || ds.GetTemplate() != "logs" || ds.GetGeneration() != 1 || len(ds.GetIndices()) != 1 {
		t.Fatalf("data stream: %v", ds)
	}
	backing := indexNamed(md, ds.GetIndices()[0])
	if backing == nil || !backing.GetExists() || backing.GetDataStream() != "logs-app" {
		t.Fatalf("backing index: %v", md.GetIndices())
	}
	mustSend(t, http.MethodDelete, u+"/_data_stream/logs-*", "", 200)
	md = w.one()
	if len(md.GetDataStreams()) != 1 || md.GetDataStreams()[0].GetExists() || md.GetDataStreams()[0].GetName() != "logs-app" {
		t.Fatalf("deleted data stream: %v", md.GetDataStreams())
	}
	if ix := indexNamed(md, backing.GetName()); ix == nil || ix.GetExists() || ix.GetUuid() != backing.GetUuid() {
		t.Fatalf("deleted backing index: %v", md.GetIndices())
	}

	mustSend(t, http.MethodDelete, u+"/_index_template/logs", "", 200)
	if it := template(w.one(), opspb.TemplateKind_TEMPLATE_KIND_INDEX, "logs"); it.GetExists() || len(it.GetBody()) != 0 {
		t.Errorf("deleted index template: %v", it)
	}
	mustSend(t, http.MethodDelete, u+"/_component_template/shards", "", 200)
	template(w.one(), opspb.TemplateKind_TEMPLATE_KIND_COMPONENT, "shards")
	mustSend(t, http.MethodDelete, u+"/_template/old", "", 200)
	if lt := template(w.one(), opspb.TemplateKind_TEMPLATE_KIND_LEGACY, "old"); lt.GetExists() {
		t.Errorf("deleted legacy template: %v", lt)
	}

	for _, id := range []string{"tag-a", "tag-b"} {
		mustSend(t, http.MethodPut, u+"/_ingest/pipeline/"+id, `{"description":"d","processors":[{"set":{"field":"tag","value":"`+id+`"}}]}`, 200)
		md = w.one()
		if len(md.GetPipelines()) != 1 || md.GetPipelines()[0].GetId() != id || !md.GetPipelines()[0].GetExists() ||
			jsonAt(t, md.GetPipelines()[0].GetBody(), "description") != "d" {
			t.Fatalf("pipeline: %v", md.GetPipelines())
		}
	}
	mustSend(t, http.MethodDelete, u+"/_ingest/pipeline/tag-*", "", 200)
	md = w.one()
	if len(md.GetPipelines()) != 2 || md.GetPipelines()[0].GetId() != "tag-a" || md.GetPipelines()[0].GetExists() || md.GetPipelines()[1].GetExists() {
		t.Fatalf("deleted pipelines: %v", md.GetPipelines())
	}
	for kind, want := range map[string]int{"template": 6, "pipeline": 3, "data_stream": 2} {
		if got, _ := metricValue(t, e.proxies[0].MetricsURL(), `fanout_proxy_metadata_changes_total{kind="`+kind+`"}`); got != want {
			t.Errorf("fanout_proxy_metadata_changes_total{kind=%s} = %d, want %d", kind, got, want)
		}
	}
}

// TestMetadataRefusedPublishesNothing: a metadata request the primary refuses changes
// nothing and publishes nothing; its answer is the primary's. One it accepts that names
// nothing (a wildcard that matches no index) publishes nothing either.
func TestMetadataRefusedPublishesNothing(t *testing.T) {
	e := startEnv(t, 1)
	w := watchMeta(e)
	u := e.url()
	mustSend(t, http.MethodPut, u+"/books", `{"mappings":{"properties":{"n":{"type":"long"}}}}`, 200)
	w.one()
	for _, rq := range []struct{ method, path, body string }{
		{http.MethodPut, "/books", ""}, // exists
		{http.MethodPut, "/books/_mapping", `{"properties":{"n":{"type":"keyword"}}}`}, // conflict
		{http.MethodDelete, "/missing", ""},
		{http.MethodPost, "/_aliases", `{"actions":[{"add":{"index":"missing","alias":"x"}}]}`},
		{http.MethodDelete, "/_index_template/missing", ""},
		{http.MethodPut, "/_ingest/pipeline/bad", `{"processors":[{"nope":{}}]}`},
	} {
		want := send(t, rq.method, e.primaryURL+rq.path, rq.body)
		got := send(t, rq.method, u+rq.path, rq.body)
		if got.status/100 == 2 || got.status != want.status {
			t.Errorf("%s %s: proxy %d, primary %d %s", rq.method, rq.path, got.status, want.status, want.body)
		}
	}
	w.none()
	// An alias body the proxy cannot read (it must, to know the indices it names) is
	// refused before the primary.
	if r := sendCT(t, http.MethodPost, u+"/_aliases", "application/yaml", "actions:\n- add: {index: books, alias: x}\n"); r.status != http.StatusNotAcceptable ||
		!strings.Contains(string(r.body), "fanout_unreplicable_request_exception") {
		t.Errorf("YAML _aliases: %d %s", r.status, r.body)
	}
	if r := send(t, http.MethodGet, e.primaryURL+"/_alias/x", ""); r.status != http.StatusNotFound {
		t.Errorf("the YAML _aliases reached the primary: %d %s", r.status, r.body)
	}
	// Applied, but it named nothing: no change, no barrier.
	mustSend(t, http.MethodDelete, u+"/nomatch-*", "", 200)
	w.none()
}
