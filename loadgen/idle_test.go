package loadgen

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// idleEcho is a test echo backend that can misbehave, unlike Echo: corrupt
// flips the first byte of every echo, and kill closes every live
// connection.
type idleEcho struct {
	ln      net.Listener
	corrupt bool
	wg      sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startIdleEcho(t *testing.T, corrupt bool) *idleEcho {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &idleEcho{ln: ln, corrupt: corrupt, conns: make(map[net.Conn]struct{})}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.conns[c] = struct{}{}
			e.mu.Unlock()
			e.wg.Add(1)
			go e.serve(c)
		}
	}()
	t.Cleanup(e.close)
	return e
}

func (e *idleEcho) serve(c net.Conn) {
	defer e.wg.Done()
	buf := make([]byte, 4<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 && e.corrupt {
			buf[0] ^= 1
		}
		if _, werr := c.Write(buf[:n]); werr != nil || err != nil {
			break
		}
	}
	c.Close()
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
}

func (e *idleEcho) addr() string { return e.ln.Addr().String() }

func (e *idleEcho) kill() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for c := range e.conns {
		c.Close()
	}
}

func (e *idleEcho) close() {
	e.ln.Close()
	e.kill()
	e.wg.Wait()
}

// idleCountFDs counts the process's open sockets, or skips the test where
// /proc is missing. Sockets only: pipes come and go with the runtime's
// splice pipe pool, which a garbage collection may empty at any moment.
func idleCountFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open fds: %v", err)
	}
	n := 0
	for _, ent := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + ent.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

func TestIdleHold(t *testing.T) {
	const conns = 200
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	e, err := NewEcho("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	fds := -1
	if runtime.GOOS == "linux" {
		fds = idleCountFDs(t)
	}
	h, err := Idle{Addr: e.Addr().String(), Conns: conns, Size: 64}.Hold(ctx)
	if err != nil {
		t.Fatalf("Hold: %v", err)
	}
	if h.Len() != conns {
		t.Errorf("Len %d, want %d", h.Len(), conns)
	}
	if fds >= 0 {
		// Each held conn is an fd here and another in the echo.
		if got := idleCountFDs(t); got < fds+2*conns {
			t.Errorf("%d fds open while holding, want at least %d", got, fds+2*conns)
		}
	}
	for range 2 {
		if err := h.Check(ctx); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	if err := h.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if h.Len() != 0 {
		t.Errorf("Len %d after Close", h.Len())
	}
	if err := h.Check(ctx); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Check after Close returned %v, want net.ErrClosed", err)
	}
	if fds >= 0 {
		// The echo's ends may still be closing, but the loadgen's
		// are gone.
		if got := idleCountFDs(t); got > fds+conns {
			t.Errorf("%d fds open after Close, want at most %d", got, fds+conns)
		}
		e.Close()
		if got := idleCountFDs(t); got > fds {
			t.Errorf("%d fds open once the echo closed too, %d before Hold", got, fds)
		}
	}
	e.Close()
	waitGoroutinesBackTo(t, base)
}

func TestIdleCheckFindsDeadConns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	e := startIdleEcho(t, false)
	h, err := Idle{Addr: e.addr(), Conns: 20}.Hold(ctx)
	if err != nil {
		t.Fatalf("Hold: %v", err)
	}
	defer h.Close()
	e.kill()
	if err := h.Check(ctx); err == nil {
		t.Fatal("Check passed after the echo closed every connection")
	} else {
		t.Log(err)
	}
}

func TestIdleDetectsWrongEcho(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	e := startIdleEcho(t, true)
	h, err := Idle{Addr: e.addr(), Conns: 5, Size: 100}.Hold(ctx)
	if !errors.Is(err, ErrMismatch) {
		if h != nil {
			h.Close()
		}
		t.Fatalf("Hold against a corrupting echo returned %v, want ErrMismatch", err)
	}
	t.Log(err)
}

func TestIdleFDLimit(t *testing.T) {
	limit, _, ok := fdRoom()
	if !ok {
		t.Skip("no fd limit to check on " + runtime.GOOS)
	}
	if limit > 1<<24 {
		t.Skipf("fd limit %d: too large to exceed", limit)
	}
	// Nothing listens here, so a dial would fail with a different error:
	// ErrFDLimit proves Hold checked before dialling.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Idle{Addr: addr, Conns: limit + 1}.Hold(context.Background())
	if !errors.Is(err, ErrFDLimit) {
		t.Fatalf("Hold of %d conns returned %v, want ErrFDLimit", limit+1, err)
	}
	t.Log(err)
}

func TestIdleDialRate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	e := startIdleEcho(t, false)
	const conns, rate = 40, 400.0
	start := time.Now()
	h, err := Idle{Addr: e.addr(), Conns: conns, DialRate: rate}.Hold(ctx)
	if err != nil {
		t.Fatalf("Hold: %v", err)
	}
	defer h.Close()
	// The last dial starts (conns-1)/rate after the first; a slow machine
	// can only take longer.
	if took, least := time.Since(start), time.Duration((conns-1)/rate*float64(time.Second)); took < least {
		t.Errorf("Hold took %v, less than the %v its dial rate allows", took, least)
	}
}

func TestIdleStopsWithContext(t *testing.T) {
	base := runtime.NumGoroutine()
	// A target that accepts and never echoes: Hold waits in its first
	// round trip until ctx ends.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	fds := -1
	if runtime.GOOS == "linux" {
		fds = idleCountFDs(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	h, err := Idle{Addr: ln.Addr().String(), Conns: 10}.Hold(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		if h != nil {
			h.Close()
		}
		t.Fatalf("Hold returned %v, want context.DeadlineExceeded", err)
	}
	t.Log(err)
	// Hold closed its own conns; close the target's too.
	ln.Close()
	for c := range accepted {
		c.Close()
	}
	if fds >= 0 {
		if got := idleCountFDs(t); got > fds {
			t.Errorf("%d fds open after Hold failed, %d before", got, fds)
		}
	}
	waitGoroutinesBackTo(t, base)
}

func TestIdleRejectsBadConfig(t *testing.T) {
	for _, i := range []Idle{
		{Conns: -1},
		{DialRate: -1},
		{Size: -1},
		{Size: len(pattern) + 1},
	} {
		if _, err := i.Hold(context.Background()); err == nil {
			t.Errorf("%+v held", i)
		}
	}
}
