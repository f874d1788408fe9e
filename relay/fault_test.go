package relay_test

import (
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
)

// The fault tests break one thing in the middle of real traffic and then
// check the three things a production tunnel owes its users: the broken
// connection ends with an error on the public side (never a clean end that
// hides lost bytes), the server goes on serving new connections, and every
// goroutine and fd comes back (checkLeaks).

// writeUntilError writes into c until a write fails, at most limit bytes,
// and returns how many it wrote and the error (nil if all limit bytes went).
// after is called once, when threshold bytes are written.
func writeUntilError(c net.Conn, limit, threshold int64, after func()) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	fired := false
	c.SetWriteDeadline(time.Now().Add(patience))
	for n < limit {
		k, err := c.Write(buf)
		n += int64(k)
		if err != nil {
			return n, err
		}
		if !fired && n >= threshold {
			fired = true
			after()
		}
	}
	return n, nil
}

// sinkServer reads every connection to its end and counts the bytes.
func sinkServer(t *testing.T, total *atomic.Int64) string {
	return serveTCP(t, func(c *net.TCPConn) {
		n, _ := io.Copy(io.Discard, c)
		total.Add(n)
	})
}

// TestClientKilledMidTransfer: the client's side of the tunnel vanishes (all
// its connections cut, as when its process is killed) after 10 MiB of a
// 100 MiB upload. The uploader gets an error, and a new client is served.
func TestClientKilledMidTransfer(t *testing.T) {
	forEngine(t, func(t *testing.T, engine string) {
		checkLeaks(t)
		srv := startServer(t, engine, nil)
		var got atomic.Int64
		sink := sinkServer(t, &got)
		px := newChaosProxy(t, srv.Addr().String())
		port := freePort(t)
		doomed := startClient(t, px.addr(), engine, web(sink, port), nil)
		addr := waitTunnel(t, doomed, "web")

		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		n, err := writeUntilError(c, 100<<20, 10<<20, func() {
			px.kill(relay.KindData)
			px.kill(relay.KindControl)
		})
		if err == nil {
			// Every byte was handed to the kernel before the kill took
			// effect; the end must still not look clean.
			c.SetReadDeadline(time.Now().Add(patience))
			_, err = c.Read(make([]byte, 1))
			if err == io.EOF {
				err = nil
			}
		}
		if err == nil {
			t.Fatalf("wrote %d bytes through a tunnel whose client died, and saw no error", n)
		}
		if got.Load() >= 100<<20 {
			t.Fatalf("the sink got all %d bytes though the client died after 10 MiB", got.Load())
		}
		doomed.stop()

		// A new client takes the same port and is served.
		cl := startClient(t, srv.Addr().String(), engine, web(echoServer(t), port), func(c *relay.ClientConfig) { c.ID = "successor" })
		if err := echoRoundTrip(waitTunnel(t, cl, "web"), 1<<20); err != nil {
			t.Fatal(err)
		}
	})
}

// TestBackendNeverReads: a local service that accepts and never reads. The
// uploader is held up by TCP backpressure (no engine buffers without bound)
// while other connections are served. When the uploader gives up with a
// reset, every engine ends the pair on that reset alone, though the service
// is still stuck: the copy that would read the reset is blocked writing to
// the service and the other is blocked reading it, so the engine must learn
// of it from the socket itself (EPOLLERR; docs/engines.md, "The error
// watcher").
func TestBackendNeverReads(t *testing.T) {
	forEngine(t, func(t *testing.T, engine string) {
		checkLeaks(t)
		srv := startServer(t, engine, nil)
		release := make(chan struct{})
		stuck := serveTCP(t, func(c *net.TCPConn) { <-release }) // accept, then never read
		// Registered after serveTCP's cleanup, so it runs before that
		// waits for the handlers.
		t.Cleanup(func() { close(release) })
		tunnels := append(web(echoServer(t), 0), relay.TunnelConfig{Name: "stuck", Local: stuck})
		cl := startClient(t, srv.Addr().String(), engine, tunnels, nil)
		addr := waitTunnel(t, cl, "stuck")

		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 1<<20)
		var n int64
		for {
			k, err := c.Write(buf)
			n += int64(k)
			if err != nil {
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					t.Fatalf("write into a tunnel to a stuck backend: %v, want it to block until the deadline", err)
				}
				break
			}
			if n > 1<<30 {
				t.Fatalf("wrote %d bytes into a tunnel whose backend reads nothing: something buffers without bound", n)
			}
		}
		t.Logf("%d bytes in flight before backpressure held the writer (socket buffers along two hops)", n)

		// Other connections are served while that one is stuck.
		if err := echoRoundTrip(waitTunnel(t, cl, "web"), 1<<20); err != nil {
			t.Fatal(err)
		}
		// The echo's pairs have ended on both hops: the stuck pairs are all
		// that is left.
		relaysDone := func(want uint64) func() bool {
			return func() bool {
				return srv.Counters()["relays_done"] == want && cl.Counters()["relays_done"] == want
			}
		}
		waitFor(t, "the echo's relays to end", relaysDone(1))
		c.(*net.TCPConn).SetLinger(0)
		c.Close() // the uploader gives up with a reset
		waitFor(t, "both hops to end the pair on the uploader's reset, the service still stuck", relaysDone(2))
	})
}

// TestBackendResets: a local service that reads a little and resets. The
// public side sees the reset, not a clean end, and the next connection is
// served.
func TestBackendResets(t *testing.T) {
	forEngine(t, func(t *testing.T, engine string) {
		checkLeaks(t)
		srv := startServer(t, engine, nil)
		resetting := serveTCP(t, func(c *net.TCPConn) {
			c.Read(make([]byte, 1000))
			c.SetLinger(0)
		})
		tunnels := append(web(echoServer(t), 0), relay.TunnelConfig{Name: "reset", Local: resetting})
		cl := startClient(t, srv.Addr().String(), engine, tunnels, nil)
		c, err := net.Dial("tcp", waitTunnel(t, cl, "reset"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = writeUntilError(c, 1<<30, 1<<62, func() {})
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("writing to a backend that resets: %v, want a reset", err)
		}
		if err := echoRoundTrip(waitTunnel(t, cl, "web"), 1<<20); err != nil {
			t.Fatal(err)
		}
	})
}

// TestServerRestartWithLiveConnections: 1,000 tunneled connections are open
// when the server stops. Every one ends with an error rather than hanging,
// the client reconnects to the restarted server, and new connections work.
func TestServerRestartWithLiveConnections(t *testing.T) {
	const live = 1000
	// An epoll engine where there is one: two fds per pair, where gocopy
	// holds six, keeps the test well inside a modest fd limit.
	engine := relay.DefaultEngine
	if slices.Contains(relay.Engines(), "epollcopy") {
		engine = "epollcopy"
	}
	if need := 6*live + 1000; fdLimit() < need {
		t.Skipf("needs %d file descriptors, the limit is %d", need, fdLimit())
	}
	checkLeaks(t)
	listen := "127.0.0.1:" + strconv.Itoa(freePort(t))
	mod := func(c *relay.ServerConfig) { c.Listen, c.MaxConns = listen, 2*live }
	first := startServer(t, engine, mod)
	cl := startClient(t, listen, engine, web(echoServer(t), 0), nil)
	addr := waitTunnel(t, cl, "web")
	conns := make([]net.Conn, 0, live)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	one := []byte{1}
	for range live {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(patience))
		if _, err := c.Write(one); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, one); err != nil {
			t.Fatalf("connection %d: %v", len(conns), err)
		}
	}
	first.Close()
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(patience))
		if _, err := c.Read(one); err == nil {
			t.Fatalf("connection %d still read a byte after the server stopped", i)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection %d hung after the server stopped", i)
		}
	}
	second := startServer(t, engine, mod)
	waitFor(t, "the client to reconnect", func() bool { return second.Counters()["tunnels_registered"] == 1 })
	if err := echoRoundTrip(waitTunnel(t, cl, "web"), 1<<20); err != nil {
		t.Fatal(err)
	}
}
