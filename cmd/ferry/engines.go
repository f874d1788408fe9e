package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/ferry-tunnel/ferry/relay"
)

// runEngines prints the registered engines, one per line, name first, so
// scripts can loop over `ferry engines | cut -f1`, then what the engine is:
// "default", and "tls-data" when it can relay TLS data connections.
func runEngines(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("engines", "")
	if err := parseFlags(fs, args); err != nil {
		return startError("engines", err, stdout, stderr)
	}
	for _, name := range relay.Engines() {
		line := []string{name}
		if name == relay.DefaultEngine {
			line = append(line, "default")
		}
		e, err := relay.NewEngine(name, relay.Options{})
		if err != nil {
			line = append(line, "unavailable: "+err.Error())
		} else {
			if _, ok := e.(relay.StreamRelayer); ok {
				line = append(line, "tls-data")
			}
			e.Close()
		}
		fmt.Fprintln(stdout, strings.Join(line, "\t"))
	}
	return exitOK
}
