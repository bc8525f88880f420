package deployments

// The build context as Docker would send it (the repository root less what .dockerignore
// leaves out), copied the way the Dockerfile's COPY lines say, and asked with `go list`
// whether every package a go build names loads there: a module missing from the context
// (go.work names them all), go.work itself or a source directory left out fails here
// as it would in `docker build`, without an engine.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// dockerIgnoreFor returns the ignore file BuildKit uses for dockerfilePath in the
// context root: <Dockerfile>.dockerignore beside it if there is one, else the root's
// .dockerignore, else none ("").
func dockerIgnoreFor(root, dockerfilePath string) string {
	for _, p := range []string{dockerfilePath + ".dockerignore", filepath.Join(root, ".dockerignore")} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// dockerContext lists the files (slash paths from root) that the context holds under
// the ignore patterns.
func dockerContext(root string, ignore []string) ([]string, error) {
	pm, err := patternmatcher.New(ignore)
	if err != nil {
		return nil, fmt.Errorf("ignore patterns: %w", err)
	}
	// A directory may be skipped whole only when no ! pattern could take something
	// inside it back.
	var exclusions []string
	for _, p := range pm.Patterns() {
		if p.Exclusion() {
			exclusions = append(exclusions, p.String())
		}
	}
	mayReinclude := func(dir string) bool {
		for _, e := range exclusions {
			if strings.HasPrefix(e, dir+"/") || strings.ContainsAny(strings.SplitN(e, "/", 2)[0], "*?[") {
				return true
			}
		}
		return false
	}
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		ignored, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if ignored && !mayReinclude(rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if !ignored && d.Type().IsRegular() {
			files = append(files, rel)
		}
		return nil
	})
	return files, err
}

// dockerStageFS lays out in dir what stage s of d holds from the context after its (and
// its base stages') COPY lines, and returns the stage's WORKDIR inside dir.
func dockerStageFS(d *dockerfile, s *instructions.Stage, context []string, root, dir string) (string, error) {
	chain := d.chain(s)
	slices.Reverse(chain)
	workdir := "/"
	for _, st := range chain {
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.WorkdirCommand:
				workdir = path.Join(workdir, c.Path)
				if path.IsAbs(c.Path) {
					workdir = path.Clean(c.Path)
				}
			case *instructions.AddCommand:
				return "", fmt.Errorf("stage %s: ADD: use COPY (the test copies only what COPY does)", st.Name)
			case *instructions.CopyCommand:
				if c.From != "" {
					continue
				}
				if len(c.SourceContents) > 0 || len(c.ExcludePatterns) > 0 || c.Parents {
					return "", fmt.Errorf("stage %s: COPY %s: a form this test does not copy yet", st.Name, strings.Join(c.SourcePaths, " "))
				}
				dest := c.DestPath
				if !path.IsAbs(dest) {
					dest = path.Join(workdir, dest)
				}
				for _, src := range c.SourcePaths {
					if strings.ContainsAny(src, "*?[") {
						return "", fmt.Errorf("stage %s: COPY %s: wildcards are not copied by this test", st.Name, src)
					}
					src = path.Clean(strings.TrimPrefix(src, "/"))
					n := 0
					for _, f := range context {
						var to string
						switch {
						case src == ".":
							to = path.Join(dest, f)
						case f == src:
							to = dest
							if strings.HasSuffix(c.DestPath, "/") || len(c.SourcePaths) > 1 {
								to = path.Join(dest, path.Base(f))
							}
						case strings.HasPrefix(f, src+"/"):
							to = path.Join(dest, strings.TrimPrefix(f, src+"/"))
						default:
							continue
						}
						if err := copyFile(filepath.Join(root, filepath.FromSlash(f)), filepath.Join(dir, filepath.FromSlash(to))); err != nil {
							return "", err
						}
						n++
					}
					if n == 0 {
						return "", fmt.Errorf("stage %s: COPY %s: nothing in the build context matches (.dockerignore?)", st.Name, src)
					}
				}
			}
		}
	}
	return filepath.Join(dir, filepath.FromSlash(workdir)), nil
}

func copyFile(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", from, err)
	}
	return out.Close()
}

// goListInContext loads b's packages and all their dependencies in workdir, with b's
// environment (CGO_ENABLED, GOOS, …: build constraints decide which files count), and
// returns what go list could not load. Modules come from the module cache or the
// module proxy, as in the image's build.
func goListInContext(b goBuild, workdir, top string) error {
	const format = `{{if .Error}}ERR {{.ImportPath}}: {{.Error}}{{"\n"}}{{end}}` +
		`{{range .DepsErrors}}ERR {{.}}{{"\n"}}{{end}}` +
		`{{if .Module}}{{if .Module.Main}}DIR {{.Dir}}{{"\n"}}{{end}}{{end}}`
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), append([]string{"list", "-e", "-deps", "-f", format}, b.packages...)...)
	cmd.Dir = workdir
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		// The test's own workspace and flags must not leak into the image's build.
		return k == "GOWORK" || k == "GOFLAGS" || k == "GOOS" || k == "GOARCH" || k == "CGO_ENABLED"
	})
	env = append(env, "GOTOOLCHAIN=local", "GOOS=linux", "GOARCH=amd64")
	for k, v := range b.env {
		if k == "GOOS" || k == "GOARCH" {
			continue // ${TARGETOS} and friends: linux/amd64 stands for them
		}
		env = append(env, k+"="+v)
	}
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go list %s in the build context: %w\n%s%s", strings.Join(b.packages, " "), err, stderr.String(), stdout.String())
	}
	var errs []error
	for line := range strings.Lines(stdout.String()) {
		line = strings.TrimSpace(line)
		if msg, ok := strings.CutPrefix(line, "ERR "); ok {
			errs = append(errs, errors.New(msg))
		}
		if d, ok := strings.CutPrefix(line, "DIR "); ok && !strings.HasPrefix(d, top+string(filepath.Separator)) {
			errs = append(errs, fmt.Errorf("package in %s, outside the build context", d))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("go list %s in the build context: %w", strings.Join(b.packages, " "), err)
	}
	return nil
}

// checkDockerContext builds d's context from root under the ignore file's patterns
// and go-lists every go build's packages in the stage that runs it, in a fresh
// directory under tmp.
func checkDockerContext(d *dockerfile, root string, ignore []string, tmp string) error {
	files, err := dockerContext(root, ignore)
	if err != nil {
		return err
	}
	builds, err := d.goBuilds()
	if err != nil {
		return err
	}
	var errs []error
	for i, b := range builds {
		dir := filepath.Join(tmp, fmt.Sprintf("build-%d", i))
		workdir, err := dockerStageFS(d, &d.stages[b.index], files, root, dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := goListInContext(b, workdir, dir); err != nil {
			errs = append(errs, fmt.Errorf("stage %s: %w", b.stage, err))
		}
	}
	return errors.Join(errs...)
}

// readIgnore reads an ignore file's patterns; "" is no file.
func readIgnore(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ignorefile.ReadAll(f)
}
