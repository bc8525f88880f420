package conformance_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// TestScriptedUpdateResults follows UpdateHelper.prepareUpdateScriptRequest (a script's
// ctx._source is indexed, whatever changed: detect_noop does not apply to scripts) and
// painless's BasicExpressionTests, CompoundAssignmentTests (a compound assignment keeps
// the target's class), IncrementTests, DivisionTests, StringTests, ListTests, MapTests.
// The stored bytes are compared exactly: numbers print as the Java class the script
// produced (Integer, Long, Double via Double.toString).
func TestScriptedUpdateResults(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	cases := []struct {
		name, existing, body, want string
	}{
		{"counter", `{"n":1}`, `{"script":{"source":"ctx._source.n += params.by","params":{"by":2}}}`, `{"n":3}`},
		{"script as string", `{"n":1}`, `{"script":"ctx._source.n++"}`, `{"n":2}`},
		{"lang painless explicit", `{"n":1}`, `{"script":{"source":"ctx._source.n--","lang":"painless"}}`, `{"n":0}`},
		{"int overflow", `{"n":2147483647}`, `{"script":"ctx._source.n += 1"}`, `{"n":-2147483648}`},
		{"long field", `{"n":2147483648}`, `{"script":"ctx._source.n += 1"}`, `{"n":2147483649}`},
		{"compound keeps integer", `{"n":1}`, `{"script":"ctx._source.n += 1.9"}`, `{"n":2}`},
		{"double result", `{"n":3}`, `{"script":"ctx._source.avg = ctx._source.n / 2.0"}`, `{"n":3,"avg":1.5}`},
		{"integer division", `{"n":7}`, `{"script":"ctx._source.q = ctx._source.n / 2"}`, `{"n":7,"q":3}`},
		{"double reprinted", `{"d":1.50}`, `{"script":"ctx._source.x = 1"}`, `{"d":1.5,"x":1}`},
		{"unchanged still writes", `{"a":1}`, `{"script":"ctx._source.a = 1"}`, `{"a":1}`},
		{"string concat", `{"s":"a"}`, `{"script":{"source":"ctx._source.s += params.t + 1","params":{"t":"b"}}}`, `{"s":"ab1"}`},
		{"bracket access", `{"a b":1}`, `{"script":"ctx._source['a b'] += 1"}`, `{"a b":2}`},
		{"remove field", `{"a":1,"b":2}`, `{"script":"ctx._source.remove('a')"}`, `{"b":2}`},
		{"add tag once", `{"tags":["x"]}`, `{"script":{"source":"if (!ctx._source.tags.contains(params.t)) { ctx._source.tags.add(params.t) }","params":{"t":"y"}}}`, `{"tags":["x","y"]}`},
		{"remove tag", `{"tags":["x","y"]}`, `{"script":{"source":"int i = ctx._source.tags.indexOf(params.t); if (i >= 0) { ctx._source.tags.remove(i) }","params":{"t":"x"}}}`, `{"tags":["y"]}`},
		{"containsKey init", `{}`, `{"script":"if (!ctx._source.containsKey('c')) { ctx._source.c = 0 } ctx._source.c++"}`, `{"c":1}`},
		{"nested objects", `{"a":{"b":1}}`, `{"script":"ctx._source.a.c = ctx._source.a.b * 10L"}`, `{"a":{"b":1,"c":10}}`},
		{"params object is a HashMap", `{}`, `{"script":{"source":"ctx._source.m = params.m","params":{"m":{"zz":1,"foo":2,"b":3,"a":4}}}}`, `{"m":{"zz":1,"a":4,"b":3,"foo":2}}`},
		{"ctx metadata", `{}`, `{"script":"ctx._source.i = ctx._index; ctx._source.id = ctx._id; ctx._source.v = ctx._version; ctx._source.r = ctx._routing"}`, `{"i":"s","id":"ID","v":1,"r":null}`},
		{"for each", `{"items":[{"id":"a","qty":1},{"id":"b","qty":1}]}`, `{"script":{"source":"for (def item : ctx._source.items) { if (item.id == params.id) { item.qty += params.n; break } }","params":{"id":"b","n":4}}}`, `{"items":[{"id":"a","qty":1},{"id":"b","qty":5}]}`},
		{"locals typed", `{}`, `{"script":"int a = 5; long b = a; double c = b; String d = 'x' + c; ctx._source.a = a; ctx._source.b = b; ctx._source.c = c; ctx._source.d = d"}`, `{"a":5,"b":5,"c":5.0,"d":"x5.0"}`},
		{"ctx op index", `{"a":1}`, `{"script":"ctx._source.a = 2; ctx.op = 'index'"}`, `{"a":2}`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// one index per case: the cases' dynamic mappings would conflict
			id, idx := strconv.Itoa(i), "s"+strconv.Itoa(i)
			e.put(t, idx, id, tc.existing)
			body := strings.ReplaceAll(tc.body, "ID", id)
			r := e.raw(t, http.MethodPost, "/"+idx+"/_update/"+id, body)
			if !wantStatus(t, r, 200) {
				return
			}
			if got := str(t, r.Body, "result"); got != "updated" {
				t.Errorf("result want updated, got %s", got)
			}
			want := strings.ReplaceAll(tc.want, "ID", id)
			want = strings.ReplaceAll(want, `"i":"s"`, `"i":"`+idx+`"`)
			if got := string(e.source(t, idx, id)); got != want {
				t.Errorf("source want %s, got %s", want, got)
			}
		})
	}
}

// TestScriptedUpdateOps follows UpdateHelper's ctx.op handling: "delete" deletes, "none"
// and every unknown value (UpdateOpType.lenientFromString, "noop" included) answer a noop
// that writes nothing, "create" on an existing document is a noop too.
func TestScriptedUpdateOps(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	for i, tc := range []struct{ op, result string }{{"noop", "noop"}, {"none", "noop"}, {"bogus", "noop"}, {"create", "noop"}, {"delete", "deleted"}} {
		t.Run(tc.op, func(t *testing.T) {
			id := strconv.Itoa(i)
			w := e.put(t, "o", id, `{"n":1}`)
			seq := num(t, w.Body, "_seq_no")
			r := e.raw(t, http.MethodPost, "/o/_update/"+id, `{"script":"ctx._source.n = 2; ctx.op = '`+tc.op+`'"}`)
			if !wantStatus(t, r, 200) {
				return
			}
			if tc.result == "noop" {
				wantExactBody(t, r, `{"_index":"o","_id":"`+id+`","_version":1,"result":"noop","_shards":{"total":0,"successful":0,"failed":0},"_seq_no":`+strconv.FormatInt(seq, 10)+`,"_primary_term":1}`)
				if got := string(e.source(t, "o", id)); got != `{"n":1}` {
					t.Errorf("noop changed the document: %s", got)
				}
				return
			}
			if got := str(t, r.Body, "result"); got != "deleted" || num(t, r.Body, "_version") != 2 {
				t.Errorf("want deleted at version 2: %s", r)
			}
			if g := e.get(t, "o", id); g.Status != 404 {
				t.Errorf("document still there: %s", g)
			}
		})
	}
}

// TestScriptedUpsert follows UpdateHelper.prepareUpsert/executeScriptedUpsert: without
// scripted_upsert the upsert document is indexed as is; with it the script runs on the
// upsert with ctx.op "create"; any other op is a noop on the missing document
// (version -1, "get":{"found":false}); an existing document runs the script normally.
func TestScriptedUpsert(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	body := `{"script":{"source":"if (ctx.op == 'create') { ctx._source.n = params.n; ctx._source.created = true } else { ctx._source.n += params.n }","params":{"n":5}},"upsert":{"n":0}`
	r := e.raw(t, http.MethodPost, "/u/_update/1", body+`}`)
	if wantStatus(t, r, 201) && string(e.source(t, "u", "1")) != `{"n":0}` {
		t.Errorf("plain upsert must index the upsert doc: %s", e.source(t, "u", "1"))
	}
	r = e.raw(t, http.MethodPost, "/u/_update/2", body+`,"scripted_upsert":true}`)
	if wantStatus(t, r, 201) {
		if got := string(e.source(t, "u", "2")); got != `{"n":5,"created":true}` {
			t.Errorf("scripted upsert source %s", got)
		}
	}
	r = e.raw(t, http.MethodPost, "/u/_update/2", body+`,"scripted_upsert":true}`)
	if wantStatus(t, r, 200) && string(e.source(t, "u", "2")) != `{"n":10,"created":true}` {
		t.Errorf("existing doc: %s", e.source(t, "u", "2"))
	}
	r = e.raw(t, http.MethodPost, "/u/_update/3", `{"script":"ctx.op = 'none'","upsert":{},"scripted_upsert":true}`)
	if wantStatus(t, r, 200) {
		wantExactBody(t, r, `{"_index":"u","_id":"3","_version":-1,"result":"noop","_shards":{"total":0,"successful":0,"failed":0},"get":{"found":false}}`)
	}
	r = e.raw(t, http.MethodPost, "/u/_update/4", `{"script":"ctx._source.t = ctx._now > 0","upsert":{},"scripted_upsert":true,"_source":true}`)
	if wantStatus(t, r, 201) {
		wantJSON(t, r.Body, `{"t":true}`, "get", "_source")
	}
}

// TestScriptedUpdateSource follows TransportUpdateAction/UpdateHelper.extractGetResult:
// "get" carries the new source; a delete's get has no _source.
func TestScriptedUpdateSource(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.put(t, "g", "1", `{"n":1,"s":"x"}`)
	r := e.raw(t, http.MethodPost, "/g/_update/1?_source=true", `{"script":"ctx._source.n++"}`)
	if wantStatus(t, r, 200) {
		wantJSON(t, r.Body, `{"n":2,"s":"x"}`, "get", "_source")
	}
	r = e.raw(t, http.MethodPost, "/g/_update/1?_source_includes=n", `{"script":"ctx._source.n++"}`)
	if wantStatus(t, r, 200) {
		wantJSON(t, r.Body, `{"n":3}`, "get", "_source")
	}
	r = e.raw(t, http.MethodPost, "/g/_update/1?_source=true", `{"script":"ctx.op = 'delete'"}`)
	if wantStatus(t, r, 200) {
		wantExactBody(t, r, `{"_index":"g","_id":"1","_version":4,"result":"deleted","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":3,"_primary_term":1,"get":{"_seq_no":3,"_primary_term":1,"found":true}}`)
	}
}

// TestScriptErrors follows PainlessScriptEngine.convertToScriptException (compile error:
// 25 characters either side), PainlessScript.convertToScriptException (runtime error: the
// statement), ScriptException.metadataToXContent and UpdateHelper.executeScript (wrapped
// in illegal_argument_exception "failed to execute script", status 400); messages from
// painless's WhenThingsGoWrongTests and DefBootstrap/DefMath.
func TestScriptErrors(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	e.put(t, "x", "1", `{"n":1,"z":0}`)
	cases := []struct {
		name, script, want string
	}{
		{"missing field", "ctx._source.missing += 1", `{"type":"script_exception","reason":"runtime error","script_stack":["ctx._source.missing += 1","^---- HERE"],"script":"ctx._source.missing += 1","lang":"painless","position":{"offset":0,"start":0,"end":24},"caused_by":{"type":"null_pointer_exception","reason":"Cannot invoke \"Object.getClass()\" because \"left\" is null"}}`},
		{"division by zero", "int a = 1; ctx._source.r = ctx._source.n / ctx._source.z", `{"type":"script_exception","reason":"runtime error","script_stack":["ctx._source.r = ctx._source.n / ctx._source.z","                ^---- HERE"],"script":"int a = 1; ctx._source.r = ctx._source.n / ctx._source.z","lang":"painless","position":{"offset":27,"start":11,"end":56},"caused_by":{"type":"arithmetic_exception","reason":"/ by zero"}}`},
		{"null receiver", "ctx._source.a.b = 1", `{"type":"script_exception","reason":"runtime error","script_stack":["ctx._source.a.b = 1","             ^---- HERE"],"script":"ctx._source.a.b = 1","lang":"painless","position":{"offset":13,"start":0,"end":19},"caused_by":{"type":"null_pointer_exception","reason":"cannot access method/field [b] from a null def reference"}}`},
		{"syntax", "ctx._source.n +=", `{"type":"script_exception","reason":"compile error","script_stack":["ctx._source.n +=","                ^---- HERE"],"script":"ctx._source.n +=","lang":"painless","position":{"offset":16,"start":0,"end":16},"caused_by":{"type":"illegal_argument_exception","reason":"unexpected end of script.","caused_by":{"type":"no_viable_alt_exception","reason":null}}}`},
		{"unknown variable", "counter += 1", `{"type":"script_exception","reason":"compile error","script_stack":["counter += 1","^---- HERE"],"script":"counter += 1","lang":"painless","position":{"offset":0,"start":0,"end":12},"caused_by":{"type":"illegal_argument_exception","reason":"cannot resolve symbol [counter]"}}`},
		{"outside the subset", "ctx._source.tags.removeIf(t -> t == params.tag)", `{"type":"script_exception","reason":"compile error","script_stack":["... ._source.tags.removeIf(t -> t == params.tag)","                             ^---- HERE"],"script":"ctx._source.tags.removeIf(t -> t == params.tag)","lang":"painless","position":{"offset":28,"start":3,"end":47},"caused_by":{"type":"illegal_argument_exception","reason":"searchemu: a lambda or method reference is outside the emulator's Painless subset"}}`},
		{"loop counter", "while (ctx._source.n > 0) { ctx._source.z++ }", `{"type":"script_exception","reason":"runtime error","script_stack":["while (ctx._source.n > 0) { ","^---- HERE"],"script":"while (ctx._source.n > 0) { ctx._source.z++ }","lang":"painless","position":{"offset":0,"start":0,"end":28},"caused_by":{"type":"painless_error","reason":"The maximum number of statements that can be executed in a loop has been reached."}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"script":{"source":` + strconv.Quote(tc.script) + `}}`
			r := e.raw(t, http.MethodPost, "/x/_update/1", body)
			wantExactBody(t, r, `{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"failed to execute script"}],"type":"illegal_argument_exception","reason":"failed to execute script","caused_by":`+tc.want+`},"status":400}`)
		})
	}
	if got := string(e.source(t, "x", "1")); got != `{"n":1,"z":0}` {
		t.Errorf("a failed script changed the document: %s", got)
	}
	// Script's parser has no "inline" (removed in Elasticsearch 7, before the fork)
	r := e.raw(t, http.MethodPost, "/x/_update/1", `{"script":{"inline":"ctx._source.n++"}}`)
	if r.Status != 400 || !strings.Contains(string(r.Body), `"reason":"[1:12] [script] unknown field [inline]"`) {
		t.Errorf("inline: %s", r)
	}
	// stored scripts do not exist
	r = e.raw(t, http.MethodPost, "/x/_update/1", `{"script":{"id":"nope"}}`)
	if r.Status != 404 && r.Status != 400 {
		t.Errorf("stored script: %s", r)
	}
}

// TestBulkScriptedUpdates follows TransportShardBulkAction: update items run the same
// UpdateHelper, honour if_seq_no/if_primary_term (a mismatch is a 409 item, the script
// does not run) and retry_on_conflict, and a failing script fails only its item.
func TestBulkScriptedUpdates(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{})
	w := e.put(t, "b", "1", `{"n":1}`)
	seq, term := num(t, w.Body, "_seq_no"), num(t, w.Body, "_primary_term")
	body := `{"update":{"_index":"b","_id":"1","retry_on_conflict":3}}
{"script":{"source":"ctx._source.n += params.by","params":{"by":10}}}
{"update":{"_index":"b","_id":"1","if_seq_no":` + strconv.FormatInt(seq, 10) + `,"if_primary_term":` + strconv.FormatInt(term, 10) + `}}
{"script":"ctx._source.n = 0"}
{"update":{"_index":"b","_id":"1","if_seq_no":` + strconv.FormatInt(seq+1, 10) + `,"if_primary_term":` + strconv.FormatInt(term, 10) + `}}
{"script":"ctx._source.n *= 2","_source":true}
{"update":{"_index":"b","_id":"2"}}
{"script":"ctx._source.c = 1","upsert":{"c":0},"scripted_upsert":true}
{"update":{"_index":"b","_id":"1"}}
{"script":"ctx._source.nope += 1"}
{"update":{"_index":"b","_id":"1"}}
{"script":"ctx.op = 'noop'"}
`
	r := e.bulkOK(t, body)
	want := []struct {
		status int
		result string
	}{{200, "updated"}, {409, ""}, {200, "updated"}, {201, "created"}, {400, ""}, {200, "noop"}}
	for i, w := range want {
		if got := num(t, r.Body, "items", i, "update", "status"); got != int64(w.status) {
			t.Errorf("item %d: status want %d, got %d: %s", i, w.status, got, r)
		}
		if w.result != "" && str(t, r.Body, "items", i, "update", "result") != w.result {
			t.Errorf("item %d: result want %s: %s", i, w.result, r)
		}
	}
	wantJSON(t, r.Body, `{"n":22}`, "items", 2, "update", "get", "_source")
	if got := str(t, r.Body, "items", 4, "update", "error", "caused_by", "type"); got != "script_exception" {
		t.Errorf("failing item: %s", r)
	}
	if got := string(e.source(t, "b", "1")); got != `{"n":22}` {
		t.Errorf("source %s", got)
	}
	if got := string(e.source(t, "b", "2")); got != `{"c":1}` {
		t.Errorf("scripted upsert in bulk: %s", got)
	}
}

// TestScriptedUpdateTyped: the Elasticsearch 7 typed update route
// (RestUpdateAction's /{index}/{type}/{id}/_update, typed.go) runs scripts like the
// typeless one, in _update and in typed bulk items; Elasticsearch 7's UpdateHelper puts
// the document's type in ctx._type.
func TestScriptedUpdateTyped(t *testing.T) {
	t.Parallel()
	e := newEmu(t, searchemu.Options{Flavor: searchemu.Elasticsearch7})
	if r := e.raw(t, http.MethodPut, "/t/doc/1", `{"n":1}`); r.Status != 201 {
		t.Fatalf("setup: %s", r)
	}
	r := e.raw(t, http.MethodPost, "/t/doc/1/_update", `{"script":{"source":"ctx._source.n += params.by","params":{"by":2}}}`)
	if wantStatus(t, r, 200) && (str(t, r.Body, "_type") != "doc" || str(t, r.Body, "result") != "updated") {
		t.Errorf("typed scripted update: %s", r)
	}
	r = e.raw(t, http.MethodPost, "/t/doc/_bulk", "{\"update\":{\"_id\":\"1\"}}\n{\"script\":\"ctx._source.n *= 10; ctx._source.t = ctx._type\"}\n", "application/x-ndjson")
	if wantStatus(t, r, 200) && num(t, r.Body, "items", 0, "update", "status") != 200 {
		t.Errorf("typed bulk scripted update: %s", r)
	}
	if got := string(e.source(t, "t", "1")); got != `{"n":30,"t":"doc"}` {
		t.Errorf("source %s", got)
	}
}

// TestScriptCompilationLimits follows ScriptService.compile (script.max_size_in_bytes,
// 65535) and ScriptCache (compiled scripts are cached by source; new compilations are
// limited to the update context's 75/5m token bucket, the refusal wrapped in a
// GeneralScriptException): a client that builds a new source per request instead of
// using params is refused after 75 of them, while cached scripts keep running.
func TestScriptCompilationLimits(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEmu(t, searchemu.Options{Now: clock})
	e.put(t, "c", "1", `{"n":0}`)
	update := func(src string) *resp {
		return e.raw(t, http.MethodPost, "/c/_update/1", `{"script":{"source":`+strconv.Quote(src)+`}}`)
	}
	for i := 0; i < 75; i++ {
		if r := update("ctx._source.n = " + strconv.Itoa(i)); r.Status != 200 {
			t.Fatalf("compilation %d: %s", i, r)
		}
	}
	src := "ctx._source.n = 75"
	wantExactBody(t, update(src), `{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"failed to execute script"}],"type":"illegal_argument_exception","reason":"failed to execute script","caused_by":{"type":"general_script_exception","reason":"Failed to compile inline script [`+src+`] using lang [painless]","caused_by":{"type":"circuit_breaking_exception","reason":"[script] Too many dynamic script compilations within, max: [75/5m]; please use indexed, or scripts with parameters instead; this limit can be changed by the [script.context.update.max_compilations_rate] setting","bytes_wanted":0,"bytes_limit":0,"durability":"TRANSIENT"}}},"status":400}`)
	if r := update("ctx._source.n = 3"); r.Status != 200 {
		t.Errorf("a cached script must still run: %s", r)
	}
	mu.Lock()
	now = now.Add(4 * time.Second) // 75 per 300 s: one token
	mu.Unlock()
	if r := update(src); r.Status != 200 {
		t.Errorf("a token refilled: %s", r)
	}
	if r := update("ctx._source.n = 76"); r.Status != 400 {
		t.Errorf("the bucket is empty again: %s", r)
	}
	big := "ctx._source.n = 1" + strings.Repeat(" ", 65535)
	r := update(big)
	if r.Status != 400 || !strings.Contains(string(r.Body), `"caused_by":{"type":"illegal_argument_exception","reason":"exceeded max allowed inline script size in bytes [65535] with size [65552] for script [`) {
		t.Errorf("oversized script: %s", truncate(r.Body, 400))
	}
}
