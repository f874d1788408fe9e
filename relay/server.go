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
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server counters (Server.Counters), in this order.
const (
	scSessions = iota
	scAuthFailures
	scSessionsReplaced
	scTunnelsRegistered
	scTunnelsRefused
	scPublicConns
	scPoolHits
	scPoolMisses
	scDataConns
	scDataRefused
	scPooled
	scPoolClosedIdle
	scPoolDeadAtClaim
	scDataTimeouts
	scAcceptPaused
	scPublicDropped
	scStartFailed
	scLocalDialFailures
	scRelaysDone
	scProtocolErrors
	scAuthLimited
	scConnsLimited
	scClientsLimited
	scConnsDenied
	scHandshakesLimited
	scTLSFailed
	scTLSRequired
	scIDInUse
)

var serverCounterNames = []string{
	"sessions", "auth_failures", "sessions_replaced", "tunnels_registered",
	"tunnels_refused", "public_conns", "pool_hits", "pool_misses", "data_conns",
	"data_refused", "pooled", "pool_closed_idle", "pool_dead_at_claim", "data_timeouts", "accept_paused", "public_dropped", "start_failed", "local_dial_failures",
	"relays_done", "protocol_errors", "auth_limited", "conns_limited", "clients_limited", "conns_denied", "handshakes_limited",
	"tls_failed", "tls_required", "id_in_use",
}

// A Server accepts ferry clients on one port, opens a public listener per
// registered tunnel and relays each public connection over a data connection
// from the client, through its engine.
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	ln     *net.TCPListener
	engine Engine
	// streams relays pairs with a TLS data connection or a bandwidth cap:
	// the engine itself when it can, else a user-space engine of its own
	// (streamEngine).
	streams StreamRelayer
	// tls is the server port's TLS config, nil without TLS; fingerprint
	// is its certificate's, for the log.
	tls         *tls.Config
	fingerprint string
	count       *counters
	// limiter counts failed authentications per source address and
	// refuses an address that has run out of tries.
	limiter *failureLimiter
	// junkLog rations warnings about junk from unauthenticated connections
	// to one per source address per junkLogPeriod.
	junkLog *failureLimiter
	// live counts public connections from accept to their end, for
	// MaxConns.
	live atomic.Int64

	wg     sync.WaitGroup // every goroutine the server starts, but relays
	relays sync.WaitGroup // live relays, for Shutdown

	mu       sync.Mutex
	closed   bool
	sessions map[string]*session   // by client id
	byID     map[[16]byte]*session // by session id, for data headers
	names    map[string]*tunnel    // every live tunnel by name
	hs       *handshakes           // connections not yet authenticated, or their data header not yet read
	// claims holds the client ids whose session is being decided: from
	// the moment a newcomer looks at the id's old session until its own
	// AuthOK is written. A second newcomer with the id waits for the
	// claim to go, so no Ping ever reaches a session before its AuthOK
	// and two newcomers never replace the same session at once. The
	// channel is closed when the claim goes.
	claims     map[string]chan struct{}
	nextTunnel uint32
}

// NewServer validates cfg, makes its engine and binds cfg.Listen. Call Serve
// to accept.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := probeBind(cfg.PublicBind); err != nil {
		return nil, err
	}
	var tlsCfg *tls.Config
	var fingerprint string
	if cfg.TLS {
		var err error
		if tlsCfg, fingerprint, err = cfg.serverTLS(); err != nil {
			return nil, err
		}
	}
	opts := Options{IdleTimeout: cfg.IdleTimeout, Logger: cfg.Logger}
	e, err := NewEngine(cfg.Engine, opts)
	if err != nil {
		return nil, err
	}
	var streams StreamRelayer
	if cfg.TLSData || len(cfg.bandwidth) > 0 {
		if streams, err = streamEngine(e, cfg.Engine, cfg.engineNamed, opts); err != nil {
			e.Close()
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		e.Close()
		closeStreams(e, streams)
		return nil, fmt.Errorf("relay: server listen: %w", err)
	}
	tokens := map[string]string{"token": cfg.Token}
	for i, ct := range cfg.Clients {
		tokens[fmt.Sprintf("clients[%d].token", i)] = ct.Token
	}
	warnTokens(cfg.Logger, cfg.tokenFile, tokens)
	return &Server{
		cfg:         cfg,
		log:         cfg.Logger,
		ln:          ln.(*net.TCPListener),
		engine:      e,
		streams:     streams,
		tls:         tlsCfg,
		fingerprint: fingerprint,
		count:       newCounters(serverCounterNames...),
		limiter:     newFailureLimiter(cfg.AuthFailures, cfg.AuthFailurePeriod),
		junkLog:     newFailureLimiter(1, junkLogPeriod),
		sessions:    make(map[string]*session),
		byID:        make(map[[16]byte]*session),
		names:       make(map[string]*tunnel),
		hs:          newHandshakes(cfg.MaxHandshakesPerAddr, cfg.MaxHandshakes),
		claims:      make(map[string]chan struct{}),
	}, nil
}

// Addr is the address the server port is bound to.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Counters returns the server's event counts and its engine's (and, when
// TLS data connections use an engine of their own, that one's under
// "tls_engine.").
func (s *Server) Counters() map[string]uint64 { return s.count.snapshot(s.engine, s.streams) }

// Fingerprint is the SHA-256 fingerprint of the server's TLS certificate,
// as clients pin it, or "" without TLS.
func (s *Server) Fingerprint() string { return s.fingerprint }

// Serve accepts control and data connections until Shutdown or Close, and
// then returns ErrServerClosed.
func (s *Server) Serve() error {
	args := []any{"addr", s.ln.Addr().String(), "engine", s.cfg.Engine, "public_bind", s.cfg.PublicBind, "tls", s.tls != nil}
	if s.tls != nil {
		args = append(args, "tls_data", s.cfg.TLSData, "tls_fingerprint", s.fingerprint, "client_certs", s.cfg.ClientCA != "")
	}
	s.log.Info("ferry server listening", args...)
	var delay time.Duration
	for {
		c, err := s.ln.AcceptTCP()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			// Out of fds and the like: back off rather than spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !s.track(c) {
			c.Close()
			return ErrServerClosed
		}
		go func() {
			defer s.wg.Done()
			s.handle(c)
		}()
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track records a connection in its handshake, so Close can cut it short,
// and counts its goroutine in s.wg under the lock stop takes, so Close never
// waits on a WaitGroup that can still grow. At MaxHandshakesPerAddr from its
// address, or MaxHandshakes in all, the oldest such connection is closed to
// make room (handshakes explains why the oldest): counted, not logged, so a
// flood cannot flood the log. It reports false once the server is closed.
func (s *Server) track(c *net.TCPConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if old := s.hs.add(c, sourceAddr(c)); old != nil {
		s.count.add(scHandshakesLimited)
		old.Close() // its goroutine's read fails; untrack tells it why
	}
	s.wg.Add(1)
	return true
}

// untrack ends a connection's handshake and reports whether it was still
// in it: false when it was closed to make room for a newer one, or by stop,
// whose reasons are counted already (or need no count), so the caller
// neither counts nor logs its failure as junk. Calling it again returns
// false.
func (s *Server) untrack(c *net.TCPConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hs.remove(c)
}

// junkLogPeriod is how often one source address may have a warning about
// its junk logged.
const junkLogPeriod = 10 * time.Second

// warnJunk logs a warning about what an unauthenticated connection sent, at
// most once per source address per junkLogPeriod: anyone may send junk to
// the server port, and a flood of it must not flood the log. The counters
// count every one.
func (s *Server) warnJunk(c *net.TCPConn, log *slog.Logger, msg string, args ...any) {
	if s.junkLog.take(sourceAddr(c)) {
		log.Warn(msg, args...)
	}
}

// handle reads the preamble and dispatches by kind. Every read before
// authentication has the handshake deadline, the TLS handshake's included.
func (s *Server) handle(c *net.TCPConn) {
	log := s.log.With("remote", c.RemoteAddr().String())
	c.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	conn, secure, err := s.handshakeTLS(c)
	if err != nil {
		if !s.untrack(c) {
			c.Close()
			return
		}
		if errors.Is(err, errNoFirstByte) {
			// Silent or gone before its first byte: junk, as on a
			// server without TLS, not a failed TLS handshake.
			s.count.add(scProtocolErrors)
			s.warnJunk(c, log, "closing connection: bad preamble", "err", err)
		} else {
			s.count.add(scTLSFailed)
			s.warnJunk(c, log, "closing connection: TLS handshake failed", "err", err)
		}
		c.Close()
		return
	}
	kind, err := readPreamble(conn)
	if err != nil {
		if !s.untrack(c) {
			c.Close()
			return
		}
		s.count.add(scProtocolErrors)
		switch {
		case errors.Is(err, ErrBadVersion):
			writeFrame(conn, FrameError, encoder{}.u8(CodeBadVersion).str(err.Error()))
		case errors.Is(err, errTLSHello):
			// In clear: a TLS client reads it as "not TLS", a person
			// with openssl s_client reads the words.
			writeFrame(conn, FrameError, encoder{}.u8(CodeProtocol).str("this server does not speak TLS: connect without --tls, or turn tls on in the server's config"))
		}
		s.warnJunk(c, log, "closing connection: bad preamble", "err", err)
		c.Close()
		return
	}
	switch {
	case kind == KindControl && s.tls != nil && !secure:
		s.untrack(c)
		s.count.add(scTLSRequired)
		s.warnJunk(c, log, "closing plain control connection: this server takes control connections over TLS only")
		writeFrame(conn, FrameError, encoder{}.u8(CodeTLSRequired).str("this server takes control connections over TLS only: connect with --tls, --ca or --server-fingerprint"))
		c.Close()
	case kind == KindControl && !s.limiter.allow(sourceAddr(c)):
		// One short Error and the close, nothing read: an address
		// guessing tokens learns only that it must wait, which it can
		// tell from a bare close too, and a client with a wrong token
		// can say so plainly rather than report a network fault.
		s.untrack(c)
		s.count.add(scAuthLimited)
		s.refuseLockedOut(conn, c)
		c.Close()
	case kind == KindControl:
		s.handleControl(conn, c, log)
	default:
		s.handleData(conn, c, secure, log)
	}
}

// lockedOutWriteTimeout bounds the one write to a locked-out address: a
// peer that does not read costs the server no more than this.
const lockedOutWriteTimeout = time.Second

// refuseLockedOut tells a control connection from an address out of
// authentication tries that it is refused, and when it earns its next try.
// Not rationed per address: the frame is smaller than the TCP handshake and
// preamble the peer spent to get it, and max_handshakes_per_addr already
// bounds its connections (docs/security.md).
func (s *Server) refuseLockedOut(conn net.Conn, c *net.TCPConn) {
	addr := sourceAddr(c)
	wait := s.limiter.nextTry(addr)
	secs := max(int((wait+time.Second-1)/time.Second), 1) // rounded up: never too early
	msg := fmt.Sprintf("this address (%s) is refused for now after too many failed logins; try again in %d s", addr, secs)
	conn.SetWriteDeadline(time.Now().Add(lockedOutWriteTimeout))
	writeFrame(conn, FrameError, encoder{}.u8(CodeLockedOut).str(msg))
}

// handshakeTLS tells a TLS ClientHello from the ferry preamble by the
// connection's first byte and, for TLS, completes the handshake. It returns
// what to read the preamble from, and whether that is TLS. Without TLS
// configured nothing is read: a ClientHello fails as a bad preamble.
func (s *Server) handshakeTLS(c *net.TCPConn) (conn net.Conn, secure bool, err error) {
	if s.tls == nil {
		return c, false, nil
	}
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		return nil, false, fmt.Errorf("%w: %w", errNoFirstByte, err)
	}
	pc := &prefixConn{TCPConn: c, first: first[0], pending: true}
	if first[0] != tlsHandshakeRecord {
		return pc, false, nil
	}
	tc := tls.Server(pc, s.tls)
	if err := tc.Handshake(); err != nil {
		return nil, false, err
	}
	return TLSStream(tc, c), true, nil
}

func (s *Server) handleControl(conn net.Conn, c *net.TCPConn, log *slog.Logger) {
	sess, err := s.authenticate(conn, c, log)
	s.untrack(c)
	if err != nil {
		c.Close()
		return
	}
	defer sess.close(nil)
	setKeepAlive(c)
	c.SetDeadline(time.Time{})
	go sess.heartbeat(s.cfg.HeartbeatInterval) // counted in sess.wg by authenticate
	err = sess.readLoop(s.cfg.HeartbeatTimeout)
	sess.close(err)
}

// authenticate runs the challenge-response over conn (c itself, or TLS
// over it) and registers the new session, replacing any older session of
// the same client id.
func (s *Server) authenticate(conn net.Conn, c *net.TCPConn, log *slog.Logger) (*session, error) {
	serverNonce := randomBytes(nonceLen)
	if err := writeFrame(conn, FrameChallenge, serverNonce); err != nil {
		return nil, err
	}
	typ, p, err := readFrame(conn)
	if err == nil && typ != FrameAuth {
		err = fmt.Errorf("%w: expected auth, got %#x", ErrMalformedFrame, typ)
	}
	var clientNonce, sum []byte
	var id string
	if err == nil {
		d := decoder{b: p}
		clientNonce, sum, id = d.take(nonceLen), d.take(macLen), d.str()
		err = d.done()
	}
	if err != nil {
		s.count.add(scProtocolErrors)
		s.warnJunk(c, log, "closing control connection before auth", "err", err)
		writeFrame(conn, FrameError, encoder{}.u8(CodeProtocol).str(err.Error()))
		return nil, err
	}
	if err := checkName("id", id); err != nil {
		s.count.add(scProtocolErrors)
		s.warnJunk(c, log, "closing control connection: invalid client id", "err", err)
		writeFrame(conn, FrameError, encoder{}.u8(CodeProtocol).str("invalid client id: "+err.Error()))
		return nil, err
	}
	// An id with no token to check against fails exactly like a wrong
	// token, so the answer does not tell which ids exist.
	token, known := s.cfg.tokenFor(id)
	if !known || !hmac.Equal(clientMAC(token, serverNonce, clientNonce, id), sum) {
		s.count.add(scAuthFailures)
		log.Warn("authentication failed", "client_id", id)
		if s.limiter.failed(sourceAddr(c)) {
			log.Warn("source address out of authentication tries; refusing its control connections until it earns more",
				"tries", s.cfg.AuthFailures, "one_more_every", s.cfg.AuthFailurePeriod)
		}
		writeFrame(conn, FrameError, encoder{}.u8(CodeAuthFailed).str("authentication failed: the token does not match the server's"))
		return nil, ErrAuthFailed
	}
	sess := &session{
		srv:      s,
		conn:     conn,
		raw:      c,
		clientID: id,
		key:      sessionKey(token, serverNonce, clientNonce),
		tunnels:  make(map[uint32]*tunnel),
		log:      s.log.With("client_id", id, "remote", c.RemoteAddr().String()),
		done:     make(chan struct{}),
	}
	copy(sess.id[:], randomBytes(16))

	release, err := s.install(sess, conn, c, log)
	if err != nil {
		return nil, err
	}
	// The claim on the id goes once AuthOK is on the wire (or failed), so
	// a newcomer that pings this session does so after AuthOK.
	defer release()
	ok := encoder{}.raw(sess.id[:]).raw(serverMAC(token, serverNonce, clientNonce, sess.id[:]))
	if _, secure := conn.(*tlsStream); secure {
		// Only over TLS, which protects it, and which clients from
		// before the flags byte cannot speak.
		var flags byte
		if s.cfg.TLSData {
			flags |= authFlagTLSData
		}
		ok = ok.u8(flags)
	}
	if err := writeFrame(conn, FrameAuthOK, ok); err != nil {
		sess.wg.Done() // the heartbeat counted above never starts
		sess.close(err)
		return nil, err
	}
	s.count.add(scSessions)
	sess.log.Info("client connected")
	return sess, nil
}

// livenessTimeout bounds the Ping round trip that decides whether a
// session is alive before a newcomer with its client id may replace it.
// Short, since the newcomer waits for it inside its handshake (the client's
// dial_timeout, 5 s by default, covers that); long enough for a slow path.
const livenessTimeout = 3 * time.Second

// maxClaimWaits bounds how often a newcomer waits for another newcomer with
// the same client id before it gives up; each wait is itself bounded by the
// other's Ping and AuthOK write.
const maxClaimWaits = 3

// install makes sess the session of its client id, or refuses it with an
// Error frame on conn. A session the id already has is replaced only when it
// is dead: it must answer a Ping within livenessTimeout, and one that does
// is a second live client with the same id, so the newcomer is refused
// (IDInUse) and the live one goes on. A client that was killed and
// restarted gets its session back at once: its old connection has ended, or
// ends on the Ping, or at worst stays silent until livenessTimeout. The
// returned release ends the claim on the id; call it after AuthOK.
func (s *Server) install(sess *session, conn net.Conn, c *net.TCPConn, log *slog.Logger) (release func(), err error) {
	id := sess.clientID
	shutdown := func() (func(), error) {
		writeFrame(conn, FrameError, encoder{}.u8(CodeShutdown).str("server shutting down"))
		return nil, ErrServerClosed
	}
	for waits := 0; ; waits++ {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return shutdown()
		}
		if other := s.claims[id]; other != nil {
			s.mu.Unlock()
			if waits == maxClaimWaits {
				s.count.add(scIDInUse)
				log.Warn("refusing a client: other clients with its id keep connecting at the same time", "client_id", id)
				writeFrame(conn, FrameError, encoder{}.u8(CodeIDInUse).str(fmt.Sprintf("id %s is in use by other clients connecting at the same time; give each client its own --id", id)))
				return nil, ErrIDInUse
			}
			<-other // bounded: the holder's Ping and AuthOK write are
			continue
		}
		old := s.sessions[id]
		if old == nil && s.cfg.MaxClients > 0 && len(s.sessions) >= s.cfg.MaxClients {
			s.mu.Unlock()
			s.count.add(scClientsLimited)
			log.Warn("refusing a client: the server holds max_clients sessions", "client_id", id, "max_clients", s.cfg.MaxClients)
			writeFrame(conn, FrameError, encoder{}.u8(CodeFull).str(fmt.Sprintf("the server holds its %d clients; try again later", s.cfg.MaxClients)))
			return nil, errServerFull
		}
		claim := make(chan struct{})
		s.claims[id] = claim
		release = func() {
			s.mu.Lock()
			delete(s.claims, id)
			s.mu.Unlock()
			close(claim)
		}
		if old != nil {
			s.mu.Unlock()
			why := old.ping(livenessTimeout)
			if why == nil {
				release()
				live := old.raw.RemoteAddr().String()
				s.count.add(scIDInUse)
				log.Warn("refusing a client: its id is in use by a live client", "client_id", id, "live_remote", live)
				old.log.Warn("refused a newer client with this id: this session answered its ping", "other_remote", c.RemoteAddr().String())
				writeFrame(conn, FrameError, encoder{}.u8(CodeIDInUse).str(fmt.Sprintf("id %s is in use by a live client at %s; give each client its own --id", id, live)))
				return nil, ErrIDInUse
			}
			// Synchronously, so its public ports are free before the
			// new session registers them again.
			s.count.add(scSessionsReplaced)
			old.log.Info("session replaced by a newer one with the same client id", "reason", why)
			old.notify(CodeReplaced)
			old.close(errReplaced)
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				release()
				return shutdown()
			}
		}
		s.sessions[id] = sess
		s.byID[sess.id] = sess
		sess.wg.Add(1) // the heartbeat; under s.mu, before stop can see the session and wait
		s.mu.Unlock()
		return release, nil
	}
}

// handleData checks a data connection's header, read from conn (c itself,
// or TLS over it), and gives the connection to its tunnel. On plain TCP the
// header is read with exact-length reads straight from the socket, so no
// payload byte ever sits in a user-space buffer; over TLS, the TLS
// connection keeps any bytes read ahead and the engine reads them from it.
func (s *Server) handleData(conn net.Conn, c *net.TCPConn, secure bool, log *slog.Logger) {
	handedOff := false
	defer func() {
		if !handedOff {
			s.untrack(c)
		}
	}()
	switch {
	case s.cfg.TLSData && !secure:
		s.count.add(scTLSRequired)
		s.warnJunk(c, log, "data connection refused: this server takes data connections over TLS only")
		conn.Write([]byte{DataRefused, 1, CodeTLSRequired})
		c.Close()
		return
	case !s.cfg.TLSData && secure:
		// The server told this session its data connections are plain
		// (no flag in AuthOK), and the engine may not relay TLS at all.
		s.count.add(scProtocolErrors)
		s.warnJunk(c, log, "data connection refused: TLS data connection to a server without tls_data")
		conn.Write([]byte{DataRefused, 1, CodeProtocol})
		c.Close()
		return
	}
	var b [dataHeaderLen]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		if s.untrack(c) {
			s.count.add(scProtocolErrors)
			s.warnJunk(c, log, "closing data connection: short header", "err", err)
		}
		c.Close()
		return
	}
	h, sum := parseDataHeader(b[:])
	refuse := func(code byte) {
		s.count.add(scDataRefused)
		s.warnJunk(c, log, "data connection refused", "reason", codeText(code), "tunnel_id", h.tunnel)
		conn.Write([]byte{DataRefused, 1, code})
		c.Close()
	}
	s.mu.Lock()
	sess := s.byID[h.session]
	s.mu.Unlock()
	if sess == nil {
		refuse(CodeStaleSession)
		return
	}
	if !h.verify(sess.key, sum) {
		refuse(CodeBadMAC)
		return
	}
	sess.mu.Lock()
	fresh := sess.replay.accept(h.seq)
	t := sess.tunnels[h.tunnel]
	sess.mu.Unlock()
	switch {
	case !fresh:
		refuse(CodeReplay)
		return
	case t == nil:
		refuse(CodeNoTunnel)
		return
	}
	setKeepAlive(c)
	c.SetDeadline(time.Time{})
	s.count.add(scDataConns)
	// From here on the tunnel, and then an engine, owns c: stop must no
	// longer close it as a handshake.
	handedOff = true
	if !s.untrack(c) {
		return // closed just now, to make room or by stop
	}
	if secure {
		t.addData(conn.(Stream))
	} else {
		t.addData(TCPStream(c))
	}
}

// Shutdown stops accepting, closes every session and public listener, lets
// live relays finish until ctx is done and then closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop()
	// Every path that starts a relay runs in a goroutine s.wg counts, so
	// once they are done no relay can start and relays.Wait is safe.
	s.wg.Wait()
	if !waitCtx(ctx, &s.relays) {
		s.log.Warn("shutdown deadline reached; closing live relays")
	}
	return s.Close()
}

// Close closes the server port, every session, public listener and live
// relay, and returns when every goroutine the server started has ended.
func (s *Server) Close() error {
	s.stop()
	s.wg.Wait()
	err := s.engine.Close()
	closeStreams(s.engine, s.streams)
	s.relays.Wait()
	return err
}

// stop closes listeners and sessions; live relays go on.
func (s *Server) stop() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	sessions := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	for _, c := range s.hs.conns() {
		s.hs.remove(c)
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	for _, sess := range sessions {
		sess.notify(CodeShutdown)
		sess.close(ErrServerClosed)
	}
}

// relay hands a public connection and a data connection to the engine, or
// to the stream relayer when the data connection is TLS or the tunnel's
// bandwidth is capped.
func (s *Server) relay(t *tunnel, pc *net.TCPConn, dc Stream) {
	s.relays.Add(1)
	done := func(r Result) {
		t.release()
		s.count.add(scRelaysDone)
		t.sess.log.Debug("public connection ended", "tunnel", t.name, "in", r.AtoB, "out", r.BtoA, "err", r.Err)
		s.relays.Done()
	}
	if t.pace != nil {
		s.streams.RelayStreams(t.pace.wrap(TCPStream(pc)), dc, done)
		return
	}
	if tc, ok := dc.(tcpStream); ok {
		s.engine.Relay(pc, tc.TCPConn, done)
		return
	}
	s.streams.RelayStreams(TCPStream(pc), dc, done)
}

// A session is one authenticated control connection and its tunnels.
type session struct {
	srv      *Server
	conn     net.Conn     // frames: raw, or TLS over it
	raw      *net.TCPConn // closed to end the session, without a TLS goodbye that could block
	id       [16]byte
	clientID string
	key      []byte
	log      *slog.Logger
	wg       sync.WaitGroup // heartbeat and public accept loops

	wmu sync.Mutex // serialises frames on conn

	mu      sync.Mutex
	closed  bool
	tunnels map[uint32]*tunnel
	replay  replayWindow
	pongs   map[[pingLen]byte]chan struct{} // Pings in flight by nonce; closed when answered

	done      chan struct{}
	closeOnce sync.Once
}

// send writes a frame, bounded by a write deadline so a stuck peer cannot
// block the caller for long.
// A failed write may have left half a frame on the wire, so it ends the
// session: the read loop sees the closed connection.
func (sess *session) send(typ byte, payload []byte) error {
	sess.wmu.Lock()
	defer sess.wmu.Unlock()
	sess.conn.SetWriteDeadline(time.Now().Add(sess.srv.cfg.HeartbeatTimeout))
	err := writeFrame(sess.conn, typ, payload)
	if err != nil {
		sess.raw.Close()
	}
	return err
}

// notify tells the client why its session is about to end. It is a
// courtesy: the peer may be the silent one, so it waits at most a second.
func (sess *session) notify(code byte) {
	sess.wmu.Lock()
	defer sess.wmu.Unlock()
	sess.conn.SetWriteDeadline(time.Now().Add(time.Second))
	writeFrame(sess.conn, FrameError, encoder{}.u8(code).str(codeText(code)))
}

// ping sends the client a Ping and waits up to wait for its Pong. It returns
// nil when the client answered, else why the session counts as dead: its
// connection ended, or no Pong came in time (a peer that froze, or a
// network that went silent without closing anything). The session's read
// loop owns reading, so it hands the Pong over through sess.pongs.
func (sess *session) ping(wait time.Duration) error {
	var nonce [pingLen]byte
	copy(nonce[:], randomBytes(pingLen))
	pong := make(chan struct{})
	sess.mu.Lock()
	if sess.closed {
		sess.mu.Unlock()
		return errors.New("its connection had ended")
	}
	if sess.pongs == nil {
		sess.pongs = make(map[[pingLen]byte]chan struct{})
	}
	sess.pongs[nonce] = pong
	// The write runs apart: a connection clogged by a peer that stopped
	// reading blocks it until its write deadline, and the wait here must
	// not. Counted under sess.mu while open, so close waits for it.
	sess.wg.Add(1)
	sess.mu.Unlock()
	defer func() {
		sess.mu.Lock()
		delete(sess.pongs, nonce)
		sess.mu.Unlock()
	}()
	go func() {
		defer sess.wg.Done()
		sess.send(FramePing, nonce[:]) // a failure closes the connection, and done says so
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-pong:
		return nil
	case <-sess.done:
		return errors.New("its connection ended")
	case <-timer.C:
		// A write stuck on a peer that stopped reading (the Ping's, or
		// a heartbeat's) fails now, so the courtesy Error the caller
		// sends next does not wait for its write deadline.
		sess.conn.SetWriteDeadline(time.Now())
		return fmt.Errorf("no answer to a ping within %v", wait)
	}
}

func (sess *session) heartbeat(every time.Duration) {
	defer sess.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-sess.done:
			return
		case <-t.C:
			if sess.send(FrameHeartbeat, nil) != nil {
				return // send closed the connection; the read loop ends the session
			}
		}
	}
}

// readLoop serves the client's frames until the connection fails or stays
// silent longer than timeout.
func (sess *session) readLoop(timeout time.Duration) error {
	for {
		sess.conn.SetReadDeadline(time.Now().Add(timeout))
		typ, p, err := readFrame(sess.conn)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("%w: nothing for %v", ErrPeerTimeout, timeout)
			}
			if errors.Is(err, ErrUnknownFrame) || errors.Is(err, ErrFrameTooLarge) {
				sess.srv.count.add(scProtocolErrors)
				sess.send(FrameError, encoder{}.u8(CodeProtocol).str(err.Error()))
			}
			return err
		}
		d := decoder{b: p}
		switch typ {
		case FrameHeartbeat:
		case FramePong:
			var nonce [pingLen]byte
			copy(nonce[:], d.take(pingLen))
			if err := d.done(); err != nil {
				return sess.protocolError(err)
			}
			sess.mu.Lock()
			if pong := sess.pongs[nonce]; pong != nil {
				close(pong)
				delete(sess.pongs, nonce)
			}
			sess.mu.Unlock()
			// A Pong nobody waits for came after its deadline: ignored.
		case FrameRegister:
			port, name := d.u16(), d.str()
			if err := d.done(); err != nil {
				return sess.protocolError(err)
			}
			sess.register(name, int(port))
		case FrameDialFailed:
			tid, msg := d.u32(), d.str()
			if err := d.done(); err != nil {
				return sess.protocolError(err)
			}
			sess.srv.count.add(scLocalDialFailures)
			sess.mu.Lock()
			name := ""
			if t := sess.tunnels[tid]; t != nil {
				name = t.name
			}
			sess.mu.Unlock()
			sess.log.Warn("client could not reach its local service", "tunnel", name, "err", msg)
		case FrameError:
			code, msg := d.u8(), d.str()
			return fmt.Errorf("client closed the session: %s: %s", codeText(code), msg)
		default:
			return sess.protocolError(fmt.Errorf("%w: unexpected frame %#x", ErrMalformedFrame, typ))
		}
	}
}

func (sess *session) protocolError(err error) error {
	sess.srv.count.add(scProtocolErrors)
	sess.send(FrameError, encoder{}.u8(CodeProtocol).str(err.Error()))
	return err
}

// register opens a public listener for a tunnel, or refuses with a reason.
// The client's other tunnels are unaffected either way.
func (sess *session) register(name string, port int) {
	t, code, msg := sess.claimTunnel(name, port)
	switch {
	case t != nil:
		addr := sess.srv.advertised(t.ln.Addr())
		sess.srv.count.add(scTunnelsRegistered)
		args := []any{"tunnel", name, "public_addr", addr}
		if sess.srv.cfg.PublicHost != "" {
			args = append(args, "bind_addr", t.ln.Addr().String())
		}
		if t.pace != nil {
			args = append(args, "bandwidth_bytes_per_sec", float64(t.pace.in.Limit()))
		}
		sess.log.Info("tunnel open", args...)
		sess.send(FrameRegistered, encoder{}.u32(t.id).str(name).str(addr))
		// Only now, so that no NeedData for this tunnel can overtake its
		// Registered on the control connection.
		go t.acceptLoop()
	case code != 0:
		sess.srv.count.add(scTunnelsRefused)
		sess.log.Warn("tunnel refused", "tunnel", name, "port", port, "reason", msg)
		sess.send(FrameRefused, encoder{}.u8(code).str(name).str(msg))
	}
}

// claimTunnel checks and binds a tunnel, or returns why not (code 0 and no
// tunnel: the session or server is closing). The name is checked before
// binding and claimed after it, both under the server's lock, so two clients
// racing for a name cannot both win; the bind itself, which may try many
// ports, runs outside the lock. Nothing here writes to the network.
func (sess *session) claimTunnel(name string, port int) (*tunnel, byte, string) {
	s := sess.srv
	if checkName("name", name) != nil {
		return nil, CodeBadRequest, "invalid tunnel name"
	}
	if port != 0 && !s.cfg.allowed.allows(port) {
		return nil, CodePortNotAllowed, fmt.Sprintf("port %d is outside the server's allowed ports %s: pick one of those or 0", port, s.cfg.AllowPorts)
	}
	check := func() (bool, byte, string) {
		sess.mu.Lock()
		closed, n := sess.closed, len(sess.tunnels)
		sess.mu.Unlock()
		if closed || s.closed {
			return false, 0, ""
		}
		if other := s.names[name]; other != nil {
			if other.sess == sess {
				return false, CodeBadRequest, fmt.Sprintf("tunnel %q is already registered in this session", name)
			}
			// Not which client: one client must not learn another's id.
			return false, CodeNameTaken, fmt.Sprintf("tunnel name %q is taken by another client: choose another name", name)
		}
		if n >= s.cfg.MaxTunnelsPerClient {
			return false, CodeTooMany, fmt.Sprintf("the server allows at most %d tunnels per client: register fewer, or raise its max_tunnels_per_client", s.cfg.MaxTunnelsPerClient)
		}
		return true, 0, ""
	}
	s.mu.Lock()
	ok, code, msg := check()
	s.mu.Unlock()
	if !ok {
		return nil, code, msg
	}
	ln, err := s.listenPublic(port)
	if err != nil {
		code := bindRefusal(err)
		if code == CodeBindFailed {
			return nil, code, fmt.Sprintf("the server could not open the public port: %v (the server's public_bind, or this port, needs changing)", err)
		}
		return nil, code, err.Error()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok, code, msg := check(); !ok { // someone else won the name meanwhile, or we are closing
		ln.Close()
		return nil, code, msg
	}
	s.nextTunnel++
	t := &tunnel{sess: sess, id: s.nextTunnel, name: name, ln: ln, pace: s.cfg.paceFor(name),
		slots: make(chan struct{}, MaxWaiting), done: make(chan struct{})}
	sess.mu.Lock()
	sess.tunnels[t.id] = t
	sess.mu.Unlock()
	s.names[name] = t
	sess.wg.Add(1) // under s.mu, so session.close (which sets closed under s.mu) waits for it
	return t, 0, ""
}

var errNoFreePort = errors.New("no free port among the allowed ports")

// probeBind binds host once, on a port the kernel picks, so that a
// public_bind that does not resolve or is no address of this host stops the
// server at start rather than refusing every tunnel later.
func probeBind(host string) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.EADDRNOTAVAIL) || errors.As(err, &dnsErr):
		return fmt.Errorf("relay: public_bind %q: public ports cannot bind there: it must be an address of this host, or a name resolving to one: %w", host, err)
	case err != nil:
		return fmt.Errorf("relay: public_bind %q: %w", host, err)
	}
	return ln.Close()
}

// advertised is the address a public listener is announced as: its port
// on public_host when that is set, else the address it is bound to.
func (s *Server) advertised(a net.Addr) string {
	if s.cfg.PublicHost == "" {
		return a.String()
	}
	return net.JoinHostPort(s.cfg.PublicHost, strconv.Itoa(a.(*net.TCPAddr).Port))
}

// bindRefusal says what a failed public bind tells the client: PortInUse
// and TryLater may pass, and the client retries them; anything else
// (BindFailed: a public_bind that does not resolve or is not local, a port
// the server may not bind) stays until someone changes a config, and the
// client does not retry it.
func bindRefusal(err error) byte {
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.EADDRINUSE), errors.Is(err, errNoFreePort):
		return CodePortInUse
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE),
		errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.ENOMEM):
		return CodeTryLater
	case errors.As(err, &dns) && (dns.IsTemporary || dns.IsTimeout):
		return CodeTryLater
	}
	return CodeBindFailed
}

// listenPublic binds a public port: the one asked for, or for 0 one the
// kernel picks, or a free one from the allowed ports.
func (s *Server) listenPublic(port int) (*net.TCPListener, error) {
	listen := func(p int) (*net.TCPListener, error) {
		ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.PublicBind, strconv.Itoa(p)))
		if err != nil {
			return nil, err
		}
		return ln.(*net.TCPListener), nil
	}
	if port != 0 || s.cfg.allowed == nil {
		return listen(port)
	}
	var ports []int
	for _, r := range s.cfg.allowed {
		for p := r[0]; p <= r[1] && len(ports) < 65536; p++ {
			ports = append(ports, p)
		}
	}
	rand.Shuffle(len(ports), func(i, j int) { ports[i], ports[j] = ports[j], ports[i] })
	for _, p := range ports {
		if ln, err := listen(p); err == nil {
			return ln, nil
		}
	}
	return nil, fmt.Errorf("%w %s", errNoFreePort, s.cfg.AllowPorts)
}

// close ends the session once: the control connection, every public
// listener and pooled data connection, and every public connection still
// waiting for one. Relays already running go on.
func (sess *session) close(why error) {
	sess.closeOnce.Do(func() {
		s := sess.srv
		s.mu.Lock()
		if s.sessions[sess.clientID] == sess {
			delete(s.sessions, sess.clientID)
		}
		delete(s.byID, sess.id)
		sess.mu.Lock()
		sess.closed = true
		tunnels := make([]*tunnel, 0, len(sess.tunnels))
		for _, t := range sess.tunnels {
			tunnels = append(tunnels, t)
			if s.names[t.name] == t {
				delete(s.names, t.name)
			}
		}
		sess.mu.Unlock()
		s.mu.Unlock()

		close(sess.done)
		sess.raw.Close()
		for _, t := range tunnels {
			t.close()
		}
		sess.wg.Wait()
		if why != nil && !errors.Is(why, errReplaced) && !errors.Is(why, ErrServerClosed) {
			sess.log.Info("client disconnected", "reason", why)
		}
	})
}

// A tunnel is one public listener and the data connections waiting to serve
// it.
type tunnel struct {
	sess *session
	id   uint32
	name string
	ln   *net.TCPListener
	pace *pace // the bandwidth cap's buckets; nil for none
	// slots holds a token for each public connection accepted and not yet
	// paired with a data connection: being served, or waiting. With all
	// MaxWaiting taken, acceptLoop stops accepting until one is freed, and
	// the kernel's listen backlog holds new connections meanwhile (as
	// HAProxy does at maxconn): under a burst a new connection waits its
	// turn instead of being reset. Taken by acceptLoop; freed exactly once,
	// by whoever hands the connection to an engine or ends it.
	slots chan struct{}
	done  chan struct{} // closed by close: a paused acceptLoop stops

	mu      sync.Mutex
	closed  bool
	idle    []*pooled // FIFO: the oldest idle data connection is used first
	waiting []*waiter // public connections waiting for a data connection, FIFO
	live    int       // public connections admitted and not yet ended
}

// admit counts a new public connection against the server's and the
// tunnel's limits, or refuses it. Every admitted connection is released
// exactly once, wherever it ends: reset in serve or by its data timeout,
// dropped by close, or done relaying.
func (t *tunnel) admit() bool {
	s := t.sess.srv
	if n := s.live.Add(1); n > int64(s.cfg.MaxConns) {
		s.live.Add(-1)
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.cfg.MaxConnsPerTunnel > 0 && t.live >= s.cfg.MaxConnsPerTunnel {
		s.live.Add(-1)
		return false
	}
	t.live++
	return true
}

// release ends the count admit began.
func (t *tunnel) release() {
	t.mu.Lock()
	t.live--
	t.mu.Unlock()
	t.sess.srv.live.Add(-1)
}

type waiter struct {
	pc    *net.TCPConn
	timer *time.Timer
}

func (t *tunnel) acceptLoop() {
	defer t.sess.wg.Done()
	s := t.sess.srv
	var delay time.Duration
	for {
		select {
		case t.slots <- struct{}{}:
		default:
			s.count.add(scAcceptPaused)
			t.sess.log.Debug("public connections waiting at the limit; accepting again once one is served", "tunnel", t.name, "waiting", MaxWaiting)
			select {
			case t.slots <- struct{}{}:
			case <-t.done:
				return
			}
		}
		pc, err := t.ln.AcceptTCP()
		if err != nil {
			t.freeSlot()
			t.mu.Lock()
			closed := t.closed
			t.mu.Unlock()
			if closed {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.sess.log.Warn("public accept failed", "tunnel", t.name, "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.count.add(scPublicConns)
		if a, ok := s.cfg.accessFor(t.name); ok && !a.admits(sourceAddr(pc)) {
			s.count.add(scConnsDenied)
			t.sess.log.Debug("public connection from a source the access rules deny; reset", "tunnel", t.name, "peer", pc.RemoteAddr().String())
			abort(pc)
			t.freeSlot()
			continue
		}
		if !t.admit() {
			// Refused at once, never queued: a reset, counted, and logged
			// only at debug so a flood cannot flood the log too.
			s.count.add(scConnsLimited)
			t.sess.log.Debug("public connection over the connection limits; reset", "tunnel", t.name, "peer", pc.RemoteAddr().String(),
				"max_conns", s.cfg.MaxConns, "max_conns_per_tunnel", s.cfg.MaxConnsPerTunnel)
			abort(pc)
			t.freeSlot()
			continue
		}
		t.sess.log.Debug("public connection", "tunnel", t.name, "peer", pc.RemoteAddr().String())
		// Serving may write to the control connection; never let a slow
		// one stall accepting.
		t.sess.wg.Add(1)
		go func() {
			defer t.sess.wg.Done()
			t.serve(pc)
		}()
	}
}

// serve pairs a public connection with an idle data connection, or asks the
// client for a new one and queues the public connection until it arrives or
// DataTimeout passes. A public connection that cannot be served is reset,
// never closed cleanly, so its client cannot take silence for an answer.
// Whoever takes a waiter out of t.waiting under t.mu owns its connection.
func (t *tunnel) serve(pc *net.TCPConn) {
	s := t.sess.srv
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			s.count.add(scPublicDropped)
			t.drop(pc)
			return
		}
		if len(t.idle) == 0 {
			break
		}
		p := t.idle[0]
		t.idle = t.idle[1:]
		t.mu.Unlock()
		if p.claim() {
			s.count.add(scPoolHits)
			t.start(pc, p.c)
			return
		}
		// It died while idle; the next one, or a new one.
	}
	// No more than MaxWaiting: each holds a slot.
	w := &waiter{pc: pc}
	w.timer = time.AfterFunc(s.cfg.DataTimeout, func() {
		if t.dropWaiter(w) {
			s.count.add(scDataTimeouts)
			t.sess.log.Warn("no data connection in time; resetting public connection", "tunnel", t.name, "peer", pc.RemoteAddr().String(), "waited", s.cfg.DataTimeout)
			t.drop(pc)
		}
	})
	t.waiting = append(t.waiting, w)
	t.mu.Unlock()
	s.count.add(scPoolMisses)
	t.sess.send(FrameNeedData, encoder{}.u32(t.id))
}

func (t *tunnel) dropWaiter(w *waiter) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, x := range t.waiting {
		if x == w {
			t.waiting = append(t.waiting[:i], t.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// addData takes a fresh data connection: it serves the oldest waiting public
// connection, or joins the idle pool.
func (t *tunnel) addData(dc Stream) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		rawTCP(dc).Close()
		return
	}
	if len(t.waiting) > 0 {
		w := t.waiting[0]
		t.waiting = t.waiting[1:]
		t.mu.Unlock()
		// Ours now: a timer that fires anyway finds nothing to drop.
		w.timer.Stop()
		t.start(w.pc, dc)
		return
	}
	if len(t.idle) >= MaxPool {
		t.mu.Unlock()
		t.sess.srv.count.add(scDataRefused)
		dc.Write([]byte{DataRefused, 1, CodeOverflow})
		rawTCP(dc).Close()
		return
	}
	p := newPooled(t, dc)
	t.idle = append(t.idle, p)
	t.mu.Unlock()
	t.sess.srv.count.add(scPooled)
}

// start sends "start" with the public peer's address on the data connection
// and hands both to the engine.
func (t *tunnel) start(pc *net.TCPConn, dc Stream) {
	msg := encoder{}.u8(DataStart).str(pc.RemoteAddr().String())
	dc.SetWriteDeadline(time.Now().Add(t.sess.srv.cfg.HandshakeTimeout))
	if _, err := dc.Write(msg); err != nil {
		rawTCP(dc).Close()
		t.sess.srv.count.add(scStartFailed)
		t.serve(pc) // another data connection, or a new one
		return
	}
	dc.SetWriteDeadline(time.Time{})
	t.freeSlot()
	t.sess.srv.relay(t, pc, dc)
}

// freeSlot gives back the slot a public connection held while it waited.
func (t *tunnel) freeSlot() { <-t.slots }

// drop resets a public connection that will not be served, and gives back
// its slot and its place under the connection limits.
func (t *tunnel) drop(pc *net.TCPConn) {
	abort(pc)
	t.freeSlot()
	t.release()
}

func (t *tunnel) close() {
	t.mu.Lock()
	t.closed = true
	idle, waiting := t.idle, t.waiting
	t.idle, t.waiting = nil, nil
	t.mu.Unlock()
	close(t.done)
	t.ln.Close()
	for _, p := range idle {
		rawTCP(p.c).Close() // its watcher sees the error and ends
		<-p.exited
	}
	for _, w := range waiting {
		w.timer.Stop()
		t.sess.srv.count.add(scPublicDropped)
		t.drop(w.pc)
	}
	if len(waiting) > 0 {
		t.sess.log.Warn("tunnel closed with public connections waiting; reset them", "tunnel", t.name, "count", len(waiting))
	}
}

// removeIdle takes p out of the idle pool and reports whether it was there
// (not when the tunnel closed it).
func (t *tunnel) removeIdle(p *pooled) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, x := range t.idle {
		if x == p {
			t.idle = append(t.idle[:i], t.idle[i+1:]...)
			return true
		}
	}
	return false
}

// A pooled data connection is watched while idle: the client never sends on
// it before "start", so any read result (EOF, reset, a byte) means it is dead
// or broken and it leaves the pool at once. TCP keepalive turns a silently
// vanished peer into such an error.
type pooled struct {
	t      *tunnel
	c      Stream
	exited chan struct{}

	mu      sync.Mutex
	claimed bool // set by claim; the watcher's timeout is then ours
	dead    bool
}

func newPooled(t *tunnel, c Stream) *pooled {
	p := &pooled{t: t, c: c, exited: make(chan struct{})}
	go p.watch()
	return p
}

func (p *pooled) watch() {
	defer close(p.exited)
	var b [1]byte
	_, err := p.c.Read(b[:])
	p.mu.Lock()
	claimed := p.claimed
	var ne net.Error
	p.dead = !(claimed && errors.As(err, &ne) && ne.Timeout())
	p.mu.Unlock()
	if !claimed {
		if p.t.removeIdle(p) {
			p.t.sess.srv.count.add(scPoolClosedIdle)
			p.t.sess.log.Debug("pooled data connection died while idle", "tunnel", p.t.name, "err", err)
		}
		rawTCP(p.c).Close()
	}
}

// claim stops the watcher and reports whether the connection is still good.
// A dead one is closed.
func (p *pooled) claim() bool {
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		return false
	}
	p.claimed = true
	p.mu.Unlock()
	p.c.SetReadDeadline(time.Unix(1, 0)) // wakes the watcher's Read
	<-p.exited
	p.c.SetReadDeadline(time.Time{})
	if p.dead || !probeIdle(rawTCP(p.c)) {
		p.t.sess.srv.count.add(scPoolDeadAtClaim)
		rawTCP(p.c).Close()
		return false
	}
	return true
}
