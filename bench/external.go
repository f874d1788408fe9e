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
		stop: haproxyStop,
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
		stop: nginxStop,
	},
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
