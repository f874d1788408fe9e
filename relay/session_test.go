package relay_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

// stillRunning says whether a client's Run has not returned.
func stillRunning(c *runningClient) bool {
	select {
	case err := <-c.done:
		c.done <- err
		return false
	default:
		return true
	}
}

// TestSameIDSecondClientRefused: a second live client with the id of a live
// one is refused and gives up, naming where the first one is; the first
// keeps its session and serves on.
func TestSameIDSecondClientRefused(t *testing.T) {
	checkLeaks(t)
	srv := startServer(t, "", nil)
	echo := echoServer(t)
	first := startClient(t, srv.Addr().String(), "", web(echo, 0), func(c *relay.ClientConfig) { c.ID = "twin" })
	addr := waitTunnel(t, first, "web")

	second := startClient(t, srv.Addr().String(), "", []relay.TunnelConfig{{Name: "other", Local: echo}}, func(c *relay.ClientConfig) { c.ID = "twin" })
	err := runErr(t, second)
	if !errors.Is(err, relay.ErrIDInUse) || !strings.Contains(err.Error(), "id twin is in use by a live client at 127.0.0.1:") {
		t.Fatalf("second client's Run returned %v, want ErrIDInUse naming the live client's address", err)
	}
	if err := echoRoundTrip(addr, 1000); err != nil {
		t.Fatalf("the first client's tunnel after the refusal: %v", err)
	}
	if c := first.Counters(); c["sessions"] != 1 || c["disconnects"] != 0 {
		t.Errorf("first client: sessions %d, disconnects %d; want 1 and 0", c["sessions"], c["disconnects"])
	}
	if c := srv.Counters(); c["id_in_use"] != 1 || c["sessions_replaced"] != 0 {
		t.Errorf("server: id_in_use %d, sessions_replaced %d; want 1 and 0", c["id_in_use"], c["sessions_replaced"])
	}
}

// TestPermanentRefusals: a tunnel refused for a reason retrying cannot fix
// is not asked for again in the session, and a client whose every tunnel is
// refused so gives up with ErrTunnelsRefused and what to change. Each case
// is one refusal code a real client can meet. BindFailed is not among them:
// the server binds public_bind once at start, and as root (CI) no later bind
// fails but for a reason that is retried; bindRefusal's table covers it.
func TestPermanentRefusals(t *testing.T) {
	echo := echoServer(t)
	for _, tc := range []struct {
		name    string
		server  func(*relay.ServerConfig)
		port    int
		holder  bool   // another client id holds the tunnel name first
		want    string // in Run's error: what to change
		notWant string // never in it
	}{
		{name: "port not allowed", server: func(c *relay.ServerConfig) { c.AllowPorts = "20000-20010" }, port: 7000,
			want: "port 7000 is outside the server's allowed ports 20000-20010: pick one of those or 0"},
		{name: "name taken", holder: true,
			want: `tunnel name "web" is taken by another client: choose another name`, notWant: "holder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			srv := startServer(t, "", tc.server)
			if tc.holder {
				holder := startClient(t, srv.Addr().String(), "", web(echo, 0), func(c *relay.ClientConfig) { c.ID = "holder" })
				waitTunnel(t, holder, "web")
			}
			cl := startClient(t, srv.Addr().String(), "", web(echo, tc.port), func(c *relay.ClientConfig) {
				c.ReconnectMin, c.ReconnectMax = time.Millisecond, time.Millisecond // a retry would come at once
			})
			err := runErr(t, cl)
			if !errors.Is(err, relay.ErrTunnelsRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run returned %v, want ErrTunnelsRefused saying %q", err, tc.want)
			}
			if tc.notWant != "" && strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("the refusal names another client's id: %v", err)
			}
			if n := cl.Counters()["tunnels_refused"]; n != 1 {
				t.Errorf("tunnels_refused = %d, want 1: no retry", n)
			}
		})
	}
}

// TestPermanentRefusalOtherTunnelsGoOn: with one tunnel refused for good
// and one over the server's tunnel limit, the client keeps its session and
// the tunnel that was registered serves; neither refused tunnel is asked
// for again, although a retry would come within a millisecond and a round
// trip through the tunnel takes longer.
func TestPermanentRefusalOtherTunnelsGoOn(t *testing.T) {
	checkLeaks(t)
	srv := startServer(t, "", func(c *relay.ServerConfig) { c.MaxTunnelsPerClient = 1 })
	echo := echoServer(t)
	cl := startClient(t, srv.Addr().String(), "", []relay.TunnelConfig{
		{Name: "ok", Local: echo},
		{Name: "toomany", Local: echo},
	}, func(c *relay.ClientConfig) {
		c.Pool = 0 // every connection asks for a data connection: a round trip over the control connection
		c.ReconnectMin, c.ReconnectMax = time.Millisecond, time.Millisecond
	})
	addr := waitTunnel(t, cl, "ok")
	waitFor(t, "the refusal", func() bool { return cl.Counters()["tunnels_refused"] > 0 })
	for range 3 {
		if err := echoRoundTrip(addr, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if !stillRunning(cl) {
		t.Fatalf("Run returned %v with a tunnel serving", runErr(t, cl))
	}
	if n := srv.Counters()["tunnels_refused"]; n != 1 {
		t.Errorf("the server refused %d registrations, want 1: a permanent refusal is not retried", n)
	}
}

// TestLockedOutWrongToken: once a wrong token has locked its address out, a
// client with it is told so, not left with a bare EOF, and gives up: it
// never had a session, so the failed logins were most likely its own.
func TestLockedOutWrongToken(t *testing.T) {
	checkLeaks(t)
	srv := startServer(t, "", func(c *relay.ServerConfig) {
		c.AuthFailures = 1
		c.AuthFailurePeriod = time.Hour
	})
	port := freePort(t)
	wrong := func(c *relay.ClientConfig) { c.Token = "wrong" }
	first := startClient(t, srv.Addr().String(), "", web(echoServer(t), port), wrong)
	if err := runErr(t, first); !errors.Is(err, relay.ErrAuthFailed) {
		t.Fatalf("first try: Run returned %v, want ErrAuthFailed", err)
	}
	again := startClient(t, srv.Addr().String(), "", web(echoServer(t), port), wrong)
	err := runErr(t, again)
	if !errors.Is(err, relay.ErrLockedOut) || !strings.Contains(err.Error(), "try again in 3600 s") {
		t.Fatalf("locked out: Run returned %v, want ErrLockedOut saying when to try again", err)
	}
	if c := srv.Counters(); c["auth_failures"] != 1 || c["auth_limited"] != 1 {
		t.Errorf("auth_failures %d, auth_limited %d; want 1 and 1: a locked-out try spends nothing", c["auth_failures"], c["auth_limited"])
	}
}

// TestLockedOutAfterSession: a client that has had a session has the right
// token; when someone else on its address spends the address's tries and
// its session then drops, it keeps retrying instead of giving up.
func TestLockedOutAfterSession(t *testing.T) {
	checkLeaks(t)
	srv := startServer(t, "", func(c *relay.ServerConfig) {
		c.AuthFailures = 1
		c.AuthFailurePeriod = time.Hour
	})
	px := newChaosProxy(t, srv.Addr().String())
	echo := echoServer(t)
	good := startClient(t, px.addr(), "", web(echo, 0), nil)
	waitTunnel(t, good, "web")

	// Someone on the same address (127.0.0.1) with a wrong token.
	bad := startClient(t, srv.Addr().String(), "", web(echo, 0), func(c *relay.ClientConfig) { c.ID = "bad"; c.Token = "wrong" })
	if err := runErr(t, bad); !errors.Is(err, relay.ErrAuthFailed) {
		t.Fatalf("wrong token: Run returned %v", err)
	}
	px.kill(relay.KindControl)
	waitFor(t, "the good client to be refused three times", func() bool { return srv.Counters()["auth_limited"] >= 3 })
	if !stillRunning(good) {
		t.Fatalf("a client that had a session gave up on a lock-out: %v", runErr(t, good))
	}
}
