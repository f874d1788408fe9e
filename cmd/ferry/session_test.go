package main

import (
	"strings"
	"testing"
)

// TestEveryTunnelRefusedExits1: a client whose only tunnel the server
// refuses for a reason retrying cannot fix says what to change, at error
// level, and exits 1 instead of retrying forever.
func TestEveryTunnelRefusedExits1(t *testing.T) {
	_, srvAddr := startServer(t, "--token", "s3cret", "--allow-ports", "20000-20010")
	cl := startFerry(t, "client", "client", "--server", srvAddr, "--token", "s3cret",
		"--id", "e2e-refused", "--tunnel", "echo="+echoBackend(t)+":7000")
	if code := cl.wait(); code != exitFatal {
		t.Fatalf("client with every tunnel refused exited %d, want %d", code, exitFatal)
	}
	cl.waitLog("the refusal and what to change", func(m map[string]any) bool {
		return m["level"] == "ERROR" &&
			m["msg"] == "tunnel echo refused: port 7000 is outside the server's allowed ports 20000-20010: pick one of those or 0"
	})
	cl.waitLog("why it gave up", msgIs("the server refused every tunnel; the errors above say what to change"))
}

// TestWrongTokenExits1WhenLockedOut: a client with a wrong token exits 1
// every time it is started, so a supervisor's Restart=on-failure does not
// turn it into a retry loop that looks like a network fault: first because
// the token is refused, then, once its failures have locked the address
// out, because the server says so.
func TestWrongTokenExits1WhenLockedOut(t *testing.T) {
	_, srvAddr := startServer(t, "--token", "s3cret", "--auth-failures", "2", "--auth-failure-period", "1h")
	backend := echoBackend(t)
	for i, want := range []string{
		"the server refused the token; check --token",
		"the server refused the token; check --token",
		"locked out",
		"locked out",
	} {
		code, _, stderr := runFerry(t, "client", "--server", srvAddr, "--token", "wrong",
			"--id", "e2e-lockout", "--tunnel", "echo="+backend+":0")
		if code != exitFatal || !strings.Contains(stderr, want) {
			t.Fatalf("start %d: exit %d, want %d with %q in:\n%s", i+1, code, exitFatal, want, stderr)
		}
		if want == "locked out" && !strings.Contains(stderr, "try again in") {
			t.Errorf("start %d: the lock-out does not say when to try again:\n%s", i+1, stderr)
		}
	}
}
