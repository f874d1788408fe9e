package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

func newEcho(t *testing.T) *Echo {
	t.Helper()
	e, err := NewEcho("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// waitEchoIdle fails the test unless every connection to e ends: proof that
// the client closed all it opened.
func waitEchoIdle(t *testing.T, e *Echo) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	if err := e.waitConns(ctx, 0); err != nil {
		t.Fatalf("echo connections still open after the client finished: %v", err)
	}
}

func TestEcho(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		conns int
	}{
		{name: "size=1", size: 1, conns: 1},
		{name: "size=64/conns=8", size: 64, conns: 8},
		{name: "size=buf+1", size: echoBufSize + 1, conns: 2},
		{name: "size=3MiB", size: 3 << 20, conns: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEcho(t)
			var wg sync.WaitGroup
			for i := range tc.conns {
				c := dial(t, e.Addr())
				wg.Go(func() {
					sent := bytes.Repeat(pattern[i:i+1000], tc.size/1000+1)[:tc.size]
					// Write and read at once: the echo of a large stream
					// fills the socket buffers before the write ends.
					werr := make(chan error, 1)
					go func() {
						_, err := c.Write(sent)
						if err == nil {
							err = c.(*net.TCPConn).CloseWrite()
						}
						werr <- err
					}()
					got, err := io.ReadAll(c) // to the Echo's close
					if err != nil {
						t.Errorf("conn %d: read: %v", i, err)
					}
					if err := <-werr; err != nil {
						t.Errorf("conn %d: write: %v", i, err)
					}
					if !bytes.Equal(got, sent) {
						t.Errorf("conn %d: echoed %d bytes, sent %d, or they differ", i, len(got), len(sent))
					}
				})
			}
			wg.Wait()
			waitEchoIdle(t, e)
		})
	}
}

func TestEchoCloseEndsLiveConns(t *testing.T) {
	e, err := NewEcho("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, e.Addr())
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// The echo proves the connection was accepted and is being served.
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Close() }()
	select {
	case <-done:
	case <-time.After(generous):
		t.Fatal("Close did not return")
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("connection still open after Close")
	}
}

// proxy is an in-test relay in front of upstream that passes bytes client
// to upstream unchanged and hands the way back to down.
func proxy(t *testing.T, upstream net.Addr, down func(dst io.Writer, src io.Reader)) net.Addr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream.String())
			if err != nil {
				c.Close()
				return
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			wg.Go(func() {
				io.Copy(u, c)
				u.(*net.TCPConn).CloseWrite()
			})
			wg.Go(func() {
				down(c, u)
				c.Close()
			})
		}
	})
	return ln.Addr()
}

// flipAt returns a proxy direction that changes the byte at offset at.
func flipAt(at int64) func(dst io.Writer, src io.Reader) {
	return func(dst io.Writer, src io.Reader) {
		if _, err := io.CopyN(dst, src, at); err != nil {
			return
		}
		var b [1]byte
		if _, err := io.ReadFull(src, b[:]); err != nil {
			return
		}
		b[0] ^= 0x20
		if _, err := dst.Write(b[:]); err != nil {
			return
		}
		io.Copy(dst, src)
	}
}

// stallEcho is an echo server that stops answering, once, for stall: every
// connection's next write waits from the first request read at least after
// the first request it ever read until stall has passed.
type stallEcho struct {
	ln           net.Listener
	after, stall time.Duration
	gate         sync.RWMutex  // held by the stall; every echo write holds it shared
	quit         chan struct{} // closed by cleanup, to cut a long stall short
	wg           sync.WaitGroup

	mu      sync.Mutex
	first   time.Time
	stalled bool
	conns   []net.Conn
}

func newStallEcho(t *testing.T, after, stall time.Duration) *stallEcho {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stallEcho{ln: ln, after: after, stall: stall, quit: make(chan struct{})}
	t.Cleanup(func() {
		close(s.quit)
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Go(func() { s.serve(c) })
		}
	})
	return s
}

func (s *stallEcho) serve(c net.Conn) {
	buf := make([]byte, echoBufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			s.maybeStall()
			s.gate.RLock()
			_, werr := c.Write(buf[:n])
			s.gate.RUnlock()
			if werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (s *stallEcho) maybeStall() {
	s.mu.Lock()
	now := time.Now()
	if s.first.IsZero() {
		s.first = now
	}
	take := !s.stalled && now.Sub(s.first) >= s.after
	s.stalled = s.stalled || take
	s.mu.Unlock()
	if !take {
		return
	}
	s.gate.Lock()
	defer s.gate.Unlock()
	// The stall itself is the thing under test, so here a timer is right.
	select {
	case <-time.After(s.stall):
	case <-s.quit:
	}
}

func (s *stallEcho) didStall() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stalled
}

// countAtLeast is how many samples in h are in d's bucket or above.
func countAtLeast(h *Histogram, d time.Duration) int64 {
	var n int64
	for _, c := range h.counts[histIndex(int64(d)):] {
		n += c
	}
	return n
}

// runRR runs r with a generous bound and fails the test if Run does not
// return in time.
func runRR(t *testing.T, ctx context.Context, r RR) (RRResult, error) {
	t.Helper()
	type ret struct {
		res RRResult
		err error
	}
	done := make(chan ret, 1)
	go func() {
		res, err := r.Run(ctx)
		done <- ret{res, err}
	}()
	select {
	case got := <-done:
		return got.res, got.err
	case <-time.After(generous + r.Warmup + r.Duration + drainLimit):
		t.Fatal("Run did not return")
	}
	panic("not reached")
}

// checkConsistent checks what must hold for any finished run.
func checkConsistent(t *testing.T, res RRResult) {
	t.Helper()
	if res.Latency == nil {
		t.Fatal("no latency histogram")
	}
	if got := res.Latency.Count(); got != res.Requests {
		t.Errorf("histogram holds %d samples for %d requests", got, res.Requests)
	}
	if res.Elapsed > 0 {
		if want := float64(res.Requests) / res.Elapsed.Seconds(); res.Rate != want {
			t.Errorf("Rate = %v, want Requests/Elapsed = %v", res.Rate, want)
		}
	}
}

func TestRRClosedLoop(t *testing.T) {
	for _, tc := range []struct {
		name string
		rr   RR
	}{
		{name: "defaults", rr: RR{Duration: 200 * time.Millisecond}},
		{name: "size=1/conns=4", rr: RR{Size: 1, Conns: 4, Duration: 200 * time.Millisecond}},
		{name: "size=200KiB/conns=2/warmup", rr: RR{Size: 200 << 10, Conns: 2, Duration: 200 * time.Millisecond, Warmup: 100 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEcho(t)
			r := tc.rr
			r.Addr = e.Addr().String()
			res, err := runRR(t, context.Background(), r)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkConsistent(t, res)
			if res.Requests == 0 || res.Errors != 0 || res.Late != 0 {
				t.Errorf("requests %d, errors %d, late %d; want some, 0, 0", res.Requests, res.Errors, res.Late)
			}
			if res.Elapsed < r.Duration {
				t.Errorf("Elapsed %v, shorter than Duration %v", res.Elapsed, r.Duration)
			}
			if res.Latency.Min() <= 0 {
				t.Errorf("minimum latency %v, want > 0", res.Latency.Min())
			}
			waitEchoIdle(t, e)
		})
	}
}

func TestRROpenLoopRate(t *testing.T) {
	e := newEcho(t)
	r := RR{
		Addr:     e.Addr().String(),
		Conns:    2,
		Rate:     2000,
		Warmup:   200 * time.Millisecond,
		Duration: 800 * time.Millisecond,
	}
	res, err := runRR(t, context.Background(), r)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkConsistent(t, res)
	// The schedule has exactly this many requests due in the measured
	// period, and none of the warmup's may be counted: an exact upper
	// bound. The lower one is wide, for a loaded machine.
	due := int64(r.Rate * r.Duration.Seconds())
	if res.Requests > due || res.Requests < due/2 {
		t.Errorf("Requests = %d, want between %d and %d", res.Requests, due/2, due)
	}
	if res.Errors != 0 {
		t.Errorf("Errors = %d", res.Errors)
	}
	if res.Elapsed < r.Duration {
		t.Errorf("Elapsed %v, shorter than Duration %v", res.Elapsed, r.Duration)
	}
	t.Logf("requests %d, late %d, latency p50 %v p99 %v max %v",
		res.Requests, res.Late, res.Latency.Quantile(0.5), res.Latency.Quantile(0.99), res.Latency.Max())
	waitEchoIdle(t, e)
}

// TestRROpenLoopStall is the reason open loop exists. The server stops
// answering for 200 ms in the middle of the run. Every request due in the
// first half of the stall cannot be answered before the stall ends, so,
// counted from when it was due, it took at least 100 ms, less whatever the
// generator itself lagged (a few milliseconds even on a loaded machine).
// That is rate*stall/2 = 200 samples of at least 100 ms, and the test asks
// for half of them. A generator that timed from the actual send, or that
// skipped the sends it missed, would show only the Conns requests that
// were in flight when the stall began.
func TestRROpenLoopStall(t *testing.T) {
	const (
		rate  = 2000
		stall = 200 * time.Millisecond
		slow  = stall / 2
	)
	s := newStallEcho(t, 300*time.Millisecond, stall)
	r := RR{Addr: s.ln.Addr().String(), Conns: 2, Rate: rate, Duration: time.Second}
	res, err := runRR(t, context.Background(), r)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !s.didStall() {
		t.Fatal("the run ended before the server stalled")
	}
	checkConsistent(t, res)
	if res.Errors != 0 {
		t.Errorf("Errors = %d", res.Errors)
	}
	h := res.Latency
	t.Logf("requests %d, late %d, latency p50 %v p99 %v max %v, %d samples >= %v",
		res.Requests, res.Late, h.Quantile(0.5), h.Quantile(0.99), h.Max(), countAtLeast(h, slow), slow)
	if h.Max() < stall*3/4 {
		t.Errorf("max latency %v, want at least %v with a %v stall", h.Max(), stall*3/4, stall)
	}
	if p99 := h.Quantile(0.99); p99 < slow-slow/64 {
		t.Errorf("p99 latency %v, want at least %v with a %v stall", p99, slow, stall)
	}
	want := int64(rate * stall.Seconds() / 4)
	if n := countAtLeast(h, slow); n < want {
		t.Errorf("%d samples of at least %v, want at least %d: the requests due during the stall were not charged for it", n, slow, want)
	}
	if res.Late < want {
		t.Errorf("Late = %d, want at least %d: requests due during the stall went out after it", res.Late, want)
	}
}

// TestRRDrainLimit: a server that stops answering for good near the end of
// the run. Every request due in the measured period is either answered or
// counted as an error once the drain limit passes.
func TestRRDrainLimit(t *testing.T) {
	s := newStallEcho(t, 100*time.Millisecond, time.Hour)
	r := RR{Addr: s.ln.Addr().String(), Rate: 1000, Duration: 300 * time.Millisecond}
	res, err := runRR(t, context.Background(), r)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !s.didStall() {
		t.Fatal("the run ended before the server stalled")
	}
	checkConsistent(t, res)
	if due := int64(r.Rate * r.Duration.Seconds()); res.Requests+res.Errors != due {
		t.Errorf("requests %d + errors %d, want the %d due", res.Requests, res.Errors, due)
	}
	if res.Errors == 0 {
		t.Error("no errors for the requests never answered")
	}
}

func TestRRCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name string
		rr   RR
	}{
		{name: "closed_loop", rr: RR{Conns: 2}},
		{name: "open_loop", rr: RR{Conns: 2, Rate: 1000}},
		{name: "size=200KiB", rr: RR{Size: 200 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEcho(t)
			r := tc.rr
			r.Addr = proxy(t, e.Addr(), flipAt(1000)).String()
			r.Duration = time.Minute // the corruption must end it long before
			res, err := runRR(t, context.Background(), r)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Run returned %v, want ErrCorrupt", err)
			}
			if res.Errors == 0 {
				t.Error("the corrupt response was not counted as an error")
			}
			t.Log(err)
		})
	}
}

func TestRRDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = RR{Addr: addr, Duration: time.Minute}.Run(context.Background())
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Op != "dial" {
		t.Fatalf("Run returned %v, want a dial error", err)
	}
}

func TestRRCancel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rr    RR
		stall bool // the server stops answering at once: Run must cut a read short
	}{
		{name: "closed_loop", rr: RR{Conns: 2}},
		{name: "open_loop", rr: RR{Conns: 2, Rate: 1000}},
		{name: "closed_loop/stalled", rr: RR{Conns: 2}, stall: true},
		{name: "open_loop/stalled", rr: RR{Conns: 2, Rate: 1000}, stall: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rr
			r.Duration = time.Minute
			var e *Echo
			if tc.stall {
				r.Addr = newStallEcho(t, 0, time.Hour).ln.Addr().String()
			} else {
				e = newEcho(t)
				r.Addr = e.Addr().String()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			res, err := runRR(t, ctx, r)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Run returned %v, want context.DeadlineExceeded", err)
			}
			checkConsistent(t, res)
			if res.Errors != 0 {
				t.Errorf("Errors = %d: cancelling is not the server's fault", res.Errors)
			}
			if res.Elapsed >= r.Duration {
				t.Errorf("Elapsed = %v, want less than Duration %v", res.Elapsed, r.Duration)
			}
			if e != nil {
				waitEchoIdle(t, e)
			}
		})
	}
}

func TestRRValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		rr   RR
	}{
		{name: "no_addr", rr: RR{}},
		{name: "size", rr: RR{Addr: "x", Size: -1}},
		{name: "conns", rr: RR{Addr: "x", Conns: -1}},
		{name: "duration", rr: RR{Addr: "x", Duration: -1}},
		{name: "warmup", rr: RR{Addr: "x", Warmup: -1}},
		{name: "rate", rr: RR{Addr: "x", Rate: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.rr.Validate(); err == nil {
				t.Error("Validate accepted it")
			}
			if _, err := tc.rr.Run(context.Background()); err == nil {
				t.Error("Run accepted it")
			}
		})
	}
	if err := (RR{Addr: "x"}).Validate(); err != nil {
		t.Errorf("zero value but for Addr: %v", err)
	}
}
