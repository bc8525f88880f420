// Package buildinfo says which build of fanout is running: the version and commit a
// release build stamps in with the linker, or else what the Go toolchain recorded in the
// binary, and the Go version. `--version` prints it and fanout_build_info exports it.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// The linker sets these (they are the only way -ldflags -X can reach a program, hence
// package variables): a release or image build passes
//
//	-X github.com/fanout-dev/fanout/pkg/buildinfo.version=0.4.0
//	-X github.com/fanout-dev/fanout/pkg/buildinfo.revision=<full commit hash>
//
// They are never written at run time. Empty means "not stamped": Get falls back to the
// toolchain's build information.
var (
	version  string
	revision string
)

// The -X symbol names of the two stamps, for builders and for the test that checks the
// Dockerfiles pass them.
const (
	VersionSymbol  = "github.com/fanout-dev/fanout/pkg/buildinfo.version"
	RevisionSymbol = "github.com/fanout-dev/fanout/pkg/buildinfo.revision"
)

// Unknown stands for a version or revision nobody recorded (go run, a build with
// -buildvcs=false outside a module version).
const Unknown = "unknown"

// Info is one build's identity.
type Info struct {
	Version   string // e.g. 0.4.0 or v0.0.0-20261202183350-ad040e2c1234+dirty; Unknown if not known
	Revision  string // the commit hash as recorded (full from the toolchain); Unknown if not known
	Modified  bool   // the toolchain saw uncommitted changes (vcs.modified)
	GoVersion string // runtime.Version(), e.g. go1.26.8
}

// Get returns the running binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, revision, bi, runtime.Version())
}

// resolve prefers the linker stamps and falls back to what the toolchain recorded: the
// main module's version (a tag or pseudo-version when built from a clean checkout,
// "(devel)" otherwise) and the vcs.revision and vcs.modified settings.
func resolve(ldVersion, ldRevision string, bi *debug.BuildInfo, goVersion string) Info {
	in := Info{Version: ldVersion, Revision: ldRevision, GoVersion: goVersion}
	if bi != nil {
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version
		}
		if ldRevision == "" {
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					in.Revision = s.Value
				case "vcs.modified":
					in.Modified = s.Value == "true"
				}
			}
		}
	}
	if in.Version == "" {
		in.Version = Unknown
	}
	if in.Revision == "" {
		in.Revision = Unknown
	}
	return in
}

// ShortRevision is the revision's commit hash cut to 12 hex digits (what git shows),
// with "-dirty" when the tree had uncommitted changes. A stamped revision may carry a
// suffix of its own ("<hash>-dirty" from make), which is kept.
func (in Info) ShortRevision() string {
	hash, suffix, _ := strings.Cut(in.Revision, "-")
	r := in.Revision
	if len(hash) > 12 && isHex(hash) {
		r = hash[:12]
		if suffix != "" {
			r += "-" + suffix
		}
	}
	if in.Modified {
		r += "-dirty"
	}
	return r
}

func isHex(s string) bool {
	return strings.Trim(s, "0123456789abcdef") == ""
}

// Line is what `<program> --version` prints, e.g.
// "fanout-proxy 0.4.0 (revision 1a2b3c4d5e6f, go1.26.8)".
func (in Info) Line(program string) string {
	return fmt.Sprintf("%s %s (revision %s, %s)", program, in.Version, in.ShortRevision(), in.GoVersion)
}
