package relay

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// rawClient speaks the control protocol by hand, so tests can send what a
// well-behaved Client never would.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	id   [16]byte
	key  []byte
}

func dialRaw(t testing.TB, srv *Server, clientID string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	c.Write(preamble(KindControl))
	typ, serverNonce, err := readFrame(c)
	if err != nil || typ != FrameChallenge {
		t.Fatalf("challenge: %#x %v", typ, err)
	}
	clientNonce := randomBytes(nonceLen)
	writeFrame(c, FrameAuth, encoder{}.raw(clientNonce).raw(clientMAC(srv.cfg.Token, serverNonce, clientNonce, clientID)).str(clientID))
	typ, p, err := readFrame(c)
	if err != nil || typ != FrameAuthOK {
		t.Fatalf("auth: %#x %v", typ, err)
	}
	r := &rawClient{t: t, conn: c, key: sessionKey(srv.cfg.Token, serverNonce, clientNonce)}
	copy(r.id[:], p[:16])
	return r
}

// register registers a tunnel on a kernel-chosen port and returns its id and
// public address.
func (r *rawClient) register(name string) (uint32, string) {
	writeFrame(r.conn, FrameRegister, encoder{}.u16(0).str(name))
	for {
		typ, p, err := readFrame(r.conn)
		if err != nil {
			r.t.Fatal(err)
		}
		if typ == FrameRegistered {
			d := decoder{b: p}
			id, _, addr := d.u32(), d.str(), d.str()
			return id, addr
		}
		if typ != FrameHeartbeat {
			r.t.Fatalf("register: got frame %#x", typ)
		}
	}
}

// expectFrame reads frames until one of type typ, skipping heartbeats.
func (r *rawClient) expectFrame(typ byte) []byte {
	for {
		got, p, err := readFrame(r.conn)
		if err != nil {
			r.t.Fatal(err)
		}
		if got == typ {
			return p
		}
		if got != FrameHeartbeat {
			r.t.Fatalf("got frame %#x, want %#x", got, typ)
		}
	}
}

func newTestServer(t testing.TB, mods ...func(*ServerConfig)) *Server {
	t.Helper()
	// The default engine is registered in this test binary by the external
	// tests' import of variants/all.
	cfg := ServerConfig{Listen: "127.0.0.1:0", Token: "t"}
	for _, m := range mods {
		m(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	return srv
}

// TestDataHeaderChecks: a replayed, forged, stale or unknown-tunnel data
// header is refused with its code; a good one is accepted.
func TestDataHeaderChecks(t *testing.T) {
	srv := newTestServer(t)
	rc := dialRaw(t, srv, "raw")
	tid, _ := rc.register("web")

	// dial sends a header and returns the code of the refusal the server
	// answers with.
	dial := func(hdr []byte) byte {
		t.Helper()
		c, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(hdr)
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		var m [3]byte
		if _, err := io.ReadFull(c, m[:]); err != nil {
			t.Fatalf("read: %v", err)
		}
		if m[0] != DataRefused {
			t.Fatalf("got %x", m)
		}
		return m[2]
	}
	good := dataHeader{session: rc.id, tunnel: tid, seq: 1}
	gc, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	gc.Write(good.marshal(rc.key))
	waitUntil(t, "the good data connection to be pooled", func() bool { return srv.Counters()["pooled"] == 1 })
	for _, c := range []struct {
		name string
		hdr  []byte
		want byte
	}{
		{"replayed", good.marshal(rc.key), CodeReplay},
		{"wrong key", dataHeader{session: rc.id, tunnel: tid, seq: 2}.marshal([]byte("guess")), CodeBadMAC},
		{"unknown session", dataHeader{tunnel: tid, seq: 3}.marshal(rc.key), CodeStaleSession},
		{"unknown tunnel", dataHeader{session: rc.id, tunnel: tid + 100, seq: 4}.marshal(rc.key), CodeNoTunnel},
	} {
		if code := dial(c.hdr); code != c.want {
			t.Errorf("%s: got %q, want %q", c.name, codeText(code), codeText(c.want))
		}
	}

	// Once the session is gone, its headers are stale.
	rc.conn.Close()
	waitUntil(t, "the session to be freed", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.byID[rc.id] == nil
	})
	if code := dial(dataHeader{session: rc.id, tunnel: tid, seq: 5}.marshal(rc.key)); code != CodeStaleSession {
		t.Errorf("after the session ended: got %q", codeText(code))
	}
}

// TestHeaderAndPayloadInOneWrite: bytes that arrive in the same segment as
// the data header must reach the public side, so the server may read the
// header only with exact-length reads.
func TestHeaderAndPayloadInOneWrite(t *testing.T) {
	srv := newTestServer(t)
	rc := dialRaw(t, srv, "raw")
	tid, addr := rc.register("web")

	pub, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	rc.expectFrame(FrameNeedData) // no pool: the server asks for a data connection

	dc, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	payload := []byte("banner sent together with the header")
	hdr := dataHeader{session: rc.id, tunnel: tid, seq: 1}.marshal(rc.key)
	if _, err := dc.Write(append(hdr, payload...)); err != nil {
		t.Fatal(err)
	}
	pub.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(pub, got); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("public side read %q, %v", got, err)
	}
}

// TestDataTimeout: a public connection that no data connection serves in
// time is reset, not left hanging or closed as if complete, and counted.
func TestDataTimeout(t *testing.T) {
	srv := newTestServer(t, func(c *ServerConfig) { c.DataTimeout = 50 * time.Millisecond })
	rc := dialRaw(t, srv, "raw")
	_, addr := rc.register("web")
	pub, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	rc.expectFrame(FrameNeedData) // and never answer it
	pub.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := pub.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("public read: %v, want a reset", err)
	}
	if n := srv.Counters()["data_timeouts"]; n != 1 {
		t.Errorf("data_timeouts = %d, want 1", n)
	}
}

// TestSessionEndResetsWaiting: public connections waiting for a data
// connection when the session ends are reset and counted.
func TestSessionEndResetsWaiting(t *testing.T) {
	srv := newTestServer(t, func(c *ServerConfig) { c.DataTimeout = time.Hour })
	rc := dialRaw(t, srv, "raw")
	_, addr := rc.register("web")
	pub, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	rc.expectFrame(FrameNeedData)
	rc.conn.Close() // the session ends with pub still waiting
	pub.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := pub.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("public read: %v, want a reset", err)
	}
	waitUntil(t, "the drop to be counted", func() bool { return srv.Counters()["public_dropped"] == 1 })
}

// waitUntil polls cond until it holds, failing the test after a generous
// deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
