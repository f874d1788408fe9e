package enginetest

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

// A Pair is one relayed connection over loopback:
//
//	C1 <-> a [engine] b <-> C2
//
// The test holds C1 and C2; the engine owns a and b. In a pair made by
// RunStreams, b <-> C2 is a TLS connection and C2 is the TCP socket under its
// client.
type Pair struct {
	C1 *net.TCPConn // the test's end of a
	C2 *net.TCPConn // the test's end of b

	// s1 and s2 are C1 and C2 as the scenarios drive them: relay.TCPStream
	// of each, except that s2 is the TLS client over C2 when b is TLS.
	s1, s2 relay.Stream

	ended chan struct{} // closed by the first call to done
	calls atomic.Int32  // calls to done; the contract allows exactly one
	res   relay.Result  // set before ended is closed
}

// NewPair connects two loopback TCP connections through fresh listeners on
// 127.0.0.1:0, gives their accepted ends to e.Relay, and returns the dialled
// ends. tb.Cleanup closes C1 and C2.
func NewPair(tb testing.TB, e relay.Engine) *Pair {
	tb.Helper()
	return newPair(tb, e, pairConfig{})
}

type pairConfig struct {
	// buf, if non-zero, pins the send and receive buffers of all four
	// sockets, turning off the kernel's autotuning (which on Linux can grow
	// a receive buffer to tcp_rmem's maximum, tens of MiB) so that how much a
	// stalled pair holds is set by the test and the engine alone.
	buf int

	// deadline, if non-zero, is set on C1 and C2, so that a broken engine
	// fails the test with a timeout instead of hanging it.
	deadline time.Duration

	// tls makes b <-> C2 a TLS connection, handed to the engine's
	// RelayStreams with a as relay.TCPStream. See RunStreams.
	tls bool
}

func newPair(tb testing.TB, e relay.Engine, cfg pairConfig) *Pair {
	tb.Helper()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	// Until Relay takes them, a and b are ours to close: a Fatal below must
	// not leak them. (Fatal runs deferred calls.)
	var a, b *net.TCPConn
	handed := false
	defer func() {
		if !handed {
			for _, c := range []*net.TCPConn{a, b} {
				if c != nil {
					c.Close()
				}
			}
		}
	}()
	c1, a := connect(tb, ln)
	c2, b := connect(tb, ln)
	if cfg.buf > 0 {
		for _, c := range []*net.TCPConn{c1, a, b, c2} {
			if err := c.SetReadBuffer(cfg.buf); err != nil {
				tb.Fatalf("SetReadBuffer: %v", err)
			}
			if err := c.SetWriteBuffer(cfg.buf); err != nil {
				tb.Fatalf("SetWriteBuffer: %v", err)
			}
		}
	}
	if cfg.deadline > 0 {
		d := time.Now().Add(cfg.deadline)
		c1.SetDeadline(d)
		c2.SetDeadline(d)
	}
	p := &Pair{C1: c1, C2: c2, s1: relay.TCPStream(c1), s2: relay.TCPStream(c2), ended: make(chan struct{})}
	if !cfg.tls {
		handed = true
		e.Relay(a, b, p.done)
		return p
	}
	sr, ok := e.(relay.StreamRelayer)
	if !ok {
		tb.Fatalf("engine %T does not implement relay.StreamRelayer", e)
	}
	client, server := handshake(tb, c2, b)
	p.s2 = relay.TLSStream(client, c2)
	handed = true
	sr.RelayStreams(relay.TCPStream(a), relay.TLSStream(server, b), p.done)
	return p
}

// connect dials ln and accepts the connection, checking by address that the
// accepted one is ours. tb.Cleanup closes the dialled end.
func connect(tb testing.TB, ln *net.TCPListener) (dialled, accepted *net.TCPConn) {
	tb.Helper()
	dialled, err := net.DialTCP("tcp4", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { dialled.Close() })
	accepted, err = ln.AcceptTCP()
	if err != nil {
		tb.Fatalf("accept: %v", err)
	}
	if got, want := accepted.RemoteAddr().String(), dialled.LocalAddr().String(); got != want {
		accepted.Close()
		tb.Fatalf("accepted a connection from %s, dialled from %s", got, want)
	}
	return dialled, accepted
}

func (p *Pair) done(r relay.Result) {
	if p.calls.Add(1) == 1 {
		p.res = r
		close(p.ended)
	}
}

// Result waits up to timeout for the engine to call done and returns what it
// reported, or fails tb.
func (p *Pair) Result(tb testing.TB, timeout time.Duration) relay.Result {
	tb.Helper()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.ended:
		return p.res
	case <-t.C:
		tb.Fatalf("engine did not call done within %v", timeout)
		return relay.Result{}
	}
}

// hasEnded reports whether done has been called, without waiting.
func (p *Pair) hasEnded() bool {
	select {
	case <-p.ended:
		return true
	default:
		return false
	}
}
