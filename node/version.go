package node

import (
	"runtime"
	"runtime/debug"
)

// Version is the node software's release, reported by /v1/status and
// "waterchain version". Release builds set it, and Commit, at link time:
//
//	go build -ldflags "-X github.com/waterchain/waterchain/node.Version=v1.2.0 \
//	    -X github.com/waterchain/waterchain/node.Commit=$(git rev-parse HEAD)" ./cmd/waterchain
var Version = "0.1.0"

// Commit is the source revision the binary was built from. Empty: the
// revision Go stamped into the build (a build in a git checkout with
// -buildvcs, the default for "go build" there), if any.
var Commit = ""

// BuildInfo says which software a node runs.
type BuildInfo struct {
	Version string `json:"version"`
	// Commit is the source revision, "" when the build does not know it
	// (go run, or -buildvcs=false).
	Commit string `json:"commit,omitempty"`
	// Modified: the working tree had uncommitted changes at build time.
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// Build describes the running binary.
func Build() BuildInfo {
	b := BuildInfo{Version: Version, Commit: Commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	return b
}

// build is Build() of this process, computed once for the status call.
var build = Build()
