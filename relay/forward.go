package relay

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// ForwardConfig configures a Forwarder. Listen and To must be set; every
// other zero field means the documented default.
type ForwardConfig struct {
	Listen string // address to accept on
	To     string // address every accepted connection is relayed to
	// Engine names the relay engine. Zero means DefaultEngine.
	Engine string
	// IdleTimeout as in ServerConfig. Zero means never.
	IdleTimeout time.Duration
	// DialTimeout bounds the dial to To. Zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// Logger receives the forwarder's log. Nil discards.
	Logger *slog.Logger
}

// Validate checks the config and fills zero fields with their defaults.
func (c *ForwardConfig) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return configErr("listen", "%q is not host:port: %v", c.Listen, err)
	}
	if _, _, err := net.SplitHostPort(c.To); err != nil {
		return configErr("to", "%q is not host:port: %v", c.To, err)
	}
	if c.Engine == "" {
		c.Engine = DefaultEngine
	}
	if err := defaultDuration("idle_timeout", &c.IdleTimeout, 0); err != nil {
		return err
	}
	if err := defaultDuration("dial_timeout", &c.DialTimeout, DefaultDialTimeout); err != nil {
		return err
	}
	if c.Logger == nil {
		c.Logger = discardLogger
	}
	return nil
}

// A Forwarder is a one-hop TCP relay over an engine: every connection
// accepted on Listen is relayed to a new connection to To. It measures an
// engine without the tunnel around it.
type Forwarder struct {
	cfg    ForwardConfig
	ln     *net.TCPListener
	engine Engine
	count  *counters
	wg     sync.WaitGroup
	relays sync.WaitGroup
	once   sync.Once
	done   chan struct{} // closed by stop
}

const (
	fcAccepted = iota
	fcDialFailures
	fcRelaysDone
)

// NewForwarder validates cfg, makes its engine and binds Listen.
func NewForwarder(cfg ForwardConfig) (*Forwarder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e, err := NewEngine(cfg.Engine, Options{IdleTimeout: cfg.IdleTimeout, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("relay: forward listen: %w", err)
	}
	return &Forwarder{cfg: cfg, ln: ln.(*net.TCPListener), engine: e,
		done:  make(chan struct{}),
		count: newCounters("accepted", "dial_failures", "relays_done")}, nil
}

// Addr is the address the forwarder accepts on.
func (f *Forwarder) Addr() net.Addr { return f.ln.Addr() }

// Counters returns the forwarder's event counts and its engine's.
func (f *Forwarder) Counters() map[string]uint64 { return f.count.snapshot(f.engine, nil) }

// Serve accepts until Shutdown or Close, then returns ErrServerClosed.
func (f *Forwarder) Serve() error {
	f.cfg.Logger.Info("ferry forward listening", "addr", f.ln.Addr().String(), "to", f.cfg.To, "engine", f.cfg.Engine)
	var delay time.Duration
	for {
		in, err := f.ln.AcceptTCP()
		if err != nil {
			select {
			case <-f.done:
				return ErrServerClosed
			default:
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			f.cfg.Logger.Warn("accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		f.count.add(fcAccepted)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			out, err := net.DialTimeout("tcp", f.cfg.To, f.cfg.DialTimeout)
			if err != nil {
				f.count.add(fcDialFailures)
				f.cfg.Logger.Warn("dial failed; connection reset", "to", f.cfg.To, "err", err)
				abort(in)
				return
			}
			f.relays.Add(1)
			f.engine.Relay(in, out.(*net.TCPConn), func(Result) {
				f.count.add(fcRelaysDone)
				f.relays.Done()
			})
		}()
	}
}

// Shutdown stops accepting, lets live relays finish until ctx is done, then
// closes the rest.
func (f *Forwarder) Shutdown(ctx context.Context) error {
	f.stop()
	f.wg.Wait() // no relay starts after this, so relays.Wait is sound
	waitCtx(ctx, &f.relays)
	return f.Close()
}

// Close stops accepting and ends every live relay.
func (f *Forwarder) Close() error {
	f.stop()
	f.wg.Wait()
	err := f.engine.Close()
	f.relays.Wait()
	return err
}

func (f *Forwarder) stop() {
	f.once.Do(func() {
		close(f.done)
		f.ln.Close()
	})
}
