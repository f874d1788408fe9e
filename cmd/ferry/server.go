package main

import (
	"context"
	"flag"
	"io"
	"slices"

	"github.com/ferry-tunnel/ferry/relay"
)

// serverFlags defines the server's flags on a new FlagSet, bound to cfg, so
// that defining them sets cfg to the defaults and parsing sets only the flags
// given.
func serverFlags(cfg *relay.ServerConfig, file *string, lf *logFlags) *flag.FlagSet {
	fs := newFlagSet("server", "--token SECRET [--listen ADDR] [flags]")
	fs.StringVar(file, "c", "", "read settings from TOML `file` (keys in docs/config.md); flags given override it")
	fs.StringVar(&cfg.Listen, "listen", relay.DefaultListen, "`address` clients connect to, for control and data connections")
	tokenFlags(fs, &cfg.Token, &cfg.TokenFile, "shared `secret` clients must know (required: this, --token-file, $"+tokenEnv+" or -c, unless -c lists [[clients]] with their own; a flag shows in ps)")
	fs.StringVar(&cfg.Engine, "engine", "", "relay `engine` for public connections (see 'ferry engines'; default "+relay.DefaultEngine+")")
	fs.BoolVar(&cfg.TLS, "tls", false, "TLS 1.3 on the server port; without --tls-cert, a self-signed certificate kept in --state-dir, its fingerprint logged")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "server certificate PEM `file` (implies --tls)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "private key PEM `file` for --tls-cert")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "`directory` for the self-signed certificate (default $STATE_DIRECTORY, else $XDG_STATE_HOME/ferry, else ~/.local/state/ferry)")
	fs.BoolVar(&cfg.TLSData, "tls-data", false, "data connections over TLS too, encrypting relayed bytes (needs --tls and a user-space engine)")
	fs.StringVar(&cfg.ClientCA, "client-ca", "", "require client certificates signed by a CA in this PEM `file` (mutual TLS; needs --tls)")
	fs.StringVar(&cfg.PublicBind, "public-bind", "", "`host` public ports bind to, an address of this host (default --listen's host)")
	fs.StringVar(&cfg.PublicHost, "public-host", "", "`host` clients are told to reach public ports at, e.g. tunnel.example.com (default the bind address)")
	fs.StringVar(&cfg.AllowPorts, "allow-ports", "", "public `ports` clients may ask for, e.g. 6000-6100,8080 (default any)")
	fs.IntVar(&cfg.MaxHandshakesPerAddr, "max-handshakes-per-addr", relay.DefaultMaxHandshakes, "connections one source address may have on the server port before they authenticate")
	fs.IntVar(&cfg.MaxHandshakes, "max-handshakes", 0, "connections on the server port before they authenticate, all addresses (default 0: a quarter of the fd limit)")
	fs.IntVar(&cfg.MaxClients, "max-clients", 0, "client sessions held at once; one more is told to retry later (default 0: no bound)")
	fs.IntVar(&cfg.MaxTunnelsPerClient, "max-tunnels-per-client", relay.MaxTunnels, "tunnels each client may open")
	fs.IntVar(&cfg.MaxConns, "max-conns", 0, "public connections open at once, all tunnels; more are reset (default 0: as many as the fd limit allows)")
	fs.Func("bandwidth", "cap each tunnel at this `rate` each way, e.g. 10MB (bytes per second; kB, MB, GB, KiB, MiB, GiB); -c sets per-tunnel caps", func(v string) error {
		if _, err := relay.ParseRate(v); err != nil {
			return err
		}
		cfg.Bandwidth = slices.DeleteFunc(cfg.Bandwidth, func(r relay.BandwidthRule) bool { return r.Tunnel == "*" })
		cfg.Bandwidth = append(cfg.Bandwidth, relay.BandwidthRule{Tunnel: "*", Rate: v})
		return nil
	})
	fs.IntVar(&cfg.MaxConnsPerTunnel, "max-conns-per-tunnel", 0, "public connections open at once per tunnel (default 0: only --max-conns)")
	fs.IntVar(&cfg.AuthFailures, "auth-failures", relay.DefaultAuthFailures, "failed authentications a source address may make in a burst before it is refused")
	fs.DurationVar(&cfg.AuthFailurePeriod, "auth-failure-period", relay.DefaultAuthFailurePeriod, "a refused address earns one more try this often")
	fs.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", relay.DefaultHeartbeatInterval, "how often to send each client a heartbeat")
	fs.DurationVar(&cfg.HeartbeatTimeout, "heartbeat-timeout", relay.DefaultHeartbeatTimeout, "drop a client silent for this long")
	fs.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", relay.DefaultHandshakeTimeout, "bound on each read before a connection is authenticated")
	fs.DurationVar(&cfg.DataTimeout, "data-timeout", relay.DefaultDataTimeout, "how long a public connection waits for a data connection")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 0, "close a relayed connection idle this long (default never)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", relay.DefaultShutdownTimeout, "on SIGINT/SIGTERM, let live connections finish this long")
	lf.register(fs)
	return fs
}

// parseServer builds the server's config from args: the defaults, then the
// -c file if any, then the flags given; then it validates. A config error
// names what the user typed (configerr.go).
func parseServer(args []string, stderr io.Writer) (relay.ServerConfig, error) {
	cfg, origin, err := loadServer(args, stderr)
	return cfg, origin.explain(err)
}

// loadServer is parseServer, returning where each setting came from and the
// error as relay gave it.
func loadServer(args []string, stderr io.Writer) (relay.ServerConfig, *configOrigin, error) {
	var (
		cfg  relay.ServerConfig
		file string
		lf   logFlags
	)
	fs := serverFlags(&cfg, &file, &lf)
	if err := parseFlags(fs, args); err != nil {
		return cfg, &configOrigin{}, err
	}
	if file != "" {
		// Defining the flags again resets cfg to the defaults, the file
		// overrides those, and parsing again applies only the flags that
		// appear in args, which already parsed once without error.
		path := file // defining the flags resets file too
		cfg = relay.ServerConfig{}
		fs = serverFlags(&cfg, &file, &lf)
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

func runServer(args []string, stdout, stderr io.Writer) int {
	cfg, origin, err := loadServer(args, stderr)
	if err != nil {
		return startError("server", origin.explain(err), stdout, stderr)
	}
	log := cfg.Logger
	srv, err := relay.NewServer(cfg)
	if err != nil {
		if isConfigError(err) {
			return startError("server", origin.explain(err), stdout, stderr)
		}
		log.Error("cannot start server", "err", err)
		return exitFatal
	}
	sigs, stop := notifySignals()
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()

	select {
	case err := <-served:
		// Serve only returns after Shutdown or Close; nothing else calls
		// them, so this is a bug worth saying out loud.
		log.Error("server stopped unexpectedly", "err", err)
		srv.Close()
		return exitFatal
	case sig := <-sigs:
		log.Info("shutting down; a second signal exits at once", "signal", sig.String(), "timeout", cfg.ShutdownTimeout)
		exitOnSecondSignal(sigs, log)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	<-served
	log.Info("server stopped", countersAttr(srv.Counters()))
	return exitOK
}
