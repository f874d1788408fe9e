package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A ferryProc is a running ferry server or client whose JSON log the harness
// reads: it learns addresses and counters from it.
type ferryProc struct {
	name string // "server", "client", "forward", "haproxy" or "nginx", for messages
	cmd  *exec.Cmd
	// stopSig asks the process to finish gracefully: SIGTERM for ferry,
	// SIGUSR1 (soft stop) for HAProxy.
	stopSig os.Signal
	done    chan struct{} // closed when the process has exited and its log is read

	mu      sync.Mutex
	lines   []map[string]any // every JSON log line
	tail    []string         // the last few raw lines, for error messages
	changed chan struct{}    // closed and replaced when a line arrives
}

const tailLines = 20

// startFerry starts the ferry binary with args, which must ask for JSON
// logging, and env added to the harness's environment. The caller must kill it (kill is safe at any time, more than once).
func startFerry(bin, name string, env []string, args ...string) (*ferryProc, error) {
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	setProcAttr(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p := &ferryProc{name: name, cmd: cmd, stopSig: syscall.SIGTERM, done: make(chan struct{}), changed: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ferry %s: %w", name, err)
	}
	go p.read(stderr)
	return p, nil
}

func (p *ferryProc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// Numbers stay json.Number, so byte counters keep every digit.
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		d.Decode(&m) // not JSON (a panic): kept in tail only
		p.mu.Lock()
		if m != nil {
			p.lines = append(p.lines, m)
		}
		p.tail = append(p.tail, sc.Text())
		if len(p.tail) > tailLines {
			p.tail = p.tail[1:]
		}
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	io.Copy(io.Discard, r) // a line too long for the scanner: drain so Wait returns
	p.cmd.Wait()
	close(p.done)
}

// exited says whether the process has exited, and how.
func (p *ferryProc) exited() (bool, string) {
	select {
	case <-p.done:
		return true, p.cmd.ProcessState.String()
	default:
		return false, ""
	}
}

// logTail returns the process's last log lines, for an error message.
func (p *ferryProc) logTail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "  " + strings.Join(p.tail, "\n  ")
}

// waitLog waits for the first log line match accepts, failing when the
// process exits or ctx ends first.
func (p *ferryProc) waitLog(ctx context.Context, what string, match func(map[string]any) bool) (map[string]any, error) {
	for seen := 0; ; {
		p.mu.Lock()
		lines, ch := p.lines, p.changed
		p.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if match(lines[seen]) {
				return lines[seen], nil
			}
		}
		select {
		case <-ch:
		case <-p.done:
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if n > seen {
				continue // look at the lines it wrote last
			}
			_, how := p.exited()
			return nil, fmt.Errorf("ferry %s %s before logging %s; its log ends:\n%s", p.name, how, what, p.logTail())
		case <-ctx.Done():
			return nil, fmt.Errorf("ferry %s did not log %s: %w; its log ends:\n%s", p.name, what, ctx.Err(), p.logTail())
		}
	}
}

// logged reports whether the process has already logged a line match
// accepts; unlike waitLog it never waits.
func (p *ferryProc) logged(match func(map[string]any) bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.lines, match)
}

// cpu returns the CPU time the process has used so far.
func (p *ferryProc) cpu() (cpuTimes, error) {
	if ok, how := p.exited(); ok {
		return cpuTimes{}, fmt.Errorf("ferry %s %s during the run; its log ends:\n%s", p.name, how, p.logTail())
	}
	d, err := treeCPU(p.cmd.Process.Pid)
	if err != nil {
		return cpuTimes{}, fmt.Errorf("ferry %s: %w", p.name, err)
	}
	return d, nil
}

// mem returns the process's resident memory now and at its peak.
func (p *ferryProc) mem() (memKiB, error) {
	if ok, how := p.exited(); ok {
		return memKiB{}, fmt.Errorf("ferry %s %s during the run; its log ends:\n%s", p.name, how, p.logTail())
	}
	m, err := treeMem(p.cmd.Process.Pid)
	if err != nil {
		return memKiB{}, fmt.Errorf("ferry %s: %w", p.name, err)
	}
	return m, nil
}

// stop asks the process to shut down with its stop signal and waits up to
// timeout for it to exit with status 0; then it is killed.
func (p *ferryProc) stop(timeout time.Duration) error {
	if ok, how := p.exited(); ok {
		return fmt.Errorf("ferry %s %s before it was stopped; its log ends:\n%s", p.name, how, p.logTail())
	}
	p.cmd.Process.Signal(p.stopSig)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("ferry %s did not exit within %v of %v; its log ends:\n%s", p.name, timeout, p.stopSig, p.logTail())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("ferry %s exited %d after %v; its log ends:\n%s", p.name, code, p.stopSig, p.logTail())
	}
	return nil
}

// kill ends the process at once, if it still runs, and waits for it.
func (p *ferryProc) kill() {
	if ok, _ := p.exited(); !ok {
		killGroup(p.cmd)
	}
	<-p.done
}

// counters returns the counters the process logged as it stopped, with the
// given message; nil if it logged none.
func (p *ferryProc) counters(msg string) map[string]uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.lines {
		if m["msg"] != msg {
			continue
		}
		raw, _ := m["counters"].(map[string]any)
		out := make(map[string]uint64, len(raw))
		for k, v := range raw {
			if n, ok := v.(json.Number); ok {
				if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
					out[k] = u
				}
			}
		}
		return out
	}
	return nil
}

// stoppedMsg is the log message with which the process reports its counters
// as it stops.
func (p *ferryProc) stoppedMsg() string {
	if p.name == "forward" {
		return "forwarder stopped"
	}
	return p.name + " stopped"
}
