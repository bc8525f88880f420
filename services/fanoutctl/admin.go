package fanoutctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/services/replicator"
)

// adminTimeout bounds one call to a replicator's admin endpoint.
const adminTimeout = 5 * time.Second

var adminHTTP = &http.Client{Timeout: adminTimeout}

// adminStatus reads GET /admin/status of one replicator instance; token, when not
// "", is its admin bearer token.
func adminStatus(ctx context.Context, base, token string) (replicator.Status, error) {
	var st replicator.Status
	err := adminCall(ctx, http.MethodGet, base+"/admin/status", token, &st)
	return st, err
}

// adminCall sends a request to a replicator's admin endpoint and decodes its JSON
// answer into v (nil: ignore it). A POST goes as JSON (an empty object), which the
// admin listener requires of state-changing requests.
func adminCall(ctx context.Context, method, u, token string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	var reqBody io.Reader
	if method == http.MethodPost {
		reqBody = strings.NewReader("{}")
	}
	req, err := http.NewRequestWithContext(ctx, method, u, reqBody)
	if err != nil {
		return err
	}
	if reqBody != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := adminHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, u, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		hint := "no admin token given (--admin-token-file or admin.token_file)"
		if token != "" {
			hint = "the admin token was refused"
		}
		return fmt.Errorf("%s %s: HTTP 401: %s", method, u, hint)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d: %.200s", method, u, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("%s %s: not a replicator admin answer: %w", method, u, err)
		}
	}
	return nil
}

// stateOf sums up one instance's status in one word, with the most recent error any
// of its partitions reported and when: draining, paused, blocked (retrying: the target
// or the DLQ is in trouble) or running.
func stateOf(st replicator.Status) (state, lastErr string, lastErrAt time.Time) {
	blocked := ""
	for _, p := range st.Partitions {
		if p.State == "blocked" && blocked == "" {
			blocked = p.LastError
			if blocked == "" {
				blocked = fmt.Sprintf("partition %d blocked", p.Partition)
			}
		}
		if p.LastError != "" && p.LastErrorAt != nil && p.LastErrorAt.After(lastErrAt) {
			lastErr, lastErrAt = p.LastError, *p.LastErrorAt
		}
	}
	switch {
	case st.Draining:
		return "draining", lastErr, lastErrAt
	case st.Paused:
		return "paused", lastErr, lastErrAt
	case blocked != "":
		return "blocked", blocked, lastErrAt
	case !st.TargetUp:
		return "blocked", st.TargetErr, lastErrAt
	}
	return "running", lastErr, lastErrAt
}

// pauseResult is one instance's answer to pause or resume.
type pauseResult struct {
	Admin   string `json:"admin"`
	Cluster string `json:"cluster"`
	Group   string `json:"group"`
	Was     string `json:"was"`
	Now     string `json:"now"`
	Error   string `json:"error,omitempty"`
}

// runPauseResume is fanoutctl pause|resume: it calls the admin endpoint of each
// replicator instance of the target, after checking the instance serves that target.
func runPauseResume(ctx context.Context, args []string, e *env, pause bool) error {
	name := "resume"
	if pause {
		name = "pause"
	}
	var f common
	fs := newFlagSet(name, e)
	f.register(fs, flagConfig|flagCluster|flagAdmin|flagOutput)
	if err := parse(fs, args, &f); err != nil {
		return err
	}
	s, err := f.load(e)
	if err != nil {
		return err
	}
	if err := f.needCluster(s); err != nil {
		return err
	}
	admins, err := f.adminURLs(s)
	if err != nil {
		return err
	}
	if len(admins) == 0 {
		return usagef("%s: --admin is required (the replicator's admin.listen address; or --config with admin.listen)", name)
	}
	token, err := f.adminToken(s)
	if err != nil {
		return err
	}
	cluster := s.cfg.Target.Name
	var results []pauseResult
	var failed []string
	for _, a := range admins {
		r := pauseResult{Admin: a, Cluster: cluster}
		st, err := adminStatus(ctx, a, token)
		switch {
		case err != nil:
			r.Error = err.Error()
		case st.Cluster != cluster:
			// Never pause the wrong target because of a mistyped address.
			r.Error = fmt.Sprintf("%s serves cluster %q, not %q: not touched", a, st.Cluster, cluster)
		default:
			r.Group = st.Group
			r.Was, _, _ = stateOf(st)
			path := "/admin/resume"
			if pause {
				path = "/admin/pause"
			}
			if err := adminCall(ctx, http.MethodPost, a+path, token, nil); err != nil {
				r.Error = err.Error()
				break
			}
			if st, err = adminStatus(ctx, a, token); err != nil {
				r.Error = err.Error()
				break
			}
			r.Now, _, _ = stateOf(st)
		}
		if r.Error != "" {
			failed = append(failed, r.Error)
		}
		results = append(results, r)
	}
	if f.json() {
		if err := writeJSON(e.stdout, results); err != nil {
			return err
		}
	} else {
		t := newTable(e.stdout, "CLUSTER", "ADMIN", "GROUP", "WAS", "NOW", "ERROR")
		for _, r := range results {
			t.row(r.Cluster, r.Admin, r.Group, r.Was, r.Now, r.Error)
		}
		t.flush()
	}
	switch {
	case len(failed) == len(admins):
		return fmt.Errorf("%s %s: %s", name, cluster, strings.Join(failed, "; "))
	case len(failed) > 0:
		return partialf("%s %s: %d of %d instances not reached: %s", name, cluster, len(failed), len(admins), strings.Join(failed, "; "))
	}
	return nil
}
