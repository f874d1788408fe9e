package relay_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-tunnel/ferry/relay"
	_ "github.com/ferry-tunnel/ferry/variants/all"
)

const token = "test-token"

// patience bounds every wait for something that must happen. It is generous
// on purpose: CI is a busy 2-core machine, and a wait that ends early is a
// failure only when the event never comes.
const patience = 20 * time.Second

// tlog sends a component's log to t.Log, so failures show what happened.
func tlog(t testing.TB, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("c", name)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// checkLeaks records the goroutine and fd counts now and, when the test and
// all its later cleanups are done, waits for both to return to them. Call it
// first in a test so its cleanup runs last.
func checkLeaks(t *testing.T) {
	g0, fd0 := runtime.NumGoroutine(), countFDs()
	t.Cleanup(func() {
		deadline := time.Now().Add(patience)
		for {
			runtime.GC() // the runtime's pooled splice pipes close on GC
			g, fd := runtime.NumGoroutine(), countFDs()
			if g <= g0 && fd <= fd0 {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Fatalf("leak: goroutines %d → %d, fds %d → %d\n%s", g0, g, fd0, fd, buf[:n])
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func countFDs() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0 // no /proc: the fd half of the check is off
	}
	return len(es)
}

func startServer(t *testing.T, engine string, mod func(*relay.ServerConfig)) *relay.Server {
	t.Helper()
	cfg := relay.ServerConfig{Listen: "127.0.0.1:0", Token: token, Engine: engine, Logger: tlog(t, "server")}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := relay.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, relay.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return srv
}

type runningClient struct {
	*relay.Client
	cancel context.CancelFunc
	done   chan error // Run's result
}

// stop cancels Run, waits for it and closes the client.
func (c *runningClient) stop() error {
	c.cancel()
	err := <-c.done
	c.done <- err
	c.Close()
	return err
}

func startClient(t *testing.T, server, engine string, tunnels []relay.TunnelConfig, mod func(*relay.ClientConfig)) *runningClient {
	t.Helper()
	cfg := relay.ClientConfig{
		Server: server, Token: token, ID: "test-client", Engine: engine, Pool: 2,
		Tunnels: tunnels, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		Logger: tlog(t, "client"),
	}
	if mod != nil {
		mod(&cfg)
	}
	cl, err := relay.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc := &runningClient{Client: cl, cancel: cancel, done: make(chan error, 1)}
	go func() { rc.done <- cl.Run(ctx) }()
	t.Cleanup(func() { rc.stop() })
	return rc
}

func waitTunnel(t *testing.T, c *runningClient, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	addr, err := c.WaitTunnel(ctx, name)
	if err != nil {
		t.Fatalf("tunnel %s not ready: %v", name, err)
	}
	return addr
}

// waitFor polls cond until it holds, failing the test after patience.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// echoServer echoes every connection until EOF, then half-closes.
func echoServer(t *testing.T) string {
	return serveTCP(t, func(c *net.TCPConn) {
		io.Copy(c, c)
		c.CloseWrite()
	})
}

// serveTCP runs handle for every connection accepted on a fresh loopback
// port, until the test ends.
func serveTCP(t *testing.T, handle func(*net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c.(*net.TCPConn))
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	return ln.Addr().String()
}

// echoRoundTrip sends n random bytes to addr, half-closes, and checks that
// exactly the same bytes come back.
func echoRoundTrip(addr string, n int) error {
	c, err := net.DialTimeout("tcp", addr, patience)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(patience))
	data := make([]byte, n)
	rand.Read(data)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	h := sha256.New()
	got, err := io.Copy(h, c)
	if err != nil {
		return err
	}
	if err := <-werr; err != nil {
		return err
	}
	want := sha256.Sum256(data)
	if got != int64(n) || !bytes.Equal(h.Sum(nil), want[:]) {
		return fmt.Errorf("echo mismatch: got %d bytes, want %d (or different bytes)", got, n)
	}
	return nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
