package main

import (
	"context"
	"io"

	"github.com/ferry-tunnel/ferry/relay"
)

func parseForward(args []string, stderr io.Writer) (relay.ForwardConfig, error) {
	var (
		cfg relay.ForwardConfig
		lf  logFlags
	)
	fs := newFlagSet("forward", "--listen ADDR --to ADDR [flags]")
	fs.StringVar(&cfg.Listen, "listen", "", "`address` to accept on (required)")
	fs.StringVar(&cfg.To, "to", "", "`address` every accepted connection is relayed to (required)")
	fs.StringVar(&cfg.Engine, "engine", relay.DefaultEngine, "relay `engine` (see 'ferry engines')")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 0, "close a relayed connection idle this long (default never)")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", relay.DefaultDialTimeout, "bound on each dial to --to")
	lf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return cfg, err
	}
	cfg.Logger = lf.logger(stderr)
	return cfg, newConfigOrigin(fs, "").explain(cfg.Validate())
}

func runForward(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseForward(args, stderr)
	if err != nil {
		return startError("forward", err, stdout, stderr)
	}
	log := cfg.Logger
	f, err := relay.NewForwarder(cfg)
	if err != nil {
		if isConfigError(err) {
			return startError("forward", err, stdout, stderr)
		}
		log.Error("cannot start forwarder", "err", err)
		return exitFatal
	}
	sigs, stop := notifySignals()
	defer stop()
	served := make(chan error, 1)
	go func() { served <- f.Serve() }()

	select {
	case err := <-served:
		log.Error("forwarder stopped unexpectedly", "err", err)
		f.Close()
		return exitFatal
	case sig := <-sigs:
		log.Info("shutting down; a second signal exits at once", "signal", sig.String(), "timeout", relay.DefaultShutdownTimeout)
		exitOnSecondSignal(sigs, log)
	}
	ctx, cancel := context.WithTimeout(context.Background(), relay.DefaultShutdownTimeout)
	defer cancel()
	if err := f.Shutdown(ctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	<-served
	log.Info("forwarder stopped", countersAttr(f.Counters()))
	return exitOK
}
