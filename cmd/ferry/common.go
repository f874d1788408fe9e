package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFatal = 1 // ferry ran and failed: token refused, address in use
	exitUsage = 2 // bad command line or config: nothing was started
)

// errUsage is what every bad command line matches with errors.Is: exit 2,
// nothing started.
var errUsage = errors.New("usage error")

// A usageError is a bad command line: startError prints it in one line that
// ends with what to do (the hint, or where the usage is), and exits 2.
type usageError struct {
	cmd  string // "ferry server", "ferry loadgen rr": what to run with -h
	msg  string
	hint string // "did you mean --server host:7000?"; empty: see cmd -h
}

func (e *usageError) Error() string {
	if e.hint != "" {
		return e.msg + "; " + e.hint
	}
	return e.msg + "; see '" + e.cmd + " -h'"
}

func (e *usageError) Is(target error) bool { return target == errUsage }

// A helpError is -h or --help: the usage, which startError prints on
// stdout, exit 0. It matches flag.ErrHelp.
type helpError struct{ usage string }

func (e *helpError) Error() string        { return "help requested" }
func (e *helpError) Is(target error) bool { return target == flag.ErrHelp }

// newFlagSet makes a subcommand's FlagSet. The flag package prints nothing:
// parseFlags turns its errors into one line in the docs' --flag spelling and
// renders the usage (this synopsis, then the flags) only for -h.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("ferry "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ferry %s %s\n\nFlags:\n", name, synopsis)
		printFlags(fs.Output(), fs)
	}
	return fs
}

// parseFlags parses args with fs; no positional argument is allowed. It
// returns a helpError for -h and a usageError for anything else wrong.
func parseFlags(fs *flag.FlagSet, args []string) error {
	_, err := parseArgs(fs, args, 0)
	return err
}

// parseArgs parses args with fs and returns up to max positional arguments,
// which may stand between the flags (`ferry cmd ARG --flag v` and `ferry cmd
// --flag v ARG` alike; the flag package alone stops at the first). One more
// is a usageError that names the flag it probably meant.
func parseArgs(fs *flag.FlagSet, args []string, max int) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				var b strings.Builder
				fs.SetOutput(&b)
				fs.Usage()
				fs.SetOutput(io.Discard)
				return nil, &helpError{usage: b.String()}
			}
			return nil, &usageError{cmd: fs.Name(), msg: flagErrorText(fs, err)}
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if len(positional) == max {
			return nil, strayArgument(fs, args[0])
		}
		positional, args = append(positional, args[0]), args[1:]
	}
}

// flagErrorText rewrites the flag package's error in the --flag spelling
// the usage and the docs use, and says what a value of the flag's type looks
// like where the package says only "parse error". The package's errors have
// no types, so this goes by their text; TestFlagErrors pins every form, so a
// Go release that words them differently fails a test, not a user.
func flagErrorText(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag " + dashed(strings.TrimLeft(name, "-"))
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "flag " + dashed(name) + " needs a value"
	}
	// invalid value "V" for flag -NAME: WHY, and for a bool
	// invalid boolean value "V" for -NAME: WHY.
	for _, form := range []string{"invalid value ", "invalid boolean value "} {
		rest, ok := strings.CutPrefix(msg, form)
		if !ok {
			continue
		}
		value, rest, ok := cutQuoted(rest)
		if !ok {
			break
		}
		rest = strings.TrimPrefix(strings.TrimPrefix(rest, " for "), "flag ")
		name, why, ok := strings.Cut(strings.TrimPrefix(rest, "-"), ": ")
		if !ok {
			break
		}
		switch why {
		case "parse error":
			why = "want " + valueKind(fs.Lookup(name))
		case "value out of range":
			why = "out of range"
		}
		return fmt.Sprintf("%s %q: %s", dashed(name), value, why)
	}
	return msg
}

// cutQuoted splits a Go-quoted string off the front of s.
func cutQuoted(s string) (value, rest string, ok bool) {
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", s, false
	}
	value, err = strconv.Unquote(q)
	return value, s[len(q):], err == nil
}

// valueKind says what a value of f looks like, for an error about one that
// did not parse.
func valueKind(f *flag.Flag) string {
	if f == nil {
		return "another value"
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return "another value"
	}
	switch g.Get().(type) {
	case bool:
		return "true or false"
	case time.Duration:
		return "a duration with a unit, such as 500ms, 10s or 1m30s"
	case int, int64, uint, uint64:
		return "a whole number"
	case float64:
		return "a number"
	}
	return "another value"
}

// dashed spells a flag as the docs do: -c for a one-letter flag, --listen
// for the others.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// strayArgument explains a positional argument where the command takes
// only flags, naming the flag the argument looks meant for.
func strayArgument(fs *flag.FlagSet, arg string) error {
	msg := fmt.Sprintf("unexpected argument %q", arg)
	if flag := flagFor(fs, arg); flag != "" {
		return &usageError{cmd: fs.Name(), msg: msg, hint: "did you mean " + flag + "?"}
	}
	return &usageError{cmd: fs.Name(), msg: msg + ": " + fs.Name() + " takes flags only"}
}

// addressFlags are the flags that take a host:port, in the order a bare
// host:port most likely means them.
var addressFlags = []string{"server", "addr", "listen", "to"}

// flagFor guesses, from its shape, which of fs's flags arg was meant for,
// and returns it written as the flag ("--server host:7000"), or "".
func flagFor(fs *flag.FlagSet, arg string) string {
	has := func(name string) bool { return fs.Lookup(name) != nil }
	// NAME=VALUE: a flag's name without its dashes, or a tunnel spec.
	if name, value, ok := strings.Cut(arg, "="); ok {
		switch {
		case has(name):
			return dashed(name) + " " + value
		case has("tunnel"):
			return "--tunnel " + arg
		}
	}
	// A flag's name without its dashes: "ferry server token S".
	if has(arg) {
		return dashed(arg)
	}
	if strings.HasSuffix(arg, ".toml") && has("c") {
		return "-c " + arg
	}
	if _, _, err := net.SplitHostPort(arg); err == nil {
		var alts []string
		for _, name := range addressFlags {
			if has(name) {
				alts = append(alts, dashed(name)+" "+arg)
			}
		}
		return strings.Join(alts, " or ")
	}
	return ""
}

// printFlags writes fs's flags as flag.PrintDefaults does, but spelled as
// the docs spell them (--listen ADDRESS, -c FILE) and wrapped to fit a
// terminal.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		value, usage := flag.UnquoteUsage(f)
		line := "  " + dashed(f.Name)
		if value != "" {
			line += " " + valueName(value)
		}
		if def := f.DefValue; def != "" && def != "0" && def != "false" && def != "0s" && !strings.Contains(usage, "(default") {
			usage += " (default " + def + ")"
		}
		fmt.Fprintln(w, line)
		for _, l := range wrap(usage, 72) {
			fmt.Fprintln(w, "        "+l)
		}
	})
}

// valueName is the placeholder for a flag's value in the usage: the name
// its usage marks with backquotes, or its type, in capitals.
func valueName(v string) string {
	switch v {
	case "int", "uint":
		return "N"
	case "float":
		return "NUMBER"
	}
	return strings.ToUpper(v)
}

// wrap breaks s into lines of at most width runes, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len([]rune(line))+1+len([]rune(word)) > width {
			lines, line = append(lines, line), ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}

// isConfigError says whether err is the user's to fix in flags or config
// (exit 2) rather than a failure at run time (exit 1).
func isConfigError(err error) bool {
	return errors.Is(err, errUsage) || errors.Is(err, relay.ErrConfig) || errors.Is(err, relay.ErrUnknownEngine)
}

// startError turns an error from parsing or building a subcommand's config
// into its exit status: the usage on stdout for -h, otherwise one line on
// stderr. Config errors carry the key they are about.
func startError(name string, err error, stdout, stderr io.Writer) int {
	var help *helpError
	switch {
	case errors.As(err, &help):
		fmt.Fprint(stdout, help.usage)
		return exitOK
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

// logger returns the logger the flags ask for, writing to w. Durations read
// the same in both formats and in the config: "500ms", "1m30s" (slog's JSON
// handler would write integer nanoseconds), so a program reading the JSON
// parses them as it parses the config, with Go's time.ParseDuration.
func (l *logFlags) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: l.level, ReplaceAttr: durationsAsText}
	if l.format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationsAsText is a slog ReplaceAttr that writes a duration as its
// String: "500ms", not 500000000.
func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// countersAttr is the counters a server, client or forwarder logs as it
// stops, as a group in name order: in text counters.relays_done=3
// counters.engine.pairs_started=3 ..., in JSON an object.
func countersAttr(counters map[string]uint64) slog.Attr {
	attrs := make([]slog.Attr, 0, len(counters))
	for _, name := range slices.Sorted(maps.Keys(counters)) {
		attrs = append(attrs, slog.Uint64(name, counters[name]))
	}
	return slog.GroupAttrs("counters", attrs...)
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
