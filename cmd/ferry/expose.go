package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/ferry-tunnel/ferry/relay"
)

// runExpose is the one-line way to expose a port, as bore, chisel or ngrok
// users expect: `ferry expose 8080 --server host:7000`, the token from the
// environment or a file. It is a client with one tunnel whose name, id and
// public port are chosen for the user, and it prints the public address on
// stdout, one line each time it changes, for scripts; the log goes to
// stderr.
func runExpose(args []string, stdout, stderr io.Writer) int {
	cfg, origin, err := loadExpose(args, stderr)
	if err != nil {
		return startError("expose", origin.explain(err), stdout, stderr)
	}
	name := cfg.Tunnels[0].Name
	server, _, _ := net.SplitHostPort(cfg.Server)
	return serveClient("expose", cfg, origin, stdout, stderr, func(ctx context.Context, cl *relay.Client) {
		for prev := ""; ; {
			addr, err := cl.NextTunnelAddr(ctx, name, prev)
			if err != nil {
				return
			}
			fmt.Fprintln(stdout, reachable(addr, server))
			prev = addr
		}
	})
}

// reachable is the public address to print: addr as the server announced
// it, but for a server without public_host that bound all its addresses
// (0.0.0.0 or ::), whose announced host nobody can dial, the host this
// client reached the server at, which the public port then listens on too.
func reachable(addr, server string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsUnspecified() {
		return net.JoinHostPort(server, port)
	}
	return addr
}

// exposeFlags defines expose's flags on a new FlagSet, bound to cfg.
func exposeFlags(cfg *relay.ClientConfig, t *relay.TunnelConfig, lf *logFlags) *flag.FlagSet {
	fs := newFlagSet("expose", "[HOST:]PORT --server HOST:PORT [flags]")
	fs.StringVar(&cfg.Server, "server", "", "ferry server `address`, host:port (required)")
	tokenFlags(fs, &cfg.Token, &cfg.TokenFile, "the server's `secret` (required: this, --token-file or $"+tokenEnv+"; a flag shows in ps)")
	fs.StringVar(&t.Name, "name", "", "tunnel `name` on the server (default HOSTNAME-PORT)")
	fs.IntVar(&t.PublicPort, "public-port", 0, "public `port` to ask the server for (default 0: the server picks)")
	fs.StringVar(&cfg.ID, "id", "", "client `name` (default the tunnel name, so it does not collide with a ferry client on this host)")
	fs.StringVar(&cfg.Engine, "engine", "", "relay `engine` for local connections (see 'ferry engines'; default "+relay.DefaultEngine+")")
	clientTLSFlags(fs, cfg)
	lf.register(fs)
	return fs
}

// loadExpose builds expose's client config from args: the flags, and the
// one argument, the local port or host:port.
func loadExpose(args []string, stderr io.Writer) (relay.ClientConfig, *configOrigin, error) {
	var (
		cfg relay.ClientConfig
		t   relay.TunnelConfig
		lf  logFlags
	)
	fs := exposeFlags(&cfg, &t, &lf)
	pos, err := parseArgs(fs, args, 1)
	origin := newConfigOrigin(fs, "")
	if err != nil {
		return cfg, origin, err
	}
	if len(pos) == 0 {
		return cfg, origin, &usageError{cmd: fs.Name(), msg: "which port? give it as an argument: ferry expose 8080 --server HOST:PORT"}
	}
	origin.target = pos[0]
	t.Local = pos[0]
	if _, err := strconv.Atoi(pos[0]); err == nil {
		t.Local = net.JoinHostPort("127.0.0.1", pos[0])
	} else if !strings.Contains(pos[0], ":") {
		return cfg, origin, &usageError{cmd: fs.Name(), msg: fmt.Sprintf("argument %q: want a port (8080) or HOST:PORT", pos[0])}
	}
	if err := origin.applyToken(&cfg.Token, &cfg.TokenFile); err != nil {
		return cfg, origin, err
	}
	if t.Name == "" {
		t.Name = defaultExposeName(t.Local)
	}
	if cfg.ID == "" {
		cfg.ID = t.Name
	}
	cfg.Tunnels = []relay.TunnelConfig{t}
	cfg.Pool = relay.DefaultPool
	cfg.Logger = lf.logger(stderr)
	return cfg, origin, cfg.Validate()
}

// defaultExposeName names the tunnel after this host and the local port,
// which is unique on the server as long as host names are: HOSTNAME-PORT,
// cut to the longest name the protocol carries.
func defaultExposeName(local string) string {
	_, port, _ := net.SplitHostPort(local)
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "expose"
	}
	host, _, _ = strings.Cut(host, ".") // the short name
	suffix := "-" + port
	if len(host)+len(suffix) > relay.MaxNameLen {
		host = host[:relay.MaxNameLen-len(suffix)]
	}
	return host + suffix
}
