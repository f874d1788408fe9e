package relay

import (
	"context"
	"crypto/hmac"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Client counters (Client.Counters), in this order.
const (
	ccSessions = iota
	ccDisconnects
	ccTunnelsReady
	ccTunnelsRefused
	ccDataDials
	ccDataDialFailures
	ccDataRefused
	ccDataDiedIdle
	ccStarts
	ccLocalDialFailures
	ccRelaysDone
	ccTLSResumed
)

var clientCounterNames = []string{
	"sessions", "disconnects", "tunnels_ready", "tunnels_refused", "data_dials",
	"data_dial_failures", "data_refused", "data_died_idle", "starts",
	"local_dial_failures", "relays_done", "data_tls_resumed",
}

// A Client keeps a session with a ferry server, registers its tunnels and
// serves public connections by pairing a data connection to the server with
// a connection to the local service, through its engine.
type Client struct {
	cfg    ClientConfig
	log    *slog.Logger
	engine Engine
	opts   Options
	tls    *tls.Config // nil without TLS
	count  *counters
	relays sync.WaitGroup

	mu      sync.Mutex
	ready   map[string]string // tunnel name → public address, this session
	changed chan struct{}     // closed and replaced when ready changes
	// streams relays pairs with a TLS data connection, made on the first
	// session whose server asks for TLS data connections (streamEngine).
	streams StreamRelayer
}

// NewClient validates cfg and makes its engine. Call Run to connect.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var tlsCfg *tls.Config
	if cfg.TLS {
		var err error
		if tlsCfg, err = cfg.clientTLS(); err != nil {
			return nil, err
		}
	}
	opts := Options{IdleTimeout: cfg.IdleTimeout, Logger: cfg.Logger}
	e, err := NewEngine(cfg.Engine, opts)
	if err != nil {
		return nil, err
	}
	warnTokens(cfg.Logger, cfg.tokenFile, map[string]string{"token": cfg.Token})
	return &Client{
		cfg:     cfg,
		log:     cfg.Logger.With("client_id", cfg.ID),
		engine:  e,
		opts:    opts,
		tls:     tlsCfg,
		count:   newCounters(clientCounterNames...),
		ready:   make(map[string]string),
		changed: make(chan struct{}),
	}, nil
}

// Counters returns the client's event counts and its engine's.
func (c *Client) Counters() map[string]uint64 {
	c.mu.Lock()
	sr := c.streams
	c.mu.Unlock()
	return c.count.snapshot(c.engine, sr)
}

// streamRelayer returns what relays TLS data connections, making it on
// first use.
func (c *Client) streamRelayer() (StreamRelayer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streams == nil {
		sr, err := streamEngine(c.engine, c.cfg.Engine, c.cfg.engineNamed, c.opts)
		if err != nil {
			return nil, err
		}
		c.streams = sr
	}
	return c.streams, nil
}

// Run connects to the server and serves until ctx is cancelled, reconnecting
// with exponential backoff and jitter whenever the session is lost. It
// returns nil once ctx is cancelled, or an error that retrying cannot fix: a
// wrong token (ErrAuthFailed), a protocol version the server does not speak
// (ErrBadVersion), a TLS certificate that does not verify or a server that
// refuses TLS as configured (ErrTLS), an engine that cannot relay the
// TLS data connections the server asks for (ErrConfig), a live client with
// the same id (ErrIDInUse), every tunnel refused for a reason retrying
// cannot fix (ErrTunnelsRefused), or a source address the server has locked
// out after failed logins before this Run ever authenticated (ErrLockedOut:
// most likely this client's own wrong token). Relays already running go on
// after Run returns; Shutdown or Close ends them.
func (c *Client) Run(ctx context.Context) error {
	b := backoff{min: c.cfg.ReconnectMin, max: c.cfg.ReconnectMax}
	everAuthed := false
	for {
		authed, err := c.session(ctx)
		c.setReady("", "")
		if ctx.Err() != nil {
			return nil
		}
		everAuthed = everAuthed || authed
		if errors.Is(err, ErrAuthFailed) || errors.Is(err, ErrBadVersion) || errors.Is(err, ErrTLS) || errors.Is(err, ErrConfig) ||
			errors.Is(err, ErrIDInUse) || errors.Is(err, ErrTunnelsRefused) {
			return err // the caller reports it
		}
		if errors.Is(err, ErrLockedOut) && !everAuthed {
			// Never in: the failed logins that locked the address out
			// were most likely this client's own, a wrong token, which
			// must stay fatal. A client that had a session has the
			// right token; someone else on its address spent the tries,
			// and it waits them out below.
			return err
		}
		if authed {
			c.count.add(ccDisconnects)
			// The server replaces a session only when it did not answer
			// a ping: this client froze or its network stalled while
			// another with its id connected. Reconnecting then meets
			// that client (ErrIDInUse) if it is alive. A server from
			// before the ping replaces live sessions too, and two
			// clients with one id would replace each other forever:
			// keep backing off so they do it slowly, and say why.
			if !errors.Is(err, errReplaced) {
				b.reset()
			}
		}
		d := b.next()
		switch {
		case errors.Is(err, errReplaced):
			c.log.Error("another client with this id took over the session while this one did not answer; is the id unique?", "id", c.cfg.ID, "reconnect_in", d.Round(time.Millisecond))
		case errors.Is(err, ErrLockedOut):
			c.log.Warn("the server refuses this address for now after failed logins from it (not this client's: its token worked before); reconnecting",
				"err", err, "in", d.Round(time.Millisecond))
		default:
			c.log.Warn("no session with the server; reconnecting", "err", err, "in", d.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
	}
}

// WaitTunnel blocks until the tunnel is registered in the current session and
// returns its public address as the server announced it (public_host and
// the port, or the address it bound).
func (c *Client) WaitTunnel(ctx context.Context, name string) (string, error) {
	return c.NextTunnelAddr(ctx, name, "")
}

// NextTunnelAddr is WaitTunnel for an address other than prev: it blocks
// until the tunnel is registered at another address than prev, as after a
// reconnection to a server that gave a port-0 tunnel another port.
func (c *Client) NextTunnelAddr(ctx context.Context, name, prev string) (string, error) {
	for {
		c.mu.Lock()
		addr, ch := c.ready[name], c.changed
		c.mu.Unlock()
		if addr != "" && addr != prev {
			return addr, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-ch:
		}
	}
}

// setReady records a registered tunnel; an empty name forgets them all.
func (c *Client) setReady(name, addr string) {
	if name != "" {
		c.noteBindAddr(name, addr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if name == "" {
		clear(c.ready)
	} else {
		c.ready[name] = addr
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// noteBindAddr follows "tunnel NAME ready at ADDR" with a note when ADDR is
// the server's bind address on all interfaces (0.0.0.0 or ::), which is no
// address to connect to: the server has no public_host to announce instead.
func (c *Client) noteBindAddr(name, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsUnspecified() {
		return
	}
	c.log.Info("tunnel "+name+": "+addr+" is the server's bind address, not one to connect to: use the server's host with port "+port+", or set --public-host on the server to show a reachable one",
		"tunnel", name, "public_addr", addr)
}

// Shutdown lets live relays finish until ctx is done, then closes the rest.
// Call it after Run has returned.
func (c *Client) Shutdown(ctx context.Context) error {
	if !waitCtx(ctx, &c.relays) {
		c.log.Warn("shutdown deadline reached; closing live relays")
	}
	return c.Close()
}

// Close ends every live relay and frees the engine. Call it after Run has
// returned.
func (c *Client) Close() error {
	err := c.engine.Close()
	c.mu.Lock()
	closeStreams(c.engine, c.streams)
	c.mu.Unlock()
	c.relays.Wait()
	return err
}

// A csession is the client's side of one authenticated control connection.
type csession struct {
	c    *Client
	conn net.Conn     // frames: raw, or TLS over it
	raw  *net.TCPConn // closed to end the session
	id   [16]byte
	key  []byte
	// streams relays this session's pairs when the server wants TLS data
	// connections; nil when they are plain.
	streams StreamRelayer
	seq     atomic.Uint64
	ctx     context.Context // cancelled when the session ends
	wg      sync.WaitGroup  // heartbeat, data dials, retry timers

	wmu sync.Mutex

	mu      sync.Mutex
	tunnels map[string]*ctunnel
	byID    map[uint32]*ctunnel
	waiting map[*net.TCPConn]struct{} // data connections waiting for "start", by raw socket
	// needs are the data connections the server asked for (NeedData) and
	// not yet dialled, oldest first; dialers dial them, at most maxDialers
	// at once.
	needs   []*ctunnel
	dialers int
}

// maxDialers bounds the data connections a session dials at once for
// NeedData; the rest wait in csession.needs. A dialer is busy for about one
// round trip (the TCP handshake; the header follows without waiting), so a
// burst drains at up to maxDialers per round trip: 1,280 a second at 50 ms.
// More at once buys nothing on loopback and costs CPU: 2,000 public
// connections at once drained in 0.57-0.60 s at 0.92-0.98 CPU-s (server and
// client) with 8 to 128, and in 0.83 s at 1.12 CPU-s with 1,024, the old
// bound (medians of 5, interleaved, on the 2-core test VM). Every one is in
// its handshake on the server until its header is read, where it counts
// against the client address's max_handshakes_per_addr (256).
const maxDialers = 64

// maxNeeds bounds csession.needs per tunnel: the server asks once per public
// connection waiting, and never has more than MaxWaiting waiting per tunnel.
const maxNeeds = MaxWaiting

type ctunnel struct {
	cfg     TunnelConfig
	id      uint32 // 0 until registered
	retry   backoff
	timer   *time.Timer
	refused bool // refused for a reason retrying cannot fix: not asked again this session
	needed  int  // its entries in csession.needs, under csession.mu
}

// session runs one session to its end. authed reports whether it got past
// authentication.
func (c *Client) session(ctx context.Context) (authed bool, err error) {
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", c.cfg.Server)
	if err != nil {
		return false, &opError{"dial server", err}
	}
	raw := nc.(*net.TCPConn)
	sctx, cancel := context.WithCancel(ctx)
	s := &csession{
		c:       c,
		raw:     raw,
		ctx:     sctx,
		tunnels: make(map[string]*ctunnel),
		byID:    make(map[uint32]*ctunnel),
		waiting: make(map[*net.TCPConn]struct{}),
	}
	stop := context.AfterFunc(sctx, func() { raw.Close() })
	defer func() {
		cancel()
		stop()
		raw.Close()
		s.end()
	}()

	raw.SetDeadline(time.Now().Add(c.cfg.DialTimeout))
	if s.conn, err = c.secure(raw); err != nil {
		return false, err
	}
	tlsData, err := s.authenticate()
	if err != nil {
		return false, tlsRefused(err)
	}
	if tlsData {
		// Before any tunnel: an engine that cannot relay them is a
		// configuration error, not something to find per connection.
		if s.streams, err = c.streamRelayer(); err != nil {
			return false, err
		}
	}
	raw.SetDeadline(time.Time{})
	setKeepAlive(raw)
	c.count.add(ccSessions)
	c.log.Info("connected to server", "server", c.cfg.Server, "tls", c.tls != nil, "tls_data", tlsData)

	for _, tc := range c.cfg.Tunnels {
		t := &ctunnel{cfg: tc, retry: backoff{min: c.cfg.ReconnectMin, max: c.cfg.ReconnectMax}}
		s.tunnels[tc.Name] = t
		if err := s.register(t); err != nil {
			return true, err
		}
	}
	s.wg.Add(1)
	go s.heartbeat()
	return true, s.readLoop()
}

// secure runs the TLS handshake on a connection to the server when the
// client uses TLS, and returns what to speak the protocol over.
func (c *Client) secure(raw *net.TCPConn) (net.Conn, error) {
	if c.tls == nil {
		return raw, nil
	}
	tc := tls.Client(raw, c.tls)
	if err := tc.Handshake(); err != nil {
		if refused := tlsRefused(err); errors.Is(refused, ErrTLS) {
			return nil, refused // already says it was TLS, and why
		}
		return nil, &opError{"TLS handshake", err}
	}
	return TLSStream(tc, raw), nil
}

// authenticate runs the challenge-response and reports whether the server
// wants data connections over TLS.
func (s *csession) authenticate() (tlsData bool, err error) {
	c := s.c
	if _, err := s.conn.Write(preamble(KindControl)); err != nil {
		return false, &opError{"handshake", err}
	}
	typ, p, err := readFrame(s.conn)
	if err != nil {
		return false, &opError{"handshake", err}
	}
	if err := checkServerError(typ, p); err != nil {
		return false, err
	}
	if typ != FrameChallenge || len(p) != nonceLen {
		return false, fmt.Errorf("%w: expected challenge, got %#x", ErrMalformedFrame, typ)
	}
	serverNonce, clientNonce := p, randomBytes(nonceLen)
	auth := encoder{}.raw(clientNonce).raw(clientMAC(c.cfg.Token, serverNonce, clientNonce, c.cfg.ID)).str(c.cfg.ID)
	if err := writeFrame(s.conn, FrameAuth, auth); err != nil {
		return false, &opError{"handshake", err}
	}
	typ, p, err = readFrame(s.conn)
	if err != nil {
		return false, &opError{"handshake", err}
	}
	if err := checkServerError(typ, p); err != nil {
		return false, err
	}
	d := decoder{b: p}
	id, sum := d.take(16), d.take(macLen)
	var flags byte
	if c.tls != nil {
		flags = d.u8()
	}
	if err := d.done(); err != nil || typ != FrameAuthOK {
		return false, fmt.Errorf("%w: expected auth ok, got %#x", ErrMalformedFrame, typ)
	}
	if !hmac.Equal(serverMAC(c.cfg.Token, serverNonce, clientNonce, id), sum) {
		return false, fmt.Errorf("%w: the server could not prove it knows the token", ErrAuthFailed)
	}
	copy(s.id[:], id)
	s.key = sessionKey(c.cfg.Token, serverNonce, clientNonce)
	return flags&authFlagTLSData != 0, nil
}

// checkServerError turns a FrameError from the server into an error.
func checkServerError(typ byte, p []byte) error {
	if typ != FrameError {
		return nil
	}
	d := decoder{b: p}
	code, msg := d.u8(), d.str()
	switch code {
	case CodeAuthFailed:
		return fmt.Errorf("%w: server says: %s", ErrAuthFailed, msg)
	case CodeBadVersion:
		return fmt.Errorf("%w: server says: %s", ErrBadVersion, msg)
	case CodeReplaced:
		return fmt.Errorf("%w: server says: %s", errReplaced, msg)
	case CodeTLSRequired:
		return fmt.Errorf("%w: server says: %s", ErrTLS, msg)
	case CodeIDInUse:
		return fmt.Errorf("%w: server says: %s", ErrIDInUse, msg)
	case CodeLockedOut:
		return fmt.Errorf("%w: server says: %s", ErrLockedOut, msg)
	}
	return fmt.Errorf("relay: server closed the session: %s: %s", codeText(code), msg)
}

// A failed write may have left half a frame on the wire, so it ends the
// session: the read loop sees the closed connection.
func (s *csession) send(typ byte, payload []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.conn.SetWriteDeadline(time.Now().Add(s.c.cfg.HeartbeatTimeout))
	err := writeFrame(s.conn, typ, payload)
	if err != nil {
		s.raw.Close()
	}
	return err
}

func (s *csession) register(t *ctunnel) error {
	return s.send(FrameRegister, encoder{}.u16(uint16(t.cfg.PublicPort)).str(t.cfg.Name))
}

func (s *csession) heartbeat() {
	defer s.wg.Done()
	t := time.NewTicker(s.c.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if s.send(FrameHeartbeat, nil) != nil {
				return
			}
		}
	}
}

func (s *csession) readLoop() error {
	c := s.c
	for {
		s.conn.SetReadDeadline(time.Now().Add(c.cfg.HeartbeatTimeout))
		typ, p, err := readFrame(s.conn)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("%w: nothing for %v", ErrPeerTimeout, c.cfg.HeartbeatTimeout)
			}
			return err
		}
		d := decoder{b: p}
		switch typ {
		case FrameHeartbeat:
		case FramePing:
			// The server asks whether this session is alive, because
			// another client with this id wants in: answer at once.
			if len(p) != pingLen {
				return fmt.Errorf("%w: ping of %d bytes", ErrMalformedFrame, len(p))
			}
			if err := s.send(FramePong, p); err != nil {
				return err
			}
		case FrameRegistered:
			id, name, addr := d.u32(), d.str(), d.str()
			if err := d.done(); err != nil {
				return err
			}
			s.mu.Lock()
			t := s.tunnels[name]
			if t != nil {
				t.id = id
				s.byID[id] = t
			}
			s.mu.Unlock()
			if t == nil {
				return fmt.Errorf("%w: registered unknown tunnel %q", ErrMalformedFrame, name)
			}
			t.retry.reset()
			c.count.add(ccTunnelsReady)
			c.log.Info("tunnel "+name+" ready at "+addr, "tunnel", name, "public_addr", addr, "local", t.cfg.Local)
			c.setReady(name, addr)
			for range c.cfg.Pool {
				s.dialPooled(t)
			}
		case FrameRefused:
			code, name, msg := d.u8(), d.str(), d.str()
			if err := d.done(); err != nil {
				return err
			}
			if err := s.refused(code, name, msg); err != nil {
				return err
			}
		case FrameNeedData:
			id := d.u32()
			if err := d.done(); err != nil {
				return err
			}
			s.need(id)
		case FrameError:
			return checkServerError(typ, p)
		default:
			return fmt.Errorf("%w: unexpected frame %#x from server", ErrMalformedFrame, typ)
		}
	}
}

// refused logs why a tunnel was refused. A refusal that may pass (the port
// is in use, the server is short of resources) is retried with the tunnel's
// backoff; any other stays until someone changes a config, so it is an error
// and the tunnel is not asked for again in this session (a new session asks
// again). The other tunnels carry on, but once every tunnel is refused that
// way the session has nothing left to do: refused returns
// ErrTunnelsRefused, and Run gives up.
func (s *csession) refused(code byte, name, msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tunnels[name]
	if t == nil || s.ctx.Err() != nil {
		return nil
	}
	s.c.count.add(ccTunnelsRefused)
	if !retriable(code) {
		t.refused = true
		s.c.log.Error("tunnel "+name+" refused: "+msg, "tunnel", name, "public_port", t.cfg.PublicPort,
			"reason", codeText(code), "retrying", false)
		for _, o := range s.tunnels {
			if !o.refused {
				return nil
			}
		}
		return fmt.Errorf("%w; the last refused: tunnel %q: %s", ErrTunnelsRefused, name, msg)
	}
	d := t.retry.next()
	s.c.log.Warn("tunnel refused; retrying", "tunnel", name, "public_port", t.cfg.PublicPort,
		"reason", codeText(code), "detail", msg, "in", d.Round(time.Millisecond))
	s.wg.Add(1)
	t.timer = time.AfterFunc(d, func() {
		defer s.wg.Done()
		if s.ctx.Err() == nil {
			s.register(t)
		}
	})
	return nil
}

// retriable says whether a tunnel refusal may pass without anyone changing a
// config: a port in use may be freed, a server short of resources may
// recover. A code this build does not know counts as retriable, as every
// refusal did before.
func retriable(code byte) bool {
	switch code {
	case CodePortNotAllowed, CodeNameTaken, CodeTooMany, CodeBindFailed, CodeBadRequest:
		return false
	}
	return true
}

// end closes the data connections still waiting for "start" and waits for
// every goroutine of the session.
func (s *csession) end() {
	s.mu.Lock()
	for dc := range s.waiting {
		dc.Close()
	}
	for _, t := range s.tunnels {
		if t.timer != nil && t.timer.Stop() {
			s.wg.Done()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// need queues a data connection the server asked for, for tunnel id, and
// starts a dialer unless maxDialers run already.
func (s *csession) need(id uint32) {
	s.mu.Lock()
	t := s.byID[id]
	if t == nil || t.needed >= maxNeeds {
		// Unknown, or more than the server can have waiting: nothing
		// would be waiting for it.
		s.mu.Unlock()
		return
	}
	t.needed++
	s.needs = append(s.needs, t)
	spawn := s.dialers < maxDialers
	if spawn {
		s.dialers++
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if spawn {
		go s.dialNeeds()
	}
}

// dialNeeds dials the data connections in s.needs, oldest first, until none
// is left. Each one waits for "start" in a goroutine of its own, so a dialer
// is busy only for the dial and the header: the server has a public
// connection waiting for it, and "start" follows at once.
func (s *csession) dialNeeds() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(s.needs) == 0 || s.ctx.Err() != nil {
			s.dialers--
			s.mu.Unlock()
			return
		}
		t := s.needs[0]
		s.needs[0] = nil
		s.needs = s.needs[1:]
		t.needed--
		s.mu.Unlock()
		dc := s.dialHeader(t)
		if dc == nil {
			// Not retried: the public connection it was for is served
			// by the next data connection of its tunnel, or times out.
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if started, _ := s.awaitStart(t, dc); started {
				s.serveLocal(t, dc)
			}
		}()
	}
}

// dialPooled keeps one of t's pooled data connections: it dials one, waits
// on it for "start", and once it starts dials its replacement before serving
// it. A failure is retried with backoff, a refusal is not.
func (s *csession) dialPooled(t *ctunnel) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		b := backoff{min: s.c.cfg.ReconnectMin, max: s.c.cfg.ReconnectMax}
		for s.ctx.Err() == nil {
			began := time.Now()
			again := true
			if dc := s.dialHeader(t); dc != nil {
				var started bool
				if started, again = s.awaitStart(t, dc); started {
					// The slot refills at once; serveLocal's dial to the
					// local service runs meanwhile.
					s.dialPooled(t)
					s.serveLocal(t, dc)
					return
				}
			}
			if !again || s.ctx.Err() != nil {
				return
			}
			// A connection that failed fast (dial refused, closed at once)
			// is retried with backoff, so a broken server is not hammered.
			if time.Since(began) > s.c.cfg.ReconnectMin {
				b.reset()
				continue
			}
			select {
			case <-s.ctx.Done():
			case <-time.After(b.next()):
			}
		}
	}()
}

// dialHeader dials a data connection for t, runs its TLS handshake when the
// server wants data connections over TLS, and sends its header. It returns
// nil on failure, counted and logged. The connection stays in s.waiting,
// where end finds it, until awaitStart is done with it.
func (s *csession) dialHeader(t *ctunnel) Stream {
	c := s.c
	c.count.add(ccDataDials)
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	nc, err := d.DialContext(s.ctx, "tcp", c.cfg.Server)
	if err != nil {
		c.count.add(ccDataDialFailures)
		c.log.Warn("data connection dial failed", "tunnel", t.cfg.Name, "err", err)
		return nil
	}
	raw := nc.(*net.TCPConn)
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		raw.Close()
		return nil
	}
	s.waiting[raw] = struct{}{}
	s.mu.Unlock()
	fail := func() Stream {
		s.unwait(raw)
		raw.Close()
		return nil
	}

	setKeepAlive(raw)
	dc := TCPStream(raw)
	if s.streams != nil {
		// The handshake has the dial timeout, and resumes the control
		// connection's TLS session where the server allows.
		raw.SetDeadline(time.Now().Add(c.cfg.DialTimeout))
		conn, err := c.secure(raw)
		if err != nil {
			c.count.add(ccDataDialFailures)
			c.log.Warn("data connection TLS handshake failed", "tunnel", t.cfg.Name, "err", err)
			return fail()
		}
		raw.SetDeadline(time.Time{})
		dc = conn.(Stream)
		if conn.(*tlsStream).ConnectionState().DidResume {
			c.count.add(ccTLSResumed)
		}
	}
	h := dataHeader{session: s.id, tunnel: t.id, seq: s.seq.Add(1)}
	if _, err := dc.Write(h.marshal(s.key)); err != nil {
		return fail()
	}
	return dc
}

func (s *csession) unwait(raw *net.TCPConn) {
	s.mu.Lock()
	delete(s.waiting, raw)
	s.mu.Unlock()
}

// awaitStart waits on dc, from dialHeader, for "start". It reports whether dc
// started, and is then the caller's; otherwise dc is closed, and again says
// whether a pooled slot should be dialled again (not after a refusal).
func (s *csession) awaitStart(t *ctunnel, dc Stream) (started, again bool) {
	c := s.c
	raw := rawTCP(dc)
	defer func() {
		s.unwait(raw)
		if !started {
			raw.Close()
		}
	}()
	// Exact-length reads: the public client's bytes follow "start" on this
	// socket and must stay there for the engine.
	var m [2]byte
	if _, err := io.ReadFull(dc, m[:]); err != nil {
		if s.ctx.Err() == nil {
			c.count.add(ccDataDiedIdle)
			c.log.Debug("idle data connection closed", "tunnel", t.cfg.Name, "err", err)
		}
		return false, true
	}
	body := make([]byte, m[1])
	if _, err := io.ReadFull(dc, body); err != nil {
		return false, true
	}
	switch m[0] {
	case DataStart:
		c.count.add(ccStarts)
		c.log.Debug("public connection", "tunnel", t.cfg.Name, "peer", string(body))
		return true, false
	case DataRefused:
		c.count.add(ccDataRefused)
		code := byte(0)
		if len(body) == 1 {
			code = body[0]
		}
		c.log.Warn("server refused a data connection", "tunnel", t.cfg.Name, "reason", codeText(code))
		return false, false
	default:
		c.log.Warn("unexpected message on a data connection", "tunnel", t.cfg.Name, "type", m[0])
		return false, false
	}
}

// serveLocal dials the local service for a started data connection and
// hands both to the engine. When the service is down, the data connection is
// reset so the public connection ends at once, and the server is told why.
func (s *csession) serveLocal(t *ctunnel, dc Stream) {
	c := s.c
	lc, err := net.DialTimeout("tcp", t.cfg.Local, c.cfg.DialTimeout)
	if err != nil {
		c.count.add(ccLocalDialFailures)
		c.log.Warn("local service unreachable; public connection closed", "tunnel", t.cfg.Name, "local", t.cfg.Local, "err", err)
		dc.Abort()
		s.send(FrameDialFailed, encoder{}.u32(t.id).str(err.Error()))
		return
	}
	dc.SetDeadline(time.Time{})
	c.relays.Add(1)
	done := func(r Result) {
		c.count.add(ccRelaysDone)
		c.relays.Done()
	}
	if tc, ok := dc.(tcpStream); ok {
		c.engine.Relay(tc.TCPConn, lc.(*net.TCPConn), done)
		return
	}
	s.streams.RelayStreams(dc, TCPStream(lc.(*net.TCPConn)), done)
}

// backoff is exponential backoff with jitter: each wait is drawn from the
// upper half of a window that doubles up to max, so clients that lost the
// same server do not all return at the same instant.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}

func (b *backoff) reset() { b.cur = 0 }
