package replicator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"

	"github.com/fanout-dev/fanout/pkg/glob"
	"github.com/fanout-dev/fanout/pkg/metadata"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

// Applying a metadata change makes the target's objects equal to the primary's states
// the change carries (opspb.Metadata), idempotently: every step reads the target first
// and sends only what differs, so applying the same change twice, or again after a
// crash half-way, converges to the same objects. The steps run in an order in which
// each finds what it needs (a template before the data stream made from it, an index
// before its aliases):
//
//  1. ingest pipelines and component templates;
//  2. composable and legacy index templates (template deletes come last, step 11);
//  3. index deletes;
//  4. data stream creates;
//  5. index creates (settings and mappings; aliases come in step 9);
//  6. mapping updates (PUT _mapping with the whole mappings);
//  7. dynamic settings that differ (PUT _settings);
//  8. open or close to match (an index the primary has open is opened before 6,
//     since a closed index takes no mapping update);
//
// steps 5 to 8 run index by index (indices do not depend on each other);
//  9. one POST /_aliases with every remove and add the states imply, so that a
//     rollover's write-index switch is atomic on the target too;
//  10. data stream deletes, rollovers, and deletes of single backing indices;
//  11. template deletes: index and legacy templates, then component templates (the
//     engine refuses to delete a template a data stream or an index template uses).
//
// Names. Every index name goes through the replicator's indices.include/exclude and
// indices.rename (indexMapper), as documents do: an excluded index is skipped, a
// renamed one is created, changed and deleted under its target name. Aliases keep
// their names and point at the renamed indices. Template index_patterns are rewritten
// with the rename template when it is not "{index}" ("logs-*" becomes "dr-logs-*" for
// "dr-{index}"), so that the template matches the renamed indices; templates are not
// filtered by include/exclude (a pattern is not an index). Data streams (and their
// backing indices, IndexState.data_stream != "") are skipped when the rename template
// is not "{index}": their backing index names are the engine's (.ds-<stream>-<gen>),
// so a renamed stream could not hold the renamed backing indices its documents name.
// A data stream is skipped, too, when its name is excluded.
//
// Failures. No answer, 5xx, 429, 401 and 403 are cluster trouble: apply returns an
// error wrapping errMetaTrouble and the caller retries the whole change (it is
// idempotent). Any other 4xx refuses one step: it is recorded (metaResult.refused),
// the steps that depend on it are skipped (no mapping update for an index whose create
// was refused), the others go on, and the caller dead-letters the change.

// errMetaTrouble marks apply errors that are the target's trouble, not a refusal.
var errMetaTrouble = errors.New("target cluster trouble")

// Step kinds of fanout_replicator_metadata_steps_total.
const (
	stepPipeline     = "pipeline"
	stepComponent    = "component_template"
	stepTemplate     = "index_template"
	stepLegacy       = "legacy_template"
	stepIndexDelete  = "index_delete"
	stepStreamCreate = "data_stream_create"
	stepIndexCreate  = "index_create"
	stepMapping      = "mapping"
	stepSettings     = "settings"
	stepOpenClose    = "open_close"
	stepAliases      = "aliases"
	stepStreamDelete = "data_stream_delete"
	stepRollover     = "rollover"
)

// Step results of fanout_replicator_metadata_steps_total.
const (
	stepApplied   = "applied"   // the target was changed
	stepUnchanged = "unchanged" // the target already had it
	stepSkipped   = "skipped"   // policy (metadata.replicate.*) or index filters
	stepRefused   = "refused"   // the target refused it (4xx): the change is dead-lettered
	stepStatic    = "static"    // a static setting differs: logged, not sent
)

// creationOnly are settings a create request can never carry: the target gives them
// to its copy (identity, provenance). They are never copied, whatever
// metadata.compare_settings says.
var creationOnly = []string{
	"index.uuid", "index.creation_date", "index.creation_date_string", "index.provided_name",
	"index.version.*", "index.history.uuid", "index.verified_before_close",
	"index.resize.*", "index.shrink.*", "index.routing_partition_size_original",
}

// staticSettings are index settings the engine sets only at creation (or on a closed
// index): on an existing index a difference is logged and counted, not sent, since
// the target would refuse the whole PUT _settings for it.
var staticSettings = []string{
	"index.number_of_shards", "index.number_of_routing_shards", "index.routing_partition_size",
	"index.codec", "index.codec.*", "index.shard.check_on_startup", "index.soft_deletes.enabled",
	"index.load_fixed_bitset_filters_eagerly", "index.analysis.*", "index.similarity.*",
	"index.sort.*", "index.store.type", "index.store.preload", "index.queries.cache.enabled",
	"index.knn", "index.mapping.single_type", "index.format", "index.hidden_original",
}

// metaStep is one step's outcome.
type metaStep struct {
	kind, result string
}

// metaRefusal is one step the target refused.
type metaRefusal struct {
	Step, Object string
	Status       int
	ErrorType    string
	Reason       string
}

// metaResult is what applying one change came to.
type metaResult struct {
	steps   []metaStep
	refused []metaRefusal
}

// considered reports whether any step was applied, refused or found unchanged (the change was not
// wholly skipped).
func (r *metaResult) considered() bool {
	for _, s := range r.steps {
		if s.result != stepSkipped {
			return true
		}
	}
	return false
}

// metaApplier applies metadata changes to one target. It is used by one goroutine at a
// time (a partition's, or fanoutctl's replay).
type metaApplier struct {
	target   *opensearch.Client
	cluster  string
	policy   MetadataReplicate
	settings metadata.Settings
	mapper   *indexMapper
	rename   string
	timeout  time.Duration
	log      *slog.Logger
}

func newMetaApplier(cfg Config, target *opensearch.Client, log *slog.Logger) *metaApplier {
	return &metaApplier{
		target: target, cluster: cfg.Target.Name, policy: cfg.Metadata.Replicate,
		settings: metadata.Settings{Ignore: cfg.Metadata.IgnoreSettings, Compare: cfg.Metadata.CompareSettings},
		mapper:   newIndexMapper(cfg.Indices), rename: cfg.Indices.Rename,
		timeout: cfg.Limits.BulkTimeout, log: log,
	}
}

// renamed reports whether the rename template changes names.
func (a *metaApplier) renamed() bool { return a.rename != "" && a.rename != "{index}" }

// metaRun is the state of one apply.
type metaRun struct {
	a   *metaApplier
	ctx context.Context
	res metaResult
	// refusedIndex: target indices whose create was refused; later steps skip them.
	refusedIndex map[string]bool
}

func (m *metaRun) step(kind, result string) {
	m.res.steps = append(m.res.steps, metaStep{kind, result})
}

func (m *metaRun) refuse(kind, object string, status int, answer []byte) {
	typ, reason := errorOf(answer, status)
	m.res.refused = append(m.res.refused, metaRefusal{Step: kind, Object: object, Status: status, ErrorType: typ, Reason: reason})
	m.step(kind, stepRefused)
	m.a.log.Warn("target refused a metadata step", "step", kind, "object", object, "http_status", status, "error_type", typ, "reason", reason)
}

// apply makes the target's objects equal to md's states. An error (wrapping
// errMetaTrouble, or the context's) means the change must be applied again.
func (a *metaApplier) apply(ctx context.Context, md *opspb.Metadata) (metaResult, error) {
	m := &metaRun{a: a, ctx: ctx, refusedIndex: map[string]bool{}}
	steps := []func(*opspb.Metadata) error{
		m.pipelinesAndComponents,
		m.indexTemplates,
		m.indexDeletes,
		m.streamCreates,
		m.indices,
		m.aliases,
		m.streamDeletesAndRollovers,
		m.templateDeletes,
	}
	for _, s := range steps {
		if err := s(md); err != nil {
			var rr *readRefused
			if errors.As(err, &rr) {
				m.refuse("read", rr.path, rr.status, rr.answer)
				return m.res, nil // the steps after it are not applied
			}
			return metaResult{}, err
		}
	}
	return m.res, nil
}

// --- requests --------------------------------------------------------------------

// do sends one request. 2xx and 4xx other than 401/403/408/429 come back as a status
// and the answer; anything else is an error wrapping errMetaTrouble.
func (m *metaRun) do(method, path string, body []byte) (int, []byte, error) {
	a := m.a
	ctx, cancel := context.WithTimeout(m.ctx, a.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("building %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.target.Perform(req)
	if err != nil {
		if m.ctx.Err() != nil {
			return 0, nil, m.ctx.Err()
		}
		return 0, nil, fmt.Errorf("%w: %s %s on %s: %w", errMetaTrouble, method, path, a.cluster, err)
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, nil, fmt.Errorf("%w: reading the answer to %s %s from %s: %w", errMetaTrouble, method, path, a.cluster, err)
	}
	switch s := resp.StatusCode; {
	case s >= 500, s == http.StatusTooManyRequests, s == http.StatusUnauthorized, s == http.StatusForbidden, s == http.StatusRequestTimeout:
		return s, answer, fmt.Errorf("%w: %s %s on %s: HTTP %d: %s", errMetaTrouble, method, path, a.cluster, s, truncate(answer, 300))
	}
	return resp.StatusCode, answer, nil
}

// errorOf is the error type and reason of an error answer.
func errorOf(answer []byte, status int) (string, string) {
	var e struct {
		Error struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	}
	if json.Unmarshal(answer, &e) == nil && e.Error.Type != "" {
		return e.Error.Type, e.Error.Reason
	}
	return fmt.Sprintf("http_%d", status), truncate(answer, 300)
}

func esc(name string) string { return url.PathEscape(name) }

// put sends a PUT (or POST) whose 2xx applies the step and whose 4xx refuses it.
func (m *metaRun) put(kind, object, method, path string, body []byte) (bool, error) {
	status, answer, err := m.do(method, path, body)
	if err != nil {
		return false, err
	}
	if status >= 300 {
		m.refuse(kind, object, status, answer)
		return false, nil
	}
	m.step(kind, stepApplied)
	return true, nil
}

// del sends a DELETE; a 404 means it was gone already.
func (m *metaRun) del(kind, object, path string) error {
	status, answer, err := m.do(http.MethodDelete, path, nil)
	switch {
	case err != nil:
		return err
	case status == http.StatusNotFound:
		m.step(kind, stepUnchanged)
	case status >= 300:
		m.refuse(kind, object, status, answer)
	default:
		m.step(kind, stepApplied)
	}
	return nil
}

// get reads an object; found false on 404. Another 4xx is returned as an error
// wrapping errMetaTrouble: reading must work for anything to be applied.
func (m *metaRun) get(path string, into any) (bool, error) {
	status, answer, err := m.do(http.MethodGet, path, nil)
	if err != nil {
		return false, err
	}
	if status == http.StatusNotFound {
		return false, nil
	}
	if status >= 300 {
		return false, &readRefused{path: path, status: status, answer: answer}
	}
	if err := json.Unmarshal(answer, into); err != nil {
		return false, fmt.Errorf("%w: GET %s on %s: unreadable answer: %w", errMetaTrouble, path, m.a.cluster, err)
	}
	return true, nil
}

// readRefused is a read answered with a 4xx other than 404: the change cannot be
// applied as it is (a name the target refuses, say), and retrying would stall the
// partition for good; apply stops there and the change is dead-lettered.
type readRefused struct {
	path   string
	status int
	answer []byte
}

func (e *readRefused) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d: %s", e.path, e.status, truncate(e.answer, 300))
}

// sameJSON compares two JSON documents by value.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// --- 1, 2: pipelines and templates -------------------------------------------------

func (m *metaRun) pipelinesAndComponents(md *opspb.Metadata) error {
	for _, p := range md.GetPipelines() {
		if !m.a.policy.Pipelines {
			m.step(stepPipeline, stepSkipped)
			continue
		}
		path := "/_ingest/pipeline/" + esc(p.GetId())
		if !p.GetExists() {
			if err := m.del(stepPipeline, p.GetId(), path); err != nil {
				return err
			}
			continue
		}
		var cur map[string]json.RawMessage
		found, err := m.get(path, &cur)
		if err != nil {
			return err
		}
		if found && sameJSON(cur[p.GetId()], p.GetBody()) {
			m.step(stepPipeline, stepUnchanged)
			continue
		}
		if _, err := m.put(stepPipeline, p.GetId(), http.MethodPut, path, p.GetBody()); err != nil {
			return err
		}
	}
	for _, t := range md.GetTemplates() {
		if t.GetKind() == opspb.TemplateKind_TEMPLATE_KIND_COMPONENT && t.GetExists() {
			if err := m.putTemplate(t); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *metaRun) indexTemplates(md *opspb.Metadata) error {
	for _, t := range md.GetTemplates() {
		if t.GetKind() == opspb.TemplateKind_TEMPLATE_KIND_COMPONENT {
			continue
		}
		if t.GetExists() {
			if err := m.putTemplate(t); err != nil {
				return err
			}
		}
	}
	return nil
}

// templateDeletes deletes index and legacy templates, then component templates: last,
// after the data streams that may use them and the index templates that may compose
// them are gone (the engine refuses to delete a template in use).
func (m *metaRun) templateDeletes(md *opspb.Metadata) error {
	for _, component := range []bool{false, true} {
		for _, t := range md.GetTemplates() {
			if !t.GetExists() && (t.GetKind() == opspb.TemplateKind_TEMPLATE_KIND_COMPONENT) == component {
				if err := m.deleteTemplate(t); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// templateAPI is the path prefix, the key of a GET answer's list and the step kind of
// a template kind.
func templateAPI(k opspb.TemplateKind) (prefix, list, kind string) {
	switch k {
	case opspb.TemplateKind_TEMPLATE_KIND_COMPONENT:
		return "/_component_template/", "component_templates", stepComponent
	case opspb.TemplateKind_TEMPLATE_KIND_LEGACY:
		return "/_template/", "", stepLegacy
	default:
		return "/_index_template/", "index_templates", stepTemplate
	}
}

func (m *metaRun) putTemplate(t *opspb.TemplateState) error {
	prefix, list, kind := templateAPI(t.GetKind())
	if !m.a.policy.Templates {
		m.step(kind, stepSkipped)
		return nil
	}
	body, err := m.a.renameTemplate(t.GetBody())
	if err != nil {
		m.res.refused = append(m.res.refused, metaRefusal{Step: kind, Object: t.GetName(), ErrorType: "invalid_template_state", Reason: err.Error()})
		m.step(kind, stepRefused)
		return nil
	}
	path := prefix + esc(t.GetName())
	cur, found, err := m.currentTemplate(path, list, t.GetName())
	if err != nil {
		return err
	}
	if found && sameJSON(cur, body) {
		m.step(kind, stepUnchanged)
		return nil
	}
	_, err = m.put(kind, t.GetName(), http.MethodPut, path, body)
	return err
}

// currentTemplate reads a template as its PUT body.
func (m *metaRun) currentTemplate(path, list, name string) (json.RawMessage, bool, error) {
	if list == "" { // legacy: {"name": {...}}
		var cur map[string]json.RawMessage
		found, err := m.get(path, &cur)
		return cur[name], found && cur[name] != nil, err
	}
	var cur map[string][]map[string]json.RawMessage
	found, err := m.get(path, &cur)
	if err != nil || !found {
		return nil, false, err
	}
	body := strings.TrimSuffix(list, "s") // "index_templates" lists {"name", "index_template"}
	for _, e := range cur[list] {
		var n string
		if json.Unmarshal(e["name"], &n) == nil && n == name {
			return e[body], e[body] != nil, nil
		}
	}
	return nil, false, nil
}

func (m *metaRun) deleteTemplate(t *opspb.TemplateState) error {
	prefix, _, kind := templateAPI(t.GetKind())
	if !m.a.policy.Templates {
		m.step(kind, stepSkipped)
		return nil
	}
	return m.del(kind, t.GetName(), prefix+esc(t.GetName()))
}

// renameTemplate rewrites a template body's index_patterns with the rename template.
func (a *metaApplier) renameTemplate(body []byte) ([]byte, error) {
	if !a.renamed() {
		return body, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("template body: %w", err)
	}
	raw, ok := obj["index_patterns"]
	if !ok {
		return body, nil
	}
	var patterns []string
	if err := json.Unmarshal(raw, &patterns); err != nil {
		var one string // a legacy template may give one pattern as a string
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("template index_patterns: %w", err)
		}
		patterns = []string{one}
	}
	for i, p := range patterns {
		patterns[i] = RenameIndex(a.rename, p)
	}
	obj["index_patterns"], _ = json.Marshal(patterns)
	return json.Marshal(obj)
}

// --- index targets ----------------------------------------------------------------

// indexTarget is the target name of an index state; ok false when the index is not
// replicated to this target.
func (a *metaApplier) indexTarget(ix *opspb.IndexState) (string, bool) {
	if ix.GetDataStream() != "" {
		if a.renamed() || !a.streamIncluded(ix.GetDataStream()) {
			return "", false
		}
		return ix.GetName(), true // backing index names are the engine's
	}
	return a.mapper.Map(ix.GetName())
}

func (a *metaApplier) streamIncluded(name string) bool {
	return !a.renamed() && Included(name, a.mapper.include, a.mapper.exclude)
}

// --- 3: index deletes ---------------------------------------------------------------

func (m *metaRun) indexDeletes(md *opspb.Metadata) error {
	for _, ix := range md.GetIndices() {
		if ix.GetExists() || ix.GetDataStream() != "" {
			continue
		}
		name, ok := m.a.indexTarget(ix)
		if !ok || !m.a.policy.Indices || !m.a.policy.Deletes {
			m.step(stepIndexDelete, stepSkipped)
			continue
		}
		if err := m.del(stepIndexDelete, name, "/"+esc(name)); err != nil {
			return err
		}
	}
	return nil
}

// --- 4: data stream creates -----------------------------------------------------------

type dataStreamsAnswer struct {
	DataStreams []struct {
		Name       string `json:"name"`
		Generation int64  `json:"generation"`
	} `json:"data_streams"`
}

// streamGeneration is the target's generation of a data stream, 0 if it has none.
func (m *metaRun) streamGeneration(name string) (int64, error) {
	var ans dataStreamsAnswer
	found, err := m.get("/_data_stream/"+esc(name), &ans)
	if err != nil || !found {
		return 0, err
	}
	for _, ds := range ans.DataStreams {
		if ds.Name == name {
			return max(ds.Generation, 1), nil
		}
	}
	return 0, nil
}

func (m *metaRun) streamCreates(md *opspb.Metadata) error {
	for _, ds := range md.GetDataStreams() {
		if !ds.GetExists() {
			continue
		}
		if !m.a.policy.DataStreams || !m.a.streamIncluded(ds.GetName()) {
			m.step(stepStreamCreate, stepSkipped)
			continue
		}
		gen, err := m.streamGeneration(ds.GetName())
		if err != nil {
			return err
		}
		if gen > 0 {
			m.step(stepStreamCreate, stepUnchanged)
			continue
		}
		if _, err := m.put(stepStreamCreate, ds.GetName(), http.MethodPut, "/_data_stream/"+esc(ds.GetName()), nil); err != nil {
			return err
		}
	}
	return nil
}

// --- 5-8: indices -------------------------------------------------------------------

// targetIndex is what the target has of one index.
type targetIndex struct {
	Aliases  map[string]json.RawMessage `json:"aliases"`
	Mappings json.RawMessage            `json:"mappings"`
	Settings map[string]any             `json:"settings"`
	closed   bool
}

// readIndex reads the target's index, nil when it has none.
func (m *metaRun) readIndex(name string) (*targetIndex, error) {
	var ans map[string]*targetIndex
	found, err := m.get("/"+esc(name)+"?flat_settings=true&expand_wildcards=all", &ans)
	if err != nil || !found {
		return nil, err
	}
	ti := ans[name]
	if ti == nil {
		return nil, nil // an alias or stream of that name: no index
	}
	var cat []struct {
		Status string `json:"status"`
	}
	if _, err := m.get("/_cat/indices/"+esc(name)+"?format=json&h=status&expand_wildcards=all", &cat); err != nil {
		return nil, err
	}
	ti.closed = len(cat) == 1 && cat[0].Status == "close"
	return ti, nil
}

// stateSettings decodes an index state's settings into flat names (values as the
// primary gave them: strings, or lists).
func stateSettings(ix *opspb.IndexState) (map[string]any, error) {
	if len(ix.GetSettings()) == 0 {
		return map[string]any{}, nil
	}
	var raw map[string]any
	if err := json.Unmarshal(ix.GetSettings(), &raw); err != nil {
		return nil, fmt.Errorf("settings of %s: %w", ix.GetName(), err)
	}
	return metadata.Flatten(raw), nil
}

// settingString renders a flat setting value as the engine shows it (strings; lists as
// JSON).
func settingString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// copied reports whether setting is copied to the target at all.
func (a *metaApplier) copied(setting string) bool {
	for _, p := range creationOnly {
		if glob.Match(p, setting) {
			return false
		}
	}
	return a.settings.Compared(setting)
}

func isStatic(setting string) bool {
	for _, p := range staticSettings {
		if glob.Match(p, setting) {
			return true
		}
	}
	return false
}

func (m *metaRun) indices(md *opspb.Metadata) error {
	for _, ix := range md.GetIndices() {
		if !ix.GetExists() {
			continue
		}
		name, ok := m.a.indexTarget(ix)
		if !ok {
			m.step(stepIndexCreate, stepSkipped)
			continue
		}
		if err := m.index(ix, name); err != nil {
			return err
		}
	}
	return nil
}

// index brings one existing index of the primary to its state on the target.
func (m *metaRun) index(ix *opspb.IndexState, name string) error {
	a := m.a
	want, err := stateSettings(ix)
	if err != nil {
		m.res.refused = append(m.res.refused, metaRefusal{Step: stepIndexCreate, Object: name, ErrorType: "invalid_index_state", Reason: err.Error()})
		m.step(stepIndexCreate, stepRefused)
		return nil
	}
	cur, err := m.readIndex(name)
	if err != nil {
		return err
	}
	if cur == nil {
		if ix.GetDataStream() != "" || !a.policy.Indices {
			// Backing indices come from the data stream API (create, rollover), never
			// PUT /{index}; one the target lacks is made by step 10's rollover. With
			// metadata.replicate.indices off no index is created (the mappings,
			// settings and aliases of those the target has are still kept equal).
			m.step(stepIndexCreate, stepSkipped)
			return nil
		}
		body := map[string]any{}
		if a.policy.Settings {
			s := map[string]any{}
			for k, v := range want {
				if a.copied(k) {
					s[k] = v
				}
			}
			if len(s) > 0 {
				body["settings"] = s
			}
		}
		if a.policy.Mappings && len(ix.GetMappings()) > 0 && !bytes.Equal(ix.GetMappings(), []byte("{}")) {
			body["mappings"] = json.RawMessage(ix.GetMappings())
		}
		b, _ := json.Marshal(body)
		status, answer, err := m.do(http.MethodPut, "/"+esc(name), b)
		if err != nil {
			return err
		}
		if status >= 300 && !alreadyExists(answer) {
			m.refuse(stepIndexCreate, name, status, answer)
			m.refusedIndex[name] = true
			return nil
		}
		m.step(stepIndexCreate, stepApplied)
		if cur, err = m.readIndex(name); err != nil || cur == nil {
			if err == nil {
				err = fmt.Errorf("%w: index %s not found right after its creation on %s", errMetaTrouble, name, a.cluster)
			}
			return err
		}
	} else {
		m.step(stepIndexCreate, stepUnchanged)
	}

	if !ix.GetClosed() && cur.closed && a.policy.Indices {
		if err := m.openClose(name, "_open"); err != nil {
			return err
		}
		cur.closed = false
	}
	if a.policy.Mappings && len(ix.GetMappings()) > 0 {
		if sameMappings(cur.Mappings, ix.GetMappings()) {
			m.step(stepMapping, stepUnchanged)
		} else if _, err := m.put(stepMapping, name, http.MethodPut, "/"+esc(name)+"/_mapping", ix.GetMappings()); err != nil {
			return err
		}
	} else if len(ix.GetMappings()) > 0 {
		m.step(stepMapping, stepSkipped)
	}
	if a.policy.Settings {
		if err := m.updateSettings(name, want, cur.Settings); err != nil {
			return err
		}
	} else {
		m.step(stepSettings, stepSkipped)
	}
	if ix.GetClosed() && !cur.closed && a.policy.Indices {
		if err := m.openClose(name, "_close"); err != nil {
			return err
		}
	}
	return nil
}

// alreadyExists reports a create answered resource_already_exists_exception: another
// apply of the same change (a previous owner's) got there first.
func alreadyExists(answer []byte) bool {
	typ, _ := errorOf(answer, 400)
	return typ == "resource_already_exists_exception"
}

// sameMappings compares mappings by value; an empty mapping equals {}.
func sameMappings(cur, want []byte) bool {
	norm := func(b []byte) []byte {
		if len(bytes.TrimSpace(b)) == 0 {
			return []byte("{}")
		}
		return b
	}
	return sameJSON(norm(cur), norm(want))
}

func (m *metaRun) openClose(name, action string) error {
	_, err := m.put(stepOpenClose, name, http.MethodPost, "/"+esc(name)+"/"+action, nil)
	return err
}

// updateSettings sends the dynamic copied settings whose values differ (and resets
// those the primary no longer sets); static ones that differ are logged and counted.
func (m *metaRun) updateSettings(name string, want, curRaw map[string]any) error {
	a := m.a
	wantX, curX := expandSettings(want), expandSettings(metadata.Flatten(curRaw))
	// base is the setting a flat name belongs to: a list's items show as name.0,
	// name.1 … on some engines (and the emulator), as one list on others.
	// (No setting name ends in a number otherwise.)
	base := func(k string) string {
		if i := strings.LastIndexByte(k, '.'); i > 0 {
			if _, err := strconv.Atoi(k[i+1:]); err == nil {
				return k[:i]
			}
		}
		return k
	}
	differs := map[string]bool{}
	for k, v := range wantX {
		if c, ok := curX[k]; !ok || c != v {
			differs[base(k)] = true
		}
	}
	reset := map[string]bool{}
	for k := range curX {
		if _, ok := wantX[k]; ok {
			continue
		}
		if b := base(k); want[b] != nil {
			differs[b] = true // a longer list on the target
		} else {
			reset[b] = true
		}
	}
	upd := map[string]any{}
	var static []string
	for k := range differs {
		if !a.copied(k) {
			continue
		}
		if isStatic(k) {
			static = append(static, k)
			continue
		}
		upd[k] = want[k]
	}
	for k := range reset {
		if a.copied(k) && !isStatic(k) {
			upd[k] = nil // the primary no longer sets it: back to the default
		}
	}
	sort.Strings(static)
	for _, k := range static {
		m.step(stepSettings, stepStatic)
		a.log.Warn("a static setting differs between primary and target; it is not changed on an existing index",
			"index", name, "setting", k, "primary", settingString(want[k]), "target", curX[k])
	}
	if len(upd) == 0 {
		if len(static) == 0 {
			m.step(stepSettings, stepUnchanged)
		}
		return nil
	}
	b, _ := json.Marshal(upd)
	_, err := m.put(stepSettings, name, http.MethodPut, "/"+esc(name)+"/_settings", b)
	return err
}

// expandSettings renders flat settings as strings, a list as one entry per item
// (name.0, name.1 …), so that both ways engines show lists compare equal.
func expandSettings(s map[string]any) map[string]string {
	out := make(map[string]string, len(s))
	for k, v := range s {
		if l, ok := v.([]any); ok {
			for i, e := range l {
				out[k+"."+strconv.Itoa(i)] = settingString(e)
			}
			continue
		}
		out[k] = settingString(v)
	}
	return out
}

// --- 9: aliases ---------------------------------------------------------------------

func (m *metaRun) aliases(md *opspb.Metadata) error {
	a := m.a
	var actions []map[string]map[string]any
	considered := false
	for _, ix := range md.GetIndices() {
		if !ix.GetExists() || ix.GetDataStream() != "" {
			continue
		}
		name, ok := a.indexTarget(ix)
		if !ok || m.refusedIndex[name] {
			continue
		}
		if !a.policy.Aliases {
			m.step(stepAliases, stepSkipped)
			continue
		}
		want := map[string]json.RawMessage{}
		if len(ix.GetAliases()) > 0 {
			if err := json.Unmarshal(ix.GetAliases(), &want); err != nil {
				m.res.refused = append(m.res.refused, metaRefusal{Step: stepAliases, Object: name, ErrorType: "invalid_index_state", Reason: err.Error()})
				m.step(stepAliases, stepRefused)
				continue
			}
		}
		cur, err := m.readIndex(name)
		if err != nil {
			return err
		}
		if cur == nil {
			continue // its create was skipped (policy) or refused
		}
		considered = true
		for alias := range cur.Aliases {
			if _, ok := want[alias]; !ok {
				actions = append(actions, map[string]map[string]any{"remove": {"index": name, "alias": alias}})
			}
		}
		for _, alias := range sortedKeys(want) {
			props := want[alias]
			if c, ok := cur.Aliases[alias]; ok && sameJSON(c, props) {
				continue
			}
			add := map[string]any{}
			_ = json.Unmarshal(props, &add)
			add["index"], add["alias"] = name, alias
			actions = append(actions, map[string]map[string]any{"add": add})
		}
	}
	if !considered {
		return nil
	}
	if len(actions) == 0 {
		m.step(stepAliases, stepUnchanged)
		return nil
	}
	b, _ := json.Marshal(map[string]any{"actions": actions})
	_, err := m.put(stepAliases, "_aliases", http.MethodPost, "/_aliases", b)
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// --- 10: data stream deletes and rollovers ----------------------------------------------

func (m *metaRun) streamDeletesAndRollovers(md *opspb.Metadata) error {
	a := m.a
	for _, ds := range md.GetDataStreams() {
		if !a.policy.DataStreams || !a.streamIncluded(ds.GetName()) {
			m.step(stepRollover, stepSkipped)
			continue
		}
		if !ds.GetExists() {
			if !a.policy.Deletes {
				m.step(stepStreamDelete, stepSkipped)
				continue
			}
			if err := m.del(stepStreamDelete, ds.GetName(), "/_data_stream/"+esc(ds.GetName())); err != nil {
				return err
			}
			continue
		}
		gen, err := m.streamGeneration(ds.GetName())
		if err != nil {
			return err
		}
		if gen == 0 {
			continue // its create was refused
		}
		if gen >= ds.GetGeneration() {
			m.step(stepRollover, stepUnchanged)
			continue
		}
		// One rollover per generation missing; each is idempotent only together with
		// the generation check, which the next apply repeats.
		for ; gen < ds.GetGeneration(); gen++ {
			ok, err := m.put(stepRollover, ds.GetName(), http.MethodPost, "/"+esc(ds.GetName())+"/_rollover", nil)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
		}
	}
	// A backing index deleted on its own (not the write index: the engine refuses that).
	for _, ix := range md.GetIndices() {
		if ix.GetExists() || ix.GetDataStream() == "" {
			continue
		}
		name, ok := a.indexTarget(ix)
		if !ok || !a.policy.DataStreams || !a.policy.Deletes {
			m.step(stepIndexDelete, stepSkipped)
			continue
		}
		if err := m.del(stepIndexDelete, name, "/"+esc(name)); err != nil {
			return err
		}
	}
	return nil
}
