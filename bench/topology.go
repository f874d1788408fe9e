package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"
)

// A setup is one case made ready for one run: the address the load goes to
// and the ferry processes (none for direct) between it and the backend.
type setup struct {
	addr     string
	procs    []*ferryProc // server then client, or forward, or an external relay
	commands []string
	cleanup  []func() // after the processes have exited
}

// start makes case c ready in front of the backend at backend: nothing for
// direct, a ferry server and client with one tunnel for tunnel (over TLS,
// pinned by fingerprint, for tunnel-tls), ferry forward for forward. env
// gives each ferry process, by name, the environment it adds (profiling).
// The caller must call stop or kill.
func (p *plan) start(ctx context.Context, c caseSpec, backend string, env func(proc string) []string) (*setup, error) {
	s := &setup{}
	wait, cancel := context.WithTimeout(ctx, p.StartTimeout)
	defer cancel()
	switch c.topology {
	case Direct:
		s.addr = backend
		return s, nil

	case Forward:
		args := []string{"forward", "--listen", "127.0.0.1:0", "--to", backend, "--engine", c.engine, "--log-format", "json"}
		fwd, err := startFerry(p.Ferry, "forward", env("forward"), args...)
		if err != nil {
			return nil, err
		}
		s.procs = append(s.procs, fwd)
		s.commands = append(s.commands, commandLine(p.Ferry, args, ""))
		line, err := fwd.waitLog(wait, "its address", func(m map[string]any) bool {
			return m["msg"] == "ferry forward listening" && m["addr"] != nil
		})
		if err != nil {
			s.kill()
			return nil, err
		}
		s.addr, _ = line["addr"].(string)
		return s, nil

	case Tunnel, TunnelTLS:
		token := randomToken()
		// The server listens on a port the kernel picks and logs it, so
		// two runs never race for a port.
		srvArgs := []string{"server", "--listen", "127.0.0.1:0", "--token", token, "--engine", c.engine, "--log-format", "json"}
		withTLS := c.topology == TunnelTLS
		if withTLS {
			// A fresh state directory, so each run's server makes its
			// own certificate (before the run is measured) and no run
			// inherits another's.
			dir, err := os.MkdirTemp("", "ferry-bench-tls")
			if err != nil {
				return nil, err
			}
			s.cleanup = append(s.cleanup, func() { os.RemoveAll(dir) })
			srvArgs = append(srvArgs, "--tls", "--tls-data", "--state-dir", dir)
		}
		srv, err := startFerry(p.Ferry, "server", env("server"), srvArgs...)
		if err != nil {
			s.kill()
			return nil, err
		}
		s.procs = append(s.procs, srv)
		line, err := srv.waitLog(wait, "its address", func(m map[string]any) bool {
			return m["msg"] == "ferry server listening" && m["addr"] != nil
		})
		if err != nil {
			s.kill()
			return nil, err
		}
		srvAddr, _ := line["addr"].(string)
		// Public port 0: the server picks one and the client logs it.
		clArgs := []string{"client", "--server", srvAddr, "--token", token, "--id", "bench-" + c.engine,
			"--engine", c.engine, "--tunnel", "svc=" + backend + ":0", "--log-format", "json"}
		if withTLS {
			fp, _ := line["tls_fingerprint"].(string)
			if line["tls_data"] != true || !isFingerprint(fp) {
				s.kill()
				return nil, fmt.Errorf("ferry server with --tls --tls-data logged tls_data %v and tls_fingerprint %q: want true and 64 hex digits", line["tls_data"], fp)
			}
			clArgs = append(clArgs, "--server-fingerprint", fp)
		}
		cl, err := startFerry(p.Ferry, "client", env("client"), clArgs...)
		if err != nil {
			s.kill()
			return nil, err
		}
		s.procs = append(s.procs, cl)
		s.commands = append(s.commands, commandLine(p.Ferry, srvArgs, token), commandLine(p.Ferry, clArgs, token))
		line, err = cl.waitLog(wait, "the tunnel's public address", func(m map[string]any) bool {
			addr, _ := m["public_addr"].(string)
			return m["tunnel"] == "svc" && addr != ""
		})
		if err != nil {
			s.kill()
			return nil, err
		}
		s.addr, _ = line["public_addr"].(string)
		// The client logs, as it connects, whether the server told it to
		// use TLS for data connections: a case named tunnel-tls must
		// never measure plain data connections.
		if withTLS && !cl.logged(func(m map[string]any) bool { return m["tls_data"] == true }) {
			s.kill()
			return nil, fmt.Errorf("ferry client logged no tls_data true before its tunnel was ready: the data connections may not be TLS; its log ends:\n%s", cl.logTail())
		}
		// No probe dial here: the server listens on the public port
		// before it confirms the tunnel, and a probe would be a stream of
		// its own at the backend.
		return s, nil

	case HAProxy, Nginx:
		return p.startExternal(wait, s, externals[c.topology], backend)
	}
	return nil, fmt.Errorf("bench: unknown topology %q", c.topology)
}

// cpu returns each process's CPU so far.
func (s *setup) cpu() ([]cpuTimes, error) {
	out := make([]cpuTimes, len(s.procs))
	for i, p := range s.procs {
		var err error
		if out[i], err = p.cpu(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// mem returns each process's resident memory.
func (s *setup) mem() ([]memKiB, error) {
	out := make([]memKiB, len(s.procs))
	for i, p := range s.procs {
		var err error
		if out[i], err = p.mem(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pin moves every thread of every process to CPU cpu.
func (s *setup) pin(cpu int) error {
	for _, p := range s.procs {
		if err := pinProcess(p.cmd.Process.Pid, cpu); err != nil {
			return fmt.Errorf("pinning %s to CPU %d: %w", p.name, cpu, err)
		}
	}
	return nil
}

// stop ends the processes cleanly, client first, and returns the counters
// each logged as it stopped. A process that does not exit 0 within the
// timeout is an error: a clean stop is part of a good result.
func (s *setup) stop(timeout time.Duration) (map[string]map[string]uint64, error) {
	counters := map[string]map[string]uint64{}
	var errs []error
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		errs = append(errs, p.stop(timeout))
		if c := p.counters(p.stoppedMsg()); c != nil {
			counters[p.name] = c
		}
	}
	s.kill()
	return counters, errors.Join(errs...)
}

// kill ends every process at once, then cleans up after them. It is safe
// to call more than once.
func (s *setup) kill() {
	for _, p := range s.procs {
		p.kill()
	}
	for _, f := range s.cleanup {
		f()
	}
	s.cleanup = nil
}

// diedNote says which ferry process exited, if one did, to explain a failed
// run.
func (s *setup) diedNote() string {
	var note string
	for _, p := range s.procs {
		if ok, how := p.exited(); ok {
			note += fmt.Sprintf("\nferry %s %s; its log ends:\n%s", p.name, how, p.logTail())
		}
	}
	return note
}

// isFingerprint reports whether s is a SHA-256 fingerprint as ferry logs
// it: 64 hex digits.
func isFingerprint(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// commandLine renders a command for the record, with the token elided.
func commandLine(bin string, args []string, token string) string {
	s := bin
	for _, a := range args {
		if token != "" && a == token {
			a = "TOKEN"
		}
		s += " " + a
	}
	return s
}
