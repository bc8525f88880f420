package deployments

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// repoRoot is the repository root: the tests run in deployments/.
const repoRoot = ".."

// dockerfiles lists the Dockerfiles under deployments/ (Dockerfile, Dockerfile.*,
// *.Dockerfile), testdata aside.
func dockerfiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		n := d.Name()
		if !d.IsDir() && !strings.HasSuffix(n, ".dockerignore") &&
			(n == "Dockerfile" || strings.HasPrefix(n, "Dockerfile.") || strings.HasSuffix(n, ".Dockerfile")) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no Dockerfile under deployments/")
	}
	return out
}

func testRepo(t *testing.T) dockerRepo {
	t.Helper()
	bins, err := findBinaries(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if len(bins) < 3 {
		t.Fatalf("found only %v under services/*/cmd", bins)
	}
	return dockerRepo{root: repoRoot, binaries: bins}
}

// missingTargets returns the binaries no image target is named after.
func missingTargets(binaries map[string]string, targets []string) []string {
	var missing []string
	for bin := range binaries {
		if !slices.ContainsFunc(targets, func(t string) bool { return strings.EqualFold(t, bin) }) {
			missing = append(missing, bin)
		}
	}
	slices.Sort(missing)
	return missing
}

// TestDockerfiles holds every Dockerfile under deployments/ to the image rules, builds
// its context as Docker would and loads every package it builds there, and checks
// that every binary has an image.
func TestDockerfiles(t *testing.T) {
	repo := testRepo(t)
	var targets []string
	for _, p := range dockerfiles(t) {
		t.Run(filepath.ToSlash(p), func(t *testing.T) {
			src, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			d, err := parseDockerfile(p, src)
			if err != nil {
				t.Fatal(err)
			}
			targets = append(targets, d.targetsOf()...)
			if err := repo.check(d); err != nil {
				t.Error(err)
			}
			ignore, err := readIgnore(dockerIgnoreFor(repoRoot, p))
			if err != nil {
				t.Fatal(err)
			}
			if err := checkDockerContext(d, repoRoot, ignore, t.TempDir()); err != nil {
				t.Error(err)
			}
		})
	}
	if m := missingTargets(repo.binaries, targets); len(m) > 0 {
		t.Errorf("no image target for %s (targets: %s)", strings.Join(m, ", "), strings.Join(targets, ", "))
	}
}

// dockerGood is a Dockerfile that passes every rule, for one binary; each case of
// TestDockerfileRules breaks one rule in it.
const dockerGood = `# syntax=docker/dockerfile:1
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
FROM golang:1.26 AS build
ARG VERSION REVISION
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-X github.com/fanout-dev/fanout/pkg/buildinfo.version=${VERSION} -X github.com/fanout-dev/fanout/pkg/buildinfo.revision=${REVISION}" \
      -o /out/fanout-proxy ./services/proxy/cmd/fanout-proxy

FROM gcr.io/distroless/static-debian12:nonroot AS fanout-proxy
ARG VERSION REVISION
LABEL org.opencontainers.image.title="fanout-proxy" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/fanout-dev/fanout" \
      org.opencontainers.image.licenses="NOASSERTION"
COPY --from=build /out/fanout-proxy /fanout-proxy
USER 65532:65532
ENTRYPOINT ["/fanout-proxy"]
`

func TestDockerfileRules(t *testing.T) {
	repo := testRepo(t)
	tests := []struct {
		name     string
		old, new string    // replaced once in dockerGood ("" old: no change)
		also     [2]string // a second replacement, if any
		want     string    // in the error; "" for none
	}{
		{name: "the good one passes"},
		{name: "one stage", old: dockerGood, new: "FROM gcr.io/distroless/static-debian12:nonroot AS fanout-proxy\nUSER 65532\n", want: "one stage"},
		{name: "final stage on a distribution image", old: "FROM gcr.io/distroless/static-debian12:nonroot", new: "FROM debian:12", want: "want scratch or gcr.io/distroless/static"},
		{name: "final stage on distroless with libc", old: "gcr.io/distroless/static-debian12:nonroot", new: "gcr.io/distroless/base-debian12:nonroot", want: "want scratch or gcr.io/distroless/static"},
		{name: "scratch is fine", old: "gcr.io/distroless/static-debian12:nonroot", new: "scratch"},
		{name: "no USER", old: "USER 65532:65532\n", new: "", want: "no USER"},
		{name: "USER by name", old: "USER 65532:65532", new: "USER nonroot", want: "not numeric"},
		{name: "USER root", old: "USER 65532:65532", new: "USER 0:0", want: "is root"},
		{name: "USER in the build stage only", old: "COPY . .\n", new: "COPY . .\nUSER 65532\n", also: [2]string{"USER 65532:65532\nENTRYPOINT", "ENTRYPOINT"}, want: "no USER"},
		{name: "HEALTHCHECK", old: "USER 65532:65532\n", new: "USER 65532:65532\nHEALTHCHECK CMD [\"/fanout-proxy\", \"--version\"]\n", want: "HEALTHCHECK"},
		{name: "HEALTHCHECK NONE is one too", old: "USER 65532:65532\n", new: "USER 65532:65532\nHEALTHCHECK NONE\n", want: "HEALTHCHECK"},
		{name: "no licenses label", old: ` \
      org.opencontainers.image.licenses="NOASSERTION"`, new: "", want: "no LABEL org.opencontainers.image.licenses"},
		{name: "empty source label", old: `"https://github.com/fanout-dev/fanout"`, new: `""`, want: "no LABEL org.opencontainers.image.source"},
		{name: "title is not the target", old: `title="fanout-proxy"`, new: `title="proxy"`, want: "want the target's name"},
		{name: "label from an undeclared ARG", old: "FROM gcr.io/distroless/static-debian12:nonroot AS fanout-proxy\nARG VERSION REVISION\n", new: "FROM gcr.io/distroless/static-debian12:nonroot AS fanout-proxy\n", want: "not declared in its stage"},
		{name: "label and binary disagree", old: `version="${VERSION}"`, new: `version="1.0.0"`, want: "but its binary is built with -X"},
		{name: "cgo on", old: "CGO_ENABLED=0 go build", new: "go build", want: "without CGO_ENABLED=0"},
		{name: "CGO_ENABLED=0 from ENV counts", old: "COPY . .\nRUN CGO_ENABLED=0 go build", new: "ENV CGO_ENABLED=0\nCOPY . .\nRUN go build"},
		{name: "CGO_ENABLED=1", old: "CGO_ENABLED=0", new: "CGO_ENABLED=1", want: "without CGO_ENABLED=0"},
		{name: "no -trimpath", old: "go build -trimpath", new: "go build", want: "without -trimpath"},
		{name: "no version stamp", old: "-X github.com/fanout-dev/fanout/pkg/buildinfo.version=${VERSION} ", new: "", want: "does not set -X github.com/fanout-dev/fanout/pkg/buildinfo.version"},
		{name: "a stamp from an undeclared ARG", old: "ARG VERSION REVISION\nWORKDIR", new: "ARG VERSION\nWORKDIR", want: "sets -X github.com/fanout-dev/fanout/pkg/buildinfo.revision to nothing"},
		{name: "stamp symbol misspelt", old: "buildinfo.revision=", new: "buildinfo.Revision=", want: "does not set -X github.com/fanout-dev/fanout/pkg/buildinfo.revision"},
		{name: "package path that is not in the repository", old: "./services/proxy/cmd/fanout-proxy", new: "./services/proxy/cmd/proxy", want: "no main package there"},
		{name: "package path that is not a main package", old: "./services/proxy/cmd/fanout-proxy", new: "./pkg/buildinfo", want: "no main package there"},
		{name: "package by import path", old: "./services/proxy/cmd/fanout-proxy", new: "github.com/fanout-dev/fanout/services/proxy/cmd/fanout-proxy", want: "by their path in the repository"},
		{name: "image of the wrong binary", old: "-o /out/fanout-proxy ./services/proxy/cmd/fanout-proxy", new: "-o /out/fanout-proxy ./services/replicator/cmd/fanout-replicator", want: "copies no binary built from ./services/proxy/cmd/fanout-proxy"},
		{name: "image copies no binary", old: "COPY --from=build /out/fanout-proxy /fanout-proxy\n", new: "", want: "copies no binary"},
		{name: "RUN in the runtime image", old: "USER 65532:65532\n", new: "RUN [\"/fanout-proxy\", \"--version\"]\nUSER 65532:65532\n", want: "RUN in an image without a shell"},
		{name: "shell-form ENTRYPOINT", old: `ENTRYPOINT ["/fanout-proxy"]`, new: `ENTRYPOINT /fanout-proxy`, want: "ENTRYPOINT in shell form"},
		{name: "no go build", old: "RUN CGO_ENABLED=0 go build", new: "RUN CGO_ENABLED=0 go vet", want: "no go build"},
		{name: "BuildKit's linter: stage name cased unlike FROM", old: "FROM golang:1.26 AS build", new: "FROM golang:1.26 as build", want: "FromAsCasing"},
		{name: "BuildKit refuses it", old: "USER 65532:65532", new: "USER", want: "USER requires exactly one argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := dockerGood
			if tt.old != "" {
				if !strings.Contains(src, tt.old) {
					t.Fatalf("the case's text %q is not in the good Dockerfile", tt.old)
				}
				src = strings.Replace(src, tt.old, tt.new, 1)
			}
			if tt.also[0] != "" {
				if !strings.Contains(src, tt.also[0]) {
					t.Fatalf("the case's text %q is not in the good Dockerfile", tt.also[0])
				}
				src = strings.Replace(src, tt.also[0], tt.also[1], 1)
			}
			d, err := parseDockerfile("Dockerfile", []byte(src))
			if err == nil {
				err = repo.check(d)
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("want no error, got:\n%v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("want an error with %q, got none", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("want an error with %q, got:\n%v", tt.want, err)
			}
		})
	}
}

func TestMissingTargets(t *testing.T) {
	bins := map[string]string{"fanout-proxy": "./services/proxy/cmd/fanout-proxy", "fanoutctl": "./services/fanoutctl/cmd/fanoutctl"}
	tests := []struct {
		name    string
		targets []string
		want    []string
	}{
		{name: "all", targets: []string{"fanoutctl", "fanout-proxy", "extra"}},
		{name: "one missing", targets: []string{"fanout-proxy"}, want: []string{"fanoutctl"}},
		{name: "none", want: []string{"fanout-proxy", "fanoutctl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := missingTargets(bins, tt.targets); !slices.Equal(got, tt.want) {
				t.Errorf("missingTargets = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDockerContextRules: a context that lacks what the go.work workspace needs fails
// the check, as `docker build` would fail.
func TestDockerContextRules(t *testing.T) {
	good, err := readIgnore(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		dockerfile string // "" for dockerGood
		ignore     []string
		want       string
	}{
		{name: "a workspace module's go.mod left out", ignore: append(slices.Clone(good), "integration/go.mod"), want: "integration"},
		{name: "go.work left out", ignore: append(slices.Clone(good), "go.work"), want: "go.mod file not found"},
		{name: "a source directory left out", ignore: append(slices.Clone(good), "pkg/buildinfo"), want: "buildinfo"},
		{name: "COPY of what the context does not hold", ignore: good,
			dockerfile: strings.Replace(dockerGood, "COPY . .", "COPY . .\nCOPY proto/ /src/proto/", 1), want: "nothing in the build context matches"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.dockerfile
			if src == "" {
				src = dockerGood
			}
			d, err := parseDockerfile("Dockerfile", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			err = checkDockerContext(d, repoRoot, tt.ignore, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an error with %q, got %v", tt.want, err)
			}
		})
	}
}
