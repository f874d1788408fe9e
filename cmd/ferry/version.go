package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// commit is the commit ferry was built from when the build info records
// none (a build with -buildvcs=false, or outside a git checkout): the
// Makefile sets it from `git describe --always --dirty` with
// -ldflags "-X main.commit=...". Empty when neither knows.
var commit string

// runVersion prints the module version, the commit it was built from, and
// the Go toolchain. `ferry --version` and `ferry -v` run it too.
func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "")
	if err := parseFlags(fs, args); err != nil {
		return startError("version", err, stdout, stderr)
	}
	version, revision, goVersion := "unknown", commit, runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		version, goVersion = bi.Main.Version, bi.GoVersion
		vcsRevision, modified := "", ""
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision":
				vcsRevision = s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				modified = " (modified)"
			}
		}
		if vcsRevision != "" {
			revision = vcsRevision + modified
		}
	}
	fmt.Fprintf(stdout, "ferry %s\n", version)
	if revision == "" {
		revision = "unknown (built without VCS information; make build records it)"
	}
	fmt.Fprintf(stdout, "commit %s\n", revision)
	fmt.Fprintf(stdout, "built with %s for %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return exitOK
}
