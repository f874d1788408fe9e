package main

import (
	"bufio"
	"errors"
	"flag"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

// TestVersionFlags: `ferry --version` and `ferry -v` are `ferry version`,
// which names the commit; a build without VCS information takes it from the
// -X main.commit the Makefile sets.
func TestVersionFlags(t *testing.T) {
	code, want, stderr := runFerry(t, "version")
	if code != exitOK || !strings.HasPrefix(want, "ferry ") || !strings.Contains(want, "\ncommit ") {
		t.Fatalf("ferry version exited %d with %q (stderr %q), want the version and a commit line", code, want, stderr)
	}
	for _, arg := range []string{"--version", "-v", "-version"} {
		code, out, stderr := runFerry(t, arg)
		if code != exitOK || out != want || stderr != "" {
			t.Errorf("ferry %s: exit %d, stdout %q, stderr %q; want exit 0 and what ferry version prints:\n%s", arg, code, out, stderr, want)
		}
	}

	bin := filepath.Join(t.TempDir(), "ferry")
	build := exec.Command("go", "build", "-buildvcs=false", "-ldflags", "-X main.commit=abc1234-dirty", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-v").Output()
	if err != nil || !strings.Contains(string(out), "\ncommit abc1234-dirty\n") {
		t.Errorf("ferry -v built with -X main.commit=abc1234-dirty: %v, printed:\n%s", err, out)
	}
}

// TestHelpOnStdout: -h and --help print the usage on stdout and exit 0, for
// ferry and every command, with every flag spelled as the docs spell it.
func TestHelpOnStdout(t *testing.T) {
	var (
		srvCfg relay.ServerConfig
		clCfg  relay.ClientConfig
		file   string
		lf     logFlags
	)
	flagsOf := func(fs *flag.FlagSet) (names []string) {
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		return names
	}
	for _, tc := range []struct {
		args  []string
		flags []string // each must have a line of its own, "  --name" or "  -c"
	}{
		{args: nil, flags: nil},
		{args: []string{"server"}, flags: flagsOf(serverFlags(&srvCfg, &file, &lf))},
		{args: []string{"client"}, flags: flagsOf(clientFlags(&clCfg, &file, &lf))},
		{args: []string{"forward"}, flags: []string{"listen", "to", "engine", "idle-timeout", "dial-timeout", "log-level", "log-format"}},
		{args: []string{"engines"}},
		{args: []string{"version"}},
		{args: []string{"backend"}, flags: []string{"listen", "log-level", "log-format"}},
		{args: []string{"loadgen"}},
		{args: []string{"loadgen", "bulk"}, flags: []string{"addr", "duration", "warmup", "json", "q", "streams", "direction"}},
	} {
		for _, h := range []string{"-h", "--help"} {
			args := append(slices.Clone(tc.args), h)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				code, stdout, stderr := runFerry(t, args...)
				if code != exitOK || stderr != "" {
					t.Fatalf("exit %d, stderr %q; want 0 and nothing on stderr", code, stderr)
				}
				if !strings.HasPrefix(stdout, "Usage: ferry ") {
					t.Errorf("stdout does not start with the usage:\n%s", stdout)
				}
				for _, name := range tc.flags {
					if !strings.Contains(stdout, "\n  "+dashed(name)+" ") && !strings.Contains(stdout, "\n  "+dashed(name)+"\n") {
						t.Errorf("no line for %s:\n%s", dashed(name), stdout)
					}
				}
				if m := regexp.MustCompile(`(?m)^\s+-[a-z][a-z-]+\b`).FindString(stdout); m != "" {
					t.Errorf("a long flag spelled with one dash, %q:\n%s", m, stdout)
				}
			})
		}
	}
}

// TestFlagErrorsOneLine: a flag error is one line in the --flag spelling
// that says what is wrong and where the usage is, exit 2.
func TestFlagErrorsOneLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // the whole of stderr, less its newline
	}{
		{name: "unknown flag", args: []string{"server", "--no-such-flag"},
			want: "ferry server: unknown flag --no-such-flag; see 'ferry server -h'"},
		{name: "unknown flag, one dash", args: []string{"client", "-x"},
			want: "ferry client: unknown flag -x; see 'ferry client -h'"},
		{name: "missing value", args: []string{"server", "--token"},
			want: "ferry server: flag --token needs a value; see 'ferry server -h'"},
		{name: "bad number", args: []string{"client", "--pool", "many"},
			want: `ferry client: --pool "many": want a whole number; see 'ferry client -h'`},
		{name: "number out of range", args: []string{"server", "--max-conns", "99999999999999999999"},
			want: `ferry server: --max-conns "99999999999999999999": out of range; see 'ferry server -h'`},
		{name: "duration without unit", args: []string{"client", "--dial-timeout", "5"},
			want: `ferry client: --dial-timeout "5": want a duration with a unit, such as 500ms, 10s or 1m30s; see 'ferry client -h'`},
		{name: "bad bool", args: []string{"server", "--tls=maybe"},
			want: `ferry server: --tls "maybe": want true or false; see 'ferry server -h'`},
		{name: "bad choice", args: []string{"forward", "--log-format", "xml"},
			want: `ferry forward: --log-format "xml": want text or json; see 'ferry forward -h'`},
		{name: "loadgen workload flag", args: []string{"loadgen", "rr", "--rate", "fast"},
			want: `ferry loadgen: --rate "fast": want a number; see 'ferry loadgen rr -h'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runFerry(t, tc.args...)
			if code != exitUsage || stdout != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", code, stdout, exitUsage)
			}
			if got := strings.TrimSuffix(stderr, "\n"); got != tc.want {
				t.Errorf("stderr\n %q\nwant\n %q", stderr, tc.want)
			}
		})
	}
}

// TestPositionalHint: a positional argument where a command takes flags is
// refused, exit 2, with the flag it was probably meant for.
func TestPositionalHint(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the whole of stderr, less its newline
	}{
		{args: []string{"client", "host:7000"},
			want: `ferry client: unexpected argument "host:7000"; did you mean --server host:7000?`},
		{args: []string{"client", "--server", "h:1", "--token", "t", "web=127.0.0.1:80:0"},
			want: `ferry client: unexpected argument "web=127.0.0.1:80:0"; did you mean --tunnel web=127.0.0.1:80:0?`},
		{args: []string{"client", "ferry.toml"},
			want: `ferry client: unexpected argument "ferry.toml"; did you mean -c ferry.toml?`},
		{args: []string{"server", "0.0.0.0:7000", "--token", "t"},
			want: `ferry server: unexpected argument "0.0.0.0:7000"; did you mean --listen 0.0.0.0:7000?`},
		{args: []string{"server", "token", "t"},
			want: `ferry server: unexpected argument "token"; did you mean --token?`},
		{args: []string{"server", "allow-ports=6000-6100"},
			want: `ferry server: unexpected argument "allow-ports=6000-6100"; did you mean --allow-ports 6000-6100?`},
		{args: []string{"forward", "127.0.0.1:9000"},
			want: `ferry forward: unexpected argument "127.0.0.1:9000"; did you mean --listen 127.0.0.1:9000 or --to 127.0.0.1:9000?`},
		{args: []string{"engines", "all"},
			want: `ferry engines: unexpected argument "all": ferry engines takes flags only; see 'ferry engines -h'`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runFerry(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if got := strings.TrimSuffix(stderr, "\n"); got != tc.want {
				t.Errorf("stderr\n %q\nwant\n %q", stderr, tc.want)
			}
		})
	}
}

// TestParseArgs pins parseArgs for a command that takes positional
// arguments: they may stand before, between or after the flags, and one more
// than it takes is refused.
func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{name: "before the flags", args: []string{"8080", "--server", "h:1"}, want: []string{"8080"}},
		{name: "after the flags", args: []string{"--server", "h:1", "8080"}, want: []string{"8080"}},
		{name: "none", args: []string{"--server", "h:1"}, want: nil},
		{name: "one too many", args: []string{"8080", "--server", "h:1", "9090"}, wantErr: `unexpected argument "9090"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFlagSet("expose", "PORT [flags]")
			server := fs.String("server", "", "")
			got, err := parseArgs(fs, tc.args, 1)
			if tc.wantErr != "" {
				if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want a usage error saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) || *server != "h:1" {
				t.Errorf("got %q, --server %q, %v; want %q, h:1", got, *server, err, tc.want)
			}
		})
	}
}

// TestLogFormats: in JSON, durations are strings as the config writes them,
// not nanoseconds; the counters a server logs as it stops are key=value
// attributes in text, in name order, and an object in JSON.
func TestLogFormats(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		srv, _ := startServer(t, "--token", "t", "--shutdown-timeout", "1m30s")
		srv.signal(syscall.SIGTERM)
		line := srv.waitLog("that it is shutting down", msgIs("shutting down; a second signal exits at once"))
		if got, ok := line["timeout"].(string); !ok || got != "1m30s" {
			t.Errorf("timeout logged as %#v, want the string \"1m30s\"", line["timeout"])
		}
		stopped := srv.waitLog("its counters", msgIs("server stopped"))
		counters, ok := stopped["counters"].(map[string]any)
		if _, has := counters["relays_done"]; !ok || !has {
			t.Errorf("counters logged as %#v, want an object with relays_done", stopped["counters"])
		}
	})
	t.Run("text", func(t *testing.T) {
		cmd := exec.Command(ferryBinary(t), "server", "--listen", "127.0.0.1:0", "--token", "t", "--log-format", "text")
		setPdeathsig(cmd)
		pipe, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		t.Cleanup(func() {
			cmd.Process.Kill()
			for range lines { // all of it read before Wait closes the pipe
			}
			cmd.Wait()
		})
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(pipe)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		next := func(what string) string {
			t.Helper()
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("ferry server exited before logging %s", what)
					}
					if strings.Contains(l, `msg="`+what+`"`) {
						return l
					}
				case <-time.After(generous):
					t.Fatalf("ferry server did not log %s within %v", what, generous)
				}
			}
		}
		next("ferry server listening")
		cmd.Process.Signal(syscall.SIGTERM)
		stopped := next("server stopped")
		if strings.Contains(stopped, "map[") {
			t.Errorf("counters logged as a Go map: %s", stopped)
		}
		var names []string
		for _, m := range regexp.MustCompile(`\bcounters\.([a-z_.]+)=\d+\b`).FindAllStringSubmatch(stopped, -1) {
			names = append(names, m[1])
		}
		if !slices.Contains(names, "relays_done") || !slices.IsSorted(names) {
			t.Errorf("counters %q: want counters.NAME=N for each, relays_done among them, in name order; line:\n%s", names, stopped)
		}
	})
}

// TestFlagErrorText pins the flag package's error forms that flagErrorText
// rewrites, in process, so that a Go release that words them differently
// fails here rather than showing users the raw text.
func TestFlagErrorText(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{args: []string{"--nope"}, want: "unknown flag --nope"},
		{args: []string{"-n"}, want: "unknown flag -n"},
		{args: []string{"--word"}, want: "flag --word needs a value"},
		{args: []string{"--count", "x"}, want: `--count "x": want a whole number`},
		{args: []string{"--count", "99999999999999999999"}, want: `--count "99999999999999999999": out of range`},
		{args: []string{"--wait", "5"}, want: `--wait "5": want a duration with a unit, such as 500ms, 10s or 1m30s`},
		{args: []string{"--on=2"}, want: `--on "2": want true or false`},
		{args: []string{"--rate", "x"}, want: `--rate "x": want a number`},
		{args: []string{"--pick", "z"}, want: `--pick "z": want a or b`},
	} {
		fs := newFlagSet("test", "")
		fs.String("word", "", "")
		fs.Int("count", 0, "")
		fs.Duration("wait", 0, "")
		fs.Bool("on", false, "")
		fs.Float64("rate", 0, "")
		fs.Func("pick", "", func(s string) error { return errors.New("want a or b") })
		err := fs.Parse(tc.args)
		if err == nil {
			t.Fatalf("%q parsed", tc.args)
		}
		if got := flagErrorText(fs, err); got != tc.want {
			t.Errorf("%q: %q (from %q), want %q", tc.args, got, err, tc.want)
		}
	}
}
