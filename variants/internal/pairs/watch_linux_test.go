package pairs_test

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
	"github.com/ferry-tunnel/ferry/relay/enginetest"
	"github.com/ferry-tunnel/ferry/variants/internal/pairs"
)

// patience bounds every wait for something that must happen; generous, for
// a busy CI machine.
const patience = 20 * time.Second

// watchedAtOnce returns a Set whose watcher takes each pair's sockets as the
// pair starts rather than after WatchDelay, closed by t.Cleanup.
func watchedAtOnce(t *testing.T) *pairs.Set {
	t.Helper()
	s := newSet(t, copyBuf)
	pairs.SetWatchDelay(s, 0)
	t.Cleanup(func() { s.Close() })
	return s
}

// A pair that ends within the watch delay never reaches the watcher, which
// is what keeps it off the cost of short pairs; one that lives longer does.
func TestWatchDelay(t *testing.T) {
	s := newSet(t, copyBuf)
	pairs.SetWatchDelay(s, time.Hour)
	t.Cleanup(func() { s.Close() })
	short := enginetest.NewPair(t, s)
	short.C1.CloseWrite()
	short.C2.CloseWrite()
	if r := short.Result(t, patience); r.Err != nil {
		t.Fatalf("short pair: %v", r.Err)
	}
	if c := s.Counters(); c[pairs.CounterWatchedSockets] != 0 || c[pairs.CounterWatcherEvents] != 0 {
		t.Errorf("a pair that ended within the delay: counters %v, want no socket watched and no event", c)
	}

	s = newSet(t, copyBuf)
	pairs.SetWatchDelay(s, time.Millisecond)
	t.Cleanup(func() { s.Close() })
	enginetest.NewPair(t, s)
	for deadline := time.Now().Add(patience); s.Counters()[pairs.CounterWatchedSockets] != 2; {
		if time.Now().After(deadline) {
			t.Fatalf("a pair older than the delay: %s = %d after %v, want 2", pairs.CounterWatchedSockets, s.Counters()[pairs.CounterWatchedSockets], patience)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A reset on a side whose direction is blocked writing into a peer that does
// not read, while the other direction waits on that same peer: no copy
// touches the reset socket, and the watcher ends the pair with the reset.
func TestWatcherEndsStuckPair(t *testing.T) {
	s := watchedAtOnce(t)
	p := enginetest.NewPair(t, s)
	buf := make([]byte, 64<<10)
	for {
		// C2 never reads: the writes stop once every buffer on the way is
		// full and the copy a→b is blocked writing b.
		p.C1.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := p.C1.Write(buf); errors.Is(err, os.ErrDeadlineExceeded) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	p.C1.SetLinger(0)
	p.C1.Close()
	r := p.Result(t, patience)
	if !errors.Is(r.Err, syscall.ECONNRESET) {
		t.Errorf("Result.Err = %v, want ECONNRESET", r.Err)
	}
	if n := s.Counters()[pairs.CounterWatcherResets]; n != 1 {
		t.Errorf("%s = %d, want 1", pairs.CounterWatcherResets, n)
	}
}

// Bytes moving raise no event: the watcher asks for errors alone, so it
// sleeps while pairs relay, and costs nothing per chunk.
func TestWatcherSleepsWhileBytesMove(t *testing.T) {
	const size = 16 << 20
	s := watchedAtOnce(t)
	p := enginetest.NewPair(t, s)
	for _, c := range []*net.TCPConn{p.C1, p.C2} {
		c.SetDeadline(time.Now().Add(patience))
	}
	sent := make(chan error, 2)
	for _, c := range []*net.TCPConn{p.C1, p.C2} {
		go func() {
			_, err := c.Write(make([]byte, size))
			sent <- err
		}()
	}
	for _, c := range []*net.TCPConn{p.C2, p.C1} {
		if _, err := io.ReadFull(c, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Counters()[pairs.CounterWatcherEvents]; n != 0 {
		t.Errorf("%s = %d after %d bytes each way and no end, want 0", pairs.CounterWatcherEvents, n, size)
	}
}

// A hang-up alone is no error: here b has been shut both ways (EOF passed on
// to C2, then C2's own FIN) while b→a still holds bytes that C1 has not read
// yet. The watcher takes the hang-up, and the pair goes on to deliver them
// and end cleanly.
func TestWatcherIgnoresHangUp(t *testing.T) {
	const reply = 1 << 20
	s := watchedAtOnce(t)
	c1, a := dialAccept(t)
	c2, b := dialAccept(t)
	// Small buffers on a and C1, so b→a is blocked writing into a; large
	// ones on C2 and b, so C2's reply and its FIN reach b all the same.
	for _, c := range []*net.TCPConn{c1, a} {
		c.SetReadBuffer(64 << 10)
		c.SetWriteBuffer(64 << 10)
	}
	for _, c := range []*net.TCPConn{c2, b} {
		c.SetReadBuffer(4 << 20)
		c.SetWriteBuffer(4 << 20)
	}
	res := make(chan relay.Result, 1)
	s.Relay(a, b, func(r relay.Result) { res <- r })

	c1.CloseWrite()
	c2.SetDeadline(time.Now().Add(patience))
	if n, err := io.Copy(io.Discard, c2); n != 0 || err != nil {
		t.Fatalf("C2 read %d bytes and %v, want EOF at once", n, err)
	}
	if _, err := c2.Write(make([]byte, reply)); err != nil {
		t.Fatal(err)
	}
	c2.CloseWrite()
	for deadline := time.Now().Add(patience); s.Counters()[pairs.CounterWatcherEvents] == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("the watcher took no event in %v: b's hang-up never came", patience)
		}
		time.Sleep(5 * time.Millisecond)
	}

	c1.SetDeadline(time.Now().Add(patience))
	if n, err := io.Copy(io.Discard, c1); n != reply || err != nil {
		t.Errorf("C1 read %d bytes and %v, want %d and EOF", n, err, reply)
	}
	select {
	case r := <-res:
		if r.Err != nil || r.BtoA != reply {
			t.Errorf("Result %+v, want %d bytes b→a and no error", r, reply)
		}
	case <-time.After(patience):
		t.Fatal("done not called")
	}
}

// dialAccept returns both ends of a loopback connection; t.Cleanup closes
// the dialled one.
func dialAccept(t *testing.T) (dialled, accepted *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if dialled, err = net.DialTCP("tcp4", nil, ln.Addr().(*net.TCPAddr)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialled.Close() })
	if accepted, err = ln.AcceptTCP(); err != nil {
		t.Fatal(err)
	}
	return dialled, accepted
}
