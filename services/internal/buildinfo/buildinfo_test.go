package buildinfo_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidstream/vidstream/services/internal/buildinfo"
)

func TestDefaults(t *testing.T) {
	if v := buildinfo.Version(); v == "" {
		t.Error("empty version")
	}
	if c := buildinfo.Commit(); c == "" {
		t.Error("empty commit")
	}
}

// TestLinkerFlags builds a program with the -X flags the Dockerfile passes
// (hack/build-service.sh) and checks it reports them: a renamed variable
// would make the linker silently ignore the flags.
func TestLinkerFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "printversion")
	const pkg = "github.com/vidstream/vidstream/services/internal/buildinfo"
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X "+pkg+".version=v9.8.7 -X "+pkg+".commit=abc123", "./testdata/printversion")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "v9.8.7 abc123" {
		t.Fatalf("got %q, want the linker's values", got)
	}
}
