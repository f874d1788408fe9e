package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// The HTTPBackend's two bodies are prefixes of the shared pattern, so they
// are deterministic, made once, and only ever read: every response hands
// the same slice to fasthttp, which writes it without copying or
// allocating.
const (
	// httpSmallSize is the body of GET /small, 128 bytes: a request then
	// costs a relay a round trip and almost no bytes, which is what a
	// request-rate figure should measure.
	httpSmallSize = 128
	// httpLargeSize is the body of GET /1m, 1 MiB: big enough that moving
	// the bytes, not the round trip, dominates.
	httpLargeSize = 1 << 20
)

var (
	httpSmallBody = pattern[:httpSmallSize]
	httpLargeBody = pattern[:httpLargeSize]
)

// httpBody returns what the HTTPBackend answers to GET path, or false for a
// path it answers with 404.
func httpBody(path string) ([]byte, bool) {
	switch path {
	case "/small":
		return httpSmallBody, true
	case "/1m":
		return httpLargeBody, true
	}
	return nil, false
}

// An HTTPBackend is an HTTP/1.1 server, on fasthttp, with keep-alive on:
// GET /small answers 200 with a 128-byte body, GET /1m answers 200 with a
// 1 MiB (1<<20 byte) body, both fixed prefixes of the Writer's pattern, and
// any other path answers 404. Responses carry no Server, Date or
// Content-Type header, only what HTTP/1.1 needs, so every response to a
// path is the same bytes.
//
// It runs its own accept loop and one goroutine per connection
// (fasthttp.Server.ServeConn) rather than fasthttp.Server.Serve, whose
// worker pool keeps a cleaner goroutine alive for seconds after the
// listener closes and whose Shutdown waits on busy connections instead of
// closing them: Close here ends everything, at once.
type HTTPBackend struct {
	ln  net.Listener
	srv *fasthttp.Server
	wg  sync.WaitGroup // the accept loop and one goroutine per connection

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // live connections, closed by Close

	// accepted counts connections, so tests can prove the client kept
	// them alive rather than dialling per request.
	accepted atomic.Int64
}

// NewHTTPBackend listens on addr (such as "127.0.0.1:0") and starts
// serving.
func NewHTTPBackend(addr string) (*HTTPBackend, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	b := &HTTPBackend{
		ln: ln,
		srv: &fasthttp.Server{
			Handler:               serveHTTPBackend,
			NoDefaultServerHeader: true,
			NoDefaultDate:         true,
			NoDefaultContentType:  true,
			// A client that goes away mid-response is normal at the end
			// of a run; the client side reports what matters.
			Logger: quietLogger{},
		},
		conns: make(map[net.Conn]struct{}),
	}
	b.wg.Add(1)
	go b.accept()
	return b, nil
}

// Addr is the address the HTTPBackend accepts on.
func (b *HTTPBackend) Addr() net.Addr { return b.ln.Addr() }

func (b *HTTPBackend) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return // closed by Close
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			c.Close()
			return
		}
		b.conns[c] = struct{}{}
		b.wg.Add(1)
		b.mu.Unlock()
		b.accepted.Add(1)
		go b.serve(c)
	}
}

// serve answers requests on c until the client closes it, an error, or
// Close. ServeConn closes c itself.
func (b *HTTPBackend) serve(c net.Conn) {
	defer b.wg.Done()
	b.srv.ServeConn(c)
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
}

func serveHTTPBackend(ctx *fasthttp.RequestCtx) {
	body, ok := httpBody(string(ctx.Path()))
	if !ok {
		ctx.NotFound()
		return
	}
	// SetBodyRaw keeps the shared slice instead of copying it; nothing
	// writes to it.
	ctx.Response.SetBodyRaw(body)
}

// quietLogger drops what fasthttp would log.
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// Close stops accepting, closes every open connection, including one in
// the middle of a response, and returns when every goroutine has ended.
func (b *HTTPBackend) Close() error {
	b.mu.Lock()
	b.closed = true
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	err := b.ln.Close()
	b.wg.Wait()
	return err
}

// defaultHTTPDuration matches the Bulk workload's default.
const defaultHTTPDuration = 5 * time.Second

// httpIdleConn is the HostClient's MaxIdleConnDuration. fasthttp's pool runs
// a cleaner goroutine that sleeps this long between looks at idle
// connections and exits only when it wakes to find none, so this bounds how
// long that one goroutine outlives Run (it holds no connection by then:
// Run closes them all). In a closed loop a connection is idle only between
// one response and the next request, so a second is far longer than any
// scheduling delay, and the cleaner never closes a connection mid-run.
const httpIdleConn = time.Second

// httpMaxBody caps the response body fasthttp will buffer: twice the
// largest body the HTTPBackend sends, so a wrong Content-Length is caught
// as a mismatch instead of exhausting memory.
const httpMaxBody = 2 * httpLargeSize

// HTTP is a closed-loop HTTP/1.1 GET workload on fasthttp's HostClient:
// Conns goroutines each send a request, wait for the whole response, check
// it and send the next, over a pool of Conns keep-alive connections, so
// each request finds a connection waiting and, barring failures, none is
// dialled twice. Point it at an HTTPBackend, directly or through a relay.
type HTTP struct {
	// Addr is the host:port to send to: a relay's public port, or an
	// HTTPBackend.
	Addr string
	// Path is "/small" or "/1m", the HTTPBackend's two bodies, which every
	// response is checked against. Zero means "/small".
	Path string
	// Conns is how many keep-alive connections, and so concurrent
	// requests, there are. Zero means 1.
	Conns int
	// Duration is how long requests are measured, after Warmup. Zero means
	// 5 s.
	Duration time.Duration
	// Warmup is how long requests run, unmeasured, before Duration starts,
	// so connection set-up and cold caches are left out. Zero means none.
	Warmup time.Duration
}

// HTTPResult is what an HTTP workload measured. Only requests sent after
// Warmup that completed within Duration count; one still in flight when
// Duration ends is cut off and counts nowhere, just as one sent during
// Warmup that completes after it.
type HTTPResult struct {
	// Requests is how many responses were received and checked; Errors is
	// how many requests failed without a response (a reset, a closed
	// connection, a failed dial).
	Requests, Errors int64
	// Bytes is the response body bytes of the counted requests.
	Bytes int64
	// Elapsed is the measured period: Duration, unless ctx ended it or a
	// mismatch stopped the run first.
	Elapsed time.Duration
	// Rate is Requests per second of Elapsed.
	Rate float64
	// Latency holds one sample per counted request: from sending it to
	// having read and checked the whole response.
	Latency *Histogram
}

// Run sends requests until Warmup and Duration have passed or ctx ends, and
// returns what was measured. Every response is checked: a status other
// than 200 or a body that differs from the HTTPBackend's, in length or in
// any byte, ends the run at once with an error wrapping ErrMismatch.
// Failed requests are counted in Errors; if they are more than one in a
// hundred, or the first request fails before any has succeeded, Run
// returns an error wrapping ErrTooManyErrors. If ctx ends first, Run
// returns what it measured until then and ctx's error.
//
// Every connection is closed and every goroutine Run started has ended
// when it returns, except fasthttp's pool cleaner, which ends within
// httpIdleConn (see there). A failed request is not retried.
func (h HTTP) Run(ctx context.Context) (HTTPResult, error) {
	path := h.Path
	if path == "" {
		path = "/small"
	}
	conns, dur := h.Conns, h.Duration
	if conns == 0 {
		conns = 1
	}
	if dur == 0 {
		dur = defaultHTTPDuration
	}
	want, ok := httpBody(path)
	switch {
	case h.Addr == "":
		return HTTPResult{}, errors.New("loadgen: http: Addr is empty")
	case !ok:
		return HTTPResult{}, fmt.Errorf("loadgen: http: Path %q: want /small or /1m", h.Path)
	case conns < 0:
		return HTTPResult{}, fmt.Errorf("loadgen: http: Conns %d: want 0 or more", h.Conns)
	case dur < 0:
		return HTTPResult{}, fmt.Errorf("loadgen: http: Duration %v: want 0 or more", h.Duration)
	case h.Warmup < 0:
		return HTTPResult{}, fmt.Errorf("loadgen: http: Warmup %v: want 0 or more", h.Warmup)
	}

	from := time.Now().Add(h.Warmup)
	planned := from.Add(dur)
	// runCtx ends the run: at planned, when ctx ends, or on a mismatch.
	// ctx may have an earlier deadline; end is whichever comes first.
	runCtx, cancel := context.WithDeadline(ctx, planned)
	defer cancel()
	end, _ := runCtx.Deadline()
	fail := &failures{what: "requests", target: h.Addr, abort: cancel}

	// HostClient.Do takes no context, so the run is stopped by putting
	// every connection's deadline in the past; httpConns does that, and
	// keeps fasthttp from moving the deadline back afterwards.
	tracked := &httpConns{conns: make(map[*httpConn]struct{})}
	stopped := make(chan struct{})
	stop := context.AfterFunc(runCtx, func() {
		tracked.stop()
		close(stopped)
	})
	var dialer net.Dialer
	hc := &fasthttp.HostClient{
		Addr:     h.Addr,
		MaxConns: conns,
		// No retries: a failed request is an error to count, not to
		// hide inside another request's latency.
		MaxIdemponentCallAttempts: 1,
		MaxIdleConnDuration:       httpIdleConn,
		MaxResponseBodySize:       httpMaxBody,
		NoDefaultUserAgentHeader:  true,
		// Our own dialer, rather than fasthttp's default: a dial then
		// ends with the run, and no DNS cache goroutine outlives Run
		// by the minute fasthttp's default keeps its entries.
		Dial: func(addr string) (net.Conn, error) {
			c, err := dialer.DialContext(runCtx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return tracked.add(c)
		},
	}

	workers := make([]*httpWorker, conns)
	var wg sync.WaitGroup
	for i := range workers {
		w := &httpWorker{latency: NewHistogram()}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(runCtx, hc, h.Addr, path, want, from, end, fail)
		}()
	}
	wg.Wait()
	// Every worker has returned, so every pooled connection is idle.
	hc.CloseIdleConnections()
	if !stop() {
		<-stopped
	}

	res := HTTPResult{Latency: NewHistogram(), Elapsed: measured(from, end)}
	for _, w := range workers {
		res.Requests += w.requests
		res.Errors += w.errors
		res.Bytes += w.bytes
		res.Latency.Merge(w.latency)
	}
	if s := res.Elapsed.Seconds(); s > 0 {
		res.Rate = float64(res.Requests) / s
	}
	return res, fail.result(ctxEnded(ctx, planned), res.Requests, res.Errors)
}

// runOver reports whether a run has ended, at time now: its ctx is done,
// or end has passed. The clock is checked as well as ctx because the two
// disagree for a moment at the end: a dial given ctx fails at once with a
// timeout when ctx's deadline is past, yet ctx reports itself done only
// once its timer has run, and a busy machine runs it late.
func runOver(ctx context.Context, now, end time.Time) bool {
	return ctx.Err() != nil || !now.Before(end)
}

// ctxEnded returns ctx's error once a run has stopped. A deadline of ctx's
// that came before the planned end and has passed ended the run, by
// runOver's clock, even if ctx's timer has not yet marked it done: then
// ctxEnded waits the moment it takes, so Run reports the deadline.
func ctxEnded(ctx context.Context, planned time.Time) error {
	if dl, ok := ctx.Deadline(); ok && dl.Before(planned) && !time.Now().Before(dl) {
		<-ctx.Done()
	}
	return ctx.Err()
}

// measured is how much of the measured period [from, end) has passed.
func measured(from, end time.Time) time.Duration {
	now := time.Now()
	if now.After(end) {
		now = end
	}
	return max(now.Sub(from), 0)
}

// httpWorker is one closed loop. Each has its own counters and Histogram,
// merged after it returns, so the hot path shares nothing.
type httpWorker struct {
	requests, errors, bytes int64
	latency                 *Histogram
}

func (w *httpWorker) run(ctx context.Context, hc *fasthttp.HostClient, host, path string, want []byte, from, end time.Time, fail *failures) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(path)
	req.Header.SetHost(host)
	for {
		start := time.Now()
		if runOver(ctx, start, end) {
			return
		}
		err := hc.Do(req, resp)
		done := time.Now()
		if runOver(ctx, done, end) {
			// Cut off by the end of the run, or finished just after it:
			// neither a sample nor a failure.
			return
		}
		took := done.Sub(start)
		counted := !start.Before(from)
		if errors.Is(err, fasthttp.ErrBodyTooLarge) {
			fail.fatal(fmt.Errorf("%w: GET %s: body longer than %d bytes, want %d", ErrMismatch, path, httpMaxBody, len(want)))
			return
		}
		if err != nil {
			if counted {
				w.errors++
			}
			fail.failed(err)
			continue
		}
		body := resp.Body()
		// Compare every byte: memcmp runs at memory speed, about as fast
		// as the copy out of the socket that came before it, and a relay
		// that changes one byte in the middle of 1 MiB must not pass.
		if resp.StatusCode() != fasthttp.StatusOK || !bytes.Equal(body, want) {
			fail.fatal(httpMismatch(path, resp.StatusCode(), body, want))
			return
		}
		fail.succeeded()
		if counted {
			w.requests++
			w.bytes += int64(len(body))
			w.latency.Record(took)
		}
	}
}

// httpMismatch describes a response that is not what the HTTPBackend sends.
func httpMismatch(path string, status int, body, want []byte) error {
	n := min(len(body), len(want))
	i := 0
	for i < n && body[i] == want[i] {
		i++
	}
	return fmt.Errorf("%w: GET %s: status %d and %d body bytes, want %d and %d; first difference at byte %d",
		ErrMismatch, path, status, len(body), fasthttp.StatusOK, len(want), i)
}

// httpConns is every connection a Run's HostClient has open, so the run
// can be stopped by putting their deadlines in the past. The lock orders
// stop against fasthttp's own deadline calls (it clears the deadlines on a
// connection's first request): whichever comes second, the deadline ends
// up in the past.
type httpConns struct {
	mu      sync.Mutex
	stopped bool
	conns   map[*httpConn]struct{}
}

// httpConn is a connection whose deadlines httpConns controls. fasthttp
// owns it and closes it.
type httpConn struct {
	net.Conn
	set *httpConns
}

// add wraps and records c; after stop it closes c instead, and returns
// net.ErrClosed, which the worker ignores because its run is over.
func (s *httpConns) add(c net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		c.Close()
		return nil, net.ErrClosed
	}
	hc := &httpConn{Conn: c, set: s}
	s.conns[hc] = struct{}{}
	return hc, nil
}

func (s *httpConns) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for c := range s.conns {
		c.Conn.SetDeadline(time.Unix(1, 0))
	}
}

// deadline calls set with t, or with a time long past once the run has
// stopped.
func (s *httpConns) deadline(set func(time.Time) error, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		t = time.Unix(1, 0)
	}
	return set(t)
}

func (c *httpConn) SetDeadline(t time.Time) error {
	return c.set.deadline(c.Conn.SetDeadline, t)
}

func (c *httpConn) SetReadDeadline(t time.Time) error {
	return c.set.deadline(c.Conn.SetReadDeadline, t)
}

func (c *httpConn) SetWriteDeadline(t time.Time) error {
	return c.set.deadline(c.Conn.SetWriteDeadline, t)
}

func (c *httpConn) Close() error {
	c.set.mu.Lock()
	delete(c.set.conns, c)
	c.set.mu.Unlock()
	return c.Conn.Close()
}

// failures is what the workers of one Run share about what went wrong: the
// first failure, a fatal error that ends the run, and whether anything has
// succeeded yet. Failures are rare, so a mutex is cheap; succeeded runs on
// every attempt, so it only reads a shared flag once it is set.
type failures struct {
	what   string             // "requests" or "cycles", for messages
	target string             // the address, for messages
	abort  context.CancelFunc // ends the run

	ok atomic.Bool // an attempt has succeeded

	mu    sync.Mutex
	first error // the first failure
	err   error // what ends the run early, if anything
}

func (f *failures) succeeded() {
	if !f.ok.Load() {
		f.ok.Store(true)
	}
}

// failed records a failed attempt. Before any attempt has succeeded it
// ends the run: the target is most likely wrong or not ready, and spinning
// on refused connections for the whole Duration measures nothing.
func (f *failures) failed(err error) {
	f.mu.Lock()
	if f.first == nil {
		f.first = err
	}
	f.mu.Unlock()
	if !f.ok.Load() {
		f.fatal(fmt.Errorf("%w: %s to %s: the first failed before any succeeded: %w", ErrTooManyErrors, f.what, f.target, err))
	}
}

// fatal ends the run with err, unless an earlier error did.
func (f *failures) fatal(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
	f.abort()
}

// result is Run's error, once every worker has returned: a fatal error, or
// else ctxErr, or else ErrTooManyErrors when more than 1 % of the counted
// attempts failed.
func (f *failures) result(ctxErr error, ok, failed int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.err != nil:
		return f.err
	case ctxErr != nil:
		return ctxErr
	case failed*100 > ok+failed:
		return fmt.Errorf("%w: %d of %d %s to %s failed; the first with: %w",
			ErrTooManyErrors, failed, ok+failed, f.what, f.target, f.first)
	}
	return nil
}
