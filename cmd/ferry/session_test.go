package main

import (
	"strings"
	"testing"
)

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
