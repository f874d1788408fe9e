package relay

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// dialPublic opens a public connection and, for an admitted one, waits for
// the NeedData it causes, so that the server has counted it before the
// test goes on.
func dialPublic(t *testing.T, rc *rawClient, addr string, admitted bool) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if admitted {
		rc.expectFrame(FrameNeedData)
	}
	return c
}

// expectReset reads from a public connection that must be refused at once.
func expectReset(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read from a connection over the limit: %v, want a reset", err)
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
	dialPublic(t, rc, a, true)
	dialPublic(t, rc, b, true)
	expectReset(t, dialPublic(t, rc, a, false)) // the third, on either tunnel
	if n := srv.Counters()["conns_limited"]; n != 1 {
		t.Errorf("conns_limited = %d, want 1", n)
	}
	// Both held connections time out waiting for data connections, which
	// gives their places back.
	waitUntil(t, "both held connections to time out", func() bool { return srv.Counters()["data_timeouts"] == 2 })
	dialPublic(t, rc, b, true)
	dialPublic(t, rc, a, true)
}

func TestMaxConnsPerTunnel(t *testing.T) {
	srv := newTestServer(t, func(c *ServerConfig) {
		c.MaxConnsPerTunnel = 1
		c.DataTimeout = time.Hour
	})
	rc := dialRaw(t, srv, "raw")
	_, a := rc.register("a")
	_, b := rc.register("b")
	dialPublic(t, rc, a, true)
	expectReset(t, dialPublic(t, rc, a, false))
	dialPublic(t, rc, b, true) // another tunnel has its own bound
	if n := srv.Counters()["conns_limited"]; n != 1 {
		t.Errorf("conns_limited = %d, want 1", n)
	}
}

func TestMaxClients(t *testing.T) {
	srv := newTestServer(t, func(c *ServerConfig) { c.MaxClients = 1 })
	first := dialRaw(t, srv, "first")
	typ, err := authAs(t, srv, "127.0.0.1", "second", srv.cfg.Token)
	if err != nil || typ != FrameError {
		t.Fatalf("a second client id: answered %#x (%v), want an Error frame", typ, err)
	}
	// The same id replaces its own session: never refused as one too many.
	if typ, err := authAs(t, srv, "127.0.0.1", "first", srv.cfg.Token); err != nil || typ != FrameAuthOK {
		t.Fatalf("the same id again: answered %#x (%v), want auth ok", typ, err)
	}
	first.conn.Close()
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
