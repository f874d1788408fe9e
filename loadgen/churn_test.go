package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

func newChurnEcho(t *testing.T) *Echo {
	t.Helper()
	e, err := NewEcho("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestChurn(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Churn
	}{
		{name: "size=default/conns=1", c: Churn{Duration: 300 * time.Millisecond}},
		{name: "size=1/conns=4", c: Churn{Size: 1, Conns: 4, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond}},
		{name: "size=max/conns=4", c: Churn{Size: maxChurnSize, Conns: 4, Duration: 300 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			ctx, cancel := context.WithTimeout(context.Background(), generous)
			defer cancel()
			e := newChurnEcho(t)
			tc.c.Addr = e.Addr().String()
			res, err := tc.c.Run(ctx)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Conns == 0 || res.Errors != 0 {
				t.Fatalf("%d cycles, %d errors; want some and none", res.Conns, res.Errors)
			}
			for name, h := range map[string]*Histogram{"Connect": res.Connect, "FirstByte": res.FirstByte, "Total": res.Total} {
				if h.Count() != res.Conns {
					t.Errorf("%s has %d samples for %d cycles", name, h.Count(), res.Conns)
				}
			}
			// Each cycle's three times nest, so their medians do too.
			c, f, tot := res.Connect.Quantile(0.5), res.FirstByte.Quantile(0.5), res.Total.Quantile(0.5)
			if c <= 0 || c > f || f > tot {
				t.Errorf("medians connect %v, first byte %v, total %v; want 0 < connect <= first byte <= total", c, f, tot)
			}
			if res.Elapsed != tc.c.Duration {
				t.Errorf("Elapsed %v, want the Duration, %v", res.Elapsed, tc.c.Duration)
			}
			if want := float64(res.Conns) / res.Elapsed.Seconds(); res.Rate != want {
				t.Errorf("Rate %v, want %v", res.Rate, want)
			}
			t.Logf("%.0f conns/s; median connect %v, first byte %v, total %v", res.Rate, c, f, tot)
			// Every connection Run opened is closed: the echo sees each
			// end, and no goroutine is left.
			if err := e.waitConns(ctx, 0); err != nil {
				t.Fatalf("echo still has connections: %v", err)
			}
			e.Close()
			httpGoroutinesBackTo(t, base)
		})
	}
}

// churnFault is what a churnFaultyEcho does to a connection.
type churnFault int

const (
	churnFlip     churnFault = iota // echo with one byte inverted
	churnShort                      // echo all but the last byte
	churnLong                       // echo with one byte too many
	churnResetOdd                   // echo connections 0, 2, 4...; reset 1, 3, 5...
)

// churnFaultyEcho is an echo backend that gets things wrong on purpose.
type churnFaultyEcho struct {
	ln    net.Listener
	fault churnFault
	wg    sync.WaitGroup
}

func newChurnFaultyEcho(t *testing.T, fault churnFault) *churnFaultyEcho {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &churnFaultyEcho{ln: ln, fault: fault}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				e.serve(c, i)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		e.wg.Wait()
	})
	return e
}

func (e *churnFaultyEcho) serve(c net.Conn, i int) {
	defer c.Close()
	if e.fault == churnResetOdd && i%2 == 1 {
		c.(*net.TCPConn).SetLinger(0)
		return
	}
	p, err := io.ReadAll(c)
	if err != nil {
		return
	}
	switch e.fault {
	case churnFlip:
		p[len(p)/2] ^= 0xff
	case churnShort:
		p = p[:len(p)-1]
	case churnLong:
		p = append(p, 'x')
	}
	c.Write(p)
}

func TestChurnDetectsWrongEcho(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault churnFault
	}{
		{name: "flipped", fault: churnFlip},
		{name: "short", fault: churnShort},
		{name: "long", fault: churnLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), generous)
			defer cancel()
			e := newChurnFaultyEcho(t, tc.fault)
			_, err := Churn{Addr: e.ln.Addr().String(), Duration: time.Hour}.Run(ctx)
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("Run returned %v, want ErrMismatch", err)
			}
			t.Log(err)
		})
	}
}

func TestChurnCountsErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	// Every other connection is reset; the first is echoed, so the run is
	// not ended early and the error rate decides.
	e := newChurnFaultyEcho(t, churnResetOdd)
	res, err := Churn{Addr: e.ln.Addr().String(), Duration: 300 * time.Millisecond}.Run(ctx)
	// The reset may meet the cycle in connect, write or read, so the
	// first failure is a reset or a broken pipe, from some operation.
	var opErr *net.OpError
	if !errors.Is(err, ErrTooManyErrors) || !errors.As(err, &opErr) {
		t.Fatalf("Run returned %v, want ErrTooManyErrors wrapping a *net.OpError", err)
	}
	if res.Conns == 0 || res.Errors == 0 {
		t.Errorf("%d cycles and %d errors, want some of each", res.Conns, res.Errors)
	}
	t.Log(err)
}

func TestChurnRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	// The first cycle fails before any succeeded, which ends the run at
	// once instead of after the Duration.
	_, err = Churn{Addr: addr, Conns: 4, Duration: time.Hour}.Run(ctx)
	if !errors.Is(err, ErrTooManyErrors) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Run returned %v, want ErrTooManyErrors and ECONNREFUSED", err)
	}
	t.Log(err)
}

func TestChurnStopsWithContext(t *testing.T) {
	e := newChurnEcho(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := Churn{Addr: e.Addr().String(), Conns: 2, Duration: time.Hour}.Run(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run returned %v, want context.DeadlineExceeded", err)
	}
	if res.Conns == 0 || res.Errors != 0 {
		t.Errorf("%d cycles, %d errors; want some and none", res.Conns, res.Errors)
	}
	if res.Elapsed <= 0 || res.Elapsed >= time.Hour {
		t.Errorf("Elapsed %v, want the time until ctx ended", res.Elapsed)
	}
}

func TestChurnRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Churn
	}{
		{name: "no_addr", c: Churn{}},
		{name: "size_negative", c: Churn{Addr: "127.0.0.1:1", Size: -1}},
		{name: "size_large", c: Churn{Addr: "127.0.0.1:1", Size: maxChurnSize + 1}},
		{name: "conns", c: Churn{Addr: "127.0.0.1:1", Conns: -1}},
		{name: "duration", c: Churn{Addr: "127.0.0.1:1", Duration: -time.Second}},
		{name: "warmup", c: Churn{Addr: "127.0.0.1:1", Warmup: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.Run(context.Background())
			if err == nil || errors.Is(err, ErrTooManyErrors) {
				t.Fatalf("Run returned %v, want a configuration error", err)
			}
		})
	}
}
