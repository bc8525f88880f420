package deployments

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	dto "github.com/prometheus/client_model/go"

	"github.com/fanout-dev/fanout/pkg/telemetry"
	"github.com/fanout-dev/fanout/services/proxy"
	"github.com/fanout-dev/fanout/services/replicator"
)

const (
	dashboardFile = "dashboards/fanout.json"
	rulesFile     = "alerts/fanout.rules.yaml"
)

// externalMetrics are the only names the dashboard and the rules may use that no fanout
// service registers, with where they come from. Keep it short: each one is a series
// that a deployment must bring along, and the README's Alerts section says so.
var externalMetrics = map[string]string{
	// Prometheus' own series for every scrape target: 0 when the scrape failed.
	"up": "Prometheus",
	// Members of a consumer group, from Kafka's group coordinator: the one view that
	// still answers when no replicator of the group runs (compose: kafka-exporter).
	"kafka_consumergroup_members": "kafka-exporter (github.com/danielqsj/kafka_exporter)",
}

// scrapeLabels are the labels Prometheus adds to every scraped series.
var scrapeLabels = []string{"job", "instance"}

// series is what a PromQL expression may select: the sample names the services expose
// (a histogram family is name_bucket, name_sum and name_count), each with its labels.
type series map[string]map[string]bool

// collectors records what is registered on it, registering nothing.
type collectors []prometheus.Collector

func (c *collectors) Register(x prometheus.Collector) error   { *c = append(*c, x); return nil }
func (c *collectors) MustRegister(xs ...prometheus.Collector) { *c = append(*c, xs...) }
func (c *collectors) Unregister(prometheus.Collector) bool    { return false }

// desc reads a descriptor's name and labels: Desc has no getters, its String is
// Desc{fqName: "…", help: "…", unit: "…", constLabels: {a="x",…}, variableLabels: {b,c(d),…}}.
var desc = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*constLabels: \{(.*)\}, variableLabels: \{(.*)\}\}$`)

// registered builds the services' registries as they run (telemetry.NewRegistry with
// what proxy.RegisterMetrics and replicator.RegisterMetrics register) and lists their
// series. The names come from the collectors' descriptors, which vectors without
// children have too; the kind (histogram or summary, whose samples have suffixes) from
// the collector's type or, for collectors wrapped with const labels (the replicator's
// cluster), from what the registry gathers. A wrapped histogram vector with no child
// would not be known as a histogram: its _bucket series would be refused, never a
// wrong name let through.
func registered(t testing.TB) series {
	t.Helper()
	var cs collectors
	proxy.RegisterMetrics(&cs)
	replicator.RegisterMetrics(&cs, "target")
	reg := telemetry.NewRegistry()
	kinds := map[string]dto.MetricType{}
	out := series{}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			t.Fatalf("registering the services' metrics together: %v", err)
		}
		var kind dto.MetricType = -1
		switch c.(type) {
		case prometheus.Histogram, *prometheus.HistogramVec:
			kind = dto.MetricType_HISTOGRAM
		case prometheus.Summary, *prometheus.SummaryVec:
			kind = dto.MetricType_SUMMARY
		}
		ch := make(chan *prometheus.Desc)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := desc.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read descriptor %s", d)
			}
			labels := map[string]bool{}
			for _, l := range strings.Split(m[2], ",") {
				if name, _, ok := strings.Cut(l, "="); ok {
					labels[name] = true
				}
			}
			for _, l := range strings.Split(m[3], ",") {
				if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
					labels[l] = true
				}
			}
			out[m[1]] = labels
			if kind >= 0 {
				kinds[m[1]] = kind
			}
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		kinds[f.GetName()] = f.GetType()
		if _, ok := out[f.GetName()]; !ok { // go_* and process_*
			labels := map[string]bool{}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = true
				}
			}
			out[f.GetName()] = labels
		}
	}
	for name, kind := range kinds {
		labels := out[name]
		switch kind {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			delete(out, name)
			out[name+"_bucket"] = with(labels, "le")
			out[name+"_sum"], out[name+"_count"] = labels, labels
		case dto.MetricType_SUMMARY:
			out[name] = with(labels, "quantile")
			out[name+"_sum"], out[name+"_count"] = labels, labels
		}
	}
	for _, labels := range out {
		for _, l := range scrapeLabels {
			labels[l] = true
		}
	}
	return out
}

func with(labels map[string]bool, l string) map[string]bool {
	m := maps.Clone(labels)
	m[l] = true
	return m
}

// grafanaVar is a variable of a dashboard query: $name, ${name} or ${name:format}.
var grafanaVar = regexp.MustCompile(`\$(\w+)|\$\{(\w+)(?::\w+)?\}`)

// expandGrafana replaces the dashboard's variables by what Grafana would put there: a
// duration for the interval variables, a plain value for the others (all of which
// stand in label values).
func expandGrafana(expr string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		switch strings.Trim(v, "${}") {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		}
		return "value"
	})
}

// usedNames collects the metric names the checked expressions select.
type usedNames map[string]bool

// checkExpr parses expr and checks every selector in it: it names a metric that the
// services register (or one of externalMetrics), its matchers name labels the metric
// has, and every by (…) of an aggregation names a label of what it aggregates.
func checkExpr(expr string, known series, used usedNames) error {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	var errs []error
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			name := selectorName(n)
			if used != nil {
				used[name] = true
			}
			labels, ok := known[name]
			switch {
			case name == "":
				errs = append(errs, fmt.Errorf("selector %s names no metric", n))
			case ok:
				for _, m := range n.LabelMatchers {
					if m.Name != model.MetricNameLabel && !labels[m.Name] {
						errs = append(errs, fmt.Errorf("%s has no label %q (labels: %s)", name, m.Name, sortedKeys(labels)))
					}
				}
			case externalMetrics[name] != "":
			default:
				errs = append(errs, fmt.Errorf("metric %s is not registered by any fanout service, nor listed as external", name))
			}
		case *parser.AggregateExpr:
			if n.Without || len(n.Grouping) == 0 {
				return nil
			}
			have := map[string]bool{}
			external := false // or unknown
			parser.Inspect(n.Expr, func(c parser.Node, _ []parser.Node) error {
				if vs, ok := c.(*parser.VectorSelector); ok {
					name := selectorName(vs)
					// Labels of an outside series are not known here, and an unknown
					// name is an error of its own.
					_, ok := known[name]
					external = external || !ok
					maps.Copy(have, known[name])
				}
				return nil
			})
			for _, l := range n.Grouping {
				if !external && !have[l] {
					errs = append(errs, fmt.Errorf("%s by (%s): no series it aggregates has label %q", n.Op, strings.Join(n.Grouping, ", "), l))
				}
			}
		}
		return nil
	})
	return errors.Join(errs...)
}

func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel && m.Type.String() == "=" {
			return m.Value
		}
	}
	return ""
}

func sortedKeys(m map[string]bool) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

// TestCheckExpr: the check itself, on expressions that must pass and must fail.
func TestCheckExpr(t *testing.T) {
	known := registered(t)
	tests := []struct {
		name, expr string
		grafana    bool
		err        string // "" for none
	}{
		{name: "counter by result", expr: `sum by (cluster, result) (rate(fanout_replicator_ops_total{result="dlq"}[5m]))`},
		{name: "gauge vector", expr: `max by (cluster, partition) (fanout_replicator_lag_seconds{topic="fanout.ops"}) > 300`},
		{name: "histogram buckets", expr: `histogram_quantile(0.99, sum by (route, le) (rate(fanout_proxy_request_seconds_bucket[5m])))`},
		{name: "histogram count", expr: `rate(fanout_replicator_bulk_seconds_count{cluster="a"}[5m])`},
		{name: "spool gauge func", expr: `max(fanout_proxy_spool_oldest_age_seconds) > 300`},
		{name: "runtime collector", expr: `go_goroutines{job="fanout-proxy"}`},
		{name: "scrape labels", expr: `sum by (instance) (fanout_proxy_inflight_requests{job="fanout-proxy"})`},
		{name: "external", expr: `kafka_consumergroup_members{consumergroup=~"fanout-replicator-.+"} == 0`},
		{name: "name as matcher", expr: `{__name__="fanout_proxy_primary_up"}`},
		{name: "grafana variables", grafana: true, expr: `sum by (result) (rate(fanout_replicator_ops_total{cluster=~"$cluster"}[$__rate_interval]))`},

		{name: "unknown metric", expr: `fanout_replicator_lag_secs > 0`, err: "fanout_replicator_lag_secs is not registered"},
		{name: "unknown metric inside a function", expr: `sum(rate(fanout_proxy_requests[5m]))`, err: "fanout_proxy_requests is not registered"},
		{name: "histogram without suffix", expr: `fanout_proxy_request_seconds`, err: "fanout_proxy_request_seconds is not registered"},
		{name: "gauge with a histogram suffix", expr: `fanout_proxy_primary_up_bucket`, err: "is not registered"},
		{name: "unknown label", expr: `fanout_replicator_lag_seconds{clster="a"}`, err: `has no label "clster"`},
		{name: "bucket label on the count", expr: `fanout_replicator_bulk_seconds_count{le="1"}`, err: `has no label "le"`},
		{name: "unknown grouping label", expr: `sum by (status) (rate(fanout_proxy_requests_total[5m]))`, err: `no series it aggregates has label "status"`},
		{name: "no metric name", expr: `{__name__=~"fanout_.+"}`, err: "names no metric"},
		{name: "bad syntax", expr: `sum by (cluster (fanout_replicator_lag_seconds)`, err: "parse"},
		{name: "bad range", expr: `rate(fanout_proxy_requests_total[5x])`, err: "parse"},
		{name: "grafana variable left in a range", expr: `rate(fanout_proxy_requests_total[$__rate_interval])`, err: "parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expr := tt.expr
			if tt.grafana {
				expr = expandGrafana(expr)
			}
			err := checkExpr(expr, known, nil)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("%s: %v", tt.expr, err)
			case tt.err != "" && err == nil:
				t.Errorf("%s: passed, want an error with %q", tt.expr, tt.err)
			case tt.err != "" && !strings.Contains(err.Error(), tt.err):
				t.Errorf("%s: %v, want an error with %q", tt.expr, err, tt.err)
			}
		})
	}
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"` // a string, or {"query": "…"}
			Definition string `json:"definition"`
			Current    struct {
				Value any `json:"value"`
			} `json:"current"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int     `json:"id"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Repeat  string  `json:"repeat"`
	Panels  []panel `json:"panels"` // of a collapsed row
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

func readDashboard(t testing.TB) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// query is one PromQL expression of the dashboard, with the row it is in.
type query struct {
	panel, row, expr string
}

// queries lists the dashboard's expressions in order; a row's panels are those after
// it up to the next row (or, collapsed, its own).
func (d dashboard) queries() []query {
	var out []query
	row := ""
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				row = p.Title
			}
			for _, tg := range p.Targets {
				out = append(out, query{panel: p.Title, row: row, expr: tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

func TestDashboard(t *testing.T) {
	known := registered(t)
	d := readDashboard(t)
	used := usedNames{}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q, title %q", d.UID, d.Title)
	}
	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup || p.ID == 0 {
				t.Errorf("panel %q: id %d (also %q)", p.Title, p.ID, prev)
			}
			ids[p.ID] = p.Title
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if tg.Expr == "" || tg.RefID == "" {
					t.Errorf("panel %q: a query without expr or refId", p.Title)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)

	// The per-target row repeats over the cluster variable, whose values are the
	// replicators' cluster label.
	var cluster bool
	for _, v := range d.Templating.List {
		if v.Name != "cluster" {
			continue
		}
		cluster = true
		q := v.Definition
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		} else if s, ok := v.Query.(string); ok {
			q = s
		}
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Fatalf("variable cluster: query %q is not label_values(selector, label)", q)
		}
		if err := checkExpr(m[1], known, used); err != nil {
			t.Errorf("variable cluster: %v", err)
		}
		if m[2] != "cluster" || !known[strings.TrimSpace(m[1])]["cluster"] {
			t.Errorf("variable cluster: label_values of %s, label %s: want the replicators' cluster label", m[1], m[2])
		}
	}
	if !cluster {
		t.Error("the dashboard has no cluster variable")
	}
	repeated := ""
	for _, p := range d.Panels {
		if p.Type == "row" && p.Repeat == "cluster" {
			repeated = p.Title
		}
	}
	if repeated == "" {
		t.Error("no row repeats over the cluster variable")
	}

	byRow := map[string]usedNames{}
	for _, q := range d.queries() {
		if byRow[q.row] == nil {
			byRow[q.row] = usedNames{}
		}
		if err := checkExpr(expandGrafana(q.expr), known, byRow[q.row]); err != nil {
			t.Errorf("panel %q: %s: %v", q.panel, q.expr, err)
		}
		if q.row == repeated && !strings.Contains(q.expr, `cluster=~"$cluster"`) {
			t.Errorf("panel %q of the per-target row does not select cluster=~\"$cluster\": %s", q.panel, q.expr)
		}
	}
	for _, names := range byRow {
		maps.Copy(used, names)
	}

	// What the dashboard must show (issue 15): per target, the proxy, the spool.
	want := map[string][]string{
		repeated: {"fanout_replicator_lag_records", "fanout_replicator_lag_seconds", "fanout_replicator_ops_total",
			"fanout_replicator_bulk_seconds_bucket", "fanout_replicator_target_up", "fanout_replicator_paused"},
		"Proxy": {"fanout_proxy_requests_total", "fanout_proxy_request_seconds_bucket", "fanout_proxy_events_published_total",
			"fanout_proxy_replication_errors_total", "fanout_proxy_primary_unknown_outcome_total"},
		"Proxy spool": {"fanout_proxy_spool_bytes", "fanout_proxy_spool_records", "fanout_proxy_spool_oldest_age_seconds"},
	}
	for row, names := range want {
		for _, n := range names {
			if !byRow[row][n] {
				t.Errorf("row %q shows no %s", row, n)
			}
		}
	}
	for n := range used {
		if externalMetrics[n] != "" {
			t.Errorf("the dashboard uses %s, which no fanout service exports: keep it to the services' series", n)
		}
	}
}

// ruleFile mirrors the rule file format of Prometheus' rulefmt (groups of recording and
// alerting rules), decoded strictly. rulefmt itself imports the PromQL engine, the
// template package and, through them, client-go and OpenTelemetry: measured cold with
// -race, 58 s of CPU on top of this module's 67 s (and the services' 148 s).
type ruleFile struct {
	Groups []struct {
		Name        string            `yaml:"name"`
		Interval    string            `yaml:"interval"`
		QueryOffset string            `yaml:"query_offset"`
		Limit       int               `yaml:"limit"`
		Labels      map[string]string `yaml:"labels"`
		Rules       []rule            `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record        string            `yaml:"record"`
	Alert         string            `yaml:"alert"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for"`
	KeepFiringFor string            `yaml:"keep_firing_for"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

func readRules(t testing.TB) ruleFile {
	t.Helper()
	f, err := os.Open(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var rf ruleFile
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return rf
}

// templateFuncs are the functions of Prometheus' alert templates that the annotations
// use; a template calling another fails to parse here.
var templateFuncs = template.FuncMap{
	"humanize": fmt.Sprint, "humanize1024": fmt.Sprint, "humanizeDuration": fmt.Sprint,
	"humanizePercentage": fmt.Sprint, "humanizeTimestamp": fmt.Sprint, "toUpper": strings.ToUpper,
}

// templateDefs is what Prometheus puts before every annotation template.
const templateDefs = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"

// wantAlerts are the alerts issue 15 asks for, by what they watch.
var wantAlerts = map[string]string{
	"FanoutReplicationLagHigh":     "lag seconds over a threshold for 10 minutes",
	"FanoutDLQGrowing":             "DLQ growing",
	"FanoutTargetDown":             "target down",
	"FanoutProxyReplicationErrors": "replication errors at the proxy",
	"FanoutReplicatorGroupEmpty":   "a consumer group with no members",
}

func TestAlertRules(t *testing.T) {
	known := registered(t)
	rf := readRules(t)
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	alerts := string(readme)
	if i := strings.Index(alerts, "\n## Alerts\n"); i >= 0 {
		alerts = alerts[i:]
		if j := strings.Index(alerts[1:], "\n## "); j >= 0 {
			alerts = alerts[:j+1]
		}
	} else {
		t.Error("the README has no Alerts section")
	}
	used := usedNames{}
	seen := map[string]rule{}
	groups := map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("group name %q empty or repeated", g.Name)
		}
		groups[g.Name] = true
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			if (r.Alert == "") == (r.Record == "") {
				t.Errorf("rule %q: exactly one of alert and record", name)
			}
			if _, dup := seen[name]; dup {
				t.Errorf("rule %q twice", name)
			}
			seen[name] = r
			if err := checkExpr(r.Expr, known, used); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			for key, d := range map[string]string{"for": r.For, "keep_firing_for": r.KeepFiringFor} {
				if _, err := model.ParseDuration(d); d != "" && err != nil {
					t.Errorf("%s: %s: %v", name, key, err)
				}
			}
			if r.Record != "" {
				continue
			}
			switch r.Labels["severity"] {
			case "info", "warning", "critical":
			default:
				t.Errorf("%s: severity %q, want info, warning or critical", name, r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", name, a)
				}
			}
			for k, text := range r.Annotations {
				if _, err := template.New(k).Funcs(templateFuncs).Parse(templateDefs + text); err != nil {
					t.Errorf("%s: annotation %s: %v", name, k, err)
				}
			}
			if err := checkTemplateLabels(r, known); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if want := "README.md#" + strings.ToLower(r.Alert); r.Annotations["runbook"] != want {
				t.Errorf("%s: runbook %q, want %q", name, r.Annotations["runbook"], want)
			}
			if !strings.Contains(alerts, "\n#### "+r.Alert+"\n") {
				t.Errorf("%s: the README's Alerts section has no runbook (#### %s)", name, r.Alert)
			}
		}
	}
	for a, what := range wantAlerts {
		if _, ok := seen[a]; !ok {
			t.Errorf("no alert %s (%s)", a, what)
		}
	}
	if r := seen["FanoutReplicationLagHigh"]; !strings.Contains(r.Expr, "fanout_replicator_lag_seconds") || r.For != "10m" {
		t.Errorf("FanoutReplicationLagHigh: %q for %q, want lag seconds for 10m", r.Expr, r.For)
	}
	// Every external metric is used, and explained where operators read the runbooks.
	for name := range externalMetrics {
		if !used[name] {
			t.Errorf("external metric %s is used by no rule: drop it from externalMetrics", name)
		}
		if !strings.Contains(alerts, "`"+name+"`") {
			t.Errorf("external metric %s is not named in the README's Alerts section", name)
		}
	}
}

var templateLabel = regexp.MustCompile(`\$labels\.(\w+)`)

// checkTemplateLabels: the labels an alert's annotations print are labels of what its
// expression returns: the groupings of its aggregations, or, without one, the labels of
// the series it selects. (An outer aggregation without a by keeps none, so an
// annotation naming a label it dropped would print nothing.)
func checkTemplateLabels(r rule, known series) error {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
	if err != nil {
		return nil // reported by checkExpr
	}
	grouped, aggregated, unknown := map[string]bool{}, false, false
	selected := map[string]bool{}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.AggregateExpr:
			aggregated = true
			if n.Without {
				unknown = true // what is left depends on what came in
			}
			for _, l := range n.Grouping {
				grouped[l] = true
			}
		case *parser.VectorSelector:
			name := selectorName(n)
			if labels, ok := known[name]; ok {
				maps.Copy(selected, labels)
			} else {
				// An outside series: what it is matched on, and what every scrape adds.
				for _, m := range n.LabelMatchers {
					selected[m.Name] = true
				}
				for _, l := range scrapeLabels {
					selected[l] = true
				}
			}
		}
		return nil
	})
	if unknown {
		return nil
	}
	have := selected
	if aggregated {
		have = grouped
	}
	var errs []error
	for k, text := range r.Annotations {
		for _, m := range templateLabel.FindAllStringSubmatch(text, -1) {
			if !have[m[1]] {
				errs = append(errs, fmt.Errorf("annotation %s prints $labels.%s, which %q does not return", k, m[1], r.Expr))
			}
		}
	}
	return errors.Join(errs...)
}
