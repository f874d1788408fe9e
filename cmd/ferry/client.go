package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ferry-tunnel/ferry/relay"
)

// tunnelsFlag collects repeated --tunnel flags into dst. The first --tunnel
// replaces the tunnels a config file listed, so the tunnels come from the
// command line or from the file, never a mix.
type tunnelsFlag struct {
	dst *[]relay.TunnelConfig
	set bool
}

func (f *tunnelsFlag) String() string {
	if f == nil || f.dst == nil {
		return ""
	}
	var s []string
	for _, t := range *f.dst {
		s = append(s, fmt.Sprintf("%s=%s:%d", t.Name, t.Local, t.PublicPort))
	}
	return strings.Join(s, " ")
}

func (f *tunnelsFlag) Set(s string) error {
	t, err := relay.ParseTunnel(s)
	if err != nil {
		return err
	}
	if !f.set {
		*f.dst, f.set = nil, true
	}
	*f.dst = append(*f.dst, t)
	return nil
}

// clientFlags defines the client's flags on a new FlagSet, bound to cfg, as
// serverFlags does.
func clientFlags(cfg *relay.ClientConfig, file *string, lf *logFlags) *flag.FlagSet {
	fs := newFlagSet("client", "--server HOST:PORT --token SECRET --tunnel NAME=LOCAL_HOST:LOCAL_PORT:PUBLIC_PORT... [flags]")
	fs.StringVar(file, "c", "", "read settings from TOML `file` (keys in docs/config.md); flags given override it")
	fs.StringVar(&cfg.Server, "server", "", "ferry server `address`, host:port (required)")
	fs.StringVar(&cfg.Token, "token", "", "shared `secret` (required; -c keeps it out of ps)")
	fs.StringVar(&cfg.ID, "id", "", "client `name`; a new session with the same id replaces the old one (default the host name)")
	fs.Var(&tunnelsFlag{dst: &cfg.Tunnels}, "tunnel", "local service to expose, as a `spec` NAME=LOCAL_HOST:LOCAL_PORT:PUBLIC_PORT (PUBLIC_PORT 0: the server picks); repeatable")
	fs.IntVar(&cfg.Pool, "pool", relay.DefaultPool, "idle data connections kept ready per tunnel; 0 disables")
	fs.StringVar(&cfg.Engine, "engine", "", "relay `engine` for local connections (see 'ferry engines'; default "+relay.DefaultEngine+")")
	fs.BoolVar(&cfg.TLS, "tls", false, "connect over TLS 1.3, trusting the system's CAs (--ca, --server-fingerprint, --server-name and --tls-cert imply it)")
	fs.StringVar(&cfg.CA, "ca", "", "trust server certificates signed by a CA in this PEM `file` (a self-signed server's own certificate works)")
	fs.StringVar(&cfg.ServerFingerprint, "server-fingerprint", "", "trust only the server certificate with this SHA-256 `fingerprint` (64 hex digits, as the server logs it)")
	fs.StringVar(&cfg.ServerName, "server-name", "", "`name` the server certificate must carry (default --server's host)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "client certificate PEM `file`, for a server that requires one")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "private key PEM `file` for --tls-cert")
	fs.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", relay.DefaultHeartbeatInterval, "how often to send the server a heartbeat")
	fs.DurationVar(&cfg.HeartbeatTimeout, "heartbeat-timeout", relay.DefaultHeartbeatTimeout, "reconnect when the server is silent this long")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", relay.DefaultDialTimeout, "bound on dials to the server and local services, and the handshake")
	fs.DurationVar(&cfg.ReconnectMin, "reconnect-min", relay.DefaultReconnectMin, "first wait before reconnecting; doubles on each failure")
	fs.DurationVar(&cfg.ReconnectMax, "reconnect-max", relay.DefaultReconnectMax, "longest wait before reconnecting")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 0, "close a relayed connection idle this long (default never)")
	lf.register(fs)
	return fs
}

// parseClient builds the client's config from args as parseServer does.
func parseClient(args []string, stderr io.Writer) (relay.ClientConfig, error) {
	var (
		cfg  relay.ClientConfig
		file string
		lf   logFlags
	)
	if err := parseFlags(clientFlags(&cfg, &file, &lf), args); err != nil {
		return cfg, err
	}
	if file != "" {
		path := file // defining the flags resets file too
		cfg = relay.ClientConfig{}
		fs := clientFlags(&cfg, &file, &lf)
		if err := relay.LoadTOML(path, &cfg); err != nil {
			return cfg, err
		}
		if err := fs.Parse(args); err != nil {
			return cfg, err
		}
	}
	cfg.Logger = lf.logger(stderr)
	return cfg, cfg.Validate()
}

func runClient(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseClient(args, stderr)
	if err != nil {
		return startError("client", err, stdout, stderr)
	}
	log := cfg.Logger
	cl, err := relay.NewClient(cfg)
	if err != nil {
		if isConfigError(err) {
			return startError("client", err, stdout, stderr)
		}
		log.Error("cannot start client", "err", err)
		return exitFatal
	}
	sigs, stop := notifySignals()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- cl.Run(ctx) }()

	select {
	case err := <-ran:
		// Run gives up only on what retrying cannot fix.
		cl.Close()
		msg := "client stopped"
		switch {
		case errors.Is(err, relay.ErrAuthFailed):
			msg = "the server refused the token; check --token"
		case errors.Is(err, relay.ErrTLS):
			msg = "TLS with the server failed; check --tls, --ca, --server-fingerprint or --tls-cert"
		case errors.Is(err, relay.ErrConfig):
			// The server asked for what this config cannot do (TLS data
			// connections with a raw-socket engine): a usage error, so a
			// supervisor that restarts on failure does not loop on it.
			log.Error("the server's settings need another client config", "err", err)
			return exitUsage
		}
		log.Error(msg, "err", err)
		return exitFatal
	case sig := <-sigs:
		log.Info("shutting down; a second signal exits at once", "signal", sig.String(), "timeout", relay.DefaultShutdownTimeout)
		exitOnSecondSignal(sigs, log)
	}
	cancel()
	<-ran
	sctx, scancel := context.WithTimeout(context.Background(), relay.DefaultShutdownTimeout)
	defer scancel()
	if err := cl.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	log.Info("client stopped", countersAttr(cl.Counters()))
	return exitOK
}
