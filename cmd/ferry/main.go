package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	// Every engine registers itself; --engine picks one by name.
	_ "github.com/ferry-tunnel/ferry/variants/all"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// A command is one subcommand: it parses its own flags from args and returns
// the process's exit status.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var commands = []command{
	{"server", "accept clients and open public ports for their tunnels", runServer},
	{"client", "expose local services through a ferry server", runClient},
	{"expose", "expose one local port through a ferry server, and print its public address", runExpose},
	{"forward", "relay one local port to another address (an engine without the tunnel)", runForward},
	{"loadgen", "measure a relay, or any TCP address: bulk, rr, http, churn or idle load", runLoadgen},
	{"backend", "serve what ferry loadgen loads: a sink, source, echo or http backend", runBackend},
	{"engines", "list the relay engines built in", runEngines},
	{"version", "print the version and how ferry was built", runVersion},
}

// run dispatches to the subcommand named by args[0].
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 { // ferry help server
			return run([]string{rest[0], "-h"}, stdout, stderr)
		}
		usage(stdout)
		return exitOK
	case "-v", "-version", "--version":
		name = "version"
	}
	for _, c := range commands {
		if c.name == name {
			return profiled(stderr, func() int { return c.run(rest, stdout, stderr) })
		}
	}
	if strings.HasPrefix(name, "-") {
		fmt.Fprintf(stderr, "ferry: %s: flags follow the command, as in 'ferry COMMAND %s'; see 'ferry -h'\n", name, name)
	} else {
		fmt.Fprintf(stderr, "ferry: unknown command %q; see 'ferry -h'\n", name)
	}
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: ferry <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s  %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'ferry <command> -h' for a command's flags; docs/config.md lists them all.\n")
	fmt.Fprintf(w, "'ferry --version' (or -v) is 'ferry version'.\n")
}
