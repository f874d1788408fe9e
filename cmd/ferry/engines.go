package main

import (
	"fmt"
	"io"

	"github.com/ferry-tunnel/ferry/relay"
)

// runEngines prints the registered engines, one per line, name first, so
// scripts can loop over `ferry engines | cut -f1`.
func runEngines(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("engines", "", stderr)
	if err := parseFlags(fs, args); err != nil {
		return startError("engines", err, stderr)
	}
	for _, name := range relay.Engines() {
		if name == relay.DefaultEngine {
			fmt.Fprintf(stdout, "%s\t(default)\n", name)
		} else {
			fmt.Fprintln(stdout, name)
		}
	}
	return exitOK
}
