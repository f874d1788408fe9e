package main

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

// echoBackend is the local service tunnels expose in these tests: it echoes
// each connection until EOF, then closes its write side.
func echoBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String()
}

// startServer runs `ferry server` on a port the kernel picks and returns it
// with the address it listens on.
func startServer(t *testing.T, args ...string) (*proc, string) {
	t.Helper()
	p := startFerry(t, "server", append([]string{"server", "--listen", "127.0.0.1:0"}, args...)...)
	line := p.waitLog("that it is listening", msgIs("ferry server listening"))
	addr, _ := line["addr"].(string)
	if addr == "" {
		t.Fatalf("listening line has no addr: %v", line)
	}
	return p, addr
}

// roundTrip sends msg through addr, half-closes, and returns all it reads.
func roundTrip(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, generous)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(generous))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read through the tunnel: %v (got %q)", err, got)
	}
	return string(got)
}

// TestTunnelEndToEnd runs every engine on both sides, and then every engine
// on the server with the next one in the list on the client: the two ends
// choose their engines independently.
func TestTunnelEndToEnd(t *testing.T) {
	engines := relay.Engines()
	type mix struct{ server, client string }
	var mixes []mix
	for _, e := range engines {
		mixes = append(mixes, mix{e, e})
	}
	for i, e := range engines {
		if next := engines[(i+1)%len(engines)]; next != e {
			mixes = append(mixes, mix{e, next})
		}
	}
	for _, m := range mixes {
		t.Run("server="+m.server+"/client="+m.client, func(t *testing.T) {
			backend := echoBackend(t)
			srv, srvAddr := startServer(t, "--token", "s3cret", "--engine", m.server)
			cl := startFerry(t, "client", "client", "--server", srvAddr, "--token", "s3cret",
				"--id", "e2e-"+m.server+"-"+m.client, "--engine", m.client, "--tunnel", "echo="+backend+":0")
			line := cl.waitLog("the tunnel's public address", func(m map[string]any) bool {
				addr, _ := m["public_addr"].(string)
				return addr != "" && m["msg"] == "tunnel echo ready at "+addr
			})
			public := line["public_addr"].(string)

			// More connections than the pool holds, so some wait for a dial.
			for i := range relay.DefaultPool + 2 {
				msg := strings.Repeat("ferry "+m.server+" "+m.client+" ", 1000*(i+1))
				if got := roundTrip(t, public, msg); got != msg {
					t.Fatalf("connection %d: echoed %d bytes, want %d", i, len(got), len(msg))
				}
			}

			// A signal is a clean shutdown: exit 0, counters logged.
			cl.signal(syscall.SIGTERM)
			if code := cl.wait(); code != 0 {
				t.Errorf("client exited %d after SIGTERM, want 0", code)
			}
			srv.signal(syscall.SIGINT)
			if code := srv.wait(); code != 0 {
				t.Errorf("server exited %d after SIGINT, want 0", code)
			}
			stopped := srv.waitLog("its counters", msgIs("server stopped"))
			counters, _ := stopped["counters"].(map[string]any)
			if n, _ := counters["relays_done"].(float64); n < float64(relay.DefaultPool+2) {
				t.Errorf("server counted %v relays done, want at least %d: %v", counters["relays_done"], relay.DefaultPool+2, counters)
			}
			// --engine X must move X's own counters on its side: the path
			// the label names is the path that ran.
			clientCounters, _ := cl.waitLog("its counters", msgIs("client stopped"))["counters"].(map[string]any)
			for _, side := range []struct {
				name, engine string
				c            map[string]any
			}{{"server", m.server, counters}, {"client", m.client, clientCounters}} {
				proof, ok := engineProof[side.engine]
				if !ok {
					t.Fatalf("no proof counters listed for engine %q in engineProof", side.engine)
				}
				for _, name := range proof.moved {
					if n, _ := side.c["engine."+name].(float64); n <= 0 {
						t.Errorf("%s with --engine %s: engine.%s = %v, want > 0: %v", side.name, side.engine, name, side.c["engine."+name], side.c)
					}
				}
				for _, name := range proof.absent {
					if _, has := side.c["engine."+name]; has {
						t.Errorf("%s with --engine %s reports engine.%s, a counter of another engine", side.name, side.engine, name)
					}
				}
				for _, name := range proof.zero {
					if n, has := side.c["engine."+name].(float64); !has || n != 0 {
						t.Errorf("%s with --engine %s: engine.%s = %v, want 0: %v", side.name, side.engine, name, side.c["engine."+name], side.c)
					}
				}
			}
		})
	}
}

// engineProof lists, per engine, counters that must move when it relays,
// counters of other engines it must not have, and its own counters of paths
// plain TCP pairs must not take (gocopy copies in user space only for TLS).
var engineProof = map[string]struct{ moved, absent, zero []string }{
	"gocopy":      {moved: []string{"readfrom_calls"}, absent: []string{"spliced_bytes", "epoll_waits"}, zero: []string{"copied_bytes"}},
	"gocopybuf":   {moved: []string{"copied_bytes", "read_calls", "write_calls"}, absent: []string{"readfrom_calls", "spliced_bytes", "epoll_waits"}},
	"epollcopy":   {moved: []string{"copied_bytes", "epoll_waits"}, absent: []string{"readfrom_calls", "spliced_bytes"}},
	"epollsplice": {moved: []string{"spliced_bytes", "splice_in_calls", "splice_out_calls", "epoll_waits"}, absent: []string{"readfrom_calls"}},
}

func TestForward(t *testing.T) {
	for _, engine := range relay.Engines() {
		t.Run("engine="+engine, func(t *testing.T) {
			fwd := startFerry(t, "forward", "forward", "--listen", "127.0.0.1:0", "--to", echoBackend(t), "--engine", engine)
			line := fwd.waitLog("that it is listening", msgIs("ferry forward listening"))
			addr, _ := line["addr"].(string)
			msg := strings.Repeat("forward ", 10000)
			if got := roundTrip(t, addr, msg); got != msg {
				t.Fatalf("echoed %d bytes, want %d", len(got), len(msg))
			}
			fwd.signal(syscall.SIGTERM)
			if code := fwd.wait(); code != 0 {
				t.Errorf("forward exited %d after SIGTERM, want 0", code)
			}
		})
	}
}

func TestWrongTokenExits1(t *testing.T) {
	_, srvAddr := startServer(t, "--token", "right")
	cl := startFerry(t, "client", "client", "--server", srvAddr, "--token", "wrong",
		"--id", "e2e-auth", "--tunnel", "echo="+echoBackend(t)+":0")
	if code := cl.wait(); code != exitFatal {
		t.Fatalf("client with a wrong token exited %d, want %d", code, exitFatal)
	}
	cl.waitLog("why it gave up", msgIs("the server refused the token; check --token"))
}

func TestListenInUseExits1(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := startFerry(t, "server", "server", "--listen", ln.Addr().String(), "--token", "t")
	if code := srv.wait(); code != exitFatal {
		t.Fatalf("server on a busy port exited %d, want %d", code, exitFatal)
	}
	srv.waitLog("why it did not start", msgIs("cannot start server"))
}

func TestEngines(t *testing.T) {
	code, out, _ := runFerry(t, "engines")
	if code != 0 {
		t.Fatalf("ferry engines exited %d", code)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		listed[strings.Fields(line)[0]] = true
	}
	for _, want := range []string{"gocopy", "gocopybuf"} {
		if !listed[want] {
			t.Errorf("ferry engines does not list %s:\n%s", want, out)
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runFerry(t, "version")
	if code != 0 || !strings.HasPrefix(out, "ferry ") {
		t.Fatalf("ferry version exited %d with %q", code, out)
	}
}

// TestUsageErrorsExit2: a bad command line exits 2 with one line on stderr
// that says what is wrong, never the whole usage; only a bare `ferry`
// prints the (short) list of commands.
func TestUsageErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		wantUsage bool
		mention   string // the one line must say this
	}{
		{name: "no command", args: nil, wantUsage: true},
		{name: "unknown command", args: []string{"ferryboat"}, mention: `unknown command "ferryboat"; see 'ferry -h'`},
		{name: "flag before command", args: []string{"--token", "t"}, mention: "flags follow the command"},
		{name: "bad flag", args: []string{"server", "--no-such-flag"}, mention: "unknown flag --no-such-flag; see 'ferry server -h'"},
		{name: "bad tunnel", args: []string{"client", "--tunnel", "web"}, mention: `--tunnel "web"`},
		{name: "bad log level", args: []string{"forward", "--log-level", "loud"}, mention: `--log-level "loud": want debug, info, warn or error`},
		{name: "stray argument", args: []string{"engines", "extra"}, mention: `unexpected argument "extra"`},
		{name: "missing token", args: []string{"server", "--listen", "127.0.0.1:0"}, mention: "token"},
		{name: "unknown engine", args: []string{"forward", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:1", "--engine", "rowboat"}, mention: "rowboat"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runFerry(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			if stdout != "" {
				t.Errorf("printed on stdout:\n%s", stdout)
			}
			if hasUsage := strings.Contains(stderr, "Usage:"); hasUsage != tc.wantUsage {
				t.Errorf("usage printed: %v, want %v; stderr:\n%s", hasUsage, tc.wantUsage, stderr)
			}
			if !tc.wantUsage {
				msg := strings.TrimSpace(stderr)
				if strings.Contains(msg, "\n") || !strings.Contains(msg, tc.mention) {
					t.Errorf("want one line mentioning %q, got:\n%s", tc.mention, stderr)
				}
			}
		})
	}
}

func TestUnknownConfigKeyExits2(t *testing.T) {
	for _, tc := range []struct {
		name, cmd, toml, key string
	}{
		{name: "server", cmd: "server", toml: "token = \"t\"\nlisten_addr = \"127.0.0.1:0\"\n", key: "listen_addr"},
		{name: "client tunnel", cmd: "client", key: "tunnels.public",
			toml: "server = \"127.0.0.1:1\"\ntoken = \"t\"\n[[tunnels]]\nname = \"web\"\nlocal = \"127.0.0.1:2\"\npublic = 6000\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ferry.toml")
			if err := os.WriteFile(path, []byte(tc.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := runFerry(t, tc.cmd, "-c", path)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr, tc.key) || strings.Contains(stderr, "Usage:") {
				t.Errorf("want one line naming %q and no usage, got:\n%s", tc.key, stderr)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
				t.Errorf("want one line, got %d:\n%s", n+1, stderr)
			}
		})
	}
}

// TestKilledClientRestarts: a client killed with SIGKILL frees its public
// port, and a new client process with the same id gets the same port back.
func TestKilledClientRestarts(t *testing.T) {
	backend := echoBackend(t)
	_, srvAddr := startServer(t, "--token", "s3cret")
	client := func() (*proc, string) {
		cl := startFerry(t, "client", "client", "--server", srvAddr, "--token", "s3cret",
			"--id", "phoenix", "--tunnel", "echo="+backend+":0")
		line := cl.waitLog("the tunnel's public address", func(m map[string]any) bool {
			addr, _ := m["public_addr"].(string)
			return addr != "" && m["msg"] == "tunnel echo ready at "+addr
		})
		return cl, line["public_addr"].(string)
	}
	first, public := client()
	if got := roundTrip(t, public, "before"); got != "before" {
		t.Fatalf("echoed %q", got)
	}
	first.signal(syscall.SIGKILL)
	first.wait()
	deadline := time.Now().Add(generous)
	for {
		c, err := net.Dial("tcp", public)
		if err != nil {
			break // the server noticed and closed the public port
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("public port still open after its client was killed")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The restarted client asks for the freed port by number and gets it.
	_, port, _ := net.SplitHostPort(public)
	cl := startFerry(t, "client", "client", "--server", srvAddr, "--token", "s3cret",
		"--id", "phoenix", "--tunnel", "echo="+backend+":"+port)
	cl.waitLog("the same public address", msgIs("tunnel echo ready at "+public))
	if got := roundTrip(t, public, "after"); got != "after" {
		t.Fatalf("echoed %q", got)
	}
}
