package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

func newHTTPBackend(t *testing.T) *HTTPBackend {
	t.Helper()
	b, err := NewHTTPBackend("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// httpGoroutinesBackTo polls until no more than base goroutines run, for
// as long as generous allows: a goroutine that has signalled its end may
// still be returning, and fasthttp's pool cleaner ends on its own clock.
// (bulk_test.go has the same helper; this file keeps its own so the
// workloads' tests do not depend on each other.)
func httpGoroutinesBackTo(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(generous)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the test:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHTTP(t *testing.T) {
	base := runtime.NumGoroutine()
	for _, tc := range []struct {
		name string
		h    HTTP
		body []byte
	}{
		{name: "path=default/conns=1", h: HTTP{Duration: 300 * time.Millisecond}, body: httpSmallBody},
		{name: "path=small/conns=4", h: HTTP{Path: "/small", Conns: 4, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond}, body: httpSmallBody},
		{name: "path=1m/conns=1", h: HTTP{Path: "/1m", Duration: 300 * time.Millisecond}, body: httpLargeBody},
		{name: "path=1m/conns=4", h: HTTP{Path: "/1m", Conns: 4, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond}, body: httpLargeBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), generous)
			defer cancel()
			b := newHTTPBackend(t)
			tc.h.Addr = b.Addr().String()
			res, err := tc.h.Run(ctx)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Requests == 0 || res.Errors != 0 {
				t.Fatalf("%d requests, %d errors; want some and none", res.Requests, res.Errors)
			}
			if n := res.Latency.Count(); n != res.Requests {
				t.Errorf("%d latency samples for %d requests", n, res.Requests)
			}
			if want := res.Requests * int64(len(tc.body)); res.Bytes != want {
				t.Errorf("%d body bytes for %d requests, want %d", res.Bytes, res.Requests, want)
			}
			if res.Elapsed != tc.h.Duration {
				t.Errorf("Elapsed %v, want the Duration, %v", res.Elapsed, tc.h.Duration)
			}
			if want := float64(res.Requests) / res.Elapsed.Seconds(); res.Rate != want {
				t.Errorf("Rate %v, want %v", res.Rate, want)
			}
			if res.Latency.Min() <= 0 || res.Latency.Max() < res.Latency.Quantile(0.5) {
				t.Errorf("latency min %v, median %v, max %v", res.Latency.Min(), res.Latency.Quantile(0.5), res.Latency.Max())
			}
			t.Logf("%.0f requests/s; latency median %v, p99 %v", res.Rate, res.Latency.Quantile(0.5), res.Latency.Quantile(0.99))
			// Keep-alive: one connection per worker at most, however many
			// requests.
			if got, conns := b.accepted.Load(), int64(max(tc.h.Conns, 1)); got == 0 || got > conns {
				t.Errorf("backend accepted %d connections for %d requests, want 1 to %d", got, res.Requests, conns)
			}
		})
	}
	// fasthttp's pool cleaner outlives Run by up to httpIdleConn; the
	// subtests' cleaners wait out that time together.
	httpGoroutinesBackTo(t, base)
}

func TestHTTPBackendResponses(t *testing.T) {
	b := newHTTPBackend(t)
	c := dial(t, b.Addr())
	// Two requests on one connection: the 404 must keep it alive.
	if _, err := io.WriteString(c, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for _, want := range []struct {
		status int
		body   []byte
	}{
		{status: http.StatusNotFound},
		{status: http.StatusOK, body: httpSmallBody},
	} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want.status {
			t.Errorf("status %d, want %d", resp.StatusCode, want.status)
		}
		if want.body != nil && !bytes.Equal(body, want.body) {
			t.Errorf("body %q, want %q", body, want.body)
		}
		for _, h := range []string{"Server", "Date", "Content-Type", "Connection"} {
			if v := resp.Header.Get(h); v != "" && want.status == http.StatusOK {
				t.Errorf("header %s: %q, want none", h, v)
			}
		}
	}
	if len(httpSmallBody) != 128 || len(httpLargeBody) != 1<<20 {
		t.Errorf("bodies are %d and %d bytes, want 128 and 1 MiB", len(httpSmallBody), len(httpLargeBody))
	}
}

// corruptProxy forwards each connection to a backend unchanged, except for
// one byte of the first response: the byte at offset at in the body, which
// it inverts.
type corruptProxy struct {
	ln     net.Listener
	target string
	at     int
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func newCorruptProxy(t *testing.T, target string, at int) *corruptProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &corruptProxy{ln: ln, target: target, at: at}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *corruptProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *corruptProxy) accept() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			down.Close()
			continue
		}
		p.track(down)
		p.track(up)
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			plainCopy(up, down)
			up.(*net.TCPConn).CloseWrite()
		}()
		go func() {
			defer p.wg.Done()
			defer down.Close()
			p.corrupt(down, up)
		}()
	}
}

// corrupt copies up to down, inverting the at'th body byte of the first
// response on the way.
func (p *corruptProxy) corrupt(down, up net.Conn) {
	var buf []byte
	chunk := make([]byte, 64<<10)
	for {
		n, err := up.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if h := bytes.Index(buf, []byte("\r\n\r\n")); h >= 0 && len(buf) > h+4+p.at {
			buf[h+4+p.at] ^= 0xff
			break
		}
		if err != nil {
			return
		}
	}
	if _, err := down.Write(buf); err != nil {
		return
	}
	plainCopy(down, up)
}

// plainCopy is io.Copy without the splice fast path between TCP
// connections: splice's pipes are pooled and closed only when a later GC
// empties the pool, which would make fds vanish in the middle of a later
// test that counts them.
func plainCopy(dst io.Writer, src io.Reader) {
	io.Copy(struct{ io.Writer }{dst}, struct{ io.Reader }{src})
}

func TestHTTPDetectsCorruption(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
		at   int
	}{
		{name: "path=small", path: "/small", at: 100},
		{name: "path=1m", path: "/1m", at: 600_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), generous)
			defer cancel()
			b := newHTTPBackend(t)
			p := newCorruptProxy(t, b.Addr().String(), tc.at)
			_, err := HTTP{Addr: p.ln.Addr().String(), Path: tc.path, Duration: time.Hour}.Run(ctx)
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("Run returned %v, want ErrMismatch", err)
			}
			t.Log(err)
		})
	}
}

func TestHTTPRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	// The first request fails before any succeeded, which ends the run at
	// once instead of after the Duration.
	_, err = HTTP{Addr: addr, Duration: time.Hour}.Run(ctx)
	if !errors.Is(err, ErrTooManyErrors) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Run returned %v, want ErrTooManyErrors and ECONNREFUSED", err)
	}
	t.Log(err)
}

func TestHTTPStopsWithContext(t *testing.T) {
	b := newHTTPBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// /1m over 2 connections: a cancel is likely to find a response in
	// flight.
	res, err := HTTP{Addr: b.Addr().String(), Path: "/1m", Conns: 2, Duration: time.Hour}.Run(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run returned %v, want context.DeadlineExceeded", err)
	}
	if res.Requests == 0 || res.Errors != 0 {
		t.Errorf("%d requests, %d errors; want some and none", res.Requests, res.Errors)
	}
	if res.Elapsed <= 0 || res.Elapsed >= time.Hour {
		t.Errorf("Elapsed %v, want the time until ctx ended", res.Elapsed)
	}
}

func TestHTTPRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    HTTP
	}{
		{name: "no_addr", h: HTTP{}},
		{name: "path", h: HTTP{Addr: "127.0.0.1:1", Path: "/other"}},
		{name: "conns", h: HTTP{Addr: "127.0.0.1:1", Conns: -1}},
		{name: "duration", h: HTTP{Addr: "127.0.0.1:1", Duration: -time.Second}},
		{name: "warmup", h: HTTP{Addr: "127.0.0.1:1", Warmup: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.h.Run(context.Background())
			if err == nil || errors.Is(err, ErrTooManyErrors) {
				t.Fatalf("Run returned %v, want a configuration error", err)
			}
		})
	}
}
