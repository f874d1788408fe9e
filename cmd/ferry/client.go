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
	raw []string // the specs as given, for errors
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
		// The flag package names the flag and value already.
		var ce *relay.ConfigError
		if errors.As(err, &ce) {
			return errors.New(ce.Message(nil))
		}
		return err
	}
	if !f.set {
		*f.dst, f.raw, f.set = nil, nil, true
	}
	*f.dst = append(*f.dst, t)
	f.raw = append(f.raw, s)
	return nil
}

// clientFlags defines the client's flags on a new FlagSet, bound to cfg, as
// serverFlags does.
func clientFlags(cfg *relay.ClientConfig, file *string, lf *logFlags) *flag.FlagSet {
	fs := newFlagSet("client", "--server HOST:PORT --token SECRET --tunnel NAME=LOCAL_HOST:LOCAL_PORT:PUBLIC_PORT... [flags]")
	fs.StringVar(file, "c", "", "read settings from TOML `file` (keys in docs/config.md); flags given override it")
	fs.StringVar(&cfg.Server, "server", "", "ferry server `address`, host:port (required)")
	tokenFlags(fs, &cfg.Token, &cfg.TokenFile, "the server's shared `secret` (required: this, --token-file, $"+tokenEnv+" or -c; a flag shows in ps)")
	fs.StringVar(&cfg.ID, "id", "", "client `name`, one per client: a second live client with the same id is refused, a restarted one takes over its dead session (default the host name)")
	fs.Var(&tunnelsFlag{dst: &cfg.Tunnels}, "tunnel", "local service to expose, as a `spec` NAME=LOCAL_HOST:LOCAL_PORT:PUBLIC_PORT (PUBLIC_PORT 0: the server picks); repeatable")
	fs.IntVar(&cfg.Pool, "pool", relay.DefaultPool, "idle data connections kept ready per tunnel; 0 disables")
	fs.StringVar(&cfg.Engine, "engine", "", "relay `engine` for local connections (see 'ferry engines'; default "+relay.DefaultEngine+")")
	clientTLSFlags(fs, cfg)
	fs.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", relay.DefaultHeartbeatInterval, "how often to send the server a heartbeat")
	fs.DurationVar(&cfg.HeartbeatTimeout, "heartbeat-timeout", relay.DefaultHeartbeatTimeout, "reconnect when the server is silent this long")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", relay.DefaultDialTimeout, "bound on dials to the server and local services, and the handshake")
	fs.DurationVar(&cfg.ReconnectMin, "reconnect-min", relay.DefaultReconnectMin, "first wait before reconnecting; doubles on each failure")
	fs.DurationVar(&cfg.ReconnectMax, "reconnect-max", relay.DefaultReconnectMax, "longest wait before reconnecting")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 0, "close a relayed connection idle this long (default never)")
	lf.register(fs)
	return fs
}

// clientTLSFlags defines the flags for TLS with the server, which client and
// expose share.
func clientTLSFlags(fs *flag.FlagSet, cfg *relay.ClientConfig) {
	fs.BoolVar(&cfg.TLS, "tls", false, "connect over TLS 1.3, trusting the system's CAs (--ca, --server-fingerprint, --server-name and --tls-cert imply it)")
	fs.StringVar(&cfg.CA, "ca", "", "trust server certificates signed by a CA in this PEM `file` (a self-signed server's own certificate works)")
	fs.StringVar(&cfg.ServerFingerprint, "server-fingerprint", "", "trust only the server certificate with this SHA-256 `fingerprint` (64 hex digits, as the server logs it)")
	fs.StringVar(&cfg.ServerName, "server-name", "", "`name` the server certificate must carry (default --server's host)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "client certificate PEM `file`, for a server that requires one")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "private key PEM `file` for --tls-cert")
}

// parseClient builds the client's config from args as parseServer does.
func parseClient(args []string, stderr io.Writer) (relay.ClientConfig, error) {
	cfg, origin, err := loadClient(args, stderr)
	return cfg, origin.explain(err)
}

// loadClient is parseClient, returning where each setting came from and the
// error as relay gave it.
func loadClient(args []string, stderr io.Writer) (relay.ClientConfig, *configOrigin, error) {
	var (
		cfg  relay.ClientConfig
		file string
		lf   logFlags
	)
	fs := clientFlags(&cfg, &file, &lf)
	if err := parseFlags(fs, args); err != nil {
		return cfg, &configOrigin{}, err
	}
	if file != "" {
		path := file // defining the flags resets file too
		cfg = relay.ClientConfig{}
		fs = clientFlags(&cfg, &file, &lf)
		if err := relay.LoadTOML(path, &cfg); err != nil {
			return cfg, &configOrigin{file: path}, err
		}
		if err := fs.Parse(args); err != nil {
			return cfg, &configOrigin{file: path}, err
		}
	}
	origin := newConfigOrigin(fs, file)
	if err := origin.applyToken(&cfg.Token, &cfg.TokenFile); err != nil {
		return cfg, origin, err
	}
	cfg.Logger = lf.logger(stderr)
	return cfg, origin, cfg.Validate()
}

func runClient(args []string, stdout, stderr io.Writer) int {
	cfg, origin, err := loadClient(args, stderr)
	if err != nil {
		return startError("client", origin.explain(err), stdout, stderr)
	}
	return serveClient("client", cfg, origin, stdout, stderr, nil)
}

// serveClient runs a client with cfg, valid, until a signal or a failure
// retrying cannot fix, and returns the exit status. started, when not nil,
// runs on a goroutine of its own once the client runs, with a context that
// ends with it.
func serveClient(name string, cfg relay.ClientConfig, origin *configOrigin, stdout, stderr io.Writer, started func(context.Context, *relay.Client)) int {
	log := cfg.Logger
	cl, err := relay.NewClient(cfg)
	if err != nil {
		if isConfigError(err) {
			return startError(name, origin.explain(err), stdout, stderr)
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
	if started != nil {
		go started(ctx, cl)
	}

	select {
	case err := <-ran:
		// Run gives up only on what retrying in this process cannot fix.
		// Every such refusal by the server exits 1, as a wrong token
		// always has, not 2 (a config error, which a supervisor should
		// not restart): it depends on the server's state or config as
		// much as on this client's, and passes once that changes (the
		// other client with this id stops, the server's allow_ports or
		// token is fixed). The example unit's Restart=on-failure then
		// tries again every RestartSec, each try logging why and costing
		// the server one refused login, and comes up by itself.
		cl.Close()
		msg := "client stopped"
		switch {
		case errors.Is(err, relay.ErrAuthFailed):
			msg = "the server refused the token; check --token"
		case errors.Is(err, relay.ErrTLS):
			msg = "TLS with the server failed; check --tls, --ca, --server-fingerprint or --tls-cert"
		case errors.Is(err, relay.ErrLockedOut):
			msg = "the server refuses this address for now after failed logins (wrong token?); check --token"
		case errors.Is(err, relay.ErrIDInUse):
			msg = "a live client already uses this id; give each client its own --id"
		case errors.Is(err, relay.ErrTunnelsRefused):
			msg = "the server refused every tunnel; the errors above say what to change"
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
