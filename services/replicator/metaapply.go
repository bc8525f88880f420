package replicator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"

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

// errMetaTrouble marks apply errors that are the target's trouble, not a refusal;
// errMetaNoAnswer those of them without an HTTP answer (the prober can tell when
// the target is back).
var (
	errMetaTrouble  = errors.New("target cluster trouble")
	errMetaNoAnswer = errors.New("no answer")
)

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
	stepDropped   = "dropped"   // a vendor-specific setting the target does not know: left out
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
		return 0, nil, fmt.Errorf("%w (%w): %s %s on %s: %w", errMetaTrouble, errMetaNoAnswer, method, path, a.cluster, err)
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

// unknownSetting finds the setting an engine refuses as unknown: "unknown setting
// [index.knn] please check that any required plugins are installed…" (OpenSearch and
// Elasticsearch, in illegal_argument_exception or settings_exception).
var unknownSetting = regexp.MustCompile(`unknown setting \[([^\]]+)\]`)

// maxDroppedSettings bounds the resends of one request without a refused setting.
const maxDroppedSettings = 32

// putSettings sends a request carrying index settings (a create, a settings update),
// built by body from settings (flat names). When the target refuses a setting as
// unknown and that setting is vendor-specific (metadata.IsVendorSpecific: it exists on
// the primary's engine, not on the target's), the setting is left out with a warning
// and counted, and the request sent again; any other refusal refuses the step.
func (m *metaRun) putSettings(kind, object, method, path string, settings map[string]any, body func(map[string]any) []byte) (status int, answer []byte, err error) {
	for range maxDroppedSettings {
		status, answer, err = m.do(method, path, body(settings))
		if err != nil || status != http.StatusBadRequest {
			return status, answer, err
		}
		_, reason := errorOf(answer, status)
		mm := unknownSetting.FindStringSubmatch(reason)
		if mm == nil || !metadata.IsVendorSpecific(metadata.Canonical(mm[1])) {
			return status, answer, nil
		}
		key := ""
		for k := range settings {
			if metadata.Canonical(k) == metadata.Canonical(mm[1]) {
				key = k
			}
		}
		if key == "" {
			return status, answer, nil
		}
		m.a.log.Warn("the target does not know a setting of another vendor's engine; it is left out", "step", kind,
			"index", object, "setting", key, "value", settingString(settings[key]), "cluster", m.a.cluster)
		m.step(stepSettings, stepDropped)
		settings = maps.Clone(settings)
		delete(settings, key)
		if len(settings) == 0 && kind == stepSettings {
			return http.StatusOK, nil, nil // nothing left to update (a create still creates)
		}
	}
	return status, answer, nil
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
