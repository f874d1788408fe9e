package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dialPublic opens a public connection from local that the server admits,
// and waits for the NeedData it causes, so that the server has counted it
// before the test goes on.
func dialPublic(t *testing.T, rc *rawClient, local, addr string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc.expectFrame(FrameNeedData)
}

// expectRefused dials a public port from local and expects the connection
// to be refused at once: reset right after accept. The reset can beat the
// dial's own check of the connection, so it shows either there or on the
// first read.
func expectRefused(t *testing.T, local, addr string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err == nil {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err = c.Read(make([]byte, 1))
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection from %s to %s: %v, want a reset", local, addr, err)
	}
}

func TestMaxConns(t *testing.T) {
	srv := newTestServer(t, func(c *ServerConfig) {
		c.MaxConns = 2
		c.DataTimeout = 300 * time.Millisecond // the held connections end on their own
	})
	rc := dialRaw(t, srv, "raw")
	_, a := rc.register("a")
	_, b := rc.register("b")
	dialPublic(t, rc, "127.0.0.1", a)
	dialPublic(t, rc, "127.0.0.1", b)
	expectRefused(t, "127.0.0.1", a) // the third, on either tunnel
	if n := srv.Counters()["conns_limited"]; n != 1 {
		t.Errorf("conns_limited = %d, want 1", n)
	}
	// Both held connections time out waiting for data connections, which
	// gives their places back.
	waitUntil(t, "both held connections to time out", func() bool { return srv.Counters()["data_timeouts"] == 2 })
	dialPublic(t, rc, "127.0.0.1", b)
	dialPublic(t, rc, "127.0.0.1", a)
}

func TestMaxConnsPerTunnel(t *testing.T) {
	srv := newTestServer(t, func(c *ServerConfig) {
		c.MaxConnsPerTunnel = 1
		c.DataTimeout = time.Hour
	})
	rc := dialRaw(t, srv, "raw")
	_, a := rc.register("a")
	_, b := rc.register("b")
	dialPublic(t, rc, "127.0.0.1", a)
	expectRefused(t, "127.0.0.1", a)
	dialPublic(t, rc, "127.0.0.1", b) // another tunnel has its own bound
	if n := srv.Counters()["conns_limited"]; n != 1 {
		t.Errorf("conns_limited = %d, want 1", n)
	}
}

func TestMaxClients(t *testing.T) {
	srv := newTestServer(t, func(c *ServerConfig) { c.MaxClients = 1 })
	// A first session that ends on the Ping, as a dead one would, so the
	// same id may replace it.
	controlPeer(t, srv, "first", closesOnPing)
	typ, err := authAs(t, srv, "127.0.0.1", "second", srv.cfg.Token)
	if err != nil || typ != FrameError {
		t.Fatalf("a second client id: answered %#x (%v), want an Error frame", typ, err)
	}
	// The same id replaces its own session: never refused as one too many.
	if typ, err := authAs(t, srv, "127.0.0.1", "first", srv.cfg.Token); err != nil || typ != FrameAuthOK {
		t.Fatalf("the same id again: answered %#x (%v), want auth ok", typ, err)
	}
	if n := srv.Counters()["clients_limited"]; n != 1 {
		t.Errorf("clients_limited = %d, want 1", n)
	}
}

func TestMaxTunnelsPerClient(t *testing.T) {
	srv := newTestServer(t, func(c *ServerConfig) { c.MaxTunnelsPerClient = 1 })
	rc := dialRaw(t, srv, "raw")
	rc.register("a")
	writeFrame(rc.conn, FrameRegister, encoder{}.u16(0).str("b"))
	d := decoder{b: rc.expectFrame(FrameRefused)}
	if code := d.u8(); code != CodeTooMany {
		t.Errorf("second tunnel refused with code %d, want TooMany (%d)", code, CodeTooMany)
	}
}

func TestAccessRules(t *testing.T) {
	srv := newTestServer(t, func(c *ServerConfig) {
		c.DataTimeout = time.Hour
		c.Access = []AccessRule{
			{Tunnel: "web", Allow: []string{"127.0.0.1/32"}},
			{Tunnel: "*", Allow: []string{"127.0.0.0/8"}, Deny: []string{"127.0.0.3"}},
		}
	})
	rc := dialRaw(t, srv, "raw")
	_, web := rc.register("web")
	_, other := rc.register("other")
	for _, tc := range []struct {
		addr, from string
		admitted   bool
	}{
		{web, "127.0.0.1", true},
		{web, "127.0.0.2", false}, // web's own rule allows only 127.0.0.1
		{other, "127.0.0.2", true},
		{other, "127.0.0.3", false}, // deny wins over allow
	} {
		if tc.admitted {
			dialPublic(t, rc, tc.from, tc.addr)
		} else {
			expectRefused(t, tc.from, tc.addr)
		}
	}
	if n := srv.Counters()["conns_denied"]; n != 2 {
		t.Errorf("conns_denied = %d, want 2", n)
	}
}

// TestWaitingFullPausesAccept: with MaxWaiting public connections waiting
// for data connections, the tunnel stops accepting instead of resetting the
// next one, which waits in the listen backlog and is served in its turn.
func TestWaitingFullPausesAccept(t *testing.T) {
	srv := newTestServer(t, func(c *ServerConfig) { c.DataTimeout = time.Hour })
	rc := dialRaw(t, srv, "raw")
	tid, public := rc.register("web")
	for range MaxWaiting {
		dialPublic(t, rc, "127.0.0.1", public)
	}
	last, err := net.Dial("tcp", public) // connects: the kernel queues it
	if err != nil {
		t.Fatal(err)
	}
	defer last.Close()
	waitUntil(t, "the tunnel to stop accepting", func() bool { return srv.Counters()["accept_paused"] == 1 })
	if n := srv.Counters()["public_conns"]; n != MaxWaiting {
		t.Fatalf("public_conns = %d with the tunnel paused, want %d", n, MaxWaiting)
	}
	// One data connection serves the oldest waiter, which frees a place:
	// the last connection is accepted and asked a data connection for.
	dc, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	dc.Write(dataHeader{session: rc.id, tunnel: tid, seq: 1}.marshal(rc.key))
	rc.expectFrame(FrameNeedData)
	last.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := last.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the connection that waited in the backlog: %v, want it open and waiting", err)
	}
	if n := srv.Counters()["public_conns"]; n != MaxWaiting+1 {
		t.Errorf("public_conns = %d, want %d", n, MaxWaiting+1)
	}
}

// TestSilentConnectionsBounded: one address opening many connections to the
// server port and saying nothing holds at most MaxHandshakesPerAddr of them;
// each one over closes the oldest, and a real client on another address gets
// in.
func TestSilentConnectionsBounded(t *testing.T) {
	const limit, attack = 16, 200
	srv := newTestServer(t, func(c *ServerConfig) {
		c.MaxHandshakesPerAddr = limit
		c.HandshakeTimeout = time.Hour // silent connections stay as long as they like
	})
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	for range attack {
		c, err := d.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	waitUntil(t, "the oldest connections to be closed", func() bool {
		return srv.Counters()["handshakes_limited"] == attack-limit
	})
	srv.mu.Lock()
	held := srv.hs.from(netip.MustParseAddr("127.0.0.2"))
	srv.mu.Unlock()
	if held != limit {
		t.Errorf("the server holds %d of the attacker's connections, want %d", held, limit)
	}
	dialRaw(t, srv, "real").conn.Close() // from 127.0.0.1
}

// TestJunkFromTheClientsAddress: silent connections from the address a real
// client uses fill that address's handshake budget; the client still
// authenticates and its data connections still get through, because each new
// connection displaces the oldest silent one instead of being refused.
func TestJunkFromTheClientsAddress(t *testing.T) {
	const limit = 8
	srv := newTestServer(t, func(c *ServerConfig) {
		c.MaxHandshakesPerAddr = limit
		c.HandshakeTimeout = time.Hour
		c.DataTimeout = time.Hour
	})
	for range 3 * limit { // from 127.0.0.1, as dialRaw and the data connections
		c, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	waitUntil(t, "the server to hold the address's budget of silent connections", func() bool {
		return srv.Counters()["handshakes_limited"] == 2*limit
	})
	rc := dialRaw(t, srv, "real")
	tid, public := rc.register("web")
	pc, err := net.Dial("tcp", public)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	rc.expectFrame(FrameNeedData)
	dc, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	h := dataHeader{session: rc.id, tunnel: tid, seq: 1}
	dc.Write(h.marshal(rc.key))
	dc.SetReadDeadline(time.Now().Add(20 * time.Second))
	var m [2]byte
	if _, err := io.ReadFull(dc, m[:]); err != nil || m[0] != DataStart {
		t.Fatalf("data connection from the junk's address: got %v, %v; want start", m, err)
	}
}

// TestHandshakesBoundedInTotal: many addresses together hold at most
// MaxHandshakes connections in their handshake; once they go, a real client
// gets in.
func TestHandshakesBoundedInTotal(t *testing.T) {
	const limit = 8
	srv := newTestServer(t, func(c *ServerConfig) {
		c.MaxHandshakes = limit
		c.HandshakeTimeout = time.Hour
	})
	var conns []net.Conn
	for i := range 3 * limit {
		from := net.ParseIP(fmt.Sprintf("127.0.1.%d", 1+i)) // a different address each
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: from}}).Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitUntil(t, "the connections over the total to be closed", func() bool {
		return srv.Counters()["handshakes_limited"] == 2*limit
	})
	for _, c := range conns {
		c.Close()
	}
	waitUntil(t, "the silent connections to be gone", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.hs.len() == 0
	})
	dialRaw(t, srv, "real").conn.Close()
}

// TestTrickleCutOff: a connection sending its handshake a byte at a time is
// closed when its one handshake deadline passes, however it trickles.
func TestTrickleCutOff(t *testing.T) {
	srv := newTestServer(t, func(c *ServerConfig) { c.HandshakeTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A well-formed opening, so that only the deadline can end it early:
	// the preamble and a whole Auth frame (whose proof fails at the end).
	var auth bytes.Buffer
	writeFrame(&auth, FrameAuth, encoder{}.raw(make([]byte, nonceLen)).raw(make([]byte, macLen)).str("slow"))
	msg := append(preamble(KindControl), auth.Bytes()...)
	for i, b := range msg { // 78 bytes at 100 ms: 7.8 s if never cut off
		if _, err := c.Write([]byte{b}); err != nil {
			return // cut off: writes fail once the server has reset the connection
		}
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		buf := make([]byte, 512)
		for {
			_, err := c.Read(buf) // the challenge, then EOF once cut off
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				break
			}
			if err != nil {
				if i == len(msg)-1 {
					t.Fatal("the server waited for the whole trickle")
				}
				return
			}
		}
	}
	t.Fatal("the whole trickled handshake went through without the connection being closed")
}

// countingHandler counts the log records with each message.
type countingHandler struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[r.Message]++
	return nil
}

func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[msg]
}

// TestJunkWarningsRationed: anyone can send junk to the server port, so a
// flood of it is counted in full but logged once per address per period.
func TestJunkWarningsRationed(t *testing.T) {
	logs := &countingHandler{n: map[string]int{}}
	srv := newTestServer(t, func(c *ServerConfig) { c.Logger = slog.New(logs) })
	for _, from := range []string{"127.0.0.2", "127.0.0.3"} {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		for range 20 {
			c, err := d.Dial("tcp", srv.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			io.ReadAll(c) // until the server closes it
			c.Close()
		}
	}
	if n := srv.Counters()["protocol_errors"]; n != 40 {
		t.Errorf("protocol_errors = %d, want 40", n)
	}
	if n := logs.count("closing connection: bad preamble"); n != 2 {
		t.Errorf("%d warnings for 40 junk connections from 2 addresses, want 2", n)
	}
}
