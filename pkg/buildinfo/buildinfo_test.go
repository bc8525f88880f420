package buildinfo

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	const rev = "ad040e2c1234567890abcdef1234567890abcdef"
	vcs := func(modified string) *debug.BuildInfo {
		return &debug.BuildInfo{
			Main: debug.Module{Path: "github.com/fanout-dev/fanout/services/proxy", Version: "v0.0.0-20261202183350-ad040e2c1234"},
			Settings: []debug.BuildSetting{
				{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified},
			},
		}
	}
	tests := []struct {
		name                   string
		ldVersion, ldRevision  string
		bi                     *debug.BuildInfo
		want                   Info
		wantShort, wantVersion string
	}{
		{
			name: "linker stamps win over the toolchain's", ldVersion: "0.4.0", ldRevision: "0123456789abcdef0123456789abcdef01234567",
			bi:        vcs("true"),
			want:      Info{Version: "0.4.0", Revision: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26.8"},
			wantShort: "0123456789ab",
		},
		{
			name:      "toolchain fallback: module version and vcs.revision",
			bi:        vcs("false"),
			want:      Info{Version: "v0.0.0-20261202183350-ad040e2c1234", Revision: rev, GoVersion: "go1.26.8"},
			wantShort: "ad040e2c1234",
		},
		{
			name:      "uncommitted changes say dirty",
			bi:        vcs("true"),
			want:      Info{Version: "v0.0.0-20261202183350-ad040e2c1234", Revision: rev, Modified: true, GoVersion: "go1.26.8"},
			wantShort: "ad040e2c1234-dirty",
		},
		{
			name:      "a version stamp alone keeps the toolchain's revision",
			ldVersion: "0.4.0", bi: vcs("false"),
			want:      Info{Version: "0.4.0", Revision: rev, GoVersion: "go1.26.8"},
			wantShort: "ad040e2c1234",
		},
		{
			name:      "go run or -buildvcs=false: (devel) and no revision",
			bi:        &debug.BuildInfo{Main: debug.Module{Path: "x", Version: "(devel)"}},
			want:      Info{Version: Unknown, Revision: Unknown, GoVersion: "go1.26.8"},
			wantShort: Unknown,
		},
		{
			name:      "no build information at all",
			want:      Info{Version: Unknown, Revision: Unknown, GoVersion: "go1.26.8"},
			wantShort: Unknown,
		},
		{
			name: "a stamped dirty revision is cut and keeps its suffix", ldRevision: rev + "-dirty",
			want:      Info{Version: Unknown, Revision: rev + "-dirty", GoVersion: "go1.26.8"},
			wantShort: "ad040e2c1234-dirty",
		},
		{
			name: "a short or non-hex stamped revision is printed whole", ldRevision: "abc1234",
			want:      Info{Version: Unknown, Revision: "abc1234", GoVersion: "go1.26.8"},
			wantShort: "abc1234",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.ldVersion, tt.ldRevision, tt.bi, "go1.26.8")
			if got != tt.want {
				t.Fatalf("resolve = %+v, want %+v", got, tt.want)
			}
			if s := got.ShortRevision(); s != tt.wantShort {
				t.Errorf("ShortRevision = %q, want %q", s, tt.wantShort)
			}
		})
	}
}

func TestLine(t *testing.T) {
	in := Info{Version: "0.4.0", Revision: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26.8"}
	if got, want := in.Line("fanout-proxy"), "fanout-proxy 0.4.0 (revision 0123456789ab, go1.26.8)"; got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
}

// TestLinkerStamps builds a program with the -X flags that builders (the Dockerfile,
// make images) pass: a symbol name that does not match is silently ignored by the
// linker, so only a real build shows that the names are right.
func TestLinkerStamps(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "stamped")
	ldflags := "-X " + VersionSymbol + "=9.8.7 -X " + RevisionSymbol + "=fedcba9876543210fedcba9876543210fedcba98"
	// Without the builders' -trimpath, which does not bear on -X symbol names: with it,
	// the build shares no cached package with the other tests' non-race builds, and
	// compiled the standard library once more for this test alone (~25 CPU-s cold).
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-ldflags", ldflags, "-o", bin, "./testdata/stamped")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("running the stamped binary: %v", err)
	}
	want := "stamped 9.8.7 (revision fedcba987654, " + runtime.Version() + ")"
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("stamped binary printed %q, want %q", got, want)
	}
}
