package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// runVersion prints the module version, the commit it was built from when
// the build recorded one, and the Go toolchain.
func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "", stderr)
	if err := parseFlags(fs, args); err != nil {
		return startError("version", err, stderr)
	}
	version, revision, modified, goVersion := "unknown", "", "", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		version, goVersion = bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision":
				revision = s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				modified = " (modified)"
			}
		}
	}
	fmt.Fprintf(stdout, "ferry %s\n", version)
	if revision != "" {
		fmt.Fprintf(stdout, "commit %s%s\n", revision, modified)
	}
	fmt.Fprintf(stdout, "built with %s for %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return exitOK
}
