package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// generous bounds every wait on a ferry process: CI machines are small and
// busy, and a wait that ends early only delays a failure.
const generous = 20 * time.Second

// binDir holds the ferry binary, built once by ferryBinary; TestMain removes
// it.
var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferry-test-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ferryBinary builds ./cmd/ferry once per test run and returns its path.
func ferryBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "ferry")
	buildOnce.Do(func() {
		out, err := exec.Command("go", "build", "-buildvcs=false", "-o", bin, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// runFerry runs a short-lived ferry command and returns its exit status,
// stdout and stderr.
func runFerry(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(ferryBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("ferry %s: %v", strings.Join(args, " "), err)
	}
	return code, out.String(), errb.String()
}

// A proc is a long-running ferry process whose JSON log the test watches.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and its log is read

	mu      sync.Mutex
	lines   []map[string]any
	raw     strings.Builder
	changed chan struct{} // closed and replaced when a line arrives
}

// startFerry starts ferry with args plus --log-format json and kills it in
// cleanup if it is still running.
func startFerry(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startFerryIn(t, "", name, args...)
}

// startFerryIn is startFerry inside the network namespace netns (none when
// empty), through `ip netns exec`, which execs ferry in place.
func startFerryIn(t *testing.T, netns, name string, args ...string) *proc {
	t.Helper()
	args = append(args, "--log-format", "json")
	if !slices.Contains(args, "--log-level") { // debug, unless the test chose
		args = append(args, "--log-level", "debug")
	}
	cmd := exec.Command(ferryBinary(t), args...)
	if netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", netns, ferryBinary(t)}, args...)...)
	}
	setPdeathsig(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, cmd: cmd, done: make(chan struct{}), changed: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var m map[string]any
			json.Unmarshal(sc.Bytes(), &m) // a non-JSON line (a panic) stays in raw
			p.mu.Lock()
			p.raw.WriteString(sc.Text() + "\n")
			if m != nil {
				p.lines = append(p.lines, m)
			}
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", p.name, p.log())
		}
	})
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.raw.String()
}

// waitLog waits for a log line that match accepts and returns it.
func (p *proc) waitLog(what string, match func(map[string]any) bool) map[string]any {
	p.t.Helper()
	deadline := time.After(generous)
	for seen := 0; ; {
		p.mu.Lock()
		lines, ch := p.lines, p.changed
		p.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if match(lines[seen]) {
				return lines[seen]
			}
		}
		select {
		case <-ch:
		case <-p.done:
			// The process exited; look once more at what it wrote last.
			p.mu.Lock()
			lines = p.lines
			p.mu.Unlock()
			for ; seen < len(lines); seen++ {
				if match(lines[seen]) {
					return lines[seen]
				}
			}
			p.t.Fatalf("%s exited (%v) before logging %s", p.name, p.cmd.ProcessState, what)
		case <-deadline:
			p.t.Fatalf("%s did not log %s within %v", p.name, what, generous)
		}
	}
}

// msgIs matches a log line by its message.
func msgIs(msg string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["msg"] == msg }
}

// wait waits for the process to exit and returns its exit status.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(generous):
		p.t.Fatalf("%s did not exit within %v", p.name, generous)
		return -1
	}
}

// signal sends sig to the process.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}
