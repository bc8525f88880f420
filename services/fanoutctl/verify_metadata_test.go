package fanoutctl

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/testbed/searchemu"
)

// books is the index both sides start from in TestVerifyMetadata.
const books = `{"settings":{"number_of_shards":2,"refresh_interval":"5s"},
	"mappings":{"dynamic":"strict","properties":{"title":{"type":"text","fields":{"raw":{"type":"keyword"}}},"author":{"type":"keyword"},"n":{"type":"long"}}},
	"aliases":{"current":{"filter":{"term":{"author":"x"}},"routing":"1","is_write_index":true}}}`

// TestVerifyMetadata: verify --metadata finds each kind of metadata difference, names it
// in the table and in -o json, exits 1 for it, and ignores what belongs to the target.
func TestVerifyMetadata(t *testing.T) {
	t.Parallel()
	type step struct{ method, path, body string }
	type want struct {
		kind converge.MetaKind
		name string // alias, template or pipeline
		path string
	}
	for _, c := range []struct {
		name            string
		primary, target []step
		flavor          searchemu.Flavor // of the target
		env, flags      []string
		want            []want // nil: in step
		skipped         []string
	}{
		{
			name:    "equal, target-local settings ignored",
			primary: []step{{"PUT", "/books", books}},
			// the target keeps no replicas and its own allocation rule, and blocks writes
			target: []step{{"PUT", "/books", strings.Replace(books, `"refresh_interval":"5s"`, `"refresh_interval":"5s","number_of_replicas":0,"routing.allocation.total_shards_per_node":2,"blocks.write":true`, 1)}},
		},
		{
			name:    "elasticsearch 7 target of an opensearch 2 primary",
			primary: []step{{"PUT", "/books", books}},
			target:  []step{{"PUT", "/books", books}},
			flavor:  searchemu.Elasticsearch7,
		},
		{
			name:    "elasticsearch 7 target with a type change",
			primary: []step{{"PUT", "/books", books}},
			target:  []step{{"PUT", "/books", strings.Replace(books, `"n":{"type":"long"}`, `"n":{"type":"integer"}`, 1)}},
			flavor:  searchemu.Elasticsearch7,
			want:    []want{{converge.MappingDiff, "", "n type"}},
		},
		{
			name:    "a field missing in the mapping, and a multi-field's type",
			primary: []step{{"PUT", "/books", books}},
			target:  []step{{"PUT", "/books", strings.NewReplacer(`"author":{"type":"keyword"},`, "", `"raw":{"type":"keyword"}`, `"raw":{"type":"text"}`).Replace(books)}},
			want:    []want{{converge.MappingDiff, "", "author"}, {converge.MappingDiff, "", "title.raw type"}},
		},
		{
			name:    "a dynamic setting and number_of_shards differ",
			primary: []step{{"PUT", "/books", books}},
			target:  []step{{"PUT", "/books", strings.Replace(books, `"number_of_shards":2,"refresh_interval":"5s"`, `"number_of_shards":1,"refresh_interval":"30s"`, 1)}},
			want:    []want{{converge.SettingDiff, "", "index.number_of_shards"}, {converge.SettingDiff, "", "index.refresh_interval"}},
		},
		{
			name:    "a differing setting the operator ignores, and blocks compared on request",
			primary: []step{{"PUT", "/books", books}, {"PUT", "/books/_settings", `{"blocks.write":true}`}},
			target:  []step{{"PUT", "/books", strings.Replace(books, `"5s"`, `"30s"`, 1)}},
			flags:   []string{"--ignore-setting", "refresh_interval", "--compare-setting", "index.blocks.*"},
			want:    []want{{converge.SettingDiff, "", "index.blocks.write"}},
		},
		{
			name:    "a missing alias and a differing alias filter",
			primary: []step{{"PUT", "/books", books}, {"PUT", "/books/_alias/all", ""}},
			target:  []step{{"PUT", "/books", strings.Replace(books, `"author":"x"`, `"author":"y"`, 1)}},
			want:    []want{{converge.MissingAlias, "all", ""}, {converge.AliasDiff, "current", "filter"}},
		},
		{
			name:    "an alias only the target has",
			primary: []step{{"PUT", "/books", books}},
			target:  []step{{"PUT", "/books", books}, {"PUT", "/books/_alias/mine", ""}},
			want:    []want{{converge.ExtraAlias, "mine", ""}},
		},
		{
			name:    "--index with a pattern compares each index it matches",
			primary: []step{{"PUT", "/books", books}, {"PUT", "/books-old", `{}`}, {"PUT", "/films", `{}`}},
			target:  []step{{"PUT", "/books", books}},
			flags:   []string{"--metadata", "--index", "books*"},
			want:    []want{{converge.MissingIndex, "", ""}}, // books-old; films is not compared
		},
		{
			name:    "a missing index",
			primary: []step{{"PUT", "/books", books}, {"PUT", "/films", `{}`}},
			target:  []step{{"PUT", "/books", books}},
			want:    []want{{converge.MissingIndex, "", ""}},
		},
		{
			name:    "a renamed index with its renamed aliases, one of which would be an index",
			env:     []string{"FANOUT_INDICES_RENAME={index}-dr"},
			primary: []step{{"PUT", "/books", books}, {"PUT", "/books/_alias/own", ""}},
			// the target has an index of its own named as the renamed alias
			target:  []step{{"PUT", "/books-dr", strings.Replace(books, `"current"`, `"current-dr"`, 1)}, {"PUT", "/own-dr", `{}`}},
			skipped: []string{"own"},
		},
		{
			name:    "a renamed index whose alias kept the primary's name",
			env:     []string{"FANOUT_INDICES_RENAME={index}-dr", "FANOUT_INDICES_EXCLUDE=other"},
			primary: []step{{"PUT", "/books", books}, {"PUT", "/other", `{}`}},
			target:  []step{{"PUT", "/books-dr", books}},
			want:    []want{{converge.MissingAlias, "current-dr", ""}, {converge.ExtraAlias, "current", ""}},
		},
		{
			name: "templates and pipelines in step, renamed patterns",
			env:  []string{"FANOUT_INDICES_RENAME={index}-dr"},
			primary: []step{
				{"PUT", "/_component_template/base", `{"template":{"settings":{"number_of_shards":1,"number_of_replicas":2}}}`},
				{"PUT", "/_index_template/logs", `{"index_patterns":["logs-*"],"composed_of":["base"],"template":{"aliases":{"logs":{}}}}`},
				{"PUT", "/_template/old", `{"index_patterns":["old-*"],"order":1}`},
				{"PUT", "/_ingest/pipeline/stamp", `{"processors":[{"set":{"field":"stamped","value":true}}]}`},
			},
			target: []step{
				{"PUT", "/_component_template/base", `{"template":{"settings":{"number_of_shards":1,"number_of_replicas":0}}}`},
				{"PUT", "/_index_template/logs", `{"index_patterns":["logs-*-dr"],"composed_of":["base"],"template":{"aliases":{"logs-dr":{}}}}`},
				{"PUT", "/_template/old", `{"index_patterns":["old-*-dr"],"order":1}`},
				{"PUT", "/_ingest/pipeline/stamp", `{"processors":[{"set":{"field":"stamped","value":true}}]}`},
			},
			flags: []string{"--metadata=all"},
		},
		{
			name: "a template of indices not replicated is not compared",
			env:  []string{"FANOUT_INDICES_EXCLUDE=private*"},
			primary: []step{
				{"PUT", "/_index_template/secret", `{"index_patterns":["private-*"]}`},
				{"PUT", "/_index_template/logs", `{"index_patterns":["private-logs-*","logs-*"],"priority":1}`},
			},
			flags:   []string{"--metadata=templates"},
			want:    []want{{converge.MissingTemplate, "logs", ""}},
			skipped: []string{"secret"},
		},
		{
			name: "templates and pipelines that differ or are missing",
			primary: []step{
				{"PUT", "/_index_template/logs", `{"index_patterns":["logs-*"],"priority":5}`},
				{"PUT", "/_template/old", `{"index_patterns":["old-*"],"order":1}`},
				{"PUT", "/_ingest/pipeline/stamp", `{"processors":[{"set":{"field":"stamped","value":true}}]}`},
			},
			target: []step{
				{"PUT", "/_index_template/logs", `{"index_patterns":["logs-*"],"priority":6}`},
				{"PUT", "/_ingest/pipeline/mine", `{"processors":[]}`},
			},
			flags: []string{"--metadata=templates,pipelines"},
			want: []want{{converge.TemplateDiff, "logs", "priority"}, {converge.MissingTemplate, "old", ""},
				{converge.ExtraPipeline, "mine", ""}, {converge.MissingPipeline, "stamp", ""}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			primary := startEmulator(t, "primary")
			target := startEmulator(t, "dr", func(o *searchemu.Options) { o.Flavor = c.flavor })
			for _, s := range c.primary {
				mustDo(t, primary, s.method, s.path, s.body)
			}
			for _, s := range c.target {
				mustDo(t, target, s.method, s.path, s.body)
			}
			flags := c.flags
			if !slices.ContainsFunc(flags, func(f string) bool { return strings.HasPrefix(f, "--metadata") }) {
				flags = append(flags, "--metadata")
			}
			args := append([]string{"verify", "--cluster", "dr", "--primary", primary.url, "--target", target.url, "-o", "json"}, flags...)
			r := cli(t, t.Context(), deps{}, c.env, args...)
			var rep converge.Report
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Metadata == nil {
				t.Fatalf("exit %d, no metadata report (%v):\n%s%s", r.code, err, r.stdout, r.stderr)
			}
			var got []want
			for _, d := range rep.Metadata.Diffs {
				got = append(got, want{d.Kind, d.Name, d.Path})
			}
			if !slices.Equal(got, c.want) || rep.Metadata.Different != len(c.want) {
				t.Errorf("differences %v (%d), want %v\n%s", got, rep.Metadata.Different, c.want, r.stdout)
			}
			var skipped []string
			for _, s := range rep.Metadata.Skipped {
				skipped = append(skipped, s.Name)
			}
			if !slices.Equal(skipped, c.skipped) {
				t.Errorf("skipped %v, want %v", skipped, c.skipped)
			}
			if wantCode := map[bool]int{true: 1, false: 0}[len(c.want) > 0]; r.code != wantCode {
				t.Errorf("exit %d, want %d\n%s", r.code, wantCode, r.stderr)
			}
			// the table names the same differences
			table := slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "-o" || a == "json" })
			r = cli(t, t.Context(), deps{}, c.env, table...)
			for _, d := range rep.Metadata.Diffs {
				d.Primary, d.Replica = compact(t, d.Primary), compact(t, d.Replica)
				if !strings.Contains(r.stdout, d.String()) {
					t.Errorf("the table lacks %q:\n%s", d.String(), r.stdout)
				}
			}
		})
	}
}

// TestVerifyMetadataMaxDiffs: --max-diffs bounds the listed metadata differences, not
// their count.
func TestVerifyMetadataMaxDiffs(t *testing.T) {
	t.Parallel()
	primary, target := startEmulator(t, "primary"), startEmulator(t, "dr")
	mustDo(t, primary, "PUT", "/books", books)
	mustDo(t, target, "PUT", "/books", `{}`)
	r := cli(t, t.Context(), deps{}, nil, "verify", "--cluster", "dr", "--primary", primary.url, "--target", target.url,
		"--metadata", "--max-diffs", "2", "-o", "json")
	var rep converge.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Metadata == nil {
		t.Fatalf("exit %d (%v):\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	// dynamic, three fields, number_of_shards, refresh_interval, the alias
	if r.code != 1 || len(rep.Metadata.Diffs) != 2 || rep.Metadata.Different != 7 {
		t.Errorf("exit %d, %d listed of %d, want 1, 2 of 7:\n%s", r.code, len(rep.Metadata.Diffs), rep.Metadata.Different, r.stdout)
	}
	if !strings.Contains(r.stderr, "7 metadata differences") {
		t.Errorf("stderr: %s", r.stderr)
	}
	if r := cli(t, t.Context(), deps{}, nil, "verify", "--cluster", "dr", "--primary", primary.url, "--target", target.url, "--metadata=settings"); r.code != 2 || !strings.Contains(r.stderr, "not a metadata kind") {
		t.Errorf("--metadata=settings: exit %d %s", r.code, r.stderr)
	}
}

// TestVerifyMetadataUnreadable: a target that fails to answer a metadata read makes
// verify fail with the reason; it never reports the target in step.
func TestVerifyMetadataUnreadable(t *testing.T) {
	t.Parallel()
	primary, target := startEmulator(t, "primary"), startEmulator(t, "dr")
	mustDo(t, primary, "PUT", "/books", books)
	mustDo(t, target, "PUT", "/books", books)
	u, err := url.Parse(target.url)
	if err != nil {
		t.Fatal(err)
	}
	// the documents read fine; GET /books (the metadata read) fails as an overloaded node does
	rp := httputil.NewSingleHostReverseProxy(u)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/books" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":{"type":"node_not_connected_exception","reason":"gone"},"status":500}`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	r := cli(t, t.Context(), deps{}, nil, "verify", "--cluster", "dr", "--primary", primary.url, "--target", front.URL, "--metadata")
	if r.code != 1 || !strings.Contains(r.stderr, "reading the metadata of books") || !strings.Contains(r.stderr, "HTTP 500") || r.stdout != "" {
		t.Errorf("exit %d, want 1 naming the failed read:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func mustDo(t *testing.T, em *emulator, method, path, body string) {
	t.Helper()
	if code, ans := em.do(t, method, path, body); code/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, code, ans)
	}
}

// compact undoes the indentation of -o json.
func compact(t *testing.T, raw json.RawMessage) json.RawMessage {
	t.Helper()
	if raw == nil {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
