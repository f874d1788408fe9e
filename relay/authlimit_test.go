package relay

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestFailureLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newFailureLimiter(3, time.Minute)
	l.now = func() time.Time { return now }
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")

	for i := 1; i <= 3; i++ {
		if !l.allow(a) || l.nextTry(a) != 0 {
			t.Fatalf("try %d refused (next try in %v); the burst is 3", i, l.nextTry(a))
		}
		if limited := l.failed(a); limited != (i == 3) {
			t.Fatalf("failure %d: limited %v, want %v", i, limited, i == 3)
		}
	}
	if l.allow(a) {
		t.Fatal("a fourth try allowed right after three failures")
	}
	if got := l.nextTry(a); got != time.Minute {
		t.Fatalf("next try in %v right after the last failure, want a period, %v", got, time.Minute)
	}
	now = now.Add(20 * time.Second)
	if got := l.nextTry(a); got != 40*time.Second {
		t.Fatalf("next try in %v a third of a period later, want 40s", got)
	}
	if !l.allow(b) {
		t.Fatal("another address refused: limits are per address")
	}

	now = now.Add(40 * time.Second) // one try earned back
	if !l.allow(a) {
		t.Fatal("no try a period later")
	}
	if !l.failed(a) {
		t.Fatal("failing the earned try did not limit the address again")
	}

	now = now.Add(3 * time.Minute) // the whole burst back: nothing to remember
	if !l.allow(a) {
		t.Fatal("no try after the burst refilled")
	}
	if n := len(l.addrs); n != 0 {
		t.Errorf("%d addresses remembered after every allowance refilled, want 0", n)
	}
}

// dialControl opens a control connection from local (host:0) and sends the
// preamble; the connection has a deadline for the whole test's reads.
func dialControl(t *testing.T, srv *Server, local string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	c.Write(preamble(KindControl))
	return c
}

// authAs runs the control handshake from local (host:0) as client id with
// token, and returns the frame type the server answered the auth with, or
// the error if it answered nothing.
func authAs(t *testing.T, srv *Server, local, id, token string) (byte, error) {
	t.Helper()
	c := dialControl(t, srv, local)
	defer c.Close()
	typ, serverNonce, err := readFrame(c)
	if err != nil {
		return 0, err
	}
	if typ != FrameChallenge {
		t.Fatalf("got frame %#x, want a challenge", typ)
	}
	clientNonce := randomBytes(nonceLen)
	writeFrame(c, FrameAuth, encoder{}.raw(clientNonce).raw(clientMAC(token, serverNonce, clientNonce, id)).str(id))
	typ, _, err = readFrame(c)
	return typ, err
}

// firstFrameError sends the control preamble from local and returns the
// Error frame the server answers with instead of a challenge.
func firstFrameError(t *testing.T, srv *Server, local string) (code byte, msg string) {
	t.Helper()
	c := dialControl(t, srv, local)
	defer c.Close()
	typ, p, err := readFrame(c)
	if err != nil || typ != FrameError {
		t.Fatalf("answered %#x (%v), want an Error frame", typ, err)
	}
	dec := decoder{b: p}
	code, msg = dec.u8(), dec.str()
	if err := dec.done(); err != nil {
		t.Fatal(err)
	}
	// Then the close, with nothing more.
	if _, _, err := readFrame(c); !errors.Is(err, io.EOF) {
		t.Fatalf("after the Error: %v, want EOF", err)
	}
	return code, msg
}

func TestClientTokens(t *testing.T) {
	withShared := newTestServer(t, func(c *ServerConfig) {
		c.Token = "shared"
		c.Clients = []ClientToken{{ID: "alice", Token: "alice-own"}}
	})
	onlyListed := newTestServer(t, func(c *ServerConfig) {
		c.Token = ""
		c.Clients = []ClientToken{{ID: "alice", Token: "alice-own"}}
	})
	for _, tc := range []struct {
		name      string
		srv       *Server
		id, token string
		want      byte
	}{
		{name: "listed id, own token", srv: withShared, id: "alice", token: "alice-own", want: FrameAuthOK},
		{name: "listed id, shared token", srv: withShared, id: "alice", token: "shared", want: FrameError},
		{name: "other id, shared token", srv: withShared, id: "bob", token: "shared", want: FrameAuthOK},
		{name: "other id, alice's token", srv: withShared, id: "bob", token: "alice-own", want: FrameError},
		{name: "no shared token: listed id", srv: onlyListed, id: "alice", token: "alice-own", want: FrameAuthOK},
		{name: "no shared token: other id", srv: onlyListed, id: "bob", token: "", want: FrameError},
		{name: "no shared token: other id, alice's token", srv: onlyListed, id: "bob", token: "alice-own", want: FrameError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ, err := authAs(t, tc.srv, "127.0.0.1", tc.id, tc.token)
			if err != nil || typ != tc.want {
				t.Errorf("answered %#x (%v), want %#x", typ, err, tc.want)
			}
		})
	}
}

// TestAuthFailuresLimitedPerAddress: an address that keeps failing is cut
// off before it is even challenged, and a real client on another address
// gets in meanwhile. Attackers come from 127.0.0.2, so the per-address
// limit is really exercised.
func TestAuthFailuresLimitedPerAddress(t *testing.T) {
	srv := newTestServer(t, func(c *ServerConfig) {
		c.AuthFailures = 2
		c.AuthFailurePeriod = time.Hour
	})
	for i := range 2 {
		if typ, err := authAs(t, srv, "127.0.0.2", "mallory", "guess"); err != nil || typ != FrameError {
			t.Fatalf("wrong token %d: answered %#x (%v), want an error frame", i+1, typ, err)
		}
	}
	// Out of tries: not even the right token gets a challenge now, only
	// an Error that says so and when to come back, and nothing is read.
	code, msg := firstFrameError(t, srv, "127.0.0.2")
	if code != CodeLockedOut || !strings.Contains(msg, "failed logins") || !strings.Contains(msg, "try again in 3600 s") {
		t.Fatalf("third try from a limited address: Error code %d %q, want LockedOut (%d) saying when to try again", code, msg, CodeLockedOut)
	}
	if typ, err := authAs(t, srv, "127.0.0.1", "real", srv.cfg.Token); err != nil || typ != FrameAuthOK {
		t.Fatalf("a client on another address: answered %#x (%v), want auth ok", typ, err)
	}
	c := srv.Counters()
	if c["auth_failures"] != 2 || c["auth_limited"] != 1 {
		t.Errorf("auth_failures %d, auth_limited %d; want 2 and 1", c["auth_failures"], c["auth_limited"])
	}
}
