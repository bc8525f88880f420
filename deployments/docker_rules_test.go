package deployments

// The rules every Dockerfile under deployments/ is held to, read with BuildKit's own
// Dockerfile parser (what `docker build` runs), so that a file BuildKit would read
// differently from us, or refuse, fails here first.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/fanout-dev/fanout/pkg/buildinfo"
)

// dockerRequiredLabels are the OCI annotations every image carries
// (https://github.com/opencontainers/image-spec/blob/main/annotations.md).
var dockerRequiredLabels = []string{
	"org.opencontainers.image.title",
	"org.opencontainers.image.version",
	"org.opencontainers.image.revision",
	"org.opencontainers.image.source",
	"org.opencontainers.image.licenses",
}

// dockerRuntimeBase is what a final stage may start from: no shell, no package
// manager, nothing for a static binary to need but CA certificates and a passwd file.
var dockerRuntimeBase = regexp.MustCompile(`^(scratch|gcr\.io/distroless/static(-debian\d+)?(:[\w.-]+)?(@sha256:[0-9a-f]{64})?)$`)

// dockerNumericUser is uid or uid:gid in numbers: Kubernetes' runAsNonRoot can verify
// only a numeric user, and distroless/scratch have no passwd entry for most names.
var dockerNumericUser = regexp.MustCompile(`^(\d+)(:\d+)?$`)

// dockerfile is one parsed Dockerfile.
type dockerfile struct {
	name   string
	stages []instructions.Stage
	meta   []instructions.ArgCommand
}

// parseDockerfile parses src as BuildKit does, with BuildKit's linter: its warnings
// (a stage name cased unlike FROM, an undefined ARG in FROM, …) are errors here.
func parseDockerfile(name string, src []byte) (*dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("%s: parsing: %w", name, err)
	}
	var lint []error
	for _, w := range res.Warnings {
		lint = append(lint, fmt.Errorf("%s:%d: %s", name, w.Location.Start.Line, w.Short))
	}
	l := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		lint = append(lint, fmt.Errorf("%s:%d: lint %s: %s", name, line, rule, msg))
	}})
	stages, meta, err := instructions.Parse(res.AST, l)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := errors.Join(lint...); err != nil {
		return nil, err
	}
	return &dockerfile{name: name, stages: stages, meta: meta}, nil
}

// stage returns the stage called name, or nil.
func (d *dockerfile) stage(name string) *instructions.Stage {
	for i := range d.stages {
		if d.stages[i].Name != "" && strings.EqualFold(d.stages[i].Name, name) {
			return &d.stages[i]
		}
	}
	return nil
}

// chain is the stage and the stages it is built FROM, the stage itself first.
func (d *dockerfile) chain(s *instructions.Stage) []*instructions.Stage {
	var out []*instructions.Stage
	for s != nil && !slices.Contains(out, s) {
		out = append(out, s)
		s = d.stage(s.BaseName)
	}
	return out
}

// finals are the stages no other stage builds on or copies from: the images.
func (d *dockerfile) finals() []*instructions.Stage {
	used := map[string]bool{}
	for _, s := range d.stages {
		used[strings.ToLower(s.BaseName)] = true
		for _, c := range s.Commands {
			if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" {
				used[strings.ToLower(cp.From)] = true
			}
		}
	}
	var out []*instructions.Stage
	for i := range d.stages {
		if d.stages[i].Name == "" || !used[strings.ToLower(d.stages[i].Name)] {
			out = append(out, &d.stages[i])
		}
	}
	return out
}

// dockerVars is a shell environment in which every declared variable expands to itself,
// "${NAME}", and any other expands to nothing and is reported as unmatched: words keep
// their build arguments visible, with the quoting removed as the shell would.
type dockerVars map[string]bool

func (v dockerVars) Get(k string) (string, bool) {
	if v[k] {
		return "${" + k + "}", true
	}
	return "", false
}

func (v dockerVars) Keys() []string {
	var ks []string
	for k := range v {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// word unquotes s, keeping declared variables as ${NAME}; it fails on a variable that is
// not declared, which BuildKit would silently expand to "".
func (v dockerVars) word(s string) (string, error) {
	res, err := shell.NewLex('\\').ProcessWordWithMatches(s, v)
	if err != nil {
		return "", err
	}
	if len(res.Unmatched) > 0 {
		return "", fmt.Errorf("%s uses %s, not declared in its stage (ARG or ENV)", s, strings.Join(dockerVars(toSet(res.Unmatched)).Keys(), ", "))
	}
	return res.Result, nil
}

func toSet(m map[string]struct{}) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// goBuild is one `go build` in a RUN.
type goBuild struct {
	stage    string            // its name, for messages
	index    int               // its index in the Dockerfile's stages
	env      map[string]string // assignments before `go`, ENV of the stage chain
	flags    map[string]string // -trimpath → "true", -ldflags → its value
	ldflagsX map[string]string // -X symbol → value
	packages []string
	line     string
}

// goBuildValueFlags are go build's flags that take a value (the others are booleans).
var goBuildValueFlags = map[string]bool{
	"-o": true, "-p": true, "-ldflags": true, "-gcflags": true, "-asmflags": true, "-gccgoflags": true,
	"-tags": true, "-mod": true, "-modfile": true, "-overlay": true, "-pgo": true, "-pkgdir": true,
	"-toolexec": true, "-installsuffix": true, "-buildmode": true, "-compiler": true, "-covermode": true,
	"-coverpkg": true, "-C": true,
}

// goBuilds finds every `go build` of every stage.
func (d *dockerfile) goBuilds() ([]goBuild, error) {
	var out []goBuild
	var errs []error
	for i := range d.stages {
		s := &d.stages[i]
		vars := dockerVars{}
		env := map[string]string{}
		// ENV is inherited from the stages built on; ARG is not (a stage declares the
		// build arguments it uses).
		chain := d.chain(s)
		for j := len(chain) - 1; j >= 1; j-- {
			for _, c := range chain[j].Commands {
				if e, ok := c.(*instructions.EnvCommand); ok {
					for _, kv := range e.Env {
						env[kv.Key] = kv.Value
						vars[kv.Key] = true
					}
				}
			}
		}
		for _, c := range s.Commands {
			switch c := c.(type) {
			case *instructions.ArgCommand:
				for _, a := range c.Args {
					vars[a.Key] = true
				}
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					env[kv.Key] = kv.Value
					vars[kv.Key] = true
				}
			case *instructions.RunCommand:
				bs, err := parseGoBuilds(s.Name, strings.Join(c.CmdLine, " "), vars, env)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: stage %s: %w", d.name, s.Name, err))
				}
				for k := range bs {
					bs[k].index = i
				}
				out = append(out, bs...)
			}
		}
	}
	return out, errors.Join(errs...)
}

// parseGoBuilds splits a RUN's shell line into commands and reads the `go build`s.
func parseGoBuilds(stage, line string, vars dockerVars, stageEnv map[string]string) ([]goBuild, error) {
	if !strings.Contains(line, "go build") {
		return nil, nil
	}
	words, err := shell.NewLex('\\').ProcessWords(line, vars)
	if err != nil {
		return nil, fmt.Errorf("reading %q: %w", line, err)
	}
	var out []goBuild
	var errs []error
	for cmd := range splitShell(words) {
		env := map[string]string{}
		for k, v := range stageEnv {
			env[k] = v
		}
		for len(cmd) > 0 && strings.Contains(cmd[0], "=") && !strings.HasPrefix(cmd[0], "-") {
			k, v, _ := strings.Cut(cmd[0], "=")
			env[k] = v
			cmd = cmd[1:]
		}
		if len(cmd) < 2 || cmd[0] != "go" || cmd[1] != "build" {
			continue
		}
		b := goBuild{stage: stage, env: env, flags: map[string]string{}, ldflagsX: map[string]string{}, line: strings.Join(cmd, " ")}
		args := cmd[2:]
		for len(args) > 0 {
			a := args[0]
			args = args[1:]
			if !strings.HasPrefix(a, "-") {
				b.packages = append(b.packages, a)
				continue
			}
			name, value, hasValue := strings.Cut(strings.Replace(a, "--", "-", 1), "=")
			switch {
			case hasValue:
			case goBuildValueFlags[name] && len(args) > 0:
				value, args = args[0], args[1:]
			case goBuildValueFlags[name]:
				errs = append(errs, fmt.Errorf("go build %s has no value", name))
			default:
				value = "true"
			}
			b.flags[name] = value
		}
		if ld := b.flags["-ldflags"]; ld != "" {
			f := strings.Fields(ld)
			for i := 0; i < len(f); i++ {
				if f[i] == "-X" && i+1 < len(f) {
					sym, val, _ := strings.Cut(f[i+1], "=")
					b.ldflagsX[sym] = val
					i++
				}
			}
		}
		out = append(out, b)
	}
	return out, errors.Join(errs...)
}

// splitShell cuts shell words into commands at &&, ||, ; and |.
func splitShell(words []string) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		var cur []string
		for _, w := range words {
			switch w {
			case "&&", "||", ";", "|":
				if !yield(cur) {
					return
				}
				cur = nil
				continue
			}
			if t, ok := strings.CutSuffix(w, ";"); ok {
				cur = append(cur, t)
				if !yield(cur) {
					return
				}
				cur = nil
				continue
			}
			cur = append(cur, w)
		}
		yield(cur)
	}
}

// dockerRepo is what the rules check a Dockerfile against.
type dockerRepo struct {
	root string
	// binaries maps each binary (the directory name under services/*/cmd) to its package
	// path from the root, e.g. fanout-proxy → ./services/proxy/cmd/fanout-proxy.
	binaries map[string]string
}

// findBinaries lists the main packages under services/*/cmd of the repository at root.
func findBinaries(root string) (map[string]string, error) {
	dirs, err := filepath.Glob(filepath.Join(root, "services", "*", "cmd", "*"))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, d := range dirs {
		if ok, err := isMainPackage(d); err != nil {
			return nil, err
		} else if ok {
			rel, err := filepath.Rel(root, d)
			if err != nil {
				return nil, err
			}
			out[filepath.Base(d)] = "./" + filepath.ToSlash(rel)
		}
	}
	return out, nil
}

// isMainPackage reports whether dir holds a non-test Go file of package main.
func isMainPackage(dir string) (bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return false, err
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return false, err
		}
		if regexp.MustCompile(`(?m)^package main\b`).Match(b) {
			return true, nil
		}
	}
	return false, nil
}

// check applies every rule to d and returns what breaks them.
func (r dockerRepo) check(d *dockerfile) error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{d.name}, args...)...))
	}
	if len(d.stages) < 2 {
		fail("one stage: build in one stage and copy the binary into a runtime stage")
	}
	meta := dockerVars{}
	metaDefaults := map[string]string{}
	for _, a := range d.meta {
		for _, kv := range a.Args {
			meta[kv.Key] = true
			metaDefaults[kv.Key] = kv.ValueString()
		}
	}
	for _, s := range d.stages {
		for _, c := range s.Commands {
			if _, ok := c.(*instructions.HealthCheckCommand); ok {
				fail("stage %s has a HEALTHCHECK: orchestrators probe /healthz and /readyz, and a HEALTHCHECK needs a shell or a client in the image", s.Name)
			}
		}
	}

	builds, err := d.goBuilds()
	if err != nil {
		errs = append(errs, err)
	}
	if len(builds) == 0 {
		fail("no go build")
	}
	built := map[string][]goBuild{} // stage name → its go builds
	for _, b := range builds {
		built[strings.ToLower(b.stage)] = append(built[strings.ToLower(b.stage)], b)
		if b.env["CGO_ENABLED"] != "0" {
			fail("stage %s: go build without CGO_ENABLED=0 (%s): the runtime image has no libc", b.stage, b.line)
		}
		if b.flags["-trimpath"] != "true" {
			fail("stage %s: go build without -trimpath (%s)", b.stage, b.line)
		}
		for _, sym := range []string{buildinfo.VersionSymbol, buildinfo.RevisionSymbol} {
			switch v, ok := b.ldflagsX[sym]; {
			case !ok:
				fail("stage %s: go build does not set -X %s (%s)", b.stage, sym, b.line)
			case v == "":
				fail("stage %s: go build sets -X %s to nothing (a build argument not declared in the stage?)", b.stage, sym)
			}
		}
		for k, v := range b.env {
			if v == "" {
				fail("stage %s: go build runs with %s empty (a build argument not declared in the stage?)", b.stage, k)
			}
		}
		if len(b.packages) == 0 {
			fail("stage %s: go build of no package (%s)", b.stage, b.line)
		}
		for _, p := range b.packages {
			if !strings.HasPrefix(p, "./") {
				fail("stage %s: go build %s: build packages by their path in the repository, ./…", b.stage, p)
				continue
			}
			if ok, err := isMainPackage(filepath.Join(r.root, filepath.FromSlash(p))); err != nil || !ok {
				fail("stage %s: go build %s: no main package there in the repository", b.stage, p)
			}
		}
	}

	targets := map[string]bool{}
	for _, s := range d.finals() {
		name := s.Name
		if name == "" {
			name = "(unnamed last stage)"
		}
		targets[strings.ToLower(name)] = true
		base := s.BaseName
		if strings.Contains(base, "$") {
			if base, err = (dockerVars{}).expand(base, metaDefaults); err != nil {
				fail("stage %s: FROM %s: %v", name, s.BaseName, err)
			}
		}
		if !dockerRuntimeBase.MatchString(base) {
			fail("stage %s is an image FROM %s: want scratch or gcr.io/distroless/static", name, base)
		}
		vars := dockerVars{}
		var user string
		var copied []string // stages the image copies from
		labels := map[string]string{}
		for _, c := range s.Commands {
			switch c := c.(type) {
			case *instructions.ArgCommand:
				for _, a := range c.Args {
					if !meta[a.Key] && a.Value == nil {
						// A stage ARG without a default and no global one: empty.
						fail("stage %s: ARG %s has no value", name, a.Key)
					}
					vars[a.Key] = true
				}
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					vars[kv.Key] = true
				}
			case *instructions.UserCommand:
				user = c.User
			case *instructions.LabelCommand:
				for _, kv := range c.Labels {
					v, err := vars.word(kv.Value)
					if err != nil {
						fail("stage %s: LABEL %s: %v", name, kv.Key, err)
					}
					labels[kv.Key] = v
				}
			case *instructions.CopyCommand:
				if c.From != "" {
					copied = append(copied, strings.ToLower(c.From))
				}
			case *instructions.RunCommand:
				fail("stage %s: RUN in an image without a shell", name)
			case *instructions.EntrypointCommand:
				if c.PrependShell {
					fail("stage %s: ENTRYPOINT in shell form: the image has no /bin/sh; use [\"/path\", …]", name)
				}
			case *instructions.CmdCommand:
				if c.PrependShell {
					fail("stage %s: CMD in shell form: the image has no /bin/sh; use [\"arg\", …]", name)
				}
			}
		}
		switch m := dockerNumericUser.FindStringSubmatch(user); {
		case user == "":
			fail("stage %s: no USER: the image would run as root", name)
		case m == nil:
			fail("stage %s: USER %s is not numeric (uid or uid:gid)", name, user)
		default:
			if uid, _ := strconv.Atoi(m[1]); uid == 0 {
				fail("stage %s: USER %s is root", name, user)
			}
		}
		for _, k := range dockerRequiredLabels {
			if labels[k] == "" {
				fail("stage %s: no LABEL %s", name, k)
			}
		}
		if t := labels["org.opencontainers.image.title"]; t != "" && !strings.EqualFold(t, s.Name) {
			fail("stage %s: LABEL org.opencontainers.image.title %q: want the target's name", name, t)
		}
		// What the image's labels say is what its binary says with --version.
		var fed []goBuild
		for _, from := range copied {
			fed = append(fed, built[from]...)
		}
		if len(fed) == 0 {
			fail("stage %s copies no binary from a stage that runs go build", name)
		}
		for _, b := range fed {
			for label, sym := range map[string]string{
				"org.opencontainers.image.version":  buildinfo.VersionSymbol,
				"org.opencontainers.image.revision": buildinfo.RevisionSymbol,
			} {
				if v, ok := b.ldflagsX[sym]; ok && labels[label] != "" && v != labels[label] {
					fail("stage %s: LABEL %s=%s but its binary is built with -X %s=%s", name, label, labels[label], sym, v)
				}
			}
		}
		if pkg, ok := r.binaries[s.Name]; ok {
			if !slices.ContainsFunc(fed, func(b goBuild) bool { return slices.Contains(b.packages, pkg) }) {
				fail("stage %s copies no binary built from %s", name, pkg)
			}
		}
	}
	return errors.Join(errs...)
}

// expand substitutes the global ARGs' defaults, for FROM lines.
func (dockerVars) expand(s string, defaults map[string]string) (string, error) {
	var kv []string
	for k, v := range defaults {
		kv = append(kv, k+"="+v)
	}
	res, err := shell.NewLex('\\').ProcessWordWithMatches(s, shell.EnvsFromSlice(kv))
	if err != nil {
		return "", err
	}
	if len(res.Unmatched) > 0 {
		return "", fmt.Errorf("undeclared %s", strings.Join(dockerVars(toSet(res.Unmatched)).Keys(), ", "))
	}
	return res.Result, nil
}

// targetsOf returns the image targets (final stages) of d.
func (d *dockerfile) targetsOf() []string {
	var out []string
	for _, s := range d.finals() {
		out = append(out, s.Name)
	}
	return out
}
