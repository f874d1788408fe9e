package relay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

// forEngine runs f as a subtest per registered engine.
func forEngine(t *testing.T, f func(t *testing.T, engine string)) {
	for _, e := range relay.Engines() {
		t.Run("engine="+e, func(t *testing.T) { f(t, e) })
	}
}

func web(local string, port int) []relay.TunnelConfig {
	return []relay.TunnelConfig{{Name: "web", Local: local, PublicPort: port}}
}

// TestTunnelTransfer moves bytes both ways through a tunnel, checked by
// hash, for every engine, with and without the pool.
func TestTunnelTransfer(t *testing.T) {
	forEngine(t, func(t *testing.T, engine string) {
		for _, pool := range []int{0, 2} {
			t.Run(fmt.Sprintf("pool=%d", pool), func(t *testing.T) {
				checkLeaks(t)
				srv := startServer(t, engine, nil)
				cl := startClient(t, srv.Addr().String(), engine, web(echoServer(t), 0), func(c *relay.ClientConfig) { c.Pool = pool })
				addr := waitTunnel(t, cl, "web")
				// Registration and the pool fill race; the first connection
				// must be a pool hit once the pool is full.
				waitFor(t, "a full pool", func() bool { return srv.Counters()["pooled"] >= uint64(pool) })
				for _, n := range []int{0, 1, 64 << 10, 16 << 20} {
					if err := echoRoundTrip(addr, n); err != nil {
						t.Fatalf("%d bytes: %v", n, err)
					}
				}
				c := srv.Counters()
				if pool > 0 && c["pool_hits"] == 0 {
					t.Errorf("pool=%d but no pool hits: %v", pool, c)
				}
				if pool == 0 && c["pool_hits"] != 0 {
					t.Errorf("pool=0 but %d pool hits", c["pool_hits"])
				}
			})
		}
	})
}

// TestTunnelConcurrent runs 200 public connections at once.
func TestTunnelConcurrent(t *testing.T) {
	forEngine(t, func(t *testing.T, engine string) {
		checkLeaks(t)
		srv := startServer(t, engine, nil)
		cl := startClient(t, srv.Addr().String(), engine, web(echoServer(t), 0), nil)
		addr := waitTunnel(t, cl, "web")
		const n = 200
		errs := make(chan error, n)
		for i := range n {
			go func() { errs <- echoRoundTrip(addr, 32<<10+i) }()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}

// TestDeadPooledConnections kills every pooled data connection before public
// connections arrive: none of them may be lost.
func TestDeadPooledConnections(t *testing.T) {
	forEngine(t, func(t *testing.T, engine string) {
		checkLeaks(t)
		srv := startServer(t, engine, nil)
		px := newChaosProxy(t, srv.Addr().String())
		cl := startClient(t, px.addr(), engine, web(echoServer(t), 0), func(c *relay.ClientConfig) { c.Pool = 4 })
		addr := waitTunnel(t, cl, "web")
		idle := func() uint64 {
			c := srv.Counters()
			return c["pooled"] - c["pool_hits"] - c["pool_closed_idle"] - c["pool_dead_at_claim"]
		}
		for round := range 3 {
			waitFor(t, "a full pool", func() bool { return idle() >= 4 })
			if k := px.kill(relay.KindData); k < 4 {
				t.Fatalf("killed %d data connections, want 4", k)
			}
			// At once, before the server may have noticed.
			for i := range 5 {
				if err := echoRoundTrip(addr, 1000); err != nil {
					t.Fatalf("round %d, connection %d: %v", round, i, err)
				}
			}
		}
		if c := srv.Counters(); c["data_timeouts"] != 0 {
			t.Errorf("public connections timed out: %v", c)
		}
	})
}

// TestLocalServiceDown: the client cannot reach its local service; the public
// connection must end promptly and both sides count it.
func TestLocalServiceDown(t *testing.T) {
	checkLeaks(t)
	srv := startServer(t, "", func(c *relay.ServerConfig) { c.DataTimeout = time.Hour })
	down := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cl := startClient(t, srv.Addr().String(), "", web(down, 0), nil)
	addr := waitTunnel(t, cl, "web")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(patience)) // far below DataTimeout
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read data from a tunnel whose service is down")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("public connection left hanging")
	}
	waitFor(t, "both sides to count the failure", func() bool {
		return cl.Counters()["local_dial_failures"] == 1 && srv.Counters()["local_dial_failures"] == 1
	})
}

// TestWrongToken: refused with a clear error on both sides, no public port.
func TestWrongToken(t *testing.T) {
	checkLeaks(t)
	srv := startServer(t, "", nil)
	port := freePort(t)
	cl := startClient(t, srv.Addr().String(), "", web(echoServer(t), port), func(c *relay.ClientConfig) { c.Token = "wrong" })
	select {
	case err := <-cl.done:
		cl.done <- err
		if !errors.Is(err, relay.ErrAuthFailed) {
			t.Fatalf("Run returned %v, want ErrAuthFailed", err)
		}
	case <-time.After(patience):
		t.Fatal("client with a wrong token kept running")
	}
	if n := srv.Counters()["auth_failures"]; n != 1 {
		t.Errorf("server counted %d auth failures, want 1", n)
	}
	if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
		c.Close()
		t.Error("public port opened for an unauthenticated client")
	}
}

// TestPortInUse: one tunnel's port is taken; the client's other tunnel works,
// and the refused one comes up once the port is free.
func TestPortInUse(t *testing.T) {
	checkLeaks(t)
	srv := startServer(t, "", nil)
	squatter, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := squatter.Addr().(*net.TCPAddr).Port
	echo := echoServer(t)
	cl := startClient(t, srv.Addr().String(), "", []relay.TunnelConfig{
		{Name: "taken", Local: echo, PublicPort: port},
		{Name: "free", Local: echo},
	}, nil)
	if err := echoRoundTrip(waitTunnel(t, cl, "free"), 100); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refusal", func() bool { return cl.Counters()["tunnels_refused"] > 0 })
	squatter.Close()
	addr := waitTunnel(t, cl, "taken")
	if addr != "127.0.0.1:"+strconv.Itoa(port) {
		t.Errorf("taken tunnel at %s, want port %d", addr, port)
	}
	if err := echoRoundTrip(addr, 100); err != nil {
		t.Fatal(err)
	}
}

// TestNameTaken: another client id cannot take a live tunnel's name.
func TestNameTaken(t *testing.T) {
	checkLeaks(t)
	srv := startServer(t, "", nil)
	echo := echoServer(t)
	a := startClient(t, srv.Addr().String(), "", web(echo, 0), func(c *relay.ClientConfig) { c.ID = "a" })
	waitTunnel(t, a, "web")
	b := startClient(t, srv.Addr().String(), "", web(echo, 0), func(c *relay.ClientConfig) { c.ID = "b" })
	waitFor(t, "the refusal", func() bool { return b.Counters()["tunnels_refused"] > 0 })
	if c := srv.Counters(); c["tunnels_registered"] != 1 {
		t.Errorf("registered %d tunnels, want 1", c["tunnels_registered"])
	}
}

// TestClientRestart: a client that went silent without the server noticing
// (frozen, or its network gone) is replaced by a new session with the same
// id once it leaves the server's ping unanswered (3 s), and the new session
// gets the same port; a client that stops frees its port.
func TestClientRestart(t *testing.T) {
	checkLeaks(t)
	srv := startServer(t, "", nil)
	echo := echoServer(t)
	port := freePort(t)
	px := newChaosProxy(t, srv.Addr().String())
	old := startClient(t, px.addr(), "", web(echo, port), nil)
	waitTunnel(t, old, "web")
	px.freeze() // the old client goes silent; the server has not noticed

	restarted := startClient(t, srv.Addr().String(), "", web(echo, port), nil)
	addr := waitTunnel(t, restarted, "web")
	if want := "127.0.0.1:" + strconv.Itoa(port); addr != want {
		t.Fatalf("restarted client got %s, want %s", addr, want)
	}
	if err := echoRoundTrip(addr, 1000); err != nil {
		t.Fatal(err)
	}
	if n := srv.Counters()["sessions_replaced"]; n != 1 {
		t.Errorf("sessions_replaced = %d, want 1", n)
	}

	restarted.stop()
	waitFor(t, "the port to be freed", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
}

// TestServerRestart: the client reconnects to a restarted server and the
// tunnel works again.
func TestServerRestart(t *testing.T) {
	checkLeaks(t)
	listen := "127.0.0.1:" + strconv.Itoa(freePort(t))
	first, err := relay.NewServer(relay.ServerConfig{Listen: listen, Token: token, Logger: tlog(t, "server1")})
	if err != nil {
		t.Fatal(err)
	}
	go first.Serve()
	cl := startClient(t, listen, "", web(echoServer(t), 0), nil)
	if err := echoRoundTrip(waitTunnel(t, cl, "web"), 1000); err != nil {
		t.Fatal(err)
	}
	first.Close()

	second := startServer(t, "", func(c *relay.ServerConfig) { c.Listen = listen })
	waitFor(t, "the client to reconnect", func() bool { return second.Counters()["tunnels_registered"] == 1 })
	if err := echoRoundTrip(waitTunnel(t, cl, "web"), 1000); err != nil {
		t.Fatal(err)
	}
}

// TestHeartbeatsDetectSilentPeer: a network that goes silent without closing
// anything is noticed by both sides; the server frees the session and the
// client reconnects.
func TestHeartbeatsDetectSilentPeer(t *testing.T) {
	checkLeaks(t)
	fast := func(iv, to *time.Duration) { *iv, *to = 20*time.Millisecond, 400*time.Millisecond }
	srv := startServer(t, "", func(c *relay.ServerConfig) { fast(&c.HeartbeatInterval, &c.HeartbeatTimeout) })
	px := newChaosProxy(t, srv.Addr().String())
	cl := startClient(t, px.addr(), "", web(echoServer(t), 0), func(c *relay.ClientConfig) {
		fast(&c.HeartbeatInterval, &c.HeartbeatTimeout)
	})
	addr := waitTunnel(t, cl, "web")
	before := cl.Counters()
	thaw := px.freeze()
	waitFor(t, "the server to free the tunnel", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	waitFor(t, "the client to notice", func() bool { return cl.Counters()["disconnects"] > before["disconnects"] })
	thaw()
	waitFor(t, "the session to come back", func() bool { return cl.Counters()["sessions"] > before["sessions"] })
	if err := echoRoundTrip(waitTunnel(t, cl, "web"), 1000); err != nil {
		t.Fatal(err)
	}
}

// TestIdlePastProtocolTimeouts: a relayed connection idle for longer than
// every protocol timeout still works, so no deadline survives hand-off.
func TestIdlePastProtocolTimeouts(t *testing.T) {
	forEngine(t, func(t *testing.T, engine string) {
		checkLeaks(t)
		// The deadlines that touch a relayed socket before hand-off are the
		// server's handshake deadline (data header, Start) and the client's
		// dial timeout; heartbeats only touch control connections. A fixed
		// public port keeps the address if a loaded machine makes the
		// short handshake fail once and the client reconnect.
		short := 100 * time.Millisecond
		srv := startServer(t, engine, func(c *relay.ServerConfig) { c.HandshakeTimeout = short })
		cl := startClient(t, srv.Addr().String(), engine, web(echoServer(t), freePort(t)), func(c *relay.ClientConfig) {
			c.DialTimeout = 5 * short
		})
		c, err := net.Dial("tcp", waitTunnel(t, cl, "web"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("a")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		c.SetReadDeadline(time.Now().Add(patience))
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * short) // the point of the test: outlast every timeout
		if _, err := c.Write([]byte("b")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, b); err != nil || b[0] != 'b' {
			t.Fatalf("after idling: %q, %v", b, err)
		}
	})
}

// TestShutdownLetsRelaysFinish: Shutdown closes the public listener at once
// but a live relay finishes its transfer.
func TestShutdownLetsRelaysFinish(t *testing.T) {
	checkLeaks(t)
	srv := startServer(t, "", nil)
	release := make(chan struct{})
	backend := serveTCP(t, func(c *net.TCPConn) {
		<-release
		c.Write([]byte("late reply"))
		c.CloseWrite()
		io.Copy(io.Discard, c)
	})
	cl := startClient(t, srv.Addr().String(), "", web(backend, 0), nil)
	addr := waitTunnel(t, cl, "web")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the relay to start", func() bool { return cl.Counters()["starts"] == 1 })

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	waitFor(t, "the public port to close", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	close(release)
	c.SetReadDeadline(time.Now().Add(patience))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "late reply" {
		t.Fatalf("read %q, %v", got, err)
	}
	c.(*net.TCPConn).CloseWrite()
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
}

// TestGarbageOnServerPort: junk, oversized, truncated and silent connections
// on the server port are closed with a reason and others are still served.
func TestGarbageOnServerPort(t *testing.T) {
	checkLeaks(t)
	srv := startServer(t, "", func(c *relay.ServerConfig) { c.HandshakeTimeout = 300 * time.Millisecond })
	pre := string(relay.Magic) + string([]byte{relay.Version, relay.KindControl})
	var wg sync.WaitGroup
	for _, junk := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		relay.Magic + "\x07\x01",       // unknown version
		relay.Magic + "\x01\x09",       // unknown kind
		pre + "\x02\xff\xff" + "xxxx",  // oversized auth frame
		pre + "\x7f\x00\x00",           // unknown frame type
		pre + "\x02\x00\x10" + "short", // truncated auth frame, then EOF
		pre,                            // silent after the preamble
		"",                             // silent from the start
		relay.Magic + "\x01\x02" + "truncated-hd", // data header cut short
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", srv.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.Write([]byte(junk))
			if junk != pre && junk != "" {
				c.(*net.TCPConn).CloseWrite()
			}
			c.SetReadDeadline(time.Now().Add(patience))
			_, err = io.Copy(io.Discard, c) // the server must close it
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Errorf("%q: not closed by the server", junk)
			}
		}()
	}
	cl := startClient(t, srv.Addr().String(), "", web(echoServer(t), 0), nil)
	if err := echoRoundTrip(waitTunnel(t, cl, "web"), 1000); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if n := srv.Counters()["protocol_errors"]; n < 7 {
		t.Errorf("protocol_errors = %d, want at least 7", n)
	}
}

// TestForwarder relays one hop for every engine.
func TestForwarder(t *testing.T) {
	forEngine(t, func(t *testing.T, engine string) {
		checkLeaks(t)
		f, err := relay.NewForwarder(relay.ForwardConfig{Listen: "127.0.0.1:0", To: echoServer(t), Engine: engine, Logger: tlog(t, "forward")})
		if err != nil {
			t.Fatal(err)
		}
		go f.Serve()
		t.Cleanup(func() { f.Close() })
		for _, n := range []int{0, 1 << 20} {
			if err := echoRoundTrip(f.Addr().String(), n); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "both relays to end", func() bool { return f.Counters()["relays_done"] == 2 })
	})
}
