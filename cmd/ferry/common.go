package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ferry-tunnel/ferry/relay"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFatal = 1 // ferry ran and failed: token refused, address in use
	exitUsage = 2 // bad command line or config: nothing was started
)

// errUsage is a bad command line that the flag package has already
// explained on stderr, with the usage.
var errUsage = errors.New("usage error")

// newFlagSet makes a subcommand's FlagSet, which reports errors and usage on
// stderr and leaves exiting to run.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ferry "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ferry %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args with fs. No subcommand takes positional arguments.
// It returns flag.ErrHelp for -h and errUsage for anything else wrong.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// isConfigError says whether err is the user's to fix in flags or config
// (exit 2) rather than a failure at run time (exit 1).
func isConfigError(err error) bool {
	return errors.Is(err, errUsage) || errors.Is(err, relay.ErrConfig) || errors.Is(err, relay.ErrUnknownEngine)
}

// startError turns an error from parsing or building a subcommand's config
// into its exit status, reporting it in one line unless the flag package
// already has. Config errors carry the key they are about.
func startError(name string, err error, stderr io.Writer) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case isConfigError(err):
		fmt.Fprintf(stderr, "ferry %s: %v\n", name, err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "ferry %s: %v\n", name, err)
	return exitFatal
}

// logFlags are the logging flags every long-running subcommand takes.
type logFlags struct {
	level  slog.Level
	format string
}

func (l *logFlags) register(fs *flag.FlagSet) {
	l.level, l.format = slog.LevelInfo, "text"
	fs.Func("log-level", "log `level`: debug, info, warn or error (default info)", func(s string) error {
		switch s {
		case "debug", "info", "warn", "error":
			return l.level.UnmarshalText([]byte(s))
		}
		return errors.New("want debug, info, warn or error")
	})
	fs.Func("log-format", "log `format`: text or json (default text)", func(s string) error {
		switch s {
		case "text", "json":
			l.format = s
			return nil
		}
		return errors.New("want text or json")
	})
}

// logger returns the logger the flags ask for, writing to w.
func (l *logFlags) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: l.level}
	if l.format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// notifySignals delivers SIGINT and SIGTERM on the returned channel until
// stop is called, which closes it.
func notifySignals() (sigs chan os.Signal, stop func()) {
	sigs = make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	return sigs, func() {
		signal.Stop(sigs)
		close(sigs)
	}
}

// exitOnSecondSignal ends the process at once when another signal arrives
// during a graceful shutdown, for an operator who will not wait.
func exitOnSecondSignal(sigs <-chan os.Signal, log *slog.Logger) {
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		log.Warn("second signal; exiting now", "signal", sig.String())
		os.Exit(exitFatal)
	}()
}
