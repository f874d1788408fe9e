package relay

import (
	"crypto/tls"
	"fmt"
	"net"
)

// A Stream is one side of a pair that an engine relays through the
// connection's own methods, never its file descriptor: a TLS data connection
// (whose plaintext exists only in user space), or the plain TCP socket paired
// with one. Engines that move bytes between raw sockets in the kernel
// (splice, or a reactor reading fds directly) cannot relay Streams.
type Stream interface {
	net.Conn
	// CloseWrite passes EOF on to the peer once everything written has
	// been sent (for TLS, a close_notify alert and then a FIN).
	CloseWrite() error
	// Abort closes the stream at once with SO_LINGER 0 on its TCP socket,
	// so the peer sees a reset and never a clean end. It may be called
	// while other goroutines are blocked reading or writing the stream;
	// they return with an error.
	Abort()
}

// A StreamRelayer is an Engine that can also relay pairs of Streams.
// RelayStreams has Relay's contract in every respect (ownership, half-close,
// reset on error, done called once, counters), with Abort for the reset.
type StreamRelayer interface {
	RelayStreams(a, b Stream, done func(Result))
}

// A SocketStream is a Stream that names the TCP socket it runs over, so
// that an engine can watch the socket for errors, such as the peer's reset,
// while none of its copies is reading or writing it. The socket is for
// watching only: the bytes go through the Stream's own methods, which may
// frame them (TLS) or pace them (a bandwidth cap), and the Stream closes it.
// Every Stream the relay package makes is a SocketStream.
type SocketStream interface {
	Stream
	Socket() *net.TCPConn
}

// TCPStream makes a TCP socket a Stream.
func TCPStream(c *net.TCPConn) Stream { return tcpStream{c} }

type tcpStream struct{ *net.TCPConn }

func (s tcpStream) Abort() { abort(s.TCPConn) }

func (s tcpStream) Socket() *net.TCPConn { return s.TCPConn }

// TLSStream makes a Stream of c, a TLS connection whose handshake is
// complete, running over raw (which c reads and writes, possibly through a
// wrapper). The Stream's Abort resets raw without a close_notify.
func TLSStream(c *tls.Conn, raw *net.TCPConn) Stream { return &tlsStream{Conn: c, raw: raw} }

type tlsStream struct {
	*tls.Conn
	raw *net.TCPConn
}

// CloseWrite sends close_notify, which the peer's TLS reads as EOF, and
// then a FIN, so the peer's kernel knows too. tls.Conn.CloseWrite alone
// leaves the TCP direction open.
func (s *tlsStream) CloseWrite() error {
	err := s.Conn.CloseWrite()
	if err2 := s.raw.CloseWrite(); err == nil {
		err = err2
	}
	return err
}

func (s *tlsStream) Abort() { abort(s.raw) }

func (s *tlsStream) Socket() *net.TCPConn { return s.raw }

// streamFallback is the engine that relays TLS and paced pairs when the
// configured engine cannot and the user did not name it.
const streamFallback = "gocopybuf"

// streamEngine returns what relays pairs with a TLS or paced side: e itself
// if it can, else, when the user named e, an error saying why not (they asked for
// an engine that would never run), else a user-space engine of its own,
// which closeStreams closes.
func streamEngine(e Engine, name string, named bool, opts Options) (StreamRelayer, error) {
	if sr, ok := e.(StreamRelayer); ok {
		return sr, nil
	}
	if named {
		return nil, fmt.Errorf("%w: engine %q cannot relay TLS data connections or bandwidth-capped tunnels: it moves bytes between raw sockets, and both need the bytes in user space; name a user-space engine (gocopy, gocopybuf), or turn tls_data and bandwidth off", ErrConfig, name)
	}
	fe, err := NewEngine(streamFallback, opts)
	if err != nil {
		return nil, err
	}
	sr, ok := fe.(StreamRelayer)
	if !ok {
		fe.Close()
		return nil, fmt.Errorf("relay: engine %q cannot relay TLS data connections either", streamFallback)
	}
	if opts.Logger != nil {
		opts.Logger.Warn("engine cannot relay TLS data connections or bandwidth-capped tunnels; those pairs use a user-space engine", "engine", name, "tls_engine", streamFallback)
	}
	return sr, nil
}

// closeStreams closes the stream relayer streamEngine made for e, if it is
// an engine of its own.
func closeStreams(e Engine, sr StreamRelayer) {
	if fe, ok := sr.(Engine); ok && fe != e {
		fe.Close()
	}
}

// rawTCP is the TCP socket under a Stream the core made: what it closes
// when a data connection never reached an engine (no TLS goodbye that could
// block), sets keepalive on and probes.
func rawTCP(s Stream) *net.TCPConn {
	if t, ok := s.(*tlsStream); ok {
		return t.raw
	}
	return s.(tcpStream).TCPConn
}
