package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// An external relay is a one-hop TCP proxy people already deploy, run as a
// case so that the engines stand beside it in the same run. Each is
// configured for the job the way its documentation suggests, with one
// worker per CPU and timeouts that never end a run.
type external struct {
	name string // the topology and case name
	bin  string // looked up in PATH
	// config renders the configuration for one hop from listen to
	// backend, with dir as a private scratch directory.
	config func(listen, backend, dir string) string
	// args runs bin in the foreground with the configuration file cfg.
	args func(cfg, dir string) []string
	// check asks bin whether it can run the configuration file cfg,
	// without serving: exit 0 when it can, else why not on its output.
	check func(cfg, dir string) []string
	// stop asks for a graceful exit with status 0.
	stop os.Signal
}

var externals = map[string]external{
	HAProxy: {
		name: HAProxy,
		bin:  "haproxy",
		// mode tcp with splice-auto: HAProxy splices when it sees it
		// pays, which for bulk is always.
		config: func(listen, backend, _ string) string {
			return fmt.Sprintf(`global
    nbthread %d
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    option splice-auto
frontend bench
    bind %s
    default_backend backend
backend backend
    server only %s
`, runtime.NumCPU(), listen, backend)
		},
		args: func(cfg, _ string) []string { return []string{"-db", "-f", cfg} },
		// Not -q, which silences the alerts that say why not. A
		// machine with more CPUs than its build's thread limit (64 for
		// 2.6) is one that cannot run this configuration.
		check: func(cfg, _ string) []string { return []string{"-c", "-f", cfg} },
		stop:  haproxyStop,
	},
	Nginx: {
		name: Nginx,
		bin:  "nginx",
		// The stream module relays TCP through user-space buffers (it
		// has no splice); Debian builds it as a dynamic module.
		// proxy_half_close (off by default) passes a FIN on instead of
		// closing both sides, which every other case here does too.
		config: func(listen, backend, dir string) string {
			return fmt.Sprintf(`daemon off;
worker_processes %d;
pid %s/nginx.pid;
error_log stderr warn;
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
events { worker_connections 16384; }
stream {
    server {
        listen %s;
        proxy_pass %s;
        proxy_timeout 1h;
        proxy_half_close on;
    }
}
`, runtime.NumCPU(), dir, listen, backend)
		},
		args: func(cfg, dir string) []string { return []string{"-e", "stderr", "-p", dir, "-c", cfg} },
		// -t loads the modules the configuration names, so an nginx
		// without its stream module fails here (dlopen() of
		// ngx_stream_module.so), not in the middle of a run.
		check: func(cfg, dir string) []string { return []string{"-t", "-q", "-e", "stderr", "-p", dir, "-c", cfg} },
		stop:  nginxStop,
	},
}

// availability says why x cannot run a case on this machine, or nil: it is
// not installed, or it refuses the configuration the case uses when asked
// to check it (nginx -t, haproxy -c), as nginx does without its stream
// module. The relay is asked rather than its packages guessed at, so an
// nginx with the module built in or installed elsewhere is taken as it is.
func (x external) availability(timeout time.Duration) error {
	bin, err := exec.LookPath(x.bin)
	if err != nil {
		return fmt.Errorf("not installed (no %s in PATH)", x.bin)
	}
	dir, err := os.MkdirTemp("", "ferry-bench-check-"+x.name)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// nginx -t binds the listen address, so give it a free one; nothing
	// dials the backend.
	listen, err := freeAddr()
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, x.name+".conf")
	if err := os.WriteFile(cfgPath, []byte(x.config(listen, "127.0.0.1:9", dir)), 0o600); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := x.check(cfgPath, dir)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		// One line, and the same from run to run: the scratch directory
		// is DIR.
		oneLine := func(s string) string {
			s = strings.ReplaceAll(strings.TrimSpace(s), dir, "DIR")
			return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
		}
		why := oneLine(string(out))
		if why == "" {
			why = "no output"
		}
		return fmt.Errorf("%s refuses the case's configuration (%v): %s", oneLine(commandLine(x.bin, args, "")), err, why)
	}
	return nil
}

// freeAddr returns a loopback address with a port free a moment ago, for a
// relay that cannot report a port the kernel chose.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startExternal runs x as one hop in front of backend.
func (p *plan) startExternal(ctx context.Context, s *setup, x external, backend string) (*setup, error) {
	bin, err := exec.LookPath(x.bin)
	if err != nil {
		return nil, fmt.Errorf("%s topology: %w (install it, or leave the topology out)", x.name, err)
	}
	// These relays cannot report a kernel-chosen port, so take a free one
	// and hand it over; the window in which another process could take it
	// is a few milliseconds.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir, err := os.MkdirTemp("", "ferry-bench-"+x.name)
	if err != nil {
		return nil, err
	}
	// The relay reads its configuration once, at start; nginx keeps its
	// pid file in dir until it exits, which kill and stop wait for.
	s.cleanup = append(s.cleanup, func() { os.RemoveAll(dir) })
	config := x.config(addr, backend, dir)
	cfgPath := filepath.Join(dir, x.name+".conf")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, err
	}
	args := x.args(cfgPath, dir)
	h, err := startFerry(bin, x.name, nil, args...)
	if err != nil {
		return nil, err
	}
	h.stopSig = x.stop
	s.procs = append(s.procs, h)
	s.commands = append(s.commands, commandLine(bin, args, "")+" # "+strings.ReplaceAll(strings.TrimSpace(config), "\n", "; "))
	// Wait for the listening socket without connecting to it: a probe
	// connection would reach the backend as a stream of its own.
	for !listening(port) {
		if ok, how := h.exited(); ok {
			s.kill()
			return nil, fmt.Errorf("%s %s before listening; its log ends:\n%s", x.name, how, h.logTail())
		}
		select {
		case <-ctx.Done():
			s.kill()
			return nil, fmt.Errorf("%s did not listen on %s: %w", x.name, addr, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	s.addr = addr
	return s, nil
}
