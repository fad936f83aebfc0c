// Package buildinfo tells which build of a service is running. Release
// builds (the container images) set the version and commit with the
// linker:
//
//	go build -ldflags "-X github.com/vidstream/vidstream/services/internal/buildinfo.version=v1.2.3
//	  -X github.com/vidstream/vidstream/services/internal/buildinfo.commit=<sha>" ./services/user
//
// Other builds report what the Go toolchain recorded: "(devel)" and the
// VCS revision when the binary was built inside a git checkout.
package buildinfo

import "runtime/debug"

// Set by the linker (-X); see the package documentation.
var (
	version string
	commit  string
)

// Version is the release version of the binary, or "(devel)".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Commit is the source revision the binary was built from, or "unknown".
func Commit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}
