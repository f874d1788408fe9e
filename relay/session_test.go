package relay_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

// runResult waits for a client's Run to return and gives its error back to
// the client's own cleanup.
func runResult(t *testing.T, c *runningClient) error {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(patience):
		t.Fatal("Run did not return")
		return nil
	}
}

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
	if err := runResult(t, first); !errors.Is(err, relay.ErrAuthFailed) {
		t.Fatalf("first try: Run returned %v, want ErrAuthFailed", err)
	}
	again := startClient(t, srv.Addr().String(), "", web(echoServer(t), port), wrong)
	err := runResult(t, again)
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
	if err := runResult(t, bad); !errors.Is(err, relay.ErrAuthFailed) {
		t.Fatalf("wrong token: Run returned %v", err)
	}
	px.kill(relay.KindControl)
	waitFor(t, "the good client to be refused three times", func() bool { return srv.Counters()["auth_limited"] >= 3 })
	if !stillRunning(good) {
		t.Fatalf("a client that had a session gave up on a lock-out: %v", runResult(t, good))
	}
}
