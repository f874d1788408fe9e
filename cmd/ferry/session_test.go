package main

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startTunnelClient starts `ferry client` with one tunnel, echo, and waits
// for it to be ready; it returns the process and the public address.
func startTunnelClient(t *testing.T, srvAddr, id, spec string) (*proc, string) {
	t.Helper()
	cl := startFerry(t, "client "+id, "client", "--server", srvAddr, "--token", "s3cret", "--id", id, "--tunnel", spec)
	line := cl.waitLog("the tunnel's public address", func(m map[string]any) bool {
		addr, _ := m["public_addr"].(string)
		return addr != "" && m["msg"] == "tunnel echo ready at "+addr
	})
	return cl, line["public_addr"].(string)
}

// running says whether p has not exited.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// errHas matches a log line by its message and a part of its err.
func errHas(msg, part string) func(map[string]any) bool {
	return func(m map[string]any) bool {
		err, _ := m["err"].(string)
		return m["msg"] == msg && strings.Contains(err, part)
	}
}

// TestSameIDSecondClientExits1: a second `ferry client` with the id of a
// live one (two clients on one host, both defaulting to the host name) is
// refused and exits 1, saying where the live one is; the first keeps
// serving.
func TestSameIDSecondClientExits1(t *testing.T) {
	backend := echoBackend(t)
	_, srvAddr := startServer(t, "--token", "s3cret")
	first, public := startTunnelClient(t, srvAddr, "twin", "echo="+backend+":0")

	second := startFerry(t, "second client", "client", "--server", srvAddr, "--token", "s3cret",
		"--id", "twin", "--tunnel", "echo="+backend+":0")
	if code := second.wait(); code != exitFatal {
		t.Fatalf("second client with the same id exited %d, want %d", code, exitFatal)
	}
	second.waitLog("why it gave up", errHas("a live client already uses this id; give each client its own --id",
		"id twin is in use by a live client at 127.0.0.1:"))
	if got := roundTrip(t, public, "still here"); got != "still here" {
		t.Fatalf("first client's tunnel echoed %q", got)
	}
	if !first.running() {
		t.Fatal("the first client exited")
	}
}

// TestKilledClientRestartsAtOnce: a client killed with SIGKILL and started
// again at once with the same id and port gets the port back at once: the
// server's heartbeat timeout is ten minutes here, so only a replacement
// that does not wait for it passes.
func TestKilledClientRestartsAtOnce(t *testing.T) {
	backend := echoBackend(t)
	_, srvAddr := startServer(t, "--token", "s3cret", "--heartbeat-timeout", "10m")
	first, public := startTunnelClient(t, srvAddr, "phoenix", "echo="+backend+":0")
	_, port, _ := net.SplitHostPort(public)
	first.signal(syscall.SIGKILL)
	first.wait()

	began := time.Now()
	startTunnelClient(t, srvAddr, "phoenix", "echo="+backend+":"+port)
	t.Logf("the restarted client had its port back after %v", time.Since(began).Round(time.Millisecond))
	if got := roundTrip(t, public, "after"); got != "after" {
		t.Fatalf("echoed %q", got)
	}
}

// TestFrozenClientReplaced: a client frozen with SIGSTOP holds a session
// that no longer answers; a client started with its id and port replaces it
// once the server's ping goes unanswered (3 s). When the frozen one thaws
// it finds the id held by a live client, and exits 1 rather than take the
// session back.
func TestFrozenClientReplaced(t *testing.T) {
	backend := echoBackend(t)
	_, srvAddr := startServer(t, "--token", "s3cret")
	frozen, public := startTunnelClient(t, srvAddr, "icicle", "echo="+backend+":0")
	_, port, _ := net.SplitHostPort(public)
	frozen.signal(syscall.SIGSTOP)

	second, addr := startTunnelClient(t, srvAddr, "icicle", "echo="+backend+":"+port)
	if addr != public {
		t.Fatalf("the new client got %s, want %s", addr, public)
	}
	if got := roundTrip(t, public, "new"); got != "new" {
		t.Fatalf("echoed %q", got)
	}

	frozen.signal(syscall.SIGCONT)
	if code := frozen.wait(); code != exitFatal {
		t.Fatalf("the thawed client exited %d, want %d", code, exitFatal)
	}
	frozen.waitLog("why it gave up", errHas("a live client already uses this id; give each client its own --id", "in use by a live client"))
	if got := roundTrip(t, public, "still new"); got != "still new" {
		t.Fatalf("echoed %q", got)
	}
	if !second.running() {
		t.Fatal("the new client exited")
	}
}

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
